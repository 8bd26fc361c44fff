/* Byte-level SD card model in SPI mode: see sd_card_model.h. */
#include "fakes/sd_card_model.h"

#include <stdlib.h>
#include <string.h>

#include "rec/err.h"

enum { ST_CMD, ST_READ_MULTI, ST_WRITE_TOKEN, ST_WRITE_DATA };

#define BLK 512u
#define OCR_VOLTAGES 0x00FF8000u
#define OCR_BUSY_DONE 0x80000000u
#define OCR_CCS 0x40000000u
#define ARG_HCS 0x40000000u

uint8_t sdm_crc7(const uint8_t *data, size_t len)
{
    uint8_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = data[i];
        for (int k = 7; k >= 0; k--) {
            uint8_t in = (uint8_t)(((b >> k) & 1u) ^ ((crc >> 6) & 1u));
            crc = (uint8_t)((crc << 1) & 0x7Fu);
            if (in) crc ^= 0x09u;
        }
    }
    return crc;
}

uint16_t sdm_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int k = 0; k < 8; k++) crc = (uint16_t)((crc & 0x8000u) ? ((unsigned)crc << 1) ^ 0x1021u : (unsigned)crc << 1);
    }
    return crc;
}

sdm_config_t sdm_default_config(sdm_kind_t kind, uint32_t blocks)
{
    sdm_config_t c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.blocks = blocks;
    c.acmd41_polls = 3;
    c.ncr = 1;
    c.read_delay = 4;
    c.busy_bytes = 16;
    c.default_block_len = 1024;
    c.au_code = 3;
    c.erase_timeout_s = 1;
    c.erase_busy_bytes = 64;
    return c;
}

static void set_bits(uint8_t reg[16], unsigned msb, unsigned lsb, uint32_t v)
{
    for (unsigned b = lsb; b <= msb; b++, v >>= 1) {
        uint8_t *p = &reg[15u - b / 8u];
        uint8_t mask = (uint8_t)(1u << (b % 8u));
        if (v & 1u) *p |= mask;
        else *p &= (uint8_t)~mask;
    }
}

/* CSD and CID, with CRC7 in the last byte. */
static void make_csd(const sd_card_model_t *m, uint8_t csd[16])
{
    memset(csd, 0, 16);
    if (m->cfg.kind == SDM_SDHC) {
        set_bits(csd, 127, 126, 1);
        set_bits(csd, 83, 80, 9);
        set_bits(csd, 69, 48, m->cfg.blocks / 1024u - 1u);
    } else {
        /* capacity = (C_SIZE+1) * 2^(C_SIZE_MULT+2) * 2^READ_BL_LEN, with READ_BL_LEN = 10 */
        uint32_t units = m->cfg.blocks / 8u; /* of 4 KiB = 2^(0+2) * 1024 */
        unsigned mult = 0;
        while (units > 4096u) {
            units /= 2u;
            mult++;
        }
        set_bits(csd, 127, 126, 0);
        set_bits(csd, 83, 80, 10);
        set_bits(csd, 73, 62, units - 1u);
        set_bits(csd, 49, 47, mult);
    }
    set_bits(csd, 103, 96, 0x32); /* TRAN_SPEED 25 MHz */
    set_bits(csd, 95, 84, m->cfg.no_erase ? 0x595u : 0x5B5u); /* CCC: classes 0 2 4 (5) 7 8 10 */
    set_bits(csd, 46, 46, m->cfg.kind == SDM_SDHC || !m->cfg.sector_erase ? 1u : 0u); /* ERASE_BLK_EN */
    set_bits(csd, 45, 39, 127); /* SECTOR_SIZE: 128 blocks */
    csd[15] = (uint8_t)((sdm_crc7(csd, 15) << 1) | 1u);
}

static void make_cid(uint8_t cid[16])
{
    static const uint8_t base[15] = { 0x03, 'S', 'D', 'M', 'O', 'D', 'E', 'L', 0x10, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x8A };
    memcpy(cid, base, 15);
    cid[15] = (uint8_t)((sdm_crc7(cid, 15) << 1) | 1u);
}

static void reset_state(sd_card_model_t *m)
{
    m->spi_mode = false;
    m->idle = true;
    m->crc_on = false;
    m->hcs_seen = false;
    m->block_len = m->cfg.kind == SDM_SDHC ? BLK : m->cfg.default_block_len;
    m->status_error = 0;
    m->power_clocks = 0;
    m->state = ST_CMD;
    m->cmd_len = 0;
    m->app_cmd = false;
    m->acmd41_count = 0;
    m->out_head = m->out_len = 0;
    m->busy = 0;
    m->wlen = 0;
    m->multi = false;
    m->erase_start_set = m->erase_end_set = false;
    m->busy_stuck = false;
}

void sdm_init(sd_card_model_t *m, const sdm_config_t *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    REC_ASSERT(cfg->blocks > 0);
    REC_ASSERT(cfg->kind == SDM_SDHC ? cfg->blocks % 1024u == 0 : cfg->blocks % 8u == 0);
    REC_ASSERT(cfg->ncr >= 1 && cfg->ncr <= 8 && cfg->read_delay < 100);
    m->ram = calloc(cfg->blocks, BLK);
    REC_ASSERT(m->ram != NULL);
    m->clock_hz = 400000;
    reset_state(m);
}

void sdm_free(sd_card_model_t *m)
{
    free(m->ram);
    m->ram = NULL;
}

void sdm_power_cycle(sd_card_model_t *m)
{
    m->no_response = m->removed = m->stuck_busy = m->stuck_erase = false;
    m->write_errors = m->crc_reject_writes = m->corrupt_reads = m->read_error_tokens = 0;
    m->remove_after_bytes = 0;
    reset_state(m);
}

uint8_t *sdm_block(sd_card_model_t *m, uint32_t lba)
{
    REC_ASSERT(lba < m->cfg.blocks);
    return m->ram + (size_t)lba * BLK;
}

bool sdm_present(const sd_card_model_t *m)
{
    return !m->removed;
}

void sdm_select(sd_card_model_t *m, bool selected)
{
    m->selected = selected;
}

void sdm_set_clock(sd_card_model_t *m, uint32_t hz)
{
    m->clock_hz = hz;
}

/* ---- output queue ---- */
static void q_clear(sd_card_model_t *m)
{
    m->out_head = m->out_len = 0;
}

static void q_push(sd_card_model_t *m, uint8_t b)
{
    if (m->out_len == 0) m->out_head = 0;
    REC_ASSERT(m->out_head + m->out_len < sizeof m->out);
    m->out[m->out_head + m->out_len++] = b;
}

static void q_fill(sd_card_model_t *m, uint8_t b, uint32_t n)
{
    while (n--) q_push(m, b);
}

static void respond(sd_card_model_t *m, const uint8_t *r, uint32_t n)
{
    q_fill(m, 0xFF, m->cfg.ncr);
    for (uint32_t i = 0; i < n; i++) q_push(m, r[i]);
}

static void r1(sd_card_model_t *m, uint8_t v)
{
    respond(m, &v, 1);
}

static void push_data(sd_card_model_t *m, const uint8_t *data, uint32_t n, bool corrupt)
{
    q_fill(m, 0xFF, m->cfg.read_delay);
    q_push(m, 0xFE);
    for (uint32_t i = 0; i < n; i++) q_push(m, data[i]);
    uint16_t crc = sdm_crc16(data, n);
    if (corrupt) crc ^= 0x0001u;
    q_push(m, (uint8_t)(crc >> 8));
    q_push(m, (uint8_t)crc);
}

static void push_read_block(sd_card_model_t *m, uint32_t lba)
{
    if (m->read_error_tokens > 0) {
        m->read_error_tokens--;
        q_fill(m, 0xFF, m->cfg.read_delay);
        q_push(m, 0x08); /* error token: out of range */
        return;
    }
    if (lba >= m->cfg.blocks) {
        q_fill(m, 0xFF, m->cfg.read_delay);
        q_push(m, 0x08);
        return;
    }
    bool corrupt = false;
    if (m->corrupt_reads > 0) {
        m->corrupt_reads--;
        corrupt = true;
    }
    push_data(m, sdm_block(m, lba), BLK, corrupt);
    m->blocks_read++;
}

/* Address check for data commands; returns the R1 error bits (0 when fine) and the block. */
static uint8_t check_address(sd_card_model_t *m, uint32_t arg, uint32_t *lba)
{
    if (m->cfg.kind == SDM_SDHC) {
        *lba = arg;
    } else {
        if (m->block_len != BLK) return 0x40;
        if (arg % BLK != 0) return 0x20; /* address error: misaligned */
        *lba = arg / BLK;
    }
    if (*lba >= m->cfg.blocks) return 0x40; /* parameter error: out of range */
    return 0;
}

static void exec_command(sd_card_model_t *m)
{
    uint8_t idx = m->cmd[0] & 0x3Fu;
    uint32_t arg = ((uint32_t)m->cmd[1] << 24) | ((uint32_t)m->cmd[2] << 16) | ((uint32_t)m->cmd[3] << 8) | m->cmd[4];
    bool crc_ok = m->cmd[5] == (uint8_t)((sdm_crc7(m->cmd, 5) << 1) | 1u);
    bool acmd = m->app_cmd;
    m->app_cmd = false;

    if (!m->spi_mode) {
        /* Only CMD0 with CS low (and after the power-up clocks) enters SPI mode. */
        if (idx != 0 || !crc_ok || m->power_clocks < 74) {
            m->ignored_commands++;
            return;
        }
    }
    if (acmd) m->acmd_count[idx]++;
    else m->cmd_count[idx]++;
    q_clear(m);

    if ((idx == 0 || idx == 8 || m->crc_on) && !crc_ok) {
        m->crc_errors++;
        r1(m, (uint8_t)((m->idle ? 1u : 0u) | 0x08u));
        return;
    }
    if (m->idle && m->clock_hz > 400000u) m->clock_violation = true;

    uint8_t base = m->idle ? 0x01 : 0x00;
    uint8_t illegal = (uint8_t)(base | 0x04u);
    uint32_t lba = 0;
    uint8_t err;

    if (acmd) {
        switch (idx) {
        case 41:
            if (arg & ARG_HCS) m->hcs_seen = true;
            m->acmd41_count++;
            if (m->cfg.kind == SDM_SDHC && !(arg & ARG_HCS)) {
                r1(m, 0x01); /* never leaves idle without HCS */
                return;
            }
            if (m->acmd41_count > m->cfg.acmd41_polls) m->idle = false;
            r1(m, m->idle ? 0x01 : 0x00);
            return;
        case 13: { /* SD Status: R2, then 64 bytes */
            if (m->idle) {
                r1(m, illegal);
                return;
            }
            uint8_t st[64];
            memset(st, 0, sizeof st);
            st[10] = (uint8_t)(m->cfg.au_code << 4);
            if (!m->cfg.no_erase_timeout) {
                st[12] = 1; /* ERASE_SIZE: 1 AU */
                st[13] = (uint8_t)(m->cfg.erase_timeout_s << 2);
            }
            uint8_t r[2] = { 0x00, 0x00 };
            respond(m, r, 2);
            push_data(m, st, sizeof st, false);
            return;
        }
        case 51: { /* SCR: R1, then 8 bytes */
            if (m->idle) {
                r1(m, illegal);
                return;
            }
            uint8_t scr[8] = { 0x02, (uint8_t)((m->cfg.erased_ones ? 0x80u : 0x00u) | 0x05u), 0, 0, 0, 0, 0, 0 };
            r1(m, 0x00);
            push_data(m, scr, sizeof scr, false);
            return;
        }
        default:
            break; /* other application commands behave as the plain command */
        }
    }

    switch (idx) {
    case 0:
        reset_state(m);
        m->spi_mode = true;
        m->power_clocks = 74;
        r1(m, 0x01);
        return;
    case 8: {
        if (m->cfg.kind == SDM_SDSC_V1) {
            r1(m, illegal);
            return;
        }
        uint8_t r[5] = { base, 0x00, 0x00, (uint8_t)((arg >> 8) & 0x0Fu), (uint8_t)arg };
        respond(m, r, 5);
        return;
    }
    case 9:
    case 10: {
        if (m->idle) {
            r1(m, illegal);
            return;
        }
        uint8_t reg[16];
        if (idx == 9) make_csd(m, reg);
        else make_cid(reg);
        r1(m, 0x00);
        push_data(m, reg, 16, false);
        return;
    }
    case 12:
        r1(m, base); /* not reading: harmless */
        return;
    case 13: {
        uint8_t r[2] = { base, (uint8_t)m->status_error };
        m->status_error = 0;
        respond(m, r, 2);
        return;
    }
    case 16:
        if (m->idle) {
            r1(m, illegal);
            return;
        }
        if (m->cfg.kind != SDM_SDHC) {
            if (arg == 0 || arg > BLK) {
                r1(m, 0x40);
                return;
            }
            m->block_len = arg;
        }
        r1(m, 0x00);
        return;
    case 17:
    case 18:
        if (m->idle) {
            r1(m, illegal);
            return;
        }
        err = check_address(m, arg, &lba);
        if (err) {
            r1(m, err);
            return;
        }
        r1(m, 0x00);
        if (idx == 17) {
            push_read_block(m, lba);
        } else {
            m->state = ST_READ_MULTI;
            m->cur_block = lba;
        }
        return;
    case 24:
    case 25:
        if (m->idle) {
            r1(m, illegal);
            return;
        }
        err = check_address(m, arg, &lba);
        if (err) {
            r1(m, err);
            return;
        }
        r1(m, 0x00);
        m->state = ST_WRITE_TOKEN;
        m->multi = idx == 25;
        m->cur_block = lba;
        return;
    case 32:
    case 33:
        if (m->idle || m->cfg.no_erase) {
            r1(m, illegal);
            return;
        }
        err = check_address(m, arg, &lba);
        if (err) {
            r1(m, err);
            return;
        }
        if (idx == 32) {
            m->erase_start = lba;
            m->erase_start_set = true;
            m->erase_end_set = false;
        } else {
            m->erase_end = lba;
            m->erase_end_set = m->erase_start_set;
        }
        r1(m, 0x00);
        return;
    case 38: {
        if (m->idle || m->cfg.no_erase) {
            r1(m, illegal);
            return;
        }
        if (!m->erase_end_set || m->erase_end < m->erase_start) {
            r1(m, 0x10); /* erase sequence error */
            return;
        }
        uint32_t first = m->erase_start, last = m->erase_end;
        if (m->cfg.kind != SDM_SDHC && m->cfg.sector_erase) {
            first -= first % 128u; /* whole sectors, as such a card does */
            last = last - last % 128u + 127u;
            if (last >= m->cfg.blocks) last = m->cfg.blocks - 1u;
        }
        bool ones = m->cfg.erased_ones != m->cfg.erase_wrong_fill;
        if (!m->cfg.erase_ignored)
            memset(sdm_block(m, first), ones ? 0xFF : 0x00, (size_t)(last - first + 1u) * BLK);
        m->blocks_erased += last - first + 1u;
        m->erase_start_set = m->erase_end_set = false;
        r1(m, 0x00);
        m->busy = m->cfg.erase_busy_bytes > 0 ? m->cfg.erase_busy_bytes : 1u;
        m->busy_stuck = m->stuck_erase;
        return;
    }
    case 55:
        m->app_cmd = true;
        r1(m, base);
        return;
    case 58: {
        uint32_t ocr = OCR_VOLTAGES;
        if (!m->idle) ocr |= OCR_BUSY_DONE | (m->cfg.kind == SDM_SDHC ? OCR_CCS : 0u);
        uint8_t r[5] = { m->cmd58_r1_idle ? 0x01u : base, (uint8_t)(ocr >> 24), (uint8_t)(ocr >> 16), (uint8_t)(ocr >> 8), (uint8_t)ocr };
        respond(m, r, 5);
        return;
    }
    case 59:
        m->crc_on = (arg & 1u) != 0;
        r1(m, base);
        return;
    default:
        r1(m, illegal);
        return;
    }
}

static void write_block_done(sd_card_model_t *m)
{
    uint8_t resp;
    uint16_t crc = (uint16_t)((m->wbuf[BLK] << 8) | m->wbuf[BLK + 1]);
    if (m->crc_on && crc != sdm_crc16(m->wbuf, BLK)) {
        m->crc_errors++;
        resp = 0x0B;
    } else if (m->crc_reject_writes > 0) {
        m->crc_reject_writes--;
        resp = 0x0B;
    } else if (m->write_errors > 0) {
        m->write_errors--;
        m->status_error |= 0x04u; /* "error" in the R2 status */
        resp = 0x0D;
    } else if (m->cur_block >= m->cfg.blocks) {
        m->status_error |= 0x80u; /* out of range */
        resp = 0x0D;
    } else {
        memcpy(sdm_block(m, m->cur_block), m->wbuf, BLK);
        m->cur_block++;
        m->blocks_written++;
        resp = 0x05;
    }
    q_push(m, (uint8_t)(0xE0u | resp));
    m->busy = m->cfg.busy_bytes > 0 ? m->cfg.busy_bytes : 1u;
    m->state = m->multi ? ST_WRITE_TOKEN : ST_CMD;
}

uint8_t sdm_exchange(sd_card_model_t *m, uint8_t mosi)
{
    m->bytes++;
    if (m->remove_after_bytes > 0 && --m->remove_after_bytes == 0) {
        m->removed = true;
        reset_state(m);
    }
    if (m->removed || m->no_response) return 0xFF;

    /* What the card drives during this byte: queued response, then busy, then read data. */
    uint8_t out = 0xFF;
    if (m->out_len > 0) {
        out = m->out[m->out_head++];
        m->out_len--;
    } else if (m->busy > 0) {
        out = 0x00;
        if (!m->stuck_busy && !(m->busy_stuck && m->stuck_erase)) m->busy--;
    } else if (m->state == ST_READ_MULTI && m->selected) {
        push_read_block(m, m->cur_block++);
        out = m->out[m->out_head++];
        m->out_len--;
    }

    if (!m->selected) {
        if (!m->spi_mode) m->power_clocks += 8;
        return 0xFF; /* DO is high-impedance (pulled up) while deselected */
    }

    /* What the card receives. */
    switch (m->state) {
    case ST_WRITE_TOKEN:
        if (mosi == 0xFF) break;
        if (m->busy > 0 || m->out_len > 0) {
            m->protocol_errors++; /* token while still busy */
            break;
        }
        if (mosi == (m->multi ? 0xFC : 0xFE)) {
            m->state = ST_WRITE_DATA;
            m->wlen = 0;
        } else if (m->multi && mosi == 0xFD) {
            m->state = ST_CMD;
            m->busy = m->cfg.busy_bytes > 0 ? m->cfg.busy_bytes : 1u;
            q_push(m, 0xFF); /* one byte before busy starts */
        } else {
            m->protocol_errors++;
        }
        break;
    case ST_WRITE_DATA:
        m->wbuf[m->wlen++] = mosi;
        if (m->wlen == BLK + 2u) write_block_done(m);
        break;
    default:
        if (m->cmd_len == 0) {
            if ((mosi & 0xC0u) != 0x40u) break;
            if (m->busy > 0) {
                m->protocol_errors++; /* command while busy: ignored, as a real card would */
                break;
            }
        }
        m->cmd[m->cmd_len++] = mosi;
        if (m->cmd_len == 6) {
            m->cmd_len = 0;
            if (m->state == ST_READ_MULTI) {
                if ((m->cmd[0] & 0x3Fu) != 12) {
                    m->protocol_errors++;
                    break;
                }
                m->cmd_count[12]++;
                m->state = ST_CMD;
                q_clear(m);
                q_push(m, 0xFF);              /* stuff byte */
                q_fill(m, 0xFF, m->cfg.ncr - 1u);
                q_push(m, 0x00);              /* R1 */
                m->busy = 4;
                break;
            }
            exec_command(m);
        }
        break;
    }
    return out;
}
