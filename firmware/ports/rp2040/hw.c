/* Bring-up without an SDK: resets, crystal, USB PLL at 48 MHz as the system clock (the system PLL
 * only while a recording needs more: rp2040_sys_clock_set), microsecond timer, watchdog, GPIO and
 * a debug UART. Register names and sequences from the RP2040
 * datasheet: resets 2.14, clocks 2.15, XOSC 2.16, PLL 2.18, GPIO 2.19, watchdog 4.7, UART 4.2. */
#include "board_pins.h"
#include "regs.h"
#include "rp2040.h"

volatile bool rp2040_event;

static void unreset(uint32_t bits)
{
    REG_CLR(RESETS_RESET) = bits;
    while ((REG32(RESETS_RESET_DONE) & bits) != bits) {
    }
}

/* Starts a PLL from the 12 MHz crystal: VCO = 12 MHz x fbdiv (750-1600 MHz), output VCO / pd1 / pd2
 * (pd1 >= pd2, each 1-7) [2.18.2]. Leaving reset powers it down first. */
static void pll_start(uint32_t base, uint32_t reset_bit, uint32_t fbdiv, uint32_t pd1, uint32_t pd2)
{
    REG_SET(RESETS_RESET) = reset_bit;
    unreset(reset_bit);
    REG32(PLL_CS_OF(base)) = 1u; /* REFDIV 1 */
    REG32(PLL_FBDIV_INT_OF(base)) = fbdiv;
    REG_CLR(PLL_PWR_OF(base)) = PLL_PWR_PD | PLL_PWR_VCOPD;
    while (!(REG32(PLL_CS_OF(base)) & PLL_CS_LOCK)) {
    }
    REG32(PLL_PRIM_OF(base)) = (pd1 << 16) | (pd2 << 12);
    REG_CLR(PLL_PWR_OF(base)) = PLL_PWR_POSTDIVPD;
}

/* clk_sys from an auxiliary source: through clk_ref (glitchless) while the aux mux changes [2.15.3.2]. */
static void sys_clock_from(uint32_t auxsrc)
{
    REG_CLR(CLK_SYS_CTRL) = 1u; /* SRC = clk_ref */
    while (!(REG32(CLK_SYS_SELECTED) & 1u)) {
    }
    REG32(CLK_SYS_CTRL) = auxsrc << CLK_CTRL_AUXSRC_LSB;
    REG32(CLK_SYS_CTRL) = (auxsrc << CLK_CTRL_AUXSRC_LSB) | CLK_SYS_SRC_AUX;
    while (!(REG32(CLK_SYS_SELECTED) & (1u << 1))) {
    }
}

/* The system clocks the port runs at, lowest first: 48 MHz from PLL_USB (the system PLL off), or the
 * system PLL from the 12 MHz crystal (VCO = 12 MHz x fbdiv, then / pd1 / pd2). */
static const struct {
    uint8_t mhz, fbdiv, pd1, pd2;
} SYS_CLOCKS[] = {
    { 48, 0, 0, 0 }, { 64, 128, 6, 4 }, { 72, 120, 5, 4 }, { 80, 120, 6, 3 }, { 96, 128, 4, 4 }, { 112, 112, 6, 2 }, { 125, 125, 6, 2 },
};
#define SYS_CLOCK_COUNT (sizeof SYS_CLOCKS / sizeof SYS_CLOCKS[0])
static uint32_t g_sys_hz = 48000000u;

uint32_t rp2040_sys_clock_set(uint32_t min_hz)
{
    unsigned i = 0;
    while (i + 1u < SYS_CLOCK_COUNT && SYS_CLOCKS[i].mhz * 1000000u < min_hz) i++;
    uint32_t hz = SYS_CLOCKS[i].mhz * 1000000u;
    if (hz == g_sys_hz) return hz;
    if (i == 0) {
        sys_clock_from(CLK_SYS_AUXSRC_PLL_USB);
        REG_SET(RESETS_RESET) = RESET_PLL_SYS; /* held in reset: powered down */
    } else {
        if (g_sys_hz != 48000000u) sys_clock_from(CLK_SYS_AUXSRC_PLL_USB); /* off PLL_SYS while it changes */
        pll_start(PLL_SYS_BASE, RESET_PLL_SYS, SYS_CLOCKS[i].fbdiv, SYS_CLOCKS[i].pd1, SYS_CLOCKS[i].pd2);
        sys_clock_from(CLK_SYS_AUXSRC_PLL_SYS);
    }
    g_sys_hz = hz;
    return hz;
}

static void clocks_init(void)
{
    REG32(CLK_SYS_RESUS_CTRL) = 0;
    /* Crystal: 1-15 MHz range; startup delay in units of 256 cycles, x64 because some
     * Adalogger boards' crystals are slow to settle (pico-sdk board header). */
    REG32(XOSC_CTRL) = XOSC_CTRL_FREQ_1_15MHZ;
    REG32(XOSC_STARTUP) = ((BOARD_XOSC_HZ / 1000u + 128u) / 256u) * 64u;
    REG32(XOSC_CTRL) = XOSC_CTRL_FREQ_1_15MHZ | XOSC_CTRL_ENABLE;
    while (!(REG32(XOSC_STATUS) & XOSC_STATUS_STABLE)) {
    }
    /* clk_ref from the crystal, clk_sys from clk_ref while the PLL starts. */
    REG32(CLK_REF_DIV) = 1u << 8;
    REG32(CLK_REF_CTRL) = CLK_REF_SRC_XOSC;
    while (!(REG32(CLK_REF_SELECTED) & (1u << CLK_REF_SRC_XOSC))) {
    }
    REG_CLR(CLK_SYS_CTRL) = 1u; /* SRC = clk_ref */
    while (!(REG32(CLK_SYS_SELECTED) & 1u)) {
    }
    /* PLL_USB: 12 MHz / 1 x 100 = 1200 MHz VCO, / 5 / 5 = 48 MHz. */
    pll_start(PLL_USB_BASE, RESET_PLL_USB, 100u, 5u, 5u);
    /* clk_sys = PLL_USB (48 MHz). */
    REG32(CLK_SYS_DIV) = 1u << 8;
    sys_clock_from(CLK_SYS_AUXSRC_PLL_USB);
    /* clk_usb, clk_adc and clk_peri 48 MHz from PLL_USB, whatever clk_sys runs at (so the UART's
     * and the SPI's divisors hold at every system clock); clk_rtc = XOSC / 256. */
    REG32(CLK_USB_DIV) = 1u << 8;
    REG32(CLK_USB_CTRL) = CLK_CTRL_ENABLE | (CLK_USB_AUXSRC_PLL_USB << CLK_CTRL_AUXSRC_LSB);
    REG32(CLK_ADC_DIV) = 1u << 8;
    REG32(CLK_ADC_CTRL) = CLK_CTRL_ENABLE | (CLK_ADC_AUXSRC_PLL_USB << CLK_CTRL_AUXSRC_LSB);
    REG32(CLK_PERI_CTRL) = CLK_CTRL_ENABLE | (CLK_PERI_AUXSRC_PLL_USB << CLK_CTRL_AUXSRC_LSB);
    REG32(CLK_RTC_DIV) = 256u << 8;
    REG32(CLK_RTC_CTRL) = CLK_CTRL_ENABLE | (CLK_RTC_AUXSRC_XOSC << CLK_CTRL_AUXSRC_LSB);
    /* The timer counts microseconds from the watchdog tick: clk_ref / 12. */
    REG32(WATCHDOG_TICK) = (BOARD_XOSC_HZ / 1000000u) | WATCHDOG_TICK_ENABLE;
}

static void gpio_func(unsigned pin, unsigned func, uint32_t pad)
{
    REG32(PADS_GPIO(pin)) = pad;
    REG32(IO_GPIO_CTRL(pin)) = func;
}

static void uart_init(void)
{
    /* UART0 TX on GP0 (the Feather's TX pin), 115200 8N1 from clk_peri = 48 MHz:
     * 48e6 / (16 x 115200) = 26.04 -> IBRD 26, FBRD round(0.04 x 64) = 3. */
    const uint32_t base = 0x40034000u;
    REG32(base + 0x24u) = 26u;
    REG32(base + 0x28u) = 3u;
    REG32(base + 0x2cu) = (3u << 5) | (1u << 4); /* LCR_H: 8 bits, FIFOs on */
    REG32(base + 0x30u) = (1u << 0) | (1u << 8); /* CR: UARTEN, TXE */
    gpio_func(0, 2u /* UART */, PADS_DRIVE_4MA);
}

void rp2040_uart_puts(const char *s)
{
    const uint32_t base = 0x40034000u;
    for (; *s; s++) {
        for (unsigned spin = 0; (REG32(base + 0x18u) & (1u << 5)) && spin < 100000u; spin++) {
        }
        REG32(base) = (uint8_t)*s;
    }
}

void rp2040_hw_init(void)
{
    /* Take what we use out of reset. USBCTRL is released by the USB driver. */
    REG_SET(RESETS_RESET) = RESET_ADC | RESET_DMA | RESET_SPI0 | RESET_UART0 | RESET_TIMER | RESET_IO_BANK0 | RESET_PADS_BANK0;
    clocks_init();
    unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_TIMER | RESET_DMA | RESET_ADC | RESET_SPI0 | RESET_UART0);
    uart_init();

    /* LED: output, off. SD CS: output, high (deselected). */
    REG32(SIO_GPIO_OUT_CLR) = 1u << PIN_LED;
    REG32(SIO_GPIO_OUT_SET) = 1u << PIN_SD_CS;
    REG32(SIO_GPIO_OE_SET) = (1u << PIN_LED) | (1u << PIN_SD_CS);
    gpio_func(PIN_LED, GPIO_FUNC_SIO, PADS_DRIVE_4MA);
    gpio_func(PIN_SD_CS, GPIO_FUNC_SIO, PADS_DRIVE_4MA);
    /* Inputs need IE set explicitly (not every model resets it on). */
    gpio_func(PIN_BUTTON, GPIO_FUNC_SIO, PADS_IE | PADS_PUE | PADS_SCHMITT);
    gpio_func(PIN_SD_DETECT, GPIO_FUNC_SIO, PADS_IE | PADS_PUE | PADS_SCHMITT);
    /* SPI0 on GP18-20 */
    gpio_func(PIN_SD_SCK, GPIO_FUNC_SPI, PADS_DRIVE_4MA);
    gpio_func(PIN_SD_MOSI, GPIO_FUNC_SPI, PADS_DRIVE_4MA);
    gpio_func(PIN_SD_MISO, GPIO_FUNC_SPI, PADS_IE | PADS_PUE | PADS_SCHMITT);
    /* ADC pins: digital input off, no pulls [4.9.1] */
    gpio_func(PIN_MIC, GPIO_FUNC_NULL, PADS_OD);
    gpio_func(PIN_VBAT, GPIO_FUNC_NULL, PADS_OD);
}

uint64_t rp2040_time_us(void)
{
    /* TIMERAWH/L without latching: read high, low, high again until the high word is stable,
     * which is safe against interrupts (TIMELR/TIMEHR latching is not). */
    uint32_t hi = REG32(TIMER_TIMERAWH), lo, hi2;
    for (;;) {
        lo = REG32(TIMER_TIMERAWL);
        hi2 = REG32(TIMER_TIMERAWH);
        if (hi2 == hi) break;
        hi = hi2;
    }
    return ((uint64_t)hi << 32) | lo;
}

void rp2040_delay_us(uint32_t us)
{
    uint32_t start = REG32(TIMER_TIMERAWL);
    while (REG32(TIMER_TIMERAWL) - start < us) {
    }
}

static uint32_t g_watchdog_load;

void rp2040_watchdog_start(uint32_t timeout_ms)
{
    /* Erratum RP2040-E1: the counter decrements twice per tick, so load twice the time. */
    g_watchdog_load = timeout_ms * 1000u * 2u;
    REG32(WATCHDOG_LOAD) = g_watchdog_load;
    REG_SET(WATCHDOG_CTRL) = WATCHDOG_CTRL_ENABLE;
}

void rp2040_watchdog_feed(void)
{
    if (!g_watchdog_load) return;
    REG32(WATCHDOG_LOAD) = g_watchdog_load;
}

void rp2040_fatal(const char *msg)
{
    (void)rp2040_irq_disable();
    rp2040_uart_puts("fatal: ");
    rp2040_uart_puts(msg);
    rp2040_uart_puts("\r\n");
    REG32(WATCHDOG_SCRATCH(0)) = RP2040_SCRATCH_MAGIC;
    REG32(WATCHDOG_SCRATCH(1)) = RP2040_SCRATCH_FATAL;
    REG32(WATCHDOG_SCRATCH(2)) = (uint32_t)(uintptr_t)msg;
    REG32(WATCHDOG_CTRL) = WATCHDOG_CTRL_TRIGGER;
    for (;;) {
        __asm volatile("wfi");
    }
}
