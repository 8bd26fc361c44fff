/* Shared helpers of the libFuzzer harnesses: see fuzz_common.h. */
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes/nvm_fake.h"
#include "fakes/port_fake.h"
#include "rec/app.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "rec_protocol.h"

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    fprintf(stderr, "\n==FUZZ INVARIANT== %s:%d: %s: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

size_t fz_bytes(fz_in_t *in, size_t max, const uint8_t **out)
{
    size_t n = in->len - in->pos;
    if (n > max) n = max;
    *out = in->p + in->pos;
    in->pos += n;
    return n;
}

#define SETUP_CHECK(cond)                                                                        \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz setup failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

int fz_boot_nvm(rec_bd_ram_t *r, bool nvm)
{
    port_fake_reset();
    nvm_fake_enable(nvm);
    port_fake_set_card(&r->bd, 0);
    return rec_app_init();
}

int fz_boot(rec_bd_ram_t *r)
{
    return fz_boot_nvm(r, false);
}

static uint32_t g_ramp;

static void record_ms(uint32_t ms)
{
    int16_t block[256];
    uint32_t samples = FZ_RATE * ms / 1000u, done = 0;
    while (done < samples) {
        uint32_t n = samples - done < 256u ? samples - done : 256u;
        for (uint32_t i = 0; i < n; i++) block[i] = (int16_t)(uint16_t)(g_ramp++ * 97u);
        SETUP_CHECK(port_fake_mic_push(block, n));
        port_fake_advance_ns((uint64_t)n * 1000000000ull / FZ_RATE);
        rec_app_poll();
        done += n;
    }
    for (int i = 0; i < 8; i++) rec_app_poll();
}

static void press(void)
{
    port_fake_button_press();
    for (int i = 0; i < 4; i++) rec_app_poll();
}

/* The 2 s hold that stops a recording (a press while recording only drops a marker). */
static void long_hold(void)
{
    port_fake_button_long_hold();
    for (int i = 0; i < 4; i++) rec_app_poll();
}

static uint32_t file_lba(rec_fat_t *fs, const char *path, rec_fat_file_t *f)
{
    uint32_t lba = 0;
    SETUP_CHECK(rec_fat_open(fs, f, path, REC_FAT_READ) == REC_OK);
    SETUP_CHECK(rec_fat_file_lba(fs, f, 0, &lba) == REC_OK);
    return lba;
}

void fz_build_card(rec_bd_ram_t *r, bool open_recording, fz_card_info_t *info)
{
    memset(info, 0, sizeof *info);
    SETUP_CHECK(rec_bd_ram_init(r, FZ_CARD_BLOCKS) == 0);
    SETUP_CHECK(rec_fat_format(&r->bd, "RECORDER", 0x52454331u, 0) == REC_OK);

    /* All but FZ_FREE_BYTES of the volume is marked bad in both FATs (no file owns bad
     * clusters and the repair leaves them alone), so recordings preallocate little and no chain
     * of tens of thousands of clusters is walked on every input. */
    static rec_fat_t fs;
    rec_fat_file_t f;
    SETUP_CHECK(rec_fat_mount(&fs, &r->bd) == REC_OK);
    uint32_t keep = FZ_FREE_BYTES / ((uint32_t)fs.blocks_per_cluster * REC_BD_BLOCK_SIZE);
    SETUP_CHECK(fs.cluster_count > keep + 64u);
    for (uint32_t c = 2u + 64u + keep; c < fs.cluster_count + 2u; c++) {
        for (uint32_t k = 0; k < fs.num_fats; k++) {
            uint8_t *e = r->data + ((size_t)fs.fat_lba + (size_t)k * fs.fat_blocks) * REC_BD_BLOCK_SIZE + (size_t)c * 4u;
            e[0] = 0xF7;
            e[1] = e[2] = 0xFF;
            e[3] = 0x0F;
        }
    }

    SETUP_CHECK(fz_boot(r) == REC_OK);
    rec_device_t *d = rec_device();
    rec_device_set_clock(d, 1767225600000LL); /* 2026-01-01 */
    d->settings.sample_rate = FZ_RATE;
    info->device_id = d->settings.device_id;
    for (int i = 0; i < 2; i++) {
        press();
        SETUP_CHECK(d->rec_state == RP_REC_STATE_RECORDING);
        info->finished[i] = d->cur.number;
        record_ms(700);
        long_hold();
        SETUP_CHECK(d->rec_state == RP_REC_STATE_IDLE);
    }
    if (open_recording) {
        press();
        SETUP_CHECK(d->rec_state == RP_REC_STATE_RECORDING);
        info->open_number = d->cur.number;
        record_ms(1300); /* one size patch after a second, then audio after it */
        /* Power cut: the image stays as it is now; the next boot recovers. */
    }
    SETUP_CHECK(rec_fat_mount(&fs, &r->bd) == REC_OK);
    if (open_recording) {
        char path[32];
        snprintf(path, sizeof path, "RECORDS/REC%05u.WAV", (unsigned)info->open_number);
        info->open_first_lba = file_lba(&fs, path, &f);
        info->open_blocks = f.clusters * fs.blocks_per_cluster;
        info->open_dirent_lba = f.dirent_lba;
        info->open_dirent_off = f.dirent_off;
        info->open_fat_lba = fs.fat_lba + f.first_cluster / (REC_BD_BLOCK_SIZE / 4u);
        SETUP_CHECK(f.size > REC_WAV_HEADER_SIZE);
    }
    info->journal_lba = file_lba(&fs, "SYSTEM/JOURNAL.BIN", &f);
    info->state_lba = file_lba(&fs, "SYSTEM/STATE.BIN", &f);
    memset(r->written_map, 0, (size_t)r->bd.block_count / 8 + 1);
    port_fake_reset();
}

extern uint64_t fz_device_state_begin[], fz_device_state_end[];
static uint64_t *g_state_copy;

/* Word by word, and not through memcpy: the section holds ASan's poisoned redzones between
 * globals, which memcpy (intercepted by ASan) would report. no_builtin keeps the compiler from
 * turning the loop into a memcpy call. */
__attribute__((no_sanitize("address", "undefined", "coverage"), no_builtin)) static void copy_words(uint64_t *dst,
                                                                                                 const uint64_t *src,
                                                                                                 size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

void fz_state_save(void)
{
    size_t n = (size_t)(fz_device_state_end - fz_device_state_begin);
    /* Allocated before the copy: this pointer lives in the section, so the copy holds it. */
    if (g_state_copy == NULL) g_state_copy = malloc(n * sizeof *g_state_copy);
    SETUP_CHECK(g_state_copy != NULL);
    copy_words(g_state_copy, fz_device_state_begin, n);
}

void fz_state_restore(void)
{
    SETUP_CHECK(g_state_copy != NULL);
    copy_words(fz_device_state_begin, g_state_copy, (size_t)(fz_device_state_end - fz_device_state_begin));
}

uint8_t *fz_snapshot(const rec_bd_ram_t *r)
{
    uint8_t *copy = malloc(rec_bd_ram_size(r));
    SETUP_CHECK(copy != NULL);
    memcpy(copy, r->data, rec_bd_ram_size(r));
    return copy;
}

void fz_poke(rec_bd_ram_t *r, uint32_t lba, uint32_t off, const uint8_t *bytes, size_t len)
{
    if (lba >= r->bd.block_count || off >= REC_BD_BLOCK_SIZE) return;
    if (len > REC_BD_BLOCK_SIZE - off) len = REC_BD_BLOCK_SIZE - off;
    memcpy(r->data + (size_t)lba * REC_BD_BLOCK_SIZE + off, bytes, len);
    r->written_map[lba / 8] |= (uint8_t)(1u << (lba % 8));
}

uint32_t fz_nonzero_blocks(const rec_bd_ram_t *r, uint32_t *out, uint32_t max)
{
    static const uint8_t zero[REC_BD_BLOCK_SIZE];
    uint32_t n = 0;
    for (uint32_t b = 0; b < r->bd.block_count && n < max; b++)
        if (memcmp(r->data + (size_t)b * REC_BD_BLOCK_SIZE, zero, REC_BD_BLOCK_SIZE) != 0) out[n++] = b;
    return n;
}

void fz_write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
}

