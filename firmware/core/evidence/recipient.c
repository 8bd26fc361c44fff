/* The owner's age recipient in NVM sectors 4 and 5: rec/recipient.h. */
#include "rec/recipient.h"

#include <string.h>

#include "rec/err.h"
#include "rec/frame.h"
#include "rec/hmac_sha256.h"
#include "rec/x25519.h"
#include "rec/encrypted.h"

#define RECORD RP_NVM_RECIPIENT_SIZE
#define RECIPIENT_VERSION 1u

static void pack(uint8_t raw[RECORD], const uint8_t *key)
{
    rp_nvm_recipient_t v;
    memset(&v, 0, sizeof v);
    memcpy(v.magic, RP_CARD_NVM_RECIPIENT_MAGIC, 4);
    v.version = RECIPIENT_VERSION;
    v.size = RECORD;
    v.flags = key ? RP_RECIPIENT_FLAG_SET : 0u;
    if (key) memcpy(v.recipient, key, REC_RECIPIENT_SIZE);
    memset(v.reserved, 0xFF, sizeof v.reserved);
    rp_nvm_recipient_pack(&v, raw);
    v.crc32 = rec_crc32(0, raw, RP_NVM_RECIPIENT_OFF_CRC32);
    rp_nvm_recipient_pack(&v, raw);
}

static bool parse(const uint8_t raw[RECORD], rp_nvm_recipient_t *v)
{
    rp_nvm_recipient_unpack(raw, v);
    return memcmp(v->magic, RP_CARD_NVM_RECIPIENT_MAGIC, 4) == 0 && v->version == RECIPIENT_VERSION &&
           v->size == RECORD && v->crc32 == rec_crc32(0, raw, RP_NVM_RECIPIENT_OFF_CRC32);
}

bool rec_recipient_acceptable(const uint8_t key[REC_RECIPIENT_SIZE])
{
    if (!REC_ENCRYPTION) return false; /* this build cannot encrypt: nothing to set */
    /* A clamped scalar is a multiple of the cofactor 8, so any scalar shows small order. */
    static const uint8_t probe[REC_X25519_SIZE] = {1};
    uint8_t out[REC_X25519_SIZE];
    const int err = rec_x25519(out, probe, key);
    rec_crypto_wipe(out, sizeof out);
    return err == REC_OK;
}

int rec_recipient_boot(rec_recipient_t *r, rec_nvm_t *nvm)
{
    if (!r || !nvm) return REC_E_INVAL;
    memset(r, 0, sizeof *r);
    if (!nvm->present) return REC_E_UNSUPPORTED;
    uint8_t raw[2][RECORD];
    rp_nvm_recipient_t v[2];
    bool ok[2], blank[2];
    for (unsigned c = 0; c < 2; c++) {
        int err = rec_nvm_record_read(nvm, REC_NVM_SECTOR_RECIPIENT_A + c, raw[c], RECORD);
        if (err) return err;
        ok[c] = parse(raw[c], &v[c]);
        blank[c] = rec_nvm_blank(raw[c], RECORD);
    }
    const int use = ok[0] ? 0 : ok[1] ? 1 : -1;
    if (use < 0) {
        /* One copy blank, the other torn: the first SET ever was cut while A was written. */
        if (blank[0] || blank[1]) return REC_OK;
        r->damaged = true;
        return REC_E_CORRUPT;
    }
    r->set = REC_ENCRYPTION && (v[use].flags & RP_RECIPIENT_FLAG_SET) != 0;
    if (r->set) memcpy(r->key, v[use].recipient, REC_RECIPIENT_SIZE);
    const int other = 1 - use;
    if (memcmp(raw[0], raw[1], RECORD) != 0)
        return rec_nvm_record_write(nvm, REC_NVM_SECTOR_RECIPIENT_A + (uint32_t)other, raw[use], RECORD);
    return REC_OK;
}

int rec_recipient_store(rec_recipient_t *r, rec_nvm_t *nvm, const uint8_t key[REC_RECIPIENT_SIZE])
{
    if (!r || !nvm) return REC_E_INVAL;
    if (!REC_ENCRYPTION) return REC_E_UNSUPPORTED;
    if (key && !rec_recipient_acceptable(key)) return REC_E_INVAL;
    if (!nvm->present) return REC_E_UNSUPPORTED;
    uint8_t raw[RECORD];
    pack(raw, key);
    /* A first: from the moment A is valid it is what boot takes. */
    int err = rec_nvm_record_write(nvm, REC_NVM_SECTOR_RECIPIENT_A, raw, RECORD);
    if (err) return err;
    r->set = key != NULL;
    r->damaged = false;
    memset(r->key, 0, sizeof r->key);
    if (key) memcpy(r->key, key, REC_RECIPIENT_SIZE);
    return rec_nvm_record_write(nvm, REC_NVM_SECTOR_RECIPIENT_B, raw, RECORD);
}
