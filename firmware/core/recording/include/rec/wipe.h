/* The wipe (WIPE; docs/firmware.md "Wipe"): for the advocate who hands the recorder to the next
 * family. In order, each step finished before the next:
 *   1. WIPE_PENDING in the NVM state log: {the epoch the wipe begins, the count and head of the
 *      journal it ends} (a boot that finds it finishes the wipe);
 *   2. crypto-erase: NUMBER_FLOOR above every number spent, then the state log compacted keeping
 *      only JOURNAL_HEAD, JOURNAL_PENDING, NUMBER_FLOOR, CLOCK and WIPE_PENDING (an allowlist:
 *      file keys and whatever else is dropped), and NVM sectors 4 and 5 (the recipient) erased;
 *      the device key (sectors 0 and 1) stays;
 *   3. every block of the card erased: the block device's erase (SD CMD38, holes punched in the
 *      simulator's image), or zeros written over it where it has none or it did not take;
 *   4. a fresh FAT32 volume, and a journal whose epoch starts with EPOCH_START and WIPED
 *      (number = the epoch, sampleCount = blocks erased, sampleRate = WIPE_METHOD, RECOVERED
 *      when a boot finished it), counted and so signed through IDENTITY's head like any record;
 *   5. the settings saved again (a port may keep them on the card), WIPE_PENDING cleared.
 * A power cut anywhere before 5 leaves WIPE_PENDING: the boot crypto-erases again at once and
 * the next card mount runs 3 to 5 again (state RESUMED). Until then the device records nothing
 * and INFO says WIPE_PENDING. Without NVM there are no keys to destroy and no resumption. */
#ifndef REC_WIPE_H
#define REC_WIPE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rec_device rec_device_t;

typedef struct {
    uint8_t state;          /* RP_WIPE_STATE_* */
    uint8_t method;         /* RP_WIPE_METHOD_* */
    uint32_t epoch;         /* the journal epoch the wipe began (0 without NVM) */
    uint32_t blocks_erased; /* the card's blocks, all of them */
} rec_wipe_result_t;

/* WIPE from the host, which saw `recordings` recordings, the newest numbered `newest` (0: none),
 * on the device `device_id`. REC_E_BUSY while recording; REC_E_MISMATCH when the device id, the
 * count or the newest number differ from the card's (a recording made after the host looked);
 * REC_E_NOCARD without a card. A wipe left pending by a power cut is finished whatever the
 * counts (state RESUMED), as is reported once a wipe a boot finished. */
int rec_device_wipe(rec_device_t *d, uint32_t recordings, uint32_t newest, uint64_t device_id, rec_wipe_result_t *out);

/* At start-up, after rec_device_boot_identity: notes a wipe cut by a power loss and runs its
 * crypto-erase again now, card or not. */
void rec_device_wipe_boot(rec_device_t *d);

/* At card attach, when a wipe is pending: steps 3 to 5 on the card just opened. */
int rec_device_wipe_resume(rec_device_t *d);

#endif
