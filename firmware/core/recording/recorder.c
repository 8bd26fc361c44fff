/* The recording path: microphone ring buffer to card, periodic size patches, stop and
 * finalisation. One recording at a time; single-threaded except for the microphone callback,
 * which only touches the ring (lock-free, see audio_ring.h). */
#include <string.h>

#include "rec/age.h"
#include "rec/checkpoint.h"
#include "rec/device.h"
#include "rec/encrypted.h"
#include "rec/err.h"
#include "rec/journal.h"
#include "rec/port.h"
#include "rec/recorder.h"
#include "rec_protocol.h"

/* Room kept after the audio for what the stop writes there: the markers and the evid chunk, in
 * whole blocks. The longest recording is shorter by it, so a file with every marker still fits
 * FAT32's 4 GiB - 1 (REC_WAV_MAX_DATA_BYTES leaves a block for a bare evid chunk). */
#define TAIL_ROOM ((REC_WAV_TAIL_MAX_BYTES + REC_BD_BLOCK_SIZE - 1u) / REC_BD_BLOCK_SIZE * REC_BD_BLOCK_SIZE)
#define MAX_RECORDING_DATA (REC_WAV_MAX_DATA_BYTES + REC_BD_BLOCK_SIZE - TAIL_ROOM)
/* At stop the last partial block and the tail are assembled in the idle ring, after the scratch
 * the age finish takes from its start (rec_enc_stop). */
#define TAIL_AT REC_AGE_SCRATCH_SIZE
_Static_assert(REC_WAV_TAIL_MAX_BYTES <= REC_AGE_TAIL_MAX_BYTES, "the age finish takes the whole tail");
_Static_assert(REC_AUDIO_RING_BYTES >= TAIL_AT + REC_BD_BLOCK_SIZE + TAIL_ROOM, "the ring holds the stop's tail");

/* The ring the microphone callback feeds; set while recording. */
static rec_ring_t *volatile g_mic_ring;

void rec_recorder_on_mic_block(const int16_t *samples, size_t count)
{
    rec_ring_t *ring = g_mic_ring;
    if (ring) rec_ring_push(ring, samples, count);
}

uint32_t rec_recorder_card_seconds_left(rec_device_t *d)
{
    rec_store_t *st = &d->store;
    if (!st->mounted) return RP_TIME_LEFT_UNKNOWN;
    if (d->rec_state == RP_REC_STATE_RECORDING) {
        const rec_recording_state_t *c = &d->cur;
        return c->sample_rate ? (c->capacity - c->data_bytes) / (c->sample_rate * 2u) : 0;
    }
    const uint64_t byte_rate = (uint64_t)d->settings.sample_rate * 2u;
    if (byte_rate == 0) return 0;
    uint64_t total, free_bytes;
    rec_store_space(st, &total, &free_bytes);
    const uint64_t fixed = REC_PREALLOC_RESERVE_BYTES + REC_WAV_HEADER_SIZE + TAIL_ROOM;
    uint64_t room = free_bytes > fixed ? free_bytes - fixed : 0;
    if (REC_ENCRYPTION && rec_enc_wanted(d)) {
        const uint64_t age = REC_AGE_HOLD_BYTES + REC_AGE_HEADER_SIZE + (room / REC_AGE_CHUNK_SIZE + 2u) * REC_AGE_TAG_SIZE;
        room = room > age ? room - age : 0;
    }
    /* a checkpoint block per minute of audio (checkpoint.h), so the audio gets 60 s of bytes in
     * every 60 s of bytes plus a block */
    if (d->identity.has_key) room = room * (60u * byte_rate) / (60u * byte_rate + REC_BD_BLOCK_SIZE);
    const uint64_t seconds = room / byte_rate;
    return seconds < RP_TIME_LEFT_UNKNOWN ? (uint32_t)seconds : RP_TIME_LEFT_UNKNOWN - 1u;
}

static int write_header(rec_device_t *d)
{
    rec_recording_state_t *c = &d->cur;
    return rec_bd_write(d->bd, c->base_lba, c->header, REC_WAV_HEADER_SIZE / REC_BD_BLOCK_SIZE);
}

/* Rewrites the size fields and the directory entry, so a power cut from now on loses nothing
 * written so far. Order: audio blocks (already written), header, directory entry. */
static int patch_sizes(rec_device_t *d, uint32_t tail_bytes)
{
    rec_recording_state_t *c = &d->cur;
    if (REC_ENCRYPTION && c->encrypted) {
        /* The .AGE's size says how far the audio got; its WAV header is final only at stop. */
        c->last_patch_ms = port_uptime_ms();
        const int err = tail_bytes ? REC_OK : rec_enc_patch(d);
        if (!err) c->patched_bytes = c->data_bytes;
        return err;
    }
    if (rec_wav_patch(c->header, 0, REC_WAV_HEADER_SIZE, c->data_bytes, tail_bytes) < 0) return REC_E_TOOBIG;
    int err = write_header(d);
    if (!err) err = rec_fat_set_size(&d->store.fs, &c->file, REC_WAV_HEADER_SIZE + c->data_bytes + tail_bytes);
    if (!err) err = rec_fat_file_sync(&d->store.fs, &c->file);
    if (!err) c->patched_bytes = c->data_bytes;
    c->last_patch_ms = port_uptime_ms();
    return err;
}

static uint32_t round_down(uint32_t v, uint32_t unit)
{
    return v - v % unit;
}

/* Bytes of audio, in whole blocks, that may be written between two size patches
 * (REC_PATCH_AUDIO_MS). Worked out once a poll: the M0+ has no divide instruction. */
static uint32_t patch_budget(const rec_recording_state_t *c)
{
    return round_down((uint32_t)((uint64_t)c->sample_rate * 2u * REC_PATCH_AUDIO_MS / 1000u), REC_BD_BLOCK_SIZE);
}

/* Whole blocks that may still be written before the sizes must be patched. */
static uint32_t blocks_before_patch(const rec_recording_state_t *c, uint32_t budget)
{
    const uint32_t unpatched = c->data_bytes - c->patched_bytes;
    return unpatched < budget ? (budget - unpatched) / REC_BD_BLOCK_SIZE : 0;
}

int rec_recorder_start(rec_device_t *d)
{
    if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) return REC_E_BUSY;
    if (!d->store.mounted) return d->bd ? REC_E_BADFS : REC_E_NOCARD;
    if (d->low_battery) return REC_E_BUSY;
    if (d->wipe_pending) return REC_E_BUSY; /* a cut wipe would erase it when it is finished */
    d->wipe_reported = false;               /* a wipe finished at boot is old news now */
    rec_store_t *st = &d->store;
    rec_recording_state_t *c = &d->cur;

    /* A number spent earlier without a file (a failed start) is journalled before the next. */
    int err = rec_device_journal_spent(d);
    if (err) return err;
    uint32_t number = st->highest_number + 1;
    if (d->settings.next_number > number) number = d->settings.next_number;
    if (rec_device_number_floor(d) > number) number = rec_device_number_floor(d);
    if (number > REC_STORE_MAX_NUMBER) return REC_E_FULL;

    uint64_t total, free_bytes;
    rec_store_space(st, &total, &free_bytes);
    uint32_t cluster = (uint32_t)st->fs.blocks_per_cluster * REC_BD_BLOCK_SIZE;
    uint64_t want = free_bytes > REC_PREALLOC_RESERVE_BYTES ? free_bytes - REC_PREALLOC_RESERVE_BYTES : 0;
    uint64_t file_max = (uint64_t)REC_WAV_HEADER_SIZE + REC_WAV_MAX_DATA_BYTES + REC_BD_BLOCK_SIZE;
    if (want > file_max) want = file_max;
    /* Room for the checkpoints beside it (none without a key). */
    uint32_t ckp_bytes = rec_ckpt_reserve(d, want);
    want = want > ckp_bytes ? want - ckp_bytes : 0;
    uint32_t prealloc = round_down((uint32_t)want, cluster);
    if (prealloc < REC_PREALLOC_MIN_BYTES) {
        d->last_error = REC_E_NOSPC;
        /* Say so (INFO, STATE event, fast-blinking LED): before, the card stayed "ok" and a press
         * on a full card did nothing visible (found by test/reliability-hostile.test.ts). */
        if (st->card_state != RP_CARD_STATE_FULL) {
            st->card_state = RP_CARD_STATE_FULL;
            d->state_changed = true;
        }
        return REC_E_NOSPC;
    }

    /* The number is spent from here on, whatever happens next: in the device's own memory (a
     * cut before the file exists is journalled as NUMBER_SPENT) and in the settings. */
    err = rec_device_spend_number(d, number);
    if (err) return err;
    d->settings.next_number = number + 1;
    err = rec_device_save_settings(d);
    if (err) return err;

    const bool encrypted = rec_enc_wanted(d);
    char path[REC_STORE_PATH_MAX];
    (void)rec_store_path_ext(number, encrypted ? RP_CARD_ENCRYPTED_EXT : RP_CARD_RECORDING_EXT, path);
    if (REC_ENCRYPTION && encrypted) {
        /* The hold file comes out of the recording's share. */
        const uint32_t hold = (REC_AGE_HOLD_BYTES + cluster - 1u) / cluster * cluster;
        prealloc = prealloc > hold + REC_PREALLOC_MIN_BYTES ? prealloc - hold : 0;
        if (prealloc < REC_PREALLOC_MIN_BYTES) return REC_E_NOSPC;
    }
    memset(c, 0, sizeof *c);
    c->encrypted = encrypted;
    c->clock_set = rec_device_clock_now(d, &c->start_unix_ms);
    rec_store_set_time(st, c->clock_set, c->start_unix_ms);
    err = rec_store_begin_update(st);
    if (err) {
        d->last_error = err;
        return err;
    }
    /* A fragmented card may have no single run as long as the free space: take the longest
     * power-of-two fraction that fits. */
    /* The ring is idle until the microphone starts: lend it for the bulk FAT writes. */
    rec_fat_lend_scratch(&st->fs, d->ring.buf, rec_ring_capacity(&d->ring));
    for (;;) {
        err = rec_fat_create_contiguous(&st->fs, &c->file, path, prealloc);
        if (err != REC_E_NOSPC || prealloc / 2 < REC_PREALLOC_MIN_BYTES) break;
        prealloc = round_down(prealloc / 2, cluster);
    }
    if (!err) err = rec_ckpt_create(d, path, prealloc);
    if (!err && REC_ENCRYPTION && encrypted) {
        char hold_path[REC_STORE_PATH_MAX];
        (void)rec_store_path_ext(number, RP_CARD_HOLD_EXT, hold_path);
        err = rec_fat_create_contiguous(&st->fs, &c->hold, hold_path, REC_AGE_HOLD_BYTES);
        if (!err) err = rec_fat_file_lba(&st->fs, &c->hold, 0, &c->hold_lba);
    }
    rec_fat_lend_scratch(&st->fs, NULL, 0);
    if (err) {
        (void)rec_store_end_update(st);
        d->last_error = err;
        return err;
    }
    err = rec_fat_file_lba(&st->fs, &c->file, 0, &c->base_lba);
    if (err) goto fail;
    REC_ASSERT(c->file.contiguous);
    uint64_t alloc = (uint64_t)c->file.clusters * cluster;
    uint64_t cap = alloc - REC_WAV_HEADER_SIZE - TAIL_ROOM;
    if (REC_ENCRYPTION && encrypted) {
        /* The age header and a tag per chunk come out of it too (and the .AGE stays a FAT32 file). */
        const uint64_t age_max = alloc < 0xFFFFFFFFull ? alloc : 0xFFFFFFFFull;
        cap = age_max - REC_AGE_HEADER_SIZE - REC_WAV_HEADER_SIZE - TAIL_ROOM -
              (age_max / REC_AGE_CHUNK_SIZE + 2u) * REC_AGE_TAG_SIZE;
    }
    if (cap > MAX_RECORDING_DATA) cap = MAX_RECORDING_DATA;
    c->capacity = round_down((uint32_t)cap, REC_BD_BLOCK_SIZE);

    c->number = number;
    c->sample_rate = d->settings.sample_rate;
    c->start_uptime_ms = port_uptime_ms();
    rec_wav_info_t info = {
        .sample_rate = c->sample_rate,
        .device_id = d->settings.device_id,
        .number = number,
        .model = d->model,
        .clock_set = c->clock_set,
        .start_unix_ms = c->start_unix_ms,
    };
    err = rec_wav_build_header(c->header, &info);
    if (!err && REC_ENCRYPTION && encrypted) err = rec_enc_begin(d);
    if (!err) err = patch_sizes(d, 0);
    if (!err) err = rec_store_end_update(st);
    rec_sha256_init(&c->sha);
    /* Signed before the microphone starts: the ~116 ms of signing cannot overrun the ring. */
    if (!err) err = rec_ckpt_start(d);
    if (err) goto fail;

    st->highest_number = number;
    st->recording_count++;
    rec_ring_reset(&d->ring);
    g_mic_ring = &d->ring;
    err = port_mic_start(c->sample_rate, rec_recorder_on_mic_block);
    if (err) {
        g_mic_ring = NULL;
        /* Nothing recorded: close it as an empty recording so the card stays consistent. */
        d->rec_state = RP_REC_STATE_RECORDING;
        (void)rec_recorder_stop(d, RP_STOP_CARD_ERROR);
        return err;
    }
    d->rec_state = RP_REC_STATE_RECORDING;
    d->state_changed = true;
    port_log("recording started");
    return REC_OK;
fail:
    /* The file stays (recovery closes or ignores it); the marker stays dirty so the next mount
     * checks the FAT. */
    (void)rec_fat_close(&st->fs, &c->file);
    (void)rec_fat_close(&st->fs, &c->ckpt.file);
    if (REC_ENCRYPTION && c->encrypted) rec_enc_forget(d);
    d->last_error = err;
    return err;
}

/* Writes whole blocks from the ring; returns blocks written or a negative error. */
static int32_t write_blocks(rec_device_t *d, uint32_t max_blocks)
{
    rec_recording_state_t *c = &d->cur;
    const uint8_t *data;
    uint32_t room = (c->capacity - c->data_bytes) / REC_BD_BLOCK_SIZE;
    if (max_blocks > room) max_blocks = room;
    if (max_blocks > REC_WRITE_BURST_BLOCKS) max_blocks = REC_WRITE_BURST_BLOCKS;
    uint32_t n = rec_ring_peek_blocks(&d->ring, &data, max_blocks);
    if (n == 0) return 0;
    if (REC_ENCRYPTION && c->encrypted) {
        /* Hashed as plaintext, then encrypted in place: the ring's blocks are ours until released. */
        rec_ckpt_hash_audio(d, data, n * REC_BD_BLOCK_SIZE);
        int err = rec_enc_put(d, (uint8_t *)(uintptr_t)data, n * REC_BD_BLOCK_SIZE);
        if (err) return err;
        rec_ring_release_blocks(&d->ring, n);
        c->data_bytes += n * REC_BD_BLOCK_SIZE;
        return (int32_t)n;
    }
    uint32_t lba = c->base_lba + (REC_WAV_HEADER_SIZE + c->data_bytes) / REC_BD_BLOCK_SIZE;
    int err = rec_bd_write(d->bd, lba, data, n);
    if (err) return err;
    rec_ckpt_hash_audio(d, data, n * REC_BD_BLOCK_SIZE);
    rec_ring_release_blocks(&d->ring, n);
    c->data_bytes += n * REC_BD_BLOCK_SIZE;
    return (int32_t)n;
}

/* Stops the microphone and forgets the recording after an unrecoverable card error; the file
 * is closed by recovery when a card is back. */
static void abort_recording(rec_device_t *d, int err)
{
    port_mic_stop();
    g_mic_ring = NULL;
    d->last_error = err;
    /* A card pulled out mid-write often shows as a plain I/O error or timeout: the card-detect
     * switch tells removal from failure. */
    bool removed = err == REC_E_NOCARD || !port_card_present();
    d->interrupted_reason = removed ? RP_STOP_CARD_REMOVED : RP_STOP_CARD_ERROR;
    d->last_stop_reason = d->interrupted_reason;
    d->rec_state = RP_REC_STATE_ERROR;
    d->state_changed = true;
    port_log(removed ? "card removed while recording" : "card error while recording");
    rec_device_detach_card(d);
}

int rec_recorder_stop(rec_device_t *d, uint8_t stop_reason)
{
    if (d->rec_state != RP_REC_STATE_RECORDING) return REC_E_BUSY;
    rec_recording_state_t *c = &d->cur;
    rec_store_t *st = &d->store;
    d->rec_state = RP_REC_STATE_FINALISING;
    port_mic_stop();
    g_mic_ring = NULL;

    int err = REC_OK;
    int32_t n;
    while ((n = write_blocks(d, REC_WRITE_BURST_BLOCKS)) > 0) {
    }
    if (n < 0) err = (int)n;

    /* The last partial block, then the markers and the evid chunk, assembled in the idle ring. */
    static uint8_t partial[REC_BD_BLOCK_SIZE];
    uint8_t *tail = d->ring.buf + TAIL_AT;
    uint32_t t = 0;
    if (!err) {
        uint32_t room = c->capacity - c->data_bytes; /* 0 or at least a block */
        while (t < REC_BD_BLOCK_SIZE && t < room) {
            const uint8_t *data;
            uint32_t got = rec_ring_peek_bytes(&d->ring, &data, REC_BD_BLOCK_SIZE - t);
            if (got == 0) break;
            memcpy(partial + t, data, got);
            rec_ring_release_bytes(&d->ring, got);
            t += got;
        }
        rec_ckpt_hash_audio(d, partial, t);
        c->overruns = rec_ring_overruns(&d->ring);
        /* Audio still in the ring now (capacity reached) could not be stored: count it lost. */
        c->overruns += rec_ring_used(&d->ring) / 2u;
        /* The ring's audio is spent: from here on it is the tail's buffer. */
        memset(tail, 0, REC_BD_BLOCK_SIZE + TAIL_ROOM);
        memcpy(tail, partial, t);
    }
    rec_wav_evid_t ev;
    memset(&ev, 0, sizeof ev);
    ev.number = c->number;
    ev.device_id = d->settings.device_id;
    ev.sample_rate = c->sample_rate;
    ev.sample_count = (c->data_bytes + t) / 2u;
    ev.start_unix_ms = c->start_unix_ms;
    ev.stop_reason = stop_reason;
    ev.flags = (uint8_t)((c->clock_set ? RP_RECORD_FLAG_CLOCK_SET : 0) | (c->encrypted ? RP_RECORD_FLAG_ENCRYPTED : 0));
    ev.overruns = c->overruns;
    rec_sha256_final(&c->sha, ev.sha256);
    uint32_t evid_len = 0; /* the whole tail: markers, then the evid chunk */
    if (!err) evid_len = rec_wav_build_tail(tail + t, c->markers, c->marker_count, c->data_bytes + t, &ev);
    if (!err && REC_ENCRYPTION && c->encrypted) {
        /* The last audio, then the FINAL record and the finish (chunk 0 and the last chunk). */
        err = rec_enc_put(d, tail, t);
        c->data_bytes += t;
        if (!err) err = rec_enc_stop(d, stop_reason, ev.flags, ev.sha256, tail + t, evid_len);
    } else if (!err) {
        uint32_t blocks = (t + evid_len + REC_BD_BLOCK_SIZE - 1) / REC_BD_BLOCK_SIZE;
        uint32_t lba = c->base_lba + (REC_WAV_HEADER_SIZE + c->data_bytes) / REC_BD_BLOCK_SIZE;
        err = rec_bd_write(d->bd, lba, tail, blocks);
        c->data_bytes += t;
    }
    /* The stop time for the directory entries written next. Two statements: the order in which
     * a call's arguments are evaluated is unspecified, so now_ms could be read before it is set. */
    int64_t now_ms;
    const bool clock_set = rec_device_clock_now(d, &now_ms);
    rec_store_set_time(st, clock_set, now_ms);
    if (!err) err = patch_sizes(d, evid_len);
    /* The stop slot vouches for the WAV as it now is on the card (header and evid chunk; for an
     * encrypted recording, the plaintext of its .AGE). */
    /* Only a recording signed while it was made is sealed later; sealing is what destroys an
     * encrypted recording's file key, so an unsigned one destroys it as soon as it is closed. */
    const bool will_be_sealed = c->ckpt.active;
    if (!err) err = rec_ckpt_stop(d, stop_reason, ev.sample_count, ev.sha256, tail + t, evid_len);
    if (!err) err = rec_store_begin_update(st);
    /* The microphone is stopped and the ring drained: lend it for the bulk FAT writes. */
    rec_fat_lend_scratch(&st->fs, d->ring.buf, rec_ring_capacity(&d->ring));
    if (!err) err = rec_fat_trim(&st->fs, &c->file);
    if (!err) err = rec_ckpt_close(d);
    rec_fat_lend_scratch(&st->fs, NULL, 0);
    if (!err) err = rec_fat_file_sync(&st->fs, &c->file);
    (void)rec_fat_close(&st->fs, &c->file);
    if (!err) {
        rec_journal_record_t jr;
        memset(&jr, 0, sizeof jr);
        jr.number = c->number;
        jr.start_unix_ms = c->start_unix_ms;
        jr.start_uptime_ms = c->start_uptime_ms;
        jr.stop_uptime_ms = port_uptime_ms();
        int64_t now;
        jr.stop_unix_ms = rec_device_clock_now(d, &now) ? now : 0;
        jr.sample_rate = c->sample_rate;
        jr.sample_count = ev.sample_count;
        jr.stop_reason = stop_reason;
        jr.flags = ev.flags;
        jr.overruns = ev.overruns;
        memcpy(jr.sha256, ev.sha256, 32);
        err = rec_journal_append(&st->journal, &jr);
        /* The hold file goes after the record: while it is there, recovery finishes the file. */
        if (!err && REC_ENCRYPTION && c->encrypted) err = rec_enc_close(d);
        if (!err && REC_ENCRYPTION && c->encrypted && !will_be_sealed) err = rec_enc_destroy_key(d, c->number);
        if (!err) err = rec_store_end_update(st);
    }
    if (err) {
        /* The card failed during finalisation: recovery closes the file when a card is back. */
        d->rec_state = RP_REC_STATE_RECORDING; /* so abort's bookkeeping applies */
        abort_recording(d, err);
        return err;
    }
    d->overruns_total += ev.overruns;
    d->last_stop_reason = stop_reason;
    /* A recording stopped by a full card leaves the card full: report it (see start). */
    if (stop_reason == RP_STOP_CARD_FULL) st->card_state = RP_CARD_STATE_FULL;
    d->rec_state = RP_REC_STATE_IDLE;
    d->state_changed = true;
    port_log("recording stopped");
    return REC_OK;
}

int rec_recorder_mark(rec_device_t *d, rec_marker_t *out)
{
    if (d->rec_state != RP_REC_STATE_RECORDING) return REC_E_BUSY;
    rec_recording_state_t *c = &d->cur;
    if (c->marker_count >= REC_MAX_MARKERS) return REC_E_FULL;
    /* The sample being captured now: those on the card and those still in the ring. */
    const uint32_t offset = (c->data_bytes + rec_ring_used(&d->ring)) / 2u;
    rec_journal_record_t r;
    memset(&r, 0, sizeof r);
    r.kind = RP_JOURNAL_KIND_MARKER;
    r.number = c->number;
    r.sample_rate = c->sample_rate;
    r.sample_count = offset;
    r.overruns = c->marker_count + 1u;
    r.flags = c->clock_set ? RP_RECORD_FLAG_CLOCK_SET : 0;
    r.start_unix_ms = c->clock_set ? c->start_unix_ms : 0;
    r.start_uptime_ms = c->start_uptime_ms;
    r.stop_uptime_ms = port_uptime_ms();
    int64_t now;
    r.stop_unix_ms = rec_device_clock_now(d, &now) ? now : 0;
    int err = rec_device_journal_event(d, &r);
    if (err) return err;
    c->markers[c->marker_count++] = offset;
    out->number = c->marker_count;
    out->sample_offset = offset;
    port_log("marker");
    return REC_OK;
}

bool rec_recorder_poll(rec_device_t *d)
{
    if (d->rec_state != RP_REC_STATE_RECORDING) return false;
    rec_recording_state_t *c = &d->cur;
    bool worked = false;
    /* Bounded work per poll so the protocol server stays responsive. */
    bool drained = false;
    const uint32_t budget = patch_budget(c);
    for (int i = 0; i < 8; i++) {
        if (blocks_before_patch(c, budget) == 0) {
            int err = patch_sizes(d, 0);
            if (err) {
                abort_recording(d, err);
                return true;
            }
        }
        int32_t n = write_blocks(d, blocks_before_patch(c, budget));
        if (n < 0) {
            abort_recording(d, (int)n);
            return true;
        }
        if (n == 0) {
            drained = true;
            break;
        }
        worked = true;
    }
    /* A checkpoint is signed only once the ring has been drained: the signature (~116 ms on the
     * RP2040 at 48 MHz) then has the whole ring to fill before a block is lost. The sizes are
     * patched first, so that after a power cut the recovered WAV holds all the audio any
     * checkpoint on the card vouches for. */
    if (drained && c->ckpt.pending) {
        int err = patch_sizes(d, 0);
        if (!err) err = rec_ckpt_flush(d);
        if (err) {
            abort_recording(d, err);
            return true;
        }
        worked = true;
    }
    if (c->data_bytes >= c->capacity) {
        uint8_t reason = c->capacity >= round_down(MAX_RECORDING_DATA, REC_BD_BLOCK_SIZE) ? RP_STOP_MAX_LENGTH : RP_STOP_CARD_FULL;
        (void)rec_recorder_stop(d, reason);
        return true;
    }
    if (port_uptime_ms() - c->last_patch_ms >= REC_PATCH_INTERVAL_MS) {
        int err = patch_sizes(d, 0);
        if (err) abort_recording(d, err);
        worked = true;
    }
    return worked;
}
