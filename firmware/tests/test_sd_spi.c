/* SD driver in SPI mode against the byte-level card model (fakes/sd_card_model.c) through the
 * fake port: initialisation of v1 SDSC, v2 SDSC and SDHC cards, capacities from CSD v1 and v2,
 * single and multi-block round trips with the data checked in the card's memory (so the
 * addressing mode is verified), CRC retries, and every failure path ending within bounded
 * fake time: no response, card removed, stuck busy, write error, error tokens; erase (CMD32/33/38)
 * of exactly the range asked, with the card's erase timeout, and refused where the card has no
 * erase or does not erase as its SCR says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fakes/port_fake.h"
#include "fakes/sd_card_model.h"
#include "rec/err.h"
#include "rec/sd_spi.h"

#define MS 1000000ull

static sd_card_model_t model;
static rec_sd_t sd;
static rec_bd_t bd;

static void setup_card(sdm_kind_t kind, uint32_t blocks)
{
    port_fake_reset();
    sdm_config_t cfg = sdm_default_config(kind, blocks);
    sdm_init(&model, &cfg);
    port_fake_attach_sd(&model);
}

static int teardown(void **state)
{
    (void)state;
    port_fake_attach_sd(NULL);
    sdm_free(&model);
    return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void init_ok(sdm_kind_t kind, uint32_t blocks)
{
    setup_card(kind, blocks);
    assert_int_equal(rec_sd_init(&sd, &bd), REC_OK);
    assert_true(sd.ready);
    assert_int_equal(bd.block_count, blocks);
    assert_ptr_equal(bd.ctx, &sd);
}

/* A raw command through the port, for checking the model itself. Returns R1 (0xFF if none). */
static uint8_t raw_cmd(uint8_t idx, uint32_t arg)
{
    uint8_t f[6] = { (uint8_t)(0x40u | idx), (uint8_t)(arg >> 24), (uint8_t)(arg >> 16), (uint8_t)(arg >> 8), (uint8_t)arg, 0 };
    f[5] = (uint8_t)((sdm_crc7(f, 5) << 1) | 1u);
    uint8_t r = 0xFF;
    port_spi_select(true);
    port_spi_transfer(f, NULL, 6);
    for (int i = 0; i < 10; i++) {
        port_spi_transfer(NULL, &r, 1);
        if (!(r & 0x80u)) break;
    }
    port_spi_select(false);
    port_spi_transfer(NULL, NULL, 1);
    return r;
}

/* ---- initialisation ------------------------------------------------------------------------ */

static void test_crc_helpers(void **state)
{
    (void)state;
    /* Known values: CMD0 and CMD8(0x1AA) frames end in 0x95 and 0x87. */
    static const uint8_t cmd0[5] = { 0x40, 0, 0, 0, 0 };
    static const uint8_t cmd8[5] = { 0x48, 0, 0, 0x01, 0xAA };
    assert_int_equal((sdm_crc7(cmd0, 5) << 1) | 1, 0x95);
    assert_int_equal((sdm_crc7(cmd8, 5) << 1) | 1, 0x87);
    /* CRC-16/XMODEM check value; 512 bytes of 0xFF give 0x7FA1 (SD spec example). */
    assert_int_equal(sdm_crc16((const uint8_t *)"123456789", 9), 0x31C3);
    uint8_t ff[512];
    memset(ff, 0xFF, sizeof ff);
    assert_int_equal(sdm_crc16(ff, sizeof ff), 0x7FA1);
}

static void test_init_sdhc(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 8192);
    assert_int_equal(sd.type, REC_SD_TYPE_SDHC);
    assert_string_equal(rec_sd_type_name(sd.type), "SDHC/SDXC");
    assert_true(sd.crc_on);
    assert_true(model.crc_on);
    assert_true(model.hcs_seen);
    assert_false(model.clock_violation);
    assert_int_equal(port_fake_spi_clock(), REC_SD_FAST_HZ);
    assert_true(sd.ocr & 0x40000000u);
    assert_int_equal(model.cmd_count[8], 1);
    assert_int_equal(model.cmd_count[16], 0); /* block length is fixed on SDHC */
    assert_int_equal(model.crc_errors, 0);
    assert_int_equal(model.protocol_errors, 0);
    assert_int_equal(model.ignored_commands, 0); /* enough power-up clocks before the first CMD0 */
    assert_int_equal(model.cmd_count[0], 1);
    assert_int_equal(sd.cid[1], 'S'); /* CID read */
    assert_int_equal(rec_bd_sync(&bd), REC_OK);
}

/* QEMU's SPI-mode card answers CMD58 with R1 = 0x01 (idle) even after ACMD41 finished; the OCR's
 * power-up bit says it is ready. The driver accepts the idle bit there (and only there). */
static void test_cmd58_idle_bit_tolerated(void **state)
{
    (void)state;
    sdm_kind_t kinds[] = { SDM_SDHC, SDM_SDSC_V2 };
    for (size_t i = 0; i < REC_COUNT_OF(kinds); i++) {
        setup_card(kinds[i], 8192);
        model.cmd58_r1_idle = true;
        assert_int_equal(rec_sd_init(&sd, &bd), REC_OK);
        assert_int_equal(model.cmd_count[58], 1);
        assert_int_equal(sd.type, kinds[i] == SDM_SDHC ? REC_SD_TYPE_SDHC : REC_SD_TYPE_SDSC_V2);
        assert_int_equal(bd.block_count, 8192);
        uint8_t w[512], r[512];
        fill(w, sizeof w, 58u + (uint32_t)i);
        assert_int_equal(rec_bd_write(&bd, 8191, w, 1), REC_OK);
        assert_memory_equal(sdm_block(&model, 8191), w, 512);
        assert_int_equal(rec_bd_read(&bd, 8191, r, 1), REC_OK);
        assert_memory_equal(r, w, 512);
        teardown(NULL);
    }
}

static void test_init_sdsc_v2(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V2, 4096);
    assert_int_equal(sd.type, REC_SD_TYPE_SDSC_V2);
    assert_false(sd.ocr & 0x40000000u);
    assert_int_equal(model.block_len, 512);
    assert_int_equal(model.cmd_count[16], 1);
    assert_false(model.clock_violation);
    assert_int_equal(model.protocol_errors, 0);
}

static void test_init_sdsc_v1(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V1, 2048);
    assert_int_equal(sd.type, REC_SD_TYPE_SDSC_V1);
    assert_false(model.hcs_seen); /* v1 cards get ACMD41 without HCS */
    assert_int_equal(model.block_len, 512);
    assert_int_equal(model.protocol_errors, 0);
}

static void test_capacities(void **state)
{
    (void)state;
    /* CSD v1 with several C_SIZE_MULT values, CSD v2 with several C_SIZE values. */
    static const uint32_t sdsc[] = { 8, 4096, 32768, 65536, 262144 };
    for (size_t i = 0; i < REC_COUNT_OF(sdsc); i++) {
        init_ok(SDM_SDSC_V2, sdsc[i]);
        assert_int_equal(sd.block_count, sdsc[i]);
        assert_int_equal(sd.csd[0] >> 6, 0);
        teardown(NULL);
    }
    static const uint32_t sdhc[] = { 1024, 3072, 65536 };
    for (size_t i = 0; i < REC_COUNT_OF(sdhc); i++) {
        init_ok(SDM_SDHC, sdhc[i]);
        assert_int_equal(sd.block_count, sdhc[i]);
        assert_int_equal(sd.csd[0] >> 6, 1);
        teardown(NULL);
    }
    init_ok(SDM_SDSC_V2, 8); /* leave a model for the teardown */
}

static void test_slow_acmd41(void **state)
{
    (void)state;
    port_fake_reset();
    sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
    cfg.acmd41_polls = 200; /* ~200 ms of polling at 1 ms intervals */
    cfg.ncr = 8;
    cfg.read_delay = 90;
    sdm_init(&model, &cfg);
    port_fake_attach_sd(&model);
    assert_int_equal(rec_sd_init(&sd, &bd), REC_OK);
    assert_int_equal(model.acmd_count[41], 201);
}

/* ---- data ---------------------------------------------------------------------------------- */

static void round_trips(uint32_t blocks)
{
    const uint32_t lbas[] = { 0, 1, 7, blocks / 2, blocks - 70, blocks - 1 };
    uint8_t *w = malloc(64 * 512), *r = malloc(64 * 512);
    for (size_t i = 0; i < REC_COUNT_OF(lbas); i++) {
        uint32_t lba = lbas[i];
        uint32_t counts[] = { 1, 2, 8, 64 };
        for (size_t c = 0; c < REC_COUNT_OF(counts); c++) {
            uint32_t n = counts[c];
            if (lba + n > blocks) continue;
            fill(w, n * 512, lba * 131u + n);
            assert_int_equal(rec_bd_write(&bd, lba, w, n), REC_OK);
            /* The data is where the addressing mode says it is. */
            for (uint32_t k = 0; k < n; k++) assert_memory_equal(sdm_block(&model, lba + k), w + k * 512, 512);
            memset(r, 0, n * 512);
            assert_int_equal(rec_bd_read(&bd, lba, r, n), REC_OK);
            assert_memory_equal(r, w, n * 512);
            /* Read back block by block too. */
            for (uint32_t k = 0; k < n; k++) {
                assert_int_equal(rec_bd_read(&bd, lba + k, r, 1), REC_OK);
                assert_memory_equal(r, w + k * 512, 512);
            }
        }
    }
    assert_int_equal(rec_bd_sync(&bd), REC_OK);
    assert_int_equal(model.crc_errors, 0);
    assert_int_equal(model.protocol_errors, 0);
    assert_int_equal(sd.crc_retries, 0);
    free(w);
    free(r);
}

static void test_rw_sdhc(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 8192);
    round_trips(8192);
    assert_true(model.cmd_count[18] > 0 && model.cmd_count[25] > 0 && model.cmd_count[12] > 0);
}

static void test_rw_sdsc(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V2, 4096);
    round_trips(4096);
}

static void test_rw_sdsc_v1(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V1, 2048);
    round_trips(2048);
}

/* The model refuses the wrong addressing mode, so the round trips above prove the right one. */
static void test_model_addressing_is_strict(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V2, 4096);
    assert_int_equal(raw_cmd(17, 1), 0x20);          /* block number on a byte-addressed card */
    assert_int_equal(raw_cmd(24, 3), 0x20);
    assert_int_equal(raw_cmd(17, 4096u * 512u), 0x40); /* past the end */
    teardown(NULL);
    init_ok(SDM_SDHC, 8192);
    assert_int_equal(raw_cmd(17, 100u * 512u), 0x40); /* byte address on a block-addressed card */
    assert_int_equal(raw_cmd(25, 8192), 0x40);
    teardown(NULL);
    /* And an SDSC card whose block length is not 512 refuses data until CMD16 512. */
    init_ok(SDM_SDSC_V2, 4096);
    model.block_len = 1024; /* as the card's default before the driver's CMD16 */
    assert_int_equal(raw_cmd(17, 0), 0x40);
    assert_int_equal(raw_cmd(16, 512), 0x00);
    assert_int_equal(raw_cmd(24, 512), 0x00);
}

static void test_range_and_state(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t buf[1024];
    assert_int_equal(rec_bd_read(&bd, 1024, buf, 1), REC_E_RANGE);
    assert_int_equal(rec_bd_read(&bd, 1023, buf, 2), REC_E_RANGE);
    assert_int_equal(rec_bd_write(&bd, 0xFFFFFFFFu, buf, 2), REC_E_RANGE);
    assert_int_equal(rec_bd_read(&bd, 5, buf, 0), REC_OK);
    assert_int_equal(rec_bd_read(&bd, 1022, buf, 2), REC_OK);
    rec_sd_t never;
    memset(&never, 0, sizeof never);
    assert_int_equal(rec_sd_read(&never, 0, buf, 1), REC_E_NOCARD);
    assert_int_equal(rec_sd_sync(&never), REC_E_NOCARD);
}

/* ---- CRC errors on the bus ----------------------------------------------------------------- */

static void test_crc_retries(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t w[4 * 512], r[4 * 512];
    fill(w, sizeof w, 5);

    model.crc_reject_writes = 1; /* the card saw a bad CRC16: the block is sent again */
    assert_int_equal(rec_bd_write(&bd, 10, w, 4), REC_OK);
    assert_int_equal(sd.crc_retries, 1);
    for (int k = 0; k < 4; k++) assert_memory_equal(sdm_block(&model, 10 + k), w + k * 512, 512);

    model.corrupt_reads = 2; /* two blocks arrive damaged: read again */
    assert_int_equal(rec_bd_read(&bd, 10, r, 4), REC_OK);
    assert_memory_equal(r, w, sizeof r);
    /* At least one more retry each (the model may already have queued a damaged block when the
     * driver stopped the transfer). */
    assert_true(sd.crc_retries >= 2);

    model.corrupt_reads = 100; /* persistently damaged: an error, not bad data */
    assert_int_equal(rec_bd_read(&bd, 10, r, 1), REC_E_IO);
    model.corrupt_reads = 0;
    model.crc_reject_writes = 100;
    assert_int_equal(rec_bd_write(&bd, 10, w, 1), REC_E_IO);
    model.crc_reject_writes = 0;
    assert_int_equal(rec_bd_write(&bd, 10, w, 1), REC_OK);
    assert_int_equal(model.protocol_errors, 0);
}

/* ---- background (DMA) transfers ------------------------------------------------------------- */

/* The same round trips with the port moving the blocks in the background: the driver checks each
 * block's CRC16 while the next one arrives, and never touches a block before it has arrived. */
static void test_rw_background(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 8192);
    port_fake_set_spi_background(true, 0);
    round_trips(8192);
    assert_true(port_fake_spi_background_count() > 0);
}

/* A damaged block found while the next one arrives: the read starts again at the damaged one. */
static void test_crc_retries_background(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    port_fake_set_spi_background(true, 0);
    uint8_t w[8 * 512], r[8 * 512];
    fill(w, sizeof w, 6);
    assert_int_equal(rec_bd_write(&bd, 40, w, 8), REC_OK);
    model.corrupt_reads = 2; /* blocks 0 and 1: both already sent when block 0 is checked */
    assert_int_equal(rec_bd_read(&bd, 40, r, 8), REC_OK);
    assert_memory_equal(r, w, sizeof r);
    assert_true(sd.crc_retries >= 1);
    model.corrupt_reads = 100;
    assert_int_equal(rec_bd_read(&bd, 40, r, 8), REC_E_IO);
    model.corrupt_reads = 0;
    assert_int_equal(model.protocol_errors, 0);
}

/* A background transfer that does not end in time is a timeout, for reads and for writes; the
 * card stays ready and the next transfers work. */
static void test_background_timeout(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t w[4 * 512], r[4 * 512];
    fill(w, sizeof w, 7);
    assert_int_equal(rec_bd_write(&bd, 60, w, 4), REC_OK);
    port_fake_set_spi_background(true, 2); /* the second block of the read */
    assert_int_equal(rec_bd_read(&bd, 60, r, 4), REC_E_TIMEOUT);
    assert_true(sd.ready);
    assert_int_equal(rec_bd_read(&bd, 60, r, 4), REC_OK);
    assert_memory_equal(r, w, sizeof r);

    port_fake_set_spi_background(true, 1); /* the first block of the write */
    fill(w, sizeof w, 8);
    assert_int_equal(rec_bd_write(&bd, 60, w, 4), REC_E_TIMEOUT);
    assert_true(sd.ready);
    assert_true(sd.stop_pending); /* the half block refused, the write still open */
    assert_int_equal(rec_bd_write(&bd, 60, w, 4), REC_OK);
    assert_false(sd.stop_pending);
    assert_int_equal(rec_bd_read(&bd, 60, r, 4), REC_OK);
    assert_memory_equal(r, w, sizeof r);
    assert_int_equal(model.protocol_errors, 0);
}

/* ---- failures ------------------------------------------------------------------------------ */

static void test_write_error_response(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V2, 4096);
    uint8_t w[3 * 512], old[512];
    fill(w, sizeof w, 9);
    memcpy(old, sdm_block(&model, 20), 512);

    model.write_errors = 1;
    assert_int_equal(rec_bd_write(&bd, 20, w, 1), REC_E_IO);
    assert_memory_equal(sdm_block(&model, 20), old, 512); /* not written */
    assert_int_equal(model.status_error, 0);             /* the driver read (and cleared) the status */

    /* Multi-block: the first block fails; the write stops there (stop-tran sent, status read). */
    uint32_t before = model.blocks_written;
    model.write_errors = 1;
    assert_int_equal(rec_bd_write(&bd, 40, w, 3), REC_E_IO);
    assert_int_equal(model.blocks_written, before);
    assert_int_equal(model.status_error, 0);
    assert_int_equal(model.protocol_errors, 0);

    /* The card still works afterwards. */
    assert_int_equal(rec_bd_write(&bd, 40, w, 3), REC_OK);
    uint8_t r[3 * 512];
    assert_int_equal(rec_bd_read(&bd, 40, r, 3), REC_OK);
    assert_memory_equal(r, w, sizeof r);
}

static void test_programming_error_in_status(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t w[512];
    fill(w, sizeof w, 1);
    model.status_error = 0x04; /* the card accepted the data but reports an error afterwards */
    assert_int_equal(rec_bd_write(&bd, 3, w, 1), REC_E_IO);
    assert_int_equal(rec_bd_write(&bd, 3, w, 1), REC_OK);
}

static void test_read_error_token(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t r[2 * 512];
    model.read_error_tokens = 1;
    assert_int_equal(rec_bd_read(&bd, 0, r, 1), REC_E_IO);
    model.read_error_tokens = 1;
    assert_int_equal(rec_bd_read(&bd, 0, r, 2), REC_E_IO);
    assert_int_equal(rec_bd_read(&bd, 0, r, 2), REC_OK);
    assert_int_equal(model.protocol_errors, 0);
}

static void test_no_response_at_init(void **state)
{
    (void)state;
    setup_card(SDM_SDHC, 1024);
    model.no_response = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_sd_init(&sd, &bd), REC_E_TIMEOUT);
    assert_true(port_fake_now_ns() - t0 < 2000 * MS);
    assert_false(sd.ready);
    assert_null(bd.read); /* no device on failure */
    assert_int_equal(bd.block_count, 0);
}

static void test_no_card_at_init(void **state)
{
    (void)state;
    setup_card(SDM_SDHC, 1024);
    model.removed = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_sd_init(&sd, &bd), REC_E_NOCARD);
    assert_true(port_fake_now_ns() - t0 < 100 * MS);
    /* Without a card-detect switch (present always true) the same is a timeout. */
    port_fake_set_card_present(1);
    assert_int_equal(rec_sd_init(&sd, &bd), REC_E_TIMEOUT);
}

static void test_too_few_power_up_clocks_matter(void **state)
{
    (void)state;
    /* The model ignores CMD0 without >= 74 clocks first; the driver's power-up gives them. */
    setup_card(SDM_SDHC, 1024);
    assert_int_equal(raw_cmd(0, 0), 0xFF);
    assert_int_equal(model.ignored_commands, 1);
    assert_int_equal(rec_sd_init(&sd, &bd), REC_OK);
    assert_true(model.spi_mode);
}

static void test_acmd41_timeout(void **state)
{
    (void)state;
    port_fake_reset();
    sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
    cfg.acmd41_polls = 1000000; /* never ready */
    sdm_init(&model, &cfg);
    port_fake_attach_sd(&model);
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_sd_init(&sd, &bd), REC_E_TIMEOUT);
    uint64_t dt = port_fake_now_ns() - t0;
    assert_true(dt >= REC_SD_INIT_TIMEOUT_MS * MS);
    assert_true(dt < 2 * REC_SD_INIT_TIMEOUT_MS * MS);
}

static void test_no_response_after_init(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t buf[2 * 512];
    model.no_response = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_read(&bd, 0, buf, 1), REC_E_TIMEOUT);
    assert_int_equal(rec_bd_read(&bd, 0, buf, 2), REC_E_TIMEOUT);
    assert_int_equal(rec_bd_write(&bd, 0, buf, 1), REC_E_TIMEOUT);
    assert_int_equal(rec_bd_write(&bd, 0, buf, 2), REC_E_TIMEOUT);
    assert_true(port_fake_now_ns() - t0 < 100 * MS);
    model.no_response = false;
    assert_int_equal(rec_bd_read(&bd, 0, buf, 2), REC_OK);
}

static void test_stuck_busy(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 1024);
    uint8_t w[2 * 512];
    fill(w, sizeof w, 3);
    model.stuck_busy = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_write(&bd, 5, w, 1), REC_E_TIMEOUT);
    uint64_t dt = port_fake_now_ns() - t0;
    assert_true(dt >= REC_SD_WRITE_TIMEOUT_MS * MS);
    assert_true(dt < 2 * REC_SD_WRITE_TIMEOUT_MS * MS);

    /* Still busy: sync, reads and writes time out too, each within bounds. */
    t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_sync(&bd), REC_E_TIMEOUT);
    assert_int_equal(rec_bd_read(&bd, 5, w, 1), REC_E_TIMEOUT);
    assert_true(port_fake_now_ns() - t0 < 2 * (REC_SD_WRITE_TIMEOUT_MS + REC_SD_CMD_TIMEOUT_MS) * MS);

    /* Busy ends: the card answers again. */
    model.stuck_busy = false;
    assert_int_equal(rec_bd_sync(&bd), REC_OK);
    assert_int_equal(rec_bd_write(&bd, 5, w, 2), REC_OK);
}

static void test_stuck_busy_multi(void **state)
{
    (void)state;
    init_ok(SDM_SDSC_V2, 4096);
    uint8_t w[4 * 512];
    fill(w, sizeof w, 4);
    model.stuck_busy = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_write(&bd, 8, w, 4), REC_E_TIMEOUT);
    assert_true(port_fake_now_ns() - t0 < 2 * REC_SD_WRITE_TIMEOUT_MS * MS);
    assert_true(sd.stop_pending);

    /* When the card recovers, the abandoned multi-block write is closed first and the card is
     * usable without re-initialisation. */
    model.stuck_busy = false;
    assert_int_equal(rec_bd_write(&bd, 8, w, 4), REC_OK);
    assert_false(sd.stop_pending);
    uint8_t r[4 * 512];
    assert_int_equal(rec_bd_read(&bd, 8, r, 4), REC_OK);
    assert_memory_equal(r, w, sizeof r);
    assert_int_equal(model.protocol_errors, 0);
}

static void test_card_removed(void **state)
{
    (void)state;
    init_ok(SDM_SDHC, 2048);
    uint8_t w[8 * 512], r[8 * 512];
    fill(w, sizeof w, 77);
    assert_int_equal(rec_bd_write(&bd, 100, w, 8), REC_OK);

    model.removed = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_read(&bd, 100, r, 8), REC_E_NOCARD);
    assert_true(port_fake_now_ns() - t0 < 200 * MS);
    assert_false(sd.ready);
    /* Every later call says so at once, without touching the bus. */
    uint64_t bytes = model.bytes;
    assert_int_equal(rec_bd_write(&bd, 100, w, 1), REC_E_NOCARD);
    assert_int_equal(rec_bd_sync(&bd), REC_E_NOCARD);
    assert_int_equal(model.bytes, bytes);

    /* Re-inserted: initialise again, the data is still there. */
    sdm_power_cycle(&model);
    assert_int_equal(rec_sd_init(&sd, &bd), REC_OK);
    assert_int_equal(rec_bd_read(&bd, 100, r, 8), REC_OK);
    assert_memory_equal(r, w, sizeof w);
}

static void test_card_removed_mid_transfer(void **state)
{
    (void)state;
    uint8_t w[16 * 512], r[16 * 512];
    fill(w, sizeof w, 78);
    /* Pull the card at many points inside a multi-block write and read. */
    for (uint64_t at = 3; at < 16 * 520; at += 397) {
        init_ok(SDM_SDHC, 1024);
        model.remove_after_bytes = at;
        int err = rec_bd_write(&bd, 16, w, 16);
        assert_int_equal(err, REC_E_NOCARD);
        teardown(NULL);

        init_ok(SDM_SDHC, 1024);
        model.remove_after_bytes = at;
        err = rec_bd_read(&bd, 16, r, 16);
        assert_int_equal(err, REC_E_NOCARD);
        teardown(NULL);
    }
    init_ok(SDM_SDHC, 1024);
}

/* ---- erase (CMD32/CMD33/CMD38) -------------------------------------------------------------- */

/* A card of `blocks` with the configuration changed by the test, initialised. */
static void init_cfg(const sdm_config_t *cfg)
{
    port_fake_reset();
    sdm_init(&model, cfg);
    port_fake_attach_sd(&model);
    assert_int_equal(rec_sd_init(&sd, &bd), REC_OK);
    assert_ptr_not_equal(bd.erase, NULL);
    assert_int_equal(bd.erase_kind, REC_BD_ERASE_CARD);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return false;
    return true;
}

/* Fills the card with a pattern, erases [lba, lba + count) and checks the card's memory: the
 * range reads `erased`, every other block keeps its pattern. */
static void erase_and_check(uint32_t lba, uint32_t count, uint8_t erased)
{
    for (uint32_t b = 0; b < model.cfg.blocks; b++) fill(sdm_block(&model, b), 512, b + 1u);
    assert_int_equal(rec_bd_erase(&bd, lba, count), REC_OK);
    for (uint32_t b = 0; b < model.cfg.blocks; b++) {
        if (b >= lba && b < lba + count) {
            assert_true(all_bytes(sdm_block(&model, b), 512, erased));
        } else {
            uint8_t want[512];
            fill(want, sizeof want, b + 1u);
            assert_memory_equal(sdm_block(&model, b), want, sizeof want);
        }
    }
    assert_int_equal(model.protocol_errors, 0);
    assert_int_equal(model.crc_errors, 0);
}

static void test_erase_sdhc(void **state)
{
    (void)state;
    sdm_config_t cfg = sdm_default_config(SDM_SDHC, 2048);
    init_cfg(&cfg);
    /* 300 blocks in allocation units of 128 (AU_SIZE 64 KiB): three CMD38. */
    erase_and_check(100, 300, 0x00);
    assert_int_equal(model.cmd_count[38], 3);
    assert_int_equal(model.cmd_count[32], 3);
    assert_int_equal(model.cmd_count[33], 3);
    assert_int_equal(model.acmd_count[51], 1); /* SCR and SD Status read once */
    assert_int_equal(model.acmd_count[13], 1);
    assert_int_equal(sd.erased_byte, 0x00);
    assert_int_equal(sd.au_blocks, 128);
    assert_int_equal(sd.erase_ms_per_au, 1000);
    assert_int_equal(sd.blocks_erased, 300);
    /* The whole card, and the card still reads and writes afterwards. */
    erase_and_check(0, 2048, 0x00);
    uint8_t w[512], r[512];
    fill(w, sizeof w, 9);
    assert_int_equal(rec_bd_write(&bd, 7, w, 1), REC_OK);
    assert_int_equal(rec_bd_read(&bd, 7, r, 1), REC_OK);
    assert_memory_equal(r, w, sizeof r);
    assert_int_equal(rec_bd_erase(&bd, 2000, 100), REC_E_RANGE);
}

static void test_erase_reads_ones(void **state)
{
    (void)state;
    sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
    cfg.erased_ones = true;
    init_cfg(&cfg);
    erase_and_check(0, 1024, 0xFF);
    assert_int_equal(sd.erased_byte, 0xFF);
}

static void test_erase_sdsc_byte_addressed(void **state)
{
    (void)state;
    sdm_config_t cfg = sdm_default_config(SDM_SDSC_V2, 4096);
    init_cfg(&cfg);
    erase_and_check(5, 200, 0x00); /* byte addresses: the strict model refuses block ones */
}

static void test_erase_sdsc_sectors(void **state)
{
    (void)state;
    sdm_config_t cfg = sdm_default_config(SDM_SDSC_V1, 4096);
    cfg.sector_erase = true;
    init_cfg(&cfg);
    /* Such a card would erase the whole 128-block sectors around the range: refused. */
    for (uint32_t b = 0; b < cfg.blocks; b++) fill(sdm_block(&model, b), 512, b + 1u);
    assert_int_equal(rec_bd_erase(&bd, 5, 200), REC_E_UNSUPPORTED);
    assert_int_equal(model.cmd_count[38], 0);
    erase_and_check(256, 512, 0x00);
}

static void test_erase_unsupported_card(void **state)
{
    (void)state;
    sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
    cfg.no_erase = true;
    init_cfg(&cfg);
    for (uint32_t b = 0; b < cfg.blocks; b++) fill(sdm_block(&model, b), 512, b + 1u);
    assert_int_equal(rec_bd_erase(&bd, 0, 1024), REC_E_UNSUPPORTED);
    assert_int_equal(model.cmd_count[38], 0);
    uint8_t want[512];
    fill(want, sizeof want, 11);
    assert_memory_equal(sdm_block(&model, 10), want, sizeof want);
}

static void test_erase_not_as_promised(void **state)
{
    (void)state;
    /* A card that answers CMD38 but keeps the data, and one whose erased blocks read the other
     * way than its SCR says: both reported, so the caller writes over the blocks. */
    for (int kind = 0; kind < 2; kind++) {
        sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
        if (kind == 0) cfg.erase_ignored = true;
        else cfg.erase_wrong_fill = true;
        init_cfg(&cfg);
        for (uint32_t b = 0; b < cfg.blocks; b++) fill(sdm_block(&model, b), 512, b + 1u);
        assert_int_equal(rec_bd_erase(&bd, 0, 100), REC_E_UNSUPPORTED);
        assert_int_equal(model.cmd_count[38], 1);
        teardown(NULL);
    }
    init_ok(SDM_SDHC, 1024);
}

static void test_erase_stuck_busy_times_out(void **state)
{
    (void)state;
    /* The card's own timeout: 1 s per allocation unit (ERASE_TIMEOUT 1 s / ERASE_SIZE 1). */
    sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
    cfg.erase_timeout_s = 2;
    init_cfg(&cfg);
    model.stuck_erase = true;
    uint64_t t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_erase(&bd, 0, 100), REC_E_TIMEOUT);
    uint64_t dt = port_fake_now_ns() - t0;
    assert_true(dt >= 2000 * MS);
    assert_true(dt < 3000 * MS);
    /* The card comes back: usable without re-initialisation. */
    model.stuck_erase = false;
    assert_int_equal(rec_bd_sync(&bd), REC_OK);
    erase_and_check(0, 100, 0x00);
    teardown(NULL);

    /* Without timeout figures: 250 ms per block, at least 1 s, 256 blocks per CMD38. */
    cfg = sdm_default_config(SDM_SDHC, 1024);
    cfg.no_erase_timeout = true;
    init_cfg(&cfg);
    model.stuck_erase = true;
    t0 = port_fake_now_ns();
    assert_int_equal(rec_bd_erase(&bd, 0, 2), REC_E_TIMEOUT);
    dt = port_fake_now_ns() - t0;
    assert_true(dt >= 1000 * MS);
    assert_true(dt < 2000 * MS);
    model.stuck_erase = false;
    assert_int_equal(rec_bd_sync(&bd), REC_OK);
    model.cmd_count[38] = 0;
    erase_and_check(0, 600, 0x00);
    assert_int_equal(model.cmd_count[38], 3); /* 256 + 256 + 88 */
}

static void test_erase_card_removed(void **state)
{
    (void)state;
    for (uint64_t at = 3; at < 400; at += 37) {
        sdm_config_t cfg = sdm_default_config(SDM_SDHC, 1024);
        init_cfg(&cfg);
        model.remove_after_bytes = at;
        int err = rec_bd_erase(&bd, 0, 1024);
        assert_int_equal(err, REC_E_NOCARD);
        teardown(NULL);
    }
    init_ok(SDM_SDHC, 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_crc_helpers, NULL),
        cmocka_unit_test_teardown(test_init_sdhc, teardown),
        cmocka_unit_test_teardown(test_cmd58_idle_bit_tolerated, teardown),
        cmocka_unit_test_teardown(test_init_sdsc_v2, teardown),
        cmocka_unit_test_teardown(test_init_sdsc_v1, teardown),
        cmocka_unit_test_teardown(test_capacities, teardown),
        cmocka_unit_test_teardown(test_slow_acmd41, teardown),
        cmocka_unit_test_teardown(test_rw_sdhc, teardown),
        cmocka_unit_test_teardown(test_rw_sdsc, teardown),
        cmocka_unit_test_teardown(test_rw_sdsc_v1, teardown),
        cmocka_unit_test_teardown(test_model_addressing_is_strict, teardown),
        cmocka_unit_test_teardown(test_range_and_state, teardown),
        cmocka_unit_test_teardown(test_crc_retries, teardown),
        cmocka_unit_test_teardown(test_rw_background, teardown),
        cmocka_unit_test_teardown(test_crc_retries_background, teardown),
        cmocka_unit_test_teardown(test_background_timeout, teardown),
        cmocka_unit_test_teardown(test_write_error_response, teardown),
        cmocka_unit_test_teardown(test_programming_error_in_status, teardown),
        cmocka_unit_test_teardown(test_read_error_token, teardown),
        cmocka_unit_test_teardown(test_no_response_at_init, teardown),
        cmocka_unit_test_teardown(test_no_card_at_init, teardown),
        cmocka_unit_test_teardown(test_too_few_power_up_clocks_matter, teardown),
        cmocka_unit_test_teardown(test_acmd41_timeout, teardown),
        cmocka_unit_test_teardown(test_no_response_after_init, teardown),
        cmocka_unit_test_teardown(test_stuck_busy, teardown),
        cmocka_unit_test_teardown(test_stuck_busy_multi, teardown),
        cmocka_unit_test_teardown(test_card_removed, teardown),
        cmocka_unit_test_teardown(test_card_removed_mid_transfer, teardown),
        cmocka_unit_test_teardown(test_erase_sdhc, teardown),
        cmocka_unit_test_teardown(test_erase_reads_ones, teardown),
        cmocka_unit_test_teardown(test_erase_sdsc_byte_addressed, teardown),
        cmocka_unit_test_teardown(test_erase_sdsc_sectors, teardown),
        cmocka_unit_test_teardown(test_erase_unsupported_card, teardown),
        cmocka_unit_test_teardown(test_erase_not_as_promised, teardown),
        cmocka_unit_test_teardown(test_erase_stuck_busy_times_out, teardown),
        cmocka_unit_test_teardown(test_erase_card_removed, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
