/* The generated codec (protocol/generated/rec_codec.{h,c}) against the shared vectors: every
 * struct's vector unpacks to the expected field values and packs back to the same bytes; the
 * typed functions agree with the generic ones; the enum names are the ones the ports print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rec_codec.h"
#include "rec_vectors.h"
#include "support/hex.h"


static const rp_codec_entry_t *find_codec(const char *name)
{
    for (size_t i = 0; i < RP_CODEC_STRUCT_COUNT; i++)
        if (strcmp(rp_codec_structs[i].name, name) == 0) return &rp_codec_structs[i];
    return NULL;
}

/* The C value of an integer member, widened (i64 as its two's complement bits, as the vectors). */
static uint64_t member_int(const uint8_t *m, unsigned size)
{
    switch (size) {
    case 1: return *m;
    case 2: { uint16_t v; memcpy(&v, m, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, m, 4); return v; }
    default: { uint64_t v; memcpy(&v, m, 8); return v; }
    }
}

static void test_every_vector_unpacks_and_packs(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; i < RPV_COUNT(RPV_MESSAGES); i++) {
        const rpv_message_t *m = &RPV_MESSAGES[i];
        const rp_codec_entry_t *e = find_codec(m->name);
        if (m->field_count == 0) {
            assert_null(e); /* nothing to code */
            continue;
        }
        print_message("struct %s\n", m->name);
        if (!e) fail_msg("no codec for %s", m->name);
        assert_int_equal(e->codec->field_count, m->field_count);
        size_t n;
        uint8_t *bytes = rec_test_unhex(m->bytes_hex, &n);
        assert_true(n >= e->codec->wire_size); /* tails (records, data) follow the fixed part */

        /* Unpack into a value pre-filled with garbage: every field must be written. */
        uint64_t storage[128];
        assert_true(e->c_size <= sizeof storage);
        memset(storage, 0xA5, sizeof storage);
        rp_codec_unpack(e->codec, bytes, storage);
        for (size_t f = 0; f < m->field_count; f++) {
            const rpv_field_t *fd = &m->fields[f];
            const rp_codec_field_t *cf = &e->codec->fields[f];
            const uint8_t *member = (const uint8_t *)storage + cf->offset;
            assert_int_equal(cf->size & ~RP_CODEC_RAW, fd->size);
            assert_true(cf->offset + fd->size <= e->c_size);
            if (fd->is_int) {
                assert_int_equal(cf->size & RP_CODEC_RAW, 0);
                if (member_int(member, fd->size) != fd->u) fail_msg("%s.%s differs", m->name, fd->name);
            } else {
                assert_int_not_equal(cf->size & RP_CODEC_RAW, 0);
                size_t hn;
                uint8_t *want = rec_test_unhex(fd->hex, &hn);
                assert_true(hn <= fd->size);
                assert_memory_equal(member, want, hn);
                for (size_t k = hn; k < fd->size; k++) assert_int_equal(member[k], 0); /* NUL padding */
                free(want);
            }
        }

        /* Pack writes exactly the fixed part, byte for byte. */
        uint8_t out[1024];
        assert_true(e->codec->wire_size + 1u <= sizeof out);
        memset(out, 0x5A, sizeof out);
        rp_codec_pack(e->codec, storage, out);
        assert_memory_equal(out, bytes, e->codec->wire_size);
        assert_int_equal(out[e->codec->wire_size], 0x5A);
        free(bytes);
        checked++;
    }
    assert_int_equal(checked, RP_CODEC_STRUCT_COUNT);
}

static void test_typed_functions_use_their_struct(void **state)
{
    (void)state;
    rp_journal_record_t j;
    memset(&j, 0, sizeof j);
    memcpy(j.magic, RP_CARD_JOURNAL_MAGIC, 4);
    j.version = 1;
    j.size = RP_JOURNAL_RECORD_SIZE;
    j.index = 0x01020304u;
    j.start_unix_ms = -2;
    j.prev_hash[31] = 0xEE;
    uint8_t buf[RP_JOURNAL_RECORD_SIZE + 1];
    buf[RP_JOURNAL_RECORD_SIZE] = 0x77;
    rp_journal_record_pack(&j, buf);
    assert_memory_equal(buf, "RJNL\x01\x00\x80\x00\x04\x03\x02\x01", 12);
    for (int k = 0; k < 8; k++) assert_int_equal(buf[RP_JOURNAL_RECORD_OFF_START_UNIX_MS + k], k == 0 ? 0xFE : 0xFF);
    assert_int_equal(buf[RP_JOURNAL_RECORD_OFF_PREV_HASH + 31], 0xEE);
    assert_int_equal(buf[RP_JOURNAL_RECORD_SIZE], 0x77);
    rp_journal_record_t back;
    rp_journal_record_unpack(buf, &back);
    assert_int_equal(back.index, 0x01020304u);
    assert_true(back.start_unix_ms == -2);
    assert_int_equal(back.prev_hash[31], 0xEE);

    /* Any alignment: pack and unpack at an odd address. */
    const rp_state_marker_t mk = { .magic = { 'R', 'S', 'T', 'A' }, .version = 1, .size = 64, .sequence = 0xA1B2C3D4u, .flags = 1, .crc32 = 0x11223344u };
    uint8_t raw[RP_STATE_MARKER_SIZE + 1];
    rp_state_marker_pack(&mk, raw + 1);
    assert_memory_equal(raw + 1 + RP_STATE_MARKER_OFF_SEQUENCE, "\xD4\xC3\xB2\xA1", 4);
    assert_memory_equal(raw + 1 + RP_STATE_MARKER_OFF_CRC32, "\x44\x33\x22\x11", 4);
    rp_state_marker_t mk2;
    rp_state_marker_unpack(raw + 1, &mk2);
    assert_int_equal(mk2.sequence, 0xA1B2C3D4u);
    assert_int_equal(mk2.crc32, 0x11223344u);
    assert_int_equal(mk2.flags, 1);
}

static void test_enum_names(void **state)
{
    (void)state;
    assert_string_equal(rp_rec_state_name(RP_REC_STATE_IDLE), "idle");
    assert_string_equal(rp_rec_state_name(RP_REC_STATE_RECORDING), "recording");
    assert_string_equal(rp_rec_state_name(RP_REC_STATE_FINALISING), "finalising");
    assert_string_equal(rp_rec_state_name(RP_REC_STATE_ERROR), "error");
    assert_string_equal(rp_rec_state_name(99), "unknown");
    assert_string_equal(rp_card_state_name(RP_CARD_STATE_OK), "ok");
    assert_string_equal(rp_card_state_name(RP_CARD_STATE_NONE), "none");
    assert_string_equal(rp_card_state_name(RP_CARD_STATE_UNFORMATTED), "unformatted");
    assert_string_equal(rp_card_state_name(RP_CARD_STATE_FULL), "full");
    assert_string_equal(rp_card_state_name(255), "unknown");
    assert_string_equal(rp_stop_reason_name(RP_STOP_CARD_FULL), "card full");
    assert_string_equal(rp_stop_reason_name(RP_STOP_MAX_LENGTH), "max length");
    assert_string_equal(rp_stop_reason_name(RP_STOP_MAX_LENGTH + 1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector_unpacks_and_packs),
        cmocka_unit_test(test_typed_functions_use_their_struct),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
