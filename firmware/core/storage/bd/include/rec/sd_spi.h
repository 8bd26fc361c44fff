/* SD card driver in SPI mode, over the port's SPI functions (port.h), exposed as a rec_bd_t.
 *
 *     static rec_sd_t sd;
 *     static rec_bd_t bd;
 *     int err = rec_sd_init(&sd, &bd);   // power-up, identify, size the card; raise the clock
 *     ... rec_bd_read(&bd, lba, buf, n) / rec_bd_write(...) / rec_bd_sync(&bd)
 *
 * Supports SD v1 (SDSC), SD v2 SDSC and SDHC/SDXC (block addressed). MMC is not supported.
 * CRC checking is switched on (CMD59): commands carry CRC7, written blocks CRC16, and the CRC16
 * of every block read is checked (a mismatch is retried, then reported as REC_E_IO). Where the
 * port moves bytes in the background (port_spi_start: DMA), data blocks go that way and the CRC16
 * work overlaps the wire: a read block's is checked while the next one arrives, a written block's
 * computed while it goes out.
 *
 * Every wait is bounded by port_uptime_ms(): REC_SD_*_TIMEOUT_MS below. Errors:
 *   REC_E_NOCARD  the card did not answer and port_card_present() says it is gone (also for
 *                 every call after that, until rec_sd_init succeeds again);
 *   REC_E_TIMEOUT the card did not answer, or stayed busy, in time;
 *   REC_E_IO      the card answered with an error (R1 error bits, data error token, write
 *                 rejected, CRC mismatch after retries, programming error in CMD13 status);
 *   REC_E_RANGE   lba/count beyond the card;
 *   REC_E_UNSUPPORTED  the card is not one of the above (voltage, MMC, CSD version 3).
 *
 * Writes return only once the card has finished programming every block (busy ended) and
 * CMD13 reported no error, so sync is a no-op apart from waiting for not-busy. Erase (bd.erase)
 * is the card's own (below). */
#ifndef REC_SD_SPI_H
#define REC_SD_SPI_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/bd.h"

#define REC_SD_INIT_HZ 400000u
#ifndef REC_SD_FAST_HZ
#define REC_SD_FAST_HZ 25000000u /* ports may define a lower bus limit; the port may clamp too */
#endif
#define REC_SD_INIT_TIMEOUT_MS 1000u  /* ACMD41 until the card leaves idle */
#define REC_SD_READ_TIMEOUT_MS 100u   /* command to data token */
#define REC_SD_WRITE_TIMEOUT_MS 500u  /* busy after a block, or before a command */
#define REC_SD_CMD_TIMEOUT_MS 500u    /* card ready (MISO 0xFF) before sending a command */
#define REC_SD_ERASE_CHUNK_BLOCKS 256u /* blocks per CMD38 when the card gives no erase timeout */

typedef enum {
    REC_SD_TYPE_NONE = 0,
    REC_SD_TYPE_SDSC_V1, /* v1.x, byte addressed */
    REC_SD_TYPE_SDSC_V2, /* v2+, standard capacity, byte addressed */
    REC_SD_TYPE_SDHC,    /* v2+, SDHC/SDXC, block addressed */
} rec_sd_type_t;

typedef struct {
    rec_sd_type_t type;
    bool ready;            /* initialised and not known to be removed */
    bool crc_on;           /* CMD59 accepted */
    bool stop_pending;     /* a multi-block write was left open (busy timeout): close it first */
    uint32_t block_count;  /* capacity in 512-byte blocks (clamped to UINT32_MAX) */
    uint32_t ocr;
    uint8_t csd[16];
    uint8_t cid[16];
    /* erase: read from the SCR and SD Status at the first erase */
    bool erase_known;
    uint8_t erased_byte;      /* what erased blocks read as: 0x00 or 0xFF (DATA_STAT_AFTER_ERASE) */
    uint32_t au_blocks;       /* allocation unit (0: not given) */
    uint32_t erase_ms_per_au; /* ERASE_TIMEOUT / ERASE_SIZE in ms (0: not given: 250 ms per block) */
    uint32_t erase_offset_ms; /* ERASE_OFFSET */
    /* statistics */
    uint32_t crc_retries;  /* blocks re-read or re-written after a CRC error */
    uint32_t blocks_erased;
} rec_sd_t;

/* Initialises the card and fills *bd_out (ctx = sd). Returns REC_OK or a negative rec_err_t. */
int rec_sd_init(rec_sd_t *sd, rec_bd_t *bd_out);

/* The block device operations (also reachable through bd_out). */
int rec_sd_read(rec_sd_t *sd, uint32_t lba, void *buf, uint32_t count);
int rec_sd_write(rec_sd_t *sd, uint32_t lba, const void *buf, uint32_t count);
int rec_sd_sync(rec_sd_t *sd);
/* Erases blocks with CMD32/CMD33/CMD38, one allocation unit (or REC_SD_ERASE_CHUNK_BLOCKS) per
 * CMD38, each busy wait bounded by the card's erase timeout (SD Status ERASE_SIZE,
 * ERASE_TIMEOUT, ERASE_OFFSET; 250 ms per block without them, at least 1 s), then checks that
 * the first, middle and last block of each range read as the card's SCR says erased blocks do.
 * REC_E_UNSUPPORTED when the card has no erase command class, when an SDSC card could erase
 * only whole sectors the range does not cover exactly, or when erased blocks do not read as
 * promised: the caller then writes over them. */
int rec_sd_erase(rec_sd_t *sd, uint32_t lba, uint32_t count);

/* Short name of a card type, for logs and INFO. */
const char *rec_sd_type_name(rec_sd_type_t t);

#endif
