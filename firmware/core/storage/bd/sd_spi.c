/* SD card driver in SPI mode (SD Physical Layer Simplified Specification, chapter 7).
 *
 * Every transaction: select, wait until the card drives 0xFF (ready), command, response, data,
 * deselect, one more byte of clocks so the card releases DO. Every wait is bounded by
 * port_uptime_ms() and, as a second guard against a port whose clock does not move, by a
 * maximum number of polled bytes. */
#include "rec/sd_spi.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/port.h"

#define BLK 512u

#define R1_IDLE 0x01u
#define R1_ILLEGAL 0x04u
#define R1_CMD_CRC 0x08u

#define TOKEN_START 0xFEu
#define TOKEN_MULTI_WRITE 0xFCu
#define TOKEN_STOP_TRAN 0xFDu

#define DATA_RESP_MASK 0x1Fu
#define DATA_RESP_ACCEPTED 0x05u
#define DATA_RESP_CRC 0x0Bu
#define DATA_RESP_WRITE_ERR 0x0Du

#define OCR_POWER_UP_DONE 0x80000000u
#define OCR_CCS 0x40000000u
#define ACMD41_HCS 0x40000000u

#define CMD0_ATTEMPTS 10u
#define NCR_MAX 10u            /* bytes to wait for R1 (spec: 8) */
#define CRC_ATTEMPTS 3u        /* tries of a block transfer that failed its CRC */
#define MAX_POLLS 50000000u    /* safety net only; the time limits end every wait first */

/* Internal: a CRC mismatch, retried by the callers and reported as REC_E_IO in the end. */
#define E_CRC_RETRY (-1000)

/* CRC-16/XMODEM (polynomial 0x1021, init 0), as used for SD data blocks. */
static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6, 0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823, 0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70, 0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d, 0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a, 0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    while (n--) crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ *p++) & 0xFFu]);
    return crc;
}

static uint8_t crc7(const uint8_t *p, size_t n)
{
    uint8_t crc = 0;
    while (n--) {
        uint8_t b = *p++;
        for (int k = 7; k >= 0; k--) {
            uint8_t in = (uint8_t)(((b >> k) ^ (crc >> 6)) & 1u);
            crc = (uint8_t)((crc << 1) & 0x7Fu);
            if (in) crc ^= 0x09u;
        }
    }
    return crc;
}

/* ---- bus primitives ------------------------------------------------------------------------ */

static uint8_t xfer(uint8_t b)
{
    uint8_t r = 0xFF;
    port_spi_transfer(&b, &r, 1);
    return r;
}

static void cs_low(void)
{
    port_spi_select(true);
}

static void cs_high(void)
{
    port_spi_select(false);
    (void)xfer(0xFF); /* 8 clocks with CS high: the card releases DO */
}

/* The card did not answer: gone (card-detect says so) or just unresponsive. */
static int no_answer(rec_sd_t *sd)
{
    if (!port_card_present()) {
        sd->ready = false;
        return REC_E_NOCARD;
    }
    return REC_E_TIMEOUT;
}

static bool expired(uint64_t start, uint32_t ms)
{
    return port_uptime_ms() - start >= ms;
}

/* Polls until the card drives 0xFF (not busy). */
static int wait_ready(rec_sd_t *sd, uint32_t timeout_ms)
{
    uint64_t start = port_uptime_ms();
    for (uint32_t polls = 0; polls < MAX_POLLS; polls++) {
        if (xfer(0xFF) == 0xFF) return REC_OK;
        if (expired(start, timeout_ms)) break;
    }
    return no_answer(sd);
}

/* Sends a command (CS already low) and reads R1. Does not wait for ready before CMD0 and CMD12
 * (during a multi-block read DO carries data). */
static int send_cmd(rec_sd_t *sd, uint8_t idx, uint32_t arg, uint8_t *r1)
{
    if (idx != 0 && idx != 12) {
        int err = wait_ready(sd, REC_SD_CMD_TIMEOUT_MS);
        if (err) return err;
    }
    uint8_t f[6];
    f[0] = (uint8_t)(0x40u | idx);
    rec_put_be32(f + 1, arg);
    f[5] = (uint8_t)((crc7(f, 5) << 1) | 1u);
    port_spi_transfer(f, NULL, sizeof f);
    if (idx == 12) (void)xfer(0xFF); /* stuff byte */
    for (unsigned i = 0; i < NCR_MAX; i++) {
        uint8_t r = xfer(0xFF);
        if (!(r & 0x80u)) {
            *r1 = r;
            return REC_OK;
        }
    }
    return no_answer(sd);
}

/* One whole command transaction with an R1 response and `extra` response bytes (R3/R7/R2). */
static int command(rec_sd_t *sd, uint8_t idx, uint32_t arg, uint8_t *r1, uint8_t *extra, size_t n_extra)
{
    cs_low();
    int err = send_cmd(sd, idx, arg, r1);
    if (!err && n_extra) port_spi_transfer(NULL, extra, n_extra);
    cs_high();
    return err;
}

static int app_command(rec_sd_t *sd, uint8_t idx, uint32_t arg, uint8_t *r1)
{
    cs_low();
    int err = send_cmd(sd, 55, 0, r1);
    if (!err && (*r1 & (uint8_t)~R1_IDLE) == 0) err = send_cmd(sd, idx, arg, r1);
    cs_high();
    return err;
}

/* Waits for a data block's start token (CS low, command sent). */
static int recv_token(rec_sd_t *sd)
{
    uint64_t start = port_uptime_ms();
    uint8_t t = 0xFF;
    for (uint32_t polls = 0; polls < MAX_POLLS; polls++) {
        t = xfer(0xFF);
        if (t != 0xFF || expired(start, REC_SD_READ_TIMEOUT_MS)) break;
    }
    if (t == 0xFF) return no_answer(sd);
    if (t != TOKEN_START) return REC_E_IO; /* error token (0000xxxx) or garbage */
    return REC_OK;
}

/* A data block's bytes: started in the background when the port can (true: end it with
 * block_finish), else moved here and now (false). */
static bool block_start(const uint8_t *tx, uint8_t *rx, size_t n)
{
    if (port_spi_start(tx, rx, n)) return true;
    port_spi_transfer(tx, rx, n);
    return false;
}

static int block_finish(bool background)
{
    return background ? port_spi_finish() : REC_OK;
}

/* A received block against the CRC16 bytes that followed it. */
static int check_crc(const rec_sd_t *sd, const uint8_t *buf, size_t n, const uint8_t c[2])
{
    if (sd->crc_on && (uint16_t)((c[0] << 8) | c[1]) != crc16(buf, n)) return E_CRC_RETRY;
    return REC_OK;
}

/* Receives one data block (CS low, command sent): token, n bytes, CRC16. */
static int recv_data(rec_sd_t *sd, uint8_t *buf, size_t n)
{
    int err = recv_token(sd);
    if (err) return err;
    err = block_finish(block_start(NULL, buf, n));
    if (err) return err;
    uint8_t c[2];
    port_spi_transfer(NULL, c, 2);
    return check_crc(sd, buf, n, c);
}

static int read_register(rec_sd_t *sd, uint8_t idx, uint8_t reg[16])
{
    for (unsigned attempt = 0;; attempt++) {
        uint8_t r1;
        cs_low();
        int err = send_cmd(sd, idx, 0, &r1);
        if (!err && r1 != 0) err = REC_E_IO;
        if (!err) err = recv_data(sd, reg, 16);
        cs_high();
        if (err != E_CRC_RETRY) return err;
        sd->crc_retries++;
        if (attempt + 1 >= CRC_ATTEMPTS) return REC_E_IO;
    }
}

static uint32_t csd_bits(const uint8_t csd[16], unsigned msb, unsigned lsb)
{
    uint32_t v = 0;
    for (unsigned b = msb + 1; b-- > lsb;) v = (v << 1) | ((csd[15u - b / 8u] >> (b % 8u)) & 1u);
    return v;
}

/* Capacity in blocks from the CSD, or 0 when the structure is not understood. */
static uint32_t csd_blocks(const uint8_t csd[16])
{
    switch (csd_bits(csd, 127, 126)) {
    case 0: {
        uint32_t read_bl_len = csd_bits(csd, 83, 80);
        uint32_t c_size = csd_bits(csd, 73, 62);
        uint32_t mult = csd_bits(csd, 49, 47);
        if (read_bl_len < 9 || read_bl_len > 11) return 0;
        return (c_size + 1u) << (mult + 2u + read_bl_len - 9u);
    }
    case 1: {
        uint64_t blocks = ((uint64_t)csd_bits(csd, 69, 48) + 1u) * 1024u;
        return blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks;
    }
    default:
        return 0;
    }
}

/* ---- block device -------------------------------------------------------------------------- */

static int bd_read(void *ctx, uint32_t lba, void *buf, uint32_t count)
{
    return rec_sd_read(ctx, lba, buf, count);
}
static int bd_write(void *ctx, uint32_t lba, const void *buf, uint32_t count)
{
    return rec_sd_write(ctx, lba, buf, count);
}
static int bd_sync(void *ctx)
{
    return rec_sd_sync(ctx);
}
static int bd_erase(void *ctx, uint32_t lba, uint32_t count)
{
    return rec_sd_erase(ctx, lba, count);
}

const char *rec_sd_type_name(rec_sd_type_t t)
{
    switch (t) {
    case REC_SD_TYPE_SDSC_V1: return "SDSC v1";
    case REC_SD_TYPE_SDSC_V2: return "SDSC";
    case REC_SD_TYPE_SDHC: return "SDHC/SDXC";
    case REC_SD_TYPE_NONE: break;
    }
    return "none";
}

int rec_sd_init(rec_sd_t *sd, rec_bd_t *bd_out)
{
    memset(sd, 0, sizeof *sd);
    if (bd_out) memset(bd_out, 0, sizeof *bd_out);
    uint8_t r1 = 0xFF, r[4];
    int err;

    /* Power-up: at least 74 clocks with CS high, at <= 400 kHz. */
    port_spi_set_clock(REC_SD_INIT_HZ);
    port_spi_select(false);
    port_delay_ms(1);
    for (unsigned i = 0; i < 10; i++) (void)xfer(0xFF);

    /* CMD0: software reset into SPI mode. */
    err = REC_E_TIMEOUT;
    for (unsigned attempt = 0; attempt < CMD0_ATTEMPTS; attempt++) {
        err = command(sd, 0, 0, &r1, NULL, 0);
        if (err == REC_E_NOCARD) return err;
        if (!err && r1 == R1_IDLE) break;
        if (!err) err = REC_E_IO;
        port_delay_ms(1);
    }
    if (err) return err;

    /* CMD8: v2 cards echo the voltage and check pattern; v1 cards call it illegal. */
    bool v2;
    cs_low();
    err = send_cmd(sd, 8, 0x1AAu, &r1);
    if (!err && r1 == R1_IDLE) port_spi_transfer(NULL, r, 4);
    cs_high();
    if (err) return err;
    if (r1 & R1_ILLEGAL) {
        v2 = false;
    } else if (r1 == R1_IDLE) {
        if ((r[2] & 0x0Fu) != 0x01u) return REC_E_UNSUPPORTED; /* 2.7-3.6 V not accepted */
        if (r[3] != 0xAAu) return REC_E_IO;
        v2 = true;
    } else {
        return REC_E_IO;
    }

    /* CMD59: CRC checking on (commands, written and read blocks). Older cards may refuse. */
    err = command(sd, 59, 1, &r1, NULL, 0);
    if (err) return err;
    sd->crc_on = (r1 & (uint8_t)~R1_IDLE) == 0;

    /* ACMD41 until the card leaves idle, announcing high capacity support on v2 cards. */
    uint64_t start = port_uptime_ms();
    for (;;) {
        err = app_command(sd, 41, v2 ? ACMD41_HCS : 0u, &r1);
        if (err) return err;
        if (r1 == 0) break;
        if (r1 & R1_ILLEGAL) return REC_E_UNSUPPORTED; /* MMC, not supported */
        if (r1 != R1_IDLE) return REC_E_IO;
        if (expired(start, REC_SD_INIT_TIMEOUT_MS)) return REC_E_TIMEOUT;
        port_delay_ms(1);
    }

    /* CMD58: OCR, CCS tells block (SDHC/SDXC) from byte (SDSC) addressing. */
    if (v2) {
        err = command(sd, 58, 0, &r1, r, 4);
        if (err) return err;
        /* The card has left idle (ACMD41 said so), but tolerate the idle bit in this R1: QEMU's
         * SD card in SPI mode (hw/sd/ssi-sd.c) answers CMD58 with R1 = 0x01 always. The OCR's
         * power-up bit below is what tells whether the card is ready. */
        if ((r1 & (uint8_t)~R1_IDLE) != 0) return REC_E_IO;
        sd->ocr = rec_get_be32(r);
        if (!(sd->ocr & OCR_POWER_UP_DONE)) return REC_E_IO;
        sd->type = (sd->ocr & OCR_CCS) ? REC_SD_TYPE_SDHC : REC_SD_TYPE_SDSC_V2;
    } else {
        sd->type = REC_SD_TYPE_SDSC_V1;
    }

    /* CMD9 (CSD): capacity. CMD10 (CID): identity, kept for the record. */
    err = read_register(sd, 9, sd->csd);
    if (err) return err;
    sd->block_count = csd_blocks(sd->csd);
    if (sd->block_count == 0) return REC_E_UNSUPPORTED;
    if ((csd_bits(sd->csd, 127, 126) == 1) != (sd->type == REC_SD_TYPE_SDHC)) return REC_E_IO;
    err = read_register(sd, 10, sd->cid);
    if (err) return err;

    /* CMD16: 512-byte blocks on byte-addressed cards (fixed on SDHC). */
    if (sd->type != REC_SD_TYPE_SDHC) {
        err = command(sd, 16, BLK, &r1, NULL, 0);
        if (err) return err;
        if (r1 != 0) return REC_E_IO;
    }

    port_spi_set_clock(REC_SD_FAST_HZ);
    sd->ready = true;
    if (bd_out) {
        bd_out->ctx = sd;
        bd_out->read = bd_read;
        bd_out->write = bd_write;
        bd_out->sync = bd_sync;
        bd_out->erase = bd_erase;
        bd_out->erase_kind = REC_BD_ERASE_CARD;
        bd_out->block_count = sd->block_count;
    }
    return REC_OK;
}

/* Closes a multi-block write abandoned on a busy timeout: once the card is ready again it is
 * still waiting for data tokens, so send the stop-tran token before anything else. */
static int finish_open_write(rec_sd_t *sd)
{
    if (!sd->stop_pending) return REC_OK;
    cs_low();
    int err = wait_ready(sd, REC_SD_WRITE_TIMEOUT_MS);
    if (!err) {
        (void)xfer(TOKEN_STOP_TRAN);
        (void)xfer(0xFF);
        err = wait_ready(sd, REC_SD_WRITE_TIMEOUT_MS);
    }
    cs_high();
    if (!err) sd->stop_pending = false;
    return err;
}

static int check_args(rec_sd_t *sd, uint32_t lba, uint32_t count)
{
    if (!sd->ready) return REC_E_NOCARD;
    if (lba >= sd->block_count || count > sd->block_count - lba) return REC_E_RANGE;
    return finish_open_write(sd);
}

static uint32_t card_address(const rec_sd_t *sd, uint32_t lba)
{
    return sd->type == REC_SD_TYPE_SDHC ? lba : lba * BLK;
}

/* Reads count blocks; *done counts the blocks received intact. The CRC16 of each block is
 * checked while the next one arrives in the background (port_spi_start): the CPU's share of a
 * block overlaps the wire instead of following it. Without background transfers the order is
 * the same, one after the other. */
static int read_blocks(rec_sd_t *sd, uint32_t lba, uint8_t *buf, uint32_t count, uint32_t *done)
{
    uint8_t r1;
    *done = 0;
    cs_low();
    int err = send_cmd(sd, count == 1 ? 17 : 18, card_address(sd, lba), &r1);
    if (!err && r1 != 0) err = (r1 & R1_CMD_CRC) ? E_CRC_RETRY : REC_E_IO;
    if (err) {
        cs_high();
        return err;
    }
    const uint8_t *unchecked = NULL; /* the block received last, its CRC16 in crc */
    uint8_t crc[2];
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *blk = buf + (size_t)i * BLK;
        err = recv_token(sd);
        bool background = !err && block_start(NULL, blk, BLK);
        int checked = REC_OK;
        if (unchecked) {
            checked = check_crc(sd, unchecked, BLK, crc);
            if (!checked) (*done)++;
            unchecked = NULL;
        }
        if (!err) err = block_finish(background);
        if (!err) err = checked;
        if (err) break;
        port_spi_transfer(NULL, crc, 2);
        unchecked = blk;
    }
    if (unchecked) {
        err = check_crc(sd, unchecked, BLK, crc);
        if (!err) (*done)++;
    }
    if (count > 1 && err != REC_E_NOCARD) {
        int stop = send_cmd(sd, 12, 0, &r1);
        if (!stop) stop = wait_ready(sd, REC_SD_WRITE_TIMEOUT_MS);
        if (!err) err = stop;
    }
    cs_high();
    return err;
}

int rec_sd_read(rec_sd_t *sd, uint32_t lba, void *buf, uint32_t count)
{
    int err = check_args(sd, lba, count);
    if (err || count == 0) return err;
    uint8_t *p = buf;
    unsigned crc_failures = 0;
    while (count > 0) {
        uint32_t done;
        err = read_blocks(sd, lba, p, count, &done);
        lba += done;
        p += (size_t)done * BLK;
        count -= done;
        if (err != E_CRC_RETRY) return err;
        sd->crc_retries++;
        if (++crc_failures >= CRC_ATTEMPTS) return REC_E_IO;
    }
    return REC_OK;
}

/* Reads the status (CMD13, R2) after writing: nonzero means the card reported an error. */
static int check_status(rec_sd_t *sd)
{
    uint8_t r1, status;
    int err = command(sd, 13, 0, &r1, &status, 1);
    if (err) return err;
    return (r1 != 0 || status != 0) ? REC_E_IO : REC_OK;
}

/* Writes count blocks; *done counts the blocks the card accepted and finished programming. */
static int write_blocks(rec_sd_t *sd, uint32_t lba, const uint8_t *buf, uint32_t count, uint32_t *done)
{
    uint8_t r1;
    bool multi = count > 1;
    *done = 0;
    cs_low();
    int err = send_cmd(sd, multi ? 25 : 24, card_address(sd, lba), &r1);
    if (!err && r1 != 0) err = (r1 & R1_CMD_CRC) ? E_CRC_RETRY : REC_E_IO;
    if (err) {
        cs_high();
        return err;
    }
    bool responsive = true;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *blk = buf + (size_t)i * BLK;
        (void)xfer(0xFF); /* Nwr */
        (void)xfer(multi ? TOKEN_MULTI_WRITE : TOKEN_START);
        /* The CRC16 follows the block: computed while the block goes out in the background. */
        bool background = block_start(blk, NULL, BLK);
        uint16_t crc = crc16(blk, BLK);
        int sent = block_finish(background);
        if (sent) {
            /* Part of the block went out: 0xFF for the rest of it and a CRC (wrong: the card
             * refuses the block), and for what the card then ignores (no token, no command). A
             * multi-block write is closed before the next command. */
            port_spi_transfer(NULL, NULL, BLK + 2u);
            if (multi) sd->stop_pending = true;
            err = sent;
            responsive = false;
            break;
        }
        uint8_t c[2] = { (uint8_t)(crc >> 8), (uint8_t)crc };
        port_spi_transfer(c, NULL, 2);
        /* Data response: xxx0sss1, right after the CRC (allow a few bytes). */
        uint8_t resp = 0xFF;
        for (unsigned k = 0; k < NCR_MAX; k++) {
            resp = xfer(0xFF);
            if ((resp & 0x11u) == 0x01u) break;
        }
        if ((resp & 0x11u) != 0x01u) {
            err = no_answer(sd);
            responsive = false;
            break;
        }
        resp &= DATA_RESP_MASK;
        int busy = wait_ready(sd, REC_SD_WRITE_TIMEOUT_MS);
        if (busy) {
            err = busy;
            responsive = false;
            if (multi && busy == REC_E_TIMEOUT) sd->stop_pending = true;
            break;
        }
        if (resp == DATA_RESP_ACCEPTED) {
            (*done)++;
            continue;
        }
        err = resp == DATA_RESP_CRC ? E_CRC_RETRY : REC_E_IO;
        break;
    }
    if (multi && responsive) {
        (void)xfer(TOKEN_STOP_TRAN);
        (void)xfer(0xFF); /* Nbr: one byte before busy */
        int busy = wait_ready(sd, REC_SD_WRITE_TIMEOUT_MS);
        if (busy) {
            if (!err || err == E_CRC_RETRY) err = busy;
            responsive = false;
        }
    }
    cs_high();
    if (responsive) {
        /* Programming errors show only in the status; reading it also clears it. A rejected CRC
         * is retried whatever the status says, unless the card stopped answering. */
        int st = check_status(sd);
        if (err == REC_OK) err = st;
        else if (err == E_CRC_RETRY && (st == REC_E_TIMEOUT || st == REC_E_NOCARD)) err = st;
    }
    return err;
}

int rec_sd_write(rec_sd_t *sd, uint32_t lba, const void *buf, uint32_t count)
{
    int err = check_args(sd, lba, count);
    if (err || count == 0) return err;
    const uint8_t *p = buf;
    unsigned crc_failures = 0;
    while (count > 0) {
        uint32_t done;
        err = write_blocks(sd, lba, p, count, &done);
        lba += done;
        p += (size_t)done * BLK;
        count -= done;
        if (err != E_CRC_RETRY) return err;
        sd->crc_retries++;
        if (++crc_failures >= CRC_ATTEMPTS) return REC_E_IO;
    }
    return REC_OK;
}

int rec_sd_sync(rec_sd_t *sd)
{
    if (!sd->ready) return REC_E_NOCARD;
    int err = finish_open_write(sd);
    if (err) return err;
    cs_low();
    err = wait_ready(sd, REC_SD_WRITE_TIMEOUT_MS);
    cs_high();
    return err;
}

/* ---- erase (CMD32/CMD33/CMD38) --------------------------------------------------------------- */

#define CSD_CCC_ERASE (1u << 5)   /* command class 5: erase */
#define SCR_BYTES 8u
#define SD_STATUS_BYTES 64u

/* Reads an application register with a data block: ACMD51 (SCR, R1) or ACMD13 (SD Status, R2). */
static int read_app_register(rec_sd_t *sd, uint8_t idx, uint8_t *buf, size_t n)
{
    for (unsigned attempt = 0;; attempt++) {
        uint8_t r1;
        cs_low();
        int err = send_cmd(sd, 55, 0, &r1);
        if (!err && r1 != 0) err = REC_E_IO;
        if (!err) err = send_cmd(sd, idx, 0, &r1);
        if (!err && r1 != 0) err = (r1 & R1_ILLEGAL) ? REC_E_UNSUPPORTED : REC_E_IO;
        if (!err && idx == 13) (void)xfer(0xFF); /* R2: the status byte after R1 */
        if (!err) err = recv_data(sd, buf, n);
        cs_high();
        if (err != E_CRC_RETRY) return err;
        sd->crc_retries++;
        if (attempt + 1 >= CRC_ATTEMPTS) return REC_E_IO;
    }
}

/* Reads once what erase needs: the erased state (SCR DATA_STAT_AFTER_ERASE), the allocation
 * unit and the erase timeout (SD Status, SD spec part 1, 4.10.2.4 and 4.14; as Linux's
 * mmc_read_ssr). A card without the SD Status fields gets 250 ms per block (spec and Linux). */
static int erase_geometry(rec_sd_t *sd)
{
    if (sd->erase_known) return REC_OK;
    uint8_t scr[SCR_BYTES];
    int err = read_app_register(sd, 51, scr, sizeof scr);
    if (err) return err;
    sd->erased_byte = (scr[1] & 0x80u) ? 0xFFu : 0x00u; /* SCR bit 55 */
    uint8_t st[SD_STATUS_BYTES];
    err = read_app_register(sd, 13, st, sizeof st);
    if (err && err != REC_E_UNSUPPORTED) return err;
    sd->au_blocks = 0;
    sd->erase_ms_per_au = 0;
    sd->erase_offset_ms = 0;
    if (!err) {
        unsigned au = st[10] >> 4;                                  /* AU_SIZE [431:428] */
        uint32_t es = ((uint32_t)st[11] << 8) | st[12];             /* ERASE_SIZE [423:408] */
        uint32_t et = st[13] >> 2;                                  /* ERASE_TIMEOUT [407:402] */
        if (au >= 1 && au <= 9) sd->au_blocks = 32u << (au - 1u);   /* 16 KiB .. 4 MiB */
        else if (au >= 10) {
            static const uint16_t mib[6] = { 8, 12, 16, 24, 32, 64 };
            sd->au_blocks = (uint32_t)mib[au - 10u] * 2048u;
        }
        if (es && et && sd->au_blocks) {
            sd->erase_ms_per_au = et * 1000u / es;
            sd->erase_offset_ms = (st[13] & 3u) * 1000u;             /* ERASE_OFFSET [401:400] */
        }
    }
    sd->erase_known = true;
    return REC_OK;
}

/* The longest the card may stay busy after CMD38 over `blocks` blocks. */
static uint32_t erase_timeout_ms(const rec_sd_t *sd, uint32_t blocks)
{
    uint64_t ms;
    if (sd->erase_ms_per_au) {
        uint64_t aus = (blocks + sd->au_blocks - 1u) / sd->au_blocks;
        ms = aus * sd->erase_ms_per_au + sd->erase_offset_ms;
    } else {
        ms = (uint64_t)blocks * 250u;
    }
    if (ms < 1000u) ms = 1000u;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* Blocks per CMD38: one allocation unit when the card says how long that takes, else few
 * enough that 250 ms per block stays about a minute. */
static uint32_t erase_chunk(const rec_sd_t *sd)
{
    if (sd->erase_ms_per_au) return sd->au_blocks;
    return REC_SD_ERASE_CHUNK_BLOCKS;
}

/* Waits out the busy of CMD38 (CS low): bounded by the erase timeout, and by a poll count
 * that a bus of up to 32 MHz cannot exceed in that time (for a clock that does not move). */
static int wait_erased(rec_sd_t *sd, uint32_t timeout_ms)
{
    uint64_t start = port_uptime_ms();
    uint64_t max_polls = (uint64_t)timeout_ms * 4000u + MAX_POLLS;
    for (uint64_t polls = 0; polls < max_polls; polls++) {
        if (xfer(0xFF) == 0xFF) return REC_OK;
        if (expired(start, timeout_ms)) break;
    }
    return no_answer(sd);
}

/* True when block lba reads back as the erased byte. */
static int reads_erased(rec_sd_t *sd, uint32_t lba, bool *erased)
{
    uint8_t b[BLK];
    int err = rec_sd_read(sd, lba, b, 1);
    if (err) return err;
    *erased = true;
    for (uint32_t i = 0; i < BLK; i++)
        if (b[i] != sd->erased_byte) *erased = false;
    return REC_OK;
}

static int erase_range(rec_sd_t *sd, uint32_t lba, uint32_t count)
{
    uint8_t r1;
    int err = command(sd, 32, card_address(sd, lba), &r1, NULL, 0);
    if (!err && r1 != 0) err = REC_E_IO;
    if (!err) err = command(sd, 33, card_address(sd, lba + count - 1u), &r1, NULL, 0);
    if (!err && r1 != 0) err = REC_E_IO;
    if (err) return err;
    cs_low();
    err = send_cmd(sd, 38, 0, &r1);
    if (!err && r1 != 0) err = REC_E_IO;
    if (!err) err = wait_erased(sd, erase_timeout_ms(sd, count));
    cs_high();
    if (!err) err = check_status(sd);
    if (err) return err;
    /* The card's erased state as its SCR says, checked where the range starts, ends and in
     * between: a card that does not really erase is overwritten by the caller instead. */
    const uint32_t probes[3] = { lba, lba + count / 2u, lba + count - 1u };
    for (unsigned i = 0; i < 3; i++) {
        bool erased;
        err = reads_erased(sd, probes[i], &erased);
        if (err) return err;
        if (!erased) return REC_E_UNSUPPORTED;
    }
    return REC_OK;
}

int rec_sd_erase(rec_sd_t *sd, uint32_t lba, uint32_t count)
{
    int err = check_args(sd, lba, count);
    if (err || count == 0) return err;
    if (!(csd_bits(sd->csd, 95, 84) & CSD_CCC_ERASE)) return REC_E_UNSUPPORTED;
    /* An SDSC card without ERASE_BLK_EN erases whole sectors of SECTOR_SIZE + 1 blocks: only
     * ranges on those boundaries, so nothing outside the range goes. */
    if (sd->type != REC_SD_TYPE_SDHC && !csd_bits(sd->csd, 46, 46)) {
        uint32_t sector = csd_bits(sd->csd, 45, 39) + 1u;
        if (lba % sector || count % sector) return REC_E_UNSUPPORTED;
    }
    err = erase_geometry(sd);
    if (err) return err;
    const uint32_t chunk = erase_chunk(sd);
    while (count > 0) {
        uint32_t n = count < chunk ? count : chunk;
        err = erase_range(sd, lba, n);
        if (err) return err;
        sd->blocks_erased += n;
        lba += n;
        count -= n;
    }
    return REC_OK;
}
