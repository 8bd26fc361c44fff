/* Reset and exceptions for the LM3S6965 under QEMU: the vector table, the reset handler (copy
 * .data, zero .bss, paint the stack so its high-water mark can be measured, call main), fault
 * handlers and the C library's assert hook. Symbols come from lm3s6965.ld. */
#include <stdint.h>

#include "lm3s6965.h"
#include "qemu_internal.h"
#include "semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void HardFault_Handler_c(uint32_t *frame);
void SysTick_Handler(void);
void UART0_Handler(void);
void TIMER0A_Handler(void);
void TIMER1A_Handler(void);
void UART1_Handler(void);

#define STACK_PAINT 0xC0DEF00Du

__attribute__((noreturn, used)) static void fault(const char *what)
{
    /* Polled output straight to the console UART: nothing else may be trusted now. */
    console_write("fault: ");
    console_line(what);
    hw_reset();
}

void Default_Handler(void)
{
    fault("unexpected interrupt");
}

/* HardFault. A semihosting call (BKPT 0xAB) made while QEMU runs without semihosting escalates
 * to here (QEMU escalates it as FORCED, the architecture as DEBUGEVT) with the stacked PC on the
 * BKPT: the call returns -1, as a refused one does, so the NVM and the
 * entropy fail (REC_E_UNSUPPORTED) instead of the machine resetting. Anything else resets. The
 * naked entry only finds the exception frame; HardFault_Handler_c does the work. */
__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "b HardFault_Handler_c\n\t");
}

void HardFault_Handler_c(uint32_t *frame)
{
    /* frame: r0 r1 r2 r3 r12 lr pc xpsr, as stacked on entry */
    uint32_t pc = frame[6];
    uint32_t escalated = SCB_HFSR & (HFSR_DEBUGEVT | HFSR_FORCED);
    if (escalated && (pc & 1u) == 0 && pc < 0x00040000u && *(const uint16_t *)(uintptr_t)pc == SEMIHOST_BKPT_INSN) {
        SCB_HFSR = escalated;     /* write one to clear */
        frame[0] = 0xFFFFFFFFu;   /* r0 = -1: the call failed */
        frame[6] = pc + 2u;       /* carry on after the BKPT */
        return;
    }
    fault("hard fault");
}

static void NMI_Handler(void)
{
    fault("NMI");
}

static void MemManage_Handler(void)
{
    fault("memory management fault");
}

static void BusFault_Handler(void)
{
    fault("bus fault");
}

static void UsageFault_Handler(void)
{
    fault("usage fault");
}

typedef void (*vector_t)(void);

/* 16 system exceptions, then the LM3S6965's interrupts 0..47 (five are used). */
__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16 + 48] = {
    [0] = (vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [7 ... 10] = Default_Handler,
    [11] = Default_Handler, /* SVCall */
    [12] = Default_Handler, /* debug monitor */
    [13] = Default_Handler,
    [14] = Default_Handler, /* PendSV */
    [15] = SysTick_Handler,
    [16 ... 16 + IRQ_UART0 - 1] = Default_Handler,
    [16 + IRQ_UART0] = UART0_Handler,
    [16 + IRQ_UART1] = UART1_Handler,
    [16 + IRQ_UART1 + 1 ... 16 + IRQ_TIMER0A - 1] = Default_Handler,
    [16 + IRQ_TIMER0A] = TIMER0A_Handler,
    [16 + IRQ_TIMER0A + 1] = Default_Handler,
    [16 + IRQ_TIMER1A] = TIMER1A_Handler,
    [16 + IRQ_TIMER1A + 1 ... 16 + 47] = Default_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    /* Paint the stack below the current frame, so stack_unused_bytes() can find the deepest
     * point it ever reached. */
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; (uint32_t)(uintptr_t)p < sp - 64u; p++) *p = STACK_PAINT;
    SCB_VTOR = (uint32_t)(uintptr_t)vectors;
    (void)main();
    hw_exit(0);
}

uint32_t stack_unused_bytes(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)p - (uintptr_t)&_sstack);
}

uint32_t stack_reserved_bytes(void)
{
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

/* newlib's assert() calls this; the core's REC_ASSERT uses assert(). A broken invariant is a
 * bug: say where, then reset, so the recovery at boot closes whatever was being recorded. */
void __assert_func(const char *file, int line, const char *func, const char *expr);
void __assert_func(const char *file, int line, const char *func, const char *expr)
{
    (void)func;
    console_write("assert: ");
    console_write(file);
    console_write(":");
    console_write_u32((uint32_t)line);
    console_write(": ");
    console_line(expr);
    hw_reset();
}

/* libtorsion's argument checks (core/crypto, linked with REC_ENCRYPTION) call abort(), which its
 * wrappers never let happen; newlib's would need system calls this port does not have. */
__attribute__((noreturn)) void abort(void);
__attribute__((noreturn)) void abort(void)
{
    console_line("abort");
    hw_reset();
}
