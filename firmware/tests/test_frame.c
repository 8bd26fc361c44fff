/* The C frame codec against the shared protocol vectors (protocol/generated/rec_vectors.h):
 * CRC-32, COBS, every message's field layout, every frame built and parsed, every reject with its
 * reason, the resynchronisation streams, and the streaming deframer fed whole, byte by byte and
 * in random chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/frame.h"
#include "rec_protocol.h"
#include "rec_vectors.h"
#include "support/hex.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static uint32_t rng_state = 0x9E3779B9u;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* ---- CRC-32 -------------------------------------------------------------------------------- */

static void test_crc_vectors(void **state)
{
    (void)state;
    assert_int_equal(rec_crc32(0, "123456789", 9), RP_CRC32_CHECK);
    for (size_t i = 0; i < RPV_COUNT(RPV_CRC); i++) {
        size_t n;
        uint8_t *in = rec_test_unhex(RPV_CRC[i].input_hex, &n);
        print_message("crc %s\n", RPV_CRC[i].name);
        assert_int_equal(rec_crc32(0, in, n), RPV_CRC[i].crc);
        /* Continuing over a split gives the same result. */
        for (size_t cut = 0; cut <= n; cut += (n / 5) + 1) {
            assert_int_equal(rec_crc32(rec_crc32(0, in, cut), in + cut, n - cut), RPV_CRC[i].crc);
        }
        free(in);
    }
}

/* ---- COBS ---------------------------------------------------------------------------------- */

static void test_cobs_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < RPV_COUNT(RPV_COBS); i++) {
        size_t dn, en, n;
        uint8_t *dec = rec_test_unhex(RPV_COBS[i].decoded_hex, &dn);
        uint8_t *enc = rec_test_unhex(RPV_COBS[i].encoded_hex, &en);
        print_message("cobs %s\n", RPV_COBS[i].name);
        assert_true(en <= REC_COBS_MAX_ENCODED(dn));

        uint8_t *out = malloc(REC_COBS_MAX_ENCODED(dn));
        assert_int_equal(rec_cobs_encode(dec, dn, out, REC_COBS_MAX_ENCODED(dn), &n), REC_OK);
        assert_int_equal(n, en);
        assert_memory_equal(out, enc, en);
        /* Exactly enough room works; one byte less does not. */
        assert_int_equal(rec_cobs_encode(dec, dn, out, en, &n), REC_OK);
        assert_int_equal(n, en);
        assert_int_equal(rec_cobs_encode(dec, dn, out, en - 1, &n), REC_E_RANGE);
        free(out);

        out = malloc(en);
        assert_int_equal(rec_cobs_decode(enc, en, out, en, &n), REC_OK);
        assert_int_equal(n, dn);
        if (dn) assert_memory_equal(out, dec, dn);
        if (dn > 0) assert_int_equal(rec_cobs_decode(enc, en, out, dn - 1, &n), REC_E_RANGE);
        free(out);

        /* In place. */
        assert_int_equal(rec_cobs_decode(enc, en, enc, en, &n), REC_OK);
        assert_int_equal(n, dn);
        if (dn) assert_memory_equal(enc, dec, dn);
        free(dec);
        free(enc);
    }
}

static void test_cobs_malformed(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t n;
    static const uint8_t zero_inside[] = { 0x03, 0x11, 0x00 };
    static const uint8_t zero_code[] = { 0x00, 0x01 };
    static const uint8_t past_end[] = { 0x05, 0x01, 0x02 };
    static const uint8_t past_end2[] = { 0x02, 0x11, 0x04, 0x22 };
    assert_int_equal(rec_cobs_decode(zero_inside, sizeof zero_inside, out, sizeof out, &n), REC_E_CORRUPT);
    assert_int_equal(rec_cobs_decode(zero_code, sizeof zero_code, out, sizeof out, &n), REC_E_CORRUPT);
    assert_int_equal(rec_cobs_decode(past_end, sizeof past_end, out, sizeof out, &n), REC_E_CORRUPT);
    assert_int_equal(rec_cobs_decode(past_end2, sizeof past_end2, out, sizeof out, &n), REC_E_CORRUPT);
    /* Empty input decodes to nothing. */
    assert_int_equal(rec_cobs_decode(out, 0, out, sizeof out, &n), REC_OK);
    assert_int_equal(n, 0);
}

static void test_cobs_random_roundtrip(void **state)
{
    (void)state;
    static uint8_t in[1200], enc[1300], dec[1300];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = rnd() % sizeof in;
        unsigned zero_pct = rnd() % 100;
        for (size_t i = 0; i < len; i++) in[i] = (rnd() % 100 < zero_pct) ? 0 : (uint8_t)(rnd() % 255 + 1);
        size_t en, dn;
        assert_int_equal(rec_cobs_encode(in, len, enc, sizeof enc, &en), REC_OK);
        assert_true(en <= REC_COBS_MAX_ENCODED(len));
        assert_null(memchr(enc, 0, en));
        assert_int_equal(rec_cobs_decode(enc, en, dec, sizeof dec, &dn), REC_OK);
        assert_int_equal(dn, len);
        assert_memory_equal(dec, in, len);
    }
}

/* ---- Messages: every field at the generated offset ----------------------------------------- */

/* The generated offset and size macros, by name. A macro renamed or removed in the schema breaks
 * this file's build; a field missing here fails the test. */
#define M(x) { #x, x }
static const struct {
    const char *name;
    uint32_t value;
} MACROS[] = {
    M(RP_FRAME_HEADER_SIZE),
    M(RP_ERROR_SIZE),
    M(RP_ERROR_OFF_CODE),
    M(RP_ERROR_OFF_RESERVED),
    M(RP_ERROR_OFF_DETAIL),
    M(RP_HELLO_REQ_SIZE),
    M(RP_HELLO_REQ_OFF_MAX_PAYLOAD),
    M(RP_HELLO_REQ_OFF_RESERVED),
    M(RP_INFO_REQ_SIZE),
    M(RP_INFO_SIZE),
    M(RP_INFO_OFF_PROTOCOL_VERSION),
    M(RP_INFO_OFF_FW_MAJOR),
    M(RP_INFO_OFF_FW_MINOR),
    M(RP_INFO_OFF_FW_PATCH),
    M(RP_INFO_OFF_MAX_PAYLOAD),
    M(RP_INFO_OFF_MAX_IN_FLIGHT),
    M(RP_INFO_OFF_DEVICE_ID),
    M(RP_INFO_OFF_MODEL),
    M(RP_INFO_OFF_LABEL),
    M(RP_INFO_OFF_CLOCK_UNIX_MS),
    M(RP_INFO_OFF_UPTIME_MS),
    M(RP_INFO_OFF_FLAGS),
    M(RP_INFO_OFF_REC_STATE),
    M(RP_INFO_OFF_CARD_STATE),
    M(RP_INFO_OFF_BUTTON_SCHEME),
    M(RP_INFO_OFF_BATTERY_MV),
    M(RP_INFO_OFF_RESERVED1),
    M(RP_INFO_OFF_SAMPLE_RATE),
    M(RP_INFO_OFF_CARD_CAPACITY),
    M(RP_INFO_OFF_CARD_FREE),
    M(RP_INFO_OFF_CURRENT_NUMBER),
    M(RP_INFO_OFF_CURRENT_SAMPLES),
    M(RP_INFO_OFF_NEXT_NUMBER),
    M(RP_INFO_OFF_RECORDING_COUNT),
    M(RP_INFO_OFF_JOURNAL_COUNT),
    M(RP_INFO_OFF_OVERRUNS_TOTAL),
    M(RP_INFO_OFF_CARD_SECONDS_LEFT),
    M(RP_INFO_OFF_BATTERY_SECONDS_LEFT),
    M(RP_SET_TIME_REQ_SIZE),
    M(RP_SET_TIME_REQ_OFF_UNIX_MS),
    M(RP_SET_TIME_SIZE),
    M(RP_SET_TIME_OFF_PREVIOUS_UNIX_MS),
    M(RP_SET_TIME_OFF_PREVIOUS_SET),
    M(RP_SET_TIME_OFF_RESERVED),
    M(RP_LIST_REQ_SIZE),
    M(RP_LIST_REQ_OFF_AFTER_NUMBER),
    M(RP_LIST_REQ_OFF_MAX_ENTRIES),
    M(RP_LIST_REQ_OFF_RESERVED),
    M(RP_LIST_SIZE),
    M(RP_LIST_OFF_TOTAL),
    M(RP_LIST_OFF_COUNT),
    M(RP_LIST_OFF_MORE),
    M(RP_LIST_OFF_RESERVED),
    M(RP_LIST_ENTRY_SIZE),
    M(RP_LIST_ENTRY_OFF_NUMBER),
    M(RP_LIST_ENTRY_OFF_STATE),
    M(RP_LIST_ENTRY_OFF_FLAGS),
    M(RP_LIST_ENTRY_OFF_STOP_REASON),
    M(RP_LIST_ENTRY_OFF_RESERVED),
    M(RP_LIST_ENTRY_OFF_NAME),
    M(RP_LIST_ENTRY_OFF_SIZE),
    M(RP_LIST_ENTRY_OFF_SIZE),
    M(RP_LIST_ENTRY_OFF_DATA_OFFSET),
    M(RP_LIST_ENTRY_OFF_SAMPLE_RATE),
    M(RP_LIST_ENTRY_OFF_SAMPLE_COUNT),
    M(RP_LIST_ENTRY_OFF_START_UNIX_MS),
    M(RP_LIST_ENTRY_OFF_SHA256),
    M(RP_READ_REQ_SIZE),
    M(RP_READ_REQ_OFF_NUMBER),
    M(RP_READ_REQ_OFF_OFFSET),
    M(RP_READ_REQ_OFF_LENGTH),
    M(RP_READ_SIZE),
    M(RP_READ_OFF_NUMBER),
    M(RP_READ_OFF_OFFSET),
    M(RP_READ_CHECKED_REQ_SIZE),
    M(RP_READ_CHECKED_REQ_OFF_NUMBER),
    M(RP_READ_CHECKED_REQ_OFF_OFFSET),
    M(RP_READ_CHECKED_REQ_OFF_LENGTH),
    M(RP_READ_CHECKED_REQ_OFF_PART),
    M(RP_READ_CHECKED_REQ_OFF_RESERVED),
    M(RP_READ_CHECKED_REQ_OFF_BLOCK_SIZE),
    M(RP_READ_CHECKED_SIZE),
    M(RP_READ_CHECKED_OFF_NUMBER),
    M(RP_READ_CHECKED_OFF_OFFSET),
    M(RP_READ_CHECKED_OFF_DATA_LENGTH),
    M(RP_READ_CHECKED_OFF_BLOCK_SIZE),
    M(RP_HASH_REQ_SIZE),
    M(RP_HASH_REQ_OFF_NUMBER),
    M(RP_HASH_REQ_OFF_ALGORITHM),
    M(RP_HASH_REQ_OFF_RESERVED),
    M(RP_HASH_REQ_OFF_OFFSET),
    M(RP_HASH_REQ_OFF_LENGTH),
    M(RP_HASH_SIZE),
    M(RP_HASH_OFF_NUMBER),
    M(RP_HASH_OFF_ALGORITHM),
    M(RP_HASH_OFF_RESERVED),
    M(RP_HASH_OFF_OFFSET),
    M(RP_HASH_OFF_LENGTH),
    M(RP_HASH_OFF_DIGEST),
    M(RP_DELETE_REQ_SIZE),
    M(RP_DELETE_REQ_OFF_NUMBER),
    M(RP_DELETE_REQ_OFF_SHA256),
    M(RP_DELETE_SIZE),
    M(RP_DELETE_OFF_NUMBER),
    M(RP_JOURNAL_REQ_SIZE),
    M(RP_JOURNAL_REQ_OFF_FROM_INDEX),
    M(RP_JOURNAL_REQ_OFF_MAX_RECORDS),
    M(RP_JOURNAL_REQ_OFF_RESERVED),
    M(RP_JOURNAL_SIZE),
    M(RP_JOURNAL_OFF_TOTAL),
    M(RP_JOURNAL_OFF_FROM_INDEX),
    M(RP_JOURNAL_OFF_COUNT),
    M(RP_JOURNAL_OFF_RESERVED),
    M(RP_SET_LABEL_REQ_SIZE),
    M(RP_SET_LABEL_REQ_OFF_LABEL),
    M(RP_SET_LABEL_SIZE),
    M(RP_SETTINGS_REQ_SIZE),
    M(RP_SETTINGS_REQ_OFF_SET_MASK),
    M(RP_SETTINGS_REQ_OFF_DISCREET),
    M(RP_SETTINGS_REQ_OFF_BUTTON_SCHEME),
    M(RP_SETTINGS_REQ_OFF_RESERVED),
    M(RP_SETTINGS_REQ_OFF_SAMPLE_RATE),
    M(RP_SETTINGS_SIZE),
    M(RP_SETTINGS_OFF_DISCREET),
    M(RP_SETTINGS_OFF_BUTTON_SCHEME),
    M(RP_SETTINGS_OFF_RESERVED),
    M(RP_SETTINGS_OFF_SAMPLE_RATE),
    M(RP_RECORD_REQ_SIZE),
    M(RP_RECORD_REQ_OFF_ACTION),
    M(RP_RECORD_REQ_OFF_RESERVED),
    M(RP_RECORD_SIZE),
    M(RP_RECORD_OFF_REC_STATE),
    M(RP_RECORD_OFF_RESERVED),
    M(RP_RECORD_OFF_NUMBER),
    M(RP_FORMAT_REQ_SIZE),
    M(RP_FORMAT_REQ_OFF_MAGIC),
    M(RP_FORMAT_REQ_OFF_RESERVED),
    M(RP_FORMAT_REQ_OFF_DEVICE_ID),
    M(RP_FORMAT_SIZE),
    M(RP_STATE_EVENT_SIZE),
    M(RP_STATE_EVENT_OFF_REC_STATE),
    M(RP_STATE_EVENT_OFF_CARD_STATE),
    M(RP_STATE_EVENT_OFF_RESERVED),
    M(RP_STATE_EVENT_OFF_NUMBER),
    M(RP_STATE_EVENT_OFF_SAMPLES),
    M(RP_JOURNAL_RECORD_SIZE),
    M(RP_JOURNAL_RECORD_OFF_MAGIC),
    M(RP_JOURNAL_RECORD_OFF_VERSION),
    M(RP_JOURNAL_RECORD_OFF_SIZE),
    M(RP_JOURNAL_RECORD_OFF_SIZE),
    M(RP_JOURNAL_RECORD_OFF_INDEX),
    M(RP_JOURNAL_RECORD_OFF_NUMBER),
    M(RP_JOURNAL_RECORD_OFF_START_UNIX_MS),
    M(RP_JOURNAL_RECORD_OFF_STOP_UNIX_MS),
    M(RP_JOURNAL_RECORD_OFF_START_UPTIME_MS),
    M(RP_JOURNAL_RECORD_OFF_STOP_UPTIME_MS),
    M(RP_JOURNAL_RECORD_OFF_SAMPLE_RATE),
    M(RP_JOURNAL_RECORD_OFF_SAMPLE_COUNT),
    M(RP_JOURNAL_RECORD_OFF_STOP_REASON),
    M(RP_JOURNAL_RECORD_OFF_FLAGS),
    M(RP_JOURNAL_RECORD_OFF_KIND),
    M(RP_JOURNAL_RECORD_OFF_OVERRUNS),
    M(RP_JOURNAL_RECORD_OFF_SHA256),
    M(RP_JOURNAL_RECORD_OFF_PREV_HASH),
    M(RP_EVIDENCE_CHUNK_SIZE),
    M(RP_EVIDENCE_CHUNK_OFF_VERSION),
    M(RP_EVIDENCE_CHUNK_OFF_SIZE),
    M(RP_EVIDENCE_CHUNK_OFF_SIZE),
    M(RP_EVIDENCE_CHUNK_OFF_NUMBER),
    M(RP_EVIDENCE_CHUNK_OFF_DEVICE_ID),
    M(RP_EVIDENCE_CHUNK_OFF_SAMPLE_RATE),
    M(RP_EVIDENCE_CHUNK_OFF_SAMPLE_COUNT),
    M(RP_EVIDENCE_CHUNK_OFF_START_UNIX_MS),
    M(RP_EVIDENCE_CHUNK_OFF_STOP_REASON),
    M(RP_EVIDENCE_CHUNK_OFF_FLAGS),
    M(RP_EVIDENCE_CHUNK_OFF_RESERVED),
    M(RP_EVIDENCE_CHUNK_OFF_OVERRUNS),
    M(RP_EVIDENCE_CHUNK_OFF_SHA256),
    M(RP_SETTINGS_BLOB_SIZE),
    M(RP_SETTINGS_BLOB_OFF_MAGIC),
    M(RP_SETTINGS_BLOB_OFF_VERSION),
    M(RP_SETTINGS_BLOB_OFF_SIZE),
    M(RP_SETTINGS_BLOB_OFF_DEVICE_ID),
    M(RP_SETTINGS_BLOB_OFF_LABEL),
    M(RP_SETTINGS_BLOB_OFF_SAMPLE_RATE),
    M(RP_SETTINGS_BLOB_OFF_DISCREET),
    M(RP_SETTINGS_BLOB_OFF_BUTTON_SCHEME),
    M(RP_SETTINGS_BLOB_OFF_RESERVED),
    M(RP_SETTINGS_BLOB_OFF_NEXT_NUMBER),
    M(RP_SETTINGS_BLOB_OFF_CRC32),
    M(RP_STATE_MARKER_SIZE),
    M(RP_STATE_MARKER_OFF_MAGIC),
    M(RP_STATE_MARKER_OFF_VERSION),
    M(RP_STATE_MARKER_OFF_SIZE),
    M(RP_STATE_MARKER_OFF_SEQUENCE),
    M(RP_STATE_MARKER_OFF_FLAGS),
    M(RP_STATE_MARKER_OFF_RESERVED),
    M(RP_STATE_MARKER_OFF_CRC32),
    M(RP_RP2040_SETTINGS_COPY_SIZE),
    M(RP_RP2040_SETTINGS_COPY_OFF_MAGIC),
    M(RP_RP2040_SETTINGS_COPY_OFF_SEQUENCE),
    M(RP_RP2040_SETTINGS_COPY_OFF_LENGTH),
    M(RP_RP2040_SETTINGS_COPY_OFF_RESERVED0),
    M(RP_RP2040_SETTINGS_COPY_OFF_RESERVED1),
    M(RP_QEMU_SETTINGS_COPY_SIZE),
    M(RP_QEMU_SETTINGS_COPY_OFF_MAGIC),
    M(RP_QEMU_SETTINGS_COPY_OFF_SEQUENCE),
    M(RP_QEMU_SETTINGS_COPY_OFF_LENGTH),
    M(RP_QEMU_SETTINGS_COPY_OFF_CRC32),
    M(RP_RIFF_CHUNK_HEADER_SIZE),
    M(RP_RIFF_CHUNK_HEADER_OFF_ID),
    M(RP_RIFF_CHUNK_HEADER_OFF_SIZE),
    M(RP_WAV_FMT_SIZE),
    M(RP_WAV_FMT_OFF_FORMAT_TAG),
    M(RP_WAV_FMT_OFF_CHANNELS),
    M(RP_WAV_FMT_OFF_SAMPLE_RATE),
    M(RP_WAV_FMT_OFF_BYTE_RATE),
    M(RP_WAV_FMT_OFF_BLOCK_ALIGN),
    M(RP_WAV_FMT_OFF_BITS_PER_SAMPLE),
    M(RP_BEXT_SIZE),
    M(RP_BEXT_OFF_DESCRIPTION),
    M(RP_BEXT_OFF_ORIGINATOR),
    M(RP_BEXT_OFF_ORIGINATOR_REFERENCE),
    M(RP_BEXT_OFF_ORIGINATION_DATE),
    M(RP_BEXT_OFF_ORIGINATION_TIME),
    M(RP_BEXT_OFF_TIME_REFERENCE),
    M(RP_BEXT_OFF_VERSION),
    M(RP_BEXT_OFF_UMID),
    M(RP_BEXT_OFF_LOUDNESS),
    M(RP_BEXT_OFF_RESERVED),
    M(RP_LIST_ENTRY_OFF_STATEMENT_SIZE),
    M(RP_LIST_ENTRY_OFF_SIGNIFY_SIZE),
    M(RP_LIST_ENTRY_OFF_MINISIGN_SIZE),
    M(RP_LIST_ENTRY_OFF_CHECKPOINTS_SIZE),
    M(RP_READ_REQ_OFF_PART),
    M(RP_READ_REQ_OFF_RESERVED),
    M(RP_HASH_REQ_OFF_PART),
    M(RP_IDENTITY_REQ_SIZE),
    M(RP_IDENTITY_REQ_OFF_NONCE),
    M(RP_IDENTITY_SIZE),
    M(RP_IDENTITY_OFF_PUBLIC_KEY),
    M(RP_IDENTITY_OFF_KEY_ID),
    M(RP_IDENTITY_OFF_UNIQUE_ID),
    M(RP_IDENTITY_OFF_DEVICE_ID),
    M(RP_IDENTITY_OFF_ENTROPY_SOURCE),
    M(RP_IDENTITY_OFF_FLAGS),
    M(RP_IDENTITY_OFF_RESERVED),
    M(RP_IDENTITY_OFF_JOURNAL_EPOCH),
    M(RP_IDENTITY_OFF_JOURNAL_COUNT),
    M(RP_IDENTITY_OFF_JOURNAL_HEAD),
    M(RP_IDENTITY_OFF_CLOCK_UNIX_MS),
    M(RP_IDENTITY_OFF_UPTIME_MS),
    M(RP_IDENTITY_OFF_SIGNATURE),
    M(RP_PROVISION_REQ_SIZE),
    M(RP_PROVISION_REQ_OFF_MAGIC),
    M(RP_PROVISION_REQ_OFF_FLAGS),
    M(RP_PROVISION_REQ_OFF_RESERVED),
    M(RP_PROVISION_REQ_OFF_HOST_RANDOM),
    M(RP_SET_RECIPIENT_REQ_SIZE),
    M(RP_SET_RECIPIENT_REQ_OFF_ACTION),
    M(RP_SET_RECIPIENT_REQ_OFF_RESERVED),
    M(RP_SET_RECIPIENT_REQ_OFF_RECIPIENT),
    M(RP_RECIPIENT_SIZE),
    M(RP_RECIPIENT_OFF_FLAGS),
    M(RP_RECIPIENT_OFF_RESERVED),
    M(RP_RECIPIENT_OFF_RECIPIENT),
    M(RP_WIPE_REQ_SIZE),
    M(RP_WIPE_REQ_OFF_MAGIC),
    M(RP_WIPE_REQ_OFF_RECORDINGS),
    M(RP_WIPE_REQ_OFF_NEWEST_NUMBER),
    M(RP_WIPE_REQ_OFF_RESERVED),
    M(RP_WIPE_REQ_OFF_DEVICE_ID),
    M(RP_WIPE_SIZE),
    M(RP_WIPE_OFF_STATE),
    M(RP_WIPE_OFF_METHOD),
    M(RP_WIPE_OFF_RESERVED),
    M(RP_WIPE_OFF_EPOCH),
    M(RP_WIPE_OFF_BLOCKS_ERASED),
    M(RP_CARD_TEST_REQ_SIZE),
    M(RP_CARD_TEST_REQ_OFF_BYTES),
    M(RP_CARD_TEST_REQ_OFF_SEED),
    M(RP_CARD_TEST_SIZE),
    M(RP_CARD_TEST_OFF_CAPACITY_BYTES),
    M(RP_CARD_TEST_OFF_FREE_BYTES),
    M(RP_CARD_TEST_OFF_TESTED_BYTES),
    M(RP_CARD_TEST_OFF_WRITE_MS),
    M(RP_CARD_TEST_OFF_READ_MS),
    M(RP_CARD_TEST_OFF_WRITE_BYTES_PER_SECOND),
    M(RP_CARD_TEST_OFF_READ_BYTES_PER_SECOND),
    M(RP_CARD_TEST_OFF_FIRST_MISMATCH),
    M(RP_CARD_TEST_OFF_FILE_SYSTEM),
    M(RP_CARD_TEST_OFF_READ_BACK_MATCHED),
    M(RP_CARD_TEST_OFF_RESERVED),
    M(RP_MARK_REQ_SIZE),
    M(RP_MARK_SIZE),
    M(RP_MARK_OFF_NUMBER),
    M(RP_MARK_OFF_MARKER),
    M(RP_MARK_OFF_SAMPLE_OFFSET),
    M(RP_MARK_OFF_SAMPLE_RATE),
    M(RP_CUE_POINT_SIZE),
    M(RP_CUE_POINT_OFF_NAME),
    M(RP_CUE_POINT_OFF_POSITION),
    M(RP_CUE_POINT_OFF_CHUNK),
    M(RP_CUE_POINT_OFF_CHUNK_START),
    M(RP_CUE_POINT_OFF_BLOCK_START),
    M(RP_CUE_POINT_OFF_SAMPLE_OFFSET),
    M(RP_CHECKPOINT_SLOT_SIZE),
    M(RP_CHECKPOINT_SLOT_OFF_MESSAGE),
    M(RP_CHECKPOINT_SLOT_OFF_SIGNATURE),
    M(RP_NVM_IDENTITY_SIZE),
    M(RP_NVM_IDENTITY_OFF_MAGIC),
    M(RP_NVM_IDENTITY_OFF_VERSION),
    M(RP_NVM_IDENTITY_OFF_SIZE),
    M(RP_NVM_IDENTITY_OFF_FLAGS),
    M(RP_NVM_IDENTITY_OFF_ENTROPY_SOURCE),
    M(RP_NVM_IDENTITY_OFF_RESERVED0),
    M(RP_NVM_IDENTITY_OFF_RAW_BITS),
    M(RP_NVM_IDENTITY_OFF_ONES),
    M(RP_NVM_IDENTITY_OFF_LONGEST_RUN),
    M(RP_NVM_IDENTITY_OFF_TRANSITIONS),
    M(RP_NVM_IDENTITY_OFF_SEED),
    M(RP_NVM_IDENTITY_OFF_PUBLIC_KEY),
    M(RP_NVM_IDENTITY_OFF_UNIQUE_ID),
    M(RP_NVM_IDENTITY_OFF_KEY_ID),
    M(RP_NVM_IDENTITY_OFF_RESERVED1),
    M(RP_NVM_IDENTITY_OFF_CRC32),
    M(RP_NVM_RECIPIENT_SIZE),
    M(RP_NVM_RECIPIENT_OFF_MAGIC),
    M(RP_NVM_RECIPIENT_OFF_VERSION),
    M(RP_NVM_RECIPIENT_OFF_SIZE),
    M(RP_NVM_RECIPIENT_OFF_FLAGS),
    M(RP_NVM_RECIPIENT_OFF_RECIPIENT),
    M(RP_NVM_RECIPIENT_OFF_RESERVED),
    M(RP_NVM_RECIPIENT_OFF_CRC32),
    M(RP_AGE_FINAL_SIZE),
    M(RP_AGE_FINAL_OFF_MAGIC),
    M(RP_AGE_FINAL_OFF_VERSION),
    M(RP_AGE_FINAL_OFF_SIZE),
    M(RP_AGE_FINAL_OFF_NUMBER),
    M(RP_AGE_FINAL_OFF_DATA_BYTES),
    M(RP_AGE_FINAL_OFF_OVERRUNS),
    M(RP_AGE_FINAL_OFF_STOP_REASON),
    M(RP_AGE_FINAL_OFF_FLAGS),
    M(RP_AGE_FINAL_OFF_RESERVED),
    M(RP_AGE_FINAL_OFF_SHA256),
    M(RP_AGE_FINAL_OFF_CRC32),
    M(RP_NVM_STATE_ENTRY_SIZE),
    M(RP_NVM_STATE_ENTRY_OFF_MAGIC),
    M(RP_NVM_STATE_ENTRY_OFF_KIND),
    M(RP_NVM_STATE_ENTRY_OFF_LENGTH),
    M(RP_NVM_STATE_ENTRY_OFF_RESERVED),
    M(RP_NVM_STATE_ENTRY_OFF_SEQUENCE),
    M(RP_NVM_STATE_ENTRY_OFF_PAYLOAD),
    M(RP_NVM_STATE_ENTRY_OFF_CRC32),
};

static bool macro_value(const char *name, uint32_t *v)
{
    for (size_t i = 0; i < REC_COUNT_OF(MACROS); i++) {
        if (strcmp(MACROS[i].name, name) == 0) {
            *v = MACROS[i].value;
            return true;
        }
    }
    return false;
}

/* camelCase -> SNAKE_CASE, as the generator does. */
static void snake(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 2 < cap; i++) {
        char c = in[i];
        if (i > 0 && c >= 'A' && c <= 'Z') {
            char p = in[i - 1];
            if ((p >= 'a' && p <= 'z') || (p >= '0' && p <= '9')) out[o++] = '_';
        }
        out[o++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    out[o] = 0;
}

static void test_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < RPV_COUNT(RPV_MESSAGES); i++) {
        const rpv_message_t *m = &RPV_MESSAGES[i];
        size_t n;
        uint8_t *b = rec_test_unhex(m->bytes_hex, &n);
        char sname[64], fname[64], macro[160];
        snake(m->name, sname, sizeof sname);
        print_message("message %s\n", m->name);

        uint32_t size;
        snprintf(macro, sizeof macro, "RP_%s_SIZE", sname);
        if (!macro_value(macro, &size)) fail_msg("no macro %s", macro);
        assert_true(n >= size);

        for (size_t f = 0; f < m->field_count; f++) {
            const rpv_field_t *fd = &m->fields[f];
            if (fd->size == 0) continue;
            snake(fd->name, fname, sizeof fname);
            snprintf(macro, sizeof macro, "RP_%s_OFF_%s", sname, fname);
            uint32_t off;
            if (!macro_value(macro, &off)) fail_msg("no macro %s", macro);
            assert_int_equal(off, fd->offset);
            assert_true(off + fd->size <= size);
            const uint8_t *p = b + off;
            if (fd->is_int) {
                uint64_t v = 0;
                switch (fd->size) {
                case 1: v = p[0]; break;
                case 2: v = rec_get_u16(p); break;
                case 4: v = rec_get_u32(p); break;
                case 8: v = rec_get_u64(p); break;
                default: fail_msg("%s.%s: integer of %u bytes", m->name, fd->name, (unsigned)fd->size);
                }
                if (v != fd->u) fail_msg("%s.%s: %llx, expected %llx", m->name, fd->name, (unsigned long long)v, (unsigned long long)fd->u);
            } else {
                size_t hn;
                uint8_t *want = rec_test_unhex(fd->hex, &hn);
                assert_true(hn <= fd->size);
                if (hn) assert_memory_equal(p, want, hn);
                for (size_t k = hn; k < fd->size; k++) assert_int_equal(p[k], 0); /* text padding */
                free(want);
            }
        }
        free(b);
    }
    /* The header offsets the frame code uses agree with the struct. */
    assert_int_equal(RP_FRAME_HEADER_SIZE, RP_HEADER_SIZE);
}

/* ---- Frames -------------------------------------------------------------------------------- */

static void test_frames_build(void **state)
{
    (void)state;
    for (size_t i = 0; i < RPV_COUNT(RPV_FRAMES); i++) {
        const rpv_frame_t *v = &RPV_FRAMES[i];
        size_t pn, wn, n;
        uint8_t *payload = rec_test_unhex(v->payload_hex, &pn);
        uint8_t *wire = rec_test_unhex(v->wire_hex, &wn);
        print_message("frame %s\n", v->name);
        rec_frame_t f = { .kind = v->kind, .seq = v->seq, .command = v->command, .length = (uint16_t)pn, .payload = payload };
        size_t cap = REC_FRAME_WIRE_MAX(pn);
        assert_true(wn <= cap);
        uint8_t *out = malloc(cap);
        assert_int_equal(rec_frame_encode(&f, out, cap, &n), REC_OK);
        assert_int_equal(n, wn);
        assert_memory_equal(out, wire, wn);
        assert_int_equal(rec_frame_encode(&f, out, wn, &n), REC_OK);
        assert_int_equal(rec_frame_encode(&f, out, wn - 1, &n), REC_E_RANGE);
        assert_int_equal(rec_frame_encode(&f, out, 1, &n), REC_E_RANGE);
        free(out);
        free(payload);
        free(wire);
    }
    /* Too large a payload is refused. */
    static uint8_t big[RP_ABSOLUTE_MAX_PAYLOAD + 1];
    static uint8_t out[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD + 1)];
    size_t n;
    rec_frame_t f = { .kind = 1, .seq = 1, .command = 5, .length = RP_ABSOLUTE_MAX_PAYLOAD + 1, .payload = big };
    assert_int_equal(rec_frame_encode(&f, out, sizeof out, &n), REC_E_INVAL);
    f.length = RP_ABSOLUTE_MAX_PAYLOAD;
    assert_int_equal(rec_frame_encode(&f, out, sizeof out, &n), REC_OK);
}

static void test_frames_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < RPV_COUNT(RPV_FRAMES); i++) {
        const rpv_frame_t *v = &RPV_FRAMES[i];
        size_t pn, wn;
        uint8_t *payload = rec_test_unhex(v->payload_hex, &pn);
        print_message("frame %s\n", v->name);
        for (int strip = 0; strip < 2; strip++) {
            uint8_t *wire = rec_test_unhex(v->wire_hex, &wn);
            rec_frame_t f;
            memset(&f, 0xAA, sizeof f);
            assert_int_equal(rec_frame_decode_wire(wire, wn - (size_t)strip, RP_ABSOLUTE_MAX_PAYLOAD, &f), REC_FRAME_OK);
            assert_int_equal(f.version, RP_VERSION);
            assert_int_equal(f.kind, v->kind);
            assert_int_equal(f.seq, v->seq);
            assert_int_equal(f.command, v->command);
            assert_int_equal(f.length, pn);
            if (pn) assert_memory_equal(f.payload, payload, pn);
            free(wire);
        }
        free(payload);
    }
}

static rec_frame_status_t status_by_name(const char *reason)
{
    for (int s = REC_FRAME_OK; s <= REC_FRAME_VERSION; s++) {
        if (strcmp(rec_frame_status_name((rec_frame_status_t)s), reason) == 0) return (rec_frame_status_t)s;
    }
    fail_msg("unknown reason %s", reason);
    return REC_FRAME_OK;
}

static void test_rejects(void **state)
{
    (void)state;
    static uint8_t dbuf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
    for (size_t i = 0; i < RPV_COUNT(RPV_REJECTS); i++) {
        const rpv_reject_t *v = &RPV_REJECTS[i];
        size_t wn;
        print_message("reject %s (%s)\n", v->name, v->reason);
        rec_frame_status_t want = status_by_name(v->reason);
        assert_int_not_equal(want, REC_FRAME_OK);

        uint8_t *wire = rec_test_unhex(v->wire_hex, &wn);
        rec_frame_t f;
        assert_int_equal(rec_frame_decode_wire(wire, wn, RP_ABSOLUTE_MAX_PAYLOAD, &f), want);
        if (want == REC_FRAME_VERSION) {
            /* Intact but of another version: the server still learns seq and command. */
            assert_int_equal(f.version, 2);
            assert_int_equal(f.seq, 5);
            assert_int_equal(f.command, RP_CMD_INFO);
            assert_int_equal(f.kind, RP_KIND_REQUEST);
        }
        free(wire);

        /* Through the deframer: exactly one item, with the same reason and the byte count. */
        wire = rec_test_unhex(v->wire_hex, &wn);
        rec_deframer_t d;
        rec_deframer_init(&d, dbuf, sizeof dbuf, RP_ABSOLUTE_MAX_PAYLOAD);
        rec_deframer_item_t item;
        size_t used, off = 0, items = 0;
        while (off < wn) {
            if (rec_deframer_push(&d, wire + off, wn - off, &used, &item)) {
                items++;
                assert_int_equal(item.status, want);
                assert_int_equal(item.bytes, wn - 1);
                if (want == REC_FRAME_VERSION) assert_int_equal(item.frame.seq, 5);
            }
            off += used;
        }
        assert_int_equal(items, 1);
        assert_int_equal(rec_deframer_pending(&d), 0);
        free(wire);
    }
}

/* ---- Streams and the deframer -------------------------------------------------------------- */

typedef struct {
    size_t frames, errors;
    rec_frame_t got[8];
    uint8_t *payload[8];
} collected_t;

static void collect(collected_t *c, const rec_deframer_item_t *item)
{
    if (item->status != REC_FRAME_OK) {
        c->errors++;
        return;
    }
    assert_true(c->frames < 8);
    c->got[c->frames] = item->frame;
    /* The payload lives in the deframer's buffer only until the next push: copy it. */
    c->payload[c->frames] = malloc(item->frame.length + 1u);
    if (item->frame.length) memcpy(c->payload[c->frames], item->frame.payload, item->frame.length);
    c->got[c->frames].payload = c->payload[c->frames];
    c->frames++;
}

/* Feeds wire in chunks: mode 0 whole, 1 byte by byte, 2 random chunks. */
static void run_stream(const uint8_t *wire, size_t wn, int mode, collected_t *c)
{
    static uint8_t dbuf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
    rec_deframer_t d;
    rec_deframer_init(&d, dbuf, sizeof dbuf, RP_ABSOLUTE_MAX_PAYLOAD);
    memset(c, 0, sizeof *c);
    size_t off = 0;
    while (off < wn) {
        size_t chunk = mode == 0 ? wn - off : mode == 1 ? 1 : 1 + rnd() % 97;
        if (chunk > wn - off) chunk = wn - off;
        const uint8_t *p = wire + off;
        size_t left = chunk;
        while (left > 0) {
            size_t used;
            rec_deframer_item_t item;
            if (rec_deframer_push(&d, p, left, &used, &item)) collect(c, &item);
            assert_true(used > 0 || left == 0);
            assert_true(used <= left);
            p += used;
            left -= used;
        }
        off += chunk;
    }
}

static void free_collected(collected_t *c)
{
    for (size_t i = 0; i < c->frames; i++) free(c->payload[i]);
}

static void test_streams(void **state)
{
    (void)state;
    for (size_t s = 0; s < RPV_COUNT(RPV_STREAMS); s++) {
        const rpv_stream_t *v = &RPV_STREAMS[s];
        size_t wn;
        uint8_t *wire = rec_test_unhex(v->wire_hex, &wn);
        for (int mode = 0; mode < 3; mode++) {
            for (int rep = 0; rep < (mode == 2 ? 20 : 1); rep++) {
                collected_t c;
                print_message("stream %s mode %d\n", v->name, mode);
                run_stream(wire, wn, mode, &c);
                assert_int_equal(c.frames, v->frame_count);
                assert_int_equal(c.errors, v->errors);
                for (size_t i = 0; i < c.frames; i++) {
                    size_t en;
                    uint8_t *exp = rec_test_unhex(v->frames_hex[i], &en);
                    rec_frame_t want;
                    assert_int_equal(rec_frame_decode_wire(exp, en, RP_ABSOLUTE_MAX_PAYLOAD, &want), REC_FRAME_OK);
                    assert_int_equal(c.got[i].kind, want.kind);
                    assert_int_equal(c.got[i].seq, want.seq);
                    assert_int_equal(c.got[i].command, want.command);
                    assert_int_equal(c.got[i].length, want.length);
                    if (want.length) assert_memory_equal(c.got[i].payload, want.payload, want.length);
                    free(exp);
                }
                free_collected(&c);
            }
        }
        free(wire);
    }
}

/* Every vector frame, concatenated with noise, split at random points. */
static void test_all_frames_split(void **state)
{
    (void)state;
    size_t total = 0;
    for (size_t i = 0; i < RPV_COUNT(RPV_FRAMES); i++) total += strlen(RPV_FRAMES[i].wire_hex) / 2 + 1;
    uint8_t *all = malloc(total);
    size_t off = 0;
    for (size_t i = 0; i < RPV_COUNT(RPV_FRAMES); i++) {
        size_t wn;
        uint8_t *w = rec_test_unhex(RPV_FRAMES[i].wire_hex, &wn);
        memcpy(all + off, w, wn);
        off += wn;
        all[off++] = 0; /* an empty frame between each: ignored */
        free(w);
    }
    static uint8_t dbuf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
    for (int mode = 0; mode < 3; mode++) {
        rec_deframer_t d;
        rec_deframer_init(&d, dbuf, sizeof dbuf, RP_ABSOLUTE_MAX_PAYLOAD);
        size_t next = 0, pos = 0;
        while (pos < off) {
            size_t chunk = mode == 0 ? off - pos : mode == 1 ? 1 : 1 + rnd() % 300;
            if (chunk > off - pos) chunk = off - pos;
            size_t used;
            rec_deframer_item_t item;
            if (rec_deframer_push(&d, all + pos, chunk, &used, &item)) {
                assert_int_equal(item.status, REC_FRAME_OK);
                assert_true(next < RPV_COUNT(RPV_FRAMES));
                const rpv_frame_t *v = &RPV_FRAMES[next++];
                size_t pn;
                uint8_t *payload = rec_test_unhex(v->payload_hex, &pn);
                assert_int_equal(item.frame.kind, v->kind);
                assert_int_equal(item.frame.seq, v->seq);
                assert_int_equal(item.frame.command, v->command);
                assert_int_equal(item.frame.length, pn);
                if (pn) assert_memory_equal(item.frame.payload, payload, pn);
                free(payload);
            }
            pos += used;
        }
        assert_int_equal(next, RPV_COUNT(RPV_FRAMES));
    }
    free(all);
}

static size_t push_all(rec_deframer_t *d, const uint8_t *p, size_t n, rec_deframer_item_t *items, size_t max)
{
    size_t count = 0;
    while (n > 0) {
        size_t used;
        rec_deframer_item_t item;
        if (rec_deframer_push(d, p, n, &used, &item)) {
            assert_true(count < max);
            items[count++] = item;
        }
        p += used;
        n -= used;
    }
    return count;
}

static void test_deframer_limits(void **state)
{
    (void)state;
    enum { MAXP = 16 };
    uint8_t buf[REC_DEFRAMER_BUF_SIZE(MAXP)];
    rec_deframer_t d;
    rec_deframer_init(&d, buf, sizeof buf, MAXP);
    rec_deframer_item_t items[8];
    uint8_t wire[REC_FRAME_WIRE_MAX(64)];
    uint8_t payload[64];
    size_t wn;
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i + 1);

    /* Runs of delimiters are ignored. */
    static const uint8_t zeros[5] = { 0 };
    assert_int_equal(push_all(&d, zeros, sizeof zeros, items, 8), 0);

    /* The largest payload passes. */
    rec_frame_t f = { .kind = RP_KIND_REQUEST, .seq = 7, .command = RP_CMD_READ, .length = MAXP, .payload = payload };
    assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &wn), REC_OK);
    assert_int_equal(push_all(&d, wire, wn, items, 8), 1);
    assert_int_equal(items[0].status, REC_FRAME_OK);
    assert_int_equal(items[0].frame.length, MAXP);

    /* One byte more is oversize. */
    f.length = MAXP + 1;
    assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &wn), REC_OK);
    assert_int_equal(push_all(&d, wire, wn, items, 8), 1);
    assert_int_equal(items[0].status, REC_FRAME_OVERSIZE);

    /* Far too long: dropped while it arrives, reported once at the delimiter with its size,
     * and the next frame is received normally. */
    f.length = 64;
    assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &wn), REC_OK);
    assert_int_equal(push_all(&d, wire, wn - 1, items, 8), 0);
    assert_int_equal(rec_deframer_pending(&d), wn - 1);
    assert_int_equal(push_all(&d, wire + wn - 1, 1, items, 8), 1);
    assert_int_equal(items[0].status, REC_FRAME_OVERSIZE);
    assert_int_equal(items[0].bytes, wn - 1);
    assert_int_equal(rec_deframer_pending(&d), 0);
    f.length = 3;
    assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &wn), REC_OK);
    assert_int_equal(push_all(&d, wire, wn, items, 8), 1);
    assert_int_equal(items[0].status, REC_FRAME_OK);
    assert_int_equal(items[0].frame.seq, 7);

    /* Reset drops a partial frame. */
    assert_int_equal(push_all(&d, wire, 4, items, 8), 0);
    assert_int_equal(rec_deframer_pending(&d), 4);
    rec_deframer_reset(&d);
    assert_int_equal(rec_deframer_pending(&d), 0);
    assert_int_equal(push_all(&d, wire, wn, items, 8), 1);
    assert_int_equal(items[0].status, REC_FRAME_OK);

    /* Garbage then a delimiter is one error. */
    static const uint8_t junk[] = { 0x05, 0x01, 0x02, 0x00 };
    assert_int_equal(push_all(&d, junk, sizeof junk, items, 8), 1);
    assert_int_equal(items[0].status, REC_FRAME_COBS);
    assert_int_equal(items[0].bytes, 3);
}

/* Random frames through encode and the deframer. */
static void test_random_roundtrip(void **state)
{
    (void)state;
    static uint8_t payload[RP_ABSOLUTE_MAX_PAYLOAD];
    static uint8_t wire[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD)];
    static uint8_t dbuf[REC_DEFRAMER_BUF_SIZE(RP_ABSOLUTE_MAX_PAYLOAD)];
    rec_deframer_t d;
    rec_deframer_init(&d, dbuf, sizeof dbuf, RP_ABSOLUTE_MAX_PAYLOAD);
    for (int iter = 0; iter < 300; iter++) {
        uint16_t len = (uint16_t)(iter == 0 ? RP_ABSOLUTE_MAX_PAYLOAD : rnd() % 2000);
        unsigned zero_pct = rnd() % 100;
        for (size_t i = 0; i < len; i++) payload[i] = (rnd() % 100 < zero_pct) ? 0 : (uint8_t)rnd();
        rec_frame_t f = { .kind = (uint8_t)(rnd() % 4), .seq = (uint16_t)rnd(), .command = (uint16_t)(rnd() % 0x50), .length = len, .payload = payload };
        size_t wn;
        assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &wn), REC_OK);
        assert_null(memchr(wire, 0, wn - 1));
        assert_int_equal(wire[wn - 1], 0);
        rec_deframer_item_t items[2];
        assert_int_equal(push_all(&d, wire, wn, items, 2), 1);
        assert_int_equal(items[0].status, REC_FRAME_OK);
        assert_int_equal(items[0].frame.seq, f.seq);
        assert_int_equal(items[0].frame.kind, f.kind);
        assert_int_equal(items[0].frame.command, f.command);
        assert_int_equal(items[0].frame.length, len);
        if (len) assert_memory_equal(items[0].frame.payload, payload, len);
    }
}

/* The frame encoder's COBS stream (runs of non-zero bytes copied whole) gives the bytes of the
 * plain encoder over header, payload and CRC, and refuses every buffer a byte short of them. */
static void test_frame_encode_equals_plain_cobs(void **state)
{
    (void)state;
    static uint8_t payload[RP_ABSOLUTE_MAX_PAYLOAD];
    static uint8_t raw[RP_HEADER_SIZE + RP_ABSOLUTE_MAX_PAYLOAD + RP_CRC_SIZE];
    static uint8_t wire[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD)];
    static uint8_t want[REC_FRAME_WIRE_MAX(RP_ABSOLUTE_MAX_PAYLOAD)];
    for (int iter = 0; iter < 400; iter++) {
        /* Lengths around COBS's 254-byte blocks, and long runs without a zero. */
        uint16_t len = (uint16_t)(iter < 40 ? 230u + (unsigned)iter : iter == 40 ? RP_ABSOLUTE_MAX_PAYLOAD : rnd() % 1200u);
        unsigned zero_pct = iter % 3 == 0 ? 0 : rnd() % 100;
        for (size_t i = 0; i < len; i++) payload[i] = (rnd() % 100 < zero_pct) ? 0 : (uint8_t)(1 + rnd() % 255);
        rec_frame_t f = { .kind = (uint8_t)(rnd() % 4), .seq = (uint16_t)rnd(), .command = (uint16_t)(rnd() % 0x50), .length = len, .payload = payload };
        size_t wn, rn, cn;
        assert_int_equal(rec_frame_encode(&f, wire, sizeof wire, &wn), REC_OK);
        /* The frame's raw bytes: the header and CRC as the encoder made them, under the COBS. */
        assert_int_equal(rec_cobs_decode(wire, wn - 1, raw, sizeof raw, &rn), REC_OK);
        assert_int_equal(rn, RP_HEADER_SIZE + len + RP_CRC_SIZE);
        if (len) assert_memory_equal(raw + RP_HEADER_SIZE, payload, len);
        assert_int_equal(rec_cobs_encode(raw, rn, want, sizeof want, &cn), REC_OK);
        assert_int_equal(wn, cn + 1);
        assert_memory_equal(wire, want, cn);
        for (size_t cap = wn - 1; cap + 8 >= wn && cap > 0; cap--) assert_int_equal(rec_frame_encode(&f, wire, cap, &rn), REC_E_RANGE);
    }
}

static void test_parse_order(void **state)
{
    (void)state;
    uint8_t raw[RP_HEADER_SIZE + 4 + RP_CRC_SIZE] = { 2, RP_KIND_REQUEST, 0x34, 0x12, RP_CMD_LIST, 0, 4, 0, 1, 2, 3, 4 };
    rec_put_u32(raw + 12, rec_crc32(0, raw, 12));
    rec_frame_t f;
    /* Intact but version 2. */
    assert_int_equal(rec_frame_parse(raw, sizeof raw, 100, &f), REC_FRAME_VERSION);
    assert_int_equal(f.seq, 0x1234);
    assert_int_equal(f.command, RP_CMD_LIST);
    /* Oversize comes before length and CRC; length before CRC; CRC before version. */
    assert_int_equal(rec_frame_parse(raw, sizeof raw, 3, &f), REC_FRAME_OVERSIZE);
    raw[6] = 5;
    assert_int_equal(rec_frame_parse(raw, sizeof raw, 100, &f), REC_FRAME_LENGTH);
    raw[6] = 4;
    raw[9] ^= 1;
    assert_int_equal(rec_frame_parse(raw, sizeof raw, 100, &f), REC_FRAME_CRC);
    assert_int_equal(rec_frame_parse(raw, 11, 100, &f), REC_FRAME_SHORT);
    assert_string_equal(rec_frame_status_name(REC_FRAME_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_vectors),
        cmocka_unit_test(test_cobs_vectors),
        cmocka_unit_test(test_cobs_malformed),
        cmocka_unit_test(test_cobs_random_roundtrip),
        cmocka_unit_test(test_frame_encode_equals_plain_cobs),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_frames_build),
        cmocka_unit_test(test_frames_parse),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_all_frames_split),
        cmocka_unit_test(test_deframer_limits),
        cmocka_unit_test(test_random_roundtrip),
        cmocka_unit_test(test_parse_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
