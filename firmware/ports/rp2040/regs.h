/* RP2040 registers used by this port, from the RP2040 datasheet (section numbers in brackets).
 * Only what the port touches; no vendor SDK. Addresses are absolute. */
#ifndef RP2040_REGS_H
#define RP2040_REGS_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
/* Atomic register aliases [2.1.2]: XOR, SET and CLR at +0x1000, +0x2000, +0x3000. */
#define REG_XOR(addr) REG32((uintptr_t)(addr) + 0x1000u)
#define REG_SET(addr) REG32((uintptr_t)(addr) + 0x2000u)
#define REG_CLR(addr) REG32((uintptr_t)(addr) + 0x3000u)

/* ---- Resets [2.14] ------------------------------------------------------------------------- */
#define RESETS_BASE 0x4000c000u
#define RESETS_RESET (RESETS_BASE + 0x0u)
#define RESETS_RESET_DONE (RESETS_BASE + 0x8u)
#define RESET_ADC (1u << 0)
#define RESET_DMA (1u << 2)
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_PLL_SYS (1u << 12)
#define RESET_PLL_USB (1u << 13)
#define RESET_SPI0 (1u << 16)
#define RESET_TIMER (1u << 21)
#define RESET_UART0 (1u << 22)
#define RESET_USBCTRL (1u << 24)

/* ---- Clocks [2.15] ------------------------------------------------------------------------- */
#define CLOCKS_BASE 0x40008000u
#define CLK_REF_CTRL (CLOCKS_BASE + 0x30u)
#define CLK_REF_DIV (CLOCKS_BASE + 0x34u)
#define CLK_REF_SELECTED (CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL (CLOCKS_BASE + 0x3cu)
#define CLK_SYS_DIV (CLOCKS_BASE + 0x40u)
#define CLK_SYS_SELECTED (CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL (CLOCKS_BASE + 0x48u)
#define CLK_USB_CTRL (CLOCKS_BASE + 0x54u)
#define CLK_USB_DIV (CLOCKS_BASE + 0x58u)
#define CLK_ADC_CTRL (CLOCKS_BASE + 0x60u)
#define CLK_ADC_DIV (CLOCKS_BASE + 0x64u)
#define CLK_RTC_CTRL (CLOCKS_BASE + 0x6cu)
#define CLK_RTC_DIV (CLOCKS_BASE + 0x70u)
#define CLK_SYS_RESUS_CTRL (CLOCKS_BASE + 0x78u)
#define CLK_CTRL_ENABLE (1u << 11)
#define CLK_CTRL_AUXSRC_LSB 5u
#define CLK_REF_SRC_XOSC 2u
#define CLK_SYS_SRC_AUX 1u
#define CLK_SYS_AUXSRC_PLL_SYS 0u
#define CLK_SYS_AUXSRC_PLL_USB 1u
#define CLK_PERI_AUXSRC_PLL_USB 2u
#define CLK_USB_AUXSRC_PLL_USB 0u
#define CLK_ADC_AUXSRC_PLL_USB 0u
#define CLK_RTC_AUXSRC_XOSC 3u

/* ---- XOSC [2.16] --------------------------------------------------------------------------- */
#define XOSC_BASE 0x40024000u
#define XOSC_CTRL (XOSC_BASE + 0x00u)
#define XOSC_STATUS (XOSC_BASE + 0x04u)
#define XOSC_STARTUP (XOSC_BASE + 0x0cu)
#define XOSC_CTRL_FREQ_1_15MHZ 0xaa0u
#define XOSC_CTRL_ENABLE (0xfabu << 12)
#define XOSC_STATUS_STABLE (1u << 31)

/* ---- PLL [2.18] ---------------------------------------------------------------------------- */
#define PLL_SYS_BASE 0x40028000u
#define PLL_USB_BASE 0x4002c000u
#define PLL_CS_OF(base) ((base) + 0x0u)
#define PLL_PWR_OF(base) ((base) + 0x4u)
#define PLL_FBDIV_INT_OF(base) ((base) + 0x8u)
#define PLL_PRIM_OF(base) ((base) + 0xcu)
#define PLL_CS_LOCK (1u << 31)
#define PLL_PWR_PD (1u << 0)
#define PLL_PWR_POSTDIVPD (1u << 3)
#define PLL_PWR_VCOPD (1u << 5)

/* ---- Watchdog [4.7] ------------------------------------------------------------------------ */
#define WATCHDOG_BASE 0x40058000u
#define WATCHDOG_CTRL (WATCHDOG_BASE + 0x00u)
#define WATCHDOG_LOAD (WATCHDOG_BASE + 0x04u)
#define WATCHDOG_REASON (WATCHDOG_BASE + 0x08u)
#define WATCHDOG_SCRATCH(n) (WATCHDOG_BASE + 0x0cu + 4u * (n))
#define WATCHDOG_TICK (WATCHDOG_BASE + 0x2cu)
#define WATCHDOG_CTRL_ENABLE (1u << 30)
#define WATCHDOG_CTRL_TRIGGER (1u << 31)
#define WATCHDOG_TICK_ENABLE (1u << 9)

/* ---- Timer [4.6] --------------------------------------------------------------------------- */
#define TIMER_BASE 0x40054000u
#define TIMER_TIMEHR (TIMER_BASE + 0x08u)
#define TIMER_TIMELR (TIMER_BASE + 0x0cu)
#define TIMER_ALARM0 (TIMER_BASE + 0x10u)
#define TIMER_ARMED (TIMER_BASE + 0x20u)
#define TIMER_TIMERAWH (TIMER_BASE + 0x24u)
#define TIMER_TIMERAWL (TIMER_BASE + 0x28u)
#define TIMER_INTR (TIMER_BASE + 0x34u)
#define TIMER_INTE (TIMER_BASE + 0x38u)

/* ---- GPIO [2.19] --------------------------------------------------------------------------- */
#define IO_BANK0_BASE 0x40014000u
#define IO_GPIO_CTRL(n) (IO_BANK0_BASE + 8u * (n) + 4u)
#define IO_INTR(n) (IO_BANK0_BASE + 0xf0u + 4u * ((n) / 8u))
#define IO_PROC0_INTE(n) (IO_BANK0_BASE + 0x100u + 4u * ((n) / 8u))
#define IO_PROC0_INTS(n) (IO_BANK0_BASE + 0x120u + 4u * ((n) / 8u))
#define IO_INT_EDGE_LOW(n) (1u << (4u * ((n) % 8u) + 2u))
#define IO_INT_EDGE_HIGH(n) (1u << (4u * ((n) % 8u) + 3u))
#define GPIO_FUNC_SPI 1u
#define GPIO_FUNC_SIO 5u
#define GPIO_FUNC_NULL 0x1fu

#define PADS_BANK0_BASE 0x4001c000u
#define PADS_GPIO(n) (PADS_BANK0_BASE + 4u + 4u * (n))
#define PADS_OD (1u << 7)
#define PADS_IE (1u << 6)
#define PADS_DRIVE_4MA (1u << 4)
#define PADS_PUE (1u << 3)
#define PADS_PDE (1u << 2)
#define PADS_SCHMITT (1u << 1)

#define SIO_BASE 0xd0000000u
#define SIO_GPIO_IN (SIO_BASE + 0x04u)
#define SIO_GPIO_OUT_SET (SIO_BASE + 0x14u)
#define SIO_GPIO_OUT_CLR (SIO_BASE + 0x18u)
#define SIO_GPIO_OE_SET (SIO_BASE + 0x24u)
#define SIO_GPIO_OE_CLR (SIO_BASE + 0x28u)

/* ---- SPI0 (PL022) [4.4] -------------------------------------------------------------------- */
#define SPI0_BASE 0x4003c000u
#define SPI_CR0 (SPI0_BASE + 0x00u)
#define SPI_CR1 (SPI0_BASE + 0x04u)
#define SPI_DR (SPI0_BASE + 0x08u)
#define SPI_SR (SPI0_BASE + 0x0cu)
#define SPI_CPSR (SPI0_BASE + 0x10u)
#define SPI_SR_TNF (1u << 1)
#define SPI_SR_RNE (1u << 2)
#define SPI_SR_BSY (1u << 4)
#define SPI_DMACR (SPI0_BASE + 0x24u)
#define SPI_CR1_SSE (1u << 1)
#define SPI_DMACR_RXDMAE (1u << 0)
#define SPI_DMACR_TXDMAE (1u << 1)

/* ---- ADC [4.9] ----------------------------------------------------------------------------- */
#define ADC_BASE 0x4004c000u
#define ADC_CS (ADC_BASE + 0x00u)
#define ADC_RESULT (ADC_BASE + 0x04u)
#define ADC_FCS (ADC_BASE + 0x08u)
#define ADC_FIFO (ADC_BASE + 0x0cu)
#define ADC_DIV (ADC_BASE + 0x10u)
#define ADC_CS_EN (1u << 0)
#define ADC_CS_START_ONCE (1u << 2)
#define ADC_CS_START_MANY (1u << 3)
#define ADC_CS_READY (1u << 8)
#define ADC_CS_AINSEL_LSB 12u
#define ADC_CS_RROBIN_LSB 16u
#define ADC_FCS_EN (1u << 0)
#define ADC_FCS_DREQ_EN (1u << 3)
#define ADC_FCS_EMPTY (1u << 8)
#define ADC_FCS_UNDER (1u << 10)
#define ADC_FCS_OVER (1u << 11)
#define ADC_FCS_THRESH_LSB 24u

/* ---- DMA [2.5] ----------------------------------------------------------------------------- */
#define DMA_BASE 0x50000000u
#define DMA_READ_ADDR(c) (DMA_BASE + 0x40u * (c) + 0x00u)
#define DMA_WRITE_ADDR(c) (DMA_BASE + 0x40u * (c) + 0x04u)
#define DMA_TRANS_COUNT(c) (DMA_BASE + 0x40u * (c) + 0x08u)
#define DMA_CTRL_TRIG(c) (DMA_BASE + 0x40u * (c) + 0x0cu)
#define DMA_AL1_CTRL(c) (DMA_BASE + 0x40u * (c) + 0x10u)
#define DMA_INTR (DMA_BASE + 0x400u)
#define DMA_INTE0 (DMA_BASE + 0x404u)
#define DMA_INTS0 (DMA_BASE + 0x40cu)
#define DMA_CHAN_ABORT (DMA_BASE + 0x444u)
#define DMA_CTRL_EN (1u << 0)
#define DMA_CTRL_HIGH_PRIORITY (1u << 1)
#define DMA_CTRL_SIZE_HALFWORD (1u << 2)
#define DMA_CTRL_INCR_READ (1u << 4)
#define DMA_CTRL_INCR_WRITE (1u << 5)
#define DMA_CTRL_CHAIN_TO_LSB 11u
#define DMA_CTRL_TREQ_LSB 15u
#define DMA_CTRL_IRQ_QUIET (1u << 21)
#define DMA_CTRL_BUSY (1u << 24)
#define DREQ_SPI0_TX 16u
#define DREQ_SPI0_RX 17u
#define DREQ_ADC 36u

/* ---- USB [4.1] ----------------------------------------------------------------------------- */
#define USBCTRL_DPRAM_BASE 0x50100000u
#define USBCTRL_REGS_BASE 0x50110000u
#define USB_ADDR_ENDP (USBCTRL_REGS_BASE + 0x00u)
#define USB_MAIN_CTRL (USBCTRL_REGS_BASE + 0x40u)
#define USB_SIE_CTRL (USBCTRL_REGS_BASE + 0x4cu)
#define USB_SIE_STATUS (USBCTRL_REGS_BASE + 0x50u)
#define USB_BUFF_STATUS (USBCTRL_REGS_BASE + 0x58u)
#define USB_EP_STALL_ARM (USBCTRL_REGS_BASE + 0x68u)
#define USB_USB_MUXING (USBCTRL_REGS_BASE + 0x74u)
#define USB_USB_PWR (USBCTRL_REGS_BASE + 0x78u)
#define USB_INTE (USBCTRL_REGS_BASE + 0x90u)
#define USB_INTS (USBCTRL_REGS_BASE + 0x98u)
#define USB_MAIN_CTRL_CONTROLLER_EN (1u << 0)
#define USB_SIE_CTRL_EP0_INT_1BUF (1u << 29)
#define USB_SIE_CTRL_PULLUP_EN (1u << 16)
#define USB_SIE_STATUS_SETUP_REC (1u << 17)
#define USB_SIE_STATUS_BUS_RESET (1u << 19)
#define USB_MUXING_TO_PHY (1u << 0)
#define USB_MUXING_SOFTCON (1u << 3)
#define USB_PWR_VBUS_DETECT (1u << 2)
#define USB_PWR_VBUS_DETECT_OVERRIDE_EN (1u << 3)
#define USB_INT_BUFF_STATUS (1u << 4)
#define USB_INT_BUS_RESET (1u << 12)
#define USB_INT_SETUP_REQ (1u << 16)
/* DPRAM layout [4.1.2.5] */
#define USB_DPRAM_EP_CTRL_IN(ep) (USBCTRL_DPRAM_BASE + 0x08u * (ep))        /* ep 1..15 */
#define USB_DPRAM_EP_CTRL_OUT(ep) (USBCTRL_DPRAM_BASE + 0x08u * (ep) + 4u)
#define USB_DPRAM_BUF_CTRL_IN(ep) (USBCTRL_DPRAM_BASE + 0x80u + 0x08u * (ep))
#define USB_DPRAM_BUF_CTRL_OUT(ep) (USBCTRL_DPRAM_BASE + 0x84u + 0x08u * (ep))
#define USB_DPRAM_EP0_BUF (USBCTRL_DPRAM_BASE + 0x100u)
#define USB_EP_CTRL_ENABLE (1u << 31)
#define USB_EP_CTRL_INT_PER_BUFFER (1u << 29)
#define USB_EP_CTRL_TYPE_LSB 26u
#define USB_BUF_CTRL_FULL (1u << 15)
#define USB_BUF_CTRL_LAST (1u << 14)
#define USB_BUF_CTRL_DATA1 (1u << 13)
#define USB_BUF_CTRL_STALL (1u << 11)
#define USB_BUF_CTRL_AVAIL (1u << 10)
#define USB_BUF_CTRL_LEN_MASK 0x3ffu

/* ---- System -------------------------------------------------------------------------------- */
#define SYSINFO_CHIP_ID 0x40000000u
#define PPB_NVIC_ISER 0xe000e100u
#define PPB_NVIC_ICER 0xe000e180u
#define PPB_NVIC_ICPR 0xe000e280u
#define PPB_VTOR 0xe000ed08u

/* Interrupt numbers [2.3.2] */
#define IRQ_TIMER0 0u
#define IRQ_USBCTRL 5u
#define IRQ_DMA0 11u
#define IRQ_IO_BANK0 13u

static inline void rp2040_nvic_enable(unsigned irq)
{
    REG32(PPB_NVIC_ICPR) = 1u << irq;
    REG32(PPB_NVIC_ISER) = 1u << irq;
}

#endif
