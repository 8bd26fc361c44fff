/* The device key's keeping and the counted journal: the NVM state log holds the device's own
 * count of its journal records, the numbers it spent and whether its clock was set, so a card
 * journal cut or replaced, a number spent without a file and a lost clock are journalled, never
 * passed over in silence (docs/firmware.md, "The counted journal"). */
#include <string.h>

#include "rec/bytes.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec/sha256.h"
#include "rec_protocol.h"

/* NUMBER_FLOOR payload: u32 the lowest number the next recording may take, u32 the floor when
 * the card was last formatted by the device (numbers below it belong to earlier epochs). */
#define FLOOR_PAYLOAD 8u

static void journal_record_init(rec_journal_record_t *r, uint16_t kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->stop_uptime_ms = port_uptime_ms();
}

int rec_device_journal_event(rec_device_t *d, rec_journal_record_t *r)
{
    rec_store_t *st = &d->store;
    if (!st->mounted) return REC_E_NOCARD;
    int err = rec_store_begin_update(st);
    if (!err) err = rec_journal_append(&st->journal, r);
    int end = rec_store_end_update(st);
    return err ? err : end;
}

void rec_device_boot_identity(rec_device_t *d)
{
    int err = rec_nvm_open(&d->nvm);
    if (err && err != REC_E_UNSUPPORTED) port_log("device memory unreadable: recording unsigned");
    err = rec_identity_boot(&d->identity, &d->nvm);
    if (err == REC_E_CORRUPT) port_log("device key damaged: recording unsigned until provisioned again");
    err = rec_recipient_boot(&d->recipient, &d->nvm);
    if (err == REC_E_CORRUPT) port_log("recipient damaged: recording unencrypted until it is set again");
    uint8_t flag = 0;
    d->clock_flag = rec_nvm_state_get(&d->nvm, RP_NVM_STATE_CLOCK, &flag, 1) == 1 && flag == 1;
    d->clock_lost_pending = d->clock_flag && !d->clock_set;
}

int rec_device_provision(rec_device_t *d, const uint8_t host_random[32], bool force)
{
    if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) return REC_E_BUSY;
    int err = rec_identity_provision(&d->identity, &d->nvm, host_random, force, d->ring.buf, rec_ring_capacity(&d->ring));
    if (err) return err;
    port_log("device key made");
    if (d->store.mounted) {
        rec_journal_record_t r;
        journal_record_init(&r, RP_JOURNAL_KIND_KEY_CREATED);
        rec_sha256(d->identity.key.public_key, sizeof d->identity.key.public_key, r.sha256);
        if (rec_device_journal_event(d, &r) != REC_OK) port_log("journalling the new key failed");
    }
    return REC_OK;
}

int rec_device_set_recipient(rec_device_t *d, const uint8_t key[32])
{
    if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) return REC_E_BUSY;
    int err = rec_recipient_store(&d->recipient, &d->nvm, key);
    if (!err) port_log(key ? "recipient set: recordings are encrypted" : "recipient cleared: recordings are not encrypted");
    return err;
}

/* The NVM JOURNAL_HEAD: REC_OK with its fields, or an error (REC_E_NOENT before any). */
static int counter_get(rec_device_t *d, uint32_t *epoch, uint32_t *count, uint8_t head12[12])
{
    uint8_t p[REC_JOURNAL_COUNT_PAYLOAD];
    int len = rec_nvm_state_get(&d->nvm, RP_NVM_STATE_JOURNAL_HEAD, p, sizeof p);
    if (len < 0) return len;
    if (len != (int)sizeof p) return REC_E_CORRUPT;
    *epoch = rec_get_u32(p);
    *count = rec_get_u32(p + 4);
    memcpy(head12, p + 8, 12);
    return REC_OK;
}

static int counter_put(rec_device_t *d, uint32_t epoch, uint32_t count, const uint8_t hash[32])
{
    uint8_t p[REC_JOURNAL_COUNT_PAYLOAD];
    rec_journal_count_pack(epoch, count, hash, p);
    return rec_nvm_state_put(&d->nvm, RP_NVM_STATE_JOURNAL_HEAD, p, sizeof p);
}

void rec_device_journal_counter(rec_device_t *d, uint32_t *epoch, uint32_t *count)
{
    uint8_t head12[12];
    if (counter_get(d, epoch, count, head12) != REC_OK) *epoch = *count = 0;
}

static bool floor_get(rec_device_t *d, uint32_t *floor, uint32_t *base)
{
    uint8_t p[FLOOR_PAYLOAD];
    if (rec_nvm_state_get(&d->nvm, RP_NVM_STATE_NUMBER_FLOOR, p, sizeof p) != (int)sizeof p) return false;
    *floor = rec_get_u32(p);
    *base = rec_get_u32(p + 4);
    return true;
}

static int floor_put(rec_device_t *d, uint32_t floor, uint32_t base)
{
    uint8_t p[FLOOR_PAYLOAD];
    rec_put_u32(p, floor);
    rec_put_u32(p + 4, base);
    return rec_nvm_state_put(&d->nvm, RP_NVM_STATE_NUMBER_FLOOR, p, sizeof p);
}

static int append_epoch_start(rec_device_t *d, uint32_t epoch, uint32_t n, const uint8_t head12[12]);

int rec_device_journal_reconcile(rec_device_t *d)
{
    rec_journal_t *j = &d->store.journal;
    j->nvm = NULL;
    j->epoch = 0;
    if (!d->nvm.present || !d->store.mounted) return REC_OK;
    uint32_t epoch, n;
    uint8_t head12[12];
    int err = counter_get(d, &epoch, &n, head12);
    if (err == REC_E_NOENT) {
        /* First mount with a counter: adopt the card's journal as epoch 1. */
        err = counter_put(d, 1, j->count, j->last_hash);
        if (err) return REC_OK; /* NVM failing: carry on uncounted */
        j->nvm = &d->nvm;
        j->epoch = 1;
        return REC_OK;
    }
    if (err) return REC_OK;
    j->nvm = &d->nvm;
    j->epoch = epoch;
    const uint32_t c = j->count;
    uint8_t p[REC_JOURNAL_COUNT_PAYLOAD];
    bool pending = rec_nvm_state_get(&d->nvm, RP_NVM_STATE_JOURNAL_PENDING, p, sizeof p) == (int)sizeof p;
    /* The device was formatting its card (rec_device_journal_before_format) when the power went. */
    if (pending && rec_get_u32(p) == epoch + 1u && rec_get_u32(p + 4) == 0) {
        if (c == 0) return append_epoch_start(d, epoch, n, head12);
        if (c == 1 && memcmp(p + 8, j->last_hash, 12) == 0) {
            /* EPOCH_START reached the card, its JOURNAL_HEAD did not: adopt it. */
            (void)counter_put(d, epoch + 1u, 1, j->last_hash);
            j->epoch = epoch + 1u;
            return REC_OK;
        }
        if (c == n && memcmp(j->last_hash, head12, 12) == 0) {
            /* Cut before the card was erased: the old journal stands; forget the announcement. */
            rec_journal_count_pack(epoch, n, NULL, p);
            (void)rec_nvm_state_put(&d->nvm, RP_NVM_STATE_JOURNAL_PENDING, p, sizeof p);
            return REC_OK;
        }
    }
    if (c == n && memcmp(j->last_hash, head12, 12) == 0) return REC_OK;
    if (c == n + 1u) {
        /* Cut after the card write of an append, before its JOURNAL_HEAD: adopt the record the
         * device announced. */
        if (pending && rec_get_u32(p) == epoch && rec_get_u32(p + 4) == n && memcmp(p + 8, j->last_hash, 12) == 0)
        {
            (void)counter_put(d, epoch, c, j->last_hash);
            return REC_OK;
        }
    }
    /* The card's journal is shorter than the device's count, or diverged from it (cut, replaced,
     * or another card): what it lacks cannot be told apart from numbers spent on another card,
     * so numbers spent before now are not journalled as NUMBER_SPENT on this one. */
    port_log("journal on the card disagrees with the device's count: TAIL_LOST");
    uint32_t floor, base;
    if (floor_get(d, &floor, &base) && base < floor) (void)floor_put(d, floor, floor);
    rec_journal_record_t r;
    journal_record_init(&r, RP_JOURNAL_KIND_TAIL_LOST);
    r.number = n;
    r.sample_count = c < n ? n - c : 0;
    memcpy(r.sha256, head12, 12);
    return rec_device_journal_event(d, &r);
}

uint32_t rec_device_number_floor(rec_device_t *d)
{
    uint32_t floor, base;
    return floor_get(d, &floor, &base) ? floor : 0;
}

int rec_device_spend_number(rec_device_t *d, uint32_t number)
{
    if (!d->nvm.present) return REC_OK;
    uint32_t floor, base;
    if (!floor_get(d, &floor, &base)) base = number; /* the first number spent with a counter */
    return floor_put(d, number + 1u, base);
}

int rec_device_journal_spent(rec_device_t *d)
{
    rec_store_t *st = &d->store;
    uint32_t floor, base;
    if (!d->nvm.present || !st->mounted || !floor_get(d, &floor, &base)) return REC_OK;
    uint32_t k = st->highest_number + 1u;
    if (st->journal.highest_number + 1u > k) k = st->journal.highest_number + 1u;
    if (base > k) k = base;
    /* Bounded: one per failed start or power cut, never thousands. */
    for (uint32_t done = 0; k < floor && k <= REC_STORE_MAX_NUMBER && done < 64u; k++, done++) {
        rec_recording_t found;
        int err = rec_store_find(st, k, &found);
        if (err == REC_OK) break; /* a file: recovery's business */
        if (err != REC_E_NOENT) return err;
        rec_journal_record_t r;
        journal_record_init(&r, RP_JOURNAL_KIND_NUMBER_SPENT);
        r.number = k;
        err = rec_device_journal_event(d, &r);
        if (err) return err;
        if (k > st->highest_number) st->highest_number = k;
        port_log("a recording number was spent without a file: NUMBER_SPENT");
    }
    return REC_OK;
}

int rec_device_numbers_before_format(rec_device_t *d, uint32_t next_number)
{
    if (!d->nvm.present) return REC_OK;
    /* Numbers below the floor belong to the earlier epochs, never spent in the next one: said
     * before the card is erased, so a cut format never makes them "spent". */
    return floor_put(d, next_number, next_number);
}

/* After the device formatted its card: a new epoch, opened by EPOCH_START. */
/* Appends EPOCH_START for epoch + 1 (the previous epoch's count and head in it) to the freshly
 * formatted card's empty journal; the append itself moves the device's count to the new epoch
 * (JOURNAL_PENDING, card, JOURNAL_HEAD), so a cut anywhere leaves a state the next mount settles. */
static int append_epoch_start(rec_device_t *d, uint32_t epoch, uint32_t n, const uint8_t head12[12])
{
    rec_journal_t *j = &d->store.journal;
    j->nvm = &d->nvm;
    j->epoch = epoch + 1u;
    rec_journal_record_t r;
    journal_record_init(&r, RP_JOURNAL_KIND_EPOCH_START);
    r.number = epoch + 1u;
    r.sample_count = n;
    memcpy(r.sha256, head12, 12);
    return rec_device_journal_event(d, &r);
}

int rec_device_journal_new_epoch(rec_device_t *d)
{
    if (!d->nvm.present || !d->store.mounted) return REC_OK;
    uint32_t epoch = 0, n = 0;
    uint8_t head12[12];
    if (counter_get(d, &epoch, &n, head12) != REC_OK) {
        epoch = n = 0;
        memset(head12, 0, sizeof head12);
    }
    return append_epoch_start(d, epoch, n, head12);
}

int rec_device_journal_head(rec_device_t *d, uint32_t *epoch, uint32_t *count, uint8_t head12[12])
{
    return counter_get(d, epoch, count, head12);
}

int rec_device_journal_wiped(rec_device_t *d, uint32_t epoch, uint32_t prev_count, const uint8_t prev_head12[12],
                             rec_journal_record_t *wiped)
{
    if (!d->store.mounted) return REC_E_NOCARD;
    if (d->nvm.present) {
        int err = append_epoch_start(d, epoch - 1u, prev_count, prev_head12);
        if (err) return err;
    }
    return rec_device_journal_event(d, wiped);
}

int rec_device_journal_before_format(rec_device_t *d)
{
    if (!d->nvm.present) return REC_OK;
    uint32_t epoch = 0, n = 0;
    uint8_t head12[12];
    if (counter_get(d, &epoch, &n, head12) != REC_OK) epoch = 0;
    /* "Epoch + 1 is starting": said before the card is erased, so a mount after a cut format
     * finishes the epoch's start instead of calling the erased journal cut (TAIL_LOST). */
    uint8_t p[REC_JOURNAL_COUNT_PAYLOAD];
    rec_journal_count_pack(epoch + 1u, 0, NULL, p);
    return rec_nvm_state_put(&d->nvm, RP_NVM_STATE_JOURNAL_PENDING, p, sizeof p);
}

void rec_device_clock_changed(rec_device_t *d, bool was_set, int64_t before, int64_t now)
{
    if (d->nvm.present && !d->clock_flag) {
        uint8_t one = 1;
        if (rec_nvm_state_put(&d->nvm, RP_NVM_STATE_CLOCK, &one, 1) == REC_OK) d->clock_flag = true;
    }
    int64_t delta = now - before;
    if (was_set && delta <= 1000 && delta >= -1000) return;
    if (!d->store.mounted) return;
    rec_journal_record_t r;
    journal_record_init(&r, RP_JOURNAL_KIND_CLOCK_SET);
    r.start_unix_ms = was_set ? before : 0;
    r.stop_unix_ms = now;
    if (rec_device_journal_event(d, &r) != REC_OK) port_log("journalling a clock change failed");
}

int rec_device_journal_clock_lost(rec_device_t *d)
{
    if (!d->clock_lost_pending || !d->store.mounted) return REC_OK;
    rec_journal_record_t r;
    journal_record_init(&r, RP_JOURNAL_KIND_CLOCK_LOST);
    int err = rec_device_journal_event(d, &r);
    if (err) return err;
    /* The NVM CLOCK flag stays: every later boot without a clock journals its own CLOCK_LOST,
     * so the records after one share one uptime count (the app places undated recordings by
     * it: schema.ts, JOURNAL_KIND). */
    d->clock_lost_pending = false;
    return REC_OK;
}
