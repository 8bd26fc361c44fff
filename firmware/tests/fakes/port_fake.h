/* A fake port for the host tests: every function of rec/port.h, controllable from the test.
 * One fake for all tests (the support library is linked into every test executable).
 *
 * Call port_fake_reset() at the start of each test: it restores every default below.
 *
 * Time: a fake monotonic clock in nanoseconds. It only moves when a test advances it, when
 * port_delay_ms / port_sleep_until_event are called (they advance it by their argument), by
 * port_fake_set_auto_advance() ms on every port_uptime_ms() call (default 0), and by the SPI
 * transfer time of each byte at the current SPI clock (8 bits / hz). So busy-waits end quickly
 * and deterministically. */
#ifndef PORT_FAKE_H
#define PORT_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/bd.h"
#include "rec/port.h"


void port_fake_reset(void);

/* ---- Time ---- */
void port_fake_advance_ms(uint64_t ms);
void port_fake_advance_ns(uint64_t ns);
uint64_t port_fake_now_ns(void);
void port_fake_set_auto_advance(uint32_t ms_per_uptime_call);
/* RTC: REC_E_UNSUPPORTED until set (by port_rtc_write or this). */
void port_fake_set_rtc(bool valid, int64_t unix_ms);

/* ---- IRQ: depth of nested port_irq_save (should be 0 between calls) ---- */
int port_fake_irq_depth(void);

/* ---- Card ----
 * port_card_open returns the device set here (NULL with *err = the error set here; default
 * NULL and REC_E_NOCARD). port_card_close counts calls. Card presence: by default follows the
 * attached SD model (sdm_present), or true when none is attached; override with
 * port_fake_set_card_present(0 or 1), -1 for the default. */
void port_fake_set_card(const rec_bd_t *bd, int err);
int port_fake_card_open_count(void);
int port_fake_card_close_count(void);
void port_fake_set_card_present(int present);

/* ---- SPI: routed to an SD card model (sd_card_model.h); without one MISO reads 0xFF ---- */
void port_fake_attach_sd(void *sd_card_model); /* sd_card_model_t *, or NULL */
uint32_t port_fake_spi_clock(void);
/* Background transfers (port_spi_start): off after a reset (the weak default's answer). When on,
 * the bytes move only at port_spi_finish, and the receive buffer holds junk until then, so a
 * driver that used it early fails; every other SPI call in between is a failed assertion. The
 * timeout_at-th background transfer (1-based; 0: none) moves half its bytes and finishes with
 * REC_E_TIMEOUT. */
void port_fake_set_spi_background(bool on, uint32_t timeout_at);
uint32_t port_fake_spi_background_count(void);

/* ---- Microphone ---- */
bool port_fake_mic_running(void);
uint32_t port_fake_mic_rate(void);
/* Delivers samples to the callback given to port_mic_start (as the ISR would). Returns false
 * when the mic is not running. */
bool port_fake_mic_push(const int16_t *samples, size_t count);
/* Makes the next port_mic_start return err (0 for success). */
void port_fake_mic_start_result(int err);

/* ---- Serial: two byte queues, host->device and device->host (64 KiB each) ---- */
/* Host side: queue bytes for port_serial_read; returns bytes queued. */
size_t port_fake_serial_feed(const uint8_t *data, size_t len);
/* Host side: take bytes the device wrote with port_serial_write; returns bytes taken. */
size_t port_fake_serial_drain(uint8_t *buf, size_t max);
size_t port_fake_serial_pending_out(void);
/* Limits how many bytes one port_serial_write accepts (SIZE_MAX default) to simulate a busy
 * link; and the connected flag (default true). */
void port_fake_serial_set_write_limit(size_t max_per_call);
void port_fake_serial_set_connected(bool connected);

/* ---- Button, LED, battery ---- */
void port_fake_button_press(void);      /* queue one press for port_button_take_press */
void port_fake_button_hold(void);       /* queue one hold for port_button_take_hold */
void port_fake_button_long_hold(void);  /* queue a hold and a long hold (held past REC_BUTTON_STOP_MS) */
bool port_fake_led(void);
uint32_t port_fake_led_changes(void);
bool port_fake_led_dim(void);           /* what port_led_dim was last told */
void port_fake_set_battery_mv(uint16_t mv); /* default 3900 */

/* ---- Settings: a RAM blob (up to 1 KiB) ---- */
/* Clears it (load returns REC_E_NOENT). */
void port_fake_settings_clear(void);
/* Makes load return REC_E_CORRUPT (as if every stored copy failed its check). */
void port_fake_settings_corrupt(void);
/* The stored blob, and its length (0 when none). */
const uint8_t *port_fake_settings_data(size_t *len);
int port_fake_settings_save_count(void);
/* Makes the next saves fail with err (0 to succeed). */
void port_fake_settings_save_result(int err);

/* ---- Identity, info, log ---- */
void port_fake_set_unique_id(bool available, uint64_t id); /* default available, 0x0123456789ABCDEF */
void port_fake_set_info(const port_info_t *info);            /* NULL restores the default */
/* port_log lines are kept in a ring; the last one is returned. Set PORT_FAKE_LOG=1 in the
 * environment to print them to stderr too. */
const char *port_fake_last_log(void);
uint32_t port_fake_log_count(void);

#endif
