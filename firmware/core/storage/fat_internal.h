/* FAT32 internals shared by the parts of the FAT module (fat.c: cache, FSInfo and files;
 * fat_alloc.c: FAT entries and allocation; fat_dir.c: names and directories; fat_volume.c:
 * mount and format; fat_repair.c: repair). Not part of the API (rec/fat.h).
 *
 * The helpers on the hot paths (byte loads, cluster arithmetic, the cached FAT entry read and
 * the cache hit test) are static inline here, so splitting the module costs no calls in the
 * loops over every FAT entry (mount, repair, allocation). */
#ifndef REC_FAT_INTERNAL_H
#define REC_FAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rec/bd.h"
#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/fat.h"

#define BS REC_BD_BLOCK_SIZE
#define NO_LBA UINT32_MAX

#define FAT_EOC 0x0FFFFFFFu
#define FAT_MASK 0x0FFFFFFFu
#define FAT_BAD 0x0FFFFFF7u
/* FAT32 by Microsoft's rule: at least 65525 clusters (34 MiB of 512-byte clusters). The fuzz
 * build (firmware/fuzz) lowers it to fuzz a card of a few MiB, as Linux and mkfs.fat allow. */
#ifndef FAT32_MIN_CLUSTERS
#define FAT32_MIN_CLUSTERS 65525u
#endif
#define FAT32_MAX_CLUSTERS 0x0FFFFFF5u
#define DIR_MAX_ENTRIES 65536u

#define ATTR_RO 0x01u
#define ATTR_HIDDEN 0x02u
#define ATTR_SYSTEM 0x04u
#define ATTR_VOLUME 0x08u
#define ATTR_DIR 0x10u
#define ATTR_ARCHIVE 0x20u
#define ATTR_LFN 0x0Fu

#define DEFAULT_DATE ((uint16_t)((0u << 9) | (1u << 5) | 1u)) /* 1980-01-01 */

/* ---- directory positions and lookups ---- */

/* Position of a directory entry, found by a lookup. */
typedef struct {
    uint32_t lba;
    uint16_t off;
    uint32_t index;       /* entry index within the directory */
    uint32_t lfn_start;   /* index of the first LFN entry just before it (== index if none) */
} dpos_t;

/* Called by fat_dir_walk with each used entry; nonzero stops the walk. */
typedef int (*dir_cb_t)(void *arg, const uint8_t *e, const dpos_t *pos);

/* Result of resolving a path. */
typedef struct {
    uint32_t parent;       /* first cluster of the directory holding the last component */
    uint8_t name[11];      /* last component */
    bool found;
    bool is_root;          /* the path names the root directory itself */
    uint8_t entry[32];     /* its entry, when found */
    dpos_t pos;
    dpos_t free_slot;      /* first free slot in parent (lba NO_LBA if none) */
    uint32_t parent_last;  /* last cluster of parent's chain seen (valid when not found) */
} resolve_t;

/* ---- functions of the parts, by file ---- */

/* fat.c */
/* Loads a block that is not the cached one (cache_load's slow path). */
int fat_cache_fill(rec_fat_t *fs, uint32_t lba);
int fat_cache_flush(rec_fat_t *fs);
int fat_cache_take_zeroed(rec_fat_t *fs, uint32_t lba);
int fat_barrier(rec_fat_t *fs);

/* fat_alloc.c */
int fat_set(rec_fat_t *fs, uint32_t c, uint32_t val);
int fat_find_free(rec_fat_t *fs, uint32_t start, uint32_t *out);
void fat_note_alloc(rec_fat_t *fs, uint32_t c);
int fat_free_chain(rec_fat_t *fs, uint32_t c);
int fat_chain_measure(rec_fat_t *fs, uint32_t first, uint32_t *count, bool *contiguous);
int fat_set_run(rec_fat_t *fs, uint32_t start, uint32_t n, bool chain);
int fat_find_run(rec_fat_t *fs, uint32_t n, uint32_t *start);

/* fat_dir.c */
bool fat_name_char_ok(char ch);
/* An entry's short name as text ("JOURNAL.BIN"; bytes no path can name become '?'); returns
 * its length (at most 12). */
size_t fat_entry_name(const uint8_t *e, char out[13]);
int fat_dir_walk(rec_fat_t *fs, uint32_t first, dir_cb_t cb, void *arg, dpos_t *free_slot, uint32_t *last_cluster);
int fat_resolve(rec_fat_t *fs, const char *path, resolve_t *r);
int fat_resolve_existing(rec_fat_t *fs, const char *path, resolve_t *r);
int fat_resolve_new(rec_fat_t *fs, const char *path, resolve_t *r);
void fat_fill_entry(const rec_fat_t *fs, uint8_t *e, const uint8_t name[11], uint8_t attr, uint32_t first, uint32_t size);
int fat_ensure_slot(rec_fat_t *fs, resolve_t *r);
int fat_put_entry(rec_fat_t *fs, uint32_t lba, uint16_t off, const uint8_t *e);

/* ---- cache and FAT access (hot paths) ---- */

static inline int cache_load(rec_fat_t *fs, uint32_t lba)
{
    if (fs->cache_lba == lba)
        return REC_OK;
    return fat_cache_fill(fs, lba);
}

static inline bool cluster_valid(const rec_fat_t *fs, uint32_t c)
{
    return c >= 2 && c - 2 < fs->cluster_count;
}

static inline uint32_t cluster_bytes(const rec_fat_t *fs)
{
    return (uint32_t)fs->blocks_per_cluster * BS;
}

static inline uint32_t cluster_lba(const rec_fat_t *fs, uint32_t c)
{
    return fs->data_lba + (c - 2) * fs->blocks_per_cluster;
}

static inline int fat_get(rec_fat_t *fs, uint32_t c, uint32_t *val)
{
    if (!cluster_valid(fs, c))
        return REC_E_CORRUPT;
    int rc = cache_load(fs, fs->fat_lba + c / (BS / 4));
    if (rc != REC_OK)
        return rc;
    *val = rec_get_u32(&fs->cache[(c % (BS / 4)) * 4]) & FAT_MASK;
    return REC_OK;
}

/* 1 and *next for a link, 0 at end of chain, REC_E_CORRUPT for free/bad/out-of-range links. */
static inline int fat_next(rec_fat_t *fs, uint32_t c, uint32_t *next)
{
    *next = 0; /* defined on every path, so optimised builds can prove it */
    uint32_t v;
    int rc = fat_get(fs, c, &v);
    if (rc != REC_OK)
        return rc;
    if (v >= 0x0FFFFFF8u)
        return 0;
    if (!cluster_valid(fs, v))
        return REC_E_CORRUPT;
    *next = v;
    return 1;
}

/* ---- names and directory entries ---- */

static inline char fat_to_upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; }

static inline uint16_t fat_now_date(const rec_fat_t *fs) { return fs->now_date ? fs->now_date : DEFAULT_DATE; }

static inline uint32_t entries_per_cluster(const rec_fat_t *fs) { return cluster_bytes(fs) / 32u; }

/* Block holding entry `index` of the directory whose current cluster (holding that index) is
 * `cluster`. */
static inline uint32_t entry_lba(const rec_fat_t *fs, uint32_t cluster, uint32_t index)
{
    uint32_t in_cluster = index % entries_per_cluster(fs);
    return cluster_lba(fs, cluster) + in_cluster / (BS / 32u);
}

static inline uint32_t entry_cluster(const uint8_t *e)
{
    return ((uint32_t)rec_get_u16(&e[20]) << 16) | rec_get_u16(&e[26]);
}

#endif
