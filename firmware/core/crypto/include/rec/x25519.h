/* X25519 (RFC 7748 section 5): the Montgomery ladder of RFC 7748 (our code) over orlp/ed25519's
 * ref10 field arithmetic (README.md says why not orlp's key_exchange.c). No heap; constant time
 * in the scalar (conditional swaps by masking, no secret-dependent branch or index).
 *
 *     rec_x25519_base(public_key, secret);           // public key of a 32-byte random secret
 *     rec_x25519(shared, secret, peer_public_key);   // shared secret, REC_E_INVAL if all zero */
#ifndef REC_X25519_H
#define REC_X25519_H

#include <stdint.h>

#define REC_X25519_SIZE 32u

/* out = X25519(scalar, u). The scalar is clamped as RFC 7748 decodeScalar25519 says; the top
 * bit of u is ignored and a non-canonical u (>= 2^255 - 19) is taken modulo p, as the RFC says.
 * Returns REC_OK, REC_E_INVAL for NULL pointers, or REC_E_INVAL when the result is all zero (u of
 * small order: RFC 7748 section 6.1's check, which age requires); out is then all zero. */
int rec_x25519(uint8_t out[REC_X25519_SIZE], const uint8_t scalar[REC_X25519_SIZE], const uint8_t u[REC_X25519_SIZE]);

/* out = X25519(scalar, 9): the public key of a secret. REC_OK or REC_E_INVAL (NULL pointers). */
int rec_x25519_base(uint8_t out[REC_X25519_SIZE], const uint8_t scalar[REC_X25519_SIZE]);

#endif
