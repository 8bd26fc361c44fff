/* FAT32 allocation: FAT entries, free clusters, chains and runs (see fat.c for the write
 * ordering these follow). */
#include "fat_internal.h"

int fat_set(rec_fat_t *fs, uint32_t c, uint32_t val)
{
    if (!cluster_valid(fs, c))
        return REC_E_CORRUPT;
    int rc = cache_load(fs, fs->fat_lba + c / (BS / 4));
    if (rc != REC_OK)
        return rc;
    uint8_t *p = &fs->cache[(c % (BS / 4)) * 4];
    rec_put_u32(p, (rec_get_u32(p) & ~FAT_MASK) | (val & FAT_MASK));
    fs->cache_dirty = true;
    return REC_OK;
}

int fat_find_free(rec_fat_t *fs, uint32_t start, uint32_t *out)
{
    if (fs->free_count == 0)
        return REC_E_NOSPC;
    if (!cluster_valid(fs, start))
        start = 2;
    uint32_t c = start;
    for (uint32_t i = 0; i < fs->cluster_count; i++) {
        uint32_t v;
        int rc = fat_get(fs, c, &v);
        if (rc != REC_OK)
            return rc;
        if (v == 0) {
            *out = c;
            return REC_OK;
        }
        c++;
        if (!cluster_valid(fs, c))
            c = 2;
    }
    fs->free_count = 0; /* the count was wrong */
    return REC_E_NOSPC;
}

void fat_note_alloc(rec_fat_t *fs, uint32_t c)
{
    if (fs->free_count > 0)
        fs->free_count--;
    fs->next_free = cluster_valid(fs, c + 1) ? c + 1 : 2;
    fs->fsinfo_dirty = true;
}

/* Frees the chain starting at c (whose predecessor link must already be cut). A chain that runs
 * into the root directory's first cluster (a cross-link a repair that could not walk the whole
 * tree did not cut) stops there: freeing it would leave a volume that no longer mounts. */
int fat_free_chain(rec_fat_t *fs, uint32_t c)
{
    for (uint32_t steps = 0; steps < fs->cluster_count; steps++) {
        uint32_t v;
        if (c == fs->root_cluster)
            return REC_E_CORRUPT;
        int rc = fat_get(fs, c, &v);
        if (rc != REC_OK)
            return rc;
        if (v == 0 || v == 1 || v == FAT_BAD)
            return REC_E_CORRUPT; /* chain runs into free space: stop */
        rc = fat_set(fs, c, 0);
        if (rc != REC_OK)
            return rc;
        if (fs->free_count < fs->cluster_count)
            fs->free_count++;
        fs->fsinfo_dirty = true;
        if (v >= 0x0FFFFFF8u)
            return REC_OK;
        if (!cluster_valid(fs, v))
            return REC_E_CORRUPT;
        c = v;
    }
    return REC_E_CORRUPT; /* loop */
}

/* Counts a chain and tells whether it is contiguous; REC_E_CORRUPT for loops and bad links. */
int fat_chain_measure(rec_fat_t *fs, uint32_t first, uint32_t *count, bool *contiguous)
{
    *count = 0;
    *contiguous = true;
    if (first == 0)
        return REC_OK;
    if (!cluster_valid(fs, first))
        return REC_E_CORRUPT;
    uint32_t c = first;
    for (uint32_t n = 1; n <= fs->cluster_count; n++) {
        uint32_t next;
        int rc = fat_next(fs, c, &next);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            *count = n;
            return REC_OK;
        }
        if (next != c + 1)
            *contiguous = false;
        c = next;
    }
    return REC_E_CORRUPT;
}

/* Sets the FAT entries of clusters start..start+n-1 to a chain (each linked to the next, the
 * last end-of-chain) or to free. Entries in partly covered FAT blocks go through the cache; runs
 * of whole blocks are read, rewritten in the lent scratch buffer and written many blocks at a
 * time to every FAT copy (FAT #1 first), so preallocating or trimming gigabytes costs tens of
 * multi-block writes instead of thousands of single ones. The caller keeps the free count. */
int fat_set_run(rec_fat_t *fs, uint32_t start, uint32_t n, bool chain)
{
    const uint32_t epb = BS / 4u;
    uint32_t end = start + n;
    uint32_t c = start;
    while (c < end) {
        uint32_t room_blocks = fs->scratch_bytes / BS;
        if (c % epb == 0 && end - c >= epb && room_blocks > 0) {
            uint32_t blk = c / epb;
            uint32_t k = (end - c) / epb;
            if (k > room_blocks)
                k = room_blocks;
            /* The cache must not hold (or later write back) an older copy of these blocks. */
            int rc = fat_cache_flush(fs);
            if (rc != REC_OK)
                return rc;
            if (fs->cache_lba != NO_LBA && fs->cache_lba >= fs->fat_lba + blk && fs->cache_lba < fs->fat_lba + blk + k)
                fs->cache_lba = NO_LBA;
            rc = rec_bd_read(fs->bd, fs->fat_lba + blk, fs->scratch, k);
            if (rc != REC_OK)
                return rc;
            for (uint32_t i = 0; i < k * epb; i++) {
                uint32_t x = c + i;
                uint32_t v = !chain ? 0u : (x + 1 < end ? x + 1 : FAT_EOC);
                uint8_t *e = &fs->scratch[i * 4u];
                rec_put_u32(e, (rec_get_u32(e) & ~FAT_MASK) | v);
            }
            for (uint32_t i = 0; i < fs->num_fats; i++) {
                rc = rec_bd_write(fs->bd, fs->fat_lba + i * fs->fat_blocks + blk, fs->scratch, k);
                if (rc != REC_OK)
                    return rc;
            }
            c += k * epb;
            continue;
        }
        int rc = fat_set(fs, c, !chain ? 0u : (c + 1 < end ? c + 1 : FAT_EOC));
        if (rc != REC_OK)
            return rc;
        c++;
    }
    return REC_OK;
}

/* Finds the first run of n free clusters (first fit from the start of the volume). */
int fat_find_run(rec_fat_t *fs, uint32_t n, uint32_t *start)
{
    if (n > fs->free_count)
        return REC_E_NOSPC;
    uint32_t run = 0, run_start = 2;
    for (uint32_t c = 2; c - 2 < fs->cluster_count; c++) {
        uint32_t v;
        int rc = fat_get(fs, c, &v);
        if (rc != REC_OK)
            return rc;
        if (v == 0) {
            if (run == 0)
                run_start = c;
            if (++run == n) {
                *start = run_start;
                return REC_OK;
            }
        } else {
            run = 0;
        }
    }
    return REC_E_NOSPC;
}
