/* Shared by the bare-metal self-tests (ed25519_selftest_qemu.c, ed25519_selftest_rp2040.c): the
 * RFC 8032 vector check (keypair from seed, sign, verify, and a tampered signature rejected), the
 * timed runs the benchmarks read (with X25519 and ChaCha20-Poly1305, issue 13's encryption), and
 * decimal printing. Included once by each, after
 * ed25519_vectors.h. */
#ifndef REC_RFC8032_SELFTEST_H
#define REC_RFC8032_SELFTEST_H

#include <stdint.h>
#include <string.h>

#include "rec/chacha20poly1305.h"
#include "rec/ed25519.h"
#include "rec/sha256.h"
#include "rec/x25519.h"

/* Each self-test defines how text reaches the host (semihosting, the emulator's breakpoint) and
 * how a timed section is measured (rp2040js's cycle counter; SysTick on QEMU's instruction clock). */
static void put(const char *s);
static void timing_start(void);
static void timing_end(const char *name);

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

/* The timed runs, in this order (the runners and benchmarks read them by name): what the device
 * does at provisioning (keypair), per checkpoint slot (sign 448 bytes) and per recording (sign a
 * statement; hash the audio), and what a checker does (verify). Returns 1 when all results hold. */
static int run_timed(void)
{
    /* SHA-256 of the 4096 bytes (i * 11 + 3) mod 256, from node:crypto. */
    static const char hash_pattern_sha256[] = "9e148301bc6ff7c38ac4bd0d372c3e915c924e20efb2b8b08aafdaebaee020b2";
    /* Word-aligned, as the device's audio ring is (core/app/app.c): ChaCha20 XORs it by words. */
    _Alignas(4) static uint8_t data[4096];
    uint8_t seed[32], sig64[64], sig200[64], sig448[64], digest[32], want_digest[32];
    rec_ed25519_keypair_t key;
    rec_sha256_t h;
    for (size_t i = 0; i < sizeof seed; i++) seed[i] = (uint8_t)(0x9d ^ (i * 37u));
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 11u + 3u);

    timing_start();
    int ok = rec_ed25519_keypair_from_seed(&key, seed) == 0;
    timing_end("keypair from seed");
    timing_start();
    ok &= rec_ed25519_sign(sig64, data, 64, &key) == 0;
    timing_end("sign, 64-byte message");
    timing_start();
    ok &= rec_ed25519_sign(sig200, data, 200, &key) == 0;
    timing_end("sign, 200-byte statement");
    timing_start();
    ok &= rec_ed25519_verify(sig64, data, 64, key.public_key) == 1;
    timing_end("verify, 64-byte message");
    timing_start();
    ok &= rec_ed25519_verify(sig200, data, 200, key.public_key) == 1;
    timing_end("verify, 200-byte statement");
    timing_start();
    ok &= rec_ed25519_sign(sig448, data, 448, &key) == 0;
    timing_end("sign, 448-byte checkpoint slot");
    timing_start();
    rec_sha256_init(&h);
    rec_sha256_update(&h, data, sizeof data);
    rec_sha256_final(&h, digest);
    timing_end("SHA-256, 4096 bytes");

    /* Encryption (issue 13): the two X25519 of a recording's start (the ephemeral share and the
     * shared secret), and ChaCha20-Poly1305 over 4 KiB (each audio byte is encrypted once). */
    uint8_t share[32], shared[32], tag[16];
    timing_start();
    ok &= rec_x25519_base(share, seed) == 0;
    timing_end("X25519, one scalar multiplication");
    timing_start();
    rec_chacha20poly1305_t aead;
    ok &= rec_chacha20poly1305_init(&aead, digest, seed, NULL, 0) == 0;
    ok &= rec_chacha20poly1305_encrypt(&aead, data, data, sizeof data) == 0;
    ok &= rec_chacha20poly1305_encrypt_final(&aead, tag) == 0;
    timing_end("ChaCha20-Poly1305, 4096 bytes");
    /* The ciphertext (through its SHA-256) and the tag, from node:crypto, so that the code as this
     * build compiled it (-O2 on the M0+, its __aeabi_lmul) is checked on the core itself. */
    static const char aead_ciphertext_sha256[] = "97f27974fb00526e318dfc27426a6a90b54e771f80ab15678a94b97f0d31b163";
    static const char aead_tag[] = "5da6420e9c6d1052bb3219f30d274bc3";
    uint8_t ct_digest[32], want_ct_digest[32], want_tag[16];
    rec_sha256(data, sizeof data, ct_digest);
    ok &= from_hex(aead_ciphertext_sha256, want_ct_digest, sizeof want_ct_digest) == 32 && memcmp(ct_digest, want_ct_digest, 32) == 0;
    ok &= from_hex(aead_tag, want_tag, sizeof want_tag) == 16 && memcmp(tag, want_tag, 16) == 0;
    /* RFC 7748 6.1 only in its shape here: the two public keys agree on one secret. */
    uint8_t other[32], other_pub[32], shared2[32];
    for (size_t i = 0; i < sizeof other; i++) other[i] = (uint8_t)(0x5a ^ (i * 29u));
    ok &= rec_x25519_base(other_pub, other) == 0;
    ok &= rec_x25519(shared, seed, other_pub) == 0 && rec_x25519(shared2, other, share) == 0 && memcmp(shared, shared2, 32) == 0;
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 11u + 3u); /* encrypted in place above */

    ok &= rec_ed25519_verify(sig448, data, 448, key.public_key) == 1;
    sig200[0] ^= 1;
    ok &= rec_ed25519_verify(sig200, data, 200, key.public_key) == 0;
    ok &= from_hex(hash_pattern_sha256, want_digest, sizeof want_digest) == 32 && memcmp(digest, want_digest, 32) == 0;
    rec_ed25519_wipe(&key);
    return ok;
}

#endif
