/* Fuzz harness 3: FAT32 mount, directories, files and repair on a corrupted card.
 *
 * The pristine image (made once, by the core: rec_fat_format, a filler file, two finished
 * recordings with the journal and the update marker) is 34 MiB; the input is a sparse list of
 * patches applied to it:
 *     target u16, offset u16, length u8, bytes
 * where target picks one of the image's non-zero blocks (boot sector, FSInfo, FATs,
 * directories, files: the structures worth corrupting), or, with the top bit set, any block.
 * A patch may spill into the following blocks.
 *
 * Then, with bounded work: mount; statfs; walk the tree from the root (depth <= 4, <= 64
 * entries per directory); stat and open every file and read up to 64 KiB of it, with seeks;
 * rec_fat_repair with a scratch bitmap; mount again, which must still work, and a second repair
 * must find nothing more to do; finally the recorder's own view: rec_store_mount (journal scan,
 * update marker), list and inspect every recording.
 * Checked: no sanitizer report or REC_ASSERT; every result is REC_OK or a rec_err_t; readdir
 * names are NUL-terminated 8.3 names; reads never return more than asked or past the size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rec/bd_ram.h"
#include "fakes/port_fake.h"
#include "fuzz_common.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "rec/store.h"

static rec_bd_ram_t g_card;
static uint8_t *g_baseline;
static fz_card_info_t g_info;
static uint32_t g_blocks[4096];
static uint32_t g_nblocks;
static rec_fat_t g_fs;
static rec_store_t g_store;
static uint8_t g_scratch[16384];
static uint8_t g_buf[4096];
static uint32_t g_budget; /* blocks of file data read per input */

#define IS_ERR(rc) ((rc) <= 0 && (rc) >= REC_E_TOOBIG)

/* `unique`: no earlier entry of the directory has the same name (a corrupted directory can
 * hold duplicates; stat and open find the first). */
static void read_file(const char *path, const rec_fat_dirent_t *de, bool unique)
{
    rec_fat_dirent_t st;
    int rc = rec_fat_stat(&g_fs, path, &st);
    FZ_CHECK(IS_ERR(rc), "stat returned %d", rc);
    if (rc == REC_OK && unique)
        FZ_CHECK(st.size == de->size && st.first_cluster == de->first_cluster, "stat differs from readdir for %s", path);
    rec_fat_file_t f;
    rc = rec_fat_open(&g_fs, &f, path, REC_FAT_READ);
    FZ_CHECK(IS_ERR(rc), "open returned %d", rc);
    if (rc != REC_OK) return;
    if (unique) FZ_CHECK(f.size == de->size, "open size %u, entry %u", f.size, de->size);
    uint32_t pos = 0;
    while (g_budget > 0 && pos < 65536u) {
        int32_t got = rec_fat_read(&g_fs, &f, g_buf, sizeof g_buf);
        FZ_CHECK(got >= REC_E_TOOBIG && got <= (int32_t)sizeof g_buf, "read returned %d", (int)got);
        if (got <= 0) break;
        pos += (uint32_t)got;
        FZ_CHECK(pos <= f.size, "read past the size (%u > %u)", pos, f.size);
        g_budget -= (uint32_t)got / 512u + 1u;
    }
    /* Seek near the end and read the tail (where the evid chunk is). */
    if (f.size > 100u && rec_fat_seek(&g_fs, &f, f.size - 100u) == REC_OK) {
        int32_t got = rec_fat_read(&g_fs, &f, g_buf, 200);
        FZ_CHECK(got <= 100, "tail read returned %d", (int)got);
    }
    FZ_CHECK(rec_fat_seek(&g_fs, &f, f.size + 1u) != REC_OK || f.size == UINT32_MAX, "seek past the end accepted");
    (void)rec_fat_close(&g_fs, &f);
}

static void walk(const char *path, int depth)
{
    rec_fat_dir_t dir;
    int rc = rec_fat_opendir(&g_fs, &dir, path);
    FZ_CHECK(IS_ERR(rc), "opendir returned %d", rc);
    if (rc != REC_OK) return;
    rec_fat_dirent_t de;
    char seen[64][13];
    for (int n = 0; n < 64; n++) {
        seen[n][0] = '\0';
        memset(&de, 0xAA, sizeof de);
        rc = rec_fat_readdir(&g_fs, &dir, &de);
        FZ_CHECK(rc == 1 || IS_ERR(rc), "readdir returned %d", rc);
        if (rc != 1) break;
        size_t len = strnlen(de.name, sizeof de.name);
        FZ_CHECK(len < sizeof de.name, "entry name not terminated");
        if (len == 0) continue; /* a name of spaces: nothing to open by */
        memcpy(seen[n], de.name, sizeof de.name);
        bool unique = strchr(de.name, '/') == NULL; /* a '/' in a corrupted name makes another path */
        for (int k = 0; k < n && unique; k++) unique = strcasecmp(seen[k], de.name) != 0;
        char sub[128];
        int w = snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "/" : "", de.name);
        if (w <= 0 || (size_t)w >= sizeof sub) continue;
        if (de.attr & 0x10u) {
            if (depth < 4) walk(sub, depth + 1);
        } else {
            read_file(sub, &de, unique);
        }
    }
}

static void exercise_fat(void)
{
    uint64_t total, free_bytes;
    FZ_CHECK(rec_fat_statfs(&g_fs, &total, &free_bytes) == REC_OK, "statfs on a mounted volume failed");
    FZ_CHECK(free_bytes <= total, "more free than total");
    g_budget = 2048;
    walk("", 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_build_card(&g_card, false, &g_info);
    g_baseline = fz_snapshot(&g_card);
    g_nblocks = fz_nonzero_blocks(&g_card, g_blocks, 4096);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    rec_bd_ram_restore(&g_card, g_baseline);
    port_fake_reset();
    fz_in_t in = { data, size, 0 };
    while (fz_more(&in)) {
        uint16_t target = fz_u16(&in);
        uint16_t off = fz_u16(&in);
        uint8_t len = fz_u8(&in);
        const uint8_t *p;
        size_t n = fz_bytes(&in, len, &p);
        uint32_t lba = (target & 0x8000u) ? (uint32_t)(target & 0x7fffu) * 3u % FZ_CARD_BLOCKS : g_blocks[target % g_nblocks];
        lba += off / 512u;
        off %= 512u;
        while (n > 0 && lba < FZ_CARD_BLOCKS) {
            size_t k = n < 512u - off ? n : 512u - off;
            fz_poke(&g_card, lba, off, p, k);
            p += k;
            n -= k;
            off = 0;
            lba++;
        }
    }

    int rc = rec_fat_mount(&g_fs, &g_card.bd);
    FZ_CHECK(IS_ERR(rc), "mount returned %d", rc);
    if (rc == REC_OK) {
        exercise_fat();
        rec_fat_repair_report_t rep;
        rc = rec_fat_repair(&g_fs, g_scratch, sizeof g_scratch, &rep);
        FZ_CHECK(IS_ERR(rc), "repair returned %d", rc);
        if (rc == REC_OK) {
            /* A repaired volume still mounts, and repairing it again changes nothing. */
            rc = rec_fat_mount(&g_fs, &g_card.bd);
            FZ_CHECK(rc == REC_OK, "the volume no longer mounts after repair (%d)", rc);
            rec_fat_repair_report_t again;
            rc = rec_fat_repair(&g_fs, g_scratch, sizeof g_scratch, &again);
            FZ_CHECK(rc == REC_OK, "second repair failed (%d)", rc);
            if (rep.tree_complete && again.tree_complete)
                FZ_CHECK(again.lost_clusters_freed == 0 && again.fat_blocks_mirrored == 0 && again.loops_cut == 0 &&
                             again.crosslinks_cut == 0,
                         "second repair freed %u clusters, mirrored %u FAT blocks, cut %u loops and %u cross-links",
                         again.lost_clusters_freed, again.fat_blocks_mirrored, again.loops_cut, again.crosslinks_cut);
            exercise_fat();
        }
    }
    /* The recorder's view of the same card. */
    rc = rec_store_mount(&g_store, &g_card.bd, g_scratch, sizeof g_scratch);
    FZ_CHECK(IS_ERR(rc), "store mount returned %d", rc);
    if (rc == REC_OK) {
        uint32_t nums[16], count, total;
        bool more;
        uint32_t after = 0;
        for (int page = 0; page < 4; page++) {
            rc = rec_store_list(&g_store, after, nums, 16, &count, &total, &more);
            FZ_CHECK(IS_ERR(rc), "list returned %d", rc);
            if (rc != REC_OK) break;
            FZ_CHECK(count <= 16 && count <= total, "list count %u of %u", count, total);
            for (uint32_t i = 0; i < count; i++) {
                FZ_CHECK(nums[i] > after && (i == 0 || nums[i] > nums[i - 1]), "list not ascending");
                rec_recording_t r;
                rc = rec_store_find(&g_store, nums[i], &r);
                FZ_CHECK(IS_ERR(rc), "find returned %d", rc);
            }
            if (!more || count == 0) break;
            after = nums[count - 1];
        }
        rec_store_unmount(&g_store);
    }
    return 0;
}
