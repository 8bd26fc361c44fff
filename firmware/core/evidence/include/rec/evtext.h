/* Small ASCII writers for the evidence files (checkpoint messages, statements, trusted comments):
 * bounded appends into a caller's buffer, no stdio in the core. A write past the end sets
 * `overflow` and drops the byte, so a caller checks once at the end. */
#ifndef REC_EVTEXT_H
#define REC_EVTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
} rec_evtext_t;

void rec_evtext_init(rec_evtext_t *t, char *buf, size_t cap);
void rec_evtext_char(rec_evtext_t *t, char c);
void rec_evtext_str(rec_evtext_t *t, const char *s);
/* Decimal with at least `width` digits (zero padded). */
void rec_evtext_dec(rec_evtext_t *t, uint64_t v, unsigned width);
/* Lower-case hex of n bytes. */
void rec_evtext_hex(rec_evtext_t *t, const uint8_t *bytes, size_t n);
/* ISO 8601 UTC with milliseconds, "2026-12-06T10:00:00.000Z". */
void rec_evtext_iso(rec_evtext_t *t, int64_t unix_ms);
/* Standard base64 with padding (RFC 4648 section 4). */
void rec_evtext_base64(rec_evtext_t *t, const uint8_t *bytes, size_t n);
/* The stop reason's name as the host spells it (power-loss, card-full, ...). */
const char *rec_evtext_stop_reason(uint8_t reason);

#endif
