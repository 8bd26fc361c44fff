/* FAT32 directories: 8.3 names, directory walks, path resolution, stat, mkdir, readdir and
 * remove. */
#include "fat_internal.h"

/* ---- names ---- */

bool fat_name_char_ok(char ch)
{
    unsigned char c = (unsigned char)ch;
    if (c <= 0x20 || c >= 0x7F)
        return false;
    return strchr("\"*+,./:;<=>?[\\]|", ch) == NULL;
}

/* Converts one path component [s, s+len) to a padded 11-byte 8.3 name. */
static int make_83(const char *s, size_t len, uint8_t out[11])
{
    memset(out, ' ', 11);
    size_t dot = len;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (dot != len)
                return REC_E_INVAL;
            dot = i;
        }
    }
    size_t base_len = dot;
    size_t ext_len = dot < len ? len - dot - 1 : 0;
    if (base_len == 0 || base_len > 8 || ext_len > 3 || (dot < len && ext_len == 0))
        return REC_E_INVAL;
    for (size_t i = 0; i < base_len; i++) {
        if (!fat_name_char_ok(s[i]))
            return REC_E_INVAL;
        out[i] = (uint8_t)fat_to_upper(s[i]);
    }
    for (size_t i = 0; i < ext_len; i++) {
        if (!fat_name_char_ok(s[dot + 1 + i]))
            return REC_E_INVAL;
        out[8 + i] = (uint8_t)fat_to_upper(s[dot + 1 + i]);
    }
    return REC_OK;
}

static bool name_eq(const uint8_t *entry, const uint8_t name[11])
{
    for (int i = 0; i < 11; i++) {
        uint8_t a = entry[i];
        if (i == 0 && a == 0x05)
            a = 0xE5;
        if (a >= 'a' && a <= 'z')
            a = (uint8_t)(a - 'a' + 'A');
        if (a != name[i])
            return false;
    }
    return true;
}

/* One part of a short name (base or extension) as text: the padding (trailing spaces) dropped.
 * A byte that would end or split the name as a path component (a control byte such as NUL, an
 * inner space, '.' or '/') becomes '?', which no path can name: a corrupted entry must not read
 * as another entry's name (stat and open would then find that other entry). */
static size_t name_part_to_text(const uint8_t *p, size_t len, char *out)
{
    while (len > 0 && p[len - 1] == ' ')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = (p[i] <= 0x20 || p[i] == '.' || p[i] == '/') ? '?' : (char)p[i];
    return len;
}

size_t fat_entry_name(const uint8_t *e, char out[13])
{
    uint8_t base[8];
    memcpy(base, e, 8);
    if (base[0] == 0x05)
        base[0] = 0xE5; /* a name starting with 0xE5 is stored as 0x05 (0xE5 marks deleted) */
    size_t n = name_part_to_text(base, 8, out);
    char ext[3];
    size_t ext_len = name_part_to_text(&e[8], 3, ext);
    if (ext_len > 0) {
        out[n++] = '.';
        memcpy(&out[n], ext, ext_len);
        n += ext_len;
    }
    out[n] = '\0';
    return n;
}

static void entry_to_dirent(const uint8_t *e, rec_fat_dirent_t *out)
{
    (void)fat_entry_name(e, out->name);
    out->attr = e[11];
    out->size = rec_get_u32(&e[28]);
    out->first_cluster = ((uint32_t)rec_get_u16(&e[20]) << 16) | rec_get_u16(&e[26]);
    out->wtime = rec_get_u16(&e[22]);
    out->wdate = rec_get_u16(&e[24]);
}

/* ---- directories ---- */

/* Walks a directory. cb is called with each used (non-free, non-end) entry; iteration stops at
 * the end marker, the end of the chain or when cb returns nonzero. If free_slot is non-NULL it
 * receives the first free entry (deleted or end marker), lba NO_LBA if none.
 * Returns cb's nonzero value, 0 when done, or a negative error. */
int fat_dir_walk(rec_fat_t *fs, uint32_t first, dir_cb_t cb, void *arg, dpos_t *free_slot,
                    uint32_t *last_cluster)
{
    if (!cluster_valid(fs, first))
        return REC_E_CORRUPT;
    uint32_t cluster = first;
    uint32_t epc = entries_per_cluster(fs);
    uint32_t lfn_start = 0;
    bool in_lfn = false;
    if (free_slot)
        free_slot->lba = NO_LBA;
    for (uint32_t index = 0; index < DIR_MAX_ENTRIES; index++) {
        if (index != 0 && index % epc == 0) {
            uint32_t next;
            int rc = fat_next(fs, cluster, &next);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
            cluster = next;
        }
        if (last_cluster)
            *last_cluster = cluster;
        uint32_t lba = entry_lba(fs, cluster, index);
        int rc = cache_load(fs, lba);
        if (rc != REC_OK)
            return rc;
        uint16_t off = (uint16_t)((index % (BS / 32u)) * 32u);
        const uint8_t *e = &fs->cache[off];
        if (e[0] == 0x00 || e[0] == 0xE5) {
            if (free_slot && free_slot->lba == NO_LBA) {
                free_slot->lba = lba;
                free_slot->off = off;
                free_slot->index = index;
                free_slot->lfn_start = index;
            }
            in_lfn = false;
            if (e[0] == 0x00)
                return 0;
            continue;
        }
        if ((e[11] & 0x3Fu) == ATTR_LFN) {
            if (!in_lfn) {
                in_lfn = true;
                lfn_start = index;
            }
            continue;
        }
        dpos_t pos = {lba, off, index, in_lfn ? lfn_start : index};
        in_lfn = false;
        rc = cb(arg, e, &pos);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct {
    const uint8_t *name;
    uint8_t entry[32];
    dpos_t pos;
} find_arg_t;

static int find_cb(void *arg, const uint8_t *e, const dpos_t *pos)
{
    find_arg_t *a = arg;
    if (e[11] & ATTR_VOLUME)
        return 0;
    if (!name_eq(e, a->name))
        return 0;
    memcpy(a->entry, e, 32);
    a->pos = *pos;
    return 1;
}

int fat_resolve(rec_fat_t *fs, const char *path, resolve_t *r)
{
    if (fs == NULL || !fs->mounted || path == NULL)
        return REC_E_INVAL;
    memset(r, 0, sizeof *r);
    uint32_t dir = fs->root_cluster;
    const char *p = path;
    while (*p == '/')
        p++;
    if (*p == '\0') {
        r->is_root = true;
        r->found = true;
        r->parent = dir;
        return REC_OK;
    }
    for (int depth = 0; depth < 64; depth++) {
        const char *end = p;
        while (*end != '\0' && *end != '/')
            end++;
        uint8_t name[11];
        int rc = make_83(p, (size_t)(end - p), name);
        if (rc != REC_OK)
            return rc;
        const char *rest = end;
        while (*rest == '/')
            rest++;
        bool last = *rest == '\0';
        find_arg_t fa;
        fa.name = name;
        dpos_t slot;
        uint32_t last_cl = dir;
        rc = fat_dir_walk(fs, dir, find_cb, &fa, last ? &slot : NULL, &last_cl);
        if (rc < 0)
            return rc;
        if (last) {
            r->parent = dir;
            memcpy(r->name, name, 11);
            r->found = rc == 1;
            r->free_slot = slot;
            r->parent_last = last_cl;
            if (r->found) {
                memcpy(r->entry, fa.entry, 32);
                r->pos = fa.pos;
            }
            return REC_OK;
        }
        if (rc != 1)
            return REC_E_NOENT;
        if (!(fa.entry[11] & ATTR_DIR))
            return REC_E_NOENT;
        uint32_t sub = entry_cluster(fa.entry);
        if (sub == 0)
            sub = fs->root_cluster; /* ".." of a first-level directory */
        if (!cluster_valid(fs, sub))
            return REC_E_CORRUPT;
        dir = sub;
        p = rest;
    }
    return REC_E_INVAL;
}


void fat_fill_entry(const rec_fat_t *fs, uint8_t *e, const uint8_t name[11], uint8_t attr,
                       uint32_t first, uint32_t size)
{
    memset(e, 0, 32);
    memcpy(e, name, 11);
    e[11] = attr;
    rec_put_u16(&e[14], fs->now_time);
    rec_put_u16(&e[16], fat_now_date(fs));
    rec_put_u16(&e[18], fat_now_date(fs));
    rec_put_u16(&e[20], (uint16_t)(first >> 16));
    rec_put_u16(&e[22], fs->now_time);
    rec_put_u16(&e[24], fat_now_date(fs));
    rec_put_u16(&e[26], (uint16_t)first);
    rec_put_u32(&e[28], size);
}

/* Writes zeros over a whole cluster through the cache. */
static int zero_cluster(rec_fat_t *fs, uint32_t c)
{
    uint32_t lba = cluster_lba(fs, c);
    for (uint32_t i = 0; i < fs->blocks_per_cluster; i++) {
        int rc = fat_cache_take_zeroed(fs, lba + i);
        if (rc == REC_OK)
            rc = fat_cache_flush(fs);
        if (rc != REC_OK)
            return rc;
    }
    return REC_OK;
}

/* Makes sure r->free_slot is valid, growing the parent directory by one zeroed cluster if it is
 * full. Ordering: zero the new cluster, mark it end of chain, link it from the tail. */
int fat_ensure_slot(rec_fat_t *fs, resolve_t *r)
{
    if (r->free_slot.lba != NO_LBA)
        return REC_OK;
    /* Count entries to respect the 65536 entry limit: the walk stopped at the chain end. */
    uint32_t clusters;
    bool contig;
    int rc = fat_chain_measure(fs, r->parent, &clusters, &contig);
    if (rc != REC_OK)
        return rc;
    if ((uint64_t)clusters * entries_per_cluster(fs) >= DIR_MAX_ENTRIES)
        return REC_E_NOSPC;
    uint32_t c;
    rc = fat_find_free(fs, fs->next_free, &c);
    if (rc != REC_OK)
        return rc;
    rc = zero_cluster(fs, c);
    if (rc == REC_OK)
        rc = fat_set(fs, c, FAT_EOC);
    if (rc == REC_OK)
        rc = fat_set(fs, r->parent_last, c);
    if (rc != REC_OK)
        return rc;
    fat_note_alloc(fs, c);
    r->free_slot.lba = cluster_lba(fs, c);
    r->free_slot.off = 0;
    r->free_slot.index = clusters * entries_per_cluster(fs);
    r->free_slot.lfn_start = r->free_slot.index;
    return REC_OK;
}

/* Writes a 32-byte entry at a position through the cache. */
int fat_put_entry(rec_fat_t *fs, uint32_t lba, uint16_t off, const uint8_t *e)
{
    int rc = cache_load(fs, lba);
    if (rc != REC_OK)
        return rc;
    memcpy(&fs->cache[off], e, 32);
    fs->cache_dirty = true;
    return REC_OK;
}

/* fat_resolve, then REC_E_NOENT unless the path names an entry (or the root). */
int fat_resolve_existing(rec_fat_t *fs, const char *path, resolve_t *r)
{
    int rc = fat_resolve(fs, path, r);
    if (rc == REC_OK && !r->found)
        rc = REC_E_NOENT;
    return rc;
}

/* fat_resolve for an entry to create: REC_E_EXIST if the path names one, else a free slot for
 * it in the parent directory (fat_ensure_slot: this may allocate a cluster). */
int fat_resolve_new(rec_fat_t *fs, const char *path, resolve_t *r)
{
    int rc = fat_resolve(fs, path, r);
    if (rc == REC_OK && r->found)
        rc = REC_E_EXIST;
    if (rc == REC_OK)
        rc = fat_ensure_slot(fs, r);
    return rc;
}

int rec_fat_stat(rec_fat_t *fs, const char *path, rec_fat_dirent_t *out)
{
    resolve_t r;
    int rc = fat_resolve_existing(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (out == NULL)
        return REC_OK;
    memset(out, 0, sizeof *out);
    if (r.is_root) {
        out->name[0] = '/';
        out->attr = ATTR_DIR;
        out->first_cluster = fs->root_cluster;
        return REC_OK;
    }
    entry_to_dirent(r.entry, out);
    return REC_OK;
}

int rec_fat_mkdir(rec_fat_t *fs, const char *path)
{
    resolve_t r;
    int rc = fat_resolve_new(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    uint32_t c;
    rc = fat_find_free(fs, fs->next_free, &c);
    if (rc != REC_OK)
        return rc;
    /* The new directory's cluster: zeroed, with "." and ".." (block 0 written last). */
    rc = zero_cluster(fs, c);
    if (rc == REC_OK)
        rc = fat_cache_take_zeroed(fs, cluster_lba(fs, c));
    if (rc != REC_OK)
        return rc;
    static const uint8_t dot[11] = {'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    static const uint8_t dotdot[11] = {'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    fat_fill_entry(fs, &fs->cache[0], dot, ATTR_DIR, c, 0);
    fat_fill_entry(fs, &fs->cache[32], dotdot, ATTR_DIR, r.parent == fs->root_cluster ? 0 : r.parent, 0);
    fs->cache_dirty = true;
    rc = fat_set(fs, c, FAT_EOC);
    if (rc != REC_OK)
        return rc;
    fat_note_alloc(fs, c);
    rc = fat_barrier(fs);
    if (rc != REC_OK)
        return rc;
    uint8_t e[32];
    fat_fill_entry(fs, e, r.name, ATTR_DIR, c, 0);
    rc = fat_put_entry(fs, r.free_slot.lba, r.free_slot.off, e);
    if (rc != REC_OK)
        return rc;
    return fat_barrier(fs);
}

int rec_fat_opendir(rec_fat_t *fs, rec_fat_dir_t *dir, const char *path)
{
    if (dir == NULL)
        return REC_E_INVAL;
    resolve_t r;
    int rc = fat_resolve_existing(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    uint32_t c = fs->root_cluster;
    if (!r.is_root) {
        if (!(r.entry[11] & ATTR_DIR))
            return REC_E_INVAL;
        c = entry_cluster(r.entry);
        if (c == 0)
            c = fs->root_cluster;
        if (!cluster_valid(fs, c))
            return REC_E_CORRUPT;
    }
    dir->cluster = c;
    dir->index = 0;
    return REC_OK;
}

int rec_fat_readdir(rec_fat_t *fs, rec_fat_dir_t *dir, rec_fat_dirent_t *out)
{
    if (fs == NULL || !fs->mounted || dir == NULL || out == NULL)
        return REC_E_INVAL;
    uint32_t epc = entries_per_cluster(fs);
    while (dir->index < DIR_MAX_ENTRIES) {
        if (dir->cluster == 0)
            return 0; /* finished */
        if (!cluster_valid(fs, dir->cluster))
            return REC_E_CORRUPT;
        uint32_t lba = entry_lba(fs, dir->cluster, dir->index);
        int rc = cache_load(fs, lba);
        if (rc != REC_OK)
            return rc;
        const uint8_t *e = &fs->cache[(dir->index % (BS / 32u)) * 32u];
        uint8_t first = e[0];
        uint8_t attr = e[11];
        uint8_t copy[32];
        memcpy(copy, e, 32);
        /* advance */
        dir->index++;
        if (first == 0x00) {
            dir->cluster = 0;
            return 0;
        }
        if (dir->index % epc == 0) {
            uint32_t next;
            rc = fat_next(fs, dir->cluster, &next);
            if (rc < 0)
                return rc;
            dir->cluster = rc == 1 ? next : 0;
        }
        if (first == 0xE5 || (attr & 0x3Fu) == ATTR_LFN || (attr & ATTR_VOLUME) || first == '.')
            continue;
        memset(out, 0, sizeof *out);
        entry_to_dirent(copy, out);
        return 1;
    }
    return 0;
}

/* Marks the entry and its long-name parts deleted. The short entry goes first. */
static int delete_entry(rec_fat_t *fs, uint32_t parent, const dpos_t *pos)
{
    int rc = cache_load(fs, pos->lba);
    if (rc != REC_OK)
        return rc;
    fs->cache[pos->off] = 0xE5;
    fs->cache_dirty = true;
    if (pos->lfn_start == pos->index)
        return REC_OK;
    /* Walk from the start of the directory to the LFN entries (they may be in earlier
     * clusters). */
    uint32_t epc = entries_per_cluster(fs);
    uint32_t cluster = parent;
    for (uint32_t i = 0; i < pos->lfn_start / epc; i++) {
        uint32_t next;
        rc = fat_next(fs, cluster, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return REC_E_CORRUPT;
        cluster = next;
    }
    for (uint32_t idx = pos->lfn_start; idx < pos->index; idx++) {
        if (idx != pos->lfn_start && idx % epc == 0) {
            uint32_t next;
            rc = fat_next(fs, cluster, &next);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return REC_E_CORRUPT;
            cluster = next;
        }
        rc = cache_load(fs, entry_lba(fs, cluster, idx));
        if (rc != REC_OK)
            return rc;
        uint8_t *e = &fs->cache[(idx % (BS / 32u)) * 32u];
        if ((e[11] & 0x3Fu) == ATTR_LFN) {
            e[0] = 0xE5;
            fs->cache_dirty = true;
        }
    }
    return REC_OK;
}

int rec_fat_remove(rec_fat_t *fs, const char *path)
{
    resolve_t r;
    int rc = fat_resolve_existing(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (r.is_root || (r.entry[11] & ATTR_DIR))
        return REC_E_INVAL;
    uint32_t first = entry_cluster(r.entry);
    if (first != 0 && !cluster_valid(fs, first))
        first = 0; /* nothing sane to free; fsck will find lost clusters if any */
    /* Entry first, then the chain. */
    rc = delete_entry(fs, r.parent, &r.pos);
    if (rc == REC_OK)
        rc = fat_barrier(fs);
    if (rc != REC_OK)
        return rc;
    if (first != 0) {
        rc = fat_free_chain(fs, first);
        int rc2 = fat_barrier(fs);
        if (rc == REC_OK)
            rc = rc2;
    }
    return rc;
}
