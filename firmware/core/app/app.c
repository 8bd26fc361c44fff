/* The application loop: it owns the device context (whose keeping is device.c), the protocol
 * server and the audio ring, and runs card insert/remove, button, battery, LED, and the recorder
 * and protocol server in turn. See app.h for how a port runs it. */
#include "rec/app.h"

#include <string.h>

#include "rec/device.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec/server.h"
#include "rec_protocol.h"

static rec_device_t g_device;
static rec_server_t g_server;
/* Word-aligned: the encrypted path XORs the key stream into these blocks in place by 32-bit words
 * (core/crypto/torsion_memxor.c), byte by byte when unaligned. */
_Alignas(4) static uint8_t g_ring_storage[REC_AUDIO_RING_BYTES];
static bool g_card_changed;
static bool g_worked;

/* The button's answers (docs/firmware.md, "The button"), all on the dimmed LED in place of its
 * pattern, so discreet mode keeps them to the person holding the device: `blinks` dim blinks of
 * on_ms, off_ms apart. */
typedef struct {
    uint16_t on_ms, off_ms;
    uint8_t blinks;
} answer_t;
static const answer_t ANSWER_ASK_RECORDING = { 600u, 0u, 1u }; /* a hold: "recording" */
static const answer_t ANSWER_ASK_IDLE = { 150u, 150u, 2u };    /* a hold: "not recording" */
static const answer_t ANSWER_MARKER = { 200u, 0u, 1u };        /* a press: marker taken (and recording) */
static const answer_t ANSWER_REFUSED = { 100u, 100u, 4u };       /* a press: no marker (table full) */
static const answer_t ANSWER_STOPPED = { 300u, 150u, 3u };     /* a long hold: the recording stopped */
static struct {
    bool active;
    answer_t pattern;
    uint64_t start_ms;
    bool dim; /* what port_led_dim was last told */
} g_answer;

/* The server keeps a recording open between READs: a detached card takes it away. */
static void forget_server_files(void)
{
    rec_server_forget_files(&g_server);
}

rec_device_t *rec_device(void)
{
    return &g_device;
}

int rec_app_init(void)
{
    rec_device_t *d = &g_device;
    memset(d, 0, sizeof *d);
    memset(&g_answer, 0, sizeof g_answer);
    const port_info_t *info = port_info();
    d->model = info && info->model ? info->model : RP_CARD_MODEL;
    d->simulated = info && info->simulated;
    int err = rec_ring_init(&d->ring, g_ring_storage, sizeof g_ring_storage);
    REC_ASSERT(err == REC_OK);
    rec_device_load_settings(d);
    int64_t rtc;
    if (port_rtc_read(&rtc) == REC_OK) {
        d->clock_base_unix_ms = rtc;
        d->clock_base_uptime_ms = port_uptime_ms();
        d->clock_set = true;
    }
    /* The device key and the journal counter before the card: its mount checks the count. */
    rec_device_boot_identity(d);
    rec_device_wipe_boot(d); /* the keys of a wipe cut by a power loss go now, card or not */
    d->battery_mv = port_battery_mv();
    d->last_battery_ms = port_uptime_ms();
    d->low_battery = d->battery_mv != 0 && d->battery_mv < REC_BATTERY_STOP_MV;
    rec_server_init(&g_server);
    d->on_detach = forget_server_files;
    err = rec_device_attach_card(d);
    d->rec_state = err ? RP_REC_STATE_ERROR : RP_REC_STATE_IDLE;
    d->state_changed = true;
    return err;
}

void rec_app_card_changed(void)
{
    g_card_changed = true;
}

static void check_card(rec_device_t *d)
{
    bool present = port_card_present();
    if (!g_card_changed && present == (d->bd != NULL)) return;
    g_card_changed = false;
    if (d->rec_state == RP_REC_STATE_RECORDING) return; /* the recorder notices on its next write */
    if (!present) {
        if (d->bd) rec_device_detach_card(d);
        d->rec_state = RP_REC_STATE_ERROR;
    } else if (!d->bd || !d->store.mounted) {
        if (d->bd) rec_device_detach_card(d);
        d->rec_state = rec_device_attach_card(d) == REC_OK ? RP_REC_STATE_IDLE : RP_REC_STATE_ERROR;
    }
    d->state_changed = true;
}

static void check_battery(rec_device_t *d)
{
    uint64_t now = port_uptime_ms();
    if (now - d->last_battery_ms < 1000u) return;
    d->last_battery_ms = now;
    d->battery_mv = port_battery_mv();
    if (d->battery_mv == 0) return; /* not measurable on this port */
    if (!d->low_battery && d->battery_mv < REC_BATTERY_STOP_MV) {
        d->low_battery = true;
        port_log("battery low");
        if (d->rec_state == RP_REC_STATE_RECORDING) (void)rec_recorder_stop(d, RP_STOP_LOW_BATTERY);
        d->state_changed = true;
    } else if (d->low_battery && d->battery_mv > REC_BATTERY_START_MV) {
        d->low_battery = false;
        d->state_changed = true;
    }
}

static bool is_recording(const rec_device_t *d)
{
    return d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING;
}

static void answer(answer_t pattern)
{
    g_answer.active = true;
    g_answer.pattern = pattern;
    g_answer.start_ms = port_uptime_ms();
}

/* The gestures (rec/button.h) and what they do by the button scheme (rec_button_action): idle, a
 * press starts; recording, a press drops a marker (nothing in scheme no-markers) and a long hold
 * stops; a hold only asks. A short touch while recording is never a stop. */
static void check_button(rec_device_t *d)
{
    const uint8_t scheme = d->settings.button_scheme;
    if (port_button_take_hold()) answer(is_recording(d) ? ANSWER_ASK_RECORDING : ANSWER_ASK_IDLE);
    /* A press before a long hold: a press completes at its release, so one taken in the same poll
     * as a long hold came first (the loop was busy for seconds, e.g. signing). */
    if (port_button_take_press()) {
        switch (rec_button_action(scheme, REC_GESTURE_PRESS, d->rec_state == RP_REC_STATE_RECORDING)) {
        case REC_BUTTON_DO_MARK: {
            rec_marker_t m;
            int err = rec_recorder_mark(d, &m);
            if (err) port_log(err == REC_E_FULL ? "marker refused: the recording holds the most markers" : "marker refused");
            answer(err ? ANSWER_REFUSED : ANSWER_MARKER);
            break;
        }
        case REC_BUTTON_DO_START:
            if (d->rec_state != RP_REC_STATE_FINALISING && rec_recorder_start(d) != REC_OK) port_log("cannot start recording");
            break;
        default:
            port_log("press ignored: the button scheme takes no markers");
            break;
        }
    }
    if (port_button_take_long_hold() &&
        rec_button_action(scheme, REC_GESTURE_LONG_HOLD, d->rec_state == RP_REC_STATE_RECORDING) == REC_BUTTON_DO_STOP) {
        if (rec_recorder_stop(d, RP_STOP_BUTTON) == REC_OK) answer(ANSWER_STOPPED);
    }
}

static void set_dim(bool dim)
{
    if (dim == g_answer.dim) return;
    g_answer.dim = dim;
    port_led_dim(dim);
}

/* The answer under way, dimmed, in place of the pattern below. False once it is over. */
static bool drive_answer(rec_device_t *d, uint64_t now)
{
    if (!g_answer.active) return false;
    const answer_t *a = &g_answer.pattern;
    const uint64_t t = now - g_answer.start_ms;
    const uint32_t period = (uint32_t)a->on_ms + a->off_ms;
    if (t >= (uint64_t)period * a->blinks) {
        g_answer.active = false;
        set_dim(false);
        return false;
    }
    if (d->led_on) { /* the pattern's light off first, so only the dim glow shows */
        d->led_on = false;
        port_led_set(false);
    }
    set_dim(t % period < a->on_ms);
    return true;
}

/* LED patterns a parent can tell apart:
 *   recording: steady on (off in discreet mode)
 *   ready:     one short flash every 3 seconds
 *   problem:   fast blinking, 4 times a second (no card, card full or unreadable, battery low)
 *   answering the button: dim blinks (see the answers above) */
static void drive_led(rec_device_t *d)
{
    uint64_t now = port_uptime_ms();
    if (drive_answer(d, now)) return;
    bool on;
    if (is_recording(d))
        on = !d->settings.discreet;
    else if (d->rec_state == RP_REC_STATE_ERROR || d->low_battery || d->store.card_state != RP_CARD_STATE_OK)
        on = (now / 125u) % 2u == 0;
    else
        on = now % 3000u < 60u;
    if (on != d->led_on) {
        d->led_on = on;
        port_led_set(on);
    }
}

void rec_app_poll(void)
{
    rec_device_t *d = &g_device;
    check_battery(d);
    check_card(d);
    check_button(d);
    bool worked = rec_recorder_poll(d);
    worked |= rec_server_poll(&g_server, d);
    /* Sealing takes the slices nothing else wants (rec/seal.h). */
    if (!worked) worked = rec_seal_poll(d);
    drive_led(d);
    g_worked = worked;
}

uint32_t rec_app_idle_ms(void)
{
    rec_device_t *d = &g_device;
    if (g_worked || g_card_changed) return 0;
    if (d->rec_state == RP_REC_STATE_RECORDING) return rec_ring_blocks_ready(&d->ring) ? 0 : 20;
    return 50;
}

bool rec_app_status_changed(rec_app_status_t *last, bool force)
{
    const rec_device_t *d = &g_device;
    rec_app_status_t now = {d->rec_state, d->store.card_state, d->low_battery};
    if (!force && now.rec_state == last->rec_state && now.card_state == last->card_state &&
        now.low_battery == last->low_battery)
        return false;
    *last = now;
    return true;
}

uint64_t rec_app_device_id(void)
{
    return g_device.settings.device_id;
}
