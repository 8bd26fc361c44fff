/* The recorder (recorder.c): microphone ring buffer to card, size patches, stop and
 * finalisation. It owns the state of the recording in progress (rec_recording_state_t, the
 * device context's `cur`) and works on the device context (device.h). */
#ifndef REC_RECORDER_H
#define REC_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/checkpoint.h"
#include "rec/fat.h"
#include "rec/sha256.h"
#include "rec/wav.h"

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
/* ... and before more than this much audio is written unpatched, however late the writer is: after
 * a long card stall the backlog goes to the card at card speed, and patching on time alone let
 * seconds of it be written between two patches (issue 17). */
#define REC_PATCH_AUDIO_MS REC_PATCH_INTERVAL_MS
/* Whole blocks written to the card per write call, at most. */
#define REC_WRITE_BURST_BLOCKS 16u

/* Markers a recording holds at most (CARD_LAYOUT.maxMarkers); a press beyond is refused. */
#define REC_MAX_MARKERS RP_CARD_MAX_MARKERS

/* A marker just taken: its number in the recording (from 1) and its sample offset. */
typedef struct {
    uint32_t number;
    uint32_t sample_offset;
} rec_marker_t;

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
    uint32_t patched_bytes;     /* data_bytes at the last size patch */
    uint32_t overruns;
    rec_ckpt_state_t ckpt;      /* signed checkpoints (evidence/checkpoint.c) */
    /* encrypted recordings (encrypted.h, whose writer state is its own): file is RECnnnnn.AGE,
     * hold the hold file */
    bool encrypted;
    rec_fat_file_t hold;
    uint32_t hold_lba;
    /* markers, in the order taken (each journaled as it is taken: JOURNAL_KIND.MARKER) */
    uint32_t marker_count;
    uint32_t markers[REC_MAX_MARKERS]; /* sample offsets from the first sample */
} rec_recording_state_t;

typedef struct rec_device rec_device_t; /* device.h */

int rec_recorder_start(rec_device_t *d);
/* Drains the ring, writes the evid chunk, trims, journals. */
int rec_recorder_stop(rec_device_t *d, uint8_t stop_reason);
/* Drops a marker at the sample being captured now (a short press, or MARK) and journals it at
 * once, so a power cut loses none. REC_E_BUSY when not recording, REC_E_FULL when the recording
 * holds REC_MAX_MARKERS, or the journal's error (the marker is then not taken). */
int rec_recorder_mark(rec_device_t *d, rec_marker_t *out);
/* Moves captured audio to the card and patches sizes; returns true when it did work. */
bool rec_recorder_poll(rec_device_t *d);
/* Seconds of recording the card has room for at the current sample rate: while recording, what
 * is left of this recording's preallocation; idle, the free space less the reserve, the age
 * overhead when encrypting and the checkpoints' share when signing. RP_TIME_LEFT_UNKNOWN without
 * a mounted card. */
uint32_t rec_recorder_card_seconds_left(rec_device_t *d);
/* The microphone callback (ISR context). */
void rec_recorder_on_mic_block(const int16_t *samples, size_t count);

#endif
