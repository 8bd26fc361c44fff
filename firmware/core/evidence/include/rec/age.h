/* age v1 (C2SP age.md) files written on the device as the audio arrives, with one X25519
 * recipient: the header, the streaming writer, and the finish that makes a file the stock `age`
 * decrypts, after a stop or after a power cut. The design and its power-cut reasoning are in
 * docs/design/encryption.md; in short:
 *
 *   .AGE   0        header text (168 bytes) and payload nonce (16): rec_age_header, at start
 *          184 + k * 65552   chunk k: 64 KiB of the WAV encrypted, then its tag
 *   .HLD   0..65535 WAV bytes 0..65535 (chunk 0's plaintext) under the hold key (ChaCha20, no
 *                   tag), each position written once
 *          65536    block 128: the AGE_FINAL record (plaintext, CRC-32), written once
 *          66048    from block 129: the last chunk's audio copied there by the finish before
 *                   the chunk is rewritten under the last-flag nonce (hold key, nonce 1, tag)
 *
 * While recording, the WAV header and the first 64,512 bytes of audio go to the hold file, the
 * rest straight to its final place in the .AGE (chunks 1.. under nonce (k, 0), each tag written
 * when its chunk is full). At stop, or in recovery, rec_age_finish builds chunk 0 from the hold
 * file with the final header and the last chunk (under the last-flag nonce) from the card, given
 * the FINAL record that fixed the plaintext first: a repeat after a cut writes the same bytes.
 *
 * Everything works on whole 512-byte blocks of a block device (both files contiguous, as the
 * recorder creates them). No heap; the writer's state is about 900 bytes. */
#ifndef REC_AGE_H
#define REC_AGE_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/bd.h"
#include "rec/chacha20poly1305.h"
#include "rec_codec.h"

#define REC_AGE_FILE_KEY_SIZE 16u
#define REC_AGE_NONCE_SIZE 16u
#define REC_AGE_HEADER_TEXT_SIZE 168u /* one X25519 stanza */
#define REC_AGE_HEADER_SIZE (REC_AGE_HEADER_TEXT_SIZE + REC_AGE_NONCE_SIZE) /* 184: chunk 0 starts here */
#define REC_AGE_CHUNK_SIZE 65536u
#define REC_AGE_TAG_SIZE 16u
#define REC_AGE_HOLD_FINAL_BLOCK (REC_AGE_CHUNK_SIZE / REC_BD_BLOCK_SIZE) /* 128 */
/* Chunk 0, the FINAL block, the copy of a last chunk's audio (up to 64 KiB) and its tag. */
#define REC_AGE_HOLD_BYTES ((2u * REC_AGE_HOLD_FINAL_BLOCK + 2u) * REC_BD_BLOCK_SIZE)
/* The most plaintext rec_age_finish takes after the audio: the WAV's markers and evid chunk
 * (REC_WAV_TAIL_MAX_BYTES, 4,658 bytes). */
#define REC_AGE_TAIL_MAX_BYTES 8192u
/* Scratch rec_age_finish and rec_age_hash_audio need (three card blocks). */
#define REC_AGE_SCRATCH_SIZE (3u * REC_BD_BLOCK_SIZE)

/* Offset in the .AGE of plaintext byte `plain` (tags of the chunks before it counted). */
uint64_t rec_age_offset(uint64_t plain);
/* Size of a complete .AGE of `plain` bytes of plaintext (at least one chunk). */
uint64_t rec_age_file_size(uint64_t plain);
/* Inverse of rec_age_offset for a size the writer reported (rec_age_writer_flush): false when
 * `size` is not one (inside a header or a tag). */
bool rec_age_plain_of(uint64_t size, uint64_t *plain);

typedef struct {
    uint8_t file_key[REC_AGE_FILE_KEY_SIZE];
    uint8_t nonce[REC_AGE_NONCE_SIZE];
    uint8_t payload_key[32]; /* HKDF(file key, salt nonce, "payload"): age's */
    uint8_t hold_key[32];    /* HKDF(file key, salt nonce, "ER-1 hold v1"): ours */
} rec_age_keys_t;

/* Derives the payload and hold keys. */
int rec_age_keys(rec_age_keys_t *k, const uint8_t file_key[REC_AGE_FILE_KEY_SIZE], const uint8_t nonce[REC_AGE_NONCE_SIZE]);
void rec_age_keys_wipe(rec_age_keys_t *k);

/* The first 184 bytes of the file: header text for one X25519 recipient (share = X25519(e, 9),
 * the file key wrapped under HKDF(X25519(e, recipient), share || recipient, "age-encryption.org/
 * v1/X25519"), the HMAC) and the payload nonce. REC_E_INVAL for a small-order recipient. */
int rec_age_header(uint8_t out[REC_AGE_HEADER_SIZE], const uint8_t file_key[REC_AGE_FILE_KEY_SIZE],
                   const uint8_t nonce[REC_AGE_NONCE_SIZE], const uint8_t ephemeral[32], const uint8_t recipient[32]);
/* Recovery: checks the header's MAC with the file key (REC_E_MISMATCH when it is not this key's
 * file, REC_E_CORRUPT when it is not a header of ours) and gives the nonce. */
int rec_age_header_check(const uint8_t in[REC_AGE_HEADER_SIZE], const uint8_t file_key[REC_AGE_FILE_KEY_SIZE],
                         uint8_t nonce[REC_AGE_NONCE_SIZE]);

/* ---- Reading a complete file in order ---------------------------------------------------------- */
/* The sealer and the recovered stop checkpoint decrypt a finished .AGE with the file key from
 * NVM: the header's MAC and every chunk's tag are checked (the last chunk under the last-flag
 * nonce). Reading only decrypts: nothing is encrypted, so no nonce is used again. */
typedef struct {
    uint8_t file_key[REC_AGE_FILE_KEY_SIZE];
    rec_age_keys_t keys;            /* from the header's nonce */
    rec_chacha20poly1305_t chunk;   /* the chunk being read */
    uint64_t size;                  /* the .AGE's size */
    uint64_t at;                    /* offset of the next byte to feed */
    uint8_t tag[REC_AGE_TAG_SIZE];
} rec_age_reader_t;

/* Starts reading a file of `size` bytes from its first byte. */
void rec_age_reader_start(rec_age_reader_t *r, const uint8_t file_key[REC_AGE_FILE_KEY_SIZE], uint64_t size);
/* Takes the next n bytes of the file: decrypts the chunks' bytes in place and moves the plaintext
 * to the start of p (*plain: its length; headers and tags give none). The header must come whole
 * in the first call. REC_E_MISMATCH for a header MAC or a tag that does not check (another key,
 * a changed byte), REC_E_CORRUPT for bytes past the end or a header that is not age's. */
int rec_age_reader_feed(rec_age_reader_t *r, uint8_t *p, uint32_t n, uint32_t *plain);
/* How many bytes to feed next for at most `want` bytes of plaintext: the header alone first,
 * then never past the chunk's end, its tag included when the run reaches it (the buffer needs
 * room for `want` + REC_AGE_TAG_SIZE, and for the header). 0 at the end of the file. */
uint32_t rec_age_reader_span(const rec_age_reader_t *r, uint32_t want);
/* Whether every byte of the file has been fed (and so every tag checked). */
bool rec_age_reader_done(const rec_age_reader_t *r);
void rec_age_reader_wipe(rec_age_reader_t *r);

/* ---- Writing as the audio arrives ------------------------------------------------------------- */
typedef struct {
    const rec_bd_t *bd;
    uint32_t age_lba, hold_lba;     /* first blocks of the two contiguous files */
    rec_age_keys_t keys;
    uint64_t plain;                 /* WAV bytes encrypted so far (header included) */
    rec_chacha20poly1305_t cipher;  /* hold stream while plain < 64 KiB, then chunk k's */
    uint32_t block_index;           /* .AGE block being filled */
    uint32_t fill;                  /* its bytes so far */
    uint8_t block[REC_BD_BLOCK_SIZE];
} rec_age_writer_t;

/* Writes the 184 header bytes as block 0 of the .AGE (zeros after them), the WAV header (1024
 * bytes, sizes as at start: never rewritten) as blocks 0 and 1 of the hold file, and zeros over
 * its FINAL block (the clusters may hold an earlier recording's hold file). */
int rec_age_writer_start(rec_age_writer_t *w, const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba,
                         const rec_age_keys_t *keys, const uint8_t header[REC_AGE_HEADER_SIZE],
                         const uint8_t wav_header[1024]);
/* Encrypts `len` bytes of audio IN PLACE and writes them: to the hold file below WAV byte 65536,
 * to the .AGE after (a chunk's tag as soon as it is full). Whole blocks, except in the last call
 * (the stop's short block): after a length that is not a multiple of 512 nothing more is taken
 * (REC_E_INVAL). */
int rec_age_writer_put(rec_age_writer_t *w, uint8_t *audio, uint32_t len);
/* Writes the partly filled .AGE block (so everything put is on the card) and gives the size
 * the .AGE's directory entry should now have (rec_age_plain_of gives the plaintext back). */
int rec_age_writer_flush(rec_age_writer_t *w, uint64_t *age_size);
void rec_age_writer_wipe(rec_age_writer_t *w);

/* ---- The FINAL record, finishing, hashing ------------------------------------------------------ */
/* Writes / reads block 128 of the hold file. Read: REC_E_NOENT when it is not a valid record. */
int rec_age_final_write(const rec_bd_t *bd, uint32_t hold_lba, const rp_age_final_t *fin);
int rec_age_final_read(const rec_bd_t *bd, uint32_t hold_lba, rp_age_final_t *fin);

/* The WAV header as it was written at start (decrypted from the hold file). */
int rec_age_hold_header(const rec_bd_t *bd, uint32_t hold_lba, const rec_age_keys_t *keys, uint8_t out[1024]);

/* SHA-256 of the `data_bytes` of audio written so far (hold file, then the .AGE's chunks under
 * (k, 0)): recovery's audio hash when there is no FINAL record. */
int rec_age_hash_audio(const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba, const rec_age_keys_t *keys,
                       uint32_t data_bytes, uint8_t out[32], uint8_t *scratch);

/* Completes the .AGE whose plaintext is `wav_header` (the final one, 1024 bytes), `data_bytes`
 * of audio already on the card (hold file and chunks), then `tail` (the markers, if any, and the
 * evid chunk; at most REC_AGE_TAIL_MAX_BYTES, and it may cross a chunk boundary). Writes chunk
 * 0, the chunk where the audio ends and the last chunk (under the last-flag nonce), every one
 * deterministic: running it again after a cut writes the same bytes. *age_size is the size of
 * the complete file. scratch: REC_AGE_SCRATCH_SIZE bytes. */
int rec_age_finish(const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba, const rec_age_keys_t *keys,
                   const uint8_t wav_header[1024], uint32_t data_bytes, const uint8_t *tail, uint32_t tail_len,
                   uint8_t *scratch, uint64_t *age_size);

#endif
