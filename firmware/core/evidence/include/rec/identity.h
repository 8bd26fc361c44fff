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
#include "rec/nvm.h"

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

/* ---- Lifecycle: boot and PROVISION (the key lives in NVM copies A and B, rec/nvm.h) ---------
 *
 * Boot: a copy is valid when magic, version, size and CRC-32 check and the seed's key pair has
 * the stored public key. A is tried first, then B; the other copy is rewritten when it differs
 * (repair). When no copy is valid but one is not blank, the key is DAMAGED: the device records
 * unsigned and never makes a new key by itself (PROVISION with force replaces it).
 * Returns REC_OK (key loaded or none stored), REC_E_CORRUPT (damaged), REC_E_UNSUPPORTED (no
 * NVM), or an NVM error. simulated and the unique id are filled in every case. */
int rec_identity_boot(rec_identity_t *id, rec_nvm_t *nvm);

/* Raw-bit health of an entropy pool (contract: a run of equal bits < 320, ones between 25 %
 * and 75 %, transitions >= 1/8 of the bits). */
typedef struct {
    uint32_t bits;
    uint32_t ones;
    uint32_t longest_run;
    uint32_t transitions;
} rec_entropy_health_t;
#define REC_ENTROPY_MAX_RUN 320u
bool rec_entropy_health(const uint8_t *pool, uint32_t len, rec_entropy_health_t *out);

/* Bytes of raw pool asked of port_entropy: 64 from an OS or semihosting source, 2048 of packed
 * ring-oscillator bits (RP_ENTROPY_ROSC); scratch must hold REC_ENTROPY_POOL_MAX. */
#define REC_ENTROPY_POOL_OS 64u
#define REC_ENTROPY_POOL_MAX 2048u

/* PROVISION: seed = SHA-256("ER-1 seed v1" || raw pool || host_random || unique id (8 bytes,
 * when the port has one) || uptime ms (8 bytes little-endian)); the key pair of the seed is
 * written to copy A, then copy B, and loaded. REC_E_BUSY when a key exists (or is damaged) and
 * force is false; REC_E_ENTROPY when the pool fails the health checks (entropy_failed set, no
 * key made, the old key kept); REC_E_UNSUPPORTED without NVM or entropy; NVM errors. */
int rec_identity_provision(rec_identity_t *id, rec_nvm_t *nvm, const uint8_t host_random[32], bool force,
                           uint8_t *scratch, uint32_t scratch_bytes);

#endif
