/* The Linux simulator port: shared state between its parts.
 *
 *   sim_main.c     options, the main loop, stdin control commands, signals, stdout lines
 *   sim_port.c     time, critical sections, button/LED/battery, settings, log, info
 *   sim_pty.c      the serial link on a pseudo-terminal
 *   sim_mic.c      the microphone thread and its sources (ramp, sine, demo, wav)
 *   sim_card.c     the card: an image file with eject/insert, write stalls and a pull at a write
 *   sim_nvm.c      the device's own NVM (IMAGE.nvm, NOR rules) and entropy (getrandom)
 *
 * Threads: the core runs on the main thread only. The microphone thread plays the interrupt: it
 * calls the core's block callback holding the "interrupt" mutex that port_irq_save takes. */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#define SIM_MIC_BLOCK_SAMPLES 256u

typedef enum { SIM_MIC_RAMP, SIM_MIC_SINE, SIM_MIC_DEMO, SIM_MIC_WAV } sim_mic_kind_t;

typedef struct {
    const char *image;
    const char *link;
    const char *settings;     /* never NULL after option parsing */
    const char *nvm;          /* IMAGE.nvm by default; NULL with --nvm none (a device without NVM) */
    uint32_t nvm_cut_at;      /* 0: never; N: the power is cut in the Nth NVM program or erase */
    bool recipient_given;     /* --recipient: set the owner's age recipient at start */
    uint8_t recipient[32];
    uint32_t size_mb;
    sim_mic_kind_t mic;
    double sine_hz;
    const char *wav_path;
    double speed;
    uint32_t stall_every;     /* 0: no stalls */
    uint32_t stall_ms;        /* device milliseconds */
    uint32_t card_speed;      /* --card-speed: card writes in device bytes per second; 0: as fast as the image */
    bool quiet;
    bool verbose;
} sim_config_t;

extern sim_config_t sim_cfg;

/* ---- sim_main.c ---------------------------------------------------------------------------- */
/* A line on stdout, flushed. */
void sim_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line on stderr prefixed "sim: ". */
void sim_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Wakes the main loop (async-signal-safe; callable from any thread). */
void sim_wake(void);

/* ---- sim_port.c ---------------------------------------------------------------------------- */
void sim_time_init(void);
/* Real (unscaled) monotonic time in nanoseconds. */
uint64_t sim_mono_ns(void);
/* Device milliseconds to real milliseconds (rounded up; 0 stays 0). */
uint64_t sim_device_to_real_ms(uint64_t device_ms);
/* The mic thread enters "interrupt context": takes the lock port_irq_save takes. Gives up and
 * returns false once *stop is set (so port_mic_stop inside a critical section cannot deadlock). */
bool sim_irq_isr_enter(const volatile _Atomic bool *stop);
void sim_irq_isr_leave(void);
/* A whole press of the button held for held_ms (press, hold or long hold: rec/button.h). */
void sim_button_press_for(uint32_t held_ms);
void sim_battery_set(uint16_t mv);

/* ---- sim_pty.c ----------------------------------------------------------------------------- */
int sim_pty_open(const char *link);   /* 0 or -1 (message printed) */
void sim_pty_close(void);
/* The fd to poll and the events to wait for (input, or room after a short write), or -1 when
 * the link should not wake the loop right now. */
int sim_pty_poll_fd(short *events);
/* Called with what poll reported for that fd. */
void sim_pty_on_ready(short revents);
void sim_pty_set_connected(bool connected);

/* ---- sim_mic.c ----------------------------------------------------------------------------- */
int sim_mic_init(void);               /* loads a WAV source; 0 or -1 (message printed) */
void sim_mic_set_demo_seed(uint32_t seed);
void sim_mic_shutdown(void);

/* ---- sim_card.c ---------------------------------------------------------------------------- */
/* Creates and formats the image if it does not exist. 0 or -1 (message printed). */
int sim_card_prepare(void);
/* Eject/insert from the control channel; false when nothing changed. */
bool sim_card_eject(void);
bool sim_card_insert(void);
/* Arms the pull: the `writes`-th card write or erase from now is not made and the card is out
 * (0 disarms). */
void sim_card_pull_after(uint32_t writes);
/* Card writes and erases since start. */
uint32_t sim_card_writes(void);
/* True once after the armed pull happened (the main loop then tells the core). */
bool sim_card_take_pulled(void);
/* Releases the image file at exit. */
void sim_card_shutdown(void);

/* ---- sim_nvm.c ----------------------------------------------------------------------------- */
/* Opens (creating blank) the NVM file; 0 or -1 (message printed). */
int sim_nvm_open(void);

#endif
