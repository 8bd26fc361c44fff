/* The whole core through the fake port: protocol sessions, recordings from the fake microphone,
 * the rules for delete and format, recovery after a power cut, and a power-cut campaign that
 * cuts at every block write of a recording's life (with and without the device's journal counter in
 * NVM); the device key (IDENTITY, PROVISION) and the journal kinds of the counted journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "rec/bd_ram.h"
#include "fakes/nvm_fake.h"
#include "fakes/port_fake.h"
#include "rec/app.h"
#include "rec/bytes.h"
#include "rec/card_test.h"
#include "rec/checkpoint.h"
#include "rec/device.h"
#include "rec/ed25519.h"
#include "rec/encrypted.h"
#include "rec/identity.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "rec/frame.h"
#include "rec/journal.h"
#include "rec/nvm.h"
#include "rec/power.h"
#include "rec/sha256.h"
#include "rec_protocol.h"
#include "support/age_open.h"
#include "support/tools.h"
#include "rec/age.h"
#include "rec/x25519.h"

#define CARD_MIB 64u
#define MAXP RP_MIN_MAX_PAYLOAD

static rec_bd_ram_t g_ram;
static uint16_t g_seq = 1;
static uint32_t g_ramp; /* next ramp sample value the fake microphone produces */

/* ---- host side of the link ------------------------------------------------------------------ */

static uint8_t g_host_buf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
static rec_deframer_t g_host;
static uint8_t g_resp[RP_ABSOLUTE_MAX_PAYLOAD];

typedef struct {
    uint8_t kind;
    uint16_t seq, command, length;
    uint8_t *payload; /* g_resp */
} resp_t;

static void host_reset(void)
{
    rec_deframer_init(&g_host, g_host_buf, sizeof g_host_buf, RP_ABSOLUTE_MAX_PAYLOAD);
}

static void send_raw(const uint8_t *bytes, size_t len)
{
    assert_int_equal(port_fake_serial_feed(bytes, len), len);
}

static void send_frame(uint8_t version_kind_override, uint16_t seq, uint16_t cmd, const void *payload, size_t len)
{
    (void)version_kind_override;
    static uint8_t wire[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD)];
    rec_frame_t f = { .version = RP_VERSION, .kind = RP_KIND_REQUEST, .seq = seq, .command = cmd, .length = (uint16_t)len, .payload = payload };
    size_t n;
    assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &n), REC_OK);
    send_raw(wire, n);
}

/* Polls the device until a frame with `seq` (or any error when seq is 0) arrives. Events are
 * skipped. Fails the test after a bounded number of polls. */
static resp_t await(uint16_t seq)
{
    for (int i = 0; i < 20000; i++) {
        rec_app_poll();
        uint8_t chunk[1024];
        size_t n;
        while ((n = port_fake_serial_drain(chunk, sizeof chunk)) > 0) {
            size_t off = 0;
            while (off < n) {
                size_t used;
                rec_deframer_item_t item;
                bool done = rec_deframer_push(&g_host, chunk + off, n - off, &used, &item);
                off += used;
                if (!done || item.status != REC_FRAME_OK) continue;
                if (item.frame.kind == RP_KIND_EVENT) continue;
                if (item.frame.seq != seq) continue;
                resp_t r = { item.frame.kind, item.frame.seq, item.frame.command, item.frame.length, g_resp };
                memcpy(g_resp, item.frame.payload, item.frame.length);
                /* Keep the rest of the chunk for the next call: there is none in these tests,
                 * because each request is answered before the next is sent. */
                return r;
            }
        }
    }
    fail_msg("no response with seq %u", seq);
    resp_t none = { 0 };
    return none;
}

static resp_t request(uint16_t cmd, const void *payload, size_t len)
{
    uint16_t seq = g_seq++;
    if (g_seq == 0) g_seq = 1;
    send_frame(0, seq, cmd, payload, len);
    return await(seq);
}

static void expect_ok(resp_t r)
{
    if (r.kind == RP_KIND_ERROR)
        fail_msg("error response to command 0x%02x: code %u detail %u", r.command, rec_get_u16(r.payload), rec_get_u32(r.payload + 4));
    assert_int_equal(r.kind, RP_KIND_RESPONSE);
}

static void expect_error(resp_t r, uint16_t code)
{
    assert_int_equal(r.kind, RP_KIND_ERROR);
    assert_int_equal(rec_get_u16(r.payload + RP_ERROR_OFF_CODE), code);
}

static resp_t hello(void)
{
    uint8_t q[RP_HELLO_REQ_SIZE] = { 0 };
    rec_put_u16(q + RP_HELLO_REQ_OFF_MAX_PAYLOAD, MAXP);
    resp_t r = request(RP_CMD_HELLO, q, sizeof q);
    expect_ok(r);
    assert_int_equal(r.length, RP_INFO_SIZE);
    return r;
}

/* ---- device side ---------------------------------------------------------------------------- */

static void card_new(uint32_t mib)
{
    assert_int_equal(rec_bd_ram_init(&g_ram, mib * 2048u), 0);
    assert_int_equal(rec_fat_format(&g_ram.bd, "TEST", 0x1234, 0), REC_OK);
}

static void boot(void)
{
    port_fake_set_card(&g_ram.bd, 0);
    host_reset();
    (void)rec_app_init();
    for (int i = 0; i < 10; i++) rec_app_poll();
}

static int setup(void **state)
{
    (void)state;
    port_fake_reset();
    card_new(CARD_MIB);
    boot();
    g_ramp = 0;
    return 0;
}

/* A device with NVM (the fake NOR flash, kept across boot()) and an entropy source. */
static int setup_nvm(void **state)
{
    (void)state;
    port_fake_reset();
    nvm_fake_enable(true);
    card_new(CARD_MIB);
    boot();
    g_ramp = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    port_fake_mic_push(NULL, 0); /* no-op when stopped */
    rec_bd_ram_free(&g_ram);
    return 0;
}

/* Feeds `ms` of ramp audio at `rate`, advancing the fake clock, and polls after every block when
 * `poll` (the main loop running); without, the main loop is held up (a card stall) while the
 * microphone's interrupt goes on filling the ring. */
static void feed_mic(uint32_t rate, uint32_t ms, bool poll)
{
    int16_t block[256];
    uint64_t samples = (uint64_t)rate * ms / 1000u;
    uint64_t done = 0;
    while (done < samples) {
        uint32_t n = (uint32_t)(samples - done < 256 ? samples - done : 256);
        for (uint32_t i = 0; i < n; i++) block[i] = (int16_t)(uint16_t)(g_ramp++ & 0xffffu);
        if (!port_fake_mic_push(block, n)) return; /* stopped (card full, battery) */
        port_fake_advance_ns((uint64_t)n * 1000000000ull / rate);
        if (poll) rec_app_poll();
        done += n;
    }
}

/* Feeds `ms` of ramp audio at `rate`, advancing the fake clock and polling as an ISR would. */
static void record_ms(uint32_t rate, uint32_t ms)
{
    feed_mic(rate, ms, true);
}

static void press(void)
{
    port_fake_button_press();
    rec_app_poll();
}

/* Held past REC_BUTTON_STOP_MS: stops a recording. */
static void long_hold(void)
{
    port_fake_button_long_hold();
    rec_app_poll();
}

/* What the tests before markers called a press: start when idle (a press), stop when recording
 * (a long hold). */
static void start_or_stop(void)
{
    if (rec_device()->rec_state == RP_REC_STATE_RECORDING) long_hold();
    else press();
}

/* ---- helpers over the protocol -------------------------------------------------------------- */

typedef struct {
    uint32_t number, size, rate, samples;
    uint8_t state, flags, stop_reason;
    uint8_t sha[32];
    uint32_t part_size[5]; /* RP_PART_*; [RP_PART_AUDIO] unused (size) */
} entry_t;

static uint32_t list_all(entry_t *out, uint32_t max)
{
    uint32_t after = 0, n = 0;
    for (;;) {
        uint8_t q[RP_LIST_REQ_SIZE] = { 0 };
        rec_put_u32(q + RP_LIST_REQ_OFF_AFTER_NUMBER, after);
        rec_put_u16(q + RP_LIST_REQ_OFF_MAX_ENTRIES, 3); /* small pages exercise paging */
        resp_t r = request(RP_CMD_LIST, q, sizeof q);
        expect_ok(r);
        uint16_t count = rec_get_u16(r.payload + RP_LIST_OFF_COUNT);
        assert_int_equal(r.length, RP_LIST_SIZE + count * RP_LIST_ENTRY_SIZE);
        for (uint16_t i = 0; i < count && n < max; i++, n++) {
            const uint8_t *e = r.payload + RP_LIST_SIZE + i * RP_LIST_ENTRY_SIZE;
            out[n].number = rec_get_u32(e + RP_LIST_ENTRY_OFF_NUMBER);
            out[n].size = rec_get_u32(e + RP_LIST_ENTRY_OFF_SIZE);
            out[n].rate = rec_get_u32(e + RP_LIST_ENTRY_OFF_SAMPLE_RATE);
            out[n].samples = rec_get_u32(e + RP_LIST_ENTRY_OFF_SAMPLE_COUNT);
            out[n].state = e[RP_LIST_ENTRY_OFF_STATE];
            out[n].flags = e[RP_LIST_ENTRY_OFF_FLAGS];
            out[n].stop_reason = e[RP_LIST_ENTRY_OFF_STOP_REASON];
            memcpy(out[n].sha, e + RP_LIST_ENTRY_OFF_SHA256, 32);
            out[n].part_size[RP_PART_AUDIO] = out[n].size;
            out[n].part_size[RP_PART_STATEMENT] = rec_get_u32(e + RP_LIST_ENTRY_OFF_STATEMENT_SIZE);
            out[n].part_size[RP_PART_SIGNIFY] = rec_get_u32(e + RP_LIST_ENTRY_OFF_SIGNIFY_SIZE);
            out[n].part_size[RP_PART_MINISIGN] = rec_get_u32(e + RP_LIST_ENTRY_OFF_MINISIGN_SIZE);
            out[n].part_size[RP_PART_CHECKPOINTS] = rec_get_u32(e + RP_LIST_ENTRY_OFF_CHECKPOINTS_SIZE);
            after = out[n].number;
        }
        if (!r.payload[RP_LIST_OFF_MORE]) return n;
    }
}

/* Reads a whole file of a recording (part: RP_PART_*) with READ; returns a malloc'ed buffer. */
static uint8_t *read_part(uint32_t number, uint8_t part, uint32_t size)
{
    uint8_t *buf = malloc(size + 1);
    assert_non_null(buf);
    uint32_t off = 0;
    while (off < size) {
        uint8_t q[RP_READ_REQ_SIZE] = { 0 };
        rec_put_u32(q + RP_READ_REQ_OFF_NUMBER, number);
        rec_put_u32(q + RP_READ_REQ_OFF_OFFSET, off);
        rec_put_u32(q + RP_READ_REQ_OFF_LENGTH, MAXP - RP_READ_SIZE);
        q[RP_READ_REQ_OFF_PART] = part;
        resp_t r = request(RP_CMD_READ, q, sizeof q);
        expect_ok(r);
        assert_int_equal(rec_get_u32(r.payload + RP_READ_OFF_OFFSET), off);
        uint32_t n = r.length - RP_READ_SIZE;
        assert_true(n > 0);
        assert_true(off + n <= size);
        memcpy(buf + off, r.payload + RP_READ_SIZE, n);
        off += n;
    }
    return buf;
}

static uint8_t *read_file(uint32_t number, uint32_t size)
{
    return read_part(number, RP_PART_AUDIO, size);
}

/* READ_CHECKED of a recording whose bytes (f, size) READ returned: the same bytes, and a table
 * entry per block that is the frame CRC's running value at that block's end (so a host checks a
 * block from the entry before it, whatever happened to the others); limits and the INFO flag. */
static void check_read_checked(const uint8_t *f, uint32_t size)
{
    resp_t r = request(RP_CMD_INFO, NULL, 0);
    expect_ok(r);
    assert_true(r.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_READ_CHECKED);
    const struct { uint32_t offset, length, block; } cases[] = {
        { 1000, 4052, 512 },       /* the largest at 512-byte blocks with a 4096-byte payload */
        { 3, 4020, 256 },          /* 4020 = 15 blocks of 256 and one of 180 */
        { 0, 64, 64 },             /* one block */
        { size - 700, 2000, 512 }, /* the end of the file: 700 bytes, a short last block */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t q[RP_READ_CHECKED_REQ_SIZE] = { 0 };
        rec_put_u32(q + RP_READ_CHECKED_REQ_OFF_NUMBER, 1);
        rec_put_u32(q + RP_READ_CHECKED_REQ_OFF_OFFSET, cases[c].offset);
        rec_put_u32(q + RP_READ_CHECKED_REQ_OFF_LENGTH, cases[c].length);
        rec_put_u16(q + RP_READ_CHECKED_REQ_OFF_BLOCK_SIZE, (uint16_t)cases[c].block);
        r = request(RP_CMD_READ_CHECKED, q, sizeof q);
        expect_ok(r);
        uint32_t want = size - cases[c].offset < cases[c].length ? size - cases[c].offset : cases[c].length;
        uint32_t n = rec_get_u16(r.payload + RP_READ_CHECKED_OFF_DATA_LENGTH);
        assert_int_equal(n, want);
        assert_int_equal(rec_get_u32(r.payload + RP_READ_CHECKED_OFF_OFFSET), cases[c].offset);
        assert_int_equal(rec_get_u16(r.payload + RP_READ_CHECKED_OFF_BLOCK_SIZE), cases[c].block);
        uint32_t blocks = (n + cases[c].block - 1) / cases[c].block;
        assert_int_equal(r.length, RP_READ_CHECKED_SIZE + n + 4u * blocks);
        const uint8_t *data = r.payload + RP_READ_CHECKED_SIZE, *table = data + n;
        assert_memory_equal(data, f + cases[c].offset, n);
        uint8_t hdr[RP_HEADER_SIZE] = { RP_VERSION, RP_KIND_RESPONSE };
        rec_put_u16(hdr + RP_FRAME_HEADER_OFF_SEQ, r.seq);
        rec_put_u16(hdr + RP_FRAME_HEADER_OFF_COMMAND, RP_CMD_READ_CHECKED);
        rec_put_u16(hdr + RP_FRAME_HEADER_OFF_LENGTH, r.length);
        uint32_t prev = rec_crc32(rec_crc32(0, hdr, sizeof hdr), r.payload, RP_READ_CHECKED_SIZE);
        for (uint32_t i = 0; i < blocks; i++) {
            uint32_t at = i * cases[c].block, len = n - at < cases[c].block ? n - at : cases[c].block;
            /* each block from the entry before it, as a host checks it */
            assert_int_equal(rec_crc32(prev, f + cases[c].offset + at, len), rec_get_u32(table + 4u * i));
            prev = rec_get_u32(table + 4u * i);
        }
    }
    /* Too long for the table to fit (detail: the largest length), a block too small, a bad part. */
    uint8_t q[RP_READ_CHECKED_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_READ_CHECKED_REQ_OFF_NUMBER, 1);
    rec_put_u32(q + RP_READ_CHECKED_REQ_OFF_LENGTH, 4053);
    rec_put_u16(q + RP_READ_CHECKED_REQ_OFF_BLOCK_SIZE, 512);
    r = request(RP_CMD_READ_CHECKED, q, sizeof q);
    expect_error(r, RP_ERR_TOO_LARGE);
    assert_int_equal(rec_get_u32(r.payload + RP_ERROR_OFF_DETAIL), 4052);
    rec_put_u16(q + RP_READ_CHECKED_REQ_OFF_BLOCK_SIZE, RP_MIN_CHECKED_BLOCK - 1);
    rec_put_u32(q + RP_READ_CHECKED_REQ_OFF_LENGTH, 100);
    r = request(RP_CMD_READ_CHECKED, q, sizeof q);
    expect_error(r, RP_ERR_BAD_ARGUMENT);
    assert_int_equal(rec_get_u32(r.payload + RP_ERROR_OFF_DETAIL), RP_MIN_CHECKED_BLOCK);
    rec_put_u16(q + RP_READ_CHECKED_REQ_OFF_BLOCK_SIZE, 512);
    q[RP_READ_CHECKED_REQ_OFF_PART] = 9;
    expect_error(request(RP_CMD_READ_CHECKED, q, sizeof q), RP_ERR_BAD_ARGUMENT);
}

/* Checks a finished recording end to end: data is the ramp from `first`, SHA-256 in LIST, in
 * the evid chunk and in the journal agree with the data. */
static void check_recording(const entry_t *e, uint32_t first_sample)
{
    assert_int_equal(e->state, RP_RECORDING_FINISHED);
    uint8_t *f = read_file(e->number, e->size);
    uint32_t data = rec_get_u32(f + 1020);
    assert_int_equal(data, e->samples * 2u);
    assert_int_equal(e->size, 1024u + data + 8u + RP_EVIDENCE_CHUNK_SIZE);
    assert_int_equal(rec_get_u32(f + 4), e->size - 8u);
    for (uint32_t i = 0; i < e->samples; i++) {
        uint16_t want = (uint16_t)((first_sample + i) & 0xffffu);
        if (rec_get_u16(f + 1024 + 2 * i) != want) fail_msg("sample %u of recording %u is %u, want %u", i, e->number, rec_get_u16(f + 1024 + 2 * i), want);
    }
    uint8_t sha[32];
    rec_sha256(f + 1024, data, sha);
    assert_memory_equal(sha, e->sha, 32);
    assert_memory_equal(f + 1024 + data, "evid", 4);
    assert_memory_equal(f + 1024 + data + 8 + RP_EVIDENCE_CHUNK_OFF_SHA256, sha, 32);
    free(f);
}

static uint32_t journal_records(uint8_t *out, uint32_t max)
{
    uint8_t q[RP_JOURNAL_REQ_SIZE] = { 0 };
    rec_put_u16(q + RP_JOURNAL_REQ_OFF_MAX_RECORDS, (uint16_t)max);
    resp_t r = request(RP_CMD_JOURNAL, q, sizeof q);
    expect_ok(r);
    uint16_t count = rec_get_u16(r.payload + RP_JOURNAL_OFF_COUNT);
    memcpy(out, r.payload + RP_JOURNAL_SIZE, (size_t)count * RP_JOURNAL_RECORD_SIZE);
    return count;
}


/* ---- device key and the counted journal ------------------------------------------------------ */

typedef struct {
    uint8_t raw[RP_IDENTITY_SIZE];
    uint8_t pk[32], key_id[8], head[32];
    uint8_t flags;
    uint32_t epoch, count;
} identity_t;

/* Checks the IDENTITY signature over the contract's message (domain, NUL, nonce, the bytes before
 * the signature) with the public key it carries, and unpacks what the tests look at. */
static identity_t parse_identity(resp_t r, const uint8_t nonce[32])
{
    expect_ok(r);
    assert_int_equal(r.length, RP_IDENTITY_SIZE);
    identity_t v;
    memcpy(v.raw, r.payload, RP_IDENTITY_SIZE);
    memcpy(v.pk, v.raw + RP_IDENTITY_OFF_PUBLIC_KEY, 32);
    memcpy(v.key_id, v.raw + RP_IDENTITY_OFF_KEY_ID, 8);
    memcpy(v.head, v.raw + RP_IDENTITY_OFF_JOURNAL_HEAD, 32);
    v.flags = v.raw[RP_IDENTITY_OFF_FLAGS];
    v.epoch = rec_get_u32(v.raw + RP_IDENTITY_OFF_JOURNAL_EPOCH);
    v.count = rec_get_u32(v.raw + RP_IDENTITY_OFF_JOURNAL_COUNT);
    assert_int_equal(rec_get_u64(v.raw + RP_IDENTITY_OFF_DEVICE_ID), rec_device()->settings.device_id);
    if (v.flags & RP_IDENTITY_FLAG_HAS_KEY) {
        uint8_t msg[sizeof RP_IDENTITY_DOMAIN + 32 + RP_IDENTITY_OFF_SIGNATURE];
        memcpy(msg, RP_IDENTITY_DOMAIN, sizeof RP_IDENTITY_DOMAIN);
        memcpy(msg + sizeof RP_IDENTITY_DOMAIN, nonce, 32);
        memcpy(msg + sizeof RP_IDENTITY_DOMAIN + 32, v.raw, RP_IDENTITY_OFF_SIGNATURE);
        assert_int_equal(rec_ed25519_verify(v.raw + RP_IDENTITY_OFF_SIGNATURE, msg, sizeof msg, v.pk), 1);
        msg[sizeof RP_IDENTITY_DOMAIN] ^= 1; /* another nonce: not valid */
        assert_int_equal(rec_ed25519_verify(v.raw + RP_IDENTITY_OFF_SIGNATURE, msg, sizeof msg, v.pk), 0);
        uint8_t digest[32];
        rec_sha256(v.pk, 32, digest);
        assert_memory_equal(v.key_id, digest, 8);
    } else {
        static const uint8_t zero[64];
        assert_memory_equal(v.pk, zero, 32);
        assert_memory_equal(v.raw + RP_IDENTITY_OFF_SIGNATURE, zero, 64);
    }
    return v;
}

static identity_t identity(uint8_t nonce_byte)
{
    uint8_t nonce[32];
    memset(nonce, nonce_byte, sizeof nonce);
    return parse_identity(request(RP_CMD_IDENTITY, nonce, sizeof nonce), nonce);
}

static resp_t provision(bool force, uint32_t magic)
{
    uint8_t q[RP_PROVISION_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_PROVISION_REQ_OFF_MAGIC, magic);
    q[RP_PROVISION_REQ_OFF_FLAGS] = force ? 1 : 0;
    memset(q + RP_PROVISION_REQ_OFF_HOST_RANDOM, 0xA7, 32);
    return request(RP_CMD_PROVISION, q, sizeof q);
}

/* The journal records' kinds, in order; returns how many. */
static uint32_t journal_kinds(uint16_t *kinds, uint32_t *numbers, uint32_t max, uint8_t *records)
{
    uint32_t n = journal_records(records, max);
    for (uint32_t i = 0; i < n; i++) {
        kinds[i] = rec_get_u16(records + i * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_KIND);
        numbers[i] = rec_get_u32(records + i * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_NUMBER);
    }
    return n;
}

static void record_one(uint32_t ms)
{
    start_or_stop();
    record_ms(16000, ms);
    start_or_stop();
    assert_false(port_fake_mic_running());
}

/* Keeps a copy of the whole card as it is now in *keep (the copy before freed), to restore
 * between cases. The caller's pointer is a static: a failed assertion longjmps past any free(). */
static void card_snapshot(uint8_t **keep)
{
    size_t size = rec_bd_ram_size(&g_ram);
    free(*keep);
    *keep = malloc(size);
    assert_non_null(*keep);
    memcpy(*keep, g_ram.data, size);
}

static void test_identity_and_provision(void **state)
{
    (void)state;
    hello();
    identity_t v = identity(0x11);
    assert_false(v.flags & RP_IDENTITY_FLAG_HAS_KEY);
    assert_true(v.flags & RP_IDENTITY_FLAG_SIMULATED);
    assert_int_equal(v.epoch, 1u); /* the first mount adopted the (empty) card journal */
    assert_int_equal(v.count, 0u);

    expect_error(provision(false, 0x12345678u), RP_ERR_CONFIRMATION_REQUIRED);
    uint8_t host[32];
    memset(host, 0xA7, sizeof host);
    identity_t made = parse_identity(provision(false, RP_PROVISION_MAGIC), host);
    assert_true(made.flags & RP_IDENTITY_FLAG_HAS_KEY);
    assert_int_equal(made.raw[RP_IDENTITY_OFF_ENTROPY_SOURCE], RP_ENTROPY_OS);
    /* KEY_CREATED went to the card's journal, counted by the device, and IDENTITY signs its head. */
    assert_int_equal(made.count, 1u);
    uint8_t recs[4 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[4];
    uint32_t numbers[4];
    assert_int_equal(journal_kinds(kinds, numbers, 4, recs), 1);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_KEY_CREATED);
    uint8_t digest[32];
    rec_sha256(made.pk, 32, digest);
    assert_memory_equal(recs + RP_JOURNAL_RECORD_OFF_SHA256, digest, 32);
    rec_sha256(recs, RP_JOURNAL_RECORD_SIZE, digest);
    assert_memory_equal(made.head, digest, 32);

    expect_error(provision(false, RP_PROVISION_MAGIC), RP_ERR_BAD_STATE);
    /* The key survives a reboot; the seed is nowhere on the card. */
    boot();
    hello();
    identity_t after = identity(0x22);
    assert_memory_equal(after.pk, made.pk, 32);
    assert_int_equal(after.count, 1u);
    const uint8_t *seed = nvm_fake_image() + RP_NVM_IDENTITY_OFF_SEED;
    for (size_t off = 0; off + 32 <= rec_bd_ram_size(&g_ram); off++)
        if (g_ram.data[off] == seed[0] && memcmp(g_ram.data + off, seed, 32) == 0) fail_msg("seed found on the card at %zu", off);
    /* Force makes another key. */
    identity_t other = parse_identity(provision(true, RP_PROVISION_MAGIC), host);
    assert_memory_not_equal(other.pk, made.pk, 32);
    /* A stuck entropy source: answered, flagged, no new key. */
    nvm_fake_set_entropy(NVM_FAKE_ENTROPY_STUCK, RP_ENTROPY_ROSC);
    identity_t failed = parse_identity(provision(true, RP_PROVISION_MAGIC), host);
    assert_true(failed.flags & RP_IDENTITY_FLAG_ENTROPY_FAILED);
    assert_memory_equal(failed.pk, other.pk, 32);
}

static void test_without_nvm_identity_has_no_key(void **state)
{
    (void)state;
    hello();
    identity_t v = identity(0x33);
    assert_false(v.flags & RP_IDENTITY_FLAG_HAS_KEY);
    assert_int_equal(v.epoch, 0u);
    assert_int_equal(v.count, 0u);
    expect_error(provision(false, RP_PROVISION_MAGIC), RP_ERR_BAD_STATE);
}

/* SET_RECIPIENT: GET, SET, CLEAR; kept across a reboot; INFO says ENCRYPTING while one is set;
 * small-order keys and unknown actions are refused; BUSY while recording. */
/* RFC 7748 section 6.1, Bob's public key: a recipient for the tests. */
static const uint8_t g_bob[32] = { 0xde, 0x9e, 0xdb, 0x7d, 0x7b, 0x7d, 0xc1, 0xb4, 0xd3, 0x5b, 0x61,
                                   0xc2, 0xec, 0xe4, 0x35, 0x37, 0x3f, 0x83, 0x43, 0xc8, 0x5b, 0x78,
                                   0x67, 0x4d, 0xad, 0xfc, 0x7e, 0x14, 0x6f, 0x88, 0x2b, 0x4f };

static resp_t set_recipient(uint8_t action, const uint8_t *key)
{
    uint8_t q[RP_SET_RECIPIENT_REQ_SIZE] = { 0 };
    q[RP_SET_RECIPIENT_REQ_OFF_ACTION] = action;
    if (key) memcpy(q + RP_SET_RECIPIENT_REQ_OFF_RECIPIENT, key, 32);
    return request(RP_CMD_SET_RECIPIENT, q, sizeof q);
}

static bool info_encrypting(void)
{
    resp_t r = request(RP_CMD_INFO, NULL, 0);
    expect_ok(r);
    return (r.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_ENCRYPTING) != 0;
}

static void test_set_recipient(void **state)
{
    (void)state;
    const uint8_t *bob = g_bob;
    static const uint8_t zero[32];
    hello();
    resp_t r = set_recipient(RP_RECIPIENT_ACTION_GET, NULL);
    expect_ok(r);
    assert_int_equal(r.length, RP_RECIPIENT_SIZE);
    assert_int_equal(r.payload[RP_RECIPIENT_OFF_FLAGS], 0);
    assert_memory_equal(r.payload + RP_RECIPIENT_OFF_RECIPIENT, zero, 32);
    assert_false(info_encrypting());

    r = set_recipient(RP_RECIPIENT_ACTION_SET, bob);
    expect_ok(r);
    assert_int_equal(r.payload[RP_RECIPIENT_OFF_FLAGS], RP_RECIPIENT_FLAG_SET);
    assert_memory_equal(r.payload + RP_RECIPIENT_OFF_RECIPIENT, bob, 32);
    assert_true(info_encrypting());
    expect_error(set_recipient(RP_RECIPIENT_ACTION_SET, zero), RP_ERR_BAD_ARGUMENT); /* small order */
    expect_error(set_recipient(3, bob), RP_ERR_BAD_ARGUMENT);
    expect_error(request(RP_CMD_SET_RECIPIENT, bob, 32), RP_ERR_BAD_ARGUMENT);

    boot();
    hello();
    r = set_recipient(RP_RECIPIENT_ACTION_GET, NULL);
    expect_ok(r);
    assert_memory_equal(r.payload + RP_RECIPIENT_OFF_RECIPIENT, bob, 32);
    assert_true(info_encrypting());

    start_or_stop(); /* recording: SET and CLEAR wait, GET answers */
    expect_error(set_recipient(RP_RECIPIENT_ACTION_CLEAR, NULL), RP_ERR_BUSY);
    expect_ok(set_recipient(RP_RECIPIENT_ACTION_GET, NULL));
    record_ms(16000, 100);
    start_or_stop();

    r = set_recipient(RP_RECIPIENT_ACTION_CLEAR, NULL);
    expect_ok(r);
    assert_int_equal(r.payload[RP_RECIPIENT_OFF_FLAGS], 0);
    assert_memory_equal(r.payload + RP_RECIPIENT_OFF_RECIPIENT, zero, 32);
    assert_false(info_encrypting());
}

static void test_set_recipient_without_nvm_is_refused(void **state)
{
    (void)state;
    static const uint8_t key[32] = { 9 };
    hello();
    expect_error(set_recipient(RP_RECIPIENT_ACTION_SET, key), RP_ERR_BAD_STATE);
    resp_t r = set_recipient(RP_RECIPIENT_ACTION_GET, NULL);
    expect_ok(r);
    assert_int_equal(r.payload[RP_RECIPIENT_OFF_FLAGS], 0);
}

/* Truncates SYSTEM/JOURNAL.BIN on the card to `records` (0 removes the file). */
static void cut_card_journal(uint32_t records)
{
    rec_device_detach_card(rec_device());
    static rec_fat_t own;
    assert_int_equal(rec_fat_mount(&own, &g_ram.bd), REC_OK);
    rec_fat_t *fs = &own;
    if (records == 0) {
        assert_int_equal(rec_fat_remove(fs, "SYSTEM/JOURNAL.BIN"), REC_OK);
    } else {
        rec_fat_file_t f;
        assert_int_equal(rec_fat_open(fs, &f, "SYSTEM/JOURNAL.BIN", REC_FAT_READ | REC_FAT_WRITE), REC_OK);
        assert_int_equal(rec_fat_set_size(fs, &f, records * RP_JOURNAL_RECORD_SIZE), REC_OK);
        assert_int_equal(rec_fat_file_sync(fs, &f), REC_OK);
        assert_int_equal(rec_fat_close(fs, &f), REC_OK);
    }
    assert_int_equal(rec_fat_sync(fs), REC_OK);
}

static void test_cut_journal_tail_is_tail_lost_and_found_unjournaled(void **state)
{
    (void)state;
    hello();
    record_one(300);
    record_one(300);
    assert_int_equal(identity(1).count, 2u);
    cut_card_journal(1); /* recording 2's record gone */
    boot();
    hello();
    uint8_t recs[8 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[8];
    uint32_t numbers[8];
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 3);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_RECORDING);
    assert_int_equal(kinds[1], RP_JOURNAL_KIND_TAIL_LOST);
    assert_int_equal(numbers[1], 2u); /* the device had counted 2 records */
    assert_int_equal(rec_get_u32(recs + RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), 1u);
    /* Recording 2's file is finished: found without its record, not "recovered". */
    assert_int_equal(kinds[2], RP_JOURNAL_KIND_FOUND_UNJOURNALED);
    assert_int_equal(numbers[2], 2u);
    assert_false(recs[2 * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_FLAGS] & RP_RECORD_FLAG_RECOVERED);
    entry_t e[4];
    assert_int_equal(list_all(e, 4), 2);
    assert_memory_equal(recs + 2 * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_SHA256, e[1].sha, 32);
    assert_int_equal(identity(2).count, 3u);
    /* Nothing more at the next boot: the count and the card agree again. */
    boot();
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 3);

    /* A replaced (here: removed) journal: the new one starts with TAIL_LOST. */
    cut_card_journal(0);
    boot();
    hello();
    uint32_t n = journal_kinds(kinds, numbers, 8, recs);
    assert_true(n >= 1);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_TAIL_LOST);
    assert_int_equal(numbers[0], 3u);
    assert_int_equal(rec_get_u32(recs + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), 3u);
}

static void test_number_spent_without_a_file(void **state)
{
    (void)state;
    hello();
    record_one(200); /* number 1 */
    /* Number 2 is spent, then the start fails before the file exists. */
    port_fake_settings_save_result(REC_E_IO);
    start_or_stop();
    assert_false(port_fake_mic_running());
    port_fake_settings_save_result(0);
    record_one(200); /* number 3; 2 is journalled as spent first */
    uint8_t recs[8 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[8];
    uint32_t numbers[8];
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 3);
    assert_int_equal(kinds[1], RP_JOURNAL_KIND_NUMBER_SPENT);
    assert_int_equal(numbers[1], 2u);
    assert_int_equal(kinds[2], RP_JOURNAL_KIND_RECORDING);
    assert_int_equal(numbers[2], 3u);

    /* Spent, then the power goes before the file: the next boot journals it. */
    assert_int_equal(rec_device_spend_number(rec_device(), 4), REC_OK);
    boot();
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 4);
    assert_int_equal(kinds[3], RP_JOURNAL_KIND_NUMBER_SPENT);
    assert_int_equal(numbers[3], 4u);
    entry_t e[4];
    assert_int_equal(list_all(e, 4), 2);

    /* Another (blank) card: its journal is not the device's (TAIL_LOST), and the numbers used on
     * the first card are not called spent on this one. */
    rec_device_detach_card(rec_device());
    rec_bd_ram_free(&g_ram);
    card_new(CARD_MIB);
    boot();
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 1);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_TAIL_LOST);
    record_one(200);
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 2);
    assert_int_equal(kinds[1], RP_JOURNAL_KIND_RECORDING);
    assert_int_equal(numbers[1], 5u);
}

static void test_format_starts_an_epoch_and_clock_changes_are_journalled(void **state)
{
    (void)state;
    hello();
    record_one(200);
    uint8_t t[RP_SET_TIME_REQ_SIZE];
    rec_put_i64(t, 1790000000000LL);
    expect_ok(request(RP_CMD_SET_TIME, t, sizeof t));      /* first set: CLOCK_SET */
    rec_put_i64(t, 1790000000500LL);
    expect_ok(request(RP_CMD_SET_TIME, t, sizeof t));      /* 0.5 s: not journalled */
    rec_put_i64(t, 1790000060000LL);
    expect_ok(request(RP_CMD_SET_TIME, t, sizeof t));      /* a minute: CLOCK_SET */
    uint8_t recs[8 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[8];
    uint32_t numbers[8];
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 3);
    assert_int_equal(kinds[1], RP_JOURNAL_KIND_CLOCK_SET);
    assert_int_equal(rec_get_i64(recs + RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_START_UNIX_MS), 0);
    assert_int_equal(rec_get_i64(recs + RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_STOP_UNIX_MS), 1790000000000LL);
    assert_int_equal(kinds[2], RP_JOURNAL_KIND_CLOCK_SET);
    int64_t before = rec_get_i64(recs + 2 * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_START_UNIX_MS);
    assert_true(before >= 1790000000500LL && before < 1790000001500LL);

    /* The battery-backed clock lost (or none): the reboot finds it unset, and says so. */
    port_fake_set_rtc(false, 0);
    boot();
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 4);
    assert_int_equal(kinds[3], RP_JOURNAL_KIND_CLOCK_LOST);
    /* Once per boot: each boot without a clock starts its own uptime count, and says so. */
    assert_int_equal(rec_device_journal_clock_lost(rec_device()), REC_OK);
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 4);
    boot();
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 5);
    assert_int_equal(kinds[4], RP_JOURNAL_KIND_CLOCK_LOST);

    identity_t v = identity(3);
    uint8_t head12[12];
    memcpy(head12, v.head, 12);
    uint8_t q[RP_FORMAT_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_FORMAT_REQ_OFF_MAGIC, RP_FORMAT_MAGIC);
    rec_put_u64(q + RP_FORMAT_REQ_OFF_DEVICE_ID, rec_device()->settings.device_id);
    expect_ok(request(RP_CMD_FORMAT, q, sizeof q));
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 1);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_EPOCH_START);
    assert_int_equal(numbers[0], 2u);
    assert_int_equal(rec_get_u32(recs + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), 5u);
    assert_memory_equal(recs + RP_JOURNAL_RECORD_OFF_SHA256, head12, 12);
    v = identity(4);
    assert_int_equal(v.epoch, 2u);
    assert_int_equal(v.count, 1u);
    /* Numbers go on from where they were; no number is called spent in the new epoch. */
    record_one(200);
    assert_int_equal(journal_kinds(kinds, numbers, 8, recs), 2);
    assert_int_equal(kinds[1], RP_JOURNAL_KIND_RECORDING);
    assert_int_equal(numbers[1], 2u);
}

/* The power goes while the device formats its card, after the erase and before EPOCH_START: the
 * next mount finishes the epoch's start, and reports no cut journal (TAIL_LOST). */
static void test_format_cut_before_epoch_start_is_finished_at_mount(void **state)
{
    (void)state;
    hello();
    record_one(200);
    identity_t before = identity(5);
    assert_int_equal(before.epoch, 1u);
    rec_device_t *d = rec_device();
    /* As rec_device_format does before it erases: the number floor, then the epoch announced. */
    assert_int_equal(rec_device_numbers_before_format(d, d->store.highest_number + 1u), REC_OK);
    assert_int_equal(rec_device_journal_before_format(d), REC_OK);
    assert_int_equal(rec_store_format(&d->store, d->bd, 0x1234u, d->ring.buf, rec_ring_capacity(&d->ring)), REC_OK);
    boot(); /* the cut: EPOCH_START never written */
    hello();
    uint8_t recs[4 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[4];
    uint32_t numbers[4];
    assert_int_equal(journal_kinds(kinds, numbers, 4, recs), 1);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_EPOCH_START);
    assert_int_equal(numbers[0], 2u);
    assert_int_equal(rec_get_u32(recs + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), before.count);
    assert_memory_equal(recs + RP_JOURNAL_RECORD_OFF_SHA256, before.head, 12);
    identity_t after = identity(6);
    assert_int_equal(after.epoch, 2u);
    assert_int_equal(after.count, 1u);
    boot(); /* settled: nothing more is journalled */
    assert_int_equal(journal_kinds(kinds, numbers, 4, recs), 1);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_hello_info(void **state)
{
    (void)state;
    resp_t r = hello();
    const uint8_t *p = r.payload;
    assert_int_equal(p[RP_INFO_OFF_PROTOCOL_VERSION], RP_VERSION);
    assert_int_equal(rec_get_u16(p + RP_INFO_OFF_MAX_PAYLOAD), MAXP);
    assert_int_equal(rec_get_u64(p + RP_INFO_OFF_DEVICE_ID), 0x0123456789ABCDEFull);
    assert_int_equal(p[RP_INFO_OFF_REC_STATE], RP_REC_STATE_IDLE);
    assert_int_equal(p[RP_INFO_OFF_CARD_STATE], RP_CARD_STATE_OK);
    assert_int_equal(p[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_CLOCK_SET, 0);
    assert_true(rec_get_u64(p + RP_INFO_OFF_CARD_CAPACITY) > 60ull * 1024 * 1024);
    assert_true(rec_get_u64(p + RP_INFO_OFF_CARD_FREE) > 60ull * 1024 * 1024);
    assert_int_equal(rec_get_u32(p + RP_INFO_OFF_NEXT_NUMBER), 1);
    assert_int_equal(rec_get_u32(p + RP_INFO_OFF_SAMPLE_RATE), 16000);
}

static void test_set_time_and_settings(void **state)
{
    (void)state;
    uint8_t q[RP_SET_TIME_REQ_SIZE];
    rec_put_i64(q, 1790000000000LL);
    resp_t r = request(RP_CMD_SET_TIME, q, sizeof q);
    expect_ok(r);
    assert_int_equal(r.payload[RP_SET_TIME_OFF_PREVIOUS_SET], 0);
    port_fake_advance_ms(2500);
    rec_put_i64(q, 1790000010000LL);
    r = request(RP_CMD_SET_TIME, q, sizeof q);
    expect_ok(r);
    assert_int_equal(r.payload[RP_SET_TIME_OFF_PREVIOUS_SET], 1);
    assert_int_equal(rec_get_i64(r.payload + RP_SET_TIME_OFF_PREVIOUS_UNIX_MS), 1790000002500LL);
    rec_put_i64(q, 12345); /* 1970: a host bug, refused */
    expect_error(request(RP_CMD_SET_TIME, q, sizeof q), RP_ERR_BAD_ARGUMENT);

    uint8_t s[RP_SETTINGS_REQ_SIZE] = { 0 };
    s[RP_SETTINGS_REQ_OFF_SET_MASK] = RP_SETTINGS_MASK_SAMPLE_RATE | RP_SETTINGS_MASK_DISCREET;
    s[RP_SETTINGS_REQ_OFF_DISCREET] = 1;
    rec_put_u32(s + RP_SETTINGS_REQ_OFF_SAMPLE_RATE, 48000);
    r = request(RP_CMD_SETTINGS, s, sizeof s);
    expect_ok(r);
    assert_int_equal(rec_get_u32(r.payload + RP_SETTINGS_OFF_SAMPLE_RATE), 48000);
    rec_put_u32(s + RP_SETTINGS_REQ_OFF_SAMPLE_RATE, 44100);
    expect_error(request(RP_CMD_SETTINGS, s, sizeof s), RP_ERR_BAD_ARGUMENT);

    uint8_t l[RP_SET_LABEL_REQ_SIZE] = { 0 };
    memcpy(l, "Family room 3", 13);
    expect_ok(request(RP_CMD_SET_LABEL, l, sizeof l));
    l[3] = '\n';
    expect_error(request(RP_CMD_SET_LABEL, l, sizeof l), RP_ERR_BAD_ARGUMENT);

    /* Settings survive a reboot (the fake port keeps the blob). */
    boot();
    resp_t info = hello();
    assert_int_equal(rec_get_u32(info.payload + RP_INFO_OFF_SAMPLE_RATE), 48000);
    assert_string_equal((const char *)info.payload + RP_INFO_OFF_LABEL, "Family room 3");
    assert_true(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_DISCREET);
}

/* The discreet confirmation: a held button is answered on the dimmed LED and starts or stops
 * nothing. Runs `ms` in 10 ms steps (recording audio when the microphone runs) and returns how
 * many dim blinks began and for how long the LED was dim; the full LED stays off throughout. */
typedef struct {
    uint32_t blinks, dim_ms;
} answer_t;
static answer_t watch_answer(uint32_t ms)
{
    answer_t a = { 0, 0 };
    bool was_dim = port_fake_led_dim();
    for (uint32_t t = 0; t < ms; t += 10) {
        if (port_fake_mic_running()) {
            record_ms(16000, 10);
        } else {
            port_fake_advance_ms(10);
            rec_app_poll();
        }
        bool dim = port_fake_led_dim();
        if (dim && !was_dim) a.blinks++;
        if (dim) a.dim_ms += 10;
        if (dim) assert_false(port_fake_led());
        was_dim = dim;
    }
    return a;
}

static void set_discreet(bool on)
{
    uint8_t s[RP_SETTINGS_REQ_SIZE] = { 0 };
    s[RP_SETTINGS_REQ_OFF_SET_MASK] = RP_SETTINGS_MASK_DISCREET;
    s[RP_SETTINGS_REQ_OFF_DISCREET] = on ? 1 : 0;
    expect_ok(request(RP_CMD_SETTINGS, s, sizeof s));
}

static void test_button_gestures_and_their_answers(void **state)
{
    (void)state;
    hello();
    set_discreet(true);

    /* Not recording: a hold asks: two short dim blinks (150 ms each, one poll of slack), still idle. */
    port_fake_button_hold();
    answer_t a = watch_answer(1000);
    assert_int_equal(a.blinks, 2);
    assert_in_range(a.dim_ms, 300, 340);
    assert_false(port_fake_mic_running());
    assert_false(port_fake_led_dim());

    /* A short press starts recording; in discreet mode the LED stays dark. */
    press();
    assert_true(port_fake_mic_running());
    record_ms(16000, 500);
    assert_false(port_fake_led());

    /* Recording: a hold asks: one long dim blink (600 ms), and the recording goes on. */
    port_fake_button_hold();
    a = watch_answer(1000);
    assert_int_equal(a.blinks, 1);
    assert_in_range(a.dim_ms, 600, 620);
    assert_true(port_fake_mic_running());
    assert_false(port_fake_led());
    assert_false(port_fake_led_dim());

    /* A short press (an accidental touch, or a parent checking) drops a marker and never stops:
     * one short dim blink (200 ms). Two in a row: two markers, two answers. */
    port_fake_button_press();
    a = watch_answer(1000);
    assert_int_equal(a.blinks, 1);
    assert_in_range(a.dim_ms, 200, 220);
    assert_true(port_fake_mic_running());
    port_fake_button_press();
    a = watch_answer(1000);
    assert_int_equal(a.blinks, 1);
    assert_int_equal(rec_device()->cur.marker_count, 2);

    /* A long hold stops it (its hold asks first): three dim blinks of 300 ms. */
    port_fake_button_long_hold();
    a = watch_answer(2000);
    assert_false(port_fake_mic_running());
    assert_int_equal(a.blinks, 3);
    assert_in_range(a.dim_ms, 900, 930);
    /* Idle, a long hold stops nothing and starts nothing (its hold answers). */
    port_fake_button_long_hold();
    assert_false(port_fake_mic_running());
    a = watch_answer(1000);
    assert_int_equal(a.blinks, 2);

    /* Outside discreet mode the answers are the same; the steady light pauses for them and returns. */
    set_discreet(false);
    press();
    record_ms(16000, 100);
    assert_true(port_fake_led());
    port_fake_button_hold();
    a = watch_answer(1000);
    assert_int_equal(a.blinks, 1);
    assert_in_range(a.dim_ms, 600, 620);
    assert_true(port_fake_led());
    port_fake_button_press();
    a = watch_answer(1000);
    assert_int_equal(a.blinks, 1);
    assert_in_range(a.dim_ms, 200, 220);
    assert_true(port_fake_led());
    assert_true(port_fake_mic_running());
    long_hold();
    assert_false(port_fake_mic_running());
}

/* Sample offsets of the markers of a finished WAV (its bytes after the data: cue, LIST/adtl with
 * one "Marker N" labl per point, then evid last, the RIFF size counting them all). */
static uint32_t wav_markers(const uint8_t *wav, size_t len, uint32_t *out, uint32_t max)
{
    const uint32_t data = rec_get_u32(wav + 1020);
    assert_int_equal(rec_get_u32(wav + 4), len - 8u);
    const uint8_t *p = wav + 1024 + data;
    const size_t tail = len - 1024 - data;
    assert_memory_equal(wav + len - REC_WAV_EVID_CHUNK_BYTES, "evid", 4);
    if (tail == REC_WAV_EVID_CHUNK_BYTES) return 0;
    assert_memory_equal(p, "cue ", 4);
    const uint32_t n = rec_get_u32(p + 8);
    assert_true(n <= max);
    assert_int_equal(rec_get_u32(p + 4), 4u + 24u * n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *c = p + 12 + 24 * i;
        assert_int_equal(rec_get_u32(c), i + 1u);
        assert_memory_equal(c + 8, "data", 4);
        out[i] = rec_get_u32(c + 20);
        assert_int_equal(rec_get_u32(c + 4), out[i]);
        assert_true(out[i] <= data / 2u);
    }
    const uint8_t *l = p + 12 + 24 * n;
    assert_memory_equal(l, "LIST", 4);
    assert_memory_equal(l + 8, "adtl", 4);
    assert_int_equal(8u + 4u + 24u * n + 8u + rec_get_u32(l + 4) + REC_WAV_EVID_CHUNK_BYTES, tail);
    char label[16];
    snprintf(label, sizeof label, "Marker %u", n);
    assert_non_null(memmem(l, rec_get_u32(l + 4) + 8u, label, strlen(label) + 1u));
    return n;
}

static resp_t mark(void)
{
    return request(RP_CMD_MARK, NULL, 0);
}

/* Markers from the button and from MARK: at the sample being captured, journaled as they are
 * taken, written into the WAV at the stop; refused when not recording and beyond the table. */
static void test_markers_in_the_wav_and_the_journal(void **state)
{
    (void)state;
    hello();
    expect_error(mark(), RP_ERR_BAD_STATE);
    start_or_stop();
    record_ms(16000, 500);
    press(); /* at sample 8000: every sample pushed is on the card or in the ring */
    record_ms(16000, 250);
    resp_t r = mark();
    expect_ok(r);
    assert_int_equal(r.length, RP_MARK_SIZE);
    assert_int_equal(rec_get_u32(r.payload + RP_MARK_OFF_NUMBER), 1);
    assert_int_equal(rec_get_u32(r.payload + RP_MARK_OFF_MARKER), 2);
    assert_int_equal(rec_get_u32(r.payload + RP_MARK_OFF_SAMPLE_OFFSET), 12000);
    assert_int_equal(rec_get_u32(r.payload + RP_MARK_OFF_SAMPLE_RATE), 16000);
    record_ms(16000, 250);
    start_or_stop();
    expect_error(mark(), RP_ERR_BAD_STATE);
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    uint8_t *f = read_file(1, e[0].size);
    uint32_t at[4];
    assert_int_equal(wav_markers(f, e[0].size, at, 4), 2);
    assert_int_equal(at[0], 8000);
    assert_int_equal(at[1], 12000);
    free(f);
    /* The journal: a MARKER record for each, before the recording's own record. */
    uint8_t j[RP_JOURNAL_RECORD_SIZE * 4];
    assert_int_equal(journal_records(j, 4), 3);
    for (uint32_t i = 0; i < 2; i++) {
        const uint8_t *m = j + i * RP_JOURNAL_RECORD_SIZE;
        assert_int_equal(rec_get_u16(m + RP_JOURNAL_RECORD_OFF_KIND), RP_JOURNAL_KIND_MARKER);
        assert_int_equal(rec_get_u32(m + RP_JOURNAL_RECORD_OFF_NUMBER), 1);
        assert_int_equal(rec_get_u32(m + RP_JOURNAL_RECORD_OFF_OVERRUNS), i + 1u);
        assert_int_equal(rec_get_u32(m + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), at[i]);
        assert_int_equal(rec_get_u32(m + RP_JOURNAL_RECORD_OFF_SAMPLE_RATE), 16000);
    }
    assert_int_equal(rec_get_u16(j + 2 * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_KIND), RP_JOURNAL_KIND_RECORDING);

    /* The table full: MARK says MARKERS_FULL, a press gets the "refused" answer (four quick dim
     * blinks) and stops nothing; the WAV holds them all. */
    start_or_stop();
    record_ms(16000, 1300); /* the stop's answer is over */
    for (uint32_t i = 0; i < REC_MAX_MARKERS; i++) {
        record_ms(16000, 10);
        expect_ok(mark());
    }
    r = mark();
    expect_error(r, RP_ERR_MARKERS_FULL);
    assert_int_equal(rec_get_u32(r.payload + RP_ERROR_OFF_DETAIL), REC_MAX_MARKERS);
    port_fake_button_press();
    answer_t a = watch_answer(1000);
    assert_int_equal(a.blinks, 4);
    assert_true(port_fake_mic_running());
    long_hold();
    assert_int_equal(list_all(e, 2), 2);
    f = read_file(2, e[1].size);
    static uint32_t all[REC_MAX_MARKERS];
    assert_int_equal(wav_markers(f, e[1].size, all, REC_MAX_MARKERS), REC_MAX_MARKERS);
    for (uint32_t i = 0; i < REC_MAX_MARKERS; i++) assert_int_equal(all[i], 16u * 1300u + 160u * (i + 1u));
    free(f);
}

/* A power cut: the markers come back from the journal into the recovered WAV; one taken after
 * the last size patch (its audio lost with the power) stays in the journal only. */
static void test_power_cut_rebuilds_markers_from_the_journal(void **state)
{
    (void)state;
    hello();
    start_or_stop();
    record_ms(16000, 1000);
    press();
    record_ms(16000, 1000);
    press();
    record_ms(16000, 1700);
    press();
    port_fake_mic_start_result(0);
    boot();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_POWER_LOSS);
    assert_true(e[0].samples < 59200u); /* the audio after the last patch is lost */
    uint8_t *f = read_file(1, e[0].size);
    uint32_t at[4];
    assert_int_equal(wav_markers(f, e[0].size, at, 4), 2);
    assert_int_equal(at[0], 16000);
    assert_int_equal(at[1], 32000);
    free(f);
    uint8_t j[RP_JOURNAL_RECORD_SIZE * 5];
    assert_int_equal(journal_records(j, 5), 4);
    assert_int_equal(rec_get_u32(j + 2 * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), 59200);
    assert_int_equal(rec_get_u16(j + 3 * RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_KIND), RP_JOURNAL_KIND_RECORDING);
    /* The next recording's markers start again at 1. */
    start_or_stop();
    record_ms(16000, 100);
    resp_t r = mark();
    expect_ok(r);
    assert_int_equal(rec_get_u32(r.payload + RP_MARK_OFF_MARKER), 1);
    start_or_stop();
}

/* Two bugs that read uninitialised memory (found because fuzz_server's coverage changed with
 * address-space randomisation; this build fills uninitialised locals with a pattern, so they fail
 * here every time): a JOURNAL page that starts at the end answered with a random error, and the
 * stop time of a recording was read before it was computed, so its directory entry kept the time
 * of the last SET_TIME. */
static void test_journal_page_at_the_end_and_the_stop_time_on_the_card(void **state)
{
    (void)state;
    hello();
    uint8_t q[RP_JOURNAL_REQ_SIZE] = { 0 };
    rec_put_u16(q + RP_JOURNAL_REQ_OFF_MAX_RECORDS, 4);
    resp_t r = request(RP_CMD_JOURNAL, q, sizeof q); /* empty journal, from 0 */
    expect_ok(r);
    assert_int_equal(rec_get_u32(r.payload + RP_JOURNAL_OFF_TOTAL), 0);
    assert_int_equal(rec_get_u16(r.payload + RP_JOURNAL_OFF_COUNT), 0);

    uint8_t t[RP_SET_TIME_REQ_SIZE];
    rec_put_i64(t, 1790000000000LL); /* 2026-09-21 14:13:20 UTC */
    expect_ok(request(RP_CMD_SET_TIME, t, sizeof t));
    start_or_stop();
    record_ms(16000, 5000);
    start_or_stop(); /* stops at 14:13:25 */
    assert_false(port_fake_mic_running());

    /* The first setting of the clock is journalled (CLOCK_SET), then the recording. */
    uint8_t recs[2 * RP_JOURNAL_RECORD_SIZE];
    assert_int_equal(journal_records(recs, 2), 2);
    assert_int_equal(rec_get_u16(recs + RP_JOURNAL_RECORD_OFF_KIND), RP_JOURNAL_KIND_CLOCK_SET);
    assert_int_equal(rec_get_u16(recs + RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_KIND), RP_JOURNAL_KIND_RECORDING);
    rec_put_u32(q + RP_JOURNAL_REQ_OFF_FROM_INDEX, 2); /* "anything after the ones I have?" */
    r = request(RP_CMD_JOURNAL, q, sizeof q);
    expect_ok(r);
    assert_int_equal(rec_get_u32(r.payload + RP_JOURNAL_OFF_TOTAL), 2);
    assert_int_equal(rec_get_u16(r.payload + RP_JOURNAL_OFF_COUNT), 0);

    rec_fat_dirent_t de;
    assert_int_equal(rec_fat_stat(&rec_device()->store.fs, "RECORDS/REC00001.WAV", &de), REC_OK);
    assert_int_equal(de.wdate, ((2026u - 1980u) << 9) | (9u << 5) | 21u);
    assert_int_equal(de.wtime, (14u << 11) | (13u << 5) | (25u / 2u));
}

static void test_record_list_read_verify(void **state)
{
    (void)state;
    hello();
    start_or_stop();
    assert_true(port_fake_mic_running());
    assert_int_equal(port_fake_mic_rate(), 16000);
    assert_true(port_fake_led());
    record_ms(16000, 5300);
    /* While recording: LIST shows it in progress, and recording continues during requests. */
    entry_t e[8];
    uint32_t n = list_all(e, 8);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].state, RP_RECORDING_RECORDING);
    start_or_stop();
    assert_false(port_fake_mic_running());
    n = list_all(e, 8);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].number, 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_BUTTON);
    assert_int_equal(e[0].samples, 16000u * 53u / 10u);
    check_recording(&e[0], 0);

    uint8_t j[RP_JOURNAL_RECORD_SIZE * 4];
    assert_int_equal(journal_records(j, 4), 1);
    assert_memory_equal(j, "RJNL", 4);
    assert_int_equal(rec_get_u32(j + RP_JOURNAL_RECORD_OFF_NUMBER), 1);
    assert_int_equal(rec_get_u32(j + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), e[0].samples);
    assert_memory_equal(j + RP_JOURNAL_RECORD_OFF_SHA256, e[0].sha, 32);

    /* HASH of a range equals the SHA-256 of the bytes READ returned. */
    uint8_t *f = read_file(1, e[0].size);
    uint8_t q[RP_HASH_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_HASH_REQ_OFF_NUMBER, 1);
    q[RP_HASH_REQ_OFF_ALGORITHM] = RP_HASH_SHA256;
    rec_put_u32(q + RP_HASH_REQ_OFF_OFFSET, 0);
    rec_put_u32(q + RP_HASH_REQ_OFF_LENGTH, 100000);
    resp_t r = request(RP_CMD_HASH, q, sizeof q);
    expect_ok(r);
    uint8_t sha[32];
    rec_sha256(f, 100000, sha);
    assert_memory_equal(r.payload + RP_HASH_OFF_DIGEST, sha, 32);
    rec_put_u32(q + RP_HASH_REQ_OFF_LENGTH, e[0].size); /* past the end */
    rec_put_u32(q + RP_HASH_REQ_OFF_OFFSET, 1);
    expect_error(request(RP_CMD_HASH, q, sizeof q), RP_ERR_OUT_OF_RANGE);
    check_read_checked(f, e[0].size);
    free(f);

    /* READ past the end, of a missing recording, and too long. */
    uint8_t rq[RP_READ_REQ_SIZE] = { 0 };
    rec_put_u32(rq, 1);
    rec_put_u32(rq + 4, e[0].size + 1);
    rec_put_u32(rq + 8, 16);
    expect_error(request(RP_CMD_READ, rq, sizeof rq), RP_ERR_OUT_OF_RANGE);
    rec_put_u32(rq, 7);
    rec_put_u32(rq + 4, 0);
    expect_error(request(RP_CMD_READ, rq, sizeof rq), RP_ERR_NOT_FOUND);
    rec_put_u32(rq, 1);
    rec_put_u32(rq + 8, MAXP);
    expect_error(request(RP_CMD_READ, rq, sizeof rq), RP_ERR_TOO_LARGE);
}

static void test_delete_needs_matching_hash_and_numbers_are_never_reused(void **state)
{
    (void)state;
    hello();
    for (int i = 0; i < 3; i++) {
        start_or_stop();
        record_ms(16000, 1200);
        start_or_stop();
    }
    entry_t e[8];
    assert_int_equal(list_all(e, 8), 3);
    uint8_t q[RP_DELETE_REQ_SIZE];
    rec_put_u32(q, 3);
    memcpy(q + 4, e[2].sha, 32);
    q[4] ^= 1;
    expect_error(request(RP_CMD_DELETE, q, sizeof q), RP_ERR_HASH_MISMATCH);
    assert_int_equal(list_all(e, 8), 3);
    q[4] ^= 1;
    resp_t r = request(RP_CMD_DELETE, q, sizeof q);
    expect_ok(r);
    expect_error(request(RP_CMD_DELETE, q, sizeof q), RP_ERR_NOT_FOUND);
    assert_int_equal(list_all(e, 8), 2);
    /* The next recording is number 4, not 3 again, also after a reboot. */
    boot();
    start_or_stop();
    record_ms(16000, 500);
    start_or_stop();
    assert_int_equal(list_all(e, 8), 3);
    assert_int_equal(e[2].number, 4);
    check_recording(&e[2], g_ramp - e[2].samples);
}

static void test_format_needs_confirmation_and_keeps_numbering(void **state)
{
    (void)state;
    resp_t info = hello();
    uint64_t id = rec_get_u64(info.payload + RP_INFO_OFF_DEVICE_ID);
    start_or_stop();
    record_ms(16000, 700);
    uint8_t q[RP_FORMAT_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_FORMAT_REQ_OFF_MAGIC, RP_FORMAT_MAGIC);
    rec_put_u64(q + RP_FORMAT_REQ_OFF_DEVICE_ID, id);
    expect_error(request(RP_CMD_FORMAT, q, sizeof q), RP_ERR_BUSY);
    start_or_stop();
    rec_put_u64(q + RP_FORMAT_REQ_OFF_DEVICE_ID, id + 1);
    expect_error(request(RP_CMD_FORMAT, q, sizeof q), RP_ERR_CONFIRMATION_REQUIRED);
    entry_t e[4];
    assert_int_equal(list_all(e, 4), 1);
    rec_put_u64(q + RP_FORMAT_REQ_OFF_DEVICE_ID, id);
    expect_ok(request(RP_CMD_FORMAT, q, sizeof q));
    assert_int_equal(list_all(e, 4), 0);
    start_or_stop();
    record_ms(16000, 300);
    start_or_stop();
    assert_int_equal(list_all(e, 4), 1);
    assert_int_equal(e[0].number, 2);
}

static void test_bad_input_gets_errors_not_crashes(void **state)
{
    (void)state;
    /* Garbage then a delimiter: an unsolicited BAD_FRAME, then normal service. */
    static const uint8_t garbage[] = { 0x13, 0x37, 0xff, 0xfe, 0x42, 0x00 };
    send_raw(garbage, sizeof garbage);
    resp_t r = await(0);
    expect_error(r, RP_ERR_BAD_FRAME);
    hello();
    /* Unknown command, wrong payload size, another protocol version. */
    expect_error(request(0x77, NULL, 0), RP_ERR_UNKNOWN_COMMAND);
    uint8_t small[3] = { 0 };
    expect_error(request(RP_CMD_READ, small, sizeof small), RP_ERR_BAD_ARGUMENT);
    uint8_t raw[RP_HEADER_SIZE + RP_CRC_SIZE] = { 2, RP_KIND_REQUEST, 0x34, 0x12, RP_CMD_INFO, 0, 0, 0 };
    rec_put_u32(raw + RP_HEADER_SIZE, rec_crc32(0, raw, RP_HEADER_SIZE));
    uint8_t wire[32];
    size_t n;
    assert_int_equal(rec_cobs_encode(raw, sizeof raw, wire, sizeof wire, &n), REC_OK);
    wire[n++] = 0;
    send_raw(wire, n);
    r = await(0x1234);
    expect_error(r, RP_ERR_BAD_VERSION);
    assert_int_equal(rec_get_u32(r.payload + RP_ERROR_OFF_DETAIL), RP_VERSION);
    /* A flood larger than any frame: one TOO_LARGE, memory bounded, then normal service. */
    static uint8_t flood[20000];
    memset(flood, 0x41, sizeof flood);
    for (size_t off = 0; off < sizeof flood; off += 4000) {
        send_raw(flood + off, 4000);
        for (int i = 0; i < 20; i++) rec_app_poll();
    }
    send_raw((const uint8_t *)"", 1);
    expect_error(await(0), RP_ERR_TOO_LARGE);
    hello();
}

static void test_power_cut_recovers_recording(void **state)
{
    (void)state;
    hello();
    start_or_stop();
    record_ms(16000, 3700);
    /* Power cut: the RAM card keeps what was written; the device boots again. */
    port_fake_mic_start_result(0);
    boot();
    entry_t e[4];
    assert_int_equal(list_all(e, 4), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_POWER_LOSS);
    assert_true(e[0].flags & RP_RECORD_FLAG_RECOVERED);
    /* At most one second (plus a partial block) of audio lost. */
    assert_true(e[0].samples >= 16000u * 27u / 10u);
    assert_true(e[0].samples <= 16000u * 37u / 10u);
    check_recording(&e[0], 0);
    uint8_t j[RP_JOURNAL_RECORD_SIZE * 2];
    assert_int_equal(journal_records(j, 2), 1);
    assert_int_equal(j[RP_JOURNAL_RECORD_OFF_STOP_REASON], RP_STOP_POWER_LOSS);
    /* The next recording continues the numbering. */
    start_or_stop();
    record_ms(16000, 200);
    start_or_stop();
    assert_int_equal(list_all(e, 4), 2);
    assert_int_equal(e[1].number, 2);
}

/* ---- who keeps clusters two chains share (issue 18, fuzz_recover) -------------------------------
 *
 * FAT corruption no power cut makes: a chain linked into another file's clusters. The store's
 * repair (rec_fat_repair_preferring) lets the recorder's folders, journal and update marker keep
 * them; a recording loses what it shared and is closed by recovery, a root chain is cut before
 * the folder it ran into. Each card below: two recordings made, the second cut by a power loss,
 * then the corruption written into every FAT copy (or the directory entry), then a boot. */

static rec_fat_t g_xl_fs;

/* Puts `next` as cluster c's link in every FAT copy of the (unmounted) card. */
static void xl_link(uint32_t c, uint32_t next)
{
    const rec_fat_t *fs = &g_xl_fs;
    for (uint32_t k = 0; k < fs->num_fats; k++)
        rec_put_u32(g_ram.data + ((size_t)fs->fat_lba + (size_t)k * fs->fat_blocks) * REC_BD_BLOCK_SIZE + (size_t)c * 4u,
                    next);
}

/* A file's bytes (malloc'ed) and first cluster. */
static uint8_t *xl_file(const char *path, uint32_t *size, uint32_t *first)
{
    rec_fat_file_t f;
    assert_int_equal(rec_fat_open(&g_xl_fs, &f, path, REC_FAT_READ), REC_OK);
    uint8_t *p = malloc(f.size + 1u);
    assert_non_null(p);
    assert_int_equal(rec_fat_read(&g_xl_fs, &f, p, f.size), (int32_t)f.size);
    *size = f.size;
    *first = f.first_cluster;
    (void)rec_fat_close(&g_xl_fs, &f);
    return p;
}

static entry_t g_xl_first; /* the finished recording, as listed before the corruption */

/* Records two recordings (the second cut by a power loss) and mounts the card for corrupting;
 * returns the journal's bytes, size and first cluster as they were. */
static uint8_t *xl_card(uint32_t *journal_size, uint32_t *journal_first)
{
    hello();
    start_or_stop();
    record_ms(16000, 300);
    start_or_stop();
    assert_int_equal(list_all(&g_xl_first, 1), 1);
    start_or_stop();
    record_ms(16000, 1300);
    rec_device_detach_card(rec_device());
    assert_int_equal(rec_fat_mount(&g_xl_fs, &g_ram.bd), REC_OK);
    uint8_t *journal = xl_file(REC_JOURNAL_PATH, journal_size, journal_first);
    assert_true(*journal_first != 0 && *journal_size > 0);
    return journal;
}

/* Boots on the corrupted card and checks the outcome: the repair cut `crosslinks` chains; the
 * journal kept its first cluster and its records (recovery appended the second recording's
 * after them); the first recording is as it was, the second closed by recovery (RECOVERED,
 * its audio what the recorder wrote, at most `max_samples` of it); a repair after the boot
 * finds nothing to do; fsck.fat -n finds nothing wrong. */
static void xl_boot_and_check(const uint8_t *journal, uint32_t journal_size, uint32_t journal_first, uint32_t crosslinks,
                              uint32_t max_samples)
{
    rec_tool_require("fsck.fat", "dosfstools");
    port_fake_mic_start_result(0);
    boot();
    const rec_store_t *st = &rec_device()->store;
    assert_true(st->mounted);
    assert_int_equal(st->repair.crosslinks_cut, crosslinks);
    entry_t e[4];
    assert_int_equal(list_all(e, 4), 2);
    assert_memory_equal(&e[0], &g_xl_first, sizeof e[0]);
    assert_int_equal(e[1].number, 2);
    assert_int_equal(e[1].stop_reason, RP_STOP_POWER_LOSS);
    assert_true(e[1].flags & RP_RECORD_FLAG_RECOVERED);
    assert_true(e[1].samples <= max_samples);
    check_recording(&e[1], g_xl_first.samples);
    uint8_t j[RP_JOURNAL_RECORD_SIZE * 4];
    assert_int_equal(journal_records(j, 4), 2);
    assert_int_equal(rec_get_u32(j + RP_JOURNAL_RECORD_OFF_NUMBER), 1u);
    assert_int_equal(rec_get_u32(j + RP_JOURNAL_RECORD_SIZE + RP_JOURNAL_RECORD_OFF_NUMBER), 2u);
    rec_device_detach_card(rec_device());
    assert_int_equal(rec_fat_mount(&g_xl_fs, &g_ram.bd), REC_OK);
    uint32_t size, first;
    uint8_t *now = xl_file(REC_JOURNAL_PATH, &size, &first);
    assert_int_equal(first, journal_first);
    assert_true(size > journal_size);
    assert_memory_equal(now, journal, journal_size);
    free(now);
    static uint8_t scratch[4096];
    rec_fat_repair_report_t rep;
    assert_int_equal(rec_fat_repair(&g_xl_fs, scratch, sizeof scratch, &rep), REC_OK);
    assert_true(rep.tree_complete);
    assert_int_equal(rep.fat_blocks_mirrored + rep.lost_clusters_freed + rep.loops_cut + rep.crosslinks_cut, 0);
    char img[256], out[4096];
    rec_tool_tmp(img, sizeof img, "crosslinked.img");
    assert_int_equal(rec_bd_ram_save_file(&g_ram, img), 0);
    int fsck = rec_tool_fsck(img, false, out, sizeof out);
    if (fsck != 0) fail_msg("fsck.fat:\n%s", out);
    (void)remove(img);
}

/* The cut recording's chain runs, after its header and some audio, into the journal's first
 * cluster: the journal keeps it; the recording keeps what came before and is closed by
 * recovery. The repair runs before recovery writes, and the journal, opened before it, is
 * opened again. Before the store had a say, the recording (walked first) kept the cluster, and
 * the journal was emptied and made again (fuzz_recover, regressions-card34). */
static void test_repair_crosslink_recording_into_journal(void **state)
{
    (void)state;
    uint32_t journal_size, journal_first;
    uint8_t *journal = xl_card(&journal_size, &journal_first);
    rec_fat_file_t rec2;
    assert_int_equal(rec_fat_open(&g_xl_fs, &rec2, "RECORDS/REC00002.WAV", REC_FAT_READ), REC_OK);
    const uint32_t keep = 16; /* clusters of the recording before the link */
    assert_int_equal(g_xl_fs.blocks_per_cluster * REC_BD_BLOCK_SIZE * keep < rec2.size, true);
    xl_link(rec2.first_cluster + keep - 1u, journal_first); /* the recorder's files are contiguous */
    xl_boot_and_check(journal, journal_size, journal_first, 1,
                      (g_xl_fs.blocks_per_cluster * REC_BD_BLOCK_SIZE * keep - REC_WAV_HEADER_SIZE) / 2u);
    free(journal);
}

/* The cut recording's directory entry names the journal's first cluster: the journal keeps its
 * chain, the recording's entry is emptied (its own clusters, lost, are freed) and recovery
 * closes it as an empty recording. Before, the recording kept the journal's clusters. */
static void test_repair_crosslink_recording_entry_onto_journal(void **state)
{
    (void)state;
    uint32_t journal_size, journal_first;
    uint8_t *journal = xl_card(&journal_size, &journal_first);
    rec_fat_file_t rec2;
    assert_int_equal(rec_fat_open(&g_xl_fs, &rec2, "RECORDS/REC00002.WAV", REC_FAT_READ), REC_OK);
    uint8_t *ent = g_ram.data + (size_t)rec2.dirent_lba * REC_BD_BLOCK_SIZE + rec2.dirent_off;
    rec_put_u16(ent + 20, (uint16_t)(journal_first >> 16));
    rec_put_u16(ent + 26, (uint16_t)journal_first);
    xl_boot_and_check(journal, journal_size, journal_first, 1, 0);
    free(journal);
}

/* The root's chain runs into the SYSTEM folder's first cluster: the root is cut before it and
 * SYSTEM keeps its entries. Before, SYSTEM (sharing from its first cluster) was deleted and its
 * journal made again. */
static void test_repair_crosslink_root_into_system(void **state)
{
    (void)state;
    uint32_t journal_size, journal_first;
    uint8_t *journal = xl_card(&journal_size, &journal_first);
    rec_fat_dirent_t sys;
    assert_int_equal(rec_fat_stat(&g_xl_fs, RP_CARD_SYSTEM_DIR, &sys), REC_OK);
    uint32_t c = g_xl_fs.root_cluster;
    for (;;) {
        uint32_t v = rec_get_u32(g_ram.data + (size_t)g_xl_fs.fat_lba * REC_BD_BLOCK_SIZE + (size_t)c * 4u) & 0x0FFFFFFFu;
        if (v < 2 || v >= 0x0FFFFFF8u) break;
        c = v;
    }
    xl_link(c, sys.first_cluster);
    xl_boot_and_check(journal, journal_size, journal_first, 1, 16000u * 13u / 10u);
    free(journal);
}

/* A card whose write call number `stall_at` (counted from arming) first stalls for `stall_ms`, the
 * microphone going on meanwhile; the power is then cut at the `cut_at_patch`-th size patch after
 * the stall (its header write), when the most audio is on the card unpatched. */
typedef struct {
    rec_bd_t bd;
    uint32_t rate, stall_at, stall_ms, cut_at_patch;
    uint32_t writes, patches_after_stall;
    bool cut;
    uint32_t cut_samples; /* audio on the card (what INFO reports) when the power went */
} stall_card_t;
static stall_card_t g_stall;

static int stalling_write(void *ctx, uint32_t lba, const void *buf, uint32_t count)
{
    const rec_recording_state_t *c = &rec_device()->cur;
    g_stall.writes++;
    if (g_stall.writes == g_stall.stall_at) {
        feed_mic(g_stall.rate, g_stall.stall_ms, false);
    } else if (g_stall.writes > g_stall.stall_at && !g_stall.cut && lba == c->base_lba &&
               ++g_stall.patches_after_stall == g_stall.cut_at_patch) {
        g_stall.cut = true;
        g_stall.cut_samples = c->data_bytes / 2u;
        rec_bd_ram_cut_after(&g_ram, 0, false);
    }
    return g_ram.bd.write(ctx, lba, buf, count);
}

/* Issue 17: after a long card stall the backlog goes to the card at card speed. The sizes must be
 * patched before more than REC_PATCH_AUDIO_MS of it is written, or a power cut loses more than a
 * second of what INFO reported on the card (patching on time alone lost up to the stall plus the
 * patch interval when the stall hit a patch). Every write call of a patch period stalls in turn. */
static void stall_then_cut(uint32_t rate, uint32_t stall_ms)
{
    rec_bd_ram_free(&g_ram);
    card_new(34);
    boot();
    hello();
    if (rate != 16000) {
        uint8_t s[RP_SETTINGS_REQ_SIZE] = { 0 };
        s[RP_SETTINGS_REQ_OFF_SET_MASK] = RP_SETTINGS_MASK_SAMPLE_RATE;
        rec_put_u32(s + RP_SETTINGS_REQ_OFF_SAMPLE_RATE, rate);
        expect_ok(request(RP_CMD_SETTINGS, s, sizeof s));
    }
    static uint8_t *baseline; /* static: a failed assertion longjmps past any free() */
    card_snapshot(&baseline);
    g_stall.bd = g_ram.bd;
    g_stall.bd.write = stalling_write;
    uint32_t worst_ms = 0, cuts = 0;
    /* About 50 write calls per 750 ms at 16 kHz (one block per poll, and the patches'). */
    for (uint32_t stall_at = 1; stall_at <= 60; stall_at++) {
        for (uint32_t cut_at_patch = 1; cut_at_patch <= 2; cut_at_patch++) {
            rec_bd_ram_restore(&g_ram, baseline);
            rec_bd_ram_power_on(&g_ram);
            port_fake_set_card(&g_stall.bd, 0);
            host_reset();
            (void)rec_app_init();
            for (int i = 0; i < 10; i++) rec_app_poll();
            g_ramp = 0;
            start_or_stop();
            record_ms(rate, 500);
            g_stall = (stall_card_t){ .bd = g_stall.bd, .rate = rate, .stall_at = stall_at, .stall_ms = stall_ms, .cut_at_patch = cut_at_patch };
            record_ms(rate, 4000);
            if (!g_stall.cut) fail_msg("stall at write %u: no size patch %u after it", stall_at, cut_at_patch);
            rec_bd_ram_power_on(&g_ram);
            g_ram.cut_armed = false;
            g_stall.stall_at = UINT32_MAX;
            port_fake_mic_start_result(0);
            boot();
            entry_t e[2];
            assert_int_equal(list_all(e, 2), 1);
            assert_int_equal(e[0].stop_reason, RP_STOP_POWER_LOSS);
            check_recording(&e[0], 0);
            const uint32_t lost = g_stall.cut_samples > e[0].samples ? g_stall.cut_samples - e[0].samples : 0;
            const uint32_t lost_ms = (uint32_t)((uint64_t)lost * 1000u / rate);
            if (lost_ms > worst_ms) worst_ms = lost_ms;
            if (lost > rate)
                fail_msg("%u ms stall at write %u, cut at patch %u after it: %u ms lost of what was on the card", stall_ms, stall_at,
                         cut_at_patch, lost_ms);
            cuts++;
        }
    }
    print_message("%u Hz, %u ms stall: %u cuts, worst loss %u ms\n", rate, stall_ms, cuts, worst_ms);
    free(baseline);
    baseline = NULL;
}

static void test_stall_then_power_cut_loses_at_most_a_second(void **state)
{
    (void)state;
    stall_then_cut(16000, 1000);
}

static void test_card_full_stops_and_finalises(void **state)
{
    (void)state;
    rec_bd_ram_free(&g_ram);
    card_new(34); /* smallest FAT32 volume: about 33 MB */
    boot();
    hello();
    uint8_t s[RP_SETTINGS_REQ_SIZE] = { 0 };
    s[RP_SETTINGS_REQ_OFF_SET_MASK] = RP_SETTINGS_MASK_SAMPLE_RATE;
    rec_put_u32(s + RP_SETTINGS_REQ_OFF_SAMPLE_RATE, 48000);
    expect_ok(request(RP_CMD_SETTINGS, s, sizeof s));
    start_or_stop();
    record_ms(48000, 400000); /* more than the card holds */
    assert_false(port_fake_mic_running());
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_CARD_FULL);
    check_recording(&e[0], 0);
    resp_t info = hello();
    assert_int_equal(info.payload[RP_INFO_OFF_REC_STATE], RP_REC_STATE_IDLE);
}

static void test_low_battery_stops_and_finalises(void **state)
{
    (void)state;
    hello();
    start_or_stop();
    record_ms(16000, 2000);
    port_fake_set_battery_mv(3200);
    record_ms(16000, 1500);
    assert_false(port_fake_mic_running());
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_LOW_BATTERY);
    check_recording(&e[0], 0);
    start_or_stop(); /* refused while the battery is low */
    assert_false(port_fake_mic_running());
    resp_t info = hello();
    assert_true(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_LOW_BATTERY);
}

/* INFO's time left: the card's room at the sample rate (while recording: this recording's room,
 * going down as it records), and the battery's by the cell model (power.h). */
static void test_info_time_left(void **state)
{
    (void)state;
    resp_t info = hello();
    const uint64_t free_bytes = rec_get_u64(info.payload + RP_INFO_OFF_CARD_FREE);
    const uint32_t card_idle = rec_get_u32(info.payload + RP_INFO_OFF_CARD_SECONDS_LEFT);
    /* 16 kHz mono 16-bit: 32,000 bytes a second, less the reserve, header and tail */
    assert_true(card_idle <= free_bytes / 32000u);
    assert_true(card_idle + 10u >= (free_bytes - 256u * 1024u) / 32000u);
    assert_int_equal(rec_get_u32(info.payload + RP_INFO_OFF_BATTERY_SECONDS_LEFT), rec_battery_seconds_left(3900, 16000, true));

    start_or_stop();
    record_ms(16000, 2000);
    const uint32_t card_a = rec_get_u32(hello().payload + RP_INFO_OFF_CARD_SECONDS_LEFT);
    record_ms(16000, 3000);
    const uint32_t card_b = rec_get_u32(hello().payload + RP_INFO_OFF_CARD_SECONDS_LEFT);
    assert_true(card_a <= card_idle && card_a + 10u >= card_idle);
    assert_true(card_b + 2u <= card_a && card_b + 4u >= card_a);

    port_fake_set_battery_mv(0); /* a port that cannot measure its battery */
    port_fake_advance_ms(1100);
    rec_app_poll();
    assert_int_equal(rec_get_u32(hello().payload + RP_INFO_OFF_BATTERY_SECONDS_LEFT), RP_TIME_LEFT_UNKNOWN);
    start_or_stop();
    port_fake_set_card_present(0);
    port_fake_advance_ms(100);
    rec_app_poll();
    resp_t out = hello();
    assert_int_equal(out.payload[RP_INFO_OFF_CARD_STATE], RP_CARD_STATE_NONE);
    assert_int_equal(rec_get_u32(out.payload + RP_INFO_OFF_CARD_SECONDS_LEFT), RP_TIME_LEFT_UNKNOWN);
}

/* The cell model: full at 4.2 V, empty at the stop (3.3 V), linear between the table's points. */
static void test_battery_model(void **state)
{
    (void)state;
    assert_int_equal(rec_battery_charge_permille(4300), 1000);
    assert_int_equal(rec_battery_charge_permille(4200), 1000);
    assert_int_equal(rec_battery_charge_permille(3840), 500);
    assert_int_equal(rec_battery_charge_permille(3845), 525);
    assert_int_equal(rec_battery_charge_permille(REC_BATTERY_STOP_MV), 0);
    assert_int_equal(rec_battery_charge_permille(3000), 0);
    for (uint16_t mv = 3000; mv < 4300; mv++) assert_true(rec_battery_charge_permille(mv) <= rec_battery_charge_permille((uint16_t)(mv + 1)));
    /* 400 mAh x 0.85 at 22 mA (16 kHz, LED off): 15.45 h full (hardware/power-budget.md) */
    assert_int_equal(rec_battery_seconds_left(4200, 16000, false), 400u * 850u * 3600u / 22000u);
    /* The LED adds 2 mA; 48 kHz (80 MHz, three times the card writes) draws 42.2 mA: 8.06 h */
    assert_int_equal(rec_battery_seconds_left(4200, 16000, true), 400u * 850u * 3600u / 24000u);
    assert_int_equal(rec_battery_seconds_left(4200, 48000, false), 400u * 850u * 3600u / 42200u);
    assert_int_equal(rec_battery_seconds_left(4200, 8000, false), 400u * 850u * 3600u / 18000u);
    /* A rate outside the table counts as the highest (the shortest estimate) */
    assert_int_equal(rec_battery_recording_current_ua(44100, false), 42200u);
    assert_int_equal(rec_battery_seconds_left(3300, 16000, false), 0);
    assert_int_equal(rec_battery_seconds_left(0, 16000, false), RP_TIME_LEFT_UNKNOWN);
}

static void test_card_removed_while_recording_is_recovered_on_insert(void **state)
{
    (void)state;
    hello();
    start_or_stop();
    record_ms(16000, 2500);
    port_fake_set_card_present(0);
    g_ram.fail_reads = true; /* a card that is gone answers nothing */
    g_ram.cut_armed = true;
    g_ram.cut_budget = 0;
    record_ms(16000, 500);
    assert_false(port_fake_mic_running());
    resp_t info = hello();
    assert_int_equal(info.payload[RP_INFO_OFF_CARD_STATE], RP_CARD_STATE_NONE);
    assert_int_equal(info.payload[RP_INFO_OFF_REC_STATE], RP_REC_STATE_ERROR);
    /* Reinserted: the recording is closed with the reason it stopped. */
    g_ram.fail_reads = false;
    rec_bd_ram_power_on(&g_ram);
    g_ram.cut_armed = false;
    port_fake_set_card_present(1);
    rec_app_card_changed();
    for (int i = 0; i < 5; i++) rec_app_poll();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_CARD_REMOVED);
    assert_true(e[0].samples >= 16000u * 15u / 10u);
    check_recording(&e[0], 0);
}

/* ---- CARD_TEST and the button scheme ---------------------------------------------------------- */

#define CARD_TEST_SEED 0x5eedu

static resp_t card_test(uint32_t bytes)
{
    uint8_t q[RP_CARD_TEST_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_CARD_TEST_REQ_OFF_BYTES, bytes);
    rec_put_u32(q + RP_CARD_TEST_REQ_OFF_SEED, CARD_TEST_SEED);
    return request(RP_CMD_CARD_TEST, q, sizeof q);
}

/* Whether the scratch file is on the card, read from the image as another reader would. */
static bool scratch_on_card(void)
{
    rec_fat_t fs;
    assert_int_equal(rec_fat_mount(&fs, &g_ram.bd), REC_OK);
    rec_fat_dirent_t de;
    return rec_fat_stat(&fs, REC_CARD_TEST_PATH, &de) == REC_OK;
}

static uint64_t info_free(void)
{
    return rec_get_u64(hello().payload + RP_INFO_OFF_CARD_FREE);
}

static void test_card_test_measures_and_leaves_no_trace(void **state)
{
    (void)state;
    port_fake_set_auto_advance(1); /* every uptime read is a ms later: times are not 0 */
    const uint64_t free_before = info_free();
    const uint64_t written_before = g_ram.blocks_written;
    resp_t r = card_test(1u << 20);
    expect_ok(r);
    assert_int_equal(r.length, RP_CARD_TEST_SIZE);
    rp_card_test_t t;
    rp_card_test_unpack(r.payload, &t);
    assert_int_equal(t.tested_bytes, 1u << 20);
    assert_int_equal(t.free_bytes, free_before);
    assert_true(t.capacity_bytes > 60ull << 20);
    assert_int_equal(t.read_back_matched, 1);
    assert_int_equal(t.first_mismatch, REC_CARD_TEST_NO_MISMATCH);
    assert_int_equal(t.file_system, RP_CARD_FS_OK);
    assert_true(t.write_ms > 0 && t.read_ms > 0);
    assert_int_equal(t.write_bytes_per_second, (uint32_t)((uint64_t)t.tested_bytes * 1000u / t.write_ms));
    assert_int_equal(t.read_bytes_per_second, (uint32_t)((uint64_t)t.tested_bytes * 1000u / t.read_ms));
    /* Every block was written to the card, then the file went: the space is free again. */
    assert_true(g_ram.blocks_written - written_before >= 2048u);
    assert_false(scratch_on_card());
    assert_int_equal(info_free(), free_before);
    port_fake_set_auto_advance(0);

    /* Sizes: rounded up to whole blocks; 0 is the default; above the cap is refused. */
    r = card_test(1000);
    expect_ok(r);
    assert_int_equal(rec_get_u32(r.payload + RP_CARD_TEST_OFF_TESTED_BYTES), 1024);
    r = card_test(0);
    expect_ok(r);
    assert_int_equal(rec_get_u32(r.payload + RP_CARD_TEST_OFF_TESTED_BYTES), RP_CARD_CARD_TEST_DEFAULT_BYTES);
    r = card_test(RP_CARD_CARD_TEST_MAX_BYTES + 1u);
    expect_error(r, RP_ERR_BAD_ARGUMENT);
    assert_int_equal(rec_get_u32(r.payload + RP_ERROR_OFF_DETAIL), RP_CARD_CARD_TEST_MAX_BYTES);

    /* Never past the reserve: a 64 MiB card cannot test 64 MiB; the error says what it can. */
    r = card_test(RP_CARD_CARD_TEST_MAX_BYTES);
    expect_error(r, RP_ERR_CARD_FULL);
    const uint32_t can = rec_get_u32(r.payload + RP_ERROR_OFF_DETAIL);
    assert_true(can > 32u << 20 && can < free_before - RP_CARD_CARD_TEST_RESERVE_BYTES + 1u);
    expect_ok(card_test(can));
    expect_error(card_test(can + 64u * 1024u), RP_ERR_CARD_FULL);

    /* Never while recording, never without a card. */
    press();
    record_ms(16000, 300);
    expect_error(card_test(0), RP_ERR_BUSY);
    long_hold();
    expect_ok(card_test(65536));
    port_fake_set_card_present(0);
    rec_app_card_changed();
    rec_app_poll();
    expect_error(card_test(0), RP_ERR_NO_CARD);
}

/* A card that gives back one wrong byte in the test's first block. */
static rec_bd_t g_flaky;
static int flaky_read(void *ctx, uint32_t lba, void *buf, uint32_t count)
{
    (void)ctx;
    int err = rec_bd_read(&g_ram.bd, lba, buf, count);
    uint8_t *b = buf;
    if (!err && rec_get_u32(b) == rec_card_test_pattern(CARD_TEST_SEED, 0, 0)) b[6] ^= 0x10u;
    return err;
}

static void test_card_test_finds_a_card_that_changes_bytes(void **state)
{
    (void)state;
    g_flaky = g_ram.bd;
    g_flaky.read = flaky_read;
    port_fake_set_card(&g_flaky, 0);
    host_reset();
    (void)rec_app_init();
    for (int i = 0; i < 10; i++) rec_app_poll();
    resp_t r = card_test(1u << 20);
    expect_ok(r);
    assert_int_equal(r.payload[RP_CARD_TEST_OFF_READ_BACK_MATCHED], 0);
    assert_int_equal(rec_get_u32(r.payload + RP_CARD_TEST_OFF_FIRST_MISMATCH), 6);
    assert_false(scratch_on_card());
}

/* A power cut while the test writes leaves the scratch file; the next mount removes it. A cut
 * while its file is created leaves the FAT to repair: the next test says "repaired". */
static void test_card_test_cut_by_a_power_loss(void **state)
{
    (void)state;
    const uint64_t free_before = info_free();
    rec_bd_ram_cut_after(&g_ram, 100, false);
    expect_error(card_test(1u << 20), RP_ERR_CARD_ERROR);
    assert_true(scratch_on_card());
    rec_bd_ram_power_on(&g_ram);
    g_ram.cut_armed = false;
    boot();
    assert_false(scratch_on_card());
    assert_int_equal(info_free(), free_before);
    resp_t r = card_test(65536);
    expect_ok(r);
    assert_int_equal(r.payload[RP_CARD_TEST_OFF_FILE_SYSTEM], RP_CARD_FS_OK);

    rec_bd_ram_cut_after(&g_ram, 2, false); /* the update marker lands dirty, the FAT does not */
    expect_error(card_test(1u << 20), RP_ERR_CARD_ERROR);
    rec_bd_ram_power_on(&g_ram);
    g_ram.cut_armed = false;
    boot();
    assert_false(scratch_on_card());
    r = card_test(65536);
    expect_ok(r);
    assert_int_equal(r.payload[RP_CARD_TEST_OFF_FILE_SYSTEM], RP_CARD_FS_REPAIRED);
    assert_int_equal(info_free(), free_before);
}

static void set_button_scheme(uint8_t scheme, uint16_t want_error)
{
    uint8_t s[RP_SETTINGS_REQ_SIZE] = { 0 };
    s[RP_SETTINGS_REQ_OFF_SET_MASK] = RP_SETTINGS_MASK_BUTTON_SCHEME;
    s[RP_SETTINGS_REQ_OFF_BUTTON_SCHEME] = scheme;
    resp_t r = request(RP_CMD_SETTINGS, s, sizeof s);
    if (want_error) {
        expect_error(r, want_error);
        return;
    }
    expect_ok(r);
    assert_int_equal(r.payload[RP_SETTINGS_OFF_BUTTON_SCHEME], scheme);
}

static void test_button_scheme_no_markers(void **state)
{
    (void)state;
    assert_int_equal(hello().payload[RP_INFO_OFF_BUTTON_SCHEME], RP_BUTTON_SCHEME_STANDARD);
    set_button_scheme(RP_BUTTON_SCHEME_NO_MARKERS, 0);
    set_button_scheme(2, RP_ERR_BAD_ARGUMENT);
    /* Kept across a reboot, and reported in INFO. */
    boot();
    assert_int_equal(hello().payload[RP_INFO_OFF_BUTTON_SCHEME], RP_BUTTON_SCHEME_NO_MARKERS);

    /* A press starts; presses while recording do nothing (no marker, no answer, no stop); a hold
     * still asks; a long hold stops. */
    press();
    assert_true(port_fake_mic_running());
    for (int i = 0; i < 3; i++) {
        port_fake_button_press();
        answer_t a = watch_answer(500);
        assert_int_equal(a.blinks, 0);
    }
    assert_int_equal(rec_device()->cur.marker_count, 0);
    assert_true(port_fake_mic_running());
    port_fake_button_hold();
    assert_int_equal(watch_answer(1000).blinks, 1);
    /* MARK from the host still works: the scheme is about the button. */
    expect_ok(request(RP_CMD_MARK, NULL, 0));
    long_hold();
    assert_false(port_fake_mic_running());
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    uint8_t *wav = read_file(e[0].number, e[0].size);
    uint32_t offsets[4];
    assert_int_equal(wav_markers(wav, e[0].size, offsets, 4), 1);
    free(wav);

    /* Back to standard: a press while recording is a marker again. */
    set_button_scheme(RP_BUTTON_SCHEME_STANDARD, 0);
    press();
    record_ms(16000, 200);
    port_fake_button_press();
    rec_app_poll();
    assert_int_equal(rec_device()->cur.marker_count, 1);
    long_hold();
}

/* Settings blobs from before schemes (zero where the scheme is) read as standard; a scheme this
 * firmware does not know reads as standard too, keeping the rest of the blob. */
static void test_settings_blob_button_scheme(void **state)
{
    (void)state;
    rec_settings_t s;
    rec_settings_defaults(&s);
    s.device_id = 42;
    s.button_scheme = RP_BUTTON_SCHEME_NO_MARKERS;
    uint8_t blob[REC_SETTINGS_BLOB_SIZE];
    rec_settings_encode(&s, blob);
    assert_int_equal(blob[RP_SETTINGS_BLOB_OFF_BUTTON_SCHEME], RP_BUTTON_SCHEME_NO_MARKERS);
    rec_settings_t back;
    assert_int_equal(rec_settings_decode(blob, &back), REC_OK);
    assert_int_equal(back.button_scheme, RP_BUTTON_SCHEME_NO_MARKERS);
    s.button_scheme = RP_BUTTON_SCHEME_STANDARD;
    rec_settings_encode(&s, blob); /* the bytes an older firmware wrote: reserved, zero */
    assert_int_equal(blob[RP_SETTINGS_BLOB_OFF_BUTTON_SCHEME], 0);
    assert_int_equal(rec_settings_decode(blob, &back), REC_OK);
    assert_int_equal(back.button_scheme, RP_BUTTON_SCHEME_STANDARD);
    blob[RP_SETTINGS_BLOB_OFF_BUTTON_SCHEME] = 9;
    rec_put_u32(blob + RP_SETTINGS_BLOB_OFF_CRC32, rec_crc32(0, blob, RP_SETTINGS_BLOB_OFF_CRC32));
    assert_int_equal(rec_settings_decode(blob, &back), REC_OK);
    assert_int_equal(back.button_scheme, RP_BUTTON_SCHEME_STANDARD);
    assert_int_equal(back.device_id, 42);
}

/* Cut the power after N written blocks for every N over a recording's life (start, audio,
 * patches, stop, journal), then boot again: the volume mounts, passes fsck.fat -n, the
 * recording is finished (or recovered) and its data is the unbroken ramp that was recorded. */
static void power_cut_campaign(bool with_nvm)
{
    rec_tool_require("fsck.fat", "dosfstools");
    rec_bd_ram_free(&g_ram);
    card_new(34);
    static uint8_t nvm_baseline[NVM_FAKE_BYTES];
    nvm_fake_enable(with_nvm);
    boot();
    hello();
    memcpy(nvm_baseline, nvm_fake_image(), sizeof nvm_baseline);
    static uint8_t *baseline; /* static: a failed assertion longjmps past any free() */
    card_snapshot(&baseline);

    /* Measure how many blocks a whole recording writes. */
    g_ram.blocks_written = 0;
    g_ram.writes = 0;
    start_or_stop();
    record_ms(16000, 2300);
    start_or_stop();
    uint64_t total = g_ram.blocks_written;
    uint64_t calls = g_ram.writes;
    assert_true(total > 100);

    char img[256];
    rec_tool_tmp(img, sizeof img, "campaign.img");
    char out[4096];
    unsigned cuts = 0, fsck_runs = 0, found = 0, spent = 0;
    /* Every N: start (settings, marker, preallocation), audio and size patches, stop (evid,
     * header, trim, journal). fsck.fat runs on a stride of them and on every cut near the end. */
    for (uint64_t cut = 0; cut <= total; cut++) {
        rec_bd_ram_restore(&g_ram, baseline);
        rec_bd_ram_power_on(&g_ram);
        port_fake_reset();
        port_fake_set_unique_id(true, 0x0123456789ABCDEFull);
        nvm_fake_enable(with_nvm);
        memcpy(nvm_fake_image(), nvm_baseline, sizeof nvm_baseline);
        rec_bd_ram_cut_after(&g_ram, cut, cut % 2 == 1);
        boot();
        g_ramp = 0;
        start_or_stop();
        record_ms(16000, 2300);
        start_or_stop();
        /* Power back: boot on what survived. */
        rec_bd_ram_power_on(&g_ram);
        g_ram.cut_armed = false;
        boot();
        resp_t info = hello();
        if (info.payload[RP_INFO_OFF_CARD_STATE] != RP_CARD_STATE_OK)
            fail_msg("cut after %llu blocks: card state %u after reboot: %s (last log: %s)", (unsigned long long)cut,
                     info.payload[RP_INFO_OFF_CARD_STATE], rec_err_name(rec_device()->last_error), port_fake_last_log());
        entry_t e[2];
        uint32_t n = list_all(e, 2);
        assert_true(n <= 1);
        uint8_t j[2 * RP_JOURNAL_RECORD_SIZE];
        uint32_t records = journal_records(j, 2);
        if (n == 1) {
            assert_int_equal(e[0].number, 1);
            check_recording(&e[0], 0);
            assert_int_equal(records, 1);
            uint16_t kind = rec_get_u16(j + RP_JOURNAL_RECORD_OFF_KIND);
            /* A cut between the evid chunk and the record: found, never silently recovered. */
            assert_true(kind == RP_JOURNAL_KIND_RECORDING || kind == RP_JOURNAL_KIND_FOUND_UNJOURNALED);
            if (kind == RP_JOURNAL_KIND_FOUND_UNJOURNALED) found++;
            assert_memory_equal(j + RP_JOURNAL_RECORD_OFF_SHA256, e[0].sha, 32);
            if (e[0].stop_reason == RP_STOP_POWER_LOSS) assert_true(e[0].samples + 16000u + 256u >= 16000u * 23u / 10u || cut < total);
        } else if (with_nvm && records == 1) {
            /* Number 1 was spent in the device's memory before the cut stopped its file. */
            assert_int_equal(rec_get_u16(j + RP_JOURNAL_RECORD_OFF_KIND), RP_JOURNAL_KIND_NUMBER_SPENT);
            assert_int_equal(rec_get_u32(j + RP_JOURNAL_RECORD_OFF_NUMBER), 1u);
            spent++;
        } else {
            assert_int_equal(records, 0);
        }
        if (with_nvm) {
            /* The device's count agrees with the card whatever the cut: never TAIL_LOST. */
            identity_t v = identity(0x5C);
            assert_int_equal(v.count, records);
            assert_int_equal(v.epoch, 1u);
        }
        if (!with_nvm && (cut % 9 == 0 || cut < 40 || cut + 40 >= total)) {
            assert_int_equal(rec_bd_ram_save_file(&g_ram, img), 0);
            int st = rec_tool_fsck(img, false, out, sizeof out);
            if (st != 0) fail_msg("fsck.fat after a cut at block %llu:\n%s", (unsigned long long)cut, out);
            fsck_runs++;
        }
        cuts++;
    }
    print_message("power cuts%s: %u, fsck runs: %u, blocks per recording: %llu in %llu write calls, found unjournaled %u, "
                  "numbers spent %u\n", with_nvm ? " (device counter)" : "", cuts, fsck_runs, (unsigned long long)total,
                  (unsigned long long)calls, found, spent);
    free(baseline);
    baseline = NULL;
}

static void test_power_cut_campaign(void **state)
{
    (void)state;
    power_cut_campaign(false);
}

static void test_power_cut_campaign_with_the_device_counter(void **state)
{
    (void)state;
    power_cut_campaign(true);
}

/* ---- signed recordings (issue 12): checkpoints, sealing, recovery -------------------------- */

static const uint8_t k_seed[32] = { 0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
                                    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60 };

/* Boots with the device key loaded before the card is mounted, as the device loads it from its
 * own flash at boot: the test port has none, so the key is put in RAM and the card re-attached. */
static void boot_signed(void)
{
    boot();
    rec_device_t *d = rec_device();
    assert_int_equal(rec_identity_from_seed(&d->identity, k_seed), REC_OK);
    rec_device_detach_card(d);
    assert_int_equal(rec_device_attach_card(d), REC_OK);
    d->rec_state = RP_REC_STATE_IDLE;
}

/* Polls until the sealer has nothing left to do (bounded); false when it did not get there. */
static bool seal_try(void)
{
    rec_device_t *d = rec_device();
    for (int i = 0; i < 20000; i++) {
        rec_app_poll();
        if (d->seal.done && !d->seal.working) return true;
    }
    return false;
}

static void seal_all(void)
{
    if (!seal_try()) fail_msg("sealing did not finish");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static void iso(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    sprintf(out + n, ".%03dZ", (int)(ms % 1000));
}

static size_t b64_decode(const char *in, size_t len, uint8_t *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len && in[i] != '='; i++) {
        const char *p = strchr(abc, in[i]);
        assert_non_null(p);
        acc = (acc << 6) | (uint32_t)(p - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

/* A file of a recording straight from the card (no protocol): malloc'ed, NULL when absent. */
static uint8_t *card_part(uint32_t number, const char *ext, uint32_t *len)
{
    char path[24];
    assert_int_equal(rec_ckpt_path(number, ext, path), REC_OK);
    rec_fat_t *fs = &rec_device()->store.fs;
    rec_fat_file_t f;
    *len = 0;
    if (rec_fat_open(fs, &f, path, REC_FAT_READ) != REC_OK) return NULL;
    uint8_t *buf = malloc(f.size + 1u);
    assert_non_null(buf);
    assert_int_equal(rec_fat_read(fs, &f, buf, f.size), (int32_t)f.size);
    *len = f.size;
    buf[f.size] = 0;
    (void)rec_fat_close(fs, &f);
    return buf;
}

typedef struct {
    uint8_t *part[5];
    uint32_t len[5];
    uint8_t *age; /* an encrypted recording: the .AGE as on the card (part[RP_PART_AUDIO]: its plaintext) */
    uint32_t age_len;
} files_t;

static void files_free(files_t *f)
{
    for (int i = 0; i < 5; i++) free(f->part[i]);
    free(f->age);
    memset(f, 0, sizeof *f);
}

static void card_files(uint32_t number, files_t *f)
{
    static const char *ext[5] = { "WAV", "SHA", "SIG", "MSG", "CKP" };
    memset(f, 0, sizeof *f);
    for (int i = 0; i < 5; i++) f->part[i] = card_part(number, ext[i], &f->len[i]);
}

/* check_recording on the card's bytes (no protocol: fast enough for a campaign). */
static void check_card_recording(const entry_t *e, const files_t *f)
{
    const uint8_t *wav = f->part[RP_PART_AUDIO];
    assert_int_equal(f->len[RP_PART_AUDIO], e->size);
    uint32_t data = rec_get_u32(wav + 1020);
    assert_int_equal(data, e->samples * 2u);
    assert_int_equal(e->size, 1024u + data + 8u + RP_EVIDENCE_CHUNK_SIZE);
    for (uint32_t i = 0; i < e->samples; i++)
        if (rec_get_u16(wav + 1024 + 2 * i) != (uint16_t)i) fail_msg("sample %u of recording %u is not the ramp", i, e->number);
    uint8_t sha[32];
    rec_sha256(wav + 1024, data, sha);
    assert_memory_equal(sha, e->sha, 32);
    assert_memory_equal(wav + 1024 + data + 8 + RP_EVIDENCE_CHUNK_OFF_SHA256, sha, 32);
}

typedef struct {
    uint32_t slots, vouched, samples;
    bool recovered;
    uint32_t mid_samples[8];
} ckp_facts_t;

/* Parses and checks every slot of a CKP against the WAV: signatures (rec_ed25519_verify), slot
 * formats, h of each checkpoint = SHA-256 of the audio prefix it names, the stop slot's h = the
 * audio hash and f = SHA-256(header || evid chunk). */
static ckp_facts_t check_checkpoints(uint32_t number, const files_t *f)
{
    const rec_identity_t *id = &rec_device()->identity;
    const uint8_t *wav = f->part[RP_PART_AUDIO], *ckp = f->part[RP_PART_CHECKPOINTS];
    uint32_t len = f->len[RP_PART_CHECKPOINTS];
    ckp_facts_t facts;
    memset(&facts, 0, sizeof facts);
    assert_int_equal(len % REC_CKPT_SLOT_SIZE, 0);
    facts.slots = len / REC_CKPT_SLOT_SIZE;
    assert_true(facts.slots >= 2);
    uint32_t data = rec_get_u32(wav + 1020);
    uint8_t session[16];
    char want[512], keyhex[17];
    hex(id->key_id, 8, keyhex);
    for (uint32_t i = 0; i < facts.slots; i++) {
        const uint8_t *slot = ckp + i * REC_CKPT_SLOT_SIZE;
        assert_int_equal(rec_ed25519_verify(slot + 448, slot, 448, id->key.public_key), 1);
        assert_int_equal(slot[447], '\n');
        rec_ckpt_t c;
        assert_int_equal(rec_ckpt_parse(slot, id, &c), REC_OK);
        assert_int_equal(c.number, number);
        assert_memory_equal(c.key_id, id->key_id, 8);
        size_t text = 447;
        while (slot[text - 1] == ' ') text--;
        if (i == 0) {
            assert_int_equal(c.kind, REC_CKPT_START);
            snprintf(want, sizeof want, "ER1 start v1 k=%s r=%05u rate=%u t0=", keyhex, number, rec_get_u32(wav + 24));
            assert_memory_equal(slot, want, strlen(want));
            rec_ckpt_session(slot, session);
            continue;
        }
        assert_int_equal(c.index, i);
        assert_memory_equal(c.session, session, 16);
        uint8_t h[32];
        char hh[65], sh[33];
        hex(session, 16, sh);
        assert_true(c.samples * 2u <= data);
        rec_sha256(wav + 1024, c.samples * 2u, h);
        hex(h, 32, hh);
        if (i + 1 < facts.slots) {
            assert_int_equal(c.kind, REC_CKPT_MID);
            assert_memory_equal(c.h, h, 32);
            if (i - 1 < 8) facts.mid_samples[i - 1] = c.samples;
            snprintf(want, sizeof want, "ER1 ckpt v1 k=%s r=%05u i=%04u n=%010u u=", keyhex, number, i, c.samples);
            assert_memory_equal(slot, want, strlen(want));
            snprintf(want, sizeof want, " s=%s h=%s", sh, hh);
            assert_memory_equal(slot + text - strlen(want), want, strlen(want));
            continue;
        }
        /* the stop slot */
        assert_int_equal(c.kind, REC_CKPT_STOP);
        assert_int_equal(c.samples * 2u, data);
        assert_memory_equal(c.h, wav + 1024 + data + 8 + RP_EVIDENCE_CHUNK_OFF_SHA256, 32);
        assert_memory_equal(c.h, h, 32);
        uint8_t fh[32];
        rec_sha256_t ctx;
        rec_sha256_init(&ctx);
        rec_sha256_update(&ctx, wav, 1024);
        rec_sha256_update(&ctx, wav + 1024 + data, 8 + RP_EVIDENCE_CHUNK_SIZE);
        rec_sha256_final(&ctx, fh);
        char fx[65];
        hex(fh, 32, fx);
        snprintf(want, sizeof want, "ER1 stop v1 k=%s r=%05u i=%04u n=%010u why=", keyhex, number, i, c.samples);
        assert_memory_equal(slot, want, strlen(want));
        snprintf(want, sizeof want, " vouched=%u s=%s h=%s f=%s", c.vouched, sh, hh, fx);
        assert_memory_equal(slot + text - strlen(want), want, strlen(want));
        assert_true(c.vouched <= c.samples);
        facts.vouched = c.vouched;
        facts.samples = c.samples;
        facts.recovered = c.recovered;
        if (!c.recovered) assert_int_equal(c.vouched, c.samples);
    }
    return facts;
}

/* Checks SHA, SIG and MSG of a sealed recording byte for byte against what they must say. */
static void check_statement_files(uint32_t number, const files_t *f, const ckp_facts_t *facts)
{
    rec_device_t *d = rec_device();
    const rec_identity_t *id = &d->identity;
    char keyhex[17], wavhex[65], ckphex[65];
    uint8_t h[32];
    hex(id->key_id, 8, keyhex);
    rec_sha256(f->part[RP_PART_AUDIO], f->len[RP_PART_AUDIO], h);
    hex(h, 32, wavhex);
    rec_sha256(f->part[RP_PART_CHECKPOINTS], f->len[RP_PART_CHECKPOINTS], h);
    hex(h, 32, ckphex);
    char statement[512], agehex[65] = "", age_kv[80] = "";
    snprintf(statement, sizeof statement, "SHA256 (REC%05u.WAV) = %s\nSHA256 (REC%05u.CKP) = %s\n", number, wavhex, number, ckphex);
    if (f->age) {
        rec_sha256(f->age, f->age_len, h);
        hex(h, 32, agehex);
        snprintf(statement + strlen(statement), sizeof statement - strlen(statement), "SHA256 (REC%05u.AGE) = %s\n", number, agehex);
        snprintf(age_kv, sizeof age_kv, " age=%s", agehex);
    }
    assert_int_equal(f->len[RP_PART_STATEMENT], strlen(statement));
    assert_memory_equal(f->part[RP_PART_STATEMENT], statement, strlen(statement));

    /* SIG: untrusted comment, base64("Ed" || key id || sig1), the statement */
    char untrusted[128];
    snprintf(untrusted, sizeof untrusted, "untrusted comment: ER-1 recorder %s recording %u\n", keyhex, number);
    const char *sig = (const char *)f->part[RP_PART_SIGNIFY];
    assert_memory_equal(sig, untrusted, strlen(untrusted));
    const char *line2 = sig + strlen(untrusted);
    const char *nl = strchr(line2, '\n');
    assert_non_null(nl);
    uint8_t blob[80];
    assert_int_equal(b64_decode(line2, (size_t)(nl - line2), blob), 74);
    assert_memory_equal(blob, "Ed", 2);
    assert_memory_equal(blob + 2, id->key_id, 8);
    assert_int_equal(rec_ed25519_verify(blob + 10, statement, strlen(statement), id->key.public_key), 1);
    assert_string_equal(nl + 1, statement);

    /* MSG: the same two lines, the trusted comment, base64(sig2) over sig1 || comment */
    const char *msg = (const char *)f->part[RP_PART_MINISIGN];
    size_t head = (size_t)(nl + 1 - sig);
    assert_memory_equal(msg, sig, head);
    const char *tc_line = msg + head;
    assert_memory_equal(tc_line, "trusted comment: ", 17);
    const char *tc = tc_line + 17;
    const char *tc_end = strchr(tc, '\n');
    assert_non_null(tc_end);
    size_t tc_len = (size_t)(tc_end - tc);
    uint8_t sig2[80];
    const char *l4 = tc_end + 1, *l4_end = strchr(l4, '\n');
    assert_non_null(l4_end);
    assert_int_equal(l4_end + 1 - msg, (long)f->len[RP_PART_MINISIGN]);
    assert_int_equal(b64_decode(l4, (size_t)(l4_end - l4), sig2), 64);
    uint8_t *signed_part = malloc(64 + tc_len);
    memcpy(signed_part, blob + 10, 64);
    memcpy(signed_part + 64, tc, tc_len);
    assert_int_equal(rec_ed25519_verify(sig2, signed_part, 64 + tc_len, id->key.public_key), 1);
    free(signed_part);

    /* The trusted comment, field by field, from the journal record it names. */
    rec_journal_record_t jr;
    assert_int_equal(rec_journal_find_number(&d->store.journal, number, &jr), REC_OK);
    uint8_t raw[128], jrec[32];
    assert_int_equal(rec_journal_read_raw(&d->store.journal, jr.index, raw), REC_OK);
    rec_sha256(raw, 128, jrec);
    char jrechex[65], audiohex[65], start[32] = "-", stop[32] = "-", uid[17];
    hex(jrec, 32, jrechex);
    hex(jr.sha256, 32, audiohex);
    hex(id->unique_id, 8, uid);
    bool clock = jr.flags & RP_RECORD_FLAG_CLOCK_SET;
    if (clock) iso(jr.start_unix_ms, start);
    if (clock && jr.stop_unix_ms) iso(jr.stop_unix_ms, stop);
    static const char *reasons[] = { "none", "button", "host", "card-full", "low-battery", "power-loss", "card-error", "card-removed", "max-length" };
    char want[1024];
    snprintf(want, sizeof want,
             "er1 v=1 dev=%s uid=%s rec=%u epoch=1 jidx=%u jrec=%s start=%s stop=%s clock=%s rate=%u samples=%u vouched=%u "
             "ckpts=%u reason=%s overruns=%u recovered=%s audio=%s wav=%s%s ckp=%s fw=%d.%d.%d",
             keyhex, id->has_unique_id ? uid : "-", number, jr.index, jrechex, start, stop, clock ? "set" : "unset", jr.sample_rate,
             jr.sample_count, facts->vouched, facts->slots, reasons[jr.stop_reason], jr.overruns,
             (jr.flags & RP_RECORD_FLAG_RECOVERED) ? "yes" : "no", audiohex, wavhex, age_kv, ckphex, REC_FW_MAJOR, REC_FW_MINOR,
             REC_FW_PATCH);
    assert_int_equal(tc_len, strlen(want));
    assert_memory_equal(tc, want, tc_len);
}

/* Writes a recording's files and the device's public key as signify and minisign key files into
 * a fresh folder, and runs the stock tools on them. */
static void check_with_stock_tools(uint32_t number, const files_t *f)
{
    rec_tool_require("signify-openbsd", "signify-openbsd");
    rec_tool_require("minisign", "minisign");
    const rec_identity_t *id = &rec_device()->identity;
    char dir[256], path[512], out[4096];
    rec_tool_tmp(dir, sizeof dir, "sealed");
    assert_int_equal(rec_tool_run(NULL, 0, "rm -rf '%s' && mkdir -p '%s'", dir, dir), 0);
    static const char *ext[5] = { "WAV", "SHA", "SIG", "MSG", "CKP" };
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/REC%05u.%s", dir, number, ext[i]);
        assert_int_equal(rec_tool_write_file(path, f->part[i], f->len[i]), 0);
    }
    uint8_t blob[42];
    memcpy(blob, "Ed", 2);
    memcpy(blob + 2, id->key_id, 8);
    memcpy(blob + 10, id->key.public_key, 32);
    char b64[64] = { 0 };
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0, o = 0; i < sizeof blob; i += 3) {
        uint32_t v = (uint32_t)blob[i] << 16 | (i + 1 < sizeof blob ? (uint32_t)blob[i + 1] << 8 : 0) | (i + 2 < sizeof blob ? blob[i + 2] : 0);
        b64[o++] = abc[v >> 18 & 63];
        b64[o++] = abc[v >> 12 & 63];
        b64[o++] = i + 1 < sizeof blob ? abc[v >> 6 & 63] : '=';
        b64[o++] = i + 2 < sizeof blob ? abc[v & 63] : '=';
    }
    char key[128];
    snprintf(key, sizeof key, "untrusted comment: ER-1 recorder public key\n%s\n", b64);
    snprintf(path, sizeof path, "%s/recorder.pub", dir);
    assert_int_equal(rec_tool_write_file(path, key, strlen(key)), 0);
    int st = rec_tool_run(out, sizeof out, "cd '%s' && timeout 60 signify-openbsd -C -p recorder.pub -x REC%05u.SIG", dir, number);
    if (st != 0) fail_msg("signify-openbsd -C failed (%d):\n%s", st, out);
    assert_non_null(strstr(out, "Signature Verified"));
    st = rec_tool_run(out, sizeof out, "cd '%s' && timeout 60 minisign -Vm REC%05u.SHA -x REC%05u.MSG -p recorder.pub", dir, number, number);
    if (st != 0) fail_msg("minisign -Vm failed (%d):\n%s", st, out);
    assert_non_null(strstr(out, "Trusted comment: er1 v=1"));
    /* A changed WAV fails signify's check of the listed files. */
    snprintf(path, sizeof path, "%s/REC%05u.WAV", dir, number);
    f->part[RP_PART_AUDIO][2000] ^= 1;
    assert_int_equal(rec_tool_write_file(path, f->part[RP_PART_AUDIO], f->len[RP_PART_AUDIO]), 0);
    f->part[RP_PART_AUDIO][2000] ^= 1;
    assert_int_not_equal(rec_tool_run(out, sizeof out, "cd '%s' && timeout 60 signify-openbsd -C -p recorder.pub -x REC%05u.SIG", dir, number), 0);
}

static void test_signed_recording_checkpoints_and_statement(void **state)
{
    (void)state;
    boot_signed();
    hello();
    uint8_t t[RP_SET_TIME_REQ_SIZE];
    rec_put_i64(t, 1796551200000LL); /* 2026-12-06T10:00:00Z */
    expect_ok(request(RP_CMD_SET_TIME, t, sizeof t));
    start_or_stop();
    record_ms(16000, 130500);
    /* While recording: checkpoints at 60 s and 120 s are on the card already. */
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].part_size[RP_PART_CHECKPOINTS], 3u * 512u);
    assert_int_equal(e[0].flags & (RP_RECORD_FLAG_SEALED | RP_RECORD_FLAG_UNSIGNED), 0);
    start_or_stop();
    assert_int_equal(list_all(e, 2), 1);
    assert_true(e[0].flags & RP_RECORD_FLAG_SEALING);
    seal_all();
    assert_int_equal(list_all(e, 2), 1);
    assert_true(e[0].flags & RP_RECORD_FLAG_SEALED);
    assert_false(e[0].flags & (RP_RECORD_FLAG_SEALING | RP_RECORD_FLAG_UNSIGNED));
    check_recording(&e[0], 0);

    /* Every part over the protocol equals the card's file, and HASH of a part is its SHA-256. */
    files_t f;
    card_files(1, &f);
    for (uint8_t p = 0; p < 5; p++) {
        assert_int_equal(e[0].part_size[p], f.len[p]);
        uint8_t *got = read_part(1, p, f.len[p]);
        assert_memory_equal(got, f.part[p], f.len[p]);
        free(got);
        uint8_t q[RP_HASH_REQ_SIZE] = { 0 };
        rec_put_u32(q + RP_HASH_REQ_OFF_NUMBER, 1);
        q[RP_HASH_REQ_OFF_ALGORITHM] = RP_HASH_SHA256;
        q[RP_HASH_REQ_OFF_PART] = p;
        rec_put_u32(q + RP_HASH_REQ_OFF_LENGTH, f.len[p]);
        resp_t r = request(RP_CMD_HASH, q, sizeof q);
        expect_ok(r);
        uint8_t sha[32];
        rec_sha256(f.part[p], f.len[p], sha);
        assert_memory_equal(r.payload + RP_HASH_OFF_DIGEST, sha, 32);
    }
    uint8_t rq[RP_READ_REQ_SIZE] = { 0 };
    rec_put_u32(rq + RP_READ_REQ_OFF_NUMBER, 1);
    rec_put_u32(rq + RP_READ_REQ_OFF_LENGTH, 16);
    rq[RP_READ_REQ_OFF_PART] = 5;
    expect_error(request(RP_CMD_READ, rq, sizeof rq), RP_ERR_BAD_ARGUMENT);

    ckp_facts_t facts = check_checkpoints(1, &f);
    assert_int_equal(facts.slots, 4);
    assert_int_equal(facts.mid_samples[0], 960000u);
    assert_int_equal(facts.mid_samples[1], 1920000u);
    assert_false(facts.recovered);
    char want[160];
    snprintf(want, sizeof want, "t0=2026-12-06T10:00:00.");
    assert_non_null(memmem(f.part[RP_PART_CHECKPOINTS], 447, want, strlen(want)));
    assert_non_null(memmem(f.part[RP_PART_CHECKPOINTS] + 3 * 512, 447, "why=button rec=0", 16));
    /* pj: the journal's head when the recording started, the record just before its own (the
     * clock set by SET_TIME). */
    uint8_t records[8 * RP_JOURNAL_RECORD_SIZE];
    uint32_t n = journal_records(records, 8);
    uint32_t own = n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *rec = records + i * RP_JOURNAL_RECORD_SIZE;
        if (rec_get_u16(rec + RP_JOURNAL_RECORD_OFF_KIND) == RP_JOURNAL_KIND_RECORDING && rec_get_u32(rec + RP_JOURNAL_RECORD_OFF_NUMBER) == 1) own = i;
    }
    assert_true(own > 0 && own < n);
    uint8_t head[32];
    rec_sha256(records + (own - 1) * RP_JOURNAL_RECORD_SIZE, RP_JOURNAL_RECORD_SIZE, head);
    char pj[4 + 64 + 1] = " pj=";
    for (int i = 0; i < 32; i++) snprintf(pj + 4 + 2 * i, 3, "%02x", head[i]);
    assert_non_null(memmem(f.part[RP_PART_CHECKPOINTS], 447, pj, 68));
    check_statement_files(1, &f, &facts);
    check_with_stock_tools(1, &f);

    /* Sealing again (after a reboot, as after a cut) rewrites nothing differently. */
    boot_signed();
    files_t again;
    card_files(1, &again);
    for (int p = 0; p < 5; p++) {
        assert_int_equal(again.len[p], f.len[p]);
        assert_memory_equal(again.part[p], f.part[p], f.len[p]);
    }
    files_free(&again);

    /* DELETE takes the signed files with the WAV. */
    hello();
    uint8_t q[RP_DELETE_REQ_SIZE];
    rec_put_u32(q, 1);
    memcpy(q + 4, e[0].sha, 32);
    expect_ok(request(RP_CMD_DELETE, q, sizeof q));
    files_free(&f);
    card_files(1, &f);
    for (int p = 0; p < 5; p++) assert_null(f.part[p]);
}

static void test_unsigned_without_a_key(void **state)
{
    (void)state;
    hello();
    start_or_stop();
    record_ms(16000, 1000);
    start_or_stop();
    for (int i = 0; i < 100; i++) rec_app_poll();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].flags & (RP_RECORD_FLAG_SEALED | RP_RECORD_FLAG_SEALING | RP_RECORD_FLAG_UNSIGNED), RP_RECORD_FLAG_UNSIGNED);
    for (int p = 1; p < 5; p++) assert_int_equal(e[0].part_size[p], 0);
}

static void test_sealing_refuses_audio_changed_after_stop(void **state)
{
    (void)state;
    boot_signed();
    hello();
    start_or_stop();
    record_ms(16000, 3000);
    start_or_stop();
    /* Change one sample on the card before the sealer has read it. */
    rec_fat_file_t wav;
    uint32_t lba;
    assert_int_equal(rec_fat_open(&rec_device()->store.fs, &wav, "RECORDS/REC00001.WAV", REC_FAT_READ), REC_OK);
    assert_int_equal(rec_fat_file_lba(&rec_device()->store.fs, &wav, 4096, &lba), REC_OK);
    (void)rec_fat_close(&rec_device()->store.fs, &wav);
    g_ram.data[(size_t)lba * 512u + 10] ^= 0x40;
    seal_all();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].flags & (RP_RECORD_FLAG_SEALED | RP_RECORD_FLAG_SEALING), 0);
    assert_int_equal(e[0].part_size[RP_PART_MINISIGN], 0);
    assert_int_equal(e[0].part_size[RP_PART_STATEMENT], 0);
    assert_non_null(strstr(port_fake_last_log(), "not sealed"));
}

static void test_power_cut_signed_recording_verifies_to_its_last_checkpoint(void **state)
{
    (void)state;
    boot_signed();
    hello();
    start_or_stop();
    record_ms(16000, 125000);
    port_fake_mic_start_result(0);
    boot_signed(); /* power cut */
    seal_all();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_POWER_LOSS);
    assert_true(e[0].flags & RP_RECORD_FLAG_SEALED);
    check_recording(&e[0], 0);
    files_t f;
    card_files(1, &f);
    ckp_facts_t facts = check_checkpoints(1, &f);
    assert_true(facts.recovered);
    assert_int_equal(facts.slots, 4); /* start, 60 s, 120 s, recovered stop */
    assert_int_equal(facts.vouched, 1920000u);
    assert_int_equal(facts.samples, e[0].samples);
    assert_non_null(memmem(f.part[RP_PART_CHECKPOINTS] + 3 * 512, 447, "why=power-loss rec=1 vouched=1920000 ", 37));
    check_statement_files(1, &f, &facts);
    files_free(&f);
}

/* Cuts the power at every block write around the signed parts of a recording's life (start and
 * slot 0, the checkpoint at 60 s, stop and the stop slot, sealing) and on a stride elsewhere, then
 * boots with the key: the card mounts and passes fsck.fat, the recording verifies up to its last
 * checkpoint, and once the device has sealed it the files are byte for byte those of the run
 * without a cut whenever the cut came after the recording was journalled. */
static void test_power_cut_campaign_signed(void **state)
{
    (void)state;
    rec_tool_require("fsck.fat", "dosfstools");
    rec_bd_ram_free(&g_ram);
    card_new(34);
    boot();
    static uint8_t *baseline;
    static files_t ref;
    files_free(&ref);
    card_snapshot(&baseline);

    /* The run without a cut, with the block counts where its parts begin; 8 kHz, so that a
     * minute of audio (one checkpoint) is half the blocks. */
    port_fake_reset();
    port_fake_set_unique_id(true, 0x0123456789ABCDEFull);
    boot_signed();
    rec_device()->settings.sample_rate = 8000;
    g_ramp = 0;
    g_ram.blocks_written = 0;
    start_or_stop();
    uint64_t started = g_ram.blocks_written;
    /* 61 s in three calls that push the same 256-sample blocks as the one call of the cut runs
     * below (each but the last a whole number of blocks), so the device sees the same polls at
     * the same times and signs the same bytes. */
    record_ms(8000, 59904);
    uint64_t before_ckpt = g_ram.blocks_written;
    record_ms(8000, 608);
    uint64_t after_ckpt = g_ram.blocks_written;
    record_ms(8000, 488);
    uint64_t before_stop = g_ram.blocks_written;
    start_or_stop();
    uint64_t journalled = g_ram.blocks_written;
    seal_all();
    uint64_t total = g_ram.blocks_written;
    card_files(1, &ref);
    assert_non_null(ref.part[RP_PART_MINISIGN]);

    char img[256], out[4096];
    rec_tool_tmp(img, sizeof img, "campaign-signed.img");
    print_message("blocks: start %llu, checkpoint %llu..%llu, stop %llu, journalled %llu, sealed %llu\n", (unsigned long long)started,
                  (unsigned long long)before_ckpt, (unsigned long long)after_ckpt, (unsigned long long)before_stop,
                  (unsigned long long)journalled, (unsigned long long)total);
    unsigned cuts = 0, fsck_runs = 0, identical = 0, recovered = 0;
    for (uint64_t cut = 0; cut <= total; cut++) {
        /* Every block where the signed parts are written: the end of start (header, slot 0),
         * the checkpoint, the stop slot (after the evid chunk), the journal record and sealing;
         * the FAT's bulk writes between (preallocation, trim) on a stride, like the rest: the
         * unsigned campaign above cuts at each of those. */
        bool dense = (cut + 12 >= started && cut <= started + 4) || (cut + 4 >= before_ckpt && cut <= after_ckpt + 4) ||
                     (cut + 4 >= before_stop && cut <= before_stop + 16) || cut + 12 >= journalled;
        if (!dense && cut % 151 != 0) continue;
        rec_bd_ram_restore(&g_ram, baseline);
        rec_bd_ram_power_on(&g_ram);
        port_fake_reset();
        port_fake_set_unique_id(true, 0x0123456789ABCDEFull);
        boot_signed();
        rec_device()->settings.sample_rate = 8000;
        rec_bd_ram_cut_after(&g_ram, cut, cut % 2 == 1);
        g_ramp = 0;
        start_or_stop();
        record_ms(8000, 61000);
        start_or_stop();
        (void)seal_try(); /* the card may be gone by now */
        rec_bd_ram_power_on(&g_ram);
        g_ram.cut_armed = false;
        boot_signed();
        seal_all();
        resp_t info = hello();
        if (info.payload[RP_INFO_OFF_CARD_STATE] != RP_CARD_STATE_OK)
            fail_msg("cut after %llu blocks: card state %u after reboot", (unsigned long long)cut, info.payload[RP_INFO_OFF_CARD_STATE]);
        entry_t e[2];
        uint32_t n = list_all(e, 2);
        assert_true(n <= 1);
        if (n == 1) {
            assert_int_equal(e[0].number, 1);
            files_t f;
            card_files(1, &f);
            check_card_recording(&e[0], &f);
            if (f.len[RP_PART_CHECKPOINTS] >= 2 * 512) {
                ckp_facts_t facts = check_checkpoints(1, &f);
                if (!(e[0].flags & RP_RECORD_FLAG_SEALED)) fail_msg("cut after %llu blocks: not sealed", (unsigned long long)cut);
                check_statement_files(1, &f, &facts);
                if (facts.recovered) recovered++;
                if (cut >= journalled) {
                    for (int p = 0; p < 5; p++) {
                        assert_int_equal(f.len[p], ref.len[p]);
                        if (memcmp(f.part[p], ref.part[p], f.len[p]) != 0)
                            fail_msg("cut after %llu blocks: part %d differs from the run without a cut", (unsigned long long)cut, p);
                    }
                    identical++;
                }
            } else {
                /* Only a cut before slot 0 reached the card leaves a recording unsigned. */
                if (cut > started + 8) fail_msg("cut after %llu blocks: no checkpoints", (unsigned long long)cut);
                assert_true(e[0].flags & RP_RECORD_FLAG_UNSIGNED);
            }
            files_free(&f);
        }
        if (cut % 5 == 0 || cut + 40 >= total) {
            assert_int_equal(rec_bd_ram_save_file(&g_ram, img), 0);
            int st = rec_tool_fsck(img, false, out, sizeof out);
            if (st != 0) fail_msg("fsck.fat after a cut at block %llu:\n%s", (unsigned long long)cut, out);
            fsck_runs++;
        }
        cuts++;
    }
    print_message("signed power cuts: %u (recovered stop slots %u, identical after sealing %u), fsck runs: %u, blocks: %llu\n", cuts,
                  recovered, identical, fsck_runs, (unsigned long long)total);
    assert_true(identical > 0 && recovered > 0);
    files_free(&ref);
    free(baseline);
    baseline = NULL;
}

/* ---- the wipe (WIPE) ------------------------------------------------------------------------- */

typedef struct {
    uint8_t state, method;
    uint32_t epoch, blocks;
} wipe_t;

static resp_t wipe_request(uint32_t magic, uint32_t recordings, uint32_t newest, uint64_t id)
{
    uint8_t q[RP_WIPE_REQ_SIZE] = { 0 };
    rec_put_u32(q + RP_WIPE_REQ_OFF_MAGIC, magic);
    rec_put_u32(q + RP_WIPE_REQ_OFF_RECORDINGS, recordings);
    rec_put_u32(q + RP_WIPE_REQ_OFF_NEWEST_NUMBER, newest);
    rec_put_u64(q + RP_WIPE_REQ_OFF_DEVICE_ID, id);
    return request(RP_CMD_WIPE, q, sizeof q);
}

static wipe_t wipe_ok(uint32_t recordings, uint32_t newest)
{
    resp_t r = wipe_request(RP_WIPE_MAGIC, recordings, newest, rec_device()->settings.device_id);
    expect_ok(r);
    assert_int_equal(r.length, RP_WIPE_SIZE);
    wipe_t w = { r.payload[RP_WIPE_OFF_STATE], r.payload[RP_WIPE_OFF_METHOD], rec_get_u32(r.payload + RP_WIPE_OFF_EPOCH),
                 rec_get_u32(r.payload + RP_WIPE_OFF_BLOCKS_ERASED) };
    return w;
}

/* What an age key and a recipient would leave: state kinds 5 and 6 and NVM sectors 4 and 5. */
static void nvm_put_secrets(void)
{
    rec_device_t *d = rec_device();
    uint8_t secret[20];
    memset(secret, 0xC5, sizeof secret);
    assert_int_equal(rec_nvm_state_put(&d->nvm, 5, secret, sizeof secret), REC_OK);
    assert_int_equal(rec_nvm_state_put(&d->nvm, 6, secret, sizeof secret), REC_OK);
    uint8_t page[NVM_FAKE_PAGE_BYTES];
    memset(page, 0xC5, sizeof page);
    assert_int_equal(port_nvm_program(4 * NVM_FAKE_SECTOR_BYTES, page, sizeof page), REC_OK);
    assert_int_equal(port_nvm_program(5 * NVM_FAKE_SECTOR_BYTES, page, sizeof page), REC_OK);
}

/* The longest run of consecutive ramp samples (each the one before plus 1) in the card image:
 * the fake microphone's signal. Every recording of these tests is far longer than 64. */
static uint32_t longest_ramp_run(void)
{
    uint32_t best = 0, run = 0;
    const uint8_t *img = g_ram.data;
    size_t n = rec_bd_ram_size(&g_ram) / 2u;
    uint16_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t v = rec_get_u16(img + 2 * i);
        run = i > 0 && v == (uint16_t)(prev + 1u) && v != 0 ? run + 1u : 0u;
        if (run > best) best = run;
        prev = v;
    }
    return best;
}

/* The NVM after a wipe: no recipient, sectors 4 and 5 blank, the state log only allowlisted kinds with
 * sequences above `before` (no entry from before the wipe survives), and no 0xC5 secret. */
static void check_nvm_wiped(uint32_t before)
{
    /* Nor in RAM: the next recording is not encrypted to the old owner (a bug the campaign found). */
    assert_false(rec_device()->recipient.set);
    const uint8_t *img = nvm_fake_image();
    assert_true(rec_nvm_blank(img + 4 * NVM_FAKE_SECTOR_BYTES, 2 * NVM_FAKE_SECTOR_BYTES));
    for (uint32_t sec = REC_NVM_SECTOR_LOG_A; sec <= REC_NVM_SECTOR_LOG_B; sec++) {
        for (uint32_t off = 0; off < NVM_FAKE_SECTOR_BYTES; off += RP_NVM_STATE_ENTRY_SIZE) {
            const uint8_t *raw = img + sec * NVM_FAKE_SECTOR_BYTES + off;
            if (rec_nvm_blank(raw, RP_NVM_STATE_ENTRY_SIZE)) continue;
            rp_nvm_state_entry_t e;
            rp_nvm_state_entry_unpack(raw, &e);
            if (e.magic != RP_CARD_NVM_STATE_MAGIC) continue; /* torn by the cut of a later write */
            assert_true(e.kind != 5 && e.kind != 6);
            if (e.sequence <= before) fail_msg("an entry from before the wipe survives (kind %u seq %u)", e.kind, e.sequence);
        }
    }
    for (uint32_t at = 2 * NVM_FAKE_SECTOR_BYTES; at + 8 <= 4 * NVM_FAKE_SECTOR_BYTES; at++)
        if (memcmp(img + at, "\xC5\xC5\xC5\xC5\xC5\xC5\xC5\xC5", 8) == 0) fail_msg("a secret survives at %u", at);
}

/* The card after a wipe that began epoch `epoch`: empty, its journal EPOCH_START and WIPED, the
 * device's count on it and IDENTITY signing WIPED as the head; no run of the old audio. */
static void check_card_wiped(uint32_t epoch, uint32_t prev_count, bool recovered)
{
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 0);
    uint8_t recs[4 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[4];
    uint32_t numbers[4];
    assert_int_equal(journal_kinds(kinds, numbers, 4, recs), 2);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_EPOCH_START);
    assert_int_equal(numbers[0], epoch);
    assert_int_equal(rec_get_u32(recs + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), prev_count);
    const uint8_t *w = recs + RP_JOURNAL_RECORD_SIZE;
    assert_int_equal(kinds[1], RP_JOURNAL_KIND_WIPED);
    assert_int_equal(numbers[1], epoch);
    assert_int_equal(rec_get_u32(w + RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT), g_ram.bd.block_count);
    assert_int_equal(rec_get_u32(w + RP_JOURNAL_RECORD_OFF_SAMPLE_RATE), RP_WIPE_METHOD_OVERWRITE);
    assert_int_equal((w[RP_JOURNAL_RECORD_OFF_FLAGS] & RP_RECORD_FLAG_RECOVERED) != 0, recovered);
    identity_t v = identity(0x3E);
    assert_int_equal(v.epoch, epoch);
    assert_int_equal(v.count, 2u);
    uint8_t digest[32];
    rec_sha256(w, RP_JOURNAL_RECORD_SIZE, digest);
    assert_memory_equal(v.head, digest, 32);
    uint32_t run = longest_ramp_run();
    if (run > 64) fail_msg("a run of %u samples of the old audio survives the wipe", run);
}

static void test_wipe_refusals_and_what_it_leaves(void **state)
{
    (void)state;
    hello();
    assert_int_equal(provision(false, RP_PROVISION_MAGIC).kind, RP_KIND_RESPONSE);
    record_one(1500);
    record_one(1500);
    entry_t e[4];
    assert_int_equal(list_all(e, 4), 2);
    assert_true(longest_ramp_run() > 16000);
    nvm_put_secrets();
    identity_t before = identity(1);
    const uint32_t seq_before = rec_device()->nvm.sequence;
    const uint64_t id = rec_device()->settings.device_id;

    expect_error(wipe_request(0x12345678u, 2, 2, id), RP_ERR_CONFIRMATION_REQUIRED);
    expect_error(wipe_request(RP_WIPE_MAGIC, 2, 2, id + 1), RP_ERR_BAD_STATE);   /* another device */
    expect_error(wipe_request(RP_WIPE_MAGIC, 1, 2, id), RP_ERR_BAD_STATE);       /* a recording unseen */
    expect_error(wipe_request(RP_WIPE_MAGIC, 2, 1, id), RP_ERR_BAD_STATE);
    start_or_stop();
    record_ms(16000, 300);
    expect_error(wipe_request(RP_WIPE_MAGIC, 2, 2, id), RP_ERR_BUSY);
    start_or_stop();
    expect_error(wipe_request(RP_WIPE_MAGIC, 2, 2, id), RP_ERR_BAD_STATE);       /* now there are 3 */
    assert_int_equal(list_all(e, 4), 3);
    assert_int_equal(identity(2).count, before.count + 1u);                     /* nothing was touched */
    expect_ok(set_recipient(RP_RECIPIENT_ACTION_SET, g_bob));
    assert_true(info_encrypting());

    wipe_t w = wipe_ok(3, 3);
    assert_int_equal(w.state, RP_WIPE_STATE_DONE);
    assert_int_equal(w.method, RP_WIPE_METHOD_OVERWRITE); /* the RAM card has no erase */
    assert_int_equal(w.epoch, 2u);
    assert_int_equal(w.blocks, g_ram.bd.block_count);
    check_card_wiped(2, before.count + 1u, false);
    check_nvm_wiped(seq_before);
    identity_t after = identity(3);
    assert_memory_equal(after.pk, before.pk, 32); /* the device keeps its identity */
    resp_t info = hello();
    assert_false(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_WIPE_PENDING);
    assert_false(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_ENCRYPTING);
    assert_int_equal(info.payload[RP_INFO_OFF_CARD_STATE], RP_CARD_STATE_OK);
    /* Numbers are never reused; the next recording opens the new epoch's story, in plain. */
    record_one(300);
    assert_int_equal(list_all(e, 4), 1);
    assert_int_equal(e[0].number, 4);
    assert_false(e[0].flags & RP_RECORD_FLAG_ENCRYPTED);
    check_recording(&e[0], g_ramp - e[0].samples);
    /* A second wipe, of a device with nothing to hide, is just as final. */
    w = wipe_ok(1, 4);
    assert_int_equal(w.epoch, 3u);
    boot();
    check_card_wiped(3, 3, false);
}

static void test_wipe_without_nvm(void **state)
{
    (void)state;
    hello();
    record_one(1000);
    wipe_t w = wipe_ok(1, 1);
    assert_int_equal(w.state, RP_WIPE_STATE_DONE);
    assert_int_equal(w.epoch, 0u);
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 0);
    uint8_t recs[2 * RP_JOURNAL_RECORD_SIZE];
    uint16_t kinds[2];
    uint32_t numbers[2];
    assert_int_equal(journal_kinds(kinds, numbers, 2, recs), 1);
    assert_int_equal(kinds[0], RP_JOURNAL_KIND_WIPED);
    assert_true(longest_ramp_run() <= 64);
}

/* A wipe that finds no card at the boot after its cut: its keys go at once, the device says the
 * wipe is pending and records nothing, and the card it sees next is wiped before anything. */
static void test_wipe_cut_then_no_card(void **state)
{
    (void)state;
    hello();
    record_one(1000);
    nvm_put_secrets();
    const uint32_t seq_before = rec_device()->nvm.sequence;
    nvm_fake_cut_at(1); /* WIPE_PENDING lands; the next NVM write is cut */
    resp_t r = wipe_request(RP_WIPE_MAGIC, 1, 1, rec_device()->settings.device_id);
    assert_int_equal(r.kind, RP_KIND_ERROR);
    nvm_fake_power_on();
    port_fake_set_card_present(0);
    port_fake_set_card(NULL, REC_E_NOCARD);
    host_reset();
    (void)rec_app_init();
    for (int i = 0; i < 10; i++) rec_app_poll();
    check_nvm_wiped(seq_before);
    resp_t info = hello();
    assert_true(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_WIPE_PENDING);
    start_or_stop();
    assert_false(port_fake_mic_running());
    /* The card comes back: finished at mount, and the host's next WIPE hears RESUMED once. */
    port_fake_set_card_present(-1);
    port_fake_set_card(&g_ram.bd, 0);
    rec_app_card_changed();
    for (int i = 0; i < 10; i++) rec_app_poll();
    info = hello();
    assert_false(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_WIPE_PENDING);
    check_card_wiped(2, 1, true);
    wipe_t w = wipe_ok(0, 0);
    assert_int_equal(w.state, RP_WIPE_STATE_RESUMED);
    assert_int_equal(w.epoch, 2u);
    w = wipe_ok(0, 0);
    assert_int_equal(w.state, RP_WIPE_STATE_DONE);
    assert_int_equal(w.epoch, 3u);
}

/* A power cut at every NVM program and erase of the wipe, and at card writes through it (a
 * stride through the overwrite and the format, every block of the journal), torn or not: the next boot
 * either finds the device as it was (a cut before WIPE_PENDING landed) or finishes the wipe:
 * nothing of the old audio or keys left, the journal EPOCH_START and WIPED (RECOVERED), counted. */
static void test_wipe_power_cut_campaign(void **state)
{
    (void)state;
    rec_bd_ram_free(&g_ram);
    card_new(34);
    port_fake_reset();
    nvm_fake_enable(true);
    boot();
    hello();
    record_one(1500);
    nvm_put_secrets();
    /* A real recipient (over the secret-filled sectors 4 and 5): the boot that finishes a cut
     * wipe loads it into RAM before the wipe goes on, and must drop it there too. */
    expect_ok(set_recipient(RP_RECIPIENT_ACTION_SET, g_bob));
    const uint32_t seq_before = rec_device()->nvm.sequence;
    identity_t before = identity(7);
    static uint8_t nvm_baseline[NVM_FAKE_BYTES];
    memcpy(nvm_baseline, nvm_fake_image(), sizeof nvm_baseline);
    static uint8_t *baseline;
    card_snapshot(&baseline);

    /* Measure the wipe: NVM operations and card blocks. */
    uint32_t ops0 = nvm_fake_ops();
    g_ram.blocks_written = 0;
    wipe_ok(1, 1);
    const uint32_t nvm_ops = nvm_fake_ops() - ops0;
    const uint64_t blocks = g_ram.blocks_written;
    const uint64_t overwrite = g_ram.bd.block_count;
    assert_true(blocks > overwrite);

    unsigned cuts = 0, untouched = 0, finished = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        const uint64_t points = pass == 0 ? nvm_ops : blocks + 1u;
        for (uint64_t cut = 0; cut < points; cut++) {
            /* Card: the first writes, a stride through the overwrite and the format, and every
             * block of the journal's appends at the end (about 130 cuts in all). */
            if (pass == 1 && cut > 16 && cut + 48 < blocks && cut % (cut < overwrite ? 4093u : 23u) != 0) continue;
            rec_bd_ram_restore(&g_ram, baseline);
            rec_bd_ram_power_on(&g_ram);
            port_fake_reset();
            nvm_fake_enable(true);
            memcpy(nvm_fake_image(), nvm_baseline, sizeof nvm_baseline);
            boot();
            hello();
            if (pass == 0) nvm_fake_cut_at((int32_t)cut);
            else rec_bd_ram_cut_after(&g_ram, cut, cut % 2 == 1);
            resp_t r = wipe_request(RP_WIPE_MAGIC, 1, 1, rec_device()->settings.device_id);
            if (pass == 1 && cut == blocks) {
                expect_ok(r); /* the budget covered the whole wipe */
            } else {
                assert_int_equal(r.kind, RP_KIND_ERROR);
            }
            /* Power back. */
            nvm_fake_power_on();
            rec_bd_ram_power_on(&g_ram);
            g_ram.cut_armed = false;
            boot();
            resp_t info = hello();
            assert_false(info.payload[RP_INFO_OFF_FLAGS] & RP_INFO_FLAG_WIPE_PENDING);
            assert_int_equal(info.payload[RP_INFO_OFF_CARD_STATE], RP_CARD_STATE_OK);
            entry_t e[2];
            if (list_all(e, 2) == 1) {
                /* Cut before WIPE_PENDING landed: nothing happened, the host may ask again. */
                assert_true(pass == 0);
                check_recording(&e[0], 0);
                assert_int_equal(identity(8).count, before.count);
                untouched++;
            } else {
                check_card_wiped(2, before.count, !(pass == 1 && cut == blocks));
                check_nvm_wiped(seq_before);
                finished++;
            }
            cuts++;
        }
    }
    print_message("wipe power cuts: %u (%u NVM operations, %llu card blocks), device untouched %u, wipe finished %u\n", cuts,
                  nvm_ops, (unsigned long long)blocks, untouched, finished);
    assert_true(untouched > 0 && finished > 0);
    free(baseline);
    baseline = NULL;
}

/* ---- encrypted recordings (issue 13): REC*.AGE, sealing with the plaintext's hash ---------- */

static const uint8_t k_owner[32] = { 0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
                                     0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a };

/* Provisions the device key and sets the owner's recipient. */
static void boot_encrypting(void)
{
    hello();
    uint8_t host[32];
    memset(host, 0xA7, sizeof host);
    (void)parse_identity(provision(false, RP_PROVISION_MAGIC), host);
    uint8_t pub[32];
    assert_int_equal(rec_x25519_base(pub, k_owner), REC_OK);
    expect_ok(set_recipient(RP_RECIPIENT_ACTION_SET, pub));
}

/* Decrypts recording n's .AGE as read over the protocol; checks it is the WAV plain mode would
 * have written (ramp from first_sample, sizes, evid chunk) and returns it (malloc'ed). */
static uint8_t *decrypt_checked(const entry_t *e, const uint8_t *age, uint32_t first_sample, size_t *wav_len, uint8_t file_key[16])
{
    assert_int_equal(e->state, RP_RECORDING_FINISHED);
    assert_true(e->flags & RP_RECORD_FLAG_ENCRYPTED);
    uint8_t *wav;
    int err = rec_test_age_open(age, e->size, k_owner, &wav, wav_len, file_key);
    assert_int_equal(err, REC_OK);
    const uint32_t data = rec_get_u32(wav + 1020);
    assert_int_equal(data, e->samples * 2u);
    assert_int_equal(*wav_len, 1024u + data + 8u + RP_EVIDENCE_CHUNK_SIZE);
    assert_int_equal(rec_get_u32(wav + 4), *wav_len - 8u);
    assert_int_equal(e->size, rec_age_file_size(*wav_len));
    for (uint32_t i = 0; i < e->samples; i++)
        if (rec_get_u16(wav + 1024 + 2 * i) != (uint16_t)(first_sample + i)) fail_msg("sample %u of recording %u", i, e->number);
    uint8_t sha[32];
    rec_sha256(wav + 1024, data, sha);
    assert_memory_equal(sha, e->sha, 32);
    assert_memory_equal(wav + 1024 + data + 8 + RP_EVIDENCE_CHUNK_OFF_SHA256, sha, 32);
    assert_true(wav[1024 + data + 8 + RP_EVIDENCE_CHUNK_OFF_FLAGS] & RP_RECORD_FLAG_ENCRYPTED);
    return wav;
}

static uint8_t *open_encrypted(const entry_t *e, uint32_t first_sample, size_t *wav_len, uint8_t file_key[16])
{
    uint8_t *age = read_file(e->number, e->size);
    uint8_t *wav = decrypt_checked(e, age, first_sample, wav_len, file_key);
    free(age);
    return wav;
}

/* True when the card holds `len` bytes of the ramp starting at sample `from` in the clear. */
static bool card_has_plain_ramp(uint32_t from, uint32_t samples)
{
    uint8_t run[64];
    for (uint32_t i = 0; i < samples && i < 32; i++) rec_put_u16(run + 2 * i, (uint16_t)(from + i));
    return memmem(g_ram.data, rec_bd_ram_size(&g_ram), run, 2u * (samples < 32 ? samples : 32)) != NULL;
}

static bool nvm_has(const uint8_t *bytes, size_t len)
{
    return memmem(nvm_fake_image(), NVM_FAKE_BYTES, bytes, len) != NULL;
}

/* A sealed encrypted recording, checked as a plain one is: its checkpoints against the plaintext
 * (signatures, h at each checkpoint, the stop slot's h and f), the SHA, SIG and MSG byte for
 * byte with the .AGE line and age=, and its key gone from the device's NVM. Returns the facts
 * of its checkpoints; `out` (may be NULL) gets the files. */
static ckp_facts_t check_sealed_encrypted(const entry_t *e, files_t *out)
{
    if (!(e->flags & RP_RECORD_FLAG_SEALED)) fail_msg("encrypted recording %u is not sealed (%s)", e->number, port_fake_last_log());
    files_t f;
    card_files(e->number, &f);
    assert_null(f.part[RP_PART_AUDIO]); /* no plaintext on the card */
    size_t wav_len;
    uint8_t key[16];
    f.age = card_part(e->number, "AGE", &f.age_len);
    assert_int_equal(f.age_len, e->size);
    f.part[RP_PART_AUDIO] = decrypt_checked(e, f.age, 0, &wav_len, key);
    f.len[RP_PART_AUDIO] = (uint32_t)wav_len;
    ckp_facts_t facts = check_checkpoints(e->number, &f);
    check_statement_files(e->number, &f, &facts);
    if (nvm_has(key, 16)) fail_msg("the key of sealed recording %u is still in NVM", e->number);
    if (out)
        *out = f;
    else
        files_free(&f);
    return facts;
}

static void test_encrypted_recording_decrypts_seals_and_forgets_its_key(void **state)
{
    (void)state;
    boot_encrypting();
    assert_true(info_encrypting());
    start_or_stop();
    record_ms(16000, 3000); /* 96,000 bytes: two chunks */
    start_or_stop();
    entry_t e[3];
    assert_int_equal(list_all(e, 3), 1);
    assert_true(e[0].flags & RP_RECORD_FLAG_SEALING);
    size_t len;
    uint8_t key[16];
    uint8_t *wav = open_encrypted(&e[0], 0, &len, key);
    /* Nothing of it in the clear on the card: no WAV, no hold file, no run of the signal. */
    uint32_t n;
    free(card_part(1, "WAV", &n));
    assert_int_equal(n, 0);
    free(card_part(1, "HLD", &n));
    assert_int_equal(n, 0);
    assert_false(card_has_plain_ramp(20000, 32));
    assert_false(card_has_plain_ramp(47000, 32));
    assert_true(nvm_has(key, 16)); /* kept for sealing */

    /* A second one, shorter than a chunk. */
    start_or_stop();
    record_ms(16000, 700);
    start_or_stop();
    assert_int_equal(list_all(e, 3), 2);
    size_t len2;
    uint8_t key2[16];
    free(open_encrypted(&e[1], 48000, &len2, key2));

    seal_all();
    assert_int_equal(list_all(e, 3), 2);
    for (int i = 0; i < 2; i++) assert_true(e[i].flags & RP_RECORD_FLAG_SEALED);
    /* The statement names the plaintext WAV and the .AGE as on the card; minisign's comment too. */
    files_t f;
    card_files(1, &f);
    uint32_t age_len;
    uint8_t *age = card_part(1, "AGE", &age_len);
    uint8_t sha[32];
    char hexs[65], line[128];
    rec_sha256(wav, len, sha);
    hex(sha, 32, hexs);
    snprintf(line, sizeof line, "SHA256 (REC00001.WAV) = %s\n", hexs);
    assert_non_null(memmem(f.part[RP_PART_STATEMENT], f.len[RP_PART_STATEMENT], line, strlen(line)));
    rec_sha256(age, age_len, sha);
    hex(sha, 32, hexs);
    snprintf(line, sizeof line, "SHA256 (REC00001.AGE) = %s\n", hexs);
    assert_non_null(memmem(f.part[RP_PART_STATEMENT], f.len[RP_PART_STATEMENT], line, strlen(line)));
    snprintf(line, sizeof line, " age=%s ", hexs);
    assert_non_null(memmem(f.part[RP_PART_MINISIGN], f.len[RP_PART_MINISIGN], line, strlen(line)));
    free(age);
    files_free(&f);
    free(wav);
    /* Sealed: the device can no longer decrypt either recording. */
    assert_false(nvm_has(key, 16));
    assert_false(nvm_has(key2, 16));
    /* The copies are still whole. */
    free(open_encrypted(&e[0], 0, &len, NULL));
}

static void test_plain_again_once_the_recipient_is_cleared(void **state)
{
    (void)state;
    boot_encrypting();
    expect_ok(set_recipient(RP_RECIPIENT_ACTION_CLEAR, NULL));
    start_or_stop();
    record_ms(16000, 500);
    start_or_stop();
    entry_t e[1];
    assert_int_equal(list_all(e, 1), 1);
    assert_false(e[0].flags & RP_RECORD_FLAG_ENCRYPTED);
    check_recording(&e[0], 0);
}

/* Markers in an encrypted recording: inside the age payload (cue and LIST/adtl before evid, the
 * larger tail through the finish), after a stop and after a power cut; both seal. */
static void test_encrypted_recordings_with_markers(void **state)
{
    (void)state;
    boot_encrypting();
    start_or_stop();
    record_ms(16000, 700);
    press();
    record_ms(16000, 300);
    press();
    record_ms(16000, 500);
    long_hold();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_true(e[0].flags & RP_RECORD_FLAG_ENCRYPTED);
    uint8_t *age = read_file(1, e[0].size), *wav;
    size_t wav_len;
    uint8_t key[16];
    assert_int_equal(rec_test_age_open(age, e[0].size, k_owner, &wav, &wav_len, key), REC_OK);
    assert_int_equal(e[0].size, rec_age_file_size(wav_len));
    uint32_t at[4];
    assert_int_equal(wav_markers(wav, wav_len, at, 4), 2);
    assert_int_equal(at[0], 11200);
    assert_int_equal(at[1], 16000);
    for (uint32_t i = 0; i < e[0].samples; i++)
        if (rec_get_u16(wav + 1024 + 2 * i) != (uint16_t)i) fail_msg("sample %u", i);
    free(age);
    free(wav);
    seal_all();
    assert_int_equal(list_all(e, 2), 1);
    assert_true(e[0].flags & RP_RECORD_FLAG_SEALED);

    /* Cut by a power loss: the finish rebuilds the markers from the journal. */
    start_or_stop();
    record_ms(16000, 1000);
    press();
    record_ms(16000, 1700);
    port_fake_mic_start_result(0);
    boot();
    hello();
    assert_int_equal(list_all(e, 2), 2);
    assert_int_equal(e[1].stop_reason, RP_STOP_POWER_LOSS);
    age = read_file(2, e[1].size);
    assert_int_equal(rec_test_age_open(age, e[1].size, k_owner, &wav, &wav_len, key), REC_OK);
    assert_int_equal(wav_markers(wav, wav_len, at, 4), 1);
    assert_int_equal(at[0], 16000);
    free(age);
    free(wav);
    seal_all();
    assert_int_equal(list_all(e, 2), 2);
    assert_true(e[1].flags & RP_RECORD_FLAG_SEALED);
}

/* A power cut at every block written while recording encrypted and while finishing: the next
 * boot closes the recording into a file that decrypts (the strict reader), keeping the audio up
 * to the last size patch, and the hold file is gone. */
static void test_power_cut_encrypted_recovers_a_file_that_decrypts(void **state)
{
    (void)state;
    boot_encrypting();
    const size_t bytes = rec_bd_ram_size(&g_ram);
    uint8_t *baseline = malloc(bytes);
    memcpy(baseline, g_ram.data, bytes);
    static uint8_t nvm_baseline[NVM_FAKE_BYTES];
    memcpy(nvm_baseline, nvm_fake_image(), sizeof nvm_baseline);
    /* How many blocks an uncut recording writes. */
    g_ram.blocks_written = 0;
    start_or_stop();
    record_ms(16000, 4600);
    start_or_stop();
    const uint64_t total = g_ram.blocks_written;
    uint32_t recovered = 0, whole = 0, sealed = 0;
    for (uint64_t cut = 1; cut < total + 4; cut += (cut < 40 || cut + 420 > total) ? 1 : 7) {
        rec_bd_ram_restore(&g_ram, baseline);
        memcpy(nvm_fake_image(), nvm_baseline, sizeof nvm_baseline);
        boot();
        hello();
        g_ramp = 0;
        rec_bd_ram_cut_after(&g_ram, cut, cut % 2 == 1);
        start_or_stop();
        record_ms(16000, 4600);
        start_or_stop();
        rec_bd_ram_power_on(&g_ram);
        g_ram.cut_armed = false;
        boot();
        resp_t info = hello();
        if (info.payload[RP_INFO_OFF_CARD_STATE] != RP_CARD_STATE_OK)
            fail_msg("cut after %llu blocks: card state %u (%s)", (unsigned long long)cut, info.payload[RP_INFO_OFF_CARD_STATE],
                     port_fake_last_log());
        entry_t e[2];
        uint32_t n = list_all(e, 2);
        assert_true(n <= 1);
        /* Every recovered recording is sealed and checked; of those whose stop finished (most
         * cuts land in the stop's trim; sealing after a stop has its own test), one in eight. */
        const bool seal_it = n == 1 && (e[0].stop_reason == RP_STOP_POWER_LOSS || cut % 8 == 0);
        if (seal_it) {
            seal_all();
            assert_int_equal(list_all(e, 2), 1);
        }
        uint32_t hold_len;
        free(card_part(1, "HLD", &hold_len));
        if (hold_len) fail_msg("cut after %llu blocks: the hold file is still there", (unsigned long long)cut);
        if (n == 0) {
            /* Cut before the file existed, or before its headers: nothing recorded, and nothing
             * left of it (its preallocated CKP would be a chain longer than its size). */
            uint32_t ckp_len;
            uint8_t *ckp = card_part(1, "CKP", &ckp_len);
            if (ckp) fail_msg("cut after %llu blocks: a CKP is left without its recording", (unsigned long long)cut);
            continue;
        }
        if (e[0].state != RP_RECORDING_FINISHED)
            fail_msg("cut after %llu of %llu blocks: not finished (%s)", (unsigned long long)cut, (unsigned long long)total, port_fake_last_log());
        if (seal_it && e[0].samples > 0) {
            /* Sealed like a plain recording, recovered or not: checkpoints up to the cut and the
             * recovered stop slot signed, the statement over the plaintext, the key destroyed. */
            ckp_facts_t facts = check_sealed_encrypted(&e[0], NULL);
            /* A stop cut after its FINAL record is found, not recovered, but its stop slot may
             * still be the one recovery wrote (rec=1). */
            if (e[0].stop_reason == RP_STOP_POWER_LOSS) assert_true(facts.recovered);
            sealed++;
        } else {
            size_t len;
            free(open_encrypted(&e[0], 0, &len, NULL));
        }
        if (e[0].stop_reason == RP_STOP_POWER_LOSS) {
            recovered++;
            /* The loss bound: at most the patch interval and a poll's burst before the cut. */
            assert_true(e[0].flags & RP_RECORD_FLAG_RECOVERED);
        } else {
            whole++;
            assert_int_equal(e[0].samples, 16000u * 46u / 10u);
        }
    }
    print_message("encrypted power cuts: recovered %u, whole %u, sealed %u\n", recovered, whole, sealed);
    assert_true(recovered > 10);
    assert_true(whole > 0);
    free(baseline);
}

/* An encrypted recording cut by power after a minute: the next boot finishes its .AGE, signs the
 * recovered stop slot over the decrypted audio (vouched up to the checkpoint at 60 s), the sealer
 * writes SHA, SIG and MSG as for a stopped one, and the key is destroyed. */
static void test_power_cut_encrypted_recording_is_sealed_to_its_last_checkpoint(void **state)
{
    (void)state;
    boot_encrypting();
    start_or_stop();
    record_ms(16000, 64000);
    port_fake_mic_start_result(0);
    boot(); /* power cut */
    seal_all();
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_POWER_LOSS);
    assert_true(e[0].flags & RP_RECORD_FLAG_RECOVERED);
    files_t f;
    ckp_facts_t facts = check_sealed_encrypted(&e[0], &f);
    assert_true(facts.recovered);
    assert_int_equal(facts.slots, 3); /* start, 60 s, recovered stop */
    assert_int_equal(facts.vouched, 960000u);
    assert_int_equal(facts.samples, e[0].samples);
    assert_non_null(memmem(f.part[RP_PART_CHECKPOINTS] + 2 * 512, 447, "why=power-loss rec=1 vouched=960000 ", 36));
    assert_non_null(memmem(f.part[RP_PART_MINISIGN], f.len[RP_PART_MINISIGN], "reason=power-loss", 17));
    assert_non_null(memmem(f.part[RP_PART_MINISIGN], f.len[RP_PART_MINISIGN], "recovered=yes", 13));
    files_free(&f);
    /* Nothing left to seal, nothing left to decrypt with. */
    assert_true(seal_try());
    uint8_t key[16];
    assert_int_equal(rec_enc_file_key(rec_device(), 1, key), REC_E_NOENT);
}

/* Power cuts while the next boot recovers and seals an encrypted recording cut short: at every
 * card block written (recovery's finish, the stop slot, the journal, SHA, SIG, MSG) and at every
 * NVM operation (the journal counter, the key's destruction). Whatever was cut, the boot after
 * ends with the same files as a boot that was not cut, the recording sealed and its key gone: the
 * recovery only decrypts, and what it writes is fixed by the card. */
static void test_power_cut_encrypted_recovery_and_sealing_campaign(void **state)
{
    (void)state;
    boot_encrypting();
    start_or_stop();
    record_ms(16000, 4600);
    port_fake_mic_start_result(0);
    /* The power is cut here: this card and NVM are what every boot below starts from. */
    static uint8_t *baseline;
    card_snapshot(&baseline);
    static uint8_t nvm_baseline[NVM_FAKE_BYTES];
    memcpy(nvm_baseline, nvm_fake_image(), sizeof nvm_baseline);

    g_ram.blocks_written = 0;
    const uint32_t ops0 = nvm_fake_ops();
    boot();
    seal_all();
    const uint64_t blocks = g_ram.blocks_written;
    const uint32_t nvm_ops = nvm_fake_ops() - ops0;
    entry_t e[2];
    assert_int_equal(list_all(e, 2), 1);
    assert_int_equal(e[0].stop_reason, RP_STOP_POWER_LOSS);
    files_t ref;
    (void)check_sealed_encrypted(&e[0], &ref);

    unsigned cuts = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        const uint64_t points = pass == 0 ? nvm_ops : blocks + 1u;
        for (uint64_t cut = 0; cut < points; cut++) {
            /* Card: every block of the stop slot, the journal and the sealing at the end, a
             * stride through the finish before them (test_age.c cuts that at every block). */
            if (pass == 1 && cut > 8 && cut + 80 < blocks && cut % 31 != 0) continue;
            rec_bd_ram_restore(&g_ram, baseline);
            rec_bd_ram_power_on(&g_ram);
            memcpy(nvm_fake_image(), nvm_baseline, sizeof nvm_baseline);
            nvm_fake_power_on();
            if (pass == 0)
                nvm_fake_cut_at((int32_t)cut);
            else
                rec_bd_ram_cut_after(&g_ram, cut, cut % 2 == 1);
            boot();
            (void)seal_try(); /* the card or the NVM may be gone by now */
            rec_bd_ram_power_on(&g_ram);
            g_ram.cut_armed = false;
            nvm_fake_cut_at(-1);
            nvm_fake_power_on();
            boot();
            seal_all();
            resp_t info = hello();
            if (info.payload[RP_INFO_OFF_CARD_STATE] != RP_CARD_STATE_OK)
                fail_msg("%s cut %llu: card state %u (%s)", pass ? "card" : "NVM", (unsigned long long)cut,
                         info.payload[RP_INFO_OFF_CARD_STATE], port_fake_last_log());
            if (list_all(e, 2) != 1) fail_msg("%s cut %llu: not one recording", pass ? "card" : "NVM", (unsigned long long)cut);
            files_t f;
            (void)check_sealed_encrypted(&e[0], &f);
            for (int p = 0; p < 5; p++)
                if (f.len[p] != ref.len[p] || memcmp(f.part[p], ref.part[p], f.len[p]) != 0)
                    fail_msg("%s cut %llu: part %d differs from the boot without a cut", pass ? "card" : "NVM", (unsigned long long)cut, p);
            if (f.age_len != ref.age_len || memcmp(f.age, ref.age, f.age_len) != 0)
                fail_msg("%s cut %llu: the .AGE differs from the boot without a cut", pass ? "card" : "NVM", (unsigned long long)cut);
            files_free(&f);
            cuts++;
        }
    }
    print_message("encrypted recovery and sealing power cuts: %u (%u NVM operations, %llu card blocks)\n", cuts, nvm_ops,
                  (unsigned long long)blocks);
    files_free(&ref);
    free(baseline);
    baseline = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_time_and_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_list_read_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_button_gestures_and_their_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_test_measures_and_leaves_no_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_test_finds_a_card_that_changes_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_test_cut_by_a_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_button_scheme_no_markers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_blob_button_scheme, setup, teardown),
        cmocka_unit_test_setup_teardown(test_markers_in_the_wav_and_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_rebuilds_markers_from_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_recordings_with_markers, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_journal_page_at_the_end_and_the_stop_time_on_the_card, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_needs_matching_hash_and_numbers_are_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_needs_confirmation_and_keeps_numbering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_gets_errors_not_crashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_recovers_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_crosslink_recording_into_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_crosslink_recording_entry_onto_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_crosslink_root_into_system, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_then_power_cut_loses_at_most_a_second, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_full_stops_and_finalises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_low_battery_stops_and_finalises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_time_left, setup, teardown),
        cmocka_unit_test(test_battery_model),
        cmocka_unit_test_setup_teardown(test_card_removed_while_recording_is_recovered_on_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_campaign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_campaign_with_the_device_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_and_provision, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_without_nvm_identity_has_no_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_recipient, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_set_recipient_without_nvm_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_journal_tail_is_tail_lost_and_found_unjournaled, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_number_spent_without_a_file, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_format_starts_an_epoch_and_clock_changes_are_journalled, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_format_cut_before_epoch_start_is_finished_at_mount, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_signed_recording_checkpoints_and_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsigned_without_a_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealing_refuses_audio_changed_after_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_signed_recording_verifies_to_its_last_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_campaign_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wipe_refusals_and_what_it_leaves, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_wipe_without_nvm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wipe_cut_then_no_card, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_wipe_power_cut_campaign, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_recording_decrypts_seals_and_forgets_its_key, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_plain_again_once_the_recipient_is_cleared, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_encrypted_recovers_a_file_that_decrypts, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_encrypted_recording_is_sealed_to_its_last_checkpoint, setup_nvm, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_encrypted_recovery_and_sealing_campaign, setup_nvm, teardown),
    };
    /* REC_TEST_FILTER=test_power_cut* runs some of them (a debugging aid). */
    if (getenv("REC_TEST_FILTER")) cmocka_set_test_filter(getenv("REC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
