#include "rec/server.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/text.h"
#include "rec/err.h"
#include "rec/journal.h"
#include "rec/port.h"
#include "rec/card_test.h"
#include "rec/power.h"
#include "rec/recorder.h"
#include "rec/checkpoint.h"
#include "rec/seal.h"
#include "rec/store.h"
#include "rec_codec.h"

void rec_server_init(rec_server_t *s)
{
    memset(s, 0, sizeof *s);
    rec_deframer_init(&s->deframer, s->rx_frame, sizeof s->rx_frame, REC_SERVER_MAX_PAYLOAD);
    s->max_payload = RP_MIN_MAX_PAYLOAD < REC_SERVER_MAX_PAYLOAD ? RP_MIN_MAX_PAYLOAD : REC_SERVER_MAX_PAYLOAD;
}

void rec_server_forget_files(rec_server_t *s)
{
    /* Read-only handles hold no state on the card: dropping them needs no I/O. */
    s->rf_open = false;
    s->hash_busy = false;
}

static uint16_t err_code(int err)
{
    switch (err) {
    case REC_E_NOENT: return RP_ERR_NOT_FOUND;
    case REC_E_NOCARD: return RP_ERR_NO_CARD;
    case REC_E_BUSY: return RP_ERR_BUSY;
    case REC_E_MISMATCH: return RP_ERR_HASH_MISMATCH;
    case REC_E_NOSPC: return RP_ERR_CARD_FULL;
    case REC_E_FULL: return RP_ERR_CARD_FULL;
    case REC_E_RANGE: return RP_ERR_OUT_OF_RANGE;
    case REC_E_INVAL: return RP_ERR_BAD_ARGUMENT;
    case REC_E_IO:
    case REC_E_TIMEOUT:
    case REC_E_BADFS:
    case REC_E_CORRUPT: return RP_ERR_CARD_ERROR;
    default: return RP_ERR_INTERNAL;
    }
}

/* Encodes f (its payload in s->payload) with its frame CRC into the transmit buffer (which must
 * be empty). */
static void transmit(rec_server_t *s, const rec_frame_t *f, uint32_t crc)
{
    REC_ASSERT(s->tx_len == 0 && f->length <= REC_SERVER_MAX_PAYLOAD);
    size_t out;
    int err = rec_frame_encode_with_crc(f, crc, s->tx, sizeof s->tx, &out);
    REC_ASSERT(err == REC_OK);
    (void)err;
    s->tx_len = (uint32_t)out;
    s->tx_pos = 0;
}

/* Encodes a frame from s->payload into the transmit buffer (which must be empty). */
static void send_frame(rec_server_t *s, uint8_t kind, uint16_t seq, uint16_t command, uint32_t len)
{
    REC_ASSERT(len <= REC_SERVER_MAX_PAYLOAD);
    rec_frame_t f = { .version = RP_VERSION, .kind = kind, .seq = seq, .command = command, .length = (uint16_t)len, .payload = s->payload };
    transmit(s, &f, rec_crc32(rec_frame_header_crc(&f), s->payload, len));
}

static void send_error(rec_server_t *s, uint16_t seq, uint16_t command, uint16_t code, uint32_t detail)
{
    const rp_error_t e = { .code = code, .detail = detail };
    rp_error_pack(&e, s->payload);
    send_frame(s, RP_KIND_ERROR, seq, command, RP_ERROR_SIZE);
}

/* dst is zeroed: copies the text without its terminator (a full field has none). */
static void put_text(char *dst, size_t size, const char *src)
{
    size_t n = src ? rec_strnlen(src, size) : 0;
    memcpy(dst, src, n);
}

static uint32_t build_info(rec_server_t *s, rec_device_t *d)
{
    rp_info_t v;
    memset(&v, 0, sizeof v);
    v.protocol_version = RP_VERSION;
    v.fw_major = REC_FW_MAJOR;
    v.fw_minor = REC_FW_MINOR;
    v.fw_patch = REC_FW_PATCH;
    v.max_payload = s->max_payload;
    v.max_in_flight = REC_SERVER_MAX_IN_FLIGHT;
    v.device_id = d->settings.device_id;
    put_text(v.model, sizeof v.model, d->model);
    put_text(v.label, sizeof v.label, d->settings.label);
    bool set = rec_device_clock_now(d, &v.clock_unix_ms);
    v.uptime_ms = port_uptime_ms();
    uint8_t flags = 0;
    if (d->simulated) flags |= RP_INFO_FLAG_SIMULATED;
    if (d->settings.discreet) flags |= RP_INFO_FLAG_DISCREET;
    if (set) flags |= RP_INFO_FLAG_CLOCK_SET;
    if (d->low_battery) flags |= RP_INFO_FLAG_LOW_BATTERY;
    if (d->wipe_pending) flags |= RP_INFO_FLAG_WIPE_PENDING;
    flags |= RP_INFO_FLAG_READ_CHECKED; /* this firmware answers READ_CHECKED */
    if (d->recipient.set) flags |= RP_INFO_FLAG_ENCRYPTING;
    v.flags = flags;
    v.rec_state = d->rec_state;
    v.card_state = d->store.card_state;
    v.button_scheme = d->settings.button_scheme;
    v.battery_mv = d->battery_mv;
    v.sample_rate = d->settings.sample_rate;
    rec_store_space(&d->store, &v.card_capacity, &v.card_free);
    bool recording = d->rec_state == RP_REC_STATE_RECORDING;
    v.current_number = recording ? d->cur.number : 0;
    v.current_samples = recording ? d->cur.data_bytes / 2u : 0;
    uint32_t next = d->store.highest_number + 1;
    if (d->settings.next_number > next) next = d->settings.next_number;
    v.next_number = next;
    v.recording_count = d->store.mounted ? d->store.recording_count : 0;
    v.journal_count = d->store.mounted ? d->store.journal.count : 0;
    v.overruns_total = d->overruns_total + (recording ? rec_ring_overruns(&d->ring) : 0);
    v.card_seconds_left = rec_recorder_card_seconds_left(d);
    v.battery_seconds_left = rec_battery_seconds_left(d->battery_mv, d->settings.sample_rate, !d->settings.discreet);
    rp_info_pack(&v, s->payload);
    return RP_INFO_SIZE;
}

static void fill_entry(uint8_t *e, rec_device_t *d, const rec_recording_t *r)
{
    rp_list_entry_t v;
    memset(&v, 0, sizeof v);
    bool current = d->rec_state == RP_REC_STATE_RECORDING && d->cur.number == r->number;
    v.number = r->number;
    put_text(v.name, sizeof v.name, r->name);
    v.size = r->size;
    v.data_offset = REC_WAV_HEADER_SIZE;
    if (r->finished && !current) {
        v.state = RP_RECORDING_FINISHED;
        v.flags = r->evid.flags;
        v.stop_reason = r->evid.stop_reason;
        v.sample_rate = r->evid.sample_rate;
        v.sample_count = r->evid.sample_count;
        v.start_unix_ms = r->evid.start_unix_ms;
        memcpy(v.sha256, r->evid.sha256, 32);
    } else {
        v.state = RP_RECORDING_RECORDING;
        v.flags = r->header_valid && r->header.clock_set ? RP_RECORD_FLAG_CLOCK_SET : 0;
        if (r->encrypted) v.flags |= RP_RECORD_FLAG_ENCRYPTED;
        v.sample_rate = r->header_valid ? r->header.sample_rate : 0;
        uint32_t data = current ? d->cur.data_bytes : (r->size > REC_WAV_HEADER_SIZE ? r->size - REC_WAV_HEADER_SIZE : 0);
        if (current) v.sample_rate = d->cur.sample_rate;
        if (r->encrypted && !current) data = 0; /* the .AGE's size counts tags, and the audio is sealed */
        v.sample_count = data / 2u;
        v.start_unix_ms = r->header_valid ? r->header.start_unix_ms : 0;
    }
    rp_list_entry_pack(&v, e);
}

/* The signed files' sizes and the evidence flags of a page of LIST entries, in one pass over
 * RECORDS/ (a stat per file would scan the directory four times per entry). */
static int fill_evidence(rec_device_t *d, uint8_t *entries, uint32_t count)
{
    rec_fat_dir_t dir;
    rec_fat_dirent_t de;
    int err = rec_fat_opendir(&d->store.fs, &dir, RP_CARD_RECORDINGS_DIR);
    if (err) return err;
    rp_list_entry_t v;
    while ((err = rec_fat_readdir(&d->store.fs, &dir, &de)) == 1) {
        uint32_t number;
        uint8_t part;
        if ((de.attr & 0x10u) || !rec_seal_parse_name(de.name, &number, &part)) continue;
        for (uint32_t i = 0; i < count; i++) {
            uint8_t *e = entries + i * RP_LIST_ENTRY_SIZE;
            rp_list_entry_unpack(e, &v);
            if (v.number != number) continue;
            if (part == RP_PART_STATEMENT) v.statement_size = de.size;
            if (part == RP_PART_SIGNIFY) v.signify_size = de.size;
            if (part == RP_PART_MINISIGN) v.minisign_size = de.size;
            if (part == RP_PART_CHECKPOINTS) v.checkpoints_size = de.size;
            rp_list_entry_pack(&v, e);
        }
    }
    if (err < 0) return err;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *e = entries + i * RP_LIST_ENTRY_SIZE;
        rp_list_entry_unpack(e, &v);
        const uint32_t sizes[5] = { v.size, v.statement_size, v.signify_size, v.minisign_size, v.checkpoints_size };
        v.flags |= rec_seal_flags(d, v.number, v.state == RP_RECORDING_FINISHED, sizes);
        rp_list_entry_pack(&v, e);
    }
    return REC_OK;
}

/* Opens (or reuses) a file of a recording (part: RP_PART_*) for READ and HASH. */
static int open_recording(rec_server_t *s, rec_device_t *d, uint32_t number, uint8_t part)
{
    if (!d->store.mounted) return REC_E_NOCARD;
    bool current = d->rec_state != RP_REC_STATE_IDLE && d->rec_state != RP_REC_STATE_ERROR && d->cur.number == number;
    /* The recording being written grows, and so do its checkpoints and, while it is sealed, its
     * statement files: reopen those each time for their current size. */
    bool growing = current || (part != RP_PART_AUDIO && d->seal.working);
    if (s->rf_open && s->rf_number == number && s->rf_part == part && s->rf_generation == d->generation && !growing)
        return REC_OK;
    s->rf_open = false;
    char path[REC_STORE_PATH_MAX];
    if (rec_ckpt_path(number, rec_seal_part_ext(part), path) != REC_OK) return REC_E_NOENT;
    int err = rec_fat_open(&d->store.fs, &s->rf, path, REC_FAT_READ);
    if (err == REC_E_NOENT && part == RP_PART_AUDIO) {
        /* An encrypted recording: the host copies the .AGE as it is. */
        (void)rec_ckpt_path(number, RP_CARD_ENCRYPTED_EXT, path);
        err = rec_fat_open(&d->store.fs, &s->rf, path, REC_FAT_READ);
    }
    if (err) return err;
    s->rf_open = true;
    s->rf_number = number;
    s->rf_part = part;
    s->rf_generation = d->generation;
    return REC_OK;
}

/* READ and READ_CHECKED: reads up to length bytes (fewer at the end of the file) of a recording's
 * file at offset into dst. The count read, or a negative error code once it has been answered
 * (the caller sends nothing more). */
static int32_t read_for_host(rec_server_t *s, rec_device_t *d, uint16_t seq, uint16_t cmd, uint32_t number, uint8_t part,
                             uint32_t offset, uint32_t length, uint32_t max, uint8_t *dst)
{
    if (!rec_seal_part_ext(part)) {
        send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, RP_PART_CHECKPOINTS);
        return REC_E_INVAL;
    }
    if (length > max) {
        send_error(s, seq, cmd, RP_ERR_TOO_LARGE, max);
        return REC_E_RANGE;
    }
    int err = open_recording(s, d, number, part);
    if (!err && offset > s->rf.size) {
        send_error(s, seq, cmd, RP_ERR_OUT_OF_RANGE, s->rf.size);
        return REC_E_RANGE;
    }
    if (!err) {
        if (length > s->rf.size - offset) length = s->rf.size - offset;
        err = rec_fat_seek(&d->store.fs, &s->rf, offset);
    }
    int32_t got = err;
    if (!err) {
        got = rec_fat_read(&d->store.fs, &s->rf, dst, length);
        if (got < 0) s->rf_open = false;
    }
    if (got < 0) send_error(s, seq, cmd, err_code((int)got), (uint32_t)-got);
    return got;
}

/* The largest READ_CHECKED length whose data and check table fit in room bytes. */
static uint32_t checked_max_length(uint32_t room, uint32_t block)
{
    uint32_t whole = room / (block + 4u);
    uint32_t rest = room - whole * (block + 4u);
    return whole * block + (rest > 4u ? rest - 4u : 0u);
}

/* Sends a READ_CHECKED answer whose got bytes of data are in place after its fields: the check
 * table is the frame CRC's running value at the end of each block, so one CRC pass over the
 * frame gives the table and the frame CRC (the table's own 4 bytes per block are the only
 * bytes a plain READ would not pass through the CRC). */
static void send_checked(rec_server_t *s, uint16_t seq, uint32_t number, uint32_t offset, uint32_t block, uint32_t got)
{
    uint8_t *p = s->payload;
    uint32_t blocks = (got + block - 1u) / block;
    uint32_t len = RP_READ_CHECKED_SIZE + got + 4u * blocks;
    REC_ASSERT(len <= s->max_payload);
    const rp_read_checked_t v = { .number = number, .offset = offset, .data_length = (uint16_t)got, .block_size = (uint16_t)block };
    rp_read_checked_pack(&v, p);
    rec_frame_t f = { .version = RP_VERSION, .kind = RP_KIND_RESPONSE, .seq = seq, .command = RP_CMD_READ_CHECKED, .length = (uint16_t)len, .payload = p };
    uint32_t crc = rec_crc32(rec_frame_header_crc(&f), p, RP_READ_CHECKED_SIZE);
    const uint8_t *data = p + RP_READ_CHECKED_SIZE;
    uint8_t *table = p + RP_READ_CHECKED_SIZE + got;
    for (uint32_t at = 0; at < got; at += block) {
        crc = rec_crc32(crc, data + at, got - at < block ? got - at : block);
        rec_put_u32(table, crc);
        table += 4;
    }
    transmit(s, &f, rec_crc32(crc, p + RP_READ_CHECKED_SIZE + got, 4u * blocks));
}

/* IDENTITY: the key, the device's journal count and the card's head, signed over the host's
 * nonce (contract: "ER1-IDENTITY-v1" || 0x00 || nonce || the bytes before the signature). */
static uint32_t build_identity(rec_server_t *s, rec_device_t *d, const uint8_t nonce[32])
{
    const rec_identity_t *id = &d->identity;
    rp_identity_t v;
    memset(&v, 0, sizeof v);
    if (id->has_key) {
        memcpy(v.public_key, id->key.public_key, sizeof v.public_key);
        memcpy(v.key_id, id->key_id, sizeof v.key_id);
    }
    memcpy(v.unique_id, id->unique_id, sizeof v.unique_id);
    v.device_id = d->settings.device_id;
    v.entropy_source = id->has_key ? id->entropy_source : RP_ENTROPY_NONE;
    uint8_t flags = 0;
    if (id->has_key) flags |= RP_IDENTITY_FLAG_HAS_KEY;
    if (d->simulated || id->simulated) flags |= RP_IDENTITY_FLAG_SIMULATED;
    if (id->has_unique_id) flags |= RP_IDENTITY_FLAG_HAS_UNIQUE_ID;
    if (id->damaged) flags |= RP_IDENTITY_FLAG_DAMAGED;
    if (id->entropy_failed) flags |= RP_IDENTITY_FLAG_ENTROPY_FAILED;
    v.flags = flags;
    rec_device_journal_counter(d, &v.journal_epoch, &v.journal_count);
    if (d->store.mounted && d->store.journal.count > 0) memcpy(v.journal_head, d->store.journal.last_hash, 32);
    (void)rec_device_clock_now(d, &v.clock_unix_ms);
    v.uptime_ms = port_uptime_ms();
    uint8_t *p = s->payload;
    rp_identity_pack(&v, p);
    if (id->has_key) {
        /* The signed message is built in the payload's spare room, after the response. */
        static const char domain[] = RP_IDENTITY_DOMAIN;
        uint8_t *m = p + RP_IDENTITY_SIZE;
        uint32_t mlen = 0;
        memcpy(m, domain, sizeof domain); /* with its NUL */
        mlen += sizeof domain;
        memcpy(m + mlen, nonce, 32);
        mlen += 32;
        memcpy(m + mlen, p, RP_IDENTITY_OFF_SIGNATURE);
        mlen += RP_IDENTITY_OFF_SIGNATURE;
        if (rec_identity_sign(id, m, mlen, p + RP_IDENTITY_OFF_SIGNATURE) != REC_OK)
            memset(p + RP_IDENTITY_OFF_SIGNATURE, 0, REC_ED25519_SIGNATURE_SIZE);
        memset(m, 0, mlen);
    }
    return RP_IDENTITY_SIZE;
}

static bool payload_len_ok(rec_server_t *s, uint16_t seq, uint16_t cmd, uint32_t got, uint32_t want)
{
    if (got == want) return true;
    send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, want);
    return false;
}

static void handle_request(rec_server_t *s, rec_device_t *d, const rec_frame_t *f)
{
    const uint8_t *q = f->payload;
    uint16_t seq = f->seq, cmd = f->command;
    uint8_t *p = s->payload;
    int err = REC_OK; /* a JOURNAL page that starts at the end reads nothing and breaks on err */

    switch (cmd) {
    case RP_CMD_HELLO: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_HELLO_REQ_SIZE)) return;
        rp_hello_req_t r;
        rp_hello_req_unpack(q, &r);
        uint16_t host_max = r.max_payload;
        if (host_max < RP_MIN_MAX_PAYLOAD) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, RP_MIN_MAX_PAYLOAD);
            return;
        }
        s->max_payload = host_max < REC_SERVER_MAX_PAYLOAD ? host_max : REC_SERVER_MAX_PAYLOAD;
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, build_info(s, d));
        return;
    }
    case RP_CMD_INFO:
        if (!payload_len_ok(s, seq, cmd, f->length, 0)) return;
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, build_info(s, d));
        return;
    case RP_CMD_SET_TIME: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_SET_TIME_REQ_SIZE)) return;
        rp_set_time_req_t r;
        rp_set_time_req_unpack(q, &r);
        int64_t t = r.unix_ms;
        /* 2000-01-01 .. 2200-01-01: anything else is a host bug, not a time. */
        if (t < 946684800000LL || t > 7258118400000LL) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, 0);
            return;
        }
        rp_set_time_t v;
        memset(&v, 0, sizeof v);
        v.previous_set = rec_device_clock_now(d, &v.previous_unix_ms) ? 1 : 0;
        rec_device_set_clock(d, t);
        rp_set_time_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_SET_TIME_SIZE);
        return;
    }
    case RP_CMD_LIST: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_LIST_REQ_SIZE)) return;
        rp_list_req_t req;
        rp_list_req_unpack(q, &req);
        uint32_t after = req.after_number;
        uint32_t max = req.max_entries;
        uint32_t fit = (s->max_payload - RP_LIST_SIZE) / RP_LIST_ENTRY_SIZE;
        if (max > fit) max = fit;
        if (max > 64) max = 64;
        uint32_t nums[64], count, total;
        bool more;
        err = rec_store_list(&d->store, after, nums, max, &count, &total, &more);
        if (err) break;
        for (uint32_t i = 0; i < count; i++) {
            rec_recording_t r;
            err = rec_store_find(&d->store, nums[i], &r);
            if (err) break;
            fill_entry(p + RP_LIST_SIZE + i * RP_LIST_ENTRY_SIZE, d, &r);
        }
        if (!err) err = fill_evidence(d, p + RP_LIST_SIZE, count);
        if (err) break;
        const rp_list_t v = { .total = total, .count = (uint16_t)count, .more = more ? 1 : 0 };
        rp_list_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_LIST_SIZE + count * RP_LIST_ENTRY_SIZE);
        return;
    }
    case RP_CMD_READ: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_READ_REQ_SIZE)) return;
        rp_read_req_t r;
        rp_read_req_unpack(q, &r);
        int32_t got = read_for_host(s, d, seq, cmd, r.number, r.part, r.offset, r.length, s->max_payload - RP_READ_SIZE, p + RP_READ_SIZE);
        if (got < 0) return;
        const rp_read_t v = { .number = r.number, .offset = r.offset };
        rp_read_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_READ_SIZE + (uint32_t)got);
        return;
    }
    case RP_CMD_READ_CHECKED: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_READ_CHECKED_REQ_SIZE)) return;
        rp_read_checked_req_t r;
        rp_read_checked_req_unpack(q, &r);
        if (r.block_size < RP_MIN_CHECKED_BLOCK) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, RP_MIN_CHECKED_BLOCK);
            return;
        }
        uint32_t max = checked_max_length(s->max_payload - RP_READ_CHECKED_SIZE, r.block_size);
        int32_t got = read_for_host(s, d, seq, cmd, r.number, r.part, r.offset, r.length, max, p + RP_READ_CHECKED_SIZE);
        if (got < 0) return;
        send_checked(s, seq, r.number, r.offset, r.block_size, (uint32_t)got);
        return;
    }
    case RP_CMD_HASH: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_HASH_REQ_SIZE)) return;
        rp_hash_req_t r;
        rp_hash_req_unpack(q, &r);
        uint32_t number = r.number, offset = r.offset, length = r.length;
        uint8_t algo = r.algorithm;
        if (!rec_seal_part_ext(r.part)) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, RP_PART_CHECKPOINTS);
            return;
        }
        if (algo != RP_HASH_SHA256) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, RP_HASH_SHA256);
            return;
        }
        err = open_recording(s, d, number, r.part);
        if (err) break;
        if (offset > s->rf.size || length > s->rf.size - offset) {
            send_error(s, seq, cmd, RP_ERR_OUT_OF_RANGE, s->rf.size);
            return;
        }
        err = rec_fat_seek(&d->store.fs, &s->rf, offset);
        if (err) break;
        s->hash_busy = true;
        s->hash_seq = seq;
        s->hash_number = number;
        s->hash_offset = offset;
        s->hash_length = length;
        s->hash_done = 0;
        rec_sha256_init(&s->hash);
        return; /* answered by continue_hash() */
    }
    case RP_CMD_DELETE: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_DELETE_REQ_SIZE)) return;
        rp_delete_req_t r;
        rp_delete_req_unpack(q, &r);
        uint32_t number = r.number;
        if (d->rec_state != RP_REC_STATE_IDLE && d->rec_state != RP_REC_STATE_ERROR && d->cur.number == number) {
            send_error(s, seq, cmd, RP_ERR_NOT_FINISHED, 0);
            return;
        }
        rec_server_forget_files(s);
        err = d->store.mounted ? rec_store_delete(&d->store, number, r.sha256) : REC_E_NOCARD;
        if (err == REC_E_BUSY) {
            send_error(s, seq, cmd, RP_ERR_NOT_FINISHED, 0);
            return;
        }
        /* The signed files go after the WAV's delete is committed: a cut in between leaves
         * orphan statement files of a number that is never reused (harmless), never a WAV whose
         * checkpoints and signatures are gone. */
        if (!err) err = rec_seal_delete_sidecars(d, number);
        d->generation++;
        if (err) break;
        const rp_delete_t v = { .number = number };
        rp_delete_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_DELETE_SIZE);
        return;
    }
    case RP_CMD_JOURNAL: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_JOURNAL_REQ_SIZE)) return;
        if (!d->store.mounted) {
            err = REC_E_NOCARD;
            break;
        }
        rp_journal_req_t r;
        rp_journal_req_unpack(q, &r);
        uint32_t from = r.from_index;
        uint32_t max = r.max_records;
        uint32_t fit = (s->max_payload - RP_JOURNAL_SIZE) / RP_JOURNAL_RECORD_SIZE;
        if (max > fit) max = fit;
        uint32_t total = d->store.journal.count, count = 0;
        for (uint32_t i = from; i < total && count < max; i++, count++) {
            err = rec_journal_read_raw(&d->store.journal, i, p + RP_JOURNAL_SIZE + count * RP_JOURNAL_RECORD_SIZE);
            if (err) break;
        }
        if (err) break;
        const rp_journal_t v = { .total = total, .from_index = from, .count = (uint16_t)count };
        rp_journal_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_JOURNAL_SIZE + count * RP_JOURNAL_RECORD_SIZE);
        return;
    }
    case RP_CMD_SET_LABEL: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_SET_LABEL_REQ_SIZE)) return;
        rp_set_label_req_t r;
        rp_set_label_req_unpack(q, &r);
        char label[REC_LABEL_MAX + 1];
        memcpy(label, r.label, REC_LABEL_MAX);
        label[REC_LABEL_MAX] = '\0';
        for (size_t i = 0; label[i]; i++) {
            if ((uint8_t)label[i] < 0x20 || label[i] == 0x7f) {
                send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, (uint32_t)i);
                return;
            }
        }
        memcpy(d->settings.label, label, sizeof label);
        err = rec_device_save_settings(d);
        if (err) break;
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, 0);
        return;
    }
    case RP_CMD_SETTINGS: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_SETTINGS_REQ_SIZE)) return;
        rp_settings_req_t r;
        rp_settings_req_unpack(q, &r);
        uint8_t mask = r.set_mask;
        uint32_t rate = r.sample_rate;
        if (mask & ~(RP_SETTINGS_MASK_SAMPLE_RATE | RP_SETTINGS_MASK_DISCREET | RP_SETTINGS_MASK_BUTTON_SCHEME)) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, 0);
            return;
        }
        if ((mask & RP_SETTINGS_MASK_BUTTON_SCHEME) && !rec_settings_scheme_valid(r.button_scheme)) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, r.button_scheme);
            return;
        }
        if ((mask & RP_SETTINGS_MASK_SAMPLE_RATE) && !rec_settings_rate_valid(rate)) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, rate);
            return;
        }
        if ((mask & RP_SETTINGS_MASK_SAMPLE_RATE) && rate != d->settings.sample_rate && d->rec_state == RP_REC_STATE_RECORDING) {
            send_error(s, seq, cmd, RP_ERR_BUSY, 0);
            return;
        }
        if (mask) {
            if (mask & RP_SETTINGS_MASK_SAMPLE_RATE) d->settings.sample_rate = rate;
            if (mask & RP_SETTINGS_MASK_DISCREET) d->settings.discreet = r.discreet != 0;
            /* A new scheme takes effect at once, also while recording. */
            if (mask & RP_SETTINGS_MASK_BUTTON_SCHEME) d->settings.button_scheme = r.button_scheme;
            err = rec_device_save_settings(d);
            if (err) break;
        }
        const rp_settings_t v = { .discreet = d->settings.discreet ? 1 : 0,
                                  .button_scheme = d->settings.button_scheme,
                                  .sample_rate = d->settings.sample_rate };
        rp_settings_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_SETTINGS_SIZE);
        return;
    }
    case RP_CMD_RECORD: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_RECORD_REQ_SIZE)) return;
        rp_record_req_t r;
        rp_record_req_unpack(q, &r);
        uint8_t action = r.action;
        if (action == RP_RECORD_ACTION_START) {
            err = d->rec_state == RP_REC_STATE_RECORDING ? REC_OK : rec_recorder_start(d);
        } else if (action == RP_RECORD_ACTION_STOP) {
            err = d->rec_state == RP_REC_STATE_RECORDING ? rec_recorder_stop(d, RP_STOP_HOST) : REC_OK;
        } else {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, action);
            return;
        }
        if (err) break;
        const rp_record_t v = { .rec_state = d->rec_state, .number = d->rec_state == RP_REC_STATE_RECORDING ? d->cur.number : 0 };
        rp_record_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_RECORD_SIZE);
        return;
    }
    case RP_CMD_MARK: {
        /* As a short press of the button while recording (docs/firmware.md, "The button"). */
        if (!payload_len_ok(s, seq, cmd, f->length, RP_MARK_REQ_SIZE)) return;
        if (d->rec_state != RP_REC_STATE_RECORDING) {
            send_error(s, seq, cmd, RP_ERR_BAD_STATE, d->rec_state);
            return;
        }
        rec_marker_t m;
        err = rec_recorder_mark(d, &m);
        if (err == REC_E_FULL) {
            send_error(s, seq, cmd, RP_ERR_MARKERS_FULL, REC_MAX_MARKERS);
            return;
        }
        if (err) break;
        const rp_mark_t v = { .number = d->cur.number, .marker = m.number, .sample_offset = m.sample_offset, .sample_rate = d->cur.sample_rate };
        rp_mark_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_MARK_SIZE);
        return;
    }
    case RP_CMD_CARD_TEST: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_CARD_TEST_REQ_SIZE)) return;
        rp_card_test_req_t r;
        rp_card_test_req_unpack(q, &r);
        rec_server_forget_files(s);
        rec_card_test_result_t t;
        uint32_t testable = 0;
        err = rec_card_test(d, r.bytes, r.seed, &t, &testable);
        if (err == REC_E_INVAL) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, RP_CARD_CARD_TEST_MAX_BYTES);
            return;
        }
        if (err == REC_E_NOSPC) {
            send_error(s, seq, cmd, RP_ERR_CARD_FULL, testable);
            return;
        }
        if (err) break;
        const rp_card_test_t v = { .capacity_bytes = t.capacity_bytes,
                                   .free_bytes = t.free_bytes,
                                   .tested_bytes = t.tested_bytes,
                                   .write_ms = t.write_ms,
                                   .read_ms = t.read_ms,
                                   .write_bytes_per_second = t.write_bytes_per_s,
                                   .read_bytes_per_second = t.read_bytes_per_s,
                                   .first_mismatch = t.first_mismatch,
                                   .file_system = t.fs_state,
                                   .read_back_matched = t.first_mismatch == REC_CARD_TEST_NO_MISMATCH ? 1 : 0 };
        rp_card_test_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_CARD_TEST_SIZE);
        return;
    }
    case RP_CMD_FORMAT: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_FORMAT_REQ_SIZE)) return;
        rp_format_req_t r;
        rp_format_req_unpack(q, &r);
        if (r.magic != RP_FORMAT_MAGIC || r.device_id != d->settings.device_id) {
            send_error(s, seq, cmd, RP_ERR_CONFIRMATION_REQUIRED, 0);
            return;
        }
        if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) {
            send_error(s, seq, cmd, RP_ERR_BUSY, 0);
            return;
        }
        rec_server_forget_files(s);
        err = rec_device_format(d);
        if (err) break;
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, 0);
        return;
    }
    case RP_CMD_WIPE: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_WIPE_REQ_SIZE)) return;
        rp_wipe_req_t r;
        rp_wipe_req_unpack(q, &r);
        if (r.magic != RP_WIPE_MAGIC) {
            send_error(s, seq, cmd, RP_ERR_CONFIRMATION_REQUIRED, 0);
            return;
        }
        rec_server_forget_files(s);
        rec_wipe_result_t w;
        err = rec_device_wipe(d, r.recordings, r.newest_number, r.device_id, &w);
        if (err == REC_E_MISMATCH) {
            /* Another device, or a recording the host has not seen: it must look again. */
            send_error(s, seq, cmd, RP_ERR_BAD_STATE, 0);
            return;
        }
        if (err) break;
        const rp_wipe_t v = { .state = w.state, .method = w.method, .epoch = w.epoch, .blocks_erased = w.blocks_erased };
        rp_wipe_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_WIPE_SIZE);
        return;
    }
    case RP_CMD_IDENTITY: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_IDENTITY_REQ_SIZE)) return;
        rp_identity_req_t r;
        rp_identity_req_unpack(q, &r);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, build_identity(s, d, r.nonce));
        return;
    }
    case RP_CMD_PROVISION: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_PROVISION_REQ_SIZE)) return;
        rp_provision_req_t r;
        rp_provision_req_unpack(q, &r);
        if (r.magic != RP_PROVISION_MAGIC) {
            send_error(s, seq, cmd, RP_ERR_CONFIRMATION_REQUIRED, 0);
            return;
        }
        err = rec_device_provision(d, r.host_random, (r.flags & 1u) != 0);
        if (err == REC_E_BUSY || err == REC_E_UNSUPPORTED) {
            /* A key exists (force not asked), a recording runs, or no NVM or entropy source. */
            send_error(s, seq, cmd, RP_ERR_BAD_STATE, (uint32_t)-err);
            return;
        }
        /* A failed health check is answered: IDENTITY with ENTROPY_FAILED and no new key. */
        if (err && err != REC_E_ENTROPY) break;
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, build_identity(s, d, r.host_random));
        return;
    }
    case RP_CMD_SET_RECIPIENT: {
        if (!payload_len_ok(s, seq, cmd, f->length, RP_SET_RECIPIENT_REQ_SIZE)) return;
        rp_set_recipient_req_t r;
        rp_set_recipient_req_unpack(q, &r);
        if (r.action > RP_RECIPIENT_ACTION_CLEAR) {
            send_error(s, seq, cmd, RP_ERR_BAD_ARGUMENT, r.action);
            return;
        }
        if (r.action != RP_RECIPIENT_ACTION_GET) {
            err = rec_device_set_recipient(d, r.action == RP_RECIPIENT_ACTION_SET ? r.recipient : NULL);
            if (err == REC_E_UNSUPPORTED) {
                send_error(s, seq, cmd, RP_ERR_BAD_STATE, (uint32_t)-err);
                return;
            }
            if (err) break;
        }
        rp_recipient_t v;
        memset(&v, 0, sizeof v);
        v.flags = d->recipient.set ? RP_RECIPIENT_FLAG_SET : 0u;
        memcpy(v.recipient, d->recipient.key, sizeof v.recipient);
        rp_recipient_pack(&v, p);
        send_frame(s, RP_KIND_RESPONSE, seq, cmd, RP_RECIPIENT_SIZE);
        return;
    }
    default:
        send_error(s, seq, cmd, RP_ERR_UNKNOWN_COMMAND, 0);
        return;
    }
    /* Commands that break out of the switch failed with err. */
    send_error(s, seq, cmd, err_code(err), (uint32_t)-err);
}

static void continue_hash(rec_server_t *s, rec_device_t *d)
{
    if (!s->rf_open || s->rf_number != s->hash_number || s->rf_generation != d->generation) {
        /* The file went away underneath (delete, card change). */
        s->hash_busy = false;
        send_error(s, s->hash_seq, RP_CMD_HASH, RP_ERR_NOT_FOUND, 0);
        return;
    }
    uint32_t budget = REC_SERVER_HASH_SLICE;
    while (s->hash_done < s->hash_length && budget > 0) {
        uint32_t n = s->hash_length - s->hash_done;
        if (n > sizeof s->payload) n = sizeof s->payload;
        if (n > budget) n = budget;
        int32_t got = rec_fat_read(&d->store.fs, &s->rf, s->payload, n);
        if (got <= 0) {
            s->hash_busy = false;
            s->rf_open = false;
            send_error(s, s->hash_seq, RP_CMD_HASH, got < 0 ? err_code((int)got) : RP_ERR_OUT_OF_RANGE, 0);
            return;
        }
        rec_sha256_update(&s->hash, s->payload, (size_t)got);
        s->hash_done += (uint32_t)got;
        budget -= (uint32_t)got;
    }
    if (s->hash_done < s->hash_length) return;
    s->hash_busy = false;
    rp_hash_t v;
    memset(&v, 0, sizeof v);
    v.number = s->hash_number;
    v.algorithm = RP_HASH_SHA256;
    v.offset = s->hash_offset;
    v.length = s->hash_length;
    rec_sha256_final(&s->hash, v.digest);
    rp_hash_pack(&v, s->payload);
    send_frame(s, RP_KIND_RESPONSE, s->hash_seq, RP_CMD_HASH, RP_HASH_SIZE);
}

static void handle_item(rec_server_t *s, rec_device_t *d, const rec_deframer_item_t *item)
{
    if (item->status == REC_FRAME_OK) {
        s->frames_ok++;
        /* Only requests are answered: an echo of our own frames must not start a ping-pong. */
        if (item->frame.kind == RP_KIND_REQUEST) handle_request(s, d, &item->frame);
        return;
    }
    s->frames_bad++;
    if (item->status == REC_FRAME_VERSION) {
        if (item->frame.kind == RP_KIND_REQUEST)
            send_error(s, item->frame.seq, item->frame.command, RP_ERR_BAD_VERSION, RP_VERSION);
        return;
    }
    send_error(s, RP_UNSOLICITED_SEQ, 0, item->status == REC_FRAME_OVERSIZE ? RP_ERR_TOO_LARGE : RP_ERR_BAD_FRAME, (uint32_t)item->status);
}

static bool flush(rec_server_t *s)
{
    bool worked = false;
    while (s->tx_pos < s->tx_len) {
        size_t n = port_serial_write(s->tx + s->tx_pos, s->tx_len - s->tx_pos);
        if (n == 0) break;
        s->tx_pos += (uint32_t)n;
        worked = true;
    }
    if (s->tx_pos == s->tx_len) s->tx_len = s->tx_pos = 0;
    return worked;
}

static void send_state_event(rec_server_t *s, rec_device_t *d)
{
    bool recording = d->rec_state == RP_REC_STATE_RECORDING;
    const rp_state_event_t v = { .rec_state = d->rec_state,
                                 .card_state = d->store.card_state,
                                 .number = recording ? d->cur.number : 0,
                                 .samples = recording ? d->cur.data_bytes / 2u : 0 };
    rp_state_event_pack(&v, s->payload);
    send_frame(s, RP_KIND_EVENT, RP_UNSOLICITED_SEQ, RP_EVT_STATE, RP_STATE_EVENT_SIZE);
}

bool rec_server_poll(rec_server_t *s, rec_device_t *d)
{
    bool connected = port_serial_connected();
    if (!connected) {
        if (s->connected) {
            /* Cable gone: drop half-sent output and half-read input. */
            s->tx_len = s->tx_pos = 0;
            s->in_len = s->in_pos = 0;
            s->hash_busy = false;
            rec_deframer_reset(&s->deframer);
            s->max_payload = RP_MIN_MAX_PAYLOAD < REC_SERVER_MAX_PAYLOAD ? RP_MIN_MAX_PAYLOAD : REC_SERVER_MAX_PAYLOAD;
        }
        s->connected = false;
        return false;
    }
    s->connected = true;
    bool worked = flush(s);
    for (int i = 0; i < 4 && s->tx_len == 0; i++) {
        if (s->hash_busy) {
            continue_hash(s, d);
            worked = true;
            flush(s);
            if (s->hash_busy) break;
            continue;
        }
        if (d->state_changed) {
            d->state_changed = false;
            send_state_event(s, d);
            flush(s);
            worked = true;
            continue;
        }
        if (s->in_pos == s->in_len) {
            s->in_len = (uint32_t)port_serial_read(s->in, sizeof s->in);
            s->in_pos = 0;
            if (s->in_len == 0) break;
            worked = true;
        }
        /* Feed until one frame completes (then answer it) or the input runs out. */
        while (s->in_pos < s->in_len && s->tx_len == 0 && !s->hash_busy) {
            size_t used;
            rec_deframer_item_t item;
            bool done = rec_deframer_push(&s->deframer, s->in + s->in_pos, s->in_len - s->in_pos, &used, &item);
            s->in_pos += (uint32_t)used;
            if (done) {
                handle_item(s, d, &item);
                flush(s);
            }
        }
    }
    return worked;
}
