/* Ed25519 on the RP2040's Cortex-M0+ under rp2040js: the RFC 8032 section 7.1 vectors (keypair
 * from seed, sign, verify, a tampered signature rejected), the port's assembly __aeabi_lmul
 * against rec_mul64, then the timed runs of rfc8032_selftest.h (keypair; sign 64, 200 and 448
 * bytes; verify; SHA-256 of 4 KiB; X25519; ChaCha20-Poly1305 of 4 KiB, its output checked), then
 * the measured stack high-water mark.
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

#include "../mul64_v6m.h"
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

/* The port's __aeabi_lmul (Thumb-1 assembly in mul64_v6m.c) against rec_mul64, the same
 * arithmetic in C that tests/test_mul64.c checks against the host compiler: operands at the 16-
 * and 32-bit boundaries where the partial products carry, and pseudo-random pairs (xorshift64,
 * masked so that small and zero-extended 32-bit operands, as Poly1305's, come too). */
static int check_mul64(void)
{
    static const uint64_t edges[] = {
        0, 1, 0xffffu, 0x10000u, 0xffffffffu, 0x100000000u, 0xffff0000ffff0000u, 0x0000ffff0000ffffu,
        0x8000000000000000u, 0xffffffffffffffffu, 0x3ffffffu, (uint64_t)-19, 0xffff8000u, 0x1ffffu,
    };
    const size_t n = sizeof edges / sizeof edges[0];
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) ok &= __aeabi_lmul(edges[i], edges[j]) == rec_mul64(edges[i], edges[j]);
    }
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (uint32_t k = 0; k < 4000; k++) {
        uint64_t v[2];
        for (int m = 0; m < 2; m++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v[m] = k % 4 == 0 ? s : k % 4 == 1 ? s & 0xffffffffu : k % 4 == 2 ? s & 0x3ffffffu : s >> (k % 61);
        }
        ok &= __aeabi_lmul(v[0], v[1]) == rec_mul64(v[0], v[1]);
    }
    return ok;
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
    int mul64_ok = check_mul64();
    put(mul64_ok ? "mul64: ok\n" : "mul64: FAILED\n");
    int timed_ok = run_timed() && mul64_ok;
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
