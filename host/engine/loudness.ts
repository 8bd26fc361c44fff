/**
 * Loudness over time, for the small sparkline beside each recording (drawn by host/ui): a parent
 * can see at a glance where people spoke and where the room was quiet.
 *
 * `loudnessLevels` takes the decoded samples (16-bit PCM as an Int16Array,
 * or floats in -1..1 as node-wav returns them) and splits them into `count` equal stretches of
 * time; each stretch gets its RMS level in decibels below full scale, mapped onto 0..1 so that
 * `floorDb` (default -60 dBFS, a quiet room) and below is 0 and full scale is 1.
 */

import { createRequire } from 'node:module';
import { open } from 'node:fs/promises';
import { readerFor } from './verify.js';
import { parseWav } from './wav.js';

export type Samples = Int16Array | Float32Array | Float64Array | readonly number[];

export interface LoudnessOptions {
  /** Level that maps to 0; anything quieter is 0 too. Negative dBFS, default -60. */
  floorDb?: number;
}

const DEFAULT_FLOOR_DB = -60;

/** Scale that maps a raw sample to -1..1: Int16 samples are divided by 32768, floats are kept. */
function sampleScale(samples: Samples): number {
  return samples instanceof Int16Array ? 1 / 32768 : 1;
}

/**
 * RMS level of each of `count` equal stretches of the samples, as 0..1 on a decibel scale.
 * Returns `count` zeros for no samples; a stretch that gets no samples (fewer samples than
 * `count`) is 0.
 */
export function loudnessLevels(samples: Samples, count: number, options: LoudnessOptions = {}): number[] {
  if (!Number.isInteger(count) || count <= 0) throw new RangeError(`count must be a positive integer, got ${count}`);
  const floorDb = options.floorDb ?? DEFAULT_FLOOR_DB;
  if (!(floorDb < 0)) throw new RangeError(`floorDb must be negative, got ${floorDb}`);
  const n = samples.length;
  const scale = sampleScale(samples);
  const levels: number[] = [];
  for (let b = 0; b < count; b++) {
    const start = Math.floor((b * n) / count);
    const end = Math.floor(((b + 1) * n) / count);
    if (end <= start) {
      levels.push(0);
      continue;
    }
    let sum = 0;
    for (let i = start; i < end; i++) {
      const x = (samples[i] ?? 0) * scale;
      sum += x * x;
    }
    const rms = Math.sqrt(sum / (end - start));
    levels.push(levelFromRms(rms, floorDb));
  }
  return levels;
}

/** Maps an RMS amplitude (full scale 1) to 0..1 on a decibel scale from floorDb to 0 dBFS. */
export function levelFromRms(rms: number, floorDb: number = DEFAULT_FLOOR_DB): number {
  if (!(rms > 0)) return 0;
  const db = 20 * Math.log10(rms);
  if (db <= floorDb) return 0;
  if (db >= 0) return 1;
  return 1 - db / floorDb;
}

/** Shape of node-wav's decode, which ships no type declarations. */
interface NodeWav {
  decode(data: Uint8Array | ArrayBuffer): { sampleRate: number; channelData: Float32Array[] };
}

/**
 * Decodes a whole WAV file with node-wav and returns its loudness levels, from the first channel:
 * for formats other than the recorder's 16-bit PCM. Throws node-wav's error if the file is not a
 * WAV it understands.
 */
export function loudnessFromWav(wavFile: Uint8Array, count: number, options: LoudnessOptions = {}): number[] {
  const require = createRequire(import.meta.url);
  const wav = require('node-wav') as NodeWav;
  // node-wav misreads a view into a larger buffer (it ignores byteOffset when computing the
  // end), so hand it an ArrayBuffer of exactly the file.
  const exact = wavFile.buffer.slice(wavFile.byteOffset, wavFile.byteOffset + wavFile.byteLength) as ArrayBuffer;
  const decoded = wav.decode(exact);
  return loudnessLevels(decoded.channelData[0] ?? new Float32Array(0), count, options);
}

/**
 * The same levels as `loudnessLevels`, computed from samples that arrive in pieces (a long
 * recording read from disk a megabyte at a time), given the total number of samples up front.
 */
export class LoudnessAccumulator {
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;
  private seen = 0;

  constructor(
    private readonly totalSamples: number,
    private readonly count: number,
    private readonly options: LoudnessOptions = {},
  ) {
    if (!Number.isInteger(count) || count <= 0) throw new RangeError(`count must be a positive integer, got ${count}`);
    this.sums = new Float64Array(count);
    this.counts = new Float64Array(count);
  }

  /** Adds the next samples, in order. Samples beyond totalSamples are ignored. */
  push(samples: Samples): void {
    const scale = sampleScale(samples);
    const n = this.totalSamples;
    for (let i = 0; i < samples.length && this.seen < n; i++, this.seen++) {
      // Bucket b holds samples floor(b*n/count) .. floor((b+1)*n/count)-1, as loudnessLevels.
      let b = Math.floor((this.seen * this.count) / n);
      while (b > 0 && Math.floor((b * n) / this.count) > this.seen) b--;
      while (b < this.count - 1 && Math.floor(((b + 1) * n) / this.count) <= this.seen) b++;
      const x = (samples[i] ?? 0) * scale;
      this.sums[b] = (this.sums[b] ?? 0) + x * x;
      this.counts[b] = (this.counts[b] ?? 0) + 1;
    }
  }

  levels(): number[] {
    const floorDb = this.options.floorDb ?? DEFAULT_FLOOR_DB;
    const out: number[] = [];
    for (let b = 0; b < this.count; b++) {
      const c = this.counts[b] ?? 0;
      out.push(c > 0 ? levelFromRms(Math.sqrt((this.sums[b] ?? 0) / c), floorDb) : 0);
    }
    return out;
  }
}

const PIECE_BYTES = 1 << 20;

/**
 * Loudness levels (0..1 each) of the first channel of a WAV file in the library. Recordings can be
 * hours long (hundreds of MB), so 16-bit PCM is found with the app's one WAV parser (wav.ts) and
 * read a piece at a time, never held in memory whole; other formats go to node-wav.
 */
export async function loudnessOfWavFile(path: string, count: number): Promise<number[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const { layout } = await parseWav(readerFor(fh), size);
    const fmt = layout.format;
    if (!fmt || fmt.audioFormat !== 1 || fmt.bitsPerSample !== 16 || fmt.channels < 1 || layout.dataOffset < 0) {
      return loudnessFromWav(await fh.readFile(), count);
    }
    const frameBytes = 2 * fmt.channels;
    const dataBytes = Math.min(layout.dataLength, Math.max(0, size - layout.dataOffset));
    const frames = Math.floor(dataBytes / frameBytes);
    const acc = new LoudnessAccumulator(frames, count);
    const piece = Buffer.alloc(PIECE_BYTES - (PIECE_BYTES % frameBytes));
    let done = 0;
    while (done < frames) {
      const want = Math.min(piece.length, (frames - done) * frameBytes);
      const { bytesRead } = await fh.read(piece, 0, want, layout.dataOffset + done * frameBytes);
      const got = Math.floor(bytesRead / frameBytes);
      if (got === 0) break;
      const firstChannel = new Int16Array(got);
      for (let k = 0; k < got; k++) firstChannel[k] = piece.readInt16LE(k * frameBytes);
      acc.push(firstChannel);
      done += got;
    }
    return acc.levels();
  } finally {
    await fh.close().catch(() => undefined);
  }
}
