/* The console: UART1, a second serial line beside the protocol link (UART0). It carries
 *   out: diagnostics (`log: ...`), `ready`, `state rec=... card=... battery=...`, `mic on rate=N`,
 *        `mic off`, `stack used=N reserved=M`, faults;
 *   in:  one command per line: `press` (a short press of the button: starts; while recording, a
 *        marker), `hold [MS]` (the button held MS ms, default REC_BUTTON_HOLD_MS: asks), `stop`
 *        (held REC_BUTTON_STOP_MS: stops a recording), `stack`, `uptime`, `quit`, `help`.
 * Under QEMU it is the second -serial (e.g. stdio), so a script drives the button and watches
 * the state without touching the protocol link, where any byte may be part of a frame. */
#include "lm3s6965.h"
#include "qemu_internal.h"
#include "rec/app.h"
#include "rec/port.h"
#include "rec_codec.h"

/* A command stands for a whole press of a given length, classified as the core classifies a
 * real button's edges (rec/button.h). */
static rec_button_t g_button;
static bool g_quit;
#define PRESS_MS 150u
static char g_line[32];
static uint32_t g_line_len;
static bool g_line_overflow;

void console_init(void)
{
    hw_uart_init(UART1_BASE);
}

/* Straight into the FIFO; what does not fit is dropped (port.h allows a port to drop log
 * lines). QEMU's UART never reports a full FIFO, so under QEMU nothing is dropped. */
void console_write(const char *s)
{
    for (; *s; s++) {
        if (UART_FR(UART1_BASE) & UART_FR_TXFF) return;
        UART_DR(UART1_BASE) = (uint8_t)*s;
    }
}

void console_write_u32(uint32_t v)
{
    char buf[11];
    char *p = buf + sizeof buf - 1;
    *p = '\0';
    do {
        *--p = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    console_write(p);
}

void console_line(const char *s)
{
    console_write(s);
    console_write("\n");
}

void port_log(const char *msg)
{
    console_write("log: ");
    console_line(msg);
}

static bool streq(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static void report_stack(void)
{
    uint32_t reserved = stack_reserved_bytes();
    console_write("stack used=");
    console_write_u32(reserved - stack_unused_bytes());
    console_write(" reserved=");
    console_write_u32(reserved);
    console_write("\n");
}

/* "hold" or "hold N": true with the milliseconds (default REC_BUTTON_HOLD_MS). */
static bool parse_hold(const char *cmd, uint32_t *ms)
{
    static const char word[] = "hold";
    for (unsigned i = 0; i < sizeof word - 1u; i++)
        if (cmd[i] != word[i]) return false;
    cmd += sizeof word - 1u;
    if (*cmd == '\0') {
        *ms = REC_BUTTON_HOLD_MS;
        return true;
    }
    if (*cmd++ != ' ' || *cmd == '\0') return false;
    uint32_t v = 0;
    for (; *cmd; cmd++) {
        if (*cmd < '0' || *cmd > '9' || v > 600000u) return false;
        v = v * 10u + (uint32_t)(*cmd - '0');
    }
    *ms = v;
    return true;
}

static void run_command(const char *cmd)
{
    uint32_t held_ms;
    if (streq(cmd, "press")) {
        rec_button_press_for(&g_button, PRESS_MS, port_uptime_ms());
    } else if (parse_hold(cmd, &held_ms)) {
        rec_button_press_for(&g_button, held_ms, port_uptime_ms());
    } else if (streq(cmd, "stop")) {
        rec_button_press_for(&g_button, REC_BUTTON_STOP_MS, port_uptime_ms());
    } else if (streq(cmd, "quit")) {
        g_quit = true;
    } else if (streq(cmd, "stack")) {
        report_stack();
    } else if (streq(cmd, "uptime")) {
        console_write("uptime ms=");
        console_write_u32((uint32_t)port_uptime_ms());
        console_write("\n");
    } else if (streq(cmd, "help")) {
        console_line("commands: press, hold [MS], stop, stack, uptime, quit, help");
        return;
    } else if (cmd[0]) {
        console_write("unknown command: ");
        console_line(cmd);
        return;
    } else {
        return;
    }
    console_write("ok ");
    console_line(cmd);
}

bool console_poll(void)
{
    bool any = false;
    while (!(UART_FR(UART1_BASE) & UART_FR_RXFE)) {
        char c = (char)UART_DR(UART1_BASE);
        any = true;
        if (c == '\n' || c == '\r') {
            g_line[g_line_len] = '\0';
            if (g_line_overflow) console_line("command too long");
            else run_command(g_line);
            g_line_len = 0;
            g_line_overflow = false;
        } else if (g_line_len + 1u < sizeof g_line) {
            g_line[g_line_len++] = c;
        } else {
            g_line_overflow = true;
        }
    }
    return any;
}

bool console_quit_requested(void)
{
    return g_quit;
}

bool port_button_take_press(void)
{
    console_poll();
    return rec_button_take(&g_button, REC_GESTURE_PRESS);
}

bool port_button_take_hold(void)
{
    console_poll();
    return rec_button_take(&g_button, REC_GESTURE_HOLD);
}

bool port_button_take_long_hold(void)
{
    console_poll();
    return rec_button_take(&g_button, REC_GESTURE_LONG_HOLD);
}

void console_report_state(bool force)
{
    static rec_app_status_t last = {0xFF, 0xFF, false};
    if (!rec_app_status_changed(&last, force)) return;
    console_write("state rec=");
    console_write(rp_rec_state_name(last.rec_state));
    console_write(" card=");
    console_write(rp_card_state_name(last.card_state));
    console_write(" battery=");
    console_line(last.low_battery ? "low" : "ok");
}
