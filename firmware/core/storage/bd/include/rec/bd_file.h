/* Block device over a regular file or a raw device node (host builds: simulator and tests).
 * Blocks are 512 bytes; I/O is pread/pwrite, sync is fsync, erase punches holes (zeros written
 * where holes cannot be punched) and syncs. Any failure is REC_E_IO
 * (REC_E_RANGE for an access beyond the end). The struct is public so a wrapper (the simulator's
 * stall/eject injection) can take `bd`, keep a pointer to it and forward to its callbacks. */
#ifndef REC_BD_FILE_H
#define REC_BD_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/bd.h"

typedef struct {
    rec_bd_t bd;            /* ready to use after rec_bd_file_open; bd.ctx points at this struct */
    int fd;                 /* -1 when closed */
    uint64_t reads;         /* read calls */
    uint64_t writes;        /* write calls */
    uint64_t blocks_read;
    uint64_t blocks_written;
    uint64_t syncs;
    uint64_t erases;        /* erase calls */
    uint64_t blocks_erased;
} rec_bd_file_t;

/* Opens `path` as a block device.
 *   create: create the file (truncating an existing one) with size_bytes of zeros (sparse);
 *           size_bytes must be a non-zero multiple of 512.
 *   !create: open an existing file; size_bytes 0 uses the whole file (rounded down to blocks),
 *           otherwise the device is the first size_bytes of the file (which must be that long).
 * Returns REC_OK, REC_E_INVAL, REC_E_NOENT (missing file) or REC_E_IO. */
int rec_bd_file_open(rec_bd_file_t *f, const char *path, bool create, uint64_t size_bytes);
/* Closes the file (without syncing). Safe to call twice. */
void rec_bd_file_close(rec_bd_file_t *f);

#endif
