/* Broadcast Wave header, size patching, evid chunk, and a strict parser: see wav.h. */
#include "rec/wav.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/calendar.h"
#include "rec/err.h"

/* Offsets in our header (see the layout in wav.h; the chunk layouts are in the protocol schema). */
#define CHUNK_HDR RP_RIFF_CHUNK_HEADER_SIZE /* 8: id and size */
#define OFF_FMT RP_CARD_FMT_CHUNK_OFFSET   /* 12 */
#define OFF_BEXT RP_CARD_BEXT_CHUNK_OFFSET /* 36 */
#define OFF_BEXT_DATA (OFF_BEXT + CHUNK_HDR)
#define BEXT_DESCRIPTION RP_BEXT_OFF_DESCRIPTION
#define BEXT_ORIGINATOR RP_BEXT_OFF_ORIGINATOR
#define BEXT_ORIGINATOR_REF RP_BEXT_OFF_ORIGINATOR_REFERENCE
#define BEXT_DATE RP_BEXT_OFF_ORIGINATION_DATE
#define BEXT_TIME RP_BEXT_OFF_ORIGINATION_TIME
#define BEXT_TIMEREF RP_BEXT_OFF_TIME_REFERENCE
#define BEXT_VERSION RP_BEXT_OFF_VERSION
#define BEXT_CODING_HISTORY RP_BEXT_SIZE
#define OFF_DATA_HDR (REC_WAV_HEADER_SIZE - CHUNK_HDR) /* 1016 */

#define MS_PER_DAY 86400000LL
#define MAX_UNIX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

static const uint32_t k_rates[] = RP_SAMPLE_RATES;

static bool rate_supported(uint32_t rate)
{
    for (size_t i = 0; i < REC_COUNT_OF(k_rates); i++) {
        if (k_rates[i] == rate) {
            return true;
        }
    }
    return false;
}

/* ---- Small text helpers (no stdio in the core) ------------------------------------------------ */

typedef struct {
    char *p;
    size_t cap;
    size_t len;
} text_t;

static void t_str(text_t *t, const char *s)
{
    while (*s && t->len < t->cap) {
        t->p[t->len++] = *s++;
    }
}

static void t_char(text_t *t, char c)
{
    if (t->len < t->cap) {
        t->p[t->len++] = c;
    }
}

/* Decimal with at least `width` digits. */
static void t_dec(text_t *t, uint64_t v, unsigned width)
{
    char tmp[21];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v != 0 && n < sizeof tmp);
    while (n < width && n < sizeof tmp) {
        tmp[n++] = '0';
    }
    while (n > 0) {
        t_char(t, tmp[--n]);
    }
}

static void t_hex64(text_t *t, uint64_t v)
{
    static const char digits[] = "0123456789ABCDEF";
    for (int shift = 60; shift >= 0; shift -= 4) {
        t_char(t, digits[(v >> shift) & 0xFu]);
    }
}

/* ---- Calendar (proleptic Gregorian, UTC; conversions in rec/calendar.h) ------------------------ */

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return dim[m - 1];
}

/* ---- Header ----------------------------------------------------------------------------------- */

/* A chunk header: id and payload size. */
static void put_chunk(uint8_t *p, const char id[4], uint32_t size)
{
    rp_riff_chunk_header_t h;
    memcpy(h.id, id, sizeof h.id);
    h.size = size;
    rp_riff_chunk_header_pack(&h, p);
}

static uint32_t chunk_size(const uint8_t *p)
{
    rp_riff_chunk_header_t h;
    rp_riff_chunk_header_unpack(p, &h);
    return h.size;
}

static bool id_is(const uint8_t *p, const char id[4])
{
    return memcmp(p, id, 4) == 0;
}

/* RIFF chunk ids are four printable ASCII characters. */
static bool id_valid(const uint8_t *p)
{
    for (unsigned i = 0; i < 4; i++) {
        if (p[i] < 0x20 || p[i] > 0x7E) {
            return false;
        }
    }
    return true;
}

int rec_wav_build_header(uint8_t out[REC_WAV_HEADER_SIZE], const rec_wav_info_t *info)
{
    if (!out || !info || !rate_supported(info->sample_rate)) {
        return REC_E_INVAL;
    }
    if (info->clock_set && (info->start_unix_ms < 0 || info->start_unix_ms > MAX_UNIX_MS)) {
        return REC_E_INVAL;
    }
    const char *model = info->model ? info->model : RP_CARD_MODEL;
    memset(out, 0, REC_WAV_HEADER_SIZE);

    put_chunk(out, RP_CARD_RIFF_ID, REC_WAV_HEADER_SIZE - CHUNK_HDR); /* no data, no evid yet */
    memcpy(out + CHUNK_HDR, RP_CARD_WAVE_ID, 4);

    put_chunk(out + OFF_FMT, RP_CARD_FMT_CHUNK_ID, RP_WAV_FMT_SIZE);
    const rp_wav_fmt_t fmt = { .format_tag = 1, /* WAVE_FORMAT_PCM */
                               .channels = 1,
                               .sample_rate = info->sample_rate,
                               .byte_rate = info->sample_rate * 2u,
                               .block_align = 2,
                               .bits_per_sample = 16 };
    rp_wav_fmt_pack(&fmt, out + OFF_FMT + CHUNK_HDR);

    uint8_t *bext = out + OFF_BEXT_DATA;
    int64_t year = 0;
    unsigned month = 0, day = 0, hh = 0, mm = 0, ss = 0, msec = 0;
    uint64_t timeref = 0;
    if (info->clock_set) {
        const int64_t days = info->start_unix_ms / MS_PER_DAY;
        const uint64_t ms_of_day = (uint64_t)(info->start_unix_ms % MS_PER_DAY);
        rec_civil_from_days(days, &year, &month, &day);
        hh = (unsigned)(ms_of_day / 3600000u);
        mm = (unsigned)(ms_of_day / 60000u % 60u);
        ss = (unsigned)(ms_of_day / 1000u % 60u);
        msec = (unsigned)(ms_of_day % 1000u);
        timeref = ms_of_day * info->sample_rate / 1000u;
    }

    /* Description */
    text_t t = {(char *)bext + BEXT_DESCRIPTION, 256, 0};
    t_str(&t, "Evidence recording " RP_CARD_RECORDING_PREFIX);
    t_dec(&t, info->number, RP_CARD_RECORDING_DIGITS);
    t_str(&t, " by ");
    t_str(&t, model);
    t_str(&t, " device ");
    t_hex64(&t, info->device_id);
    if (info->clock_set) {
        t_str(&t, "; start ");
        t_dec(&t, (uint64_t)year, 4);
        t_char(&t, '-');
        t_dec(&t, month, 2);
        t_char(&t, '-');
        t_dec(&t, day, 2);
        t_char(&t, 'T');
        t_dec(&t, hh, 2);
        t_char(&t, ':');
        t_dec(&t, mm, 2);
        t_char(&t, ':');
        t_dec(&t, ss, 2);
        t_char(&t, '.');
        t_dec(&t, msec, 3);
        t_str(&t, "Z (device clock, UTC)");
    } else {
        t_str(&t, "; DEVICE CLOCK NOT SET: date and time unknown");
    }

    /* Originator: "<model> <id>"; the model is cut so that the id always fits. */
    t = (text_t){(char *)bext + BEXT_ORIGINATOR, 32 - 17, 0};
    t_str(&t, model);
    t.cap = 32;
    t_char(&t, ' ');
    t_hex64(&t, info->device_id);

    /* OriginatorReference: "<id>-<number>" */
    t = (text_t){(char *)bext + BEXT_ORIGINATOR_REF, 32, 0};
    t_hex64(&t, info->device_id);
    t_char(&t, '-');
    t_dec(&t, info->number, RP_CARD_RECORDING_DIGITS);

    t = (text_t){(char *)bext + BEXT_DATE, 10, 0};
    t_dec(&t, (uint64_t)year, 4);
    t_char(&t, '-');
    t_dec(&t, month, 2);
    t_char(&t, '-');
    t_dec(&t, day, 2);
    t = (text_t){(char *)bext + BEXT_TIME, 8, 0};
    t_dec(&t, hh, 2);
    t_char(&t, ':');
    t_dec(&t, mm, 2);
    t_char(&t, ':');
    t_dec(&t, ss, 2);

    rec_put_u64(bext + BEXT_TIMEREF, timeref);
    rec_put_u16(bext + BEXT_VERSION, RP_CARD_BEXT_VERSION);
    /* UMID, loudness and reserved stay zero. */

    /* CodingHistory, NUL padded to an even length. */
    t = (text_t){(char *)bext + BEXT_CODING_HISTORY, REC_WAV_MAX_CODING_HISTORY - 2u, 0};
    t_str(&t, "A=PCM,F=");
    t_dec(&t, info->sample_rate, 1);
    t_str(&t, ",W=16,M=mono,T=");
    t_str(&t, model);
    t_str(&t, "\r\n");
    /* at least one NUL terminator, then padded to an even length */
    const uint32_t history = (uint32_t)((t.len + 2u) & ~(size_t)1u);
    REC_ASSERT(history <= REC_WAV_MAX_CODING_HISTORY);

    put_chunk(out + OFF_BEXT, RP_CARD_BEXT_CHUNK_ID, REC_WAV_BEXT_FIXED_SIZE + history);

    const uint32_t junk = OFF_BEXT_DATA + REC_WAV_BEXT_FIXED_SIZE + history;
    REC_ASSERT(junk + CHUNK_HDR <= OFF_DATA_HDR);
    put_chunk(out + junk, RP_CARD_JUNK_CHUNK_ID, OFF_DATA_HDR - junk - CHUNK_HDR);

    put_chunk(out + OFF_DATA_HDR, RP_CARD_DATA_CHUNK_ID, 0);
    return REC_OK;
}

/* ---- Sizes ------------------------------------------------------------------------------------ */

int rec_wav_sizes(uint32_t data_bytes, uint32_t tail_bytes, rec_wav_sizes_t *out)
{
    if (data_bytes > REC_WAV_MAX_DATA_BYTES || tail_bytes > REC_WAV_TAIL_MAX_BYTES) {
        return REC_E_TOOBIG;
    }
    const uint32_t padded = data_bytes + (data_bytes & 1u);
    out->data_size = data_bytes;
    out->evid_offset = REC_WAV_HEADER_SIZE + padded;
    out->file_size = out->evid_offset + tail_bytes;
    out->riff_size = out->file_size - 8u;
    return REC_OK;
}

static int patch_field(uint8_t *buf, uint32_t file_offset, uint32_t len, uint32_t field, uint32_t value)
{
    const uint64_t start = file_offset, end = (uint64_t)file_offset + len;
    if (field + 4u <= start || field >= end) {
        return 0;
    }
    if (field < start || field + 4u > end) {
        return REC_E_INVAL;
    }
    rec_put_u32(buf + (field - file_offset), value);
    return 1;
}

int rec_wav_patch(uint8_t *buf, uint32_t file_offset, uint32_t len, uint32_t data_bytes, uint32_t tail_bytes)
{
    rec_wav_sizes_t s;
    int err = rec_wav_sizes(data_bytes, tail_bytes, &s);
    if (err) {
        return err;
    }
    const int a = patch_field(buf, file_offset, len, REC_WAV_RIFF_SIZE_OFFSET, s.riff_size);
    if (a < 0) {
        return a;
    }
    const int b = patch_field(buf, file_offset, len, REC_WAV_DATA_SIZE_OFFSET, s.data_size);
    if (b < 0) {
        return b;
    }
    return a + b;
}

/* ---- Markers: "cue " and "LIST"/"adtl" ----------------------------------------------------- */

/* "Marker N" and its NUL: the labl payload is the cue id and this text, padded to even. */
static uint32_t label_text(uint32_t n, char out[REC_WAV_MARKER_LABEL_MAX])
{
    text_t t = { out, REC_WAV_MARKER_LABEL_MAX - 1u, 0 };
    t_str(&t, RP_CARD_MARKER_LABEL_PREFIX);
    t_dec(&t, n, 1);
    out[t.len] = '\0';
    return (uint32_t)t.len + 1u;
}

uint32_t rec_wav_markers_size(uint32_t count)
{
    if (count == 0u) return 0u;
    uint32_t size = CHUNK_HDR + 4u + count * RP_CUE_POINT_SIZE + CHUNK_HDR + 4u;
    char label[REC_WAV_MARKER_LABEL_MAX];
    for (uint32_t i = 1; i <= count; i++) {
        const uint32_t payload = 4u + label_text(i, label);
        size += CHUNK_HDR + payload + (payload & 1u);
    }
    return size;
}

uint32_t rec_wav_build_markers(uint8_t *out, const uint32_t *sample_offsets, uint32_t count)
{
    if (count == 0u) return 0u;
    REC_ASSERT(count <= RP_CARD_MAX_MARKERS);
    uint8_t *p = out;
    const uint32_t cue_size = 4u + count * RP_CUE_POINT_SIZE;
    put_chunk(p, RP_CARD_CUE_CHUNK_ID, cue_size);
    rec_put_u32(p + CHUNK_HDR, count);
    p += CHUNK_HDR + 4u;
    for (uint32_t i = 0; i < count; i++) {
        rp_cue_point_t c = { .name = i + 1u, .position = sample_offsets[i], .sample_offset = sample_offsets[i] };
        memcpy(c.chunk, RP_CARD_DATA_CHUNK_ID, 4);
        rp_cue_point_pack(&c, p);
        p += RP_CUE_POINT_SIZE;
    }
    uint8_t *list = p;
    p += CHUNK_HDR;
    memcpy(p, RP_CARD_ADTL_LIST_TYPE, 4);
    p += 4u;
    for (uint32_t i = 0; i < count; i++) {
        char label[REC_WAV_MARKER_LABEL_MAX];
        const uint32_t text = label_text(i + 1u, label);
        const uint32_t payload = 4u + text;
        put_chunk(p, RP_CARD_LABL_CHUNK_ID, payload);
        rec_put_u32(p + CHUNK_HDR, i + 1u);
        memcpy(p + CHUNK_HDR + 4u, label, text);
        if (payload & 1u) p[CHUNK_HDR + payload] = 0u; /* RIFF pad byte */
        p += CHUNK_HDR + payload + (payload & 1u);
    }
    put_chunk(list, RP_CARD_LIST_CHUNK_ID, (uint32_t)(p - list) - CHUNK_HDR);
    return (uint32_t)(p - out);
}

uint32_t rec_wav_build_tail(uint8_t *out, const uint32_t *sample_offsets, uint32_t count, uint32_t data_bytes,
                            const rec_wav_evid_t *ev)
{
    while (count > 0u && sample_offsets[count - 1u] > data_bytes / 2u) {
        count--;
    }
    if ((uint64_t)REC_WAV_HEADER_SIZE + data_bytes + rec_wav_markers_size(count) + REC_WAV_EVID_CHUNK_BYTES > 0xFFFFFFFFull) {
        count = 0;
    }
    const uint32_t n = rec_wav_build_markers(out, sample_offsets, count);
    return n + rec_wav_build_evid(out + n, ev);
}

/* ---- evid chunk ------------------------------------------------------------------------------- */

uint32_t rec_wav_build_evid(uint8_t out[REC_WAV_EVID_CHUNK_BYTES], const rec_wav_evid_t *e)
{
    const uint32_t size = RP_EVIDENCE_CHUNK_SIZE;
    put_chunk(out, RP_CARD_EVIDENCE_CHUNK_ID, size);
    rec_wav_evid_t v = *e;
    v.version = RP_CARD_EVIDENCE_CHUNK_VERSION;
    v.size = RP_EVIDENCE_CHUNK_SIZE;
    v.reserved = 0;
    rp_evidence_chunk_pack(&v, out + CHUNK_HDR);
    /* RIFF rule: a chunk of odd size is followed by one pad byte (zero), not counted in its size.
     * The version-1 payload is even, so there is none; the rule is kept for later versions. */
    return CHUNK_HDR + size + (size & 1u);
}

int rec_wav_parse_evid(const uint8_t *buf, size_t len, rec_wav_evid_t *out)
{
    if (!buf || !out || len < CHUNK_HDR || !id_is(buf, RP_CARD_EVIDENCE_CHUNK_ID)) {
        return REC_E_CORRUPT;
    }
    const uint32_t size = chunk_size(buf);
    if (size < RP_EVIDENCE_CHUNK_SIZE || size > len - CHUNK_HDR) {
        return REC_E_CORRUPT;
    }
    rec_wav_evid_t e;
    rp_evidence_chunk_unpack(buf + CHUNK_HDR, &e);
    if (e.version != RP_CARD_EVIDENCE_CHUNK_VERSION || e.size < RP_EVIDENCE_CHUNK_SIZE || e.size > size) {
        return REC_E_CORRUPT;
    }
    if (!rate_supported(e.sample_rate)) {
        return REC_E_CORRUPT;
    }
    *out = e;
    return REC_OK;
}

/* ---- Header parser ---------------------------------------------------------------------------- */

static bool parse_digits(const uint8_t *p, unsigned n, uint32_t *out)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10u + (uint32_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_hex64(const uint8_t *p, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 16; i++) {
        unsigned d;
        if (p[i] >= '0' && p[i] <= '9') {
            d = (unsigned)(p[i] - '0');
        } else if (p[i] >= 'A' && p[i] <= 'F') {
            d = (unsigned)(p[i] - 'A' + 10);
        } else {
            return false;
        }
        v = (v << 4) | d;
    }
    *out = v;
    return true;
}

/* Length of a NUL-padded text field: no byte after the first NUL may be non-NUL. -1 if so. */
static int field_len(const uint8_t *p, unsigned cap)
{
    unsigned n = 0;
    while (n < cap && p[n] != 0) {
        n++;
    }
    for (unsigned i = n; i < cap; i++) {
        if (p[i] != 0) {
            return -1;
        }
    }
    return (int)n;
}

static int parse_fmt(const uint8_t *c, uint32_t size, rec_wav_header_t *h)
{
    if (size != RP_WAV_FMT_SIZE) {
        return REC_E_CORRUPT;
    }
    rp_wav_fmt_t f;
    rp_wav_fmt_unpack(c, &f);
    if (f.format_tag != 1u || f.channels != 1u || !rate_supported(f.sample_rate) || f.byte_rate != f.sample_rate * 2u ||
        f.block_align != 2u || f.bits_per_sample != 16u) {
        return REC_E_CORRUPT;
    }
    h->sample_rate = f.sample_rate;
    return REC_OK;
}

/* Needs sample_rate (fmt comes first). */
static int parse_bext(const uint8_t *b, uint32_t size, rec_wav_header_t *h)
{
    if (size < REC_WAV_BEXT_FIXED_SIZE || rec_get_u16(b + BEXT_VERSION) != RP_CARD_BEXT_VERSION) {
        return REC_E_CORRUPT;
    }
    /* Originator "<model> <16 hex>" */
    const int olen = field_len(b + BEXT_ORIGINATOR, 32);
    if (olen < 18 || b[BEXT_ORIGINATOR + (unsigned)olen - 17u] != ' ') {
        return REC_E_CORRUPT;
    }
    uint64_t id;
    if (!parse_hex64(b + BEXT_ORIGINATOR + (unsigned)olen - 16u, &id)) {
        return REC_E_CORRUPT;
    }
    /* OriginatorReference "<16 hex>-<5..10 digits>" naming the same device */
    const int rlen = field_len(b + BEXT_ORIGINATOR_REF, 32);
    uint64_t ref_id;
    uint32_t number;
    if (rlen < 17 + (int)RP_CARD_RECORDING_DIGITS || rlen > 17 + 10 || !parse_hex64(b + BEXT_ORIGINATOR_REF, &ref_id) ||
        ref_id != id || b[BEXT_ORIGINATOR_REF + 16] != '-') {
        return REC_E_CORRUPT;
    }
    const unsigned ndig = (unsigned)rlen - 17u;
    uint64_t nv = 0;
    for (unsigned i = 0; i < ndig; i++) {
        const uint8_t ch = b[BEXT_ORIGINATOR_REF + 17u + i];
        if (ch < '0' || ch > '9') {
            return REC_E_CORRUPT;
        }
        nv = nv * 10u + (uint64_t)(ch - '0');
    }
    if (nv > UINT32_MAX) {
        return REC_E_CORRUPT;
    }
    number = (uint32_t)nv;

    /* Date, time and TimeReference */
    const uint8_t *d = b + BEXT_DATE, *t = b + BEXT_TIME;
    uint32_t y, mo, da, hh, mi, ss;
    if (d[4] != '-' || d[7] != '-' || t[2] != ':' || t[5] != ':' || !parse_digits(d, 4, &y) || !parse_digits(d + 5, 2, &mo) ||
        !parse_digits(d + 8, 2, &da) || !parse_digits(t, 2, &hh) || !parse_digits(t + 3, 2, &mi) || !parse_digits(t + 6, 2, &ss)) {
        return REC_E_CORRUPT;
    }
    const uint64_t timeref = rec_get_u64(b + BEXT_TIMEREF);
    if (y == 0 && mo == 0 && da == 0) {
        if (hh != 0 || mi != 0 || ss != 0 || timeref != 0) {
            return REC_E_CORRUPT;
        }
        h->clock_set = false;
        h->start_unix_ms = 0;
    } else {
        if (y < 1970 || mo < 1 || mo > 12 || da < 1 || da > days_in_month(y, mo) || hh > 23 || mi > 59 || ss > 59) {
            return REC_E_CORRUPT;
        }
        /* TimeReference must fall within the second the text names. */
        if (timeref >= (uint64_t)h->sample_rate * 86400u || timeref / h->sample_rate != hh * 3600u + mi * 60u + ss) {
            return REC_E_CORRUPT;
        }
        /* Exact for rates that are multiples of 1000 (all supported rates). */
        const int64_t ms_of_day = (int64_t)((timeref * 1000u + h->sample_rate - 1u) / h->sample_rate);
        h->clock_set = true;
        h->start_unix_ms = rec_days_from_civil(y, mo, da) * MS_PER_DAY + ms_of_day;
    }
    h->device_id = id;
    h->number = number;
    return REC_OK;
}

int rec_wav_parse_header(const uint8_t *buf, size_t len, rec_wav_header_t *out)
{
    if (!buf || !out || len < REC_WAV_HEADER_SIZE) {
        return REC_E_CORRUPT;
    }
    if (!id_is(buf, RP_CARD_RIFF_ID) || !id_is(buf + CHUNK_HDR, RP_CARD_WAVE_ID)) {
        return REC_E_CORRUPT;
    }
    rec_wav_header_t h;
    memset(&h, 0, sizeof h);
    h.riff_size = chunk_size(buf);

    bool have_fmt = false, have_bext = false;
    uint32_t off = OFF_FMT;
    /* Every chunk before the data chunk must end at or before 1016, where "data" must start. */
    while (off < OFF_DATA_HDR) {
        if (off + CHUNK_HDR > OFF_DATA_HDR) {
            return REC_E_CORRUPT;
        }
        const uint8_t *c = buf + off;
        const uint32_t size = chunk_size(c);
        if (!id_valid(c) || size > OFF_DATA_HDR - off - CHUNK_HDR) {
            return REC_E_CORRUPT;
        }
        const uint32_t padded = size + (size & 1u);
        if (padded > OFF_DATA_HDR - off - CHUNK_HDR) {
            return REC_E_CORRUPT;
        }
        int err = REC_OK;
        if (id_is(c, RP_CARD_FMT_CHUNK_ID)) {
            if (have_fmt || off != OFF_FMT) {
                return REC_E_CORRUPT;
            }
            err = parse_fmt(c + CHUNK_HDR, size, &h);
            have_fmt = true;
        } else if (id_is(c, RP_CARD_BEXT_CHUNK_ID)) {
            if (have_bext || !have_fmt) {
                return REC_E_CORRUPT;
            }
            err = parse_bext(c + CHUNK_HDR, size, &h);
            have_bext = true;
        } else if (id_is(c, RP_CARD_DATA_CHUNK_ID) || id_is(c, RP_CARD_EVIDENCE_CHUNK_ID)) {
            return REC_E_CORRUPT; /* data is only at 1016; evid only after the data */
        }
        if (err) {
            return err;
        }
        off += CHUNK_HDR + padded;
    }
    if (off != OFF_DATA_HDR || !have_fmt || !have_bext || !id_is(buf + OFF_DATA_HDR, RP_CARD_DATA_CHUNK_ID)) {
        return REC_E_CORRUPT;
    }
    h.data_offset = REC_WAV_HEADER_SIZE;
    h.data_size = chunk_size(buf + OFF_DATA_HDR);
    if (h.data_size > REC_WAV_MAX_DATA_BYTES) {
        return REC_E_CORRUPT;
    }
    rec_wav_sizes_t without;
    (void)rec_wav_sizes(h.data_size, 0, &without);
    /* After the data: the evid chunk, after markers when there are some (an even, bounded tail). */
    const uint32_t tail = h.riff_size >= without.riff_size ? h.riff_size - without.riff_size : 0u;
    h.riff_has_evid = tail >= REC_WAV_EVID_CHUNK_BYTES && tail <= REC_WAV_TAIL_MAX_BYTES && (tail & 1u) == 0u;
    h.tail_bytes = h.riff_has_evid ? tail : 0u;
    h.sizes_consistent = h.riff_has_evid || h.riff_size == without.riff_size;
    *out = h;
    return REC_OK;
}
