/* FAT32 repair after an interrupted update, and of chains that loop or share clusters. */
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

/* ---- chains that loop or share clusters ----
 *
 * No power cut makes these (the write ordering never links a cluster into two chains), but a
 * broken card or another writer can, and then one file's writes land in another's clusters. A
 * bitmap of owners would need a bit per cluster per pass; instead this uses what the FAT's shape
 * gives: a cluster has one successor, so two chains that share any cluster share everything
 * after it and end in the same cluster. Each chain is reduced to (first, last, length) in O(1)
 * memory (Brent's cycle finding cuts a loop at the link that closes it); two chains cross iff
 * their last clusters are equal, and the first shared cluster is found by walking both from
 * equal distances to the end. The entries' records live in the scratch (16 bytes each): with
 * more chains than fit, the tree is walked again per batch, so any card is checked in bounded
 * memory, and the recorder's few dozen files take one batch.
 *
 * Who keeps the shared clusters: directories are visited before files (a directory that lost
 * its chain would lose every entry in it), then the chains the caller prefers (it knows which
 * files matter most: the recorder's store prefers its folders, journal and update marker over
 * a recording and over a root chain that runs into them), and among equals the one visited
 * first. The root is visited first among the directories not preferred; when a preferred one
 * keeps clusters of the root's chain, the root is cut before them (unless it would lose its
 * first cluster: then the tree cannot be walked and nothing is freed). The other
 * is cut just before the first shared cluster: its FAT link there becomes end-of-chain and its
 * size is clipped to the clusters it still owns (or, sharing from its first cluster on, it
 * becomes empty; a directory, deleted). Cutting rather than copying to fresh clusters: who
 * wrote the shared clusters last is unknowable, so a copy could give the recording bytes that
 * are not its own, and it would need free space and many writes on a card already damaged.
 * The cut recording then looks like one cut by a power loss and recovery closes it (its evid
 * hash covers only the audio it kept). */

typedef struct {
    uint32_t first;
    uint32_t last;
    uint32_t length;
    uint32_t unused;
} chain_rec_t;

typedef struct {
    rec_fat_t *fs;
    rec_fat_repair_report_t *report;
    uint8_t *table;      /* chain_rec_t records (the scratch may be unaligned) */
    uint32_t cap;        /* records the scratch holds */
    uint32_t base;       /* visit index of table[0] */
    uint32_t used;
    uint32_t index;      /* visit index of the next chain */
    uint32_t depth;
    bool dirs;           /* this walk visits directories (else files) */
    bool preferred;      /* this walk visits the chains the caller prefers (else the others) */
    rec_fat_prefer_fn prefer;
    void *prefer_arg;
    uint32_t path_len;
    char path[REPAIR_MAX_DEPTH * 13u + 1u]; /* of the entry being visited: "SYSTEM/JOURNAL.BIN" */
    bool visits_changed; /* a directory was cut or an entry emptied: later batches' indices may shift */
} xl_arg_t;

/* The cluster `steps` links after `c` (the chain is known to be that long). */
static int chain_step(rec_fat_t *fs, uint32_t c, uint32_t steps, uint32_t *out)
{
    for (uint32_t i = 0; i < steps; i++) {
        int rc = fat_next(fs, c, &c);
        if (rc <= 0)
            return rc < 0 ? rc : REC_E_CORRUPT;
    }
    *out = c;
    return REC_OK;
}

/* Measures the chain from `first`: its last cluster (the one before an end mark or a link that
 * is free, bad or out of range) and length. A loop is cut at the link that closes it. */
static int chain_measure_cut(rec_fat_t *fs, uint32_t first, chain_rec_t *out, rec_fat_repair_report_t *report)
{
    for (;;) {
        /* Brent: the hare runs ahead, the tortoise jumps to it at powers of two. */
        uint32_t power = 1, lam = 1, tortoise = first, hare = first, n = 1;
        bool loop = false;
        for (;;) {
            uint32_t next;
            int rc = fat_next(fs, hare, &next);
            if (rc < 0 && rc != REC_E_CORRUPT)
                return rc;
            if (rc <= 0)
                break;
            hare = next;
            n++;
            if (hare == tortoise) {
                loop = true;
                break;
            }
            if (power == lam) {
                tortoise = hare;
                power *= 2u;
                lam = 0;
            }
            lam++;
        }
        if (!loop) {
            *out = (chain_rec_t){first, hare, n, 0};
            return REC_OK;
        }
        /* The loop has lam clusters; it starts where two walkers lam apart meet. */
        uint32_t a = first, b, mu = 0;
        int rc = chain_step(fs, first, lam, &b);
        while (rc == REC_OK && a != b) {
            rc = chain_step(fs, a, 1, &a);
            if (rc == REC_OK)
                rc = chain_step(fs, b, 1, &b);
            mu++;
        }
        uint32_t closing;
        if (rc == REC_OK)
            rc = chain_step(fs, first, mu + lam - 1u, &closing);
        if (rc == REC_OK)
            rc = fat_set(fs, closing, FAT_EOC);
        if (rc != REC_OK)
            return rc;
        report->loops_cut++;
    }
}

/* Index in `b` of the first cluster it shares with `a` (both end in the same cluster). */
static int chain_merge_index(rec_fat_t *fs, const chain_rec_t *a, const chain_rec_t *b, uint32_t *index)
{
    uint32_t ca = a->first, cb = b->first, skip = 0;
    int rc;
    if (a->length > b->length) {
        rc = chain_step(fs, ca, a->length - b->length, &ca);
    } else {
        skip = b->length - a->length;
        rc = chain_step(fs, cb, skip, &cb);
    }
    while (rc == REC_OK && ca != cb) {
        rc = chain_step(fs, ca, 1, &ca);
        if (rc == REC_OK)
            rc = chain_step(fs, cb, 1, &cb);
        skip++;
    }
    *index = skip;
    return rc;
}

/* Cuts the chain of the entry at `pos` before its cluster number `keep` (0: empties it). */
static int chain_cut(xl_arg_t *x, const dpos_t *pos, const chain_rec_t *c, uint32_t keep)
{
    rec_fat_t *fs = x->fs;
    uint8_t e[32];
    int rc;
    if (pos == NULL) {
        /* The root: no entry to write, only its chain to end. */
        if (keep == 0)
            return REC_E_CORRUPT;
        uint32_t last;
        rc = chain_step(fs, c->first, keep - 1u, &last);
        if (rc == REC_OK)
            rc = fat_set(fs, last, FAT_EOC);
        x->visits_changed = true;
        x->report->dirs_cut++;
        x->report->crosslinks_cut++;
        return rc;
    }
    rc = cache_load(fs, pos->lba);
    if (rc != REC_OK)
        return rc;
    memcpy(e, &fs->cache[pos->off], 32);
    bool dir = (e[11] & ATTR_DIR) != 0;
    if (keep == 0) {
        if (dir) {
            e[0] = 0xE5; /* a directory without a cluster of its own is no directory */
        } else {
            rec_put_u16(&e[20], 0);
            rec_put_u16(&e[26], 0);
            rec_put_u32(&e[28], 0);
        }
    } else {
        uint32_t last;
        rc = chain_step(fs, c->first, keep - 1u, &last);
        if (rc == REC_OK)
            rc = fat_set(fs, last, FAT_EOC);
        if (rc != REC_OK)
            return rc; /* the size is clipped by the caller, which measures the chain again */
    }
    if (dir || keep == 0)
        x->visits_changed = true;
    if (dir)
        x->report->dirs_cut++;
    x->report->crosslinks_cut++;
    return fat_put_entry(fs, pos->lba, pos->off, e);
}

/* A file's size clipped to the clusters its chain has (after a loop or a cross-link was cut,
 * or a chain that ended early): what is past the chain cannot be read. */
static int size_clip(rec_fat_t *fs, const dpos_t *pos, uint32_t clusters)
{
    int rc = cache_load(fs, pos->lba);
    if (rc != REC_OK)
        return rc;
    uint8_t e[32];
    memcpy(e, &fs->cache[pos->off], 32);
    uint64_t owned = (uint64_t)clusters * cluster_bytes(fs);
    if ((e[11] & ATTR_DIR) || rec_get_u32(&e[28]) <= owned)
        return REC_OK;
    rec_put_u32(&e[28], (uint32_t)owned);
    return fat_put_entry(fs, pos->lba, pos->off, e);
}

/* One chain of the walk: measured (loops cut), checked against the chains visited before it in
 * this batch, cut if it shares their clusters, and recorded if the batch has room. A chain the
 * caller prefers is visited only in the preferred walks, the others only in the others. */
static int xl_visit(xl_arg_t *x, uint32_t first, const dpos_t *pos)
{
    rec_fat_t *fs = x->fs;
    if (!cluster_valid(fs, first))
        return REC_OK; /* empty, or a first cluster nothing can follow */
    bool preferred = x->prefer != NULL && x->prefer(x->prefer_arg, x->path, x->dirs);
    if (preferred != x->preferred)
        return REC_OK;
    chain_rec_t c;
    int rc = chain_measure_cut(fs, first, &c, x->report);
    if (rc != REC_OK)
        return rc;
    uint32_t index = x->index++;
    if (index < x->base)
        return REC_OK; /* checked in an earlier batch */
    uint32_t keep = UINT32_MAX;
    for (uint32_t i = 0; i < x->used; i++) {
        chain_rec_t t;
        memcpy(&t, x->table + (size_t)i * sizeof t, sizeof t);
        if (t.last != c.last)
            continue;
        uint32_t at;
        rc = chain_merge_index(fs, &t, &c, &at);
        if (rc != REC_OK)
            return rc;
        if (at < keep)
            keep = at;
    }
    if (keep != UINT32_MAX) {
        rc = chain_cut(x, pos, &c, keep);
        if (rc != REC_OK)
            return rc;
        if (keep == 0)
            return REC_OK;
        rc = chain_measure_cut(fs, first, &c, x->report);
        if (rc != REC_OK)
            return rc;
    }
    if (pos != NULL) {
        rc = size_clip(fs, pos, c.length);
        if (rc != REC_OK)
            return rc;
    }
    if (x->used < x->cap)
        memcpy(x->table + (size_t)x->used++ * sizeof c, &c, sizeof c);
    return REC_OK;
}

static int xl_dir(xl_arg_t *x, uint32_t first, const dpos_t *pos);

static int xl_cb(void *arg, const uint8_t *e, const dpos_t *pos)
{
    xl_arg_t *x = arg;
    if ((e[11] & ATTR_VOLUME) || e[0] == '.')
        return 0;
    uint32_t first = entry_cluster(e);
    /* The entry's path, for the caller's preference (xl_dir keeps the depth within the buffer). */
    uint32_t parent_len = x->path_len;
    if (parent_len > 0)
        x->path[x->path_len++] = '/';
    x->path_len += (uint32_t)fat_entry_name(e, &x->path[x->path_len]);
    int rc = REC_OK;
    if (e[11] & ATTR_DIR)
        rc = xl_dir(x, first, pos);
    else if (!x->dirs)
        rc = xl_visit(x, first, pos);
    x->path_len = parent_len;
    x->path[parent_len] = '\0';
    return rc < 0 ? rc : 0;
}

/* Visits a directory (in the directories' walk) and walks its entries. */
static int xl_dir(xl_arg_t *x, uint32_t first, const dpos_t *pos)
{
    if (x->depth >= REPAIR_MAX_DEPTH)
        return REC_E_UNSUPPORTED;
    if (!cluster_valid(x->fs, first))
        return REC_E_CORRUPT;
    int rc = REC_OK;
    if (x->dirs) {
        rc = xl_visit(x, first, pos);
        if (rc != REC_OK)
            return rc;
        if (pos != NULL) {
            rc = cache_load(x->fs, pos->lba);
            if (rc != REC_OK)
                return rc;
            if (x->fs->cache[pos->off] == 0xE5)
                return REC_OK; /* deleted just now */
        }
    }
    x->depth++;
    rc = fat_dir_walk(x->fs, first, xl_cb, x, NULL, NULL);
    x->depth--;
    return rc < 0 ? rc : REC_OK;
}

#define XL_MAX_RESTARTS 16u

/* One batch's walks, in the order that decides who keeps shared clusters: directories, then
 * files; in each, the preferred chains first (no walk for them without a preference). */
static int xl_walks(xl_arg_t *x)
{
    for (int pass = 0; pass < 4; pass++) {
        x->dirs = pass < 2;
        x->preferred = pass % 2 == 0;
        if (x->preferred && x->prefer == NULL)
            continue;
        x->depth = 0;
        x->path_len = 0;
        x->path[0] = '\0';
        int rc = xl_dir(x, x->fs->root_cluster, NULL);
        if (rc != REC_OK)
            return rc;
    }
    return REC_OK;
}

/* Finds and cuts loops and cross-links, batch by batch. REC_E_CORRUPT or REC_E_UNSUPPORTED: the
 * tree could not be walked (what was cut stays cut). */
static int repair_cross_links(rec_fat_t *fs, uint8_t *scratch, uint32_t scratch_bytes, rec_fat_prefer_fn prefer,
                              void *prefer_arg, rec_fat_repair_report_t *report)
{
    xl_arg_t x = {0};
    x.fs = fs;
    x.report = report;
    x.prefer = prefer;
    x.prefer_arg = prefer_arg;
    x.table = scratch;
    x.cap = scratch_bytes / (uint32_t)sizeof(chain_rec_t);
    for (uint32_t restarts = 0; restarts <= XL_MAX_RESTARTS; restarts++) {
        x.base = 0;
        bool again = false;
        for (;;) {
            x.used = 0;
            x.index = 0;
            x.visits_changed = false;
            int rc = xl_walks(&x);
            if (rc != REC_OK)
                return rc;
            if (x.index - x.base <= x.cap)
                return REC_OK; /* every chain was checked against all before it */
            if (x.visits_changed) {
                again = true; /* the next batch's indices may have shifted */
                break;
            }
            x.base += x.cap;
        }
        if (!again)
            return REC_OK;
    }
    return REC_E_UNSUPPORTED;
}

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
    return rec_fat_repair_preferring(fs, scratch, scratch_bytes, NULL, NULL, report);
}

int rec_fat_repair_preferring(rec_fat_t *fs, uint8_t *scratch, uint32_t scratch_bytes, rec_fat_prefer_fn prefer,
                              void *prefer_arg, rec_fat_repair_report_t *report)
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

    /* 2. Cut loops and cross-links, so that every cluster has at most one owner. */
    report->tree_complete = true;
    rc = repair_cross_links(fs, scratch, scratch_bytes, prefer, prefer_arg, report);
    if (rc == REC_E_CORRUPT || rc == REC_E_UNSUPPORTED)
        report->tree_complete = false;
    else if (rc != REC_OK)
        return rc;

    /* 3. Free lost clusters, window by window. */
    uint32_t win = scratch_bytes * 8u;
    for (uint32_t first = 2; report->tree_complete && first - 2 < fs->cluster_count; first += win) {
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

    /* 4. The free count is exact again; write it with everything else. */
    fs->fsinfo_dirty = true;
    return fat_barrier(fs);
}
