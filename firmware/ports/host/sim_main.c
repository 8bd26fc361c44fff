/* recorder-sim: the real firmware core on Linux.
 *
 *     rec_app_init();
 *     loop { handle control lines from stdin; rec_app_poll(); sleep up to rec_app_idle_ms() }
 *
 * The sleep is a poll() on stdin, the pseudo-terminal and an eventfd that the microphone thread
 * (and the signal handler) write to, so a host request, a control command or fresh audio ends it
 * at once. Control commands are carried out in the main loop, between polls, on the core's own
 * thread. See
 * docs/simulator.md. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rec/app.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec_codec.h"
#include "sim_internal.h"

sim_config_t sim_cfg = {
    .size_mb = 256,
    .mic = SIM_MIC_RAMP,
    .sine_hz = 440.0,
    .speed = 1.0,
};

static int wake_fd = -1;
static volatile sig_atomic_t quit_signal;
static bool quit_requested;
static bool stdin_open = true;
static char in_buf[4096];
static size_t in_len;
static bool line_overflow;

/* ---- Output -------------------------------------------------------------------------------- */

void sim_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
    va_end(ap);
}

void sim_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fputs("sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
    va_end(ap);
}

void sim_wake(void)
{
    uint64_t one = 1;
    if (wake_fd >= 0) {
        ssize_t n = write(wake_fd, &one, sizeof one); /* EAGAIN: already signalled */
        (void)n;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    quit_signal = 1;
    sim_wake();
}

/* ---- State lines --------------------------------------------------------------------------- */

/* Prints `state rec=... card=... battery=...` whenever the device's state changes, so whoever
 * drives the simulator can wait for "recording" or "card none" without speaking the protocol. */
static void report_state(bool force)
{
    static rec_app_status_t last = {0xFF, 0xFF, false};
    if (!rec_app_status_changed(&last, force))
        return;
    sim_out("state rec=%s card=%s battery=%s", rp_rec_state_name(last.rec_state), rp_card_state_name(last.card_state),
            last.low_battery ? "low" : "ok");
}

/* ---- Control commands ---------------------------------------------------------------------- */

/* What a flat cell reads before it cuts out: under the core's stop (REC_BATTERY_STOP_MV). */
#define SIM_FLAT_CELL_MV 3000u
static bool battery_flat;

/* After `battery 0`: once the core has seen the low battery and no recording is open, the power
 * goes as a real flat cell's does: no clean shutdown, nothing more written, the clock (kept in
 * RAM: no battery-backed clock) lost. Exit status 4; the next start boots with the clock lost. */
static void power_lost_if_flat(void)
{
    rec_device_t *d = rec_device();
    if (!battery_flat || !d->low_battery || d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING)
        return;
    sim_out("power lost: battery flat");
    _exit(4);
}

static bool parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max);

/* How long `press` holds the button: a short, deliberate press. */
#define SIM_PRESS_MS 150u

static void do_command(char *line)
{
    char *cmd = strtok(line, " \t\r");
    if (!cmd)
        return;
    char *arg = strtok(NULL, " \t\r");
    if (strcmp(cmd, "press") == 0) {
        sim_button_press_for(SIM_PRESS_MS); /* starts; while recording, a marker */
    } else if (strcmp(cmd, "hold") == 0) {
        char *end = NULL;
        long ms = arg ? strtol(arg, &end, 10) : (long)REC_BUTTON_HOLD_MS;
        if (arg && (*end || ms < 0 || ms > 600000)) {
            sim_err("usage: hold [MILLISECONDS] (0..600000; default %u: asks)", REC_BUTTON_HOLD_MS);
            return;
        }
        sim_button_press_for((uint32_t)ms);
    } else if (strcmp(cmd, "stop") == 0) {
        sim_button_press_for(REC_BUTTON_STOP_MS); /* the long hold that stops a recording */
    } else if (strcmp(cmd, "connect") == 0) {
        sim_pty_set_connected(true);
    } else if (strcmp(cmd, "disconnect") == 0) {
        sim_pty_set_connected(false);
    } else if (strcmp(cmd, "battery") == 0) {
        char *end = NULL;
        long mv = arg ? strtol(arg, &end, 10) : -1;
        if (!arg || *end || mv < 0 || mv > 65535) {
            sim_err("usage: battery MILLIVOLTS (0..65535)");
            return;
        }
        sim_battery_set((uint16_t)mv);
        /* 0 is a flat cell, not "cannot measure" (the core's meaning of 0 mV): the cell sags
         * under the stop voltage, the core closes the recording (LOW_BATTERY), and then the
         * protection circuit cuts the power (power_lost_if_flat). */
        battery_flat = mv == 0;
        if (battery_flat) sim_battery_set(SIM_FLAT_CELL_MV);
    } else if (strcmp(cmd, "eject") == 0) {
        if (sim_card_eject())
            rec_app_card_changed();
        else {
            sim_err("eject: the card is already out");
            return;
        }
    } else if (strcmp(cmd, "insert") == 0) {
        if (sim_card_insert())
            rec_app_card_changed();
        else {
            sim_err("insert: the card is already in");
            return;
        }
    } else if (strcmp(cmd, "card") == 0) {
        /* card pull-after-writes N: the card is pulled at its Nth write or erase from now, in the
         * middle of whatever request makes it; card writes: how many it has had. */
        char *count = strtok(NULL, " \t\r");
        uint32_t n;
        if (arg && strcmp(arg, "pull-after-writes") == 0 && count && parse_u32(count, &n, 0, UINT32_MAX)) {
            sim_card_pull_after(n);
        } else if (arg && strcmp(arg, "writes") == 0 && !count) {
            sim_out("card writes=%u", (unsigned)sim_card_writes());
        } else {
            sim_err("usage: card pull-after-writes N (0: disarm) | card writes");
            return;
        }
    } else if (strcmp(cmd, "quit") == 0) {
        quit_requested = true;
    } else if (strcmp(cmd, "help") == 0) {
        sim_err("commands: press (a short press: starts; while recording, a marker), hold [MS] (the button held MS ms, "
                "default %u: asks), stop (held %u ms: stops a recording), connect, disconnect, battery MV (0: flat, the power goes), eject, insert, "
                "card pull-after-writes N (the card pulled at its Nth write or erase from now), card writes, quit",
                REC_BUTTON_HOLD_MS, REC_BUTTON_STOP_MS);
        return;
    } else {
        sim_err("unknown command ignored: %s", cmd);
        return;
    }
    /* Acknowledged once it has taken effect (for eject/insert: the core has been told). */
    sim_out("ok %s", cmd);
}

/* Reads what stdin has into in_buf (called only when poll said it is readable, so it does not
 * block). Lines are carried out by run_command() in the main loop, never inside a wait the core
 * might have asked for itself. */
static void read_stdin(void)
{
    ssize_t n = read(STDIN_FILENO, in_buf + in_len, sizeof in_buf - in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        stdin_open = false; /* EOF does not quit: only `quit` or a signal does */
        if (in_len > 0 && in_len < sizeof in_buf)
            in_buf[in_len++] = '\n'; /* a last line without its newline still counts */
        sim_err("stdin closed; still running (send `quit`, SIGTERM or SIGINT to stop)");
        return;
    }
    in_len += (size_t)n;
}

/* True when in_buf holds a complete line. */
static bool command_pending(void)
{
    return memchr(in_buf, '\n', in_len) != NULL;
}

/* Carries out one complete line, if there is one: one command per poll, so the core sees each
 * (two `press` lines are two presses, a `press` before `quit` is seen before the shutdown). */
static void run_command(void)
{
    char *nl = memchr(in_buf, '\n', in_len);
    if (nl) {
        *nl = '\0';
        if (line_overflow)
            sim_err("control line too long, ignored");
        else
            do_command(in_buf);
        line_overflow = false;
        size_t used = (size_t)(nl - in_buf) + 1;
        memmove(in_buf, in_buf + used, in_len - used);
        in_len -= used;
    } else if (in_len == sizeof in_buf) {
        line_overflow = true; /* discard up to the next newline */
        in_len = 0;
    }
}

/* ---- Waiting ------------------------------------------------------------------------------- */

/* Waits up to max_ms device milliseconds for stdin, host input, fresh audio or a signal. Stdin
 * is read into the line buffer here; commands are carried out in the main loop. */
static void sim_wait(uint32_t max_ms)
{
    struct pollfd fds[3];
    nfds_t nfds = 0;
    fds[nfds++] = (struct pollfd){ .fd = wake_fd, .events = POLLIN };
    int stdin_ix = -1, pty_ix = -1;
    if (stdin_open && in_len < sizeof in_buf) {
        stdin_ix = (int)nfds;
        fds[nfds++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
    }
    short pty_events;
    int pty_fd = sim_pty_poll_fd(&pty_events);
    if (pty_fd >= 0) {
        pty_ix = (int)nfds;
        fds[nfds++] = (struct pollfd){ .fd = pty_fd, .events = pty_events };
    }
    uint64_t real_ms = command_pending() ? 0 : sim_device_to_real_ms(max_ms);
    int timeout = real_ms > 1000 ? 1000 : (int)real_ms;
    int n = poll(fds, nfds, timeout);
    if (n <= 0)
        return; /* timeout, or EINTR from a signal (quit_signal is set) */
    if (fds[0].revents & POLLIN) {
        uint64_t v;
        ssize_t r = read(wake_fd, &v, sizeof v);
        (void)r;
    }
    if (stdin_ix >= 0 && fds[stdin_ix].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
        if (fds[stdin_ix].revents & POLLNVAL)
            stdin_open = false;
        else
            read_stdin();
    }
    if (pty_ix >= 0 && fds[pty_ix].revents)
        sim_pty_on_ready(fds[pty_ix].revents);
}

void port_sleep_until_event(uint32_t max_ms)
{
    sim_wait(max_ms);
}

/* ---- Options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: recorder-sim --image PATH --link PATH [options]\n"
            "  --image PATH        SD card image (created sparse and formatted FAT32 if missing)\n"
            "  --link PATH         symlink to the serial port (a pseudo-terminal) for the host app\n"
            "  --size-mb N         size of a new image in MiB (default 256)\n"
            "  --mic SRC           ramp | sine[:HZ] | demo[:SEED] | wav:FILE (default ramp)\n"
            "  --speed N           run the device clocks and audio N times faster (default 1)\n"
            "  --stall-every N     every Nth card write first stalls ...\n"
            "  --stall-ms M        ... for M device milliseconds\n"
            "  --card-speed B      the card writes B bytes per device second (a slow card; reads stay fast)\n"
            "  --settings PATH     settings file (default IMAGE.settings)\n"
            "  --nvm PATH|none     the device's own flash, key and journal counter (default IMAGE.nvm)\n"
            "  --nvm-cut-at N      cut the power in the Nth NVM program or erase (exits)\n"
            "  --recipient HEX     set the owner's age recipient at start (the 32 bytes inside an\n"
            "                      age1... string, 64 hex digits), as SET_RECIPIENT does\n"
            "  --quiet             no `log:` lines on stderr\n"
            "  --verbose           also print `led on`/`led off` and `led dim`/`led undim` on stdout\n"
            "Control on stdin: press, hold, connect, disconnect, battery MV, eject, insert,\n"
            "  card pull-after-writes N, card writes, quit\n");
}

static bool parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || *s == '-' || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64) return false;
    for (unsigned i = 0; i < 64; i++) {
        const char c = s[i];
        const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) return false;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] << 4) | v : v);
    }
    return true;
}

static bool parse_mic(const char *s)
{
    if (strcmp(s, "ramp") == 0) {
        sim_cfg.mic = SIM_MIC_RAMP;
    } else if (strncmp(s, "sine", 4) == 0 && (s[4] == '\0' || s[4] == ':')) {
        sim_cfg.mic = SIM_MIC_SINE;
        if (s[4] == ':') {
            char *end = NULL;
            double hz = strtod(s + 5, &end);
            if (!*(s + 5) || *end || !(hz > 0.0 && hz < 1e6))
                return false;
            sim_cfg.sine_hz = hz;
        }
    } else if (strncmp(s, "demo", 4) == 0 && (s[4] == '\0' || s[4] == ':')) {
        sim_cfg.mic = SIM_MIC_DEMO;
        if (s[4] == ':') {
            uint32_t seed;
            if (!parse_u32(s + 5, &seed, 0, UINT32_MAX))
                return false;
            sim_mic_set_demo_seed(seed);
        }
    } else if (strncmp(s, "wav:", 4) == 0 && s[4]) {
        sim_cfg.mic = SIM_MIC_WAV;
        sim_cfg.wav_path = s + 4;
    } else {
        return false;
    }
    return true;
}

static int parse_options(int argc, char **argv)
{
    enum { O_IMAGE = 256, O_LINK, O_SIZE, O_MIC, O_SPEED, O_STALL_EVERY, O_STALL_MS, O_CARD_SPEED, O_SETTINGS,
           O_NVM, O_NVM_CUT_AT, O_RECIPIENT, O_QUIET, O_VERBOSE, O_HELP };
    static const struct option opts[] = {
        { "image", required_argument, NULL, O_IMAGE },
        { "link", required_argument, NULL, O_LINK },
        { "size-mb", required_argument, NULL, O_SIZE },
        { "mic", required_argument, NULL, O_MIC },
        { "speed", required_argument, NULL, O_SPEED },
        { "stall-every", required_argument, NULL, O_STALL_EVERY },
        { "stall-ms", required_argument, NULL, O_STALL_MS },
        { "card-speed", required_argument, NULL, O_CARD_SPEED },
        { "settings", required_argument, NULL, O_SETTINGS },
        { "nvm", required_argument, NULL, O_NVM },
        { "nvm-cut-at", required_argument, NULL, O_NVM_CUT_AT },
        { "recipient", required_argument, NULL, O_RECIPIENT },
        { "quiet", no_argument, NULL, O_QUIET },
        { "verbose", no_argument, NULL, O_VERBOSE },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    static char *default_settings, *default_nvm;
    bool nvm_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_IMAGE: sim_cfg.image = optarg; break;
        case O_LINK: sim_cfg.link = optarg; break;
        case O_SETTINGS: sim_cfg.settings = optarg; break;
        case O_NVM:
            nvm_given = true;
            sim_cfg.nvm = strcmp(optarg, "none") == 0 ? NULL : optarg;
            break;
        case O_NVM_CUT_AT:
            if (!parse_u32(optarg, &sim_cfg.nvm_cut_at, 1, UINT32_MAX)) {
                sim_err("--nvm-cut-at: expected an operation number from 1, got %s", optarg);
                return -1;
            }
            break;
        case O_RECIPIENT:
            if (!parse_hex32(optarg, sim_cfg.recipient)) {
                sim_err("--recipient: expected 64 hex digits, got %s", optarg);
                return -1;
            }
            sim_cfg.recipient_given = true;
            break;
        case O_QUIET: sim_cfg.quiet = true; break;
        case O_VERBOSE: sim_cfg.verbose = true; break;
        case O_HELP: usage(stdout); exit(0);
        case O_SIZE:
            if (!parse_u32(optarg, &sim_cfg.size_mb, 1, 2u * 1024 * 1024 - 1)) {
                sim_err("--size-mb: expected 1..2097151 MiB, got %s", optarg);
                return -1;
            }
            break;
        case O_MIC:
            if (!parse_mic(optarg)) {
                sim_err("--mic: expected ramp, sine[:HZ], demo[:SEED] or wav:FILE, got %s", optarg);
                return -1;
            }
            break;
        case O_SPEED: {
            char *end = NULL;
            double v = strtod(optarg, &end);
            if (!*optarg || *end || !(v > 0.0 && v <= 10000.0)) {
                sim_err("--speed: expected a number in (0, 10000], got %s", optarg);
                return -1;
            }
            sim_cfg.speed = v;
            break;
        }
        case O_STALL_EVERY:
            if (!parse_u32(optarg, &sim_cfg.stall_every, 0, UINT32_MAX)) {
                sim_err("--stall-every: expected a count, got %s", optarg);
                return -1;
            }
            break;
        case O_STALL_MS:
            if (!parse_u32(optarg, &sim_cfg.stall_ms, 0, 3600000)) {
                sim_err("--stall-ms: expected milliseconds, got %s", optarg);
                return -1;
            }
            break;
        case O_CARD_SPEED:
            if (!parse_u32(optarg, &sim_cfg.card_speed, 512, UINT32_MAX)) {
                sim_err("--card-speed: expected bytes per second, at least 512, got %s", optarg);
                return -1;
            }
            break;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        sim_err("unexpected argument: %s", argv[optind]);
        return -1;
    }
    if (!sim_cfg.image || !sim_cfg.link) {
        usage(stderr);
        return -1;
    }
    if (!sim_cfg.settings) {
        size_t n = strlen(sim_cfg.image) + sizeof ".settings";
        default_settings = malloc(n);
        if (!default_settings)
            return -1;
        snprintf(default_settings, n, "%s.settings", sim_cfg.image);
        sim_cfg.settings = default_settings;
    }
    if (!nvm_given) {
        size_t n = strlen(sim_cfg.image) + sizeof ".nvm";
        default_nvm = malloc(n);
        if (!default_nvm)
            return -1;
        snprintf(default_nvm, n, "%s.nvm", sim_cfg.image);
        sim_cfg.nvm = default_nvm;
    }
    if (sim_cfg.stall_every && !sim_cfg.stall_ms)
        sim_err("--stall-every without --stall-ms: no stalls");
    return 0;
}

/* ---- Main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (parse_options(argc, argv) != 0)
        return 2;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the device */

    sim_time_init();
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) {
        sim_err("eventfd: %s", strerror(errno));
        return 1;
    }
    if (sim_mic_init() != 0 || sim_card_prepare() != 0 || sim_nvm_open() != 0)
        return 1;
    if (sim_pty_open(sim_cfg.link) != 0) {
        sim_pty_close();
        return 1;
    }

    int rc = rec_app_init();
    if (rc != REC_OK)
        sim_err("rec_app_init: %s (running on; the core reports it to the host)", rec_err_name(rc));
    if (sim_cfg.recipient_given) {
        rc = rec_device_set_recipient(rec_device(), sim_cfg.recipient);
        if (rc != REC_OK) sim_err("--recipient: %s (recording stays as it was)", rec_err_name(rc));
    }
    sim_out("ready link=%s", sim_cfg.link);
    report_state(true);

    for (;;) {
        run_command();
        if (quit_requested || quit_signal)
            break;
        rec_app_poll();
        if (sim_card_take_pulled()) {
            rec_app_card_changed(); /* as `eject` does, once the request that hit it has returned */
            sim_out("card pulled");
        }
        report_state(false);
        power_lost_if_flat();
        sim_wait(rec_app_idle_ms());
    }

    /* Clean shutdown: the microphone stops first, then the core gets a bounded chance to move
     * what it already captured to the card, then the card and the link are released. A SIGKILL
     * instead is a power cut: the image keeps whatever had been written. */
    sim_mic_shutdown();
    uint64_t deadline = sim_mono_ns() + 1000000000u;
    for (int i = 0; i < 100000 && rec_app_idle_ms() == 0 && sim_mono_ns() < deadline; i++)
        rec_app_poll();
    sim_card_shutdown();
    sim_pty_close();
    sim_err("stopped");
    return 0;
}
