/* SHA-256 against the FIPS 180-4 / NIST example vectors, split-update equivalence, and a cross
 * check against sha256sum(1) on a random file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/sha256.h"
#include "support/tools.h"

static void to_hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
    out[2 * n] = 0;
}

static void check_digest(const uint8_t d[32], const char *want)
{
    char hex[65];
    to_hex(d, 32, hex);
    assert_string_equal(hex, want);
}

static void check_oneshot(const char *msg, const char *want)
{
    uint8_t d[32];
    rec_sha256(msg, strlen(msg), d);
    check_digest(d, want);
}

static void test_nist_short(void **state)
{
    (void)state;
    check_oneshot("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_oneshot("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_oneshot("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_oneshot("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
    (void)state;
    /* In uneven pieces so partial-block buffering is exercised too. */
    static uint8_t chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    rec_sha256_t h;
    rec_sha256_init(&h);
    size_t left = 1000000, step = 1;
    while (left > 0) {
        size_t n = step < left ? step : left;
        rec_sha256_update(&h, chunk, n);
        left -= n;
        step = step * 7 % 1000 + 1;
    }
    uint8_t d[32];
    rec_sha256_final(&h, d);
    check_digest(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* And in one call. */
    uint8_t *big = malloc(1000000);
    assert_non_null(big);
    memset(big, 'a', 1000000);
    rec_sha256(big, 1000000, d);
    free(big);
    check_digest(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every message length around the padding boundaries, hashed whole and byte by byte and in two
 * pieces at every split point: all must agree. */
static void test_split_equivalence(void **state)
{
    (void)state;
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof msg; len++) {
        uint8_t whole[32], bytes[32];
        rec_sha256(msg, len, whole);
        rec_sha256_t h;
        rec_sha256_init(&h);
        for (size_t i = 0; i < len; i++) rec_sha256_update(&h, msg + i, 1);
        rec_sha256_final(&h, bytes);
        assert_memory_equal(whole, bytes, 32);
        for (size_t cut = 0; cut <= len; cut += 13) {
            uint8_t two[32];
            rec_sha256_init(&h);
            rec_sha256_update(&h, msg, cut);
            rec_sha256_update(&h, NULL, 0);
            rec_sha256_update(&h, msg + cut, len - cut);
            rec_sha256_final(&h, two);
            assert_memory_equal(whole, two, 32);
        }
    }
}

/* A copy of the context gives an intermediate digest without disturbing the original. */
static void test_copy_context(void **state)
{
    (void)state;
    rec_sha256_t h, copy;
    uint8_t d1[32], d2[32];
    rec_sha256_init(&h);
    rec_sha256_update(&h, "ab", 2);
    copy = h;
    rec_sha256_final(&copy, d1);
    rec_sha256_update(&h, "c", 1);
    rec_sha256_final(&h, d2);
    check_digest(d1, "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603");
    check_digest(d2, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_vs_sha256sum(void **state)
{
    (void)state;
    rec_tool_require("sha256sum", "coreutils");
    size_t n = 3 * 1024 * 1024 + 333;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    uint32_t x = 0x12345678u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (uint8_t)x;
    }
    char path[512];
    rec_tool_tmp(path, sizeof path, "sha256_random.bin");
    assert_int_equal(rec_tool_write_file(path, data, n), 0);

    /* Hash it in audio-sized pieces, as the recorder does. */
    rec_sha256_t h;
    rec_sha256_init(&h);
    for (size_t off = 0; off < n; off += 4000) rec_sha256_update(&h, data + off, n - off < 4000 ? n - off : 4000);
    uint8_t d[32];
    rec_sha256_final(&h, d);
    char mine[65];
    to_hex(d, 32, mine);

    char out[256];
    assert_int_equal(rec_tool_run(out, sizeof out, "sha256sum '%s'", path), 0);
    assert_true(strlen(out) >= 64);
    out[64] = 0;
    assert_string_equal(mine, out);
    remove(path);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nist_short),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_split_equivalence),
        cmocka_unit_test(test_copy_context),
        cmocka_unit_test(test_vs_sha256sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
