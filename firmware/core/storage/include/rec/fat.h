/* FAT32 on a block device, written for a recorder: no heap, one sector cache, 8.3 names,
 * contiguous preallocation so that recording does no FAT I/O.
 *
 * Paths are '/'-separated 8.3 names relative to the root ("RECORDS/REC00042.WAV"); matching is
 * case-insensitive, names are stored upper case. Long file names written by other systems are
 * skipped (their short alias is used). Files are limited to 4 GiB - 1 by FAT32. */
#ifndef REC_FAT_H
#define REC_FAT_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/bd.h"

typedef struct {
    const rec_bd_t *bd;
    uint32_t part_lba;        /* first block of the volume (0 for an unpartitioned card) */
    uint32_t fat_lba;         /* first block of FAT #1 */
    uint32_t fat_blocks;      /* blocks per FAT */
    uint8_t num_fats;
    uint8_t blocks_per_cluster;
    uint32_t data_lba;        /* first block of cluster 2 */
    uint32_t cluster_count;   /* data clusters; valid cluster numbers are 2..cluster_count+1 */
    uint32_t root_cluster;
    uint32_t fsinfo_lba;      /* 0 when the volume has no FSInfo */
    uint32_t free_count;      /* free clusters, counted at mount and kept up to date */
    uint32_t next_free;       /* allocation hint */
    uint32_t volume_id;
    /* one-block cache, written back before another block is loaded and on sync */
    uint8_t cache[REC_BD_BLOCK_SIZE];
    uint32_t cache_lba;       /* UINT32_MAX when empty */
    bool cache_dirty;
    bool mounted;
    bool fsinfo_dirty;        /* free_count/next_free changed since FSInfo was last written */
    /* memory lent for bulk FAT updates (rec_fat_lend_scratch), NULL when none */
    uint8_t *scratch;
    uint32_t scratch_bytes;
    uint16_t now_date, now_time; /* set by rec_fat_set_time (mount resets them to 1980-01-01) */
} rec_fat_t;

typedef struct {
    char name[13];            /* "NAME.EXT", NUL terminated */
    uint8_t attr;             /* FAT attribute bits (0x10 directory) */
    uint32_t size;
    uint32_t first_cluster;
    uint16_t wdate, wtime;    /* FAT date and time of last write */
} rec_fat_dirent_t;

typedef struct {
    uint32_t cluster;         /* current cluster of the directory */
    uint32_t index;           /* entry index within the directory */
} rec_fat_dir_t;

typedef struct {
    uint32_t first_cluster;   /* 0 for an empty file */
    uint32_t size;            /* file size as the directory entry will say on the next sync */
    uint32_t pos;             /* current position for read/write */
    uint32_t dirent_lba;      /* block and byte offset of the directory entry */
    uint16_t dirent_off;
    uint32_t clusters;        /* clusters in the chain */
    bool contiguous;          /* chain is first_cluster .. first_cluster+clusters-1 */
    bool writable;
    bool size_dirty;
    /* cursor cache so sequential I/O does not walk the chain from the start */
    uint32_t cur_cluster;
    uint32_t cur_index;
} rec_fat_file_t;

#define REC_FAT_READ   0x01u
#define REC_FAT_WRITE  0x02u
#define REC_FAT_CREATE 0x04u  /* create if missing */
#define REC_FAT_EXCL   0x08u  /* with CREATE: fail with REC_E_EXIST if it exists */

/* FAT date/time of "now" for new and written entries; set by the core from its wall clock. */
void rec_fat_set_time(rec_fat_t *fs, uint16_t fat_date, uint16_t fat_time);

/* Mounts a FAT32 volume at block 0 or in the first MBR partition. REC_E_BADFS when it is not
 * FAT32 or its boot sector is implausible; nothing is written while mounting. */
int rec_fat_mount(rec_fat_t *fs, const rec_bd_t *bd);
/* The same, with memory lent for the duration of the call: the free-cluster count then reads
 * many FAT blocks at a time (a 32 GB card has a 4 MiB FAT). */
int rec_fat_mount_lent(rec_fat_t *fs, const rec_bd_t *bd, uint8_t *scratch, uint32_t scratch_bytes);
/* Writes back the cache and FSInfo, then syncs the block device. */
int rec_fat_sync(rec_fat_t *fs);
/* Creates a fresh FAT32 volume on the whole device (no partition table), `label` up to 11
 * characters. Blocks [0, reserved_tail) at the end may be kept out of the volume (0: none). */
int rec_fat_format(const rec_bd_t *bd, const char *label, uint32_t volume_id, uint32_t reserved_tail_blocks);
/* Total and free bytes of the volume. */
int rec_fat_statfs(rec_fat_t *fs, uint64_t *total_bytes, uint64_t *free_bytes);

int rec_fat_mkdir(rec_fat_t *fs, const char *path);         /* REC_E_EXIST if present */
int rec_fat_stat(rec_fat_t *fs, const char *path, rec_fat_dirent_t *out);
int rec_fat_opendir(rec_fat_t *fs, rec_fat_dir_t *dir, const char *path);
/* 1 and *out filled for each entry (skips ".", "..", volume labels, deleted and LFN entries),
 * 0 at the end, negative on error. */
int rec_fat_readdir(rec_fat_t *fs, rec_fat_dir_t *dir, rec_fat_dirent_t *out);
int rec_fat_remove(rec_fat_t *fs, const char *path);        /* files only; frees the chain */

int rec_fat_open(rec_fat_t *fs, rec_fat_file_t *f, const char *path, unsigned flags);
/* Creates a new file (REC_E_EXIST if present) and allocates `bytes` (rounded up to clusters) as
 * one contiguous run; REC_E_NOSPC when no run is long enough. The size stays 0. The chain is
 * durable before the directory entry (which records the first cluster at once), so after a power
 * cut the preallocation is found again; until trimmed, fsck.fat reports such a file as having
 * more clusters than its size (and would truncate it to its size). */
int rec_fat_create_contiguous(rec_fat_t *fs, rec_fat_file_t *f, const char *path, uint32_t bytes);
/* Returns bytes transferred (>= 0) or a negative error. Writes grow the chain as needed. */
int32_t rec_fat_read(rec_fat_t *fs, rec_fat_file_t *f, void *buf, uint32_t len);
int32_t rec_fat_write(rec_fat_t *fs, rec_fat_file_t *f, const void *buf, uint32_t len);
int rec_fat_seek(rec_fat_t *fs, rec_fat_file_t *f, uint32_t pos);
/* Block address of byte `offset` of the file (within its allocated chain), for streaming whole
 * blocks straight to the device. It writes back and drops a cached data block, so direct writes
 * after it are not shadowed by the cache; do not mix direct writes with rec_fat_write to the
 * same block without calling it again. */
int rec_fat_file_lba(rec_fat_t *fs, rec_fat_file_t *f, uint32_t offset, uint32_t *lba);
/* Sets the size the directory entry will record (within the allocated chain), without I/O. */
int rec_fat_set_size(rec_fat_t *fs, rec_fat_file_t *f, uint32_t size);
/* Frees clusters beyond those the size needs. */
int rec_fat_trim(rec_fat_t *fs, rec_fat_file_t *f);
/* Writes the directory entry (size, first cluster, time), the cache, and syncs the device.
 * This is the commit point: data and FAT are made durable first, then the entry. After a power
 * cut the file holds at least what the last completed file_sync recorded. */
int rec_fat_file_sync(rec_fat_t *fs, rec_fat_file_t *f);
/* file_sync if anything changed. A file must not be open twice, nor removed while open. */
int rec_fat_close(rec_fat_t *fs, rec_fat_file_t *f);

/* Lends memory (whole 512-byte blocks are used) for bulk FAT updates: preallocating and trimming
 * long contiguous runs then write many FAT blocks per device call. NULL takes it back. The FAT
 * layer uses it only inside create_contiguous and trim, so a caller may lend memory that is free
 * just around those calls. */
void rec_fat_lend_scratch(rec_fat_t *fs, uint8_t *buf, uint32_t bytes);

/* Mends what an interrupted update can leave, like fsck.fat -a: copies FAT #1 over the other
 * copies where they differ, cuts chains that loop (at the closing link) or share clusters with
 * another (directories keep them, the root first, then the entry walked first; the other is cut
 * before the first shared cluster and its size clipped), frees clusters no directory entry reaches (only when the
 * whole tree could be walked), and rewrites the free count. Chains longer than their file's size
 * are left to their owners. `scratch` (at least 1 KiB; more is faster on big cards) is used as a
 * bitmap and as a table of 16 bytes per chain. Run it after mount, before anything else is
 * written, when an update may have been cut. */
typedef struct {
    uint32_t fat_blocks_mirrored;
    uint32_t lost_clusters_freed;
    uint32_t loops_cut;       /* chains that looped, cut at the link closing the loop */
    uint32_t crosslinks_cut;  /* entries cut before a cluster another chain kept */
    uint32_t dirs_cut;        /* of them directories (cut short or deleted: entries may be gone) */
    bool tree_complete;       /* false: the tree could not be walked and nothing was freed */
} rec_fat_repair_report_t;
int rec_fat_repair(rec_fat_t *fs, uint8_t *scratch, uint32_t scratch_bytes, rec_fat_repair_report_t *report);
/* The same, with the caller's say in who keeps shared clusters: among directories, and then
 * among files, the chains `prefer` returns true for keep them before the others (then, as
 * above, the entry walked first). `path` is the entry's path from the root ("" for the root,
 * "SYSTEM/JOURNAL.BIN"), `dir` whether it is a directory. A root chain that runs into a
 * preferred directory is cut before it. The FAT layer knows no file of the caller's. */
typedef bool (*rec_fat_prefer_fn)(void *arg, const char *path, bool dir);
int rec_fat_repair_preferring(rec_fat_t *fs, uint8_t *scratch, uint32_t scratch_bytes, rec_fat_prefer_fn prefer,
                              void *prefer_arg, rec_fat_repair_report_t *report);

#endif
