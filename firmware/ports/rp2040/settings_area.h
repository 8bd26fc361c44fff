/* Where the RP2040 port keeps its settings on the SD card, and the format of a settings copy.
 * Hardware independent; host tests in firmware/tests/test_rp2040_settings.c.
 *
 * The board has no EEPROM, and flash writes need the boot ROM (which the CI emulator lacks), so
 * settings live on the card, in two 512-byte copies, each with a sequence number and a CRC-32:
 * a save overwrites the older copy, so a power cut during a save leaves the other one intact.
 * The copies go where no file system will put data:
 *   1. the last RP2040_SETTINGS_TAIL_BLOCKS blocks of the card, when the volume ends before them (a
 *      card this device formatted: the port hides that tail from the core, so the core's format
 *      leaves it alone; also an unformatted card);
 *   2. else the gap between an MBR and its first partition (cards formatted by a computer or the
 *      SD Association formatter start the partition at 4 MiB or so);
 *   3. else the last two reserved sectors of a FAT32 volume that starts at block 0 (mkfs.fat
 *      and this core reserve 32; FAT32 uses only 0-2 and 6-8). A format rewrites them, so the port
 *      saves its settings again after block 0 has been written. */
#ifndef RP2040_SETTINGS_AREA_H
#define RP2040_SETTINGS_AREA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec_protocol.h"

#define RP2040_SETTINGS_TAIL_BLOCKS 64u
#define RP2040_SETTINGS_MAX_BLOB RP_CARD_RP2040_SETTINGS_MAX_BLOB /* 480 */

typedef enum { RP2040_AREA_TAIL = 1, RP2040_AREA_MBR_GAP, RP2040_AREA_FAT_RESERVED } rp2040_area_kind_t;

typedef struct {
    rp2040_area_kind_t kind;
    bool hide_tail;     /* the port shows the core only block_count - RP2040_SETTINGS_TAIL_BLOCKS */
    uint32_t lba[2];    /* the two copies */
} rp2040_settings_area_t;

/* Decides from block 0 of a card of card_blocks blocks. allow_hide: whether the tail may still be
 * hidden (false once the card is open with its whole size shown to the core).
 * Returns 0, or -1 when there is no safe place (settings then live in RAM only). */
int rp2040_settings_area(const uint8_t b0[512], uint32_t card_blocks, bool allow_hide, rp2040_settings_area_t *out);

/* One copy: RP2040_SETTINGS_COPY of the protocol schema (magic "RPS1", sequence, length), the blob
 * from byte 16, zero up to the CRC-32 of bytes 0-507 at 508 (the core's CRC-32, as in its frames). */
void rp2040_settings_encode(uint8_t block[512], uint32_t seq, const void *blob, size_t len);
/* 1 = valid (seq and blob filled, blob zero-padded to cap), 0 = blank (no magic), -1 = corrupt. */
int rp2040_settings_decode(const uint8_t block[512], uint32_t *seq, void *blob, size_t cap);

#endif
