/* Simulator port: time, critical sections, button, LED, battery, settings, identity, log, info.
 * The serial link, microphone and card live in sim_pty.c, sim_mic.c and sim_card.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rec/err.h"
#include "rec/port.h"
#include "sim_internal.h"

/* ---- Time ---------------------------------------------------------------------------------- */

static uint64_t start_ns;

uint64_t sim_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sim_time_init(void)
{
    start_ns = sim_mono_ns();
}

uint64_t port_uptime_ms(void)
{
    /* A monotonic function of a monotonic clock: (real elapsed) x speed. */
    double ms = (double)(sim_mono_ns() - start_ns) * sim_cfg.speed / 1e6;
    return (uint64_t)ms;
}

uint64_t sim_device_to_real_ms(uint64_t device_ms)
{
    if (device_ms == 0)
        return 0;
    double real = (double)device_ms / sim_cfg.speed;
    uint64_t r = (uint64_t)real;
    return (double)r < real ? r + 1 : r;
}

static void sleep_real_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void port_delay_ms(uint32_t ms)
{
    sleep_real_ns((uint64_t)((double)ms * 1e6 / sim_cfg.speed));
}

/* No battery-backed clock: the core's defaults (port_rtc_read/write unsupported) apply. */

/* ---- Critical sections --------------------------------------------------------------------- */
/* One mutex stands for "interrupts disabled". The core's critical sections take it; the mic
 * thread holds it while it runs the block callback, as an ISR runs with the main code stopped.
 * Nesting is counted per thread, so nested sections (or the callback entering one) are safe. */

static pthread_mutex_t irq_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local unsigned irq_depth;

uint32_t port_irq_save(void)
{
    if (irq_depth++ == 0)
        pthread_mutex_lock(&irq_mutex);
    return 0;
}

void port_irq_restore(uint32_t state)
{
    (void)state;
    if (irq_depth == 0)
        return; /* unbalanced restore: ignore rather than unlock someone else's lock */
    if (--irq_depth == 0)
        pthread_mutex_unlock(&irq_mutex);
}

bool sim_irq_isr_enter(const volatile _Atomic bool *stop)
{
    for (;;) {
        if (atomic_load(stop))
            return false;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 2000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        if (pthread_mutex_timedlock(&irq_mutex, &until) == 0)
            break;
    }
    if (atomic_load(stop)) {
        pthread_mutex_unlock(&irq_mutex);
        return false;
    }
    irq_depth = 1;
    return true;
}

void sim_irq_isr_leave(void)
{
    irq_depth = 0;
    pthread_mutex_unlock(&irq_mutex);
}

/* ---- Button, LED, battery ------------------------------------------------------------------ */

/* The simulator has no button to time: a command stands for a whole press of a given length,
 * classified as the core classifies a real button's edges (rec/button.h). Commands run on the
 * core's thread (sim_main.c), between polls. */
static rec_button_t button;
static atomic_uint battery_mv = 4000;
static bool led_on;
static bool led_dim;

void sim_button_press_for(uint32_t held_ms)
{
    rec_button_press_for(&button, held_ms, port_uptime_ms());
}

bool port_button_take_press(void)
{
    return rec_button_take(&button, REC_GESTURE_PRESS);
}

bool port_button_take_hold(void)
{
    return rec_button_take(&button, REC_GESTURE_HOLD);
}

bool port_button_take_long_hold(void)
{
    return rec_button_take(&button, REC_GESTURE_LONG_HOLD);
}

void port_led_set(bool on)
{
    if (on == led_on)
        return;
    led_on = on;
    if (sim_cfg.verbose)
        sim_out("led %s", on ? "on" : "off");
}

void port_led_dim(bool on)
{
    if (on == led_dim)
        return;
    led_dim = on;
    if (sim_cfg.verbose)
        sim_out("led %s", on ? "dim" : "undim");
}

void sim_battery_set(uint16_t mv)
{
    atomic_store(&battery_mv, mv);
}

uint16_t port_battery_mv(void)
{
    return (uint16_t)atomic_load(&battery_mv);
}

/* ---- SPI: the simulator has no SD socket ---------------------------------------------------- */

void port_spi_set_clock(uint32_t hz)
{
    (void)hz;
}

void port_spi_select(bool selected)
{
    (void)selected;
}

void port_spi_transfer(const uint8_t *tx, uint8_t *rx, size_t n)
{
    (void)tx;
    if (rx)
        memset(rx, 0xFF, n);
}

/* ---- Settings ------------------------------------------------------------------------------ */
/* File layout: "RSIM" magic, u32 LE length, u32 LE CRC-32 of the blob, the blob. Written to a
 * temporary file, fsynced, renamed over the old one, and the directory fsynced: a crash leaves
 * either the old or the new settings, never a mix. */

#define SETTINGS_MAGIC "RSIM"
#define SETTINGS_HDR 12u

static uint32_t crc32_calc(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int port_settings_load(void *buf, size_t len)
{
    FILE *f = fopen(sim_cfg.settings, "rb");
    if (!f)
        return errno == ENOENT ? REC_E_NOENT : REC_E_IO;
    uint8_t hdr[SETTINGS_HDR];
    int rc = REC_E_CORRUPT;
    uint8_t *blob = NULL;
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, SETTINGS_MAGIC, 4) != 0)
        goto out;
    uint32_t n = get_le32(hdr + 4);
    if (n > (1u << 20))
        goto out;
    blob = malloc(n ? n : 1);
    if (!blob) {
        rc = REC_E_IO;
        goto out;
    }
    if (fread(blob, 1, n, f) != n || crc32_calc(blob, n) != get_le32(hdr + 8))
        goto out;
    /* A blob of another length (a different core version) is passed on as far as it goes; the
     * core's own version and check fields decide what to make of it. */
    memset(buf, 0, len);
    memcpy(buf, blob, n < len ? n : len);
    rc = REC_OK;
out:
    if (rc == REC_E_CORRUPT)
        sim_err("settings file %s is corrupt", sim_cfg.settings);
    free(blob);
    fclose(f);
    return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int port_settings_save(const void *buf, size_t len)
{
    if (len > (1u << 20))
        return REC_E_INVAL;
    size_t plen = strlen(sim_cfg.settings);
    char *tmp = malloc(plen + 5);
    char *dir = malloc(plen + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return REC_E_IO;
    }
    snprintf(tmp, plen + 5, "%s.tmp", sim_cfg.settings);
    int rc = REC_E_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out;
    uint8_t hdr[SETTINGS_HDR];
    memcpy(hdr, SETTINGS_MAGIC, 4);
    put_le32(hdr + 4, (uint32_t)len);
    put_le32(hdr + 8, crc32_calc(buf, len));
    if (write_all(fd, hdr, sizeof hdr) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, sim_cfg.settings) != 0) {
        unlink(tmp);
        goto out;
    }
    /* Make the rename itself durable. */
    memcpy(dir, sim_cfg.settings, plen + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = REC_OK;
out:
    if (rc != REC_OK)
        sim_err("cannot save settings to %s: %s", sim_cfg.settings, strerror(errno));
    free(tmp);
    free(dir);
    return rc;
}

/* No unique id: the core's default (port_unique_id unsupported) applies; it derives one. */

/* ---- Diagnostics --------------------------------------------------------------------------- */

void port_log(const char *msg)
{
    if (!sim_cfg.quiet) {
        fprintf(stderr, "log: %s\n", msg);
        fflush(stderr);
    }
}

const port_info_t *port_info(void)
{
    static const port_info_t info = {
        .model = "ER-1 sim",
        .simulated = true,
        .audio_ring_bytes = REC_AUDIO_RING_BYTES,
    };
    return &info;
}
