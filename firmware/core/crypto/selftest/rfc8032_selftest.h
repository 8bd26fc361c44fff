/* Shared by the bare-metal self-tests (ed25519_selftest_qemu.c, ed25519_selftest_rp2040.c): the
 * RFC 8032 vector check (keypair from seed, sign, verify, and a tampered signature rejected) and
 * decimal printing. Included once by each, after ed25519_vectors.h. */
#ifndef REC_RFC8032_SELFTEST_H
#define REC_RFC8032_SELFTEST_H

#include <stdint.h>
#include <string.h>

#include "rec/ed25519.h"

/* Each self-test defines how text reaches the host (semihosting, the emulator's breakpoint). */
static void put(const char *s);

static void put_uint(uint32_t v)
{
    char buf[11];
    char *p = buf + sizeof buf - 1;
    *p = 0;
    do {
        *--p = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    put(p);
}

static size_t from_hex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = strlen(hex) / 2;
    if (n > max) return SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        uint8_t byte = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            byte = (uint8_t)(byte << 4 | (c <= '9' ? c - '0' : c - 'a' + 10));
        }
        out[i] = byte;
    }
    return n;
}

static int run_vector(const rfc8032_vector_t *t)
{
    static uint8_t msg[1024];
    uint8_t seed[32], pub[32], want_sig[64], sig[64];
    rec_ed25519_keypair_t key;
    size_t len = from_hex(t->message, msg, sizeof msg);
    if (len == SIZE_MAX || from_hex(t->seed, seed, 32) != 32 || from_hex(t->public_key, pub, 32) != 32 ||
        from_hex(t->signature, want_sig, 64) != 64) {
        return 0;
    }
    if (rec_ed25519_keypair_from_seed(&key, seed) != 0 || memcmp(key.public_key, pub, 32) != 0) return 0;
    if (rec_ed25519_sign(sig, msg, len, &key) != 0 || memcmp(sig, want_sig, 64) != 0) return 0;
    if (rec_ed25519_verify(sig, msg, len, pub) != 1) return 0;
    sig[33] ^= 0x04;
    if (rec_ed25519_verify(sig, msg, len, pub) != 0) return 0;
    rec_ed25519_wipe(&key);
    return 1;
}

#endif
