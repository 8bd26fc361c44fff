/* FAT32 for the recorder: see rec/fat.h for the API.
 *
 * Written from the Microsoft FAT specification (fatgen103); no heap, one 512-byte cache.
 *
 * Structures used below:
 *   - the one-block cache holds a FAT block (always of FAT #1; when it is written back it is
 *     written to every FAT copy, so the copies stay mirrored), a directory block, the FSInfo
 *     block or a partial data block. Whole aligned data blocks bypass it.
 *   - every walk over a cluster chain is bounded by cluster_count steps, every directory walk
 *     by 65536 entries, and every cluster number read from disk is range-checked, so a
 *     corrupted or fuzzed volume gives REC_E_BADFS / REC_E_CORRUPT, never a hang or a crash.
 *
 * Write ordering (power-loss consistency). The one-block cache writes blocks back in the order
 * they were modified (a modified block is written before another is loaded), and every
 * ordering point below is "write back the cache, then rec_bd_sync". The rule is that nothing
 * on disk ever points at something that is not yet valid on disk:
 *   - file data is written before the directory entry that makes it part of the file (size);
 *   - a new cluster is first marked end-of-chain in the FAT (and, for directories, zeroed), then
 *     linked from the previous tail, and only then referenced from a directory entry
 *     (file_sync, create_contiguous, mkdir);
 *   - when freeing (remove, trim), the directory entry is updated (deleted, or smaller size /
 *     first cluster 0) and synced first, then the tail is terminated, then the clusters are
 *     freed;
 *   - FSInfo is a hint, written after the FAT changes it describes.
 * A cut at any point therefore leaves at worst: lost clusters (allocated in the FAT but
 * referenced by no entry), a file whose chain is longer than its size (fsck.fat truncates the
 * chain, which frees clusters), FAT copies that differ in a block being written (fsck.fat uses
 * the first), an orphaned long-name entry, or a stale FSInfo free count. fsck.fat -a repairs all
 * of these without touching data within the recorded sizes.
 *
 * Note: a file preallocated with create_contiguous has a chain longer than its recorded size
 * until it is trimmed, which fsck.fat reports (and would repair by truncating). That is the
 * intended state while recording: the recorded size is always durable data.
 */
#include "fat_internal.h"

/* ---- cache ---- */

static bool lba_in_fat(const rec_fat_t *fs, uint32_t lba)
{
    return lba >= fs->fat_lba && lba - fs->fat_lba < fs->fat_blocks;
}

int fat_cache_flush(rec_fat_t *fs)
{
    if (!fs->cache_dirty || fs->cache_lba == NO_LBA) {
        fs->cache_dirty = false;
        return REC_OK;
    }
    int rc;
    if (lba_in_fat(fs, fs->cache_lba)) {
        /* Mirror to every FAT copy, FAT #1 first. */
        for (uint32_t i = 0; i < fs->num_fats; i++) {
            rc = rec_bd_write(fs->bd, fs->cache_lba + i * fs->fat_blocks, fs->cache, 1);
            if (rc != REC_OK)
                return rc;
        }
    } else {
        rc = rec_bd_write(fs->bd, fs->cache_lba, fs->cache, 1);
        if (rc != REC_OK)
            return rc;
    }
    fs->cache_dirty = false;
    return REC_OK;
}

/* Loads a block that is not the cached one (cache_load's slow path). */
int fat_cache_fill(rec_fat_t *fs, uint32_t lba)
{
    int rc = fat_cache_flush(fs);
    if (rc != REC_OK)
        return rc;
    fs->cache_lba = NO_LBA;
    rc = rec_bd_read(fs->bd, lba, fs->cache, 1);
    if (rc != REC_OK)
        return rc;
    fs->cache_lba = lba;
    return REC_OK;
}

/* Takes the cache for a block that will be entirely overwritten (no read). */
int fat_cache_take_zeroed(rec_fat_t *fs, uint32_t lba)
{
    if (fs->cache_lba != lba) {
        int rc = fat_cache_flush(fs);
        if (rc != REC_OK)
            return rc;
    }
    memset(fs->cache, 0, BS);
    fs->cache_lba = lba;
    fs->cache_dirty = true;
    return REC_OK;
}

/* Before direct device I/O on [lba, lba+count): make the cache coherent. */
static int cache_before_direct(rec_fat_t *fs, uint32_t lba, uint32_t count, bool writing)
{
    if (fs->cache_lba == NO_LBA || fs->cache_lba < lba || fs->cache_lba - lba >= count)
        return REC_OK;
    if (writing) {
        /* The block is about to be overwritten entirely: drop the cached copy. */
        fs->cache_lba = NO_LBA;
        fs->cache_dirty = false;
        return REC_OK;
    }
    return fat_cache_flush(fs);
}

static int write_fsinfo(rec_fat_t *fs);

/* Cache write-back, FSInfo update, device sync: one ordering point. */
int fat_barrier(rec_fat_t *fs)
{
    int rc = fat_cache_flush(fs);
    if (rc == REC_OK)
        rc = write_fsinfo(fs);
    if (rc == REC_OK)
        rc = fat_cache_flush(fs);
    if (rc == REC_OK)
        rc = rec_bd_sync(fs->bd);
    return rc;
}

/* ---- FSInfo ---- */

static int write_fsinfo(rec_fat_t *fs)
{
    if (!fs->fsinfo_dirty)
        return REC_OK;
    if (fs->fsinfo_lba != 0) {
        int rc = cache_load(fs, fs->fsinfo_lba);
        if (rc != REC_OK)
            return rc;
        rec_put_u32(&fs->cache[488], fs->free_count);
        rec_put_u32(&fs->cache[492], fs->next_free);
        fs->cache_dirty = true;
    }
    fs->fsinfo_dirty = false;
    return REC_OK;
}

/* ---- files ---- */

static int file_from_entry(rec_fat_t *fs, rec_fat_file_t *f, const resolve_t *r, bool writable)
{
    memset(f, 0, sizeof *f);
    f->first_cluster = entry_cluster(r->entry);
    f->size = rec_get_u32(&r->entry[28]);
    f->dirent_lba = r->pos.lba;
    f->dirent_off = r->pos.off;
    f->writable = writable;
    int rc = fat_chain_measure(fs, f->first_cluster, &f->clusters, &f->contiguous);
    if (rc != REC_OK)
        return rc;
    if ((uint64_t)f->size > (uint64_t)f->clusters * cluster_bytes(fs))
        return REC_E_CORRUPT;
    f->cur_cluster = f->first_cluster;
    f->cur_index = 0;
    return REC_OK;
}

/* Creates a directory entry for an empty file at r's free slot. */
static int create_entry(rec_fat_t *fs, resolve_t *r, uint32_t first)
{
    int rc = fat_ensure_slot(fs, r);
    if (rc != REC_OK)
        return rc;
    uint8_t e[32];
    fat_fill_entry(fs, e, r->name, ATTR_ARCHIVE, first, 0);
    rc = fat_put_entry(fs, r->free_slot.lba, r->free_slot.off, e);
    if (rc != REC_OK)
        return rc;
    memcpy(r->entry, e, 32);
    r->pos = r->free_slot;
    r->found = true;
    return REC_OK;
}

int rec_fat_open(rec_fat_t *fs, rec_fat_file_t *f, const char *path, unsigned flags)
{
    if (f == NULL || (flags & (REC_FAT_READ | REC_FAT_WRITE)) == 0)
        return REC_E_INVAL;
    resolve_t r;
    int rc = fat_resolve(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (r.is_root)
        return REC_E_INVAL;
    if (r.found) {
        if ((flags & REC_FAT_CREATE) && (flags & REC_FAT_EXCL))
            return REC_E_EXIST;
        if (r.entry[11] & (ATTR_DIR | ATTR_VOLUME))
            return REC_E_INVAL;
    } else {
        if (!(flags & REC_FAT_CREATE))
            return REC_E_NOENT;
        rc = create_entry(fs, &r, 0);
        if (rc == REC_OK)
            rc = fat_barrier(fs);
        if (rc != REC_OK)
            return rc;
    }
    return file_from_entry(fs, f, &r, (flags & REC_FAT_WRITE) != 0);
}

/* Cluster number of cluster index idx (< f->clusters) of the file; updates the cursor. */
static int cluster_at(rec_fat_t *fs, rec_fat_file_t *f, uint32_t idx, uint32_t *out)
{
    if (idx >= f->clusters)
        return REC_E_RANGE;
    if (f->contiguous) {
        *out = f->first_cluster + idx;
        return REC_OK;
    }
    uint32_t c = f->first_cluster, i = 0;
    if (f->cur_cluster != 0 && f->cur_index <= idx) {
        c = f->cur_cluster;
        i = f->cur_index;
    }
    while (i < idx) {
        uint32_t next;
        int rc = fat_next(fs, c, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return REC_E_CORRUPT; /* chain shorter than measured */
        c = next;
        i++;
    }
    f->cur_cluster = c;
    f->cur_index = i;
    *out = c;
    return REC_OK;
}

/* Longest run of device-contiguous blocks starting at byte pos (block aligned or not), at most
 * max_blocks, within the chain. */
static int file_run(rec_fat_t *fs, rec_fat_file_t *f, uint32_t pos, uint32_t max_blocks,
                    uint32_t *lba, uint32_t *count)
{
    uint32_t cb = cluster_bytes(fs);
    uint32_t idx = pos / cb;
    uint32_t c;
    int rc = cluster_at(fs, f, idx, &c);
    if (rc != REC_OK)
        return rc;
    uint32_t boff = (pos % cb) / BS;
    *lba = cluster_lba(fs, c) + boff;
    uint32_t n = fs->blocks_per_cluster - boff;
    while (n < max_blocks && idx + 1 < f->clusters) {
        uint32_t next;
        if (f->contiguous) {
            next = c + 1;
        } else {
            rc = fat_next(fs, c, &next);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return REC_E_CORRUPT;
            if (next != c + 1)
                break;
            f->cur_cluster = next;
            f->cur_index = idx + 1;
        }
        c = next;
        idx++;
        n += fs->blocks_per_cluster;
    }
    *count = n < max_blocks ? n : max_blocks;
    return REC_OK;
}

int32_t rec_fat_read(rec_fat_t *fs, rec_fat_file_t *f, void *buf, uint32_t len)
{
    if (fs == NULL || !fs->mounted || f == NULL || (buf == NULL && len != 0))
        return REC_E_INVAL;
    if (f->pos >= f->size)
        return 0;
    if (len > f->size - f->pos)
        len = f->size - f->pos;
    if (len > INT32_MAX)
        len = INT32_MAX;
    uint8_t *out = buf;
    uint32_t done = 0;
    while (done < len) {
        uint32_t rem = len - done;
        uint32_t boff = f->pos % BS;
        uint32_t lba, n;
        int rc;
        if (boff == 0 && rem >= BS) {
            rc = file_run(fs, f, f->pos, rem / BS, &lba, &n);
            if (rc == REC_OK)
                rc = cache_before_direct(fs, lba, n, false);
            if (rc == REC_OK)
                rc = rec_bd_read(fs->bd, lba, out + done, n);
            if (rc != REC_OK)
                return rc;
            n *= BS;
        } else {
            rc = file_run(fs, f, f->pos, 1, &lba, &n);
            if (rc == REC_OK)
                rc = cache_load(fs, lba);
            if (rc != REC_OK)
                return rc;
            n = BS - boff;
            if (n > rem)
                n = rem;
            memcpy(out + done, &fs->cache[boff], n);
        }
        done += n;
        f->pos += n;
    }
    return (int32_t)done;
}

/* Appends `n` clusters to the file's chain. Each new cluster is marked end-of-chain before the
 * previous tail is linked to it. Returns REC_E_NOSPC (having appended what it could). */
static int extend(rec_fat_t *fs, rec_fat_file_t *f, uint32_t n)
{
    uint32_t tail = 0;
    int rc;
    if (f->clusters > 0) {
        rc = cluster_at(fs, f, f->clusters - 1, &tail);
        if (rc != REC_OK)
            return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c;
        rc = fat_find_free(fs, tail != 0 ? tail + 1 : fs->next_free, &c);
        if (rc != REC_OK)
            return rc;
        rc = fat_set(fs, c, FAT_EOC);
        if (rc != REC_OK)
            return rc;
        if (tail != 0) {
            rc = fat_set(fs, tail, c);
            if (rc != REC_OK)
                return rc;
            if (c != tail + 1)
                f->contiguous = false;
        } else {
            f->first_cluster = c;
            f->cur_cluster = c;
            f->cur_index = 0;
        }
        fat_note_alloc(fs, c);
        f->clusters++;
        f->size_dirty = true;
        tail = c;
    }
    return REC_OK;
}

int32_t rec_fat_write(rec_fat_t *fs, rec_fat_file_t *f, const void *buf, uint32_t len)
{
    if (fs == NULL || !fs->mounted || f == NULL || (buf == NULL && len != 0))
        return REC_E_INVAL;
    if (!f->writable)
        return REC_E_INVAL;
    if (len == 0)
        return 0;
    if (len > INT32_MAX)
        len = INT32_MAX;
    if (len > UINT32_MAX - f->pos) {
        len = UINT32_MAX - f->pos; /* FAT32 files end at 4 GiB - 1 */
        if (len == 0)
            return REC_E_TOOBIG;
    }
    uint32_t cb = cluster_bytes(fs);
    /* end fits 32 bits (len was cut to UINT32_MAX - pos above): a 32-bit division, not the M0+'s
     * slow 64-bit library call, on every write of a recording. */
    uint32_t end = f->pos + (uint32_t)len;
    uint32_t need = end / cb + (end % cb != 0u);
    if (need > f->clusters) {
        int rc = extend(fs, f, (uint32_t)(need - f->clusters));
        if (rc != REC_OK && rc != REC_E_NOSPC)
            return rc;
        uint64_t avail = (uint64_t)f->clusters * cb;
        if (avail <= f->pos)
            return REC_E_NOSPC;
        if (end > avail)
            len = (uint32_t)(avail - f->pos);
    }
    const uint8_t *in = buf;
    uint32_t done = 0;
    while (done < len) {
        uint32_t rem = len - done;
        uint32_t boff = f->pos % BS;
        uint32_t lba, n;
        int rc;
        if (boff == 0 && rem >= BS) {
            rc = file_run(fs, f, f->pos, rem / BS, &lba, &n);
            if (rc == REC_OK)
                rc = cache_before_direct(fs, lba, n, true);
            if (rc == REC_OK)
                rc = rec_bd_write(fs->bd, lba, in + done, n);
            if (rc != REC_OK)
                return done > 0 ? (int32_t)done : rc;
            n *= BS;
        } else {
            rc = file_run(fs, f, f->pos, 1, &lba, &n);
            /* Read-modify-write even past the recorded size: the block may hold data streamed
             * there directly (file_lba) that the size does not cover yet. */
            if (rc == REC_OK)
                rc = cache_load(fs, lba);
            if (rc != REC_OK)
                return done > 0 ? (int32_t)done : rc;
            n = BS - boff;
            if (n > rem)
                n = rem;
            memcpy(&fs->cache[boff], in + done, n);
            fs->cache_dirty = true;
        }
        done += n;
        f->pos += n;
        if (f->pos > f->size)
            f->size = f->pos;
        f->size_dirty = true;
    }
    return (int32_t)done;
}

int rec_fat_seek(rec_fat_t *fs, rec_fat_file_t *f, uint32_t pos)
{
    if (fs == NULL || !fs->mounted || f == NULL)
        return REC_E_INVAL;
    uint64_t limit = f->size;
    if (f->writable) {
        uint64_t alloc = (uint64_t)f->clusters * cluster_bytes(fs);
        if (alloc > limit)
            limit = alloc;
    }
    if (pos > limit)
        return REC_E_RANGE;
    f->pos = pos;
    return REC_OK;
}

int rec_fat_file_lba(rec_fat_t *fs, rec_fat_file_t *f, uint32_t offset, uint32_t *lba)
{
    if (fs == NULL || !fs->mounted || f == NULL || lba == NULL)
        return REC_E_INVAL;
    uint32_t c;
    int rc = cluster_at(fs, f, offset / cluster_bytes(fs), &c);
    if (rc != REC_OK)
        return rc;
    /* The caller will do direct I/O on this block: write back and drop a cached data block so
     * the cache cannot shadow it. */
    if (fs->cache_lba != NO_LBA && fs->cache_lba >= fs->data_lba) {
        rc = fat_cache_flush(fs);
        if (rc != REC_OK)
            return rc;
        fs->cache_lba = NO_LBA;
    }
    *lba = cluster_lba(fs, c) + (offset % cluster_bytes(fs)) / BS;
    return REC_OK;
}

int rec_fat_set_size(rec_fat_t *fs, rec_fat_file_t *f, uint32_t size)
{
    if (fs == NULL || !fs->mounted || f == NULL || !f->writable)
        return REC_E_INVAL;
    if ((uint64_t)size > (uint64_t)f->clusters * cluster_bytes(fs))
        return REC_E_RANGE;
    if (size != f->size) {
        f->size = size;
        f->size_dirty = true;
        if (f->pos > size)
            f->pos = size;
    }
    return REC_OK;
}

/* Writes the directory entry from the file state (through the cache, not synced). */
static int update_entry(rec_fat_t *fs, rec_fat_file_t *f)
{
    int rc = cache_load(fs, f->dirent_lba);
    if (rc != REC_OK)
        return rc;
    uint8_t *e = &fs->cache[f->dirent_off];
    if (e[0] == 0x00 || e[0] == 0xE5 || (e[11] & (ATTR_DIR | ATTR_VOLUME)))
        return REC_E_CORRUPT; /* the entry went away under us */
    rec_put_u16(&e[20], (uint16_t)(f->first_cluster >> 16));
    rec_put_u16(&e[26], (uint16_t)f->first_cluster);
    rec_put_u32(&e[28], f->size);
    rec_put_u16(&e[22], fs->now_time);
    rec_put_u16(&e[24], fat_now_date(fs));
    rec_put_u16(&e[18], fat_now_date(fs));
    e[11] |= ATTR_ARCHIVE;
    fs->cache_dirty = true;
    return REC_OK;
}

int rec_fat_file_sync(rec_fat_t *fs, rec_fat_file_t *f)
{
    if (fs == NULL || !fs->mounted || f == NULL)
        return REC_E_INVAL;
    /* Data and FAT durable first, then the entry that refers to them. */
    int rc = fat_barrier(fs);
    if (rc != REC_OK || !f->writable || !f->size_dirty)
        return rc;
    rc = update_entry(fs, f);
    if (rc == REC_OK)
        rc = fat_barrier(fs);
    if (rc == REC_OK)
        f->size_dirty = false;
    return rc;
}

int rec_fat_trim(rec_fat_t *fs, rec_fat_file_t *f)
{
    if (fs == NULL || !fs->mounted || f == NULL || !f->writable)
        return REC_E_INVAL;
    uint32_t cb = cluster_bytes(fs);
    uint32_t keep = (uint32_t)(((uint64_t)f->size + cb - 1) / cb);
    if (keep >= f->clusters)
        return REC_OK;
    uint32_t cut = 0; /* first cluster to free */
    int rc;
    if (keep == 0) {
        cut = f->first_cluster;
    } else {
        uint32_t tail;
        rc = cluster_at(fs, f, keep - 1, &tail);
        if (rc != REC_OK)
            return rc;
        if (f->contiguous) {
            cut = tail + 1;
        } else {
            rc = fat_next(fs, tail, &cut);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return REC_E_CORRUPT;
        }
        f->cur_cluster = tail;
        f->cur_index = keep - 1;
    }
    uint32_t old_first = f->first_cluster;
    if (keep == 0) {
        f->first_cluster = 0;
        f->cur_cluster = 0;
        f->cur_index = 0;
    }
    /* 1. the entry (data durable before it; it records the new size / no chain) */
    f->size_dirty = true;
    rc = rec_fat_file_sync(fs, f);
    if (rc != REC_OK) {
        f->first_cluster = old_first;
        return rc;
    }
    /* 2. terminate the kept part, 3. free the rest */
    if (keep > 0) {
        rc = fat_set(fs, f->cur_cluster, FAT_EOC);
        if (rc != REC_OK)
            return rc;
    }
    uint32_t dropped = f->clusters - keep;
    bool was_contiguous = f->contiguous;
    f->clusters = keep;
    if (keep == 0)
        f->contiguous = true;
    if (was_contiguous && !(fs->root_cluster >= cut && fs->root_cluster - cut < dropped)) {
        /* The tail is the run cut..cut+dropped-1: free it in bulk (cluster by cluster, which stops
         * at the root directory's, when the run holds it). */
        rc = fat_set_run(fs, cut, dropped, false);
        if (rc == REC_OK) {
            fs->free_count += dropped;
            fs->fsinfo_dirty = true;
        }
    } else {
        rc = fat_free_chain(fs, cut);
    }
    int rc2 = fat_barrier(fs);
    return rc != REC_OK ? rc : rc2;
}

int rec_fat_close(rec_fat_t *fs, rec_fat_file_t *f)
{
    if (fs == NULL || f == NULL)
        return REC_E_INVAL;
    int rc = REC_OK;
    if (f->writable && f->size_dirty)
        rc = rec_fat_file_sync(fs, f);
    f->writable = false;
    return rc;
}

void rec_fat_lend_scratch(rec_fat_t *fs, uint8_t *buf, uint32_t bytes)
{
    fs->scratch = buf;
    fs->scratch_bytes = buf ? bytes - bytes % BS : 0;
}

int rec_fat_create_contiguous(rec_fat_t *fs, rec_fat_file_t *f, const char *path, uint32_t bytes)
{
    if (f == NULL)
        return REC_E_INVAL;
    resolve_t r;
    int rc = fat_resolve_new(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    uint32_t cb = cluster_bytes(fs);
    uint32_t n = (uint32_t)(((uint64_t)bytes + cb - 1) / cb);
    uint32_t start = 0;
    if (n > 0) {
        rc = fat_find_run(fs, n, &start);
        if (rc != REC_OK) {
            (void)fat_barrier(fs);
            return rc;
        }
        /* The chain, in ascending order, then durable before the entry points at it. */
        rc = fat_set_run(fs, start, n, true);
        if (rc != REC_OK)
            return rc;
        fs->free_count -= n; /* fat_find_run checked n <= free_count */
        fs->next_free = cluster_valid(fs, start + n) ? start + n : 2;
        fs->fsinfo_dirty = true;
    }
    rc = fat_barrier(fs);
    if (rc != REC_OK)
        return rc;
    rc = create_entry(fs, &r, start);
    if (rc == REC_OK)
        rc = fat_barrier(fs);
    if (rc != REC_OK)
        return rc;
    memset(f, 0, sizeof *f);
    f->first_cluster = start;
    f->clusters = n;
    f->contiguous = true;
    f->writable = true;
    f->dirent_lba = r.pos.lba;
    f->dirent_off = r.pos.off;
    f->cur_cluster = start;
    return REC_OK;
}
