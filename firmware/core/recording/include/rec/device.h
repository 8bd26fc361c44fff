/* The device: settings, clock, card store and recorder state in one context, shared by the
 * application loop (app.c), the recorder (recorder.c) and the protocol server (server.c).
 * The core keeps one instance; functions take it explicitly so tests can drive them. */
#ifndef REC_DEVICE_H
#define REC_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/audio_ring.h"
#include "rec/fat.h"
#include "rec/settings.h"
#include "rec/sha256.h"
#include "rec/store.h"
#include "rec/wav.h"

#define REC_FW_MAJOR 0
#define REC_FW_MINOR 1
#define REC_FW_PATCH 0

/* Battery thresholds: stop and finalise below STOP, start again only above START. */
#define REC_BATTERY_STOP_MV 3300u
#define REC_BATTERY_START_MV 3450u
/* Free space kept back when preallocating a recording (journal growth). */
#define REC_PREALLOC_RESERVE_BYTES (256u * 1024u)
/* Smallest preallocation worth starting a recording with. */
#define REC_PREALLOC_MIN_BYTES (64u * 1024u)
/* Sizes are patched at least this often while recording (device uptime). Under a second, so
 * that a power cut loses at most a second although the patch comes a poll (and a write burst)
 * after the interval ends: at 1000 ms the power-cut campaign (scripts/power-campaign.mjs)
 * measured losses of up to 0.98 s against the samples INFO had reported written, a few
 * milliseconds of scheduling from breaking the promise. */
#define REC_PATCH_INTERVAL_MS 750u
/* Whole blocks written to the card per write call, at most. */
#define REC_WRITE_BURST_BLOCKS 16u

#ifndef REC_AUDIO_RING_BYTES
#define REC_AUDIO_RING_BYTES 65536
#endif

typedef struct {
    /* what the recording is */
    uint32_t number;
    uint32_t sample_rate;
    bool clock_set;
    int64_t start_unix_ms;
    uint64_t start_uptime_ms;
    /* where it goes */
    rec_fat_file_t file;
    uint32_t base_lba;          /* block of file offset 0: the file is one contiguous run */
    uint32_t capacity;          /* data bytes that fit, leaving a block for the evid chunk */
    uint32_t data_bytes;        /* audio bytes on the card */
    uint8_t header[REC_WAV_HEADER_SIZE];
    rec_sha256_t sha;
    uint64_t last_patch_ms;
    uint32_t overruns;
} rec_recording_state_t;

typedef struct {
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

    rec_ring_t ring;
    rec_recording_state_t cur;
} rec_device_t;

/* Short lower-case names of RP_REC_STATE_* and RP_CARD_STATE_* values ("recording", "full"),
 * for ports that print state lines; "unknown" for anything else. */
const char *rec_rec_state_name(uint8_t state);
const char *rec_card_state_name(uint8_t state);

/* The single device instance the application runs. */
rec_device_t *rec_device(void);

/* Wall clock now; false (and *unix_ms 0) when it was never set. */
bool rec_device_clock_now(rec_device_t *d, int64_t *unix_ms);
void rec_device_set_clock(rec_device_t *d, int64_t unix_ms);
int rec_device_save_settings(rec_device_t *d);

/* Opens and mounts the card, recovers unjournalled recordings. Sets card state. */
int rec_device_attach_card(rec_device_t *d);
void rec_device_detach_card(rec_device_t *d);
int rec_device_format(rec_device_t *d);

/* Recorder (recorder.c) */
int rec_recorder_start(rec_device_t *d);
/* Drains the ring, writes the evid chunk, trims, journals. */
int rec_recorder_stop(rec_device_t *d, uint8_t stop_reason);
/* Moves captured audio to the card and patches sizes; returns true when it did work. */
bool rec_recorder_poll(rec_device_t *d);
/* The microphone callback (ISR context). */
void rec_recorder_on_mic_block(const int16_t *samples, size_t count);

#endif
