/* Encrypted recordings (docs/design/encryption.md): the recorder's side of rec/age.h. While the
 * owner's recipient is set (rec/recipient.h) and the device has NVM, a recording is
 * RECORDS/RECnnnnn.AGE (age v1; its plaintext is the WAV plain mode writes) with the hold file
 * RECnnnnn.HLD beside it until it is finished. Its 16-byte file key is kept in the NVM state log
 * (AGE_KEY_A / AGE_KEY_B: u32 number, key) from before anything is encrypted until the recording
 * is sealed, so recovery and sealing can decrypt; sealing destroys it. */
#ifndef REC_ENCRYPTED_H
#define REC_ENCRYPTED_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/age.h"

/* Builds without room for it (the QEMU image: docs/qemu.md) compile it out: 0 makes every
 * function below a stub (no recording is encrypted, SET_RECIPIENT answers BAD_STATE) and links
 * none of the age code. */
#ifndef REC_ENCRYPTION
#define REC_ENCRYPTION 1
#endif

typedef struct rec_device rec_device_t; /* device.h */

/* The next recording is encrypted: a recipient is set and the device has NVM for its key. */
bool rec_enc_wanted(const rec_device_t *d);

/* At start, after the .AGE and the hold file are created (d->cur.file, base_lba, hold,
 * hold_lba) and the WAV header built (d->cur.header): draws the file key, nonce and ephemeral secret from a
 * DRBG seeded by port_entropy, keeps the key in NVM, writes the age header and the hold file's
 * WAV header. The idle audio ring is the entropy pool's scratch. REC_E_ENTROPY when the pool
 * fails its health checks (no recording then: it would not be private). */
int rec_enc_begin(rec_device_t *d);
/* Encrypts len bytes of audio in place and writes them (rec_age_writer_put). */
int rec_enc_put(rec_device_t *d, uint8_t *audio, uint32_t len);
/* The size patch: the partly filled block, the .AGE's size, the directory entry synced. */
int rec_enc_patch(rec_device_t *d);
/* At stop, once every audio byte has been put: FINAL record, finish (chunk 0, the last chunk),
 * the .AGE's size. `evid` is the evid chunk; d->cur.header gets the final sizes. */
int rec_enc_stop(rec_device_t *d, uint8_t stop_reason, uint8_t flags, const uint8_t sha256[32], const uint8_t *evid,
                 uint32_t evid_len);
/* After the journal record: removes the hold file and forgets the keys in RAM. */
int rec_enc_close(rec_device_t *d);
/* A start that failed: forgets the keys in RAM and closes the hold file (recovery does the rest). */
void rec_enc_forget(rec_device_t *d);

/* At mount: closes every recording whose hold file is still there (cut before it was finished),
 * as rec_store_recover does for WAVs: its FINAL record or the last size patch, the finish, a
 * journal record (RECORDING with RECOVERED and ENCRYPTED) unless the journal has it, then the
 * hold file removed. A recording whose key is not in NVM is left as it is (logged); one cut
 * before any audio is removed with its empty CKP. Then the keys of recordings that are sealed,
 * not on this card, or never to be sealed (no checkpoints to close) are destroyed; a recovered
 * one keeps its key for its stop checkpoint (rec_ckpt_recover) and sealing (rec/seal.h). */
int rec_enc_recover(rec_device_t *d, uint8_t stop_reason, uint32_t *recovered);

/* The file key of a recording (REC_E_NOENT when the NVM holds none: sealed, or evicted). */
int rec_enc_file_key(rec_device_t *d, uint32_t number, uint8_t key[REC_AGE_FILE_KEY_SIZE]);
/* Destroys it: the slot written with a zero key, older entries programmed to zero. */
int rec_enc_destroy_key(rec_device_t *d, uint32_t number);

#endif
