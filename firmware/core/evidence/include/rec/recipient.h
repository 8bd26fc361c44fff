/* The owner's age recipient (an X25519 public key), kept in the device's NVM: NVM_RECIPIENT copies
 * A and B at offset 0 of sectors 4 and 5 (docs/design/encryption.md, "Recipient"). While one is
 * set, recordings are encrypted to it (REC*.AGE); SET_RECIPIENT (0x0f) sets, clears and reads it.
 *
 * Copies are written A then B. Boot takes A when valid (magic, version, size, CRC-32), else B, and
 * rewrites the other when it differs (repair). A cleared recipient is a valid record without the
 * SET flag, not an erased pair: a cut between two erases could bring the old recipient back. */
#ifndef REC_RECIPIENT_H
#define REC_RECIPIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/nvm.h"

#define REC_RECIPIENT_SIZE 32u

typedef struct {
    bool set;                            /* recordings started from now on are encrypted */
    bool damaged;                        /* neither copy valid though one is not blank */
    uint8_t key[REC_RECIPIENT_SIZE];     /* zero when not set */
} rec_recipient_t;

/* Loads the recipient (and repairs a copy). REC_OK (set or not; one copy blank and the other torn
 * is a first SET cut short: not set), REC_E_CORRUPT when both copies are damaged (then not set: the device records in plain and says so), REC_E_UNSUPPORTED without
 * NVM, or an NVM error. */
int rec_recipient_boot(rec_recipient_t *r, rec_nvm_t *nvm);

/* Sets (key non-NULL) or clears (key NULL) the recipient in both copies. REC_E_INVAL for a key of
 * small order (no X25519 agreement with it is possible: age refuses such recipients);
 * REC_E_UNSUPPORTED without NVM; NVM errors. r changes only when copy A was written. */
int rec_recipient_store(rec_recipient_t *r, rec_nvm_t *nvm, const uint8_t key[REC_RECIPIENT_SIZE]);

/* False for a u-coordinate of small order (X25519 with any scalar gives zero). */
bool rec_recipient_acceptable(const uint8_t key[REC_RECIPIENT_SIZE]);

#endif
