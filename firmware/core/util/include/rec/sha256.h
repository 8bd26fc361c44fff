/* SHA-256 (FIPS 180-4), incremental. No heap, no tables beyond the 256-byte round constants.
 *
 *     rec_sha256_t h;
 *     rec_sha256_init(&h);
 *     rec_sha256_update(&h, data, len);   // any number of times, any lengths
 *     rec_sha256_final(&h, digest);       // 32 bytes; h must be re-initialised to be reused
 *
 * update() compresses whole 64-byte blocks straight from the caller's buffer; only a partial
 * block at either end is copied. The context is plain data (no pointers): it may be copied to
 * take an intermediate digest (copy, then final the copy) or saved and restored. */
#ifndef REC_SHA256_H
#define REC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define REC_SHA256_DIGEST_SIZE 32u
#define REC_SHA256_BLOCK_SIZE 64u

typedef struct {
    uint32_t state[8];
    uint64_t total;                          /* bytes hashed so far */
    uint8_t buf[REC_SHA256_BLOCK_SIZE];      /* partial block; buf_len < 64 between calls */
    uint32_t buf_len;
} rec_sha256_t;

void rec_sha256_init(rec_sha256_t *h);
void rec_sha256_update(rec_sha256_t *h, const void *data, size_t len);
void rec_sha256_final(rec_sha256_t *h, uint8_t digest[REC_SHA256_DIGEST_SIZE]);

/* One-shot convenience. */
void rec_sha256(const void *data, size_t len, uint8_t digest[REC_SHA256_DIGEST_SIZE]);

#endif
