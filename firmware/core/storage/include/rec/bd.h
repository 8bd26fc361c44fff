/* Block device: the card as an array of 512-byte blocks. Back ends are swappable: the SD card
 * driver in SPI mode (sd_spi.h), a file (simulator), and fakes in tests (RAM, power-loss
 * injection). The FAT layer and everything above it sees only this. */
#ifndef REC_BD_H
#define REC_BD_H

#include <stdint.h>

#define REC_BD_BLOCK_SIZE 512u

typedef struct rec_bd {
    void *ctx;
    /* Read or write `count` whole blocks starting at block `lba`. Return REC_OK or a negative
     * rec_err_t; REC_E_NOCARD when the card has gone. */
    int (*read)(void *ctx, uint32_t lba, void *buf, uint32_t count);
    int (*write)(void *ctx, uint32_t lba, const void *buf, uint32_t count);
    /* Returns once every completed write is durable. */
    int (*sync)(void *ctx);
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

#endif
