/* Ed25519 on the Cortex-M3 of QEMU's lm3s6965evb: the RFC 8032 section 7.1 vectors run as real
 * Arm code (keypair from seed, sign, verify, and a tampered signature rejected), then the timed
 * runs of rfc8032_selftest.h, then the measured stack high-water mark. Output and exit status
 * through semihosting, so it needs `-semihosting-config enable=on,target=native`;
 * test/qemu-ed25519.test.ts runs it. Standalone: no port, no interrupts, only the crypto
 * component, the core's SHA-256, the QEMU port's semihost.c and self-test runtime, and this file.
 *
 * Timing: QEMU has no cycle model, but with `-icount shift=0` its virtual clock advances by one
 * nanosecond per guest instruction, and SysTick counts on that clock. Each timed section prints
 * its SysTick ticks ("timed NAME: T ticks"), and a calibration loop of a known number of
 * instructions gives instructions per tick ("calibration: N instructions in T ticks"); bench/
 * turns the two into instruction counts. Without -icount the ticks follow host time and mean
 * nothing. */
#include <stdint.h>
#include <string.h>

#include "rec/ed25519.h"

#define SELFTEST_NAME "ed25519 selftest"
#include "qemu_selftest_runtime.h"

#define ED25519_VECTORS_NO_WYCHEPROOF /* they do not fit the port's flash budget beside the code */
#include "ed25519_vectors.h"
#include "rfc8032_selftest.h"

/* libtorsion's argument checks call abort(), which the wrappers never let happen; newlib's needs
 * system calls this bare-metal program does not have. */
__attribute__((noreturn)) void abort(void);
__attribute__((noreturn)) void abort(void)
{
    put("abort\n");
    exit_with(3);
}

#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
#define SYST_MASK 0x00ffffffu

static uint32_t timing_started;

static void systick_run(void)
{
    SYST_RVR = SYST_MASK;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* enabled, processor clock, no interrupt */
}

/* SysTick counts down and wraps at 2^24 ticks (the longest section, verify, stays far below). */
static uint32_t ticks_since(uint32_t start)
{
    return (start - SYST_CVR) & SYST_MASK;
}

static void timing_start(void)
{
    timing_started = SYST_CVR;
}

static void timing_end(const char *name)
{
    uint32_t ticks = ticks_since(timing_started);
    put("timed ");
    put(name);
    put(": ");
    put_uint(ticks);
    put(" ticks\n");
}

/* 2 * n instructions (SUBS, BNE) plus the call. */
static uint32_t spin_ticks(uint32_t n)
{
    uint32_t start = SYST_CVR;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    return ticks_since(start);
}

/* The difference of two loop lengths cancels the call and timer-read overhead. */
static void calibrate(void)
{
    uint32_t short_ticks = spin_ticks(1000000u);
    uint32_t long_ticks = spin_ticks(2000000u);
    put("calibration: 2000000 instructions in ");
    put_uint(long_ticks - short_ticks);
    put(" ticks\n");
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
    systick_run();
    calibrate();
    int timed_ok = run_timed();
    put(timed_ok ? "timed runs: ok\n" : "timed runs: FAILED\n");
    put("ed25519 selftest: ");
    put_uint(passed);
    put(" of ");
    put_uint(sizeof RFC8032_VECTORS / sizeof RFC8032_VECTORS[0]);
    put(" RFC 8032 vectors passed; stack used ");
    put_uint(stack_used());
    put(" bytes\n");
    return passed == sizeof RFC8032_VECTORS / sizeof RFC8032_VECTORS[0] && timed_ok ? 0 : 1;
}
