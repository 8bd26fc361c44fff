/* The fake port shared by all host tests: see port_fake.h. */
#include "fakes/port_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes/nvm_fake.h"
#include "fakes/sd_card_model.h"
#include "rec/err.h"

#define SERIAL_QUEUE 65536u
#define SETTINGS_MAX 1024u
#define LOG_LINES 64u
#define LOG_LEN 200u

typedef struct {
    uint8_t data[SERIAL_QUEUE];
    size_t head, len;
} queue_t;

static struct {
    uint64_t now_ns;
    uint32_t auto_advance_ms;
    bool rtc_valid;
    int64_t rtc_base_unix_ms;
    uint64_t rtc_base_ns;
    int irq_depth;

    const rec_bd_t *card_bd;
    int card_err;
    int card_open_count, card_close_count;
    int card_present; /* -1: follow the model */

    sd_card_model_t *sd;
    uint32_t spi_hz;
    bool spi_selected;
    uint64_t spi_ns_frac; /* sub-ns remainder, in units of 1/spi_hz ns */
    struct {
        bool on, pending;
        uint32_t started, timeout_at;
        const uint8_t *tx;
        uint8_t *rx;
        size_t n;
    } spi_bg;

    bool mic_running;
    uint32_t mic_rate;
    port_mic_block_fn mic_cb;
    int mic_start_err;

    queue_t to_dev, to_host;
    size_t write_limit;
    bool connected;

    uint32_t presses, holds, long_holds;
    bool led, led_dim;
    uint32_t led_changes;
    uint16_t battery_mv;

    uint8_t settings[SETTINGS_MAX];
    size_t settings_len;
    bool settings_stored, settings_corrupt;
    int settings_saves;
    int settings_save_err;

    bool uid_available;
    uint64_t uid;
    port_info_t info;

    char log[LOG_LINES][LOG_LEN];
    uint32_t log_count;
} F;

static const port_info_t default_info = { "ER-1 test", true, REC_AUDIO_RING_BYTES };
static bool initialised;

void port_fake_reset(void)
{
    initialised = true;
    memset(&F, 0, sizeof F);
    nvm_fake_reset();
    F.now_ns = 1000000000ull; /* start at 1 s so "0" is never a valid time by accident */
    F.card_err = REC_E_NOCARD;
    F.card_present = -1;
    F.spi_hz = 400000u;
    F.write_limit = SIZE_MAX;
    F.connected = true;
    F.battery_mv = 3900;
    F.uid_available = true;
    F.uid = 0x0123456789ABCDEFull;
    F.info = default_info;
}

/* Zero-initialised static state is not the reset state; make the fake usable without a reset. */
static void ensure_init(void)
{
    if (!initialised) port_fake_reset();
}

/* ---- Time ---------------------------------------------------------------------------------- */
void port_fake_advance_ms(uint64_t ms)
{
    ensure_init();
    F.now_ns += ms * 1000000ull;
}
void port_fake_advance_ns(uint64_t ns)
{
    ensure_init();
    F.now_ns += ns;
}
uint64_t port_fake_now_ns(void)
{
    ensure_init();
    return F.now_ns;
}
void port_fake_set_auto_advance(uint32_t ms_per_uptime_call)
{
    ensure_init();
    F.auto_advance_ms = ms_per_uptime_call;
}
void port_fake_set_rtc(bool valid, int64_t unix_ms)
{
    ensure_init();
    F.rtc_valid = valid;
    F.rtc_base_unix_ms = unix_ms;
    F.rtc_base_ns = F.now_ns;
}

uint64_t port_uptime_ms(void)
{
    ensure_init();
    uint64_t ms = F.now_ns / 1000000ull;
    F.now_ns += (uint64_t)F.auto_advance_ms * 1000000ull;
    return ms;
}

void port_delay_ms(uint32_t ms)
{
    port_fake_advance_ms(ms);
}

int port_rtc_read(int64_t *unix_ms)
{
    ensure_init();
    if (!F.rtc_valid) return REC_E_UNSUPPORTED;
    *unix_ms = F.rtc_base_unix_ms + (int64_t)((F.now_ns - F.rtc_base_ns) / 1000000ull);
    return REC_OK;
}

int port_rtc_write(int64_t unix_ms)
{
    port_fake_set_rtc(true, unix_ms);
    return REC_OK;
}

/* ---- IRQ ----------------------------------------------------------------------------------- */
uint32_t port_irq_save(void)
{
    ensure_init();
    return (uint32_t)F.irq_depth++;
}
void port_irq_restore(uint32_t state)
{
    ensure_init();
    F.irq_depth = (int)state;
}
int port_fake_irq_depth(void)
{
    ensure_init();
    return F.irq_depth;
}

/* ---- Card ---------------------------------------------------------------------------------- */
void port_fake_set_card(const rec_bd_t *bd, int err)
{
    ensure_init();
    F.card_bd = bd;
    F.card_err = err;
}
int port_fake_card_open_count(void)
{
    ensure_init();
    return F.card_open_count;
}
int port_fake_card_close_count(void)
{
    ensure_init();
    return F.card_close_count;
}
void port_fake_set_card_present(int present)
{
    ensure_init();
    F.card_present = present;
}

const rec_bd_t *port_card_open(int *err)
{
    ensure_init();
    F.card_open_count++;
    if (F.card_bd) {
        if (err) *err = REC_OK;
        return F.card_bd;
    }
    if (err) *err = F.card_err ? F.card_err : REC_E_NOCARD;
    return NULL;
}
void port_card_close(void)
{
    ensure_init();
    F.card_close_count++;
}
bool port_card_present(void)
{
    ensure_init();
    if (F.card_present >= 0) return F.card_present != 0;
    if (F.sd) return sdm_present(F.sd);
    return true;
}

/* ---- SPI ----------------------------------------------------------------------------------- */
void port_fake_attach_sd(void *sd_card_model)
{
    ensure_init();
    F.sd = sd_card_model;
    if (F.sd) {
        sdm_set_clock(F.sd, F.spi_hz);
        sdm_select(F.sd, F.spi_selected);
    }
}
uint32_t port_fake_spi_clock(void)
{
    ensure_init();
    return F.spi_hz;
}
void port_fake_set_spi_background(bool on, uint32_t timeout_at)
{
    ensure_init();
    F.spi_bg.on = on;
    F.spi_bg.timeout_at = timeout_at;
    F.spi_bg.started = 0;
}
uint32_t port_fake_spi_background_count(void)
{
    ensure_init();
    return F.spi_bg.started;
}
void port_spi_set_clock(uint32_t hz)
{
    ensure_init();
    REC_ASSERT(!F.spi_bg.pending);
    REC_ASSERT(hz > 0);
    F.spi_hz = hz;
    if (F.sd) sdm_set_clock(F.sd, hz);
}
void port_spi_select(bool selected)
{
    ensure_init();
    REC_ASSERT(!F.spi_bg.pending);
    F.spi_selected = selected;
    if (F.sd) sdm_select(F.sd, selected);
}
void port_spi_transfer(const uint8_t *tx, uint8_t *rx, size_t n)
{
    ensure_init();
    REC_ASSERT(!F.spi_bg.pending);
    for (size_t i = 0; i < n; i++) {
        uint8_t mosi = tx ? tx[i] : 0xFF;
        uint8_t miso = F.sd ? sdm_exchange(F.sd, mosi) : 0xFF;
        if (rx) rx[i] = miso;
        /* 8 bit times at the bus clock, with the remainder carried */
        F.spi_ns_frac += 8000000000ull;
        F.now_ns += F.spi_ns_frac / F.spi_hz;
        F.spi_ns_frac %= F.spi_hz;
    }
}

bool port_spi_start(const uint8_t *tx, uint8_t *rx, size_t n)
{
    ensure_init();
    REC_ASSERT(!F.spi_bg.pending);
    if (!F.spi_bg.on) return false;
    F.spi_bg.pending = true;
    F.spi_bg.started++;
    F.spi_bg.tx = tx;
    F.spi_bg.rx = rx;
    F.spi_bg.n = n;
    if (rx) memset(rx, 0xA5, n); /* not yet the card's bytes */
    return true;
}
int port_spi_finish(void)
{
    ensure_init();
    REC_ASSERT(F.spi_bg.pending);
    F.spi_bg.pending = false;
    bool timeout = F.spi_bg.started == F.spi_bg.timeout_at;
    port_spi_transfer(F.spi_bg.tx, F.spi_bg.rx, timeout ? F.spi_bg.n / 2u : F.spi_bg.n);
    return timeout ? REC_E_TIMEOUT : REC_OK;
}

/* ---- Microphone ---------------------------------------------------------------------------- */
int port_mic_start(uint32_t sample_rate, port_mic_block_fn on_block)
{
    ensure_init();
    if (F.mic_start_err) return F.mic_start_err;
    F.mic_running = true;
    F.mic_rate = sample_rate;
    F.mic_cb = on_block;
    return REC_OK;
}
void port_mic_stop(void)
{
    ensure_init();
    F.mic_running = false;
}
bool port_fake_mic_running(void)
{
    ensure_init();
    return F.mic_running;
}
uint32_t port_fake_mic_rate(void)
{
    ensure_init();
    return F.mic_rate;
}
bool port_fake_mic_push(const int16_t *samples, size_t count)
{
    ensure_init();
    if (!F.mic_running || !F.mic_cb) return false;
    F.mic_cb(samples, count);
    return true;
}
void port_fake_mic_start_result(int err)
{
    ensure_init();
    F.mic_start_err = err;
}

/* ---- Serial -------------------------------------------------------------------------------- */
static size_t q_put(queue_t *q, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n && q->len < SERIAL_QUEUE) {
        q->data[(q->head + q->len) % SERIAL_QUEUE] = p[done++];
        q->len++;
    }
    return done;
}
static size_t q_get(queue_t *q, uint8_t *p, size_t max)
{
    size_t done = 0;
    while (done < max && q->len > 0) {
        p[done++] = q->data[q->head];
        q->head = (q->head + 1) % SERIAL_QUEUE;
        q->len--;
    }
    return done;
}

size_t port_fake_serial_feed(const uint8_t *data, size_t len)
{
    ensure_init();
    return q_put(&F.to_dev, data, len);
}
size_t port_fake_serial_drain(uint8_t *buf, size_t max)
{
    ensure_init();
    return q_get(&F.to_host, buf, max);
}
size_t port_fake_serial_pending_out(void)
{
    ensure_init();
    return F.to_host.len;
}
void port_fake_serial_set_write_limit(size_t max_per_call)
{
    ensure_init();
    F.write_limit = max_per_call;
}
void port_fake_serial_set_connected(bool connected)
{
    ensure_init();
    F.connected = connected;
}
size_t port_serial_read(uint8_t *buf, size_t max)
{
    ensure_init();
    return q_get(&F.to_dev, buf, max);
}
size_t port_serial_write(const uint8_t *buf, size_t len)
{
    ensure_init();
    if (!F.connected) return 0;
    if (len > F.write_limit) len = F.write_limit;
    return q_put(&F.to_host, buf, len);
}
bool port_serial_connected(void)
{
    ensure_init();
    return F.connected;
}

/* ---- Button, LED, battery, power ----------------------------------------------------------- */
void port_fake_button_press(void)
{
    ensure_init();
    F.presses++;
}
bool port_button_take_press(void)
{
    ensure_init();
    if (F.presses == 0) return false;
    F.presses--;
    return true;
}
void port_fake_button_hold(void)
{
    ensure_init();
    F.holds++;
}
bool port_button_take_hold(void)
{
    ensure_init();
    if (F.holds == 0) return false;
    F.holds--;
    return true;
}
void port_fake_button_long_hold(void)
{
    ensure_init();
    F.holds++; /* a long hold passes the hold first (rec/button.h) */
    F.long_holds++;
}
bool port_button_take_long_hold(void)
{
    ensure_init();
    if (F.long_holds == 0) return false;
    F.long_holds--;
    return true;
}
void port_led_set(bool on)
{
    ensure_init();
    if (on != F.led) F.led_changes++;
    F.led = on;
}
void port_led_dim(bool on)
{
    ensure_init();
    F.led_dim = on;
}
bool port_fake_led_dim(void)
{
    ensure_init();
    return F.led_dim;
}
bool port_fake_led(void)
{
    ensure_init();
    return F.led;
}
uint32_t port_fake_led_changes(void)
{
    ensure_init();
    return F.led_changes;
}
void port_fake_set_battery_mv(uint16_t mv)
{
    ensure_init();
    F.battery_mv = mv;
}
uint16_t port_battery_mv(void)
{
    ensure_init();
    return F.battery_mv;
}
void port_sleep_until_event(uint32_t max_ms)
{
    port_fake_advance_ms(max_ms);
}

/* ---- Settings ------------------------------------------------------------------------------ */
void port_fake_settings_clear(void)
{
    ensure_init();
    F.settings_len = 0;
    F.settings_stored = false;
    F.settings_corrupt = false;
}
void port_fake_settings_corrupt(void)
{
    ensure_init();
    F.settings_corrupt = true;
}
const uint8_t *port_fake_settings_data(size_t *len)
{
    ensure_init();
    if (len) *len = F.settings_stored ? F.settings_len : 0;
    return F.settings;
}
int port_fake_settings_save_count(void)
{
    ensure_init();
    return F.settings_saves;
}
void port_fake_settings_save_result(int err)
{
    ensure_init();
    F.settings_save_err = err;
}
int port_settings_load(void *buf, size_t len)
{
    ensure_init();
    if (F.settings_corrupt) return REC_E_CORRUPT;
    if (!F.settings_stored) return REC_E_NOENT;
    /* A blob of another size is what a real port sees after a layout change: its check fails. */
    if (len != F.settings_len) return REC_E_CORRUPT;
    memcpy(buf, F.settings, len);
    return REC_OK;
}
int port_settings_save(const void *buf, size_t len)
{
    ensure_init();
    if (F.settings_save_err) return F.settings_save_err;
    if (len > SETTINGS_MAX) return REC_E_RANGE;
    memcpy(F.settings, buf, len);
    F.settings_len = len;
    F.settings_stored = true;
    F.settings_corrupt = false;
    F.settings_saves++;
    return REC_OK;
}

/* ---- Identity, diagnostics ----------------------------------------------------------------- */
void port_fake_set_unique_id(bool available, uint64_t id)
{
    ensure_init();
    F.uid_available = available;
    F.uid = id;
}
int port_unique_id(uint64_t *id)
{
    ensure_init();
    if (!F.uid_available) return REC_E_UNSUPPORTED;
    *id = F.uid;
    return REC_OK;
}
void port_fake_set_info(const port_info_t *info)
{
    ensure_init();
    F.info = info ? *info : default_info;
}
const port_info_t *port_info(void)
{
    ensure_init();
    return &F.info;
}
void port_log(const char *msg)
{
    ensure_init();
    snprintf(F.log[F.log_count % LOG_LINES], LOG_LEN, "%s", msg ? msg : "(null)");
    F.log_count++;
    const char *env = getenv("PORT_FAKE_LOG");
    if (env && env[0] == '1') fprintf(stderr, "[port_log] %s\n", msg ? msg : "(null)");
}
const char *port_fake_last_log(void)
{
    ensure_init();
    if (F.log_count == 0) return "";
    return F.log[(F.log_count - 1) % LOG_LINES];
}
uint32_t port_fake_log_count(void)
{
    ensure_init();
    return F.log_count;
}
