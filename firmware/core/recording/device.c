/* The device context's keeping: wall clock, settings, card attach/detach and format. See
 * device.h. */
#include "rec/device.h"
#include "rec/encrypted.h"
#include "rec/card_test.h"

#include "rec/checkpoint.h"

#include "rec/err.h"
#include "rec/port.h"
#include "rec/sha256.h"
#include "rec_protocol.h"

bool rec_device_clock_now(rec_device_t *d, int64_t *unix_ms)
{
    if (!d->clock_set) {
        *unix_ms = 0;
        return false;
    }
    *unix_ms = d->clock_base_unix_ms + (int64_t)(port_uptime_ms() - d->clock_base_uptime_ms);
    return true;
}

void rec_device_set_clock(rec_device_t *d, int64_t unix_ms)
{
    int64_t before;
    const bool was_set = rec_device_clock_now(d, &before);
    d->clock_base_unix_ms = unix_ms;
    d->clock_base_uptime_ms = port_uptime_ms();
    d->clock_set = true;
    (void)port_rtc_write(unix_ms); /* ports without an RTC keep it in RAM only */
    rec_store_set_time(&d->store, true, unix_ms);
    rec_device_clock_changed(d, was_set, before, unix_ms);
}

int rec_device_save_settings(rec_device_t *d)
{
    uint8_t blob[REC_SETTINGS_BLOB_SIZE];
    rec_settings_encode(&d->settings, blob);
    return port_settings_save(blob, sizeof blob);
}

/* A device id for ports without a hardware-unique one: a hash of what differs between boards
 * and boots (uptime at first boot, the card's volume id and first block, battery reading). */
static uint64_t derive_device_id(void)
{
    rec_sha256_t h;
    uint8_t digest[32];
    uint64_t up = port_uptime_ms();
    uint16_t mv = port_battery_mv();
    rec_sha256_init(&h);
    rec_sha256_update(&h, &up, sizeof up);
    rec_sha256_update(&h, &mv, sizeof mv);
    int err;
    const rec_bd_t *bd = port_card_present() ? port_card_open(&err) : NULL;
    if (bd) {
        uint8_t block[REC_BD_BLOCK_SIZE];
        if (rec_bd_read(bd, 0, block, 1) == REC_OK) rec_sha256_update(&h, block, sizeof block);
    }
    rec_sha256_final(&h, digest);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) id = (id << 8) | digest[i];
    return id ? id : 1;
}

void rec_device_load_settings(rec_device_t *d)
{
    uint8_t blob[REC_SETTINGS_BLOB_SIZE];
    int err = port_settings_load(blob, sizeof blob);
    if (err == REC_OK && rec_settings_decode(blob, &d->settings) == REC_OK && d->settings.device_id != 0) return;
    if (err == REC_OK || err == REC_E_CORRUPT) port_log("settings unreadable: starting from defaults");
    rec_settings_defaults(&d->settings);
    uint64_t id;
    d->settings.device_id = port_unique_id(&id) == REC_OK && id != 0 ? id : derive_device_id();
    (void)rec_device_save_settings(d);
}

/* port_log with an error name appended (no printf in the core). */
static void log_error(const char *what, int err)
{
    char line[96];
    size_t n = 0;
    for (const char *p = what; *p && n < sizeof line - 24; p++) line[n++] = *p;
    for (const char *p = rec_err_name(err); *p && n < sizeof line - 1; p++) line[n++] = *p;
    line[n] = '\0';
    port_log(line);
}

static uint32_t journal_overruns(rec_store_t *st)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < st->journal.count; i++) {
        rec_journal_record_t r;
        if (rec_journal_read(&st->journal, i, &r) == REC_OK) sum += r.overruns;
    }
    return sum;
}

int rec_device_attach_card(rec_device_t *d)
{
    d->generation++;
    if (!port_card_present()) {
        d->store.card_state = RP_CARD_STATE_NONE;
        return REC_E_NOCARD;
    }
    int err = REC_OK;
    d->bd = port_card_open(&err);
    if (!d->bd) {
        d->store.card_state = rec_store_card_state_for(err ? err : REC_E_NOCARD);
        d->last_error = err;
        return err ? err : REC_E_NOCARD;
    }
    /* A wipe cut by a power loss is finished on the first card the device sees. */
    if (d->wipe_pending) {
        err = rec_device_wipe_resume(d);
        if (err) {
            d->store.card_state = rec_store_card_state_for(err);
            d->last_error = err;
            return err;
        }
        rec_store_unmount(&d->store);
    }
    /* The ring is idle while a card is mounted (never during a recording): lend it to the repair. */
    err = rec_store_mount(&d->store, d->bd, d->ring.buf, rec_ring_capacity(&d->ring));
    if (err) {
        d->last_error = err;
        log_error("card not usable (not FAT32, or unreadable): ", err);
        return err;
    }
    if (d->store.repaired) port_log("card repaired after an interrupted update");
    /* A card test cut by a power loss left its scratch file: it is nobody's recording. */
    if (rec_card_test_cleanup(&d->store) != REC_OK) port_log("removing a card test's scratch file failed");
    int64_t now;
    bool set = rec_device_clock_now(d, &now);
    rec_store_set_time(&d->store, set, now);
    /* The device's count first (a lost tail came before anything recovered now), then the
     * files cut short, then numbers spent without a file, then a clock lost at boot. */
    err = rec_device_journal_reconcile(d);
    uint32_t recovered = 0;
    uint8_t reason = d->interrupted_reason ? d->interrupted_reason : RP_STOP_POWER_LOSS;
    uint32_t recovered_encrypted = 0;
    if (!err) err = rec_enc_recover(d, reason, &recovered_encrypted);
    if (!err) err = rec_store_recover(&d->store, d->settings.device_id, d->settings.sample_rate, reason, &recovered);
    recovered += recovered_encrypted;
    if (!err) err = rec_device_journal_spent(d);
    if (!err) err = rec_device_journal_clock_lost(d);
    if (err) {
        d->store.card_state = rec_store_card_state_for(err);
        d->last_error = err;
        log_error("closing a recording that was cut short failed: ", err);
        return err;
    }
    if (recovered) port_log("recovered a recording that was cut short");
    /* The signed checkpoints of a recording cut short get their (recovered) stop slot. */
    uint32_t stop_slots = 0;
    if (rec_ckpt_recover(d, &stop_slots) != REC_OK) port_log("closing the checkpoints of a recording failed");
    d->interrupted_reason = 0;
    d->overruns_total = journal_overruns(&d->store);
    d->last_error = REC_OK;
    return REC_OK;
}

void rec_device_detach_card(rec_device_t *d)
{
    d->generation++;
    if (d->on_detach) d->on_detach();
    rec_store_unmount(&d->store);
    if (d->bd) port_card_close();
    d->bd = NULL;
    d->store.card_state = port_card_present() ? RP_CARD_STATE_ERROR : RP_CARD_STATE_NONE;
}

int rec_device_format(rec_device_t *d)
{
    if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) return REC_E_BUSY;
    d->generation++;
    if (!d->bd) {
        int err = REC_OK;
        if (!port_card_present() || !(d->bd = port_card_open(&err))) return err ? err : REC_E_NOCARD;
    }
    /* Numbers are never reused: the next one after the format is above every number spent. */
    uint32_t next = d->settings.next_number;
    uint32_t floor = rec_device_number_floor(d);
    if (floor > next) next = floor;
    if (d->store.highest_number + 1u > next) next = d->store.highest_number + 1u;
    (void)rec_device_numbers_before_format(d, next);
    (void)rec_device_journal_before_format(d);
    int err = rec_store_format(&d->store, d->bd, (uint32_t)(d->settings.device_id ^ port_uptime_ms()), d->ring.buf,
                               rec_ring_capacity(&d->ring));
    if (!err) err = rec_device_journal_new_epoch(d);
    if (err) {
        d->last_error = err;
        return err;
    }
    d->overruns_total = 0;
    d->last_error = REC_OK;
    if (d->rec_state == RP_REC_STATE_ERROR) d->rec_state = RP_REC_STATE_IDLE;
    d->state_changed = true;
    return REC_OK;
}
