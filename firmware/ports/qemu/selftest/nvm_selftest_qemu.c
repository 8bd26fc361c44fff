/* The NVM and entropy self-test of the QEMU port (ports/selftest/port_nvm_selftest.h) on the
 * Cortex-M3 of QEMU's lm3s6965evb, with the port's own nvm.c: the NVM is the host file
 * er1-nvm.bin in QEMU's working directory, the entropy the host's /dev/urandom, both through
 * semihosting. Output and exit status through semihosting too (needs
 * `-semihosting-config enable=on,target=native`); test/qemu-nvm.test.ts runs it, twice in the
 * same folder for persistence. Standalone: no interrupts, nothing of the port but nvm.c and
 * semihost.c. Prints the measured stack high-water mark last. */
#include <stdint.h>

#include "port_nvm_selftest.h"
#include "semihost.h"

#define STACK_PAINT 0x5afec0deu

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
void Reset_Handler(void);
int main(void);

static void put(const char *s)
{
    (void)semihost_call(SEMIHOST_SYS_WRITE0, s);
}

__attribute__((noreturn)) static void exit_with(uint32_t status)
{
    const uint32_t block[2] = {0x20026u, status}; /* ADP_Stopped_ApplicationExit */
    (void)semihost_call(SEMIHOST_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

static void fault_handler(void)
{
    put("nvm selftest: fault\n");
    exit_with(3);
}

typedef void (*vector_t)(void);
__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16] = {
    [0] = (vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2 ... 15] = fault_handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; (uint32_t)(uintptr_t)p < sp - 64u; p++) *p = STACK_PAINT;
    exit_with((uint32_t)main());
}

int main(void)
{
    bool ok = nvm_selftest_run();
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    put("stack used ");
    put_uint((uint32_t)((uintptr_t)&_estack - (uintptr_t)p));
    put(" bytes\n");
    return ok ? 0 : 1;
}
