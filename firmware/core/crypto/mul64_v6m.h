/* Branch-free 64x64->64 multiply (mul64_v6m.c): the Cortex-M0+ build's __aeabi_lmul. */
#ifndef REC_MUL64_V6M_H
#define REC_MUL64_V6M_H

#include <stdint.h>

/* a * b mod 2^64, in straight-line code built from 32x32->32 multiplies only. */
uint64_t rec_mul64(uint64_t a, uint64_t b);

#if defined(__ARM_ARCH_6M__)
uint64_t __aeabi_lmul(uint64_t a, uint64_t b);
#endif

#endif
