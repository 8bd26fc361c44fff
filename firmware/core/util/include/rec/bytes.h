/* Little-endian load and store helpers for wire and on-card structures. They work on any
 * alignment (byte by byte), so they are safe on Cortex-M0 and for packed buffers. */
#ifndef REC_BYTES_H
#define REC_BYTES_H

#include <stdint.h>

static inline uint16_t rec_get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

static inline uint32_t rec_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t rec_get_u64(const uint8_t *p)
{
    return (uint64_t)rec_get_u32(p) | ((uint64_t)rec_get_u32(p + 4) << 32);
}

static inline int64_t rec_get_i64(const uint8_t *p)
{
    return (int64_t)rec_get_u64(p); /* two's complement, as on every supported target */
}

static inline void rec_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void rec_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void rec_put_u64(uint8_t *p, uint64_t v)
{
    rec_put_u32(p, (uint32_t)v);
    rec_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline void rec_put_i64(uint8_t *p, int64_t v)
{
    rec_put_u64(p, (uint64_t)v);
}

/* Big-endian (SD card commands and registers). */
static inline uint32_t rec_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void rec_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
