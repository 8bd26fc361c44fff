/* The device key in RAM (evidence/identity.c): derivation from a seed, the key id, signing, and
 * refusal without a key. RFC 8032 section 7.1, TEST 2 (one-byte message 0x72). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/port_fake.h"
#include "rec/err.h"
#include "rec/identity.h"
#include "rec/sha256.h"
#include "support/hex.h"

static const char *SEED = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
static const char *PUBLIC_KEY = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
static const char *SIGNATURE =
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

static void test_seed_gives_the_rfc_key_and_its_key_id(void **state)
{
    (void)state;
    size_t n;
    uint8_t *seed = rec_test_unhex(SEED, &n);
    uint8_t *pk = rec_test_unhex(PUBLIC_KEY, &n);
    rec_identity_t id;
    memset(&id, 0, sizeof id);
    assert_int_equal(rec_identity_from_seed(&id, seed), REC_OK);
    assert_true(id.has_key);
    assert_memory_equal(id.key.public_key, pk, 32);
    uint8_t digest[32];
    rec_sha256(pk, 32, digest);
    assert_memory_equal(id.key_id, digest, REC_KEY_ID_SIZE);
    free(seed);
    free(pk);
}

static void test_signs_with_the_key_and_refuses_without_one(void **state)
{
    (void)state;
    size_t n;
    uint8_t *seed = rec_test_unhex(SEED, &n);
    uint8_t *want = rec_test_unhex(SIGNATURE, &n);
    rec_identity_t id;
    memset(&id, 0, sizeof id);
    uint8_t sig[64];
    const uint8_t msg = 0x72;
    assert_int_equal(rec_identity_sign(&id, &msg, 1, sig), REC_E_NOKEY);
    assert_int_equal(rec_identity_from_seed(&id, seed), REC_OK);
    assert_int_equal(rec_identity_sign(&id, &msg, 1, sig), REC_OK);
    assert_memory_equal(sig, want, 64);
    assert_int_equal(rec_identity_sign(&id, NULL, 1, sig), REC_E_INVAL);
    rec_identity_clear(&id);
    assert_false(id.has_key);
    static const uint8_t zero[REC_ED25519_SECRET_SIZE];
    assert_memory_equal(id.key.secret, zero, sizeof zero);
    assert_int_equal(rec_identity_sign(&id, &msg, 1, sig), REC_E_NOKEY);
    free(seed);
    free(want);
}

int main(void)
{
    port_fake_reset(); /* the evidence component logs and reads the clock through the port */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_gives_the_rfc_key_and_its_key_id),
        cmocka_unit_test(test_signs_with_the_key_and_refuses_without_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
