/* The owner's age recipient in NVM sectors 4 and 5 (evidence/recipient.c): boot, set, clear,
 * repair of a copy, damage, small-order keys refused, and a power cut at every NVM operation of
 * a SET or CLEAR (the old or the new value survives, never anything else). Also the state log's
 * scrub of older entries (nvm.c), which destroys the age file keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/nvm_fake.h"
#include "fakes/port_fake.h"
#include "rec/err.h"
#include "rec/recipient.h"
#include "rec_protocol.h"

/* RFC 7748 section 6.1: Alice's public key, a valid X25519 u. */
static const uint8_t ALICE[32] = { 0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d,
                                   0xdc, 0xb4, 0x3e, 0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38,
                                   0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a };
static const uint8_t BOB[32] = { 0xde, 0x9e, 0xdb, 0x7d, 0x7b, 0x7d, 0xc1, 0xb4, 0xd3, 0x5b, 0x61,
                                 0xc2, 0xec, 0xe4, 0x35, 0x37, 0x3f, 0x83, 0x43, 0xc8, 0x5b, 0x78,
                                 0x67, 0x4d, 0xad, 0xfc, 0x7e, 0x14, 0x6f, 0x88, 0x2b, 0x4f };

static rec_nvm_t g_nvm;

static int setup(void **state)
{
    (void)state;
    port_fake_reset();
    nvm_fake_enable(true);
    nvm_fake_erase_all();
    assert_int_equal(rec_nvm_open(&g_nvm), REC_OK);
    return 0;
}

static rec_recipient_t boot(void)
{
    rec_recipient_t r;
    assert_int_equal(rec_nvm_open(&g_nvm), REC_OK);
    assert_int_equal(rec_recipient_boot(&r, &g_nvm), REC_OK);
    return r;
}

static void test_blank_is_not_set_then_set_survives_a_reboot(void **state)
{
    (void)state;
    rec_recipient_t r = boot();
    assert_false(r.set);
    assert_int_equal(rec_recipient_store(&r, &g_nvm, ALICE), REC_OK);
    assert_true(r.set);
    r = boot();
    assert_true(r.set);
    assert_memory_equal(r.key, ALICE, 32);
    /* Both copies hold it, with the schema's magic. */
    const uint8_t *img = nvm_fake_image();
    assert_memory_equal(img + 4 * NVM_FAKE_SECTOR_BYTES, RP_CARD_NVM_RECIPIENT_MAGIC, 4);
    assert_memory_equal(img + 5 * NVM_FAKE_SECTOR_BYTES, img + 4 * NVM_FAKE_SECTOR_BYTES, RP_NVM_RECIPIENT_SIZE);
    assert_memory_equal(img + 4 * NVM_FAKE_SECTOR_BYTES + RP_NVM_RECIPIENT_OFF_RECIPIENT, ALICE, 32);
}

static void test_clear_is_a_record_not_an_erase(void **state)
{
    (void)state;
    rec_recipient_t r = boot();
    assert_int_equal(rec_recipient_store(&r, &g_nvm, ALICE), REC_OK);
    assert_int_equal(rec_recipient_store(&r, &g_nvm, NULL), REC_OK);
    assert_false(r.set);
    r = boot();
    assert_false(r.set);
    static const uint8_t zero[32];
    assert_memory_equal(r.key, zero, 32);
    const uint8_t *img = nvm_fake_image();
    for (unsigned c = 4; c <= 5; c++) {
        assert_memory_equal(img + c * NVM_FAKE_SECTOR_BYTES, RP_CARD_NVM_RECIPIENT_MAGIC, 4);
        assert_memory_equal(img + c * NVM_FAKE_SECTOR_BYTES + RP_NVM_RECIPIENT_OFF_RECIPIENT, zero, 32);
    }
}

static void test_small_order_keys_are_refused(void **state)
{
    (void)state;
    rec_recipient_t r = boot();
    uint8_t bad[32] = { 0 }; /* u = 0 */
    assert_int_equal(rec_recipient_store(&r, &g_nvm, bad), REC_E_INVAL);
    bad[0] = 1; /* u = 1 */
    assert_int_equal(rec_recipient_store(&r, &g_nvm, bad), REC_E_INVAL);
    assert_false(r.set);
    assert_true(rec_recipient_acceptable(ALICE));
    assert_true(rec_recipient_acceptable(BOB));
}

static void test_a_damaged_copy_is_repaired_and_both_damaged_is_reported(void **state)
{
    (void)state;
    rec_recipient_t r = boot();
    assert_int_equal(rec_recipient_store(&r, &g_nvm, ALICE), REC_OK);
    uint8_t *img = nvm_fake_image();
    img[4 * NVM_FAKE_SECTOR_BYTES + RP_NVM_RECIPIENT_OFF_RECIPIENT] ^= 0x01; /* A rots */
    r = boot();
    assert_true(r.set);
    assert_memory_equal(r.key, ALICE, 32);
    assert_memory_equal(img + 4 * NVM_FAKE_SECTOR_BYTES, img + 5 * NVM_FAKE_SECTOR_BYTES, RP_NVM_RECIPIENT_SIZE);
    img[4 * NVM_FAKE_SECTOR_BYTES + 1] ^= 0x01;
    img[5 * NVM_FAKE_SECTOR_BYTES + 1] ^= 0x01;
    assert_int_equal(rec_nvm_open(&g_nvm), REC_OK);
    assert_int_equal(rec_recipient_boot(&r, &g_nvm), REC_E_CORRUPT);
    assert_false(r.set);
    assert_true(r.damaged);
    /* Setting it again heals it. */
    assert_int_equal(rec_recipient_store(&r, &g_nvm, BOB), REC_OK);
    r = boot();
    assert_memory_equal(r.key, BOB, 32);
}

/* A cut at each NVM operation of a change from `from` to `to` leaves one of the two. */
static void cut_everywhere(const uint8_t *from, const uint8_t *to)
{
    for (int32_t op = 0;; op++) {
        nvm_fake_erase_all();
        rec_recipient_t r = boot();
        if (from) assert_int_equal(rec_recipient_store(&r, &g_nvm, from), REC_OK);
        nvm_fake_cut_at(op);
        int err = rec_recipient_store(&r, &g_nvm, to);
        const bool cut = nvm_fake_power_lost();
        nvm_fake_cut_at(-1);
        nvm_fake_power_on();
        r = boot();
        const bool is_to = to ? (r.set && memcmp(r.key, to, 32) == 0) : !r.set;
        const bool is_from = from ? (r.set && memcmp(r.key, from, 32) == 0) : !r.set;
        if (!cut) {
            assert_int_equal(err, REC_OK);
            assert_true(is_to);
            break;
        }
        if (!is_to && !is_from) fail_msg("cut at NVM op %d left neither value", op);
        /* After the repair at boot both copies agree (unless the very first SET was cut: one copy
         * blank, the other torn, which reads as not set). */
        const uint8_t *img = nvm_fake_image();
        if (from || r.set)
            assert_memory_equal(img + 4 * NVM_FAKE_SECTOR_BYTES, img + 5 * NVM_FAKE_SECTOR_BYTES, RP_NVM_RECIPIENT_SIZE);
    }
}

static void test_power_cut_at_every_nvm_operation(void **state)
{
    (void)state;
    cut_everywhere(NULL, ALICE);
    cut_everywhere(ALICE, BOB);
    cut_everywhere(ALICE, NULL);
}

static void test_without_nvm_nothing_is_set(void **state)
{
    (void)state;
    nvm_fake_enable(false);
    rec_nvm_t n;
    assert_int_equal(rec_nvm_open(&n), REC_E_UNSUPPORTED);
    rec_recipient_t r;
    assert_int_equal(rec_recipient_boot(&r, &n), REC_E_UNSUPPORTED);
    assert_false(r.set);
    assert_int_equal(rec_recipient_store(&r, &n, ALICE), REC_E_UNSUPPORTED);
}

static bool image_holds(const uint8_t *needle, size_t len)
{
    const uint8_t *img = nvm_fake_image();
    for (size_t off = 0; off + len <= NVM_FAKE_BYTES; off++)
        if (memcmp(img + off, needle, len) == 0) return true;
    return false;
}

static void test_scrub_destroys_older_entries_of_a_kind_physically(void **state)
{
    (void)state;
    uint8_t a[20], b[20], z[20], other[20];
    memset(a, 0x5A, sizeof a);
    memset(b, 0x3C, sizeof b);
    memset(z, 0, sizeof z);
    memset(other, 0x77, sizeof other);
    assert_int_equal(rec_nvm_state_put(&g_nvm, RP_NVM_STATE_AGE_KEY_A, a, 20), REC_OK);
    assert_int_equal(rec_nvm_state_put(&g_nvm, RP_NVM_STATE_NUMBER_FLOOR, other, 4), REC_OK);
    assert_int_equal(rec_nvm_state_put(&g_nvm, RP_NVM_STATE_AGE_KEY_A, b, 20), REC_OK);
    assert_int_equal(rec_nvm_state_put(&g_nvm, RP_NVM_STATE_AGE_KEY_A, z, 20), REC_OK);
    assert_true(image_holds(a, 20));
    assert_true(image_holds(b, 20));
    for (int32_t op = 0;; op++) {
        /* A cut in the middle: calling it again (next boot) finishes it. */
        nvm_fake_cut_at(op);
        int err = rec_nvm_state_scrub(&g_nvm, RP_NVM_STATE_AGE_KEY_A);
        const bool cut = nvm_fake_power_lost();
        nvm_fake_cut_at(-1);
        nvm_fake_power_on();
        assert_int_equal(rec_nvm_open(&g_nvm), REC_OK);
        if (!cut) {
            assert_int_equal(err, REC_OK);
            break;
        }
    }
    assert_int_equal(rec_nvm_state_scrub(&g_nvm, RP_NVM_STATE_AGE_KEY_A), REC_OK);
    assert_false(image_holds(a, 20));
    assert_false(image_holds(b, 20));
    uint8_t got[20];
    assert_int_equal(rec_nvm_state_get(&g_nvm, RP_NVM_STATE_AGE_KEY_A, got, sizeof got), 20);
    assert_memory_equal(got, z, 20);
    assert_int_equal(rec_nvm_state_get(&g_nvm, RP_NVM_STATE_NUMBER_FLOOR, got, sizeof got), 4);
    assert_memory_equal(got, other, 4);
    /* Entries written after a scrub go after the zeroed slots. */
    assert_int_equal(rec_nvm_state_put(&g_nvm, RP_NVM_STATE_AGE_KEY_B, a, 20), REC_OK);
    assert_int_equal(rec_nvm_open(&g_nvm), REC_OK);
    assert_int_equal(rec_nvm_state_get(&g_nvm, RP_NVM_STATE_AGE_KEY_B, got, sizeof got), 20);
    assert_memory_equal(got, a, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_blank_is_not_set_then_set_survives_a_reboot, setup),
        cmocka_unit_test_setup(test_clear_is_a_record_not_an_erase, setup),
        cmocka_unit_test_setup(test_small_order_keys_are_refused, setup),
        cmocka_unit_test_setup(test_a_damaged_copy_is_repaired_and_both_damaged_is_reported, setup),
        cmocka_unit_test_setup(test_power_cut_at_every_nvm_operation, setup),
        cmocka_unit_test_setup(test_without_nvm_nothing_is_set, setup),
        cmocka_unit_test_setup(test_scrub_destroys_older_entries_of_a_kind_physically, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
