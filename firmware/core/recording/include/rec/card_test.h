/* CARD_TEST (docs/firmware.md, "Card test"): a scratch file SYSTEM/CARDTEST.TMP in free space is
 * written with a pattern, synced, read back and compared, then deleted; the times are the device's
 * own uptime. The blocks go straight to the card as a recording's do (a contiguous preallocation,
 * whole-block writes from the idle audio ring), so the write rate is the one a recording gets.
 * It runs in one go inside the request (as FORMAT and WIPE do): the largest test is capped
 * (CARD_LAYOUT.cardTestMaxBytes) and the host waits for it by its size. Never while recording,
 * and never leaving less than CARD_LAYOUT.cardTestReserveBytes beside it; a power cut during the
 * test leaves the scratch file, which the next mount removes (rec_card_test_cleanup). */
#ifndef REC_CARD_TEST_H
#define REC_CARD_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/store.h"

#define REC_CARD_TEST_PATH RP_CARD_SYSTEM_DIR "/" RP_CARD_CARD_TEST_FILE
#define REC_CARD_TEST_NO_MISMATCH 0xFFFFFFFFu

typedef struct {
    uint64_t capacity_bytes;
    uint64_t free_bytes;      /* before the test */
    uint32_t tested_bytes;
    uint32_t write_ms;        /* first block written .. the card's sync after the last */
    uint32_t read_ms;         /* reading back and comparing */
    uint32_t write_bytes_per_s;
    uint32_t read_bytes_per_s;
    uint32_t first_mismatch;  /* byte offset, REC_CARD_TEST_NO_MISMATCH when all matched */
    uint8_t fs_state;         /* RP_CARD_FS_* */
} rec_card_test_result_t;

typedef struct rec_device rec_device_t;

/* Runs the test on `bytes` (0: the default; rounded up to whole blocks) with a pattern from
 * `seed`. REC_E_BUSY while recording or finalising, REC_E_NOCARD without a mounted card,
 * REC_E_INVAL above the cap, REC_E_NOSPC when free space is below bytes + the reserve (or no
 * contiguous run is that long): *testable then says the largest size that would run now.
 * A mismatch is a result (first_mismatch), not an error. */
int rec_card_test(rec_device_t *d, uint32_t bytes, uint32_t seed, rec_card_test_result_t *out, uint32_t *testable);

/* At mount: removes the scratch file a test cut by a power loss left (REC_OK when none). */
int rec_card_test_cleanup(rec_store_t *st);

/* The file system as the last mount found it: RP_CARD_FS_OK, _REPAIRED or _DAMAGED. */
uint8_t rec_card_test_fs_state(const rec_store_t *st);

/* The pattern's 32-bit word `word` of block `block` for `seed` (tests check the card with it). */
uint32_t rec_card_test_pattern(uint32_t seed, uint32_t block, uint32_t word);

#endif
