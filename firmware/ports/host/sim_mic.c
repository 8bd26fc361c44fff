/* Simulator port: the microphone.
 *
 * A thread plays the microphone interrupt. It keeps an audio clock that starts at port_mic_start
 * and runs at sample_rate x speed samples per real second (so sample k is due at
 * k / (rate x speed) s, the same time base as port_uptime_ms). Whenever blocks are due it
 * generates them and calls the core's callback holding the "interrupt" lock, then wakes the main
 * loop. At high speed it wakes at most about once a millisecond and delivers every block that
 * has come due, so the block count always matches elapsed device time.
 *
 * Sources (--mic):
 *   ramp       sample n = (int16_t)(n mod 65536), n = 0 at each port_mic_start
 *   sine[:HZ]  HZ (default 440) at -12 dBFS, phase 0 at each start
 *   demo[:SEED] speech-like: syllables (two formants over a glottal buzz plus breath noise,
 *              raised-cosine envelopes at ~4-6 per second), words, phrases and pauses, several
 *              voices taking turns; deterministic from SEED, restarted at each start
 *   wav:FILE   16-bit mono PCM, looped from its start at each recording; a sample-rate
 *              mismatch is reported on stderr and the samples are played as they are
 *              (no resampling). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rec/err.h"
#include "rec/port.h"
#include "sim_internal.h"

/* ---- Maths without libm --------------------------------------------------------------------- */

#define SIM_PI 3.14159265358979323846

/* sin(2*pi*p) for any p, by reduction to [-0.5, 0.5) cycles and a Taylor series. */
static double sin_cycles(double p)
{
    p -= (double)(long long)p;
    if (p < -0.5)
        p += 1.0;
    else if (p >= 0.5)
        p -= 1.0;
    double x = 2.0 * SIM_PI * p, x2 = x * x, term = x, sum = x;
    for (int k = 1; k <= 10; k++) {
        term *= -x2 / (double)((2 * k) * (2 * k + 1));
        sum += term;
    }
    return sum;
}

static double cos_cycles(double p)
{
    return sin_cycles(p + 0.25);
}

/* ---- Sources -------------------------------------------------------------------------------- */

static int16_t *wav_samples;
static size_t wav_count;
static uint32_t wav_rate;

typedef struct {
    double b0, b2, a1, a2; /* RBJ band-pass, b1 = 0, normalised by a0 */
    double x1, x2, y1, y2;
} biquad_t;

static void bq_set(biquad_t *q, double fc, double fs, double Q)
{
    double w = fc / fs; /* cycles per sample */
    double alpha = sin_cycles(w) / (2.0 * Q);
    double a0 = 1.0 + alpha;
    q->b0 = alpha / a0;
    q->b2 = -alpha / a0;
    q->a1 = -2.0 * cos_cycles(w) / a0;
    q->a2 = (1.0 - alpha) / a0;
}

static double bq_run(biquad_t *q, double x)
{
    double y = q->b0 * x + q->b2 * q->x2 - q->a1 * q->y1 - q->a2 * q->y2;
    q->x2 = q->x1;
    q->x1 = x;
    q->y2 = q->y1;
    q->y1 = y;
    return y;
}

typedef struct {
    uint32_t rng;
    /* current segment */
    bool voiced;               /* a syllable (true) or silence (false) */
    uint32_t len, pos;         /* samples */
    double amp, f0_start, f0_end, noise_mix, glottal_phase;
    biquad_t f1, f2, fn;
    /* structure */
    uint32_t syllables_left;   /* in the current phrase */
    uint32_t voice, phrases_left;
} demo_t;

typedef struct {
    uint64_t n;                /* samples generated since start */
    double phase;              /* sine, cycles */
    size_t wav_pos;
    demo_t demo;
} gen_t;

static uint32_t demo_seed = 0x5EED2024u;

static uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Uniform in [lo, hi). */
static double rng_range(uint32_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)rng_next(s) / 4294967296.0);
}

static const struct {
    double f0, amp;
} demo_voices[] = {
    { 115.0, 0.80 }, /* a lower voice, louder */
    { 205.0, 0.60 },
    { 260.0, 0.45 }, /* a quieter, higher voice */
};

static void demo_next_segment(demo_t *d, double fs)
{
    if (d->voiced && d->syllables_left == 0) {
        /* end of a phrase: a pause, sometimes a turn to another voice */
        d->voiced = false;
        d->len = (uint32_t)(fs * rng_range(&d->rng, 0.35, 1.6));
        d->syllables_left = 3 + rng_next(&d->rng) % 10;
        if (d->phrases_left-- == 0) {
            d->voice = (d->voice + 1 + rng_next(&d->rng) % 2) % (uint32_t)REC_COUNT_OF(demo_voices);
            d->phrases_left = rng_next(&d->rng) % 3;
            /* Now and then a long quiet spell, as when people read or think: long enough to
             * show in a loudness overview of a whole recording. */
            if (rng_next(&d->rng) % 3 == 0)
                d->len = (uint32_t)(fs * rng_range(&d->rng, 4.0, 12.0));
        }
        return;
    }
    if (d->voiced && rng_next(&d->rng) % 3 == 0) {
        /* a short gap between words */
        d->voiced = false;
        d->len = (uint32_t)(fs * rng_range(&d->rng, 0.03, 0.09));
        return;
    }
    d->voiced = true;
    d->syllables_left--;
    d->len = (uint32_t)(fs * rng_range(&d->rng, 0.11, 0.28));
    double f0 = demo_voices[d->voice].f0 * rng_range(&d->rng, 0.85, 1.2);
    d->f0_start = f0;
    d->f0_end = f0 * rng_range(&d->rng, 0.85, 1.1);
    d->amp = demo_voices[d->voice].amp * rng_range(&d->rng, 0.5, 1.0);
    d->noise_mix = rng_range(&d->rng, 0.05, 0.4);
    double nyq = fs * 0.45;
    double f1 = rng_range(&d->rng, 300.0, 850.0), f2 = rng_range(&d->rng, 900.0, 2400.0);
    double fn = rng_range(&d->rng, 1800.0, 4500.0);
    bq_set(&d->f1, f1 < nyq ? f1 : nyq, fs, 4.0);
    bq_set(&d->f2, f2 < nyq ? f2 : nyq, fs, 5.0);
    bq_set(&d->fn, fn < nyq ? fn : nyq, fs, 1.5);
}

static double demo_sample(demo_t *d, double fs)
{
    while (d->pos >= d->len) {
        d->pos = 0;
        demo_next_segment(d, fs);
    }
    /* a faint room-noise floor, so silence is not digital zero */
    double floor_noise = rng_range(&d->rng, -1.0, 1.0) * 0.002;
    double v = 0.0;
    if (d->voiced) {
        double t = (double)d->pos / (double)d->len;
        double f0 = d->f0_start + (d->f0_end - d->f0_start) * t;
        d->glottal_phase += f0 / fs;
        if (d->glottal_phase >= 1.0)
            d->glottal_phase -= 1.0;
        double buzz = 1.0 - 2.0 * d->glottal_phase;
        double noise = rng_range(&d->rng, -1.0, 1.0);
        double voiced = bq_run(&d->f1, buzz) * 1.6 + bq_run(&d->f2, buzz) * 0.9;
        double breath = bq_run(&d->fn, noise) * 0.8;
        double env = sin_cycles(0.5 * t); /* 0 .. 1 .. 0 over the syllable */
        env *= env;
        v = d->amp * env * ((1.0 - d->noise_mix) * voiced + d->noise_mix * breath);
    }
    d->pos++;
    return v + floor_noise;
}

static void gen_reset(gen_t *g)
{
    memset(g, 0, sizeof *g);
    g->demo.rng = demo_seed ? demo_seed : 1u;
    g->demo.voiced = true; /* so the first segment starts a phrase with a pause */
    g->demo.syllables_left = 0;
}

static int16_t clamp16(double v)
{
    if (v > 32767.0)
        return 32767;
    if (v < -32768.0)
        return -32768;
    return (int16_t)(v < 0 ? v - 0.5 : v + 0.5);
}

static void gen_block(gen_t *g, int16_t *out, size_t count, uint32_t rate)
{
    const double fs = (double)rate;
    switch (sim_cfg.mic) {
    case SIM_MIC_RAMP:
        for (size_t i = 0; i < count; i++)
            out[i] = (int16_t)(uint16_t)(g->n + i);
        break;
    case SIM_MIC_SINE: {
        const double amp = 32767.0 * 0.25118864315095801; /* -12 dBFS */
        const double step = sim_cfg.sine_hz / fs;
        for (size_t i = 0; i < count; i++) {
            out[i] = clamp16(amp * sin_cycles(g->phase));
            g->phase += step;
            if (g->phase >= 1.0)
                g->phase -= (double)(long long)g->phase;
        }
        break;
    }
    case SIM_MIC_DEMO:
        for (size_t i = 0; i < count; i++)
            out[i] = clamp16(32767.0 * demo_sample(&g->demo, fs));
        break;
    case SIM_MIC_WAV:
        for (size_t i = 0; i < count; i++) {
            out[i] = wav_samples[g->wav_pos++];
            if (g->wav_pos >= wav_count)
                g->wav_pos = 0;
        }
        break;
    }
    g->n += count;
}

/* ---- WAV loading ---------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static int wav_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sim_err("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *file = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *p = realloc(file, cap);
            if (!p) {
                free(file);
                fclose(f);
                sim_err("out of memory reading %s", path);
                return -1;
            }
            file = p;
        }
        size_t n = fread(file + size, 1, cap - size, f);
        size += n;
        if (n == 0)
            break;
    }
    fclose(f);
    int rc = -1;
    bool fmt_ok = false;
    if (size < 12 || memcmp(file, "RIFF", 4) != 0 || memcmp(file + 8, "WAVE", 4) != 0) {
        sim_err("%s: not a RIFF/WAVE file", path);
        goto out;
    }
    for (size_t off = 12; off + 8 <= size;) {
        uint32_t len = le32(file + off + 4);
        const uint8_t *body = file + off + 8;
        size_t avail = size - off - 8;
        if (memcmp(file + off, "fmt ", 4) == 0 && len >= 16 && avail >= 16) {
            uint16_t format = le16(body), channels = le16(body + 2), bits = le16(body + 14);
            wav_rate = le32(body + 4);
            if ((format != 1 && format != 0xFFFE) || channels != 1 || bits != 16) {
                sim_err("%s: need 16-bit mono PCM (format %u, %u channels, %u bits)", path,
                        format, channels, bits);
                goto out;
            }
            fmt_ok = true;
        } else if (memcmp(file + off, "data", 4) == 0) {
            if (!fmt_ok) {
                sim_err("%s: data chunk before fmt chunk", path);
                goto out;
            }
            size_t bytes = len < avail ? len : avail; /* tolerate a truncated file */
            wav_count = bytes / 2;
            if (wav_count == 0) {
                sim_err("%s: no samples", path);
                goto out;
            }
            wav_samples = malloc(wav_count * sizeof *wav_samples);
            if (!wav_samples) {
                sim_err("out of memory reading %s", path);
                goto out;
            }
            for (size_t i = 0; i < wav_count; i++)
                wav_samples[i] = (int16_t)le16(body + 2 * i);
            rc = 0;
            goto out;
        }
        off += 8 + (size_t)len + (len & 1u);
    }
    sim_err("%s: no %s chunk", path, fmt_ok ? "data" : "fmt");
out:
    free(file);
    return rc;
}

int sim_mic_init(void)
{
    if (sim_cfg.mic == SIM_MIC_WAV)
        return wav_load(sim_cfg.wav_path);
    return 0;
}

void sim_mic_set_demo_seed(uint32_t seed)
{
    demo_seed = seed;
}

/* ---- The thread ----------------------------------------------------------------------------- */

static pthread_t thread;
static bool running;
static _Atomic bool stop_req;
static pthread_mutex_t sleep_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cv;
static bool cv_ready;
static uint32_t mic_rate;
static port_mic_block_fn mic_cb;
static gen_t gen;

static void *mic_thread(void *arg)
{
    (void)arg;
    int16_t block[SIM_MIC_BLOCK_SAMPLES];
    const double rate = (double)mic_rate * sim_cfg.speed; /* samples per real second */
    const uint64_t t0 = sim_mono_ns();
    uint64_t produced = 0;
    while (!atomic_load(&stop_req)) {
        uint64_t now = sim_mono_ns();
        uint64_t due = (uint64_t)((double)(now - t0) * rate / 1e9);
        unsigned delivered = 0;
        while (produced + SIM_MIC_BLOCK_SAMPLES <= due && delivered < 4096) {
            gen_block(&gen, block, SIM_MIC_BLOCK_SAMPLES, mic_rate);
            if (!sim_irq_isr_enter(&stop_req))
                break;
            mic_cb(block, SIM_MIC_BLOCK_SAMPLES);
            sim_irq_isr_leave();
            produced += SIM_MIC_BLOCK_SAMPLES;
            delivered++;
        }
        if (delivered)
            sim_wake();
        uint64_t next = t0 + (uint64_t)((double)(produced + SIM_MIC_BLOCK_SAMPLES) * 1e9 / rate);
        uint64_t earliest = sim_mono_ns() + 1000000u;
        if (next < earliest)
            next = earliest;
        struct timespec ts = { .tv_sec = (time_t)(next / 1000000000u),
                               .tv_nsec = (long)(next % 1000000000u) };
        pthread_mutex_lock(&sleep_mx);
        while (!atomic_load(&stop_req)) {
            if (pthread_cond_timedwait(&sleep_cv, &sleep_mx, &ts) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&sleep_mx);
    }
    return NULL;
}

int port_mic_start(uint32_t sample_rate, port_mic_block_fn on_block)
{
    if (sample_rate == 0 || !on_block)
        return REC_E_INVAL;
    if (running)
        port_mic_stop();
    if (!cv_ready) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&sleep_cv, &ca);
        pthread_condattr_destroy(&ca);
        cv_ready = true;
    }
    if (sim_cfg.mic == SIM_MIC_WAV && wav_rate != sample_rate)
        sim_err("mic: %s is %u Hz but the device records at %u Hz; playing it unresampled",
                sim_cfg.wav_path, wav_rate, sample_rate);
    gen_reset(&gen);
    mic_rate = sample_rate;
    mic_cb = on_block;
    atomic_store(&stop_req, false);
    /* The "interrupt" takes no signals: SIGINT/SIGTERM go to the main loop. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&thread, NULL, mic_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sim_err("mic: cannot start thread: %s", strerror(rc));
        return REC_E_IO;
    }
    running = true;
    sim_out("mic on rate=%u", (unsigned)sample_rate);
    return REC_OK;
}

void port_mic_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&sleep_mx);
    atomic_store(&stop_req, true);
    pthread_cond_broadcast(&sleep_cv);
    pthread_mutex_unlock(&sleep_mx);
    pthread_join(thread, NULL);
    running = false;
    sim_out("mic off");
}

void sim_mic_shutdown(void)
{
    port_mic_stop();
    free(wav_samples);
    wav_samples = NULL;
}
