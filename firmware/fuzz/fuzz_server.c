/* Fuzz harness 2: the whole firmware (rec_app_init/rec_app_poll: protocol server, recorder,
 * card store) driven by arbitrary input through the fake port, over a RAM card holding two
 * finished recordings (made once, by the core itself, in the first call). The device boots once;
 * each input starts from a copy of the booted device's memory and card (fz_state_save).
 *
 * The input is a little program of operations (op byte, then its arguments):
 *   0 RAW n bytes of serial input, as they are      1 REQ: a well-formed request (valid CRC)
 *   2 FRAME: any version/kind/command/length, CRC made right   3 POLL up to n times (till idle)
 *   4 TIME: advance the clock    5 BUTTON press    6 MIC: n samples of audio
 *   7 CARD: remove/insert        8 LINK: cable off/on   9 write limit of the link   10 BATTERY
 *   11 DELETE with the right SHA-256 of a recording (looked up on the card: a fuzzer cannot
 *      guess a hash, and a verified delete is the most dangerous command there is)
 * Well-formed frames get past the CRC check, so the fuzzer reaches every command handler with
 * arbitrary payloads; raw bytes exercise the deframer and the error paths. The device has NVM
 * (the fake NOR flash, blank at each input), so IDENTITY and PROVISION reach the key, and every
 * journal append goes through the device's counter.
 *
 * Checked on every input: no sanitizer report or REC_ASSERT; every byte the device sends
 * decodes as a good frame (version 1, kind response/error/event, payload within the limit);
 * work is bounded (polls per operation and in all); and afterwards, with the cable, card and
 * link restored, a HELLO still gets its INFO answer. The card's written blocks and the device's
 * memory are put back before each input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/bd_ram.h"
#include "fakes/port_fake.h"
#include "fuzz_common.h"
#include "rec/app.h"
#include "rec/bytes.h"
#include "rec/device.h"
#include "rec/store.h"
#include "rec/err.h"
#include "rec/frame.h"
#include "rec_protocol.h"

static rec_bd_ram_t g_card;
static uint8_t *g_baseline;
static fz_card_info_t g_info;

/* host side: decodes everything the device sends */
static uint8_t g_host_buf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
static rec_deframer_t g_host;
static uint16_t g_want_seq; /* seq of the final HELLO; 0 while not waiting */
static bool g_got_info;
static uint32_t g_polls;

#define MAX_POLLS_PER_OP 64
#define FINAL_POLLS 20000

static void drain(void)
{
    uint8_t chunk[2048];
    size_t n;
    while ((n = port_fake_serial_drain(chunk, sizeof chunk)) > 0) {
        size_t off = 0;
        while (off < n) {
            size_t used;
            rec_deframer_item_t it;
            bool done = rec_deframer_push(&g_host, chunk + off, n - off, &used, &it);
            off += used;
            if (!done) continue;
            FZ_CHECK(it.status == REC_FRAME_OK, "the device sent a bad frame (%s, %zu bytes)", rec_frame_status_name(it.status),
                     it.bytes);
            FZ_CHECK(it.frame.kind == RP_KIND_RESPONSE || it.frame.kind == RP_KIND_ERROR || it.frame.kind == RP_KIND_EVENT,
                     "the device sent kind %u", it.frame.kind);
            if (it.frame.kind == RP_KIND_EVENT) FZ_CHECK(it.frame.seq == RP_UNSOLICITED_SEQ, "event with seq %u", it.frame.seq);
            if (g_want_seq && it.frame.seq == g_want_seq && it.frame.command == RP_CMD_HELLO) {
                FZ_CHECK(it.frame.kind == RP_KIND_RESPONSE && it.frame.length == RP_INFO_SIZE,
                         "HELLO answered with kind %u, %u bytes (error code %u)", it.frame.kind, it.frame.length,
                         it.frame.length >= 2 ? rec_get_u16(it.frame.payload) : 0);
                g_got_info = true;
            }
        }
    }
}

/* Up to n turns of the main loop, fewer when the device goes idle: a poll after which
 * rec_app_idle_ms() is not 0 did nothing, and with no time passing and no input arriving (the
 * harness moves both only between polls) the next one would do nothing either. */
static void poll(int n)
{
    for (int i = 0; i < n; i++) {
        rec_app_poll();
        g_polls++;
        drain();
        if (rec_app_idle_ms() != 0) break;
    }
}

static void feed(const uint8_t *p, size_t n)
{
    /* The link's buffer holds 64 KiB; a device that stops reading makes the rest drop, as a
     * full USB buffer would. */
    (void)port_fake_serial_feed(p, n);
}

/* Builds a frame with any header fields (the CRC made right) and feeds it; with `all`, polls
 * until the link has taken every byte. */
static void feed_frame(uint8_t version, uint8_t kind, uint16_t seq, uint16_t cmd, const uint8_t *payload, uint16_t len,
                       bool all)
{
    static uint8_t raw[RP_HEADER_SIZE + 9000 + RP_CRC_SIZE];
    static uint8_t wire[REC_COBS_MAX_ENCODED(sizeof raw) + 1];
    raw[RP_FRAME_HEADER_OFF_VERSION] = version;
    raw[RP_FRAME_HEADER_OFF_KIND] = kind;
    rec_put_u16(raw + RP_FRAME_HEADER_OFF_SEQ, seq);
    rec_put_u16(raw + RP_FRAME_HEADER_OFF_COMMAND, cmd);
    rec_put_u16(raw + RP_FRAME_HEADER_OFF_LENGTH, len);
    memcpy(raw + RP_HEADER_SIZE, payload, len);
    rec_put_u32(raw + RP_HEADER_SIZE + len, rec_crc32(0, raw, RP_HEADER_SIZE + len));
    size_t n;
    if (rec_cobs_encode(raw, RP_HEADER_SIZE + len + RP_CRC_SIZE, wire, sizeof wire - 1, &n) != REC_OK) return;
    wire[n++] = RP_DELIMITER;
    if (!all) {
        feed(wire, n);
        return;
    }
    /* A leading delimiter flushes any half frame the input left behind. */
    static const uint8_t flush[1] = { RP_DELIMITER };
    size_t off = 0;
    for (int i = 0; i < FINAL_POLLS && port_fake_serial_feed(flush, 1) == 0; i++) poll(1);
    for (int i = 0; i < FINAL_POLLS && off < n; i++) {
        off += port_fake_serial_feed(wire + off, n - off);
        if (off < n) poll(1);
    }
    FZ_CHECK(off == n, "the device stopped reading its input");
}

static uint16_t request_size(uint16_t cmd)
{
    switch (cmd) {
    case RP_CMD_HELLO: return RP_HELLO_REQ_SIZE;
    case RP_CMD_INFO: return RP_INFO_REQ_SIZE;
    case RP_CMD_SET_TIME: return RP_SET_TIME_REQ_SIZE;
    case RP_CMD_LIST: return RP_LIST_REQ_SIZE;
    case RP_CMD_READ: return RP_READ_REQ_SIZE;
    case RP_CMD_HASH: return RP_HASH_REQ_SIZE;
    case RP_CMD_DELETE: return RP_DELETE_REQ_SIZE;
    case RP_CMD_JOURNAL: return RP_JOURNAL_REQ_SIZE;
    case RP_CMD_SET_LABEL: return RP_SET_LABEL_REQ_SIZE;
    case RP_CMD_SETTINGS: return RP_SETTINGS_REQ_SIZE;
    case RP_CMD_RECORD: return RP_RECORD_REQ_SIZE;
    case RP_CMD_FORMAT: return RP_FORMAT_REQ_SIZE;
    default: return 0;
    }
}

static void take_payload(fz_in_t *in, uint8_t *buf, size_t len)
{
    const uint8_t *p;
    size_t got = fz_bytes(in, len, &p);
    memcpy(buf, p, got);
    memset(buf + got, 0, len - got);
}

static uint32_t g_ramp;

static void run_op(fz_in_t *in, bool *card_in, bool *linked)
{
    static uint8_t payload[9000];
    uint8_t op = fz_u8(in) % 12u;
    switch (op) {
    case 0: {
        const uint8_t *p;
        size_t n = fz_bytes(in, (size_t)fz_u8(in) + 1u, &p);
        feed(p, n);
        break;
    }
    case 1: {
        uint16_t cmd = fz_u8(in);
        uint16_t seq = fz_u16(in);
        uint8_t lensel = fz_u8(in);
        uint16_t len = (lensel & 0x80u) ? request_size(cmd) : (uint16_t)(lensel & 0x7fu);
        take_payload(in, payload, len);
        feed_frame(RP_VERSION, RP_KIND_REQUEST, seq, cmd, payload, len, false);
        break;
    }
    case 2: {
        uint8_t version = fz_u8(in), kind = fz_u8(in);
        uint16_t seq = fz_u16(in), cmd = fz_u16(in);
        uint16_t len = (uint16_t)(fz_u16(in) % 8400u); /* a little over the absolute limit */
        take_payload(in, payload, len);
        feed_frame(version, kind, seq, cmd, payload, len, false);
        break;
    }
    case 3: poll(fz_u8(in) % MAX_POLLS_PER_OP); break;
    case 4: port_fake_advance_ms(fz_u16(in)); break;
    case 5: port_fake_button_press(); break;
    case 6: {
        int16_t block[256];
        uint32_t n = (uint32_t)fz_u8(in) + 1u;
        for (uint32_t i = 0; i < n; i++) block[i] = (int16_t)(uint16_t)(g_ramp++ * 31u);
        (void)port_fake_mic_push(block, n);
        port_fake_advance_ns((uint64_t)n * 1000000000ull / FZ_RATE);
        break;
    }
    case 7:
        *card_in = !*card_in;
        port_fake_set_card_present(*card_in ? 1 : 0);
        rec_app_card_changed();
        break;
    case 8:
        *linked = !*linked;
        port_fake_serial_set_connected(*linked);
        if (!*linked) {
            /* The host went away: what it had not read is lost, as is half a frame. */
            uint8_t junk[4096];
            while (port_fake_serial_drain(junk, sizeof junk) > 0) {}
            rec_deframer_reset(&g_host);
        }
        break;
    case 9: {
        uint8_t lim = fz_u8(in);
        port_fake_serial_set_write_limit(lim ? lim : SIZE_MAX);
        break;
    }
    case 10: port_fake_set_battery_mv(fz_u16(in)); break;
    case 11: {
        uint32_t number = fz_u8(in) % 5u;
        uint16_t seq = fz_u16(in);
        rec_recording_t r;
        uint8_t q[RP_DELETE_REQ_SIZE];
        memset(q, 0, sizeof q);
        rec_put_u32(q + RP_DELETE_REQ_OFF_NUMBER, number);
        rec_device_t *d = rec_device();
        if (d->store.mounted && rec_store_find(&d->store, number, &r) == REC_OK && r.finished)
            memcpy(q + RP_DELETE_REQ_OFF_SHA256, r.evid.sha256, 32);
        feed_frame(RP_VERSION, RP_KIND_REQUEST, seq, RP_CMD_DELETE, q, sizeof q, false);
        break;
    }
    }
    poll(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_build_card(&g_card, false, &g_info);
    /* Booted once (NVM on, blank); every input starts from this device, memory and card. */
    if (fz_boot_nvm(&g_card, true) != REC_OK) abort();
    g_baseline = fz_snapshot(&g_card);
    memset(g_card.written_map, 0, (size_t)g_card.bd.block_count / 8 + 1);
    fz_state_save();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) return 0;
    rec_bd_ram_restore(&g_card, g_baseline);
    fz_state_restore();
    rec_deframer_init(&g_host, g_host_buf, sizeof g_host_buf, RP_ABSOLUTE_MAX_PAYLOAD);
    g_want_seq = 0;
    g_got_info = false;
    g_polls = 0;
    g_ramp = 0;

    fz_in_t in = { data, size, 0 };
    bool card_in = true, linked = true;
    for (int ops = 0; fz_more(&in) && ops < 2000; ops++) run_op(&in, &card_in, &linked);

    /* Whatever happened, the device must still answer: cable in, link free, card back. */
    port_fake_set_battery_mv(3900);
    port_fake_serial_set_write_limit(SIZE_MAX);
    if (!linked) port_fake_serial_set_connected(true);
    if (!card_in) {
        port_fake_set_card_present(1);
        rec_app_card_changed();
    }
    uint8_t hello[RP_HELLO_REQ_SIZE] = { 0 };
    rec_put_u16(hello + RP_HELLO_REQ_OFF_MAX_PAYLOAD, RP_MIN_MAX_PAYLOAD);
    g_want_seq = 0xF00D;
    /* Fed until all queued: the link may still hold much of the input. */
    feed_frame(RP_VERSION, RP_KIND_REQUEST, g_want_seq, RP_CMD_HELLO, hello, sizeof hello, true);
    for (int i = 0; i < FINAL_POLLS && !g_got_info; i++) poll(1);
    FZ_CHECK(g_got_info, "no INFO answer to HELLO after %d polls (%u polls in all)", FINAL_POLLS, g_polls);
    return 0;
}
