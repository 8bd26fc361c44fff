/* Journal: record encoding, chain verification, tampering (altered, missing records), torn tails,
 * and a power cut at every block write of an append (FAT32 over a RAM block device). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/bd_ram.h"
#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "rec/journal.h"
#include "rec/sha256.h"
#include "support/tools.h"

#define BLOCKS 70000u /* just above the FAT32 minimum with 512-byte clusters */

static rec_journal_record_t make_record(uint32_t number)
{
    rec_journal_record_t r;
    memset(&r, 0xEE, sizeof r); /* index and prev_hash must be filled by append */
    r.number = number;
    r.kind = RP_JOURNAL_KIND_RECORDING; /* encode keeps the caller's kind */
    r.start_unix_ms = 1700000000000LL + (int64_t)number * 60000;
    r.stop_unix_ms = r.start_unix_ms + 30000 + number;
    r.start_uptime_ms = 1000u * number;
    r.stop_uptime_ms = 1000u * number + 30000u;
    r.sample_rate = 16000;
    r.sample_count = 480000u + number;
    r.stop_reason = (uint8_t)(number % 9u);
    r.flags = (uint8_t)(number & 3u);
    r.overruns = number * 3u;
    rec_sha256(&number, sizeof number, r.sha256);
    return r;
}

static void assert_same_payload(const rec_journal_record_t *a, const rec_journal_record_t *b)
{
    assert_int_equal(a->number, b->number);
    assert_int_equal(a->start_unix_ms, b->start_unix_ms);
    assert_int_equal(a->stop_unix_ms, b->stop_unix_ms);
    assert_int_equal(a->start_uptime_ms, b->start_uptime_ms);
    assert_int_equal(a->stop_uptime_ms, b->stop_uptime_ms);
    assert_int_equal(a->sample_rate, b->sample_rate);
    assert_int_equal(a->sample_count, b->sample_count);
    assert_int_equal(a->stop_reason, b->stop_reason);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->overruns, b->overruns);
    assert_memory_equal(a->sha256, b->sha256, 32);
}

/* ---- Pure functions --------------------------------------------------------------------------- */

static void test_encode_decode(void **state)
{
    (void)state;
    rec_journal_record_t r = make_record(7), d;
    r.index = 3;
    memset(r.prev_hash, 0x5A, 32);
    r.start_unix_ms = -12345; /* i64 round trip */
    uint8_t b[128];
    rec_journal_encode(&r, b);
    assert_memory_equal(b, "RJNL", 4);
    assert_int_equal(rec_get_u16(b + 4), 1);
    assert_int_equal(rec_get_u16(b + 6), 128);
    assert_int_equal(rec_get_u32(b + RP_JOURNAL_RECORD_OFF_INDEX), 3);
    assert_int_equal(rec_get_u32(b + RP_JOURNAL_RECORD_OFF_NUMBER), 7);
    assert_int_equal(rec_get_u16(b + RP_JOURNAL_RECORD_OFF_KIND), 0);
    assert_int_equal(b[RP_JOURNAL_RECORD_OFF_PREV_HASH], 0x5A);
    assert_int_equal(rec_journal_decode(b, &d), REC_OK);
    assert_same_payload(&r, &d);
    assert_int_equal(d.index, 3);
    assert_memory_equal(d.prev_hash, r.prev_hash, 32);

    uint8_t m[128];
    memcpy(m, b, 128);
    m[0] = 'r';
    assert_int_equal(rec_journal_decode(m, &d), REC_E_CORRUPT);
    memcpy(m, b, 128);
    rec_put_u16(m + 4, 2);
    assert_int_equal(rec_journal_decode(m, &d), REC_E_CORRUPT);
    memcpy(m, b, 128);
    rec_put_u16(m + 6, 127);
    assert_int_equal(rec_journal_decode(m, &d), REC_E_CORRUPT);
    memset(m, 0, 128);
    assert_int_equal(rec_journal_decode(m, &d), REC_E_CORRUPT);

    /* links */
    uint8_t h[32], zero[32] = {0};
    rec_journal_hash(b, h);
    uint8_t h2[32];
    rec_sha256(b, 128, h2);
    assert_memory_equal(h, h2, 32);
    r.index = 0;
    memset(r.prev_hash, 0, 32);
    rec_journal_encode(&r, b);
    assert_int_equal(rec_journal_check_link(b, 0, zero), REC_OK);
    assert_int_equal(rec_journal_check_link(b, 1, zero), REC_E_CORRUPT);
    assert_int_equal(rec_journal_check_link(b, 0, h), REC_E_MISMATCH);
}

/* ---- On a FAT32 volume ------------------------------------------------------------------------ */

typedef struct {
    rec_bd_ram_t ram;
    rec_fat_t fs;
    rec_journal_t j;
} rig_t;

static rig_t *rig_new(void)
{
    rig_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    assert_int_equal(rec_bd_ram_init(&g->ram, BLOCKS), 0);
    assert_int_equal(rec_fat_format(&g->ram.bd, "JOURNAL", 0x1234, 0), REC_OK);
    assert_int_equal(rec_fat_mount(&g->fs, &g->ram.bd), REC_OK);
    return g;
}

static void rig_free(rig_t *g)
{
    rec_bd_ram_free(&g->ram);
    free(g);
}

/* Power off (state in RAM lost), on, mount, open the journal. */
static void rig_reboot(rig_t *g)
{
    rec_bd_ram_power_on(&g->ram);
    memset(&g->fs, 0xA5, sizeof g->fs);
    memset(&g->j, 0xA5, sizeof g->j);
    assert_int_equal(rec_fat_mount(&g->fs, &g->ram.bd), REC_OK);
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
}

static void append_n(rig_t *g, uint32_t first_number, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        rec_journal_record_t r = make_record(first_number + i);
        const uint32_t before = g->j.count;
        assert_int_equal(rec_journal_append(&g->j, &r), REC_OK);
        assert_int_equal(r.index, before);
        assert_int_equal(g->j.count, before + 1);
    }
}

/* Reads the raw file through FAT (as a tamperer with a card reader would). */
static uint32_t file_read_all(rig_t *g, uint8_t *buf, uint32_t cap)
{
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(&g->fs, &f, REC_JOURNAL_PATH, REC_FAT_READ), REC_OK);
    const int32_t n = rec_fat_read(&g->fs, &f, buf, cap);
    assert_true(n >= 0);
    assert_int_equal(rec_fat_close(&g->fs, &f), REC_OK);
    return (uint32_t)n;
}

static void file_write_all(rig_t *g, const uint8_t *buf, uint32_t len)
{
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(&g->fs, &f, REC_JOURNAL_PATH, REC_FAT_READ | REC_FAT_WRITE), REC_OK);
    assert_int_equal(rec_fat_write(&g->fs, &f, buf, len), (int32_t)len);
    assert_int_equal(rec_fat_set_size(&g->fs, &f, len), REC_OK);
    assert_int_equal(rec_fat_file_sync(&g->fs, &f), REC_OK);
    assert_int_equal(rec_fat_close(&g->fs, &f), REC_OK);
}

static void test_create_append_reopen(void **state)
{
    (void)state;
    rig_t *g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    assert_int_equal(g->j.count, 0);
    assert_int_equal(g->j.highest_number, 0);
    assert_true(g->j.intact);
    assert_int_equal(g->j.torn_index, REC_JOURNAL_NO_INDEX);
    rec_fat_dirent_t de;
    assert_int_equal(rec_fat_stat(&g->fs, "SYSTEM/JOURNAL.BIN", &de), REC_OK);
    assert_int_equal(de.size, 0);
    rec_journal_record_t out;
    assert_int_equal(rec_journal_read(&g->j, 0, &out), REC_E_RANGE);
    assert_int_equal(rec_journal_find_number(&g->j, 1, &out), REC_E_NOENT);

    /* 300 records: several clusters of the file (4 records per 512-byte cluster) */
    for (uint32_t i = 0; i < 300; i++) {
        rec_journal_record_t r = make_record(2 * i + 1);
        assert_int_equal(rec_journal_append(&g->j, &r), REC_OK);
        assert_int_equal(r.index, i);
    }
    assert_int_equal(g->j.highest_number, 599);
    rec_journal_record_t r = make_record(599);
    assert_int_equal(rec_journal_append(&g->j, &r), REC_E_INVAL); /* never reused */
    r = make_record(3);
    assert_int_equal(rec_journal_append(&g->j, &r), REC_E_INVAL);
    r = make_record(0);
    assert_int_equal(rec_journal_append(&g->j, &r), REC_E_INVAL);
    uint8_t last_hash[32];
    memcpy(last_hash, g->j.last_hash, 32);

    rig_reboot(g);
    assert_int_equal(g->j.count, 300);
    assert_true(g->j.intact);
    assert_int_equal(g->j.break_index, REC_JOURNAL_NO_INDEX);
    assert_int_equal(g->j.torn_index, REC_JOURNAL_NO_INDEX);
    assert_int_equal(g->j.torn_bytes, 0);
    assert_int_equal(g->j.highest_number, 599);
    assert_memory_equal(g->j.last_hash, last_hash, 32);
    uint32_t bad = 0;
    assert_int_equal(rec_journal_verify(&g->j, &bad), REC_OK);
    assert_int_equal(bad, REC_JOURNAL_NO_INDEX);

    uint8_t zero[32] = {0}, prev[32], raw[128];
    memcpy(prev, zero, 32);
    for (uint32_t i = 0; i < 300; i++) {
        assert_int_equal(rec_journal_read(&g->j, i, &out), REC_OK);
        rec_journal_record_t want = make_record(2 * i + 1);
        assert_same_payload(&out, &want);
        assert_int_equal(out.index, i);
        assert_memory_equal(out.prev_hash, prev, 32);
        assert_int_equal(rec_journal_read_raw(&g->j, i, raw), REC_OK);
        rec_journal_hash(raw, prev);
    }
    assert_int_equal(rec_journal_find_number(&g->j, 201, &out), REC_OK);
    assert_int_equal(out.index, 100);
    assert_int_equal(rec_journal_find_number(&g->j, 1, &out), REC_OK);
    assert_int_equal(out.index, 0);
    assert_int_equal(rec_journal_find_number(&g->j, 200, &out), REC_E_NOENT);
    assert_int_equal(rec_journal_read(&g->j, 300, &out), REC_E_RANGE);

    append_n(g, 1000, 5);
    assert_int_equal(rec_journal_close(&g->j), REC_OK);
    assert_int_equal(rec_fat_sync(&g->fs), REC_OK);

    /* The Linux tools agree: the volume is clean and the file holds exactly the records. */
    char img[256], out_path[256], log[4096];
    rec_tool_tmp(img, sizeof img, "journal.img");
    rec_tool_tmp(out_path, sizeof out_path, "JOURNAL.BIN");
    assert_int_equal(rec_bd_ram_save_file(&g->ram, img), 0);
    rec_tool_require("fsck.fat", "dosfstools");
    rec_tool_require("mcopy", "mtools");
    int rc = rec_tool_fsck(img, false, log, sizeof log);
    if (rc != 0) {
        fail_msg("fsck.fat -n: %d\n%s", rc, log);
    }
    assert_int_equal(rec_tool_mcopy_out(img, "::/SYSTEM/JOURNAL.BIN", out_path), 0);
    static uint8_t file[305 * 128 + 1];
    assert_int_equal(rec_tool_read_file(out_path, file, sizeof file), 305 * 128);
    memcpy(prev, zero, 32);
    for (uint32_t i = 0; i < 305; i++) {
        assert_int_equal(rec_journal_check_link(file + 128 * i, i, prev), REC_OK);
        rec_journal_hash(file + 128 * i, prev);
    }
    remove(img);
    remove(out_path);
    rig_free(g);
}

static void test_altered_record(void **state)
{
    (void)state;
    rig_t *g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    append_n(g, 1, 20);
    static uint8_t buf[64 * 128];
    const uint32_t len = file_read_all(g, buf, sizeof buf);
    assert_int_equal(len, 20 * 128);

    /* sample count of record 7 changed, everything else left as it was */
    rec_put_u32(buf + 7 * 128 + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT, 1);
    file_write_all(g, buf, len);
    rig_reboot(g);
    assert_false(g->j.intact);
    assert_int_equal(g->j.break_index, 8); /* record 8 no longer links to record 7 */
    assert_int_equal(g->j.count, 20);       /* nothing dropped: it is evidence */
    assert_int_equal(g->j.torn_index, REC_JOURNAL_NO_INDEX);
    assert_int_equal(g->j.highest_number, 20);
    uint32_t bad;
    assert_int_equal(rec_journal_verify(&g->j, &bad), REC_E_CORRUPT);
    assert_int_equal(bad, 8);
    rec_journal_record_t out;
    assert_int_equal(rec_journal_read(&g->j, 7, &out), REC_OK);
    assert_int_equal(out.sample_count, 1);

    /* the journal stays usable: appends continue after the last record */
    append_n(g, 21, 2);
    rig_reboot(g);
    assert_int_equal(g->j.count, 22);
    assert_false(g->j.intact);
    assert_int_equal(g->j.break_index, 8);
    assert_int_equal(rec_journal_read(&g->j, 21, &out), REC_OK);
    assert_int_equal(out.number, 22);

    /* magic destroyed in the middle */
    memset(buf + 3 * 128, 0, 4);
    file_write_all(g, buf, len);
    rig_reboot(g);
    assert_false(g->j.intact);
    assert_int_equal(g->j.break_index, 3);
    assert_int_equal(g->j.count, 20);
    assert_int_equal(rec_journal_read(&g->j, 3, &out), REC_E_CORRUPT);
    assert_int_equal(rec_journal_find_number(&g->j, 4, &out), REC_E_NOENT);
    assert_int_equal(rec_journal_find_number(&g->j, 5, &out), REC_OK);
    rig_free(g);
}

static void test_missing_record(void **state)
{
    (void)state;
    rig_t *g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    append_n(g, 1, 12);
    static uint8_t buf[64 * 128];
    uint32_t len = file_read_all(g, buf, sizeof buf);
    /* record 5 cut out */
    memmove(buf + 5 * 128, buf + 6 * 128, len - 6 * 128);
    len -= 128;
    file_write_all(g, buf, len);
    rig_reboot(g);
    assert_false(g->j.intact);
    assert_int_equal(g->j.break_index, 5);
    assert_int_equal(g->j.count, 11);
    assert_int_equal(g->j.highest_number, 12);
    uint32_t bad;
    assert_int_equal(rec_journal_verify(&g->j, &bad), REC_E_CORRUPT);
    assert_int_equal(bad, 5);

    /* the first record cut out */
    rig_free(g);
    g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    append_n(g, 1, 4);
    len = file_read_all(g, buf, sizeof buf);
    file_write_all(g, buf + 128, len - 128);
    rig_reboot(g);
    assert_false(g->j.intact);
    assert_int_equal(g->j.break_index, 0);
    assert_int_equal(g->j.count, 3);
    rig_free(g);
}

static void test_torn_tail(void **state)
{
    (void)state;
    rig_t *g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    append_n(g, 1, 9);
    uint8_t good_hash[32];
    memcpy(good_hash, g->j.last_hash, 32);
    static uint8_t buf[64 * 128];
    const uint32_t len = file_read_all(g, buf, sizeof buf);

    /* (a) a whole record of zeros (size written, block not) */
    memset(buf + len, 0, 128);
    file_write_all(g, buf, len + 128);
    rig_reboot(g);
    assert_true(g->j.intact);
    assert_int_equal(g->j.count, 9);
    assert_int_equal(g->j.torn_index, 9);
    assert_int_equal(g->j.torn_bytes, 128);
    assert_memory_equal(g->j.last_hash, good_hash, 32);
    assert_int_equal(rec_journal_read(&g->j, 9, &(rec_journal_record_t){0}), REC_E_RANGE);
    append_n(g, 10, 1);
    rig_reboot(g);
    assert_true(g->j.intact);
    assert_int_equal(g->j.count, 10);
    assert_int_equal(g->j.torn_index, REC_JOURNAL_NO_INDEX);
    rec_fat_dirent_t de;
    assert_int_equal(rec_fat_stat(&g->fs, REC_JOURNAL_PATH, &de), REC_OK);
    assert_int_equal(de.size, 10 * 128);

    /* (b) a partial record (57 bytes) after the last */
    uint32_t n = file_read_all(g, buf, sizeof buf);
    memset(buf + n, 0x77, 57);
    file_write_all(g, buf, n + 57);
    rig_reboot(g);
    assert_true(g->j.intact);
    assert_int_equal(g->j.count, 10);
    assert_int_equal(g->j.torn_index, REC_JOURNAL_NO_INDEX);
    assert_int_equal(g->j.torn_bytes, 57);
    append_n(g, 11, 1);
    assert_int_equal(rec_fat_stat(&g->fs, REC_JOURNAL_PATH, &de), REC_OK);
    assert_int_equal(de.size, 11 * 128);

    /* (c) a stale but well-formed record from an older journal (right magic and index, wrong
     * prevHash), plus a partial one after it */
    n = file_read_all(g, buf, sizeof buf);
    rec_journal_record_t stale = make_record(500);
    stale.index = 11;
    memset(stale.prev_hash, 0x33, 32);
    rec_journal_encode(&stale, buf + n);
    memset(buf + n + 128, 0x11, 100);
    file_write_all(g, buf, n + 228);
    rig_reboot(g);
    assert_true(g->j.intact);
    assert_int_equal(g->j.count, 11);
    assert_int_equal(g->j.torn_index, 11);
    assert_int_equal(g->j.torn_bytes, 228);
    assert_int_equal(g->j.highest_number, 11); /* the torn record's number does not count */
    append_n(g, 12, 2);
    rig_reboot(g);
    assert_true(g->j.intact);
    assert_int_equal(g->j.count, 13);
    assert_int_equal(g->j.torn_bytes, 0);
    assert_int_equal(rec_fat_stat(&g->fs, REC_JOURNAL_PATH, &de), REC_OK);
    assert_int_equal(de.size, 13 * 128);
    assert_int_equal(rec_journal_verify(&g->j, NULL), REC_OK);

    /* (d) the only record torn */
    rig_free(g);
    g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    memset(buf, 0xFF, 128);
    file_write_all(g, buf, 128);
    rig_reboot(g);
    assert_true(g->j.intact);
    assert_int_equal(g->j.count, 0);
    assert_int_equal(g->j.torn_index, 0);
    append_n(g, 1, 1);
    rig_reboot(g);
    assert_int_equal(g->j.count, 1);
    assert_true(g->j.intact);
    rig_free(g);
}

/* The file changed under an open journal: verify notices. */
static void test_verify_detects_change(void **state)
{
    (void)state;
    rig_t *g = rig_new();
    assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
    append_n(g, 1, 6);
    assert_int_equal(rec_journal_verify(&g->j, NULL), REC_OK);
    static uint8_t buf[64 * 128];
    const uint32_t len = file_read_all(g, buf, sizeof buf);
    buf[5 * 128 + RP_JOURNAL_RECORD_OFF_OVERRUNS] ^= 1; /* the last record: no successor */
    file_write_all(g, buf, len);
    /* re-read the journal's own view through a fresh mount so no cache hides the change */
    rec_journal_t *j = &g->j;
    j->fs = &g->fs;
    assert_int_equal(rec_fat_open(&g->fs, &j->file, REC_JOURNAL_PATH, REC_FAT_READ | REC_FAT_WRITE), REC_OK);
    assert_int_equal(rec_journal_verify(j, NULL), REC_E_MISMATCH);
    rig_free(g);
}

/* A power cut at every block write of an append, whole-block and torn multi-block writes: after
 * power comes back the journal opens intact with either the old or the new record count, an
 * append that reported success is always there, and the next append works. */
static void power_cut_sweep(uint32_t base, bool torn)
{
    rig_t *g = rig_new();
    if (base > 0) {
        assert_int_equal(rec_journal_open(&g->j, &g->fs), REC_OK);
        append_n(g, 1, base);
    }
    assert_int_equal(rec_fat_sync(&g->fs), REC_OK);
    const size_t size = rec_bd_ram_size(&g->ram);
    uint8_t *baseline = malloc(size);
    assert_non_null(baseline);
    memcpy(baseline, g->ram.data, size);
    rec_bd_ram_restore(&g->ram, baseline); /* start tracking written blocks */

    unsigned cuts = 0, survived_new = 0;
    for (uint64_t budget = 0;; budget++) {
        rec_bd_ram_restore(&g->ram, baseline);
        rec_bd_ram_power_on(&g->ram);
        assert_int_equal(rec_fat_mount(&g->fs, &g->ram.bd), REC_OK);
        rec_bd_ram_cut_after(&g->ram, budget, torn);

        int err = rec_journal_open(&g->j, &g->fs);
        rec_journal_record_t r = make_record(base + 1);
        if (err == REC_OK) {
            err = rec_journal_append(&g->j, &r);
        }
        const bool was_cut = g->ram.cut;
        if (err == REC_OK && !was_cut) {
            break; /* budget large enough: the sweep is complete */
        }
        cuts++;

        rig_reboot(g);
        if (!g->j.intact) {
            fail_msg("budget %llu: chain broken at %u", (unsigned long long)budget, g->j.break_index);
        }
        if (err == REC_OK) {
            assert_int_equal(g->j.count, base + 1); /* reported durable: must be there */
        }
        assert_true(g->j.count == base || g->j.count == base + 1);
        if (g->j.count == base + 1) {
            survived_new++;
            rec_journal_record_t out;
            assert_int_equal(rec_journal_read(&g->j, base, &out), REC_OK);
            assert_same_payload(&out, &r);
        }
        assert_int_equal(rec_journal_verify(&g->j, NULL), REC_OK);
        /* and the journal takes the next record */
        rec_journal_record_t next = make_record(base + 5);
        assert_int_equal(rec_journal_append(&g->j, &next), REC_OK);
        rig_reboot(g);
        assert_true(g->j.intact);
        assert_int_equal(g->j.torn_index, REC_JOURNAL_NO_INDEX);
        assert_int_equal(g->j.highest_number, base + 5);
        assert_int_equal(rec_journal_verify(&g->j, NULL), REC_OK);
        assert_true(budget < 1000);
    }
    print_message("power cuts (%u records before, %s): %u cut points, new record survived %u times\n", base,
                  torn ? "torn writes" : "whole writes", cuts, survived_new);
    assert_true(cuts >= 2);
    free(baseline);
    rig_free(g);
}

static void test_power_cut_append(void **state)
{
    (void)state;
    power_cut_sweep(10, false); /* record goes into an allocated cluster */
    power_cut_sweep(10, true);
    power_cut_sweep(12, false); /* record needs a new cluster: FAT and FSInfo writes too */
    power_cut_sweep(12, true);
}

static void test_power_cut_first_open(void **state)
{
    (void)state;
    power_cut_sweep(0, false); /* creates SYSTEM/ and JOURNAL.BIN first */
    power_cut_sweep(0, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_create_append_reopen),
        cmocka_unit_test(test_altered_record),
        cmocka_unit_test(test_missing_record),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_verify_detects_change),
        cmocka_unit_test(test_power_cut_append),
        cmocka_unit_test(test_power_cut_first_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
