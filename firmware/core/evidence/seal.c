/* Sealing after stop: see rec/seal.h. */
#include "rec/seal.h"

#include <string.h>

#include "rec/age.h"
#include "rec/checkpoint.h"
#include "rec/encrypted.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/evtext.h"
#include "rec/hmac_sha256.h"
#include "rec/journal.h"
#include "rec/port.h"
#include "rec/store.h"

/* Bytes read per poll: like the server's HASH slice, so the link stays responsive. */
#define SEAL_SLICE (16u * 1024u)

enum { PHASE_WAV = 1, PHASE_CKP, PHASE_WRITE };

/* A recording being sealed, kept at the start of the (idle) audio ring. */
typedef struct {
    uint32_t number;
    uint8_t phase;
    rec_fat_file_t file;
    uint32_t pos;
    uint32_t data_bytes;        /* audio bytes per the header */
    rec_sha256_t whole, audio, header_evid;
    uint32_t jidx;
    uint8_t jrec[32];
    rec_journal_record_t jr;
    uint8_t wav_sha[32];
    uint32_t slots;
    /* an encrypted recording: the .AGE is read, hashed as it is and decrypted (age.md STREAM,
     * every tag checked) into the WAV hashes */
    bool encrypted;
    uint8_t file_key[REC_AGE_FILE_KEY_SIZE];
    rec_age_reader_t reader;
    uint32_t plain_pos;         /* WAV bytes decrypted so far */
    rec_sha256_t age;
    uint8_t age_sha[32];
} job_t;

const char *rec_seal_part_ext(uint8_t part)
{
    switch (part) {
    case RP_PART_AUDIO: return RP_CARD_RECORDING_EXT;
    case RP_PART_STATEMENT: return RP_CARD_STATEMENT_EXT;
    case RP_PART_SIGNIFY: return RP_CARD_SIGNIFY_EXT;
    case RP_PART_MINISIGN: return RP_CARD_MINISIGN_EXT;
    case RP_PART_CHECKPOINTS: return RP_CARD_CHECKPOINTS_EXT;
    default: return NULL;
    }
}

static uint32_t file_size(rec_device_t *d, uint32_t number, uint8_t part)
{
    char path[REC_STORE_PATH_MAX];
    rec_fat_dirent_t de;
    if (rec_ckpt_path(number, rec_seal_part_ext(part), path) != REC_OK) return 0;
    return rec_fat_stat(&d->store.fs, path, &de) == REC_OK ? de.size : 0;
}

static bool refused(const rec_seal_t *s, uint32_t number)
{
    for (uint8_t i = 0; i < s->refused_count; i++)
        if (s->refused[i] == number) return true;
    return false;
}

uint8_t rec_seal_flags(const rec_device_t *d, uint32_t number, bool finished, const uint32_t sizes[5])
{
    if (sizes[RP_PART_STATEMENT] && sizes[RP_PART_SIGNIFY] && sizes[RP_PART_MINISIGN]) return RP_RECORD_FLAG_SEALED;
    if (!d->identity.has_key || sizes[RP_PART_CHECKPOINTS] == 0) return RP_RECORD_FLAG_UNSIGNED;
    if (finished && sizes[RP_PART_CHECKPOINTS] >= 2u * REC_CKPT_SLOT_SIZE && !refused(&d->seal, number))
        return RP_RECORD_FLAG_SEALING;
    return 0;
}

bool rec_seal_parse_name(const char *name, uint32_t *number, uint8_t *part)
{
    char wav[13];
    size_t n = strlen(name);
    if (n != 12 || name[8] != '.') return false;
    memcpy(wav, name, 9);
    memcpy(wav + 9, RP_CARD_RECORDING_EXT, 4);
    if (!rec_store_parse_name(wav, number)) return false;
    for (uint8_t p = RP_PART_STATEMENT; p <= RP_PART_CHECKPOINTS; p++) {
        const char *ext = rec_seal_part_ext(p);
        bool same = true;
        for (int i = 0; i < 3; i++) {
            char c = name[9 + i];
            if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
            if (c != ext[i]) same = false;
        }
        if (same) {
            *part = p;
            return true;
        }
    }
    return false;
}

int rec_seal_delete_sidecars(rec_device_t *d, uint32_t number)
{
    static const uint8_t parts[] = { RP_PART_STATEMENT, RP_PART_SIGNIFY, RP_PART_MINISIGN, RP_PART_CHECKPOINTS };
    int err = rec_store_begin_update(&d->store);
    for (size_t i = 0; !err && i < sizeof parts; i++) {
        char path[REC_STORE_PATH_MAX];
        (void)rec_ckpt_path(number, rec_seal_part_ext(parts[i]), path);
        err = rec_fat_remove(&d->store.fs, path);
        if (err == REC_E_NOENT) err = REC_OK;
    }
    int end = rec_store_end_update(&d->store);
    d->seal.done = false;
    return err ? err : end;
}

/* The job at the start of the ring (aligned), and the read buffer after it. */
static job_t *job_of(rec_device_t *d, uint8_t **buf, uint32_t *buf_len)
{
    uintptr_t at = ((uintptr_t)d->ring.buf + 7u) & ~(uintptr_t)7u;
    uint32_t skip = (uint32_t)(at - (uintptr_t)d->ring.buf);
    uint32_t head = (uint32_t)((sizeof(job_t) + 7u) & ~7u);
    *buf = d->ring.buf + skip + head;
    *buf_len = rec_ring_capacity(&d->ring) - skip - head;
    return (job_t *)at;
}

static void refuse(rec_device_t *d, uint32_t number, const char *why)
{
    rec_seal_t *s = &d->seal;
    if (s->refused_count < REC_SEAL_REFUSED_MAX) s->refused[s->refused_count++] = number;
    port_log(why);
}

/* Whether a recording is pending; fills the job's journal fields when it is. */
static bool pending(rec_device_t *d, uint32_t number, job_t *job)
{
    if (refused(&d->seal, number) || file_size(d, number, RP_PART_MINISIGN) != 0) return false;
    if (file_size(d, number, RP_PART_CHECKPOINTS) < 2u * REC_CKPT_SLOT_SIZE) return false; /* unsigned */
    rec_recording_t r;
    if (rec_store_find(&d->store, number, &r) != REC_OK || !r.finished) return false;
    rec_journal_record_t jr;
    if (rec_journal_find_number(&d->store.journal, number, &jr) != REC_OK) return false;
    if (jr.kind != RP_JOURNAL_KIND_RECORDING && jr.kind != RP_JOURNAL_KIND_FOUND_UNJOURNALED) return false;
    uint8_t raw[REC_JOURNAL_RECORD_SIZE];
    if (rec_journal_read_raw(&d->store.journal, jr.index, raw) != REC_OK) return false;
    memset(job, 0, sizeof *job);
    if (r.encrypted && rec_enc_file_key(d, number, job->file_key) != REC_OK) {
        refuse(d, number, "not sealed: the encrypted recording's key is no longer in the device");
        return false;
    }
    job->encrypted = r.encrypted;
    job->number = number;
    job->jr = jr;
    job->jidx = jr.index;
    rec_journal_hash(raw, job->jrec);
    job->data_bytes = r.header.data_size;
    return true;
}

static int open_part(rec_device_t *d, job_t *job, uint8_t part)
{
    char path[REC_STORE_PATH_MAX];
    (void)rec_ckpt_path(job->number, part == RP_PART_AUDIO && job->encrypted ? RP_CARD_ENCRYPTED_EXT : rec_seal_part_ext(part), path);
    job->pos = 0;
    return rec_fat_open(&d->store.fs, &job->file, path, REC_FAT_READ);
}

/* Finds the next pending recording after the cursor; false when there is none. */
static bool next_job(rec_device_t *d, job_t *job)
{
    rec_seal_t *s = &d->seal;
    for (;;) {
        uint32_t num, count, total;
        bool more;
        if (rec_store_list(&d->store, s->cursor, &num, 1, &count, &total, &more) != REC_OK || count == 0) return false;
        s->cursor = num;
        if (!pending(d, num, job)) continue;
        const bool opened = open_part(d, job, RP_PART_AUDIO) == REC_OK;
        if (opened && REC_ENCRYPTION && job->encrypted) rec_age_reader_start(&job->reader, job->file_key, job->file.size);
        rec_crypto_wipe(job->file_key, sizeof job->file_key);
        if (opened) {
            rec_sha256_init(&job->whole);
            rec_sha256_init(&job->audio);
            rec_sha256_init(&job->header_evid);
            rec_sha256_init(&job->age);
            job->phase = PHASE_WAV;
            return true;
        }
    }
}

/* Feeds the bytes at file offset `at` to the hashes their ranges belong to. */
static void feed_wav(job_t *job, const uint8_t *p, uint32_t n, uint32_t at)
{
    rec_sha256_update(&job->whole, p, n);
    uint32_t audio_end = REC_WAV_HEADER_SIZE + job->data_bytes;
    for (uint32_t i = 0; i < n;) {
        uint32_t off = at + i, run;
        if (off < REC_WAV_HEADER_SIZE) {
            run = REC_WAV_HEADER_SIZE - off;
            if (run > n - i) run = n - i;
            rec_sha256_update(&job->header_evid, p + i, run);
        } else if (off < audio_end) {
            run = audio_end - off;
            if (run > n - i) run = n - i;
            rec_sha256_update(&job->audio, p + i, run);
        } else {
            run = n - i;
            rec_sha256_update(&job->header_evid, p + i, run);
        }
        i += run;
    }
}

/* Reads one slice of the open file into the hashes; true when the file is done. */
static int read_slice(rec_device_t *d, job_t *job, uint8_t *buf, uint32_t buf_len, bool *eof)
{
    uint32_t n = job->file.size - job->pos;
    if (n > buf_len) n = buf_len;
    if (n > SEAL_SLICE) n = SEAL_SLICE;
    int err = rec_fat_seek(&d->store.fs, &job->file, job->pos);
    if (err) return err;
    int32_t got = rec_fat_read(&d->store.fs, &job->file, buf, n);
    if (got < 0) return (int)got;
    if ((uint32_t)got != n) return REC_E_CORRUPT;
    if (job->phase == PHASE_WAV && REC_ENCRYPTION && job->encrypted) {
        rec_sha256_update(&job->age, buf, n);
        uint32_t plain;
        err = rec_age_reader_feed(&job->reader, buf, n, &plain);
        if (err) return err;
        feed_wav(job, buf, plain, job->plain_pos);
        job->plain_pos += plain;
    } else if (job->phase == PHASE_WAV) {
        feed_wav(job, buf, n, job->pos);
    } else {
        rec_sha256_update(&job->whole, buf, n);
    }
    job->pos += n;
    *eof = job->pos == job->file.size;
    return REC_OK;
}

static void untrusted_and_sig(rec_evtext_t *t, rec_device_t *d, uint32_t number, const uint8_t sig[64])
{
    rec_evtext_str(t, "untrusted comment: ER-1 recorder ");
    rec_evtext_hex(t, d->identity.key_id, REC_KEY_ID_SIZE);
    rec_evtext_str(t, " recording ");
    rec_evtext_dec(t, number, 1);
    rec_evtext_char(t, '\n');
    uint8_t blob[2 + REC_KEY_ID_SIZE + 64];
    blob[0] = 'E';
    blob[1] = 'd';
    memcpy(blob + 2, d->identity.key_id, REC_KEY_ID_SIZE);
    memcpy(blob + 2 + REC_KEY_ID_SIZE, sig, 64);
    rec_evtext_base64(t, blob, sizeof blob);
    rec_evtext_char(t, '\n');
}

static void statement_line(rec_evtext_t *t, uint32_t number, const char *ext, const uint8_t sha[32])
{
    char path[REC_STORE_PATH_MAX];
    (void)rec_ckpt_path(number, ext, path);
    rec_evtext_str(t, "SHA256 (");
    rec_evtext_str(t, path + sizeof RP_CARD_RECORDINGS_DIR);
    rec_evtext_str(t, ") = ");
    rec_evtext_hex(t, sha, 32);
    rec_evtext_char(t, '\n');
}

static void kv_dec(rec_evtext_t *t, const char *key, uint64_t v)
{
    rec_evtext_str(t, key);
    rec_evtext_dec(t, v, 1);
}

static void kv_hex(rec_evtext_t *t, const char *key, const uint8_t *b, size_t n)
{
    rec_evtext_str(t, key);
    rec_evtext_hex(t, b, n);
}

static void trusted_comment(rec_evtext_t *t, rec_device_t *d, const job_t *job, const rec_ckpt_t *stop,
                            const uint8_t audio[32], const uint8_t ckp[32])
{
    const rec_journal_record_t *jr = &job->jr;
    bool clock = (jr->flags & RP_RECORD_FLAG_CLOCK_SET) != 0;
    kv_hex(t, "er1 v=1 dev=", d->identity.key_id, REC_KEY_ID_SIZE);
    rec_evtext_str(t, " uid=");
    if (d->identity.has_unique_id)
        rec_evtext_hex(t, d->identity.unique_id, sizeof d->identity.unique_id);
    else
        rec_evtext_char(t, '-');
    kv_dec(t, " rec=", job->number);
    /* The journal epoch the record was written in: the device's current one (a format, which
     * starts the next epoch, also erases the recordings of the one before). */
    uint32_t epoch = 0, count = 0;
    rec_device_journal_counter(d, &epoch, &count);
    kv_dec(t, " epoch=", epoch ? epoch : 1u);
    kv_dec(t, " jidx=", job->jidx);
    kv_hex(t, " jrec=", job->jrec, 32);
    rec_evtext_str(t, " start=");
    if (clock)
        rec_evtext_iso(t, jr->start_unix_ms);
    else
        rec_evtext_char(t, '-');
    rec_evtext_str(t, " stop=");
    if (clock && jr->stop_unix_ms != 0)
        rec_evtext_iso(t, jr->stop_unix_ms);
    else
        rec_evtext_char(t, '-');
    rec_evtext_str(t, clock ? " clock=set" : " clock=unset");
    kv_dec(t, " rate=", jr->sample_rate);
    kv_dec(t, " samples=", jr->sample_count);
    kv_dec(t, " vouched=", stop->vouched);
    kv_dec(t, " ckpts=", job->slots);
    rec_evtext_str(t, " reason=");
    rec_evtext_str(t, rec_evtext_stop_reason(jr->stop_reason));
    kv_dec(t, " overruns=", jr->overruns);
    rec_evtext_str(t, (jr->flags & RP_RECORD_FLAG_RECOVERED) ? " recovered=yes" : " recovered=no");
    kv_hex(t, " audio=", audio, 32);
    kv_hex(t, " wav=", job->wav_sha, 32);
    if (job->encrypted) kv_hex(t, " age=", job->age_sha, 32);
    kv_hex(t, " ckp=", ckp, 32);
    kv_dec(t, " fw=", REC_FW_MAJOR);
    kv_dec(t, ".", REC_FW_MINOR);
    kv_dec(t, ".", REC_FW_PATCH);
}

/* Writes (or rewrites) a whole file: the same bytes after a cut, so a partial write is repaired. */
static int write_file(rec_device_t *d, uint32_t number, uint8_t part, const void *bytes, uint32_t len)
{
    char path[REC_STORE_PATH_MAX];
    (void)rec_ckpt_path(number, rec_seal_part_ext(part), path);
    rec_fat_file_t f;
    int err = rec_store_begin_update(&d->store);
    if (!err) err = rec_fat_open(&d->store.fs, &f, path, REC_FAT_READ | REC_FAT_WRITE | REC_FAT_CREATE);
    if (err) return err;
    int32_t put = rec_fat_write(&d->store.fs, &f, bytes, len);
    if (put >= 0 && (uint32_t)put != len) put = REC_E_IO;
    err = put < 0 ? (int)put : rec_fat_set_size(&d->store.fs, &f, len);
    if (!err) err = rec_fat_file_sync(&d->store.fs, &f);
    (void)rec_fat_close(&d->store.fs, &f);
    return err ? err : rec_store_end_update(&d->store);
}

/* The checks and the three files. buf (at least 2 KiB) holds the texts. */
static int seal(rec_device_t *d, job_t *job, const uint8_t ckp_sha[32], uint8_t *buf, uint32_t buf_len)
{
    uint8_t audio[32], f[32];
    rec_sha256_final(&job->audio, audio);
    rec_sha256_final(&job->header_evid, f);
    rec_ckpt_t stop;
    uint8_t *slot = d->store.block;
    int err = open_part(d, job, RP_PART_CHECKPOINTS);
    if (!err) err = rec_fat_seek(&d->store.fs, &job->file, (job->slots - 1u) * REC_CKPT_SLOT_SIZE);
    int32_t got = err ? err : rec_fat_read(&d->store.fs, &job->file, slot, REC_CKPT_SLOT_SIZE);
    (void)rec_fat_close(&d->store.fs, &job->file);
    if (got < 0) return (int)got;
    if (got != (int32_t)REC_CKPT_SLOT_SIZE || rec_ckpt_parse(slot, &d->identity, &stop) != REC_OK ||
        stop.kind != REC_CKPT_STOP || stop.number != job->number) {
        refuse(d, job->number, "not sealed: the checkpoints do not end in a valid stop slot");
        return REC_OK;
    }
    if (memcmp(audio, job->jr.sha256, 32) != 0 || memcmp(audio, stop.h, 32) != 0 || stop.samples != job->jr.sample_count) {
        refuse(d, job->number, "not sealed: the audio on the card differs from its journal record and stop checkpoint");
        return REC_OK;
    }
    if (memcmp(f, stop.f, 32) != 0) {
        refuse(d, job->number, "not sealed: the WAV header or evid chunk differs from the stop checkpoint");
        return REC_OK;
    }
    /* statement, then sig1 over it. buf: statement [0, 512), sig1 || trusted comment [512, 2048),
     * the signify and minisign files from 2048. */
    if (buf_len < 4096u) return REC_E_TOOBIG;
    char *statement = (char *)buf;
    rec_evtext_t t;
    rec_evtext_init(&t, statement, 512);
    statement_line(&t, job->number, RP_CARD_RECORDING_EXT, job->wav_sha);
    statement_line(&t, job->number, RP_CARD_CHECKPOINTS_EXT, ckp_sha);
    if (job->encrypted) statement_line(&t, job->number, RP_CARD_ENCRYPTED_EXT, job->age_sha);
    uint32_t statement_len = (uint32_t)t.len;
    if (t.overflow) return REC_E_TOOBIG;
    uint8_t *sig1_tc = buf + 512; /* sig1 || trusted comment: what sig2 signs */
    err = rec_identity_sign(&d->identity, statement, statement_len, sig1_tc);
    if (err) return err;
    err = write_file(d, job->number, RP_PART_STATEMENT, statement, statement_len);
    if (err) return err;

    char *out = (char *)buf + 2048;
    rec_evtext_init(&t, out, buf_len - 2048u);
    untrusted_and_sig(&t, d, job->number, sig1_tc);
    for (uint32_t i = 0; i < statement_len; i++) rec_evtext_char(&t, statement[i]);
    if (t.overflow) return REC_E_TOOBIG;
    err = write_file(d, job->number, RP_PART_SIGNIFY, out, (uint32_t)t.len);
    if (err) return err;

    rec_evtext_t tc;
    rec_evtext_init(&tc, (char *)sig1_tc + 64, 2048u - 512u - 64u);
    trusted_comment(&tc, d, job, &stop, audio, ckp_sha);
    if (tc.overflow) return REC_E_TOOBIG;
    uint8_t sig2[64];
    err = rec_identity_sign(&d->identity, sig1_tc, 64u + tc.len, sig2);
    if (err) return err;
    rec_evtext_init(&t, out, buf_len - 2048u);
    untrusted_and_sig(&t, d, job->number, sig1_tc);
    rec_evtext_str(&t, "trusted comment: ");
    for (size_t i = 0; i < tc.len; i++) rec_evtext_char(&t, tc.p[i]);
    rec_evtext_char(&t, '\n');
    rec_evtext_base64(&t, sig2, sizeof sig2);
    rec_evtext_char(&t, '\n');
    if (t.overflow) return REC_E_TOOBIG;
    err = write_file(d, job->number, RP_PART_MINISIGN, out, (uint32_t)t.len);
    /* Sealed: the device no longer needs to read it, and must not be able to. */
    if (!err && REC_ENCRYPTION && job->encrypted) err = rec_enc_destroy_key(d, job->number);
    if (!err) port_log("recording sealed");
    return err;
}

bool rec_seal_poll(rec_device_t *d)
{
    rec_seal_t *s = &d->seal;
    if (d->rec_state != RP_REC_STATE_IDLE || !d->store.mounted || !d->identity.has_key) {
        s->working = false; /* the ring is the recorder's (or the card is gone): start over later */
        return false;
    }
    if (s->generation != d->generation || s->journal_count != d->store.journal.count) {
        s->generation = d->generation;
        s->journal_count = d->store.journal.count;
        s->working = false;
        s->done = false;
        s->cursor = 0;
    }
    if (s->done) return false;
    uint8_t *buf;
    uint32_t buf_len;
    job_t *job = job_of(d, &buf, &buf_len);
    if (!s->working) {
        if (!next_job(d, job)) {
            s->done = true;
            return false;
        }
        s->working = true;
        return true;
    }
    bool eof = false;
    int err = read_slice(d, job, buf, buf_len, &eof);
    if (!err && eof && job->phase == PHASE_WAV && REC_ENCRYPTION && job->encrypted) {
        rec_sha256_final(&job->age, job->age_sha);
        const bool whole = rec_age_reader_done(&job->reader);
        rec_age_reader_wipe(&job->reader);
        /* Every chunk's tag checked, and the plaintext is the WAV its journal record describes (its
         * audio, then the markers, if any, and the evid chunk). */
        const uint64_t tail = job->plain_pos - ((uint64_t)REC_WAV_HEADER_SIZE + job->data_bytes);
        if (!whole || job->plain_pos < (uint64_t)REC_WAV_HEADER_SIZE + job->data_bytes + REC_WAV_EVID_CHUNK_BYTES ||
            tail > REC_WAV_TAIL_MAX_BYTES)
            err = REC_E_CORRUPT;
    }
    if (!err && eof && job->phase == PHASE_WAV) {
        rec_sha256_final(&job->whole, job->wav_sha);
        (void)rec_fat_close(&d->store.fs, &job->file);
        rec_sha256_init(&job->whole);
        err = open_part(d, job, RP_PART_CHECKPOINTS);
        job->slots = job->file.size / REC_CKPT_SLOT_SIZE;
        job->phase = PHASE_CKP;
        eof = false;
    }
    if (!err && eof && job->phase == PHASE_CKP) {
        uint8_t ckp_sha[32];
        rec_sha256_final(&job->whole, ckp_sha);
        (void)rec_fat_close(&d->store.fs, &job->file);
        job->phase = PHASE_WRITE;
        err = seal(d, job, ckp_sha, buf, buf_len);
        s->working = false;
    }
    if (err) {
        s->working = false;
        rec_age_reader_wipe(&job->reader);
        refuse(d, job->number, err == REC_E_MISMATCH ? "not sealed: the encrypted file does not decrypt"
                                                       : "not sealed: card error while sealing");
    }
    return true;
}
