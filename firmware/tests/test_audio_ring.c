/* Audio ring buffer: wrap-around, exact overrun counting, block peeking across the wrap, and a
 * two-thread producer/consumer stress test with a ramp signal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "rec/audio_ring.h"
#include "rec/err.h"

static void fill_ramp(int16_t *s, size_t n, uint16_t *next)
{
    for (size_t i = 0; i < n; i++) {
        s[i] = (int16_t)(*next)++;
    }
}

/* Checks `bytes` of ring data continue the ramp from *expect. */
static void check_ramp(const uint8_t *p, uint32_t bytes, uint16_t *expect)
{
    assert_int_equal(bytes % 2, 0);
    for (uint32_t i = 0; i < bytes; i += 2) {
        uint16_t v = (uint16_t)(p[i] | (p[i + 1] << 8));
        assert_int_equal(v, *expect);
        (*expect)++;
    }
}

static void test_init_limits(void **state)
{
    (void)state;
    static uint8_t mem[4096];
    rec_ring_t r;
    assert_int_equal(rec_ring_init(&r, mem, 0), REC_E_INVAL);
    assert_int_equal(rec_ring_init(&r, mem, 512), REC_E_INVAL);
    assert_int_equal(rec_ring_init(&r, mem, 1000), REC_E_INVAL);
    assert_int_equal(rec_ring_init(&r, NULL, 1024), REC_E_INVAL);
    assert_int_equal(rec_ring_init(&r, mem, 1536), REC_OK); /* not a power of two: fine */
    assert_int_equal(rec_ring_capacity(&r), 1536);
    assert_int_equal(rec_ring_used(&r), 0);
    const uint8_t *d;
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 8), 0);
    assert_int_equal(rec_ring_peek_bytes(&r, &d, 8), 0);
}

static void test_basic_and_partial(void **state)
{
    (void)state;
    static uint8_t mem[2048];
    rec_ring_t r;
    assert_int_equal(rec_ring_init(&r, mem, sizeof mem), REC_OK);
    int16_t s[1024];
    uint16_t next = 0, expect = 0;
    fill_ramp(s, 100, &next);
    rec_ring_push(&r, s, 100);
    assert_int_equal(rec_ring_used(&r), 200);
    assert_int_equal(rec_ring_pushed(&r), 100);
    const uint8_t *d;
    assert_int_equal(rec_ring_blocks_ready(&r), 0);
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 4), 0);
    assert_int_equal(rec_ring_peek_bytes(&r, &d, 1000), 200);
    check_ramp(d, 200, &expect);
    rec_ring_release_bytes(&r, 200);
    assert_int_equal(rec_ring_used(&r), 0);
    /* push 0 samples is a no-op */
    rec_ring_push(&r, s, 0);
    assert_int_equal(rec_ring_used(&r), 0);
    assert_int_equal(rec_ring_overruns(&r), 0);
}

/* 4-block ring; the read position is moved so that the data wraps. */
static void test_wrap_and_peek_across(void **state)
{
    (void)state;
    static uint8_t mem[4 * 512];
    rec_ring_t r;
    assert_int_equal(rec_ring_init(&r, mem, sizeof mem), REC_OK);
    int16_t s[2048];
    uint16_t next = 0, expect = 0;
    const uint8_t *d;

    fill_ramp(s, 3 * 256, &next);
    rec_ring_push(&r, s, 3 * 256); /* blocks 0,1,2 */
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 2), 2);
    assert_ptr_equal(d, mem);
    check_ramp(d, 1024, &expect);
    rec_ring_release_blocks(&r, 2); /* left: block 2 */

    fill_ramp(s, 3 * 256, &next);
    rec_ring_push(&r, s, 3 * 256); /* blocks 3, then wrap: 0, 1 */
    assert_int_equal(rec_ring_used(&r), 4 * 512);
    assert_int_equal(rec_ring_blocks_ready(&r), 4);
    assert_int_equal(rec_ring_overruns(&r), 0);
    /* contiguous from block 2: blocks 2 and 3 only */
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 100), 2);
    assert_ptr_equal(d, mem + 1024);
    check_ramp(d, 1024, &expect);
    rec_ring_release_blocks(&r, 2);
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 100), 2);
    assert_ptr_equal(d, mem);
    check_ramp(d, 1024, &expect);
    rec_ring_release_blocks(&r, 2);
    assert_int_equal(rec_ring_used(&r), 0);

    /* Unaligned read position (after a partial release), peeks still stop at the storage end. */
    fill_ramp(s, 300, &next);
    rec_ring_push(&r, s, 300); /* bytes 1024..1624 of storage */
    assert_int_equal(rec_ring_peek_bytes(&r, &d, 100), 100);
    check_ramp(d, 100, &expect);
    rec_ring_release_bytes(&r, 100);
    fill_ramp(s, 1000, &next);
    rec_ring_push(&r, s, 1000); /* total 500+2000 > 2048: 226 samples dropped */
    assert_int_equal(rec_ring_used(&r), 2048);
    assert_int_equal(rec_ring_overruns(&r), 1000 - (2048 - 500) / 2);
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 100), (2048 - 1124) / 512); /* 1 whole block before the end */
    assert_int_equal(rec_ring_peek_bytes(&r, &d, 100000), 2048 - 1124);
    check_ramp(d, 2048 - 1124, &expect);
    rec_ring_release_bytes(&r, 2048 - 1124);
    assert_int_equal(rec_ring_peek_bytes(&r, &d, 100000), 1124);
    assert_ptr_equal(d, mem);
    check_ramp(d, 1124, &expect);
    /* next expected sample is the first one that was dropped */
    assert_int_equal((uint16_t)(expect + (1000 - 774)), next);
}

static void test_overrun_exact(void **state)
{
    (void)state;
    static uint8_t mem[1024]; /* 512 samples */
    rec_ring_t r;
    assert_int_equal(rec_ring_init(&r, mem, sizeof mem), REC_OK);
    int16_t s[600];
    uint16_t next = 0, expect = 0;
    const uint8_t *d;

    fill_ramp(s, 300, &next);
    rec_ring_push(&r, s, 300);
    fill_ramp(s, 300, &next);
    rec_ring_push(&r, s, 300); /* 212 fit, 88 dropped */
    assert_int_equal(rec_ring_overruns(&r), 88);
    assert_int_equal(rec_ring_pushed(&r), 512);
    rec_ring_push(&r, s, 10); /* all dropped */
    assert_int_equal(rec_ring_overruns(&r), 98);
    assert_int_equal(rec_ring_high_water(&r), 1024);
    /* Unconsumed audio was never overwritten: the ring holds samples 0..511 */
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 1), 1);
    check_ramp(d, 512, &expect);
    rec_ring_release_blocks(&r, 1);
    uint16_t n2 = 1000;
    fill_ramp(s, 300, &n2);
    rec_ring_push(&r, s, 300); /* 256 fit, 44 dropped */
    assert_int_equal(rec_ring_overruns(&r), 142);
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 4), 1);
    check_ramp(d, 512, &expect); /* samples 256..511 */
    rec_ring_release_blocks(&r, 1);
    assert_int_equal(rec_ring_peek_blocks(&r, &d, 4), 1);
    expect = 1000;
    check_ramp(d, 512, &expect);
    rec_ring_release_blocks(&r, 1);

    rec_ring_reset_overruns(&r);
    assert_int_equal(rec_ring_overruns(&r), 0);
    rec_ring_push(&r, s, 600);
    assert_int_equal(rec_ring_overruns(&r), 88);

    /* high water: reset takes effect, then follows the next push */
    rec_ring_reset_high_water(&r);
    assert_int_equal(rec_ring_high_water(&r), 0);
    rec_ring_push(&r, s, 1);
    assert_int_equal(rec_ring_high_water(&r), 1024);
    rec_ring_release_blocks(&r, 2);
    rec_ring_reset_high_water(&r);
    rec_ring_push(&r, s, 7);
    assert_int_equal(rec_ring_high_water(&r), 14);

    rec_ring_reset(&r);
    assert_int_equal(rec_ring_used(&r), 0);
    assert_int_equal(rec_ring_overruns(&r), 0);
    assert_int_equal(rec_ring_high_water(&r), 0);
    assert_int_equal(rec_ring_pushed(&r), 0);
}

static void test_overrun_counter_wraps(void **state)
{
    (void)state;
    static uint8_t mem[1024];
    rec_ring_t r;
    assert_int_equal(rec_ring_init(&r, mem, sizeof mem), REC_OK);
    atomic_store(&r.overruns, UINT32_MAX - 5u);
    rec_ring_reset_overruns(&r);
    int16_t s[600] = {0};
    rec_ring_push(&r, s, 522); /* 10 dropped, the producer counter wraps */
    assert_int_equal(rec_ring_overruns(&r), 10);
}

/* ---- Two threads ------------------------------------------------------------------------------ */

typedef struct {
    rec_ring_t *ring;
    uint32_t total;        /* samples to produce */
    bool throttle;         /* wait for space instead of overrunning */
    atomic_bool done;
} producer_t;

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    int16_t s[128];
    uint16_t next = 0;
    uint32_t sent = 0, seed = 12345;
    uint32_t run_dropped = 0;
    while (sent < p->total) {
        seed = seed * 1103515245u + 12345u;
        uint32_t n = 1u + (seed >> 16) % 97u;
        if (n > p->total - sent) {
            n = p->total - sent;
        }
        const uint32_t free_samples = (rec_ring_capacity(p->ring) - rec_ring_used(p->ring)) / 2u;
        if (p->throttle || run_dropped > 20000) {
            /* keep gaps well below 2^16 so the consumer can measure them with a 16-bit ramp */
            while ((rec_ring_capacity(p->ring) - rec_ring_used(p->ring)) / 2u < n) {
                sched_yield();
            }
            run_dropped = 0;
        } else if (free_samples < n) {
            run_dropped += n - free_samples;
        } else {
            run_dropped = 0;
        }
        fill_ramp(s, n, &next);
        rec_ring_push(p->ring, s, n);
        sent += n;
        if ((seed & 0x3f) == 0) {
            sched_yield();
        }
    }
    p->done = true;
    return NULL;
}

static void run_stress(uint32_t ring_bytes, uint32_t total, bool throttle, bool slow_consumer)
{
    static uint8_t mem[65536];
    rec_ring_t r;
    assert_true(ring_bytes <= sizeof mem);
    assert_int_equal(rec_ring_init(&r, mem, ring_bytes), REC_OK);
    producer_t p = {.ring = &r, .total = total, .throttle = throttle};
    atomic_init(&p.done, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer_main, &p), 0);

    uint16_t expect = 0;
    uint64_t received = 0, gaps = 0;
    uint32_t iter = 0;
    for (;;) {
        const bool finished = p.done; /* read before draining, so nothing is missed */
        const uint8_t *d;
        uint32_t n = rec_ring_peek_blocks(&r, &d, 1u + iter % 8u);
        uint32_t bytes = n * 512u;
        if (n == 0 && finished) {
            bytes = rec_ring_peek_bytes(&r, &d, UINT32_MAX);
            if (bytes == 0) {
                break;
            }
        }
        for (uint32_t i = 0; i < bytes; i += 2) {
            const uint16_t v = (uint16_t)(d[i] | (d[i + 1] << 8));
            const uint16_t gap = (uint16_t)(v - expect);
            gaps += gap;
            if (throttle && gap != 0) {
                fail_msg("sample %llu: got %u expected %u", (unsigned long long)received, v, expect);
            }
            expect = (uint16_t)(v + 1u);
            received++;
        }
        if (bytes) {
            rec_ring_release_bytes(&r, bytes);
        }
        iter++;
        if (slow_consumer && iter % 4 == 0) {
            for (volatile int k = 0; k < 20000; k++) {
            }
        }
        if (bytes == 0) {
            sched_yield();
        }
    }
    pthread_join(th, NULL);
    const uint32_t overruns = rec_ring_overruns(&r);
    /* Every produced sample was either received exactly once, in order, or counted as dropped. */
    assert_int_equal(received + overruns, total);
    /* Drops at the very end of the stream leave no visible gap; all others do. */
    const uint16_t trailing = (uint16_t)((uint16_t)total - expect);
    assert_int_equal(gaps + trailing, overruns);
    assert_int_equal(rec_ring_used(&r), 0);
    assert_true(rec_ring_high_water(&r) <= ring_bytes);
    if (throttle) {
        assert_int_equal(overruns, 0);
    } else {
        print_message("stress ring=%u: %u of %u samples dropped, high water %u\n", ring_bytes, overruns, total,
                      rec_ring_high_water(&r));
    }
}

static void test_stress_lossless(void **state)
{
    (void)state;
    run_stress(4096, 3000000, true, false);
}

static void test_stress_overruns(void **state)
{
    (void)state;
    run_stress(2048, 3000000, false, true);
}

static void test_stress_large_ring(void **state)
{
    (void)state;
    run_stress(65536, 3000000, false, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_limits),
        cmocka_unit_test(test_basic_and_partial),
        cmocka_unit_test(test_wrap_and_peek_across),
        cmocka_unit_test(test_overrun_exact),
        cmocka_unit_test(test_overrun_counter_wraps),
        cmocka_unit_test(test_stress_lossless),
        cmocka_unit_test(test_stress_overruns),
        cmocka_unit_test(test_stress_large_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
