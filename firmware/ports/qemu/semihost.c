/* See semihost.h. */
#include "semihost.h"

int32_t semihost_call(uint32_t op, const volatile void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const volatile void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}
