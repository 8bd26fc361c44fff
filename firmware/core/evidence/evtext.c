/* ASCII writers for the evidence files: see rec/evtext.h. */
#include "rec/evtext.h"

#include "rec/calendar.h"
#include "rec_protocol.h"

void rec_evtext_init(rec_evtext_t *t, char *buf, size_t cap)
{
    t->p = buf;
    t->cap = cap;
    t->len = 0;
    t->overflow = false;
}

void rec_evtext_char(rec_evtext_t *t, char c)
{
    if (t->len < t->cap)
        t->p[t->len++] = c;
    else
        t->overflow = true;
}

void rec_evtext_str(rec_evtext_t *t, const char *s)
{
    while (*s) rec_evtext_char(t, *s++);
}

void rec_evtext_dec(rec_evtext_t *t, uint64_t v, unsigned width)
{
    char tmp[20];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0 && n < sizeof tmp);
    while (n < width && n < sizeof tmp) tmp[n++] = '0';
    while (n > 0) rec_evtext_char(t, tmp[--n]);
}

void rec_evtext_hex(rec_evtext_t *t, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        rec_evtext_char(t, digits[bytes[i] >> 4]);
        rec_evtext_char(t, digits[bytes[i] & 0xFu]);
    }
}

void rec_evtext_iso(rec_evtext_t *t, int64_t unix_ms)
{
    int64_t days = unix_ms / 86400000LL;
    int64_t ms = unix_ms % 86400000LL;
    if (ms < 0) {
        ms += 86400000LL;
        days--;
    }
    int64_t y;
    unsigned m, d;
    rec_civil_from_days(days, &y, &m, &d);
    rec_evtext_dec(t, y < 0 ? 0 : (uint64_t)y, 4);
    rec_evtext_char(t, '-');
    rec_evtext_dec(t, m, 2);
    rec_evtext_char(t, '-');
    rec_evtext_dec(t, d, 2);
    rec_evtext_char(t, 'T');
    rec_evtext_dec(t, (uint64_t)ms / 3600000u, 2);
    rec_evtext_char(t, ':');
    rec_evtext_dec(t, (uint64_t)ms / 60000u % 60u, 2);
    rec_evtext_char(t, ':');
    rec_evtext_dec(t, (uint64_t)ms / 1000u % 60u, 2);
    rec_evtext_char(t, '.');
    rec_evtext_dec(t, (uint64_t)ms % 1000u, 3);
    rec_evtext_char(t, 'Z');
}

void rec_evtext_base64(rec_evtext_t *t, const uint8_t *b, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n) v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n) v |= b[i + 2];
        rec_evtext_char(t, abc[(v >> 18) & 63u]);
        rec_evtext_char(t, abc[(v >> 12) & 63u]);
        rec_evtext_char(t, i + 1 < n ? abc[(v >> 6) & 63u] : '=');
        rec_evtext_char(t, i + 2 < n ? abc[v & 63u] : '=');
    }
}

const char *rec_evtext_stop_reason(uint8_t reason)
{
    switch (reason) {
    case RP_STOP_NONE: return "none";
    case RP_STOP_BUTTON: return "button";
    case RP_STOP_HOST: return "host";
    case RP_STOP_CARD_FULL: return "card-full";
    case RP_STOP_LOW_BATTERY: return "low-battery";
    case RP_STOP_POWER_LOSS: return "power-loss";
    case RP_STOP_CARD_ERROR: return "card-error";
    case RP_STOP_CARD_REMOVED: return "card-removed";
    case RP_STOP_MAX_LENGTH: return "max-length";
    default: return "unknown";
    }
}
