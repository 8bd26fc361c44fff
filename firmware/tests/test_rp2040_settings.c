/* The RP2040 port's settings on the SD card (ports/rp2040/settings_area.c): where the two copies
 * go for each kind of card layout (block 0 made by mkfs.fat, by hand for an MBR, or blank), and
 * the copy format (sequence number, CRC, blank vs corrupt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "settings_area.h"
#include "support/tools.h"

/* Block 0 of a fresh mkfs.fat image of `mib` MiB; the card is card_blocks long. */
static void mkfs_block0(unsigned mib, uint8_t b0[512])
{
    char img[256];
    rec_tool_tmp(img, sizeof img, "rp2040_settings.img");
    assert_int_equal(rec_tool_mkfs(img, mib, "-s 1"), 0);
    FILE *f = fopen(img, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b0, 1, 512, f), 512);
    fclose(f);
    remove(img);
}

static void test_full_size_mkfs_card_uses_fat_reserved_sectors(void **state)
{
    (void)state;
    uint8_t b0[512];
    mkfs_block0(64, b0);
    rp2040_settings_area_t a;
    assert_int_equal(rp2040_settings_area(b0, 64u * 2048u, true, &a), 0);
    assert_int_equal(a.kind, RP2040_AREA_FAT_RESERVED);
    assert_false(a.hide_tail);
    uint32_t reserved = (uint32_t)(b0[14] | b0[15] << 8);
    assert_int_equal(a.lba[0], reserved - 2);
    assert_int_equal(a.lba[1], reserved - 1);
    assert_true(a.lba[0] > 8); /* clear of the boot sector, FSInfo and their backups */
}

static void test_volume_smaller_than_card_uses_hidden_tail(void **state)
{
    (void)state;
    uint8_t b0[512];
    mkfs_block0(64, b0);
    rp2040_settings_area_t a;
    const uint32_t card = 64u * 2048u + RP2040_SETTINGS_TAIL_BLOCKS;
    assert_int_equal(rp2040_settings_area(b0, card, true, &a), 0);
    assert_int_equal(a.kind, RP2040_AREA_TAIL);
    assert_true(a.hide_tail);
    assert_int_equal(a.lba[0], card - 2);
    assert_int_equal(a.lba[1], card - 1);
    /* once the card is open at full size, the tail may not be taken any more */
    assert_int_equal(rp2040_settings_area(b0, card, false, &a), 0);
    assert_int_equal(a.kind, RP2040_AREA_FAT_RESERVED);
}

static void test_blank_card_uses_hidden_tail(void **state)
{
    (void)state;
    uint8_t b0[512];
    memset(b0, 0, sizeof b0);
    rp2040_settings_area_t a;
    assert_int_equal(rp2040_settings_area(b0, 1u << 20, true, &a), 0);
    assert_int_equal(a.kind, RP2040_AREA_TAIL);
    assert_true(a.hide_tail);
    assert_int_equal(rp2040_settings_area(b0, 1u << 20, false, &a), 0); /* no volume: the tail is free anyway */
    assert_int_equal(a.kind, RP2040_AREA_TAIL);
}

static void mbr(uint8_t b0[512], uint32_t start, uint32_t size)
{
    memset(b0, 0, 512);
    uint8_t *e = b0 + 446;
    e[4] = 0x0c; /* FAT32 LBA */
    for (int i = 0; i < 4; i++) {
        e[8 + i] = (uint8_t)(start >> (8 * i));
        e[12 + i] = (uint8_t)(size >> (8 * i));
    }
    b0[510] = 0x55;
    b0[511] = 0xaa;
}

static void test_mbr_card_uses_gap_before_partition(void **state)
{
    (void)state;
    uint8_t b0[512];
    const uint32_t card = 15523840u; /* an "8 GB" card */
    mbr(b0, 8192, card - 8192);
    rp2040_settings_area_t a;
    assert_int_equal(rp2040_settings_area(b0, card, true, &a), 0);
    assert_int_equal(a.kind, RP2040_AREA_MBR_GAP);
    assert_int_equal(a.lba[0], 8190);
    assert_int_equal(a.lba[1], 8191);
    mbr(b0, 1, card - 1); /* no gap, not a volume at block 0: nowhere safe */
    assert_int_equal(rp2040_settings_area(b0, card, true, &a), -1);
}

static void test_copy_format(void **state)
{
    (void)state;
    uint8_t blk[512], blob[64], out[64];
    for (unsigned i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i * 7 + 1);
    rp2040_settings_encode(blk, 41, blob, sizeof blob);
    uint32_t seq = 0;
    assert_int_equal(rp2040_settings_decode(blk, &seq, out, sizeof out), 1);
    assert_int_equal(seq, 41);
    assert_memory_equal(out, blob, sizeof blob);
    /* a longer buffer is zero-padded; a shorter one gets what fits */
    uint8_t big[100];
    memset(big, 0xaa, sizeof big);
    assert_int_equal(rp2040_settings_decode(blk, &seq, big, sizeof big), 1);
    assert_memory_equal(big, blob, sizeof blob);
    assert_int_equal(big[99], 0);
    blk[100] ^= 0x01; /* any flipped bit: corrupt */
    assert_int_equal(rp2040_settings_decode(blk, &seq, out, sizeof out), -1);
    memset(blk, 0, sizeof blk); /* never written */
    assert_int_equal(rp2040_settings_decode(blk, &seq, out, sizeof out), 0);
    memset(blk, 0xff, sizeof blk);
    assert_int_equal(rp2040_settings_decode(blk, &seq, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_size_mkfs_card_uses_fat_reserved_sectors),
        cmocka_unit_test(test_volume_smaller_than_card_uses_hidden_tail),
        cmocka_unit_test(test_blank_card_uses_hidden_tail),
        cmocka_unit_test(test_mbr_card_uses_gap_before_partition),
        cmocka_unit_test(test_copy_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
