/* Force-included (-include) into the libtorsion sources the crypto component compiles
 * (crypto.cmake); their text stays as the npm package ships it.
 *
 * libtorsion reads and writes its little-endian words with memcpy (bio.h: read32le, write32le ...),
 * which GCC turns into loads and stores where unaligned access is allowed. On the Cortex-M0+ it is
 * not, and GCC 12 then calls memcpy for every 4-byte word instead of inlining byte loads: Poly1305
 * made five calls per 16-byte block, 22 of its cycles per byte on rp2040js (README.md, "Speed on
 * the Cortex-M0+"). Here memcpy is an inline byte copy, which GCC unrolls for the constant sizes
 * of bio.h and which costs no call for the short partial blocks. Copying is no secret-dependent
 * operation: the loop runs over the length only. */
#ifndef REC_TORSION_SHIM_H
#define REC_TORSION_SHIM_H

#include <stddef.h>
#include <string.h>

static inline __attribute__((always_inline)) void *rec_torsion_memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
#pragma GCC unroll 8 /* bio.h's constant 4 and 8 bytes become straight loads and stores */
    for (size_t i = 0; i < n; i++) d[i] = s[i];
    return dst;
}

#define memcpy(dst, src, n) rec_torsion_memcpy((dst), (src), (n))

#endif
