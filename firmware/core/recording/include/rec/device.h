/* The device context: settings, clock, card store, recorder state and the audio ring, in one
 * struct that the recorder (recorder.h) and the protocol server (server.h) work on, and the
 * functions that keep it (device.c): clock, settings, card attach/detach and format. The
 * application loop (app.c) owns the one instance (rec_device() in app.h); functions take it
 * explicitly so tests can drive them. */
#ifndef REC_DEVICE_H
#define REC_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/audio_ring.h"
#include "rec/identity.h"
#include "rec/recipient.h"
#include "rec/recorder.h"
#include "rec/seal.h"
#include "rec/settings.h"
#include "rec/store.h"
#include "rec/wipe.h"

#define REC_FW_MAJOR 0
#define REC_FW_MINOR 1
#define REC_FW_PATCH 0

#ifndef REC_AUDIO_RING_BYTES
#define REC_AUDIO_RING_BYTES 65536
#endif

struct rec_device {
    rec_settings_t settings;
    rec_store_t store;
    const rec_bd_t *bd;         /* NULL when no card is open */
    const char *model;
    bool simulated;

    /* wall clock: base plus uptime since it was set */
    bool clock_set;
    int64_t clock_base_unix_ms;
    uint64_t clock_base_uptime_ms;

    uint8_t rec_state;          /* RP_REC_STATE_* */
    uint8_t last_stop_reason;   /* RP_STOP_* of the last recording */
    int last_error;             /* last card error, for INFO and the LED */
    bool low_battery;
    uint16_t battery_mv;
    uint64_t last_battery_ms;
    uint32_t overruns_total;    /* journal sum plus the current recording */
    uint8_t interrupted_reason; /* reason to journal when recovering after a card removal */
    bool state_changed;         /* a STATE event is owed to the host */
    uint32_t generation;        /* bumped when files may have changed underneath (card, format, delete) */
    bool led_on;
    /* Called when the card is detached, so that whoever keeps files open on it (the server)
     * drops them; set by the application loop. */
    void (*on_detach)(void);

    rec_identity_t identity;    /* the device key (evidence/identity.c); has_key false until provisioned */
    rec_nvm_t nvm;              /* the device's own memory (evidence/nvm.c); present false without one */
    rec_recipient_t recipient;  /* the owner's age recipient (evidence/recipient.c): set = encrypt */
    bool clock_flag;            /* NVM CLOCK says the clock has been set (at some time) */
    bool clock_lost_pending;    /* this boot found the clock lost: CLOCK_LOST goes to the next card mounted */
    rec_seal_t seal;            /* statement files written after stop (evidence/seal.c) */

    /* A wipe under way (wipe.c): the NVM's WIPE_PENDING, and what it began. */
    bool wipe_pending;
    uint32_t wipe_epoch;
    uint32_t wipe_prev_count;
    uint8_t wipe_prev_head[12];
    bool wipe_reported;         /* a boot finished a cut wipe: the next WIPE is answered with it */
    rec_wipe_result_t wipe_report;

    rec_ring_t ring;            /* also the scratch lent to card mount, repair and format */
    rec_recording_state_t cur;
};

/* Wall clock now; false (and *unix_ms 0) when it was never set. */
bool rec_device_clock_now(rec_device_t *d, int64_t *unix_ms);
void rec_device_set_clock(rec_device_t *d, int64_t unix_ms);
/* Loads the settings through the port, or starts from defaults with a device id (saved). */
void rec_device_load_settings(rec_device_t *d);
int rec_device_save_settings(rec_device_t *d);

/* Opens and mounts the card, recovers unjournalled recordings. Sets card state. */
int rec_device_attach_card(rec_device_t *d);
void rec_device_detach_card(rec_device_t *d);
int rec_device_format(rec_device_t *d);

/* ---- Device key and the counted journal (device_journal.c; docs/firmware.md) ---------------- */
/* At start-up, before the card is mounted: opens the NVM, loads the key (rec_identity_boot) and
 * notes a clock lost since it was last set (NVM CLOCK flag). */
void rec_device_boot_identity(rec_device_t *d);
/* PROVISION: makes the key (the idle audio ring lends the entropy pool) and journals KEY_CREATED
 * when a card is mounted. REC_E_BUSY while recording or when a key exists and !force. */
int rec_device_provision(rec_device_t *d, const uint8_t host_random[32], bool force);
/* SET_RECIPIENT: sets (key non-NULL) or clears the owner's age recipient, from the next
 * recording on. REC_E_BUSY while recording, REC_E_INVAL for a key of small order,
 * REC_E_UNSUPPORTED without NVM. */
int rec_device_set_recipient(rec_device_t *d, const uint8_t key[32]);
/* The device's own journal count: epoch and records (0, 0 without NVM or before any count). */
void rec_device_journal_counter(rec_device_t *d, uint32_t *epoch, uint32_t *count);
/* Appends a journal record between the card's update marker writes. */
int rec_device_journal_event(rec_device_t *d, rec_journal_record_t *r);
/* At mount: compares the card's journal with the device's count, appends TAIL_LOST when they
 * disagree, and counts every append from now on. */
int rec_device_journal_reconcile(rec_device_t *d);
/* Journals NUMBER_SPENT for each number the device spent (NVM NUMBER_FLOOR) that has neither a
 * record nor a file; run after recovery and before a new number is spent. */
int rec_device_journal_spent(rec_device_t *d);
/* The lowest number the next recording may take by the device's own memory (0 when none), and
 * spends `number` there (NUMBER_FLOOR = number + 1) before its file is created. */
uint32_t rec_device_number_floor(rec_device_t *d);
int rec_device_spend_number(rec_device_t *d, uint32_t number);
/* Before the device formats its card: the numbers below next_number belong to earlier epochs. */
int rec_device_numbers_before_format(rec_device_t *d, uint32_t next_number);
/* Before the device formats its card: announces epoch + 1 in the NVM, so a cut format is finished
 * at the next mount rather than reported as a cut journal. */
int rec_device_journal_before_format(rec_device_t *d);
/* After the device formatted its card: epoch + 1, count 0, EPOCH_START (number = the new epoch,
 * sampleCount and sha256 = the previous epoch's count and head). */
int rec_device_journal_new_epoch(rec_device_t *d);
/* The NVM JOURNAL_HEAD: epoch, count and 12 bytes of the head; REC_E_NOENT before any. */
int rec_device_journal_head(rec_device_t *d, uint32_t *epoch, uint32_t *count, uint8_t head12[12]);
/* The wipe's journal on the freshly formatted card: EPOCH_START of `epoch` (the previous
 * epoch's count and head in it) when the device counts its journal, then `wiped`. */
int rec_device_journal_wiped(rec_device_t *d, uint32_t epoch, uint32_t prev_count, const uint8_t prev_head12[12],
                             rec_journal_record_t *wiped);
/* After the clock was set: NVM CLOCK flag, and CLOCK_SET when it was not set or moved > 1 s. */
void rec_device_clock_changed(rec_device_t *d, bool was_set, int64_t before, int64_t now);
/* CLOCK_LOST on the mounted card when this boot found the clock lost (once per boot). */
int rec_device_journal_clock_lost(rec_device_t *d);

#endif
