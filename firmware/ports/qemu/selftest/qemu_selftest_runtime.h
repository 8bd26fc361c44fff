/* The bare-metal runtime of the QEMU self-test images (the crypto self-test and the NVM
 * self-test), included once by each: output and exit status through semihosting (semihost.c),
 * a vector table whose faults print SELFTEST_NAME and exit 3, a reset handler that copies
 * .data, clears .bss, paints the stack and exits with main()'s status, and the stack high-water
 * mark for the report. Needs `-semihosting-config enable=on,target=native`. */
#ifndef QEMU_SELFTEST_RUNTIME_H
#define QEMU_SELFTEST_RUNTIME_H

#include <stdint.h>

#include "semihost.h"

#ifndef SELFTEST_NAME
#error "define SELFTEST_NAME (printed when the self-test faults) before including this header"
#endif

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
    put(SELFTEST_NAME ": fault\n");
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

/* Bytes of stack ever used: from the top down to the first word still painted. */
static uint32_t stack_used(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

#endif
