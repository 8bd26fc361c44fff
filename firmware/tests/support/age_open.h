/* A strict age v1 reader for the tests (age.md, written from the spec, not from the writer):
 * one X25519 stanza unwrapped with the identity's secret, the header MAC, every STREAM chunk's
 * tag, the last flag on the last chunk only, and no empty last chunk. */
#ifndef REC_TEST_AGE_OPEN_H
#define REC_TEST_AGE_OPEN_H

#include <stddef.h>
#include <stdint.h>

/* Decrypts `file` (size bytes) with the X25519 secret `identity`: REC_OK with the plaintext in
 * *out (malloc'ed) and the file key in file_key (may be NULL), or the first failure. */
int rec_test_age_open(const uint8_t *file, size_t size, const uint8_t identity[32], uint8_t **out, size_t *out_len,
                      uint8_t file_key[16]);

#endif
