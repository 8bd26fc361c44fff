/* Vector table and reset handler. boot2 has already set VTOR to this table (flash + 0x100) and
 * loaded the stack pointer from it; the reset handler sets VTOR again so that entering here
 * directly (a debugger, or an emulator that skips boot2) works the same. */
#include <stdint.h>
#include <string.h>

#include "regs.h"
#include "rp2040.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern const void *const rp2040_vectors[];

int main(void);
void rp2040_reset_handler(void);
void rp2040_default_handler(void);

void rp2040_reset_handler(void)
{
    REG32(PPB_VTOR) = (uint32_t)(uintptr_t)rp2040_vectors;
    /* Word copies: the linker script aligns .data and .bss to 4 bytes. */
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    (void)main();
    rp2040_fatal("main returned");
}

/* An unexpected exception or interrupt: note it for the next boot and reset through the
 * watchdog (a recording in progress is recovered at boot like after a power cut). */
void rp2040_default_handler(void)
{
    rp2040_fatal("unexpected exception");
}

void rp2040_isr_timer0(void) __attribute__((weak, alias("rp2040_default_handler")));
void rp2040_isr_usbctrl(void) __attribute__((weak, alias("rp2040_default_handler")));
void rp2040_isr_dma0(void) __attribute__((weak, alias("rp2040_default_handler")));
void rp2040_isr_io_bank0(void) __attribute__((weak, alias("rp2040_default_handler")));

__attribute__((section(".vectors"), used)) const void *const rp2040_vectors[16 + 32] = {
    [0] = &__stack_top,
    [1] = (const void *)rp2040_reset_handler,
    [2] = (const void *)rp2040_default_handler,  /* NMI */
    [3] = (const void *)rp2040_default_handler,  /* HardFault */
    [11] = (const void *)rp2040_default_handler, /* SVCall */
    [14] = (const void *)rp2040_default_handler, /* PendSV */
    [15] = (const void *)rp2040_default_handler, /* SysTick */
    [16 + IRQ_TIMER0] = (const void *)rp2040_isr_timer0,
    [16 + IRQ_USBCTRL] = (const void *)rp2040_isr_usbctrl,
    [16 + IRQ_DMA0] = (const void *)rp2040_isr_dma0,
    [16 + IRQ_IO_BANK0] = (const void *)rp2040_isr_io_bank0,
    [16 + 1] = (const void *)rp2040_default_handler,
    [16 + 2] = (const void *)rp2040_default_handler,
    [16 + 3] = (const void *)rp2040_default_handler,
    [16 + 4] = (const void *)rp2040_default_handler,
    [16 + 6] = (const void *)rp2040_default_handler,
    [16 + 7] = (const void *)rp2040_default_handler,
    [16 + 8] = (const void *)rp2040_default_handler,
    [16 + 9] = (const void *)rp2040_default_handler,
    [16 + 10] = (const void *)rp2040_default_handler,
    [16 + 12] = (const void *)rp2040_default_handler,
    [16 + 14] = (const void *)rp2040_default_handler,
    [16 + 15] = (const void *)rp2040_default_handler,
    [16 + 16] = (const void *)rp2040_default_handler,
    [16 + 17] = (const void *)rp2040_default_handler,
    [16 + 18] = (const void *)rp2040_default_handler,
    [16 + 19] = (const void *)rp2040_default_handler,
    [16 + 20] = (const void *)rp2040_default_handler,
    [16 + 21] = (const void *)rp2040_default_handler,
    [16 + 22] = (const void *)rp2040_default_handler,
    [16 + 23] = (const void *)rp2040_default_handler,
    [16 + 24] = (const void *)rp2040_default_handler,
    [16 + 25] = (const void *)rp2040_default_handler,
};

/* The compiler may emit calls to these for struct copies and clears (-ffreestanding still
 * allows it); newlib is not linked, so they are defined here. */
void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if ((((uintptr_t)dp | (uintptr_t)sp) & 3u) == 0) {
        for (; n >= 4; n -= 4, dp += 4, sp += 4) *(uint32_t *)(void *)dp = *(const uint32_t *)(const void *)sp;
    }
    while (n--) *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if (dp < sp || dp >= sp + n) return memcpy(d, s, n);
    while (n--) dp[n] = sp[n];
    return d;
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *dp = d;
    uint32_t w = (uint8_t)c * 0x01010101u;
    while (n && ((uintptr_t)dp & 3u)) { *dp++ = (uint8_t)c; n--; }
    for (; n >= 4; n -= 4, dp += 4) *(uint32_t *)(void *)dp = w;
    while (n--) *dp++ = (uint8_t)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    const char *p = s;
    while (*p) p++;
    return (size_t)(p - s);
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c) return (char *)(uintptr_t)s;
        if (!*s) return 0;
    }
}

/* newlib's assert() lands here: a broken invariant in the core resets the device. */
void __assert_func(const char *file, int line, const char *func, const char *expr);
void __assert_func(const char *file, int line, const char *func, const char *expr)
{
    (void)file;
    (void)line;
    (void)func;
    (void)expr;
    rp2040_fatal("assertion failed");
}

/* libtorsion's argument checks (core/crypto, linked with REC_ENCRYPTION) call abort(), which its
 * wrappers never let happen; the port has no C library. */
__attribute__((noreturn)) void abort(void);
__attribute__((noreturn)) void abort(void)
{
    rp2040_fatal("abort");
}
