/* Fixed-base scalar multiplication h = a * B for orlp/ed25519 (ed25519_base.c; README.md in this
 * folder). Internal to the crypto component and its tests; a is 32 bytes little-endian with
 * a[31] <= 127 (a clamped scalar or one reduced mod L), as orlp's ge_scalarmult_base requires. */
#ifndef REC_ED25519_BASE_H
#define REC_ED25519_BASE_H

#include "ge.h"

/* Ours: orlp's group operations over a 960-byte table, constant time. */
void rec_ge_scalarmult_base_compact(ge_p3 *h, const unsigned char *a);
/* orlp's own (ge.c, renamed by crypto.cmake): its 30 KiB table. */
void orlp_ge_scalarmult_base(ge_p3 *h, const unsigned char *a);

#endif
