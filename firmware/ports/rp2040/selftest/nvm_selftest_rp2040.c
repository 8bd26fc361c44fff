/* The NVM and entropy self-test of the RP2040 port (ports/selftest/port_nvm_selftest.h) on the
 * Cortex-M0+ under rp2040js, with the port's own nvm_rp2040.c and hw.c (clocks as the device
 * runs them): the NVM is the last 64 KiB of the emulated flash, written through the synthetic
 * boot ROM the harness installs (tools/bootrom.mjs), the entropy its ROSC model (tools/rosc.mjs).
 * test/rp2040-nvm.test.ts runs it, twice on the same flash for persistence.
 *
 * Linked with the port's boot2, memory map and startup, as a separate ELF. It talks to the
 * emulator through BKPT, as the Ed25519 self-test does (tools/selftest.mjs is the other side):
 *   BKPT 3, r0 = text output;
 *   BKPT 4, r0 = status exit. */
#include <stdint.h>

#include "port_nvm_selftest.h"
#include "rp2040.h"

#define STACK_PAINT 0x5afec0deu

extern uint32_t __stack_limit, __stack_top;
int main(void);

static void put(const char *s)
{
    register const char *r0 __asm__("r0") = s;
    __asm__ volatile("bkpt 3" : : "r"(r0) : "memory");
}

__attribute__((noreturn)) static void exit_with(uint32_t status)
{
    register uint32_t r0 __asm__("r0") = status;
    __asm__ volatile("bkpt 4" : : "r"(r0) : "memory");
    for (;;) {
    }
}

int main(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_limit; (uint32_t)(uintptr_t)p < sp - 64u; p++) *p = STACK_PAINT;

    rp2040_hw_init(); /* clk_sys from PLL_USB, the microsecond timer: as in the device */
    put(rp2040_bootrom_version() == 0 ? "boot ROM: synthetic\n" : "boot ROM: not synthetic\n");
    bool ok = nvm_selftest_run();

    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT) p++;
    put("stack used ");
    put_uint((uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p));
    put(" bytes\n");
    exit_with(ok ? 0 : 1);
}
