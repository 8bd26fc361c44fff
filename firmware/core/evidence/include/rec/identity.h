/* The device identity: an Ed25519 key pair made on the device (at PROVISION), kept in the
 * device's own non-volatile memory (nvm.h; never on the card) and never sent out. Everything the
 * device vouches for (statements, checkpoints, the journal head) is signed with it.
 *
 * The key id is the first 8 bytes of SHA-256 of the public key: the signify/minisign key id of
 * the device's statements, and the fingerprint the app shows (docs/design/evidence.md §1). */
#ifndef REC_IDENTITY_H
#define REC_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/ed25519.h"

#define REC_KEY_ID_SIZE 8u

typedef struct {
    bool has_key;               /* a valid key is loaded: the device signs */
    bool damaged;               /* a stored key failed its checks: unsigned until re-provisioned */
    bool entropy_failed;        /* the last PROVISION failed the entropy health checks */
    bool simulated;             /* the key lives on a simulated device (simulator, QEMU) */
    uint8_t entropy_source;     /* RP_ENTROPY_* */
    uint8_t key_id[REC_KEY_ID_SIZE];
    uint8_t unique_id[8];       /* hardware unique id; zero when the port has none */
    bool has_unique_id;
    rec_ed25519_keypair_t key;  /* the secret never leaves RAM and NVM */
} rec_identity_t;

/* Loads the key pair of a 32-byte seed and derives its key id (has_key true). REC_OK or
 * REC_E_INVAL. Used when loading from NVM, at PROVISION, and by tests with a fixed seed. */
int rec_identity_from_seed(rec_identity_t *id, const uint8_t seed[REC_ED25519_SEED_SIZE]);

/* Signs len bytes with the device key: REC_OK, REC_E_NOKEY without a key, REC_E_INVAL. */
int rec_identity_sign(const rec_identity_t *id, const void *msg, size_t len,
                      uint8_t sig[REC_ED25519_SIGNATURE_SIZE]);

/* Forgets the key (overwrites the secret in RAM); has_key false. */
void rec_identity_clear(rec_identity_t *id);

#endif
