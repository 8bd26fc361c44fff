/* Fuzz harness 4: boot recovery of a corrupted recording, and the parsers it relies on.
 *
 * Part 1, the parsers, straight on the input: rec_wav_parse_header, rec_wav_parse_evid (any
 * length), rec_journal_decode and rec_journal_check_link (first 128 bytes). What parses OK
 * round-trips: an evid chunk or journal record rebuilt from the parsed fields parses to the
 * same fields.
 *
 * Part 2, recovery: the pristine image (made once by the core) holds two finished recordings
 * and a third cut by a power loss (sizes patched once, a few hundred ms of audio after the
 * patch, no evid chunk, not journalled). The input patches it:
 *     target u8, offset u16, length u8, bytes
 * target: 0 the 1024-byte header, 1 the recording's blocks (audio, where an evid would go),
 * 2 its directory entry, 3 the FAT block of its chain, 4 the journal, 5 the update marker,
 * 6 a u32 at the RIFF or data size field, 7 any block of the card.
 * Then the device boots (rec_app_init: mount, repair, recovery) and boots again.
 * Checked: no sanitizer report or REC_ASSERT; a card that mounted before the boot still mounts
 * after it; unless the FAT or directory was patched (targets 2, 3, 7) and not only the FAT block
 * (3) with the first boot's repair walking the whole tree and cutting no directory, a second boot succeeds when the first did and journals nothing
 * more (recovery is idempotent) and a repair after the boots cuts no loop or cross-link; and when only the recording's own bytes were patched (targets 0, 1, 6), nothing
 * is lost: either the recording is closed, with its audio bytes unchanged, at least as many as
 * the directory entry promised (within its clusters), and an evid SHA-256 equal to the SHA-256
 * of those bytes, or (a header that is not ours) it is left exactly as it was. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec/bd_ram.h"
#include "fakes/port_fake.h"
#include "fuzz_common.h"
#include "rec/app.h"
#include "rec/bytes.h"
#include "rec/device.h"
#include "rec/err.h"
#include "rec/fat.h"
#include "rec/journal.h"
#include "rec/sha256.h"
#include "rec/store.h"
#include "rec/wav.h"

static rec_bd_ram_t g_card;
static uint8_t *g_baseline;
static fz_card_info_t g_info;
static uint8_t *g_before; /* the recording's blocks before the boot */
static rec_fat_t g_fs;
static uint32_t g_dir_size_before;

static void check_parsers(const uint8_t *data, size_t size)
{
    rec_wav_header_t h;
    if (rec_wav_parse_header(data, size, &h) == REC_OK) {
        FZ_CHECK(size >= REC_WAV_HEADER_SIZE && h.data_offset == REC_WAV_HEADER_SIZE, "header parsed from %zu bytes", size);
        FZ_CHECK(h.sample_rate == 8000 || h.sample_rate == 16000 || h.sample_rate == 32000 || h.sample_rate == 48000,
                 "header rate %u", h.sample_rate);
    }
    rec_wav_evid_t ev;
    if (rec_wav_parse_evid(data, size, &ev) == REC_OK) {
        uint8_t chunk[REC_WAV_EVID_CHUNK_BYTES];
        uint32_t n = rec_wav_build_evid(chunk, &ev);
        FZ_CHECK(n == REC_WAV_EVID_CHUNK_BYTES, "evid chunk of %u bytes", n);
        rec_wav_evid_t ev2;
        FZ_CHECK(rec_wav_parse_evid(chunk, n, &ev2) == REC_OK, "rebuilt evid does not parse");
        FZ_CHECK(ev2.number == ev.number && ev2.device_id == ev.device_id && ev2.sample_rate == ev.sample_rate &&
                     ev2.sample_count == ev.sample_count && ev2.start_unix_ms == ev.start_unix_ms &&
                     ev2.stop_reason == ev.stop_reason && ev2.flags == ev.flags && ev2.overruns == ev.overruns &&
                     memcmp(ev2.sha256, ev.sha256, 32) == 0,
                 "evid round trip changed a field");
    }
    if (size >= REC_JOURNAL_RECORD_SIZE) {
        uint8_t rec[REC_JOURNAL_RECORD_SIZE];
        memcpy(rec, data, sizeof rec);
        rec_journal_record_t j, j2;
        if (rec_journal_decode(rec, &j) == REC_OK) {
            uint8_t again[REC_JOURNAL_RECORD_SIZE];
            rec_journal_encode(&j, again);
            FZ_CHECK(rec_journal_decode(again, &j2) == REC_OK, "re-encoded journal record does not decode");
            FZ_CHECK(memcmp(&j, &j2, sizeof j) == 0 || (j.index == j2.index && j.number == j2.number &&
                                                        memcmp(j.sha256, j2.sha256, 32) == 0),
                     "journal record round trip changed it");
        }
        static const uint8_t zero[32];
        int rc = rec_journal_check_link(rec, 0, zero);
        FZ_CHECK(rc == REC_OK || rc == REC_E_CORRUPT || rc == REC_E_MISMATCH, "check_link returned %d", rc);
    }
}

/* REC_FUZZ_WRITE_SEEDS=dir: writes seeds taken from the real image into dir (used by
 * scripts/fuzz-seeds.mjs): a finished recording's header, its evid chunk, the header and
 * blocks of the cut recording, a journal record. */
static void dump_seeds(const char *dir)
{
    rec_fat_file_t f;
    FZ_CHECK(rec_fat_mount(&g_fs, &g_card.bd) == REC_OK, "mount");
    char path[32];
    snprintf(path, sizeof path, "RECORDS/REC%05u.WAV", (unsigned)g_info.finished[0]);
    FZ_CHECK(rec_fat_open(&g_fs, &f, path, REC_FAT_READ) == REC_OK, "open");
    static uint8_t file[65536];
    int32_t n = rec_fat_read(&g_fs, &f, file, sizeof file);
    FZ_CHECK(n > (int32_t)(REC_WAV_HEADER_SIZE + REC_WAV_EVID_CHUNK_BYTES), "read");
    fz_write_seed(dir, "real-header-finished", file, REC_WAV_HEADER_SIZE);
    fz_write_seed(dir, "real-evid-chunk", file + n - REC_WAV_EVID_CHUNK_BYTES, REC_WAV_EVID_CHUNK_BYTES);
    fz_write_seed(dir, "real-journal-record-0", g_card.data + (size_t)g_info.journal_lba * REC_BD_BLOCK_SIZE, REC_JOURNAL_RECORD_SIZE);
    const uint8_t *cut = g_card.data + (size_t)g_info.open_first_lba * REC_BD_BLOCK_SIZE;
    fz_write_seed(dir, "real-header-cut", cut, REC_WAV_HEADER_SIZE);
    /* As patches: the cut recording's header rewritten with a finished one's (target 0). */
    uint8_t patch[4 * (4 + 255)];
    size_t k = 0;
    for (uint32_t off = 0; off < REC_WAV_HEADER_SIZE && k + 4 + 255 <= sizeof patch; off += 255) {
        uint32_t len = REC_WAV_HEADER_SIZE - off < 255 ? REC_WAV_HEADER_SIZE - off : 255;
        patch[k++] = 0;
        patch[k++] = (uint8_t)off;
        patch[k++] = (uint8_t)(off >> 8);
        patch[k++] = (uint8_t)len;
        memcpy(patch + k, file + off, len);
        k += len;
    }
    fz_write_seed(dir, "patch-header-from-finished", patch, k);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_build_card(&g_card, true, &g_info);
    g_baseline = fz_snapshot(&g_card);
    g_before = malloc((size_t)g_info.open_blocks * REC_BD_BLOCK_SIZE);
    if (!g_before) abort();
    const char *seeds = getenv("REC_FUZZ_WRITE_SEEDS");
    if (seeds) {
        dump_seeds(seeds);
        rec_bd_ram_restore(&g_card, g_baseline);
    }
    return 0;
}

static uint32_t journal_count(void)
{
    rec_device_t *d = rec_device();
    return d->store.mounted ? d->store.journal.count : UINT32_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    check_parsers(data, size);

    rec_bd_ram_restore(&g_card, g_baseline);
    fz_in_t in = { data, size, 0 };
    bool content_only = true; /* only the recording's own bytes patched */
    bool fs_intact = true;     /* FAT, directory entry and other blocks untouched */
    bool fat_only = true;      /* of those, only the FAT block patched */
    const fz_card_info_t *ci = &g_info;
    while (fz_more(&in)) {
        uint8_t target = fz_u8(&in) % 8u;
        uint16_t off = fz_u16(&in);
        uint8_t len = fz_u8(&in);
        const uint8_t *p;
        size_t n = fz_bytes(&in, len, &p);
        uint32_t lba, o;
        switch (target) {
        case 0: lba = ci->open_first_lba + (off % 1024u) / 512u; o = off % 512u; break;
        case 1: lba = ci->open_first_lba + (off / 512u) % ci->open_blocks; o = off % 512u; break;
        case 2: lba = ci->open_dirent_lba; o = ci->open_dirent_off + off % 32u; if (n > 32u - off % 32u) n = 32u - off % 32u; break;
        case 3: lba = ci->open_fat_lba; o = off % 512u; break;
        case 4: lba = ci->journal_lba + (off / 512u) % 2u; o = off % 512u; break;
        case 5: lba = ci->state_lba; o = off % 512u; break;
        case 6: lba = ci->open_first_lba + ((off & 1u) ? 1u : 0u); o = (off & 1u) ? 508u : 4u; if (n > 4) n = 4; break;
        default: lba = (uint32_t)off * 7u % FZ_CARD_BLOCKS; o = 0; break;
        }
        if (target >= 2 && target != 6) content_only = false;
        if (target == 2 || target == 3 || target == 7) fs_intact = false;
        if (target == 2 || target == 7) fat_only = false;
        /* Content patches stay inside the recording's blocks. */
        if ((target == 0 || target == 1 || target == 6) && n > REC_BD_BLOCK_SIZE - o) n = REC_BD_BLOCK_SIZE - o;
        fz_poke(&g_card, lba, o, p, n);
    }

    bool mounted_before = rec_fat_mount(&g_fs, &g_card.bd) == REC_OK;
    g_dir_size_before = 0;
    if (content_only) {
        memcpy(g_before, g_card.data + (size_t)ci->open_first_lba * REC_BD_BLOCK_SIZE, (size_t)ci->open_blocks * REC_BD_BLOCK_SIZE);
        g_dir_size_before = rec_get_u32(g_card.data + (size_t)ci->open_dirent_lba * REC_BD_BLOCK_SIZE + ci->open_dirent_off + 28u);
    }

    int rc1 = fz_boot(&g_card);
    uint32_t count1 = journal_count();

    if (content_only) {
        FZ_CHECK(rc1 == REC_OK, "boot failed (%d) though only the recording's bytes were patched", rc1);
        rec_device_t *d = rec_device();
        rec_recording_t r;
        int rc = rec_store_find(&d->store, ci->open_number, &r);
        FZ_CHECK(rc == REC_OK, "the cut recording is gone (%d)", rc);
        const uint8_t *now = g_card.data + (size_t)ci->open_first_lba * REC_BD_BLOCK_SIZE;
        if (r.finished) {
            uint32_t data_bytes = r.evid.sample_count * 2u;
            uint32_t alloc = ci->open_blocks * REC_BD_BLOCK_SIZE;
            uint32_t room = alloc - REC_WAV_HEADER_SIZE - REC_WAV_EVID_CHUNK_BYTES;
            bool had_evid = (uint64_t)REC_WAV_HEADER_SIZE + data_bytes + 4u <= alloc &&
                            memcmp(g_before + REC_WAV_HEADER_SIZE + data_bytes, "evid", 4) == 0;
            if (!had_evid) {
                /* Closed by the recovery: every audio byte the card held up to the last
                 * size patch is kept, unchanged, and the evid hash is the hash of them. */
                uint32_t promised = g_dir_size_before > REC_WAV_HEADER_SIZE ? g_dir_size_before - REC_WAV_HEADER_SIZE : 0;
                if (promised > room) promised = room;
                promised &= ~1u;
                FZ_CHECK(data_bytes >= promised, "recovery kept %u audio bytes, the directory entry promised %u", data_bytes,
                         promised);
                FZ_CHECK(data_bytes <= room, "recovery claims %u audio bytes, only %u fit", data_bytes, room);
                FZ_CHECK(memcmp(now + REC_WAV_HEADER_SIZE, g_before + REC_WAV_HEADER_SIZE, data_bytes) == 0,
                         "recovery changed audio bytes");
                uint8_t sha[32];
                rec_sha256(now + REC_WAV_HEADER_SIZE, data_bytes, sha);
                FZ_CHECK(memcmp(sha, r.evid.sha256, 32) == 0, "evid SHA-256 is not the hash of the audio");
                FZ_CHECK(r.evid.flags & RP_RECORD_FLAG_RECOVERED, "recovered recording without the RECOVERED flag");
            }
        } else {
            /* Not recognisable as ours: left exactly as it was. */
            FZ_CHECK(memcmp(now, g_before, (size_t)ci->open_blocks * REC_BD_BLOCK_SIZE) == 0,
                     "an unrecognised recording was modified");
        }
    }

    /* Recovery is idempotent: a second boot finds nothing more to do. Asked also of cards whose
     * FAT block was corrupted (loops, cross-links) when the first boot's repair walked the whole
     * tree and cut no directory: it then cut every loop and cross-link, so no write of the
     * first boot lands in another chain's clusters. Not asked when the tree could not be walked
     * (a chain into a free cluster can be handed out by an allocation and change what that chain
     * reads), when a directory was cut (the entries it lost, such as SYSTEM's journal, are made
     * again by the boot), nor when directory entries were patched: an entry pointed at another
     * file's first cluster keeps that chain when it is walked first (a recording's entry can
     * take the journal's clusters), and what the boot rebuilds then differs again. */
    bool repaired_whole = rec_device()->store.repair.tree_complete && rec_device()->store.repair.dirs_cut == 0;
    int rc2 = fz_boot(&g_card);
    if (rc1 == REC_OK && (fs_intact || (fat_only && repaired_whole))) {
        FZ_CHECK(rc2 == REC_OK, "first boot succeeded, second failed (%d)", rc2);
        FZ_CHECK(journal_count() == count1, "second boot journalled more (%u -> %u)", count1, journal_count());
    }
    if (mounted_before) FZ_CHECK(rec_fat_mount(&g_fs, &g_card.bd) == REC_OK, "the card no longer mounts after the boots");
    if (rc1 == REC_OK && repaired_whole && rec_fat_mount(&g_fs, &g_card.bd) == REC_OK) {
        /* The boots left no chain looping or sharing clusters: a repair finds none to cut. */
        static uint8_t scratch[4096];
        rec_fat_repair_report_t rep;
        FZ_CHECK(rec_fat_repair(&g_fs, scratch, sizeof scratch, &rep) == REC_OK, "repair after the boots failed");
        FZ_CHECK(!rep.tree_complete || (rep.loops_cut == 0 && rep.crosslinks_cut == 0),
                 "after the boots a repair still cut %u loops and %u cross-links", rep.loops_cut, rep.crosslinks_cut);
    }
    return 0;
}
