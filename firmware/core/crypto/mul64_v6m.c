/* A 64x64->64 multiply without data-dependent branches, for the Cortex-M0+ (Armv6-M) build.
 *
 * The M0+ has no 32x32->64 multiply, so GCC turns every int64 product of orlp's fe_mul, fe_sq,
 * sc_muladd ... and of libtorsion's 32-bit Poly1305 ((uint64_t)h0 * r0, operands zero-extended)
 * into a call to libgcc's __aeabi_lmul, whose v6-M version branches on a carry between its partial
 * products (`cmp r3, r4; bls` in thumb/v6-m/nofp/libgcc.a): the time of a multiply would depend
 * on the secret operands. This one is straight-line code: four 16x16->32 MULS for the low words
 * and two 32x32->32 MULS for the cross terms, with the carries between the partial products taken
 * by ADDS/ADCS (flags, not branches). MULS on the M0+ takes a time fixed by the implementation
 * option, not by the operands: one cycle with the fast multiplier the RP2040 has (its datasheet,
 * section 2.4).
 *
 * rec_mul64 is the algorithm in C (the host build compiles it for tests/test_mul64.c, which checks
 * it against the compiler's multiply). The Armv6-M build's __aeabi_lmul (same AAPCS signature as
 * the helper it replaces: operands in r0:r1 and r2:r3, result in r0:r1; the linker takes it from
 * rec_crypto instead of libgcc) is the same arithmetic written in Thumb-1 instructions: GCC's
 * -Os code of rec_mul64 took 56 cycles (rp2040js) and 40 bytes of stack, this takes 29 with its
 * return and no stack; the 32-bit Poly1305 multiplies 25 times per 16 bytes. The RP2040 self-test checks it against
 * rec_mul64 (ed25519_selftest_rp2040.c) and test/rp2040-ed25519.test.ts its disassembly. */
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
/* r0 = a_lo, r1 = a_hi, r2 = b_lo, r3 = b_hi. Naked: the body is the whole function, return
 * included (no frame, no compiler-generated code around it). It uses r0-r3 and ip only, which
 * AAPCS lets it clobber, and no stack (GCC's .su says 0 bytes for a naked function: true here). */
__attribute__((naked)) uint64_t __aeabi_lmul(uint64_t a, uint64_t b)
{
    (void)a;
    (void)b;
    __asm__ volatile(
        ".syntax unified\n\t"   /* GCC hands Thumb-1 inline assembly over in divided syntax */
        "muls  r1, r2\n\t"      /* r1 = a_hi * b_lo (mod 2^32) */
        "muls  r3, r0\n\t"      /* r3 = a_lo * b_hi */
        "adds  r1, r1, r3\n\t"  /* r1 = the cross terms: only their low word reaches the result */
        "mov   ip, r1\n\t"
        "lsrs  r3, r0, #16\n\t" /* r3 = x1 = a_lo >> 16 */
        "lsrs  r1, r2, #16\n\t" /* r1 = y1 = b_lo >> 16 */
        "muls  r1, r3\n\t"      /* r1 = p11 = x1 * y1 */
        "add   r1, ip\n\t"      /* r1 = high word so far: p11 + the cross terms */
        "mov   ip, r1\n\t"
        "uxth  r1, r2\n\t"      /* r1 = y0 = b_lo & 0xffff */
        "muls  r3, r1\n\t"      /* r3 = p10 = x1 * y0 */
        "uxth  r0, r0\n\t"      /* r0 = x0 = a_lo & 0xffff */
        "muls  r1, r0\n\t"      /* r1 = p00 = x0 * y0: the low word so far */
        "lsrs  r2, r2, #16\n\t" /* r2 = y1 */
        "muls  r0, r2\n\t"      /* r0 = p01 = x0 * y1 */
        "movs  r2, #0\n\t"      /* (MOVS leaves the carry flag alone; ADDS sets it next) */
        "adds  r0, r0, r3\n\t"  /* r0 = mid = p01 + p10 mod 2^32, carry = its bit 32 */
        "adcs  r2, r2\n\t"      /* r2 = that carry, worth 2^48: 2^16 in the high word */
        "lsls  r2, r2, #16\n\t"
        "lsls  r3, r0, #16\n\t" /* r3 = mid << 16: its part in the low word */
        "lsrs  r0, r0, #16\n\t" /* r0 = mid >> 16: its part in the high word */
        "adds  r1, r1, r3\n\t"  /* low word = p00 + (mid << 16), carry into the high word */
        "mov   r3, ip\n\t"      /* (MOV from a high register leaves the flags alone) */
        "adcs  r3, r0\n\t"      /* r3 = high word + (mid >> 16) + carry */
        "adds  r3, r3, r2\n\t"
        "movs  r0, r1\n\t"
        "movs  r1, r3\n\t"
        "bx    lr\n\t");
}
#endif
