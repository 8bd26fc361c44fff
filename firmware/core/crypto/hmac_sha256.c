/* HMAC-SHA-256 and HKDF-SHA-256 (rec/hmac_sha256.h). The key only flows through straight-line
 * XORs and SHA-256; branches and loop bounds depend on lengths alone. */
#include "rec/hmac_sha256.h"

#include <string.h>

#include "rec/err.h"

void rec_crypto_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) *v++ = 0;
}

void rec_hmac_sha256_init(rec_hmac_sha256_t *m, const void *key, size_t key_len)
{
    uint8_t k[REC_SHA256_BLOCK_SIZE];
    memset(k, 0, sizeof k);
    if (key_len > REC_SHA256_BLOCK_SIZE) {
        rec_sha256(key, key_len, k);   /* RFC 2104: a long key is replaced by its hash */
    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }
    uint8_t ipad_key[REC_SHA256_BLOCK_SIZE];
    for (size_t i = 0; i < REC_SHA256_BLOCK_SIZE; i++) {
        ipad_key[i] = (uint8_t)(k[i] ^ 0x36u);
        m->opad_key[i] = (uint8_t)(k[i] ^ 0x5cu);
    }
    rec_sha256_init(&m->inner);
    rec_sha256_update(&m->inner, ipad_key, sizeof ipad_key);
    rec_crypto_wipe(k, sizeof k);
    rec_crypto_wipe(ipad_key, sizeof ipad_key);
}

void rec_hmac_sha256_update(rec_hmac_sha256_t *m, const void *data, size_t len)
{
    rec_sha256_update(&m->inner, data, len);
}

void rec_hmac_sha256_final(rec_hmac_sha256_t *m, uint8_t mac[REC_HMAC_SHA256_SIZE])
{
    uint8_t inner[REC_SHA256_DIGEST_SIZE];
    rec_sha256_final(&m->inner, inner);
    rec_sha256_t outer;
    rec_sha256_init(&outer);
    rec_sha256_update(&outer, m->opad_key, sizeof m->opad_key);
    rec_sha256_update(&outer, inner, sizeof inner);
    rec_sha256_final(&outer, mac);
    rec_crypto_wipe(inner, sizeof inner);
    rec_crypto_wipe(&outer, sizeof outer);
    rec_hmac_sha256_wipe(m);
}

void rec_hmac_sha256_wipe(rec_hmac_sha256_t *m)
{
    rec_crypto_wipe(m, sizeof *m);
}

void rec_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t mac[REC_HMAC_SHA256_SIZE])
{
    rec_hmac_sha256_t m;
    rec_hmac_sha256_init(&m, key, key_len);
    rec_hmac_sha256_update(&m, data, len);
    rec_hmac_sha256_final(&m, mac);
}

void rec_hkdf_sha256_extract(uint8_t prk[REC_HMAC_SHA256_SIZE], const void *salt, size_t salt_len,
                             const void *ikm, size_t ikm_len)
{
    static const uint8_t zero_salt[REC_HMAC_SHA256_SIZE] = {0};
    if (salt == NULL || salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof zero_salt;
    }
    rec_hmac_sha256(salt, salt_len, ikm, ikm_len, prk);
}

int rec_hkdf_sha256_expand(uint8_t *out, size_t out_len, const void *prk, size_t prk_len,
                           const void *info, size_t info_len)
{
    if ((out == NULL && out_len > 0) || prk == NULL || (info == NULL && info_len > 0) ||
        prk_len < REC_HMAC_SHA256_SIZE || out_len > REC_HKDF_SHA256_MAX_OUTPUT) {
        return REC_E_INVAL;
    }
    /* T(i) = HMAC(PRK, T(i-1) || info || i); the PRK's padded keys are computed once. */
    rec_hmac_sha256_t keyed, m;
    rec_hmac_sha256_init(&keyed, prk, prk_len);
    uint8_t t[REC_HMAC_SHA256_SIZE];
    size_t t_len = 0;
    for (uint8_t i = 1; out_len > 0; i++) {
        m = keyed;
        rec_hmac_sha256_update(&m, t, t_len);
        rec_hmac_sha256_update(&m, info, info_len);
        rec_hmac_sha256_update(&m, &i, 1);
        rec_hmac_sha256_final(&m, t);
        t_len = sizeof t;
        size_t n = out_len < sizeof t ? out_len : sizeof t;
        memcpy(out, t, n);
        out += n;
        out_len -= n;
    }
    rec_crypto_wipe(t, sizeof t);
    rec_hmac_sha256_wipe(&keyed);
    return REC_OK;
}

int rec_hkdf_sha256(uint8_t *out, size_t out_len, const void *salt, size_t salt_len,
                    const void *ikm, size_t ikm_len, const void *info, size_t info_len)
{
    if (ikm == NULL && ikm_len > 0) return REC_E_INVAL;
    uint8_t prk[REC_HMAC_SHA256_SIZE];
    rec_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
    int err = rec_hkdf_sha256_expand(out, out_len, prk, sizeof prk, info, info_len);
    rec_crypto_wipe(prk, sizeof prk);
    return err;
}
