/* Append-only, hash-chained journal of recordings: see journal.h for what open decides. */
#include "rec/journal.h"

#include <string.h>

#include "rec/bytes.h"
#include "rec/err.h"
#include "rec/sha256.h"

#define REC_SIZE REC_JOURNAL_RECORD_SIZE

static const uint8_t k_zero_hash[32];

void rec_journal_encode(const rec_journal_record_t *r, uint8_t out[REC_SIZE])
{
    rec_journal_record_t v = *r;
    memcpy(v.magic, RP_CARD_JOURNAL_MAGIC, sizeof v.magic);
    v.version = RP_CARD_JOURNAL_RECORD_VERSION;
    v.size = RP_JOURNAL_RECORD_SIZE;
    rp_journal_record_pack(&v, out);
}

int rec_journal_decode(const uint8_t in[REC_SIZE], rec_journal_record_t *out)
{
    rec_journal_record_t r;
    rp_journal_record_unpack(in, &r);
    if (memcmp(r.magic, RP_CARD_JOURNAL_MAGIC, sizeof r.magic) != 0 || r.version != RP_CARD_JOURNAL_RECORD_VERSION ||
        r.size != RP_JOURNAL_RECORD_SIZE) {
        return REC_E_CORRUPT;
    }
    *out = r;
    return REC_OK;
}

void rec_journal_hash(const uint8_t rec[REC_SIZE], uint8_t out[32])
{
    rec_sha256(rec, REC_SIZE, out);
}

int rec_journal_check_link(const uint8_t rec[REC_SIZE], uint32_t index, const uint8_t prev_hash[32])
{
    rec_journal_record_t r;
    if (rec_journal_decode(rec, &r) != REC_OK || r.index != index) {
        return REC_E_CORRUPT;
    }
    if (memcmp(r.prev_hash, prev_hash, 32) != 0) {
        return REC_E_MISMATCH;
    }
    return REC_OK;
}

/* ---- File ------------------------------------------------------------------------------------- */

static int read_slot(rec_journal_t *j, uint32_t index, uint8_t buf[REC_SIZE])
{
    int err = rec_fat_seek(j->fs, &j->file, index * REC_SIZE);
    if (err) {
        return err;
    }
    const int32_t n = rec_fat_read(j->fs, &j->file, buf, REC_SIZE);
    if (n < 0) {
        return (int)n;
    }
    return n == (int32_t)REC_SIZE ? REC_OK : REC_E_CORRUPT;
}

/* The file holds at most this many whole records (offsets stay within uint32_t). */
#define MAX_SLOTS (UINT32_MAX / REC_SIZE)

static int scan(rec_journal_t *j)
{
    uint8_t buf[REC_SIZE];
    const uint32_t size = j->file.size;
    const uint32_t whole = size / REC_SIZE;

    j->count = 0;
    j->highest_number = 0;
    memset(j->last_hash, 0, sizeof j->last_hash);
    j->intact = true;
    j->break_index = REC_JOURNAL_NO_INDEX;
    j->torn_index = REC_JOURNAL_NO_INDEX;

    for (uint32_t i = 0; i < whole; i++) {
        int err = read_slot(j, i, buf);
        if (err) {
            return err;
        }
        if (rec_journal_check_link(buf, i, j->last_hash) != REC_OK) {
            if (j->intact && i == whole - 1u) {
                j->torn_index = i; /* power cut during the last append: ignored, overwritten next */
                break;
            }
            if (j->intact) {
                j->intact = false;
                j->break_index = i;
            }
        }
        rec_journal_record_t r;
        if (rec_journal_decode(buf, &r) == REC_OK && rec_journal_kind_has_number(r.kind) && r.number > j->highest_number) {
            j->highest_number = r.number;
        }
        rec_journal_hash(buf, j->last_hash);
        j->count = i + 1u;
    }
    j->torn_bytes = size - j->count * REC_SIZE;
    return REC_OK;
}

int rec_journal_open(rec_journal_t *j, rec_fat_t *fs)
{
    if (!j || !fs) {
        return REC_E_INVAL;
    }
    memset(j, 0, sizeof *j);
    j->fs = fs;
    int err = rec_fat_mkdir(fs, RP_CARD_SYSTEM_DIR);
    if (err && err != REC_E_EXIST) {
        return err;
    }
    err = rec_fat_open(fs, &j->file, REC_JOURNAL_PATH, REC_FAT_READ | REC_FAT_WRITE | REC_FAT_CREATE);
    if (err) {
        return err;
    }
    err = scan(j);
    if (err) {
        (void)rec_fat_close(fs, &j->file);
        return err;
    }
    j->open = true;
    return REC_OK;
}

int rec_journal_close(rec_journal_t *j)
{
    if (!j || !j->open) {
        return REC_E_INVAL;
    }
    j->open = false;
    return rec_fat_close(j->fs, &j->file);
}

bool rec_journal_kind_has_number(uint16_t kind)
{
    return kind == RP_JOURNAL_KIND_RECORDING || kind == RP_JOURNAL_KIND_FOUND_UNJOURNALED ||
           kind == RP_JOURNAL_KIND_NUMBER_SPENT;
}

bool rec_journal_kind_has_file(uint16_t kind)
{
    return kind == RP_JOURNAL_KIND_RECORDING || kind == RP_JOURNAL_KIND_FOUND_UNJOURNALED;
}

/* NVM state-log payloads of JOURNAL_HEAD and JOURNAL_PENDING: u32 epoch, u32 count or index,
 * the first 12 bytes of a record hash. */
void rec_journal_count_pack(uint32_t epoch, uint32_t count, const uint8_t hash[32], uint8_t out[REC_JOURNAL_COUNT_PAYLOAD])
{
    rec_put_u32(out, epoch);
    rec_put_u32(out + 4, count);
    if (hash) memcpy(out + 8, hash, 12);
    else memset(out + 8, 0, 12);
}

int rec_journal_append(rec_journal_t *j, rec_journal_record_t *rec)
{
    const bool numbered = rec && rec_journal_kind_has_number(rec->kind);
    if (!j || !j->open || !rec || (numbered && (rec->number == 0 || rec->number <= j->highest_number))) {
        return REC_E_INVAL;
    }
    if (j->count >= MAX_SLOTS) {
        return REC_E_TOOBIG;
    }
    uint8_t buf[REC_SIZE];
    rec->index = j->count;
    memcpy(rec->prev_hash, j->last_hash, 32);
    rec_journal_encode(rec, buf);
    uint8_t hash[32], count_payload[REC_JOURNAL_COUNT_PAYLOAD];
    rec_journal_hash(buf, hash);
    if (j->nvm) {
        /* The device's own count: PENDING before the card write, HEAD after its sync. A failed
         * NVM write does not stop the journal: the next mount then reports the mismatch. */
        rec_journal_count_pack(j->epoch, j->count, hash, count_payload);
        (void)rec_nvm_state_put(j->nvm, RP_NVM_STATE_JOURNAL_PENDING, count_payload, sizeof count_payload);
    }

    int err = rec_fat_seek(j->fs, &j->file, j->count * REC_SIZE);
    if (err) {
        return err;
    }
    const int32_t n = rec_fat_write(j->fs, &j->file, buf, REC_SIZE);
    if (n < 0) {
        return (int)n;
    }
    if (n != (int32_t)REC_SIZE) {
        return REC_E_IO;
    }
    /* Drop a torn tail beyond the new record. */
    err = rec_fat_set_size(j->fs, &j->file, (j->count + 1u) * REC_SIZE);
    if (err) {
        return err;
    }
    err = rec_fat_file_sync(j->fs, &j->file);
    if (err) {
        return err;
    }
    memcpy(j->last_hash, hash, 32);
    j->count++;
    if (numbered) j->highest_number = rec->number;
    if (j->nvm) {
        rec_journal_count_pack(j->epoch, j->count, hash, count_payload);
        (void)rec_nvm_state_put(j->nvm, RP_NVM_STATE_JOURNAL_HEAD, count_payload, sizeof count_payload);
    }
    j->torn_index = REC_JOURNAL_NO_INDEX;
    j->torn_bytes = 0;
    return REC_OK;
}

int rec_journal_read_raw(rec_journal_t *j, uint32_t index, uint8_t out[REC_SIZE])
{
    if (!j || !j->open || !out) {
        return REC_E_INVAL;
    }
    if (index >= j->count) {
        return REC_E_RANGE;
    }
    return read_slot(j, index, out);
}

int rec_journal_read(rec_journal_t *j, uint32_t index, rec_journal_record_t *out)
{
    uint8_t buf[REC_SIZE];
    int err = rec_journal_read_raw(j, index, buf);
    if (err) {
        return err;
    }
    return rec_journal_decode(buf, out);
}

int rec_journal_find_number(rec_journal_t *j, uint32_t number, rec_journal_record_t *out)
{
    if (!j || !j->open || !out) {
        return REC_E_INVAL;
    }
    uint8_t buf[REC_SIZE];
    for (uint32_t i = j->count; i-- > 0;) {
        int err = read_slot(j, i, buf);
        if (err) {
            return err;
        }
        rec_journal_record_t r;
        if (rec_journal_decode(buf, &r) == REC_OK && rec_journal_kind_has_file(r.kind) && r.number == number) {
            *out = r;
            return REC_OK;
        }
    }
    return REC_E_NOENT;
}

int rec_journal_markers(rec_journal_t *j, uint32_t number, uint32_t *offsets, uint32_t max, uint32_t *count)
{
    if (!j || !j->open || !offsets || !count) {
        return REC_E_INVAL;
    }
    *count = 0;
    uint8_t buf[REC_SIZE];
    /* Backwards to the record of an earlier number: a recording's markers come after it. */
    for (uint32_t i = j->count; i-- > 0;) {
        int err = read_slot(j, i, buf);
        if (err) {
            return err;
        }
        rec_journal_record_t r;
        if (rec_journal_decode(buf, &r) != REC_OK) {
            continue;
        }
        if (rec_journal_kind_has_number(r.kind) && r.number < number) {
            break;
        }
        if (r.kind == RP_JOURNAL_KIND_MARKER && r.number == number) {
            if (*count == max) { /* the oldest max are kept: drop the newest seen so far */
                memmove(offsets, offsets + 1, (max - 1u) * sizeof *offsets);
                (*count)--;
            }
            offsets[(*count)++] = r.sample_count;
        }
    }
    /* Found newest first: into the order they were taken. */
    for (uint32_t a = 0, b = *count; a + 1u < b; a++, b--) {
        uint32_t t = offsets[a];
        offsets[a] = offsets[b - 1u];
        offsets[b - 1u] = t;
    }
    return REC_OK;
}

int rec_journal_verify(rec_journal_t *j, uint32_t *bad_index)
{
    if (!j || !j->open) {
        return REC_E_INVAL;
    }
    uint8_t buf[REC_SIZE];
    uint8_t hash[32];
    memcpy(hash, k_zero_hash, 32);
    for (uint32_t i = 0; i < j->count; i++) {
        int err = read_slot(j, i, buf);
        if (err) {
            return err;
        }
        if (rec_journal_check_link(buf, i, hash) != REC_OK) {
            if (bad_index) {
                *bad_index = i;
            }
            return REC_E_CORRUPT;
        }
        rec_journal_hash(buf, hash);
    }
    if (bad_index) {
        *bad_index = REC_JOURNAL_NO_INDEX;
    }
    return memcmp(hash, j->last_hash, 32) == 0 ? REC_OK : REC_E_MISMATCH;
}
