/* Test block devices.
 *
 * rec_bd_ram_t: a block device in RAM (malloc'ed), with counters.
 *
 * Fault injection (in the spirit of littlefs's lfs_emubd): a power-cut budget counted in
 * written blocks. When a write would take the total of written blocks past the budget, the
 * power is "cut": that write fails with REC_E_IO and, if `torn` is set, the blocks of it that
 * fit in the budget land (a torn multi-block write), otherwise none do. Every later write
 * (and sync) fails with REC_E_IO and changes nothing; reads keep working (the image is what
 * survived). A budget of 0 cuts before the first written block. */
#ifndef REC_TEST_BD_RAM_H
#define REC_TEST_BD_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec/bd.h"

typedef struct {
    rec_bd_t bd;              /* bd.ctx points at this struct */
    uint8_t *data;            /* block_count * 512 bytes */
    /* counters */
    uint64_t reads, writes, syncs;            /* calls */
    uint64_t blocks_read, blocks_written;     /* blocks (writes: only blocks that landed) */
    /* fault injection */
    bool cut_armed;           /* a budget is set */
    uint64_t cut_budget;      /* blocks that may still be written before the cut */
    bool torn;                /* the write crossing the cut lands partially */
    bool cut;                 /* the power has been cut */
    bool fail_reads;          /* every read fails with REC_E_IO */
    uint8_t *written_map;     /* bit per block: written since the last rec_bd_ram_restore */
} rec_bd_ram_t;

/* Allocates a zeroed device; 0 or -1 (out of memory). */
int rec_bd_ram_init(rec_bd_ram_t *r, uint32_t block_count);
/* Device over a copy of `size` bytes (a multiple of 512). */
int rec_bd_ram_init_from(rec_bd_ram_t *r, const void *image, size_t size);
void rec_bd_ram_free(rec_bd_ram_t *r);
/* Arms a power cut after `blocks` more written blocks. */
void rec_bd_ram_cut_after(rec_bd_ram_t *r, uint64_t blocks, bool torn);
/* Copies back from `baseline` (an image of the same size) every block written since the last
 * restore, making the device equal to the baseline again cheaply. */
void rec_bd_ram_restore(rec_bd_ram_t *r, const uint8_t *baseline);
/* Restores power (the surviving image stays) and clears the counters. */
void rec_bd_ram_power_on(rec_bd_ram_t *r);
size_t rec_bd_ram_size(const rec_bd_ram_t *r);
/* Loads from / saves to a file (whole device); 0 or -1. */
int rec_bd_ram_load_file(rec_bd_ram_t *r, const char *path);
int rec_bd_ram_save_file(const rec_bd_ram_t *r, const char *path);

#endif
