/* Internal interfaces of the RP2040 port (not seen by the core). */
#ifndef RP2040_H
#define RP2040_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Watchdog scratch registers: the reboot record [4.7]. SCRATCH4..7 belong to the boot ROM. */
#define RP2040_SCRATCH_MAGIC 0x52503230u /* "RP20" in SCRATCH0: SCRATCH1 holds the reason below */
#define RP2040_SCRATCH_FATAL 1u          /* SCRATCH2: address of the message in flash */

/* hw.c: resets, clocks, timer, GPIO, watchdog, debug UART */
void rp2040_hw_init(void);
uint64_t rp2040_time_us(void);
void rp2040_delay_us(uint32_t us);
void rp2040_watchdog_start(uint32_t timeout_ms);
void rp2040_watchdog_feed(void);
/* Records msg in the watchdog scratch registers and resets the chip. */
__attribute__((noreturn)) void rp2040_fatal(const char *msg);
void rp2040_uart_puts(const char *s);
/* The system clock: the lowest of the port's settings (48 MHz from PLL_USB up to 125 MHz from
 * PLL_SYS) at or above min_hz, or the highest; returns it. clk_peri, clk_usb, clk_adc and the
 * timer do not depend on it. Main loop only. */
uint32_t rp2040_sys_clock_set(uint32_t min_hz);
static inline uint32_t rp2040_irq_disable(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    return primask;
}
static inline void rp2040_irq_restore(uint32_t primask)
{
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
}
/* Set by every interrupt handler that has work for the main loop. */
extern volatile bool rp2040_event;

/* usb_rp2040.c: the CDC-ACM device on the USB controller */
void rp2040_usb_init(uint64_t serial_id);
bool rp2040_usb_connected(void);
size_t rp2040_usb_read(uint8_t *buf, size_t max);
size_t rp2040_usb_write(const uint8_t *buf, size_t len);

/* Interrupt handlers (vector table in startup.c) */
void rp2040_isr_timer0(void);
void rp2040_isr_usbctrl(void);
void rp2040_isr_dma0(void);
void rp2040_isr_io_bank0(void);

/* nvm_rp2040.c: the boot ROM's version byte (1, 2, 3 on the chip's B0, B1, B2; 0 for the test
 * harness's synthetic ROM under rp2040js), or -1 when there is no ROM (its magic is missing). */
int rp2040_bootrom_version(void);

/* mic_adc.c */
int rp2040_mic_start(uint32_t rate, void (*on_block)(const int16_t *, size_t));
void rp2040_mic_stop(void);
bool rp2040_mic_running(void);
/* While the microphone runs: the battery channel's average over the last block, 12 bits (0 before
 * the first block). */
uint16_t rp2040_mic_battery_raw(void);
/* One conversion of an ADC channel (not while the microphone runs): 12-bit result. */
uint16_t rp2040_adc_read_once(unsigned channel);

#endif
