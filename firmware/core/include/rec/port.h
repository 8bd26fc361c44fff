/* The port boundary: the only place the core meets hardware or an operating system.
 *
 * Every port (the Linux simulator, the QEMU Cortex-M3 build, the RP2040 board) implements these
 * functions; the core includes no other hardware or OS header. Functions marked "ISR" may be
 * called from, or must be safe against, interrupt context.
 *
 * Timekeeping is monotonic uptime from the port; the core keeps the wall clock (set by the host
 * over the protocol) as an offset from uptime, unless the port has a battery-backed RTC. */
#ifndef REC_PORT_H
#define REC_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/bd.h"
#include "rec/button.h"

/* ---- Time ---------------------------------------------------------------------------------- */
uint64_t port_uptime_ms(void);
void port_delay_ms(uint32_t ms);
/* Battery-backed clock, if the port has one: REC_OK, or REC_E_UNSUPPORTED when there is none or
 * it has never been set. A port without one leaves both out: weak defaults in the core
 * (app/port_defaults.c) return REC_E_UNSUPPORTED. */
int port_rtc_read(int64_t *unix_ms);
int port_rtc_write(int64_t unix_ms);

/* ---- Critical sections: exclude the microphone interrupt from shared state ------------------ */
uint32_t port_irq_save(void);
void port_irq_restore(uint32_t state);

/* ---- The card ------------------------------------------------------------------------------ */
/* Opens the card and returns its block device, or NULL with *err set (REC_E_NOCARD, REC_E_IO,
 * REC_E_TIMEOUT). Ports with an SD socket build this from the core's SD driver (sd_spi.h) over
 * the SPI functions below; the simulator returns a file-backed device. */
const rec_bd_t *port_card_open(int *err);
/* Releases the card (before it is removed or re-initialised). */
void port_card_close(void);
/* Card-detect switch (or the simulator's insert/eject); true when a card is present. */
bool port_card_present(void);

/* SPI bus of the SD socket, used by the core's SD driver. Ports without one never call them. */
void port_spi_set_clock(uint32_t hz);
void port_spi_select(bool selected);
/* Full-duplex transfer of n bytes; tx NULL sends 0xFF, rx NULL discards. */
void port_spi_transfer(const uint8_t *tx, uint8_t *rx, size_t n);
/* The same transfer in the background (DMA), so the driver can work while the bytes move (it
 * checks the CRC16 of the block before while the next one arrives). True when started: rx and tx
 * belong to the transfer, and port_spi_finish must come before any other SPI call. False when
 * the port has none (the weak default in app/port_defaults.c): the driver calls
 * port_spi_transfer instead. */
bool port_spi_start(const uint8_t *tx, uint8_t *rx, size_t n);
/* Waits for the transfer port_spi_start began: REC_OK, or REC_E_TIMEOUT when it did not end in
 * time (it is stopped; the bytes are not all there). */
int port_spi_finish(void);

/* ---- Microphone ---------------------------------------------------------------------------- */
/* Called by the port (ISR) with each block of 16-bit mono PCM samples as they are captured. */
typedef void (*port_mic_block_fn)(const int16_t *samples, size_t count);
int port_mic_start(uint32_t sample_rate, port_mic_block_fn on_block);
void port_mic_stop(void);

/* ---- Serial link to the host (USB CDC, or a UART under emulation) -------------------------- */
/* Non-blocking: returns the bytes read (0 when none are waiting). */
size_t port_serial_read(uint8_t *buf, size_t max);
/* Non-blocking: returns the bytes accepted (possibly fewer than len when the link is busy). */
size_t port_serial_write(const uint8_t *buf, size_t len);
/* True while a host is attached (USB configured and DTR set, or always on a UART). */
bool port_serial_connected(void);

/* ---- Button, LED, battery, power ----------------------------------------------------------- */
/* The button's gestures (rec/button.h, docs/firmware.md "The button"): a press (released before
 * REC_BUTTON_HOLD_MS), a hold (still down at REC_BUTTON_HOLD_MS) and a long hold (still down at
 * REC_BUTTON_STOP_MS; it follows a hold). Each take is true once for every gesture of its kind
 * since the last call; holds are reported as soon as they are reached (the button may still be
 * down), and a hold is never also a press. A port with a real button classifies its debounced
 * edges with the core's rec_button_t. Ports that cannot tell (the weak defaults in
 * app/port_defaults.c) report no holds: every press of theirs is a press, and their button
 * cannot stop a recording (the host's RECORD can). */
bool port_button_take_press(void);
bool port_button_take_hold(void);
bool port_button_take_long_hold(void);
void port_led_set(bool on);
/* The LED glowing dimly (on) or back as port_led_set left it (off): the discreet confirmation,
 * meant to be seen by the person holding the device and not across a table. The weak default
 * does nothing: a port that reports holds defines it. */
void port_led_dim(bool on);
/* Battery voltage in millivolts (0 if the port cannot measure it). */
uint16_t port_battery_mv(void);
/* Sleeps until an interrupt or event, or at most max_ms. */
void port_sleep_until_event(uint32_t max_ms);

/* ---- Persistent settings and identity ------------------------------------------------------ */
/* Load or store the settings blob (see settings.h). Load returns REC_E_NOENT when none is stored,
 * REC_E_CORRUPT when every copy fails its check. */
int port_settings_load(void *buf, size_t len);
int port_settings_save(const void *buf, size_t len);
/* A hardware-unique id (flash unique id, chip id), or REC_E_UNSUPPORTED (the weak default in
 * app/port_defaults.c, for ports without one). */
int port_unique_id(uint64_t *id);

/* ---- Device-owned non-volatile memory (NVM) and entropy: the device key lives here ------------
 * NOR semantics: erase sets a whole sector to 0xFF; program only clears bits (the result is the
 * AND of old and new), page aligned, whole pages. Never the card: the RP2040's QSPI flash, the
 * simulator's IMAGE.nvm file, QEMU's host file through semihosting. A port without NVM leaves
 * these out: the weak defaults return REC_E_UNSUPPORTED and the device records unsigned. */
typedef struct {
    uint32_t sector_bytes;      /* erase unit, e.g. 4096 */
    uint32_t page_bytes;        /* program unit, e.g. 256 */
    uint32_t sectors;
    bool simulated;             /* emulated NVM (simulator, QEMU): proves nothing about custody */
} port_nvm_info_t;
int port_nvm_info(port_nvm_info_t *out);
int port_nvm_read(uint32_t offset, void *buf, uint32_t len);
/* offset sector aligned */
int port_nvm_erase_sector(uint32_t offset);
/* offset page aligned, len a whole number of pages */
int port_nvm_program(uint32_t offset, const void *buf, uint32_t len);

/* Raw entropy for the device key. Fills buf with len bytes of raw (unconditioned) samples, and
 * says where they came from (RP_ENTROPY_*); the core conditions them with SHA-256 and runs the
 * health checks. REC_E_UNSUPPORTED when the port has no source. */
int port_entropy(uint8_t *buf, uint32_t len, uint8_t *source);

/* ---- Diagnostics --------------------------------------------------------------------------- */
/* A line of diagnostic text; ports may drop it. Never on the protocol link. */
void port_log(const char *msg);

/* Static facts about the port, read once at start. */
typedef struct {
    const char *model;          /* e.g. "ER-1 sim" */
    bool simulated;             /* reported in INFO so the app can say so */
    uint32_t audio_ring_bytes;  /* informational: the size the port built the core with */
} port_info_t;
const port_info_t *port_info(void);

#endif
