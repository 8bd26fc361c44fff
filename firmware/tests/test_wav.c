/* Broadcast Wave files: header layout, size patching, evid chunk, the strict parser (including
 * random mutations), and real files checked with ffprobe, sox and mediainfo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/sha256.h"
#include "rec/wav.h"

#define DEVICE_ID 0x0123456789ABCDEFull
/* 2024-02-29T13:45:07.250Z */
#define START_MS 1709214307250LL

static rec_wav_info_t info_for(uint32_t rate, bool clock_set, int64_t start)
{
    rec_wav_info_t i = {.sample_rate = rate, .device_id = DEVICE_ID, .number = 42, .model = NULL,
                        .clock_set = clock_set, .start_unix_ms = start};
    return i;
}

static void test_header_layout(void **state)
{
    (void)state;
    uint8_t h[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(16000, true, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);

    assert_memory_equal(h, "RIFF", 4);
    assert_int_equal(rec_get_u32(h + 4), 1016);
    assert_memory_equal(h + 8, "WAVEfmt ", 8);
    assert_int_equal(rec_get_u32(h + 16), 16);
    assert_int_equal(rec_get_u16(h + 20), 1);
    assert_int_equal(rec_get_u16(h + 22), 1);
    assert_int_equal(rec_get_u32(h + 24), 16000);
    assert_int_equal(rec_get_u32(h + 28), 32000);
    assert_int_equal(rec_get_u16(h + 32), 2);
    assert_int_equal(rec_get_u16(h + 34), 16);
    assert_memory_equal(h + 36, "bext", 4);
    const uint32_t bext_size = rec_get_u32(h + 40);
    assert_true(bext_size >= 602 && bext_size % 2 == 0);
    const uint8_t *b = h + 44;
    assert_non_null(strstr((const char *)b, "Evidence recording REC00042 by ER-1 device 0123456789ABCDEF"));
    assert_non_null(strstr((const char *)b, "2024-02-29T13:45:07.250Z"));
    assert_string_equal((const char *)b + 256, "ER-1 0123456789ABCDEF");
    assert_string_equal((const char *)b + 288, "0123456789ABCDEF-00042");
    assert_memory_equal(b + 320, "2024-02-2913:45:07", 18);
    /* samples since midnight: 49507.25 s * 16000 */
    assert_int_equal(rec_get_u64(b + 338), 49507250ull * 16);
    assert_int_equal(rec_get_u16(b + 346), 1);
    for (unsigned i = 348; i < 602; i++) {
        assert_int_equal(b[i], 0); /* UMID, loudness, reserved */
    }
    assert_string_equal((const char *)b + 602, "A=PCM,F=16000,W=16,M=mono,T=ER-1\r\n");
    assert_int_equal(bext_size, 602 + 36);
    const uint32_t junk = 44 + bext_size;
    assert_memory_equal(h + junk, "JUNK", 4);
    assert_int_equal(junk + 8 + rec_get_u32(h + junk + 4), 1016);
    assert_memory_equal(h + 1016, "data", 4);
    assert_int_equal(rec_get_u32(h + 1020), 0);

    rec_wav_header_t p;
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_int_equal(p.sample_rate, 16000);
    assert_int_equal(p.data_offset, 1024);
    assert_int_equal(p.data_size, 0);
    assert_true(p.sizes_consistent);
    assert_false(p.riff_has_evid);
    assert_true(p.clock_set);
    assert_int_equal(p.start_unix_ms, START_MS);
    assert_int_equal(p.device_id, DEVICE_ID);
    assert_int_equal(p.number, 42);
}

static void test_header_clock_unset_and_bad_input(void **state)
{
    (void)state;
    uint8_t h[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(8000, false, 123456);
    info.model = "ER-1 sim with a very long model name";
    info.number = 4000000000u;
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    const uint8_t *b = h + 44;
    assert_non_null(strstr((const char *)b, "DEVICE CLOCK NOT SET"));
    assert_memory_equal(b + 320, "0000-00-0000:00:00", 18);
    assert_int_equal(rec_get_u64(b + 338), 0);
    /* model cut, id kept whole */
    assert_int_equal(strnlen((const char *)b + 256, 32), 32);
    assert_memory_equal(b + 256 + 15, " 0123456789ABCDEF", 17);
    rec_wav_header_t p;
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_false(p.clock_set);
    assert_int_equal(p.start_unix_ms, 0);
    assert_int_equal(p.number, 4000000000u);
    assert_int_equal(p.device_id, DEVICE_ID);
    assert_int_equal(p.sample_rate, 8000);

    info = info_for(44100, true, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_E_INVAL);
    info = info_for(16000, true, -1);
    assert_int_equal(rec_wav_build_header(h, &info), REC_E_INVAL);
    info = info_for(16000, true, 253402300800000LL);
    assert_int_equal(rec_wav_build_header(h, &info), REC_E_INVAL);
}

/* Start times survive the header exactly, at every rate, across calendar edges. */
static void test_time_roundtrip(void **state)
{
    (void)state;
    static const int64_t times[] = {0, 1, 999, 86399999, 86400000, 951782400000LL /* 2000-02-29 */,
                                    4107542399999LL /* 2100-02-28T23:59:59.999 */, 253402300799999LL, START_MS};
    static const uint32_t rates[] = RP_SAMPLE_RATES;
    uint8_t h[REC_WAV_HEADER_SIZE];
    uint32_t seed = 7;
    for (size_t r = 0; r < REC_COUNT_OF(rates); r++) {
        for (size_t t = 0; t < REC_COUNT_OF(times) + 200; t++) {
            int64_t ms;
            if (t < REC_COUNT_OF(times)) {
                ms = times[t];
            } else {
                seed = seed * 1103515245u + 12345u;
                ms = (int64_t)(((uint64_t)seed << 20) ^ (uint64_t)seed) % 4102444800000LL;
            }
            rec_wav_info_t info = info_for(rates[r], true, ms);
            assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
            rec_wav_header_t p;
            assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
            assert_true(p.clock_set);
            assert_int_equal(p.start_unix_ms, ms);
            assert_int_equal(p.sample_rate, rates[r]);
        }
    }
}

static void test_sizes_and_patch(void **state)
{
    (void)state;
    rec_wav_sizes_t s;
    assert_int_equal(rec_wav_sizes(0, 0, &s), REC_OK);
    assert_int_equal(s.riff_size, 1016);
    assert_int_equal(s.file_size, 1024);
    assert_int_equal(s.evid_offset, 1024);
    assert_int_equal(rec_wav_sizes(32000, REC_WAV_EVID_CHUNK_BYTES, &s), REC_OK);
    assert_int_equal(s.data_size, 32000);
    assert_int_equal(s.evid_offset, 33024);
    assert_int_equal(s.file_size, 33024 + 80);
    assert_int_equal(s.riff_size, 33024 + 80 - 8);
    assert_int_equal(rec_wav_sizes(33, REC_WAV_EVID_CHUNK_BYTES, &s), REC_OK); /* odd: pad byte before evid */
    assert_int_equal(s.evid_offset, 1024 + 34);
    assert_int_equal(s.riff_size, 1024 + 34 + 80 - 8);
    assert_int_equal(rec_wav_sizes(REC_WAV_MAX_DATA_BYTES, REC_WAV_EVID_CHUNK_BYTES, &s), REC_OK);
    assert_true((uint64_t)s.file_size <= 0xFFFFFFFFull);
    assert_int_equal(REC_WAV_MAX_DATA_BYTES % 512, 0);
    assert_int_equal(rec_wav_sizes(REC_WAV_MAX_DATA_BYTES + 512u, 0, &s), REC_E_TOOBIG);

    uint8_t h[REC_WAV_HEADER_SIZE], blk[512];
    rec_wav_info_t info = info_for(48000, true, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    /* block 0 holds the RIFF size only, block 1 the data size only */
    memcpy(blk, h, 512);
    assert_int_equal(rec_wav_patch(blk, 0, 512, 96000, 0), 1);
    assert_int_equal(rec_get_u32(blk + 4), 1016 + 96000);
    memcpy(h, blk, 512);
    memcpy(blk, h + 512, 512);
    assert_int_equal(rec_wav_patch(blk, 512, 512, 96000, 0), 1);
    assert_int_equal(rec_get_u32(blk + 508), 96000);
    memcpy(h + 512, blk, 512);
    rec_wav_header_t p;
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_int_equal(p.data_size, 96000);
    assert_true(p.sizes_consistent);
    assert_false(p.riff_has_evid);
    /* with evid, the whole header at once */
    assert_int_equal(rec_wav_patch(h, 0, sizeof h, 96000, REC_WAV_EVID_CHUNK_BYTES), 2);
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_true(p.sizes_consistent);
    assert_true(p.riff_has_evid);
    /* power cut between the two block writes: reported, not rejected */
    memcpy(blk, h, 512);
    assert_int_equal(rec_wav_patch(blk, 0, 512, 128000, 0), 1);
    memcpy(h, blk, 512);
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_false(p.sizes_consistent);
    assert_int_equal(p.riff_size, 1016 + 128000);
    assert_int_equal(p.data_size, 96000);
    /* blocks that hold neither field; a field cut by the buffer edge */
    assert_int_equal(rec_wav_patch(blk, 2048, 512, 100, 0), 0);
    assert_int_equal(rec_wav_patch(blk, 0, 6, 100, 0), REC_E_INVAL);
    assert_int_equal(rec_wav_patch(blk, 1022, 2, 100, 0), REC_E_INVAL);
    assert_int_equal(rec_wav_patch(blk, 0, 512, REC_WAV_MAX_DATA_BYTES + 2u, 0), REC_E_TOOBIG);
}

static rec_wav_evid_t sample_evid(void)
{
    rec_wav_evid_t e = {.number = 42, .device_id = DEVICE_ID, .sample_rate = 16000, .sample_count = 40000,
                        .start_unix_ms = START_MS, .stop_reason = RP_STOP_BUTTON, .flags = RP_RECORD_FLAG_CLOCK_SET,
                        .overruns = 17};
    for (int i = 0; i < 32; i++) {
        e.sha256[i] = (uint8_t)(i * 7 + 1);
    }
    return e;
}

static void test_evid(void **state)
{
    (void)state;
    uint8_t c[REC_WAV_EVID_CHUNK_BYTES + 16];
    rec_wav_evid_t e = sample_evid(), d;
    assert_int_equal(rec_wav_build_evid(c, &e), 80);
    assert_memory_equal(c, "evid", 4);
    assert_int_equal(rec_get_u32(c + 4), 72);
    assert_int_equal(rec_get_u16(c + 8), 1);
    assert_int_equal(rec_get_u16(c + 10), 72);
    assert_int_equal(rec_get_u32(c + 8 + RP_EVIDENCE_CHUNK_OFF_OVERRUNS), 17);
    assert_int_equal(rec_wav_parse_evid(c, 80, &d), REC_OK);
    assert_int_equal(d.version, 1);
    assert_int_equal(d.number, 42);
    assert_int_equal(d.device_id, DEVICE_ID);
    assert_int_equal(d.sample_rate, 16000);
    assert_int_equal(d.sample_count, 40000);
    assert_int_equal(d.start_unix_ms, START_MS);
    assert_int_equal(d.stop_reason, RP_STOP_BUTTON);
    assert_int_equal(d.flags, RP_RECORD_FLAG_CLOCK_SET);
    assert_int_equal(d.overruns, 17);
    assert_memory_equal(d.sha256, e.sha256, 32);
    /* negative start time (clock before 1970 is nonsense but must round-trip as i64) */
    e.start_unix_ms = -5;
    rec_wav_build_evid(c, &e);
    assert_int_equal(rec_wav_parse_evid(c, 80, &d), REC_OK);
    assert_int_equal(d.start_unix_ms, -5);

    /* rejections */
    rec_wav_build_evid(c, &e);
    for (size_t len = 0; len < 80; len++) {
        assert_int_equal(rec_wav_parse_evid(c, len, &d), REC_E_CORRUPT);
    }
    uint8_t m[sizeof c];
    memcpy(m, c, 80);
    m[0] = 'E';
    assert_int_equal(rec_wav_parse_evid(m, 80, &d), REC_E_CORRUPT);
    memcpy(m, c, 80);
    rec_put_u32(m + 4, 71);
    assert_int_equal(rec_wav_parse_evid(m, 80, &d), REC_E_CORRUPT);
    rec_put_u32(m + 4, 0xFFFFFFFFu);
    assert_int_equal(rec_wav_parse_evid(m, 80, &d), REC_E_CORRUPT);
    memcpy(m, c, 80);
    rec_put_u16(m + 8, 2);
    assert_int_equal(rec_wav_parse_evid(m, 80, &d), REC_E_CORRUPT);
    memcpy(m, c, 80);
    rec_put_u16(m + 10, 73);
    assert_int_equal(rec_wav_parse_evid(m, 80, &d), REC_E_CORRUPT);
    memcpy(m, c, 80);
    rec_put_u32(m + 8 + RP_EVIDENCE_CHUNK_OFF_SAMPLE_RATE, 44100);
    assert_int_equal(rec_wav_parse_evid(m, 80, &d), REC_E_CORRUPT);
    /* a longer (later-version-compatible) payload is accepted */
    memcpy(m, c, 80);
    rec_put_u32(m + 4, 80);
    memset(m + 80, 0xAA, 8);
    assert_int_equal(rec_wav_parse_evid(m, 88, &d), REC_OK);
    assert_int_equal(rec_wav_parse_evid(m, 87, &d), REC_E_CORRUPT);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    uint8_t h[REC_WAV_HEADER_SIZE], m[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(32000, true, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    rec_wav_header_t p;
    assert_int_equal(rec_wav_parse_header(h, 1023, &p), REC_E_CORRUPT);
    assert_int_equal(rec_wav_parse_header(NULL, 1024, &p), REC_E_CORRUPT);
    struct {
        unsigned off;
        uint8_t val;
    } edits[] = {
        {0, 'X'},          /* RIFF */
        {8, 'X'},          /* WAVE */
        {12, 'X'},         /* fmt id: becomes an unknown chunk, then no fmt */
        {16, 18},          /* fmt size */
        {20, 3},           /* format: float */
        {22, 2},           /* stereo */
        {24, 0x45},        /* rate 32069 */
        {28, 0},           /* byte rate */
        {32, 4},           /* block align */
        {34, 24},          /* bits */
        {36, 'X'},         /* bext id */
        {40, 0xFF},        /* bext size */
        {43, 0x80},        /* bext size huge */
        {44 + 256, 0},     /* originator emptied at the start, rest not NUL */
        {44 + 256 + 4, 'x'}, /* originator: no space before id */
        {44 + 256 + 10, 'g'}, /* originator id hex */
        {44 + 288 + 3, 'X'}, /* reference id differs */
        {44 + 288 + 16, '+'},
        {44 + 288 + 20, 'a'},
        {44 + 320 + 4, '/'}, /* date format */
        {44 + 320 + 5, '1'}, /* month 12 -> 12? (02 -> 12 is valid, so use 1x) */
        {44 + 320 + 8, '3'}, /* day 39 */
        {44 + 330, '3'},     /* hour 33 */
        {44 + 330 + 3, '6'}, /* minute 65 */
        {44 + 340, 0x00},    /* timeref disagrees with time (by multiples of 65536 samples) */
        {44 + 346, 2},       /* bext version */
        {1016, 'X'},         /* data id */
    };
    for (size_t i = 0; i < REC_COUNT_OF(edits); i++) {
        memcpy(m, h, sizeof h);
        if (m[edits[i].off] == edits[i].val) {
            m[edits[i].off] ^= 0x01;
        } else {
            m[edits[i].off] = edits[i].val;
        }
        if (edits[i].off == 44 + 320 + 5) {
            m[44 + 320 + 6] = '9'; /* month 19 */
        }
        int err = rec_wav_parse_header(m, sizeof m, &p);
        if (err != REC_E_CORRUPT) {
            fail_msg("edit %zu at offset %u: got %d", i, edits[i].off, err);
        }
    }
    /* data size beyond the limit */
    memcpy(m, h, sizeof h);
    rec_put_u32(m + 1020, REC_WAV_MAX_DATA_BYTES + 2u);
    assert_int_equal(rec_wav_parse_header(m, sizeof m, &p), REC_E_CORRUPT);
    rec_put_u32(m + 1020, REC_WAV_MAX_DATA_BYTES);
    assert_int_equal(rec_wav_parse_header(m, sizeof m, &p), REC_OK);
    /* JUNK id replaced by zeros */
    memcpy(m, h, sizeof h);
    memset(m + 44 + rec_get_u32(h + 40), 0, 4);
    assert_int_equal(rec_wav_parse_header(m, sizeof m, &p), REC_E_CORRUPT);
    /* JUNK shortened so that data no longer starts at 1016 */
    memcpy(m, h, sizeof h);
    const uint32_t junk = 44 + rec_get_u32(h + 40);
    rec_put_u32(m + junk + 4, rec_get_u32(h + junk + 4) - 2);
    assert_int_equal(rec_wav_parse_header(m, sizeof m, &p), REC_E_CORRUPT);
    /* clock-unset date with a nonzero time */
    info = info_for(32000, false, 0);
    assert_int_equal(rec_wav_build_header(m, &info), REC_OK);
    m[44 + 330 + 7] = '1';
    assert_int_equal(rec_wav_parse_header(m, sizeof m, &p), REC_E_CORRUPT);
}

/* Random corruption must never crash or read out of bounds (ASan watches), and the few
 * mutations that leave a valid header must still give sane values. */
static void test_parse_fuzz(void **state)
{
    (void)state;
    uint8_t h[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(16000, true, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    uint32_t seed = 99;
    unsigned ok = 0;
    for (int iter = 0; iter < 200000; iter++) {
        /* the exact-size heap copy lets ASan catch any read past the end */
        uint8_t *m = malloc(sizeof h);
        assert_non_null(m);
        memcpy(m, h, sizeof h);
        seed = seed * 1103515245u + 12345u;
        const int edits = 1 + (int)((seed >> 16) % 4);
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            const unsigned off = (seed >> 8) % sizeof h;
            seed = seed * 1103515245u + 12345u;
            m[off] = (seed >> 24) & 1 ? (uint8_t)(seed >> 16) : (uint8_t)(m[off] ^ (1u << ((seed >> 16) & 7)));
        }
        rec_wav_header_t p;
        if (rec_wav_parse_header(m, sizeof h, &p) == REC_OK) {
            ok++;
            assert_int_equal(p.data_offset, 1024);
            assert_true(p.data_size <= REC_WAV_MAX_DATA_BYTES);
        }
        rec_wav_evid_t ev;
        (void)rec_wav_parse_evid(m + 1000, 24, &ev);
        free(m);
    }
    /* pure random bytes */
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t *m = malloc(sizeof h);
        assert_non_null(m);
        for (size_t i = 0; i < sizeof h; i++) {
            seed = seed * 1103515245u + 12345u;
            m[i] = (uint8_t)(seed >> 16);
        }
        memcpy(m, "RIFF", 4);
        memcpy(m + 8, "WAVEfmt ", 8);
        rec_wav_header_t p;
        assert_int_equal(rec_wav_parse_header(m, sizeof h, &p), REC_E_CORRUPT);
        rec_wav_evid_t ev;
        memcpy(m, "evid", 4);
        const size_t len = (size_t)(seed % 200);
        (void)rec_wav_parse_evid(m, len, &ev);
        free(m);
    }
    print_message("fuzz: %u mutated headers still parsed\n", ok);
}

/* ---- Real files and real tools ---------------------------------------------------------------- */

static void need_tool(const char *tool, const char *package)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    if (system(cmd) != 0) {
        fail_msg("%s not found: install the Debian package %s", tool, package);
    }
}

static char *run_capture(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n;
    while ((n = fread(out + len, 1, cap - 1 - len, f)) > 0) {
        len += n;
        if (len == cap - 1) {
            break;
        }
    }
    out[len] = 0;
    int rc = pclose(f);
    if (rc != 0) {
        fail_msg("command failed (%d): %s\n%s", rc, cmd, out);
    }
    return out;
}

static void expect_contains(const char *hay, const char *needle, const char *what)
{
    if (!strstr(hay, needle)) {
        fail_msg("%s: expected \"%s\" in:\n%s", what, needle, hay);
    }
}

/* Writes a recording: header, ramp samples, then either final sizes and the evid chunk, or (a
 * power cut) sizes patched for only `patched_samples` and no evid chunk. */
static bool g_clock_set = true;
/* Markers write_wav puts before the evid chunk of a finished file. */
static const uint32_t *g_markers;
static uint32_t g_marker_count;

static void write_wav(const char *path, uint32_t rate, uint32_t samples, bool finished, uint32_t patched_samples)
{
    uint8_t h[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(rate, g_clock_set, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fail_msg("cannot create %s", path);
    }
    assert_int_equal(fwrite(h, 1, sizeof h, f), sizeof h);
    rec_sha256_t sha;
    rec_sha256_init(&sha);
    int16_t buf[1000];
    uint8_t le[2000];
    for (uint32_t done = 0; done < samples;) {
        uint32_t n = samples - done < 1000 ? samples - done : 1000;
        for (uint32_t i = 0; i < n; i++) {
            buf[i] = (int16_t)(((done + i) % 200u) * 300u - 30000); /* 80 Hz sawtooth at 16 kHz */
            rec_put_u16(le + 2 * i, (uint16_t)buf[i]);
        }
        assert_int_equal(fwrite(le, 1, 2 * n, f), 2 * n);
        rec_sha256_update(&sha, le, 2 * n);
        done += n;
    }
    if (finished) {
        rec_wav_evid_t e = sample_evid();
        e.sample_rate = rate;
        e.sample_count = samples;
        rec_sha256_final(&sha, e.sha256);
        static uint8_t c[REC_WAV_TAIL_MAX_BYTES];
        const uint32_t n = rec_wav_build_tail(c, g_markers, g_marker_count, samples * 2u, &e);
        assert_int_equal(fwrite(c, 1, n, f), n);
        assert_int_equal(rec_wav_patch(h, 0, sizeof h, samples * 2u, n), 2);
    } else {
        assert_int_equal(rec_wav_patch(h, 0, 512, patched_samples * 2u, 0), 1);
        assert_int_equal(rec_wav_patch(h + 512, 512, 512, patched_samples * 2u, 0), 1);
    }
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    assert_int_equal(fwrite(h, 1, sizeof h, f), sizeof h);
    assert_int_equal(fclose(f), 0);
}

static void check_ffprobe(const char *path, uint32_t rate, const char *duration)
{
    need_tool("ffprobe", "ffmpeg");
    char cmd[512], want[64];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -show_streams -show_format -of json '%s' 2>&1", path);
    char *out = run_capture(cmd);
    expect_contains(out, "\"codec_name\": \"pcm_s16le\"", "ffprobe");
    expect_contains(out, "\"channels\": 1", "ffprobe");
    snprintf(want, sizeof want, "\"sample_rate\": \"%u\"", rate);
    expect_contains(out, want, "ffprobe");
    snprintf(want, sizeof want, "\"duration\": \"%s\"", duration);
    expect_contains(out, want, "ffprobe");
    expect_contains(out, "\"format_name\": \"wav\"", "ffprobe");
    free(out);
}

static void check_sox(const char *path, uint32_t rate, uint32_t samples)
{
    need_tool("sox", "sox");
    char cmd[512], want[64];
    snprintf(cmd, sizeof cmd, "sox --i '%s' 2>&1", path);
    char *out = run_capture(cmd);
    snprintf(want, sizeof want, "Sample Rate    : %u", rate);
    expect_contains(out, want, "sox --i");
    expect_contains(out, "Channels       : 1", "sox --i");
    expect_contains(out, "Precision      : 16-bit", "sox --i");
    if (samples > 0) {
        snprintf(want, sizeof want, "= %u samples", samples);
        expect_contains(out, want, "sox --i");
    } else if (strstr(out, "Duration") && !strstr(out, "= 0 samples")) {
        fail_msg("sox --i: expected no samples in:\n%s", out);
    }
    free(out);
    /* sox decodes every sample without complaint */
    snprintf(cmd, sizeof cmd, "sox '%s' -n stat 2>&1", path);
    out = run_capture(cmd);
    expect_contains(out, "Samples read:", "sox stat");
    free(out);
}

static void test_file_finished(void **state)
{
    (void)state;
    const char *path = REC_TEST_TMPDIR "/wav_finished.wav";
    write_wav(path, 16000, 40000, true, 0);
    check_ffprobe(path, 16000, "2.500000");
    check_sox(path, 16000, 40000);

    need_tool("mediainfo", "mediainfo");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mediainfo '%s' 2>&1", path);
    char *out = run_capture(cmd);
    expect_contains(out, "ER-1 0123456789ABCDEF", "mediainfo (bext Originator)");
    expect_contains(out, "0123456789ABCDEF-00042", "mediainfo (bext OriginatorReference)");
    expect_contains(out, "PCM", "mediainfo");
    free(out);

    /* our own parser reads it back, including the evid chunk at the computed offset */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t h[REC_WAV_HEADER_SIZE], c[REC_WAV_EVID_CHUNK_BYTES];
    assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
    rec_wav_header_t p;
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_true(p.riff_has_evid);
    assert_int_equal(p.data_size, 80000);
    rec_wav_sizes_t s;
    assert_int_equal(rec_wav_sizes(p.data_size, REC_WAV_EVID_CHUNK_BYTES, &s), REC_OK);
    assert_int_equal(fseek(f, (long)s.evid_offset, SEEK_SET), 0);
    assert_int_equal(fread(c, 1, sizeof c, f), sizeof c);
    assert_int_equal(fgetc(f), EOF);
    assert_int_equal(fclose(f), 0);
    rec_wav_evid_t e;
    assert_int_equal(rec_wav_parse_evid(c, sizeof c, &e), REC_OK);
    assert_int_equal(e.sample_count, 40000);
    assert_int_equal(e.sample_rate, 16000);
}

static void test_file_other_rates(void **state)
{
    (void)state;
    const char *path = REC_TEST_TMPDIR "/wav_rate.wav";
    write_wav(path, 8000, 8000 * 3 + 100, true, 0);
    check_ffprobe(path, 8000, "3.012500");
    write_wav(path, 48000, 48000, true, 0);
    check_ffprobe(path, 48000, "1.000000");
    check_sox(path, 48000, 48000);
}

/* Power cut: 1.5 s of audio on the card, sizes last patched at 1 s, no evid chunk. */
static void test_file_truncated(void **state)
{
    (void)state;
    const char *path = REC_TEST_TMPDIR "/wav_truncated.wav";
    write_wav(path, 16000, 24000, false, 16000);
    check_ffprobe(path, 16000, "1.000000");
    check_sox(path, 16000, 16000);
    /* and with the sizes patched to everything written */
    write_wav(path, 16000, 24000, false, 24000);
    check_ffprobe(path, 16000, "1.500000");
    check_sox(path, 16000, 24000);
    /* header never patched (cut in the first second): a valid, empty WAV */
    write_wav(path, 16000, 5000, false, 0);
    check_sox(path, 16000, 0);
}

/* Clock never set: the tools still read the file; the text says the time is unknown. */
static void test_file_clock_unset(void **state)
{
    (void)state;
    const char *path = REC_TEST_TMPDIR "/wav_noclock.wav";
    g_clock_set = false;
    write_wav(path, 16000, 16000, true, 0);
    g_clock_set = true;
    check_ffprobe(path, 16000, "1.000000");
    check_sox(path, 16000, 16000);
    need_tool("mediainfo", "mediainfo");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mediainfo '%s' 2>&1", path);
    char *out = run_capture(cmd);
    expect_contains(out, "DEVICE CLOCK NOT SET", "mediainfo (bext Description)");
    free(out);
}

/* A model name of any length cannot push the header past 1024 bytes. */
static void test_long_model(void **state)
{
    (void)state;
    char model[600];
    memset(model, 'M', sizeof model - 1);
    model[sizeof model - 1] = 0;
    uint8_t h[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(48000, true, START_MS);
    info.model = model;
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    rec_wav_header_t p;
    assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
    assert_int_equal(p.device_id, DEVICE_ID);
    assert_int_equal(rec_get_u32(h + 40), 602 + REC_WAV_MAX_CODING_HISTORY);
}

/* The "cue " and "LIST"/"adtl" chunks parsed back, as a reader of standard WAV files would: the
 * points (ids 1..n, "data", the offsets) and one "Marker N" label per point. Returns the bytes. */
static uint32_t parse_markers(const uint8_t *p, uint32_t len, const uint32_t *want, uint32_t n)
{
    assert_true(len >= 12u);
    assert_memory_equal(p, "cue ", 4);
    const uint32_t cue = rec_get_u32(p + 4);
    assert_int_equal(cue, 4u + 24u * n);
    assert_int_equal(rec_get_u32(p + 8), n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *c = p + 12 + 24 * i;
        assert_int_equal(rec_get_u32(c), i + 1u);
        assert_int_equal(rec_get_u32(c + 4), want[i]);
        assert_memory_equal(c + 8, "data", 4);
        assert_int_equal(rec_get_u32(c + 12), 0);
        assert_int_equal(rec_get_u32(c + 16), 0);
        assert_int_equal(rec_get_u32(c + 20), want[i]);
    }
    const uint8_t *l = p + 8 + cue;
    assert_memory_equal(l, "LIST", 4);
    const uint32_t list = rec_get_u32(l + 4);
    assert_memory_equal(l + 8, "adtl", 4);
    uint32_t at = 12, label = 0;
    while (at < 8u + list) {
        assert_memory_equal(l + at, "labl", 4);
        const uint32_t size = rec_get_u32(l + at + 4);
        assert_int_equal(rec_get_u32(l + at + 8), label + 1u);
        char text[16];
        snprintf(text, sizeof text, "Marker %u", label + 1u);
        assert_int_equal(size, 4u + strlen(text) + 1u);
        assert_memory_equal(l + at + 12, text, strlen(text) + 1u);
        if (size & 1u) assert_int_equal(l[at + 8 + size], 0);
        at += 8u + size + (size & 1u);
        label++;
    }
    assert_int_equal(at, 8u + list);
    assert_int_equal(label, n);
    const uint32_t total = 8u + cue + 8u + list;
    assert_true(total <= len);
    return total;
}

static void test_markers(void **state)
{
    (void)state;
    assert_int_equal(rec_wav_markers_size(0), 0);
    assert_int_equal(rec_wav_build_markers(NULL, NULL, 0), 0);
    static uint32_t offsets[RP_CARD_MAX_MARKERS];
    for (uint32_t i = 0; i < RP_CARD_MAX_MARKERS; i++) offsets[i] = i * 1601u;
    static uint8_t buf[REC_WAV_TAIL_MAX_BYTES + 64];
    for (uint32_t n = 1; n <= RP_CARD_MAX_MARKERS; n++) {
        memset(buf, 0xEE, sizeof buf);
        const uint32_t len = rec_wav_build_markers(buf, offsets, n);
        assert_int_equal(len, rec_wav_markers_size(n));
        assert_int_equal(parse_markers(buf, len, offsets, n), len);
        assert_int_equal(buf[len], 0xEE); /* nothing written past it */
    }
    assert_int_equal(rec_wav_markers_size(RP_CARD_MAX_MARKERS), REC_WAV_MARKERS_MAX_BYTES);

    /* The tail: markers past the audio are left out (lost with it), then the evid chunk last. */
    rec_wav_evid_t e = sample_evid();
    const uint32_t at[3] = { 0, 100, 5000 };
    uint32_t len = rec_wav_build_tail(buf, at, 3, 2u * 4000u, &e);
    uint32_t m = parse_markers(buf, len, at, 2);
    assert_int_equal(len, m + REC_WAV_EVID_CHUNK_BYTES);
    rec_wav_evid_t back;
    assert_int_equal(rec_wav_parse_evid(buf + m, REC_WAV_EVID_CHUNK_BYTES, &back), REC_OK);
    assert_int_equal(rec_wav_build_tail(buf, at, 3, 2u * 5000u, &e), rec_wav_markers_size(3) + REC_WAV_EVID_CHUNK_BYTES);
    assert_int_equal(rec_wav_build_tail(buf, at, 0, 2u * 5000u, &e), REC_WAV_EVID_CHUNK_BYTES);
    /* None at all when the file would pass FAT32's 4 GiB - 1. */
    assert_int_equal(rec_wav_build_tail(buf, offsets, RP_CARD_MAX_MARKERS, REC_WAV_MAX_DATA_BYTES, &e), REC_WAV_EVID_CHUNK_BYTES);
    assert_int_equal(rec_wav_build_tail(buf, at, 3, REC_WAV_MAX_DATA_BYTES, &e), rec_wav_markers_size(3) + REC_WAV_EVID_CHUNK_BYTES);

    /* Sizes and the header parse: the tail after the data, evid last. */
    rec_wav_sizes_t s;
    assert_int_equal(rec_wav_sizes(2000, rec_wav_markers_size(2) + REC_WAV_EVID_CHUNK_BYTES, &s), REC_OK);
    assert_int_equal(s.file_size, 1024u + 2000u + rec_wav_markers_size(2) + REC_WAV_EVID_CHUNK_BYTES);
    assert_int_equal(rec_wav_sizes(2000, REC_WAV_TAIL_MAX_BYTES + 2u, &s), REC_E_TOOBIG);
    uint8_t h[REC_WAV_HEADER_SIZE];
    rec_wav_info_t info = info_for(16000, true, START_MS);
    assert_int_equal(rec_wav_build_header(h, &info), REC_OK);
    rec_wav_header_t p;
    const uint32_t tails[] = { 0, REC_WAV_EVID_CHUNK_BYTES, rec_wav_markers_size(1) + REC_WAV_EVID_CHUNK_BYTES, REC_WAV_TAIL_MAX_BYTES };
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(rec_wav_patch(h, 0, sizeof h, 2000, tails[i]), 2);
        assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
        assert_true(p.sizes_consistent);
        assert_int_equal(p.riff_has_evid, tails[i] != 0);
        assert_int_equal(p.tail_bytes, tails[i]);
    }
    /* A tail shorter than an evid chunk, odd or longer than the most markers: not ours. */
    const uint32_t odd[] = { 10, REC_WAV_EVID_CHUNK_BYTES + 1u, REC_WAV_TAIL_MAX_BYTES + 2u };
    for (unsigned i = 0; i < 3; i++) {
        rec_put_u32(h + 4, 1024u - 8u + 2000u + odd[i]);
        assert_int_equal(rec_wav_parse_header(h, sizeof h, &p), REC_OK);
        assert_false(p.riff_has_evid);
        assert_false(p.sizes_consistent);
    }
}

/* A finished file with markers: ffprobe and sox read it (the audio, its duration). */
static void test_file_with_markers(void **state)
{
    (void)state;
    const char *path = REC_TEST_TMPDIR "/wav_markers.wav";
    const uint32_t at[3] = { 0, 16000, 39999 };
    g_markers = at;
    g_marker_count = 3;
    write_wav(path, 16000, 40000, true, 0);
    g_markers = NULL;
    g_marker_count = 0;
    check_ffprobe(path, 16000, "2.500000");
    check_sox(path, 16000, 40000);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t file[1024 + 80000 + REC_WAV_TAIL_MAX_BYTES];
    const size_t len = fread(file, 1, sizeof file, f);
    fclose(f);
    assert_int_equal(rec_get_u32(file + 4), len - 8u);
    const uint32_t m = parse_markers(file + 1024 + 80000, (uint32_t)(len - 1024 - 80000), at, 3);
    rec_wav_evid_t e;
    assert_int_equal(rec_wav_parse_evid(file + 1024 + 80000 + m, len - 1024 - 80000 - m, &e), REC_OK);
    assert_int_equal(1024u + 80000u + m + REC_WAV_EVID_CHUNK_BYTES, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_header_clock_unset_and_bad_input),
        cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_sizes_and_patch),
        cmocka_unit_test(test_evid),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_fuzz),
        cmocka_unit_test(test_file_finished),
        cmocka_unit_test(test_file_other_rates),
        cmocka_unit_test(test_file_truncated),
        cmocka_unit_test(test_file_clock_unset),
        cmocka_unit_test(test_long_model),
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_file_with_markers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
