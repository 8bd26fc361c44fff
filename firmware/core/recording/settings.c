#include "rec/settings.h"

#include <string.h>

#include "rec/text.h"
#include "rec/err.h"
#include "rec/frame.h"
#include "rec_codec.h"

/* Blob layout: SETTINGS_BLOB in the protocol schema. */
#define CRC_BYTES RP_SETTINGS_BLOB_OFF_CRC32

bool rec_settings_rate_valid(uint32_t rate)
{
    static const uint32_t rates[] = RP_SAMPLE_RATES;
    for (size_t i = 0; i < REC_COUNT_OF(rates); i++)
        if (rates[i] == rate) return true;
    return false;
}

bool rec_settings_scheme_valid(uint32_t scheme)
{
    return scheme == RP_BUTTON_SCHEME_STANDARD || scheme == RP_BUTTON_SCHEME_NO_MARKERS;
}

void rec_settings_defaults(rec_settings_t *s)
{
    memset(s, 0, sizeof *s);
    s->sample_rate = RP_CARD_DEFAULT_SAMPLE_RATE;
    s->next_number = 1;
}

void rec_settings_encode(const rec_settings_t *s, uint8_t out[REC_SETTINGS_BLOB_SIZE])
{
    rp_settings_blob_t b;
    memset(&b, 0, sizeof b);
    memcpy(b.magic, RP_CARD_SETTINGS_MAGIC, sizeof b.magic);
    b.version = REC_SETTINGS_VERSION;
    b.size = REC_SETTINGS_BLOB_SIZE;
    b.device_id = s->device_id;
    memcpy(b.label, s->label, rec_strnlen(s->label, REC_LABEL_MAX));
    b.sample_rate = s->sample_rate;
    b.discreet = s->discreet ? 1 : 0;
    b.button_scheme = s->button_scheme;
    b.next_number = s->next_number;
    rp_settings_blob_pack(&b, out);
    b.crc32 = rec_crc32(0, out, CRC_BYTES);
    rp_settings_blob_pack(&b, out);
}

int rec_settings_decode(const uint8_t in[REC_SETTINGS_BLOB_SIZE], rec_settings_t *s)
{
    rp_settings_blob_t b;
    rp_settings_blob_unpack(in, &b);
    if (memcmp(b.magic, RP_CARD_SETTINGS_MAGIC, sizeof b.magic) != 0 || b.version != REC_SETTINGS_VERSION ||
        b.size != REC_SETTINGS_BLOB_SIZE || b.crc32 != rec_crc32(0, in, CRC_BYTES))
        return REC_E_CORRUPT;
    rec_settings_t t;
    rec_settings_defaults(&t);
    t.device_id = b.device_id;
    memcpy(t.label, b.label, REC_LABEL_MAX);
    t.label[REC_LABEL_MAX] = '\0';
    t.sample_rate = b.sample_rate;
    t.discreet = b.discreet != 0;
    /* Blobs from before schemes have zero here: standard. So has a scheme this firmware does not
     * know (a newer firmware's blob), rather than losing the device id with the whole blob. */
    t.button_scheme = rec_settings_scheme_valid(b.button_scheme) ? b.button_scheme : RP_BUTTON_SCHEME_STANDARD;
    t.next_number = b.next_number;
    if (!rec_settings_rate_valid(t.sample_rate) || t.next_number == 0) return REC_E_CORRUPT;
    *s = t;
    return REC_OK;
}
