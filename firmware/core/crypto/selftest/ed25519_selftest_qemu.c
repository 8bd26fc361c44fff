/* Ed25519 on the Cortex-M3 of QEMU's lm3s6965evb: the RFC 8032 section 7.1 vectors run as real
 * Arm code (keypair from seed, sign, verify, and a tampered signature rejected), then the
 * measured stack high-water mark. Output and exit status through semihosting, so it needs
 * `-semihosting-config enable=on,target=native`; test/qemu-ed25519.test.ts runs it.
 * Standalone: no port, no interrupts, only the crypto component and this file. */
#include <stdint.h>
#include <string.h>

#include "rec/ed25519.h"

#define ED25519_VECTORS_NO_WYCHEPROOF /* they do not fit the 96 KiB flash budget beside the code */
#include "ed25519_vectors.h"
#include "rfc8032_selftest.h"

#define STACK_PAINT 0x5afec0deu

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
void Reset_Handler(void);
int main(void);

static void semihost(uint32_t op, const volatile void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const volatile void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static void put(const char *s)
{
    semihost(0x04u, s); /* SYS_WRITE0 */
}

static void exit_with(uint32_t status)
{
    /* SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit and the status. */
    static volatile uint32_t block[2];
    block[0] = 0x20026u;
    block[1] = status;
    semihost(0x20u, block);
    for (;;) {
    }
}

static void fault_handler(void)
{
    put("ed25519 selftest: fault\n");
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
    uint32_t passed = 0;
    for (size_t i = 0; i < sizeof RFC8032_VECTORS / sizeof RFC8032_VECTORS[0]; i++) {
        int ok = run_vector(&RFC8032_VECTORS[i]);
        put(RFC8032_VECTORS[i].name);
        put(ok ? ": ok\n" : ": FAILED\n");
        passed += (uint32_t)ok;
    }
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    put("ed25519 selftest: ");
    put_uint(passed);
    put(" of ");
    put_uint(sizeof RFC8032_VECTORS / sizeof RFC8032_VECTORS[0]);
    put(" RFC 8032 vectors passed; stack used ");
    put_uint((uint32_t)((uintptr_t)&_estack - (uintptr_t)p));
    put(" bytes\n");
    return passed == sizeof RFC8032_VECTORS / sizeof RFC8032_VECTORS[0] ? 0 : 1;
}
