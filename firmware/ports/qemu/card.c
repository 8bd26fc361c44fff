/* The card: the core's SD driver (sd_spi.c) over SSI0, and the settings in the card's last
 * blocks.
 *
 * Card present. The lm3s6965evb has no card-detect switch. A card is taken to be present until
 * an initialisation fails and a bare CMD0 then gets no proper answer: nothing on MISO (a real
 * empty socket) or "illegal command" (QEMU's empty slot, without -drive if=sd, answers every
 * command so; no SD card answers CMD0 that way). Then port_card_present() is false and INFO
 * says "no card", and the core does not retry on every poll. A card that answers but fails
 * later is present and in error.
 *
 * Settings. The LM3S6965's flash is ROM under QEMU, so the settings blob lives on the card, in
 * its last two blocks (two copies with a sequence number: a write cut by a power loss leaves the
 * other copy valid), and only when those blocks lie outside the FAT volume: the volume's extent
 * is read from block 0 (a FAT boot sector, or an MBR's partitions) before every write and load.
 * When the tail is free, the core is shown a block device that ends before it, so the core's
 * own FORMAT leaves it alone too. A card whose volume covers its end (mkfs.fat without a block
 * count) keeps the settings in RAM only, until the next boot (logged). docs/qemu.md tells how to
 * make a card with room for them. */
#include <string.h>

#include "qemu_internal.h"
#include "rec/bytes.h"
#include "rec/frame.h"
#include "rec/err.h"
#include "rec/port.h"
#include "rec/sd_spi.h"
#include "rec_codec.h"

static rec_sd_t g_sd;
static rec_bd_t g_bd;          /* the whole card */
static rec_bd_t g_core_bd;     /* what the core sees: without the settings tail when it is free */
static bool g_open;
static bool g_present = true;
static int g_fail_err;         /* the last failed initialisation of a present card ... */
static uint64_t g_fail_ms;     /* ... and when: retried at most once a second */
#define RETRY_MS 1000u

#define SET_TAIL_BLOCKS 8u    /* the volume must end at least this far before the card's end */
static bool tail_is_free(const rec_bd_t *bd, uint8_t *blk);

/* A bare CMD0 (GO_IDLE_STATE, CRC 0x95) after power-up clocks: the R1 byte, 0xFF for none. */
static uint8_t probe_cmd0(void)
{
    static const uint8_t cmd0[6] = { 0x40, 0, 0, 0, 0, 0x95 };
    uint8_t r = 0xFF;
    port_spi_set_clock(400000u);
    port_spi_select(false);
    port_spi_transfer(NULL, NULL, 10);
    port_spi_select(true);
    port_spi_transfer(cmd0, NULL, sizeof cmd0);
    for (int i = 0; i < 10 && r == 0xFF; i++) port_spi_transfer(NULL, &r, 1);
    port_spi_select(false);
    port_spi_transfer(NULL, NULL, 1);
    return r;
}

const rec_bd_t *port_card_open(int *err)
{
    int dummy;
    if (!err) err = &dummy;
    if (g_open) {
        *err = REC_OK;
        return &g_core_bd;
    }
    if (!g_present) {
        *err = REC_E_NOCARD;
        return NULL;
    }
    /* The core tries to attach a present card at every poll while it has none: a card that
     * answers but fails to initialise is tried again once a second, not at every poll. */
    if (g_fail_err && port_uptime_ms() - g_fail_ms < RETRY_MS) {
        *err = g_fail_err;
        return NULL;
    }
    int rc = rec_sd_init(&g_sd, &g_bd);
    g_fail_err = 0;
    if (rc == REC_OK) {
        g_open = true;
        *err = REC_OK;
        port_log(g_sd.type == REC_SD_TYPE_SDHC ? "card: SDHC" : "card: SDSC");
        g_core_bd = g_bd;
        uint8_t blk[REC_BD_BLOCK_SIZE];
        if (tail_is_free(&g_bd, blk)) g_core_bd.block_count -= SET_TAIL_BLOCKS;
        return &g_core_bd;
    }
    uint8_t r1 = probe_cmd0();
    if (r1 == 0xFF || r1 == 0x04) {
        g_present = false;
        rc = REC_E_NOCARD;
        port_log("card: none (no answer to CMD0)");
    } else {
        if (!g_fail_ms) port_log("card: initialisation failed");
        g_fail_err = rc;
        g_fail_ms = port_uptime_ms() | 1u;
    }
    *err = rc;
    return NULL;
}

void port_card_close(void)
{
    if (g_open) (void)rec_bd_sync(&g_bd);
    g_open = false;
}

bool port_card_present(void)
{
    return g_present;
}

void card_shutdown(void)
{
    port_card_close();
}

/* ---- Settings in the card's tail ------------------------------------------------------------ */

#define SET_SLOTS 2u
#define SET_HDR RP_QEMU_SETTINGS_COPY_SIZE /* QEMU_SETTINGS_COPY of the protocol schema */
#define SET_MAX (REC_BD_BLOCK_SIZE - SET_HDR)

static uint8_t g_ram[SET_MAX];  /* the settings in force (RAM copy) */
static uint32_t g_ram_len;
static uint32_t g_seq;          /* sequence number of the newest copy on the card */
static bool g_warned;

/* The last block the FAT volume may use, +1, from block 0: 0 when block 0 holds neither a FAT
 * boot sector nor an MBR (nothing to protect), UINT64_MAX when it cannot be read. */
static uint64_t volume_end(const rec_bd_t *bd, uint8_t *blk)
{
    if (rec_bd_read(bd, 0, blk, 1) != REC_OK) return UINT64_MAX;
    if (blk[510] != 0x55 || blk[511] != 0xAA) return 0;
    bool boot_sector = (blk[0] == 0xEB || blk[0] == 0xE9) && rec_get_u16(blk + 11) == 512u;
    if (boot_sector) {
        uint32_t total = rec_get_u16(blk + 19);
        if (total == 0) total = rec_get_u32(blk + 32);
        return (uint64_t)rec_get_u32(blk + 28) + total; /* hidden sectors + volume */
    }
    uint64_t end = 0;
    for (unsigned i = 0; i < 4; i++) {
        const uint8_t *e = blk + 446 + 16 * i;
        if (e[4] == 0) continue;
        uint64_t last = (uint64_t)rec_get_u32(e + 8) + rec_get_u32(e + 12);
        if (last > end) end = last;
    }
    return end;
}

static bool tail_is_free(const rec_bd_t *bd, uint8_t *blk)
{
    return bd->block_count > 2u * SET_TAIL_BLOCKS &&
           volume_end(bd, blk) <= (uint64_t)bd->block_count - SET_TAIL_BLOCKS;
}

/* The whole card's block device when its tail is free for the settings, else NULL. Checked at
 * every use: the volume on the card may have changed (a FORMAT, another card). */
static const rec_bd_t *tail_device(uint8_t *blk)
{
    int err;
    if (!port_card_present() || !port_card_open(&err)) return NULL;
    if (!tail_is_free(&g_bd, blk)) {
        if (!g_warned) port_log("settings: the FAT volume fills the card; settings kept in RAM only");
        g_warned = true;
        return NULL;
    }
    return &g_bd;
}

static uint32_t slot_crc(const uint8_t *blk, uint32_t len)
{
    /* sequence and length, then the blob */
    return rec_crc32(rec_crc32(0, blk + RP_QEMU_SETTINGS_COPY_OFF_SEQUENCE, RP_QEMU_SETTINGS_COPY_OFF_CRC32 - RP_QEMU_SETTINGS_COPY_OFF_SEQUENCE),
                     blk + SET_HDR, len);
}

int port_settings_load(void *buf, size_t len)
{
    uint8_t blk[REC_BD_BLOCK_SIZE];
    const rec_bd_t *bd = tail_device(blk);
    if (!bd) return REC_E_NOENT;
    bool found = false, damaged = false;
    for (uint32_t s = 0; s < SET_SLOTS; s++) {
        if (rec_bd_read(bd, bd->block_count - SET_SLOTS + s, blk, 1) != REC_OK) {
            damaged = true;
            continue;
        }
        rp_qemu_settings_copy_t h;
        rp_qemu_settings_copy_unpack(blk, &h);
        if (memcmp(h.magic, RP_CARD_QEMU_SETTINGS_MAGIC, sizeof h.magic) != 0) continue;
        uint32_t seq = h.sequence, n = h.length;
        if (n > SET_MAX || h.crc32 != slot_crc(blk, n)) {
            damaged = true;
            continue;
        }
        if (!found || (int32_t)(seq - g_seq) > 0) {
            g_seq = seq;
            g_ram_len = n;
            memcpy(g_ram, blk + SET_HDR, n);
            found = true;
        }
    }
    if (!found) return damaged ? REC_E_CORRUPT : REC_E_NOENT;
    /* A blob of another length (another core version) is passed on as far as it goes. */
    memset(buf, 0, len);
    memcpy(buf, g_ram, g_ram_len < len ? g_ram_len : len);
    return REC_OK;
}

int port_settings_save(const void *buf, size_t len)
{
    if (len > SET_MAX) return REC_E_INVAL;
    memcpy(g_ram, buf, len);
    g_ram_len = (uint32_t)len;
    uint8_t blk[REC_BD_BLOCK_SIZE];
    const rec_bd_t *bd = tail_device(blk);
    if (!bd) return REC_OK; /* RAM only (logged once): recording must not depend on it */
    uint32_t seq = g_seq + 1u;
    memset(blk, 0, sizeof blk);
    rp_qemu_settings_copy_t h = { .sequence = seq, .length = (uint32_t)len };
    memcpy(h.magic, RP_CARD_QEMU_SETTINGS_MAGIC, sizeof h.magic);
    rp_qemu_settings_copy_pack(&h, blk);
    memcpy(blk + SET_HDR, buf, len);
    h.crc32 = slot_crc(blk, (uint32_t)len);
    rp_qemu_settings_copy_pack(&h, blk);
    /* Overwrite the older copy: the newer one survives a cut in the middle of this write. */
    int err = rec_bd_write(bd, bd->block_count - SET_SLOTS + seq % SET_SLOTS, blk, 1);
    if (!err) err = rec_bd_sync(bd);
    if (err) return err;
    g_seq = seq;
    return REC_OK;
}

/* The LM3S6965 has no unique id: the core's default (port_unique_id unsupported) applies; it
 * derives one. */
