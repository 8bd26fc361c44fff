/* Shared helpers of the libFuzzer harnesses (firmware/fuzz, docs/reliability.md "Fuzzing").
 *
 * The harnesses link the real core with the test fakes (tests/fakes: the fake port; and the RAM
 * block device, core/storage/bd/bd_ram.c). Card images are built once per process by the core itself (rec_fat_format and
 * recordings made through rec_app_init/rec_app_poll with the fake microphone) and restored
 * after every input by copying back only the blocks that were written. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/bd_ram.h"

/* Blocks of the RAM card and KiB of it left free (the rest is marked bad, so a recording's
 * preallocation, and the hashing of it on recovery, stays small), set by the build
 * (CMakeLists.txt): 2048 and 384 (1 MiB, a FAT32 volume of about 2000 clusters with the fuzz
 * build's lowered FAT32 minimum) or, for the regressions found before, 69632 and 768 (34 MiB: the
 * smallest card rec_fat_format makes FAT32 on, 65525 clusters of one block). */
#if !defined(FZ_CARD_BLOCKS) || !defined(FZ_FREE_KIB)
#error "FZ_CARD_BLOCKS and FZ_FREE_KIB are set by firmware/fuzz/CMakeLists.txt"
#endif
#define FZ_FREE_BYTES (FZ_FREE_KIB * 1024u)
#define FZ_RATE 8000u

/* Fails the input: prints the message and aborts, which libFuzzer reports as a crash. */
#define FZ_CHECK(cond, ...)                                                                      \
    do {                                                                                         \
        if (!(cond)) fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                            \
    } while (0)
__attribute__((noreturn, format(printf, 4, 5))) void fz_fail(const char *file, int line, const char *cond,
                                                            const char *fmt, ...);

/* Reads input bytes; past the end every read yields 0. */
typedef struct {
    const uint8_t *p;
    size_t len, pos;
} fz_in_t;
static inline bool fz_more(const fz_in_t *in) { return in->pos < in->len; }
static inline uint8_t fz_u8(fz_in_t *in) { return in->pos < in->len ? in->p[in->pos++] : 0; }
static inline uint16_t fz_u16(fz_in_t *in)
{
    uint16_t lo = fz_u8(in);
    return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}
static inline uint32_t fz_u32(fz_in_t *in)
{
    uint32_t lo = fz_u16(in);
    return lo | (uint32_t)fz_u16(in) << 16;
}
/* Up to max bytes (fewer at the end of the input); returns the count and a pointer into it. */
size_t fz_bytes(fz_in_t *in, size_t max, const uint8_t **out);

/* What the card image holds (filled by fz_build_card). */
typedef struct {
    uint32_t finished[2];        /* numbers of two finished recordings */
    uint32_t open_number;        /* the recording cut by "power loss" (0 when none) */
    uint32_t open_first_lba;     /* its block 0 (the file is one contiguous run) */
    uint32_t open_blocks;        /* blocks allocated to it */
    uint32_t open_dirent_lba;    /* block of its directory entry, and offset in it */
    uint32_t open_dirent_off;
    uint32_t open_fat_lba;       /* FAT block holding its first cluster's entry */
    uint32_t journal_lba;        /* first block of SYSTEM/JOURNAL.BIN */
    uint32_t state_lba;          /* SYSTEM/STATE.BIN */
    uint64_t device_id;
} fz_card_info_t;

/* Formats a RAM card of FZ_CARD_BLOCKS, marks most of it bad, and records two finished recordings with the
 * app; with `open_recording`, starts a third and leaves it as a power cut would (sizes patched
 * at least once, audio after the last patch on the card, no evid chunk, not journalled).
 * The device's written-block map is cleared: the image is the baseline for restores. */
void fz_build_card(rec_bd_ram_t *r, bool open_recording, fz_card_info_t *info);

/* Copy of the whole device, for rec_bd_ram_restore. */
uint8_t *fz_snapshot(const rec_bd_ram_t *r);

/* Writes bytes into the image behind the core's back (marks the block for restore). */
void fz_poke(rec_bd_ram_t *r, uint32_t lba, uint32_t off, const uint8_t *bytes, size_t len);

/* Blocks of the image that are not all zero (the interesting ones to corrupt). */
uint32_t fz_nonzero_blocks(const rec_bd_ram_t *r, uint32_t *out, uint32_t max);

/* Snapshot of the device's memory: every writable global of the core, the fakes (port, NOR NVM,
 * their clocks and buffers) and the card helpers, gathered by the linker script
 * device_state.ld. fz_state_save copies it (once per process, after a boot); fz_state_restore
 * puts it back, which with rec_bd_ram_restore of the card makes the device exactly the booted
 * device again, without booting it on every input. */
void fz_state_save(void);
void fz_state_restore(void);

/* REC_FUZZ_WRITE_SEEDS: writes one seed file dir/name; a failure aborts (seeds are made by hand). */
void fz_write_seed(const char *dir, const char *name, const uint8_t *p, size_t n);

/* Boots the app on the card with a fresh fake port (settings cleared, device id fixed). */
int fz_boot(rec_bd_ram_t *r);
/* The same, with the fake NOR NVM on (blank) when nvm is true: a device that can hold a key. */
int fz_boot_nvm(rec_bd_ram_t *r, bool nvm);

#endif
