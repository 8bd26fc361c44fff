/* Ed25519 (firmware/core/crypto): the RFC 8032 section 7.1 vectors, every Wycheproof Ed25519
 * verification vector with exactly the verdict the file gives, each strictness check the wrapper
 * adds over orlp's verify (shown to matter: orlp alone accepts the input), argument errors, and
 * sign/verify round trips with bit flips. The cross-check against node:crypto on random inputs
 * is test/firmware-ed25519.test.ts (it drives tests/crosscheck/ed25519_cli.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/ed25519.h"
#include "rec/err.h"

/* orlp's own verify, to show that each check of the wrapper catches something it accepts. */
#include "ed25519.h"

#include "ed25519_vectors.h"

#define MAX_MESSAGE 2048

/* Decodes lower-case hex into out; returns the byte count. */
static size_t from_hex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        unsigned byte;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (uint8_t)byte;
    }
    return n;
}

static void to_hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
    out[2 * n] = 0;
}

static void test_rfc8032_vectors(void **state)
{
    (void)state;
    static uint8_t msg[MAX_MESSAGE];
    for (size_t v = 0; v < REC_COUNT_OF(RFC8032_VECTORS); v++) {
        const rfc8032_vector_t *t = &RFC8032_VECTORS[v];
        uint8_t seed[32], sig[64];
        char hex[129];
        rec_ed25519_keypair_t key;
        assert_int_equal(from_hex(t->seed, seed, sizeof seed), 32);
        size_t len = from_hex(t->message, msg, sizeof msg);

        assert_int_equal(rec_ed25519_keypair_from_seed(&key, seed), REC_OK);
        to_hex(key.public_key, 32, hex);
        assert_string_equal(hex, t->public_key);

        assert_int_equal(rec_ed25519_sign(sig, msg, len, &key), REC_OK);
        to_hex(sig, 64, hex);
        assert_string_equal(hex, t->signature);

        assert_int_equal(rec_ed25519_verify(sig, msg, len, key.public_key), 1);
        /* Another message, or a changed signature, does not verify. */
        if (len > 0) {
            msg[len - 1] ^= 0x01;
            assert_int_equal(rec_ed25519_verify(sig, msg, len, key.public_key), 0);
            msg[len - 1] ^= 0x01;
        }
        assert_int_equal(rec_ed25519_verify(sig, msg, len + 1, key.public_key), 0);
        sig[40] ^= 0x10;
        assert_int_equal(rec_ed25519_verify(sig, msg, len, key.public_key), 0);
    }
    print_message("RFC 8032: %zu vectors\n", REC_COUNT_OF(RFC8032_VECTORS));
}

static void test_wycheproof_vectors(void **state)
{
    (void)state;
    static uint8_t msg[MAX_MESSAGE];
    int mismatches = 0, valid = 0, invalid = 0, wrong_length = 0;
    assert_int_equal(REC_COUNT_OF(WYCHEPROOF_VECTORS), WYCHEPROOF_NUMBER_OF_TESTS);
    for (size_t v = 0; v < REC_COUNT_OF(WYCHEPROOF_VECTORS); v++) {
        const wycheproof_vector_t *t = &WYCHEPROOF_VECTORS[v];
        uint8_t pub[32], sig[128];
        assert_int_equal(from_hex(t->public_key, pub, sizeof pub), 32);
        size_t len = from_hex(t->message, msg, sizeof msg);
        size_t sig_len = from_hex(t->signature, sig, sizeof sig);
        int got;
        if (sig_len != REC_ED25519_SIGNATURE_SIZE) {
            /* The API takes exactly 64 bytes: a caller holding any other length has no signature. */
            got = 0;
            wrong_length++;
        } else {
            got = rec_ed25519_verify(sig, msg, len, pub);
        }
        if (got != t->valid) {
            print_error("Wycheproof tcId %d (%s; %s): expected %s, got %d\n", t->tc_id, t->comment, t->flags,
                        t->valid ? "valid" : "invalid", got);
            mismatches++;
        }
        if (t->valid) valid++;
        else invalid++;
    }
    print_message("Wycheproof: %d valid and %d invalid vectors (%d of a length other than 64)\n", valid, invalid,
                  wrong_length);
    assert_int_equal(mismatches, 0);
}

/* A valid signature from RFC 8032 TEST 2, to tamper with. */
static void rfc_test2(rec_ed25519_keypair_t *key, uint8_t sig[64], uint8_t *msg)
{
    uint8_t seed[32];
    from_hex(RFC8032_VECTORS[1].seed, seed, sizeof seed);
    assert_int_equal(from_hex(RFC8032_VECTORS[1].message, msg, 1), 1);
    assert_int_equal(rec_ed25519_keypair_from_seed(key, seed), REC_OK);
    assert_int_equal(rec_ed25519_sign(sig, msg, 1, key), REC_OK);
}

/* S + L verifies in orlp (its only check on S is that the top three bits are clear). */
static void test_rejects_non_canonical_s(void **state)
{
    (void)state;
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
    rec_ed25519_keypair_t key;
    uint8_t sig[64], msg[1];
    rfc_test2(&key, sig, msg);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned sum = sig[32 + i] + L[i] + carry;
        sig[32 + i] = (uint8_t)sum;
        carry = sum >> 8;
    }
    assert_int_equal(carry, 0);
    assert_int_equal(sig[63] & 0xe0, 0);
    assert_int_equal(ed25519_verify(sig, msg, 1, key.public_key), 1);
    assert_int_equal(rec_ed25519_verify(sig, msg, 1, key.public_key), 0);
}

/* The identity as public key and as R with S = 0 "signs" every message: [0]B = R + [h]A holds
 * whatever h is. orlp accepts it; the small-order check rejects it. Also the other small-order
 * points (order 2, 4, 8) as public key with R = identity, S = 0. */
static void test_rejects_small_order_public_key_and_r(void **state)
{
    (void)state;
    static const char *const small_order[] = {
        "0100000000000000000000000000000000000000000000000000000000000000", /* identity */
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* order 2 */
        "0000000000000000000000000000000000000000000000000000000000000000", /* order 4 */
        "0000000000000000000000000000000000000000000000000000000000000080", /* order 4 */
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", /* order 8 */
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", /* order 8 */
    };
    uint8_t sig[64] = {0}, pub[32];
    sig[0] = 0x01; /* R = identity, S = 0 */
    for (size_t i = 0; i < REC_COUNT_OF(small_order); i++) {
        from_hex(small_order[i], pub, sizeof pub);
        int accepted_by_orlp = 0;
        for (int m = 0; m < 16; m++) {
            uint8_t msg[1] = {(uint8_t)m};
            accepted_by_orlp += ed25519_verify(sig, msg, 1, pub);
            assert_int_equal(rec_ed25519_verify(sig, msg, 1, pub), 0);
        }
        /* With the identity as key every message verifies in orlp; with the others, those whose
         * hash h makes [h]A the identity (h divisible by the point's order). */
        if (i == 0) assert_int_equal(accepted_by_orlp, 16);
        else assert_true(accepted_by_orlp > 0);
    }
}

/* An encoding with y >= p names the same point as y - p: rejected as a public key. */
static void test_rejects_non_canonical_public_key(void **state)
{
    (void)state;
    /* y = p + 1 (the identity, non-canonically) with R = identity, S = 0: orlp accepts. */
    uint8_t pub[32], sig[64] = {0}, msg[1] = {0};
    from_hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", pub, sizeof pub);
    sig[0] = 0x01;
    assert_int_equal(ed25519_verify(sig, msg, 1, pub), 1);
    assert_int_equal(rec_ed25519_verify(sig, msg, 1, pub), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    rec_ed25519_keypair_t key;
    uint8_t seed[32] = {0}, sig[64], msg[1] = {0};
    assert_int_equal(rec_ed25519_keypair_from_seed(NULL, seed), REC_E_INVAL);
    assert_int_equal(rec_ed25519_keypair_from_seed(&key, NULL), REC_E_INVAL);
    assert_int_equal(rec_ed25519_keypair_from_seed(&key, seed), REC_OK);
    assert_int_equal(rec_ed25519_sign(NULL, msg, 1, &key), REC_E_INVAL);
    assert_int_equal(rec_ed25519_sign(sig, msg, 1, NULL), REC_E_INVAL);
    assert_int_equal(rec_ed25519_sign(sig, NULL, 1, &key), REC_E_INVAL);
    /* An empty message may be NULL. */
    assert_int_equal(rec_ed25519_sign(sig, NULL, 0, &key), REC_OK);
    assert_int_equal(rec_ed25519_verify(sig, NULL, 0, key.public_key), 1);
    assert_int_equal(rec_ed25519_verify(NULL, msg, 1, key.public_key), REC_E_INVAL);
    assert_int_equal(rec_ed25519_verify(sig, msg, 1, NULL), REC_E_INVAL);
    assert_int_equal(rec_ed25519_verify(sig, NULL, 1, key.public_key), REC_E_INVAL);
}

static void test_wipe_clears_the_keypair(void **state)
{
    (void)state;
    rec_ed25519_keypair_t key, zero;
    uint8_t seed[32];
    memset(seed, 0x5a, sizeof seed);
    memset(&zero, 0, sizeof zero);
    assert_int_equal(rec_ed25519_keypair_from_seed(&key, seed), REC_OK);
    assert_memory_not_equal(&key, &zero, sizeof key);
    rec_ed25519_wipe(&key);
    assert_memory_equal(&key, &zero, sizeof key);
    rec_ed25519_wipe(NULL);
}

/* Round trips on pseudo-random seeds and messages of every length up to 300: each signature
 * verifies, and flipping any single bit of it, or of the message, makes it fail. */
static void test_round_trips_and_bit_flips(void **state)
{
    (void)state;
    uint32_t x = 0x2545f491u; /* xorshift32: the same inputs every run */
    uint8_t msg[300];
    for (size_t len = 0; len <= sizeof msg; len += 13) {
        uint8_t seed[32], sig[64];
        rec_ed25519_keypair_t key;
        for (size_t i = 0; i < sizeof seed; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            seed[i] = (uint8_t)x;
        }
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            msg[i] = (uint8_t)x;
        }
        assert_int_equal(rec_ed25519_keypair_from_seed(&key, seed), REC_OK);
        assert_int_equal(rec_ed25519_sign(sig, msg, len, &key), REC_OK);
        assert_int_equal(rec_ed25519_verify(sig, msg, len, key.public_key), 1);
        for (unsigned bit = 0; bit < 512; bit += 7) {
            sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(rec_ed25519_verify(sig, msg, len, key.public_key), 0);
            sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        if (len > 0) {
            msg[len / 2] ^= 0x80;
            assert_int_equal(rec_ed25519_verify(sig, msg, len, key.public_key), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vectors),
        cmocka_unit_test(test_wycheproof_vectors),
        cmocka_unit_test(test_rejects_non_canonical_s),
        cmocka_unit_test(test_rejects_small_order_public_key_and_r),
        cmocka_unit_test(test_rejects_non_canonical_public_key),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_wipe_clears_the_keypair),
        cmocka_unit_test(test_round_trips_and_bit_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
