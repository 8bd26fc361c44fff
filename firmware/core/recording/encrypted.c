/* Encrypted recordings: rec/encrypted.h and docs/design/encryption.md. */
#include "rec/encrypted.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/hmac_sha256.h"
#include "rec/identity.h"
#include "rec/port.h"
#include "rec/store.h"

#if REC_ENCRYPTION

#define KEY_SLOT_BYTES (4u + REC_AGE_FILE_KEY_SIZE) /* u32 number, key: 20, a whole NVM payload */

/* The writer of the recording in progress (one at a time). */
static rec_age_writer_t g_writer;

static const uint8_t k_kinds[2] = { RP_NVM_STATE_AGE_KEY_A, RP_NVM_STATE_AGE_KEY_B };

bool rec_enc_wanted(const rec_device_t *d)
{
    return d->recipient.set && d->nvm.present;
}

void rec_enc_forget(rec_device_t *d)
{
    rec_age_writer_wipe(&g_writer);
    (void)rec_fat_close(&d->store.fs, &d->cur.hold);
}

/* ---- File keys in the NVM state log ------------------------------------------------------------ */

static bool slot_read(rec_device_t *d, uint8_t kind, uint32_t *number, uint8_t key[REC_AGE_FILE_KEY_SIZE])
{
    uint8_t p[KEY_SLOT_BYTES];
    if (rec_nvm_state_get(&d->nvm, kind, p, sizeof p) != (int)sizeof p) return false;
    uint8_t any = 0;
    for (unsigned i = 4; i < sizeof p; i++) any |= p[i];
    *number = rec_get_u32(p);
    memcpy(key, p + 4, REC_AGE_FILE_KEY_SIZE);
    rec_crypto_wipe(p, sizeof p);
    return any != 0;
}

int rec_enc_file_key(rec_device_t *d, uint32_t number, uint8_t key[REC_AGE_FILE_KEY_SIZE])
{
    for (unsigned i = 0; i < 2; i++) {
        uint32_t n;
        if (slot_read(d, k_kinds[i], &n, key) && n == number) return REC_OK;
    }
    rec_crypto_wipe(key, REC_AGE_FILE_KEY_SIZE);
    return REC_E_NOENT;
}

/* Writes {number, key} to a slot kind, then destroys every older entry of that kind. */
static int slot_write(rec_device_t *d, uint8_t kind, uint32_t number, const uint8_t key[REC_AGE_FILE_KEY_SIZE])
{
    uint8_t p[KEY_SLOT_BYTES];
    rec_put_u32(p, number);
    if (key)
        memcpy(p + 4, key, REC_AGE_FILE_KEY_SIZE);
    else
        memset(p + 4, 0, REC_AGE_FILE_KEY_SIZE);
    int err = rec_nvm_state_put(&d->nvm, kind, p, sizeof p);
    rec_crypto_wipe(p, sizeof p);
    return err ? err : rec_nvm_state_scrub(&d->nvm, kind);
}

int rec_enc_destroy_key(rec_device_t *d, uint32_t number)
{
    uint8_t key[REC_AGE_FILE_KEY_SIZE];
    for (unsigned i = 0; i < 2; i++) {
        uint32_t n;
        if (slot_read(d, k_kinds[i], &n, key) && n == number) {
            rec_crypto_wipe(key, sizeof key);
            return slot_write(d, k_kinds[i], number, NULL);
        }
    }
    rec_crypto_wipe(key, sizeof key);
    return REC_OK;
}

/* A free slot, else the one of the older recording (which can then no longer be sealed). */
static uint8_t slot_for_new_key(rec_device_t *d)
{
    uint32_t n[2];
    uint8_t key[REC_AGE_FILE_KEY_SIZE];
    bool used[2];
    for (unsigned i = 0; i < 2; i++) used[i] = slot_read(d, k_kinds[i], &n[i], key);
    rec_crypto_wipe(key, sizeof key);
    if (!used[0]) return k_kinds[0];
    if (!used[1]) return k_kinds[1];
    port_log("two encrypted recordings wait to be sealed: the older one's key is given up");
    return n[0] < n[1] ? k_kinds[0] : k_kinds[1];
}

/* ---- Randomness: HMAC-DRBG (SP 800-90A 10.1.2, SHA-256) seeded for each recording --------------- */

typedef struct {
    uint8_t k[32], v[32];
} drbg_t;

static void drbg_update(drbg_t *g, const uint8_t *data, uint32_t len)
{
    for (uint8_t round = 0; round < 2; round++) {
        if (round == 1 && len == 0) break;
        rec_hmac_sha256_t m;
        rec_hmac_sha256_init(&m, g->k, sizeof g->k);
        rec_hmac_sha256_update(&m, g->v, sizeof g->v);
        rec_hmac_sha256_update(&m, &round, 1);
        rec_hmac_sha256_update(&m, data, len);
        rec_hmac_sha256_final(&m, g->k);
        rec_hmac_sha256(g->k, sizeof g->k, g->v, sizeof g->v, g->v);
    }
}

static void drbg_generate(drbg_t *g, uint8_t *out, uint32_t len)
{
    while (len) {
        rec_hmac_sha256(g->k, sizeof g->k, g->v, sizeof g->v, g->v);
        uint32_t n = len < sizeof g->v ? len : (uint32_t)sizeof g->v;
        memcpy(out, g->v, n);
        out += n;
        len -= n;
    }
    drbg_update(g, NULL, 0);
}

/* Seeds a DRBG from the raw entropy pool (health checked, as PROVISION does), the recording
 * number, the device id and the uptime. The pool is gathered into the idle audio ring. */
static int drbg_seed(rec_device_t *d, drbg_t *g, uint32_t number)
{
    uint8_t *pool = d->ring.buf;
    if (rec_ring_capacity(&d->ring) < REC_ENTROPY_POOL_MAX) return REC_E_INVAL;
    uint8_t source = RP_ENTROPY_NONE;
    uint32_t len = REC_ENTROPY_POOL_OS;
    int err = port_entropy(pool, len, &source);
    if (!err && source == RP_ENTROPY_ROSC) {
        err = port_entropy(pool + len, REC_ENTROPY_POOL_MAX - len, &source);
        len = REC_ENTROPY_POOL_MAX;
    }
    if (err) return err;
    if (!rec_entropy_health(pool, len, NULL)) {
        memset(pool, 0, len);
        port_log("entropy failed its health checks: no encrypted recording");
        return REC_E_ENTROPY;
    }
    uint8_t extra[4 + 8 + 8];
    rec_put_u32(extra, number);
    rec_put_u64(extra + 4, d->settings.device_id);
    rec_put_u64(extra + 12, port_uptime_ms());
    memset(g->k, 0, sizeof g->k);
    memset(g->v, 1, sizeof g->v);
    rec_sha256_t sh;
    uint8_t seed[32];
    rec_sha256_init(&sh);
    rec_sha256_update(&sh, "ER-1 age keys v1", 16);
    rec_sha256_update(&sh, pool, len);
    rec_sha256_update(&sh, extra, sizeof extra);
    rec_sha256_final(&sh, seed);
    memset(pool, 0, len);
    drbg_update(g, seed, sizeof seed);
    rec_crypto_wipe(seed, sizeof seed);
    return REC_OK;
}

/* ---- Recording --------------------------------------------------------------------------------- */

int rec_enc_begin(rec_device_t *d)
{
    rec_recording_state_t *c = &d->cur;
    drbg_t g;
    int err = drbg_seed(d, &g, c->number);
    if (err) return err;
    uint8_t file_key[REC_AGE_FILE_KEY_SIZE], nonce[REC_AGE_NONCE_SIZE], ephemeral[32];
    drbg_generate(&g, file_key, sizeof file_key);
    drbg_generate(&g, nonce, sizeof nonce);
    drbg_generate(&g, ephemeral, sizeof ephemeral);
    rec_crypto_wipe(&g, sizeof g);
    /* The key is in NVM before anything is encrypted with it: recovery needs it. */
    err = slot_write(d, slot_for_new_key(d), c->number, file_key);
    uint8_t header[REC_AGE_HEADER_SIZE];
    if (!err) err = rec_age_header(header, file_key, nonce, ephemeral, d->recipient.key);
    rec_crypto_wipe(ephemeral, sizeof ephemeral);
    rec_age_keys_t keys;
    if (!err) err = rec_age_keys(&keys, file_key, nonce);
    rec_crypto_wipe(file_key, sizeof file_key);
    if (!err) err = rec_age_writer_start(&g_writer, d->bd, c->base_lba, c->hold_lba, &keys, header, c->header);
    rec_age_keys_wipe(&keys);
    return err;
}

int rec_enc_put(rec_device_t *d, uint8_t *audio, uint32_t len)
{
    (void)d; /* one recording at a time: the writer is g_writer */
    return rec_age_writer_put(&g_writer, audio, len);
}

int rec_enc_patch(rec_device_t *d)
{
    rec_recording_state_t *c = &d->cur;
    uint64_t size;
    int err = rec_age_writer_flush(&g_writer, &size);
    if (!err) err = rec_fat_set_size(&d->store.fs, &c->file, (uint32_t)size);
    if (!err) err = rec_fat_file_sync(&d->store.fs, &c->file);
    return err;
}

/* FINAL record, finish, the .AGE's size: common to stop and recovery. header: the WAV header as
 * at start; it gets the final sizes. */
static int close_file(rec_device_t *d, rec_fat_file_t *file, uint32_t age_lba, uint32_t hold_lba, const rec_age_keys_t *keys,
                      const rp_age_final_t *fin, uint8_t header[REC_WAV_HEADER_SIZE], const uint8_t *evid, uint32_t evid_len)
{
    int err = rec_age_final_write(d->bd, hold_lba, fin);
    if (!err && rec_wav_patch(header, 0, REC_WAV_HEADER_SIZE, fin->data_bytes, evid_len) < 0) err = REC_E_TOOBIG;
    uint64_t size = 0;
    if (!err) err = rec_age_finish(d->bd, age_lba, hold_lba, keys, header, fin->data_bytes, evid, evid_len, d->ring.buf, &size);
    if (!err) err = rec_fat_set_size(&d->store.fs, file, (uint32_t)size);
    return err;
}

int rec_enc_stop(rec_device_t *d, uint8_t stop_reason, uint8_t flags, const uint8_t sha256[32], const uint8_t *evid,
                 uint32_t evid_len)
{
    rec_recording_state_t *c = &d->cur;
    uint64_t size;
    int err = rec_age_writer_flush(&g_writer, &size);
    rp_age_final_t fin;
    memset(&fin, 0, sizeof fin);
    fin.number = c->number;
    fin.data_bytes = c->data_bytes;
    fin.overruns = c->overruns;
    fin.stop_reason = stop_reason;
    fin.flags = flags;
    memcpy(fin.sha256, sha256, 32);
    if (!err) err = close_file(d, &c->file, c->base_lba, c->hold_lba, &g_writer.keys, &fin, c->header, evid, evid_len);
    return err;
}

int rec_enc_close(rec_device_t *d)
{
    rec_recording_state_t *c = &d->cur;
    rec_age_writer_wipe(&g_writer);
    (void)rec_fat_close(&d->store.fs, &c->hold);
    char path[REC_STORE_PATH_MAX];
    (void)rec_store_path_ext(c->number, RP_CARD_HOLD_EXT, path);
    int err = rec_fat_remove(&d->store.fs, path);
    return err == REC_E_NOENT ? REC_OK : err;
}

/* ---- Recovery ------------------------------------------------------------------------------------ */

static int remove_ext(rec_device_t *d, uint32_t number, const char *ext)
{
    char path[REC_STORE_PATH_MAX];
    (void)rec_store_path_ext(number, ext, path);
    int err = rec_fat_remove(&d->store.fs, path);
    return err == REC_E_NOENT ? REC_OK : err;
}

/* A recording cut before any audio (its headers not on the card): its CKP (made beside it at
 * start, its clusters preallocated, empty: slot 0 is signed after the headers; removed first, so
 * a cut leaves the .AGE that brings this back), the .AGE and the key. The number is journalled
 * as spent. */
static int remove_unstarted(rec_device_t *d, uint32_t number)
{
    int err = remove_ext(d, number, RP_CARD_CHECKPOINTS_EXT);
    if (!err) err = remove_ext(d, number, RP_CARD_ENCRYPTED_EXT);
    if (!err) err = rec_enc_destroy_key(d, number);
    return err;
}

/* The ring's room for a recovered recording's marker offsets (the tail follows them). */
#define MARKS_BYTES ((RP_CARD_MAX_MARKERS * 4u + 511u) / 512u * 512u)
_Static_assert(REC_AUDIO_RING_BYTES >= REC_AGE_SCRATCH_SIZE + MARKS_BYTES + REC_WAV_TAIL_MAX_BYTES, "the ring holds recovery's markers");

/* Closes one recording whose hold file is still there; *closed when it was journalled now. */
static int recover_one(rec_device_t *d, uint32_t number, uint8_t stop_reason, bool *closed)
{
    rec_store_t *st = &d->store;
    *closed = false;
    uint8_t file_key[REC_AGE_FILE_KEY_SIZE];
    if (!rec_store_exists(st, number, RP_CARD_ENCRYPTED_EXT)) return remove_ext(d, number, RP_CARD_HOLD_EXT);
    if (rec_enc_file_key(d, number, file_key) != REC_OK) {
        port_log("an encrypted recording cut short has no key in the device: left as it is");
        return REC_OK;
    }
    char path[REC_STORE_PATH_MAX];
    rec_fat_file_t age, hold;
    (void)rec_store_path_ext(number, RP_CARD_ENCRYPTED_EXT, path);
    int err = rec_fat_open(&st->fs, &age, path, REC_FAT_READ | REC_FAT_WRITE);
    if (err) return err;
    (void)rec_store_path_ext(number, RP_CARD_HOLD_EXT, path);
    err = rec_fat_open(&st->fs, &hold, path, REC_FAT_READ | REC_FAT_WRITE);
    if (err) {
        (void)rec_fat_close(&st->fs, &age);
        return err;
    }
    uint32_t age_lba = 0, hold_lba = 0;
    err = rec_fat_file_lba(&st->fs, &age, 0, &age_lba);
    if (!err) err = rec_fat_file_lba(&st->fs, &hold, 0, &hold_lba);
    uint8_t *header = st->header;
    uint8_t nonce[REC_AGE_NONCE_SIZE];
    rec_age_keys_t keys;
    rec_wav_header_t h;
    memset(&keys, 0, sizeof keys);
    memset(&h, 0, sizeof h);
    bool started = false;
    if (!err) err = rec_bd_read(d->bd, age_lba, st->block, 1);
    if (!err && rec_age_header_check(st->block, file_key, nonce) == REC_OK) {
        err = rec_age_keys(&keys, file_key, nonce);
        if (!err) err = rec_age_hold_header(d->bd, hold_lba, &keys, header);
        started = !err && rec_wav_parse_header(header, REC_WAV_HEADER_SIZE, &h) == REC_OK;
    }
    rec_crypto_wipe(file_key, sizeof file_key);
    if (!err && !started) {
        /* Cut before the headers were on the card: no audio was stored (the microphone starts
         * after them). Nothing to keep: the number is journalled as spent. */
        (void)rec_fat_close(&st->fs, &age);
        (void)rec_fat_close(&st->fs, &hold);
        rec_age_keys_wipe(&keys);
        err = remove_unstarted(d, number);
        if (!err) err = remove_ext(d, number, RP_CARD_HOLD_EXT);
        return err;
    }
    /* Its markers, rebuilt from the journal (each was journaled as it was taken), in the idle
     * ring after the finish's scratch: their offsets, then the tail (markers and evid chunk). */
    uint32_t *marks = (uint32_t *)(void *)(d->ring.buf + REC_AGE_SCRATCH_SIZE);
    uint8_t *tail = d->ring.buf + REC_AGE_SCRATCH_SIZE + MARKS_BYTES;
    uint32_t nmarks = 0;
    if (!err) err = rec_journal_markers(&st->journal, number, marks, RP_CARD_MAX_MARKERS, &nmarks);
    const uint32_t tail_room = rec_wav_markers_size(nmarks) + REC_WAV_EVID_CHUNK_BYTES;
    rp_age_final_t fin;
    /* A FINAL record of another number is an earlier hold file's (its clusters reused). */
    if (!err && (rec_age_final_read(d->bd, hold_lba, &fin) != REC_OK || fin.number != number)) {
        /* Audio up to the last size patch, within what the file can hold when finished. */
        uint64_t plain = 0;
        uint32_t data = 0;
        if (rec_age_plain_of(age.size, &plain) && plain > REC_WAV_HEADER_SIZE)
            data = (uint32_t)(plain - REC_WAV_HEADER_SIZE) / REC_BD_BLOCK_SIZE * REC_BD_BLOCK_SIZE;
        const uint64_t alloc = (uint64_t)age.clusters * st->fs.blocks_per_cluster * REC_BD_BLOCK_SIZE;
        while (data > 0 && rec_age_file_size((uint64_t)REC_WAV_HEADER_SIZE + data + tail_room) > alloc)
            data -= REC_BD_BLOCK_SIZE;
        memset(&fin, 0, sizeof fin);
        fin.number = number;
        fin.data_bytes = data;
        fin.stop_reason = stop_reason;
        fin.flags = (uint8_t)((h.clock_set ? RP_RECORD_FLAG_CLOCK_SET : 0) | RP_RECORD_FLAG_RECOVERED | RP_RECORD_FLAG_ENCRYPTED);
        err = rec_age_hash_audio(d->bd, age_lba, hold_lba, &keys, data, fin.sha256, d->ring.buf);
    }
    rec_wav_evid_t ev;
    memset(&ev, 0, sizeof ev);
    ev.number = number;
    ev.device_id = h.device_id;
    ev.sample_rate = h.sample_rate;
    ev.sample_count = fin.data_bytes / 2u;
    ev.start_unix_ms = h.start_unix_ms;
    ev.stop_reason = fin.stop_reason;
    ev.flags = fin.flags;
    ev.overruns = fin.overruns;
    memcpy(ev.sha256, fin.sha256, 32);
    const uint32_t evid_len = err ? 0u : rec_wav_build_tail(tail, marks, nmarks, fin.data_bytes, &ev);
    if (!err) err = close_file(d, &age, age_lba, hold_lba, &keys, &fin, header, tail, evid_len);
    rec_age_keys_wipe(&keys);
    if (!err) err = rec_fat_trim(&st->fs, &age);
    if (!err) err = rec_fat_file_sync(&st->fs, &age);
    (void)rec_fat_close(&st->fs, &age);
    (void)rec_fat_close(&st->fs, &hold);
    if (err) return err;
    rec_journal_record_t jr;
    if (rec_journal_find_number(&st->journal, number, &jr) != REC_OK) {
        /* A FINAL record the stop wrote: the recording was complete and its evid chunk fixed,
         * only the finish was cut. Found, as plain mode says of a WAV with its evid chunk and no
         * record; never RECOVERED with a stop reason that was not a power cut. */
        const bool found = (fin.flags & RP_RECORD_FLAG_RECOVERED) == 0;
        memset(&jr, 0, sizeof jr);
        jr.kind = found ? RP_JOURNAL_KIND_FOUND_UNJOURNALED : RP_JOURNAL_KIND_RECORDING;
        jr.number = number;
        jr.start_unix_ms = ev.start_unix_ms;
        jr.sample_rate = ev.sample_rate;
        jr.sample_count = ev.sample_count;
        jr.stop_unix_ms = ev.start_unix_ms + (int64_t)((uint64_t)ev.sample_count * 1000u / (ev.sample_rate ? ev.sample_rate : 1u));
        jr.stop_reason = ev.stop_reason;
        jr.flags = (uint8_t)(ev.flags | RP_RECORD_FLAG_ENCRYPTED | (found ? 0 : RP_RECORD_FLAG_RECOVERED));
        jr.overruns = ev.overruns;
        memcpy(jr.sha256, ev.sha256, 32);
        err = rec_journal_append(&st->journal, &jr);
        *closed = err == REC_OK;
    }
    /* Last: until the .AGE is complete and journalled, the hold file says it is not. */
    if (!err) err = remove_ext(d, number, RP_CARD_HOLD_EXT);
    return err;
}

/* A key whose recording is sealed (a cut between the MSG file and the key's destruction) or is
 * not on this card (deleted, formatted, another card) is destroyed: the device must not keep
 * what it no longer needs. */
static int tidy_keys(rec_device_t *d)
{
    for (unsigned i = 0; i < 2; i++) {
        uint32_t n;
        uint8_t key[REC_AGE_FILE_KEY_SIZE];
        const bool live = slot_read(d, k_kinds[i], &n, key);
        rec_crypto_wipe(key, sizeof key);
        if (!live) continue;
        char path[REC_STORE_PATH_MAX];
        rec_fat_dirent_t de;
        bool sealed = rec_store_path_ext(n, RP_CARD_MINISIGN_EXT, path) == REC_OK &&
                      rec_fat_stat(&d->store.fs, path, &de) == REC_OK && de.size > 0;
        /* Finished (no hold file) and never to be sealed: not signed while recording (no start
         * slot), or no device key to add the recovered stop slot (rec_ckpt_recover) to a start
         * slot alone. Nothing will need the key again (a cut after the close). */
        bool unsigned_done = false;
        const uint32_t slots_needed = d->identity.has_key ? 1u : 2u;
        if (!sealed && rec_store_exists(&d->store, n, RP_CARD_ENCRYPTED_EXT) && !rec_store_exists(&d->store, n, RP_CARD_HOLD_EXT))
            unsigned_done = rec_store_path_ext(n, RP_CARD_CHECKPOINTS_EXT, path) != REC_OK ||
                            rec_fat_stat(&d->store.fs, path, &de) != REC_OK || de.size < slots_needed * REC_CKPT_SLOT_SIZE;
        if (sealed || unsigned_done || !rec_store_exists(&d->store, n, RP_CARD_ENCRYPTED_EXT)) {
            int err = slot_write(d, k_kinds[i], n, NULL);
            if (err) return err;
        }
    }
    return REC_OK;
}

int rec_enc_recover(rec_device_t *d, uint8_t stop_reason, uint32_t *recovered)
{
    *recovered = 0;
    rec_store_t *st = &d->store;
    if (!st->mounted) return REC_E_NOCARD;
    /* At most one recording is ever open; a few hold files are looked at per mount. */
    uint32_t nums[4], count = 0;
    rec_fat_dir_t dir;
    rec_fat_dirent_t de;
    int err = rec_fat_opendir(&st->fs, &dir, RP_CARD_RECORDINGS_DIR);
    if (err) return err;
    uint32_t empty[4], empties = 0;
    while ((err = rec_fat_readdir(&st->fs, &dir, &de)) == 1) {
        uint32_t n;
        if (de.attr & 0x10u) continue;
        if (rec_store_parse_hold_name(de.name, &n) && count < REC_COUNT_OF(nums)) nums[count++] = n;
        /* An empty .AGE: cut before its hold file was made, so before any audio. */
        if (de.size == 0 && rec_store_parse_name(de.name, &n) && empties < REC_COUNT_OF(empty) &&
            rec_store_exists(st, n, RP_CARD_ENCRYPTED_EXT) && !rec_store_exists(st, n, RP_CARD_RECORDING_EXT) &&
            n > st->journal.highest_number)
            empty[empties++] = n;
    }
    if (err < 0) return err;
    if (count == 0 && empties == 0) return d->nvm.present ? tidy_keys(d) : REC_OK;
    err = rec_store_begin_update(st);
    for (uint32_t i = 0; !err && i < empties; i++) {
        if (rec_store_exists(st, empty[i], RP_CARD_HOLD_EXT)) continue;
        err = remove_unstarted(d, empty[i]);
    }
    for (uint32_t i = 0; !err && i < count; i++) {
        bool closed;
        err = recover_one(d, nums[i], stop_reason, &closed);
        if (!err && closed) (*recovered)++;
    }
    int end = rec_store_end_update(st);
    if (!err && !end && d->nvm.present) err = tidy_keys(d);
    return err ? err : end;
}

#else /* !REC_ENCRYPTION: nothing is encrypted, nothing of age is linked */

bool rec_enc_wanted(const rec_device_t *d)
{
    (void)d;
    return false;
}
int rec_enc_begin(rec_device_t *d)
{
    (void)d;
    return REC_E_UNSUPPORTED;
}
int rec_enc_put(rec_device_t *d, uint8_t *audio, uint32_t len)
{
    (void)d, (void)audio, (void)len;
    return REC_E_UNSUPPORTED;
}
int rec_enc_patch(rec_device_t *d)
{
    (void)d;
    return REC_E_UNSUPPORTED;
}
int rec_enc_stop(rec_device_t *d, uint8_t stop_reason, uint8_t flags, const uint8_t sha256[32], const uint8_t *evid,
                 uint32_t evid_len)
{
    (void)d, (void)stop_reason, (void)flags, (void)sha256, (void)evid, (void)evid_len;
    return REC_E_UNSUPPORTED;
}
int rec_enc_close(rec_device_t *d)
{
    (void)d;
    return REC_OK;
}
void rec_enc_forget(rec_device_t *d)
{
    (void)d;
}
int rec_enc_recover(rec_device_t *d, uint8_t stop_reason, uint32_t *recovered)
{
    (void)d, (void)stop_reason;
    *recovered = 0;
    return REC_OK;
}
int rec_enc_file_key(rec_device_t *d, uint32_t number, uint8_t key[REC_AGE_FILE_KEY_SIZE])
{
    (void)d, (void)number, (void)key;
    return REC_E_NOENT;
}
int rec_enc_destroy_key(rec_device_t *d, uint32_t number)
{
    (void)d, (void)number;
    return REC_OK;
}

#endif
