/* HMAC-SHA-256 (RFC 2104, FIPS 198-1) and HKDF-SHA-256 (RFC 5869) over the core's SHA-256
 * (rec/sha256.h). No heap; the contexts are plain data on the caller's stack.
 *
 *     rec_hmac_sha256_t m;
 *     rec_hmac_sha256_init(&m, key, key_len);   // any key length; longer than 64 is hashed
 *     rec_hmac_sha256_update(&m, data, len);    // any number of times
 *     rec_hmac_sha256_final(&m, mac);           // 32 bytes; wipes the context
 *
 * For age (issue 13): HKDF-Extract then HKDF-Expand derive the file key's header MAC key and
 * payload key. Key material is wiped from our own stack frames and contexts before returning;
 * SHA-256's compression frames are not (it is the core's general hash). */
#ifndef REC_HMAC_SHA256_H
#define REC_HMAC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "rec/sha256.h"

#define REC_HMAC_SHA256_SIZE 32u
/* RFC 5869: L <= 255 * HashLen. */
#define REC_HKDF_SHA256_MAX_OUTPUT (255u * REC_HMAC_SHA256_SIZE)

typedef struct {
    rec_sha256_t inner;                        /* H((K ^ ipad) || ...) in progress */
    uint8_t opad_key[REC_SHA256_BLOCK_SIZE];   /* K ^ opad, for the outer hash */
} rec_hmac_sha256_t;

/* key may be NULL when key_len is 0. */
void rec_hmac_sha256_init(rec_hmac_sha256_t *m, const void *key, size_t key_len);
void rec_hmac_sha256_update(rec_hmac_sha256_t *m, const void *data, size_t len);
void rec_hmac_sha256_final(rec_hmac_sha256_t *m, uint8_t mac[REC_HMAC_SHA256_SIZE]);
/* Clears a context (done by final; for a context abandoned before final). */
void rec_hmac_sha256_wipe(rec_hmac_sha256_t *m);

/* One shot. */
void rec_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t mac[REC_HMAC_SHA256_SIZE]);

/* HKDF-Extract(salt, IKM) -> PRK. A NULL or empty salt means HashLen zero bytes (RFC 5869 2.2). */
void rec_hkdf_sha256_extract(uint8_t prk[REC_HMAC_SHA256_SIZE], const void *salt, size_t salt_len,
                             const void *ikm, size_t ikm_len);

/* HKDF-Expand(PRK, info, L) -> OKM of out_len bytes. prk_len must be at least 32 (RFC 5869 2.3);
 * info may be NULL when info_len is 0. Returns REC_OK, or REC_E_INVAL for NULL pointers, a PRK
 * shorter than 32 bytes or out_len above REC_HKDF_SHA256_MAX_OUTPUT. */
int rec_hkdf_sha256_expand(uint8_t *out, size_t out_len, const void *prk, size_t prk_len,
                           const void *info, size_t info_len);

/* Extract then expand. Same errors as expand. */
int rec_hkdf_sha256(uint8_t *out, size_t out_len, const void *salt, size_t salt_len,
                    const void *ikm, size_t ikm_len, const void *info, size_t info_len);

/* Sets n bytes to zero through a volatile pointer (the compiler may not drop it). */
void rec_crypto_wipe(void *p, size_t n);

#endif
