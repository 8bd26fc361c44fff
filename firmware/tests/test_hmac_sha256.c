/* HMAC-SHA-256 and HKDF-SHA-256 (core/crypto/hmac_sha256.c): RFC 4231 and RFC 5869 vectors and
 * the Wycheproof hmac_sha256 / hkdf_sha256 files (tests/vectors, converted at build time). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto_vectors.h"
#include "rec/err.h"
#include "rec/hmac_sha256.h"
#include "support/hex.h"

/* MAC vectors: the tag is compared over its length (Wycheproof also truncates); a valid vector
 * must match, an invalid one (modified tag) must not. Fed in two pieces to cover update. */
static void check_mac_vectors(const mac_vector_t *v, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        size_t key_len, msg_len, tag_len;
        uint8_t *key = rec_test_unhex(v[i].key, &key_len);
        uint8_t *msg = rec_test_unhex(v[i].msg, &msg_len);
        uint8_t *tag = rec_test_unhex(v[i].tag, &tag_len);
        assert_true(tag_len <= REC_HMAC_SHA256_SIZE);
        uint8_t mac[REC_HMAC_SHA256_SIZE], mac2[REC_HMAC_SHA256_SIZE];
        rec_hmac_sha256(key, key_len, msg, msg_len, mac);
        rec_hmac_sha256_t m;
        rec_hmac_sha256_init(&m, key, key_len);
        rec_hmac_sha256_update(&m, msg, msg_len / 2);
        rec_hmac_sha256_update(&m, msg + msg_len / 2, msg_len - msg_len / 2);
        rec_hmac_sha256_final(&m, mac2);
        assert_memory_equal(mac, mac2, sizeof mac);
        int same = memcmp(mac, tag, tag_len) == 0;
        if (same != (v[i].result == VECTOR_VALID)) fail_msg("tcId %d (%s): match %d", v[i].tc_id, v[i].comment, same);
        free(key);
        free(msg);
        free(tag);
    }
}

static void test_rfc4231(void **state)
{
    (void)state;
    check_mac_vectors(RFC4231_HMAC_SHA256, RFC4231_HMAC_SHA256_COUNT);
}

static void test_wycheproof_hmac(void **state)
{
    (void)state;
    check_mac_vectors(WYCHEPROOF_HMAC_SHA256_TEST, WYCHEPROOF_HMAC_SHA256_TEST_COUNT);
}

/* HKDF vectors: valid ones give the OKM; the invalid ones ask for more than 255 * 32 bytes. */
static void check_hkdf_vectors(const hkdf_vector_t *v, size_t count)
{
    static uint8_t okm[REC_HKDF_SHA256_MAX_OUTPUT + 64];
    for (size_t i = 0; i < count; i++) {
        size_t ikm_len, salt_len, info_len, okm_len;
        uint8_t *ikm = rec_test_unhex(v[i].ikm, &ikm_len);
        uint8_t *salt = rec_test_unhex(v[i].salt, &salt_len);
        uint8_t *info = rec_test_unhex(v[i].info, &info_len);
        uint8_t *want = rec_test_unhex(v[i].okm, &okm_len);
        assert_true(v[i].size <= sizeof okm);
        int err = rec_hkdf_sha256(okm, v[i].size, salt, salt_len, ikm, ikm_len, info, info_len);
        if (v[i].result == VECTOR_VALID) {
            if (err != REC_OK) fail_msg("tcId %d (%s): %d", v[i].tc_id, v[i].comment, err);
            assert_int_equal(okm_len, v[i].size);
            assert_memory_equal(okm, want, okm_len);
        } else {
            assert_true(v[i].size > REC_HKDF_SHA256_MAX_OUTPUT);
            assert_int_equal(err, REC_E_INVAL);
        }
        free(ikm);
        free(salt);
        free(info);
        free(want);
    }
}

static void test_rfc5869(void **state)
{
    (void)state;
    check_hkdf_vectors(RFC5869_HKDF_SHA256, RFC5869_HKDF_SHA256_COUNT);
}

static void test_wycheproof_hkdf(void **state)
{
    (void)state;
    check_hkdf_vectors(WYCHEPROOF_HKDF_SHA256_TEST, WYCHEPROOF_HKDF_SHA256_TEST_COUNT);
}

/* Extract + expand separately equal the one-shot; the RFC's PRK of test case 1; an empty salt is
 * the same as no salt (RFC 5869 2.2); a prefix of a longer output is the shorter output. */
static void test_hkdf_parts(void **state)
{
    (void)state;
    size_t n;
    uint8_t *ikm = rec_test_unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &n);
    uint8_t *salt = rec_test_unhex("000102030405060708090a0b0c", &n);
    uint8_t *prk_want = rec_test_unhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5", &n);
    uint8_t prk[32], a[100], b[100], c[100];
    rec_hkdf_sha256_extract(prk, salt, 13, ikm, 22);
    assert_memory_equal(prk, prk_want, 32);
    assert_int_equal(rec_hkdf_sha256_expand(a, sizeof a, prk, sizeof prk, "x", 1), REC_OK);
    assert_int_equal(rec_hkdf_sha256(b, 33, salt, 13, ikm, 22, "x", 1), REC_OK);
    assert_memory_equal(a, b, 33);
    assert_int_equal(rec_hkdf_sha256(b, sizeof b, NULL, 0, ikm, 22, NULL, 0), REC_OK);
    assert_int_equal(rec_hkdf_sha256(c, sizeof c, "", 0, ikm, 22, "", 0), REC_OK);
    assert_memory_equal(b, c, sizeof b);
    static const uint8_t zeros[32] = {0};
    assert_int_equal(rec_hkdf_sha256(c, sizeof c, zeros, sizeof zeros, ikm, 22, NULL, 0), REC_OK);
    assert_memory_equal(b, c, sizeof b);
    assert_int_equal(rec_hkdf_sha256_expand(a, 0, prk, sizeof prk, NULL, 0), REC_OK);
    free(ikm);
    free(salt);
    free(prk_want);
}

static void test_argument_errors(void **state)
{
    (void)state;
    uint8_t prk[32] = {1}, out[32];
    static uint8_t big[REC_HKDF_SHA256_MAX_OUTPUT + 1];
    assert_int_equal(rec_hkdf_sha256_expand(out, sizeof out, prk, 31, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_hkdf_sha256_expand(NULL, 1, prk, 32, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_hkdf_sha256_expand(out, 1, NULL, 32, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_hkdf_sha256_expand(out, 1, prk, 32, NULL, 1), REC_E_INVAL);
    assert_int_equal(rec_hkdf_sha256_expand(big, sizeof big, prk, 32, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_hkdf_sha256_expand(big, sizeof big - 1, prk, 32, NULL, 0), REC_OK);
    assert_int_equal(rec_hkdf_sha256(out, 1, NULL, 0, NULL, 1, NULL, 0), REC_E_INVAL);
}

/* final (and wipe) leave the context all zero. */
static void test_wipe(void **state)
{
    (void)state;
    rec_hmac_sha256_t m, zero;
    memset(&zero, 0, sizeof zero);
    uint8_t mac[32];
    rec_hmac_sha256_init(&m, "key", 3);
    rec_hmac_sha256_update(&m, "data", 4);
    rec_hmac_sha256_final(&m, mac);
    assert_memory_equal(&m, &zero, sizeof m);
    rec_hmac_sha256_init(&m, "key", 3);
    rec_hmac_sha256_wipe(&m);
    assert_memory_equal(&m, &zero, sizeof m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_wycheproof_hmac),
        cmocka_unit_test(test_rfc5869),
        cmocka_unit_test(test_wycheproof_hkdf),
        cmocka_unit_test(test_hkdf_parts),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
