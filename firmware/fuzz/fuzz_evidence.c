/* Fuzz harness 5: the evidence records as read back from a card, and the markers chunk.
 *
 * The first input byte picks a part (mod 4); the rest is its input:
 *   0 CHECKPOINT: a signed checkpoint slot (core/evidence/checkpoint.c) as the device wrote it
 *     (start, mid or stop; made once with rec_ckpt_format_* and rec_ckpt_sign under a fixed key),
 *     patched: which u8, then (offset u16, length u8, bytes)*. rec_ckpt_parse without a key and
 *     with the device's key. Checked: the result is REC_OK or REC_E_CORRUPT; with the key, OK only
 *     for the slot exactly as signed (a changed byte anywhere, message or signature, is refused);
 *     a parse OK without the key gives a kind 1-3 and, for the unchanged slot, the fields the
 *     message was made from.
 *   1 JOURNAL: a 128-byte journal record (every kind: recording, number spent, found, tail lost,
 *     clock set and lost, key created, epoch start, wiped, marker); rec_journal_decode, and what
 *     decodes re-encodes to a record that decodes to the same fields (and to the same bytes when
 *     the reserved bytes were zero); rec_journal_check_link gives OK, CORRUPT or MISMATCH, and OK
 *     only with the record's own index and previous hash.
 *   2 MARKERS: the tail a stop or a recovery writes after the audio (rec_wav_build_tail: "cue "
 *     and LIST/adtl chunks of the markers, then the evid chunk) from a marker count, sample
 *     offsets, the audio length and evid fields taken from the input. Checked with a reader of
 *     our own: the tail is a run of RIFF chunks covering it exactly; the cue chunk holds the
 *     markers inside the audio, in order, each cue point naming the data chunk, its label chunk
 *     its number; the size is rec_wav_markers_size of the markers kept plus the evid chunk, the
 *     evid chunk parses back to the fields given, and rec_wav_sizes accepts the file's sizes.
 *   3 TEXT: the evidence text writers (core/evidence/evtext.c) into a buffer of a size the input
 *     picks: never a byte past it, overflow set exactly when the text did not fit, base64 decodes
 *     back, hex and ISO dates of the expected length.
 * REC_FUZZ_WRITE_SEEDS=dir writes seeds: each slot, a journal record of every kind, tails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rec/bytes.h"
#include "rec/checkpoint.h"
#include "rec/err.h"
#include "rec/evtext.h"
#include "rec/identity.h"
#include "rec/journal.h"
#include "rec/wav.h"
#include "rec_codec.h"
#include "rec_protocol.h"

static rec_identity_t g_key;
enum { SLOT_START, SLOT_MID, SLOT_STOP, SLOTS };
static uint8_t g_slot[SLOTS][REC_CKPT_SLOT_SIZE];
static const uint8_t g_session[REC_CKPT_SESSION_SIZE] = { 0x5e, 0x55, 0x10, 0x4e };
static const uint8_t g_h[32] = { 0x4a, 0x75, 0x64 };
static const uint8_t g_f[32] = { 0xf1, 0x1e };

static void make_slots(void)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)(i * 7 + 1);
    if (rec_identity_from_seed(&g_key, seed) != REC_OK) abort();
    uint8_t pj[32] = { 0x9a };
    if (rec_ckpt_format_start(g_slot[SLOT_START], g_key.key_id, 42, 16000, true, 1767225600000LL, 1234, pj) != REC_OK ||
        rec_ckpt_format_mid(g_slot[SLOT_MID], g_key.key_id, 42, 3, 480000, 31234, g_session, g_h) != REC_OK ||
        rec_ckpt_format_stop(g_slot[SLOT_STOP], g_key.key_id, 42, 4, 500000, RP_STOP_POWER_LOSS, true, 3, g_session, g_h,
                             g_f) != REC_OK)
        abort();
    for (int i = 0; i < SLOTS; i++)
        if (rec_ckpt_sign(&g_key, g_slot[i]) != REC_OK) abort();
}

static void check_checkpoint(fz_in_t *in)
{
    unsigned which = fz_u8(in) % SLOTS;
    uint8_t slot[REC_CKPT_SLOT_SIZE];
    memcpy(slot, g_slot[which], sizeof slot);
    while (fz_more(in)) {
        uint16_t off = (uint16_t)(fz_u16(in) % REC_CKPT_SLOT_SIZE);
        const uint8_t *p;
        size_t n = fz_bytes(in, fz_u8(in), &p);
        if (n > REC_CKPT_SLOT_SIZE - off) n = REC_CKPT_SLOT_SIZE - off;
        memcpy(slot + off, p, n);
    }
    const bool same = memcmp(slot, g_slot[which], sizeof slot) == 0;
    rec_ckpt_t c;
    memset(&c, 0xA5, sizeof c);
    int rc = rec_ckpt_parse(slot, NULL, &c);
    FZ_CHECK(rc == REC_OK || rc == REC_E_CORRUPT, "parse without a key returned %d", rc);
    if (rc == REC_OK) {
        FZ_CHECK(c.kind >= REC_CKPT_START && c.kind <= REC_CKPT_STOP, "parsed kind %u", c.kind);
        if (same) {
            FZ_CHECK(c.kind == which + 1u && c.number == 42 && memcmp(c.key_id, g_key.key_id, REC_KEY_ID_SIZE) == 0,
                     "the device's slot %u parsed as kind %u number %u", which, c.kind, c.number);
            if (which == SLOT_START) FZ_CHECK(c.rate == 16000, "start slot rate %u", c.rate);
            if (which != SLOT_START)
                FZ_CHECK(memcmp(c.session, g_session, sizeof g_session) == 0 && memcmp(c.h, g_h, 32) == 0 &&
                             c.index == which + 2u && c.samples == (which == SLOT_MID ? 480000u : 500000u),
                         "slot %u parsed with other fields", which);
            if (which == SLOT_STOP)
                FZ_CHECK(memcmp(c.f, g_f, 32) == 0 && c.why == RP_STOP_POWER_LOSS && c.recovered && c.vouched == 3,
                         "stop slot parsed with other fields");
        }
    } else {
        FZ_CHECK(!same, "the device's own slot %u does not parse", which);
    }
    rc = rec_ckpt_parse(slot, &g_key, &c);
    FZ_CHECK(rc == REC_OK || rc == REC_E_CORRUPT, "parse with the key returned %d", rc);
    FZ_CHECK((rc == REC_OK) == same, "a slot %s accepted as signed: %d", same ? "as signed was not" : "changed after signing was",
             rc);
}

static void check_journal(fz_in_t *in)
{
    uint8_t raw[REC_JOURNAL_RECORD_SIZE];
    const uint8_t *p;
    size_t n = fz_bytes(in, sizeof raw, &p);
    memset(raw, 0, sizeof raw);
    memcpy(raw, p, n);
    rec_journal_record_t j, j2;
    memset(&j, 0, sizeof j);
    int rc = rec_journal_decode(raw, &j);
    FZ_CHECK(rc == REC_OK || rc == REC_E_CORRUPT, "decode returned %d", rc);
    if (rc == REC_OK) {
        uint8_t again[REC_JOURNAL_RECORD_SIZE];
        rec_journal_encode(&j, again);
        memset(&j2, 0, sizeof j2);
        FZ_CHECK(rec_journal_decode(again, &j2) == REC_OK, "a decoded record re-encodes to one that does not decode");
        FZ_CHECK(j2.index == j.index && j2.number == j.number && j2.kind == j.kind && j2.sample_rate == j.sample_rate &&
                     j2.sample_count == j.sample_count && j2.start_unix_ms == j.start_unix_ms &&
                     j2.stop_unix_ms == j.stop_unix_ms && j2.stop_reason == j.stop_reason && j2.flags == j.flags &&
                     memcmp(j2.sha256, j.sha256, 32) == 0 && memcmp(j2.prev_hash, j.prev_hash, 32) == 0,
                 "journal record of kind %u changed in a round trip", j.kind);
        (void)rec_journal_kind_has_number(j.kind);
        (void)rec_journal_kind_has_file(j.kind);
        if (memcmp(again, raw, sizeof raw) != 0) {
            /* Only bytes the encoder owns may differ: what decode ignores is rewritten. */
            rec_journal_record_t j3;
            FZ_CHECK(rec_journal_decode(again, &j3) == REC_OK && memcmp(&j3, &j2, sizeof j3) == 0,
                     "re-encoding is not stable");
        }
    }
    uint8_t prev[32];
    const uint8_t *pp;
    size_t pn = fz_bytes(in, sizeof prev, &pp);
    memset(prev, 0, sizeof prev);
    memcpy(prev, pp, pn);
    uint32_t index = fz_u32(in);
    rc = rec_journal_check_link(raw, index, prev);
    FZ_CHECK(rc == REC_OK || rc == REC_E_CORRUPT || rc == REC_E_MISMATCH, "check_link returned %d", rc);
    if (rc == REC_OK) {
        FZ_CHECK(rec_journal_decode(raw, &j2) == REC_OK, "a linked record does not decode");
        FZ_CHECK(j2.index == index && memcmp(j2.prev_hash, prev, 32) == 0, "linked with another index or previous hash");
    }
}

/* The markers' RIFF chunks, read with nothing of wav.c. */
static void check_markers(fz_in_t *in)
{
    uint32_t offsets[RP_CARD_MAX_MARKERS];
    uint32_t count = fz_u8(in) % (RP_CARD_MAX_MARKERS + 1u);
    uint32_t data_bytes = fz_u32(in);
    if (fz_u8(in) & 1u) data_bytes %= 1u << 20; /* mostly recordings of sizes seen on cards */
    data_bytes &= ~1u;
    /* Ascending offsets (the journal's order), as steps from the input. */
    uint32_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t step = fz_u16(in);
        if (fz_u8(in) == 0xFF) step = fz_u32(in);
        at = at + step < at ? UINT32_MAX : at + step;
        offsets[i] = at;
    }
    rec_wav_evid_t ev;
    memset(&ev, 0, sizeof ev);
    ev.number = fz_u32(in);
    ev.device_id = (uint64_t)fz_u32(in) << 32 | fz_u32(in);
    static const uint32_t rates[4] = { 8000, 16000, 32000, 48000 };
    uint8_t rate_pick = fz_u8(in);
    ev.sample_rate = rate_pick < 0xF0 ? rates[rate_pick % 4u] : fz_u32(in);
    const bool rate_ok = ev.sample_rate == 8000 || ev.sample_rate == 16000 || ev.sample_rate == 32000 || ev.sample_rate == 48000;
    ev.sample_count = data_bytes / 2u;
    ev.start_unix_ms = (int64_t)((uint64_t)fz_u32(in) << 16);
    ev.stop_reason = fz_u8(in);
    ev.flags = fz_u8(in);
    ev.overruns = fz_u32(in);
    for (int i = 0; i < 32; i++) ev.sha256[i] = fz_u8(in);

    static uint8_t tail[REC_WAV_TAIL_MAX_BYTES + 64];
    memset(tail, 0xEE, sizeof tail);
    uint32_t len = rec_wav_build_tail(tail, offsets, count, data_bytes, &ev);
    FZ_CHECK(len <= REC_WAV_TAIL_MAX_BYTES, "tail of %u bytes", len);
    for (size_t i = len; i < sizeof tail; i++) FZ_CHECK(tail[i] == 0xEE, "tail written past its %u bytes", len);

    /* Markers kept: those inside the audio, unless the file would pass 4 GiB - 1. */
    uint32_t kept = count;
    while (kept > 0 && offsets[kept - 1] > data_bytes / 2u) kept--;
    if ((uint64_t)REC_WAV_HEADER_SIZE + data_bytes + rec_wav_markers_size(kept) + REC_WAV_EVID_CHUNK_BYTES > 0xFFFFFFFFull)
        kept = 0;
    FZ_CHECK(len == rec_wav_markers_size(kept) + REC_WAV_EVID_CHUNK_BYTES, "tail of %u bytes for %u markers", len, kept);

    uint32_t pos = 0, cues = UINT32_MAX, labels = 0;
    bool saw_evid = false;
    while (pos < len) {
        FZ_CHECK(len - pos >= 8u, "a chunk header cut at %u of %u", pos, len);
        const uint8_t *c = tail + pos;
        uint32_t size = rec_get_u32(c + 4);
        FZ_CHECK(size <= len - pos - 8u, "chunk at %u claims %u bytes", pos, size);
        if (memcmp(c, "cue ", 4) == 0) {
            cues = rec_get_u32(c + 8);
            FZ_CHECK(cues == kept && size == 4u + cues * RP_CUE_POINT_SIZE, "cue chunk of %u points, %u bytes", cues, size);
            for (uint32_t i = 0; i < cues; i++) {
                const uint8_t *q = c + 12 + i * RP_CUE_POINT_SIZE;
                FZ_CHECK(rec_get_u32(q) == i + 1u && memcmp(q + 8, "data", 4) == 0 && rec_get_u32(q + 4) == offsets[i] &&
                             rec_get_u32(q + 20) == offsets[i] && rec_get_u32(q + 20) <= data_bytes / 2u,
                         "cue point %u", i);
            }
        } else if (memcmp(c, "LIST", 4) == 0) {
            FZ_CHECK(size >= 4u && memcmp(c + 8, "adtl", 4) == 0, "LIST chunk not adtl");
            uint32_t lp = 12;
            while (lp < 8u + size) {
                FZ_CHECK(8u + size - lp >= 8u, "labl header cut");
                uint32_t ls = rec_get_u32(c + lp + 4);
                FZ_CHECK(memcmp(c + lp, "labl", 4) == 0 && ls >= 5u && ls <= 8u + size - lp - 8u, "labl chunk of %u", ls);
                FZ_CHECK(rec_get_u32(c + lp + 8) == ++labels, "label %u names cue %u", labels, rec_get_u32(c + lp + 8));
                FZ_CHECK(c[lp + 8 + ls - 1] == '\0', "label text not terminated");
                lp += 8u + ls + (ls & 1u);
            }
            FZ_CHECK(lp == 8u + size, "labels overrun their LIST");
        } else if (memcmp(c, "evid", 4) == 0) {
            FZ_CHECK(pos + REC_WAV_EVID_CHUNK_BYTES == len, "evid chunk not last");
            rec_wav_evid_t back;
            int prc = rec_wav_parse_evid(c, len - pos, &back);
            FZ_CHECK(prc == (rate_ok ? REC_OK : REC_E_CORRUPT), "the evid chunk written parses with %d (rate %u)", prc,
                     ev.sample_rate);
            FZ_CHECK(!rate_ok || back.number == ev.number && back.device_id == ev.device_id && back.sample_rate == ev.sample_rate &&
                         back.sample_count == ev.sample_count && back.start_unix_ms == ev.start_unix_ms &&
                         back.stop_reason == ev.stop_reason && back.flags == ev.flags && back.overruns == ev.overruns &&
                         memcmp(back.sha256, ev.sha256, 32) == 0,
                     "evid chunk parses to other fields");
            saw_evid = true;
        } else {
            FZ_CHECK(false, "unexpected chunk %.4s at %u", (const char *)c, pos);
        }
        pos += 8u + size + (size & 1u);
    }
    FZ_CHECK(pos == len && saw_evid, "chunks end at %u of %u (evid %d)", pos, len, saw_evid);
    FZ_CHECK(kept == 0 ? cues == UINT32_MAX && labels == 0 : cues == kept && labels == kept, "%u cues and %u labels for %u",
             cues, labels, kept);
    rec_wav_sizes_t sz;
    int rc = rec_wav_sizes(data_bytes, len, &sz);
    FZ_CHECK(rc == REC_OK || (rc == REC_E_TOOBIG && data_bytes > REC_WAV_MAX_DATA_BYTES), "sizes of %u + %u: %d", data_bytes,
             len, rc);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static void check_text(fz_in_t *in)
{
    char buf[256 + 16];
    size_t cap = fz_u8(in);
    memset(buf, 0x7F, sizeof buf);
    rec_evtext_t t;
    rec_evtext_init(&t, buf, cap);
    size_t want = 0; /* bytes the writes asked for */
    for (int ops = 0; fz_more(in) && ops < 64; ops++) {
        uint8_t op = fz_u8(in) % 6u;
        size_t before = t.len;
        bool was_over = t.overflow;
        switch (op) {
        case 0: rec_evtext_char(&t, (char)fz_u8(in)); want += 1; break;
        case 1: {
            uint64_t v = (uint64_t)fz_u32(in) << 32 | fz_u32(in);
            unsigned width = fz_u8(in) % 21u; /* padding stops at 20 digits, the most a u64 has */
            char dec[32];
            int w = snprintf(dec, sizeof dec, "%0*llu", (int)width, (unsigned long long)v);
            rec_evtext_dec(&t, v, width);
            want += (size_t)w;
            if (!t.overflow) FZ_CHECK(t.len - before == (size_t)w && memcmp(buf + before, dec, (size_t)w) == 0, "decimal %s", dec);
            break;
        }
        case 2: {
            const uint8_t *p;
            size_t n = fz_bytes(in, fz_u8(in) % 48u, &p);
            rec_evtext_hex(&t, p, n);
            want += 2 * n;
            if (!t.overflow) FZ_CHECK(t.len - before == 2 * n, "hex of %zu bytes is %zu chars", n, t.len - before);
            break;
        }
        case 3: {
            int64_t ms = (int64_t)((uint64_t)fz_u32(in) << 32 | fz_u32(in));
            if (fz_u8(in) & 1u) ms %= 8000000000000LL; /* years 1716-2223 */
            rec_evtext_iso(&t, ms);
            want += t.len - before; /* its length is checked when in range below */
            if (!t.overflow && ms >= 0 && ms < 253402300800000LL)
                FZ_CHECK(t.len - before == 24 && buf[before + 4] == '-' && buf[before + 10] == 'T' && buf[before + 23] == 'Z',
                         "ISO date of %lld: %.*s", (long long)ms, (int)(t.len - before), buf + before);
            if (was_over || t.overflow) want = cap + 1; /* length unknown once over */
            break;
        }
        case 4: {
            const uint8_t *p;
            size_t n = fz_bytes(in, fz_u8(in) % 64u, &p);
            rec_evtext_base64(&t, p, n);
            want += (n + 2) / 3 * 4;
            if (!t.overflow) {
                FZ_CHECK(t.len - before == (n + 2) / 3 * 4, "base64 of %zu bytes is %zu chars", n, t.len - before);
                /* Decodes back. */
                size_t k = 0;
                for (size_t i = before; i < t.len; i += 4) {
                    int v[4];
                    for (int j = 0; j < 4; j++) v[j] = buf[i + j] == '=' ? 0 : b64_value(buf[i + j]);
                    FZ_CHECK(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0, "not base64");
                    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
                    for (int j = 0; j < 3 && k < n; j++, k++)
                        FZ_CHECK((uint8_t)(w >> (16 - 8 * j)) == p[k], "base64 decodes to another byte %zu", k);
                }
            }
            break;
        }
        default: {
            const char *s = rec_evtext_stop_reason(fz_u8(in));
            FZ_CHECK(s != NULL && strlen(s) < 32, "stop reason name");
            rec_evtext_str(&t, s);
            want += strlen(s);
            break;
        }
        }
        FZ_CHECK(t.len <= cap, "text of %zu chars in %zu", t.len, cap);
        FZ_CHECK(!was_over || t.overflow, "overflow cleared");
    }
    FZ_CHECK(t.overflow == (want > cap), "overflow %d after %zu chars asked of %zu", t.overflow, want, cap);
    for (size_t i = cap; i < sizeof buf; i++) FZ_CHECK(buf[i] == 0x7F, "a byte written at %zu past %zu", i, cap);
}

/* Seeds from the device's own encoders: each slot unpatched, a journal record of every kind
 * (rec_journal_encode, with its fields as the device fills them), markers tails. */
static void dump_seeds(const char *dir)
{
    static const char *slot_names[SLOTS] = { "ckpt-start", "ckpt-mid", "ckpt-stop" };
    for (uint8_t i = 0; i < SLOTS; i++) {
        uint8_t s[2] = { 0, i };
        fz_write_seed(dir, slot_names[i], s, sizeof s);
    }
    uint8_t prev[32] = { 0 };
    /* Every kind the schema has, and a few it does not have yet. */
    for (uint16_t kind = 0; kind <= RP_JOURNAL_KIND_MARKER + 2u; kind++) {
        rec_journal_record_t j;
        memset(&j, 0, sizeof j);
        j.index = kind;
        j.kind = kind;
        j.number = rec_journal_kind_has_number(kind) || kind == RP_JOURNAL_KIND_MARKER ? 7u : 0u;
        j.start_unix_ms = 1767225600000LL;
        j.stop_unix_ms = 1767225660000LL;
        j.sample_rate = 16000;
        j.sample_count = kind == RP_JOURNAL_KIND_MARKER ? 12345u : 960000u;
        j.stop_reason = RP_STOP_BUTTON;
        j.flags = RP_RECORD_FLAG_CLOCK_SET;
        memcpy(j.prev_hash, prev, 32);
        for (int b = 0; b < 32; b++) j.sha256[b] = (uint8_t)(b + kind);
        uint8_t seed[1 + REC_JOURNAL_RECORD_SIZE + 32 + 4];
        seed[0] = 1;
        rec_journal_encode(&j, seed + 1);
        memcpy(seed + 1 + REC_JOURNAL_RECORD_SIZE, prev, 32);
        rec_put_u32(seed + 1 + REC_JOURNAL_RECORD_SIZE + 32, kind);
        char name[32];
        snprintf(name, sizeof name, "journal-kind-%u", kind);
        fz_write_seed(dir, name, seed, sizeof seed);
        rec_journal_hash(seed + 1, prev);
    }
    /* Markers: count, data bytes, a size byte, then steps (u16, 0 = u16 step). */
    uint8_t m[1 + 1 + 4 + 1 + 3 * 99 + 64] = { 0 }; /* the tail past the steps is zeros: a seed must be the same every time */
    size_t k = 0;
    m[k++] = 2;
    m[k++] = 3;
    rec_put_u32(m + k, 320000);
    k += 4;
    m[k++] = 1;
    for (int i = 0; i < 3; i++) {
        rec_put_u16(m + k, 16000);
        k += 2;
        m[k++] = 0;
    }
    fz_write_seed(dir, "markers-three", m, k);
    m[1] = 99;
    fz_write_seed(dir, "markers-99-some-past-the-audio", m, sizeof m);
    uint8_t txt[] = { 3, 200, 1, 1, 2, 3, 4, 5, 6, 7, 8, 10, 3, 0, 0, 0xCB, 0xA1, 0x9C, 0x01, 0, 0, 1, 4, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 5, 1 };
    fz_write_seed(dir, "text-mix", txt, sizeof txt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_slots();
    const char *seeds = getenv("REC_FUZZ_WRITE_SEEDS");
    if (seeds) dump_seeds(seeds);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    fz_in_t in = { data, size, 0 };
    switch (fz_u8(&in) % 4u) {
    case 0: check_checkpoint(&in); break;
    case 1: check_journal(&in); break;
    case 2: check_markers(&in); break;
    default: check_text(&in); break;
    }
    return 0;
}
