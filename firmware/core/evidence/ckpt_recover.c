/* The stop slot of a recording cut by power (rec_ckpt_recover in rec/checkpoint.h). */
#include <string.h>

#include "rec/checkpoint.h"
#include "rec/device.h"
#include "rec/encrypted.h"
#include "rec/hmac_sha256.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec/store.h"

static int read_slot(rec_store_t *st, rec_fat_file_t *f, uint32_t index, uint8_t *slot)
{
    int err = rec_fat_seek(&st->fs, f, index * REC_CKPT_SLOT_SIZE);
    if (err) return err;
    int32_t got = rec_fat_read(&st->fs, f, slot, REC_CKPT_SLOT_SIZE);
    if (got < 0) return (int)got;
    return got == (int32_t)REC_CKPT_SLOT_SIZE ? REC_OK : REC_E_CORRUPT;
}

/* The plaintext WAV of the recording, read in order from its start: the WAV itself, or its .AGE
 * decrypted with the file key still in NVM (a recording is sealed, and its key destroyed, only
 * after its stop slot). Kept at the start of the idle audio ring, whose rest is the read buffer. */
typedef struct {
    rec_fat_file_t file;
    bool encrypted;
#if REC_ENCRYPTION
    rec_age_reader_t age;
#endif
} wav_source_t;

static wav_source_t *source_of(rec_device_t *d, uint8_t **buf, uint32_t *cap)
{
    uintptr_t at = ((uintptr_t)d->ring.buf + 7u) & ~(uintptr_t)7u;
    uint32_t head = (uint32_t)((sizeof(wav_source_t) + 7u) & ~7u) + (uint32_t)(at - (uintptr_t)d->ring.buf);
    *buf = d->ring.buf + head;
    *cap = rec_ring_capacity(&d->ring) - head;
    return (wav_source_t *)at;
}

/* Reads the next n plaintext bytes into buf (room for n + REC_AGE_TAG_SIZE, and at least the age
 * header). REC_E_MISMATCH: the .AGE does not decrypt. */
static int source_read(rec_device_t *d, wav_source_t *src, uint8_t *buf, uint32_t n)
{
    rec_fat_t *fs = &d->store.fs;
    if (!src->encrypted) {
        int32_t got = rec_fat_read(fs, &src->file, buf, n);
        if (got < 0) return (int)got;
        return (uint32_t)got == n ? REC_OK : REC_E_CORRUPT;
    }
#if REC_ENCRYPTION
    for (uint32_t have = 0; have < n;) {
        uint32_t span = rec_age_reader_span(&src->age, n - have), plain = 0;
        if (span == 0) return REC_E_CORRUPT; /* shorter than its journal record says */
        int32_t got = rec_fat_read(fs, &src->file, buf + have, span);
        if (got < 0) return (int)got;
        if ((uint32_t)got != span) return REC_E_CORRUPT;
        int err = rec_age_reader_feed(&src->age, buf + have, span, &plain);
        if (err) return err;
        have += plain;
    }
    return REC_OK;
#else
    return REC_E_UNSUPPORTED;
#endif
}

/* Hashes the plaintext from its position until `*done` reaches `to` bytes, through the ring. */
static int hash_to(rec_device_t *d, rec_sha256_t *h, uint32_t *done, uint32_t to)
{
    uint8_t *buf;
    uint32_t cap;
    wav_source_t *src = source_of(d, &buf, &cap);
    cap -= REC_AGE_TAG_SIZE;
    while (*done < to) {
        uint32_t n = to - *done < cap ? to - *done : cap;
        int err = source_read(d, src, buf, n);
        if (err) return err;
        rec_sha256_update(h, buf, n);
        *done += n;
    }
    return REC_OK;
}

/* Opens the WAV, or the .AGE with its key (REC_E_NOENT when the key is gone: not readable). */
static int source_open(rec_device_t *d, uint32_t number, bool encrypted)
{
    uint8_t *buf;
    uint32_t cap;
    wav_source_t *src = source_of(d, &buf, &cap);
    memset(src, 0, sizeof *src);
    src->encrypted = encrypted;
    char path[REC_STORE_PATH_MAX];
    int err = rec_ckpt_path(number, encrypted ? RP_CARD_ENCRYPTED_EXT : RP_CARD_RECORDING_EXT, path);
    if (!err) err = rec_fat_open(&d->store.fs, &src->file, path, REC_FAT_READ);
    if (err || !encrypted) return err;
#if REC_ENCRYPTION
    uint8_t key[REC_AGE_FILE_KEY_SIZE];
    err = rec_enc_file_key(d, number, key);
    if (!err) rec_age_reader_start(&src->age, key, src->file.size);
    rec_crypto_wipe(key, sizeof key);
    if (err) (void)rec_fat_close(&d->store.fs, &src->file);
    return err;
#else
    (void)rec_fat_close(&d->store.fs, &src->file);
    return REC_E_NOENT;
#endif
}

static void source_close(rec_device_t *d)
{
    uint8_t *buf;
    uint32_t cap;
    wav_source_t *src = source_of(d, &buf, &cap);
    (void)rec_fat_close(&d->store.fs, &src->file);
#if REC_ENCRYPTION
    rec_age_reader_wipe(&src->age);
#endif
}

/* What the recovery needs of the recording (kept small: this runs at the bottom of a deep stack). */
typedef struct {
    uint32_t number;
    uint32_t data_bytes;
    uint32_t samples;
    uint32_t tail_bytes; /* after the audio: the markers, if any, and the evid chunk */
    uint8_t stop_reason;
    bool encrypted;
} wav_facts_t;

/* The recording's facts; false when it is not a finished recording (left to its own recovery).
 * An encrypted one's come from its journal record (rec_store_find): the pass below decrypts the
 * whole .AGE, so a file that does not match them is not closed. */
static __attribute__((noinline)) bool wav_facts(rec_store_t *st, uint32_t number, wav_facts_t *w)
{
    rec_recording_t r;
    if (rec_store_find(st, number, &r) != REC_OK || !r.finished) return false;
    if (r.encrypted && !REC_ENCRYPTION) return false;
    w->number = number;
    w->data_bytes = r.header.data_size;
    w->samples = r.evid.sample_count;
    w->stop_reason = r.evid.stop_reason;
    w->encrypted = r.encrypted;
    w->tail_bytes = r.header.tail_bytes;
#if REC_ENCRYPTION
    if (r.encrypted && r.size > REC_AGE_HEADER_SIZE) {
        /* The plaintext of the complete .AGE: every chunk, the last one too, ends in its tag. */
        const uint64_t stored = r.size - REC_AGE_HEADER_SIZE, chunk = REC_AGE_CHUNK_SIZE + REC_AGE_TAG_SIZE;
        const uint64_t plain = stored - (stored + chunk - 1u) / chunk * REC_AGE_TAG_SIZE;
        if (plain >= (uint64_t)REC_WAV_HEADER_SIZE + w->data_bytes) w->tail_bytes = (uint32_t)(plain - REC_WAV_HEADER_SIZE - w->data_bytes);
    }
#endif
    if (w->tail_bytes < REC_WAV_EVID_CHUNK_BYTES || w->tail_bytes > REC_WAV_TAIL_MAX_BYTES) return false;
    return true;
}

/* Whether the slot at `index` is a stop slot of this recording (format only: the cheap check). */
static __attribute__((noinline)) bool is_stop_slot(rec_store_t *st, rec_fat_file_t *ckp, uint32_t index, uint32_t number)
{
    rec_ckpt_t c;
    return read_slot(st, ckp, index, st->block) == REC_OK && rec_ckpt_parse(st->block, NULL, &c) == REC_OK &&
           c.kind == REC_CKPT_STOP && c.number == number;
}

/* Checks the slots after slot 0 against the audio; writes the stop slot when there is none. The
 * plaintext is read once, in order: header, audio (forked at each checkpoint), evid chunk. */
static __attribute__((noinline)) int close_slots(rec_device_t *d, rec_fat_file_t *ckp, const wav_facts_t *r, bool *wrote)
{
    rec_store_t *st = &d->store;
    uint8_t *slot = st->block;
    rec_ckpt_t c;
    int err = read_slot(st, ckp, 0, slot);
    if (err) return err == REC_E_CORRUPT ? REC_OK : err;
    if (rec_ckpt_parse(slot, &d->identity, &c) != REC_OK || c.kind != REC_CKPT_START || c.number != r->number ||
        memcmp(c.key_id, d->identity.key_id, REC_KEY_ID_SIZE) != 0)
        return REC_OK; /* not a checkpoint file this key can continue: left as it is */
    uint8_t session[REC_CKPT_SESSION_SIZE];
    rec_ckpt_session(slot, session);

    err = source_open(d, r->number, r->encrypted);
    if (err == REC_E_NOENT && r->encrypted) {
        port_log("an encrypted recording cut short has no key in the device: its checkpoints are left as they are");
        return REC_OK;
    }
    if (err) return err;
    const uint32_t data = r->data_bytes, found = r->samples;
    /* f of the stop slot: SHA-256 of the header and what follows the audio (markers, evid chunk). */
    rec_sha256_t fh, h;
    rec_sha256_init(&fh);
    rec_sha256_init(&h);
    uint32_t done = 0, hashed = 0, vouched = 0, valid = 1;
    err = hash_to(d, &fh, &done, REC_WAV_HEADER_SIZE);
    /* Slots beyond the directory entry's size may have been written just before the cut: read on
     * within the chain while they are valid. */
    uint32_t chain_slots = ckp->clusters * st->fs.blocks_per_cluster;
    for (uint32_t i = 1; !err && i < chain_slots; i++) {
        if (read_slot(st, ckp, i, slot) != REC_OK) break;
        if (rec_ckpt_parse(slot, &d->identity, &c) != REC_OK || c.number != r->number || c.index != i ||
            memcmp(c.session, session, sizeof session) != 0)
            break;
        if (c.kind == REC_CKPT_STOP) {
            /* Already closed (a cut after the stop slot, before the trim): keep it. */
            source_close(d);
            return rec_fat_set_size(&st->fs, ckp, (i + 1u) * REC_CKPT_SLOT_SIZE);
        }
        valid = i + 1u;
        if (c.samples > found || c.samples * 2u < hashed) continue;
        err = hash_to(d, &h, &hashed, c.samples * 2u);
        rec_sha256_t fork = h;
        uint8_t digest[32];
        rec_sha256_final(&fork, digest);
        if (!err && memcmp(digest, c.h, 32) == 0) vouched = c.samples;
    }
    if (!err) err = hash_to(d, &h, &hashed, found * 2u);
    if (!err && hashed != data) err = REC_E_CORRUPT; /* the evid chunk does not count the audio */
    done = 0;
    if (!err) err = hash_to(d, &fh, &done, r->tail_bytes);
    source_close(d);
    if (err == REC_E_MISMATCH) port_log("an encrypted recording cut short does not decrypt: its checkpoints are left as they are");
    if (err) return err == REC_E_MISMATCH ? REC_OK : err;
    uint8_t digest[32], f[32];
    rec_sha256_final(&h, digest);
    rec_sha256_final(&fh, f);
    memset(slot, 0, REC_CKPT_SLOT_SIZE);
    err = rec_ckpt_format_stop(slot, d->identity.key_id, r->number, valid, found, r->stop_reason, true, vouched,
                               session, digest, f);
    if (!err) err = rec_ckpt_sign(&d->identity, slot);
    if (!err) err = rec_fat_seek(&st->fs, ckp, valid * REC_CKPT_SLOT_SIZE);
    if (err) return err;
    int32_t put = rec_fat_write(&st->fs, ckp, slot, REC_CKPT_SLOT_SIZE);
    if (put < 0) return (int)put;
    if (put != (int32_t)REC_CKPT_SLOT_SIZE) return REC_E_IO;
    *wrote = true;
    return rec_fat_set_size(&st->fs, ckp, (valid + 1u) * REC_CKPT_SLOT_SIZE);
}

static int recover_one(rec_device_t *d, uint32_t number, bool *bracketed, uint32_t *fixed)
{
    rec_store_t *st = &d->store;
    /* Without the key nothing can be signed: left as it is for a boot that has the key. */
    if (!d->identity.has_key) return REC_OK;
    char path[REC_STORE_PATH_MAX];
    int err = rec_ckpt_path(number, RP_CARD_CHECKPOINTS_EXT, path);
    if (err) return err;
    rec_fat_file_t ckp;
    err = rec_fat_open(&st->fs, &ckp, path, REC_FAT_READ | REC_FAT_WRITE);
    if (err == REC_E_NOENT) return REC_OK; /* unsigned recording */
    if (err) return err;
    uint32_t cluster = (uint32_t)st->fs.blocks_per_cluster * REC_BD_BLOCK_SIZE;
    uint32_t slots = ckp.size / REC_CKPT_SLOT_SIZE;
    bool trimmed = (uint64_t)ckp.clusters * cluster < (uint64_t)ckp.size + cluster;
    /* The cheap check first: the last slot by size is a stop slot of this recording. */
    bool closed = slots > 0 && is_stop_slot(st, &ckp, slots - 1u, number);
    if (closed && trimmed) goto out;
    wav_facts_t r;
    if (!wav_facts(st, number, &r)) goto out; /* left for the WAV's own recovery */
    if (!*bracketed) {
        err = rec_store_begin_update(st);
        if (err) goto out;
        *bracketed = true;
    }
    bool wrote = false;
    if (!closed) err = close_slots(d, &ckp, &r, &wrote);
    if (!err) err = rec_fat_trim(&st->fs, &ckp);
    if (!err) err = rec_fat_file_sync(&st->fs, &ckp);
    if (!err && wrote) (*fixed)++;
out:
    (void)rec_fat_close(&st->fs, &ckp);
    return err;
}

int rec_ckpt_recover(rec_device_t *d, uint32_t *fixed)
{
    *fixed = 0;
    rec_store_t *st = &d->store;
    if (!st->mounted) return REC_E_NOCARD;
    uint32_t after = 0;
    bool bracketed = false;
    int err = REC_OK;
    for (;;) {
        uint32_t nums[8], count, total;
        bool more;
        err = rec_store_list(st, after, nums, REC_COUNT_OF(nums), &count, &total, &more);
        for (uint32_t i = 0; !err && i < count; i++) {
            err = recover_one(d, nums[i], &bracketed, fixed);
            if (err == REC_E_CORRUPT) err = REC_OK; /* not ours: left as it is */
        }
        if (err || count == 0 || !more) break;
        after = nums[count - 1];
    }
    if (bracketed) {
        int end = rec_store_end_update(st);
        if (!err) err = end;
    }
    return err;
}
