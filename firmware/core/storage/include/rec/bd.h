/* Block device: the card as an array of 512-byte blocks. Back ends are swappable: the SD card
 * driver in SPI mode (sd_spi.h), a file (simulator), and fakes in tests (RAM, power-loss
 * injection). The FAT layer and everything above it sees only this. */
#ifndef REC_BD_H
#define REC_BD_H

#include <stdint.h>

#include "rec/err.h"

#define REC_BD_BLOCK_SIZE 512u

/* rec_bd_t.erase_kind */
#define REC_BD_ERASE_NONE 0u
#define REC_BD_ERASE_CARD 1u      /* the card's own erase command (SD CMD38) */
#define REC_BD_ERASE_ZERO_FILL 2u /* the backing store zero-fills or punches holes (a file) */

typedef struct rec_bd {
    void *ctx;
    /* Read or write `count` whole blocks starting at block `lba`. Return REC_OK or a negative
     * rec_err_t; REC_E_NOCARD when the card has gone. */
    int (*read)(void *ctx, uint32_t lba, void *buf, uint32_t count);
    int (*write)(void *ctx, uint32_t lba, const void *buf, uint32_t count);
    /* Returns once every completed write is durable. */
    int (*sync)(void *ctx);
    /* Optional (NULL: the device has none), as littlefs's erase: destroys `count` blocks from
     * `lba` so that they read back as all 0x00 or all 0xFF and their old contents are gone
     * (the card's own erase, or holes punched in a file), durably when it returns.
     * REC_E_UNSUPPORTED when this device cannot after all (the caller writes zeros instead). */
    int (*erase)(void *ctx, uint32_t lba, uint32_t count);
    /* How erase clears blocks (REC_BD_ERASE_*), for reports; 0 when erase is NULL. */
    uint8_t erase_kind;
    /* Number of blocks on the device. */
    uint32_t block_count;
} rec_bd_t;

static inline int rec_bd_read(const rec_bd_t *bd, uint32_t lba, void *buf, uint32_t count)
{
    return bd->read(bd->ctx, lba, buf, count);
}
static inline int rec_bd_write(const rec_bd_t *bd, uint32_t lba, const void *buf, uint32_t count)
{
    return bd->write(bd->ctx, lba, buf, count);
}
static inline int rec_bd_sync(const rec_bd_t *bd)
{
    return bd->sync ? bd->sync(bd->ctx) : 0;
}
/* REC_E_UNSUPPORTED when the device has no erase. */
static inline int rec_bd_erase(const rec_bd_t *bd, uint32_t lba, uint32_t count)
{
    return bd->erase ? bd->erase(bd->ctx, lba, count) : REC_E_UNSUPPORTED;
}

#endif
