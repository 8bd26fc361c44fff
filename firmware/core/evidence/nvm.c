/* The device NVM store: identity copies and the state log (rec/nvm.h has the rules). */
#include "rec/nvm.h"

#include <string.h>

#include "rec/err.h"
#include "rec/frame.h"

#define ENTRY RP_NVM_STATE_ENTRY_SIZE /* 32 */

bool rec_nvm_blank(const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (p[i] != 0xFFu) return false;
    return true;
}

static uint32_t sector_offset(const rec_nvm_t *n, uint32_t sector)
{
    return sector * n->info.sector_bytes;
}

/* ---- identity copies ---- */

int rec_nvm_identity_read(rec_nvm_t *n, unsigned copy, uint8_t out[RP_NVM_IDENTITY_SIZE])
{
    if (!n || !out || copy > 1u) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    return port_nvm_read(sector_offset(n, REC_NVM_SECTOR_IDENTITY_A + copy), out, RP_NVM_IDENTITY_SIZE);
}

int rec_nvm_identity_write(rec_nvm_t *n, unsigned copy, const uint8_t rec[RP_NVM_IDENTITY_SIZE])
{
    if (!n || !rec || copy > 1u) return REC_E_INVAL;
    return rec_nvm_record_write(n, REC_NVM_SECTOR_IDENTITY_A + copy, rec, RP_NVM_IDENTITY_SIZE);
}

int rec_nvm_record_read(rec_nvm_t *n, uint32_t sector, void *out, uint32_t len)
{
    if (!n || !out || len > REC_NVM_PAGE_MAX) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    if (sector >= n->info.sectors) return REC_E_INVAL;
    return port_nvm_read(sector_offset(n, sector), out, len);
}

int rec_nvm_record_write(rec_nvm_t *n, uint32_t sector, const void *rec, uint32_t len)
{
    if (!n || !rec || len == 0 || len > REC_NVM_PAGE_MAX) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    const uint32_t span = (len + n->info.page_bytes - 1u) / n->info.page_bytes * n->info.page_bytes;
    if (sector >= n->info.sectors || span > REC_NVM_PAGE_MAX) return REC_E_INVAL;
    uint32_t off = sector_offset(n, sector);
    /* Whole pages: 0xFF after the record leaves those bytes erased. */
    uint8_t page[REC_NVM_PAGE_MAX];
    memset(page, 0xFF, span);
    memcpy(page, rec, len);
    int err = port_nvm_erase_sector(off);
    if (!err) err = port_nvm_program(off, page, span);
    uint8_t back[REC_NVM_PAGE_MAX];
    if (!err) err = port_nvm_read(off, back, len);
    if (!err && memcmp(back, rec, len) != 0) err = REC_E_IO;
    return err;
}

/* ---- state log ---- */

typedef struct {
    bool nonblank;            /* some byte is not 0xFF */
    bool has_valid;
    uint32_t max_sequence;
    uint32_t next;            /* offset after the last non-blank slot */
} sector_scan_t;

static bool entry_valid(const uint8_t raw[ENTRY], rp_nvm_state_entry_t *e)
{
    rp_nvm_state_entry_unpack(raw, e);
    return e->magic == RP_CARD_NVM_STATE_MAGIC && e->kind > 0 && e->kind < REC_NVM_KINDS &&
           e->length <= REC_NVM_PAYLOAD_MAX && e->crc32 == rec_crc32(0, raw, RP_NVM_STATE_ENTRY_OFF_CRC32);
}

static int scan_sector(rec_nvm_t *n, uint8_t sector, sector_scan_t *out)
{
    memset(out, 0, sizeof *out);
    const uint32_t base = sector_offset(n, sector);
    for (uint32_t off = 0; off + ENTRY <= n->info.sector_bytes; off += ENTRY) {
        uint8_t raw[ENTRY];
        int err = port_nvm_read(base + off, raw, ENTRY);
        if (err) return err;
        if (rec_nvm_blank(raw, ENTRY)) continue;
        out->nonblank = true;
        out->next = off + ENTRY;
        rp_nvm_state_entry_t e;
        if (!entry_valid(raw, &e)) continue; /* torn: a cut while it was programmed */
        if (!out->has_valid || e.sequence > out->max_sequence) out->max_sequence = e.sequence;
        out->has_valid = true;
        if (e.sequence > n->sequence) n->sequence = e.sequence;
        rec_nvm_value_t *v = &n->values[e.kind];
        if (!v->valid || e.sequence > v->sequence) {
            v->valid = true;
            v->length = e.length;
            v->sequence = e.sequence;
            v->sector = sector;
            memcpy(v->payload, e.payload, sizeof v->payload);
        }
    }
    return REC_OK;
}

/* True when the newest entry of every kind lives in `sector`. */
static bool holds_all(const rec_nvm_t *n, uint8_t sector)
{
    for (uint32_t k = 1; k < REC_NVM_KINDS; k++)
        if (n->values[k].valid && n->values[k].sector != sector) return false;
    return true;
}

static int scan_log(rec_nvm_t *n)
{
    /* At most one erase per pass, then a fresh scan: at most three passes. */
    for (int pass = 0; pass < 3; pass++) {
        memset(n->values, 0, sizeof n->values);
        n->sequence = 0;
        sector_scan_t a, b;
        int err = scan_sector(n, REC_NVM_SECTOR_LOG_A, &a);
        if (!err) err = scan_sector(n, REC_NVM_SECTOR_LOG_B, &b);
        if (err) return err;
        if (!(a.nonblank && b.nonblank)) {
            bool use_b = b.nonblank;
            n->log_sector = (uint8_t)(use_b ? REC_NVM_SECTOR_LOG_B : REC_NVM_SECTOR_LOG_A);
            n->log_next = use_b ? b.next : a.next;
            return REC_OK;
        }
        /* Both hold entries: a compaction was cut. Keep the newer sector if the copy finished. */
        bool b_newer = b.has_valid && (!a.has_valid || b.max_sequence > a.max_sequence);
        uint8_t newer = (uint8_t)(b_newer ? REC_NVM_SECTOR_LOG_B : REC_NVM_SECTOR_LOG_A);
        uint8_t older = (uint8_t)(b_newer ? REC_NVM_SECTOR_LOG_A : REC_NVM_SECTOR_LOG_B);
        uint8_t drop = holds_all(n, newer) ? older : newer;
        err = port_nvm_erase_sector(sector_offset(n, drop));
        if (err) return err;
    }
    return REC_E_IO; /* erases that do not take */
}

int rec_nvm_open(rec_nvm_t *n)
{
    if (!n) return REC_E_INVAL;
    memset(n, 0, sizeof *n);
    int err = port_nvm_info(&n->info);
    if (err) return err;
    const port_nvm_info_t *i = &n->info;
    /* The map needs four sectors that hold an identity record and whole entries, and pages that
     * tile both (so one program never spans more than REC_NVM_PAGE_MAX bytes). */
    if (i->sectors < REC_NVM_SECTORS_USED || i->page_bytes == 0 || i->page_bytes > REC_NVM_PAGE_MAX ||
        REC_NVM_PAGE_MAX % i->page_bytes != 0 || i->sector_bytes < RP_NVM_IDENTITY_SIZE ||
        i->sector_bytes % REC_NVM_PAGE_MAX != 0)
        return REC_E_UNSUPPORTED;
    n->present = true;
    err = scan_log(n);
    if (err) n->present = false;
    return err;
}

int rec_nvm_state_get(rec_nvm_t *n, uint8_t kind, void *payload, uint32_t max)
{
    if (!n || kind == 0 || kind >= REC_NVM_KINDS || (!payload && max)) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    const rec_nvm_value_t *v = &n->values[kind];
    if (!v->valid) return REC_E_NOENT;
    uint32_t len = v->length < max ? v->length : max;
    memcpy(payload, v->payload, len);
    return (int)v->length;
}

/* Programs one entry at the next slot of the active sector (which has room). */
static int program_entry(rec_nvm_t *n, uint8_t kind, const void *payload, uint32_t len)
{
    rp_nvm_state_entry_t e;
    memset(&e, 0, sizeof e);
    e.magic = RP_CARD_NVM_STATE_MAGIC;
    e.kind = kind;
    e.length = (uint8_t)len;
    e.sequence = n->sequence + 1u;
    if (len) memcpy(e.payload, payload, len); /* an empty value may come without a payload */
    uint8_t raw[ENTRY];
    rp_nvm_state_entry_pack(&e, raw);
    e.crc32 = rec_crc32(0, raw, RP_NVM_STATE_ENTRY_OFF_CRC32);
    rp_nvm_state_entry_pack(&e, raw);

    /* Program whole pages: 0xFF around the entry leaves what is there (program ANDs). */
    const uint32_t page = n->info.page_bytes;
    const uint32_t at = sector_offset(n, n->log_sector) + n->log_next;
    const uint32_t first = at - at % page;
    uint32_t span = at + ENTRY - first;
    span = (span + page - 1u) / page * page;
    uint8_t buf[REC_NVM_PAGE_MAX];
    memset(buf, 0xFF, span);
    memcpy(buf + (at - first), raw, ENTRY);
    n->log_next += ENTRY; /* the slot is used whatever happens now */
    n->sequence = e.sequence;
    int err = port_nvm_program(first, buf, span);
    uint8_t back[ENTRY];
    if (!err) err = port_nvm_read(at, back, ENTRY);
    if (!err && memcmp(back, raw, ENTRY) != 0) err = REC_E_IO;
    if (err) return err;
    rec_nvm_value_t *v = &n->values[kind];
    v->valid = true;
    v->length = (uint8_t)len;
    v->sequence = e.sequence;
    v->sector = n->log_sector;
    memset(v->payload, 0, sizeof v->payload);
    if (len) memcpy(v->payload, payload, len);
    return REC_OK;
}

/* Rewrites the log into the other sector with the newest entry of each kind in `keep` (bit per
 * kind), then erases the old sector. A kind left out is dropped from the cache first. */
static int compact_keep(rec_nvm_t *n, uint32_t keep)
{
    const uint8_t old = n->log_sector;
    const uint8_t target = (uint8_t)(old == REC_NVM_SECTOR_LOG_A ? REC_NVM_SECTOR_LOG_B : REC_NVM_SECTOR_LOG_A);
    for (uint8_t k = 1; k < REC_NVM_KINDS; k++)
        if (!(keep & (1u << k))) memset(&n->values[k], 0, sizeof n->values[k]);
    int err = port_nvm_erase_sector(sector_offset(n, target));
    if (err) return err;
    n->log_sector = target;
    n->log_next = 0;
    for (uint8_t k = 1; k < REC_NVM_KINDS; k++) {
        rec_nvm_value_t v = n->values[k];
        if (!v.valid) continue;
        err = program_entry(n, k, v.payload, v.length);
        if (err) return err;
    }
    /* Every newest value kept now lives in the target: the old sector may go. */
    return port_nvm_erase_sector(sector_offset(n, old));
}

static int compact(rec_nvm_t *n)
{
    return compact_keep(n, 0xFFFFFFFFu);
}

int rec_nvm_state_purge(rec_nvm_t *n, const uint8_t *keep, uint32_t count)
{
    if (!n || (!keep && count)) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    uint32_t mask = 0;
    for (uint32_t i = 0; i < count; i++)
        if (keep[i] > 0 && keep[i] < REC_NVM_KINDS) mask |= 1u << keep[i];
    return compact_keep(n, mask);
}

int rec_nvm_erase_sectors(rec_nvm_t *n, uint32_t first, uint32_t count)
{
    if (!n || first < REC_NVM_SECTORS_USED) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    for (uint32_t s = first; s < first + count && s < n->info.sectors; s++) {
        int err = port_nvm_erase_sector(sector_offset(n, s));
        if (err) return err;
    }
    return REC_OK;
}

int rec_nvm_state_put(rec_nvm_t *n, uint8_t kind, const void *payload, uint32_t len)
{
    if (!n || kind == 0 || kind >= REC_NVM_KINDS || len > REC_NVM_PAYLOAD_MAX || (!payload && len))
        return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    if (n->log_next + ENTRY > n->info.sector_bytes) {
        int err = compact(n);
        if (err) return err;
    }
    return program_entry(n, kind, payload, len);
}

/* Programs every valid entry of `kind` except the newest to all zero bits (no erase: a program
 * only clears bits). A zeroed entry fails its magic and CRC, so scans skip it like a torn one.
 * For secrets that must not outlive their newest value (the age file keys). */
int rec_nvm_state_scrub(rec_nvm_t *n, uint8_t kind)
{
    if (!n || kind == 0 || kind >= REC_NVM_KINDS) return REC_E_INVAL;
    if (!n->present) return REC_E_UNSUPPORTED;
    const rec_nvm_value_t *newest = &n->values[kind];
    const uint32_t page = n->info.page_bytes;
    for (uint8_t sector = REC_NVM_SECTOR_LOG_A; sector <= REC_NVM_SECTOR_LOG_B; sector++) {
        for (uint32_t at = 0; at + ENTRY <= n->info.sector_bytes; at += ENTRY) {
            uint8_t raw[ENTRY];
            const uint32_t off = sector_offset(n, sector) + at;
            int err = port_nvm_read(off, raw, ENTRY);
            if (err) return err;
            rp_nvm_state_entry_t e;
            if (!entry_valid(raw, &e) || e.kind != kind) continue;
            if (newest->valid && e.sequence == newest->sequence) continue;
            uint8_t buf[REC_NVM_PAGE_MAX];
            const uint32_t first = off - off % page;
            memset(buf, 0xFF, page);
            memset(buf + (off - first), 0, ENTRY);
            err = port_nvm_program(first, buf, page);
            if (err) return err;
        }
    }
    return REC_OK;
}
