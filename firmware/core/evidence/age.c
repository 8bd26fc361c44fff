/* age v1 files written as the audio arrives, finished after stop or a power cut: rec/age.h and
 * docs/design/encryption.md. */
#include "rec/age.h"

#include <string.h>

#include "rec/err.h"
#include "rec/frame.h"
#include "rec/hmac_sha256.h"
#include "rec/sha256.h"
#include "rec/x25519.h"

#define BLOCK REC_BD_BLOCK_SIZE
#define CHUNK REC_AGE_CHUNK_SIZE
#define TAG REC_AGE_TAG_SIZE
#define STORED_CHUNK (CHUNK + TAG)
#define WAV_HEADER 1024u
#define AGE_FINAL_VERSION 1u

static const char k_intro[] = "age-encryption.org/v1\n-> X25519 ";
static const char k_mac_mark[] = "---";
static const char k_stanza_info[] = "age-encryption.org/v1/X25519";
static const char k_hold_info[] = "ER-1 hold v1";

/* ---- Layout ---------------------------------------------------------------------------------- */

uint64_t rec_age_offset(uint64_t plain)
{
    return REC_AGE_HEADER_SIZE + plain / CHUNK * STORED_CHUNK + plain % CHUNK;
}

uint64_t rec_age_file_size(uint64_t plain)
{
    uint64_t chunks = (plain + CHUNK - 1u) / CHUNK;
    if (chunks == 0) chunks = 1;
    return REC_AGE_HEADER_SIZE + plain + chunks * TAG;
}

bool rec_age_plain_of(uint64_t size, uint64_t *plain)
{
    if (size < REC_AGE_HEADER_SIZE) return false;
    const uint64_t r = size - REC_AGE_HEADER_SIZE;
    if (r % STORED_CHUNK >= CHUNK) return false;
    *plain = r / STORED_CHUNK * CHUNK + r % STORED_CHUNK;
    return true;
}

/* ---- Keys and header ------------------------------------------------------------------------- */

static void chunk_nonce(uint8_t out[12], uint64_t k, bool last)
{
    memset(out, 0, 12);
    for (unsigned i = 0; i < 8; i++) out[10u - i] = (uint8_t)(k >> (8u * i));
    out[11] = last ? 1u : 0u;
}

int rec_age_keys(rec_age_keys_t *k, const uint8_t file_key[REC_AGE_FILE_KEY_SIZE], const uint8_t nonce[REC_AGE_NONCE_SIZE])
{
    if (!k || !file_key || !nonce) return REC_E_INVAL;
    memcpy(k->file_key, file_key, REC_AGE_FILE_KEY_SIZE);
    memcpy(k->nonce, nonce, REC_AGE_NONCE_SIZE);
    int err = rec_hkdf_sha256(k->payload_key, 32, nonce, REC_AGE_NONCE_SIZE, file_key, REC_AGE_FILE_KEY_SIZE, "payload", 7);
    if (!err)
        err = rec_hkdf_sha256(k->hold_key, 32, nonce, REC_AGE_NONCE_SIZE, file_key, REC_AGE_FILE_KEY_SIZE, k_hold_info,
                              sizeof k_hold_info - 1u);
    return err;
}

void rec_age_keys_wipe(rec_age_keys_t *k)
{
    rec_crypto_wipe(k, sizeof *k);
}

/* Standard base64 without padding: 32 bytes give 43 characters. */
static uint32_t b64(char *out, const uint8_t *in, uint32_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t o = 0, i = 0;
    for (; i + 3u <= len; i += 3u) {
        const uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63u];
        out[o++] = a[(v >> 6) & 63u];
        out[o++] = a[v & 63u];
    }
    if (len - i == 1u) {
        const uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63u];
    } else if (len - i == 2u) {
        const uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63u];
        out[o++] = a[(v >> 6) & 63u];
    }
    return o;
}

static void header_mac(uint8_t mac[32], const uint8_t *text, uint32_t len, const uint8_t file_key[REC_AGE_FILE_KEY_SIZE])
{
    uint8_t hk[32];
    (void)rec_hkdf_sha256(hk, sizeof hk, NULL, 0, file_key, REC_AGE_FILE_KEY_SIZE, "header", 6);
    rec_hmac_sha256(hk, sizeof hk, text, len, mac);
    rec_crypto_wipe(hk, sizeof hk);
}

/* Offsets in the 168-byte header text. */
#define SHARE_AT (sizeof k_intro - 1u)       /* 32 */
#define BODY_AT (SHARE_AT + 43u + 1u)        /* 76 */
#define MARK_AT (BODY_AT + 43u + 1u)         /* 120 */
#define MAC_AT (MARK_AT + 4u)                /* 124 */

int rec_age_header(uint8_t out[REC_AGE_HEADER_SIZE], const uint8_t file_key[REC_AGE_FILE_KEY_SIZE],
                   const uint8_t nonce[REC_AGE_NONCE_SIZE], const uint8_t ephemeral[32], const uint8_t recipient[32])
{
    if (!out || !file_key || !nonce || !ephemeral || !recipient) return REC_E_INVAL;
    uint8_t share[32], shared[32], salt[64], wrap[32], body[32];
    int err = rec_x25519_base(share, ephemeral);
    if (!err) err = rec_x25519(shared, ephemeral, recipient);
    if (!err) {
        memcpy(salt, share, 32);
        memcpy(salt + 32, recipient, 32);
        err = rec_hkdf_sha256(wrap, sizeof wrap, salt, sizeof salt, shared, sizeof shared, k_stanza_info, sizeof k_stanza_info - 1u);
    }
    if (!err) {
        static const uint8_t zero_nonce[12];
        rec_chacha20poly1305_t c;
        err = rec_chacha20poly1305_init(&c, wrap, zero_nonce, NULL, 0);
        if (!err) err = rec_chacha20poly1305_encrypt(&c, body, file_key, REC_AGE_FILE_KEY_SIZE);
        if (!err) err = rec_chacha20poly1305_encrypt_final(&c, body + REC_AGE_FILE_KEY_SIZE);
    }
    if (!err) {
        char *t = (char *)out;
        memcpy(t, k_intro, SHARE_AT);
        (void)b64(t + SHARE_AT, share, 32);
        t[SHARE_AT + 43u] = '\n';
        (void)b64(t + BODY_AT, body, 32);
        t[BODY_AT + 43u] = '\n';
        memcpy(t + MARK_AT, k_mac_mark, 3);
        t[MARK_AT + 3u] = ' ';
        uint8_t mac[32];
        header_mac(mac, out, MARK_AT + 3u, file_key);
        (void)b64(t + MAC_AT, mac, 32);
        t[MAC_AT + 43u] = '\n';
        memcpy(out + REC_AGE_HEADER_TEXT_SIZE, nonce, REC_AGE_NONCE_SIZE);
    }
    rec_crypto_wipe(shared, sizeof shared);
    rec_crypto_wipe(wrap, sizeof wrap);
    return err;
}

int rec_age_header_check(const uint8_t in[REC_AGE_HEADER_SIZE], const uint8_t file_key[REC_AGE_FILE_KEY_SIZE],
                         uint8_t nonce[REC_AGE_NONCE_SIZE])
{
    if (!in || !file_key || !nonce) return REC_E_INVAL;
    if (memcmp(in, k_intro, SHARE_AT) != 0 || memcmp(in + MARK_AT, "--- ", 4) != 0 || in[REC_AGE_HEADER_TEXT_SIZE - 1u] != '\n')
        return REC_E_CORRUPT;
    uint8_t mac[32];
    char text[44];
    header_mac(mac, in, MARK_AT + 3u, file_key);
    (void)b64(text, mac, 32);
    uint8_t diff = 0;
    for (unsigned i = 0; i < 43u; i++) diff |= (uint8_t)(text[i] ^ (char)in[MAC_AT + i]);
    if (diff) return REC_E_MISMATCH;
    memcpy(nonce, in + REC_AGE_HEADER_TEXT_SIZE, REC_AGE_NONCE_SIZE);
    return REC_OK;
}

/* ---- Reader ------------------------------------------------------------------------------------ */

void rec_age_reader_start(rec_age_reader_t *r, const uint8_t file_key[REC_AGE_FILE_KEY_SIZE], uint64_t size)
{
    memset(r, 0, sizeof *r);
    memcpy(r->file_key, file_key, REC_AGE_FILE_KEY_SIZE);
    r->size = size;
}

/* Plaintext length of chunk k of a file of r->size bytes (the last one is shorter). */
static uint32_t reader_chunk_len(const rec_age_reader_t *r, uint64_t k, bool *last)
{
    const uint64_t chunks = (r->size - REC_AGE_HEADER_SIZE + STORED_CHUNK - 1u) / STORED_CHUNK;
    *last = k + 1u == chunks;
    return *last ? (uint32_t)(r->size - REC_AGE_HEADER_SIZE - k * STORED_CHUNK - TAG) : CHUNK;
}

uint32_t rec_age_reader_span(const rec_age_reader_t *r, uint32_t want)
{
    if (r->at < REC_AGE_HEADER_SIZE) return REC_AGE_HEADER_SIZE - (uint32_t)r->at;
    if (r->at >= r->size || r->size < REC_AGE_HEADER_SIZE + TAG) return 0;
    const uint64_t off = r->at - REC_AGE_HEADER_SIZE;
    const uint32_t in = (uint32_t)(off % STORED_CHUNK);
    bool last;
    const uint32_t len = reader_chunk_len(r, off / STORED_CHUNK, &last);
    if (in >= len) return len + TAG - in;
    const uint32_t run = len - in < want ? len - in : want;
    return in + run == len ? run + TAG : run;
}

int rec_age_reader_feed(rec_age_reader_t *r, uint8_t *p, uint32_t n, uint32_t *plain)
{
    uint32_t out = 0;
    *plain = 0;
    if (r->size < REC_AGE_HEADER_SIZE + TAG) return REC_E_CORRUPT;
    for (uint32_t i = 0; i < n;) {
        if (r->at < REC_AGE_HEADER_SIZE) {
            if (r->at != 0 || n < REC_AGE_HEADER_SIZE) return REC_E_CORRUPT;
            uint8_t nonce[REC_AGE_NONCE_SIZE];
            int err = rec_age_header_check(p, r->file_key, nonce);
            if (!err) err = rec_age_keys(&r->keys, r->file_key, nonce);
            if (err) return err;
            i = REC_AGE_HEADER_SIZE;
            r->at = REC_AGE_HEADER_SIZE;
            continue;
        }
        if (r->at >= r->size) return REC_E_CORRUPT;
        const uint64_t off = r->at - REC_AGE_HEADER_SIZE, k = off / STORED_CHUNK;
        const uint32_t in = (uint32_t)(off % STORED_CHUNK);
        bool last;
        const uint32_t len = reader_chunk_len(r, k, &last);
        if (in == 0) {
            uint8_t nonce[12];
            chunk_nonce(nonce, k, last);
            int err = rec_chacha20poly1305_init(&r->chunk, r->keys.payload_key, nonce, NULL, 0);
            if (err) return err;
        }
        uint32_t run;
        if (in < len) {
            run = len - in < n - i ? len - in : n - i;
            int err = rec_chacha20poly1305_decrypt(&r->chunk, p + i, p + i, run);
            if (err) return err;
            if (out != i) memmove(p + out, p + i, run);
            out += run;
        } else {
            run = len + TAG - in < n - i ? len + TAG - in : n - i;
            memcpy(r->tag + (in - len), p + i, run);
            if (in + run == len + TAG) {
                int err = rec_chacha20poly1305_decrypt_final(&r->chunk, r->tag);
                if (err) return err;
            }
        }
        i += run;
        r->at += run;
    }
    *plain = out;
    return REC_OK;
}

bool rec_age_reader_done(const rec_age_reader_t *r)
{
    return r->at == r->size && r->size >= REC_AGE_HEADER_SIZE + TAG;
}

void rec_age_reader_wipe(rec_age_reader_t *r)
{
    rec_crypto_wipe(r, sizeof *r);
}

/* ---- Byte streams over whole blocks ------------------------------------------------------------ */

typedef struct {
    const rec_bd_t *bd;
    uint32_t lba0;
    uint64_t off;
    uint64_t end;       /* writer: where it will stop (a block wholly overwritten is not read) */
    uint8_t *buf;
    uint32_t cur;
    bool loaded;
} stream_t;

static int stream_read(stream_t *s, uint8_t *out, uint32_t len)
{
    while (len) {
        const uint32_t b = (uint32_t)(s->off / BLOCK), in = (uint32_t)(s->off % BLOCK);
        if (!s->loaded || s->cur != b) {
            int err = rec_bd_read(s->bd, s->lba0 + b, s->buf, 1);
            if (err) return err;
            s->cur = b;
            s->loaded = true;
        }
        uint32_t take = BLOCK - in < len ? BLOCK - in : len;
        memcpy(out, s->buf + in, take);
        out += take;
        len -= take;
        s->off += take;
    }
    return REC_OK;
}

static int stream_write(stream_t *s, const uint8_t *p, uint32_t len)
{
    while (len) {
        const uint32_t b = (uint32_t)(s->off / BLOCK), in = (uint32_t)(s->off % BLOCK);
        if (!s->loaded) {
            /* Keep what the block holds around the bytes written (header, neighbouring chunk). */
            if (in != 0 || s->end < (uint64_t)(b + 1u) * BLOCK) {
                int err = rec_bd_read(s->bd, s->lba0 + b, s->buf, 1);
                if (err) return err;
            }
            s->cur = b;
            s->loaded = true;
        }
        uint32_t take = BLOCK - in < len ? BLOCK - in : len;
        memcpy(s->buf + in, p, take);
        p += take;
        len -= take;
        s->off += take;
        if (s->off % BLOCK == 0) {
            int err = rec_bd_write(s->bd, s->lba0 + s->cur, s->buf, 1);
            if (err) return err;
            s->loaded = false;
        }
    }
    return REC_OK;
}

static int stream_close(stream_t *s)
{
    if (!s->loaded) return REC_OK;
    s->loaded = false;
    return rec_bd_write(s->bd, s->lba0 + s->cur, s->buf, 1);
}

/* ---- Writer ------------------------------------------------------------------------------------ */

static const uint8_t k_zero_nonce[12];

int rec_age_writer_start(rec_age_writer_t *w, const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba,
                         const rec_age_keys_t *keys, const uint8_t header[REC_AGE_HEADER_SIZE],
                         const uint8_t wav_header[WAV_HEADER])
{
    if (!w || !bd || !keys || !header || !wav_header) return REC_E_INVAL;
    memset(w, 0, sizeof *w);
    w->bd = bd;
    w->age_lba = age_lba;
    w->hold_lba = hold_lba;
    w->keys = *keys;
    memcpy(w->block, header, REC_AGE_HEADER_SIZE);
    int err = rec_bd_write(bd, age_lba, w->block, 1);
    if (err) return err;
    err = rec_chacha20poly1305_init(&w->cipher, keys->hold_key, k_zero_nonce, NULL, 0);
    for (uint32_t i = 0; !err && i < WAV_HEADER / BLOCK; i++) {
        err = rec_chacha20poly1305_encrypt(&w->cipher, w->block, wav_header + i * BLOCK, BLOCK);
        if (!err) err = rec_bd_write(bd, hold_lba + i, w->block, 1);
    }
    /* The hold file's clusters may be an earlier hold file's: no FINAL record may be left there. */
    memset(w->block, 0, sizeof w->block);
    if (!err) err = rec_bd_write(bd, hold_lba + REC_AGE_HOLD_FINAL_BLOCK, w->block, 1);
    w->plain = WAV_HEADER;
    return err;
}

static int append(rec_age_writer_t *w, const uint8_t *p, uint32_t len)
{
    while (len) {
        uint32_t take = BLOCK - w->fill < len ? BLOCK - w->fill : len;
        memcpy(w->block + w->fill, p, take);
        w->fill += take;
        p += take;
        len -= take;
        if (w->fill == BLOCK) {
            int err = rec_bd_write(w->bd, w->age_lba + w->block_index, w->block, 1);
            if (err) return err;
            w->block_index++;
            w->fill = 0;
            memset(w->block, 0, sizeof w->block);
        }
    }
    return REC_OK;
}

int rec_age_writer_put(rec_age_writer_t *w, uint8_t *audio, uint32_t len)
{
    if (!w || (!audio && len) || (w->plain % BLOCK && len)) return REC_E_INVAL;
    for (uint32_t at = 0; at < len; at += BLOCK) {
        uint8_t *b = audio + at;
        const uint32_t n = len - at < BLOCK ? len - at : BLOCK; /* a short block only at the end */
        int err;
        if (w->plain < CHUNK) {
            err = rec_chacha20poly1305_encrypt(&w->cipher, b, b, n);
            if (!err && n < BLOCK) {
                memcpy(w->block, b, n);
                memset(w->block + n, 0, BLOCK - n);
                b = w->block;
            }
            if (!err) err = rec_bd_write(w->bd, w->hold_lba + (uint32_t)(w->plain / BLOCK), b, 1);
            if (err) return err;
            w->plain += n;
            if (w->plain == CHUNK) {
                /* The hold stream ends; chunk 1 starts past chunk 0's place, left for the finish. */
                rec_crypto_wipe(&w->cipher, sizeof w->cipher);
                const uint64_t off = rec_age_offset(CHUNK);
                w->block_index = (uint32_t)(off / BLOCK);
                w->fill = (uint32_t)(off % BLOCK);
                memset(w->block, 0, sizeof w->block);
            }
            continue;
        }
        if (w->plain % CHUNK == 0) {
            uint8_t nonce[12];
            chunk_nonce(nonce, w->plain / CHUNK, false);
            err = rec_chacha20poly1305_init(&w->cipher, w->keys.payload_key, nonce, NULL, 0);
            if (err) return err;
        }
        err = rec_chacha20poly1305_encrypt(&w->cipher, b, b, n);
        if (!err) err = append(w, b, n);
        if (err) return err;
        w->plain += n;
        if (w->plain % CHUNK == 0) {
            /* Full: not the last chunk (the evid chunk always follows), so (k, 0) is final. */
            uint8_t tag[TAG];
            err = rec_chacha20poly1305_encrypt_final(&w->cipher, tag);
            if (!err) err = append(w, tag, TAG);
            if (err) return err;
        }
    }
    return REC_OK;
}

int rec_age_writer_flush(rec_age_writer_t *w, uint64_t *age_size)
{
    if (!w || !age_size) return REC_E_INVAL;
    if (w->plain >= CHUNK && w->fill > 0) {
        int err = rec_bd_write(w->bd, w->age_lba + w->block_index, w->block, 1);
        if (err) return err;
    }
    *age_size = rec_age_offset(w->plain);
    return REC_OK;
}

void rec_age_writer_wipe(rec_age_writer_t *w)
{
    rec_crypto_wipe(w, sizeof *w);
}

/* ---- FINAL record -------------------------------------------------------------------------------- */

int rec_age_final_write(const rec_bd_t *bd, uint32_t hold_lba, const rp_age_final_t *fin)
{
    if (!bd || !fin) return REC_E_INVAL;
    uint8_t block[BLOCK];
    memset(block, 0, sizeof block);
    rp_age_final_t v = *fin;
    memcpy(v.magic, RP_CARD_AGE_FINAL_MAGIC, 4);
    v.version = AGE_FINAL_VERSION;
    v.size = RP_AGE_FINAL_SIZE;
    memset(v.reserved, 0, sizeof v.reserved);
    rp_age_final_pack(&v, block);
    v.crc32 = rec_crc32(0, block, RP_AGE_FINAL_OFF_CRC32);
    rp_age_final_pack(&v, block);
    int err = rec_bd_write(bd, hold_lba + REC_AGE_HOLD_FINAL_BLOCK, block, 1);
    if (!err) err = rec_bd_sync(bd);
    return err;
}

int rec_age_final_read(const rec_bd_t *bd, uint32_t hold_lba, rp_age_final_t *fin)
{
    if (!bd || !fin) return REC_E_INVAL;
    uint8_t block[BLOCK];
    int err = rec_bd_read(bd, hold_lba + REC_AGE_HOLD_FINAL_BLOCK, block, 1);
    if (err) return err;
    rp_age_final_t v;
    rp_age_final_unpack(block, &v);
    if (memcmp(v.magic, RP_CARD_AGE_FINAL_MAGIC, 4) != 0 || v.version != AGE_FINAL_VERSION || v.size != RP_AGE_FINAL_SIZE ||
        v.crc32 != rec_crc32(0, block, RP_AGE_FINAL_OFF_CRC32))
        return REC_E_NOENT;
    *fin = v;
    return REC_OK;
}

/* ---- Reading back: the hold file and the chunks under (k, 0) --------------------------------- */

int rec_age_hold_header(const rec_bd_t *bd, uint32_t hold_lba, const rec_age_keys_t *keys, uint8_t out[WAV_HEADER])
{
    if (!bd || !keys || !out) return REC_E_INVAL;
    int err = rec_bd_read(bd, hold_lba, out, WAV_HEADER / BLOCK);
    if (err) return err;
    rec_chacha20poly1305_t c;
    err = rec_chacha20poly1305_init(&c, keys->hold_key, k_zero_nonce, NULL, 0);
    if (!err) err = rec_chacha20poly1305_decrypt(&c, out, out, WAV_HEADER);
    rec_crypto_wipe(&c, sizeof c);
    return err;
}

/* Calls back with the audio plaintext [1024, 1024 + data_bytes) in pieces of at most a block,
 * read from the hold file and the chunks under (k, 0). */
typedef int (*audio_fn)(void *ctx, uint8_t *piece, uint32_t len);

static int for_each_audio(const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba, const rec_age_keys_t *keys,
                          uint32_t data_bytes, uint8_t *scratch, audio_fn fn, void *ctx)
{
    const uint64_t end = (uint64_t)WAV_HEADER + data_bytes;
    uint8_t *piece = scratch + BLOCK;
    rec_chacha20poly1305_t c;
    stream_t in = { .bd = bd, .lba0 = hold_lba, .buf = scratch };
    int err = rec_chacha20poly1305_init(&c, keys->hold_key, k_zero_nonce, NULL, 0);
    uint64_t p = 0;
    while (!err && p < end) {
        if (p % CHUNK == 0 && p > 0) {
            uint8_t nonce[12];
            chunk_nonce(nonce, p / CHUNK, false);
            in = (stream_t){ .bd = bd, .lba0 = age_lba, .off = rec_age_offset(p), .buf = scratch };
            err = rec_chacha20poly1305_init(&c, keys->payload_key, nonce, NULL, 0);
            if (err) break;
        }
        uint32_t n = BLOCK;
        if (end - p < n) n = (uint32_t)(end - p);
        err = stream_read(&in, piece, n);
        if (!err) err = rec_chacha20poly1305_decrypt(&c, piece, piece, n);
        if (!err && p >= WAV_HEADER) err = fn(ctx, piece, n);
        p += n;
    }
    rec_crypto_wipe(&c, sizeof c);
    rec_crypto_wipe(piece, BLOCK);
    return err;
}

static int hash_piece(void *ctx, uint8_t *piece, uint32_t len)
{
    rec_sha256_update((rec_sha256_t *)ctx, piece, len);
    return REC_OK;
}

int rec_age_hash_audio(const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba, const rec_age_keys_t *keys,
                       uint32_t data_bytes, uint8_t out[32], uint8_t *scratch)
{
    if (!bd || !keys || !out || !scratch) return REC_E_INVAL;
    rec_sha256_t sh;
    rec_sha256_init(&sh);
    int err = for_each_audio(bd, age_lba, hold_lba, keys, data_bytes, scratch, hash_piece, &sh);
    rec_sha256_final(&sh, out);
    return err;
}

/* ---- Finish --------------------------------------------------------------------------------- */

/* The last chunk's audio is saved to the hold file before the chunk is rewritten under the
 * last-flag nonce: once that starts, the (k, 0) ciphertext on the card is going, and a cut must
 * not leave audio that nothing decrypts. The copy is under the hold key with nonce 1 (the hold
 * stream has nonce 0) and has a tag, so a retry knows whether it is complete. */
static const uint8_t k_copy_nonce[12] = { [11] = 1 };
#define COPY_AT ((uint64_t)(REC_AGE_HOLD_FINAL_BLOCK + 1u) * BLOCK)

typedef struct {
    const rec_bd_t *bd;
    uint32_t age_lba, hold_lba;
    const rec_age_keys_t *keys;
    const uint8_t *wav_header;
    uint64_t audio_end;   /* 1024 + data bytes */
    uint64_t total;       /* plaintext bytes */
    const uint8_t *tail;
    uint8_t *scratch;     /* reader block, writer block, piece */
} finish_t;

/* Where the audio plaintext of a chunk comes from: a stream on the card and its cipher. */
typedef struct {
    uint32_t lba0;
    uint64_t off;
    const uint8_t *key;
    uint8_t nonce[12];
} source_t;

static source_t source_of(const finish_t *f, uint64_t k, bool from_copy)
{
    source_t src;
    if (k == 0) {
        src = (source_t){ .lba0 = f->hold_lba, .off = 0, .key = f->keys->hold_key };
        memcpy(src.nonce, k_zero_nonce, 12);
    } else if (from_copy) {
        src = (source_t){ .lba0 = f->hold_lba, .off = COPY_AT, .key = f->keys->hold_key };
        memcpy(src.nonce, k_copy_nonce, 12);
    } else {
        src = (source_t){ .lba0 = f->age_lba, .off = rec_age_offset(k * CHUNK), .key = f->keys->payload_key };
        chunk_nonce(src.nonce, k, false);
    }
    return src;
}

/* Encrypts plaintext [start, end) as chunk k under (k, last) and writes it with its tag. Audio
 * comes from `from` (decrypted), the WAV header from memory, what follows the audio from the
 * tail. */
static __attribute__((noinline)) int write_chunk(finish_t *f, uint64_t k, uint64_t start, uint64_t end, bool last, source_t from)
{
    uint8_t nonce[12];
    rec_chacha20poly1305_t dec, enc;
    uint8_t *piece = f->scratch + 2u * BLOCK;
    stream_t src = { .bd = f->bd, .lba0 = from.lba0, .off = from.off, .buf = f->scratch };
    int err = rec_chacha20poly1305_init(&dec, from.key, from.nonce, NULL, 0);
    chunk_nonce(nonce, k, last);
    if (!err) err = rec_chacha20poly1305_init(&enc, f->keys->payload_key, nonce, NULL, 0);
    const uint64_t at = rec_age_offset(start);
    stream_t dst = { .bd = f->bd, .lba0 = f->age_lba, .off = at, .end = at + (end - start) + TAG, .buf = f->scratch + BLOCK };
    for (uint64_t p = start; !err && p < end;) {
        uint32_t n = BLOCK;
        if (end - p < n) n = (uint32_t)(end - p);
        if (p < f->audio_end) {
            if (f->audio_end - p < n) n = (uint32_t)(f->audio_end - p);
            err = stream_read(&src, piece, n);
            if (!err) err = rec_chacha20poly1305_decrypt(&dec, piece, piece, n);
            if (!err && p < WAV_HEADER) memcpy(piece, f->wav_header + p, n); /* n <= 512, p block aligned */
        } else {
            memcpy(piece, f->tail + (p - f->audio_end), n);
        }
        if (!err) err = rec_chacha20poly1305_encrypt(&enc, piece, piece, n);
        if (!err) err = stream_write(&dst, piece, n);
        p += n;
    }
    uint8_t tag[TAG];
    if (!err) err = rec_chacha20poly1305_encrypt_final(&enc, tag);
    if (!err) err = stream_write(&dst, tag, TAG);
    if (!err) err = stream_close(&dst);
    rec_crypto_wipe(&dec, sizeof dec);
    rec_crypto_wipe(&enc, sizeof enc);
    rec_crypto_wipe(piece, BLOCK);
    return err;
}

/* REC_OK when the hold file holds a complete copy of `len` bytes (its tag checks). Not inlined
 * (nor copy_make): their cipher contexts must not add to the finish's own frame on the small
 * stacks (the QEMU port's analysis sums a caller's frame with its deepest callee). */
static __attribute__((noinline)) int copy_check(finish_t *f, uint64_t len)
{
    uint8_t *piece = f->scratch + 2u * BLOCK;
    stream_t in = { .bd = f->bd, .lba0 = f->hold_lba, .off = COPY_AT, .buf = f->scratch };
    rec_chacha20poly1305_t c;
    int err = rec_chacha20poly1305_init(&c, f->keys->hold_key, k_copy_nonce, NULL, 0);
    for (uint64_t p = 0; !err && p < len;) {
        uint32_t n = len - p < BLOCK ? (uint32_t)(len - p) : BLOCK;
        err = stream_read(&in, piece, n);
        if (!err) err = rec_chacha20poly1305_decrypt(&c, piece, piece, n);
        p += n;
    }
    uint8_t tag[TAG];
    if (!err) err = stream_read(&in, tag, TAG);
    if (!err) err = rec_chacha20poly1305_decrypt_final(&c, tag);
    rec_crypto_wipe(&c, sizeof c);
    rec_crypto_wipe(piece, BLOCK);
    return err;
}

/* Copies the audio of chunk k ([k * 64 Ki, audio end), still under (k, 0) on the card) to the
 * hold file, with its tag, and syncs. */
static __attribute__((noinline)) int copy_make(finish_t *f, uint64_t k)
{
    const uint64_t len = f->audio_end - k * CHUNK;
    uint8_t *piece = f->scratch + 2u * BLOCK;
    const source_t from = source_of(f, k, false);
    stream_t in = { .bd = f->bd, .lba0 = from.lba0, .off = from.off, .buf = f->scratch };
    stream_t out = { .bd = f->bd, .lba0 = f->hold_lba, .off = COPY_AT, .end = COPY_AT + len + TAG, .buf = f->scratch + BLOCK };
    rec_chacha20poly1305_t dec, enc;
    int err = rec_chacha20poly1305_init(&dec, from.key, from.nonce, NULL, 0);
    if (!err) err = rec_chacha20poly1305_init(&enc, f->keys->hold_key, k_copy_nonce, NULL, 0);
    for (uint64_t p = 0; !err && p < len;) {
        uint32_t n = len - p < BLOCK ? (uint32_t)(len - p) : BLOCK;
        err = stream_read(&in, piece, n);
        if (!err) err = rec_chacha20poly1305_decrypt(&dec, piece, piece, n);
        if (!err) err = rec_chacha20poly1305_encrypt(&enc, piece, piece, n);
        if (!err) err = stream_write(&out, piece, n);
        p += n;
    }
    uint8_t tag[TAG];
    if (!err) err = rec_chacha20poly1305_encrypt_final(&enc, tag);
    if (!err) err = stream_write(&out, tag, TAG);
    if (!err) err = stream_close(&out);
    if (!err) err = rec_bd_sync(f->bd);
    rec_crypto_wipe(&dec, sizeof dec);
    rec_crypto_wipe(&enc, sizeof enc);
    rec_crypto_wipe(piece, BLOCK);
    return err;
}

int rec_age_finish(const rec_bd_t *bd, uint32_t age_lba, uint32_t hold_lba, const rec_age_keys_t *keys,
                   const uint8_t wav_header[WAV_HEADER], uint32_t data_bytes, const uint8_t *tail, uint32_t tail_len,
                   uint8_t *scratch, uint64_t *age_size)
{
    if (!bd || !keys || !wav_header || (!tail && tail_len) || tail_len > REC_AGE_TAIL_MAX_BYTES || !scratch || !age_size) return REC_E_INVAL;
    finish_t f = { .bd = bd, .age_lba = age_lba, .hold_lba = hold_lba, .keys = keys, .wav_header = wav_header,
                   .audio_end = (uint64_t)WAV_HEADER + data_bytes, .tail = tail, .scratch = scratch };
    f.total = f.audio_end + tail_len;
    const uint64_t chunks = (f.total + CHUNK - 1u) / CHUNK;
    const uint64_t last = chunks - 1u;
    /* 1. The last chunk's audio to the hold file, unless a complete copy is there already. */
    const bool copy = last >= 1u && f.audio_end > last * CHUNK;
    int err = REC_OK;
    if (copy && copy_check(&f, f.audio_end - last * CHUNK) != REC_OK) err = copy_make(&f, last);
    /* 2. The chunk where the audio ends and every one after it, the last under (k, 1): those
     *    before are complete with their tags since they filled. A chunk before the last is
     *    rewritten under (k, 0) with the same audio: the same bytes. */
    uint64_t first = f.audio_end / CHUNK;
    if (first == 0) first = 1;
    for (uint64_t k = first; !err && k < chunks; k++) {
        const uint64_t end = (k + 1u) * CHUNK < f.total ? (k + 1u) * CHUNK : f.total;
        err = write_chunk(&f, k, k * CHUNK, end, k == last, source_of(&f, k, k == last && copy));
    }
    /* 3. Chunk 0 (until it is written, the hold file is the only copy of its plaintext). */
    if (!err) err = write_chunk(&f, 0, 0, f.total < CHUNK ? f.total : CHUNK, chunks == 1, source_of(&f, 0, false));
    if (!err) err = rec_bd_sync(bd);
    *age_size = rec_age_file_size(f.total);
    return err;
}
