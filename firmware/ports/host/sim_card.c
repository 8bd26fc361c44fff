/* Simulator port: the card is an image file (a block device over a file, bd_file.h).
 *
 * port_card_open wraps the file device with
 *   - eject/insert: while ejected every I/O returns REC_E_NOCARD and port_card_present() is
 *     false. Ejecting also closes the image file, so it may be inspected or altered while "out of
 *     the device", and inserting opens it afresh at the next port_card_open;
 *   - a write-stall injector: every Nth write call first sleeps M device milliseconds (M/speed
 *     real ms), as a card busy with wear levelling would; the microphone thread keeps producing
 *     meanwhile.
 *   - a slow card (--card-speed B): every write takes its bytes / B device seconds, as a card
 *     that writes B bytes a second would (CARD_TEST measures it; a recording overruns on it).
 *   - a pull at a chosen write (`card pull-after-writes N`): the Nth write or erase from then on
 *     is not made and the card is out from it on, as a card pulled at that moment would be; a
 *     pull from stdin is taken only between requests, and a WIPE is one request.
 * A missing image is created (sparse, --size-mb) and formatted FAT32 with the core's own
 * rec_fat_format, so a fresh simulator is immediately usable. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rec/bd_file.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "rec/port.h"
#include "sim_internal.h"

static rec_bd_file_t file;
static const rec_bd_t *inner; /* non-NULL while the image file is open */
static rec_bd_t card_bd;
static atomic_bool present = true;
static uint32_t write_calls;
static uint32_t card_ops;       /* writes and erases since start (`card writes`) */
static uint32_t pull_at_op;     /* 0: not armed; else the card_ops value that pulls the card */
static atomic_bool pulled;      /* pulled by the injector, the core not yet told */

static int file_open(bool create, uint64_t size_bytes)
{
    int rc = rec_bd_file_open(&file, sim_cfg.image, create, size_bytes);
    if (rc != REC_OK)
        return rc;
    inner = &file.bd;
    return REC_OK;
}

static void file_close(void)
{
    if (!inner)
        return;
    rec_bd_sync(inner); /* what was written survives a host crash after a clean eject/exit */
    rec_bd_file_close(&file);
    inner = NULL;
}

static int card_read(void *ctx, uint32_t lba, void *buf, uint32_t count)
{
    (void)ctx;
    if (!atomic_load(&present) || !inner)
        return REC_E_NOCARD;
    return rec_bd_read(inner, lba, buf, count);
}

static void stall(void)
{
    uint64_t ns = (uint64_t)((double)sim_cfg.stall_ms * 1e6 / sim_cfg.speed);
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* --card-speed: the card is busy until `busy_until` (real monotonic ns); each write adds its
 * bytes' time to that and waits for it, so sleeps that overshoot do not add up. */
static uint64_t busy_until_ns;

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void throttle(uint32_t count)
{
    const uint64_t now = monotonic_ns();
    if (busy_until_ns < now)
        busy_until_ns = now;
    busy_until_ns += (uint64_t)((double)count * REC_BD_BLOCK_SIZE * 1e9 / ((double)sim_cfg.card_speed * sim_cfg.speed));
    uint64_t wait = busy_until_ns - now;
    struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000u), .tv_nsec = (long)(wait % 1000000000u) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Counts a write or erase; true when the armed pull falls on it (then the card is out). */
static bool pulled_now(void)
{
    ++card_ops;
    if (!pull_at_op || card_ops != pull_at_op)
        return false;
    pull_at_op = 0;
    sim_err("card pulled at card write %u (as armed)", (unsigned)card_ops);
    sim_card_eject();
    atomic_store(&pulled, true);
    sim_wake();
    return true;
}

static int card_write(void *ctx, uint32_t lba, const void *buf, uint32_t count)
{
    (void)ctx;
    if (!atomic_load(&present) || !inner || pulled_now())
        return REC_E_NOCARD;
    if (sim_cfg.stall_every && ++write_calls % sim_cfg.stall_every == 0)
        stall();
    if (sim_cfg.card_speed)
        throttle(count);
    return rec_bd_write(inner, lba, buf, count);
}

/* Wipe: holes punched in the image (bd_file.c). */
static int card_erase(void *ctx, uint32_t lba, uint32_t count)
{
    (void)ctx;
    if (!atomic_load(&present) || !inner || pulled_now())
        return REC_E_NOCARD;
    return rec_bd_erase(inner, lba, count);
}

/* The simulated power cut is SIGKILL of this process: whatever pwrite() handed to the kernel
 * survives it, exactly as blocks a real card has acknowledged survive a cut. So a sync only has
 * to order writes, which pwrite already does; an fsync() per size patch (once a device second,
 * 60 times a real second at --speed 60) would only make the simulated card slow. The image is
 * fsync'ed on eject and exit. */
static int card_sync(void *ctx)
{
    (void)ctx;
    if (!atomic_load(&present) || !inner)
        return REC_E_NOCARD;
    return REC_OK;
}

const rec_bd_t *port_card_open(int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!atomic_load(&present)) {
        *err = REC_E_NOCARD;
        return NULL;
    }
    if (!inner) {
        int rc = file_open(false, 0);
        if (rc != REC_OK) {
            sim_err("cannot open card image %s: %s", sim_cfg.image, rec_err_name(rc));
            *err = REC_E_IO;
            return NULL;
        }
    }
    card_bd = (rec_bd_t){
        .ctx = NULL,
        .read = card_read,
        .write = card_write,
        .sync = card_sync,
        .erase = card_erase,
        .erase_kind = REC_BD_ERASE_ZERO_FILL,
        .block_count = inner->block_count,
    };
    *err = REC_OK;
    return &card_bd;
}

void port_card_close(void)
{
    file_close();
}

bool port_card_present(void)
{
    return atomic_load(&present);
}

bool sim_card_eject(void)
{
    if (!atomic_load(&present))
        return false;
    atomic_store(&present, false);
    file_close();
    return true;
}

bool sim_card_insert(void)
{
    if (atomic_load(&present))
        return false;
    atomic_store(&present, true);
    return true;
}

void sim_card_pull_after(uint32_t writes)
{
    pull_at_op = writes ? card_ops + writes : 0;
}

uint32_t sim_card_writes(void)
{
    return card_ops;
}

bool sim_card_take_pulled(void)
{
    return atomic_exchange(&pulled, false);
}

void sim_card_shutdown(void)
{
    file_close();
}

int sim_card_prepare(void)
{
    struct stat st;
    if (stat(sim_cfg.image, &st) == 0)
        return 0; /* an existing image is used as it is, whatever its size */
    if (errno != ENOENT) {
        sim_err("cannot use image %s: %s", sim_cfg.image, strerror(errno));
        return -1;
    }
    uint64_t bytes = (uint64_t)sim_cfg.size_mb << 20;
    int rc = file_open(true, bytes);
    if (rc != REC_OK) {
        sim_err("cannot create image %s: %s", sim_cfg.image, rec_err_name(rc));
        return -1;
    }
    uint32_t volume_id = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    rc = rec_fat_format(inner, "RECORDER", volume_id, 0);
    if (rc == REC_OK)
        rc = rec_bd_sync(inner);
    file_close();
    if (rc != REC_OK) {
        sim_err("cannot format image %s: %s", sim_cfg.image, rec_err_name(rc));
        unlink(sim_cfg.image); /* do not leave a half-made card behind to be mistaken for one */
        return -1;
    }
    sim_err("created %s (%u MiB) and formatted it FAT32", sim_cfg.image, (unsigned)sim_cfg.size_mb);
    return 0;
}
