/* ChaCha20-Poly1305 AEAD (RFC 8439), incremental, for age's payload chunks (issue 13): a 64 KiB
 * chunk is encrypted piece by piece as it is read, never held whole. ChaCha20 and Poly1305 are
 * libtorsion's (README.md says which version and why); this wrapper adds the interface, argument
 * checks, the RFC 8439 length limit and a constant-time tag check. No heap.
 *
 *     rec_chacha20poly1305_t c;
 *     rec_chacha20poly1305_init(&c, key, nonce, aad, aad_len);
 *     rec_chacha20poly1305_encrypt(&c, out, in, len);      // any number of times, any lengths
 *     rec_chacha20poly1305_encrypt_final(&c, tag);          // 16 bytes; wipes the context
 *
 * Decryption is the same with rec_chacha20poly1305_decrypt and _decrypt_final, which returns
 * REC_E_MISMATCH for a wrong tag. Streaming decryption hands out plaintext before the tag is
 * checked: a caller must discard everything it got when the final check fails. out may equal in
 * (in place); a context does one direction only. */
#ifndef REC_CHACHA20POLY1305_H
#define REC_CHACHA20POLY1305_H

#include <stddef.h>
#include <stdint.h>

#define REC_CHACHA20POLY1305_KEY_SIZE 32u
#define REC_CHACHA20POLY1305_NONCE_SIZE 12u
#define REC_CHACHA20POLY1305_TAG_SIZE 16u
/* RFC 8439 2.8: at most 2^32 - 1 blocks of 64 bytes after the Poly1305 key's block. */
#define REC_CHACHA20POLY1305_MAX_TEXT (((uint64_t)1 << 32) * 64u - 64u)

/* Opaque: libtorsion's state (its size is checked at compile time in chacha20poly1305.c). */
typedef struct {
    uint64_t torsion[38];
    uint64_t text_len;   /* bytes processed so far */
    uint32_t mode;       /* 0 not initialised, then encrypting or decrypting */
} rec_chacha20poly1305_t;

/* Returns REC_OK, or REC_E_INVAL for NULL pointers (aad may be NULL when aad_len is 0). */
int rec_chacha20poly1305_init(rec_chacha20poly1305_t *c, const uint8_t key[REC_CHACHA20POLY1305_KEY_SIZE],
                              const uint8_t nonce[REC_CHACHA20POLY1305_NONCE_SIZE],
                              const void *aad, size_t aad_len);

/* Returns REC_OK; REC_E_INVAL for NULL pointers (with len > 0) or a context not initialised for
 * this direction; REC_E_RANGE when the text would exceed REC_CHACHA20POLY1305_MAX_TEXT. */
int rec_chacha20poly1305_encrypt(rec_chacha20poly1305_t *c, uint8_t *out, const uint8_t *in, size_t len);
int rec_chacha20poly1305_decrypt(rec_chacha20poly1305_t *c, uint8_t *out, const uint8_t *in, size_t len);

/* Both wipe the context. decrypt_final returns REC_OK when the tag matches (compared in constant
 * time), REC_E_MISMATCH when not; both REC_E_INVAL as above. */
int rec_chacha20poly1305_encrypt_final(rec_chacha20poly1305_t *c, uint8_t tag[REC_CHACHA20POLY1305_TAG_SIZE]);
int rec_chacha20poly1305_decrypt_final(rec_chacha20poly1305_t *c, const uint8_t tag[REC_CHACHA20POLY1305_TAG_SIZE]);

#endif
