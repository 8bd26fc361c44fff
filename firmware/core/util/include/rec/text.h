/* Small text helpers the C11 library lacks (strnlen is POSIX, not C11). */
#ifndef REC_TEXT_H
#define REC_TEXT_H

#include <stddef.h>

static inline size_t rec_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

#endif
