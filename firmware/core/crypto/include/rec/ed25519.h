/* Ed25519 signatures (RFC 8032, pure Ed25519, no context or prehash): the device's identity key.
 * A thin wrapper over orlp/ed25519 (compiled from the npm package ed25519-supercop; see
 * firmware/core/crypto/README.md) that adds the checks RFC 8032 and Wycheproof ask of a verifier
 * and that the library leaves out. No heap; keypair and sign are constant-time in the secret.
 *
 *     rec_ed25519_keypair_t key;
 *     rec_ed25519_keypair_from_seed(&key, seed);          // seed: 32 secret random bytes
 *     rec_ed25519_sign(sig, msg, len, &key);              // 64-byte signature
 *     rec_ed25519_verify(sig, msg, len, key.public_key);  // 1 valid, 0 invalid
 *     rec_ed25519_wipe(&key);                             // when the key is no longer needed
 *
 * The seed is the key as RFC 8032 and node:crypto define it (a PKCS#8 Ed25519 key holds it); the
 * keypair holds the expanded form derived from it. Sign takes the keypair, never a separate public
 * key: signing one message under two different public keys with the same secret reveals the
 * secret, so the public key used is always the one derived from it. */
#ifndef REC_ED25519_H
#define REC_ED25519_H

#include <stddef.h>
#include <stdint.h>

#define REC_ED25519_SEED_SIZE 32u
#define REC_ED25519_PUBLIC_KEY_SIZE 32u
#define REC_ED25519_SECRET_SIZE 64u
#define REC_ED25519_SIGNATURE_SIZE 64u

typedef struct {
    /* SHA-512 of the seed: the clamped secret scalar (32 bytes) then the nonce prefix (32). */
    uint8_t secret[REC_ED25519_SECRET_SIZE];
    uint8_t public_key[REC_ED25519_PUBLIC_KEY_SIZE];
} rec_ed25519_keypair_t;

/* Derives the keypair of a 32-byte seed. REC_OK, or REC_E_INVAL for a NULL argument. */
int rec_ed25519_keypair_from_seed(rec_ed25519_keypair_t *key, const uint8_t seed[REC_ED25519_SEED_SIZE]);

/* Signs len bytes at msg (msg may be NULL when len is 0). REC_OK, or REC_E_INVAL. */
int rec_ed25519_sign(uint8_t sig[REC_ED25519_SIGNATURE_SIZE], const void *msg, size_t len,
                     const rec_ed25519_keypair_t *key);

/* 1 when sig is a valid signature of msg under public_key, 0 when it is not (including a
 * non-canonical S, a public key or R of small order, a non-canonical public key encoding);
 * REC_E_INVAL for a NULL argument. Variable time: everything it handles is public. */
int rec_ed25519_verify(const uint8_t sig[REC_ED25519_SIGNATURE_SIZE], const void *msg, size_t len,
                       const uint8_t public_key[REC_ED25519_PUBLIC_KEY_SIZE]);

/* Overwrites the keypair so the secret does not linger in RAM. */
void rec_ed25519_wipe(rec_ed25519_keypair_t *key);

#endif
