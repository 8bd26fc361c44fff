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
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "rec/bd.h"
#include "rec/err.h"
#include "rec/fat.h"

#define BS REC_BD_BLOCK_SIZE
#define NO_LBA UINT32_MAX

#define FAT_EOC 0x0FFFFFFFu
#define FAT_MASK 0x0FFFFFFFu
#define FAT_BAD 0x0FFFFFF7u
#define FAT32_MIN_CLUSTERS 65525u
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

/* ---- little-endian helpers ---- */

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- cache ---- */

static bool lba_in_fat(const rec_fat_t *fs, uint32_t lba)
{
    return lba >= fs->fat_lba && lba - fs->fat_lba < fs->fat_blocks;
}

static int cache_flush(rec_fat_t *fs)
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

static int cache_load(rec_fat_t *fs, uint32_t lba)
{
    if (fs->cache_lba == lba)
        return REC_OK;
    int rc = cache_flush(fs);
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
static int cache_take_zeroed(rec_fat_t *fs, uint32_t lba)
{
    if (fs->cache_lba != lba) {
        int rc = cache_flush(fs);
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
    return cache_flush(fs);
}

/* Cache write-back, FSInfo update, device sync: one ordering point. */
static int write_fsinfo(rec_fat_t *fs);

static int barrier(rec_fat_t *fs)
{
    int rc = cache_flush(fs);
    if (rc == REC_OK)
        rc = write_fsinfo(fs);
    if (rc == REC_OK)
        rc = cache_flush(fs);
    if (rc == REC_OK)
        rc = rec_bd_sync(fs->bd);
    return rc;
}

/* ---- FAT access ---- */

static bool cluster_valid(const rec_fat_t *fs, uint32_t c)
{
    return c >= 2 && c - 2 < fs->cluster_count;
}

static uint32_t cluster_bytes(const rec_fat_t *fs)
{
    return (uint32_t)fs->blocks_per_cluster * BS;
}

static uint32_t cluster_lba(const rec_fat_t *fs, uint32_t c)
{
    return fs->data_lba + (c - 2) * fs->blocks_per_cluster;
}

static int fat_get(rec_fat_t *fs, uint32_t c, uint32_t *val)
{
    if (!cluster_valid(fs, c))
        return REC_E_CORRUPT;
    int rc = cache_load(fs, fs->fat_lba + c / (BS / 4));
    if (rc != REC_OK)
        return rc;
    *val = ld32(&fs->cache[(c % (BS / 4)) * 4]) & FAT_MASK;
    return REC_OK;
}

static int fat_set(rec_fat_t *fs, uint32_t c, uint32_t val)
{
    if (!cluster_valid(fs, c))
        return REC_E_CORRUPT;
    int rc = cache_load(fs, fs->fat_lba + c / (BS / 4));
    if (rc != REC_OK)
        return rc;
    uint8_t *p = &fs->cache[(c % (BS / 4)) * 4];
    st32(p, (ld32(p) & ~FAT_MASK) | (val & FAT_MASK));
    fs->cache_dirty = true;
    return REC_OK;
}

/* 1 and *next for a link, 0 at end of chain, REC_E_CORRUPT for free/bad/out-of-range links. */
static int fat_next(rec_fat_t *fs, uint32_t c, uint32_t *next)
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

static int find_free(rec_fat_t *fs, uint32_t start, uint32_t *out)
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

static void note_alloc(rec_fat_t *fs, uint32_t c)
{
    if (fs->free_count > 0)
        fs->free_count--;
    fs->next_free = cluster_valid(fs, c + 1) ? c + 1 : 2;
    fs->fsinfo_dirty = true;
}

/* Frees the chain starting at c (whose predecessor link must already be cut). */
static int free_chain(rec_fat_t *fs, uint32_t c)
{
    for (uint32_t steps = 0; steps < fs->cluster_count; steps++) {
        uint32_t v;
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
static int chain_measure(rec_fat_t *fs, uint32_t first, uint32_t *count, bool *contiguous)
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

static int set_run(rec_fat_t *fs, uint32_t start, uint32_t n, bool chain);
static int mount(rec_fat_t *fs, const rec_bd_t *bd);

/* ---- FSInfo ---- */

static int write_fsinfo(rec_fat_t *fs)
{
    if (!fs->fsinfo_dirty)
        return REC_OK;
    if (fs->fsinfo_lba != 0) {
        int rc = cache_load(fs, fs->fsinfo_lba);
        if (rc != REC_OK)
            return rc;
        st32(&fs->cache[488], fs->free_count);
        st32(&fs->cache[492], fs->next_free);
        fs->cache_dirty = true;
    }
    fs->fsinfo_dirty = false;
    return REC_OK;
}

/* ---- mount ---- */

void rec_fat_set_time(rec_fat_t *fs, uint16_t fat_date, uint16_t fat_time)
{
    fs->now_date = fat_date;
    fs->now_time = fat_time;
}

static bool is_pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* Validates the boot sector in `b` for a volume starting at part_lba and spanning at most
 * avail blocks. Fills the geometry of fs. */
static int parse_bpb(rec_fat_t *fs, const uint8_t *b, uint32_t part_lba, uint32_t avail)
{
    if (b[510] != 0x55 || b[511] != 0xAA)
        return REC_E_BADFS;
    if (b[0] != 0xEB && b[0] != 0xE9)
        return REC_E_BADFS;
    if (ld16(&b[11]) != BS)
        return REC_E_BADFS;
    uint32_t spc = b[13];
    if (!is_pow2(spc) || spc > 128)
        return REC_E_BADFS;
    uint32_t reserved = ld16(&b[14]);
    uint32_t nfats = b[16];
    if (reserved == 0 || nfats < 1 || nfats > 2)
        return REC_E_BADFS;
    /* FAT32: no fixed root directory, 16-bit sizes zero. */
    if (ld16(&b[17]) != 0 || ld16(&b[19]) != 0 || ld16(&b[22]) != 0)
        return REC_E_BADFS;
    uint32_t total = ld32(&b[32]);
    uint32_t fatsz = ld32(&b[36]);
    uint16_t ext_flags = ld16(&b[40]);
    uint16_t version = ld16(&b[42]);
    uint32_t root = ld32(&b[44]);
    uint32_t fsinfo = ld16(&b[48]);
    if (version != 0)
        return REC_E_BADFS;
    if (total == 0 || total > avail || fatsz == 0)
        return REC_E_BADFS;
    if (fatsz > (total - reserved) / nfats || reserved >= total)
        return REC_E_BADFS;
    uint32_t meta = reserved + nfats * fatsz;
    if (meta >= total)
        return REC_E_BADFS;
    uint32_t clusters = (total - meta) / spc;
    if (clusters < FAT32_MIN_CLUSTERS || clusters > FAT32_MAX_CLUSTERS)
        return REC_E_BADFS;
    if ((uint64_t)fatsz * (BS / 4) < (uint64_t)clusters + 2)
        return REC_E_BADFS;
    if (root < 2 || root - 2 >= clusters)
        return REC_E_BADFS;
    if (ext_flags & 0x80u)
        return REC_E_UNSUPPORTED; /* FAT mirroring disabled: not supported */

    fs->part_lba = part_lba;
    fs->fat_lba = part_lba + reserved;
    fs->fat_blocks = fatsz;
    fs->num_fats = (uint8_t)nfats;
    fs->blocks_per_cluster = (uint8_t)spc;
    fs->data_lba = part_lba + meta;
    fs->cluster_count = clusters;
    fs->root_cluster = root;
    fs->fsinfo_lba = (fsinfo != 0 && fsinfo != 0xFFFFu && fsinfo < reserved) ? part_lba + fsinfo : 0;
    fs->volume_id = ld32(&b[67]);
    return REC_OK;
}

int rec_fat_mount(rec_fat_t *fs, const rec_bd_t *bd)
{
    return rec_fat_mount_lent(fs, bd, NULL, 0);
}

int rec_fat_mount_lent(rec_fat_t *fs, const rec_bd_t *bd, uint8_t *scratch, uint32_t scratch_bytes)
{
    if (fs == NULL || bd == NULL)
        return REC_E_INVAL;
    memset(fs, 0, sizeof *fs);
    rec_fat_lend_scratch(fs, scratch, scratch_bytes); /* taken back before returning */
    int rc = mount(fs, bd);
    rec_fat_lend_scratch(fs, NULL, 0);
    return rc;
}

static int mount(rec_fat_t *fs, const rec_bd_t *bd)
{
    fs->bd = bd;
    fs->cache_lba = NO_LBA;
    fs->now_date = DEFAULT_DATE;
    if (bd->block_count == 0)
        return REC_E_BADFS;

    int rc = rec_bd_read(bd, 0, fs->cache, 1);
    if (rc != REC_OK)
        return rc;
    rc = parse_bpb(fs, fs->cache, 0, bd->block_count);
    if (rc == REC_E_BADFS && fs->cache[510] == 0x55 && fs->cache[511] == 0xAA) {
        /* Not a volume: try the first MBR partition. */
        const uint8_t *pe = &fs->cache[446];
        uint8_t type = pe[4];
        uint32_t start = ld32(&pe[8]);
        uint32_t size = ld32(&pe[12]);
        if (type == 0 || type == 0xEE || start == 0 || start >= bd->block_count || size == 0)
            return REC_E_BADFS;
        if (size > bd->block_count - start)
            size = bd->block_count - start;
        rc = rec_bd_read(bd, start, fs->cache, 1);
        if (rc != REC_OK)
            return rc;
        rc = parse_bpb(fs, fs->cache, start, size);
    }
    if (rc != REC_OK)
        return rc;

    /* FSInfo: only a hint, used only if its signatures are right. */
    fs->next_free = 2;
    if (fs->fsinfo_lba != 0) {
        rc = rec_bd_read(bd, fs->fsinfo_lba, fs->cache, 1);
        if (rc != REC_OK)
            return rc;
        if (ld32(&fs->cache[0]) == 0x41615252u && ld32(&fs->cache[484]) == 0x61417272u &&
            ld32(&fs->cache[508]) == 0xAA550000u) {
            uint32_t nf = ld32(&fs->cache[492]);
            if (cluster_valid(fs, nf))
                fs->next_free = nf;
        } else {
            fs->fsinfo_lba = 0;
        }
    }

    /* Count free clusters from FAT #1, many blocks per read when memory was lent (a 32 GB
     * card has a 4 MiB FAT: thousands of single-block reads otherwise). */
    uint32_t free_count = 0;
    uint32_t last = fs->cluster_count + 1;
    uint32_t fat_used = last / (BS / 4) + 1;
    uint8_t *buf = fs->scratch_bytes >= BS ? fs->scratch : fs->cache;
    uint32_t per_read = fs->scratch_bytes >= BS ? fs->scratch_bytes / BS : 1;
    for (uint32_t blk = 0; blk < fat_used; blk += per_read) {
        uint32_t k = fat_used - blk < per_read ? fat_used - blk : per_read;
        rc = rec_bd_read(bd, fs->fat_lba + blk, buf, k);
        if (rc != REC_OK)
            return rc;
        for (uint32_t i = 0; i < k * (BS / 4); i++) {
            uint32_t c = blk * (BS / 4) + i;
            if (c < 2)
                continue;
            if (c > last)
                break;
            if ((ld32(&buf[i * 4]) & FAT_MASK) == 0)
                free_count++;
        }
    }
    uint32_t root_val;
    fs->cache_lba = NO_LBA;
    fs->free_count = free_count;
    /* The root directory must at least start a valid chain. */
    rc = fat_get(fs, fs->root_cluster, &root_val);
    if (rc != REC_OK)
        return rc;
    if (root_val == 0 || root_val == 1 || root_val == FAT_BAD ||
        (root_val < 0x0FFFFFF8u && !cluster_valid(fs, root_val)))
        return REC_E_BADFS;
    /* FSInfo is rewritten with the true count on the next sync if it differed. */
    if (fs->fsinfo_lba != 0) {
        rc = cache_load(fs, fs->fsinfo_lba);
        if (rc != REC_OK)
            return rc;
        if (ld32(&fs->cache[488]) != free_count)
            fs->fsinfo_dirty = true;
    }
    fs->mounted = true;
    return REC_OK;
}

int rec_fat_sync(rec_fat_t *fs)
{
    if (fs == NULL || !fs->mounted)
        return REC_E_INVAL;
    return barrier(fs);
}

int rec_fat_statfs(rec_fat_t *fs, uint64_t *total_bytes, uint64_t *free_bytes)
{
    if (fs == NULL || !fs->mounted)
        return REC_E_INVAL;
    if (total_bytes)
        *total_bytes = (uint64_t)fs->cluster_count * cluster_bytes(fs);
    if (free_bytes)
        *free_bytes = (uint64_t)fs->free_count * cluster_bytes(fs);
    return REC_OK;
}

/* ---- names ---- */

static bool name_char_ok(char ch)
{
    unsigned char c = (unsigned char)ch;
    if (c <= 0x20 || c >= 0x7F)
        return false;
    return strchr("\"*+,./:;<=>?[\\]|", ch) == NULL;
}

static char to_upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; }

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
        if (!name_char_ok(s[i]))
            return REC_E_INVAL;
        out[i] = (uint8_t)to_upper(s[i]);
    }
    for (size_t i = 0; i < ext_len; i++) {
        if (!name_char_ok(s[dot + 1 + i]))
            return REC_E_INVAL;
        out[8 + i] = (uint8_t)to_upper(s[dot + 1 + i]);
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

static void entry_to_dirent(const uint8_t *e, rec_fat_dirent_t *out)
{
    uint8_t base[8];
    memcpy(base, e, 8);
    if (base[0] == 0x05)
        base[0] = 0xE5; /* a name starting with 0xE5 is stored as 0x05 (0xE5 marks deleted) */
    size_t n = name_part_to_text(base, 8, out->name);
    char ext[3];
    size_t ext_len = name_part_to_text(&e[8], 3, ext);
    if (ext_len > 0) {
        out->name[n++] = '.';
        memcpy(&out->name[n], ext, ext_len);
        n += ext_len;
    }
    out->name[n] = '\0';
    out->attr = e[11];
    out->size = ld32(&e[28]);
    out->first_cluster = ((uint32_t)ld16(&e[20]) << 16) | ld16(&e[26]);
    out->wtime = ld16(&e[22]);
    out->wdate = ld16(&e[24]);
}

/* ---- directories ---- */

/* Position of a directory entry, found by a lookup. */
typedef struct {
    uint32_t lba;
    uint16_t off;
    uint32_t index;       /* entry index within the directory */
    uint32_t lfn_start;   /* index of the first LFN entry just before it (== index if none) */
} dpos_t;

static uint32_t entries_per_cluster(const rec_fat_t *fs) { return cluster_bytes(fs) / 32u; }

/* Block holding entry `index` of the directory whose current cluster (holding that index) is
 * `cluster`. */
static uint32_t entry_lba(const rec_fat_t *fs, uint32_t cluster, uint32_t index)
{
    uint32_t in_cluster = index % entries_per_cluster(fs);
    return cluster_lba(fs, cluster) + in_cluster / (BS / 32u);
}

/* Walks a directory. cb is called with each used (non-free, non-end) entry; iteration stops at
 * the end marker, the end of the chain or when cb returns nonzero. If free_slot is non-NULL it
 * receives the first free entry (deleted or end marker), lba NO_LBA if none.
 * Returns cb's nonzero value, 0 when done, or a negative error. */
typedef int (*dir_cb_t)(void *arg, const uint8_t *e, const dpos_t *pos);

static int dir_walk(rec_fat_t *fs, uint32_t first, dir_cb_t cb, void *arg, dpos_t *free_slot,
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

static uint32_t entry_cluster(const uint8_t *e)
{
    return ((uint32_t)ld16(&e[20]) << 16) | ld16(&e[26]);
}

static int resolve(rec_fat_t *fs, const char *path, resolve_t *r)
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
        rc = dir_walk(fs, dir, find_cb, &fa, last ? &slot : NULL, &last_cl);
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

static uint16_t now_date(const rec_fat_t *fs) { return fs->now_date ? fs->now_date : DEFAULT_DATE; }

static void fill_entry(const rec_fat_t *fs, uint8_t *e, const uint8_t name[11], uint8_t attr,
                       uint32_t first, uint32_t size)
{
    memset(e, 0, 32);
    memcpy(e, name, 11);
    e[11] = attr;
    st16(&e[14], fs->now_time);
    st16(&e[16], now_date(fs));
    st16(&e[18], now_date(fs));
    st16(&e[20], (uint16_t)(first >> 16));
    st16(&e[22], fs->now_time);
    st16(&e[24], now_date(fs));
    st16(&e[26], (uint16_t)first);
    st32(&e[28], size);
}

/* Writes zeros over a whole cluster through the cache. */
static int zero_cluster(rec_fat_t *fs, uint32_t c)
{
    uint32_t lba = cluster_lba(fs, c);
    for (uint32_t i = 0; i < fs->blocks_per_cluster; i++) {
        int rc = cache_take_zeroed(fs, lba + i);
        if (rc == REC_OK)
            rc = cache_flush(fs);
        if (rc != REC_OK)
            return rc;
    }
    return REC_OK;
}

/* Makes sure r->free_slot is valid, growing the parent directory by one zeroed cluster if it is
 * full. Ordering: zero the new cluster, mark it end of chain, link it from the tail. */
static int ensure_slot(rec_fat_t *fs, resolve_t *r)
{
    if (r->free_slot.lba != NO_LBA)
        return REC_OK;
    /* Count entries to respect the 65536 entry limit: the walk stopped at the chain end. */
    uint32_t clusters;
    bool contig;
    int rc = chain_measure(fs, r->parent, &clusters, &contig);
    if (rc != REC_OK)
        return rc;
    if ((uint64_t)clusters * entries_per_cluster(fs) >= DIR_MAX_ENTRIES)
        return REC_E_NOSPC;
    uint32_t c;
    rc = find_free(fs, fs->next_free, &c);
    if (rc != REC_OK)
        return rc;
    rc = zero_cluster(fs, c);
    if (rc == REC_OK)
        rc = fat_set(fs, c, FAT_EOC);
    if (rc == REC_OK)
        rc = fat_set(fs, r->parent_last, c);
    if (rc != REC_OK)
        return rc;
    note_alloc(fs, c);
    r->free_slot.lba = cluster_lba(fs, c);
    r->free_slot.off = 0;
    r->free_slot.index = clusters * entries_per_cluster(fs);
    r->free_slot.lfn_start = r->free_slot.index;
    return REC_OK;
}

/* Writes a 32-byte entry at a position through the cache. */
static int put_entry(rec_fat_t *fs, uint32_t lba, uint16_t off, const uint8_t *e)
{
    int rc = cache_load(fs, lba);
    if (rc != REC_OK)
        return rc;
    memcpy(&fs->cache[off], e, 32);
    fs->cache_dirty = true;
    return REC_OK;
}

int rec_fat_stat(rec_fat_t *fs, const char *path, rec_fat_dirent_t *out)
{
    resolve_t r;
    int rc = resolve(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (!r.found)
        return REC_E_NOENT;
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
    int rc = resolve(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (r.found)
        return REC_E_EXIST;
    rc = ensure_slot(fs, &r);
    if (rc != REC_OK)
        return rc;
    uint32_t c;
    rc = find_free(fs, fs->next_free, &c);
    if (rc != REC_OK)
        return rc;
    /* The new directory's cluster: zeroed, with "." and ".." (block 0 written last). */
    rc = zero_cluster(fs, c);
    if (rc == REC_OK)
        rc = cache_take_zeroed(fs, cluster_lba(fs, c));
    if (rc != REC_OK)
        return rc;
    static const uint8_t dot[11] = {'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    static const uint8_t dotdot[11] = {'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    fill_entry(fs, &fs->cache[0], dot, ATTR_DIR, c, 0);
    fill_entry(fs, &fs->cache[32], dotdot, ATTR_DIR, r.parent == fs->root_cluster ? 0 : r.parent, 0);
    fs->cache_dirty = true;
    rc = fat_set(fs, c, FAT_EOC);
    if (rc != REC_OK)
        return rc;
    note_alloc(fs, c);
    rc = barrier(fs);
    if (rc != REC_OK)
        return rc;
    uint8_t e[32];
    fill_entry(fs, e, r.name, ATTR_DIR, c, 0);
    rc = put_entry(fs, r.free_slot.lba, r.free_slot.off, e);
    if (rc != REC_OK)
        return rc;
    return barrier(fs);
}

int rec_fat_opendir(rec_fat_t *fs, rec_fat_dir_t *dir, const char *path)
{
    if (dir == NULL)
        return REC_E_INVAL;
    resolve_t r;
    int rc = resolve(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (!r.found)
        return REC_E_NOENT;
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
    int rc = resolve(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (!r.found)
        return REC_E_NOENT;
    if (r.is_root || (r.entry[11] & ATTR_DIR))
        return REC_E_INVAL;
    uint32_t first = entry_cluster(r.entry);
    if (first != 0 && !cluster_valid(fs, first))
        first = 0; /* nothing sane to free; fsck will find lost clusters if any */
    /* Entry first, then the chain. */
    rc = delete_entry(fs, r.parent, &r.pos);
    if (rc == REC_OK)
        rc = barrier(fs);
    if (rc != REC_OK)
        return rc;
    if (first != 0) {
        rc = free_chain(fs, first);
        int rc2 = barrier(fs);
        if (rc == REC_OK)
            rc = rc2;
    }
    return rc;
}

/* ---- files ---- */

static int file_from_entry(rec_fat_t *fs, rec_fat_file_t *f, const resolve_t *r, bool writable)
{
    memset(f, 0, sizeof *f);
    f->first_cluster = entry_cluster(r->entry);
    f->size = ld32(&r->entry[28]);
    f->dirent_lba = r->pos.lba;
    f->dirent_off = r->pos.off;
    f->writable = writable;
    int rc = chain_measure(fs, f->first_cluster, &f->clusters, &f->contiguous);
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
    int rc = ensure_slot(fs, r);
    if (rc != REC_OK)
        return rc;
    uint8_t e[32];
    fill_entry(fs, e, r->name, ATTR_ARCHIVE, first, 0);
    rc = put_entry(fs, r->free_slot.lba, r->free_slot.off, e);
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
    int rc = resolve(fs, path, &r);
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
            rc = barrier(fs);
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
        rc = find_free(fs, tail != 0 ? tail + 1 : fs->next_free, &c);
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
        note_alloc(fs, c);
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
    uint64_t end = (uint64_t)f->pos + len;
    uint64_t need = (end + cb - 1) / cb;
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
        rc = cache_flush(fs);
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
    st16(&e[20], (uint16_t)(f->first_cluster >> 16));
    st16(&e[26], (uint16_t)f->first_cluster);
    st32(&e[28], f->size);
    st16(&e[22], fs->now_time);
    st16(&e[24], now_date(fs));
    st16(&e[18], now_date(fs));
    e[11] |= ATTR_ARCHIVE;
    fs->cache_dirty = true;
    return REC_OK;
}

int rec_fat_file_sync(rec_fat_t *fs, rec_fat_file_t *f)
{
    if (fs == NULL || !fs->mounted || f == NULL)
        return REC_E_INVAL;
    /* Data and FAT durable first, then the entry that refers to them. */
    int rc = barrier(fs);
    if (rc != REC_OK || !f->writable || !f->size_dirty)
        return rc;
    rc = update_entry(fs, f);
    if (rc == REC_OK)
        rc = barrier(fs);
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
    if (was_contiguous) {
        /* The tail is the run cut..cut+dropped-1: free it in bulk. */
        rc = set_run(fs, cut, dropped, false);
        if (rc == REC_OK) {
            fs->free_count += dropped;
            fs->fsinfo_dirty = true;
        }
    } else {
        rc = free_chain(fs, cut);
    }
    int rc2 = barrier(fs);
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

/* Finds the first run of n free clusters (first fit from the start of the volume). */
/* Sets the FAT entries of clusters start..start+n-1 to a chain (each linked to the next, the
 * last end-of-chain) or to free. Entries in partly covered FAT blocks go through the cache; runs
 * of whole blocks are read, rewritten in the lent scratch buffer and written many blocks at a
 * time to every FAT copy (FAT #1 first), so preallocating or trimming gigabytes costs tens of
 * multi-block writes instead of thousands of single ones. The caller keeps the free count. */
static int set_run(rec_fat_t *fs, uint32_t start, uint32_t n, bool chain)
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
            int rc = cache_flush(fs);
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
                st32(e, (ld32(e) & ~FAT_MASK) | v);
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

void rec_fat_lend_scratch(rec_fat_t *fs, uint8_t *buf, uint32_t bytes)
{
    fs->scratch = buf;
    fs->scratch_bytes = buf ? bytes - bytes % BS : 0;
}

static int find_run(rec_fat_t *fs, uint32_t n, uint32_t *start)
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

int rec_fat_create_contiguous(rec_fat_t *fs, rec_fat_file_t *f, const char *path, uint32_t bytes)
{
    if (f == NULL)
        return REC_E_INVAL;
    resolve_t r;
    int rc = resolve(fs, path, &r);
    if (rc != REC_OK)
        return rc;
    if (r.found)
        return REC_E_EXIST;
    /* Make room in the directory first (this may allocate a cluster). */
    rc = ensure_slot(fs, &r);
    if (rc != REC_OK)
        return rc;
    uint32_t cb = cluster_bytes(fs);
    uint32_t n = (uint32_t)(((uint64_t)bytes + cb - 1) / cb);
    uint32_t start = 0;
    if (n > 0) {
        rc = find_run(fs, n, &start);
        if (rc != REC_OK) {
            (void)barrier(fs);
            return rc;
        }
        /* The chain, in ascending order, then durable before the entry points at it. */
        rc = set_run(fs, start, n, true);
        if (rc != REC_OK)
            return rc;
        fs->free_count -= n; /* find_run checked n <= free_count */
        fs->next_free = cluster_valid(fs, start + n) ? start + n : 2;
        fs->fsinfo_dirty = true;
    }
    rc = barrier(fs);
    if (rc != REC_OK)
        return rc;
    rc = create_entry(fs, &r, start);
    if (rc == REC_OK)
        rc = barrier(fs);
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

/* ---- format ---- */

static int write_block(const rec_bd_t *bd, uint32_t lba, const uint8_t *b)
{
    return rec_bd_write(bd, lba, b, 1);
}

int rec_fat_format(const rec_bd_t *bd, const char *label, uint32_t volume_id, uint32_t reserved_tail_blocks)
{
    if (bd == NULL || reserved_tail_blocks >= bd->block_count)
        return REC_E_INVAL;
    uint8_t lab[11];
    memset(lab, ' ', 11);
    bool has_label = label != NULL && label[0] != '\0';
    if (has_label) {
        size_t n = strlen(label);
        if (n > 11)
            return REC_E_INVAL;
        for (size_t i = 0; i < n; i++) {
            char ch = label[i];
            if (ch != ' ' && !name_char_ok(ch))
                return REC_E_INVAL;
            lab[i] = (uint8_t)to_upper(ch);
        }
        if (lab[0] == ' ')
            return REC_E_INVAL;
    } else {
        memcpy(lab, "NO NAME    ", 11);
    }

    const uint32_t total = bd->block_count - reserved_tail_blocks;
    const uint32_t reserved = 32, nfats = 2;
    /* Cluster size as mkfs.fat / Microsoft format choose it for FAT32. */
    uint64_t bytes = (uint64_t)total * BS;
    uint32_t spc;
    if (bytes <= 260ull * 1024 * 1024)
        spc = 1;
    else if (bytes <= 8ull * 1024 * 1024 * 1024)
        spc = 8;
    else if (bytes <= 16ull * 1024 * 1024 * 1024)
        spc = 16;
    else if (bytes <= 32ull * 1024 * 1024 * 1024)
        spc = 32;
    else
        spc = 64;

    uint32_t fatsz = 0, clusters = 0;
    for (;;) {
        if (total <= reserved + 2)
            return REC_E_UNSUPPORTED;
        /* Fixed point: the FAT must hold clusters + 2 entries. */
        fatsz = 1;
        for (int iter = 0; iter < 64; iter++) {
            if (reserved + nfats * fatsz >= total)
                return REC_E_UNSUPPORTED;
            clusters = (total - reserved - nfats * fatsz) / spc;
            uint32_t need = (uint32_t)(((uint64_t)clusters + 2 + BS / 4 - 1) / (BS / 4));
            if (need <= fatsz)
                break;
            fatsz = need;
        }
        /* Align the data area to the cluster size (for the card's flash pages). */
        while ((reserved + nfats * fatsz) % spc != 0)
            fatsz++;
        if (reserved + nfats * fatsz >= total)
            return REC_E_UNSUPPORTED;
        clusters = (total - reserved - nfats * fatsz) / spc;
        if (clusters >= FAT32_MIN_CLUSTERS || spc == 1)
            break;
        spc /= 2;
    }
    if (clusters < FAT32_MIN_CLUSTERS)
        return REC_E_UNSUPPORTED;
    REC_ASSERT(clusters <= FAT32_MAX_CLUSTERS); /* 2^32 blocks at 64 per cluster is below */
    const uint32_t data_lba = reserved + nfats * fatsz;
    const uint32_t root = 2;

    uint8_t b[BS];
    int rc;
    /* 1. Invalidate the old boot sector and clear the reserved area. */
    memset(b, 0, BS);
    for (uint32_t i = 0; i < reserved; i++) {
        rc = write_block(bd, i, b);
        if (rc != REC_OK)
            return rc;
    }
    /* 2. FATs, 3. root directory cluster */
    for (uint32_t k = 0; k < nfats; k++) {
        for (uint32_t i = 0; i < fatsz; i++) {
            memset(b, 0, BS);
            if (i == 0) {
                st32(&b[0], 0x0FFFFFF8u);
                st32(&b[4], 0x0FFFFFFFu);
                st32(&b[8], FAT_EOC); /* root directory */
            }
            rc = write_block(bd, reserved + k * fatsz + i, b);
            if (rc != REC_OK)
                return rc;
        }
    }
    for (uint32_t i = 0; i < spc; i++) {
        memset(b, 0, BS);
        if (i == 0 && has_label) {
            memcpy(b, lab, 11);
            b[11] = ATTR_VOLUME;
            st16(&b[22], 0);
            st16(&b[24], DEFAULT_DATE);
        }
        rc = write_block(bd, data_lba + (root - 2) * spc + i, b);
        if (rc != REC_OK)
            return rc;
    }
    /* 4. FSInfo and its backup */
    memset(b, 0, BS);
    st32(&b[0], 0x41615252u);
    st32(&b[484], 0x61417272u);
    st32(&b[488], clusters - 1);
    st32(&b[492], root + 1);
    st32(&b[508], 0xAA550000u);
    rc = write_block(bd, 1, b);
    if (rc == REC_OK)
        rc = write_block(bd, 7, b);
    if (rc != REC_OK)
        return rc;
    /* Third boot sector (signature only), and its backup. */
    memset(b, 0, BS);
    b[510] = 0x55;
    b[511] = 0xAA;
    rc = write_block(bd, 2, b);
    if (rc == REC_OK)
        rc = write_block(bd, 8, b);
    if (rc != REC_OK)
        return rc;
    /* 5. Boot sector: backup first, the primary last, so a cut format is not a volume. */
    memset(b, 0, BS);
    b[0] = 0xEB;
    b[1] = 0x58;
    b[2] = 0x90;
    memcpy(&b[3], "RECORDER", 8);
    st16(&b[11], BS);
    b[13] = (uint8_t)spc;
    st16(&b[14], (uint16_t)reserved);
    b[16] = (uint8_t)nfats;
    b[21] = 0xF8;              /* media: fixed disk */
    st16(&b[24], 63);          /* sectors per track (geometry is only informative) */
    st16(&b[26], 255);         /* heads */
    st32(&b[28], 0);           /* hidden sectors */
    st32(&b[32], total);
    st32(&b[36], fatsz);
    st16(&b[40], 0);           /* FAT mirroring on */
    st16(&b[42], 0);           /* version 0.0 */
    st32(&b[44], root);
    st16(&b[48], 1);           /* FSInfo */
    st16(&b[50], 6);           /* backup boot sector */
    b[64] = 0x80;              /* drive number */
    b[66] = 0x29;              /* extended boot signature */
    st32(&b[67], volume_id);
    memcpy(&b[71], lab, 11);
    memcpy(&b[82], "FAT32   ", 8);
    /* Boot code: "int 18h" (no bootable OS), then halt. */
    b[90] = 0xCD;
    b[91] = 0x18;
    b[92] = 0xEB;
    b[93] = 0xFE;
    b[510] = 0x55;
    b[511] = 0xAA;
    rc = write_block(bd, 6, b);
    if (rc == REC_OK)
        rc = rec_bd_sync(bd);
    if (rc == REC_OK)
        rc = write_block(bd, 0, b);
    if (rc == REC_OK)
        rc = rec_bd_sync(bd);
    return rc;
}

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
    rc = dir_walk(m->fs, first, mark_cb, m, NULL, NULL);
    m->depth--;
    return rc < 0 ? rc : REC_OK;
}

int rec_fat_repair(rec_fat_t *fs, uint8_t *scratch, uint32_t scratch_bytes, rec_fat_repair_report_t *report)
{
    if (fs == NULL || !fs->mounted || scratch == NULL || scratch_bytes < 2u * BS || report == NULL)
        return REC_E_INVAL;
    memset(report, 0, sizeof *report);
    int rc = barrier(fs);
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
    return barrier(fs);
}
