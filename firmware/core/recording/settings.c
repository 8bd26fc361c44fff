#include "rec/settings.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/text.h"
#include "rec/err.h"
#include "rec/frame.h"
#include "rec_protocol.h"

/* Blob layout: 0 magic u32 | 4 version u16 | 6 size u16 | 8 device id u64 | 16 label[32] |
 * 48 sample rate u32 | 52 discreet u8 | 53 reserved[3] | 56 next number u32 | 60 crc32 u32 */

bool rec_settings_rate_valid(uint32_t rate)
{
    static const uint32_t rates[] = RP_SAMPLE_RATES;
    for (size_t i = 0; i < REC_COUNT_OF(rates); i++)
        if (rates[i] == rate) return true;
    return false;
}

void rec_settings_defaults(rec_settings_t *s)
{
    memset(s, 0, sizeof *s);
    s->sample_rate = 16000;
    s->next_number = 1;
}

void rec_settings_encode(const rec_settings_t *s, uint8_t out[REC_SETTINGS_BLOB_SIZE])
{
    memset(out, 0, REC_SETTINGS_BLOB_SIZE);
    rec_put_u32(out + 0, REC_SETTINGS_MAGIC);
    rec_put_u16(out + 4, REC_SETTINGS_VERSION);
    rec_put_u16(out + 6, REC_SETTINGS_BLOB_SIZE);
    rec_put_u64(out + 8, s->device_id);
    memcpy(out + 16, s->label, rec_strnlen(s->label, REC_LABEL_MAX));
    rec_put_u32(out + 48, s->sample_rate);
    out[52] = s->discreet ? 1 : 0;
    rec_put_u32(out + 56, s->next_number);
    rec_put_u32(out + 60, rec_crc32(0, out, 60));
}

int rec_settings_decode(const uint8_t in[REC_SETTINGS_BLOB_SIZE], rec_settings_t *s)
{
    if (rec_get_u32(in) != REC_SETTINGS_MAGIC || rec_get_u16(in + 4) != REC_SETTINGS_VERSION ||
        rec_get_u16(in + 6) != REC_SETTINGS_BLOB_SIZE || rec_get_u32(in + 60) != rec_crc32(0, in, 60))
        return REC_E_CORRUPT;
    rec_settings_t t;
    rec_settings_defaults(&t);
    t.device_id = rec_get_u64(in + 8);
    memcpy(t.label, in + 16, REC_LABEL_MAX);
    t.label[REC_LABEL_MAX] = '\0';
    t.sample_rate = rec_get_u32(in + 48);
    t.discreet = in[52] != 0;
    t.next_number = rec_get_u32(in + 56);
    if (!rec_settings_rate_valid(t.sample_rate) || t.next_number == 0) return REC_E_CORRUPT;
    *s = t;
    return REC_OK;
}
