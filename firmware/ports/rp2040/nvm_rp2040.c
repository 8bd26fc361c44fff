/* The RP2040 port's device NVM and entropy (port.h), and the boot ROM they rely on.
 *
 * NVM: the last 64 KiB of the board's 8 MiB QSPI flash (NVM in memmap.ld: flash offset 0x7F0000,
 * XIP 0x107F0000; the linker script keeps the image below it, and UF2 flashing writes only the
 * image's sectors, so the NVM survives firmware updates). Flash is NOR: erase sets a sector to
 * 0xFF, programming can only clear bits, which is exactly port.h's contract. Writes go through
 * the boot ROM's flash functions [2.8.3]: connect_internal_flash (IF), flash_exit_xip (EX),
 * flash_range_erase (RE: 4 KiB sectors, 64 KiB block command D8h allowed) or
 * flash_range_program (RP: 256-byte pages), flash_flush_cache (FC), then the SRAM copy of boot2
 * (made while XIP was on) to return to execute-in-place, as pico-sdk's hardware_flash does.
 * Between IF and the boot2 copy nothing may run from flash (the SSI is not in XIP mode): that
 * sequence is one function placed in SRAM (.time_critical, copied by the reset handler), called
 * with interrupts masked (the handlers are in flash), on data in SRAM (a page is copied to an
 * SRAM buffer first; the caller's may be in flash). An erase takes 45-400 ms with interrupts
 * masked, so the core must not erase while recording. Reads go through the XIP window's
 * uncached alias, so they never see stale cache lines. The chip has no secret storage: anyone
 * with the board can read this flash over SWD or by booting their own image.
 *
 * Unique id: the flash chip's 64-bit unique id (command 4Bh, four dummy bytes, eight id bytes),
 * sent through the SSI in the same SRAM sequence with chip select forced low by the QSPI pad's
 * output override, as pico-sdk's flash_do_cmd does. Read once, then kept.
 *
 * Entropy: the ring oscillator's RANDOMBIT [2.17.5], one sample at least 10 us after the last
 * (pico_rand's minimum), packed 8 to a byte, raw: the core conditions and health-checks them.
 * The bit says little when clk_sys itself runs from the ROSC, so it is refused then (hw.c runs
 * clk_sys from PLL_USB).
 *
 * rp2040js has no boot ROM; the test harness installs a synthetic one (tools/bootrom.mjs) with
 * version 0, and a ROSC model (tools/rosc.mjs). Without a ROM every NVM function answers
 * REC_E_UNSUPPORTED. Main loop only: not reentrant. */
#include <string.h>

#include "rec/err.h"
#include "rec/port.h"
#include "rec_protocol.h"
#include "regs.h"
#include "rp2040.h"

#define NVM_SECTOR_BYTES 4096u
#define NVM_PAGE_BYTES 256u
#define NVM_SECTORS 16u
#define NVM_BYTES (NVM_SECTOR_BYTES * NVM_SECTORS)
#define NVM_ERASE_BLOCK_BYTES (1u << 16) /* flash_range_erase may use the 64 KiB block erase... */
#define NVM_ERASE_BLOCK_CMD 0xD8u        /* ...command D8h when a range covers a whole block */

/* memmap.ld: the NVM region's XIP address. */
extern const uint8_t __nvm_start[];
#define XIP_BASE 0x10000000u
#define XIP_NOCACHE_NOALLOC_BASE 0x13000000u
#define NVM_FLASH_OFFSET ((uint32_t)(uintptr_t)__nvm_start - XIP_BASE)

/* ---- Boot ROM [2.8.3] ------------------------------------------------------------------------ */

#define ROM_MAGIC 0x01754du /* 'M' 'u' 0x01 at 0x10; the version byte follows at 0x13 */
#define ROM_HWORD(addr) (*(const volatile uint16_t *)(uintptr_t)(addr))
#define ROM_CODE(c1, c2) ((uint32_t)(c1) | (uint32_t)(c2) << 8)

typedef void *(*rom_table_lookup_fn)(const uint16_t *table, uint32_t code);
typedef void (*rom_void_fn)(void);
typedef void (*rom_erase_fn)(uint32_t flash_offset, uint32_t count, uint32_t block_size, uint8_t block_cmd);
typedef void (*rom_program_fn)(uint32_t flash_offset, const uint8_t *data, uint32_t count);

typedef struct {
    rom_void_fn connect_internal_flash; /* IF */
    rom_void_fn flash_exit_xip;         /* EX */
    rom_erase_fn range_erase;           /* RE */
    rom_program_fn range_program;       /* RP */
    rom_void_fn flush_cache;            /* FC */
} rom_flash_t;

/* All in SRAM (.bss): the SRAM function reads them while XIP is off. */
static rom_flash_t g_rom;
static int g_rom_state; /* 0 not looked up yet, 1 ready, -1 no usable ROM */
static uint32_t g_boot2_copy[64];                          /* boot2's 256 bytes, Thumb code */
static uint8_t g_page[NVM_PAGE_BYTES] __attribute__((aligned(4))); /* program source in SRAM */

int rp2040_bootrom_version(void)
{
    uint32_t word = REG32(0x10u);
    return (word & 0xffffffu) == ROM_MAGIC ? (int)(word >> 24) : -1;
}

static bool rom_flash_ready(void)
{
    if (g_rom_state != 0) return g_rom_state > 0;
    g_rom_state = -1;
    if (rp2040_bootrom_version() < 0) return false;
    rom_table_lookup_fn lookup = (rom_table_lookup_fn)(uintptr_t)ROM_HWORD(0x18u);
    const uint16_t *table = (const uint16_t *)(uintptr_t)ROM_HWORD(0x14u);
    g_rom.connect_internal_flash = (rom_void_fn)(uintptr_t)lookup(table, ROM_CODE('I', 'F'));
    g_rom.flash_exit_xip = (rom_void_fn)(uintptr_t)lookup(table, ROM_CODE('E', 'X'));
    g_rom.range_erase = (rom_erase_fn)(uintptr_t)lookup(table, ROM_CODE('R', 'E'));
    g_rom.range_program = (rom_program_fn)(uintptr_t)lookup(table, ROM_CODE('R', 'P'));
    g_rom.flush_cache = (rom_void_fn)(uintptr_t)lookup(table, ROM_CODE('F', 'C'));
    if (!g_rom.connect_internal_flash || !g_rom.flash_exit_xip || !g_rom.range_erase || !g_rom.range_program || !g_rom.flush_cache)
        return false;
    /* boot2 as it is in flash, copied while XIP works; it returns to its caller when LR != 0. */
    memcpy(g_boot2_copy, (const void *)(uintptr_t)XIP_BASE, sizeof g_boot2_copy);
    g_rom_state = 1;
    return true;
}

#define FLASH_OP_ERASE 0u
#define FLASH_OP_PROGRAM 1u

/* From IF to boot2: in SRAM, calling only the ROM and the SRAM copy of boot2, touching only SRAM. */
__attribute__((section(".time_critical.nvm_flash_op"), noinline, noclone)) static void flash_op_in_sram(uint32_t op, uint32_t flash_offset, uint32_t count)
{
    g_rom.connect_internal_flash();
    g_rom.flash_exit_xip();
    if (op == FLASH_OP_ERASE)
        g_rom.range_erase(flash_offset, count, NVM_ERASE_BLOCK_BYTES, NVM_ERASE_BLOCK_CMD);
    else
        g_rom.range_program(flash_offset, g_page, count);
    g_rom.flush_cache();
    ((rom_void_fn)((uintptr_t)g_boot2_copy + 1u))(); /* + 1: Thumb */
}

/* Chip select of the flash, forced through the QSPI SS pad's output override [2.19.6.3]. */
#define IO_QSPI_SS_CTRL (0x40018000u + 0x0cu)
#define SS_OUTOVER_MASK (3u << 8)
#define SS_OUTOVER_LOW (2u << 8)
#define SS_OUTOVER_HIGH (3u << 8)
#define SSI_SR (0x18000000u + 0x28u)
#define SSI_DR0 (0x18000000u + 0x60u)
#define SSI_SR_TFNF (1u << 1)
#define SSI_SR_RFNE (1u << 3)
#define SSI_MAX_IN_FLIGHT 14u /* below the 16-entry FIFOs */

/* One flash command of len bytes from g_page, its answer back into g_page. Same rules as above:
 * SRAM only, between IF/EX and FC/boot2. */
__attribute__((section(".time_critical.nvm_flash_cmd"), noinline, noclone)) static void flash_cmd_in_sram(uint32_t len)
{
    g_rom.connect_internal_flash();
    g_rom.flash_exit_xip();
    REG32(IO_QSPI_SS_CTRL) = (REG32(IO_QSPI_SS_CTRL) & ~SS_OUTOVER_MASK) | SS_OUTOVER_LOW;
    uint32_t tx = 0, rx = 0;
    while (rx < len) {
        uint32_t sr = REG32(SSI_SR);
        if ((sr & SSI_SR_TFNF) && tx < len && tx - rx < SSI_MAX_IN_FLIGHT) REG32(SSI_DR0) = g_page[tx++];
        if (sr & SSI_SR_RFNE) g_page[rx++] = (uint8_t)REG32(SSI_DR0);
    }
    REG32(IO_QSPI_SS_CTRL) = (REG32(IO_QSPI_SS_CTRL) & ~SS_OUTOVER_MASK) | SS_OUTOVER_HIGH;
    g_rom.flush_cache();
    ((rom_void_fn)((uintptr_t)g_boot2_copy + 1u))();
}

static void flash_op(uint32_t op, uint32_t nvm_offset, uint32_t count)
{
    uint32_t irq = rp2040_irq_disable();
    flash_op_in_sram(op, NVM_FLASH_OFFSET + nvm_offset, count);
    rp2040_irq_restore(irq);
}

/* ---- port.h: NVM ------------------------------------------------------------------------------ */

int port_nvm_info(port_nvm_info_t *out)
{
    if (!out) return REC_E_INVAL;
    if (!rom_flash_ready()) return REC_E_UNSUPPORTED;
    out->sector_bytes = NVM_SECTOR_BYTES;
    out->page_bytes = NVM_PAGE_BYTES;
    out->sectors = NVM_SECTORS;
    out->simulated = rp2040_bootrom_version() < 1; /* the harness's synthetic ROM: an emulator */
    return REC_OK;
}

int port_nvm_read(uint32_t offset, void *buf, uint32_t len)
{
    if (!buf && len > 0) return REC_E_INVAL;
    if (offset > NVM_BYTES || len > NVM_BYTES - offset) return REC_E_RANGE;
    if (!rom_flash_ready()) return REC_E_UNSUPPORTED;
    memcpy(buf, (const void *)(uintptr_t)(XIP_NOCACHE_NOALLOC_BASE + NVM_FLASH_OFFSET + offset), len);
    return REC_OK;
}

int port_nvm_erase_sector(uint32_t offset)
{
    if (offset % NVM_SECTOR_BYTES != 0) return REC_E_INVAL;
    if (offset >= NVM_BYTES) return REC_E_RANGE;
    if (!rom_flash_ready()) return REC_E_UNSUPPORTED;
    flash_op(FLASH_OP_ERASE, offset, NVM_SECTOR_BYTES);
    return REC_OK;
}

int port_nvm_program(uint32_t offset, const void *buf, uint32_t len)
{
    if (!buf || offset % NVM_PAGE_BYTES != 0 || len % NVM_PAGE_BYTES != 0) return REC_E_INVAL;
    if (offset > NVM_BYTES || len > NVM_BYTES - offset) return REC_E_RANGE;
    if (!rom_flash_ready()) return REC_E_UNSUPPORTED;
    for (uint32_t done = 0; done < len; done += NVM_PAGE_BYTES) {
        memcpy(g_page, (const uint8_t *)buf + done, NVM_PAGE_BYTES);
        flash_op(FLASH_OP_PROGRAM, offset + done, NVM_PAGE_BYTES);
    }
    return REC_OK;
}

/* ---- port.h: unique id ----------------------------------------------------------------------- */

#define FLASH_CMD_READ_UNIQUE_ID 0x4Bu
#define UNIQUE_ID_DUMMY_BYTES 4u
#define UNIQUE_ID_BYTES 8u

/* The id as a number whose hex digits read as the bytes do in the order the chip sends them
 * (as pico-sdk's board id string shows them). All zero or all one bits: no id. */
int port_unique_id(uint64_t *id)
{
    static uint64_t g_id;
    static int g_id_state; /* 0 not read, 1 read, -1 none */
    if (!id) return REC_E_INVAL;
    if (g_id_state == 0) {
        if (!rom_flash_ready()) return REC_E_UNSUPPORTED;
        const uint32_t len = 1u + UNIQUE_ID_DUMMY_BYTES + UNIQUE_ID_BYTES;
        memset(g_page, 0, len);
        g_page[0] = FLASH_CMD_READ_UNIQUE_ID;
        uint32_t irq = rp2040_irq_disable();
        flash_cmd_in_sram(len);
        rp2040_irq_restore(irq);
        uint64_t v = 0;
        for (uint32_t i = 0; i < UNIQUE_ID_BYTES; i++) v = v << 8 | g_page[1u + UNIQUE_ID_DUMMY_BYTES + i];
        g_id = v;
        g_id_state = v == 0 || v == UINT64_MAX ? -1 : 1;
    }
    if (g_id_state < 0) return REC_E_UNSUPPORTED;
    *id = g_id;
    return REC_OK;
}

/* ---- port.h: entropy -------------------------------------------------------------------------- */

#define ROSC_RANDOMBIT (0x40060000u + 0x1cu)
#define ROSC_SAMPLE_US 11u /* > 10 us between samples on the 1 us timer */
#define CLK_SYS_AUXSRC_ROSC 2u

int port_entropy(uint8_t *buf, uint32_t len, uint8_t *source)
{
    if (!buf || !source) return REC_E_INVAL;
    bool sys_from_aux = (REG32(CLK_SYS_SELECTED) & (1u << CLK_SYS_SRC_AUX)) != 0;
    uint32_t auxsrc = (REG32(CLK_SYS_CTRL) >> CLK_CTRL_AUXSRC_LSB) & 7u;
    if (!sys_from_aux || auxsrc == CLK_SYS_AUXSRC_ROSC) return REC_E_UNSUPPORTED;
    uint32_t last = REG32(TIMER_TIMERAWL) - ROSC_SAMPLE_US;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t byte = 0;
        for (unsigned bit = 0; bit < 8u; bit++) {
            while (REG32(TIMER_TIMERAWL) - last < ROSC_SAMPLE_US) {
            }
            last = REG32(TIMER_TIMERAWL);
            byte = byte << 1 | (REG32(ROSC_RANDOMBIT) & 1u);
        }
        buf[i] = (uint8_t)byte;
        if (i % 256u == 255u) rp2040_watchdog_feed(); /* 2048 bytes take 180 ms */
    }
    *source = RP_ENTROPY_ROSC;
    return REC_OK;
}
