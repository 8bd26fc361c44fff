/**
 * Our own WAV structure check for recordings (node-wav does not validate). The recorder writes:
 * RIFF/WAVE, "fmt " (16-bit mono PCM), optional "bext"/padding chunks, "data" whose payload
 * starts at CARD_LAYOUT.wavDataOffset, then (when the recording has markers) a "cue " chunk and a
 * "LIST"/"adtl" chunk of "labl" labels, then the "evid" evidence chunk, and nothing after it.
 */
import { createHash } from 'node:crypto';
import { decodeStruct, encodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, SAMPLE_RATES, STRUCTS, structSize } from '../../protocol/src/schema.js';
import type { CuePoint as CuePointRecord, EvidenceChunk } from '../../protocol/generated/types.js';

export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export interface WavChunk {
  id: string;
  /** Offset of the 8-byte chunk header. */
  offset: number;
  size: number;
}

/** A marker: a cue point of the "cue " chunk and its "labl" label, in file order. */
export interface WavMarker {
  /** The cue point id (dwName): the marker's number, from 1. */
  id: number;
  /** Samples from the recording's first sample (dwSampleOffset). */
  sampleOffset: number;
  label: string;
}

export interface WavLayout {
  fileSize: number;
  chunks: WavChunk[];
  format: { audioFormat: number; channels: number; sampleRate: number; byteRate: number; blockAlign: number; bitsPerSample: number } | null;
  dataOffset: number;
  dataLength: number;
  evidence: EvidenceChunk | null;
  hasBext: boolean;
  /** The markers (empty when the file has none). */
  markers: WavMarker[];
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
const CUE_POINT_SIZE = structSize(STRUCTS.CUE_POINT);
/** The largest "cue " chunk the parser reads: the recorder's most markers. */
export const MAX_CUE_BYTES = 4 + CARD_LAYOUT.maxMarkers * CUE_POINT_SIZE;
/** A "LIST"/"adtl" chunk of the recorder holds at most maxMarkers short labels ("Marker 99"); a
 * larger one is not read (it is not the recorder's). */
export const MAX_ADTL_BYTES = 8192;
const isFourCC = (b: Buffer) => b.length === 4 && [...b].every((c) => c >= 0x20 && c <= 0x7e);

/** Parses and checks the structure of a recording file (read through `read`). */
export async function parseWav(read: ReadAt, fileSize: number): Promise<WavResult> {
  const problems: string[] = [];
  const layout: WavLayout = { fileSize, chunks: [], format: null, dataOffset: -1, dataLength: -1, evidence: null, hasBext: false, markers: [] };
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
  let cue: CuePoint[] | null = null;
  let labels: Map<number, string> | null = null;
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
    } else if (id === CARD_LAYOUT.cueChunkId && sawData && !layout.evidence && !cue && !labels) {
      cue = await parseCue(read, off, size, problems);
    } else if (id === CARD_LAYOUT.listChunkId && sawData && !layout.evidence && cue && !labels) {
      labels = await parseAdtl(read, off, size, problems);
    } else if (sawData) {
      problems.push(`unexpected "${id}" chunk ${layout.evidence ? 'after the evidence chunk' : 'after the audio data'}`);
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
  if (cue) {
    if (!labels) problems.push('cue points without their "LIST"/"adtl" labels');
    const samples = sawData ? Math.floor(layout.dataLength / 2) : 0;
    for (const c of cue) {
      if (c.sampleOffset > samples) problems.push(`cue point ${c.id} lies at sample ${c.sampleOffset}, past the audio data (${samples} samples)`);
      const label = labels?.get(c.id);
      if (labels && label === undefined) problems.push(`cue point ${c.id} has no label`);
      layout.markers.push({ id: c.id, sampleOffset: c.sampleOffset, label: label ?? '' });
    }
    for (const id of labels?.keys() ?? []) if (!cue.some((c) => c.id === id)) problems.push(`a label names cue point ${id}, which does not exist`);
  }
  if (!layout.evidence && !problems.some((p) => p.includes('evidence chunk'))) problems.push('no evidence ("evid") chunk');
  if (fmt && layout.evidence && layout.evidence.sampleRate !== fmt.sampleRate) problems.push('the evidence chunk\'s sample rate differs from the format chunk');
  if (layout.evidence && sawData && layout.evidence.sampleCount * 2 !== layout.dataLength) {
    problems.push(`the evidence chunk says ${layout.evidence.sampleCount} samples but the data holds ${layout.dataLength / 2}`);
  }
  return done();
}

interface CuePoint {
  id: number;
  sampleOffset: number;
}

/** The points of a "cue " chunk (RIFF/WAV: u32 count, then 24-byte points), checked to be the
 * recorder's: unique ids, each pointing into the "data" chunk by its sample offset. */
async function parseCue(read: ReadAt, off: number, size: number, problems: string[]): Promise<CuePoint[]> {
  const points: CuePoint[] = [];
  if (size < 4) {
    problems.push(`"cue " chunk of ${size} bytes is too short`);
    return points;
  }
  const count = (await read(off + 8, 4)).readUInt32LE(0);
  if (count > CARD_LAYOUT.maxMarkers) {
    problems.push(`"cue " chunk holds ${count} points, the recorder writes at most ${CARD_LAYOUT.maxMarkers}`);
    return points;
  }
  if (size !== 4 + count * CUE_POINT_SIZE) {
    problems.push(`"cue " chunk of ${size} bytes does not hold its ${count} points`);
    return points;
  }
  const body = await read(off + 12, count * CUE_POINT_SIZE);
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const p = decodeStruct('CUE_POINT', body.subarray(i * CUE_POINT_SIZE, (i + 1) * CUE_POINT_SIZE)) as unknown as CuePointRecord;
    if (p.name === 0 || seen.has(p.name)) problems.push(`cue point ${i + 1} has ${p.name === 0 ? 'id 0' : `the repeated id ${p.name}`}`);
    seen.add(p.name);
    if (p.chunk.toString('latin1') !== CARD_LAYOUT.dataChunkId || p.chunkStart !== 0 || p.blockStart !== 0 || p.position !== p.sampleOffset) {
      problems.push(`cue point ${p.name} does not point into the "data" chunk by its sample offset`);
    }
    points.push({ id: p.name, sampleOffset: p.sampleOffset });
  }
  return points;
}

/** The labels of a "LIST" chunk of type "adtl": "labl" sub-chunks only (u32 cue id, then the
 * NUL-terminated label). Returns cue id -> label. */
async function parseAdtl(read: ReadAt, off: number, size: number, problems: string[]): Promise<Map<number, string>> {
  const labels = new Map<number, string>();
  if (size < 4 || size > MAX_ADTL_BYTES) {
    problems.push(`"LIST" chunk of ${size} bytes is not a list of marker labels`);
    return labels;
  }
  const body = await read(off + 8, size);
  if (body.toString('latin1', 0, 4) !== CARD_LAYOUT.adtlListType) {
    problems.push(`"LIST" chunk of type "${body.toString('latin1', 0, 4)}" after the audio data, "adtl" expected`);
    return labels;
  }
  let p = 4;
  while (p < size) {
    if (p + 8 > size) {
      problems.push(`${size - p} stray bytes at the end of the "adtl" list`);
      break;
    }
    const id = body.toString('latin1', p, p + 4);
    const len = body.readUInt32LE(p + 4);
    if (id !== CARD_LAYOUT.lablChunkId || len < 5 || p + 8 + len > size) {
      problems.push(`"${isFourCC(body.subarray(p, p + 4)) ? id : '?'}" sub-chunk of ${len} bytes in the "adtl" list is not a marker label`);
      break;
    }
    const cueId = body.readUInt32LE(p + 8);
    const text = body.subarray(p + 12, p + 8 + len);
    const nul = text.indexOf(0);
    if (nul < 0) problems.push(`the label of cue point ${cueId} is not NUL-terminated`);
    if (labels.has(cueId)) problems.push(`cue point ${cueId} has more than one label`);
    labels.set(cueId, text.toString('latin1', 0, nul < 0 ? text.length : nul));
    p += 8 + len + (len & 1);
  }
  return labels;
}

/** The "cue " and "LIST"/"adtl" chunks for markers at these sample offsets, as the recorder writes
 * them (ids 1..n, labels "Marker N"); empty without markers. */
export function encodeMarkerChunks(sampleOffsets: readonly number[]): Buffer {
  if (sampleOffsets.length === 0) return Buffer.alloc(0);
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, Buffer.alloc(body.length & 1)]);
  };
  const count = Buffer.alloc(4);
  count.writeUInt32LE(sampleOffsets.length, 0);
  const points = sampleOffsets.map((at, i) =>
    encodeStruct('CUE_POINT', { name: i + 1, position: at, chunk: Buffer.from(CARD_LAYOUT.dataChunkId, 'latin1'), chunkStart: 0, blockStart: 0, sampleOffset: at }),
  );
  const labels = sampleOffsets.map((_, i) => {
    const id = Buffer.alloc(4);
    id.writeUInt32LE(i + 1, 0);
    return chunk(CARD_LAYOUT.lablChunkId, Buffer.concat([id, Buffer.from(`${CARD_LAYOUT.markerLabelPrefix}${i + 1}\0`, 'latin1')]));
  });
  return Buffer.concat([
    chunk(CARD_LAYOUT.cueChunkId, Buffer.concat([count, ...points])),
    chunk(CARD_LAYOUT.listChunkId, Buffer.concat([Buffer.from(CARD_LAYOUT.adtlListType, 'latin1'), ...labels])),
  ]);
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
