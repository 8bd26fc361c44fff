/* ChaCha20-Poly1305 (rec/chacha20poly1305.h) over libtorsion's chachapoly_* (aead.c), which
 * derives the Poly1305 key from block 0, pads the AAD and the text and appends the lengths as
 * RFC 8439 2.8 says. */
#include "rec/chacha20poly1305.h"

#include <torsion/aead.h>

#include "rec/err.h"
#include "rec/hmac_sha256.h"

_Static_assert(sizeof(chachapoly_t) <= sizeof(((rec_chacha20poly1305_t *)0)->torsion),
               "rec_chacha20poly1305_t too small for libtorsion's chachapoly_t");
_Static_assert(_Alignof(chachapoly_t) <= _Alignof(uint64_t), "chachapoly_t alignment");

/* mode: 0 when wiped or never initialised, READY after init, then the direction of the first call. */
enum { MODE_READY = 0x52647955u, MODE_ENCRYPT = 0x456e6372u, MODE_DECRYPT = 0x44656372u };

static chachapoly_t *state(rec_chacha20poly1305_t *c)
{
    return (chachapoly_t *)(void *)c->torsion;
}

int rec_chacha20poly1305_init(rec_chacha20poly1305_t *c, const uint8_t key[REC_CHACHA20POLY1305_KEY_SIZE],
                              const uint8_t nonce[REC_CHACHA20POLY1305_NONCE_SIZE],
                              const void *aad, size_t aad_len)
{
    if (c == NULL || key == NULL || nonce == NULL || (aad == NULL && aad_len > 0)) return REC_E_INVAL;
    chachapoly_init(state(c), key, nonce, REC_CHACHA20POLY1305_NONCE_SIZE);
    if (aad_len > 0) chachapoly_aad(state(c), aad, aad_len);
    c->text_len = 0;
    c->mode = MODE_READY;
    return REC_OK;
}

/* Arguments, direction (fixed by the first call after init) and the RFC 8439 length limit. */
static int check(rec_chacha20poly1305_t *c, uint32_t mode, const void *out, const void *in, size_t len)
{
    if (c == NULL || (len > 0 && (out == NULL || in == NULL))) return REC_E_INVAL;
    if (c->mode == MODE_READY) c->mode = mode;
    if (c->mode != mode) return REC_E_INVAL;
    if (len > REC_CHACHA20POLY1305_MAX_TEXT - c->text_len) return REC_E_RANGE;
    c->text_len += len;
    return REC_OK;
}

int rec_chacha20poly1305_encrypt(rec_chacha20poly1305_t *c, uint8_t *out, const uint8_t *in, size_t len)
{
    int err = check(c, MODE_ENCRYPT, out, in, len);
    if (err == REC_OK && len > 0) chachapoly_encrypt(state(c), out, in, len);
    return err;
}

int rec_chacha20poly1305_decrypt(rec_chacha20poly1305_t *c, uint8_t *out, const uint8_t *in, size_t len)
{
    int err = check(c, MODE_DECRYPT, out, in, len);
    if (err == REC_OK && len > 0) chachapoly_decrypt(state(c), out, in, len);
    return err;
}

int rec_chacha20poly1305_encrypt_final(rec_chacha20poly1305_t *c, uint8_t tag[REC_CHACHA20POLY1305_TAG_SIZE])
{
    if (tag == NULL) return REC_E_INVAL;
    int err = check(c, MODE_ENCRYPT, tag, tag, 0);
    if (err != REC_OK) return err;
    chachapoly_final(state(c), tag);
    rec_crypto_wipe(c, sizeof *c);
    return REC_OK;
}

int rec_chacha20poly1305_decrypt_final(rec_chacha20poly1305_t *c, const uint8_t tag[REC_CHACHA20POLY1305_TAG_SIZE])
{
    if (tag == NULL) return REC_E_INVAL;
    int err = check(c, MODE_DECRYPT, tag, tag, 0);
    if (err != REC_OK) return err;
    uint8_t expected[REC_CHACHA20POLY1305_TAG_SIZE];
    chachapoly_final(state(c), expected);
    uint8_t diff = 0;
    for (size_t i = 0; i < sizeof expected; i++) diff |= (uint8_t)(expected[i] ^ tag[i]);
    rec_crypto_wipe(expected, sizeof expected);
    rec_crypto_wipe(c, sizeof *c);
    return diff == 0 ? REC_OK : REC_E_MISMATCH;
}
