/* Hex strings of the shared test vectors (protocol/generated/rec_vectors.h) to bytes. */
#ifndef REC_TEST_HEX_H
#define REC_TEST_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Decodes an even-length hex string into a new buffer (free() it); fails the current cmocka test
 * on malformed hex. *len is set to the byte count. */
uint8_t *rec_test_unhex(const char *hex, size_t *len);

#endif
