/* The device NVM store (evidence/nvm.c) and the key's lifecycle (evidence/identity.c) over the
 * fake NOR NVM (fakes/nvm_fake.h), with a power cut at every program and erase step: the state
 * log keeps the old or the new value of an entry being written, never garbage; PROVISION leaves
 * the old key, the new key, or (only on a first PROVISION) no key or a DAMAGED key, never a key
 * nobody asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/nvm_fake.h"
#include "fakes/port_fake.h"
#include "rec/err.h"
#include "rec/identity.h"
#include "rec/nvm.h"
#include "rec_protocol.h"

static uint8_t g_scratch[REC_ENTROPY_POOL_MAX];

static int setup(void **state)
{
    (void)state;
    port_fake_reset();
    nvm_fake_enable(true);
    return 0;
}

static void value_of(uint8_t kind, uint32_t version, uint8_t out[REC_NVM_PAYLOAD_MAX])
{
    for (unsigned i = 0; i < REC_NVM_PAYLOAD_MAX; i++) out[i] = (uint8_t)(kind * 37u + version * 11u + i);
}

/* Asserts that kind holds exactly `version` (0: never written). */
static void check_value(rec_nvm_t *n, uint8_t kind, uint32_t version)
{
    uint8_t got[REC_NVM_PAYLOAD_MAX], want[REC_NVM_PAYLOAD_MAX];
    int len = rec_nvm_state_get(n, kind, got, sizeof got);
    if (version == 0) {
        assert_int_equal(len, REC_E_NOENT);
        return;
    }
    assert_int_equal(len, REC_NVM_PAYLOAD_MAX);
    value_of(kind, version, want);
    assert_memory_equal(got, want, sizeof want);
}

static void test_no_nvm_is_unsupported(void **state)
{
    (void)state;
    nvm_fake_enable(false);
    rec_nvm_t n;
    assert_int_equal(rec_nvm_open(&n), REC_E_UNSUPPORTED);
    assert_false(n.present);
    uint8_t b[4] = { 0 };
    assert_int_equal(rec_nvm_state_put(&n, RP_NVM_STATE_CLOCK, b, 1), REC_E_UNSUPPORTED);
    rec_identity_t id;
    memset(&id, 0, sizeof id);
    assert_int_equal(rec_identity_boot(&id, &n), REC_E_UNSUPPORTED);
    assert_false(id.has_key);
    uint8_t host[32] = { 0 };
    assert_int_equal(rec_identity_provision(&id, &n, host, false, g_scratch, sizeof g_scratch), REC_E_UNSUPPORTED);
}

static void test_state_log_newest_wins_across_compactions(void **state)
{
    (void)state;
    rec_nvm_t n;
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    for (uint8_t k = 1; k <= 4; k++) check_value(&n, k, 0);
    /* 1000 entries: about eight compactions of a 128-entry sector. */
    uint32_t version[5] = { 0 };
    for (uint32_t i = 0; i < 1000; i++) {
        uint8_t kind = (uint8_t)(1u + (i * 7u) % 4u);
        if (i % 5u == 0) kind = 1; /* one kind much more often */
        uint8_t v[REC_NVM_PAYLOAD_MAX];
        value_of(kind, ++version[kind], v);
        assert_int_equal(rec_nvm_state_put(&n, kind, v, sizeof v), REC_OK);
        if (i % 97u == 0) {
            assert_int_equal(rec_nvm_open(&n), REC_OK); /* a reboot reads the same values */
        }
        for (uint8_t k = 1; k <= 4; k++) check_value(&n, k, version[k]);
    }
    /* Only one log sector holds entries between compactions. */
    const uint8_t *img = nvm_fake_image();
    bool a = !rec_nvm_blank(img + 2 * NVM_FAKE_SECTOR_BYTES, NVM_FAKE_SECTOR_BYTES);
    bool b = !rec_nvm_blank(img + 3 * NVM_FAKE_SECTOR_BYTES, NVM_FAKE_SECTOR_BYTES);
    assert_true(a != b);
}

static void test_torn_entry_is_ignored_and_skipped(void **state)
{
    (void)state;
    rec_nvm_t n;
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    uint8_t v[REC_NVM_PAYLOAD_MAX];
    value_of(2, 1, v);
    assert_int_equal(rec_nvm_state_put(&n, 2, v, sizeof v), REC_OK);
    nvm_fake_cut_at(0);
    value_of(2, 2, v);
    assert_int_equal(rec_nvm_state_put(&n, 2, v, sizeof v), REC_E_IO);
    nvm_fake_power_on();
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    check_value(&n, 2, 1);
    assert_int_equal(n.log_next, 64u); /* the torn slot stays used */
    value_of(2, 3, v);
    assert_int_equal(rec_nvm_state_put(&n, 2, v, sizeof v), REC_OK);
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    check_value(&n, 2, 3);
}

/* A cut at every program and erase of a run of puts that crosses two compactions: after the
 * reboot every kind holds its last committed value, the kind being written its old or new one,
 * and the log goes on working. */
static void test_power_cut_at_every_state_log_step(void **state)
{
    (void)state;
    const uint32_t PUTS = 300;
    /* How many operations the run takes without a cut. */
    nvm_fake_erase_all();
    uint32_t start = nvm_fake_ops();
    rec_nvm_t n;
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    for (uint32_t i = 0; i < PUTS; i++) {
        uint8_t v[REC_NVM_PAYLOAD_MAX];
        uint8_t kind = (uint8_t)(1u + i % 3u);
        value_of(kind, i + 1u, v);
        assert_int_equal(rec_nvm_state_put(&n, kind, v, sizeof v), REC_OK);
    }
    const uint32_t total_ops = nvm_fake_ops() - start;
    assert_true(total_ops > PUTS); /* compactions happened */

    uint32_t cuts = 0, kept_new = 0;
    for (uint32_t cut = 0; cut < total_ops; cut++) {
        nvm_fake_erase_all();
        nvm_fake_power_on();
        assert_int_equal(rec_nvm_open(&n), REC_OK);
        uint32_t committed[4] = { 0 };
        nvm_fake_cut_at((int32_t)cut);
        uint8_t cut_kind = 0;
        uint32_t cut_version = 0;
        for (uint32_t i = 0; i < PUTS; i++) {
            uint8_t v[REC_NVM_PAYLOAD_MAX];
            uint8_t kind = (uint8_t)(1u + i % 3u);
            value_of(kind, i + 1u, v);
            if (rec_nvm_state_put(&n, kind, v, sizeof v) != REC_OK) {
                cut_kind = kind;
                cut_version = i + 1u;
                break;
            }
            committed[kind] = i + 1u;
        }
        assert_true(nvm_fake_power_lost());
        cuts++;
        nvm_fake_power_on();
        assert_int_equal(rec_nvm_open(&n), REC_OK);
        for (uint8_t k = 1; k <= 3; k++) {
            if (k != cut_kind) {
                check_value(&n, k, committed[k]);
                continue;
            }
            uint8_t got[REC_NVM_PAYLOAD_MAX], want_new[REC_NVM_PAYLOAD_MAX];
            int len = rec_nvm_state_get(&n, k, got, sizeof got);
            value_of(k, cut_version, want_new);
            if (len == REC_NVM_PAYLOAD_MAX && memcmp(got, want_new, sizeof got) == 0) {
                kept_new++;
            } else {
                check_value(&n, k, committed[k]);
            }
        }
        /* Still works: 200 more puts (another compaction) and a reboot. */
        for (uint32_t i = 0; i < 200; i++) {
            uint8_t v[REC_NVM_PAYLOAD_MAX];
            value_of(4, i + 1u, v);
            assert_int_equal(rec_nvm_state_put(&n, 4, v, sizeof v), REC_OK);
        }
        assert_int_equal(rec_nvm_open(&n), REC_OK);
        check_value(&n, 4, 200);
        for (uint8_t k = 1; k <= 3; k++)
            if (k != cut_kind) check_value(&n, k, committed[k]);
    }
    print_message("state log power cuts: %u, new value kept %u times\n", cuts, kept_new);
    assert_int_equal(cuts, total_ops);
}

/* ---- the key ---- */

static void provision_ok(rec_identity_t *id, rec_nvm_t *n, bool force)
{
    uint8_t host[32];
    memset(host, 0x42, sizeof host);
    assert_int_equal(rec_identity_provision(id, n, host, force, g_scratch, sizeof g_scratch), REC_OK);
    assert_true(id->has_key);
}

static void test_provision_boot_and_refusals(void **state)
{
    (void)state;
    rec_nvm_t n;
    rec_identity_t id;
    memset(&id, 0, sizeof id);
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    assert_int_equal(rec_identity_boot(&id, &n), REC_OK);
    assert_false(id.has_key);
    assert_false(id.damaged);
    assert_true(id.simulated);
    provision_ok(&id, &n, false);
    assert_int_equal(id.entropy_source, RP_ENTROPY_OS);
    uint8_t pk[32];
    memcpy(pk, id.key.public_key, 32);
    /* Both copies hold it, byte for byte, and the seed is what the key pair came from. */
    const uint8_t *img = nvm_fake_image();
    assert_memory_equal(img, img + NVM_FAKE_SECTOR_BYTES, RP_NVM_IDENTITY_SIZE);
    assert_memory_equal(img + RP_NVM_IDENTITY_OFF_PUBLIC_KEY, pk, 32);

    uint8_t host[32] = { 0 };
    assert_int_equal(rec_identity_provision(&id, &n, host, false, g_scratch, sizeof g_scratch), REC_E_BUSY);
    assert_memory_equal(id.key.public_key, pk, 32);

    /* A reboot loads the same key. */
    rec_identity_t again;
    memset(&again, 0, sizeof again);
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    assert_int_equal(rec_identity_boot(&again, &n), REC_OK);
    assert_true(again.has_key);
    assert_memory_equal(again.key.public_key, pk, 32);
    assert_memory_equal(again.key_id, id.key_id, REC_KEY_ID_SIZE);

    /* Force replaces it. */
    provision_ok(&again, &n, true);
    assert_memory_not_equal(again.key.public_key, pk, 32);
}

static void test_stuck_entropy_makes_no_key(void **state)
{
    (void)state;
    rec_nvm_t n;
    rec_identity_t id;
    memset(&id, 0, sizeof id);
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    assert_int_equal(rec_identity_boot(&id, &n), REC_OK);
    nvm_fake_set_entropy(NVM_FAKE_ENTROPY_STUCK, RP_ENTROPY_ROSC);
    uint8_t host[32];
    memset(host, 0x42, sizeof host);
    assert_int_equal(rec_identity_provision(&id, &n, host, false, g_scratch, sizeof g_scratch), REC_E_ENTROPY);
    assert_false(id.has_key);
    assert_true(id.entropy_failed);
    assert_true(rec_nvm_blank(nvm_fake_image(), 2 * NVM_FAKE_SECTOR_BYTES));

    /* Each rule on its own: too few transitions, too few ones, too long a run. */
    rec_entropy_health_t h;
    uint8_t halves[64];
    memset(halves, 0x00, 32);
    memset(halves + 32, 0xFF, 32);
    assert_false(rec_entropy_health(halves, sizeof halves, &h));
    assert_int_equal(h.transitions, 1u);
    assert_int_equal(h.ones, 256u);
    uint8_t sparse[64];
    memset(sparse, 0x01, sizeof sparse);
    assert_false(rec_entropy_health(sparse, sizeof sparse, &h));
    assert_int_equal(h.ones, 64u);
    uint8_t mixed[64];
    for (unsigned i = 0; i < sizeof mixed; i++) mixed[i] = (uint8_t)(i * 0x9Du + 0x3Bu);
    assert_true(rec_entropy_health(mixed, sizeof mixed, &h));
    uint8_t ones[64];
    memset(ones, 0xFF, sizeof ones);
    assert_false(rec_entropy_health(ones, sizeof ones, &h));
    assert_int_equal(h.longest_run, 512u);
}

static void test_damaged_copy_is_repaired_or_reported(void **state)
{
    (void)state;
    rec_nvm_t n;
    rec_identity_t id;
    memset(&id, 0, sizeof id);
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    assert_int_equal(rec_identity_boot(&id, &n), REC_OK);
    provision_ok(&id, &n, false);
    uint8_t pk[32];
    memcpy(pk, id.key.public_key, 32);
    uint8_t *img = nvm_fake_image();

    /* A flipped seed bit in A: its CRC fails; B is loaded and A repaired from it. */
    img[RP_NVM_IDENTITY_OFF_SEED] &= 0xFE;
    img[RP_NVM_IDENTITY_OFF_SEED + 1] &= 0x7F;
    assert_int_equal(rec_identity_boot(&id, &n), REC_OK);
    assert_true(id.has_key);
    assert_memory_equal(id.key.public_key, pk, 32);
    assert_memory_equal(img, img + NVM_FAKE_SECTOR_BYTES, RP_NVM_IDENTITY_SIZE);

    /* Both copies damaged: DAMAGED, no key, and PROVISION needs force. */
    img[RP_NVM_IDENTITY_OFF_CRC32] ^= 0x01;
    img[NVM_FAKE_SECTOR_BYTES + RP_NVM_IDENTITY_OFF_CRC32] ^= 0x01;
    assert_int_equal(rec_identity_boot(&id, &n), REC_E_CORRUPT);
    assert_false(id.has_key);
    assert_true(id.damaged);
    uint8_t host[32] = { 0 };
    assert_int_equal(rec_identity_provision(&id, &n, host, false, g_scratch, sizeof g_scratch), REC_E_BUSY);
    provision_ok(&id, &n, true);
    assert_false(id.damaged);
}

/* From a fresh fake (the same flash, clock and entropy stream every time): boots, makes the old
 * key when asked, then runs PROVISION (forced over the old key) with a cut at operation `cut`
 * (-1: none). Returns PROVISION's result; the public keys made are copied out. */
static int provision_run(bool existing_key, int32_t cut, rec_nvm_t *n, rec_identity_t *id, uint8_t old_pk[32],
                         uint32_t *ops)
{
    port_fake_reset();
    nvm_fake_enable(true);
    memset(id, 0, sizeof *id);
    assert_int_equal(rec_nvm_open(n), REC_OK);
    assert_int_equal(rec_identity_boot(id, n), REC_OK);
    if (existing_key) {
        provision_ok(id, n, false);
        memcpy(old_pk, id->key.public_key, 32);
    }
    uint32_t before = nvm_fake_ops();
    nvm_fake_cut_at(cut);
    uint8_t host[32];
    memset(host, 0x42, sizeof host);
    int err = rec_identity_provision(id, n, host, existing_key, g_scratch, sizeof g_scratch);
    *ops = nvm_fake_ops() - before;
    return err;
}

/* PROVISION with a cut at every program and erase, then a boot: the key is the old one or the
 * new one (or, on a first PROVISION, none or DAMAGED), never another; after the boot both
 * copies agree whenever a key loaded. */
static void provision_cut_campaign(bool existing_key)
{
    rec_nvm_t n;
    rec_identity_t id;
    uint8_t old_pk[32] = { 0 }, new_pk[32];
    uint32_t ops;
    assert_int_equal(provision_run(existing_key, -1, &n, &id, old_pk, &ops), REC_OK);
    memcpy(new_pk, id.key.public_key, 32);
    assert_int_equal(ops, 4u); /* erase A, program A, erase B, program B */
    if (existing_key) assert_memory_not_equal(old_pk, new_pk, 32);

    unsigned seen = 0;
    for (uint32_t cut = 0; cut < ops; cut++) {
        uint32_t used;
        assert_int_equal(provision_run(existing_key, (int32_t)cut, &n, &id, old_pk, &used), REC_E_IO);
        assert_true(nvm_fake_power_lost());
        nvm_fake_power_on();
        memset(&id, 0, sizeof id);
        assert_int_equal(rec_nvm_open(&n), REC_OK);
        int err = rec_identity_boot(&id, &n);
        unsigned outcome = 0; /* cmocka does not declare fail_msg noreturn */
        if (id.has_key && existing_key && memcmp(id.key.public_key, old_pk, 32) == 0) outcome = 1;
        else if (id.has_key && memcmp(id.key.public_key, new_pk, 32) == 0) outcome = 2;
        else if (id.has_key) fail_msg("cut %u: a key nobody made", cut);
        else if (id.damaged) outcome = 8;
        else outcome = 4;
        if (existing_key && outcome > 2) fail_msg("cut %u: the old key was lost (outcome %u)", cut, outcome);
        if (outcome == 8) assert_int_equal(err, REC_E_CORRUPT);
        if (id.has_key) {
            const uint8_t *img = nvm_fake_image();
            assert_memory_equal(img, img + NVM_FAKE_SECTOR_BYTES, RP_NVM_IDENTITY_SIZE);
        }
        seen |= outcome;
    }
    print_message("provision cuts (existing key %d): outcomes 0x%x\n", existing_key, seen);
    assert_true(seen & 2u); /* a cut after copy A is complete keeps the new key */
    if (existing_key) assert_true(seen & 1u); /* a cut in copy A keeps the old one */
}

static void test_power_cut_at_every_provision_step(void **state)
{
    (void)state;
    provision_cut_campaign(false);
    provision_cut_campaign(true);
}

/* ---- Crypto-erase (the wipe) ------------------------------------------------------------------ */

static const uint8_t g_keep[] = { RP_NVM_STATE_JOURNAL_HEAD, RP_NVM_STATE_JOURNAL_PENDING, RP_NVM_STATE_NUMBER_FLOOR,
                                  RP_NVM_STATE_CLOCK, RP_NVM_STATE_WIPE_PENDING };

/* Payloads that differ for every kind and version (value_of's may repeat mod 256). */
static void purge_value(uint8_t kind, uint32_t version, uint8_t out[REC_NVM_PAYLOAD_MAX])
{
    out[0] = (uint8_t)(0xC0u | kind);
    out[1] = (uint8_t)version;
    for (unsigned i = 2; i < REC_NVM_PAYLOAD_MAX; i++) out[i] = (uint8_t)(0x80u + kind * 13u + i);
}

static void check_purge_value(rec_nvm_t *n, uint8_t kind, uint32_t version)
{
    uint8_t got[REC_NVM_PAYLOAD_MAX], want[REC_NVM_PAYLOAD_MAX];
    int len = rec_nvm_state_get(n, kind, got, sizeof got);
    if (version == 0) {
        assert_int_equal(len, REC_E_NOENT);
        return;
    }
    assert_int_equal(len, REC_NVM_PAYLOAD_MAX);
    purge_value(kind, version, want);
    assert_memory_equal(got, want, sizeof want);
}

/* Every kind 1..7, several versions each (kinds 5 and 6 stand for anything the wipe does not
 * know, such as file keys), something in sectors 4 and 5; returns the highest version. */
static uint32_t fill_log(rec_nvm_t *n)
{
    uint8_t v[REC_NVM_PAYLOAD_MAX];
    uint32_t version = 0;
    for (uint32_t round = 1; round <= 40; round++) {
        for (uint8_t k = 1; k < REC_NVM_KINDS; k++) {
            purge_value(k, round, v);
            assert_int_equal(rec_nvm_state_put(n, k, v, sizeof v), REC_OK);
        }
        version = round;
    }
    uint8_t page[NVM_FAKE_PAGE_BYTES];
    memset(page, 0x5A, sizeof page);
    assert_int_equal(port_nvm_program(4 * NVM_FAKE_SECTOR_BYTES, page, sizeof page), REC_OK);
    assert_int_equal(port_nvm_program(5 * NVM_FAKE_SECTOR_BYTES + 512, page, sizeof page), REC_OK);
    return version;
}

static bool kept_kind(uint8_t k)
{
    for (size_t i = 0; i < sizeof g_keep; i++)
        if (g_keep[i] == k) return true;
    return false;
}

/* The raw image after a finished crypto-erase: sectors 4 and 5 blank; the log holds exactly one
 * valid entry per kept kind (with a sequence above `before`) and nothing else that is not
 * blank; no payload of any earlier version of any kind is left anywhere in the NVM. */
static void check_purged_image(uint32_t before, uint32_t last_version)
{
    const uint8_t *img = nvm_fake_image();
    assert_true(rec_nvm_blank(img + 4 * NVM_FAKE_SECTOR_BYTES, 2 * NVM_FAKE_SECTOR_BYTES));
    unsigned seen[REC_NVM_KINDS] = { 0 };
    for (uint32_t sec = REC_NVM_SECTOR_LOG_A; sec <= REC_NVM_SECTOR_LOG_B; sec++) {
        for (uint32_t off = 0; off < NVM_FAKE_SECTOR_BYTES; off += RP_NVM_STATE_ENTRY_SIZE) {
            const uint8_t *raw = img + sec * NVM_FAKE_SECTOR_BYTES + off;
            if (rec_nvm_blank(raw, RP_NVM_STATE_ENTRY_SIZE)) continue;
            rp_nvm_state_entry_t e;
            rp_nvm_state_entry_unpack(raw, &e);
            assert_int_equal(e.magic, RP_CARD_NVM_STATE_MAGIC);
            assert_true(kept_kind(e.kind));
            assert_true(e.sequence > before);
            seen[e.kind]++;
        }
    }
    for (uint8_t k = 1; k < REC_NVM_KINDS; k++) assert_int_equal(seen[k], kept_kind(k) ? 1u : 0u);
    for (uint8_t k = 1; k < REC_NVM_KINDS; k++) {
        for (uint32_t ver = 1; ver <= last_version; ver++) {
            if (kept_kind(k) && ver == last_version) continue;
            uint8_t v[REC_NVM_PAYLOAD_MAX];
            purge_value(k, ver, v);
            for (uint32_t at = 0; at + sizeof v <= NVM_FAKE_BYTES; at++)
                if (memcmp(img + at, v, sizeof v) == 0) fail_msg("kind %u version %u survives at %u", k, ver, at);
        }
    }
}

static void test_purge_keeps_only_the_allowlist(void **state)
{
    (void)state;
    rec_nvm_t n;
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    uint32_t last = fill_log(&n);
    uint32_t before = n.sequence;
    assert_int_equal(rec_nvm_state_purge(&n, g_keep, sizeof g_keep), REC_OK);
    assert_int_equal(rec_nvm_erase_sectors(&n, 4, 2), REC_OK);
    assert_int_equal(rec_nvm_erase_sectors(&n, 2, 1), REC_E_INVAL); /* never the map's own */
    check_purged_image(before, last);
    /* The same after a reboot, and the log goes on. */
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    for (uint8_t k = 1; k < REC_NVM_KINDS; k++) check_purge_value(&n, k, kept_kind(k) ? last : 0);
    uint8_t v[REC_NVM_PAYLOAD_MAX];
    purge_value(5, 99, v);
    assert_int_equal(rec_nvm_state_put(&n, 5, v, sizeof v), REC_OK);
    check_purge_value(&n, 5, 99);
}

/* A cut at every program and erase of the crypto-erase: the next open finds either the old log
 * whole (every kind, the dropped ones included: the wipe is redone) or the purged one (only the
 * kept kinds); redoing it then always ends purged. */
static void test_power_cut_at_every_purge_step(void **state)
{
    (void)state;
    rec_nvm_t n;
    nvm_fake_erase_all();
    assert_int_equal(rec_nvm_open(&n), REC_OK);
    uint32_t last = fill_log(&n);
    static uint8_t baseline[NVM_FAKE_BYTES];
    memcpy(baseline, nvm_fake_image(), sizeof baseline);
    uint32_t ops0 = nvm_fake_ops();
    assert_int_equal(rec_nvm_state_purge(&n, g_keep, sizeof g_keep), REC_OK);
    assert_int_equal(rec_nvm_erase_sectors(&n, 4, 2), REC_OK);
    const uint32_t total = nvm_fake_ops() - ops0;
    unsigned old_kept = 0, new_kept = 0;
    for (uint32_t cut = 0; cut < total; cut++) {
        memcpy(nvm_fake_image(), baseline, sizeof baseline);
        nvm_fake_power_on();
        assert_int_equal(rec_nvm_open(&n), REC_OK);
        uint32_t before = n.sequence;
        nvm_fake_cut_at((int32_t)cut);
        int err = rec_nvm_state_purge(&n, g_keep, sizeof g_keep);
        if (!err) err = rec_nvm_erase_sectors(&n, 4, 2);
        assert_int_equal(err, REC_E_IO);
        nvm_fake_power_on();
        assert_int_equal(rec_nvm_open(&n), REC_OK);
        uint8_t probe[REC_NVM_PAYLOAD_MAX];
        bool dropped_present = rec_nvm_state_get(&n, 5, probe, sizeof probe) != REC_E_NOENT;
        for (uint8_t k = 1; k < REC_NVM_KINDS; k++)
            check_purge_value(&n, k, kept_kind(k) || dropped_present ? last : 0);
        if (dropped_present) old_kept++;
        else new_kept++;
        assert_int_equal(rec_nvm_state_purge(&n, g_keep, sizeof g_keep), REC_OK);
        assert_int_equal(rec_nvm_erase_sectors(&n, 4, 2), REC_OK);
        check_purged_image(before, last);
    }
    print_message("purge cuts: %u, old log kept %u, purged log kept %u\n", total, old_kept, new_kept);
    assert_true(old_kept > 0 && new_kept > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_nvm_is_unsupported, setup),
        cmocka_unit_test_setup(test_state_log_newest_wins_across_compactions, setup),
        cmocka_unit_test_setup(test_torn_entry_is_ignored_and_skipped, setup),
        cmocka_unit_test_setup(test_power_cut_at_every_state_log_step, setup),
        cmocka_unit_test_setup(test_provision_boot_and_refusals, setup),
        cmocka_unit_test_setup(test_stuck_entropy_makes_no_key, setup),
        cmocka_unit_test_setup(test_damaged_copy_is_repaired_or_reported, setup),
        cmocka_unit_test_setup(test_power_cut_at_every_provision_step, setup),
        cmocka_unit_test_setup(test_purge_keeps_only_the_allowlist, setup),
        cmocka_unit_test_setup(test_power_cut_at_every_purge_step, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
