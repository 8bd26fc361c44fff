/* ChaCha20-Poly1305 (core/crypto/chacha20poly1305.c over libtorsion): RFC 8439 and Wycheproof
 * vectors in one piece and split, in place, tampering, direction and argument errors, wipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto_vectors.h"
#include "rec/chacha20poly1305.h"
#include "rec/err.h"
#include "support/hex.h"

/* Encrypts msg in pieces of `step` bytes (0: one piece) and returns the tag. */
static void encrypt_steps(const uint8_t *key, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                          const uint8_t *msg, uint8_t *ct, size_t len, size_t step, uint8_t tag[16])
{
    rec_chacha20poly1305_t c;
    assert_int_equal(rec_chacha20poly1305_init(&c, key, iv, aad, aad_len), REC_OK);
    for (size_t off = 0; off < len;) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        assert_int_equal(rec_chacha20poly1305_encrypt(&c, ct + off, msg + off, n), REC_OK);
        off += n;
    }
    assert_int_equal(rec_chacha20poly1305_encrypt_final(&c, tag), REC_OK);
}

static int decrypt_steps(const uint8_t *key, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                         const uint8_t *ct, uint8_t *msg, size_t len, size_t step, const uint8_t tag[16])
{
    rec_chacha20poly1305_t c;
    assert_int_equal(rec_chacha20poly1305_init(&c, key, iv, aad, aad_len), REC_OK);
    for (size_t off = 0; off < len;) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        assert_int_equal(rec_chacha20poly1305_decrypt(&c, msg + off, ct + off, n), REC_OK);
        off += n;
    }
    return rec_chacha20poly1305_decrypt_final(&c, tag);
}

static const size_t STEPS[] = {0, 1, 7, 16, 63, 64, 65};

/* Valid: encryption gives ct and tag, decryption gives msg and accepts; invalid (modified tag or
 * ciphertext): decryption rejects. Nonces other than 96 bits cannot be passed (counted). */
static size_t check_aead_vectors(const aead_vector_t *v, size_t count)
{
    size_t skipped = 0;
    for (size_t i = 0; i < count; i++) {
        size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
        uint8_t *key = rec_test_unhex(v[i].key, &key_len);
        uint8_t *iv = rec_test_unhex(v[i].iv, &iv_len);
        uint8_t *aad = rec_test_unhex(v[i].aad, &aad_len);
        uint8_t *msg = rec_test_unhex(v[i].msg, &msg_len);
        uint8_t *ct = rec_test_unhex(v[i].ct, &ct_len);
        uint8_t *tag = rec_test_unhex(v[i].tag, &tag_len);
        if (iv_len != REC_CHACHA20POLY1305_NONCE_SIZE) {
            assert_int_equal(v[i].result, VECTOR_INVALID);
            skipped++;
        } else {
            assert_int_equal(key_len, 32);
            assert_int_equal(tag_len, 16);
            assert_int_equal(ct_len, msg_len);
            uint8_t *buf = malloc(msg_len + 1);
            assert_non_null(buf);
            for (size_t s = 0; s < REC_COUNT_OF(STEPS); s++) {
                int err = decrypt_steps(key, iv, aad, aad_len, ct, buf, ct_len, STEPS[s], tag);
                if (v[i].result == VECTOR_VALID) {
                    if (err != REC_OK) fail_msg("tcId %d (%s): rejected", v[i].tc_id, v[i].comment);
                    assert_memory_equal(buf, msg, msg_len);
                    uint8_t got_tag[16];
                    encrypt_steps(key, iv, aad, aad_len, msg, buf, msg_len, STEPS[s], got_tag);
                    assert_memory_equal(buf, ct, ct_len);
                    assert_memory_equal(got_tag, tag, 16);
                } else if (err != REC_E_MISMATCH) {
                    fail_msg("tcId %d (%s): %d", v[i].tc_id, v[i].comment, err);
                }
            }
            free(buf);
        }
        free(key);
        free(iv);
        free(aad);
        free(msg);
        free(ct);
        free(tag);
    }
    return skipped;
}

static void test_rfc8439(void **state)
{
    (void)state;
    assert_int_equal(check_aead_vectors(RFC8439_CHACHA20_POLY1305, RFC8439_CHACHA20_POLY1305_COUNT), 0);
}

static void test_wycheproof(void **state)
{
    (void)state;
    /* The file's 96-bit-nonce vectors all run; the others (nonce sizes 0 to 128 bits but 96)
     * are invalid for RFC 8439 and the fixed-size API cannot express them. */
    size_t skipped = check_aead_vectors(WYCHEPROOF_CHACHA20_POLY1305_TEST, WYCHEPROOF_CHACHA20_POLY1305_TEST_COUNT);
    assert_int_equal(skipped, 9);
}

/* In place; every single-bit change of ciphertext, tag or AAD is rejected. */
static void test_in_place_and_tampering(void **state)
{
    (void)state;
    uint8_t key[32], iv[12], aad[5] = {1, 2, 3, 4, 5}, msg[150], buf[150], ref[150], tag[16], t2[16];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof iv; i++) iv[i] = (uint8_t)(i + 100);
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 13);
    encrypt_steps(key, iv, aad, sizeof aad, msg, ref, sizeof msg, 0, tag);
    memcpy(buf, msg, sizeof buf);
    encrypt_steps(key, iv, aad, sizeof aad, buf, buf, sizeof buf, 33, t2);
    assert_memory_equal(buf, ref, sizeof buf);
    assert_memory_equal(t2, tag, 16);
    assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad, buf, buf, sizeof buf, 17, tag), REC_OK);
    assert_memory_equal(buf, msg, sizeof buf);
    uint8_t out[150];
    for (size_t bit = 0; bit < 8 * sizeof ref; bit += 5) {
        ref[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad, ref, out, sizeof ref, 0, tag), REC_E_MISMATCH);
        ref[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 128; bit++) {
        tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad, ref, out, sizeof ref, 0, tag), REC_E_MISMATCH);
        tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 40; bit++) {
        aad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad, ref, out, sizeof ref, 0, tag), REC_E_MISMATCH);
        aad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad - 1, ref, out, sizeof ref, 0, tag), REC_E_MISMATCH);
    assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad, ref, out, sizeof ref - 1, 0, tag), REC_E_MISMATCH);
    assert_int_equal(decrypt_steps(key, iv, aad, sizeof aad, ref, out, sizeof ref, 0, tag), REC_OK);
}

static void test_direction_and_arguments(void **state)
{
    (void)state;
    uint8_t key[32] = {0}, iv[12] = {0}, b[4] = {0}, tag[16];
    rec_chacha20poly1305_t c, zero;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(rec_chacha20poly1305_init(NULL, key, iv, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_init(&c, NULL, iv, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_init(&c, key, NULL, NULL, 0), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_init(&c, key, iv, NULL, 1), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_init(&c, key, iv, NULL, 0), REC_OK);
    assert_int_equal(rec_chacha20poly1305_encrypt(&c, NULL, b, 1), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_encrypt(&c, b, b, sizeof b), REC_OK);
    assert_int_equal(rec_chacha20poly1305_decrypt(&c, b, b, sizeof b), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_decrypt_final(&c, tag), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_encrypt_final(&c, NULL), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_encrypt_final(&c, tag), REC_OK);
    assert_memory_equal(&c, &zero, sizeof c);   /* wiped: no further use */
    assert_int_equal(rec_chacha20poly1305_encrypt(&c, b, b, 1), REC_E_INVAL);
    assert_int_equal(rec_chacha20poly1305_init(&c, key, iv, NULL, 0), REC_OK);
    assert_int_equal(rec_chacha20poly1305_decrypt_final(&c, tag), REC_E_MISMATCH);
    assert_memory_equal(&c, &zero, sizeof c);
    /* The RFC 8439 length limit (2^32 - 1 blocks), without encrypting 256 GiB. */
    assert_int_equal(rec_chacha20poly1305_init(&c, key, iv, NULL, 0), REC_OK);
    c.text_len = REC_CHACHA20POLY1305_MAX_TEXT - 2;
    assert_int_equal(rec_chacha20poly1305_encrypt(&c, b, b, 3), REC_E_RANGE);
    assert_int_equal(rec_chacha20poly1305_encrypt(&c, b, b, 2), REC_OK);
    assert_int_equal(rec_chacha20poly1305_encrypt(&c, b, b, 1), REC_E_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8439),
        cmocka_unit_test(test_wycheproof),
        cmocka_unit_test(test_in_place_and_tampering),
        cmocka_unit_test(test_direction_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
