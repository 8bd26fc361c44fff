/* The card as the recorder sees it: a FAT32 volume with RECORDS/RECnnnnn.WAV files and the
 * journal SYSTEM/JOURNAL.BIN. Mounting, finding and listing recordings, recovering a recording
 * left open by a power cut or a card removal, verified delete, and format.
 *
 * A recording is "finished" when its file ends in a valid evid chunk (written at stop). A
 * recording file with a number above the journal's highest number is one the recorder never
 * journalled: it was cut short, and rec_store_recover closes it. */
#ifndef REC_STORE_H
#define REC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/bd.h"
#include "rec/fat.h"
#include "rec/journal.h"
#include "rec/wav.h"
#include "rec_protocol.h"

#define REC_STORE_MAX_NUMBER 99999u       /* five digits in an 8.3 name */
#define REC_STORE_PATH_MAX 24u            /* "RECORDS/REC00042.WAV" + NUL */
#define REC_STORE_VOLUME_LABEL "RECORDER"
#define REC_STORE_STATE_PATH RP_CARD_SYSTEM_DIR "/" RP_CARD_STATE_FILE

typedef struct {
    uint32_t number;
    char name[13];              /* "REC00042.WAV" */
    uint32_t size;              /* file size in bytes (directory entry) */
    bool header_valid;          /* the first 1024 bytes are our header */
    rec_wav_header_t header;
    bool finished;              /* a valid evid chunk follows the data */
    rec_wav_evid_t evid;
    /* RECnnnnn.AGE (docs/design/encryption.md): header not readable here; finished when the
     * hold file is gone and the journal has its record, whose fields fill evid (and
     * header.sample_rate and data_size) */
    bool encrypted;
} rec_recording_t;

typedef struct {
    const rec_bd_t *bd;
    rec_fat_t fs;
    rec_journal_t journal;
    bool mounted;
    uint8_t card_state;         /* RP_CARD_STATE_* */
    uint32_t recording_count;   /* files in RECORDS/ that parse as recording names */
    uint32_t highest_number;    /* largest number in the journal or among the files */
    /* the update marker SYSTEM/STATE.BIN: dirty while a FAT update is in progress */
    uint32_t state_lba;         /* its block, 0 when it does not exist */
    uint32_t state_seq;
    bool repaired;              /* the last mount found the marker dirty (or damaged) and ran the repair; not on a card without one */
    rec_fat_repair_report_t repair;
    uint8_t *scratch;           /* lent for the repair (the idle audio ring) */
    uint32_t scratch_bytes;
    uint8_t block[REC_BD_BLOCK_SIZE]; /* scratch */
    uint8_t header[REC_WAV_HEADER_SIZE]; /* scratch for parsing and patching headers */
} rec_store_t;

/* Mounts the volume. When the update marker is missing, unreadable or dirty (an update was
 * cut by a power loss), repairs the FAT first (rec_fat_repair, with `scratch` as its bitmap).
 * Then creates RECORDS/ and SYSTEM/ when missing, opens the journal, counts the recordings.
 * On failure card_state says why (NONE, UNFORMATTED, ERROR) and nothing is written. */
int rec_store_mount(rec_store_t *st, const rec_bd_t *bd, uint8_t *scratch, uint32_t scratch_bytes);

/* Brackets every update that changes the FAT (create, trim, delete, journal growth): the marker
 * is written dirty before and clean after, so the next mount knows whether to repair. */
int rec_store_begin_update(rec_store_t *st);
int rec_store_end_update(rec_store_t *st);

/* Date and time stamped on directory entries from now on. */
void rec_store_set_time(rec_store_t *st, bool clock_set, int64_t unix_ms);
void rec_store_unmount(rec_store_t *st);

/* "RECORDS/REC00042.WAV". REC_E_RANGE for numbers outside 1..REC_STORE_MAX_NUMBER. */
int rec_store_path(uint32_t number, char out[REC_STORE_PATH_MAX]);
/* Parses "REC00042.WAV" or "REC00042.AGE" (encrypted) (case-insensitive); false for any other
 * name. */
bool rec_store_parse_name(const char *name, uint32_t *number);
/* Parses "REC00042.HLD", the hold file of an encrypted recording being written. */
bool rec_store_parse_hold_name(const char *name, uint32_t *number);
/* "RECORDS/REC00042.<ext>" for a three-letter extension. */
int rec_store_path_ext(uint32_t number, const char *ext, char out[REC_STORE_PATH_MAX]);
/* Whether RECORDS/RECnnnnn.<ext> exists. */
bool rec_store_exists(rec_store_t *st, uint32_t number, const char *ext);

/* Looks a recording up and reads its header and evid chunk. REC_E_NOENT when absent. */
int rec_store_find(rec_store_t *st, uint32_t number, rec_recording_t *out);

/* Numbers of up to `max` recordings with number > after, ascending; *total counts all
 * recordings and *more says whether numbers beyond the last returned exist. */
int rec_store_list(rec_store_t *st, uint32_t after, uint32_t *numbers, uint32_t max, uint32_t *count,
                   uint32_t *total, bool *more);

/* Closes every recording the journal does not know (numbers above its highest; encrypted ones
 * are rec_enc_recover's, encrypted.h): sizes set to
 * the last patched size, SHA-256 computed from the card, evid chunk written, chain trimmed, and
 * a journal record appended with `stop_reason` and the RECOVERED flag. A recording whose file
 * already ends in an evid chunk (cut between stop and journalling, or its record lost) is
 * journalled as FOUND_UNJOURNALED (the kind says it was found, not recorded then; never as a
 * RECORDING with RECOVERED, which would hide that the record was missing); one cut
 * before its header was written is closed as an empty recording at `sample_rate`. Files that
 * are not recordings of ours are left untouched. *recovered counts the recordings closed. */
int rec_store_recover(rec_store_t *st, uint64_t device_id, uint32_t sample_rate, uint8_t stop_reason, uint32_t *recovered);

/* Deletes a finished recording if sha256 equals the device's own record of its audio (journal,
 * else the evid chunk): REC_E_MISMATCH otherwise, REC_E_BUSY when not finished. */
int rec_store_delete(rec_store_t *st, uint32_t number, const uint8_t sha256[32]);

/* Erases the volume and mounts the fresh one. */
int rec_store_format(rec_store_t *st, const rec_bd_t *bd, uint32_t volume_id, uint8_t *scratch, uint32_t scratch_bytes);

/* Free and total bytes (0 when not mounted). */
void rec_store_space(rec_store_t *st, uint64_t *total, uint64_t *free_bytes);

/* SHA-256 of `len` bytes of an open file from `offset`, in one call (recovery); the server
 * hashes incrementally instead. */
int rec_store_hash_file(rec_store_t *st, rec_fat_file_t *f, uint32_t offset, uint32_t len, uint8_t out[32]);

/* Maps a rec_err_t from the card to the card state it implies. */
uint8_t rec_store_card_state_for(int err);

#endif
