/* SHA-256 per FIPS 180-4. Whole 64-byte blocks are compressed straight from the caller's buffer;
 * the message schedule is a rolling 16-word window to keep the stack small. */
#include "rec/sha256.h"

#include <string.h>

#include "rec/bytes.h"

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32u - n));
}

/* Compresses n consecutive 64-byte blocks. */
static void compress(uint32_t st[8], const uint8_t *p, size_t n)
{
    uint32_t w[16];
    while (n--) {
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
        uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
        for (unsigned i = 0; i < 64; i++) {
            uint32_t wi;
            if (i < 16) {
                wi = rec_get_be32(p + 4u * i);
            } else {
                uint32_t w15 = w[(i - 15u) & 15u], w2 = w[(i - 2u) & 15u];
                uint32_t s0 = ror(w15 ^ ror(w15, 11), 7) ^ (w15 >> 3);
                uint32_t s1 = ror(w2 ^ ror(w2, 2), 17) ^ (w2 >> 10);
                wi = w[i & 15u] + s0 + w[(i - 7u) & 15u] + s1;
            }
            w[i & 15u] = wi;
            /* FIPS 180-4's functions in forms with fewer operations (the M0+ rotates only by a
             * register and only in place): Sigma1 = ror(e ^ ror(e ^ ror(e, 14), 5), 6) is
             * ror(e, 6) ^ ror(e, 11) ^ ror(e, 25), Sigma0 and the schedule's sigmas likewise,
             * Ch = g ^ (e & (f ^ g)), Maj = b ^ ((a ^ b) & (b ^ c)). */
            uint32_t t1 = h + ror(e ^ ror(e ^ ror(e, 14), 5), 6) + (g ^ (e & (f ^ g))) + K[i] + wi;
            uint32_t t2 = ror(a ^ ror(a ^ ror(a, 9), 11), 2) + (b ^ ((a ^ b) & (b ^ c)));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        st[0] += a;
        st[1] += b;
        st[2] += c;
        st[3] += d;
        st[4] += e;
        st[5] += f;
        st[6] += g;
        st[7] += h;
        p += 64;
    }
}

void rec_sha256_init(rec_sha256_t *h)
{
    static const uint32_t iv[8] = {
        0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
    };
    memcpy(h->state, iv, sizeof iv);
    h->total = 0;
    h->buf_len = 0;
}

void rec_sha256_update(rec_sha256_t *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0) return;
    h->total += len;
    if (h->buf_len > 0) {
        size_t take = REC_SHA256_BLOCK_SIZE - h->buf_len;
        if (take > len) take = len;
        memcpy(h->buf + h->buf_len, p, take);
        h->buf_len += (uint32_t)take;
        p += take;
        len -= take;
        if (h->buf_len < REC_SHA256_BLOCK_SIZE) return;
        compress(h->state, h->buf, 1);
        h->buf_len = 0;
    }
    size_t blocks = len / REC_SHA256_BLOCK_SIZE;
    if (blocks > 0) {
        compress(h->state, p, blocks);
        p += blocks * REC_SHA256_BLOCK_SIZE;
        len -= blocks * REC_SHA256_BLOCK_SIZE;
    }
    if (len > 0) {
        memcpy(h->buf, p, len);
        h->buf_len = (uint32_t)len;
    }
}

void rec_sha256_final(rec_sha256_t *h, uint8_t digest[REC_SHA256_DIGEST_SIZE])
{
    uint64_t bits = h->total * 8u;
    uint32_t n = h->buf_len;
    h->buf[n++] = 0x80;
    if (n > 56) {
        memset(h->buf + n, 0, REC_SHA256_BLOCK_SIZE - n);
        compress(h->state, h->buf, 1);
        n = 0;
    }
    memset(h->buf + n, 0, 56 - n);
    rec_put_be32(h->buf + 56, (uint32_t)(bits >> 32));
    rec_put_be32(h->buf + 60, (uint32_t)bits);
    compress(h->state, h->buf, 1);
    for (unsigned i = 0; i < 8; i++) rec_put_be32(digest + 4 * i, h->state[i]);
    memset(h, 0, sizeof *h);
}

void rec_sha256(const void *data, size_t len, uint8_t digest[REC_SHA256_DIGEST_SIZE])
{
    rec_sha256_t h;
    rec_sha256_init(&h);
    rec_sha256_update(&h, data, len);
    rec_sha256_final(&h, digest);
}
