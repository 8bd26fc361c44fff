/* The compact fixed-base multiplication (core/crypto/ed25519_base.c) against orlp's table-driven
 * one: its generated table of 1B .. 8B against the first row of orlp's table, and the two
 * multiplications on edge scalars and on thousands of random ones (clamped secret scalars and
 * nonces reduced mod L, as keypair and sign pass them). The whole Ed25519 suite runs on the
 * compact one too: test_ed25519_compact_base (test_ed25519.c over that build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ed25519_base.h"
#include "sc.h"

/* Both tables, each only for its comparison: orlp's (base[32][8], Bi[8]) and ours (the header
 * the build generates for ed25519_base.c). */
#include "ed25519_base_multiples.h"
#include "precomp_data.h"

/* xorshift64*: a fixed sequence, so a failure repeats. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint8_t random_byte(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint8_t)((rng_state * 0x2545f4914f6cdd1du) >> 56);
}

/* Multiplies by both and compares the point encodings; returns nothing, fails the test. */
static void assert_same_multiple(const uint8_t a[32])
{
    ge_p3 compact, table;
    uint8_t compact_bytes[32], table_bytes[32];
    rec_ge_scalarmult_base_compact(&compact, a);
    orlp_ge_scalarmult_base(&table, a);
    ge_p3_tobytes(compact_bytes, &compact);
    ge_p3_tobytes(table_bytes, &table);
    assert_memory_equal(compact_bytes, table_bytes, 32);
}

static void assert_fe_equal(const fe f, const fe g)
{
    uint8_t fb[32], gb[32];
    fe_tobytes(fb, f);
    fe_tobytes(gb, g);
    assert_memory_equal(fb, gb, 32);
}

static void test_table_is_orlps_first_row(void **state)
{
    (void)state;
    /* orlp's base[0][k] is (k + 1) B; its limbs may differ (signed), the values may not. */
    for (int k = 0; k < 8; k++) {
        assert_fe_equal(base_multiples[k].yplusx, base[0][k].yplusx);
        assert_fe_equal(base_multiples[k].yminusx, base[0][k].yminusx);
        assert_fe_equal(base_multiples[k].xy2d, base[0][k].xy2d);
    }
    /* and Bi[0] is B */
    assert_fe_equal(base_multiples[0].xy2d, Bi[0].xy2d);
}

static void test_zero_and_one(void **state)
{
    (void)state;
    uint8_t a[32] = { 0 };
    uint8_t out[32];
    ge_p3 h;
    /* 0 B is the identity (x 0, y 1); 1 B is B, whose encoding is RFC 8032's 0x58 0x66 ... 0x66. */
    static const uint8_t identity[32] = { 1 };
    rec_ge_scalarmult_base_compact(&h, a);
    ge_p3_tobytes(out, &h);
    assert_memory_equal(out, identity, 32);
    a[0] = 1;
    rec_ge_scalarmult_base_compact(&h, a);
    ge_p3_tobytes(out, &h);
    assert_int_equal(out[0], 0x58);
    for (int i = 1; i < 32; i++) assert_int_equal(out[i], 0x66);
}

static void test_edge_scalars(void **state)
{
    (void)state;
    /* L - 1, L and L + 1, little-endian (L = 2^252 + 27742317777372353535851937790883648493). */
    static const uint8_t order[32] = {
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
        [31] = 0x10,
    };
    uint8_t a[32];
    for (int delta = -1; delta <= 1; delta++) {
        memcpy(a, order, 32);
        a[0] = (uint8_t)(a[0] + delta);
        assert_same_multiple(a);
    }
    /* Small values, every single digit 0 .. 15 and the carries out of 8 .. 15. */
    for (int v = 0; v < 256; v++) {
        memset(a, 0, sizeof a);
        a[0] = (uint8_t)v;
        assert_same_multiple(a);
    }
    /* Every byte the same, the top byte at most 127 (the precondition): 0x88... makes every
     * digit 8 and carries through all 64; 0x77... none; 0xff.. then 0x7f is the largest allowed. */
    static const uint8_t fills[] = { 0x00, 0x01, 0x0f, 0x10, 0x77, 0x78, 0x80, 0x87, 0x88, 0x89, 0xf0, 0xf8, 0xff };
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(a, fills[f], sizeof a);
        a[31] &= 0x7f;
        assert_same_multiple(a);
        /* Clamped as keypair clamps (RFC 8032 5.1.5): low 3 bits clear, bit 254 set, bit 255 clear. */
        a[0] &= 248;
        a[31] = (uint8_t)((a[31] & 63) | 64);
        assert_same_multiple(a);
    }
    /* One bit at a time, every position below 255. */
    for (int bit = 0; bit < 255; bit++) {
        memset(a, 0, sizeof a);
        a[bit / 8] = (uint8_t)(1u << (bit % 8));
        assert_same_multiple(a);
    }
}

static void test_random_clamped_scalars(void **state)
{
    (void)state;
    uint8_t a[32];
    for (int n = 0; n < 2000; n++) {
        for (int i = 0; i < 32; i++) a[i] = random_byte();
        a[0] &= 248;
        a[31] = (uint8_t)((a[31] & 63) | 64);
        assert_same_multiple(a);
    }
}

static void test_random_nonces_reduced_mod_l(void **state)
{
    (void)state;
    uint8_t wide[64];
    for (int n = 0; n < 2000; n++) {
        for (int i = 0; i < 64; i++) wide[i] = random_byte();
        sc_reduce(wide); /* as sign reduces its nonce hash: the first 32 bytes, < L */
        assert_true(wide[31] <= 0x10);
        assert_same_multiple(wide);
    }
}

static void test_random_top_byte_up_to_127(void **state)
{
    (void)state;
    uint8_t a[32];
    for (int n = 0; n < 1000; n++) {
        for (int i = 0; i < 32; i++) a[i] = random_byte();
        a[31] &= 0x7f;
        assert_same_multiple(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_orlps_first_row),
        cmocka_unit_test(test_zero_and_one),
        cmocka_unit_test(test_edge_scalars),
        cmocka_unit_test(test_random_clamped_scalars),
        cmocka_unit_test(test_random_nonces_reduced_mod_l),
        cmocka_unit_test(test_random_top_byte_up_to_127),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
