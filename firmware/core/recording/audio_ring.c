/* Audio ring buffer: see audio_ring.h for the concurrency design. */
#include "rec/audio_ring.h"

#include <string.h>

#include "rec/err.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "audio_ring stores samples by memcpy and needs a little-endian target"
#endif

#define LD_RELAXED(p) atomic_load_explicit((p), memory_order_relaxed)
#define LD_ACQUIRE(p) atomic_load_explicit((p), memory_order_acquire)
#define ST_RELAXED(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define ST_RELEASE(p, v) atomic_store_explicit((p), (v), memory_order_release)

/* Positions run over [0, 2*size): head == tail is empty, head - tail == size is full. */
static uint32_t ring_dist(const rec_ring_t *r, uint32_t head, uint32_t tail)
{
    return head >= tail ? head - tail : head + 2u * r->size - tail;
}

static uint32_t ring_advance(const rec_ring_t *r, uint32_t pos, uint32_t bytes)
{
    uint32_t p = pos + bytes; /* pos < 2*size <= 2^31, bytes <= size: no overflow */
    return p >= 2u * r->size ? p - 2u * r->size : p;
}

static uint32_t ring_index(const rec_ring_t *r, uint32_t pos)
{
    return pos >= r->size ? pos - r->size : pos;
}

int rec_ring_init(rec_ring_t *ring, void *storage, uint32_t bytes)
{
    if (!ring || !storage || bytes < REC_RING_MIN_BYTES || bytes > REC_RING_MAX_BYTES || bytes % REC_RING_BLOCK != 0) {
        return REC_E_INVAL;
    }
    ring->buf = storage;
    ring->size = bytes;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->overruns, 0);
    atomic_init(&ring->high_water, 0);
    atomic_init(&ring->pushed, 0);
    atomic_init(&ring->hw_reset_req, 0);
    ring->overruns_base = 0;
    return REC_OK;
}

void rec_ring_reset(rec_ring_t *ring)
{
    REC_ASSERT(ring->buf);
    ST_RELAXED(&ring->head, 0);
    ST_RELAXED(&ring->tail, 0);
    ST_RELAXED(&ring->overruns, 0);
    ST_RELAXED(&ring->high_water, 0);
    ST_RELAXED(&ring->pushed, 0);
    ST_RELAXED(&ring->hw_reset_req, 0);
    ring->overruns_base = 0;
    atomic_thread_fence(memory_order_seq_cst);
}

void rec_ring_push(rec_ring_t *ring, const int16_t *samples, size_t count)
{
    const uint32_t head = (uint32_t)LD_RELAXED(&ring->head);   /* ours */
    const uint32_t tail = (uint32_t)LD_ACQUIRE(&ring->tail);   /* consumer done with the bytes */
    const uint32_t used = ring_dist(ring, head, tail);
    REC_ASSERT(used <= ring->size);
    const uint32_t free_samples = (ring->size - used) / 2u;
    const uint32_t n = count < free_samples ? (uint32_t)count : free_samples;
    const uint32_t bytes = n * 2u;

    if (n > 0) {
        REC_ASSERT(samples);
        const uint32_t idx = ring_index(ring, head);
        const uint32_t first = ring->size - idx < bytes ? ring->size - idx : bytes;
        memcpy(ring->buf + idx, samples, first);
        if (bytes > first) {
            memcpy(ring->buf, (const uint8_t *)samples + first, bytes - first);
        }
        ST_RELAXED(&ring->pushed, (uint32_t)LD_RELAXED(&ring->pushed) + n);
        ST_RELEASE(&ring->head, ring_advance(ring, head, bytes)); /* publishes the samples */
    }
    if (count > n) {
        ST_RELAXED(&ring->overruns, (uint32_t)LD_RELAXED(&ring->overruns) + (uint32_t)(count - n));
    }
    uint32_t hw = (uint32_t)LD_RELAXED(&ring->high_water);
    if (LD_ACQUIRE(&ring->hw_reset_req)) {
        hw = 0;
        ST_RELAXED(&ring->high_water, 0);
        ST_RELEASE(&ring->hw_reset_req, 0);
    }
    if (used + bytes > hw) {
        ST_RELAXED(&ring->high_water, used + bytes);
    }
}

uint32_t rec_ring_used(rec_ring_t *ring)
{
    const uint32_t head = (uint32_t)LD_ACQUIRE(&ring->head);
    const uint32_t tail = (uint32_t)LD_RELAXED(&ring->tail);
    return ring_dist(ring, head, tail);
}

uint32_t rec_ring_blocks_ready(rec_ring_t *ring)
{
    return rec_ring_used(ring) / REC_RING_BLOCK;
}

uint32_t rec_ring_peek_bytes(rec_ring_t *ring, const uint8_t **data, uint32_t max_bytes)
{
    const uint32_t tail = (uint32_t)LD_RELAXED(&ring->tail);
    const uint32_t used = rec_ring_used(ring);
    const uint32_t idx = ring_index(ring, tail);
    uint32_t n = ring->size - idx;
    if (n > used) {
        n = used;
    }
    if (n > max_bytes) {
        n = max_bytes;
    }
    *data = ring->buf + idx;
    return n;
}

uint32_t rec_ring_peek_blocks(rec_ring_t *ring, const uint8_t **data, uint32_t max_blocks)
{
    const uint32_t max_bytes = max_blocks > ring->size / REC_RING_BLOCK ? ring->size : max_blocks * REC_RING_BLOCK;
    return rec_ring_peek_bytes(ring, data, max_bytes) / REC_RING_BLOCK;
}

void rec_ring_release_bytes(rec_ring_t *ring, uint32_t bytes)
{
    const uint32_t tail = (uint32_t)LD_RELAXED(&ring->tail);
    REC_ASSERT(bytes % 2u == 0);
    REC_ASSERT(bytes <= rec_ring_used(ring));
    ST_RELEASE(&ring->tail, ring_advance(ring, tail, bytes)); /* hands the bytes back */
}

void rec_ring_release_blocks(rec_ring_t *ring, uint32_t blocks)
{
    REC_ASSERT(blocks <= ring->size / REC_RING_BLOCK);
    rec_ring_release_bytes(ring, blocks * REC_RING_BLOCK);
}

uint32_t rec_ring_overruns(rec_ring_t *ring)
{
    return (uint32_t)LD_RELAXED(&ring->overruns) - ring->overruns_base;
}

void rec_ring_reset_overruns(rec_ring_t *ring)
{
    ring->overruns_base = (uint32_t)LD_RELAXED(&ring->overruns);
}

uint32_t rec_ring_high_water(rec_ring_t *ring)
{
    if (LD_ACQUIRE(&ring->hw_reset_req)) {
        return 0; /* reset requested, not yet carried out: nothing pushed since */
    }
    return (uint32_t)LD_RELAXED(&ring->high_water);
}

void rec_ring_reset_high_water(rec_ring_t *ring)
{
    ST_RELEASE(&ring->hw_reset_req, 1);
}

uint32_t rec_ring_pushed(rec_ring_t *ring)
{
    return (uint32_t)LD_RELAXED(&ring->pushed);
}
