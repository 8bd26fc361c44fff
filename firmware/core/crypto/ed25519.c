/* Ed25519 over orlp/ed25519 (ref10): see rec/ed25519.h and README.md in this folder.
 *
 * orlp's ed25519_verify checks only that the top three bits of S are clear and that the public
 * key decodes to a curve point. RFC 8032 (5.1.7) and the Wycheproof vectors ask more of a
 * verifier, so verify() checks first, on public data only:
 *   - S < L (canonical S): otherwise S + L is a second valid signature (malleability);
 *   - the public key is a canonical encoding (y < p): otherwise two encodings name one key;
 *   - neither the public key nor R is of small order ([8]P = identity): such a key verifies
 *     signatures that no secret made, and a small-order R lets the same S serve other messages.
 * A non-canonical R needs no check of its own: orlp compares R's bytes with the canonical
 * encoding of the point it recomputes, which never equals a non-canonical encoding. */
#include "rec/ed25519.h"

#include "rec/err.h"

#include "ed25519.h"
#include "ge.h"

#include <string.h>

/* The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t GROUP_ORDER[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* s < L, s a little-endian 32-byte number. */
static int scalar_is_canonical(const uint8_t s[32])
{
    for (int i = 31; i >= 0; i--) {
        if (s[i] != GROUP_ORDER[i]) return s[i] < GROUP_ORDER[i];
    }
    return 0; /* s == L */
}

/* y < p = 2^255 - 19 for a point encoding (bit 255 is the sign of x): y >= p only when y is one
 * of p .. 2^255 - 1, i.e. bytes 1..30 all 0xff, byte 31 0x7f (sign masked) and byte 0 >= 0xed. */
static int point_encoding_is_canonical(const uint8_t p[32])
{
    if ((p[31] & 0x7f) != 0x7f || p[0] < 0xed) return 1;
    for (int i = 1; i < 31; i++) {
        if (p[i] != 0xff) return 1;
    }
    return 0;
}

/* 1 when the encoding decodes to a point whose order divides 8 (the eight small-order points of
 * the curve's cofactor group), 0 otherwise (including encodings that are not points). */
static int point_has_small_order(const uint8_t p[32])
{
    ge_p3 point;
    ge_p1p1 doubled;
    fe y_minus_z;

    /* Decodes -P; P and -P have the same order. */
    if (ge_frombytes_negate_vartime(&point, p) != 0) return 0;
    for (int i = 0; i < 3; i++) {
        ge_p3_dbl(&doubled, &point);
        ge_p1p1_to_p3(&point, &doubled);
    }
    /* The identity is (0, 1): X = 0 and Y = Z in projective coordinates. */
    fe_sub(y_minus_z, point.Y, point.Z);
    return !fe_isnonzero(point.X) && !fe_isnonzero(y_minus_z);
}

int rec_ed25519_keypair_from_seed(rec_ed25519_keypair_t *key, const uint8_t seed[REC_ED25519_SEED_SIZE])
{
    if (key == NULL || seed == NULL) return REC_E_INVAL;
    ed25519_create_keypair(key->public_key, key->secret, seed);
    return REC_OK;
}

int rec_ed25519_sign(uint8_t sig[REC_ED25519_SIGNATURE_SIZE], const void *msg, size_t len,
                     const rec_ed25519_keypair_t *key)
{
    if (sig == NULL || key == NULL || (msg == NULL && len > 0)) return REC_E_INVAL;
    ed25519_sign(sig, msg, len, key->public_key, key->secret);
    return REC_OK;
}

int rec_ed25519_verify(const uint8_t sig[REC_ED25519_SIGNATURE_SIZE], const void *msg, size_t len,
                       const uint8_t public_key[REC_ED25519_PUBLIC_KEY_SIZE])
{
    if (sig == NULL || public_key == NULL || (msg == NULL && len > 0)) return REC_E_INVAL;
    if (!scalar_is_canonical(sig + 32)) return 0;
    if (!point_encoding_is_canonical(public_key)) return 0;
    if (point_has_small_order(public_key) || point_has_small_order(sig)) return 0;
    return ed25519_verify(sig, msg, len, public_key) == 1;
}

void rec_ed25519_wipe(rec_ed25519_keypair_t *key)
{
    if (key == NULL) return;
    /* Through a volatile pointer, so the compiler cannot drop the stores as dead. */
    volatile uint8_t *p = (volatile uint8_t *)key;
    for (size_t i = 0; i < sizeof *key; i++) p[i] = 0;
}
