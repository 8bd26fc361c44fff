/* The device key in RAM: derivation from the seed, the key id, signing (rec/identity.h). */
#include "rec/identity.h"

#include <string.h>

#include "rec/err.h"
#include "rec/sha256.h"

int rec_identity_from_seed(rec_identity_t *id, const uint8_t seed[REC_ED25519_SEED_SIZE])
{
    if (!id || !seed) return REC_E_INVAL;
    int err = rec_ed25519_keypair_from_seed(&id->key, seed);
    if (err) return err;
    uint8_t digest[32];
    rec_sha256(id->key.public_key, REC_ED25519_PUBLIC_KEY_SIZE, digest);
    memcpy(id->key_id, digest, REC_KEY_ID_SIZE);
    id->has_key = true;
    id->damaged = false;
    return REC_OK;
}

int rec_identity_sign(const rec_identity_t *id, const void *msg, size_t len,
                      uint8_t sig[REC_ED25519_SIGNATURE_SIZE])
{
    if (!id || !sig || (!msg && len)) return REC_E_INVAL;
    if (!id->has_key) return REC_E_NOKEY;
    return rec_ed25519_sign(sig, msg, len, &id->key);
}

void rec_identity_clear(rec_identity_t *id)
{
    if (!id) return;
    rec_ed25519_wipe(&id->key);
    memset(id->key_id, 0, sizeof id->key_id);
    id->has_key = false;
}
