/* X25519 (core/crypto/x25519.c): RFC 7748 vectors, all Wycheproof x25519_test.json vectors,
 * key agreement round trips, argument errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto_vectors.h"
#include "rec/err.h"
#include "rec/x25519.h"
#include "support/hex.h"

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t any = 0;
    for (size_t i = 0; i < n; i++) any |= p[i];
    return any == 0;
}

/* Valid and acceptable vectors give the file's shared secret, except that an all-zero shared
 * secret (a small-order public key: Wycheproof's ZeroSharedSecret cases, all "acceptable") is
 * refused with REC_E_INVAL, as RFC 7748 6.1 allows and age requires. Twist points and
 * non-canonical u ("acceptable") are computed as RFC 7748 says. Returns the refused count. */
static size_t check_xdh_vectors(const xdh_vector_t *v, size_t count)
{
    size_t refused = 0;
    for (size_t i = 0; i < count; i++) {
        size_t pub_len, priv_len, shared_len;
        uint8_t *pub = rec_test_unhex(v[i].public_key, &pub_len);
        uint8_t *priv = rec_test_unhex(v[i].private_key, &priv_len);
        uint8_t *shared = rec_test_unhex(v[i].shared, &shared_len);
        assert_int_equal(pub_len, 32);
        assert_int_equal(priv_len, 32);
        assert_int_equal(shared_len, 32);
        assert_int_not_equal(v[i].result, VECTOR_INVALID);
        uint8_t out[32];
        int err = rec_x25519(out, priv, pub);
        assert_memory_equal(out, shared, 32);
        if (all_zero(shared, 32)) {
            assert_int_equal(v[i].result, VECTOR_ACCEPTABLE);
            if (err != REC_E_INVAL) fail_msg("tcId %d (%s): zero shared secret accepted", v[i].tc_id, v[i].comment);
            refused++;
        } else if (err != REC_OK) {
            fail_msg("tcId %d (%s): %d", v[i].tc_id, v[i].comment, err);
        }
        free(pub);
        free(priv);
        free(shared);
    }
    return refused;
}

static void test_rfc7748(void **state)
{
    (void)state;
    assert_int_equal(check_xdh_vectors(RFC7748_X25519, RFC7748_X25519_COUNT), 0);
    /* Section 6.1's public keys through the base-point variant too. */
    for (size_t i = 0; i < RFC7748_X25519_COUNT; i++) {
        if (strcmp(RFC7748_X25519[i].public_key, "0900000000000000000000000000000000000000000000000000000000000000") != 0) continue;
        size_t n;
        uint8_t *priv = rec_test_unhex(RFC7748_X25519[i].private_key, &n);
        uint8_t *want = rec_test_unhex(RFC7748_X25519[i].shared, &n);
        uint8_t out[32];
        assert_int_equal(rec_x25519_base(out, priv), REC_OK);
        assert_memory_equal(out, want, 32);
        free(priv);
        free(want);
    }
}

static void test_wycheproof(void **state)
{
    (void)state;
    assert_int_equal(check_xdh_vectors(WYCHEPROOF_X25519_TEST, WYCHEPROOF_X25519_TEST_COUNT), 31);
}

/* Two parties agree; the scalar's clamped bits do not matter; the top bit of u is ignored. */
static void test_agreement(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 20; seed++) {
        uint8_t a[32], b[32], pa[32], pb[32], sa[32], sb[32];
        for (size_t i = 0; i < 32; i++) {
            a[i] = (uint8_t)(seed * 31u + i * 17u);
            b[i] = (uint8_t)(seed * 57u + i * 5u + 3u);
        }
        assert_int_equal(rec_x25519_base(pa, a), REC_OK);
        assert_int_equal(rec_x25519_base(pb, b), REC_OK);
        assert_int_equal(rec_x25519(sa, a, pb), REC_OK);
        assert_int_equal(rec_x25519(sb, b, pa), REC_OK);
        assert_memory_equal(sa, sb, 32);
        a[0] ^= 7;     /* cleared by clamping */
        a[31] ^= 0x80; /* cleared by clamping */
        assert_int_equal(rec_x25519(sb, a, pb), REC_OK);
        assert_memory_equal(sa, sb, 32);
        pb[31] ^= 0x80; /* masked off */
        assert_int_equal(rec_x25519(sb, a, pb), REC_OK);
        assert_memory_equal(sa, sb, 32);
    }
}

static void test_argument_errors(void **state)
{
    (void)state;
    uint8_t k[32] = {1}, u[32] = {9}, out[32];
    assert_int_equal(rec_x25519(NULL, k, u), REC_E_INVAL);
    assert_int_equal(rec_x25519(out, NULL, u), REC_E_INVAL);
    assert_int_equal(rec_x25519(out, k, NULL), REC_E_INVAL);
    assert_int_equal(rec_x25519_base(NULL, k), REC_E_INVAL);
    assert_int_equal(rec_x25519_base(out, NULL), REC_E_INVAL);
    static const uint8_t zero_u[32] = {0};
    assert_int_equal(rec_x25519(out, k, zero_u), REC_E_INVAL);
    assert_true(all_zero(out, 32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7748),
        cmocka_unit_test(test_wycheproof),
        cmocka_unit_test(test_agreement),
        cmocka_unit_test(test_argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
