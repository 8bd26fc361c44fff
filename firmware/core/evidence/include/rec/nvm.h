/* The device's own non-volatile memory (never the card), over the port's NOR functions
 * (port_nvm_* in rec/port.h): the device key (two copies) and a small append-only state log.
 *
 * Sector map (sector = the port's erase unit, normally 4096 bytes):
 *   0, 1   NVM_IDENTITY copy A and B: one 256-byte record at offset 0 of the sector.
 *   2, 3   the state log: 32-byte NVM_STATE_ENTRY records appended to the active sector.
 *   4, 5   NVM_RECIPIENT copy A and B (rec/recipient.h): one 64-byte record at offset 0.
 *   6..    reserved.
 *
 * State log rules (what survives a power cut at any program or erase):
 *   - An entry slot is blank (all 0xFF), valid (magic 0xA5 and CRC-32), or torn (anything else:
 *     a cut while it was programmed). Torn entries are skipped, never reused: the next entry
 *     goes after the last non-blank slot.
 *   - The newest valid entry of each kind (highest sequence) is its value; sequences increase
 *     with every entry written, across both sectors.
 *   - Compaction, when the active sector is full: erase the other sector, copy the newest entry
 *     of each kind there with fresh sequences, then erase the old sector. A sector is only
 *     erased while the other holds the newest entry of every kind: at open, when both sectors
 *     hold entries (a cut during compaction), the one with the highest sequence is kept when it
 *     holds the newest entry of every kind (copy complete), else it is erased and compaction
 *     starts again from the other.
 * All functions return REC_OK or a negative rec_err_t; REC_E_UNSUPPORTED when the port has no
 * NVM (the device then keeps no key and no journal counter). No heap. */
#ifndef REC_NVM_H
#define REC_NVM_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/port.h"
#include "rec_codec.h"

#define REC_NVM_SECTOR_IDENTITY_A 0u
#define REC_NVM_SECTOR_IDENTITY_B 1u
#define REC_NVM_SECTOR_LOG_A 2u
#define REC_NVM_SECTOR_LOG_B 3u
#define REC_NVM_SECTOR_RECIPIENT_A 4u
#define REC_NVM_SECTOR_RECIPIENT_B 5u
#define REC_NVM_SECTORS_USED 4u
#define REC_NVM_PAGE_MAX 256u
#define REC_NVM_PAYLOAD_MAX 20u
#define REC_NVM_KINDS 8u /* kinds 1..7 (NVM_STATE_KIND) fit the cache */

typedef struct {
    bool valid;
    uint8_t length;
    uint32_t sequence;
    uint8_t sector;           /* where it lives (2 or 3) */
    uint8_t payload[REC_NVM_PAYLOAD_MAX];
} rec_nvm_value_t;

typedef struct {
    bool present;             /* the port has NVM and it opened */
    port_nvm_info_t info;
    uint8_t log_sector;       /* active sector: 2 or 3 */
    uint32_t log_next;        /* offset in the active sector of the next entry slot */
    uint32_t sequence;        /* highest sequence seen or written */
    rec_nvm_value_t values[REC_NVM_KINDS]; /* newest valid entry per kind */
} rec_nvm_t;

/* Reads the port's geometry and scans the state log (finishing an interrupted compaction).
 * REC_E_UNSUPPORTED when the port has none or its geometry does not fit the map. */
int rec_nvm_open(rec_nvm_t *n);

/* Reads / writes one NVM_IDENTITY copy (0 = A, 1 = B). Write erases the sector, then programs
 * the record and reads it back (REC_E_IO when it does not read back). */
int rec_nvm_identity_read(rec_nvm_t *n, unsigned copy, uint8_t out[RP_NVM_IDENTITY_SIZE]);
int rec_nvm_identity_write(rec_nvm_t *n, unsigned copy, const uint8_t rec[RP_NVM_IDENTITY_SIZE]);
/* One record of up to a page at offset 0 of `sector` (the recipient copies, sectors 4 and 5).
 * Write erases the sector, programs the page (0xFF after the record) and reads it back
 * (REC_E_IO when it does not read back). */
int rec_nvm_record_read(rec_nvm_t *n, uint32_t sector, void *out, uint32_t len);
int rec_nvm_record_write(rec_nvm_t *n, uint32_t sector, const void *rec, uint32_t len);
/* True when all bytes are 0xFF (never programmed, or erased). */
bool rec_nvm_blank(const uint8_t *p, uint32_t len);

/* The newest value of a kind: copies up to max bytes of its payload and returns its length, or
 * REC_E_NOENT when none was ever written. */
int rec_nvm_state_get(rec_nvm_t *n, uint8_t kind, void *payload, uint32_t max);
/* Appends a value (length <= 20), compacting first when the active sector is full. */
int rec_nvm_state_put(rec_nvm_t *n, uint8_t kind, const void *payload, uint32_t len);
/* Crypto-erase of the log (the wipe): a compaction, whether or not the sector is full, that
 * copies only the newest entry of each kind in keep[] (an allowlist: any other kind, whoever
 * added it, is dropped) and erases the old sector, so no older or dropped entry survives
 * physically in either sector. A cut leaves the old log whole when it held a dropped kind (the
 * new sector lacks it, so open discards the new one) or the new one: redo it after a cut. */
int rec_nvm_state_purge(rec_nvm_t *n, const uint8_t *keep, uint32_t count);
/* Erases the sectors [first, first + count) the NVM has, first >= REC_NVM_SECTORS_USED. */
int rec_nvm_erase_sectors(rec_nvm_t *n, uint32_t first, uint32_t count);
/* Programs every older entry of `kind` still in the log to all zero bits, physically destroying
 * the values before the newest (a zeroed entry is skipped like a torn one). Idempotent: a cut
 * in the middle is finished by calling it again. */
int rec_nvm_state_scrub(rec_nvm_t *n, uint8_t kind);

#endif
