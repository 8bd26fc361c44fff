/* Signed checkpoints of a recording (REC*.CKP): messages, the recorder's side, and the stop slot
 * written after a power cut. See rec/checkpoint.h. */
#include "rec/checkpoint.h"

#include <string.h>

#include "rec/device.h"
#include "rec/err.h"
#include "rec/evtext.h"
#include "rec/port.h"
#include "rec/store.h"

/* ---- Messages ---------------------------------------------------------------------------- */

static void begin_msg(rec_evtext_t *t, uint8_t msg[REC_CKPT_MSG_SIZE], const char *what,
                      const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number)
{
    rec_evtext_init(t, (char *)msg, REC_CKPT_MSG_SIZE - 1u);
    rec_evtext_str(t, "ER1 ");
    rec_evtext_str(t, what);
    rec_evtext_str(t, " v1 k=");
    rec_evtext_hex(t, key_id, REC_KEY_ID_SIZE);
    rec_evtext_str(t, " r=");
    rec_evtext_dec(t, number, 5);
}

static int end_msg(rec_evtext_t *t, uint8_t msg[REC_CKPT_MSG_SIZE])
{
    if (t->overflow) return REC_E_INVAL;
    memset(msg + t->len, ' ', REC_CKPT_MSG_SIZE - 1u - t->len);
    msg[REC_CKPT_MSG_SIZE - 1u] = '\n';
    return REC_OK;
}

static void put_hex_field(rec_evtext_t *t, const char *key, const uint8_t *bytes, size_t n)
{
    rec_evtext_str(t, key);
    rec_evtext_hex(t, bytes, n);
}

int rec_ckpt_format_start(uint8_t msg[REC_CKPT_MSG_SIZE], const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number,
                          uint32_t rate, bool clock_set, int64_t t0_unix_ms, uint64_t u0_ms, const uint8_t pj[32])
{
    rec_evtext_t t;
    begin_msg(&t, msg, "start", key_id, number);
    rec_evtext_str(&t, " rate=");
    rec_evtext_dec(&t, rate, 1);
    rec_evtext_str(&t, " t0=");
    if (clock_set)
        rec_evtext_iso(&t, t0_unix_ms);
    else
        rec_evtext_char(&t, '-');
    rec_evtext_str(&t, " u0=");
    rec_evtext_dec(&t, u0_ms, 1);
    put_hex_field(&t, " pj=", pj, 32);
    return end_msg(&t, msg);
}

static void put_progress(rec_evtext_t *t, uint32_t index, uint32_t samples)
{
    rec_evtext_str(t, " i=");
    rec_evtext_dec(t, index, 4);
    rec_evtext_str(t, " n=");
    rec_evtext_dec(t, samples, 10);
}

int rec_ckpt_format_mid(uint8_t msg[REC_CKPT_MSG_SIZE], const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number,
                        uint32_t index, uint32_t samples, uint64_t u_ms, const uint8_t session[REC_CKPT_SESSION_SIZE],
                        const uint8_t h[32])
{
    rec_evtext_t t;
    begin_msg(&t, msg, "ckpt", key_id, number);
    put_progress(&t, index, samples);
    rec_evtext_str(&t, " u=");
    rec_evtext_dec(&t, u_ms, 1);
    put_hex_field(&t, " s=", session, REC_CKPT_SESSION_SIZE);
    put_hex_field(&t, " h=", h, 32);
    return end_msg(&t, msg);
}

int rec_ckpt_format_stop(uint8_t msg[REC_CKPT_MSG_SIZE], const uint8_t key_id[REC_KEY_ID_SIZE], uint32_t number,
                         uint32_t index, uint32_t samples, uint8_t why, bool recovered, uint32_t vouched,
                         const uint8_t session[REC_CKPT_SESSION_SIZE], const uint8_t h[32], const uint8_t f[32])
{
    rec_evtext_t t;
    begin_msg(&t, msg, "stop", key_id, number);
    put_progress(&t, index, samples);
    rec_evtext_str(&t, " why=");
    rec_evtext_str(&t, rec_evtext_stop_reason(why));
    rec_evtext_str(&t, recovered ? " rec=1" : " rec=0");
    rec_evtext_str(&t, " vouched=");
    rec_evtext_dec(&t, vouched, 1);
    put_hex_field(&t, " s=", session, REC_CKPT_SESSION_SIZE);
    put_hex_field(&t, " h=", h, 32);
    put_hex_field(&t, " f=", f, 32);
    return end_msg(&t, msg);
}

void rec_ckpt_session(const uint8_t slot0[REC_CKPT_MSG_SIZE], uint8_t session[REC_CKPT_SESSION_SIZE])
{
    uint8_t digest[32];
    rec_sha256(slot0, REC_CKPT_MSG_SIZE, digest);
    memcpy(session, digest, REC_CKPT_SESSION_SIZE);
}

int rec_ckpt_sign(const rec_identity_t *id, uint8_t slot[REC_CKPT_SLOT_SIZE])
{
    return rec_identity_sign(id, slot, REC_CKPT_MSG_SIZE, slot + REC_CKPT_MSG_SIZE);
}

/* ---- Parsing ------------------------------------------------------------------------------- */

/* The value of token `key=` in the message's text (len bytes), or NULL. */
static const char *field(const char *text, size_t len, const char *key, size_t *vlen)
{
    size_t klen = strlen(key);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != ' ') end++;
        if (end - i > klen && memcmp(text + i, key, klen) == 0 && text[i + klen] == '=') {
            *vlen = end - i - klen - 1u;
            return text + i + klen + 1u;
        }
        i = end + 1u;
    }
    return NULL;
}

static bool parse_dec(const char *v, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10u + (uint64_t)(v[i] - '0');
        if (x > max) return false;
    }
    *out = x;
    return true;
}

static bool parse_hex(const char *v, size_t n, uint8_t *out, size_t bytes)
{
    if (n != bytes * 2u) return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        if (i % 2u == 0)
            out[i / 2u] = (uint8_t)(d << 4);
        else
            out[i / 2u] |= (uint8_t)d;
    }
    return true;
}

static bool get_dec(const char *text, size_t len, const char *key, uint64_t max, uint64_t *out)
{
    size_t n;
    const char *v = field(text, len, key, &n);
    return v && parse_dec(v, n, max, out);
}

static bool get_hex(const char *text, size_t len, const char *key, uint8_t *out, size_t bytes)
{
    size_t n;
    const char *v = field(text, len, key, &n);
    return v && parse_hex(v, n, out, bytes);
}

/* Whether the key made the slot's signature (by signing again: see rec_ckpt_parse). */
static bool signed_by(const uint8_t slot[REC_CKPT_SLOT_SIZE], const rec_identity_t *key)
{
    uint8_t sig[REC_ED25519_SIGNATURE_SIZE];
    return rec_identity_sign(key, slot, REC_CKPT_MSG_SIZE, sig) == REC_OK &&
           memcmp(sig, slot + REC_CKPT_MSG_SIZE, sizeof sig) == 0;
}

int rec_ckpt_parse(const uint8_t slot[REC_CKPT_SLOT_SIZE], const rec_identity_t *key, rec_ckpt_t *out)
{
    const char *text = (const char *)slot;
    if (slot[REC_CKPT_MSG_SIZE - 1u] != '\n') return REC_E_CORRUPT;
    size_t len = REC_CKPT_MSG_SIZE - 1u;
    while (len > 0 && text[len - 1u] == ' ') len--;
    for (size_t i = 0; i < len; i++)
        if (slot[i] < 0x20 || slot[i] > 0x7e) return REC_E_CORRUPT;
    if (key && !signed_by(slot, key)) return REC_E_CORRUPT;
    rec_ckpt_t c;
    memset(&c, 0, sizeof c);
    uint64_t v;
    if (len > 13 && memcmp(text, "ER1 start v1 ", 13) == 0)
        c.kind = REC_CKPT_START;
    else if (len > 12 && memcmp(text, "ER1 ckpt v1 ", 12) == 0)
        c.kind = REC_CKPT_MID;
    else if (len > 12 && memcmp(text, "ER1 stop v1 ", 12) == 0)
        c.kind = REC_CKPT_STOP;
    else
        return REC_E_CORRUPT;
    if (!get_hex(text, len, "k", c.key_id, REC_KEY_ID_SIZE) || !get_dec(text, len, "r", UINT32_MAX, &v)) return REC_E_CORRUPT;
    c.number = (uint32_t)v;
    if (c.kind == REC_CKPT_START) {
        if (!get_dec(text, len, "rate", UINT32_MAX, &v)) return REC_E_CORRUPT;
        c.rate = (uint32_t)v;
        *out = c;
        return REC_OK;
    }
    if (!get_dec(text, len, "i", UINT32_MAX, &v) || v == 0) return REC_E_CORRUPT;
    c.index = (uint32_t)v;
    if (!get_dec(text, len, "n", UINT32_MAX, &v)) return REC_E_CORRUPT;
    c.samples = (uint32_t)v;
    if (!get_hex(text, len, "s", c.session, REC_CKPT_SESSION_SIZE) || !get_hex(text, len, "h", c.h, 32)) return REC_E_CORRUPT;
    if (c.kind == REC_CKPT_STOP) {
        size_t n;
        const char *why = field(text, len, "why", &n);
        if (!why) return REC_E_CORRUPT;
        c.why = RP_STOP_NONE;
        for (uint8_t r = 0; r <= RP_STOP_MAX_LENGTH; r++) {
            const char *name = rec_evtext_stop_reason(r);
            if (strlen(name) == n && memcmp(name, why, n) == 0) c.why = r;
        }
        if (!get_dec(text, len, "rec", 1, &v)) return REC_E_CORRUPT;
        c.recovered = v == 1;
        if (!get_dec(text, len, "vouched", UINT32_MAX, &v)) return REC_E_CORRUPT;
        c.vouched = (uint32_t)v;
        if (!get_hex(text, len, "f", c.f, 32)) return REC_E_CORRUPT;
    }
    *out = c;
    return REC_OK;
}

int rec_ckpt_path(uint32_t number, const char *ext, char out[24])
{
    int err = rec_store_path(number, out);
    if (err) return err;
    size_t n = strlen(out);
    memcpy(out + n - 3u, ext, 3);
    return REC_OK;
}

/* ---- While recording ----------------------------------------------------------------------- */

static uint32_t interval_bytes(uint32_t rate)
{
    return rate * 2u * RP_CARD_CHECKPOINT_INTERVAL_S;
}

static uint32_t slots_for(uint32_t rate, uint64_t wav_bytes)
{
    /* start, one per interval, stop */
    return (uint32_t)(wav_bytes / interval_bytes(rate)) + 2u;
}

uint32_t rec_ckpt_reserve(const rec_device_t *d, uint64_t wav_bytes)
{
    if (!d->identity.has_key) return 0;
    uint32_t cluster = (uint32_t)d->store.fs.blocks_per_cluster * REC_BD_BLOCK_SIZE;
    uint32_t bytes = slots_for(d->settings.sample_rate, wav_bytes) * REC_CKPT_SLOT_SIZE;
    return (bytes + cluster - 1u) / cluster * cluster;
}

int rec_ckpt_create(rec_device_t *d, const char *wav_path, uint64_t wav_bytes)
{
    rec_ckpt_state_t *k = &d->cur.ckpt;
    memset(k, 0, sizeof *k);
    if (!d->identity.has_key) return REC_OK;
    char path[REC_STORE_PATH_MAX];
    memcpy(path, wav_path, REC_STORE_PATH_MAX);
    size_t n = strlen(path);
    memcpy(path + n - 3u, RP_CARD_CHECKPOINTS_EXT, 3);
    uint32_t bytes = rec_ckpt_reserve(d, wav_bytes);
    int err = rec_fat_create_contiguous(&d->store.fs, &k->file, path, bytes);
    if (err == REC_E_NOSPC) {
        port_log("no room for checkpoints: recording unsigned");
        return REC_OK;
    }
    if (!err) err = rec_fat_file_lba(&d->store.fs, &k->file, 0, &k->base_lba);
    if (err) {
        (void)rec_fat_close(&d->store.fs, &k->file);
        return err;
    }
    k->capacity = bytes / REC_CKPT_SLOT_SIZE;
    k->active = true;
    return REC_OK;
}

/* Writes slot k->slots (already in buf and signed), then the size that covers it. */
static int put_slot(rec_device_t *d, const uint8_t *slot)
{
    rec_ckpt_state_t *k = &d->cur.ckpt;
    int err = rec_bd_write(d->bd, k->base_lba + k->slots, slot, 1);
    if (err) return err;
    k->slots++;
    err = rec_fat_set_size(&d->store.fs, &k->file, k->slots * REC_CKPT_SLOT_SIZE);
    return err ? err : rec_fat_file_sync(&d->store.fs, &k->file);
}

/* Signs the message in buf and writes it; a key lost meanwhile stops the signing (REC_OK). */
static int sign_and_put(rec_device_t *d, uint8_t *buf)
{
    if (rec_ckpt_sign(&d->identity, buf) != REC_OK) {
        d->cur.ckpt.active = false;
        return REC_OK;
    }
    return put_slot(d, buf);
}

int rec_ckpt_start(rec_device_t *d)
{
    rec_recording_state_t *c = &d->cur;
    rec_ckpt_state_t *k = &c->ckpt;
    if (!k->active) return REC_OK;
    uint8_t *buf = d->store.block; /* scratch: no store call runs between here and the write */
    memset(buf, 0, REC_CKPT_SLOT_SIZE);
    int err = rec_ckpt_format_start(buf, d->identity.key_id, c->number, c->sample_rate, c->clock_set, c->start_unix_ms,
                                    c->start_uptime_ms, d->store.journal.last_hash);
    if (err) return err;
    rec_ckpt_session(buf, k->session);
    k->interval_bytes = interval_bytes(c->sample_rate);
    k->next_bytes = k->interval_bytes;
    return sign_and_put(d, buf);
}

void rec_ckpt_hash_audio(rec_device_t *d, const uint8_t *data, uint32_t len)
{
    rec_recording_state_t *c = &d->cur;
    rec_ckpt_state_t *k = &c->ckpt;
    /* Bytes hashed so far: data_bytes is advanced by the caller after this call. */
    uint64_t at = c->sha.total;
    if (k->active && !k->pending && at + len >= k->next_bytes) {
        uint32_t head = (uint32_t)(k->next_bytes - at);
        rec_sha256_update(&c->sha, data, head);
        k->fork = c->sha; /* a struct copy: the hash of [0, next_bytes) continues separately */
        k->pending = true;
        k->pending_samples = (uint32_t)(k->next_bytes / 2u);
        k->pending_uptime_ms = port_uptime_ms();
        k->next_bytes += k->interval_bytes;
        data += head;
        len -= head;
    }
    rec_sha256_update(&c->sha, data, len);
}

int rec_ckpt_flush(rec_device_t *d)
{
    rec_recording_state_t *c = &d->cur;
    rec_ckpt_state_t *k = &c->ckpt;
    if (!k->active || !k->pending) return REC_OK;
    k->pending = false;
    if (k->slots + 1u >= k->capacity) return REC_OK; /* the last slot is the stop slot's */
    uint8_t h[32];
    rec_sha256_final(&k->fork, h);
    uint8_t *buf = d->store.block;
    memset(buf, 0, REC_CKPT_SLOT_SIZE);
    int err = rec_ckpt_format_mid(buf, d->identity.key_id, c->number, k->slots, k->pending_samples, k->pending_uptime_ms,
                                  k->session, h);
    return err ? err : sign_and_put(d, buf);
}

/* f: SHA-256 of the WAV header followed by the evid chunk. */
static void header_evid_hash(const uint8_t *header, const uint8_t *evid, uint32_t evid_len, uint8_t f[32])
{
    rec_sha256_t h;
    rec_sha256_init(&h);
    rec_sha256_update(&h, header, REC_WAV_HEADER_SIZE);
    rec_sha256_update(&h, evid, evid_len);
    rec_sha256_final(&h, f);
}

int rec_ckpt_stop(rec_device_t *d, uint8_t why, uint32_t samples, const uint8_t h[32], const uint8_t *evid_chunk,
                  uint32_t evid_len)
{
    rec_recording_state_t *c = &d->cur;
    rec_ckpt_state_t *k = &c->ckpt;
    int err = rec_ckpt_flush(d);
    if (err || !k->active) return err;
    uint8_t f[32];
    header_evid_hash(c->header, evid_chunk, evid_len, f);
    uint8_t *buf = d->store.block;
    memset(buf, 0, REC_CKPT_SLOT_SIZE);
    err = rec_ckpt_format_stop(buf, d->identity.key_id, c->number, k->slots, samples, why, false, samples, k->session, h, f);
    return err ? err : sign_and_put(d, buf);
}

int rec_ckpt_close(rec_device_t *d)
{
    rec_ckpt_state_t *k = &d->cur.ckpt;
    if (k->file.first_cluster == 0 && !k->active) return REC_OK;
    int err = rec_fat_trim(&d->store.fs, &k->file);
    if (!err) err = rec_fat_file_sync(&d->store.fs, &k->file);
    (void)rec_fat_close(&d->store.fs, &k->file);
    memset(&k->file, 0, sizeof k->file);
    k->active = false;
    return err;
}
