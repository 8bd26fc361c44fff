/* A strict age v1 reader for the tests: age_open.h. */
#include "support/age_open.h"

#include <stdlib.h>
#include <string.h>

#include "rec/age.h"
#include "rec/chacha20poly1305.h"
#include "rec/err.h"
#include "rec/hmac_sha256.h"
#include "rec/x25519.h"

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* 43 characters of unpadded base64 to 32 bytes; -1 when malformed. */
static int b64_32(const uint8_t *in, uint8_t out[32])
{
    uint32_t acc = 0, bits = 0, n = 0;
    for (unsigned i = 0; i < 43; i++) {
        int v = b64_value((char)in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n == 32 ? 0 : -1;
}

int rec_test_age_open(const uint8_t *file, size_t size, const uint8_t identity[32], uint8_t **out, size_t *out_len,
                      uint8_t file_key_out[16])
{
    static const char intro[] = "age-encryption.org/v1\n-> X25519 ";
    if (size < REC_AGE_HEADER_SIZE + 16u || memcmp(file, intro, sizeof intro - 1u) != 0) return REC_E_CORRUPT;
    uint8_t share[32], body[32], pub[32], shared[32], salt[64], wrap[32], file_key[16];
    if (b64_32(file + 32, share) || file[75] != '\n' || b64_32(file + 76, body) || file[119] != '\n') return REC_E_CORRUPT;
    int err = rec_x25519_base(pub, identity);
    if (!err) err = rec_x25519(shared, identity, share);
    if (err) return err;
    memcpy(salt, share, 32);
    memcpy(salt + 32, pub, 32);
    static const char info[] = "age-encryption.org/v1/X25519";
    err = rec_hkdf_sha256(wrap, 32, salt, 64, shared, 32, info, sizeof info - 1u);
    static const uint8_t zero[12];
    rec_chacha20poly1305_t c;
    if (!err) err = rec_chacha20poly1305_init(&c, wrap, zero, NULL, 0);
    if (!err) err = rec_chacha20poly1305_decrypt(&c, file_key, body, 16);
    if (!err) err = rec_chacha20poly1305_decrypt_final(&c, body + 16);
    if (err) return err;
    uint8_t nonce[16];
    err = rec_age_header_check(file, file_key, nonce);
    if (err) return err;
    rec_age_keys_t keys;
    err = rec_age_keys(&keys, file_key, nonce);
    if (err) return err;
    const size_t body_len = size - REC_AGE_HEADER_SIZE, stored = REC_AGE_CHUNK_SIZE + 16u;
    const size_t chunks = (body_len + stored - 1u) / stored;
    if (body_len % stored != 0 && body_len % stored <= 16u && chunks > 1) return REC_E_CORRUPT; /* empty last chunk */
    uint8_t *plain = malloc(body_len + 1u);
    if (!plain) return REC_E_TOOBIG;
    size_t n = 0;
    for (size_t k = 0; k < chunks; k++) {
        const uint8_t *ct = file + REC_AGE_HEADER_SIZE + k * stored;
        const size_t len = (k + 1u == chunks ? body_len - k * stored : stored) - 16u;
        uint8_t nb[12] = { 0 };
        for (unsigned i = 0; i < 8; i++) nb[10u - i] = (uint8_t)((uint64_t)k >> (8u * i));
        nb[11] = k + 1u == chunks ? 1 : 0;
        err = rec_chacha20poly1305_init(&c, keys.payload_key, nb, NULL, 0);
        if (!err) err = rec_chacha20poly1305_decrypt(&c, plain + n, ct, len);
        if (!err) err = rec_chacha20poly1305_decrypt_final(&c, ct + len);
        if (err) {
            free(plain);
            return err;
        }
        n += len;
    }
    if (file_key_out) memcpy(file_key_out, file_key, 16);
    *out = plain;
    *out_len = n;
    return REC_OK;
}
