/* Ed25519 on the RP2040's Cortex-M0+ under rp2040js: the RFC 8032 section 7.1 vectors (keypair
 * from seed, sign, verify, a tampered signature rejected), then the timed runs of
 * rfc8032_selftest.h (keypair; sign 64, 200 and 448 bytes; verify; SHA-256 of 4 KiB), then the
 * measured stack high-water mark.
 *
 * Linked with the RP2040 port's boot2, memory map and startup (vector table, reset handler,
 * memcpy & co.), as a separate ELF: the device image does not contain it. It talks to the
 * emulator through BKPT, which rp2040js hands to its onBreak hook and then steps over
 * (firmware/ports/rp2040/tools/selftest.mjs is the other side):
 *   BKPT 1            start of a timed section (the runner notes the core's cycle counter);
 *   BKPT 2, r0 = name end of the timed section called name (a NUL-terminated string);
 *   BKPT 3, r0 = text output;
 *   BKPT 4, r0 = status exit. */
#include <stdint.h>
#include <string.h>

#include "rec/ed25519.h"
#include "rp2040.h"

#define ED25519_VECTORS_NO_WYCHEPROOF /* the self-test stays in the port's 128 KiB flash budget */
#include "ed25519_vectors.h"
#include "rfc8032_selftest.h"

#define STACK_PAINT 0x5afec0deu

extern uint32_t __stack_limit, __stack_top;
int main(void);

static void host_break1(void)
{
    __asm__ volatile("bkpt 1" ::: "memory");
}

static void host_call(uint32_t code, const void *arg)
{
    register const void *r0 __asm__("r0") = arg;
    if (code == 2) __asm__ volatile("bkpt 2" : : "r"(r0) : "memory");
    else if (code == 3) __asm__ volatile("bkpt 3" : : "r"(r0) : "memory");
    else __asm__ volatile("bkpt 4" : : "r"(r0) : "memory");
}

static void put(const char *s)
{
    host_call(3, s);
}

__attribute__((noreturn)) static void exit_with(uint32_t status)
{
    host_call(4, (const void *)(uintptr_t)status);
    for (;;) {
    }
}

/* The port's startup.c sends faults and a returning main here. */
void rp2040_fatal(const char *msg)
{
    put("ed25519 selftest: fatal: ");
    put(msg);
    put("\n");
    exit_with(3);
}

static void timing_start(void)
{
    host_break1();
}

static void timing_end(const char *name)
{
    host_call(2, name);
}

int main(void)
{
    /* Paint the stack below this frame; the lowest word no longer painted at the end is the
     * high-water mark of everything main called. */
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_limit; (uint32_t)(uintptr_t)p < sp - 64u; p++) *p = STACK_PAINT;

    const uint32_t count = sizeof RFC8032_VECTORS / sizeof RFC8032_VECTORS[0];
    uint32_t passed = 0;
    for (size_t i = 0; i < count; i++) {
        int ok = run_vector(&RFC8032_VECTORS[i]);
        put(RFC8032_VECTORS[i].name);
        put(ok ? ": ok\n" : ": FAILED\n");
        passed += (uint32_t)ok;
    }
    int timed_ok = run_timed();
    put(timed_ok ? "timed runs: ok\n" : "timed runs: FAILED\n");

    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT) p++;
    put("ed25519 selftest: ");
    put_uint(passed);
    put(" of ");
    put_uint(count);
    put(" RFC 8032 vectors passed; stack used ");
    put_uint((uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p));
    put(" bytes\n");
    exit_with(passed == count && timed_ok ? 0 : 1);
}
