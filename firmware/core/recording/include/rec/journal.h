/* The append-only journal SYSTEM/JOURNAL.BIN: one fixed 128-byte JOURNAL_RECORD (protocol
 * schema) per finished recording, chained by prevHash = SHA-256 of the previous 128 bytes (all
 * zero for record 0). Record i lives at file offset i*128 and carries index i.
 *
 * Opening scans the whole file once (one record buffer and one SHA-256 context: RAM does not
 * grow with the journal) to find the record count, the hash of the last record and the highest
 * recording number, and verifies the chain. Lookups scan the file on demand.
 *
 * What the scan decides:
 *   - Trailing bytes that do not make a whole record are ignored.
 *   - A torn last record: the last whole record fails to decode (magic, version, size), carries
 *     the wrong index, or its prevHash does not match the record before it. A power cut during
 *     an append can leave exactly this (the directory entry's new size written, the record's
 *     block not). It is not counted; torn_index reports it, and the next append overwrites it
 *     (and any trailing partial bytes) and sets the file size to end after the new record.
 *     The bytes of a torn record are lost then; that is the price of staying usable, and the
 *     event is visible to the host through torn_index until then (the recorder may log it).
 *     Limitation: an alteration of the second-to-last record makes the last record fail its
 *     prevHash check, which is indistinguishable from a torn last record; so is any edit of the
 *     last record. The chain cannot protect its own end (SHA-256 is unkeyed; anyone with the
 *     card can also rewrite every record consistently): the host's copy of earlier records
 *     and hashes (JOURNAL command) is the reference for that.
 *   Power-loss model: an append writes the record's block, then file_sync makes data and FAT
 *     durable before the directory entry with the new size. 128 divides 512, so a record never
 *     spans two blocks; block writes are assumed atomic (a torn sector could damage the up to
 *     three earlier records sharing it, which would show as a broken chain).
 *   - Any other record that fails (an altered, inserted or missing record in the middle) is a
 *     broken chain: `intact` becomes false and break_index names the first record that failed
 *     (the first whose decode, index or prevHash check failed: for an altered record k that is
 *     k+1, whose prevHash no longer matches; for a missing record k it is k, whose successor now
 *     sits at k with index k+1). Such records are never overwritten: they are evidence. The
 *     journal stays usable; every whole record is counted, and appends continue after the last
 *     one, chained to its hash, so the rest of the chain is verifiable again.
 *
 * Numbers: highest_number is the largest number of any counted record that decodes and whose
 * kind carries a recording number (RECORDING, FOUND_UNJOURNALED, NUMBER_SPENT). Append
 * refuses a number not greater than it (numbers are never reused). The recorder also takes the
 * highest recording file on the card into account (a recording cut by power loss is journalled
 * only when it is recovered). */
#ifndef REC_JOURNAL_H
#define REC_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/fat.h"
#include "rec/nvm.h"
#include "rec_codec.h"

#define REC_JOURNAL_RECORD_SIZE RP_JOURNAL_RECORD_SIZE /* 128 */
#define REC_JOURNAL_PATH RP_CARD_SYSTEM_DIR "/" RP_CARD_JOURNAL_FILE
#define REC_JOURNAL_NO_INDEX UINT32_MAX

/* The JOURNAL_RECORD struct of the protocol schema (rec_codec.h): index, number, start/stop
 * unix ms and uptime ms, sample rate and count, stop_reason (RP_STOP_*), flags
 * (RP_RECORD_FLAG_*), overruns, sha256 of the audio data; index and prev_hash are filled by
 * append, magic, version, size and reserved by encode. */
typedef rp_journal_record_t rec_journal_record_t;

/* ---- Pure functions ----------------------------------------------------------------------- */
/* 128 bytes with magic, version 1, size 128; kind as given (0: a recording). */
void rec_journal_encode(const rec_journal_record_t *rec, uint8_t out[REC_JOURNAL_RECORD_SIZE]);
/* REC_E_CORRUPT unless magic "RJNL", version 1 and size 128. */
int rec_journal_decode(const uint8_t in[REC_JOURNAL_RECORD_SIZE], rec_journal_record_t *out);
/* SHA-256 of the 128 encoded bytes (the next record's prevHash). */
void rec_journal_hash(const uint8_t rec[REC_JOURNAL_RECORD_SIZE], uint8_t out[32]);
/* Checks that `rec` (encoded) is a valid successor at `index` of a record whose hash is
 * prev_hash (zeros for index 0): decodes, index matches, prevHash matches. REC_E_CORRUPT or
 * REC_E_MISMATCH (prevHash). */
int rec_journal_check_link(const uint8_t rec[REC_JOURNAL_RECORD_SIZE], uint32_t index, const uint8_t prev_hash[32]);

/* ---- The journal file --------------------------------------------------------------------- */
typedef struct {
    rec_fat_t *fs;
    rec_fat_file_t file;
    bool open;
    uint32_t count;           /* records counted (index of the next append) */
    uint32_t highest_number;  /* 0 when none */
    uint8_t last_hash[32];    /* hash of record count-1; zeros when count == 0 */
    bool intact;              /* the chain of all counted records verifies */
    uint32_t break_index;     /* first failing record, REC_JOURNAL_NO_INDEX when intact */
    uint32_t torn_index;      /* torn last record ignored, REC_JOURNAL_NO_INDEX when none */
    uint32_t torn_bytes;      /* bytes after the counted records that the next append drops */
    /* The device's own count of its records (docs/firmware.md, "The counted journal"): when
     * set (by the device after mount), every append writes JOURNAL_PENDING before and
     * JOURNAL_HEAD after the card write to the NVM state log. NULL without NVM. */
    rec_nvm_t *nvm;
    uint32_t epoch;
} rec_journal_t;

/* Kinds (RP_JOURNAL_KIND_*) that carry a recording number (numbers are never reused), and the
 * kinds whose number has a file on the card. */
bool rec_journal_kind_has_number(uint16_t kind);
bool rec_journal_kind_has_file(uint16_t kind);

/* The NVM payload of JOURNAL_HEAD / JOURNAL_PENDING: u32 epoch, u32 count (or index), then the
 * first 12 bytes of hash (zeros when hash is NULL). */
#define REC_JOURNAL_COUNT_PAYLOAD 20u
void rec_journal_count_pack(uint32_t epoch, uint32_t count, const uint8_t hash[32], uint8_t out[REC_JOURNAL_COUNT_PAYLOAD]);

/* Creates SYSTEM/ and JOURNAL.BIN when missing, then scans and verifies (see above). A broken
 * chain is not an error (REC_OK; see intact/break_index). Errors: I/O and FAT errors. */
int rec_journal_open(rec_journal_t *j, rec_fat_t *fs);
/* Syncs and closes the file. */
int rec_journal_close(rec_journal_t *j);

/* Appends: sets rec->index and rec->prev_hash, writes the record at count*128 (over a torn
 * tail), sets the file size, and file_syncs. Only after a successful sync are count, last_hash
 * and highest_number advanced. REC_E_INVAL when a numbered kind's rec->number <= highest_number
 * or is 0 (other kinds use `number` for something else and leave highest_number alone). */
int rec_journal_append(rec_journal_t *j, rec_journal_record_t *rec);

/* Record `index` (< count): decoded (REC_E_CORRUPT if it does not decode), or raw bytes as
 * stored (for the JOURNAL command). REC_E_RANGE when index >= count. */
int rec_journal_read(rec_journal_t *j, uint32_t index, rec_journal_record_t *out);
int rec_journal_read_raw(rec_journal_t *j, uint32_t index, uint8_t out[REC_JOURNAL_RECORD_SIZE]);
/* The last counted record of a recording (a kind with a file) with this number (scans
 * backwards). REC_E_NOENT when none. */
int rec_journal_find_number(rec_journal_t *j, uint32_t number, rec_journal_record_t *out);

/* The sample offsets of the MARKER records of recording `number`, in the order they were taken
 * (at most max: the first max), scanning back to the record of an earlier number. Recovery
 * rebuilds a cut recording's markers from them. */
int rec_journal_markers(rec_journal_t *j, uint32_t number, uint32_t *offsets, uint32_t max, uint32_t *count);

/* Re-reads the counted records and checks the whole chain: REC_OK when every record decodes and
 * links, REC_E_CORRUPT with *bad_index at the first that does not, REC_E_MISMATCH when the chain
 * verifies but the last hash differs from the one found at open or last append (the file changed
 * underneath). bad_index may be NULL. */
int rec_journal_verify(rec_journal_t *j, uint32_t *bad_index);

#endif
