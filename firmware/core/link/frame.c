/* Frame build and parse, and the streaming deframer: same checks, order and semantics as
 * protocol/src/codec.ts. */
#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/frame.h"

#include <string.h>

#define FRAME_OVERHEAD (RP_HEADER_SIZE + RP_CRC_SIZE)

const char *rec_frame_status_name(rec_frame_status_t s)
{
    switch (s) {
    case REC_FRAME_OK: return "ok";
    case REC_FRAME_COBS: return "cobs";
    case REC_FRAME_SHORT: return "short";
    case REC_FRAME_OVERSIZE: return "oversize";
    case REC_FRAME_LENGTH: return "length";
    case REC_FRAME_CRC: return "crc";
    case REC_FRAME_VERSION: return "version";
    }
    return "?";
}

/* COBS encoder fed one byte at a time, writing into a bounded buffer. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t o;
    size_t code_at;
    uint8_t code;
    bool overflow;
} cobs_stream_t;

static void cs_begin(cobs_stream_t *c, uint8_t *out, size_t cap)
{
    c->out = out;
    c->cap = cap;
    c->code_at = 0;
    c->o = 1;
    c->code = 1;
    c->overflow = cap < 1;
}

/* A block holds 254 data bytes at most: its code goes in, and the next block's code byte is kept. */
static void cs_end_full_block(cobs_stream_t *c)
{
    if (c->o >= c->cap) {
        c->overflow = true;
        return;
    }
    c->out[c->code_at] = c->code;
    c->code_at = c->o++;
    c->code = 1;
}

static void cs_put(cobs_stream_t *c, uint8_t b)
{
    if (c->overflow) return;
    if (c->o >= c->cap) {
        c->overflow = true;
        return;
    }
    if (b == 0) {
        c->out[c->code_at] = c->code;
        c->code_at = c->o++;
        c->code = 1;
        return;
    }
    c->out[c->o++] = b;
    if (++c->code == 0xFF) cs_end_full_block(c);
}

/* Runs of non-zero bytes are copied in one loop, the rest goes through cs_put: the same output.
 * Byte by byte this was a quarter of the RP2040's cycles per byte served (issue 17). */
static void cs_put_all(cobs_stream_t *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->overflow) {
        size_t max = 0xFFu - c->code; /* data bytes left in this COBS block */
        if (max > n) max = n;
        if (max > c->cap - c->o) max = c->cap - c->o;
        uint8_t *dst = c->out + c->o;
        size_t k = 0;
        while (k < max && p[k] != 0) {
            dst[k] = p[k];
            k++;
        }
        if (k == 0) {
            cs_put(c, *p++); /* a zero, a full block or a full buffer */
            n--;
            continue;
        }
        c->o += k;
        c->code = (uint8_t)(c->code + k);
        p += k;
        n -= k;
        if (c->code == 0xFF) cs_end_full_block(c);
    }
}

static void put_header(const rec_frame_t *f, uint8_t hdr[RP_HEADER_SIZE])
{
    memset(hdr, 0, RP_HEADER_SIZE);
    hdr[RP_FRAME_HEADER_OFF_VERSION] = (uint8_t)RP_VERSION;
    hdr[RP_FRAME_HEADER_OFF_KIND] = f->kind;
    rec_put_u16(hdr + RP_FRAME_HEADER_OFF_SEQ, f->seq);
    rec_put_u16(hdr + RP_FRAME_HEADER_OFF_COMMAND, f->command);
    rec_put_u16(hdr + RP_FRAME_HEADER_OFF_LENGTH, f->length);
}

uint32_t rec_frame_header_crc(const rec_frame_t *f)
{
    uint8_t hdr[RP_HEADER_SIZE];
    put_header(f, hdr);
    return rec_crc32(0, hdr, sizeof hdr);
}

int rec_frame_encode(const rec_frame_t *f, uint8_t *out, size_t out_cap, size_t *out_len)
{
    REC_ASSERT(f->length == 0 || f->payload != NULL);
    uint32_t crc = rec_frame_header_crc(f);
    if (f->length > 0 && f->length <= RP_ABSOLUTE_MAX_PAYLOAD) crc = rec_crc32(crc, f->payload, f->length);
    return rec_frame_encode_with_crc(f, crc, out, out_cap, out_len);
}

int rec_frame_encode_with_crc(const rec_frame_t *f, uint32_t crc, uint8_t *out, size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    if (f->length > RP_ABSOLUTE_MAX_PAYLOAD) return REC_E_INVAL;
    REC_ASSERT(f->length == 0 || f->payload != NULL);

    uint8_t hdr[RP_HEADER_SIZE];
    put_header(f, hdr);
    uint8_t crc_le[RP_CRC_SIZE];
    rec_put_u32(crc_le, crc);

    cobs_stream_t c;
    cs_begin(&c, out, out_cap);
    cs_put_all(&c, hdr, sizeof hdr);
    if (f->length > 0) cs_put_all(&c, f->payload, f->length);
    cs_put_all(&c, crc_le, sizeof crc_le);
    if (c.overflow || c.o >= out_cap) return REC_E_RANGE; /* room for the delimiter too */
    out[c.code_at] = c.code;
    out[c.o] = RP_DELIMITER;
    *out_len = c.o + 1;
    return REC_OK;
}

rec_frame_status_t rec_frame_parse(const uint8_t *raw, size_t len, size_t max_payload, rec_frame_t *out)
{
    if (len < FRAME_OVERHEAD) return REC_FRAME_SHORT;
    size_t n = len - FRAME_OVERHEAD;
    uint16_t field = rec_get_u16(raw + RP_FRAME_HEADER_OFF_LENGTH);
    if (n > max_payload) return REC_FRAME_OVERSIZE;
    if (field != n) return REC_FRAME_LENGTH;
    uint32_t want = rec_get_u32(raw + RP_HEADER_SIZE + n);
    if (rec_crc32(0, raw, RP_HEADER_SIZE + n) != want) return REC_FRAME_CRC;
    out->version = raw[RP_FRAME_HEADER_OFF_VERSION];
    out->kind = raw[RP_FRAME_HEADER_OFF_KIND];
    out->seq = rec_get_u16(raw + RP_FRAME_HEADER_OFF_SEQ);
    out->command = rec_get_u16(raw + RP_FRAME_HEADER_OFF_COMMAND);
    out->length = field;
    out->payload = raw + RP_HEADER_SIZE;
    if (out->version != RP_VERSION) return REC_FRAME_VERSION;
    return REC_FRAME_OK;
}

rec_frame_status_t rec_frame_decode_wire(uint8_t *wire, size_t len, size_t max_payload, rec_frame_t *out)
{
    if (len > 0 && wire[len - 1] == RP_DELIMITER) len--;
    size_t n;
    if (rec_cobs_decode(wire, len, wire, len, &n) != REC_OK) return REC_FRAME_COBS;
    return rec_frame_parse(wire, n, max_payload, out);
}

/* ---- Deframer ------------------------------------------------------------------------------ */

void rec_deframer_init(rec_deframer_t *d, uint8_t *buf, size_t buf_size, size_t max_payload)
{
    REC_ASSERT(max_payload <= RP_ABSOLUTE_MAX_PAYLOAD);
    REC_ASSERT(buf != NULL && buf_size >= REC_DEFRAMER_BUF_SIZE(max_payload));
    (void)buf_size; /* only checked by the assertion */
    d->buf = buf;
    d->cap = REC_DEFRAMER_BUF_SIZE(max_payload);
    d->max_payload = max_payload;
    rec_deframer_reset(d);
}

void rec_deframer_reset(rec_deframer_t *d)
{
    d->len = 0;
    d->discarding = false;
    d->discarded = 0;
}

size_t rec_deframer_pending(const rec_deframer_t *d)
{
    return d->discarding ? d->discarded : d->len;
}

bool rec_deframer_push(rec_deframer_t *d, const uint8_t *data, size_t len, size_t *consumed,
                       rec_deframer_item_t *item)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t b = data[i];
        if (b == RP_DELIMITER) {
            if (d->discarding) {
                memset(item, 0, sizeof *item);
                item->status = REC_FRAME_OVERSIZE;
                item->bytes = d->discarded;
                d->discarding = false;
                d->discarded = 0;
                d->len = 0;
                *consumed = i + 1;
                return true;
            }
            if (d->len > 0) {
                size_t n = d->len;
                d->len = 0;
                memset(item, 0, sizeof *item);
                item->bytes = n;
                item->status = rec_frame_decode_wire(d->buf, n, d->max_payload, &item->frame);
                if (item->status != REC_FRAME_OK && item->status != REC_FRAME_VERSION) {
                    memset(&item->frame, 0, sizeof item->frame);
                }
                *consumed = i + 1;
                return true;
            }
            continue; /* empty frame: ignored */
        }
        if (d->discarding) {
            d->discarded++;
            continue;
        }
        if (d->len >= d->cap) {
            d->discarding = true;
            d->discarded = d->len + 1;
            d->len = 0;
            continue;
        }
        d->buf[d->len++] = b;
    }
    *consumed = len;
    return false;
}
