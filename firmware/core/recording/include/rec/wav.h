/* Broadcast Wave (BWF, EBU Tech 3285) files of 16-bit mono PCM, as the recorder writes them.
 *
 * File layout (all sizes little-endian):
 *
 *     0     "RIFF" <riff size> "WAVE"
 *     12    "fmt " 16: PCM, 1 channel, rate, rate*2, 2, 16
 *     36    "bext" 602+n: broadcast extension version 1 (fields below), then n bytes of
 *           CodingHistory ("A=PCM,F=<rate>,W=16,M=mono,T=<model>\r\n", NUL padded to even n)
 *     ...   "JUNK" padding so that the data chunk header ends exactly at 1024
 *     1016  "data" <data size>
 *     1024  samples (RP_CARD_WAV_DATA_OFFSET: block aligned, streamed straight to the card)
 *     ...   one pad byte if the data size is odd (never for 16-bit audio)
 *     ...   markers, only when the recording has some (written once at stop):
 *           "cue " 4+24n: n, then n CUE_POINT (id 1..n, the sample offset, "data", 0, 0, offset)
 *           "LIST" 4+..: "adtl", then n "labl" (u32 cue id, "Marker N" NUL, padded to even)
 *     ...   "evid" 72: EVIDENCE_CHUNK (protocol schema), written once at stop
 *
 * While recording, the file ends after the samples and the sizes are rewritten about once a
 * second: the RIFF size lies in block 0 (offset 4), the data size in block 1 (offset 1020). The
 * RIFF size always describes exactly the chunks present: without the markers and the evid chunk
 * while recording (and in a file cut short by power loss), with them after stop (the "tail"). So a file left behind by a power
 * cut is a valid WAV of the audio up to the last patch.
 *
 * bext fields:
 *   Description (256)         human-readable: "Evidence recording REC00042 by ER-1 device
 *                             0123456789ABCDEF; start 2024-05-01T10:00:00.123Z (device clock, UTC)"
 *                             or, clock not set, "...; DEVICE CLOCK NOT SET: date and time
 *                             unknown".
 *   Originator (32)           "<model> <device id, 16 upper-case hex digits>"
 *   OriginatorReference (32)  "<device id hex>-<number, at least 5 decimal digits>"
 *   OriginationDate (10)      "yyyy-mm-dd", UTC (the device knows no time zone)
 *   OriginationTime (8)       "hh:mm:ss", UTC
 *   TimeReference (u64)       samples since midnight UTC at the first sample
 *   Version (u16)             1; UMID and loudness fields zero; reserved 180 zero
 * When the device clock is not set, OriginationDate is "0000-00-00", OriginationTime "00:00:00"
 * and TimeReference 0: the fields keep their fixed ASCII format (so strict readers do not choke)
 * but hold a date that cannot exist, and Description says so in words. The evid chunk's flags
 * (RP_RECORD_FLAG_CLOCK_SET clear) say the same to software. */
#ifndef REC_WAV_H
#define REC_WAV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec_codec.h"

#define REC_WAV_HEADER_SIZE RP_CARD_WAV_DATA_OFFSET /* 1024 */
#define REC_WAV_RIFF_SIZE_OFFSET RP_RIFF_CHUNK_HEADER_OFF_SIZE /* 4, in block 0 */
/* 1020, in block 1: the size of the data chunk header, which ends at the samples */
#define REC_WAV_DATA_SIZE_OFFSET (REC_WAV_HEADER_SIZE - RP_RIFF_CHUNK_HEADER_SIZE + RP_RIFF_CHUNK_HEADER_OFF_SIZE)
#define REC_WAV_BEXT_FIXED_SIZE RP_BEXT_SIZE /* 602 */
/* Whole evid chunk: id, size and the version-1 payload (72 bytes, even: no pad byte). */
#define REC_WAV_EVID_CHUNK_BYTES (RP_RIFF_CHUNK_HEADER_SIZE + RP_EVIDENCE_CHUNK_SIZE)
/* Markers: the "cue " and "LIST"/"adtl" chunks of RP_CARD_MAX_MARKERS (99) markers at most, each
 * a 24-byte point and a 22-byte labl chunk ("Marker N" with its NUL is 9 or 10 bytes: 14 with the
 * id and the pad); the most bytes after the data: those and the evid chunk. */
#define REC_WAV_MARKER_LABEL_MAX 16u
#define REC_WAV_MARKERS_MAX_BYTES (2u * (RP_RIFF_CHUNK_HEADER_SIZE + 4u) + RP_CARD_MAX_MARKERS * (RP_CUE_POINT_SIZE + 22u))
#define REC_WAV_TAIL_MAX_BYTES (REC_WAV_MARKERS_MAX_BYTES + REC_WAV_EVID_CHUNK_BYTES)
_Static_assert(RP_CARD_MAX_MARKERS <= 99u, "labels of more than two digits need more room (REC_WAV_MARKERS_MAX_BYTES)");
/* Largest data size the recorder may write: whole 512-byte blocks such that header, data and
 * evid chunk stay within FAT32's 4 GiB - 1 file limit. */
#define REC_WAV_MAX_DATA_BYTES 0xFFFFFA00u
/* Longest CodingHistory text that fits in the header. */
#define REC_WAV_MAX_CODING_HISTORY 360u

typedef struct {
    uint32_t sample_rate;    /* one of RP_SAMPLE_RATES */
    uint64_t device_id;
    uint32_t number;         /* recording number */
    const char *model;       /* NULL: RP_CARD_MODEL */
    bool clock_set;          /* start_unix_ms is meaningful */
    int64_t start_unix_ms;   /* wall clock at the first sample */
} rec_wav_info_t;

/* Builds the 1024-byte header with data size 0. REC_E_INVAL for an unsupported rate or a start
 * time outside years 1970..9999. */
int rec_wav_build_header(uint8_t out[REC_WAV_HEADER_SIZE], const rec_wav_info_t *info);

/* The size fields for `data_bytes` of samples and `tail_bytes` after them: 0 while recording,
 * else the markers (if any) and the evid chunk. */
typedef struct {
    uint32_t riff_size;      /* goes at REC_WAV_RIFF_SIZE_OFFSET */
    uint32_t data_size;      /* goes at REC_WAV_DATA_SIZE_OFFSET */
    uint32_t file_size;      /* total bytes of the file as described */
    uint32_t evid_offset;    /* where the tail starts (= file size without it) */
} rec_wav_sizes_t;
/* REC_E_TOOBIG when data_bytes > REC_WAV_MAX_DATA_BYTES or tail_bytes > REC_WAV_TAIL_MAX_BYTES. */
int rec_wav_sizes(uint32_t data_bytes, uint32_t tail_bytes, rec_wav_sizes_t *out);
/* Writes whichever size fields fall inside buf, which holds `len` bytes of the file starting at
 * file offset `file_offset` (e.g. block 0: offset 0, len 512; block 1: offset 512, len 512; or
 * the whole header). Returns how many of the two fields it wrote (0..2), or REC_E_TOOBIG. A
 * field only partly inside buf is an REC_E_INVAL (pass block-aligned buffers). */
int rec_wav_patch(uint8_t *buf, uint32_t file_offset, uint32_t len, uint32_t data_bytes, uint32_t tail_bytes);

/* ---- Markers ------------------------------------------------------------------------------------ */
/* Bytes of the "cue " and "LIST"/"adtl" chunks of `count` markers (0 for none). */
uint32_t rec_wav_markers_size(uint32_t count);
/* Writes them (rec_wav_markers_size(count) bytes, at most REC_WAV_MARKERS_MAX_BYTES) for markers at
 * these sample offsets; returns the byte count. count <= RP_CARD_MAX_MARKERS. */
uint32_t rec_wav_build_markers(uint8_t *out, const uint32_t *sample_offsets, uint32_t count);
/* What follows `data_bytes` of audio at stop (or recovery): the markers, then the evid chunk, into
 * out (room for REC_WAV_TAIL_MAX_BYTES); returns the byte count. Markers past the audio are left
 * out (their audio was lost: cut by a power loss, or beyond the card's room; the journal keeps
 * them), and so are all of them when the file would pass FAT32's 4 GiB - 1. */
uint32_t rec_wav_build_tail(uint8_t *out, const uint32_t *sample_offsets, uint32_t count, uint32_t data_bytes,
                            const rp_evidence_chunk_t *ev);

/* ---- The trailing "evid" chunk ---------------------------------------------------------------- */
/* The EVIDENCE_CHUNK struct of the protocol schema (rec_codec.h): number, device_id, sample rate
 * and count, start_unix_ms, stop_reason (RP_STOP_*), flags (RP_RECORD_FLAG_*), overruns, sha256
 * of the data chunk payload. version and size are filled by parse; build writes version 1 and
 * size 72 whatever they hold. */
typedef rp_evidence_chunk_t rec_wav_evid_t;

/* Writes the whole chunk (REC_WAV_EVID_CHUNK_BYTES) to out; returns the byte count (including a
 * pad byte for an odd payload, which version 1 never has). */
uint32_t rec_wav_build_evid(uint8_t out[REC_WAV_EVID_CHUNK_BYTES], const rec_wav_evid_t *evid);
/* Parses an evid chunk starting at buf (its "evid" id) with `len` bytes available. Accepts
 * version 1 with a payload of at least 72 bytes (later fields are ignored); REC_E_CORRUPT for
 * anything else or when the chunk claims more bytes than len. */
int rec_wav_parse_evid(const uint8_t *buf, size_t len, rec_wav_evid_t *out);

/* ---- Parsing our header (recovery, LIST) ------------------------------------------------------ */
typedef struct {
    uint32_t sample_rate;
    uint32_t data_offset;    /* always REC_WAV_HEADER_SIZE for a valid header */
    uint32_t data_size;      /* as the header claims (may lag the file after a power cut) */
    uint32_t riff_size;      /* as the header claims */
    bool riff_has_evid;      /* riff_size counts a tail (markers, then evid last) after data_size bytes */
    uint32_t tail_bytes;     /* that tail's bytes (0 without): the evid chunk is its last 80 */
    bool sizes_consistent;   /* riff_size matches data_size (with or without evid) */
    /* from bext */
    uint64_t device_id;
    uint32_t number;
    bool clock_set;
    int64_t start_unix_ms;   /* rebuilt from OriginationDate and TimeReference; 0 if !clock_set */
} rec_wav_header_t;

/* Validates the first `len` bytes of a file (at least 1024) as a header this firmware wrote:
 * RIFF/WAVE, PCM mono 16-bit at a supported rate, a version-1 bext with our originator fields,
 * the data chunk header ending at 1024. The RIFF and data sizes are reported, not trusted: a
 * power cut between the two patch writes leaves them inconsistent (sizes_consistent false).
 * REC_E_CORRUPT for anything malformed; every length is bounds-checked. */
int rec_wav_parse_header(const uint8_t *buf, size_t len, rec_wav_header_t *out);

#endif
