/* A byte-level model of an SD card in SPI mode, for testing the SD driver (sd_spi.c).
 *
 * The model is fed one MOSI byte at a time and returns the MISO byte. It parses commands (CRC7
 * always checked for CMD0/CMD8, for all commands after CMD59 enables CRC), answers R1/R2/R3/R7,
 * sends data blocks with token 0xFE and a valid CRC16, receives single and multi-block writes
 * (tokens 0xFE/0xFC/0xFD, data response, busy), erases (CMD32/CMD33/CMD38 with busy; the SCR
 * and SD Status that describe it), and keeps the data in a RAM buffer. It is
 * strict: byte addressing on an SDHC card or block addressing on an SDSC card fails (address
 * or range error), data commands before initialisation are illegal, an SDSC card needs CMD16 512
 * when its default block length is not 512, and an SDHC card never leaves idle without HCS.
 *
 * port_fake.c routes port_spi_* to the attached model (port_fake_attach_sd). */
#ifndef SD_CARD_MODEL_H
#define SD_CARD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SDM_SDSC_V1,  /* no CMD8 (illegal command), CSD v1, byte addressed */
    SDM_SDSC_V2,  /* CMD8, CSD v1, byte addressed */
    SDM_SDHC,     /* CMD8, CSD v2, block addressed, needs HCS */
} sdm_kind_t;

typedef struct {
    sdm_kind_t kind;
    uint32_t blocks;           /* capacity; SDSC: multiple of 8; SDHC: multiple of 1024 */
    uint32_t acmd41_polls;     /* ACMD41 calls answered "idle" before ready (default 3) */
    uint32_t ncr;              /* 0xFF bytes before each R1 (1..8, default 1) */
    uint32_t read_delay;       /* 0xFF bytes before a data token (default 4) */
    uint32_t busy_bytes;       /* 0x00 bytes of busy after each written block (default 16) */
    uint32_t default_block_len;/* SDSC block length before CMD16 (default 1024) */
    /* erase (CMD32/CMD33/CMD38; ACMD51 SCR and ACMD13 SD Status describe it) */
    bool no_erase;             /* CSD command classes without class 5: CMD32/33/38 illegal */
    bool erased_ones;          /* SCR DATA_STAT_AFTER_ERASE: erased blocks read 0xFF (else 0x00) */
    bool erase_ignored;        /* CMD38 answers and goes busy but leaves the data (a bad card) */
    bool erase_wrong_fill;     /* erased blocks read as the other value than the SCR says */
    bool no_erase_timeout;     /* SD Status ERASE_SIZE = 0: no timeout figures */
    bool sector_erase;         /* SDSC: ERASE_BLK_EN = 0, erases whole sectors of 128 blocks */
    uint32_t au_code;          /* SD Status AU_SIZE (default 3: 64 KiB) */
    uint32_t erase_timeout_s;  /* SD Status ERASE_TIMEOUT per ERASE_SIZE (1) AUs (default 1) */
    uint32_t erase_busy_bytes; /* busy bytes after CMD38 (default 64) */
} sdm_config_t;

typedef struct {
    sdm_config_t cfg;
    uint8_t *ram;              /* blocks * 512 bytes, owned by the model (malloc: test code) */

    /* ---- fault injection (set directly) ---- */
    bool no_response;          /* never drives MISO (all 0xFF), keeps parsing nothing */
    bool removed;              /* as no_response, and card_present() is false */
    uint32_t write_errors;     /* the next N written blocks get data response 0x0D (write error) */
    uint32_t crc_reject_writes;/* the next N written blocks get data response 0x0B (CRC error) */
    uint32_t corrupt_reads;    /* the next N read blocks are sent with a wrong CRC16 */
    bool stuck_busy;           /* busy never ends after a written block */
    bool cmd58_r1_idle;        /* CMD58 answered with R1 = 0x01 (idle) even after initialisation,
                                  as QEMU's SPI-mode card (hw/sd/ssi-sd.c) does */
    uint64_t remove_after_bytes; /* when nonzero: card removed after this many more bytes */
    uint32_t read_error_tokens;/* the next N read blocks get an error token (0x08 out of range) */
    bool stuck_erase;          /* busy never ends after CMD38 */

    /* ---- observable state ---- */
    bool selected;
    uint32_t clock_hz;
    uint64_t bytes;            /* bytes exchanged in total */
    uint32_t power_clocks;     /* clocks with CS high before the first CMD0 */
    bool spi_mode;             /* CMD0 accepted */
    bool idle;                 /* in idle state (not initialised) */
    bool crc_on;
    bool hcs_seen;
    uint32_t block_len;
    uint32_t status_error;     /* R2 status byte reported by the next CMD13 */
    bool clock_violation;      /* a command before initialisation came faster than 400 kHz */
    uint32_t cmd_count[64];    /* commands received, by index (application commands included) */
    uint32_t acmd_count[64];
    uint32_t blocks_read, blocks_written, blocks_erased;
    uint32_t crc_errors;       /* commands or blocks the model rejected for a bad CRC */
    uint32_t protocol_errors;  /* unexpected bytes (e.g. a bad token) */
    uint32_t ignored_commands; /* commands ignored before SPI mode (e.g. too few power-up clocks) */

    /* ---- internal state ---- */
    int state;
    uint8_t cmd[6];
    uint32_t cmd_len;
    bool app_cmd;
    uint32_t acmd41_count;
    uint8_t out[700];
    uint32_t out_head, out_len;
    uint32_t busy;             /* busy bytes left */
    uint32_t cur_block;        /* next block for a multi-block read or write */
    uint8_t wbuf[514];
    uint32_t wlen;
    bool multi;
    bool erase_start_set, erase_end_set;
    uint32_t erase_start, erase_end;
    bool busy_stuck;           /* the current busy is CMD38's and stuck_erase holds it */
} sd_card_model_t;

/* Default configuration for a card of the given kind and size. */
sdm_config_t sdm_default_config(sdm_kind_t kind, uint32_t blocks);
/* Creates the model with a zeroed RAM buffer (calloc); free with sdm_free. */
void sdm_init(sd_card_model_t *m, const sdm_config_t *cfg);
void sdm_free(sd_card_model_t *m);
/* Power cycle: state lost, RAM kept, faults cleared (as a re-inserted card). */
void sdm_power_cycle(sd_card_model_t *m);

/* The SPI signals. */
void sdm_select(sd_card_model_t *m, bool selected);
void sdm_set_clock(sd_card_model_t *m, uint32_t hz);
uint8_t sdm_exchange(sd_card_model_t *m, uint8_t mosi);
bool sdm_present(const sd_card_model_t *m);

/* Direct access to the card's data. */
uint8_t *sdm_block(sd_card_model_t *m, uint32_t lba);

/* CRC helpers (also used by tests). */
uint8_t sdm_crc7(const uint8_t *data, size_t len);
uint16_t sdm_crc16(const uint8_t *data, size_t len);

#endif
