/* Audio ring buffer between the microphone interrupt (producer) and the main loop (consumer).
 *
 * Single producer, single consumer, lock-free. The producer (the port's microphone ISR, through
 * the recorder's port_mic_block_fn) calls rec_ring_push(); the main loop peeks whole 512-byte
 * blocks, writes them to the card (several at once when they are contiguous in the storage) and
 * then releases them.
 *
 * Concurrency design: the write and read positions are C11 atomics that are only ever loaded and
 * stored (never read-modify-written), each written by one side only: `head` by the producer,
 * `tail` by the consumer. The producer copies samples into the storage and then stores `head`
 * with release ordering; the consumer loads `head` with acquire ordering before reading the
 * storage, and stores `tail` with release ordering after it is done with the blocks. This needs
 * no critical section (port_irq_save is not used) and works for an ISR on a single core
 * (Cortex-M0+/M3: plain LDR/STR plus DMB) as well as for two threads on the host. Counters that
 * the consumer may "reset" are also producer-owned; a reset records a base value (overruns) or
 * posts a request that the producer carries out on its next push (high-water mark), so no
 * variable is ever written by both sides.
 *
 * When the storage is full the producer stores what fits and drops the rest of the new samples,
 * counting each dropped sample as an overrun. It never overwrites audio that has not been
 * released and never blocks.
 *
 * Samples are stored as 16-bit little-endian PCM, exactly the bytes of a WAV data chunk. */
#ifndef REC_AUDIO_RING_H
#define REC_AUDIO_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define REC_RING_BLOCK 512u
/* Storage must be a multiple of REC_RING_BLOCK, at least two blocks and at most 1 GiB. */
#define REC_RING_MIN_BYTES (2u * REC_RING_BLOCK)
#define REC_RING_MAX_BYTES (1u << 30)

typedef struct {
    uint8_t *buf;                       /* caller's storage */
    uint32_t size;                      /* bytes of storage */
    /* positions in bytes, modulo 2*size (so that full and empty differ) */
    atomic_uint_least32_t head;         /* written by the producer only */
    atomic_uint_least32_t tail;         /* written by the consumer only */
    /* producer-owned statistics */
    atomic_uint_least32_t overruns;     /* dropped samples, free-running (wraps at 2^32) */
    atomic_uint_least32_t high_water;   /* most bytes ever buffered after a push */
    atomic_uint_least32_t pushed;       /* samples stored, free-running (wraps at 2^32) */
    /* consumer-owned */
    uint32_t overruns_base;             /* value of `overruns` at the last reset */
    atomic_uint_least32_t hw_reset_req; /* set by the consumer, cleared by the producer */
} rec_ring_t;

/* Prepares a ring over `storage` (`bytes` long, see the limits above). REC_E_INVAL otherwise.
 * Not to be called while the producer may push. */
int rec_ring_init(rec_ring_t *ring, void *storage, uint32_t bytes);

/* Empties the ring and zeroes every counter. Only while the producer is stopped (microphone
 * off), e.g. before a new recording starts. */
void rec_ring_reset(rec_ring_t *ring);

/* ---- Producer (ISR) ------------------------------------------------------------------------- */
/* Appends `count` samples; what does not fit is dropped and counted as overruns. */
void rec_ring_push(rec_ring_t *ring, const int16_t *samples, size_t count);

/* ---- Consumer (main loop) ------------------------------------------------------------------- */
/* Bytes buffered and not yet released. */
uint32_t rec_ring_used(rec_ring_t *ring);
/* Whole blocks buffered (possibly split by the wrap). */
uint32_t rec_ring_blocks_ready(rec_ring_t *ring);
/* Points *data at the oldest buffered block and returns how many whole blocks are readable there
 * contiguously (not crossing the end of the storage), at most max_blocks; 0 when fewer than one
 * whole block is buffered. The bytes stay valid until released. */
uint32_t rec_ring_peek_blocks(rec_ring_t *ring, const uint8_t **data, uint32_t max_blocks);
/* Releases `blocks` whole blocks from the front (at most what peek returned). */
void rec_ring_release_blocks(rec_ring_t *ring, uint32_t blocks);
/* Like peek_blocks but for any number of bytes (for the final partial block at stop): returns
 * the contiguous readable bytes from the front, at most max_bytes. */
uint32_t rec_ring_peek_bytes(rec_ring_t *ring, const uint8_t **data, uint32_t max_bytes);
/* Releases `bytes` from the front (an even number: whole samples). */
void rec_ring_release_bytes(rec_ring_t *ring, uint32_t bytes);

/* Samples dropped since the last rec_ring_reset_overruns (or init/reset). */
uint32_t rec_ring_overruns(rec_ring_t *ring);
void rec_ring_reset_overruns(rec_ring_t *ring);
/* Most bytes that were ever buffered at once (measured after each push) since the last reset.
 * A reset takes effect at the producer's next push. */
uint32_t rec_ring_high_water(rec_ring_t *ring);
void rec_ring_reset_high_water(rec_ring_t *ring);
/* Samples accepted into the ring since init/reset (wraps at 2^32). */
uint32_t rec_ring_pushed(rec_ring_t *ring);
/* Capacity in bytes. */
static inline uint32_t rec_ring_capacity(const rec_ring_t *ring) { return ring->size; }

#endif
