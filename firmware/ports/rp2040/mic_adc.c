/* Microphone: MAX9814 (electret with AGC) into ADC0, and the battery on ADC3, converted in
 * round-robin (ADC0, ADC3, ADC0, ...) free-running at twice the sample rate, moved by two DMA
 * channels in ping-pong into blocks of MIC_BLOCK pairs [ADC 4.9.2.2, 4.9.2.3; DMA 2.5].
 * Each channel chains to the other; when one finishes, its interrupt converts the block's
 * microphone halves to signed 16-bit PCM (12-bit unsigned, mid-scale 2048, shifted up by 4) and
 * hands them to the core, averages its battery halves into the latest battery reading, then
 * points the channel back at its buffer for its next turn. The ADC's own interrupt is not used:
 * DMA keeps the CPU out of the conversion path. Why round-robin: docs/rp2040.md, "Battery while
 * recording". */
#include "board_pins.h"
#include "rec/err.h"
#include "regs.h"
#include "rp2040.h"

#define MIC_BLOCK 256u /* 16 ms at 16 kHz */
#define ADC_CLOCK_HZ 48000000u
#define CONVERSIONS_PER_SAMPLE 2u /* the microphone's, then the battery's */

/* Conversion 2k of a block is microphone sample k, conversion 2k + 1 the battery: each block
 * is a whole number of pairs and the FIFO never overflows (DMA empties it within cycles, it holds
 * four conversions), so the pairing set at start holds for the whole recording. */
static uint16_t g_buf[2][MIC_BLOCK * CONVERSIONS_PER_SAMPLE] __attribute__((aligned(4)));
static volatile uint16_t g_battery_raw; /* the last block's battery average, 12 bits; 0: none yet */
static void (*g_on_block)(const int16_t *, size_t);
static volatile bool g_running;
static unsigned g_next; /* channel expected to finish next */
uint32_t rp2040_mic_dma_overruns;

static void adc_idle(void)
{
    REG_CLR(ADC_CS) = ADC_CS_START_MANY;
    for (unsigned spin = 0; spin < 10000u && !(REG32(ADC_CS) & ADC_CS_READY); spin++) {
    }
}

static void fifo_drain(void)
{
    for (unsigned i = 0; i < 8u && !(REG32(ADC_FCS) & ADC_FCS_EMPTY); i++) (void)REG32(ADC_FIFO);
    REG32(ADC_FCS) = REG32(ADC_FCS) | ADC_FCS_OVER | ADC_FCS_UNDER; /* write-one-to-clear */
}

static uint32_t dma_ctrl(unsigned chain_to)
{
    return DMA_CTRL_EN | DMA_CTRL_SIZE_HALFWORD | DMA_CTRL_INCR_WRITE | (chain_to << DMA_CTRL_CHAIN_TO_LSB) |
           (DREQ_ADC << DMA_CTRL_TREQ_LSB);
}

int rp2040_mic_start(uint32_t rate, void (*on_block)(const int16_t *, size_t))
{
    if (rate < 1000u || rate > 96000u || !on_block) return REC_E_INVAL;
    if (g_running) rp2040_mic_stop();
    g_on_block = on_block;
    adc_idle();
    /* Conversion period = (1 + DIV) cycles of clk_adc, DIV with 8 fractional bits; two
     * conversions (microphone, battery) per sample. */
    uint32_t conversions = rate * CONVERSIONS_PER_SAMPLE;
    uint32_t period_x256 = (uint32_t)(((uint64_t)ADC_CLOCK_HZ * 256u + conversions / 2u) / conversions);
    REG32(ADC_DIV) = period_x256 - 256u;
    /* Round-robin starts at AINSEL (the microphone) and alternates with the battery. */
    g_battery_raw = 0;
    REG32(ADC_CS) = ADC_CS_EN | (MIC_ADC_CHANNEL << ADC_CS_AINSEL_LSB) |
                    (((1u << MIC_ADC_CHANNEL) | (1u << VBAT_ADC_CHANNEL)) << ADC_CS_RROBIN_LSB);
    REG32(ADC_FCS) = 0;
    fifo_drain();
    REG32(ADC_FCS) = ADC_FCS_EN | ADC_FCS_DREQ_EN | (1u << ADC_FCS_THRESH_LSB);

    for (unsigned c = 0; c < 2; c++) {
        REG32(DMA_READ_ADDR(c)) = ADC_FIFO;
        REG32(DMA_WRITE_ADDR(c)) = (uint32_t)(uintptr_t)g_buf[c];
        REG32(DMA_TRANS_COUNT(c)) = MIC_BLOCK * CONVERSIONS_PER_SAMPLE;
        REG32(DMA_AL1_CTRL(c)) = dma_ctrl(1u - c); /* AL1_CTRL does not trigger */
    }
    g_next = 0;
    REG32(DMA_INTS0) = 3u;
    REG_SET(DMA_INTE0) = 3u;
    rp2040_nvic_enable(IRQ_DMA0);
    g_running = true;
    REG32(DMA_CTRL_TRIG(0)) = dma_ctrl(1u); /* start channel 0 */
    REG_SET(ADC_CS) = ADC_CS_START_MANY;
    return REC_OK;
}

void rp2040_mic_stop(void)
{
    if (!g_running) return;
    g_running = false;
    adc_idle();
    REG32(ADC_CS) = ADC_CS_EN; /* round-robin off, for the single conversions between recordings */
    REG_CLR(DMA_INTE0) = 3u;
    REG32(DMA_CHAN_ABORT) = 3u;
    for (unsigned spin = 0; spin < 10000u && (REG32(DMA_CHAN_ABORT) & 3u); spin++) {
    }
    REG32(DMA_AL1_CTRL(0)) = 0;
    REG32(DMA_AL1_CTRL(1)) = 0;
    REG32(DMA_INTS0) = 3u;
    REG32(ADC_FCS) = 0;
    fifo_drain();
}

bool rp2040_mic_running(void)
{
    return g_running;
}

static void finish(unsigned c)
{
    uint16_t *raw = g_buf[c];
    int16_t *pcm = (int16_t *)(void *)raw; /* in place: sample i is written at or before pair i */
    uint32_t battery_sum = 0;
    for (unsigned i = 0; i < MIC_BLOCK; i++) {
        battery_sum += raw[2u * i + 1u] & 0xfffu;
        pcm[i] = (int16_t)(((int32_t)(raw[2u * i] & 0xfffu) - 2048) * 16);
    }
    g_battery_raw = (uint16_t)(battery_sum / MIC_BLOCK);
    if (g_running && g_on_block) g_on_block(pcm, MIC_BLOCK);
    REG32(DMA_WRITE_ADDR(c)) = (uint32_t)(uintptr_t)g_buf[c]; /* ready for its next turn */
}

void rp2040_isr_dma0(void)
{
    uint32_t ints = REG32(DMA_INTS0) & 3u;
    REG32(DMA_INTS0) = ints; /* write-one-to-clear */
    if (ints == 3u) rp2040_mic_dma_overruns++; /* both finished: this interrupt was late by a block */
    for (unsigned k = 0; k < 2 && ints; k++) {
        unsigned c = g_next;
        if (ints & (1u << c)) {
            ints &= ~(1u << c);
            finish(c);
        }
        g_next = 1u - g_next;
    }
    rp2040_event = true;
}

uint16_t rp2040_mic_battery_raw(void)
{
    return g_battery_raw;
}

uint16_t rp2040_adc_read_once(unsigned channel)
{
    if (g_running) return 0;
    REG32(ADC_CS) = ADC_CS_EN | (channel << ADC_CS_AINSEL_LSB);
    for (unsigned spin = 0; spin < 10000u && !(REG32(ADC_CS) & ADC_CS_READY); spin++) {
    }
    REG32(ADC_CS) = ADC_CS_EN | (channel << ADC_CS_AINSEL_LSB) | ADC_CS_START_ONCE;
    for (unsigned spin = 0; spin < 10000u; spin++) {
        if (spin > 2 && (REG32(ADC_CS) & ADC_CS_READY)) break;
    }
    return (uint16_t)(REG32(ADC_RESULT) & 0xfffu);
}
