/**
 * Our own WAV structure check for recordings (node-wav does not validate). The recorder writes:
 * RIFF/WAVE, "fmt " (16-bit mono PCM), optional "bext"/padding chunks, "data" whose payload
 * starts at CARD_LAYOUT.wavDataOffset, then the "evid" evidence chunk, and nothing after it.
 */
import { createHash } from 'node:crypto';
import { decodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, SAMPLE_RATES, STRUCTS, structSize } from '../../protocol/src/schema.js';
import type { EvidenceChunk } from '../../protocol/generated/types.js';

export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export interface WavChunk {
  id: string;
  /** Offset of the 8-byte chunk header. */
  offset: number;
  size: number;
}

export interface WavLayout {
  fileSize: number;
  chunks: WavChunk[];
  format: { audioFormat: number; channels: number; sampleRate: number; byteRate: number; blockAlign: number; bitsPerSample: number } | null;
  dataOffset: number;
  dataLength: number;
  evidence: EvidenceChunk | null;
  hasBext: boolean;
}

export interface WavResult {
  ok: boolean;
  problems: string[];
  layout: WavLayout;
}

const EVID_SIZE = structSize(STRUCTS.EVIDENCE_CHUNK);
/**
 * A recording has five chunks (fmt, bext, JUNK, data, evid); other software may add a few. A
 * file of millions of empty chunks would otherwise build a list as long as the file (found by
 * the property tests, wav.property.test.ts): stop after this many.
 */
const MAX_CHUNKS = 1024;
const isFourCC = (b: Buffer) => b.length === 4 && [...b].every((c) => c >= 0x20 && c <= 0x7e);

/** Parses and checks the structure of a recording file (read through `read`). */
export async function parseWav(read: ReadAt, fileSize: number): Promise<WavResult> {
  const problems: string[] = [];
  const layout: WavLayout = { fileSize, chunks: [], format: null, dataOffset: -1, dataLength: -1, evidence: null, hasBext: false };
  const done = () => ({ ok: problems.length === 0, problems, layout });
  if (fileSize < 12) {
    problems.push(`the file is only ${fileSize} bytes long, too short to be a WAV file`);
    return done();
  }
  const head = await read(0, 12);
  if (head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    problems.push('the file does not start with a RIFF/WAVE header');
    return done();
  }
  const riffSize = head.readUInt32LE(4);
  if (riffSize + 8 !== fileSize) problems.push(`the RIFF header says ${riffSize + 8} bytes but the file has ${fileSize} (truncated or extended)`);
  const end = Math.min(fileSize, riffSize + 8);
  let off = 12;
  let sawData = false;
  while (off + 8 <= end) {
    if (layout.chunks.length >= MAX_CHUNKS) {
      problems.push(`more than ${MAX_CHUNKS} chunks: not a recording from the recorder`);
      return done();
    }
    const h = await read(off, 8);
    const idBuf = h.subarray(0, 4);
    const id = idBuf.toString('latin1');
    const size = h.readUInt32LE(4);
    if (!isFourCC(idBuf)) {
      problems.push(`unreadable chunk id at byte ${off}`);
      return done();
    }
    layout.chunks.push({ id, offset: off, size });
    if (off + 8 + size > fileSize) {
      problems.push(`the "${id}" chunk at byte ${off} runs past the end of the file (truncated)`);
      return done();
    }
    if (id === 'fmt ') {
      if (layout.format) problems.push('more than one "fmt " chunk');
      if (sawData) problems.push('"fmt " chunk after the audio data');
      if (size < 16) problems.push(`"fmt " chunk of ${size} bytes is too short`);
      else {
        const f = await read(off + 8, 16);
        layout.format = {
          audioFormat: f.readUInt16LE(0),
          channels: f.readUInt16LE(2),
          sampleRate: f.readUInt32LE(4),
          byteRate: f.readUInt32LE(8),
          blockAlign: f.readUInt16LE(12),
          bitsPerSample: f.readUInt16LE(14),
        };
      }
    } else if (id === 'bext') {
      layout.hasBext = true;
      if (sawData) problems.push('"bext" chunk after the audio data');
    } else if (id === 'data') {
      if (sawData) problems.push('more than one "data" chunk');
      sawData = true;
      layout.dataOffset = off + 8;
      layout.dataLength = size;
    } else if (id === CARD_LAYOUT.evidenceChunkId) {
      if (!sawData) problems.push('the evidence chunk comes before the audio data');
      if (layout.evidence) problems.push('more than one evidence chunk');
      if (size < EVID_SIZE) problems.push(`the evidence chunk is ${size} bytes, at least ${EVID_SIZE} expected`);
      else {
        const body = await read(off + 8, EVID_SIZE);
        const ev = decodeStruct('EVIDENCE_CHUNK', body) as unknown as EvidenceChunk;
        layout.evidence = ev;
        if (ev.version !== CARD_LAYOUT.evidenceChunkVersion) problems.push(`evidence chunk version ${ev.version}, expected ${CARD_LAYOUT.evidenceChunkVersion}`);
        if (ev.size < EVID_SIZE || ev.size > size) problems.push(`evidence chunk says its size is ${ev.size}, which does not fit the chunk (${size})`);
      }
    } else if (sawData) {
      problems.push(`unexpected "${id}" chunk after the audio data`);
    }
    off += 8 + size + (size & 1);
  }
  if (off !== end) problems.push(`${end - off} stray bytes at the end of the RIFF data`);
  const fmt = layout.format;
  if (!fmt) problems.push('no "fmt " chunk');
  else {
    if (fmt.audioFormat !== 1) problems.push(`audio format ${fmt.audioFormat} is not PCM`);
    if (fmt.channels !== 1) problems.push(`${fmt.channels} channels, expected mono`);
    if (fmt.bitsPerSample !== 16) problems.push(`${fmt.bitsPerSample}-bit samples, expected 16-bit`);
    if (!(SAMPLE_RATES as readonly number[]).includes(fmt.sampleRate)) problems.push(`sample rate ${fmt.sampleRate} Hz is not one the recorder uses`);
    if (fmt.blockAlign !== 2 || fmt.byteRate !== fmt.sampleRate * 2) problems.push('the format chunk\'s byte rate or block alignment is inconsistent');
  }
  if (!sawData) problems.push('no "data" chunk');
  else {
    if (layout.dataOffset !== CARD_LAYOUT.wavDataOffset) problems.push(`audio data starts at byte ${layout.dataOffset}, expected ${CARD_LAYOUT.wavDataOffset}`);
    if (layout.dataLength % 2 !== 0) problems.push(`audio data length ${layout.dataLength} is not a whole number of 16-bit samples`);
  }
  if (!layout.evidence && !problems.some((p) => p.includes('evidence chunk'))) problems.push('no evidence ("evid") chunk');
  if (fmt && layout.evidence && layout.evidence.sampleRate !== fmt.sampleRate) problems.push('the evidence chunk\'s sample rate differs from the format chunk');
  if (layout.evidence && sawData && layout.evidence.sampleCount * 2 !== layout.dataLength) {
    problems.push(`the evidence chunk says ${layout.evidence.sampleCount} samples but the data holds ${layout.dataLength / 2}`);
  }
  return done();
}

export interface Expected {
  number?: number;
  deviceId?: bigint;
  sampleRate?: number;
  sampleCount?: number;
  /** SHA-256 of the audio data, hex. */
  sha256?: string;
  startUnixMs?: bigint;
}

/** Compares a parsed layout with what the device (or the manifest) says. */
export function compareWav(layout: WavLayout, want: Expected): string[] {
  const p: string[] = [];
  const ev = layout.evidence;
  if (want.sampleRate !== undefined && layout.format && layout.format.sampleRate !== want.sampleRate) p.push(`sample rate ${layout.format.sampleRate} Hz, expected ${want.sampleRate}`);
  if (want.sampleCount !== undefined && layout.dataLength !== want.sampleCount * 2) p.push(`audio data is ${layout.dataLength} bytes, expected ${want.sampleCount * 2} (${want.sampleCount} samples)`);
  if (ev) {
    if (want.number !== undefined && ev.number !== want.number) p.push(`evidence chunk is for recording ${ev.number}, expected ${want.number}`);
    if (want.deviceId !== undefined && ev.deviceId !== want.deviceId) p.push('evidence chunk names another device');
    if (want.sampleCount !== undefined && ev.sampleCount !== want.sampleCount) p.push(`evidence chunk says ${ev.sampleCount} samples, expected ${want.sampleCount}`);
    if (want.sha256 !== undefined && ev.sha256.toString('hex') !== want.sha256) p.push('evidence chunk SHA-256 differs from the device\'s record');
    if (want.startUnixMs !== undefined && ev.startUnixMs !== want.startUnixMs) p.push('evidence chunk start time differs from the device\'s record');
  }
  return p;
}

/** SHA-256 of a byte range, read in pieces. */
export async function hashRange(read: ReadAt, offset: number, length: number, step = 1 << 20): Promise<Buffer> {
  const h = createHash('sha256');
  for (let o = 0; o < length; o += step) h.update(await read(offset + o, Math.min(step, length - o)));
  return h.digest();
}
