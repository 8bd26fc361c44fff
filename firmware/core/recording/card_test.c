/* The card test: see card_test.h. */
#include "rec/card_test.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec_protocol.h"

#define WORDS_PER_BLOCK (REC_BD_BLOCK_SIZE / 4u)

/* Each block's pattern starts from its own state (a mix of seed and block number), so a block
 * written to or read from the wrong place is caught as surely as a flipped bit. */
static uint32_t block_state(uint32_t seed, uint32_t block)
{
    uint32_t x = seed ^ (block * 0x9E3779B9u);
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x ? x : 0x6D2B79F5u; /* xorshift never leaves 0 */
}

static uint32_t next_word(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

uint32_t rec_card_test_pattern(uint32_t seed, uint32_t block, uint32_t word)
{
    uint32_t x = block_state(seed, block), v = 0;
    for (uint32_t i = 0; i <= word; i++) v = next_word(&x);
    return v;
}

static void fill_block(uint8_t *b, uint32_t seed, uint32_t block)
{
    uint32_t x = block_state(seed, block);
    for (uint32_t i = 0; i < WORDS_PER_BLOCK; i++) rec_put_u32(b + 4u * i, next_word(&x));
}

/* The offset in the block of its first wrong byte, or REC_BD_BLOCK_SIZE when it matches. */
static uint32_t check_block(const uint8_t *b, uint32_t seed, uint32_t block)
{
    uint32_t x = block_state(seed, block);
    for (uint32_t i = 0; i < WORDS_PER_BLOCK; i++) {
        uint32_t want = next_word(&x);
        if (rec_get_u32(b + 4u * i) == want) continue;
        for (uint32_t k = 0; k < 4u; k++)
            if (b[4u * i + k] != (uint8_t)(want >> (8u * k))) return 4u * i + k;
    }
    return REC_BD_BLOCK_SIZE;
}

static uint32_t rate(uint32_t bytes, uint32_t ms)
{
    uint64_t r = (uint64_t)bytes * 1000u / (ms ? ms : 1u);
    return r > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)r;
}

uint8_t rec_card_test_fs_state(const rec_store_t *st)
{
    const rec_fat_repair_report_t *r = &st->repair;
    if (r->loops_cut + r->crosslinks_cut + r->dirs_cut > 0 || (st->repaired && !r->tree_complete)) return RP_CARD_FS_DAMAGED;
    return st->repaired ? RP_CARD_FS_REPAIRED : RP_CARD_FS_OK;
}

static int remove_scratch(rec_store_t *st)
{
    rec_fat_dirent_t de;
    int err = rec_fat_stat(&st->fs, REC_CARD_TEST_PATH, &de);
    if (err == REC_E_NOENT) return REC_OK;
    if (err) return err;
    err = rec_store_begin_update(st);
    if (!err) err = rec_fat_remove(&st->fs, REC_CARD_TEST_PATH);
    int end = rec_store_end_update(st);
    return err ? err : end;
}

int rec_card_test_cleanup(rec_store_t *st)
{
    rec_fat_dirent_t de;
    if (rec_fat_stat(&st->fs, REC_CARD_TEST_PATH, &de) != REC_OK) return REC_OK;
    port_log("removing the scratch file of a card test cut short");
    return remove_scratch(st);
}

/* Creates the scratch file as one contiguous run: *lba is its first block. */
static int create_scratch(rec_device_t *d, uint32_t bytes, uint32_t *lba)
{
    rec_store_t *st = &d->store;
    int err = remove_scratch(st); /* one a failed cleanup left */
    if (!err) err = rec_store_begin_update(st);
    if (err) return err;
    rec_fat_file_t f;
    rec_fat_lend_scratch(&st->fs, d->ring.buf, rec_ring_capacity(&d->ring));
    err = rec_fat_create_contiguous(&st->fs, &f, REC_CARD_TEST_PATH, bytes);
    rec_fat_lend_scratch(&st->fs, NULL, 0);
    if (!err) {
        REC_ASSERT(f.contiguous);
        err = rec_fat_file_lba(&st->fs, &f, 0, lba);
        int closed = rec_fat_close(&st->fs, &f);
        if (!err) err = closed;
    }
    int end = rec_store_end_update(st); /* the file is on the card before its blocks are written */
    return err ? err : end;
}

static int write_and_read(rec_device_t *d, uint32_t lba, uint32_t seed, rec_card_test_result_t *out)
{
    const rec_bd_t *bd = d->store.bd;
    uint8_t *buf = d->ring.buf;
    const uint32_t per_call = rec_ring_capacity(&d->ring) / REC_BD_BLOCK_SIZE;
    const uint32_t blocks = out->tested_bytes / REC_BD_BLOCK_SIZE;
    uint64_t t0 = port_uptime_ms();
    for (uint32_t b = 0; b < blocks;) {
        const uint32_t n = blocks - b < per_call ? blocks - b : per_call;
        for (uint32_t i = 0; i < n; i++) fill_block(buf + i * REC_BD_BLOCK_SIZE, seed, b + i);
        int err = rec_bd_write(bd, lba + b, buf, n);
        if (err) return err;
        b += n;
    }
    int err = rec_bd_sync(bd);
    if (err) return err;
    uint64_t t1 = port_uptime_ms();
    out->write_ms = (uint32_t)(t1 - t0);
    for (uint32_t b = 0; b < blocks;) {
        const uint32_t n = blocks - b < per_call ? blocks - b : per_call;
        err = rec_bd_read(bd, lba + b, buf, n);
        if (err) return err;
        for (uint32_t i = 0; i < n && out->first_mismatch == REC_CARD_TEST_NO_MISMATCH; i++) {
            uint32_t at = check_block(buf + i * REC_BD_BLOCK_SIZE, seed, b + i);
            if (at < REC_BD_BLOCK_SIZE) out->first_mismatch = (b + i) * REC_BD_BLOCK_SIZE + at;
        }
        b += n;
    }
    out->read_ms = (uint32_t)(port_uptime_ms() - t1);
    out->write_bytes_per_s = rate(out->tested_bytes, out->write_ms);
    out->read_bytes_per_s = rate(out->tested_bytes, out->read_ms);
    return REC_OK;
}

int rec_card_test(rec_device_t *d, uint32_t bytes, uint32_t seed, rec_card_test_result_t *out, uint32_t *testable)
{
    *testable = 0;
    memset(out, 0, sizeof *out);
    if (d->rec_state == RP_REC_STATE_RECORDING || d->rec_state == RP_REC_STATE_FINALISING) return REC_E_BUSY;
    rec_store_t *st = &d->store;
    if (!st->mounted || !st->bd) return REC_E_NOCARD;
    if (bytes == 0) bytes = RP_CARD_CARD_TEST_DEFAULT_BYTES;
    if (bytes > RP_CARD_CARD_TEST_MAX_BYTES) return REC_E_INVAL;
    bytes = (bytes + REC_BD_BLOCK_SIZE - 1u) / REC_BD_BLOCK_SIZE * REC_BD_BLOCK_SIZE;
    rec_store_space(st, &out->capacity_bytes, &out->free_bytes);
    out->fs_state = rec_card_test_fs_state(st);
    const uint64_t cluster = (uint64_t)st->fs.blocks_per_cluster * REC_BD_BLOCK_SIZE;
    const uint64_t room = ((uint64_t)bytes + cluster - 1u) / cluster * cluster + RP_CARD_CARD_TEST_RESERVE_BYTES;
    if (out->free_bytes < room) {
        uint64_t can = out->free_bytes > RP_CARD_CARD_TEST_RESERVE_BYTES ? out->free_bytes - RP_CARD_CARD_TEST_RESERVE_BYTES : 0;
        can = can / cluster * cluster;
        *testable = can > RP_CARD_CARD_TEST_MAX_BYTES ? RP_CARD_CARD_TEST_MAX_BYTES : (uint32_t)can;
        return REC_E_NOSPC;
    }
    out->tested_bytes = bytes;
    out->first_mismatch = REC_CARD_TEST_NO_MISMATCH;
    /* The ring is lent (the sealer keeps its work there: it starts over) and files change. */
    d->generation++;
    uint32_t lba = 0;
    int err = create_scratch(d, bytes, &lba);
    if (err == REC_E_NOSPC) *testable = 0; /* free space, but no contiguous run that long */
    if (!err) err = write_and_read(d, lba, seed, out);
    int removed = remove_scratch(st);
    d->generation++;
    return err ? err : removed;
}
