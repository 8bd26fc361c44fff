/* Sealing: the signed statement files of a finished recording, written after stop in idle slices
 * of the application loop (docs/firmware.md "Sealing"):
 *
 *   REC00042.SHA  `SHA256 (REC00042.WAV) = <hex>\nSHA256 (REC00042.CKP) = <hex>\n`
 *   REC00042.SIG  signify embedded form: untrusted comment, base64("Ed" || key id || sig1), the
 *                 statement; sig1 = Ed25519(statement)
 *   REC00042.MSG  minisign legacy form: the same two lines, the trusted comment, base64(sig2);
 *                 sig2 = Ed25519(sig1 || trusted comment)
 *
 * A recording is pending when the device has a key, its WAV is finished, its CKP ends in a stop
 * slot, its journal record is a RECORDING or FOUND_UNJOURNALED, and its MSG (written last) is
 * missing or empty. Before signing, the sealer re-reads the WAV and the CKP and checks that the
 * audio hash equals the journal record's and the stop slot's h, and that the stop slot's f equals
 * SHA-256 of the header and evid chunk on the card; a mismatch leaves the recording unsealed (it
 * is logged and not retried until the next boot). Ed25519 is deterministic, so a cut while
 * sealing is repaired by sealing again: the same bytes.
 *
 * The work in progress lives in the audio ring (idle when not recording; the rest of the ring is
 * the read buffer). A recording, a card change or a format pauses it: the recording being sealed
 * starts over afterwards. */
#ifndef REC_SEAL_H
#define REC_SEAL_H

#include <stdbool.h>
#include <stdint.h>

#define REC_SEAL_REFUSED_MAX 4u

/* The sealer's state in the device context (the bulk of it lives in the ring while working). */
typedef struct {
    bool working;               /* a job is in the ring */
    bool done;                  /* nothing pending as of (generation, journal_count) */
    uint32_t generation;
    uint32_t journal_count;
    uint32_t cursor;            /* the last number looked at */
    uint32_t refused[REC_SEAL_REFUSED_MAX]; /* numbers whose checks failed (until reboot) */
    uint8_t refused_count;
} rec_seal_t;

typedef struct rec_device rec_device_t;

/* One bounded step of sealing; returns true when it did work. Does nothing while recording. */
bool rec_seal_poll(rec_device_t *d);

/* The LIST flags SEALED / SEALING / UNSIGNED of a recording from the sizes of its files (FILE_PART
 * order: WAV, SHA, SIG, MSG, CKP; 0 when absent). */
uint8_t rec_seal_flags(const rec_device_t *d, uint32_t number, bool finished, const uint32_t sizes[5]);

/* Parses "REC00042.SHA" (SIG, MSG, CKP; case-insensitive) into the number and its RP_PART_*. */
bool rec_seal_parse_name(const char *name, uint32_t *number, uint8_t *part);

/* Removes the SHA, SIG, MSG and CKP files of a recording (after its WAV was deleted). */
int rec_seal_delete_sidecars(rec_device_t *d, uint32_t number);

/* The file name extension of a FILE_PART (RP_PART_*), NULL for an unknown part. */
const char *rec_seal_part_ext(uint8_t part);

#endif
