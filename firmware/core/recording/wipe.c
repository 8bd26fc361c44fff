/* The wipe: see wipe.h (the order of its steps, and what a power cut between them leaves). */
#include "rec/wipe.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/nvm.h"
#include "rec/port.h"
#include "rec_protocol.h"

/* WIPE_PENDING payload: u32 epoch, u32 the previous epoch's count, 12 bytes of its head. */
#define PENDING_PAYLOAD 20u

/* The state kinds a crypto-erase keeps: an allowlist, so kinds added later are dropped. */
static const uint8_t g_keep_kinds[] = { RP_NVM_STATE_JOURNAL_HEAD, RP_NVM_STATE_JOURNAL_PENDING,
                                        RP_NVM_STATE_NUMBER_FLOOR, RP_NVM_STATE_CLOCK, RP_NVM_STATE_WIPE_PENDING };

/* The owner's recipient: NVM sectors 4 and 5. */
#define RECIPIENT_SECTOR 4u
#define RECIPIENT_SECTORS 2u

static bool pending_get(rec_device_t *d)
{
    uint8_t p[PENDING_PAYLOAD];
    if (rec_nvm_state_get(&d->nvm, RP_NVM_STATE_WIPE_PENDING, p, sizeof p) != (int)sizeof p) return false;
    d->wipe_epoch = rec_get_u32(p);
    d->wipe_prev_count = rec_get_u32(p + 4);
    memcpy(d->wipe_prev_head, p + 8, sizeof d->wipe_prev_head);
    return true;
}

static int pending_put(rec_device_t *d)
{
    uint8_t p[PENDING_PAYLOAD];
    rec_put_u32(p, d->wipe_epoch);
    rec_put_u32(p + 4, d->wipe_prev_count);
    memcpy(p + 8, d->wipe_prev_head, sizeof d->wipe_prev_head);
    return rec_nvm_state_put(&d->nvm, RP_NVM_STATE_WIPE_PENDING, p, sizeof p);
}

static int crypto_erase(rec_device_t *d)
{
    /* The RAM copy too (loaded at boot, before a cut wipe is finished): the next recording must
     * not be encrypted to the old owner's key. */
    memset(&d->recipient, 0, sizeof d->recipient);
    if (!d->nvm.present) return REC_OK;
    int err = rec_nvm_state_purge(&d->nvm, g_keep_kinds, sizeof g_keep_kinds);
    if (!err) err = rec_nvm_erase_sectors(&d->nvm, RECIPIENT_SECTOR, RECIPIENT_SECTORS);
    return err;
}

/* Numbers are never reused: the next one after the wipe is above every number spent. */
static uint32_t next_number(rec_device_t *d)
{
    uint32_t next = d->settings.next_number;
    uint32_t floor = rec_device_number_floor(d);
    if (floor > next) next = floor;
    if (d->store.mounted && d->store.highest_number + 1u > next) next = d->store.highest_number + 1u;
    return next;
}

/* Every block of the card: its own erase, or zeros written over it (the idle ring as source). */
static int erase_card(rec_device_t *d, uint8_t *method)
{
    const rec_bd_t *bd = d->bd;
    int err = rec_bd_erase(bd, 0, bd->block_count);
    if (err == REC_OK) {
        *method = bd->erase_kind == REC_BD_ERASE_CARD ? RP_WIPE_METHOD_SD_ERASE : RP_WIPE_METHOD_ZERO_FILL;
        return REC_OK;
    }
    if (err != REC_E_UNSUPPORTED) return err;
    port_log("the card's own erase is missing or did not leave what it promised: writing zeros over it");
    *method = RP_WIPE_METHOD_OVERWRITE;
    uint8_t *zeros = d->ring.buf;
    const uint32_t per_write = rec_ring_capacity(&d->ring) / REC_BD_BLOCK_SIZE;
    memset(zeros, 0, (size_t)per_write * REC_BD_BLOCK_SIZE);
    for (uint32_t lba = 0; lba < bd->block_count;) {
        uint32_t n = bd->block_count - lba < per_write ? bd->block_count - lba : per_write;
        err = rec_bd_write(bd, lba, zeros, n);
        if (err) return err;
        lba += n;
    }
    return rec_bd_sync(bd);
}

static void clock_stamp(rec_device_t *d, int64_t *unix_ms, uint8_t *flags)
{
    if (rec_device_clock_now(d, unix_ms)) *flags |= RP_RECORD_FLAG_CLOCK_SET;
}

/* Steps 2 to 5 (wipe.h), with a card open in d->bd. */
static int finish(rec_device_t *d, bool resumed, rec_wipe_result_t *out)
{
    d->generation++;
    if (d->on_detach) d->on_detach(); /* whoever keeps files open on the card drops them */
    rec_journal_record_t r;
    memset(&r, 0, sizeof r);
    r.kind = RP_JOURNAL_KIND_WIPED;
    r.start_uptime_ms = port_uptime_ms();
    clock_stamp(d, &r.start_unix_ms, &r.flags);

    int err = d->nvm.present ? rec_device_numbers_before_format(d, next_number(d)) : REC_OK;
    if (!err) err = crypto_erase(d);
    if (err) return err;
    rec_store_unmount(&d->store);
    uint8_t method = 0;
    err = erase_card(d, &method);
    if (!err) err = rec_store_format(&d->store, d->bd, (uint32_t)(d->settings.device_id ^ port_uptime_ms()), d->ring.buf,
                                     rec_ring_capacity(&d->ring));
    if (err) return err;
    r.number = d->wipe_epoch;
    r.sample_count = d->bd->block_count;
    r.sample_rate = method;
    if (resumed) r.flags |= RP_RECORD_FLAG_RECOVERED;
    r.stop_uptime_ms = port_uptime_ms();
    clock_stamp(d, &r.stop_unix_ms, &r.flags);
    err = rec_device_journal_wiped(d, d->wipe_epoch, d->wipe_prev_count, d->wipe_prev_head, &r);
    if (err) return err;
    (void)rec_device_save_settings(d);
    if (d->nvm.present) {
        err = rec_nvm_state_put(&d->nvm, RP_NVM_STATE_WIPE_PENDING, NULL, 0);
        if (err) return err;
    }
    d->wipe_pending = false;
    d->overruns_total = 0;
    d->last_error = REC_OK;
    if (d->rec_state == RP_REC_STATE_ERROR) d->rec_state = RP_REC_STATE_IDLE;
    d->state_changed = true;
    out->state = resumed ? RP_WIPE_STATE_RESUMED : RP_WIPE_STATE_DONE;
    out->method = method;
    out->epoch = d->wipe_epoch;
    out->blocks_erased = d->bd->block_count;
    port_log(resumed ? "wipe finished after a power cut" : "wiped");
    return REC_OK;
}

/* Recordings on the card and the highest number among them (0, 0 when not mounted). */
static int card_recordings(rec_device_t *d, uint32_t *count, uint32_t *newest)
{
    *count = *newest = 0;
    if (!d->store.mounted) return REC_OK;
    uint32_t after = 0;
    for (;;) {
        uint32_t nums[16], got, total;
        bool more;
        int err = rec_store_list(&d->store, after, nums, REC_COUNT_OF(nums), &got, &total, &more);
        if (err) return err;
        *count = total;
        if (got > 0) *newest = after = nums[got - 1u];
        if (!more || got == 0) return REC_OK;
    }
}

static int open_card(rec_device_t *d)
{
    if (d->bd) return REC_OK;
    int err = REC_OK;
    if (!port_card_present() || !(d->bd = port_card_open(&err))) return err ? err : REC_E_NOCARD;
    return REC_OK;
}

int rec_device_wipe(rec_device_t *d, uint32_t recordings, uint32_t newest, uint64_t device_id, rec_wipe_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) return REC_E_BUSY;
    if (device_id != d->settings.device_id) return REC_E_MISMATCH;
    int err = open_card(d);
    if (err) return err;
    if (d->wipe_pending) return finish(d, true, out); /* confirmed before the cut */
    uint32_t have, have_newest;
    err = card_recordings(d, &have, &have_newest);
    if (err) return err;
    if (recordings != have || newest != have_newest) return REC_E_MISMATCH;
    if (d->wipe_reported && have == 0) {
        /* A boot finished the wipe this host asked for before the cut: say so once. */
        *out = d->wipe_report;
        d->wipe_reported = false;
        return REC_OK;
    }
    uint32_t epoch = 0, count = 0;
    memset(d->wipe_prev_head, 0, sizeof d->wipe_prev_head);
    (void)rec_device_journal_head(d, &epoch, &count, d->wipe_prev_head);
    d->wipe_epoch = d->nvm.present ? epoch + 1u : 0u;
    d->wipe_prev_count = count;
    if (d->nvm.present) {
        err = pending_put(d);
        if (err) return err;
        d->wipe_pending = true;
    }
    return finish(d, false, out);
}

void rec_device_wipe_boot(rec_device_t *d)
{
    d->wipe_pending = d->nvm.present && pending_get(d);
    if (!d->wipe_pending) return;
    port_log("a wipe was cut by a power loss: finishing it");
    if (crypto_erase(d) != REC_OK) port_log("destroying the keys of the cut wipe failed");
}

int rec_device_wipe_resume(rec_device_t *d)
{
    rec_wipe_result_t r;
    int err = finish(d, true, &r);
    if (err) {
        port_log("finishing the cut wipe failed: it stays pending");
        return err;
    }
    d->wipe_report = r;
    d->wipe_reported = true;
    return REC_OK;
}
