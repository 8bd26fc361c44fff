/* The stop slot of a recording cut by power (rec_ckpt_recover in rec/checkpoint.h). */
#include <string.h>

#include "rec/checkpoint.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/store.h"

static int read_slot(rec_store_t *st, rec_fat_file_t *f, uint32_t index, uint8_t *slot)
{
    int err = rec_fat_seek(&st->fs, f, index * REC_CKPT_SLOT_SIZE);
    if (err) return err;
    int32_t got = rec_fat_read(&st->fs, f, slot, REC_CKPT_SLOT_SIZE);
    if (got < 0) return (int)got;
    return got == (int32_t)REC_CKPT_SLOT_SIZE ? REC_OK : REC_E_CORRUPT;
}

/* Hashes the file from its position until `*done` reaches `to` bytes, through the ring. */
static int hash_to(rec_device_t *d, rec_fat_file_t *f, rec_sha256_t *h, uint32_t *done, uint32_t to)
{
    uint32_t cap = rec_ring_capacity(&d->ring);
    while (*done < to) {
        uint32_t n = to - *done < cap ? to - *done : cap;
        int32_t got = rec_fat_read(&d->store.fs, f, d->ring.buf, n);
        if (got < 0) return (int)got;
        if ((uint32_t)got != n) return REC_E_CORRUPT;
        rec_sha256_update(h, d->ring.buf, n);
        *done += n;
    }
    return REC_OK;
}

/* f of the stop slot: SHA-256 of the header and the evid chunk as they are on the card. */
static int card_header_evid_hash(rec_device_t *d, rec_fat_file_t *wav, uint32_t data_bytes, uint8_t f[32])
{
    rec_sha256_t h;
    rec_sha256_init(&h);
    uint32_t done = 0;
    int err = rec_fat_seek(&d->store.fs, wav, 0);
    if (!err) err = hash_to(d, wav, &h, &done, REC_WAV_HEADER_SIZE);
    if (!err) err = rec_fat_seek(&d->store.fs, wav, REC_WAV_HEADER_SIZE + data_bytes);
    done = 0;
    if (!err) err = hash_to(d, wav, &h, &done, REC_WAV_EVID_CHUNK_BYTES);
    if (!err) rec_sha256_final(&h, f);
    return err;
}

/* What the recovery needs of the WAV (kept small: this runs at the bottom of a deep stack). */
typedef struct {
    uint32_t number;
    uint32_t data_bytes;
    uint32_t samples;
    uint8_t stop_reason;
} wav_facts_t;

/* The WAV's facts; false when it is not a finished recording (left to the WAV's recovery). */
static __attribute__((noinline)) bool wav_facts(rec_store_t *st, uint32_t number, wav_facts_t *w)
{
    rec_recording_t r;
    /* An encrypted recording's audio is not readable here (its stop slot after a cut is future
     * work, docs/design/encryption.md): left as it is. */
    if (rec_store_find(st, number, &r) != REC_OK || !r.finished || r.encrypted) return false;
    w->number = number;
    w->data_bytes = r.header.data_size;
    w->samples = r.evid.sample_count;
    w->stop_reason = r.evid.stop_reason;
    return true;
}

/* Whether the slot at `index` is a stop slot of this recording (format only: the cheap check). */
static __attribute__((noinline)) bool is_stop_slot(rec_store_t *st, rec_fat_file_t *ckp, uint32_t index, uint32_t number)
{
    rec_ckpt_t c;
    return read_slot(st, ckp, index, st->block) == REC_OK && rec_ckpt_parse(st->block, NULL, &c) == REC_OK &&
           c.kind == REC_CKPT_STOP && c.number == number;
}

/* Checks the slots after slot 0 against the audio; writes the stop slot when there is none. */
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

    rec_fat_file_t wav;
    char path[REC_STORE_PATH_MAX];
    (void)rec_store_path(r->number, path);
    err = rec_fat_open(&st->fs, &wav, path, REC_FAT_READ);
    if (err) return err;
    uint32_t data = r->data_bytes, found = r->samples;
    uint8_t f[32];
    err = card_header_evid_hash(d, &wav, data, f);
    rec_sha256_t h;
    rec_sha256_init(&h);
    uint32_t hashed = 0, vouched = 0, valid = 1;
    if (!err) err = rec_fat_seek(&st->fs, &wav, REC_WAV_HEADER_SIZE);
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
            (void)rec_fat_close(&st->fs, &wav);
            err = rec_fat_set_size(&st->fs, ckp, (i + 1u) * REC_CKPT_SLOT_SIZE);
            return err;
        }
        valid = i + 1u;
        if (c.samples > found || c.samples * 2u < hashed) continue;
        err = hash_to(d, &wav, &h, &hashed, c.samples * 2u);
        rec_sha256_t fork = h;
        uint8_t digest[32];
        rec_sha256_final(&fork, digest);
        if (!err && memcmp(digest, c.h, 32) == 0) vouched = c.samples;
    }
    if (!err) err = hash_to(d, &wav, &h, &hashed, found * 2u);
    (void)rec_fat_close(&st->fs, &wav);
    if (err) return err;
    uint8_t digest[32];
    rec_sha256_final(&h, digest);
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
