/* port.h for the Adafruit Feather RP2040 Adalogger. */
#include <string.h>

#include "board_pins.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec/sd_spi.h"
#include "regs.h"
#include "rp2040.h"
#include "settings_area.h"

#define CLK_PERI_HZ 48000000u

/* ---- Time ---------------------------------------------------------------------------------- */

/* d / 1000 for d < 2^31 by a multiply and a shift (Granlund-Montgomery: 2^41 / 1000 rounded up
 * errs by 448 / 2^41 per unit, under 1/1000 for every d < 2^31, so the quotient is exact): the
 * main loop asks the time several times a turn, and the M0+'s library division is a loop. */
static inline uint32_t us_below_2p31_to_ms(uint32_t d)
{
    return (uint32_t)(((uint64_t)d * 2199023256u) >> 41);
}

/* Milliseconds from the microsecond timer with 32-bit arithmetic only (64-bit division is a slow
 * library call on the M0+): whole milliseconds are moved into a base every 2^31 us. Main loop
 * only (not reentrant). */
static uint64_t g_ms_base, g_us_base;

uint64_t port_uptime_ms(void)
{
    uint64_t us = rp2040_time_us();
    uint64_t d = us - g_us_base;
    if (d >= (1ull << 31)) {
        uint32_t whole = (uint32_t)(d >> 10) / 1000u * 1024u; /* ms, a multiple of 1024 */
        g_ms_base += whole;
        g_us_base += (uint64_t)whole * 1000u;
        d = us - g_us_base;
    }
    return g_ms_base + us_below_2p31_to_ms((uint32_t)d);
}

void port_delay_ms(uint32_t ms)
{
    rp2040_watchdog_feed();
    rp2040_delay_us(ms * 1000u);
}

/* The RP2040 RTC is not battery backed: the core's defaults (port_rtc_read/write unsupported)
 * apply, and the core keeps the wall clock from the host. */

uint32_t port_irq_save(void)
{
    return rp2040_irq_disable();
}

void port_irq_restore(uint32_t state)
{
    rp2040_irq_restore(state);
}

/* ---- SPI0 for the card --------------------------------------------------------------------- */

void port_spi_set_clock(uint32_t hz)
{
    /* bit rate = clk_peri / (CPSDVSR x (1 + SCR)), CPSDVSR even in 2..254 [4.4.3.4] */
    uint32_t best_cpsr = 254, best_scr = 255;
    for (uint32_t cpsr = 2; cpsr <= 254; cpsr += 2) {
        uint32_t scr1 = (CLK_PERI_HZ + cpsr * hz - 1u) / (cpsr * hz); /* 1 + SCR, rounded up */
        if (scr1 == 0) scr1 = 1;
        if (scr1 <= 256) {
            best_cpsr = cpsr;
            best_scr = scr1 - 1u;
            break;
        }
    }
    REG32(SPI_CR1) = 0;
    REG32(SPI_CPSR) = best_cpsr;
    REG32(SPI_CR0) = (best_scr << 8) | 7u; /* Motorola frame, mode 0, 8-bit */
    REG32(SPI_CR1) = SPI_CR1_SSE;
}

void port_spi_select(bool selected)
{
    if (selected)
        REG32(SIO_GPIO_OUT_CLR) = 1u << PIN_SD_CS;
    else
        REG32(SIO_GPIO_OUT_SET) = 1u << PIN_SD_CS;
}

void port_spi_transfer(const uint8_t *tx, uint8_t *rx, size_t n)
{
    /* Bursts of up to 8 bytes: fill the TX FIFO (8 deep), then collect as many from RX. The RX
     * FIFO is also 8 deep and empty at the start of each burst, so it cannot overflow. */
    while (n > 0) {
        size_t k = n < 8u ? n : 8u;
        if (tx) {
            for (size_t i = 0; i < k; i++) REG32(SPI_DR) = tx[i];
            tx += k;
        } else {
            for (size_t i = 0; i < k; i++) REG32(SPI_DR) = 0xffu;
        }
        for (size_t i = 0; i < k; i++) {
            while (!(REG32(SPI_SR) & SPI_SR_RNE)) {
            }
            uint8_t b = (uint8_t)REG32(SPI_DR);
            if (rx) *rx++ = b;
        }
        n -= k;
    }
    rp2040_watchdog_feed(); /* card traffic is progress: long recoveries do not trip the watchdog */
}

/* Background transfers for the card's data blocks (sd_spi.c checks the CRC16 of one block while
 * the next arrives): DMA channel 2 moves the received bytes out of SSPDR, channel 3 the bytes to
 * send (or one 0xFF again and again) into it, each paced by its SPI DREQ [2.5.3.1, 4.4.3.13];
 * channels 0 and 1 are the microphone's (mic_adc.c). RX has the higher priority, so it drains each
 * byte long before the TX FIFO's eight can overrun the RX FIFO. */
#define DMA_SPI_RX 2u
#define DMA_SPI_TX 3u
#define SPI_DMA_MIN_BYTES 16u        /* fewer go through the FIFO loop: cheaper than the set-up */
#define SPI_DMA_TIMEOUT_US 100000u   /* 512 bytes take 10 ms at the 400 kHz of start-up */

static const uint8_t g_spi_ff = 0xFFu;
static uint8_t g_spi_discard;

static uint32_t spi_dma_ctrl(uint32_t ch, uint32_t dreq, uint32_t incr)
{
    return DMA_CTRL_EN | incr | (ch << DMA_CTRL_CHAIN_TO_LSB) | (dreq << DMA_CTRL_TREQ_LSB) | DMA_CTRL_IRQ_QUIET;
}

bool port_spi_start(const uint8_t *tx, uint8_t *rx, size_t n)
{
    if (n < SPI_DMA_MIN_BYTES) return false;
    REG32(SPI_DMACR) = SPI_DMACR_RXDMAE | SPI_DMACR_TXDMAE;
    REG32(DMA_READ_ADDR(DMA_SPI_RX)) = SPI_DR;
    REG32(DMA_WRITE_ADDR(DMA_SPI_RX)) = (uint32_t)(uintptr_t)(rx ? rx : &g_spi_discard);
    REG32(DMA_TRANS_COUNT(DMA_SPI_RX)) = (uint32_t)n;
    REG32(DMA_READ_ADDR(DMA_SPI_TX)) = (uint32_t)(uintptr_t)(tx ? tx : &g_spi_ff);
    REG32(DMA_WRITE_ADDR(DMA_SPI_TX)) = SPI_DR;
    REG32(DMA_TRANS_COUNT(DMA_SPI_TX)) = (uint32_t)n;
    /* RX armed first: it waits for its DREQ; TX then starts the bytes moving. */
    REG32(DMA_CTRL_TRIG(DMA_SPI_RX)) =
        spi_dma_ctrl(DMA_SPI_RX, DREQ_SPI0_RX, DMA_CTRL_HIGH_PRIORITY | (rx ? DMA_CTRL_INCR_WRITE : 0u));
    REG32(DMA_CTRL_TRIG(DMA_SPI_TX)) = spi_dma_ctrl(DMA_SPI_TX, DREQ_SPI0_TX, tx ? DMA_CTRL_INCR_READ : 0u);
    return true;
}

int port_spi_finish(void)
{
    /* Every byte sent is received, so the RX channel ends last. */
    uint64_t start = rp2040_time_us();
    int err = REC_OK;
    while (REG32(DMA_CTRL_TRIG(DMA_SPI_RX)) & DMA_CTRL_BUSY) {
        if (rp2040_time_us() - start < SPI_DMA_TIMEOUT_US) continue;
        const uint32_t both = (1u << DMA_SPI_RX) | (1u << DMA_SPI_TX);
        REG32(DMA_CHAN_ABORT) = both;
        for (unsigned spin = 0; spin < 10000u && (REG32(DMA_CHAN_ABORT) & both); spin++) {
        }
        /* The bytes still in the FIFOs shift out; what they bring back the FIFO loop must not see. */
        for (unsigned spin = 0; spin < 10000u && (REG32(SPI_SR) & (SPI_SR_BSY | SPI_SR_RNE)); spin++)
            if (REG32(SPI_SR) & SPI_SR_RNE) (void)REG32(SPI_DR);
        err = REC_E_TIMEOUT;
        break;
    }
    REG32(SPI_DMACR) = 0;
    rp2040_watchdog_feed();
    return err;
}

/* ---- The card and the settings area -------------------------------------------------------- */

static rec_sd_t g_sd;
static rec_bd_t g_raw;   /* the whole card */
static rec_bd_t g_shown; /* what the core sees: the card less the settings tail, when hidden */
static bool g_open;
static rp2040_settings_area_t g_area;
static bool g_area_ok;
static volatile bool g_block0_written;
static uint8_t g_block[512] __attribute__((aligned(4)));

bool port_card_present(void)
{
    return ((REG32(SIO_GPIO_IN) >> PIN_SD_DETECT) & 1u) == SD_DETECT_PRESENT_LEVEL;
}

static int shown_write(void *ctx, uint32_t lba, const void *buf, uint32_t count)
{
    if (lba == 0) g_block0_written = true; /* a format: the settings may have to move */
    return g_raw.write(ctx, lba, buf, count);
}

static void locate_area(bool allow_hide)
{
    g_area_ok = rec_bd_read(&g_raw, 0, g_block, 1) == REC_OK &&
                rp2040_settings_area(g_block, g_raw.block_count, allow_hide, &g_area) == 0;
}

const rec_bd_t *port_card_open(int *err)
{
    if (g_open) return &g_shown;
    if (!port_card_present()) {
        *err = REC_E_NOCARD;
        return NULL;
    }
    int e = rec_sd_init(&g_sd, &g_raw);
    if (e != REC_OK) {
        *err = e;
        return NULL;
    }
    locate_area(true);
    g_shown = g_raw;
    g_shown.write = shown_write;
    if (g_area_ok && g_area.hide_tail) g_shown.block_count = g_raw.block_count - RP2040_SETTINGS_TAIL_BLOCKS;
    g_open = true;
    g_block0_written = false;
    *err = REC_OK;
    return &g_shown;
}

void port_card_close(void)
{
    g_open = false;
    g_area_ok = false;
}

static uint32_t g_seq;           /* sequence number of the newest copy on the card */
static int g_newest = -1;        /* which copy that is */
static uint8_t g_cache[RP2040_SETTINGS_MAX_BLOB];
static size_t g_cache_len;

int port_settings_load(void *buf, size_t len)
{
    int err;
    if (!port_card_open(&err)) return err == REC_E_NOCARD ? REC_E_NOENT : err;
    if (!g_area_ok) return REC_E_NOENT;
    int found = 0, corrupt = 0;
    uint8_t blob[RP2040_SETTINGS_MAX_BLOB];
    for (int i = 0; i < 2; i++) {
        uint32_t seq;
        if (rec_bd_read(&g_raw, g_area.lba[i], g_block, 1) != REC_OK) {
            corrupt++;
            continue;
        }
        int r = rp2040_settings_decode(g_block, &seq, blob, sizeof blob);
        if (r < 0) corrupt++;
        if (r == 1 && (!found || (int32_t)(seq - g_seq) > 0)) {
            found = 1;
            g_seq = seq;
            g_newest = i;
            size_t n = len < sizeof blob ? len : sizeof blob;
            memcpy(buf, blob, n);
            if (len > n) memset((uint8_t *)buf + n, 0, len - n);
            memcpy(g_cache, blob, n);
            g_cache_len = n;
        }
    }
    if (found) return REC_OK;
    return corrupt ? REC_E_CORRUPT : REC_E_NOENT;
}

int port_settings_save(const void *buf, size_t len)
{
    if (len > RP2040_SETTINGS_MAX_BLOB) return REC_E_INVAL;
    memcpy(g_cache, buf, len);
    g_cache_len = len;
    int err;
    if (!port_card_open(&err)) return err;
    if (g_block0_written) {
        g_block0_written = false;
        locate_area(false);
        g_newest = -1;
    }
    if (!g_area_ok) return REC_E_UNSUPPORTED;
    int slot = g_newest < 0 ? 0 : 1 - g_newest; /* overwrite the older copy */
    rp2040_settings_encode(g_block, g_seq + 1u, buf, len);
    err = rec_bd_write(&g_raw, g_area.lba[slot], g_block, 1);
    if (err == REC_OK) err = rec_bd_sync(&g_raw);
    if (err != REC_OK) return err;
    g_seq++;
    g_newest = slot;
    return REC_OK;
}

/* Called from the main loop: after a format (block 0 rewritten) put the settings back. */
void rp2040_settings_after_format(void);
void rp2040_settings_after_format(void)
{
    if (!g_block0_written || !g_open || g_cache_len == 0) return;
    (void)port_settings_save(g_cache, g_cache_len);
}

/* ---- Identity ------------------------------------------------------------------------------ */

/* port_unique_id: the flash chip's unique id (nvm_rp2040.c). */

/* ---- Button, LED, battery ------------------------------------------------------------------ */

/* The button's debounced edges, classified by the core (rec/button.h): the interrupt feeds the
 * edges, the takes report holds while the button is still down, each under the interrupt lock. */
static rec_button_t g_button;
static volatile bool g_down;
static volatile uint64_t g_down_us;
#define PRESS_MIN_US (REC_BUTTON_BOUNCE_MS * 1000u) /* shorter lows are contact bounce */

void rp2040_isr_io_bank0(void)
{
    uint32_t st = REG32(IO_PROC0_INTS(PIN_BUTTON)) & (IO_INT_EDGE_LOW(PIN_BUTTON) | IO_INT_EDGE_HIGH(PIN_BUTTON));
    REG32(IO_INTR(PIN_BUTTON)) = st; /* edge bits are write-one-to-clear */
    uint64_t now = rp2040_time_us();
    bool pressed = ((REG32(SIO_GPIO_IN) >> PIN_BUTTON) & 1u) == 0;
    if (pressed && !g_down) {
        g_down = true;
        g_down_us = now;
        rec_button_edge(&g_button, true, now / 1000u);
    } else if (!pressed && g_down) {
        g_down = false;
        /* A bounce shorter than the classifier's millisecond could read as 0 ms: below
         * PRESS_MIN_US it is dropped here, in microseconds. */
        uint64_t up_ms = now - g_down_us < PRESS_MIN_US ? g_down_us / 1000u : now / 1000u;
        rec_button_edge(&g_button, false, up_ms);
    }
    rp2040_event = true;
}

static void button_init(void)
{
    REG32(IO_INTR(PIN_BUTTON)) = IO_INT_EDGE_LOW(PIN_BUTTON) | IO_INT_EDGE_HIGH(PIN_BUTTON);
    REG_SET(IO_PROC0_INTE(PIN_BUTTON)) = IO_INT_EDGE_LOW(PIN_BUTTON) | IO_INT_EDGE_HIGH(PIN_BUTTON);
    rp2040_nvic_enable(IRQ_IO_BANK0);
}

static bool take(rec_gesture_t g)
{
    uint32_t s = rp2040_irq_disable(); /* against the edge interrupt */
    /* port_uptime_ms is the interrupt's now / 1000 exactly, without its 64-bit division: this
     * runs twice a turn of the main loop. */
    rec_button_tick(&g_button, port_uptime_ms());
    bool got = rec_button_take(&g_button, g);
    rp2040_irq_restore(s);
    return got;
}

bool port_button_take_press(void)
{
    return take(REC_GESTURE_PRESS);
}

bool port_button_take_hold(void)
{
    return take(REC_GESTURE_HOLD);
}

bool port_button_take_long_hold(void)
{
    return take(REC_GESTURE_LONG_HOLD);
}

void port_led_set(bool on)
{
    REG32(on ? SIO_GPIO_OUT_SET : SIO_GPIO_OUT_CLR) = 1u << PIN_LED;
}

/* Dim without PWM: the output driver off and the pad's pull-up on (50 to 80 kOhm, RP2040
 * datasheet, GPIO pads), so some 20 to 30 uA flow through the LED and its resistor instead of
 * milliamperes: a glow seen from close by, not across a room (docs/firmware.md, LED). */
void port_led_dim(bool on)
{
    if (on) {
        REG32(SIO_GPIO_OE_CLR) = 1u << PIN_LED;
        REG32(PADS_GPIO(PIN_LED)) = PADS_DRIVE_4MA | PADS_PUE;
    } else {
        REG32(PADS_GPIO(PIN_LED)) = PADS_DRIVE_4MA;
        REG32(SIO_GPIO_OE_SET) = 1u << PIN_LED;
    }
}

static uint16_t g_battery_mv;

uint16_t port_battery_mv(void)
{
    /* ADC3 (3.3 V full scale, 12 bits, 1:2 divider): one conversion between recordings; while
     * the microphone runs, the average of the last block's battery conversions, which the ADC
     * interleaves with the microphone's (mic_adc.c). Before its first block the last value stands. */
    bool mic_on = rp2040_mic_running();
    uint16_t raw = mic_on ? rp2040_mic_battery_raw() : rp2040_adc_read_once(VBAT_ADC_CHANNEL);
    if (!mic_on || raw != 0) g_battery_mv = (uint16_t)((uint32_t)raw * 3300u * VBAT_DIVIDER_RATIO / 4095u);
    return g_battery_mv;
}

/* ---- Microphone, serial link --------------------------------------------------------------- */

/* What recording costs with everything on (ADC capture, SHA-256, checkpoint signing, encryption,
 * card writes), in cycles per sample: 720 the core executes, measured on rp2040js at 16 and 48 kHz
 * (docs/benchmarks.md, "The recording budget"; `npm run bench -- --only rp2040budget`), plus the
 * SPI wire time the polled driver waits out (0.73 us a sample at 24 MHz: about 60 cycles at the
 * 80 MHz of 48 kHz) and the signatures (1.4). The clock while recording keeps twice that, so a
 * card stall's backlog drains at least as fast as audio comes (issue 17): 48 MHz up to 16 kHz,
 * 64 MHz at 32 kHz, 80 MHz at 48 kHz. */
#define RECORD_CYCLES_PER_SAMPLE 780u
#define RECORD_CLOCK_MARGIN 2u

int port_mic_start(uint32_t sample_rate, port_mic_block_fn on_block)
{
    (void)rp2040_sys_clock_set(sample_rate * RECORD_CYCLES_PER_SAMPLE * RECORD_CLOCK_MARGIN);
    int err = rp2040_mic_start(sample_rate, on_block);
    if (err) (void)rp2040_sys_clock_set(0);
    return err;
}

void port_mic_stop(void)
{
    rp2040_mic_stop();
    (void)rp2040_sys_clock_set(0); /* back to 48 MHz from PLL_USB, the system PLL off */
}

size_t port_serial_read(uint8_t *buf, size_t max)
{
    return rp2040_usb_read(buf, max);
}

size_t port_serial_write(const uint8_t *buf, size_t len)
{
    return rp2040_usb_write(buf, len);
}

bool port_serial_connected(void)
{
    return rp2040_usb_connected();
}

/* ---- Sleep --------------------------------------------------------------------------------- */

void rp2040_isr_timer0(void)
{
    REG32(TIMER_INTR) = 1u;
    rp2040_event = true;
}

void port_sleep_until_event(uint32_t max_ms)
{
    if (max_ms == 0) return;
    REG32(TIMER_INTR) = 1u;
    REG32(TIMER_ALARM0) = REG32(TIMER_TIMERAWL) + max_ms * 1000u;
    /* Interrupts off between the check and WFI: an interrupt that arrives in between still
     * ends the WFI (it is pending), and is taken once they are back on. */
    uint32_t s = rp2040_irq_disable();
    if (!rp2040_event) __asm volatile("wfi");
    rp2040_event = false;
    rp2040_irq_restore(s);
}

/* ---- Diagnostics --------------------------------------------------------------------------- */

void port_log(const char *msg)
{
    rp2040_uart_puts(msg);
    rp2040_uart_puts("\r\n");
}

const port_info_t *port_info(void)
{
    static port_info_t info = {
        .model = "ER-1 RP2040",
        .simulated = false,
        .audio_ring_bytes = REC_AUDIO_RING_BYTES,
    };
    /* No boot ROM, or the test harness's synthetic one (version 0), means an emulator
     * (rp2040js): say so, as the simulator does. */
    info.simulated = rp2040_bootrom_version() < 1;
    return &info;
}

void rp2040_port_init(void);
void rp2040_port_init(void)
{
    REG32(TIMER_INTE) = 1u;
    rp2040_nvic_enable(IRQ_TIMER0);
    button_init();
}
