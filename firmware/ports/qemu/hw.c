/* The QEMU port's hardware: system clock, SysTick uptime, critical sections, sleep, the UART0
 * protocol link (interrupt-driven receive into a ring), the SSI0 SPI bus and the SD card's chip
 * select, the microphone (general-purpose timer 0 interrupt delivering the ramp), LED, battery,
 * clock. Everything port.h asks for except the card and the settings (card.c) and the log
 * (console.c). */
#include <string.h>

#include "lm3s6965.h"
#include "qemu_internal.h"
#include "rec/err.h"
#include "rec/port.h"
#include "semihost.h"

void SysTick_Handler(void);
void UART0_Handler(void);
void TIMER0A_Handler(void);
void TIMER1A_Handler(void);
void UART1_Handler(void);

static volatile bool g_event;

/* ---- Critical sections: PRIMASK ------------------------------------------------------------ */

uint32_t port_irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

void port_irq_restore(uint32_t state)
{
    __asm__ volatile("msr primask, %0" ::"r"(state) : "memory");
}

/* ---- Clock and time ------------------------------------------------------------------------ */
/* Uptime is SysTick's count of processor clocks: the 24-bit counter runs through its whole range
 * (335 ms at 50 MHz) and the interrupt counts the wraps. Time is read from the counter, not
 * from how many interrupts arrived: under QEMU, when the host is busy, two expiries of a timer
 * can be delivered as one interrupt, so counting interrupts loses time (a 1 ms tick counted by
 * its interrupt lost 5% here). A wrap is only lost if its interrupt waits over 335 ms. */

#define SYSTICK_RANGE (1u << 24)
#define ICSR REG32(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

static volatile uint32_t g_wraps;

void SysTick_Handler(void)
{
    g_wraps++;
}

/* Processor clocks since boot. */
static uint64_t clocks_now(void)
{
    uint32_t s = port_irq_save();
    uint32_t w = g_wraps;
    uint32_t v = SYST_CVR;
    if (ICSR & ICSR_PENDSTSET) { /* wrapped, not yet counted: the value may be either side */
        v = SYST_CVR;
        w++;
    }
    port_irq_restore(s);
    return (uint64_t)w * SYSTICK_RANGE + (SYSTICK_RANGE - 1u - v);
}

uint64_t port_uptime_ms(void)
{
    return clocks_now() / (QEMU_SYSCLK_HZ / 1000u);
}

/* Timer 1A, one-shot: wakes the processor from WFI when a sleep or delay is over. */
#define TIMER1_BASE 0x40031000u
#define T1_CTL REG32(TIMER1_BASE + 0x00Cu)
#define T1_IMR REG32(TIMER1_BASE + 0x018u)
#define T1_ICR REG32(TIMER1_BASE + 0x024u)
#define T1_TAILR REG32(TIMER1_BASE + 0x028u)

void TIMER1A_Handler(void)
{
    T1_ICR = TIMER_INT_TATO;
}

static void wake_after_ms(uint64_t ms)
{
    if (ms > 60000u) ms = 60000u;
    T1_CTL = 0;
    T1_TAILR = (uint32_t)ms * (QEMU_SYSCLK_HZ / 1000u) + 1u;
    T1_CTL = TIMER_CTL_TAEN;
}

static void clock_init(void)
{
    /* The EVB's 8 MHz crystal through the PLL (200 MHz) divided by 4: 50 MHz. Bypass the PLL
     * while changing it, wait (bounded) for lock, then switch over. QEMU derives the clock from
     * SYSDIV alone and reports lock as soon as the PLL is powered up. */
    uint32_t rcc = SYSCTL_RCC;
    rcc = (rcc | RCC_BYPASS) & ~RCC_USESYSDIV;
    SYSCTL_RCC = rcc;
    rcc &= ~(RCC_XTAL_MASK | RCC_OSCSRC_MASK | RCC_PWRDN | RCC_MOSCDIS | RCC_SYSDIV_MASK);
    rcc |= RCC_XTAL_8MHZ | RCC_SYSDIV(3) | RCC_USESYSDIV;
    SYSCTL_RCC = rcc;
    for (uint32_t i = 0; i < 1000000u && !(SYSCTL_RIS & SYSCTL_RIS_PLLLRIS); i++) {
    }
    SYSCTL_RCC = rcc & ~RCC_BYPASS;

    SYST_RVR = SYSTICK_RANGE - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt, enable */

    REG32(TIMER1_BASE + 0x000u) = 0;                   /* 32-bit */
    REG32(TIMER1_BASE + 0x004u) = 0x1u;                /* one-shot */
    T1_ICR = TIMER_INT_TATO;
    T1_IMR = TIMER_INT_TATO;
    nvic_enable(IRQ_TIMER1A);
}

/* Waits for an interrupt, at most until `end_ms`; true when one of ours signalled an event. */
static bool wait_event(uint64_t end_ms, bool take_events)
{
    uint64_t now = port_uptime_ms();
    if (now >= end_ms) return false;
    wake_after_ms(end_ms - now);
    __asm__ volatile("cpsid i" ::: "memory");
    bool ev = take_events && g_event;
    if (!ev) __asm__ volatile("wfi"); /* wakes on a pending interrupt even while masked */
    if (take_events) {
        ev = g_event;
        g_event = false;
    }
    __asm__ volatile("cpsie i" ::: "memory");
    return ev;
}

void port_delay_ms(uint32_t ms)
{
    uint64_t end = port_uptime_ms() + ms + 1u; /* at least ms whole milliseconds */
    while (port_uptime_ms() < end) (void)wait_event(end, false);
}

/* No battery-backed clock: the core's defaults (port_rtc_read/write unsupported) apply. */

void port_sleep_until_event(uint32_t max_ms)
{
    /* The console is polled (its input only wakes the processor), so look at it first. */
    uint64_t end = port_uptime_ms() + max_ms;
    while (!console_poll() && port_uptime_ms() < end) {
        if (wait_event(end, true)) break;
    }
}

void hw_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_RESET;
    for (;;) {
    }
}

void hw_exit(uint32_t status)
{
    /* SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit and the status. */
    const uint32_t block[2] = {0x20026u, status};
    (void)semihost_call(SEMIHOST_SYS_EXIT_EXTENDED, block);
    hw_reset();
}

/* ---- Serial link: UART0 -------------------------------------------------------------------- */
/* Receive: the interrupt moves bytes from the FIFO into a ring, so nothing is lost while the main
 * loop is busy writing the card. When the ring is full the interrupt is masked and the bytes stay
 * in the FIFO (and, under QEMU, in the pseudo-terminal: QEMU accepts no more than the FIFO holds),
 * until port_serial_read makes room. Transmit: straight into the FIFO while it has room. */

#define RX_RING 1024u /* power of two */
static uint8_t g_rx[RX_RING];
static volatile uint32_t g_rx_head, g_rx_tail; /* head: ISR; tail: main loop */

#define UART_RX_INTS (UART_INT_RX | UART_INT_RT)

void UART0_Handler(void)
{
    while (!(UART_FR(UART0_BASE) & UART_FR_RXFE)) {
        uint32_t head = g_rx_head;
        if (head - g_rx_tail >= RX_RING) {
            UART_IM(UART0_BASE) &= ~UART_RX_INTS; /* full: leave the rest in the FIFO */
            break;
        }
        g_rx[head % RX_RING] = (uint8_t)UART_DR(UART0_BASE);
        __asm__ volatile("dmb" ::: "memory");
        g_rx_head = head + 1u;
    }
    UART_ICR(UART0_BASE) = UART_RX_INTS;
    g_event = true;
}

void hw_uart_init(uint32_t base)
{
    UART_CTL(base) = 0;
    /* 115200 baud at 50 MHz: 50e6 / (16 x 115200) = 27.126 -> 27 + 8/64 (QEMU ignores it). */
    UART_IBRD(base) = 27u;
    UART_FBRD(base) = 8u;
    UART_LCRH(base) = UART_LCRH_WLEN8 | UART_LCRH_FEN;
    UART_IFLS(base) = 0; /* interrupt at 1/8 full; the receive timeout covers the rest */
    UART_CTL(base) = UART_CTL_UARTEN | UART_CTL_TXE | UART_CTL_RXE;
}

size_t port_serial_read(uint8_t *buf, size_t max)
{
    size_t n = 0;
    uint32_t tail = g_rx_tail;
    uint32_t head = g_rx_head;
    __asm__ volatile("dmb" ::: "memory");
    while (n < max && tail != head) buf[n++] = g_rx[tail++ % RX_RING];
    g_rx_tail = tail;
    if (n > 0 && !(UART_IM(UART0_BASE) & UART_INT_RX)) {
        /* Room again: unmask; a pending FIFO raises the interrupt at once. */
        uint32_t s = port_irq_save();
        UART_IM(UART0_BASE) |= UART_RX_INTS;
        port_irq_restore(s);
        nvic_pend(IRQ_UART0); /* drain what waited in the FIFO, in interrupt context */
    }
    return n;
}

size_t port_serial_write(const uint8_t *buf, size_t len)
{
    size_t n = 0;
    while (n < len && !(UART_FR(UART0_BASE) & UART_FR_TXFF)) UART_DR(UART0_BASE) = buf[n++];
    return n;
}

bool port_serial_connected(void)
{
    return true; /* a UART has no notion of a host being attached */
}

/* The console (UART1) is read by console_poll in the main loop; its receive interrupt only wakes
 * the processor. */
void UART1_Handler(void)
{
    UART_ICR(UART1_BASE) = UART_RX_INTS;
    g_event = true;
}

/* ---- SPI: SSI0, chip select on GPIO D0 (active low) ---------------------------------------- */

#define SD_CS_PIN (1u << 0)
/* Bound on polling the SSI status: it never stalls on real hardware or QEMU, but a hang must be
 * impossible; the SD driver's timeouts then report the card as unresponsive. */
#define SSI_MAX_POLLS 100000u

static void spi_wait_idle(void)
{
    for (uint32_t i = 0; i < SSI_MAX_POLLS && (SSI_SR & SSI_SR_BSY); i++) {
    }
}

void port_spi_set_clock(uint32_t hz)
{
    /* SSIClk = SysClk / (CPSDVSR x (1 + SCR)); CPSDVSR = 2, SCR chosen so SSIClk <= hz. */
    if (hz == 0) hz = 1;
    uint32_t div = (QEMU_SYSCLK_HZ / 2u + hz - 1u) / hz; /* 1 + SCR */
    if (div < 1u) div = 1u;
    if (div > 256u) div = 256u;
    spi_wait_idle();
    SSI_CR1 = 0;
    SSI_CPSR = 2u;
    SSI_CR0 = ((div - 1u) << 8) | SSI_CR0_DSS8; /* SPI mode 0, 8-bit frames */
    SSI_CR1 = SSI_CR1_SSE;
}

void port_spi_select(bool selected)
{
    spi_wait_idle();
    GPIO_DATA_MASKED(GPIOD_BASE, SD_CS_PIN) = selected ? 0u : SD_CS_PIN;
}

void port_spi_transfer(const uint8_t *tx, uint8_t *rx, size_t n)
{
    /* Keep up to 8 frames in flight (the FIFO depth), reading as they arrive. */
    size_t sent = 0, got = 0;
    uint32_t idle = 0;
    while (got < n) {
        bool progress = false;
        if (sent < n && sent - got < 8u && (SSI_SR & SSI_SR_TNF)) {
            SSI_DR = tx ? tx[sent] : 0xFFu;
            sent++;
            progress = true;
        }
        if (SSI_SR & SSI_SR_RNE) {
            uint8_t b = (uint8_t)SSI_DR;
            if (rx) rx[got] = b;
            got++;
            progress = true;
        }
        if (progress) {
            idle = 0;
        } else if (++idle > SSI_MAX_POLLS) {
            if (rx) memset(rx + got, 0xFF, n - got); /* as if nothing answered */
            return;
        }
    }
}

static void spi_init(void)
{
    /* A2 (clock), A4 (receive), A5 (transmit) to the SSI; A3 (frame) stays a GPIO so the OLED on
     * the same bus is never selected by the SSI. D0: SD chip select, output, high (deselected). */
    GPIO_AFSEL(GPIOA_BASE) |= (1u << 2) | (1u << 4) | (1u << 5);
    GPIO_DEN(GPIOA_BASE) |= (1u << 2) | (1u << 4) | (1u << 5);
    GPIO_DATA_MASKED(GPIOD_BASE, SD_CS_PIN) = SD_CS_PIN;
    GPIO_DIR(GPIOD_BASE) |= SD_CS_PIN;
    GPIO_DEN(GPIOD_BASE) |= SD_CS_PIN;
    port_spi_set_clock(400000u);
}

/* ---- Microphone: the ramp, by timer 0A ------------------------------------------------------ */
/* Sample n of each recording is (int16_t)(n mod 65536), counting from 0 at each port_mic_start,
 * as the simulator's `ramp` source: any lost, repeated or reordered sample is visible on the
 * card. The sample clock is the processor clock (clocks_now): at each timer interrupt (one per
 * QEMU_MIC_BLOCK samples) the ISR delivers every whole block that has come due since the start,
 * so the count of samples always matches the time elapsed, also when QEMU delivers two timer
 * expiries as one interrupt or late. A real board's ADC/I2S with DMA would do the same job. */

#define MIC_MAX_BLOCKS_PER_IRQ 64u /* bounds the ISR after a long stall; the rest come next time */

static port_mic_block_fn g_mic_cb;
static uint32_t g_mic_rate;
static uint64_t g_mic_t0;   /* clocks_now() at start */
static uint64_t g_mic_sent; /* samples delivered */
static int16_t g_mic_block[QEMU_MIC_BLOCK];

void TIMER0A_Handler(void)
{
    TIMER_ICR = TIMER_INT_TATO;
    port_mic_block_fn cb = g_mic_cb;
    if (!cb) return;
    uint64_t due = (clocks_now() - g_mic_t0) * g_mic_rate / QEMU_SYSCLK_HZ;
    for (uint32_t k = 0; k < MIC_MAX_BLOCKS_PER_IRQ && g_mic_sent + QEMU_MIC_BLOCK <= due; k++) {
        uint32_t n = (uint32_t)g_mic_sent;
        for (uint32_t i = 0; i < QEMU_MIC_BLOCK; i++) g_mic_block[i] = (int16_t)(uint16_t)(n + i);
        g_mic_sent += QEMU_MIC_BLOCK;
        cb(g_mic_block, QEMU_MIC_BLOCK);
        g_event = true;
    }
}

int port_mic_start(uint32_t sample_rate, port_mic_block_fn on_block)
{
    if (sample_rate == 0 || !on_block) return REC_E_INVAL;
    uint64_t clocks = (uint64_t)QEMU_SYSCLK_HZ * QEMU_MIC_BLOCK / sample_rate;
    if (clocks < 1000u || clocks > UINT32_MAX) return REC_E_UNSUPPORTED;
    TIMER_CTL = 0;
    TIMER_IMR = 0;
    g_mic_rate = sample_rate;
    g_mic_sent = 0;
    g_mic_cb = on_block;
    TIMER_CFG = 0; /* 32-bit */
    TIMER_TAMR = TIMER_TAMR_PERIODIC;
    TIMER_TAILR = (uint32_t)clocks;
    TIMER_ICR = TIMER_INT_TATO;
    TIMER_IMR = TIMER_INT_TATO;
    nvic_enable(IRQ_TIMER0A);
    g_mic_t0 = clocks_now();
    TIMER_CTL = TIMER_CTL_TAEN;
    console_write("mic on rate=");
    console_write_u32(sample_rate);
    console_write("\n");
    return REC_OK;
}

void port_mic_stop(void)
{
    TIMER_CTL = 0;
    TIMER_IMR = 0;
    TIMER_ICR = TIMER_INT_TATO;
    nvic_disable(IRQ_TIMER0A);
    bool was_on = g_mic_cb != NULL;
    g_mic_cb = NULL;
    if (was_on) console_line("mic off");
}

/* ---- LED (PF0, the EVB's status LED), battery ---------------------------------------------- */

void port_led_set(bool on)
{
    GPIO_DATA_MASKED(GPIOF_BASE, 1u) = on ? 1u : 0u;
}

uint16_t port_battery_mv(void)
{
    return 0; /* not measured: the core then never stops for a low battery */
}

/* ---- Init ----------------------------------------------------------------------------------- */

void hw_init(void)
{
    SYSCTL_RCGC1 |= RCGC1_UART0 | RCGC1_UART1 | RCGC1_SSI0 | RCGC1_TIMER0 | RCGC1_TIMER1;
    SYSCTL_RCGC2 |= RCGC2_GPIOA | RCGC2_GPIOD | RCGC2_GPIOF;
    clock_init();
    /* Priorities: microphone timer first (samples must not wait), then the link, SysTick (the
     * clock's wrap count), and the wake-up interrupts last. */
    NVIC_IPR_BYTE(IRQ_TIMER0A) = 0x20;
    NVIC_IPR_BYTE(IRQ_UART0) = 0x40;
    SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu) | (0x60u << 24);
    NVIC_IPR_BYTE(IRQ_UART1) = 0x80;
    NVIC_IPR_BYTE(IRQ_TIMER1A) = 0x80;
    GPIO_DIR(GPIOF_BASE) |= 1u;
    GPIO_DEN(GPIOF_BASE) |= 1u;
    hw_uart_init(UART0_BASE);
    UART_IM(UART0_BASE) = UART_RX_INTS;
    nvic_enable(IRQ_UART0);
    console_init();
    UART_IM(UART1_BASE) = UART_RX_INTS;
    nvic_enable(IRQ_UART1);
    spi_init();
}
