/* age files written as the audio arrives (evidence/age.c): the header, the layout, the writer and
 * the finish, checked by a strict STREAM reader written here from age.md (every tag, the last
 * flag on the last chunk only, the exact file size); power cuts at every block written by the
 * finish (it is finished again and gives the very same bytes: no nonce ever encrypts two
 * plaintexts) and by the writer (recovery from the reported size keeps every audio block the
 * last flush covered). The stock `age` decrypts the same files: test/firmware-age-writer.test.ts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rec/age.h"
#include "rec/bd_ram.h"
#include "rec/err.h"
#include "rec/sha256.h"
#include "rec/x25519.h"

#define BLOCK REC_BD_BLOCK_SIZE
#define CHUNK REC_AGE_CHUNK_SIZE
#define HOLD_LBA 16u
#define AGE_LBA 512u
#define DISK_BLOCKS 4096u /* 2 MiB: files up to 1.8 MiB */
#define TAIL 80u

static const uint8_t FILE_KEY[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t NONCE[16] = { 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF };
static uint8_t g_ephemeral[32], g_identity[32], g_recipient[32];

static rec_bd_ram_t g_ram;
static rec_age_keys_t g_keys;
static uint8_t g_scratch[REC_AGE_SCRATCH_SIZE];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(rec_bd_ram_init(&g_ram, DISK_BLOCKS), 0);
    memset(g_ephemeral, 0x42, sizeof g_ephemeral);
    memset(g_identity, 0x24, sizeof g_identity);
    assert_int_equal(rec_x25519_base(g_recipient, g_identity), REC_OK);
    assert_int_equal(rec_age_keys(&g_keys, FILE_KEY, NONCE), REC_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rec_bd_ram_free(&g_ram);
    return 0;
}

/* ---- A strict reader (age.md "Payload"), independent of the writer's code paths ------------ */

/* Decrypts a whole .AGE of `size` bytes into out (malloc'ed); REC_OK or the first failure. */
static int age_open(const uint8_t *file, size_t size, uint8_t **out, size_t *out_len)
{
    uint8_t nonce[16];
    int err = rec_age_header_check(file, FILE_KEY, nonce);
    if (err) return err;
    if (memcmp(nonce, NONCE, 16) != 0) return REC_E_CORRUPT;
    const size_t body = size - REC_AGE_HEADER_SIZE;
    const size_t stored = CHUNK + 16u;
    const size_t chunks = (body + stored - 1u) / stored;
    if (size <= REC_AGE_HEADER_SIZE || body % stored == 16u) return REC_E_CORRUPT; /* empty last chunk */
    uint8_t *plain = malloc(body);
    size_t n = 0;
    for (size_t k = 0; k < chunks; k++) {
        const uint8_t *c = file + REC_AGE_HEADER_SIZE + k * stored;
        const size_t len = (k + 1u == chunks ? body - k * stored : stored) - 16u;
        uint8_t nb[12] = { 0 };
        for (unsigned i = 0; i < 8; i++) nb[10u - i] = (uint8_t)((uint64_t)k >> (8u * i));
        nb[11] = k + 1u == chunks ? 1 : 0;
        rec_chacha20poly1305_t d;
        assert_int_equal(rec_chacha20poly1305_init(&d, g_keys.payload_key, nb, NULL, 0), REC_OK);
        assert_int_equal(rec_chacha20poly1305_decrypt(&d, plain + n, c, len), REC_OK);
        err = rec_chacha20poly1305_decrypt_final(&d, c + len);
        if (err) {
            free(plain);
            return err;
        }
        n += len;
    }
    *out = plain;
    *out_len = n;
    return REC_OK;
}

/* ---- A recording in memory ------------------------------------------------------------------ */

static void wav_header(uint8_t h[1024], uint32_t data_bytes, bool final)
{
    for (unsigned i = 0; i < 1024; i++) h[i] = (uint8_t)(i * 7u + 3u);
    memcpy(h, "RIFF", 4);
    const uint32_t v = final ? data_bytes : 0u;
    memcpy(h + 4, &v, 4); /* a stand-in for the sizes the real header gets at stop */
    memcpy(h + 1020, &v, 4);
}

static uint8_t audio_byte(uint32_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

static void tail(uint8_t t[TAIL], uint32_t data_bytes)
{
    for (unsigned i = 0; i < TAIL; i++) t[i] = (uint8_t)(data_bytes + i);
}

/* The plaintext the finished file must decrypt to. */
static uint8_t *expected(uint32_t data_bytes, size_t *len)
{
    *len = 1024u + data_bytes + TAIL;
    uint8_t *p = malloc(*len);
    wav_header(p, data_bytes, true);
    for (uint32_t i = 0; i < data_bytes; i++) p[1024u + i] = audio_byte(i);
    tail(p + 1024u + data_bytes, data_bytes);
    return p;
}

/* Records data_bytes in pieces of `burst` blocks, flushing every `flush_every` puts; returns the
 * size of the last flush (the directory entry's). Stops at the first error (a cut). */
static int record(rec_age_writer_t *w, uint32_t data_bytes, uint32_t burst, uint32_t flush_every, uint64_t *flushed)
{
    static uint8_t header[REC_AGE_HEADER_SIZE];
    static bool made; /* two X25519 ladders: made once, they are slow under the sanitizers */
    if (!made) assert_int_equal(rec_age_header(header, FILE_KEY, NONCE, g_ephemeral, g_recipient), REC_OK);
    made = true;
    uint8_t h[1024];
    wav_header(h, 0, false);
    *flushed = REC_AGE_HEADER_SIZE + 1024u;
    int err = rec_age_writer_start(w, &g_ram.bd, AGE_LBA, HOLD_LBA, &g_keys, header, h);
    static uint8_t buf[16 * BLOCK];
    uint32_t done = 0, puts = 0;
    while (!err && done < data_bytes) {
        uint32_t n = burst * BLOCK;
        if (data_bytes - done < n) n = data_bytes - done;
        for (uint32_t i = 0; i < n; i++) buf[i] = audio_byte(done + i);
        err = rec_age_writer_put(w, buf, n);
        if (err) break;
        done += n;
        if (++puts % flush_every == 0 || done == data_bytes) {
            uint64_t size;
            err = rec_age_writer_flush(w, &size);
            if (!err) *flushed = size;
        }
    }
    return err;
}

static int finish(uint32_t data_bytes, uint64_t *size)
{
    uint8_t h[1024], t[TAIL];
    wav_header(h, data_bytes, true);
    tail(t, data_bytes);
    return rec_age_finish(&g_ram.bd, AGE_LBA, HOLD_LBA, &g_keys, h, data_bytes, t, TAIL, g_scratch, size);
}

static void check_file(uint32_t data_bytes, uint64_t size)
{
    size_t want_len;
    uint8_t *want = expected(data_bytes, &want_len);
    assert_int_equal(size, rec_age_file_size(want_len));
    uint8_t *got;
    size_t got_len;
    assert_int_equal(age_open(g_ram.data + (size_t)AGE_LBA * BLOCK, (size_t)size, &got, &got_len), REC_OK);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
    free(want);
}

/* ---- Tests ---------------------------------------------------------------------------------------- */

static void test_layout(void **state)
{
    (void)state;
    assert_int_equal(rec_age_offset(0), 184);
    assert_int_equal(rec_age_offset(CHUNK), 184 + CHUNK + 16);
    assert_int_equal(rec_age_offset(3 * CHUNK + 5), 184 + 3 * (CHUNK + 16) + 5);
    assert_int_equal(rec_age_file_size(0), 200);
    assert_int_equal(rec_age_file_size(CHUNK), 184 + CHUNK + 16);
    assert_int_equal(rec_age_file_size(CHUNK + 1), 184 + CHUNK + 1 + 32);
    uint64_t p;
    for (uint64_t plain = 1024; plain < 5u * CHUNK; plain += 512) {
        assert_true(rec_age_plain_of(rec_age_offset(plain), &p));
        assert_int_equal(p, plain);
    }
    assert_false(rec_age_plain_of(100, &p));
    assert_false(rec_age_plain_of(184 + CHUNK + 8, &p)); /* inside a tag */
}

static void test_header_is_age_v1_for_one_x25519_recipient(void **state)
{
    (void)state;
    uint8_t h[REC_AGE_HEADER_SIZE];
    assert_int_equal(rec_age_header(h, FILE_KEY, NONCE, g_ephemeral, g_recipient), REC_OK);
    assert_memory_equal(h, "age-encryption.org/v1\n-> X25519 ", 32);
    assert_int_equal(h[75], '\n');
    assert_int_equal(h[119], '\n');
    assert_memory_equal(h + 120, "--- ", 4);
    assert_int_equal(h[167], '\n');
    assert_memory_equal(h + 168, NONCE, 16);
    /* The share is X25519(e, 9), in base64 (43 characters, no padding). */
    uint8_t nonce[16];
    assert_int_equal(rec_age_header_check(h, FILE_KEY, nonce), REC_OK);
    assert_memory_equal(nonce, NONCE, 16);
    uint8_t other[16];
    memcpy(other, FILE_KEY, 16);
    other[0] ^= 1;
    assert_int_equal(rec_age_header_check(h, other, nonce), REC_E_MISMATCH);
    h[40] ^= 1;
    assert_int_equal(rec_age_header_check(h, FILE_KEY, nonce), REC_E_MISMATCH);
    h[0] = 'x';
    assert_int_equal(rec_age_header_check(h, FILE_KEY, nonce), REC_E_CORRUPT);
    /* A small-order recipient is refused. */
    uint8_t zero[32] = { 0 };
    assert_int_equal(rec_age_header(h, FILE_KEY, NONCE, g_ephemeral, zero), REC_E_INVAL);
}

static void record_and_finish(uint32_t data_bytes)
{
    rec_age_writer_t w;
    uint64_t flushed, size;
    assert_int_equal(record(&w, data_bytes, 3, 2, &flushed), REC_OK);
    uint64_t plain;
    assert_true(rec_age_plain_of(flushed, &plain));
    assert_int_equal(plain, 1024u + data_bytes);
    uint8_t h[1024];
    assert_int_equal(rec_age_hold_header(&g_ram.bd, HOLD_LBA, &g_keys, h), REC_OK);
    uint8_t want[1024];
    wav_header(want, 0, false);
    assert_memory_equal(h, want, 1024);
    /* The audio hash read back from the card is the hash of what was put. */
    size_t len;
    uint8_t *p = expected(data_bytes, &len);
    uint8_t digest[32], got[32];
    rec_sha256(p + 1024, data_bytes, digest);
    free(p);
    assert_int_equal(rec_age_hash_audio(&g_ram.bd, AGE_LBA, HOLD_LBA, &g_keys, data_bytes, got, g_scratch), REC_OK);
    assert_memory_equal(got, digest, 32);
    rec_age_writer_wipe(&w);
    assert_int_equal(finish(data_bytes, &size), REC_OK);
    check_file(data_bytes, size);
}

static void test_lengths_around_every_boundary(void **state)
{
    (void)state;
    /* Audio ends: nothing, a block, in the hold file, at its end, just after, a short block,
     * exactly at a chunk boundary, with the evid chunk across a boundary, several chunks. */
    static const uint32_t lengths[] = {
        0, 512, 4096, CHUNK - 1024 - 512, CHUNK - 1024, CHUNK - 1024 + 512, 70000,
        2 * CHUNK - 1024, 2 * CHUNK - 1024 - 40, 2 * CHUNK - 1024 - 512, 3 * CHUNK + 12345, 1500000,
    };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        memset(g_ram.data, 0xEE, rec_bd_ram_size(&g_ram)); /* whatever the card held before */
        record_and_finish(lengths[i]);
    }
}

/* Reads the finished file with rec_age_reader_t: fed in `slice`-byte pieces (the sealer's way)
 * when pull is false, else pulled `slice` plaintext bytes at a time by its span (the recovered
 * stop checkpoint's way). Returns the first error; the plaintext in out (malloc'ed). */
static int reader_read(const uint8_t *file, uint64_t size, const uint8_t key[16], uint32_t slice, bool pull, uint8_t **out,
                       size_t *out_len)
{
    rec_age_reader_t r;
    rec_age_reader_start(&r, key, size);
    uint8_t *plain = malloc((size_t)size), *buf = malloc(slice + REC_AGE_HEADER_SIZE + REC_AGE_TAG_SIZE);
    size_t have = 0;
    uint64_t at = 0;
    int err = REC_OK;
    while (!err && at < size) {
        uint32_t n = pull ? rec_age_reader_span(&r, slice) : (uint32_t)(size - at < slice ? size - at : slice);
        if (!pull && at == 0 && n < REC_AGE_HEADER_SIZE) n = REC_AGE_HEADER_SIZE; /* the header comes whole */
        assert_true(n > 0 && at + n <= size);
        memcpy(buf, file + at, n);
        uint32_t got;
        err = rec_age_reader_feed(&r, buf, n, &got);
        if (!err && pull) assert_true(got <= slice);
        if (!err) memcpy(plain + have, buf, got);
        have += got;
        at += n;
    }
    if (!err) assert_true(rec_age_reader_done(&r));
    if (!err) assert_int_equal(rec_age_reader_span(&r, slice), 0);
    rec_age_reader_wipe(&r);
    free(buf);
    *out = plain;
    *out_len = have;
    return err;
}

static void test_reader_decrypts_what_the_finish_wrote(void **state)
{
    (void)state;
    static const uint32_t lengths[] = { 0, CHUNK - 1024, 70000, 2 * CHUNK - 1024 - 40, 3 * CHUNK + 12345 };
    static const uint32_t slices[] = { 1, 700, 16384, 200000 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        memset(g_ram.data, 0xEE, rec_bd_ram_size(&g_ram));
        record_and_finish(lengths[i]);
        size_t want_len;
        uint8_t *want = expected(lengths[i], &want_len);
        const uint64_t size = rec_age_file_size(want_len);
        uint8_t *file = g_ram.data + (size_t)AGE_LBA * BLOCK;
        for (size_t s = 0; s < sizeof slices / sizeof slices[0]; s++) {
            for (int pull = 0; pull < 2; pull++) {
                if (slices[s] == 1 && !pull && lengths[i] > CHUNK) continue; /* byte by byte: slow */
                uint8_t *got;
                size_t got_len;
                assert_int_equal(reader_read(file, size, FILE_KEY, slices[s], pull, &got, &got_len), REC_OK);
                assert_int_equal(got_len, want_len);
                assert_memory_equal(got, want, want_len);
                free(got);
            }
        }
        /* Another key, a changed byte in the last chunk's ciphertext or in its tag: refused. */
        uint8_t other[16];
        memcpy(other, FILE_KEY, 16);
        other[0] ^= 1;
        uint8_t *got;
        size_t got_len;
        assert_int_equal(reader_read(file, size, other, 16384, false, &got, &got_len), REC_E_MISMATCH);
        free(got);
        for (uint64_t at = size - REC_AGE_TAG_SIZE - 1u; at < size; at += REC_AGE_TAG_SIZE) {
            file[at] ^= 0x40;
            assert_int_equal(reader_read(file, size, FILE_KEY, 16384, true, &got, &got_len), REC_E_MISMATCH);
            free(got);
            file[at] ^= 0x40;
        }
        free(want);
    }
}

static void test_finish_again_writes_the_same_bytes(void **state)
{
    (void)state;
    const uint32_t data = 2 * CHUNK + 3000;
    rec_age_writer_t w;
    uint64_t flushed, size;
    assert_int_equal(record(&w, data, 4, 1, &flushed), REC_OK);
    assert_int_equal(finish(data, &size), REC_OK);
    uint8_t *once = malloc(size);
    memcpy(once, g_ram.data + (size_t)AGE_LBA * BLOCK, size);
    assert_int_equal(finish(data, &size), REC_OK);
    if (memcmp(g_ram.data + (size_t)AGE_LBA * BLOCK, once, size) != 0) {
        free(once);
        fail_msg("a second finish changed the file");
    }
    free(once);
}

/* A cut at every block the finish writes, then the finish again: the file is the reference's,
 * byte for byte (the same plaintext under every nonce). */
static void cut_finish_everywhere(uint32_t data)
{
    rec_age_writer_t w;
    uint64_t flushed, size;
    memset(g_ram.data, 0xEE, rec_bd_ram_size(&g_ram));
    assert_int_equal(record(&w, data, 2, 1, &flushed), REC_OK);
    const size_t bytes = rec_bd_ram_size(&g_ram);
    uint8_t *before = malloc(bytes);
    memcpy(before, g_ram.data, bytes);
    g_ram.blocks_written = 0;
    assert_int_equal(finish(data, &size), REC_OK);
    const uint64_t writes = g_ram.blocks_written;
    uint8_t *reference = malloc(bytes);
    memcpy(reference, g_ram.data, bytes);
    assert_true(writes > 2);
    /* Only the two files' blocks change: compare those. */
    const size_t lo = (size_t)HOLD_LBA * BLOCK, hi = (size_t)AGE_LBA * BLOCK + (size_t)size + BLOCK;
    rec_bd_ram_restore(&g_ram, before);
    for (uint64_t cut = 0; cut < writes; cut++) {
        rec_bd_ram_restore(&g_ram, before);
        rec_bd_ram_cut_after(&g_ram, cut, false);
        uint64_t s2;
        assert_int_not_equal(finish(data, &s2), REC_OK);
        rec_bd_ram_power_on(&g_ram);
        if (cut % 8 == 0) {
            /* A second cut in the repeat, then a third try. */
            rec_bd_ram_cut_after(&g_ram, cut / 2, false);
            (void)finish(data, &s2);
            rec_bd_ram_power_on(&g_ram);
        }
        assert_int_equal(finish(data, &s2), REC_OK);
        assert_int_equal(s2, size);
        if (memcmp(g_ram.data + lo, reference + lo, hi - lo) != 0) {
            free(before);
            free(reference);
            fail_msg("cut after %llu blocks: the card differs", (unsigned long long)cut);
        }
    }
    check_file(data, size);
    free(before);
    free(reference);
}

static void test_power_cut_at_every_block_of_the_finish(void **state)
{
    (void)state;
    cut_finish_everywhere(20000);             /* one chunk, last */
    cut_finish_everywhere(CHUNK + 5000);      /* chunk 0 and a last chunk */
    cut_finish_everywhere(2 * CHUNK - 1024 - 40); /* the evid chunk across a boundary */
}

/* A cut at every block the writer writes: what the last flush covered is recovered. */
static void test_power_cut_while_recording_keeps_the_last_flush(void **state)
{
    (void)state;
    const uint32_t data = 2 * CHUNK + 7 * BLOCK;
    for (uint64_t cut = 0; cut < 2u + (1024u + data) / BLOCK + 8u; cut += 3) {
        memset(g_ram.data, 0xEE, rec_bd_ram_size(&g_ram));
        rec_bd_ram_cut_after(&g_ram, cut, false);
        rec_age_writer_t w;
        uint64_t flushed;
        (void)record(&w, data, 2, 3, &flushed);
        rec_bd_ram_power_on(&g_ram);
        /* Recovery: the plaintext length from the directory entry's size. */
        uint64_t plain;
        assert_true(rec_age_plain_of(flushed, &plain));
        assert_true(plain >= 1024u);
        const uint32_t got = (uint32_t)(plain - 1024u) / BLOCK * BLOCK;
        if (cut < 3) continue; /* the header itself was cut: nothing to recover */
        uint8_t digest[32], want[32];
        assert_int_equal(rec_age_hash_audio(&g_ram.bd, AGE_LBA, HOLD_LBA, &g_keys, got, digest, g_scratch), REC_OK);
        size_t len;
        uint8_t *p = expected(got, &len);
        rec_sha256(p + 1024, got, want);
        free(p);
        assert_memory_equal(digest, want, 32);
        uint64_t size;
        assert_int_equal(finish(got, &size), REC_OK);
        check_file(got, size);
    }
}

static void test_final_record(void **state)
{
    (void)state;
    rp_age_final_t f, g;
    memset(&f, 0, sizeof f);
    assert_int_equal(rec_age_final_read(&g_ram.bd, HOLD_LBA, &g), REC_E_NOENT);
    f.number = 42;
    f.data_bytes = 123456;
    f.overruns = 7;
    f.stop_reason = 2;
    f.flags = 0x21;
    memset(f.sha256, 0x5C, 32);
    assert_int_equal(rec_age_final_write(&g_ram.bd, HOLD_LBA, &f), REC_OK);
    assert_int_equal(rec_age_final_read(&g_ram.bd, HOLD_LBA, &g), REC_OK);
    assert_int_equal(g.number, 42);
    assert_int_equal(g.data_bytes, 123456);
    assert_int_equal(g.overruns, 7);
    assert_memory_equal(g.sha256, f.sha256, 32);
    g_ram.data[(size_t)(HOLD_LBA + REC_AGE_HOLD_FINAL_BLOCK) * BLOCK + 10] ^= 1;
    assert_int_equal(rec_age_final_read(&g_ram.bd, HOLD_LBA, &g), REC_E_NOENT);
}

static void test_writer_refuses_after_a_short_block(void **state)
{
    (void)state;
    rec_age_writer_t w;
    uint64_t flushed;
    assert_int_equal(record(&w, 1000, 1, 1, &flushed), REC_OK);
    uint8_t b[BLOCK] = { 0 };
    assert_int_equal(rec_age_writer_put(&w, b, BLOCK), REC_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test_setup_teardown(test_header_is_age_v1_for_one_x25519_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lengths_around_every_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_decrypts_what_the_finish_wrote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_again_writes_the_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_at_every_block_of_the_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_while_recording_keeps_the_last_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_after_a_short_block, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
