/* Registers of the Stellaris LM3S6965 (and of the Cortex-M3 core) that the QEMU port uses, as
 * QEMU's lm3s6965evb machine models them. Addresses from the LM3S6965 data sheet; the QEMU model
 * (hw/arm/stellaris.c, pl011, pl022, pl061, stellaris-gptm) implements a subset, noted where it
 * matters. */
#ifndef QEMU_LM3S6965_H
#define QEMU_LM3S6965_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* ---- System control ---- */
#define SYSCTL_BASE 0x400FE000u
#define SYSCTL_RIS REG32(SYSCTL_BASE + 0x050u)
#define SYSCTL_RCC REG32(SYSCTL_BASE + 0x060u)
#define SYSCTL_RCGC1 REG32(SYSCTL_BASE + 0x104u)
#define SYSCTL_RCGC2 REG32(SYSCTL_BASE + 0x108u)
#define SYSCTL_RIS_PLLLRIS (1u << 6)
#define RCC_MOSCDIS (1u << 0)
#define RCC_OSCSRC_MASK (3u << 4)
#define RCC_XTAL_MASK (0xFu << 6)
#define RCC_XTAL_8MHZ (0xEu << 6)
#define RCC_BYPASS (1u << 11)
#define RCC_PWRDN (1u << 13)
#define RCC_USESYSDIV (1u << 22)
#define RCC_SYSDIV_MASK (0xFu << 23)
#define RCC_SYSDIV(n) ((uint32_t)(n) << 23) /* PLL 200 MHz / (n + 1) */
#define RCGC1_UART0 (1u << 0)
#define RCGC1_UART1 (1u << 1)
#define RCGC1_SSI0 (1u << 4)
#define RCGC1_TIMER0 (1u << 16)
#define RCGC1_TIMER1 (1u << 17)
#define RCGC2_GPIOA (1u << 0)
#define RCGC2_GPIOD (1u << 3)
#define RCGC2_GPIOF (1u << 5)

/* ---- GPIO (PL061 with the Stellaris extras) ---- */
#define GPIOA_BASE 0x40004000u
#define GPIOD_BASE 0x40007000u
#define GPIOF_BASE 0x40025000u
#define GPIO_DATA_MASKED(base, mask) REG32((base) + ((uint32_t)(mask) << 2)) /* bit-masked data */
#define GPIO_DIR(base) REG32((base) + 0x400u)
#define GPIO_AFSEL(base) REG32((base) + 0x420u)
#define GPIO_DEN(base) REG32((base) + 0x51Cu)

/* ---- UART (PL011) ---- */
#define UART0_BASE 0x4000C000u
#define UART1_BASE 0x4000D000u
#define UART_DR(b) REG32((b) + 0x000u)
#define UART_FR(b) REG32((b) + 0x018u)
#define UART_IBRD(b) REG32((b) + 0x024u)
#define UART_FBRD(b) REG32((b) + 0x028u)
#define UART_LCRH(b) REG32((b) + 0x02Cu)
#define UART_CTL(b) REG32((b) + 0x030u)
#define UART_IFLS(b) REG32((b) + 0x034u)
#define UART_IM(b) REG32((b) + 0x038u)
#define UART_MIS(b) REG32((b) + 0x040u)
#define UART_ICR(b) REG32((b) + 0x044u)
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)
#define UART_LCRH_FEN (1u << 4)
#define UART_LCRH_WLEN8 (3u << 5)
#define UART_CTL_UARTEN (1u << 0)
#define UART_CTL_TXE (1u << 8)
#define UART_CTL_RXE (1u << 9)
#define UART_INT_RX (1u << 4)
#define UART_INT_RT (1u << 6)

/* ---- SSI0 (PL022) ---- */
#define SSI0_BASE 0x40008000u
#define SSI_CR0 REG32(SSI0_BASE + 0x000u)
#define SSI_CR1 REG32(SSI0_BASE + 0x004u)
#define SSI_DR REG32(SSI0_BASE + 0x008u)
#define SSI_SR REG32(SSI0_BASE + 0x00Cu)
#define SSI_CPSR REG32(SSI0_BASE + 0x010u)
#define SSI_CR1_SSE (1u << 1)
#define SSI_SR_TNF (1u << 1)
#define SSI_SR_RNE (1u << 2)
#define SSI_SR_BSY (1u << 4)
#define SSI_CR0_DSS8 0x7u

/* ---- General-purpose timer 0 ---- */
#define TIMER0_BASE 0x40030000u
#define TIMER_CFG REG32(TIMER0_BASE + 0x000u)
#define TIMER_TAMR REG32(TIMER0_BASE + 0x004u)
#define TIMER_CTL REG32(TIMER0_BASE + 0x00Cu)
#define TIMER_IMR REG32(TIMER0_BASE + 0x018u)
#define TIMER_ICR REG32(TIMER0_BASE + 0x024u)
#define TIMER_TAILR REG32(TIMER0_BASE + 0x028u)
#define TIMER_TAMR_PERIODIC 0x2u
#define TIMER_CTL_TAEN (1u << 0)
#define TIMER_INT_TATO (1u << 0)

/* ---- Interrupt numbers (NVIC) ---- */
#define IRQ_UART0 5u
#define IRQ_UART1 6u
#define IRQ_TIMER0A 19u
#define IRQ_TIMER1A 21u

/* ---- Cortex-M3 core ---- */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define NVIC_IPR_BYTE(irq) (*(volatile uint8_t *)(uintptr_t)(0xE000E400u + (irq)))
#define SCB_VTOR REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_SHPR3 REG32(0xE000ED20u)
#define SCB_HFSR REG32(0xE000ED2Cu)
#define HFSR_DEBUGEVT (1u << 31) /* a debug event (BKPT) escalated to HardFault */
#define HFSR_FORCED (1u << 30)   /* a configurable fault (or, in QEMU, the BKPT) escalated */
#define AIRCR_RESET 0x05FA0004u

static inline void nvic_enable(uint32_t irq)
{
    NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

static inline void nvic_pend(uint32_t irq)
{
    NVIC_ISPR(irq / 32u) = 1u << (irq % 32u);
}

static inline void nvic_disable(uint32_t irq)
{
    NVIC_ICER(irq / 32u) = 1u << (irq % 32u);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    NVIC_ICPR(irq / 32u) = 1u << (irq % 32u);
}

#endif
