/* rec_mul64, the C statement of the Cortex-M0+ build's branch-free 64x64->64 multiply
 * (core/crypto/mul64_v6m.c; its __aeabi_lmul is the same arithmetic in Thumb-1 assembly, which
 * the RP2040 self-test checks against rec_mul64), against the compiler's own 64-bit multiply: edge operands (0, 1, all ones, the
 * 16- and 32-bit boundaries where its partial products carry), signed values as ref10 passes
 * them, and a million pseudo-random pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mul64_v6m.h"

static const uint64_t EDGES[] = {
    0,
    1,
    2,
    0xffffu,
    0x10000u,
    0xffffffffu,
    0x100000000u,
    0x1ffffffffu,
    0xffff0000ffff0000u,
    0x0000ffff0000ffffu,
    0x8000000000000000u,
    0x7fffffffffffffffu,
    0xffffffffffffffffu,
    0xfffffffeu,
    0x80000000u,
    0x3ffffffu, /* 2^26 - 1: a ref10 limb */
    (uint64_t)-19,
    (uint64_t)(int64_t)-0x3ffffff,
};

static void test_edges(void **state)
{
    (void)state;
    const size_t n = sizeof EDGES / sizeof EDGES[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) assert_int_equal(rec_mul64(EDGES[i], EDGES[j]), EDGES[i] * EDGES[j]);
    }
}

/* xorshift64*: reproducible operands; mixed with masks so small and signed values come too. */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1du;
}

static void test_random(void **state)
{
    (void)state;
    static const uint64_t MASKS[] = {UINT64_MAX, 0xffffffffu, 0x3ffffffu, 0xffffu, 0xffffffff0000ffffu};
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 1000000; i++) {
        uint64_t a = next(&s) & MASKS[i % 5];
        uint64_t b = next(&s) & MASKS[(i / 5) % 5];
        if (i & 1) a = 0 - a; /* negative int64 limbs, as (int64_t)f * g gives */
        assert_int_equal(rec_mul64(a, b), a * b);
    }
}

/* ref10's products are of sign-extended 32-bit limbs, (int64_t)f0 * g0: the same bits. */
static void test_signed_32_bit_operands(void **state)
{
    (void)state;
    uint64_t s = 42;
    for (int i = 0; i < 100000; i++) {
        int32_t f = (int32_t)next(&s), g = (int32_t)next(&s);
        int64_t want = (int64_t)f * g;
        assert_int_equal((int64_t)rec_mul64((uint64_t)(int64_t)f, (uint64_t)(int64_t)g), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_signed_32_bit_operands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
