/* The device key in RAM: derivation from the seed, the key id, signing (rec/identity.h). */
#include "rec/identity.h"

#include <string.h>

#include "rec/err.h"
#include "rec/frame.h"
#include "rec/port.h"
#include "rec/sha256.h"

int rec_identity_from_seed(rec_identity_t *id, const uint8_t seed[REC_ED25519_SEED_SIZE])
{
    if (!id || !seed) return REC_E_INVAL;
    int err = rec_ed25519_keypair_from_seed(&id->key, seed);
    if (err) return err;
    uint8_t digest[32];
    rec_sha256(id->key.public_key, REC_ED25519_PUBLIC_KEY_SIZE, digest);
    memcpy(id->key_id, digest, REC_KEY_ID_SIZE);
    id->has_key = true;
    id->damaged = false;
    return REC_OK;
}

int rec_identity_sign(const rec_identity_t *id, const void *msg, size_t len,
                      uint8_t sig[REC_ED25519_SIGNATURE_SIZE])
{
    if (!id || !sig || (!msg && len)) return REC_E_INVAL;
    if (!id->has_key) return REC_E_NOKEY;
    return rec_ed25519_sign(sig, msg, len, &id->key);
}

void rec_identity_clear(rec_identity_t *id)
{
    if (!id) return;
    rec_ed25519_wipe(&id->key);
    memset(id->key_id, 0, sizeof id->key_id);
    id->has_key = false;
}

/* ---- Lifecycle ---------------------------------------------------------------------------- */

#define NVM_IDENTITY_VERSION 1u
#define NVM_IDENTITY_FLAG_SIMULATED 0x1u
#define NVM_IDENTITY_FLAG_HOST_CONTRIBUTED 0x2u
static const char k_seed_domain[] = "ER-1 seed v1";

/* Most significant byte first: the order the flash chip sends its id in, and the order of the
 * device id's hex (INFO), so the uid people read is the same everywhere. */
static void fill_unique_id(rec_identity_t *id)
{
    uint64_t uid = 0;
    id->has_unique_id = port_unique_id(&uid) == REC_OK;
    for (unsigned i = 0; i < 8; i++) id->unique_id[i] = id->has_unique_id ? (uint8_t)(uid >> (8u * (7u - i))) : 0;
}

/* Checks one stored copy and loads its key into *out. */
static bool copy_valid(const uint8_t raw[RP_NVM_IDENTITY_SIZE], rec_identity_t *out, rp_nvm_identity_t *rec)
{
    rp_nvm_identity_unpack(raw, rec);
    bool ok = memcmp(rec->magic, RP_CARD_NVM_IDENTITY_MAGIC, 4) == 0 && rec->version == NVM_IDENTITY_VERSION &&
              rec->size == RP_NVM_IDENTITY_SIZE && rec->crc32 == rec_crc32(0, raw, RP_NVM_IDENTITY_OFF_CRC32);
    if (ok) ok = rec_identity_from_seed(out, rec->seed) == REC_OK;
    if (ok) ok = memcmp(out->key.public_key, rec->public_key, 32) == 0;
    if (!ok) rec_identity_clear(out);
    return ok;
}

int rec_identity_boot(rec_identity_t *id, rec_nvm_t *nvm)
{
    if (!id || !nvm) return REC_E_INVAL;
    rec_identity_clear(id);
    id->damaged = false;
    id->simulated = nvm->present && nvm->info.simulated;
    fill_unique_id(id);
    if (!nvm->present) return REC_E_UNSUPPORTED;
    uint8_t raw[2][RP_NVM_IDENTITY_SIZE];
    bool blank[2], valid[2] = { false, false };
    rp_nvm_identity_t rec;
    int err = REC_OK;
    for (unsigned c = 0; c < 2 && !err; c++) {
        err = rec_nvm_identity_read(nvm, c, raw[c]);
        if (err) break;
        blank[c] = rec_nvm_blank(raw[c], RP_NVM_IDENTITY_SIZE);
        if (!blank[c]) {
            rec_identity_t probe;
            memset(&probe, 0, sizeof probe);
            valid[c] = copy_valid(raw[c], &probe, &rec);
            rec_identity_clear(&probe);
        }
    }
    if (err) return err;
    if (!valid[0] && !valid[1]) {
        memset(raw, 0, sizeof raw);
        id->damaged = !(blank[0] && blank[1]);
        return id->damaged ? REC_E_CORRUPT : REC_OK;
    }
    const unsigned good = valid[0] ? 0u : 1u, other = 1u - good;
    (void)copy_valid(raw[good], id, &rec);
    id->entropy_source = rec.entropy_source;
    memset(&rec, 0, sizeof rec); /* the seed */
    if (memcmp(raw[good], raw[other], RP_NVM_IDENTITY_SIZE) != 0) {
        /* A cut between the two writes of PROVISION, or a worn copy: make them equal again. */
        if (rec_nvm_identity_write(nvm, other, raw[good]) != REC_OK) port_log("key copy repair failed");
        else port_log("key copy repaired");
    }
    memset(raw, 0, sizeof raw);
    return REC_OK;
}

bool rec_entropy_health(const uint8_t *pool, uint32_t len, rec_entropy_health_t *out)
{
    rec_entropy_health_t h = { 0, 0, 0, 0 };
    uint32_t run = 0;
    unsigned prev = 2;
    for (uint32_t i = 0; i < len; i++) {
        for (unsigned b = 0; b < 8; b++) {
            unsigned bit = (pool[i] >> b) & 1u;
            h.bits++;
            h.ones += bit;
            if (bit == prev) {
                run++;
            } else {
                if (prev != 2) h.transitions++;
                run = 1;
                prev = bit;
            }
            if (run > h.longest_run) h.longest_run = run;
        }
    }
    if (out) *out = h;
    return h.bits > 0 && h.longest_run < REC_ENTROPY_MAX_RUN && h.ones * 4u >= h.bits && h.ones * 4u <= h.bits * 3u &&
           h.transitions * 8u >= h.bits;
}

int rec_identity_provision(rec_identity_t *id, rec_nvm_t *nvm, const uint8_t host_random[32], bool force,
                           uint8_t *scratch, uint32_t scratch_bytes)
{
    if (!id || !nvm || !host_random || !scratch || scratch_bytes < REC_ENTROPY_POOL_MAX) return REC_E_INVAL;
    if (!nvm->present) return REC_E_UNSUPPORTED;
    if ((id->has_key || id->damaged) && !force) return REC_E_BUSY;
    /* The raw pool: 64 bytes from an OS-grade source; a ring oscillator gives 2048 bytes. */
    uint8_t source = RP_ENTROPY_NONE;
    uint32_t pool = REC_ENTROPY_POOL_OS;
    int err = port_entropy(scratch, pool, &source);
    if (!err && source == RP_ENTROPY_ROSC) {
        err = port_entropy(scratch + pool, REC_ENTROPY_POOL_MAX - pool, &source);
        pool = REC_ENTROPY_POOL_MAX;
    }
    if (err) return err;
    rec_entropy_health_t h;
    if (!rec_entropy_health(scratch, pool, &h)) {
        id->entropy_failed = true;
        memset(scratch, 0, pool);
        port_log("entropy failed its health checks: no key made");
        return REC_E_ENTROPY;
    }
    id->entropy_failed = false;
    rp_nvm_identity_t rec;
    memset(&rec, 0, sizeof rec);
    rec_sha256_t sh;
    rec_sha256_init(&sh);
    rec_sha256_update(&sh, k_seed_domain, sizeof k_seed_domain - 1u);
    rec_sha256_update(&sh, scratch, pool);
    rec_sha256_update(&sh, host_random, 32);
    fill_unique_id(id);
    if (id->has_unique_id) rec_sha256_update(&sh, id->unique_id, 8);
    uint64_t up = port_uptime_ms();
    uint8_t up_le[8];
    for (unsigned i = 0; i < 8; i++) up_le[i] = (uint8_t)(up >> (8u * i));
    rec_sha256_update(&sh, up_le, 8);
    rec_sha256_final(&sh, rec.seed);
    memset(&sh, 0, sizeof sh);
    memset(scratch, 0, pool);

    rec_identity_t made;
    memset(&made, 0, sizeof made);
    err = rec_identity_from_seed(&made, rec.seed);
    if (err) return err;
    memcpy(rec.magic, RP_CARD_NVM_IDENTITY_MAGIC, 4);
    rec.version = NVM_IDENTITY_VERSION;
    rec.size = RP_NVM_IDENTITY_SIZE;
    rec.flags = NVM_IDENTITY_FLAG_HOST_CONTRIBUTED | (nvm->info.simulated ? NVM_IDENTITY_FLAG_SIMULATED : 0u);
    rec.entropy_source = source;
    rec.raw_bits = h.bits;
    rec.ones = h.ones;
    rec.longest_run = h.longest_run;
    rec.transitions = h.transitions;
    memcpy(rec.public_key, made.key.public_key, 32);
    memcpy(rec.unique_id, id->unique_id, 8);
    memcpy(rec.key_id, made.key_id, REC_KEY_ID_SIZE);
    memset(rec.reserved0, 0xFF, sizeof rec.reserved0);
    memset(rec.reserved1, 0xFF, sizeof rec.reserved1);
    uint8_t raw[RP_NVM_IDENTITY_SIZE];
    rp_nvm_identity_pack(&rec, raw);
    rec.crc32 = rec_crc32(0, raw, RP_NVM_IDENTITY_OFF_CRC32);
    rp_nvm_identity_pack(&rec, raw);
    memset(&rec, 0, sizeof rec);
    /* A then B: a cut between them leaves A new and B old; boot takes A and repairs B. */
    err = rec_nvm_identity_write(nvm, 0, raw);
    if (!err) err = rec_nvm_identity_write(nvm, 1, raw);
    memset(raw, 0, sizeof raw);
    if (err) {
        rec_identity_clear(&made);
        return err;
    }
    rec_identity_clear(id);
    const bool uid = id->has_unique_id;
    uint8_t uid_bytes[8];
    memcpy(uid_bytes, id->unique_id, 8);
    *id = made;
    memset(&made, 0, sizeof made);
    id->has_unique_id = uid;
    memcpy(id->unique_id, uid_bytes, 8);
    id->simulated = nvm->info.simulated;
    id->entropy_source = source;
    id->damaged = false;
    id->entropy_failed = false;
    return REC_OK;
}
