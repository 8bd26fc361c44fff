/* The C side of the wire protocol codec (protocol/src/codec.ts is the reference).
 *
 * Wire format: every frame is COBS-encoded and followed by one 0x00 delimiter. The decoded frame
 * is an 8-byte header (rec_protocol.h RP_FRAME_HEADER_OFF_*), the payload, and a CRC-32 (LE) of
 * header and payload. No heap anywhere: callers provide every buffer. */
#ifndef REC_FRAME_H
#define REC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec_protocol.h"

/* ---- CRC-32/ISO-HDLC ----------------------------------------------------------------------- */
/* Pass 0 to start; pass a previous result to continue over more data (like zlib's crc32()). */
uint32_t rec_crc32(uint32_t crc, const void *data, size_t len);

/* ---- COBS ---------------------------------------------------------------------------------- */
/* Largest COBS encoding of n bytes, without the delimiter. */
#define REC_COBS_MAX_ENCODED(n) RP_COBS_MAX_ENCODED(n)

/* Encodes len bytes of in (no delimiter is written). REC_OK and *out_len, or REC_E_RANGE when
 * out_cap is too small (REC_COBS_MAX_ENCODED(len) is always enough). in and out must not
 * overlap. */
int rec_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

/* Decodes one COBS block (without delimiter). REC_OK and *out_len; REC_E_CORRUPT on malformed
 * input (a zero byte, a block running past the end); REC_E_RANGE when out_cap is too small
 * (len bytes is always enough). Decoding in place (out == in) is allowed. */
int rec_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

/* ---- Frames -------------------------------------------------------------------------------- */
/* Wire bytes (COBS + delimiter) of a frame with an n-byte payload, at most. */
#define REC_FRAME_WIRE_MAX(n) (REC_COBS_MAX_ENCODED(RP_HEADER_SIZE + (n) + RP_CRC_SIZE) + 1u)

typedef struct {
    uint8_t version;
    uint8_t kind;           /* RP_KIND_* */
    uint16_t seq;
    uint16_t command;       /* RP_CMD_* or RP_EVT_* */
    uint16_t length;        /* payload length */
    const uint8_t *payload; /* length bytes; may be NULL when length is 0 */
} rec_frame_t;

/* Outcome of parsing a frame. The names (rec_frame_status_name) are the TS FrameError reasons. */
typedef enum {
    REC_FRAME_OK = 0,
    REC_FRAME_COBS,     /* "cobs": malformed COBS */
    REC_FRAME_SHORT,    /* "short": shorter than header and CRC */
    REC_FRAME_OVERSIZE, /* "oversize": payload (or encoded frame) larger than the maximum */
    REC_FRAME_LENGTH,   /* "length": length field disagrees with the frame size */
    REC_FRAME_CRC,      /* "crc": CRC mismatch */
    REC_FRAME_VERSION,  /* "version": intact frame of another protocol version; *out is filled */
} rec_frame_status_t;

const char *rec_frame_status_name(rec_frame_status_t s);

/* Builds the wire encoding of f (header, payload, CRC, COBS, delimiter) directly into out.
 * The version written is always RP_VERSION (f->version is ignored). REC_OK and *out_len;
 * REC_E_INVAL when f->length > RP_ABSOLUTE_MAX_PAYLOAD; REC_E_RANGE when out_cap is too small
 * (REC_FRAME_WIRE_MAX(f->length) is always enough). The payload must not overlap out. */
int rec_frame_encode(const rec_frame_t *f, uint8_t *out, size_t out_cap, size_t *out_len);

/* CRC-32 of f's 8 header bytes as rec_frame_encode writes them: continue it over the payload
 * (rec_crc32) for the frame CRC. */
uint32_t rec_frame_header_crc(const rec_frame_t *f);

/* rec_frame_encode with the frame CRC the caller computed (rec_frame_header_crc continued over
 * the payload): a READ_CHECKED answer's check table is that CRC's running values, so the
 * server computes the CRC once, while filling the table. */
int rec_frame_encode_with_crc(const rec_frame_t *f, uint32_t crc, uint8_t *out, size_t out_cap, size_t *out_len);

/* Parses a decoded (un-COBSed) frame, with the TS codec's checks in its order: short, oversize
 * (payload > max_payload), length, crc, version. On REC_FRAME_OK and REC_FRAME_VERSION *out is
 * filled (out->payload points into raw), so a server can answer a version mismatch with the
 * right seq and command. */
rec_frame_status_t rec_frame_parse(const uint8_t *raw, size_t len, size_t max_payload, rec_frame_t *out);

/* Decodes one wire frame (COBS data, with or without the trailing delimiter) IN PLACE: wire is
 * overwritten with the decoded bytes, and out->payload points into it. */
rec_frame_status_t rec_frame_decode_wire(uint8_t *wire, size_t len, size_t max_payload, rec_frame_t *out);

/* ---- Streaming deframer -------------------------------------------------------------------- */
/* Buffer size a deframer needs for a given maximum payload. */
#define REC_DEFRAMER_BUF_SIZE(max_payload) REC_COBS_MAX_ENCODED(RP_HEADER_SIZE + (max_payload) + RP_CRC_SIZE)

typedef struct {
    uint8_t *buf;
    size_t cap;          /* == REC_DEFRAMER_BUF_SIZE(max_payload): the largest legal encoding */
    size_t max_payload;
    size_t len;          /* bytes gathered for the current frame */
    bool discarding;     /* dropping an oversize frame up to the next delimiter */
    size_t discarded;
} rec_deframer_t;

/* What the deframer produced. status REC_FRAME_OK: a good frame in .frame. Any other status:
 * a rejected frame, .bytes encoded bytes long; with REC_FRAME_VERSION .frame is filled too.
 * .frame.payload points into the deframer's buffer and is valid until the next push. */
typedef struct {
    rec_frame_status_t status;
    rec_frame_t frame;
    size_t bytes;
} rec_deframer_item_t;

/* buf must hold at least REC_DEFRAMER_BUF_SIZE(max_payload) bytes (asserted). max_payload is
 * at most RP_ABSOLUTE_MAX_PAYLOAD. */
void rec_deframer_init(rec_deframer_t *d, uint8_t *buf, size_t buf_size, size_t max_payload);
void rec_deframer_reset(rec_deframer_t *d);

/* Feeds bytes until one item completes or data runs out. Returns true with *item filled when an
 * item completed; *consumed (always set) says how many bytes of data were used, so call again
 * with the rest:
 *
 *     while (len > 0) {
 *         size_t used;
 *         if (rec_deframer_push(&d, data, len, &used, &item)) handle(&item);
 *         data += used; len -= used;
 *     }
 *
 * Same semantics as the TS Deframer: empty frames (delimiter runs) are ignored; an accumulation
 * longer than the largest legal encoding is dropped at once and everything up to the next
 * delimiter discarded, then reported once as REC_FRAME_OVERSIZE with the total byte count. */
bool rec_deframer_push(rec_deframer_t *d, const uint8_t *data, size_t len, size_t *consumed,
                       rec_deframer_item_t *item);

/* Bytes held for an incomplete frame (or discarded so far, while discarding). */
size_t rec_deframer_pending(const rec_deframer_t *d);

#endif
