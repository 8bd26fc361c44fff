/* Consistent Overhead Byte Stuffing, bounded buffers, same output as the TS reference. */
#include "rec/err.h"
#include "rec/frame.h"

int rec_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    *out_len = 0;
    if (out_cap < 1) return REC_E_RANGE;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = in[i];
        if (o >= out_cap) return REC_E_RANGE; /* both branches write out[o] */
        if (b == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = b;
            if (++code == 0xFF) {
                if (o >= out_cap) return REC_E_RANGE;
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    *out_len = o;
    return REC_OK;
}

int rec_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t i = 0, o = 0;
    *out_len = 0;
    while (i < len) {
        uint8_t code = in[i];
        if (code == 0) return REC_E_CORRUPT;
        i++;
        size_t end = i + code - 1u;
        if (end > len) return REC_E_CORRUPT;
        for (; i < end; i++) {
            uint8_t b = in[i];
            if (b == 0) return REC_E_CORRUPT;
            if (o >= out_cap) return REC_E_RANGE;
            out[o++] = b; /* o < i always, so in-place decoding never overwrites unread input */
        }
        if (code != 0xFF && i < len) {
            if (o >= out_cap) return REC_E_RANGE;
            out[o++] = 0;
        }
    }
    *out_len = o;
    return REC_OK;
}
