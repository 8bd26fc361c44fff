/* torsion_memxor3 (z = x ^ y over n bytes) for libtorsion's ChaCha20, which XORs the key stream
 * into the text with it. libtorsion's own (util.c, compiled under another name by crypto.cmake)
 * goes byte by byte: 11 to 13 of the M0+'s cycles per byte encrypted on rp2040js. This one XORs
 * whole 32-bit words when all three pointers are word-aligned (the key stream always is; the
 * device encrypts its word-aligned audio ring in place) and bytes otherwise, with the same result.
 * The branches are on addresses and the length, never on the data. z may equal x or y (in-place
 * encryption), as with libtorsion's. */
#include <stddef.h>
#include <stdint.h>
#include <torsion/util.h>

/* A word that may alias the callers' byte buffers. */
typedef uint32_t __attribute__((may_alias)) rec_xor_word_t;

void torsion_memxor3(void *z, const void *x, const void *y, size_t n)
{
    unsigned char *zp = z;
    const unsigned char *xp = x;
    const unsigned char *yp = y;
    if ((((uintptr_t)zp | (uintptr_t)xp | (uintptr_t)yp) & 3u) == 0) {
        rec_xor_word_t *zw = (rec_xor_word_t *)(void *)zp;
        const rec_xor_word_t *xw = (const rec_xor_word_t *)(const void *)xp;
        const rec_xor_word_t *yw = (const rec_xor_word_t *)(const void *)yp;
        size_t words = n / 4;
        for (size_t i = 0; i < words; i++) zw[i] = xw[i] ^ yw[i];
        zp += 4 * words;
        xp += 4 * words;
        yp += 4 * words;
        n -= 4 * words;
    }
    while (n--) *zp++ = *xp++ ^ *yp++;
}
