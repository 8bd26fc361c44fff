/* See settings_area.h. */
#include "settings_area.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/frame.h"
#include "rec_codec.h"

#define CRC_AT RP_CARD_RP2040_SETTINGS_CRC_OFFSET /* 508 */

static bool is_fat_boot_sector(const uint8_t *b)
{
    return (b[0] == 0xeb || b[0] == 0xe9) && rec_get_u16(b + 11) == 512 && b[13] != 0 && rec_get_u16(b + 14) != 0 &&
           b[510] == 0x55 && b[511] == 0xaa;
}

int rp2040_settings_area(const uint8_t b0[512], uint32_t card_blocks, bool allow_hide, rp2040_settings_area_t *out)
{
    memset(out, 0, sizeof *out);
    if (card_blocks < 2 * RP2040_SETTINGS_TAIL_BLOCKS) return -1;
    uint32_t start = 0, size = 0;
    bool superfloppy = false;
    if (is_fat_boot_sector(b0)) {
        superfloppy = true;
        size = rec_get_u16(b0 + 19) ? rec_get_u16(b0 + 19) : rec_get_u32(b0 + 32);
    } else if (b0[510] == 0x55 && b0[511] == 0xaa && b0[446 + 4] != 0) {
        start = rec_get_u32(b0 + 446 + 8);
        size = rec_get_u32(b0 + 446 + 12);
    } /* else: no volume at all */
    uint64_t end = (uint64_t)start + size;
    const uint32_t usable = card_blocks - RP2040_SETTINGS_TAIL_BLOCKS;
    if (end <= usable && (allow_hide || size == 0)) {
        out->kind = RP2040_AREA_TAIL;
        out->hide_tail = true;
        out->lba[0] = card_blocks - 2;
        out->lba[1] = card_blocks - 1;
        return 0;
    }
    if (!superfloppy && start >= 64 && start < card_blocks) {
        out->kind = RP2040_AREA_MBR_GAP;
        out->lba[0] = start - 2;
        out->lba[1] = start - 1;
        return 0;
    }
    if (superfloppy) {
        uint32_t reserved = rec_get_u16(b0 + 14);
        bool fat32 = rec_get_u16(b0 + 22) == 0;
        uint32_t fsinfo = rec_get_u16(b0 + 48), backup = rec_get_u16(b0 + 50);
        if (fat32 && reserved >= 16 && fsinfo < reserved - 2 && backup + 3 <= reserved - 2) {
            out->kind = RP2040_AREA_FAT_RESERVED;
            out->lba[0] = reserved - 2;
            out->lba[1] = reserved - 1;
            return 0;
        }
    }
    return -1;
}

void rp2040_settings_encode(uint8_t block[512], uint32_t seq, const void *blob, size_t len)
{
    if (len > RP2040_SETTINGS_MAX_BLOB) len = RP2040_SETTINGS_MAX_BLOB;
    memset(block, 0, 512);
    rp_rp2040_settings_copy_t h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, RP_CARD_RP2040_SETTINGS_MAGIC, sizeof h.magic);
    h.sequence = seq;
    h.length = (uint16_t)len;
    rp_rp2040_settings_copy_pack(&h, block);
    memcpy(block + RP_RP2040_SETTINGS_COPY_SIZE, blob, len);
    rec_put_u32(block + CRC_AT, rec_crc32(0, block, CRC_AT));
}

int rp2040_settings_decode(const uint8_t block[512], uint32_t *seq, void *blob, size_t cap)
{
    rp_rp2040_settings_copy_t h;
    rp_rp2040_settings_copy_unpack(block, &h);
    if (memcmp(h.magic, RP_CARD_RP2040_SETTINGS_MAGIC, sizeof h.magic) != 0) return 0;
    if (h.length > RP2040_SETTINGS_MAX_BLOB || rec_get_u32(block + CRC_AT) != rec_crc32(0, block, CRC_AT)) return -1;
    *seq = h.sequence;
    memset(blob, 0, cap);
    memcpy(blob, block + RP_RP2040_SETTINGS_COPY_SIZE, h.length < cap ? h.length : cap);
    return 1;
}
