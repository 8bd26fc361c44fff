/* The QEMU port's internal interfaces (ports/qemu/):
 *   startup.c   vector table, reset (copy .data, zero .bss, paint the stack), faults, assert
 *   hw.c        clock, SysTick uptime, critical sections, sleep, UART0 link, SPI, mic timer, LED
 *   card.c      the SD card through the core's driver, and the settings in the card's tail
 *   nvm.c       the device NVM (a host file) and entropy (host /dev/urandom), by semihosting
 *   semihost.c  semihosting calls (exit, files)
 *   console.c   UART1: diagnostics out, control commands in (the button), state lines
 *   main.c      the main loop
 * See docs/qemu.md. */
#ifndef QEMU_INTERNAL_H
#define QEMU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* System clock after hw_init: PLL 200 MHz / 4. */
#define QEMU_SYSCLK_HZ 50000000u
/* Microphone samples per timer interrupt: 50 MHz x 192 / rate is a whole number of clocks for
 * every rate the core allows (8, 16, 32, 48 kHz). */
#define QEMU_MIC_BLOCK 192u

void hw_init(void);
/* 8N1 at 115200 (QEMU ignores the rate), FIFOs on, no interrupts. */
void hw_uart_init(uint32_t base);
/* Reboots the machine (SYSRESETREQ). */
void hw_reset(void) __attribute__((noreturn));

/* Semihosting SYS_EXIT_EXTENDED: ends QEMU with this status when it runs with
 * -semihosting-config enable=on; otherwise the call fails (startup.c's HardFault handler) and the
 * machine resets (QEMU with -no-reboot then exits too). */
void hw_exit(uint32_t status) __attribute__((noreturn));

/* Stack: bytes never touched since reset (painted at reset), and the size reserved. */
uint32_t stack_unused_bytes(void);
uint32_t stack_reserved_bytes(void);

/* ---- console (UART1) ---- */
void console_init(void);
void console_write(const char *s);
void console_write_u32(uint32_t v);
void console_line(const char *s);
/* Reads and carries out control commands; returns true when one arrived. */
bool console_poll(void);
bool console_quit_requested(void);
/* Prints `state rec=... card=... battery=...` when it changed (or always with force). */
void console_report_state(bool force);

/* ---- card.c ---- */
/* Closes the card at shutdown. */
void card_shutdown(void);

#endif
