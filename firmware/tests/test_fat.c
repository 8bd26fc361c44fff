/* FAT32 module tests. The reference implementations are dosfstools (mkfs.fat, fsck.fat) and
 * mtools: volumes they make we must read and write, volumes we make and modify they must accept
 * (fsck.fat -n clean) and read identically. Plus corrupted volumes, and a power-cut campaign on
 * the fault-injecting RAM device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rec/bd_file.h"
#include "rec/bd_ram.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "support/tools.h"

#define MIB (1024u * 1024u)
#define OUT_SIZE 16384

static char g_out[OUT_SIZE];

/* Deterministic content: byte at offset `off` of a file with seed `seed`. */
static uint8_t pat(uint32_t seed, uint32_t off)
{
    uint32_t x = (off + 1u) * 2654435761u ^ (seed * 40503u);
    x ^= x >> 15;
    return (uint8_t)(x ^ (x >> 8));
}

static void fill_pat(uint8_t *buf, uint32_t seed, uint32_t off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = pat(seed, off + i);
}

static bool check_pat(const uint8_t *buf, uint32_t seed, uint32_t off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (buf[i] != pat(seed, off + i))
            return false;
    return true;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static void assert_fsck_clean(const char *img)
{
    int rc = rec_tool_fsck(img, false, g_out, sizeof g_out);
    if (rc != 0)
        fail_msg("fsck.fat -n %s: exit %d\n%s", img, rc, g_out);
}

/* Writes a whole file through our API in chunks of varying size. */
static void write_file(rec_fat_t *fs, const char *path, uint32_t seed, uint32_t size)
{
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(fs, &f, path, REC_FAT_WRITE | REC_FAT_CREATE | REC_FAT_EXCL), REC_OK);
    static uint8_t buf[70000];
    uint32_t off = 0;
    static const uint32_t chunks[] = {1, 511, 512, 513, 4096, 7, 65536, 1000, 2048};
    unsigned k = seed;
    while (off < size) {
        uint32_t n = chunks[k++ % REC_COUNT_OF(chunks)];
        if (n > size - off)
            n = size - off;
        fill_pat(buf, seed, off, n);
        assert_int_equal(rec_fat_write(fs, &f, buf, n), (int32_t)n);
        off += n;
    }
    assert_int_equal(f.size, size);
    assert_int_equal(rec_fat_close(fs, &f), REC_OK);
}

/* Reads a file back through our API and checks size and content. */
static void check_file(rec_fat_t *fs, const char *path, uint32_t seed, uint32_t size)
{
    rec_fat_dirent_t st;
    assert_int_equal(rec_fat_stat(fs, path, &st), REC_OK);
    assert_int_equal(st.size, size);
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(fs, &f, path, REC_FAT_READ), REC_OK);
    static uint8_t buf[70000];
    uint32_t off = 0;
    static const uint32_t chunks[] = {3, 4096, 509, 65536, 512, 1};
    unsigned k = seed;
    while (off < size) {
        uint32_t n = chunks[k++ % REC_COUNT_OF(chunks)];
        int32_t got = rec_fat_read(fs, &f, buf, n);
        uint32_t want = n < size - off ? n : size - off;
        assert_int_equal(got, (int32_t)want);
        if (!check_pat(buf, seed, off, want))
            fail_msg("%s: content differs in [%u, %u)", path, off, off + want);
        off += want;
    }
    assert_int_equal(rec_fat_read(fs, &f, buf, 10), 0);
    assert_int_equal(rec_fat_close(fs, &f), REC_OK);
}

/* Local file with pattern content. */
static void make_local(const char *path, uint32_t seed, uint32_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    assert_non_null(b);
    fill_pat(b, seed, 0, size);
    assert_int_equal(rec_tool_write_file(path, b, size), 0);
    free(b);
}

/* mcopy a file out of the image and compare with the pattern. */
static void check_with_mtools(const char *img, const char *dos_path, uint32_t seed, uint32_t size)
{
    char out[256], ref[256];
    rec_tool_tmp(out, sizeof out, "mcopy_out.bin");
    rec_tool_tmp(ref, sizeof ref, "mcopy_ref.bin");
    assert_int_equal(rec_tool_mcopy_out(img, dos_path, out), 0);
    make_local(ref, seed, size);
    if (!rec_tool_files_equal(out, ref))
        fail_msg("mtools reads %s differently from what we wrote", dos_path);
    unlink(out);
    unlink(ref);
}

static unsigned count_entries(rec_fat_t *fs, const char *dir)
{
    rec_fat_dir_t d;
    rec_fat_dirent_t e;
    assert_int_equal(rec_fat_opendir(fs, &d, dir), REC_OK);
    unsigned n = 0;
    int rc;
    while ((rc = rec_fat_readdir(fs, &d, &e)) == 1)
        n++;
    assert_int_equal(rc, 0);
    return n;
}

static bool dir_has(rec_fat_t *fs, const char *dir, const char *name, rec_fat_dirent_t *out)
{
    rec_fat_dir_t d;
    rec_fat_dirent_t e;
    assert_int_equal(rec_fat_opendir(fs, &d, dir), REC_OK);
    while (rec_fat_readdir(fs, &d, &e) == 1) {
        if (strcmp(e.name, name) == 0) {
            if (out)
                *out = e;
            return true;
        }
    }
    return false;
}

/* Free bytes according to mdir's last line ("... NNN bytes free"). */
static uint64_t mdir_free_bytes(const char *img)
{
    assert_int_equal(rec_tool_mdir(img, "::/", g_out, sizeof g_out), 0);
    const char *p = strstr(g_out, "bytes free");
    assert_non_null(p);
    const char *q = p;
    while (q > g_out && (q[-1] == ' ' || (q[-1] >= '0' && q[-1] <= '9')))
        q--;
    uint64_t v = 0;
    for (; q < p; q++)
        if (*q >= '0' && *q <= '9')
            v = v * 10 + (uint64_t)(*q - '0');
    return v;
}

/* ---------------------------------------------------------------------------------------- */

static void test_mount_mkfs_image(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "mkfs64.img");
    assert_int_equal(rec_tool_mkfs(img, 64, "-s 1 -n TESTVOL"), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    assert_int_equal(bf.bd.block_count, 64u * MIB / 512u);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    assert_int_equal(fs.part_lba, 0);
    assert_int_equal(fs.blocks_per_cluster, 1);
    assert_true(fs.cluster_count >= 65525u && fs.cluster_count < 131072u);
    assert_int_equal(bf.writes, 0); /* mount writes nothing */
    uint64_t total, freeb;
    assert_int_equal(rec_fat_statfs(&fs, &total, &freeb), REC_OK);
    assert_int_equal(total, (uint64_t)fs.cluster_count * 512u);
    /* everything but the root directory cluster is free, as mtools says */
    assert_int_equal(freeb, total - 512u);
    assert_int_equal(freeb, mdir_free_bytes(img));
    /* empty root (the volume label is not listed) */
    assert_int_equal(count_entries(&fs, "/"), 0);
    rec_fat_dirent_t st;
    assert_int_equal(rec_fat_stat(&fs, "/", &st), REC_OK);
    assert_true(st.attr & 0x10);
    assert_int_equal(rec_fat_stat(&fs, "NOPE.TXT", &st), REC_E_NOENT);
    rec_bd_file_close(&bf);
    unlink(img);
}

static void test_files_roundtrip_with_mtools(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "round.img");
    assert_int_equal(rec_tool_mkfs(img, 64, "-s 1"), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    rec_fat_set_time(&fs, (uint16_t)((44u << 9) | (3u << 5) | 14u), (uint16_t)((12u << 11) | (30u << 5)));
    uint64_t free0;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free0), REC_OK);

    assert_int_equal(rec_fat_mkdir(&fs, "RECORDS"), REC_OK);
    assert_int_equal(rec_fat_mkdir(&fs, "records"), REC_E_EXIST);
    assert_int_equal(rec_fat_mkdir(&fs, "Records/Sub"), REC_OK);
    static const uint32_t sizes[] = {0, 1, 511, 512, 513, 4096, 12345, 300000};
    char path[64];
    for (unsigned i = 0; i < REC_COUNT_OF(sizes); i++) {
        snprintf(path, sizeof path, "records/f%u.bin", i);
        write_file(&fs, path, 100 + i, sizes[i]);
    }
    write_file(&fs, "RECORDS/SUB/DEEP.DAT", 7, 70000);
    write_file(&fs, "ROOT.TXT", 8, 2000);
    for (unsigned i = 0; i < REC_COUNT_OF(sizes); i++) {
        snprintf(path, sizeof path, "RECORDS/F%u.BIN", i);
        check_file(&fs, path, 100 + i, sizes[i]);
    }
    check_file(&fs, "records/sub/deep.dat", 7, 70000);
    assert_int_equal(count_entries(&fs, "RECORDS"), REC_COUNT_OF(sizes) + 1);
    rec_fat_dirent_t e;
    assert_true(dir_has(&fs, "RECORDS", "F7.BIN", &e));
    assert_int_equal(e.size, 300000);
    assert_int_equal(e.wdate, (uint16_t)((44u << 9) | (3u << 5) | 14u));
    assert_true(dir_has(&fs, "RECORDS", "SUB", &e));
    assert_true(e.attr & 0x10);
    uint64_t free1;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free1), REC_OK);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    rec_bd_file_close(&bf);

    assert_fsck_clean(img);
    assert_int_equal(mdir_free_bytes(img), free1);
    assert_int_equal(rec_tool_mdir(img, "::/RECORDS", g_out, sizeof g_out), 0);
    assert_contains(g_out, "F7       BIN    300000");
    for (unsigned i = 0; i < REC_COUNT_OF(sizes); i++) {
        snprintf(path, sizeof path, "::/RECORDS/F%u.BIN", i);
        check_with_mtools(img, path, 100 + i, sizes[i]);
    }
    check_with_mtools(img, "::/RECORDS/SUB/DEEP.DAT", 7, 70000);
    check_with_mtools(img, "::/ROOT.TXT", 8, 2000);

    /* remount, delete everything: space comes back, still clean */
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    uint64_t free2;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free2), REC_OK);
    assert_int_equal(free2, free1);
    for (unsigned i = 0; i < REC_COUNT_OF(sizes); i++) {
        snprintf(path, sizeof path, "RECORDS/F%u.BIN", i);
        assert_int_equal(rec_fat_remove(&fs, path), REC_OK);
        assert_int_equal(rec_fat_stat(&fs, path, &e), REC_E_NOENT);
    }
    assert_int_equal(rec_fat_remove(&fs, "RECORDS/SUB"), REC_E_INVAL);
    assert_int_equal(rec_fat_remove(&fs, "RECORDS/F0.BIN"), REC_E_NOENT);
    assert_int_equal(rec_fat_remove(&fs, "RECORDS/SUB/DEEP.DAT"), REC_OK);
    assert_int_equal(rec_fat_remove(&fs, "ROOT.TXT"), REC_OK);
    assert_int_equal(count_entries(&fs, "RECORDS"), 1);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    uint64_t free3;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free3), REC_OK);
    assert_int_equal(free3, free0 - 2 * 512u); /* two directory clusters remain */
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    assert_int_equal(mdir_free_bytes(img), free3);
    unlink(img);
}

static void test_files_from_mtools(void **state)
{
    (void)state;
    char img[256], loc[256];
    rec_tool_tmp(img, sizeof img, "fromm.img");
    assert_int_equal(rec_tool_mkfs(img, 80, "-s 2"), 0);
    assert_int_equal(rec_tool_mmd(img, "::/DATA"), 0);
    rec_tool_tmp(loc, sizeof loc, "in.bin");
    static const uint32_t sizes[] = {0, 100, 1024, 5000, 123457};
    char dos[128];
    for (unsigned i = 0; i < REC_COUNT_OF(sizes); i++) {
        make_local(loc, 200 + i, sizes[i]);
        snprintf(dos, sizeof dos, "::/DATA/M%u.BIN", i);
        assert_int_equal(rec_tool_mcopy_in(img, loc, dos), 0);
    }
    make_local(loc, 300, 3000);
    assert_int_equal(rec_tool_mcopy_in(img, loc, "::/DATA/a long file name.text"), 0);
    make_local(loc, 301, 10);
    assert_int_equal(rec_tool_mcopy_in(img, loc, "::/lower.txt"), 0);
    unlink(loc);

    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    assert_int_equal(fs.blocks_per_cluster, 2);
    for (unsigned i = 0; i < REC_COUNT_OF(sizes); i++) {
        snprintf(dos, sizeof dos, "data/m%u.bin", i);
        check_file(&fs, dos, 200 + i, sizes[i]);
    }
    check_file(&fs, "LOWER.TXT", 301, 10);
    /* the long name is skipped; its short alias is listed and usable */
    assert_int_equal(count_entries(&fs, "DATA"), REC_COUNT_OF(sizes) + 1);
    rec_fat_dirent_t e;
    assert_true(dir_has(&fs, "DATA", "ALONGF~1.TEX", &e));
    assert_int_equal(e.size, 3000);
    check_file(&fs, "DATA/ALONGF~1.TEX", 300, 3000);
    /* deleting it also deletes its long-name entries (else fsck reports orphans) */
    assert_int_equal(rec_fat_remove(&fs, "DATA/ALONGF~1.TEX"), REC_OK);
    /* append to a file mtools wrote */
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(&fs, &f, "DATA/M3.BIN", REC_FAT_READ | REC_FAT_WRITE), REC_OK);
    assert_int_equal(rec_fat_seek(&fs, &f, 5000), REC_OK);
    uint8_t buf[3000];
    fill_pat(buf, 203, 5000, sizeof buf);
    assert_int_equal(rec_fat_write(&fs, &f, buf, sizeof buf), (int32_t)sizeof buf);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    check_file(&fs, "DATA/M3.BIN", 203, 8000);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    check_with_mtools(img, "::/DATA/M3.BIN", 203, 8000);
    assert_int_equal(rec_tool_mdir(img, "::/DATA", g_out, sizeof g_out), 0);
    assert_null(strstr(g_out, "a long file name"));
    unlink(img);
}

static void test_seek_overwrite_and_errors(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "seek.img");
    assert_int_equal(rec_tool_mkfs(img, 64, "-s 1"), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);

    write_file(&fs, "A.BIN", 1, 20000);
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(&fs, &f, "a.bin", REC_FAT_READ | REC_FAT_WRITE), REC_OK);
    assert_int_equal(f.size, 20000);
    /* overwrite a range crossing clusters with seed-2 bytes, then read pieces back */
    uint8_t buf[4000];
    fill_pat(buf, 2, 700, 3000);
    assert_int_equal(rec_fat_seek(&fs, &f, 700), REC_OK);
    assert_int_equal(rec_fat_write(&fs, &f, buf, 3000), 3000);
    assert_int_equal(f.size, 20000);
    assert_int_equal(rec_fat_seek(&fs, &f, 600), REC_OK);
    assert_int_equal(rec_fat_read(&fs, &f, buf, 100), 100);
    assert_true(check_pat(buf, 1, 600, 100));
    assert_int_equal(rec_fat_read(&fs, &f, buf, 3000), 3000);
    assert_true(check_pat(buf, 2, 700, 3000));
    assert_int_equal(rec_fat_read(&fs, &f, buf, 1000), 1000);
    assert_true(check_pat(buf, 1, 3700, 1000));
    assert_int_equal(rec_fat_seek(&fs, &f, 19990), REC_OK);
    assert_int_equal(rec_fat_read(&fs, &f, buf, 100), 10);
    assert_true(check_pat(buf, 1, 19990, 10));
    /* beyond the allocated chain: range error */
    assert_int_equal(rec_fat_seek(&fs, &f, 20480 + 1), REC_E_RANGE);
    uint32_t lba;
    assert_int_equal(rec_fat_file_lba(&fs, &f, 19999, &lba), REC_OK);
    assert_int_equal(rec_fat_file_lba(&fs, &f, 20480, &lba), REC_E_RANGE);
    assert_int_equal(rec_fat_set_size(&fs, &f, 20481), REC_E_RANGE);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);

    /* open flags and names */
    assert_int_equal(rec_fat_open(&fs, &f, "A.BIN", REC_FAT_WRITE | REC_FAT_CREATE | REC_FAT_EXCL), REC_E_EXIST);
    assert_int_equal(rec_fat_open(&fs, &f, "B.BIN", REC_FAT_READ), REC_E_NOENT);
    assert_int_equal(rec_fat_open(&fs, &f, "NODIR/B.BIN", REC_FAT_WRITE | REC_FAT_CREATE), REC_E_NOENT);
    assert_int_equal(rec_fat_open(&fs, &f, "A.BIN/X", REC_FAT_READ), REC_E_NOENT);
    assert_int_equal(rec_fat_open(&fs, &f, "TOOLONGNAME.TXT", REC_FAT_WRITE | REC_FAT_CREATE), REC_E_INVAL);
    assert_int_equal(rec_fat_open(&fs, &f, "A.TEXT", REC_FAT_WRITE | REC_FAT_CREATE), REC_E_INVAL);
    assert_int_equal(rec_fat_open(&fs, &f, "A B.TXT", REC_FAT_WRITE | REC_FAT_CREATE), REC_E_INVAL);
    assert_int_equal(rec_fat_open(&fs, &f, "A*.TXT", REC_FAT_WRITE | REC_FAT_CREATE), REC_E_INVAL);
    assert_int_equal(rec_fat_open(&fs, &f, "A.B.C", REC_FAT_WRITE | REC_FAT_CREATE), REC_E_INVAL);
    assert_int_equal(rec_fat_open(&fs, &f, "/", REC_FAT_READ), REC_E_INVAL);
    assert_int_equal(rec_fat_mkdir(&fs, "D"), REC_OK);
    assert_int_equal(rec_fat_open(&fs, &f, "D", REC_FAT_READ), REC_E_INVAL);
    rec_fat_dir_t d;
    assert_int_equal(rec_fat_opendir(&fs, &d, "A.BIN"), REC_E_INVAL);
    /* read-only handle refuses writes */
    assert_int_equal(rec_fat_open(&fs, &f, "A.BIN", REC_FAT_READ), REC_OK);
    assert_int_equal(rec_fat_write(&fs, &f, buf, 1), REC_E_INVAL);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    /* empty file created, extended after a sync */
    assert_int_equal(rec_fat_open(&fs, &f, "D/E.BIN", REC_FAT_WRITE | REC_FAT_CREATE), REC_OK);
    assert_int_equal(f.first_cluster, 0);
    assert_int_equal(rec_fat_file_sync(&fs, &f), REC_OK);
    fill_pat(buf, 9, 0, 1500);
    assert_int_equal(rec_fat_write(&fs, &f, buf, 1500), 1500);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    check_file(&fs, "/D//E.BIN", 9, 1500);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    check_with_mtools(img, "::/D/E.BIN", 9, 1500);
    unlink(img);
}

static void test_directory_growth(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "grow.img");
    assert_int_equal(rec_tool_mkfs(img, 64, "-s 1"), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    assert_int_equal(rec_fat_mkdir(&fs, "MANY"), REC_OK);
    char path[64];
    /* 512-byte clusters hold 16 entries: 150 files span 10 clusters */
    for (unsigned i = 0; i < 150; i++) {
        snprintf(path, sizeof path, "MANY/F%05u.TXT", i);
        write_file(&fs, path, i, i * 7);
        snprintf(path, sizeof path, "R%u", i);
        if (i < 40)
            assert_int_equal(rec_fat_mkdir(&fs, path), REC_OK);
    }
    assert_int_equal(count_entries(&fs, "MANY"), 150);
    assert_int_equal(count_entries(&fs, "/"), 41);
    /* delete some, the slots are reused */
    for (unsigned i = 0; i < 150; i += 3) {
        snprintf(path, sizeof path, "MANY/F%05u.TXT", i);
        assert_int_equal(rec_fat_remove(&fs, path), REC_OK);
    }
    assert_int_equal(count_entries(&fs, "MANY"), 100);
    write_file(&fs, "MANY/NEW.TXT", 5, 10);
    assert_int_equal(count_entries(&fs, "MANY"), 101);
    for (unsigned i = 1; i < 150; i += 3) {
        snprintf(path, sizeof path, "MANY/F%05u.TXT", i);
        check_file(&fs, path, i, i * 7);
    }
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    assert_int_equal(rec_tool_mdir(img, "::/MANY", g_out, sizeof g_out), 0);
    assert_contains(g_out, "103 files"); /* with . and .. */
    check_with_mtools(img, "::/MANY/F00149.TXT", 149, 149 * 7);
    unlink(img);
}

static void test_contiguous_set_size_trim(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "contig.img");
    assert_int_equal(rec_tool_mkfs(img, 200, "-s 4"), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    assert_int_equal(rec_fat_mkdir(&fs, "RECORDS"), REC_OK);
    /* fragment the free space a little first */
    write_file(&fs, "RECORDS/X1.BIN", 1, 5000);
    write_file(&fs, "RECORDS/X2.BIN", 2, 5000);
    assert_int_equal(rec_fat_remove(&fs, "RECORDS/X1.BIN"), REC_OK);
    uint64_t free0;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free0), REC_OK);

    const uint32_t alloc = 3u * MIB + 100;
    rec_fat_file_t f;
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "RECORDS/REC00001.WAV", alloc), REC_OK);
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "RECORDS/REC00001.WAV", 1), REC_E_EXIST);
    assert_true(f.contiguous);
    assert_int_equal(f.size, 0);
    assert_int_equal(f.clusters, (alloc + 2047) / 2048);
    uint64_t free1;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free1), REC_OK);
    assert_int_equal(free0 - free1, (uint64_t)f.clusters * 2048);
    rec_fat_dirent_t e;
    assert_int_equal(rec_fat_stat(&fs, "RECORDS/REC00001.WAV", &e), REC_OK);
    assert_int_equal(e.size, 0);
    assert_int_equal(e.first_cluster, f.first_cluster);
    /* the blocks are consecutive on the device */
    uint32_t lba0, lba;
    assert_int_equal(rec_fat_file_lba(&fs, &f, 0, &lba0), REC_OK);
    for (uint32_t off = 0; off < f.clusters * 2048; off += 512) {
        assert_int_equal(rec_fat_file_lba(&fs, &f, off, &lba), REC_OK);
        assert_int_equal(lba, lba0 + off / 512);
    }
    /* stream data straight to the device, header through the file API, as the recorder does */
    const uint32_t final_size = 2u * MIB + 777;
    static uint8_t buf[64 * 1024];
    uint32_t off = 512;
    while (off < final_size) {
        uint32_t n = sizeof buf;
        fill_pat(buf, 42, off, n);
        assert_int_equal(rec_fat_file_lba(&fs, &f, off, &lba), REC_OK);
        assert_int_equal(rec_bd_write(&bf.bd, lba, buf, n / 512), REC_OK);
        off += n;
        uint32_t sz = off < final_size ? off : final_size;
        assert_int_equal(rec_fat_set_size(&fs, &f, sz), REC_OK);
        if ((off / n) % 8 == 0)
            assert_int_equal(rec_fat_file_sync(&fs, &f), REC_OK);
    }
    fill_pat(buf, 42, 0, 512);
    assert_int_equal(rec_fat_seek(&fs, &f, 0), REC_OK);
    assert_int_equal(rec_fat_write(&fs, &f, buf, 44), 44);
    assert_int_equal(rec_fat_write(&fs, &f, buf + 44, 468), 468);
    assert_int_equal(rec_fat_trim(&fs, &f), REC_OK);
    assert_int_equal(f.clusters, (final_size + 2047) / 2048);
    assert_int_equal(rec_fat_file_sync(&fs, &f), REC_OK);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    uint64_t free2;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free2), REC_OK);
    assert_int_equal(free0 - free2, (uint64_t)((final_size + 2047) / 2048) * 2048);
    check_file(&fs, "RECORDS/REC00001.WAV", 42, final_size);

    /* NOSPC when no run is long enough; nothing is left behind */
    uint64_t total;
    assert_int_equal(rec_fat_statfs(&fs, &total, NULL), REC_OK);
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "RECORDS/BIG.WAV", (uint32_t)free2 + 2048), REC_E_NOSPC);
    assert_int_equal(rec_fat_stat(&fs, "RECORDS/BIG.WAV", &e), REC_E_NOENT);
    /* a second preallocation trimmed to zero gives everything back */
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "RECORDS/REC00002.WAV", MIB), REC_OK);
    assert_int_equal(rec_fat_trim(&fs, &f), REC_OK);
    assert_int_equal(f.first_cluster, 0);
    assert_int_equal(f.clusters, 0);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    uint64_t free3;
    assert_int_equal(rec_fat_statfs(&fs, NULL, &free3), REC_OK);
    assert_int_equal(free3, free2);
    assert_int_equal(rec_fat_stat(&fs, "RECORDS/REC00002.WAV", &e), REC_OK);
    assert_int_equal(e.first_cluster, 0);
    assert_int_equal(e.size, 0);
    /* a preallocated file can also be written through the API and trimmed part way */
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "RECORDS/REC00003.WAV", 100000), REC_OK);
    fill_pat(buf, 43, 0, 30000);
    assert_int_equal(rec_fat_write(&fs, &f, buf, 30000), 30000);
    assert_int_equal(rec_fat_set_size(&fs, &f, 25000), REC_OK);
    assert_int_equal(rec_fat_trim(&fs, &f), REC_OK);
    assert_int_equal(f.clusters, (25000 + 2047) / 2048);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    check_file(&fs, "RECORDS/REC00003.WAV", 43, 25000);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    check_with_mtools(img, "::/RECORDS/REC00001.WAV", 42, final_size);
    check_with_mtools(img, "::/RECORDS/REC00003.WAV", 43, 25000);
    unlink(img);
}

/* An untrimmed preallocation is what fsck.fat flags (chain longer than size); -a truncates it. */
static void test_untrimmed_preallocation_is_repairable(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "untrim.img");
    assert_int_equal(rec_tool_mkfs(img, 64, "-s 1"), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    rec_fat_file_t f;
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "REC.WAV", 200000), REC_OK);
    uint8_t buf[10000];
    fill_pat(buf, 5, 0, sizeof buf);
    assert_int_equal(rec_fat_write(&fs, &f, buf, sizeof buf), (int32_t)sizeof buf);
    assert_int_equal(rec_fat_file_sync(&fs, &f), REC_OK);
    rec_bd_file_close(&bf);
    assert_int_equal(rec_tool_fsck(img, false, g_out, sizeof g_out), 1);
    assert_int_equal(rec_tool_fsck(img, true, g_out, sizeof g_out), 1);
    assert_fsck_clean(img);
    check_with_mtools(img, "::/REC.WAV", 5, sizeof buf);
    unlink(img);
}

static void test_format(void **state)
{
    (void)state;
    char img[256];
    rec_tool_tmp(img, sizeof img, "fmt.img");
    const uint32_t tail = 2048;
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, true, 64ull * MIB), REC_OK);
    /* the tail holds "settings" that must survive */
    static uint8_t blk[512];
    memset(blk, 0xA5, sizeof blk);
    for (uint32_t b = bf.bd.block_count - tail; b < bf.bd.block_count; b++)
        assert_int_equal(rec_bd_write(&bf.bd, b, blk, 1), REC_OK);
    assert_int_equal(rec_fat_format(&bf.bd, "Recorder", 0x12345678u, tail), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    assert_int_equal(fs.volume_id, 0x12345678u);
    assert_int_equal(fs.num_fats, 2);
    assert_int_equal(fs.fat_lba, 32);
    assert_int_equal(fs.root_cluster, 2);
    assert_int_equal(fs.data_lba % fs.blocks_per_cluster, 0);
    assert_true(fs.cluster_count >= 65525u);
    assert_true(fs.data_lba + (uint64_t)fs.cluster_count * fs.blocks_per_cluster <= bf.bd.block_count - tail);
    assert_int_equal(fs.free_count, fs.cluster_count - 1);
    assert_int_equal(count_entries(&fs, "/"), 0);
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    assert_int_equal(rec_tool_mdir(img, "::/", g_out, sizeof g_out), 0);
    assert_contains(g_out, "Volume in drive : is RECORDER");
    assert_contains(g_out, "Serial Number is 1234-5678");

    /* fill the volume completely through the file API: the tail stays untouched */
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
    assert_int_equal(rec_fat_mkdir(&fs, "RECORDS"), REC_OK);
    write_file(&fs, "RECORDS/A.BIN", 11, 1000000);
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/FILL.BIN", REC_FAT_WRITE | REC_FAT_CREATE), REC_OK);
    static uint8_t buf[256 * 1024];
    uint32_t written = 0;
    for (;;) {
        fill_pat(buf, 12, written, sizeof buf);
        int32_t n = rec_fat_write(&fs, &f, buf, sizeof buf);
        if (n == REC_E_NOSPC)
            break;
        assert_true(n > 0);
        written += (uint32_t)n;
    }
    assert_int_equal(fs.free_count, 0);
    assert_int_equal(rec_fat_mkdir(&fs, "MORE"), REC_E_NOSPC);
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    for (uint32_t b = bf.bd.block_count - tail; b < bf.bd.block_count; b++) {
        uint8_t rd[512];
        assert_int_equal(rec_bd_read(&bf.bd, b, rd, 1), REC_OK);
        assert_memory_equal(rd, blk, 512);
    }
    rec_bd_file_close(&bf);
    assert_fsck_clean(img);
    check_with_mtools(img, "::/RECORDS/A.BIN", 11, 1000000);
    check_with_mtools(img, "::/RECORDS/FILL.BIN", 12, written);
    assert_int_equal(mdir_free_bytes(img), 0);

    /* too small for FAT32 */
    rec_bd_ram_t ram;
    assert_int_equal(rec_bd_ram_init(&ram, 30u * MIB / 512), 0);
    assert_int_equal(rec_fat_format(&ram.bd, "X", 1, 0), REC_E_UNSUPPORTED);
    assert_int_equal(rec_fat_format(&ram.bd, "BAD*LABEL", 1, 0), REC_E_INVAL);
    rec_bd_ram_free(&ram);
    unlink(img);
}

/* Larger volumes get larger clusters, as mkfs.fat chooses them. */
static void test_format_cluster_sizes(void **state)
{
    (void)state;
    static const struct {
        uint32_t mib;
        uint8_t spc;
    } cases[] = {{40, 1}, {260, 1}, {300, 8}, {2048, 8}};
    char img[256];
    rec_tool_tmp(img, sizeof img, "fmtsz.img");
    for (unsigned i = 0; i < REC_COUNT_OF(cases); i++) {
        rec_bd_file_t bf;
        assert_int_equal(rec_bd_file_open(&bf, img, true, (uint64_t)cases[i].mib * MIB), REC_OK);
        assert_int_equal(rec_fat_format(&bf.bd, NULL, i, 0), REC_OK);
        rec_fat_t fs;
        assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_OK);
        assert_int_equal(fs.blocks_per_cluster, cases[i].spc);
        write_file(&fs, "T.BIN", i, 50000);
        assert_int_equal(rec_fat_sync(&fs), REC_OK);
        rec_bd_file_close(&bf);
        assert_fsck_clean(img);
        check_with_mtools(img, "::/T.BIN", i, 50000);
    }
    unlink(img);
}

static void test_mbr_partition(void **state)
{
    (void)state;
    char part[256], img[256];
    rec_tool_tmp(part, sizeof part, "part.img");
    rec_tool_tmp(img, sizeof img, "mbr.img");
    assert_int_equal(rec_tool_mkfs(part, 40, "-s 1"), 0);
    const uint32_t start = 2048, blocks = 40u * MIB / 512;
    rec_bd_ram_t ram;
    assert_int_equal(rec_bd_ram_init(&ram, start + blocks), 0);
    assert_int_equal(rec_tool_read_file(part, ram.data + (size_t)start * 512, (size_t)blocks * 512),
                     (long)blocks * 512);
    uint8_t *mbr = ram.data;
    mbr[0] = 0xFA; /* boot code, not a jump */
    uint8_t *pe = mbr + 446;
    pe[4] = 0x0C;
    memcpy(pe + 8, &start, 4); /* host is little endian */
    memcpy(pe + 12, &blocks, 4);
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &ram.bd), REC_OK);
    assert_int_equal(fs.part_lba, start);
    assert_int_equal(rec_fat_mkdir(&fs, "RECORDS"), REC_OK);
    write_file(&fs, "RECORDS/P.BIN", 77, 99999);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
    /* nothing was written outside the partition */
    for (uint32_t b = 1; b < start; b++) {
        static const uint8_t zero[512];
        assert_memory_equal(ram.data + (size_t)b * 512, zero, 512);
    }
    assert_int_equal(rec_tool_write_file(part, ram.data + (size_t)start * 512, (size_t)blocks * 512), 0);
    assert_fsck_clean(part);
    check_with_mtools(part, "::/RECORDS/P.BIN", 77, 99999);
    /* a partition that claims more than the device has, or a bad type, is refused */
    uint32_t big = blocks + 10;
    memcpy(pe + 12, &big, 4);
    memcpy(ram.data + (size_t)start * 512 + 32, &big, 4); /* and the BPB too */
    assert_int_equal(rec_fat_mount(&fs, &ram.bd), REC_E_BADFS);
    pe[4] = 0;
    assert_int_equal(rec_fat_mount(&fs, &ram.bd), REC_E_BADFS);
    rec_bd_ram_free(&ram);
    unlink(part);
    unlink(img);
}

/* ---- corrupted volumes ---- */

static rec_bd_ram_t g_base; /* a small formatted volume with a few files */

static void make_base(void)
{
    if (g_base.data != NULL)
        return;
    assert_int_equal(rec_bd_ram_init(&g_base, 40u * MIB / 512), 0);
    assert_int_equal(rec_fat_format(&g_base.bd, "BASE", 7, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &g_base.bd), REC_OK);
    assert_int_equal(rec_fat_mkdir(&fs, "RECORDS"), REC_OK);
    /* interleave two files so their chains are fragmented */
    rec_fat_file_t a, b;
    assert_int_equal(rec_fat_open(&fs, &a, "RECORDS/A.BIN", REC_FAT_WRITE | REC_FAT_CREATE), REC_OK);
    assert_int_equal(rec_fat_open(&fs, &b, "RECORDS/B.BIN", REC_FAT_WRITE | REC_FAT_CREATE), REC_OK);
    uint8_t buf[1000];
    for (uint32_t i = 0; i < 10; i++) {
        fill_pat(buf, 1, i * 1000, 1000);
        assert_int_equal(rec_fat_write(&fs, &a, buf, 1000), 1000);
        fill_pat(buf, 2, i * 1000, 1000);
        assert_int_equal(rec_fat_write(&fs, &b, buf, 1000), 1000);
    }
    assert_false(a.contiguous);
    assert_int_equal(rec_fat_close(&fs, &a), REC_OK);
    assert_int_equal(rec_fat_close(&fs, &b), REC_OK);
    assert_int_equal(rec_fat_sync(&fs), REC_OK);
}

/* The device struct is referenced by its bd.ctx: filled in place, never copied. */
static void copy_base(rec_bd_ram_t *r)
{
    make_base();
    assert_int_equal(rec_bd_ram_init_from(r, g_base.data, rec_bd_ram_size(&g_base)), 0);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static void test_bad_boot_sectors(void **state)
{
    (void)state;
    rec_bd_ram_t r;
    copy_base(&r);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    uint8_t orig[512];
    memcpy(orig, r.data, 512);
    uint8_t *b = r.data;
    struct {
        unsigned off, width;
        uint32_t val;
    } muts[] = {
        {11, 2, 1024}, {11, 2, 0},    {13, 1, 3},    {13, 1, 0},  {14, 2, 0},     {16, 1, 0},
        {16, 1, 5},    {17, 2, 512},  {19, 2, 1000}, {22, 2, 10}, {32, 4, 0},     {32, 4, 0xFFFFFFFFu},
        {36, 4, 0},    {36, 4, 10},   {36, 4, 0x7FFFFFFFu},       {44, 4, 0},     {44, 4, 1},
        {44, 4, 0x0FFFFFFFu},         {42, 2, 1},    {510, 1, 0}, {0, 1, 0},      {13, 1, 128},
        {32, 4, 60000},
    };
    for (unsigned i = 0; i < REC_COUNT_OF(muts); i++) {
        memcpy(b, orig, 512);
        if (muts[i].width == 1)
            b[muts[i].off] = (uint8_t)muts[i].val;
        else if (muts[i].width == 2)
            put16(&b[muts[i].off], (uint16_t)muts[i].val);
        else
            put32(&b[muts[i].off], muts[i].val);
        int rc = rec_fat_mount(&fs, &r.bd);
        if (rc != REC_E_BADFS)
            fail_msg("mutation %u (offset %u = %u) mounted with %d", i, muts[i].off, muts[i].val, rc);
    }
    /* mirroring disabled: refused as unsupported */
    memcpy(b, orig, 512);
    put16(&b[40], 0x81);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_E_UNSUPPORTED);
    /* a FAT16 volume made by mkfs.fat is not FAT32 */
    char img[256];
    rec_tool_tmp(img, sizeof img, "fat16.img");
    rec_tool_require("mkfs.fat", "dosfstools");
    assert_int_equal(rec_tool_run(g_out, sizeof g_out, "mkfs.fat -F 16 -C '%s' 32768", img), 0);
    rec_bd_file_t bf;
    assert_int_equal(rec_bd_file_open(&bf, img, false, 0), REC_OK);
    assert_int_equal(rec_fat_mount(&fs, &bf.bd), REC_E_BADFS);
    rec_bd_file_close(&bf);
    unlink(img);
    /* an all-zero device, and a read error */
    memset(b, 0, 512);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_E_BADFS);
    memcpy(b, orig, 512);
    r.fail_reads = true;
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_E_IO);
    rec_bd_ram_free(&r);
}

/* Walks everything reachable; must terminate without crashing whatever the result. */
static void exercise(rec_fat_t *fs)
{
    rec_fat_dir_t d;
    rec_fat_dirent_t e;
    static const char *dirs[] = {"/", "RECORDS"};
    for (unsigned k = 0; k < 2; k++) {
        if (rec_fat_opendir(fs, &d, dirs[k]) != REC_OK)
            continue;
        for (int i = 0; i < 100000 && rec_fat_readdir(fs, &d, &e) == 1; i++) {
        }
    }
    static const char *files[] = {"RECORDS/A.BIN", "RECORDS/B.BIN"};
    for (unsigned k = 0; k < 2; k++) {
        rec_fat_file_t f;
        if (rec_fat_open(fs, &f, files[k], REC_FAT_READ | REC_FAT_WRITE) != REC_OK)
            continue;
        uint8_t buf[3000];
        while (rec_fat_read(fs, &f, buf, sizeof buf) > 0) {
        }
        (void)rec_fat_write(fs, &f, buf, sizeof buf);
        (void)rec_fat_close(fs, &f);
    }
    (void)rec_fat_remove(fs, "RECORDS/A.BIN");
    (void)rec_fat_mkdir(fs, "RECORDS/NEW");
    rec_fat_file_t f;
    (void)rec_fat_create_contiguous(fs, &f, "RECORDS/C.BIN", 10000);
    (void)rec_fat_sync(fs);
}

/* Every name readdir reports either names that same entry (stat finds it) or no entry at all: a
 * corrupted short name must not read as another entry's name. Found by fuzz_fat
 * (regressions/fat/stat-vs-readdir-nul-in-name): a NUL byte inside the name ended it early, so
 * "A<NUL>" was listed as "A", and an inner space did the same ("A B.BIN" listed as "A.BIN"), and so did a leading space in the
 * extension ("A. B" listed as "A"). */
static void test_corrupted_names_do_not_alias(void **state)
{
    (void)state;
    static const struct {
        uint8_t name[11];
        const char *listed;
    } cases[] = {
        {{'A', 0x00, 0x0F, 0xB5, 0xB5, 0xFF, 0xFF, 0x7E, 0xFD, 0xAE, 0x14}, "A??\xB5\xB5\xFF\xFF~.\xFD\xAE?"},
        {{'A', ' ', 'B', ' ', ' ', ' ', ' ', ' ', 'B', 'I', 'N'}, "A?B.BIN"},
        {{'A', '.', 'B', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}, "A?B"},
        {{'A', '/', 'B', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}, "A?B"},
        {{'A', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', 'B', ' '}, "A.?B"},
    };
    for (unsigned i = 0; i < REC_COUNT_OF(cases); i++) {
        rec_bd_ram_t r;
        copy_base(&r);
        rec_fat_t fs;
        rec_fat_file_t f;
        rec_fat_dirent_t e, st;
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        /* Files the corrupted name could alias: "A" and "A.BIN" (already there), "B", "A/B". */
        assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A", REC_FAT_WRITE | REC_FAT_CREATE), REC_OK);
        assert_int_equal(rec_fat_write(&fs, &f, "x", 1), 1);
        assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
        assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/B", REC_FAT_WRITE | REC_FAT_CREATE), REC_OK);
        assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
        assert_int_equal(rec_fat_sync(&fs), REC_OK);
        /* B.BIN (listed before A and B) gets the corrupted name. */
        assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/B.BIN", REC_FAT_READ), REC_OK);
        const uint32_t corrupted_cluster = f.first_cluster;
        memcpy(r.data + (size_t)f.dirent_lba * 512 + f.dirent_off, cases[i].name, 11);
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        assert_true(dir_has(&fs, "RECORDS", cases[i].listed, &e));
        assert_int_equal(e.first_cluster, corrupted_cluster);
        rec_fat_dir_t d;
        assert_int_equal(rec_fat_opendir(&fs, &d, "RECORDS"), REC_OK);
        unsigned listed = 0;
        while (rec_fat_readdir(&fs, &d, &e) == 1) {
            char path[64];
            snprintf(path, sizeof path, "RECORDS/%s", e.name);
            if (rec_fat_stat(&fs, path, &st) == REC_OK && st.first_cluster != e.first_cluster)
                fail_msg("case %u: \"%s\" is listed for cluster %u, stat finds cluster %u", i, e.name,
                         e.first_cluster, st.first_cluster);
            listed++;
        }
        assert_int_equal(listed, 4);
        rec_bd_ram_free(&r);
    }
}

static void test_corrupted_chains(void **state)
{
    (void)state;
    rec_fat_t fs;
    rec_fat_dirent_t e;
    rec_fat_file_t f;
    /* find A.BIN's first cluster and the FAT location */
    rec_bd_ram_t r;
    copy_base(&r);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(rec_fat_stat(&fs, "RECORDS/A.BIN", &e), REC_OK);
    const uint32_t a1 = e.first_cluster;
    const uint32_t fat = fs.fat_lba;
    const uint32_t fatsz = fs.fat_blocks;
    uint32_t a2;
    memcpy(&a2, r.data + (size_t)fat * 512 + a1 * 4, 4);
    assert_true(a2 > a1 && a2 < a1 + 10);
    rec_bd_ram_free(&r);

    /* 1. A.BIN's second cluster points back at its first: a loop */
    copy_base(&r);
    for (uint32_t k = 0; k < 2; k++)
        put32(r.data + ((size_t)fat + k * fatsz) * 512 + a2 * 4, a1);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A.BIN", REC_FAT_READ), REC_E_CORRUPT);
    check_file(&fs, "RECORDS/B.BIN", 2, 10000);
    exercise(&fs);
    rec_bd_ram_free(&r);

    /* 2. out of range and free links */
    static const uint32_t bad[] = {0, 1, 0x0FFFFFF7u, 0x0FFFFFF0u, 40u * MIB};
    for (unsigned i = 0; i < REC_COUNT_OF(bad); i++) {
        copy_base(&r);
        put32(r.data + (size_t)fat * 512 + a2 * 4, bad[i]);
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A.BIN", REC_FAT_READ), REC_E_CORRUPT);
        assert_int_equal(rec_fat_remove(&fs, "RECORDS/A.BIN"), REC_E_CORRUPT);
        exercise(&fs);
        rec_bd_ram_free(&r);
    }

    /* 3. directory entry with an out-of-range first cluster, or a size beyond its chain */
    copy_base(&r);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A.BIN", REC_FAT_READ), REC_OK);
    uint8_t *ent = r.data + (size_t)f.dirent_lba * 512 + f.dirent_off;
    put16(ent + 20, 0x7FFF);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A.BIN", REC_FAT_READ), REC_E_CORRUPT);
    exercise(&fs);
    rec_bd_ram_free(&r);
    copy_base(&r);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A.BIN", REC_FAT_READ), REC_OK);
    ent = r.data + (size_t)f.dirent_lba * 512 + f.dirent_off;
    put32(ent + 28, 1000000);
    assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/A.BIN", REC_FAT_READ), REC_E_CORRUPT);
    rec_bd_ram_free(&r);

    /* 4. the RECORDS directory's cluster chain loops on itself; its entry points at the root */
    copy_base(&r);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(rec_fat_stat(&fs, "RECORDS", &e), REC_OK);
    for (uint32_t k = 0; k < 2; k++)
        put32(r.data + ((size_t)fat + k * fatsz) * 512 + e.first_cluster * 4, e.first_cluster);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    exercise(&fs);
    rec_bd_ram_free(&r);
    copy_base(&r);
    /* root directory's own FAT entry is a loop */
    put32(r.data + (size_t)fat * 512 + 2 * 4, 2);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    exercise(&fs);
    /* root directory's FAT entry is free: refused at mount */
    put32(r.data + (size_t)fat * 512 + 2 * 4, 0);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_E_BADFS);
    rec_bd_ram_free(&r);

    /* 4b. A.BIN's chain links into the root directory's first cluster, from its second cluster
     * or its first (a cross-link no repair cut): removing A.BIN frees its chain up to the root's,
     * never the root's own, so the volume still mounts (the fuzzer's recovery finding,
     * docs/reliability.md). */
    for (int from_first = 0; from_first < 2; from_first++) {
        copy_base(&r);
        for (uint32_t k = 0; k < 2; k++)
            put32(r.data + ((size_t)fat + k * fatsz) * 512 + (from_first ? a1 : a2) * 4, 2);
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        assert_int_equal(rec_fat_remove(&fs, "RECORDS/A.BIN"), REC_E_CORRUPT);
        uint32_t root_val;
        memcpy(&root_val, r.data + (size_t)fat * 512 + 2 * 4, 4);
        assert_true(root_val != 0);
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        check_file(&fs, "RECORDS/B.BIN", 2, 10000);
        rec_bd_ram_free(&r);
    }

    /* 5. random garbage over the FAT and the directories, many times: no crash, no hang */
    copy_base(&r);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    const uint32_t data = fs.data_lba;
    const size_t meta_bytes = ((size_t)data + 64) * 512; /* boot, FATs, first directories */
    srand(1234);
    for (int round = 0; round < 300; round++) {
        rec_bd_ram_restore(&r, g_base.data);
        memcpy(r.data, g_base.data, meta_bytes);
        for (int k = 0; k < 20; k++) {
            uint32_t blk = (rand() % 2) ? fat + (uint32_t)rand() % 4 : data + (uint32_t)rand() % 8;
            r.data[(size_t)blk * 512 + (uint32_t)rand() % 512] = (uint8_t)rand();
            if (rand() % 4 == 0)
                put32(r.data + (size_t)fat * 512 + ((uint32_t)rand() % 128) * 4, (uint32_t)rand() % 200);
        }
        if (rec_fat_mount(&fs, &r.bd) == REC_OK)
            exercise(&fs);
    }
    /* 6. random boot sectors */
    for (int round = 0; round < 3000; round++) {
        rec_bd_ram_restore(&r, g_base.data);
        memcpy(r.data, g_base.data, 512);
        for (int k = 0; k < 1 + round % 4; k++)
            r.data[11 + (uint32_t)rand() % 40] = (uint8_t)rand();
        if (rec_fat_mount(&fs, &r.bd) == REC_OK) {
            assert_true(fs.data_lba + (uint64_t)fs.cluster_count * fs.blocks_per_cluster <= r.bd.block_count);
            exercise(&fs);
        }
    }
    rec_bd_ram_free(&r);
}

/* ---- cross-linked chains and loops ---- */

/* Sets cluster `c`'s entry in both FAT copies. */
static void set_link(rec_bd_ram_t *r, const rec_fat_t *fs, uint32_t c, uint32_t v)
{
    for (uint32_t k = 0; k < fs->num_fats; k++)
        put32(r->data + ((size_t)fs->fat_lba + k * fs->fat_blocks) * 512 + c * 4, v);
}

/* The cluster `n` links after `first`, read from FAT #1. */
static uint32_t nth_cluster(const rec_bd_ram_t *r, const rec_fat_t *fs, uint32_t first, uint32_t n)
{
    uint32_t c = first;
    for (uint32_t i = 0; i < n; i++)
        memcpy(&c, r->data + (size_t)fs->fat_lba * 512 + c * 4, 4);
    return c & 0x0FFFFFFFu;
}

/* Repairs the volume, checks the report, writes it out and has fsck.fat -n and mtools read it:
 * clean, A.BIN (seed 1) and B.BIN (seed 2) holding `a_size` and `b_size` bytes of their content.
 * A second repair finds nothing to do. */
static void repair_and_check(rec_bd_ram_t *r, uint32_t loops, uint32_t cuts, uint32_t a_size, uint32_t b_size)
{
    rec_fat_t fs;
    static uint8_t scratch[1024];
    rec_fat_repair_report_t rep;
    assert_int_equal(rec_fat_mount(&fs, &r->bd), REC_OK);
    assert_int_equal(rec_fat_repair(&fs, scratch, sizeof scratch, &rep), REC_OK);
    assert_true(rep.tree_complete);
    assert_int_equal(rep.loops_cut, loops);
    assert_int_equal(rep.crosslinks_cut, cuts);
    check_file(&fs, "RECORDS/A.BIN", 1, a_size);
    check_file(&fs, "RECORDS/B.BIN", 2, b_size);
    assert_int_equal(rec_fat_repair(&fs, scratch, sizeof scratch, &rep), REC_OK);
    assert_true(rep.tree_complete);
    assert_int_equal(rep.loops_cut + rep.crosslinks_cut + rep.lost_clusters_freed + rep.fat_blocks_mirrored, 0);
    char img[256];
    rec_tool_tmp(img, sizeof img, "crosslink.img");
    assert_int_equal(rec_tool_write_file(img, r->data, rec_bd_ram_size(r)), 0);
    assert_fsck_clean(img);
    check_with_mtools(img, "::/RECORDS/A.BIN", 1, a_size);
    check_with_mtools(img, "::/RECORDS/B.BIN", 2, b_size);
    unlink(img);
}

static void test_repair_cross_links_and_loops(void **state)
{
    (void)state;
    rec_tool_require("fsck.fat", "dosfstools");
    rec_bd_ram_t r;
    rec_fat_t fs;
    rec_fat_dirent_t a, b, dir;
    copy_base(&r);
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    assert_int_equal(fs.blocks_per_cluster, 1); /* the sizes below count 512-byte clusters */
    assert_int_equal(rec_fat_stat(&fs, "RECORDS/A.BIN", &a), REC_OK);
    assert_int_equal(rec_fat_stat(&fs, "RECORDS/B.BIN", &b), REC_OK);
    assert_int_equal(rec_fat_stat(&fs, "RECORDS", &dir), REC_OK);
    rec_bd_ram_free(&r);

    /* 1. The RECORDS directory's chain runs on into A.BIN's clusters from its 4th on (zeroed,
     * as a preallocated recording's unwritten clusters are, so they read as free entries): the
     * directory keeps them, A.BIN is cut to its first 3 clusters. */
    copy_base(&r);
    uint32_t a4 = nth_cluster(&r, &fs, a.first_cluster, 3);
    for (uint32_t k = 3; k < 20; k++)
        memset(r.data + ((size_t)fs.data_lba + nth_cluster(&r, &fs, a.first_cluster, k) - 2) * 512, 0, 512);
    set_link(&r, &fs, dir.first_cluster, a4);
    repair_and_check(&r, 0, 1, 3 * 512, 10000);
    rec_bd_ram_free(&r);

    /* 2. Two files sharing a tail: B.BIN's 5th cluster links into A.BIN's 8th. A.BIN, first in
     * the directory, keeps it; B.BIN is cut to 5 clusters and its own tail freed. */
    copy_base(&r);
    set_link(&r, &fs, nth_cluster(&r, &fs, b.first_cluster, 4), nth_cluster(&r, &fs, a.first_cluster, 7));
    repair_and_check(&r, 0, 1, 10000, 5 * 512);
    rec_bd_ram_free(&r);

    /* 3. Two entries with the same first cluster: the second is emptied. */
    copy_base(&r);
    {
        rec_fat_file_t f;
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        assert_int_equal(rec_fat_open(&fs, &f, "RECORDS/B.BIN", REC_FAT_READ), REC_OK);
        uint8_t *ent = r.data + (size_t)f.dirent_lba * 512 + f.dirent_off;
        put16(ent + 20, (uint16_t)(a.first_cluster >> 16));
        put16(ent + 26, (uint16_t)a.first_cluster);
        put32(ent + 28, 10000);
    }
    repair_and_check(&r, 0, 1, 10000, 0);
    rec_bd_ram_free(&r);

    /* 4. A loop: A.BIN's 10th cluster links back to its 4th. Cut at the closing link; the size
     * clipped to the 10 clusters left. */
    copy_base(&r);
    set_link(&r, &fs, nth_cluster(&r, &fs, a.first_cluster, 9), nth_cluster(&r, &fs, a.first_cluster, 3));
    repair_and_check(&r, 1, 0, 10 * 512, 10000);
    rec_bd_ram_free(&r);

    /* 5. Both: B.BIN's 3rd cluster links into A.BIN's loop. */
    copy_base(&r);
    set_link(&r, &fs, nth_cluster(&r, &fs, a.first_cluster, 9), nth_cluster(&r, &fs, a.first_cluster, 3));
    set_link(&r, &fs, nth_cluster(&r, &fs, b.first_cluster, 2), nth_cluster(&r, &fs, a.first_cluster, 5));
    repair_and_check(&r, 1, 1, 10 * 512, 3 * 512);
    rec_bd_ram_free(&r);

    /* 6. More chains than the scratch's table holds (1 KiB: 64), so the tree is walked in two
     * batches: B.BIN into A.BIN (first batch), F69.TXT into F65.TXT (second batch). */
    copy_base(&r);
    set_link(&r, &fs, nth_cluster(&r, &fs, b.first_cluster, 4), nth_cluster(&r, &fs, a.first_cluster, 7));
    {
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        for (uint32_t i = 0; i < 70; i++) {
            char path[32];
            snprintf(path, sizeof path, "F%02u.TXT", (unsigned)i);
            write_file(&fs, path, 100u + i, 600);
        }
        assert_int_equal(rec_fat_sync(&fs), REC_OK);
        rec_fat_dirent_t f65, f69;
        assert_int_equal(rec_fat_stat(&fs, "F65.TXT", &f65), REC_OK);
        assert_int_equal(rec_fat_stat(&fs, "F69.TXT", &f69), REC_OK);
        set_link(&r, &fs, f69.first_cluster, nth_cluster(&r, &fs, f65.first_cluster, 1));
        static uint8_t scratch[1024];
        rec_fat_repair_report_t rep;
        assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
        assert_int_equal(rec_fat_repair(&fs, scratch, sizeof scratch, &rep), REC_OK);
        assert_true(rep.tree_complete);
        assert_int_equal(rep.crosslinks_cut, 2);
        check_file(&fs, "RECORDS/A.BIN", 1, 10000);
        check_file(&fs, "RECORDS/B.BIN", 2, 5 * 512);
        check_file(&fs, "F65.TXT", 165, 600);
        check_file(&fs, "F69.TXT", 169, 512);
        check_file(&fs, "F00.TXT", 100, 600);
        char img[256];
        rec_tool_tmp(img, sizeof img, "crosslink-many.img");
        assert_int_equal(rec_tool_write_file(img, r.data, rec_bd_ram_size(&r)), 0);
        assert_fsck_clean(img);
        unlink(img);
    }
    rec_bd_ram_free(&r);
}

/* ---- power cuts ---- */

#define PC_ALLOC (501u * 512u) /* puts LOG.TXT's chain across a FAT block boundary */
#define PC_CHUNK 8192u
#define PC_FINAL (150u * 1024u + 300u)
#define PC_LOG_CHUNK 700u
#define PC_LOG_CHUNKS 12u

typedef struct {
    uint32_t rec_synced;  /* REC size at the last completed file_sync (0: none) */
    uint32_t log_synced;
    bool finished;
} pc_state_t;

/* The recorder's sequence: preallocate, stream with periodic set_size + file_sync, write the
 * header, trim, sync; plus a log file that grows by appends. Stops at the first error. */
static void pc_scenario(rec_bd_ram_t *r, pc_state_t *st)
{
    memset(st, 0, sizeof *st);
    rec_fat_t fs;
    if (rec_fat_mount(&fs, &r->bd) != REC_OK)
        return;
    if (rec_fat_mkdir(&fs, "RECORDS") != REC_OK)
        return;
    rec_fat_file_t f, lg;
    if (rec_fat_create_contiguous(&fs, &f, "RECORDS/REC00001.WAV", PC_ALLOC) != REC_OK)
        return;
    if (rec_fat_open(&fs, &lg, "RECORDS/LOG.TXT", REC_FAT_WRITE | REC_FAT_CREATE) != REC_OK)
        return;
    static uint8_t buf[PC_CHUNK];
    uint32_t off = 512, logoff = 0;
    unsigned i = 0;
    while (off < PC_FINAL) {
        uint32_t n = PC_CHUNK;
        fill_pat(buf, 1, off, n);
        uint32_t lba;
        if (i % 2 == 0) { /* straight to the device, as the recorder streams */
            if (rec_fat_file_lba(&fs, &f, off, &lba) != REC_OK || rec_bd_write(&r->bd, lba, buf, n / 512) != REC_OK)
                return;
        } else {
            if (rec_fat_seek(&fs, &f, off) != REC_OK || rec_fat_write(&fs, &f, buf, n) != (int32_t)n)
                return;
        }
        off += n;
        uint32_t sz = off < PC_FINAL ? off : PC_FINAL;
        if (rec_fat_set_size(&fs, &f, sz) != REC_OK)
            return;
        if (i % 3 == 2) {
            if (rec_fat_file_sync(&fs, &f) != REC_OK)
                return;
            st->rec_synced = sz;
        }
        if (i < PC_LOG_CHUNKS) {
            uint8_t lb[PC_LOG_CHUNK];
            fill_pat(lb, 2, logoff, PC_LOG_CHUNK);
            if (rec_fat_write(&fs, &lg, lb, PC_LOG_CHUNK) != (int32_t)PC_LOG_CHUNK)
                return;
            logoff += PC_LOG_CHUNK;
            if (i % 2 == 1) {
                if (rec_fat_file_sync(&fs, &lg) != REC_OK)
                    return;
                st->log_synced = logoff;
            }
        }
        i++;
    }
    /* stop: header, trim, sync */
    fill_pat(buf, 1, 0, 512);
    if (rec_fat_seek(&fs, &f, 0) != REC_OK || rec_fat_write(&fs, &f, buf, 44) != 44 ||
        rec_fat_write(&fs, &f, buf + 44, 468) != 468)
        return;
    if (rec_fat_trim(&fs, &f) != REC_OK || rec_fat_file_sync(&fs, &f) != REC_OK)
        return;
    st->rec_synced = PC_FINAL;
    if (rec_fat_close(&fs, &lg) != REC_OK)
        return;
    st->log_synced = logoff;
    if (rec_fat_sync(&fs) != REC_OK)
        return;
    st->finished = true;
}

/* After a cut: the volume mounts, and the files hold at least the synced data, intact. */
static void pc_check(rec_bd_ram_t *r, const pc_state_t *st, uint64_t n)
{
    rec_fat_t fs;
    int rc = rec_fat_mount(&fs, &r->bd);
    if (rc != REC_OK)
        fail_msg("cut after %llu blocks: mount failed %d", (unsigned long long)n, rc);
    static const struct {
        const char *path;
        uint32_t seed;
    } files[] = {{"RECORDS/REC00001.WAV", 1}, {"RECORDS/LOG.TXT", 2}};
    for (unsigned k = 0; k < 2; k++) {
        uint32_t synced = k == 0 ? st->rec_synced : st->log_synced;
        rec_fat_dirent_t e;
        rc = rec_fat_stat(&fs, files[k].path, &e);
        if (rc == REC_E_NOENT && synced == 0)
            continue;
        if (rc != REC_OK)
            fail_msg("cut after %llu: %s stat %d (synced %u)", (unsigned long long)n, files[k].path, rc, synced);
        if (e.size < synced)
            fail_msg("cut after %llu: %s size %u < synced %u", (unsigned long long)n, files[k].path, e.size, synced);
        rec_fat_file_t f;
        rc = rec_fat_open(&fs, &f, files[k].path, REC_FAT_READ);
        if (rc != REC_OK)
            fail_msg("cut after %llu: %s open %d", (unsigned long long)n, files[k].path, rc);
        static uint8_t buf[PC_ALLOC];
        int32_t got = rec_fat_read(&fs, &f, buf, sizeof buf);
        assert_int_equal(got, (int32_t)e.size);
        /* REC's first block (the header) is written last: until then it is still zeros */
        uint32_t from = 0;
        if (k == 0 && e.size >= 512 && !check_pat(buf, 1, 0, 512)) {
            static const uint8_t zero[512];
            if (st->finished || memcmp(buf, zero, 512) != 0)
                fail_msg("cut after %llu: REC header block is neither written nor blank", (unsigned long long)n);
            from = 512;
        }
        if (e.size > from && !check_pat(buf + from, files[k].seed, from, e.size - from))
            fail_msg("cut after %llu: %s content differs (size %u)", (unsigned long long)n, files[k].path, e.size);
    }
}

/* What fsck.fat may find after a cut, by the write ordering in fat.c: a chain longer than the
 * recorded size (preallocation, or clusters appended before the entry was synced), lost
 * clusters, FAT copies differing in the block being written, a stale FSInfo free count.
 * Anything else (cross-links, chains into free clusters, bad directory entries, orphaned long
 * names, truncation below the size) is a failure. */
static void pc_assert_expected_repairs(const char *out, uint64_t n)
{
    static const char *const allowed[] = {
        "fsck.fat ",          "Checking we can access", "Performing changes",
        "  Auto-correcting.", "  File size is ",        "  Truncating file to ",
        "FATs differ but appear to be intact.",         "  Using first FAT.",
        "/RECORDS/REC00001.WAV", "/RECORDS/LOG.TXT",    "Free cluster summary wrong",
        "Reclaimed ",         REC_TEST_TMPDIR,
    };
    const char *line = out;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        bool ok = len == 0;
        for (unsigned i = 0; i < REC_COUNT_OF(allowed) && !ok; i++)
            ok = len >= strlen(allowed[i]) && strncmp(line, allowed[i], strlen(allowed[i])) == 0;
        if (!ok)
            fail_msg("cut after %llu: unexpected fsck.fat repair \"%.*s\" in:\n%s", (unsigned long long)n, (int)len,
                     line, out);
        line += len + (end ? 1 : 0);
    }
}

static void pc_campaign(bool torn)
{
    /* baseline: a freshly formatted volume */
    rec_bd_ram_t r;
    assert_int_equal(rec_bd_ram_init(&r, 40u * MIB / 512), 0);
    assert_int_equal(rec_fat_format(&r.bd, "PC", 1, 0), REC_OK);
    uint8_t *baseline = malloc(rec_bd_ram_size(&r));
    assert_non_null(baseline);
    memcpy(baseline, r.data, rec_bd_ram_size(&r));
    memset(r.written_map, 0, r.bd.block_count / 8 + 1);

    /* uncut run: counts the written blocks and must end fsck-clean */
    rec_bd_ram_power_on(&r);
    pc_state_t st;
    pc_scenario(&r, &st);
    assert_true(st.finished);
    const uint64_t total = r.blocks_written;
    print_message("power-cut campaign: %llu written blocks\n", (unsigned long long)total);
    assert_true(total > 300);
    pc_check(&r, &st, total);
    char img[256];
    rec_tool_tmp(img, sizeof img, torn ? "pc_torn.img" : "pc.img");
    assert_int_equal(rec_bd_ram_save_file(&r, img), 0);
    assert_fsck_clean(img);

    unsigned fsck_samples = 0;
    for (uint64_t n = 0; n < total; n++) {
        rec_bd_ram_restore(&r, baseline);
        rec_bd_ram_power_on(&r);
        rec_bd_ram_cut_after(&r, n, torn);
        pc_scenario(&r, &st);
        assert_false(st.finished);
        rec_bd_ram_power_on(&r);
        pc_check(&r, &st, n);
        /* fsck.fat -a repairs the cut volume (lost clusters, chains longer than the size,
         * free count), after which it is clean and our data is still there. Sampled: the
         * tools are slow compared with the rest. */
        if (n % (total / 12) == 0 || n + 1 == total || getenv("REC_FAT_FSCK_EVERY_CUT") != NULL) {
            fsck_samples++;
            assert_int_equal(rec_bd_ram_save_file(&r, img), 0);
            int frc = rec_tool_fsck(img, true, g_out, sizeof g_out);
            if (frc != 0 && frc != 1)
                fail_msg("cut after %llu: fsck.fat -a exit %d\n%s", (unsigned long long)n, frc, g_out);
            pc_assert_expected_repairs(g_out, n);
            assert_fsck_clean(img);
            rec_bd_ram_t fixed;
            assert_int_equal(rec_bd_ram_load_file(&fixed, img), 0);
            pc_check(&fixed, &st, n);
            rec_bd_ram_free(&fixed);
        }
    }
    assert_true(fsck_samples >= 12);
    unlink(img);
    free(baseline);
    rec_bd_ram_free(&r);
}

static void test_power_cut_campaign(void **state)
{
    (void)state;
    pc_campaign(false);
}

static void test_power_cut_campaign_torn(void **state)
{
    (void)state;
    pc_campaign(true);
}

/* Whole aligned blocks bypass the cache and go out in multi-block calls. */
static void test_direct_multiblock_io(void **state)
{
    (void)state;
    rec_bd_ram_t r;
    assert_int_equal(rec_bd_ram_init(&r, 64u * MIB / 512), 0);
    assert_int_equal(rec_fat_format(&r.bd, NULL, 3, 0), REC_OK);
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &r.bd), REC_OK);
    rec_fat_file_t f;
    assert_int_equal(rec_fat_create_contiguous(&fs, &f, "BIG.BIN", 1u * MIB), REC_OK);
    static uint8_t buf[256 * 1024];
    fill_pat(buf, 4, 0, sizeof buf);
    rec_bd_ram_power_on(&r); /* reset counters */
    assert_int_equal(rec_fat_write(&fs, &f, buf, sizeof buf), (int32_t)sizeof buf);
    assert_int_equal(r.writes, 1);
    assert_int_equal(r.blocks_written, sizeof buf / 512);
    assert_int_equal(rec_fat_seek(&fs, &f, 0), REC_OK);
    memset(buf, 0, sizeof buf);
    rec_bd_ram_power_on(&r);
    assert_int_equal(rec_fat_read(&fs, &f, buf, sizeof buf), (int32_t)sizeof buf);
    assert_int_equal(r.reads, 1);
    assert_true(check_pat(buf, 4, 0, sizeof buf));
    assert_int_equal(rec_fat_close(&fs, &f), REC_OK);
    rec_bd_ram_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mount_mkfs_image),
        cmocka_unit_test(test_files_roundtrip_with_mtools),
        cmocka_unit_test(test_files_from_mtools),
        cmocka_unit_test(test_seek_overwrite_and_errors),
        cmocka_unit_test(test_directory_growth),
        cmocka_unit_test(test_contiguous_set_size_trim),
        cmocka_unit_test(test_untrimmed_preallocation_is_repairable),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_cluster_sizes),
        cmocka_unit_test(test_mbr_partition),
        cmocka_unit_test(test_bad_boot_sectors),
        cmocka_unit_test(test_corrupted_chains),
        cmocka_unit_test(test_corrupted_names_do_not_alias),
        cmocka_unit_test(test_repair_cross_links_and_loops),
        cmocka_unit_test(test_direct_multiblock_io),
        cmocka_unit_test(test_power_cut_campaign),
        cmocka_unit_test(test_power_cut_campaign_torn),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rec_bd_ram_free(&g_base);
    return rc;
}
