/* Fuzz harness 1: the wire codec (COBS, frame parse/encode, streaming deframer).
 *
 * Invariants checked on every input, beyond "no sanitizer report":
 *   - COBS: whatever decodes re-encodes to the same bytes (or, the one non-canonical form both
 *     decoders accept, to the same bytes plus a final 0x01 code: see NONCANONICAL below), and
 *     decoding never writes more than the input length;
 *   - frames: a frame parsed OK re-encodes (rec_frame_encode) to exactly the decoded bytes, and
 *     the encoding decodes back to the same header and payload; VERSION errors fill the frame;
 *   - the deframer, fed the input in chunks the input chooses, at a payload limit the input
 *     chooses: consumes bytes, never holds more than its buffer, reports each segment with the
 *     segment's exact byte count and the status a one-shot decode of that segment gives (or
 *     oversize when the segment is longer than the largest legal encoding).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rec/err.h"
#include "rec/frame.h"
#include "rec_protocol.h"

#define MAX_IN 20000u

static uint8_t g_dec[MAX_IN + 16];
static uint8_t g_enc[REC_COBS_MAX_ENCODED(MAX_IN) + 16];
static uint8_t g_wire[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD)];
static uint8_t g_wire2[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD)];
static uint8_t g_dfbuf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
static uint8_t g_seg[MAX_IN + 16];

/* NONCANONICAL: a COBS block of code 0xFF (254 data bytes, no implied zero) that ends the data
 * is encoded with a trailing 0x01 code; both decoders (C and TS) also accept it without. The
 * decoded frame is the same, so this is harmless; it is the only ambiguity we allow. */
static void check_cobs(const uint8_t *data, size_t len)
{
    size_t n;
    int rc = rec_cobs_decode(data, len, g_dec, len, &n);
    if (rc != REC_OK) {
        FZ_CHECK(rc == REC_E_CORRUPT, "decode with out_cap == len returned %d", rc);
        return;
    }
    FZ_CHECK(n <= len, "decoded %zu bytes from %zu", n, len);
    size_t m;
    FZ_CHECK(rec_cobs_encode(g_dec, n, g_enc, sizeof g_enc, &m) == REC_OK, "re-encode failed");
    FZ_CHECK(m <= REC_COBS_MAX_ENCODED(n), "encoding of %zu bytes took %zu", n, m);
    FZ_CHECK(memchr(g_enc, 0, m) == NULL, "encoding holds a zero byte");
    if (len == 0) return; /* empty input decodes to nothing; the encoding of nothing is 01 */
    bool same = m == len && memcmp(g_enc, data, len) == 0;
    bool trailing = m == len + 1 && memcmp(g_enc, data, len) == 0 && g_enc[len] == 0x01;
    FZ_CHECK(same || trailing, "COBS input of %zu bytes re-encodes differently (%zu bytes)", len, m);
    /* In-place decoding gives the same result. */
    memcpy(g_enc, data, len);
    size_t n2;
    FZ_CHECK(rec_cobs_decode(g_enc, len, g_enc, len, &n2) == REC_OK && n2 == n && memcmp(g_enc, g_dec, n) == 0,
             "in-place decode differs");
}

static void check_parse(const uint8_t *raw, size_t len, size_t max_payload)
{
    rec_frame_t f;
    memset(&f, 0, sizeof f);
    rec_frame_status_t st = rec_frame_parse(raw, len, max_payload, &f);
    if (st != REC_FRAME_OK && st != REC_FRAME_VERSION) return;
    FZ_CHECK(f.length <= max_payload && (size_t)f.length + RP_HEADER_SIZE + RP_CRC_SIZE == len, "parsed length %u of %zu",
             f.length, len);
    FZ_CHECK(f.payload == raw + RP_HEADER_SIZE, "payload does not point into the frame");
    if (st == REC_FRAME_VERSION) {
        FZ_CHECK(f.version != RP_VERSION, "VERSION status for version %u", f.version);
        return;
    }
    size_t wl;
    FZ_CHECK(rec_frame_encode(&f, g_wire, sizeof g_wire, &wl) == REC_OK, "re-encode of a parsed frame failed");
    FZ_CHECK(wl <= REC_FRAME_WIRE_MAX(f.length) && g_wire[wl - 1] == RP_DELIMITER, "bad wire length");
    size_t n;
    FZ_CHECK(rec_cobs_decode(g_wire, wl - 1, g_dec, sizeof g_dec, &n) == REC_OK, "own encoding does not decode");
    FZ_CHECK(n == len && memcmp(g_dec, raw, len) == 0, "frame re-encodes to other bytes");
    memcpy(g_wire2, g_wire, wl);
    rec_frame_t g;
    FZ_CHECK(rec_frame_decode_wire(g_wire2, wl, max_payload, &g) == REC_FRAME_OK, "own wire does not parse");
    FZ_CHECK(g.kind == f.kind && g.seq == f.seq && g.command == f.command && g.length == f.length &&
                 memcmp(g.payload, f.payload, f.length) == 0,
             "wire round trip changed the frame");
}

static void check_deframer(const uint8_t *data, size_t len, size_t max_payload, uint8_t chunking)
{
    rec_deframer_t d;
    rec_deframer_init(&d, g_dfbuf, sizeof g_dfbuf, max_payload);
    size_t seg = 0;     /* bytes of the current segment (up to the next delimiter) */
    size_t pos = 0, step = 0;
    while (pos < len) {
        /* chunk sizes 1..64 from the chunking byte, or everything */
        size_t chunk = chunking == 0 ? len - pos : (size_t)((chunking + step * 7u) % 64u) + 1u;
        step++;
        if (chunk > len - pos) chunk = len - pos;
        size_t off = 0;
        while (off < chunk) {
            size_t used = SIZE_MAX;
            rec_deframer_item_t item;
            bool done = rec_deframer_push(&d, data + pos + off, chunk - off, &used, &item);
            FZ_CHECK(used >= 1 && used <= chunk - off, "consumed %zu of %zu", used, chunk - off);
            FZ_CHECK(rec_deframer_pending(&d) <= d.cap || d.discarding, "pending %zu over cap %zu",
                     rec_deframer_pending(&d), d.cap);
            FZ_CHECK(d.len <= d.cap, "held %zu bytes over cap %zu", d.len, d.cap);
            for (size_t i = 0; i < used; i++) {
                uint8_t b = data[pos + off + i];
                if (b != RP_DELIMITER) {
                    g_seg[seg < MAX_IN ? seg : MAX_IN] = b;
                    seg++;
                    continue;
                }
                if (i + 1 < used || !done) {
                    FZ_CHECK(seg == 0, "a segment of %zu bytes ended without an item", seg);
                    continue;
                }
                /* This delimiter completed the item. */
                FZ_CHECK(seg > 0, "item for an empty segment");
                FZ_CHECK(item.bytes == seg, "item reports %zu bytes for a segment of %zu", item.bytes, seg);
                rec_frame_status_t want;
                if (seg > d.cap) {
                    want = REC_FRAME_OVERSIZE;
                } else {
                    rec_frame_t g;
                    memcpy(g_enc, g_seg, seg);
                    want = rec_frame_decode_wire(g_enc, seg, max_payload, &g);
                }
                FZ_CHECK(item.status == want, "deframer says %s, one-shot decode %s", rec_frame_status_name(item.status),
                         rec_frame_status_name(want));
                if (item.status == REC_FRAME_OK) {
                    FZ_CHECK(item.frame.length <= max_payload, "payload %u over limit", item.frame.length);
                    FZ_CHECK(item.frame.length == 0 ||
                                 (item.frame.payload >= g_dfbuf && item.frame.payload + item.frame.length <= g_dfbuf + d.cap),
                             "payload outside the deframer buffer");
                    /* Re-encodes to the segment (modulo NONCANONICAL). */
                    size_t wl;
                    FZ_CHECK(rec_frame_encode(&item.frame, g_wire, sizeof g_wire, &wl) == REC_OK, "re-encode failed");
                    bool same = wl - 1 == seg && memcmp(g_wire, g_seg, seg) == 0;
                    bool trailing = wl - 1 == seg + 1 && memcmp(g_wire, g_seg, seg) == 0 && g_wire[seg] == 0x01;
                    FZ_CHECK(same || trailing, "frame re-encodes to %zu bytes, segment was %zu", wl - 1, seg);
                }
                seg = 0;
            }
            off += used;
        }
        pos += chunk;
    }
    FZ_CHECK(rec_deframer_pending(&d) == seg, "pending %zu, segment %zu", rec_deframer_pending(&d), seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_IN) return 0;
    check_cobs(data, size);
    /* strip a trailing delimiter as decode_wire does, then parse what COBS gives */
    size_t n;
    size_t l = size && data[size - 1] == 0 ? size - 1 : size;
    if (rec_cobs_decode(data, l, g_dec, sizeof g_dec, &n) == REC_OK) {
        uint8_t raw[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
        if (n <= sizeof raw) {
            memcpy(raw, g_dec, n);
            check_parse(raw, n, RP_MIN_MAX_PAYLOAD);
            check_parse(raw, n, RP_ABSOLUTE_MAX_PAYLOAD);
        }
    }
    check_parse(data, size, RP_ABSOLUTE_MAX_PAYLOAD); /* the input as a decoded frame */
    /* The deframer: the first byte picks the payload limit and the chunking. */
    if (size > 0) {
        static const size_t limits[4] = { RP_MIN_MAX_PAYLOAD, RP_ABSOLUTE_MAX_PAYLOAD, 16, 0 };
        check_deframer(data + 1, size - 1, limits[data[0] & 3u], (uint8_t)(data[0] >> 2));
    }
    return 0;
}
