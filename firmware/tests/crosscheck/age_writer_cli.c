/* The firmware's streaming age writer (rec/age.h) on the command line, for the check against the
 * stock `age` (test/firmware-age-writer.test.ts). Writes a recording of AUDIO_BYTES of a test
 * signal (16 kHz, 16-bit mono) as the device does, into a RAM card, and saves the .AGE and the
 * WAV it must decrypt to:
 *
 *     age-writer-cli RECIPIENT_HEX AUDIO_BYTES OUT.AGE OUT.WAV [CUT_AFTER_BLOCKS]
 *
 * With CUT_AFTER_BLOCKS the power is cut after that many blocks written while recording, and the
 * recording is recovered as the device does it (the length from the last flushed size, the
 * audio hash from the card, the FINAL record, the finish); OUT.WAV is then what was kept. Keys
 * come from /dev/urandom. Prints "kept <audio bytes>". Exit 2 on bad arguments, 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_hex.h"
#include "rec/age.h"
#include "rec/bd_ram.h"
#include "rec/err.h"
#include "rec/sha256.h"
#include "rec/wav.h"

#define HOLD_LBA 8u
#define AGE_LBA 512u

static void check(int err, const char *what)
{
    if (err) {
        printf("failed %s: %d\n", what, err);
        exit(1);
    }
}

static void random_bytes(uint8_t *p, size_t n)
{
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(p, 1, n, f) != n) fail("random", "/dev/urandom");
    fclose(f);
}

static void save(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) fail("write", path);
}

static uint8_t sample_byte(uint32_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) fail("usage", "RECIPIENT_HEX AUDIO_BYTES OUT.AGE OUT.WAV [CUT_AFTER_BLOCKS]");
    uint8_t recipient[32];
    if (parse_hex(argv[1], recipient, 32, "recipient") != 32) fail("recipient", "32 bytes");
    const uint32_t audio = (uint32_t)strtoul(argv[2], NULL, 10);
    if (audio > 16u * 1024u * 1024u) fail("audio", "at most 16 MiB");
    const uint32_t blocks = AGE_LBA + (uint32_t)(rec_age_file_size(audio + 2048u) / REC_BD_BLOCK_SIZE) + 8u;
    rec_bd_ram_t ram;
    if (rec_bd_ram_init(&ram, blocks) != 0) fail("memory", "card");

    uint8_t file_key[16], nonce[16], ephemeral[32];
    random_bytes(file_key, sizeof file_key);
    random_bytes(nonce, sizeof nonce);
    random_bytes(ephemeral, sizeof ephemeral);
    rec_age_keys_t keys;
    check(rec_age_keys(&keys, file_key, nonce), "keys");
    uint8_t header[REC_AGE_HEADER_SIZE];
    check(rec_age_header(header, file_key, nonce, ephemeral, recipient), "header");

    uint8_t wav[REC_WAV_HEADER_SIZE];
    const rec_wav_info_t info = { .sample_rate = 16000, .device_id = 0x0123456789ABCDEFull, .number = 42 };
    check(rec_wav_build_header(wav, &info), "wav header");
    check(rec_wav_patch(wav, 0, REC_WAV_HEADER_SIZE, 0, 0) < 0, "patch");
    if (argc == 6) rec_bd_ram_cut_after(&ram, strtoull(argv[5], NULL, 10), false);

    /* Record: bursts of 4 blocks, a flush (the 750 ms size patch) every 6 bursts and at the end. */
    static rec_age_writer_t w;
    uint64_t flushed = REC_AGE_HEADER_SIZE + REC_WAV_HEADER_SIZE;
    int err = rec_age_writer_start(&w, &ram.bd, AGE_LBA, HOLD_LBA, &keys, header, wav);
    static uint8_t buf[4 * REC_BD_BLOCK_SIZE];
    rec_sha256_t sh;
    rec_sha256_init(&sh);
    uint32_t done = 0, bursts = 0;
    while (!err && done < audio) {
        uint32_t n = audio - done < sizeof buf ? audio - done : (uint32_t)sizeof buf;
        for (uint32_t i = 0; i < n; i++) buf[i] = sample_byte(done + i);
        rec_sha256_update(&sh, buf, n);
        err = rec_age_writer_put(&w, buf, n);
        if (!err) done += n;
        if (!err && (++bursts % 6 == 0 || done == audio)) {
            uint64_t size;
            err = rec_age_writer_flush(&w, &size);
            if (!err) flushed = size;
        }
    }
    rp_age_final_t fin;
    memset(&fin, 0, sizeof fin);
    fin.number = 42;
    fin.stop_reason = RP_STOP_BUTTON;
    if (!err) {
        fin.data_bytes = done;
        rec_sha256_final(&sh, fin.sha256);
    } else {
        /* Power cut: recover from the card, as the device does. */
        rec_bd_ram_power_on(&ram);
        uint64_t plain;
        if (!rec_age_plain_of(flushed, &plain)) fail("recover", "size");
        fin.data_bytes = (uint32_t)(plain - REC_WAV_HEADER_SIZE) / REC_BD_BLOCK_SIZE * REC_BD_BLOCK_SIZE;
        fin.stop_reason = RP_STOP_POWER_LOSS;
        fin.flags = RP_RECORD_FLAG_RECOVERED;
        static uint8_t scratch[REC_AGE_SCRATCH_SIZE];
        check(rec_age_hash_audio(&ram.bd, AGE_LBA, HOLD_LBA, &keys, fin.data_bytes, fin.sha256, scratch), "hash");
    }
    check(rec_age_final_write(&ram.bd, HOLD_LBA, &fin), "final");

    /* Finish: the final header and the evid chunk. */
    check(rec_age_hold_header(&ram.bd, HOLD_LBA, &keys, wav), "hold header");
    rec_wav_evid_t ev;
    memset(&ev, 0, sizeof ev);
    ev.number = fin.number;
    ev.device_id = info.device_id;
    ev.sample_rate = info.sample_rate;
    ev.sample_count = fin.data_bytes / 2u;
    ev.stop_reason = fin.stop_reason;
    ev.flags = fin.flags;
    memcpy(ev.sha256, fin.sha256, 32);
    uint8_t evid[REC_WAV_EVID_CHUNK_BYTES];
    const uint32_t evid_len = rec_wav_build_evid(evid, &ev);
    check(rec_wav_patch(wav, 0, REC_WAV_HEADER_SIZE, fin.data_bytes, REC_WAV_EVID_CHUNK_BYTES) < 0, "final patch");
    static uint8_t scratch[REC_AGE_SCRATCH_SIZE];
    uint64_t age_size;
    check(rec_age_finish(&ram.bd, AGE_LBA, HOLD_LBA, &keys, wav, fin.data_bytes, evid, evid_len, scratch, &age_size), "finish");
    save(argv[3], ram.data + (size_t)AGE_LBA * REC_BD_BLOCK_SIZE, (size_t)age_size);

    /* The plaintext it must decrypt to. */
    const size_t wav_len = REC_WAV_HEADER_SIZE + fin.data_bytes + evid_len;
    uint8_t *plain = malloc(wav_len);
    if (!plain) fail("memory", "wav");
    memcpy(plain, wav, REC_WAV_HEADER_SIZE);
    for (uint32_t i = 0; i < fin.data_bytes; i++) plain[REC_WAV_HEADER_SIZE + i] = sample_byte(i);
    memcpy(plain + REC_WAV_HEADER_SIZE + fin.data_bytes, evid, evid_len);
    save(argv[4], plain, wav_len);
    free(plain);
    rec_bd_ram_free(&ram);
    printf("kept %u\n", fin.data_bytes);
    return 0;
}
