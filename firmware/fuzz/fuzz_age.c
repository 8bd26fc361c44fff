/* Fuzz harness 6: the age stream as the device writes and seals it (core/evidence/age.c).
 *
 * Made once, by the core: a recording's .AGE as the writer and the finish leave it on a RAM
 * card (rec_age_writer_start/put/flush, rec_age_finish with the final WAV header and an evid
 * chunk: 1024 + 70,000 + 80 bytes of plaintext, so two chunks, the second under the last-flag
 * nonce), with a fixed file key, nonce, ephemeral and recipient. This is the file the sealer and
 * the recovered stop checkpoint read back with rec_age_reader_t.
 *
 * The input changes the file: size delta (i8, in bytes: cut or grown with zeros), then
 * (offset u32, length u8, bytes)* patches; and how it is read: the first byte also picks the
 * plaintext asked for per feed (rec_age_reader_span), from 61 bytes to more than a chunk.
 * Checked: rec_age_header_check and every rec_age_reader_feed give REC_OK, REC_E_MISMATCH or
 * REC_E_CORRUPT; a header that checks is the device's own, byte for byte; and a file read to its
 * end without an error (rec_age_reader_done) is the device's file byte for byte and gave exactly
 * its plaintext: a changed, cut or grown .AGE is never accepted with a wrong plaintext. The
 * unchanged file reads back whole at every feed size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rec/age.h"
#include "rec/bd_ram.h"
#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/wav.h"

#define AUDIO_BYTES 70000u
#define AGE_LBA 8u
#define HOLD_LBA 256u
#define PLAIN_MAX (REC_WAV_HEADER_SIZE + AUDIO_BYTES + REC_WAV_EVID_CHUNK_BYTES)

static const uint8_t g_file_key[REC_AGE_FILE_KEY_SIZE] = { 0xf1, 0x1e, 0x4e, 0x79, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static uint8_t g_plain[PLAIN_MAX];
static uint32_t g_plain_len;
static uint8_t *g_file;      /* the .AGE as written */
static uint32_t g_file_size;
static uint8_t *g_work;      /* the changed copy */
static uint8_t *g_got;       /* plaintext read back */
static uint8_t g_buf[REC_AGE_CHUNK_SIZE + REC_AGE_TAG_SIZE + REC_AGE_HEADER_SIZE];

#define SETUP(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz_age setup failed: %s\n", #cond);                              \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static void make_file(void)
{
    static rec_bd_ram_t card;
    SETUP(rec_bd_ram_init(&card, 1024) == 0);
    uint8_t nonce[REC_AGE_NONCE_SIZE], ephemeral[32], recipient[32];
    for (int i = 0; i < 16; i++) nonce[i] = (uint8_t)(0xA0 + i);
    for (int i = 0; i < 32; i++) ephemeral[i] = (uint8_t)(i * 5 + 3), recipient[i] = (uint8_t)(i * 11 + 9);
    rec_age_keys_t keys;
    SETUP(rec_age_keys(&keys, g_file_key, nonce) == REC_OK);
    uint8_t header[REC_AGE_HEADER_SIZE];
    SETUP(rec_age_header(header, g_file_key, nonce, ephemeral, recipient) == REC_OK);

    rec_wav_info_t info = { .sample_rate = 16000, .device_id = 0x0123456789abcdefull, .number = 9 };
    uint8_t wav_header[REC_WAV_HEADER_SIZE];
    SETUP(rec_wav_build_header(wav_header, &info) == REC_OK);
    static rec_age_writer_t w;
    SETUP(rec_age_writer_start(&w, &card.bd, AGE_LBA, HOLD_LBA, &keys, header, wav_header) == REC_OK);
    static uint8_t audio[AUDIO_BYTES];
    for (uint32_t i = 0; i < AUDIO_BYTES; i++) audio[i] = (uint8_t)(i * 31u + (i >> 9));
    memcpy(g_plain + REC_WAV_HEADER_SIZE, audio, AUDIO_BYTES); /* put encrypts in place */
    for (uint32_t at = 0; at < AUDIO_BYTES; at += 4096u) {
        uint32_t n = AUDIO_BYTES - at < 4096u ? AUDIO_BYTES - at : 4096u;
        SETUP(rec_age_writer_put(&w, audio + at, n) == REC_OK);
    }
    uint64_t size = 0;
    SETUP(rec_age_writer_flush(&w, &size) == REC_OK);

    rec_wav_evid_t ev;
    memset(&ev, 0, sizeof ev);
    ev.number = 9;
    ev.device_id = info.device_id;
    ev.sample_rate = 16000;
    ev.sample_count = AUDIO_BYTES / 2u;
    ev.stop_reason = RP_STOP_BUTTON;
    uint8_t tail[REC_WAV_EVID_CHUNK_BYTES];
    uint32_t tail_len = rec_wav_build_evid(tail, &ev);
    uint8_t final_header[REC_WAV_HEADER_SIZE];
    memcpy(final_header, wav_header, sizeof final_header);
    SETUP(rec_wav_patch(final_header, 0, REC_WAV_HEADER_SIZE, AUDIO_BYTES, tail_len) >= 0);
    static uint8_t scratch[REC_AGE_SCRATCH_SIZE];
    SETUP(rec_age_finish(&card.bd, AGE_LBA, HOLD_LBA, &keys, final_header, AUDIO_BYTES, tail, tail_len, scratch, &size) ==
          REC_OK);
    SETUP(size > REC_AGE_CHUNK_SIZE && size < (HOLD_LBA - AGE_LBA) * (uint64_t)REC_BD_BLOCK_SIZE);

    memcpy(g_plain, final_header, REC_WAV_HEADER_SIZE);
    memcpy(g_plain + REC_WAV_HEADER_SIZE + AUDIO_BYTES, tail, tail_len);
    g_plain_len = REC_WAV_HEADER_SIZE + AUDIO_BYTES + tail_len;
    g_file_size = (uint32_t)size;
    SETUP(g_file_size == rec_age_file_size(g_plain_len));
    g_file = malloc(g_file_size);
    g_work = malloc(g_file_size + 256u);
    g_got = malloc(PLAIN_MAX + REC_AGE_CHUNK_SIZE);
    SETUP(g_file && g_work && g_got);
    memcpy(g_file, card.data + (size_t)AGE_LBA * REC_BD_BLOCK_SIZE, g_file_size);
    rec_age_keys_wipe(&keys);
    rec_age_writer_wipe(&w);
    rec_bd_ram_free(&card);
}

/* Reads the file as the sealer does; returns the first error, or OK with *done and the
 * plaintext length. */
static int read_all(const uint8_t *file, uint32_t size, uint32_t want, bool *done, uint32_t *plain_len)
{
    static rec_age_reader_t r;
    rec_age_reader_start(&r, g_file_key, size);
    uint32_t at = 0, got = 0;
    *done = false;
    for (;;) {
        uint32_t span = rec_age_reader_span(&r, want);
        if (span == 0) break;
        FZ_CHECK(span <= sizeof g_buf && span <= want + REC_AGE_TAG_SIZE + REC_AGE_HEADER_SIZE, "span %u for %u", span, want);
        if (span > size - at) span = size - at; /* a cut file gives what it has */
        if (span == 0) break;
        memcpy(g_buf, file + at, span);
        uint32_t plain = UINT32_MAX;
        int rc = rec_age_reader_feed(&r, g_buf, span, &plain);
        FZ_CHECK(rc == REC_OK || rc == REC_E_MISMATCH || rc == REC_E_CORRUPT, "feed returned %d", rc);
        if (rc != REC_OK) {
            rec_age_reader_wipe(&r);
            return rc;
        }
        FZ_CHECK(plain <= span, "%u plaintext bytes from %u", plain, span);
        FZ_CHECK(got + plain <= PLAIN_MAX + REC_AGE_CHUNK_SIZE, "plaintext runs past what any file holds");
        memcpy(g_got + got, g_buf, plain);
        got += plain;
        at += span;
    }
    *done = rec_age_reader_done(&r);
    *plain_len = got;
    rec_age_reader_wipe(&r);
    return REC_OK;
}

static const uint32_t k_wants[8] = { 61u, 509u, 512u, 4096u, 65535u, 65536u, 70000u, 200000u };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_file();
    /* The file as written reads back whole, whatever the feed size. */
    for (int i = 0; i < 8; i++) {
        bool done;
        uint32_t n;
        SETUP(read_all(g_file, g_file_size, k_wants[i], &done, &n) == REC_OK && done && n == g_plain_len &&
              memcmp(g_got, g_plain, n) == 0);
    }
    const char *seeds = getenv("REC_FUZZ_WRITE_SEEDS");
    if (seeds) {
        /* The file unchanged at each feed size; a tag byte; the last chunk's flag (its nonce). */
        char name[32];
        for (uint8_t i = 0; i < 8; i++) {
            snprintf(name, sizeof name, "read-%u", k_wants[i]);
            uint8_t s[2] = { i, 0 };
            fz_write_seed(seeds, name, s, sizeof s);
        }
        uint8_t tag[2 + 5 + 1] = { 4, 0 };
        rec_put_u32(tag + 2, REC_AGE_HEADER_SIZE + REC_AGE_CHUNK_SIZE + 3u);
        tag[6] = 1;
        tag[7] = 0x55;
        fz_write_seed(seeds, "patch-first-tag", tag, sizeof tag);
        uint8_t cut[2] = { 4, (uint8_t)(int8_t)-16 };
        fz_write_seed(seeds, "cut-last-tag", cut, sizeof cut);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    fz_in_t in = { data, size, 0 };
    uint32_t want = k_wants[fz_u8(&in) % 8u];
    int8_t delta = (int8_t)fz_u8(&in);
    uint32_t n = (uint32_t)((int32_t)g_file_size + delta);
    memcpy(g_work, g_file, g_file_size);
    if (n > g_file_size) memset(g_work + g_file_size, 0, n - g_file_size);
    while (fz_more(&in)) {
        uint32_t off = fz_u32(&in) % n;
        const uint8_t *p;
        size_t k = fz_bytes(&in, fz_u8(&in), &p);
        if (k > n - off) k = n - off;
        memcpy(g_work + off, p, k);
    }
    const bool same = n == g_file_size && memcmp(g_work, g_file, n) == 0;

    uint8_t nonce[REC_AGE_NONCE_SIZE];
    int rc = rec_age_header_check(g_work, g_file_key, nonce);
    FZ_CHECK(rc == REC_OK || rc == REC_E_MISMATCH || rc == REC_E_CORRUPT, "header check returned %d", rc);
    if (rc == REC_OK)
        FZ_CHECK(memcmp(g_work, g_file, REC_AGE_HEADER_TEXT_SIZE) == 0 &&
                     memcmp(nonce, g_work + REC_AGE_HEADER_TEXT_SIZE, REC_AGE_NONCE_SIZE) == 0,
                 "a changed header checks");

    bool done;
    uint32_t plain_len = 0;
    rc = read_all(g_work, n, want, &done, &plain_len);
    if (rc == REC_OK && done) {
        FZ_CHECK(same, "a changed .AGE (%u bytes, %d from the device's) was read to its end without an error", n, delta);
        FZ_CHECK(plain_len == g_plain_len && memcmp(g_got, g_plain, plain_len) == 0, "the device's file gave other plaintext");
    } else if (same) {
        FZ_CHECK(false, "the device's own file did not read back (%d, done %d) at %u bytes a feed", rc, done, want);
    }
    return 0;
}
