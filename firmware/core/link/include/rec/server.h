/* The protocol server: reads frames from the serial link, answers them, sends events.
 *
 * Requests are answered in order, one at a time: a request is read only once the previous
 * response has left the transmit buffer, so the host's window of requests waits in the link's
 * own buffers (USB or UART FIFO, pseudo-terminal) and memory stays fixed. Long work (HASH over
 * a large range) is done in slices between polls so audio keeps flowing to the card. */
#ifndef REC_SERVER_H
#define REC_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/device.h"
#include "rec/fat.h"
#include "rec/frame.h"
#include "rec/sha256.h"

#ifndef REC_SERVER_MAX_PAYLOAD
#define REC_SERVER_MAX_PAYLOAD RP_MIN_MAX_PAYLOAD
#endif
/* Requests the host may keep in flight (they queue in the link's buffers). */
#define REC_SERVER_MAX_IN_FLIGHT 8u
/* Bytes hashed per poll for HASH requests. */
#define REC_SERVER_HASH_SLICE (16u * 1024u)

typedef struct {
    rec_deframer_t deframer;
    uint8_t rx_frame[REC_DEFRAMER_BUF_SIZE(REC_SERVER_MAX_PAYLOAD)];
    uint8_t in[512];            /* bytes read from the link, not yet fed to the deframer */
    uint32_t in_len, in_pos;
    uint8_t payload[REC_SERVER_MAX_PAYLOAD];
    uint8_t tx[REC_FRAME_WIRE_MAX(REC_SERVER_MAX_PAYLOAD)];
    uint32_t tx_len, tx_pos;
    uint16_t max_payload;       /* agreed in HELLO */
    bool connected;

    /* file kept open between READs of the same recording */
    bool rf_open;
    uint32_t rf_number;
    uint8_t rf_part;            /* RP_PART_*: which file of the recording */
    uint32_t rf_generation;
    rec_fat_file_t rf;

    /* a HASH request in progress */
    bool hash_busy;
    uint16_t hash_seq;
    uint32_t hash_number, hash_offset, hash_length, hash_done;
    rec_sha256_t hash;

    /* counters, for diagnostics and tests */
    uint32_t frames_ok, frames_bad;
} rec_server_t;

void rec_server_init(rec_server_t *s);
/* One bounded step: flush output, continue a HASH, read and answer at most a few requests.
 * Returns true when it did anything (so the caller should poll again soon). */
bool rec_server_poll(rec_server_t *s, rec_device_t *d);
/* Drops the open file handle (after delete, format, card change). */
void rec_server_forget_files(rec_server_t *s);

#endif
