/* X25519 (rec/x25519.h): RFC 7748 section 5's ladder written from the RFC's pseudo-code, on
 * orlp's fe_* (ref10 field elements mod 2^255 - 19; fe_cswap swaps by masking). */
#include "rec/x25519.h"

#include <string.h>

#include "fe.h"
#include "rec/err.h"
#include "rec/hmac_sha256.h"

static void ladder(uint8_t out[REC_X25519_SIZE], const uint8_t scalar[REC_X25519_SIZE], const uint8_t u[REC_X25519_SIZE])
{
    uint8_t k[REC_X25519_SIZE];
    memcpy(k, scalar, sizeof k);
    k[0] &= 248;   /* decodeScalar25519 */
    k[31] &= 127;
    k[31] |= 64;

    fe x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb;
    fe_frombytes(x1, u);   /* ignores the top bit; arithmetic mod p reduces a non-canonical u */
    fe_1(x2);
    fe_0(z2);
    fe_copy(x3, x1);
    fe_1(z3);
    unsigned swap = 0;
    for (int t = 254; t >= 0; t--) {
        unsigned k_t = (k[t >> 3] >> (t & 7)) & 1u;
        swap ^= k_t;
        fe_cswap(x2, x3, swap);
        fe_cswap(z2, z3, swap);
        swap = k_t;
        fe_add(a, x2, z2);
        fe_sq(aa, a);
        fe_sub(b, x2, z2);
        fe_sq(bb, b);
        fe_sub(e, aa, bb);
        fe_add(c, x3, z3);
        fe_sub(d, x3, z3);
        fe_mul(da, d, a);
        fe_mul(cb, c, b);
        fe_add(x3, da, cb);
        fe_sq(x3, x3);
        fe_sub(z3, da, cb);
        fe_sq(z3, z3);
        fe_mul(z3, x1, z3);
        fe_mul(x2, aa, bb);
        /* z2 = E * (AA + a24 * E) with a24 = 121665, written as E * (BB + 121666 * E) since
         * AA = BB + E: orlp has a multiplication by 121666. */
        fe_mul121666(z2, e);
        fe_add(z2, bb, z2);
        fe_mul(z2, e, z2);
    }
    fe_cswap(x2, x3, swap);
    fe_cswap(z2, z3, swap);
    fe_invert(z2, z2);   /* z^(p-2); 0 for z = 0, giving the all-zero result of a small-order u */
    fe_mul(x2, x2, z2);
    fe_tobytes(out, x2);

    rec_crypto_wipe(k, sizeof k);
    rec_crypto_wipe(x2, sizeof x2);
    rec_crypto_wipe(z2, sizeof z2);
    rec_crypto_wipe(x3, sizeof x3);
    rec_crypto_wipe(z3, sizeof z3);
}

int rec_x25519(uint8_t out[REC_X25519_SIZE], const uint8_t scalar[REC_X25519_SIZE], const uint8_t u[REC_X25519_SIZE])
{
    if (out == NULL || scalar == NULL || u == NULL) return REC_E_INVAL;
    ladder(out, scalar, u);
    uint8_t any = 0;
    for (size_t i = 0; i < REC_X25519_SIZE; i++) any |= out[i];
    return any != 0 ? REC_OK : REC_E_INVAL;
}

int rec_x25519_base(uint8_t out[REC_X25519_SIZE], const uint8_t scalar[REC_X25519_SIZE])
{
    static const uint8_t base[REC_X25519_SIZE] = {9};
    if (out == NULL || scalar == NULL) return REC_E_INVAL;
    ladder(out, scalar, base);
    return REC_OK;
}
