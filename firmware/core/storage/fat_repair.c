/* FAT32 repair after an interrupted update. */
#include "fat_internal.h"

/* ---- repair after an interrupted update ----
 *
 * What a power cut in the middle of an update can leave (see the write ordering at the top):
 * FAT copies that differ in the block being written, clusters allocated but referenced by no
 * entry (lost), and a stale free count. rec_fat_repair mends exactly these, like fsck.fat -a,
 * without touching any cluster a directory entry reaches: copy FAT #1 over the others, then
 * free every allocated cluster that the directory tree does not reach, then rewrite FSInfo.
 * Chains longer than their file's size are left alone: for a recording they hold audio that
 * recovery keeps, and their owners trim them.
 *
 * Reachability needs a bit per cluster; the caller lends scratch memory and the FAT is swept in
 * windows of scratch_bytes * 8 clusters, walking the tree once per window. Freeing happens only
 * when the whole tree was walked without error: a damaged or too deep tree frees nothing. */

#define REPAIR_MAX_DEPTH 8u

typedef struct {
    rec_fat_t *fs;
    uint8_t *bits;
    uint32_t win_first;   /* cluster number of bit 0 */
    uint32_t win_count;   /* clusters in the window */
    uint32_t depth;
} mark_arg_t;

static int mark_chain(mark_arg_t *m, uint32_t first)
{
    rec_fat_t *fs = m->fs;
    if (first == 0)
        return REC_OK;
    if (!cluster_valid(fs, first))
        return REC_E_CORRUPT;
    uint32_t c = first;
    for (uint32_t n = 0; n < fs->cluster_count; n++) {
        if (c >= m->win_first && c - m->win_first < m->win_count) {
            uint32_t b = c - m->win_first;
            m->bits[b / 8u] |= (uint8_t)(1u << (b % 8u));
        }
        uint32_t next;
        int rc = fat_next(fs, c, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return REC_OK;
        c = next;
    }
    return REC_E_CORRUPT; /* a loop */
}

static int mark_dir(mark_arg_t *m, uint32_t first);

static int mark_cb(void *arg, const uint8_t *e, const dpos_t *pos)
{
    (void)pos;
    mark_arg_t *m = arg;
    if (e[11] & ATTR_VOLUME)
        return 0;
    if (e[0] == '.')
        return 0; /* "." and ".." point back up the tree */
    uint32_t first = entry_cluster(e);
    int rc = (e[11] & ATTR_DIR) ? mark_dir(m, first) : mark_chain(m, first);
    return rc < 0 ? rc : 0;
}

static int mark_dir(mark_arg_t *m, uint32_t first)
{
    if (m->depth >= REPAIR_MAX_DEPTH)
        return REC_E_UNSUPPORTED;
    int rc = mark_chain(m, first);
    if (rc != REC_OK)
        return rc;
    m->depth++;
    rc = fat_dir_walk(m->fs, first, mark_cb, m, NULL, NULL);
    m->depth--;
    return rc < 0 ? rc : REC_OK;
}

int rec_fat_repair(rec_fat_t *fs, uint8_t *scratch, uint32_t scratch_bytes, rec_fat_repair_report_t *report)
{
    if (fs == NULL || !fs->mounted || scratch == NULL || scratch_bytes < 2u * BS || report == NULL)
        return REC_E_INVAL;
    memset(report, 0, sizeof *report);
    int rc = fat_barrier(fs);
    if (rc != REC_OK)
        return rc;
    fs->cache_lba = NO_LBA;

    /* 1. Mirror FAT #1 to the other copies where they differ. */
    for (uint32_t blk = 0; blk < fs->fat_blocks; blk++) {
        rc = rec_bd_read(fs->bd, fs->fat_lba + blk, scratch, 1);
        if (rc != REC_OK)
            return rc;
        for (uint32_t i = 1; i < fs->num_fats; i++) {
            uint32_t lba = fs->fat_lba + i * fs->fat_blocks + blk;
            rc = rec_bd_read(fs->bd, lba, scratch + BS, 1);
            if (rc != REC_OK)
                return rc;
            if (memcmp(scratch, scratch + BS, BS) != 0) {
                rc = rec_bd_write(fs->bd, lba, scratch, 1);
                if (rc != REC_OK)
                    return rc;
                report->fat_blocks_mirrored++;
            }
        }
    }

    /* 2. Free lost clusters, window by window. */
    uint32_t win = scratch_bytes * 8u;
    report->tree_complete = true;
    for (uint32_t first = 2; first - 2 < fs->cluster_count; first += win) {
        uint32_t count = fs->cluster_count - (first - 2);
        if (count > win)
            count = win;
        memset(scratch, 0, (count + 7u) / 8u);
        mark_arg_t m = {fs, scratch, first, count, 0};
        rc = mark_dir(&m, fs->root_cluster);
        if (rc != REC_OK) {
            /* Not sure what is reachable: free nothing. */
            report->tree_complete = false;
            break;
        }
        for (uint32_t b = 0; b < count; b++) {
            if (scratch[b / 8u] & (1u << (b % 8u)))
                continue;
            uint32_t v;
            rc = fat_get(fs, first + b, &v);
            if (rc != REC_OK)
                return rc;
            if (v == 0 || v == FAT_BAD)
                continue;
            rc = fat_set(fs, first + b, 0);
            if (rc != REC_OK)
                return rc;
            fs->free_count++;
            report->lost_clusters_freed++;
        }
    }

    /* 3. The free count is exact again; write it with everything else. */
    fs->fsinfo_dirty = true;
    return fat_barrier(fs);
}
