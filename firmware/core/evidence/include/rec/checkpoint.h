/* Signed checkpoints of a recording: REC*.CKP beside the WAV, one 512-byte CHECKPOINT_SLOT (one
 * card block) per checkpoint, the message ASCII (space padded to 447 bytes, then LF) and an
 * Ed25519 signature over the 448 message bytes (docs/firmware.md "Checkpoints"):
 *
 *   slot 0:  ER1 start v1 k=<key id> r=<number> rate=<Hz> t0=<ISO or -> u0=<uptime ms> pj=<hex>
 *   slot i:  ER1 ckpt v1 k= r= i=<4 digits> n=<10 digits> u=<uptime ms> s=<32 hex> h=<64 hex>
 *   stop:    ER1 stop v1 k= r= i= n= why=<reason> rec=<0|1> vouched=<n> s= h= f=<64 hex>
 *
 * s is the first 16 bytes of SHA-256 of slot 0's message, h the SHA-256 of audio bytes [0, 2n),
 * f the SHA-256 of the WAV header (1024 bytes) followed by the whole evid chunk.
 *
 * While recording (only when the device has a key) the file is preallocated contiguous at start
 * and written by direct block writes like the audio: slot 0 at start, a slot every
 * RP_CARD_CHECKPOINT_INTERVAL_S seconds of audio (the running SHA-256 of the audio is forked at
 * the exact sample, then signed after a write burst has drained the ring, so the ~116 ms of
 * signing on the RP2040 never runs while blocks wait), the stop slot at stop; the directory
 * entry's size follows each slot, and the chain is trimmed at stop. */
#ifndef REC_CHECKPOINT_H
#define REC_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/fat.h"
#include "rec/identity.h"
#include "rec/sha256.h"
#include "rec_protocol.h"

#define REC_CKPT_SLOT_SIZE RP_CHECKPOINT_SLOT_SIZE          /* 512 */
#define REC_CKPT_MSG_SIZE RP_CHECKPOINT_SLOT_OFF_SIGNATURE  /* 448 */
#define REC_CKPT_SESSION_SIZE 16u

enum { REC_CKPT_START = 1, REC_CKPT_MID = 2, REC_CKPT_STOP = 3 };

/* A slot as parsed (rec_ckpt_parse). */
typedef struct {
    uint8_t kind;                       /* REC_CKPT_* */
    uint8_t key_id[REC_KEY_ID_SIZE];
    uint32_t number;
    uint32_t index;                     /* 0 for the start slot */
    uint32_t samples;                   /* n (0 for start) */
    uint32_t rate;                      /* start only */
    uint8_t session[REC_CKPT_SESSION_SIZE]; /* s (mid, stop) */
    uint8_t h[32];                      /* mid, stop */
    uint8_t f[32];                      /* stop */
    uint8_t why;                        /* stop: RP_STOP_* */
    bool recovered;                     /* stop: rec=1 */
    uint32_t vouched;                   /* stop */
} rec_ckpt_t;

/* The state of the checkpoints of the recording in progress (in rec_recording_state_t). */
typedef struct {
    bool active;                        /* the recording is being signed */
    rec_fat_file_t file;
    uint32_t base_lba;                  /* block of slot 0 (contiguous file) */
    uint32_t capacity;                  /* slots that fit */
    uint32_t slots;                     /* slots written */
    uint8_t session[REC_CKPT_SESSION_SIZE];
    uint32_t interval_bytes;            /* audio bytes between checkpoints */
    uint64_t next_bytes;                /* audio offset of the next checkpoint */
    bool pending;                       /* a checkpoint's hash is forked, not yet signed */
    uint32_t pending_samples;
    uint64_t pending_uptime_ms;
    rec_sha256_t fork;
} rec_ckpt_state_t;

/* ---- Messages (pure) ---------------------------------------------------------------------- */
/* Each writes the 448 message bytes (padded, LF-terminated); REC_E_INVAL if it does not fit. */
int rec_ckpt_format_start(uint8_t msg[REC_CKPT_MSG_SIZE], const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number,
                          uint32_t rate, bool clock_set, int64_t t0_unix_ms, uint64_t u0_ms, const uint8_t pj[32]);
int rec_ckpt_format_mid(uint8_t msg[REC_CKPT_MSG_SIZE], const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number,
                        uint32_t index, uint32_t samples, uint64_t u_ms, const uint8_t session[REC_CKPT_SESSION_SIZE],
                        const uint8_t h[32]);
int rec_ckpt_format_stop(uint8_t msg[REC_CKPT_MSG_SIZE], const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number,
                         uint32_t index, uint32_t samples, uint8_t why, bool recovered, uint32_t vouched,
                         const uint8_t session[REC_CKPT_SESSION_SIZE], const uint8_t h[32], const uint8_t f[32]);
/* s: the first 16 bytes of SHA-256 of slot 0's 448 message bytes. */
void rec_ckpt_session(const uint8_t slot0[REC_CKPT_MSG_SIZE], uint8_t session[REC_CKPT_SESSION_SIZE]);
/* Signs the message in slot[0..448) into slot[448..512). */
int rec_ckpt_sign(const rec_identity_t *id, uint8_t slot[REC_CKPT_SLOT_SIZE]);
/* Parses a slot; with a key, also checks that it signed the slot. REC_E_CORRUPT when malformed
 * or the signature is not the key's. The check signs the message again and compares: Ed25519
 * is deterministic, and the device then needs no verification code (flash) and none of its
 * stack (ge_double_scalarmult alone takes 2.3 KiB on the Cortex-M3). */
int rec_ckpt_parse(const uint8_t slot[REC_CKPT_SLOT_SIZE], const rec_identity_t *key, rec_ckpt_t *out);

/* "RECORDS/REC00042.<ext>" for a sidecar file of a recording. */
int rec_ckpt_path(uint32_t number, const char *ext, char out[24]);

/* ---- While recording (recorder.c calls these; d is the device context) -------------------- */
typedef struct rec_device rec_device_t;
/* Bytes to hold back from the WAV's preallocation for the CKP of a recording of up to
 * wav_bytes (0 without a key). */
uint32_t rec_ckpt_reserve(const rec_device_t *d, uint64_t wav_bytes);
/* Creates the CKP (in the caller's FAT update bracket, scratch lent). Without a key, or when
 * there is no room, the recording goes on unsigned (REC_OK). Errors: card errors. */
int rec_ckpt_create(rec_device_t *d, const char *wav_path, uint64_t wav_bytes);
/* Writes and signs slot 0 (after the WAV header is on the card). */
int rec_ckpt_start(rec_device_t *d);
/* The audio hash of the recording: hashes len bytes and forks the context at a checkpoint. */
void rec_ckpt_hash_audio(rec_device_t *d, const uint8_t *data, uint32_t len);
/* Signs and writes a forked checkpoint (call when the ring is drained). */
int rec_ckpt_flush(rec_device_t *d);
/* The stop slot (after the WAV's evid chunk and header are on the card): h = final audio hash,
 * f over header and evid chunk. */
int rec_ckpt_stop(rec_device_t *d, uint8_t why, uint32_t samples, const uint8_t h[32], const uint8_t *evid_chunk,
                  uint32_t evid_len);
/* Trims the CKP's chain to its slots and closes it (in the stop's FAT update bracket). */
int rec_ckpt_close(rec_device_t *d);

/* ---- After a power cut (device.c calls this after rec_store_recover) -------------------- */
/* For every recording whose CKP does not end in a stop slot (a cheap check of its last slot):
 * re-hashes the audio on the card, checks the slots in order (signature, number, index, s),
 * finds the last slot whose h matches the card's prefix, and writes a recovered stop slot after
 * the valid ones (why=<the WAV's stop reason, power-loss after a cut> rec=1 vouched=<that
 * slot's n> n=<samples found>); trims the CKP. Without a key it leaves the files alone. An
 * encrypted recording's audio is its .AGE decrypted with the file key still in NVM (rec/age.h's
 * reader: only decrypts); without that key, or when the .AGE does not decrypt, it is left as
 * it is. Idempotent: a cut during it is redone with the same bytes on the next mount. *fixed
 * counts stop slots written. Uses the audio ring for its reader and read buffer (idle while a
 * card is attached without recording). */
int rec_ckpt_recover(rec_device_t *d, uint32_t *fixed);

#endif
