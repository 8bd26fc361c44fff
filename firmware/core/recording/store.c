#include "rec/store.h"

#include <string.h>

#include "rec/calendar.h"
#include "rec/frame.h"
#include "rec/err.h"
#include "rec/sha256.h"
#include "rec_codec.h"

#define RECORDS_DIR RP_CARD_RECORDINGS_DIR

uint8_t rec_store_card_state_for(int err)
{
    switch (err) {
    case REC_OK: return RP_CARD_STATE_OK;
    case REC_E_NOCARD: return RP_CARD_STATE_NONE;
    case REC_E_BADFS: return RP_CARD_STATE_UNFORMATTED;
    case REC_E_NOSPC: return RP_CARD_STATE_FULL;
    default: return RP_CARD_STATE_ERROR;
    }
}

int rec_store_path(uint32_t number, char out[REC_STORE_PATH_MAX])
{
    if (number == 0 || number > REC_STORE_MAX_NUMBER) return REC_E_RANGE;
    static const char prefix[] = RECORDS_DIR "/" RP_CARD_RECORDING_PREFIX;
    size_t n = sizeof prefix - 1;
    memcpy(out, prefix, n);
    uint32_t div = 10000;
    for (int i = 0; i < 5; i++) {
        out[n++] = (char)('0' + (number / div) % 10);
        div /= 10;
    }
    out[n++] = '.';
    memcpy(out + n, RP_CARD_RECORDING_EXT, sizeof RP_CARD_RECORDING_EXT);
    return REC_OK;
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* "RECnnnnn." followed by `ext` (case-insensitive). */
static bool parse_name_ext(const char *name, const char *ext, uint32_t *number)
{
    static const char prefix[] = RP_CARD_RECORDING_PREFIX;
    size_t p = sizeof prefix - 1;
    if (strlen(name) != p + 5 + 1 + strlen(ext) || name[p + 5] != '.') return false;
    for (size_t i = 0; i < p; i++)
        if (upper(name[i]) != prefix[i]) return false;
    uint32_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        char c = name[p + i];
        if (c < '0' || c > '9') return false;
        n = n * 10 + (uint32_t)(c - '0');
    }
    for (size_t i = 0; ext[i]; i++)
        if (upper(name[p + 6 + i]) != ext[i]) return false;
    if (n == 0) return false;
    *number = n;
    return true;
}

bool rec_store_parse_name(const char *name, uint32_t *number)
{
    return parse_name_ext(name, RP_CARD_RECORDING_EXT, number) || parse_name_ext(name, RP_CARD_ENCRYPTED_EXT, number);
}

bool rec_store_parse_hold_name(const char *name, uint32_t *number)
{
    return parse_name_ext(name, RP_CARD_HOLD_EXT, number);
}

int rec_store_path_ext(uint32_t number, const char *ext, char out[REC_STORE_PATH_MAX])
{
    int err = rec_store_path(number, out);
    if (err) return err;
    memcpy(out + strlen(out) - 3u, ext, 3);
    return REC_OK;
}

bool rec_store_exists(rec_store_t *st, uint32_t number, const char *ext)
{
    char path[REC_STORE_PATH_MAX];
    rec_fat_dirent_t de;
    return rec_store_path_ext(number, ext, path) == REC_OK && rec_fat_stat(&st->fs, path, &de) == REC_OK;
}

static int ensure_dir(rec_fat_t *fs, const char *path)
{
    int err = rec_fat_mkdir(fs, path);
    return err == REC_E_EXIST ? REC_OK : err;
}

/* Counts recordings and finds the highest number among the files. */
static int scan_records(rec_store_t *st)
{
    rec_fat_dir_t dir;
    rec_fat_dirent_t de;
    int err = rec_fat_opendir(&st->fs, &dir, RECORDS_DIR);
    if (err) return err;
    st->recording_count = 0;
    uint32_t highest = st->journal.highest_number;
    while ((err = rec_fat_readdir(&st->fs, &dir, &de)) == 1) {
        uint32_t n;
        if ((de.attr & 0x10u) || !rec_store_parse_name(de.name, &n)) continue;
        st->recording_count++;
        if (n > highest) highest = n;
    }
    st->highest_number = highest;
    return err < 0 ? err : REC_OK;
}

/* ---- the update marker ----
 * One block starting with a STATE_MARKER (protocol schema), the rest zero. Written in place (no
 * FAT change). */
#define STATE_DIRTY 0x01u

static int state_locate(rec_store_t *st)
{
    rec_fat_file_t f;
    st->state_lba = 0;
    int err = rec_fat_open(&st->fs, &f, REC_STORE_STATE_PATH, REC_FAT_READ);
    if (err) return err;
    if (f.first_cluster != 0 && f.size >= REC_BD_BLOCK_SIZE) err = rec_fat_file_lba(&st->fs, &f, 0, &st->state_lba);
    (void)rec_fat_close(&st->fs, &f);
    return err;
}

/* True when the marker exists, is intact and says clean. Reads only. */
static bool state_clean(rec_store_t *st)
{
    if (state_locate(st) != REC_OK || st->state_lba == 0) return false;
    if (rec_bd_read(st->bd, st->state_lba, st->block, 1) != REC_OK) return false;
    rp_state_marker_t m;
    rp_state_marker_unpack(st->block, &m);
    if (memcmp(m.magic, RP_CARD_STATE_MARKER_MAGIC, sizeof m.magic) != 0 || m.version != RP_CARD_STATE_MARKER_VERSION ||
        m.size != RP_STATE_MARKER_SIZE || m.crc32 != rec_crc32(0, st->block, RP_STATE_MARKER_OFF_CRC32))
        return false;
    st->state_seq = m.sequence;
    return (m.flags & STATE_DIRTY) == 0;
}

static int state_write(rec_store_t *st, bool dirty)
{
    if (st->state_lba == 0) return REC_OK; /* no marker yet: the next mount repairs anyway */
    uint8_t *b = st->block;
    memset(b, 0, REC_BD_BLOCK_SIZE);
    rp_state_marker_t m;
    memset(&m, 0, sizeof m);
    memcpy(m.magic, RP_CARD_STATE_MARKER_MAGIC, sizeof m.magic);
    m.version = RP_CARD_STATE_MARKER_VERSION;
    m.size = RP_STATE_MARKER_SIZE;
    m.sequence = ++st->state_seq;
    m.flags = dirty ? STATE_DIRTY : 0u;
    rp_state_marker_pack(&m, b);
    m.crc32 = rec_crc32(0, b, RP_STATE_MARKER_OFF_CRC32);
    rp_state_marker_pack(&m, b);
    int err = rec_bd_write(st->bd, st->state_lba, b, 1);
    return err ? err : rec_bd_sync(st->bd);
}

static int state_ensure(rec_store_t *st)
{
    if (state_locate(st) == REC_OK && st->state_lba != 0) return REC_OK;
    rec_fat_file_t f;
    int err = rec_fat_open(&st->fs, &f, REC_STORE_STATE_PATH, REC_FAT_READ | REC_FAT_WRITE | REC_FAT_CREATE);
    if (err) return err;
    memset(st->block, 0, sizeof st->block);
    int32_t put = rec_fat_write(&st->fs, &f, st->block, REC_BD_BLOCK_SIZE);
    err = put < 0 ? (int)put : rec_fat_file_sync(&st->fs, &f);
    (void)rec_fat_close(&st->fs, &f);
    return err ? err : state_locate(st);
}

int rec_store_begin_update(rec_store_t *st)
{
    return st->mounted ? state_write(st, true) : REC_E_NOCARD;
}

int rec_store_end_update(rec_store_t *st)
{
    if (!st->mounted) return REC_E_NOCARD;
    int err = rec_fat_sync(&st->fs);
    return err ? err : state_write(st, false);
}

void rec_store_set_time(rec_store_t *st, bool clock_set, int64_t unix_ms)
{
    if (!clock_set || unix_ms < 315532800000LL) return; /* before 1980: FAT cannot say it */
    int64_t secs = unix_ms / 1000;
    int64_t days = secs / 86400;
    uint32_t sod = (uint32_t)(secs % 86400);
    int64_t y;
    unsigned m, d;
    rec_civil_from_days(days, &y, &m, &d);
    if (y > 2107) return;
    uint16_t date = (uint16_t)(((uint32_t)(y - 1980) << 9) | (m << 5) | d);
    uint16_t time = (uint16_t)(((sod / 3600) << 11) | (((sod / 60) % 60) << 5) | ((sod % 60) / 2));
    rec_fat_set_time(&st->fs, date, time);
}

/* Makes the directories if missing, opens the journal and the update marker, counts the
 * recordings. `mend_journal` (the marker was not clean): the journal's chain is trimmed to its
 * size (a cut while the journal grew can leave it a cluster longer) and its entry written. */
static int open_files(rec_store_t *st, bool mend_journal)
{
    int err = ensure_dir(&st->fs, RECORDS_DIR);
    if (err == REC_OK) err = ensure_dir(&st->fs, RP_CARD_SYSTEM_DIR);
    if (err == REC_OK) err = rec_journal_open(&st->journal, &st->fs);
    if (err == REC_OK && mend_journal) err = rec_fat_trim(&st->fs, &st->journal.file);
    if (err == REC_OK && mend_journal) err = rec_fat_file_sync(&st->fs, &st->journal.file);
    if (err == REC_OK) err = state_ensure(st);
    if (err == REC_OK) err = scan_records(st);
    return err;
}

/* Who keeps clusters two chains share when the repair finds a cross-link (rec_fat_repair_preferring):
 * the recorder's folders, its journal and its update marker, before a recording (which, cut
 * short, is closed by recovery like one cut by a power loss; the journal, emptied, would be made
 * again without the chain of records that proves the recordings) and before a root chain that
 * runs into a folder. */
static bool path_is(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b; /* the device's C library has no strcmp */
}

static bool store_prefers(void *arg, const char *path, bool dir)
{
    (void)arg;
    if (dir) return path_is(path, RECORDS_DIR) || path_is(path, RP_CARD_SYSTEM_DIR);
    return path_is(path, REC_JOURNAL_PATH) || path_is(path, REC_STORE_STATE_PATH);
}

static int repair(rec_store_t *st, uint8_t *scratch, uint32_t scratch_bytes)
{
    return rec_fat_repair_preferring(&st->fs, scratch, scratch_bytes, store_prefers, NULL, &st->repair);
}

int rec_store_mount(rec_store_t *st, const rec_bd_t *bd, uint8_t *scratch, uint32_t scratch_bytes)
{
    memset(st, 0, sizeof *st);
    st->bd = bd;
    st->scratch = scratch;
    st->scratch_bytes = scratch_bytes;
    /* Mounting and repair run while no recording is in progress: the scratch is free. */
    int err = rec_fat_mount_lent(&st->fs, bd, scratch, scratch_bytes);
    bool clean = err == REC_OK && state_clean(st);
    /* No marker at all: a new or just formatted card, which no update of ours can have cut. */
    bool fresh = err == REC_OK && !clean && st->state_lba == 0;
    if (err == REC_OK && !clean) {
        /* An update was cut (or this card never had a marker): mend the FAT before writing. */
        err = repair(st, scratch, scratch_bytes);
        st->repaired = err == REC_OK && !fresh;
    }
    if (err == REC_OK) err = open_files(st, !clean);
    if (err == REC_OK && clean && st->highest_number > st->journal.highest_number) {
        /* A recording the journal does not have: cut by a power loss, and recovery is about to
         * write into its clusters. The marker was clean (no FAT update was cut), but loops and
         * cross-links are checked first so that those writes land in no other chain. */
        err = repair(st, scratch, scratch_bytes);
        const rec_fat_repair_report_t *rp = &st->repair;
        st->repaired = err == REC_OK && rp->fat_blocks_mirrored + rp->lost_clusters_freed + rp->loops_cut + rp->crosslinks_cut > 0;
        if (err == REC_OK && rp->loops_cut + rp->crosslinks_cut > 0) {
            /* The repair may have cut or emptied the journal's, the marker's or a directory's
             * chain: what was opened before it is stale (the journal's next append would write
             * into clusters another file now owns, and link them to the journal again). */
            (void)rec_journal_close(&st->journal); /* nothing written yet: no entry to sync */
            err = open_files(st, false);
        }
    }
    if (err == REC_OK) err = rec_fat_sync(&st->fs);
    st->mounted = err == REC_OK;
    if (err == REC_OK && !clean) err = state_write(st, false);
    st->card_state = rec_store_card_state_for(err);
    st->mounted = err == REC_OK;
    return err;
}

void rec_store_unmount(rec_store_t *st)
{
    if (st->mounted) {
        /* Best effort: the card may already be gone. */
        (void)rec_journal_close(&st->journal);
        (void)rec_fat_sync(&st->fs);
    }
    st->mounted = false;
}

void rec_store_space(rec_store_t *st, uint64_t *total, uint64_t *free_bytes)
{
    *total = 0;
    *free_bytes = 0;
    if (st->mounted) (void)rec_fat_statfs(&st->fs, total, free_bytes);
}

/* Reads `len` bytes at `offset` of an open file. */
static int read_at(rec_store_t *st, rec_fat_file_t *f, uint32_t offset, void *buf, uint32_t len)
{
    int err = rec_fat_seek(&st->fs, f, offset);
    if (err) return err;
    int32_t got = rec_fat_read(&st->fs, f, buf, len);
    if (got < 0) return (int)got;
    return (uint32_t)got == len ? REC_OK : REC_E_CORRUPT;
}

static int write_at(rec_store_t *st, rec_fat_file_t *f, uint32_t offset, const void *buf, uint32_t len)
{
    int err = rec_fat_seek(&st->fs, f, offset);
    if (err) return err;
    int32_t put = rec_fat_write(&st->fs, f, buf, len);
    if (put < 0) return (int)put;
    return (uint32_t)put == len ? REC_OK : REC_E_IO;
}

/* Reads header and evid of an open recording file into out (size and name already set). */
static int inspect(rec_store_t *st, rec_fat_file_t *f, rec_recording_t *out)
{
    out->header_valid = false;
    out->finished = false;
    if (out->size < REC_WAV_HEADER_SIZE) return REC_OK;
    uint8_t *hdr = st->header;
    int err = read_at(st, f, 0, hdr, REC_WAV_HEADER_SIZE);
    if (err) return err == REC_E_CORRUPT ? REC_OK : err;
    if (rec_wav_parse_header(hdr, REC_WAV_HEADER_SIZE, &out->header) != REC_OK) return REC_OK;
    out->header_valid = true;
    if (!out->header.riff_has_evid) return REC_OK;
    /* The evid chunk ends the tail (after the markers, if any). */
    uint32_t evid_at = REC_WAV_HEADER_SIZE + out->header.data_size + out->header.tail_bytes - REC_WAV_EVID_CHUNK_BYTES;
    if (evid_at > out->size || out->size - evid_at < REC_WAV_EVID_CHUNK_BYTES) return REC_OK;
    uint8_t ev[REC_WAV_EVID_CHUNK_BYTES];
    err = read_at(st, f, evid_at, ev, sizeof ev);
    if (err) return err == REC_E_CORRUPT ? REC_OK : err;
    if (rec_wav_parse_evid(ev, sizeof ev, &out->evid) == REC_OK && out->evid.number == out->number &&
        (uint64_t)out->evid.sample_count * 2u == out->header.data_size)
        out->finished = true;
    return REC_OK;
}

/* An encrypted recording: the device cannot read its header (it may no longer hold the key), so
 * it is finished when its hold file is gone and the journal has its record, which gives the
 * fields the evid chunk holds. */
static void inspect_encrypted(rec_store_t *st, rec_recording_t *out)
{
    out->encrypted = true;
    if (rec_store_exists(st, out->number, RP_CARD_HOLD_EXT)) return;
    rec_journal_record_t jr;
    if (rec_journal_find_number(&st->journal, out->number, &jr) != REC_OK || !rec_journal_kind_has_file(jr.kind)) return;
    out->finished = true;
    out->evid.number = jr.number;
    out->evid.sample_rate = jr.sample_rate;
    out->evid.sample_count = jr.sample_count;
    out->evid.start_unix_ms = jr.start_unix_ms;
    out->evid.stop_reason = jr.stop_reason;
    out->evid.flags = jr.flags;
    out->evid.overruns = jr.overruns;
    memcpy(out->evid.sha256, jr.sha256, 32);
    out->header.sample_rate = jr.sample_rate;
    out->header.data_size = jr.sample_count * 2u;
}

int rec_store_find(rec_store_t *st, uint32_t number, rec_recording_t *out)
{
    if (!st->mounted) return REC_E_NOCARD;
    char path[REC_STORE_PATH_MAX];
    int err = rec_store_path(number, path);
    if (err) return REC_E_NOENT;
    memset(out, 0, sizeof *out);
    rec_fat_file_t f;
    err = rec_fat_open(&st->fs, &f, path, REC_FAT_READ);
    if (err == REC_E_NOENT) {
        (void)rec_store_path_ext(number, RP_CARD_ENCRYPTED_EXT, path);
        err = rec_fat_open(&st->fs, &f, path, REC_FAT_READ);
        if (err) return err;
        out->number = number;
        memcpy(out->name, path + sizeof RECORDS_DIR, 13);
        out->size = f.size;
        (void)rec_fat_close(&st->fs, &f);
        inspect_encrypted(st, out);
        return REC_OK;
    }
    if (err) return err;
    out->number = number;
    memcpy(out->name, path + sizeof RECORDS_DIR, 13);
    out->size = f.size;
    err = inspect(st, &f, out);
    (void)rec_fat_close(&st->fs, &f);
    return err;
}

int rec_store_list(rec_store_t *st, uint32_t after, uint32_t *numbers, uint32_t max, uint32_t *count,
                   uint32_t *total, bool *more)
{
    *count = 0;
    *total = 0;
    *more = false;
    if (!st->mounted) return REC_E_NOCARD;
    rec_fat_dir_t dir;
    rec_fat_dirent_t de;
    int err = rec_fat_opendir(&st->fs, &dir, RECORDS_DIR);
    if (err) return err;
    /* One pass, keeping the `max` smallest numbers above `after` in a sorted array. */
    uint32_t n = 0;
    while ((err = rec_fat_readdir(&st->fs, &dir, &de)) == 1) {
        uint32_t num;
        if ((de.attr & 0x10u) || !rec_store_parse_name(de.name, &num)) continue;
        (*total)++;
        if (num <= after) continue;
        if (n == max && (max == 0 || num > numbers[n - 1])) {
            *more = true;
            continue;
        }
        if (n == max) *more = true; /* the largest kept is pushed out */
        uint32_t i = n < max ? n++ : n - 1;
        while (i > 0 && numbers[i - 1] > num) {
            numbers[i] = numbers[i - 1];
            i--;
        }
        numbers[i] = num;
    }
    *count = n;
    return err < 0 ? err : REC_OK;
}

int rec_store_hash_file(rec_store_t *st, rec_fat_file_t *f, uint32_t offset, uint32_t len, uint8_t out[32])
{
    rec_sha256_t h;
    rec_sha256_init(&h);
    int err = rec_fat_seek(&st->fs, f, offset);
    if (err) return err;
    while (len > 0) {
        uint32_t n = len < sizeof st->block ? len : (uint32_t)sizeof st->block;
        int32_t got = rec_fat_read(&st->fs, f, st->block, n);
        if (got < 0) return (int)got;
        if ((uint32_t)got != n) return REC_E_RANGE;
        rec_sha256_update(&h, st->block, n);
        len -= n;
    }
    rec_sha256_final(&h, out);
    return REC_OK;
}

/* Journals a recording that ends in a valid evid chunk: as a RECORDING closed by recovery
 * (recovered), or as FOUND_UNJOURNALED (a finished file the journal never had: never RECOVERED). */
static int journal_from_evid(rec_store_t *st, const rec_recording_t *r, uint8_t stop_reason, bool recovered)
{
    rec_journal_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = recovered ? RP_JOURNAL_KIND_RECORDING : RP_JOURNAL_KIND_FOUND_UNJOURNALED;
    rec.number = r->number;
    rec.start_unix_ms = r->evid.start_unix_ms;
    rec.sample_rate = r->evid.sample_rate;
    rec.sample_count = r->evid.sample_count;
    rec.stop_unix_ms = r->evid.start_unix_ms +
                       (int64_t)((uint64_t)r->evid.sample_count * 1000u / (r->evid.sample_rate ? r->evid.sample_rate : 1));
    rec.stop_reason = stop_reason ? stop_reason : r->evid.stop_reason;
    rec.flags = (uint8_t)(r->evid.flags | (recovered ? RP_RECORD_FLAG_RECOVERED : 0));
    rec.overruns = r->evid.overruns;
    memcpy(rec.sha256, r->evid.sha256, 32);
    return rec_journal_append(&st->journal, &rec);
}

/* The scratch's head holds a recovered recording's marker offsets; the tail follows them. */
#define MARKS_BYTES ((RP_CARD_MAX_MARKERS * 4u + 511u) / 512u * 512u)

/* Closes one unjournalled recording file. */
static int recover_one(rec_store_t *st, uint32_t number, uint64_t device_id, uint32_t sample_rate, uint8_t stop_reason,
                       bool *closed)
{
    char path[REC_STORE_PATH_MAX];
    *closed = false;
    int err = rec_store_path(number, path);
    if (err) return err;
    rec_fat_file_t f;
    err = rec_fat_open(&st->fs, &f, path, REC_FAT_READ | REC_FAT_WRITE);
    if (err) return err;
    rec_recording_t r;
    memset(&r, 0, sizeof r);
    r.number = number;
    r.size = f.size;
    err = inspect(st, &f, &r);
    if (err) goto out;
    if (r.finished) {
        /* A finished file without its record (cut between writing the evid chunk and
         * journalling, or a record lost): trim, and say what was found, never RECOVERED. */
        err = rec_fat_trim(&st->fs, &f);
        if (!err) err = rec_fat_file_sync(&st->fs, &f);
        if (!err) err = journal_from_evid(st, &r, 0, false);
        *closed = err == REC_OK;
        goto out;
    }
    const uint32_t cluster_bytes = (uint32_t)st->fs.blocks_per_cluster * REC_BD_BLOCK_SIZE;
    if (f.clusters == 0 && f.size == 0) {
        /* No cluster at all: the repair emptied the entry (its first cluster was a file the
         * store prefers, rec_fat_repair_preferring). Room for a header and the largest tail,
         * so that it is closed below like one cut before its header. */
        memset(st->block, 0, sizeof st->block);
        for (uint32_t at = 0; !err && at < REC_WAV_HEADER_SIZE + REC_WAV_TAIL_MAX_BYTES; at += REC_BD_BLOCK_SIZE)
            err = write_at(st, &f, at, st->block, REC_BD_BLOCK_SIZE);
        if (!err) err = rec_fat_set_size(&st->fs, &f, 0);
        if (err) goto out;
    }
    const uint64_t alloc = (uint64_t)f.clusters * cluster_bytes;
    if (f.clusters != 0 && alloc < REC_WAV_HEADER_SIZE + REC_WAV_EVID_CHUNK_BYTES) {
        /* No room for a header and an evid chunk: never a preallocation of ours, but what the
         * repair leaves of a recording whose chain ran into a directory's (rec_fat_repair).
         * Left as it is, rather than grown into clusters it never had. */
        err = REC_E_CORRUPT;
        goto out;
    }
    if (!r.header_valid) {
        if (f.size > REC_WAV_HEADER_SIZE) {
            /* Not ours, or damaged beyond what a power cut does: leave it exactly as it is. */
            err = REC_E_CORRUPT;
            goto out;
        }
        /* Cut between creating the file and writing its header: no audio was stored. Close it
         * as an empty recording, so its number is accounted for in the journal instead of
         * leaving a gap that would look like a deleted recording. */
        rec_wav_info_t info = { .sample_rate = sample_rate, .device_id = device_id, .number = number };
        err = rec_wav_build_header(st->header, &info);
        if (!err) err = write_at(st, &f, 0, st->header, REC_WAV_HEADER_SIZE);
        if (!err) err = rec_wav_parse_header(st->header, REC_WAV_HEADER_SIZE, &r.header);
        if (err) goto out;
        r.header_valid = true;
    }
    /* Audio reached the card up to the last size patch: the larger of what the header and
     * the directory entry say, within the allocated clusters and leaving room for evid. */
    uint64_t data = r.header.data_size;
    if (f.size > REC_WAV_HEADER_SIZE && (uint64_t)f.size - REC_WAV_HEADER_SIZE > data) data = f.size - REC_WAV_HEADER_SIZE;
    /* Its markers, rebuilt from the journal (each was journaled as it was taken), in the scratch
     * (the idle ring): their offsets, then the tail assembled after them. */
    uint32_t *marks = (uint32_t *)(void *)st->scratch;
    uint8_t *tail = st->scratch + MARKS_BYTES;
    uint32_t nmarks = 0;
    if (st->scratch && st->scratch_bytes >= MARKS_BYTES + REC_WAV_TAIL_MAX_BYTES && ((uintptr_t)st->scratch & 3u) == 0u) {
        err = rec_journal_markers(&st->journal, number, marks, RP_CARD_MAX_MARKERS, &nmarks);
        if (err) goto out;
    }
    const uint32_t tail_room = rec_wav_markers_size(nmarks) + REC_WAV_EVID_CHUNK_BYTES;
    if (f.clusters != 0 && alloc < REC_WAV_HEADER_SIZE + tail_room) {
        err = REC_E_CORRUPT; /* as above: no room to close it in place */
        goto out;
    }
    uint64_t room = alloc > REC_WAV_HEADER_SIZE + tail_room ? alloc - REC_WAV_HEADER_SIZE - tail_room : 0;
    if (data > room) data = room;
    if (data > REC_WAV_MAX_DATA_BYTES) data = REC_WAV_MAX_DATA_BYTES;
    data &= ~(uint64_t)1u; /* whole samples */
    uint32_t data_bytes = (uint32_t)data;

    rec_wav_evid_t ev;
    memset(&ev, 0, sizeof ev);
    ev.number = number;
    ev.device_id = r.header.device_id ? r.header.device_id : device_id;
    ev.sample_rate = r.header.sample_rate;
    ev.sample_count = data_bytes / 2u;
    ev.start_unix_ms = r.header.start_unix_ms;
    ev.stop_reason = stop_reason;
    ev.flags = (uint8_t)((r.header.clock_set ? RP_RECORD_FLAG_CLOCK_SET : 0) | RP_RECORD_FLAG_RECOVERED);
    ev.overruns = 0; /* the count lived in RAM and was lost with the power */
    /* The header may claim more than the directory entry (a cut between the two patches):
     * the size takes in all audio and the evid chunk before anything is read. It reaches the
     * card only with the file_sync below, after the chunk and the header. */
    err = rec_fat_set_size(&st->fs, &f, REC_WAV_HEADER_SIZE + data_bytes + tail_room);
    if (!err) err = rec_store_hash_file(st, &f, REC_WAV_HEADER_SIZE, data_bytes, ev.sha256);
    if (err) goto out;
    uint8_t evid_only[REC_WAV_EVID_CHUNK_BYTES];
    const bool with_markers = nmarks > 0;
    const uint32_t chunk_len = with_markers ? rec_wav_build_tail(tail, marks, nmarks, data_bytes, &ev) : rec_wav_build_evid(evid_only, &ev);
    if (chunk_len != tail_room) err = rec_fat_set_size(&st->fs, &f, REC_WAV_HEADER_SIZE + data_bytes + chunk_len);
    /* Order: markers and evid chunk, then the header sizes that point at them, then the
     * directory entry. A cut anywhere in between is recovered again on the next boot. */
    if (!err) err = write_at(st, &f, REC_WAV_HEADER_SIZE + data_bytes, with_markers ? tail : evid_only, chunk_len);
    uint8_t *hdr = st->header;
    if (!err) err = read_at(st, &f, 0, hdr, REC_WAV_HEADER_SIZE);
    if (!err && rec_wav_patch(hdr, 0, REC_WAV_HEADER_SIZE, data_bytes, chunk_len) < 0) err = REC_E_TOOBIG;
    if (!err) err = write_at(st, &f, 0, hdr, REC_WAV_HEADER_SIZE);
    if (!err) err = rec_fat_trim(&st->fs, &f);
    if (!err) err = rec_fat_file_sync(&st->fs, &f);
    if (err) goto out;
    r.evid = ev;
    err = journal_from_evid(st, &r, stop_reason, true);
    *closed = err == REC_OK;
out:
    (void)rec_fat_close(&st->fs, &f);
    return err;
}

int rec_store_recover(rec_store_t *st, uint64_t device_id, uint32_t sample_rate, uint8_t stop_reason, uint32_t *recovered)
{
    *recovered = 0;
    if (!st->mounted) return REC_E_NOCARD;
    /* Oldest first, so the journal stays in number order. Each pass lists the next batch. */
    uint32_t after = st->journal.highest_number;
    bool bracketed = false;
    for (;;) {
        uint32_t nums[8], count, total;
        bool more;
        int err = rec_store_list(st, after, nums, REC_COUNT_OF(nums), &count, &total, &more);
        if (err) return err;
        for (uint32_t i = 0; i < count; i++) {
            bool closed;
            /* Encrypted recordings are closed by rec_enc_recover (it needs the key); one left
             * over has no key, and stays as it is. */
            if (rec_store_exists(st, nums[i], RP_CARD_ENCRYPTED_EXT)) continue;
            if (!bracketed) {
                err = rec_store_begin_update(st);
                if (err) return err;
                bracketed = true;
            }
            err = recover_one(st, nums[i], device_id, sample_rate, stop_reason, &closed);
            if (err == REC_E_CORRUPT) continue; /* left as it is, see recover_one */
            if (err) return err;
            if (closed) (*recovered)++;
        }
        if (count == 0 || !more) break;
        after = nums[count - 1];
    }
    return bracketed ? rec_store_end_update(st) : rec_fat_sync(&st->fs);
}

int rec_store_delete(rec_store_t *st, uint32_t number, const uint8_t sha256[32])
{
    rec_recording_t r;
    int err = rec_store_find(st, number, &r);
    if (err) return err;
    if (!r.finished) return REC_E_BUSY;
    rec_journal_record_t jr;
    const uint8_t *own = r.evid.sha256;
    if (rec_journal_find_number(&st->journal, number, &jr) == REC_OK) own = jr.sha256;
    if (memcmp(own, sha256, 32) != 0) return REC_E_MISMATCH;
    char path[REC_STORE_PATH_MAX];
    (void)rec_store_path_ext(number, r.encrypted ? RP_CARD_ENCRYPTED_EXT : RP_CARD_RECORDING_EXT, path);
    err = rec_store_begin_update(st);
    if (!err) err = rec_fat_remove(&st->fs, path);
    if (!err) err = rec_store_end_update(st);
    if (!err && st->recording_count) st->recording_count--;
    /* Space was freed: a card reported full (recorder.c) may take a recording again. */
    if (!err && st->card_state == RP_CARD_STATE_FULL) st->card_state = RP_CARD_STATE_OK;
    return err;
}

int rec_store_format(rec_store_t *st, const rec_bd_t *bd, uint32_t volume_id, uint8_t *scratch, uint32_t scratch_bytes)
{
    rec_store_unmount(st);
    int err = rec_fat_format(bd, REC_STORE_VOLUME_LABEL, volume_id, 0);
    if (err) {
        st->card_state = rec_store_card_state_for(err);
        return err;
    }
    return rec_store_mount(st, bd, scratch, scratch_bytes);
}
