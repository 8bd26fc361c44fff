/* A 64x64->64 multiply without data-dependent branches, for the Cortex-M0+ (Armv6-M) build.
 *
 * The M0+ has no 32x32->64 multiply, so GCC turns every int64 product of orlp's fe_mul, fe_sq,
 * sc_muladd ... into a call to libgcc's __aeabi_lmul, whose v6-M version branches on a carry
 * between its partial products (`cmp r3, r4; bls` in thumb/v6-m/nofp/libgcc.a): the time of a
 * multiply would depend on the secret operands. This one is straight-line code: four 16x16->32
 * MULS for the low words and two 32x32->32 MULS for the cross terms, with the carries of the low
 * product collected by adding 16-bit pieces that cannot overflow 32 bits (no compare, no
 * conditional). MULS on the M0+ takes a time fixed by the implementation option, not by the
 * operands: one cycle with the fast multiplier the RP2040 has (its datasheet, section 2.4).
 *
 * rec_mul64 is the function; the Armv6-M build also exports it as __aeabi_lmul (same AAPCS
 * signature: operands in r0:r1 and r2:r3, result in r0:r1), which the linker then takes from
 * rec_crypto instead of libgcc. The host build compiles it only for tests/test_mul64.c. */
#include <stdint.h>

#include "mul64_v6m.h"

uint64_t rec_mul64(uint64_t a, uint64_t b)
{
    uint32_t a_lo = (uint32_t)a, a_hi = (uint32_t)(a >> 32);
    uint32_t b_lo = (uint32_t)b, b_hi = (uint32_t)(b >> 32);
    uint32_t x0 = a_lo & 0xffffu, x1 = a_lo >> 16;
    uint32_t y0 = b_lo & 0xffffu, y1 = b_lo >> 16;
    uint32_t p00 = x0 * y0, p01 = x0 * y1, p10 = x1 * y0, p11 = x1 * y1;
    /* Three terms below 2^16, so no overflow: the low half is bits 16..31 of a_lo * b_lo, the
     * rest the carry into its high word. */
    uint32_t mid = (p00 >> 16) + (p01 & 0xffffu) + (p10 & 0xffffu);
    uint32_t lo = (mid << 16) | (p00 & 0xffffu);
    /* The exact high word of a_lo * b_lo (it is below 2^32, so no carry is lost), plus the cross
     * terms, of which only the low 32 bits reach the 64-bit result. */
    uint32_t hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16) + a_lo * b_hi + a_hi * b_lo;
    return (uint64_t)hi << 32 | lo;
}

#if defined(__ARM_ARCH_6M__)
uint64_t __aeabi_lmul(uint64_t a, uint64_t b) __attribute__((alias("rec_mul64")));
#endif
