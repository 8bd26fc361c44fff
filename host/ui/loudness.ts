/**
 * Loudness over time, for the small sparkline beside each recording: a parent can see at a
 * glance where people spoke and where the room was quiet.
 *
 * Pure functions only. `loudnessLevels` takes the decoded samples (16-bit PCM as an Int16Array,
 * or floats in -1..1 as node-wav returns them) and splits them into `count` equal stretches of
 * time; each stretch gets its RMS level in decibels below full scale, mapped onto 0..1 so that
 * `floorDb` (default -60 dBFS, a quiet room) and below is 0 and full scale is 1.
 */

import { createRequire } from 'node:module';

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

/** Block characters from lowest to highest. */
export const SPARK_CHARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

/** One block character per level (0..1; out-of-range and NaN are clamped). */
export function sparkline(levels: readonly number[]): string {
  const top = SPARK_CHARS.length - 1;
  return levels
    .map((v) => {
      const x = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
      return SPARK_CHARS[Math.round(x * top)];
    })
    .join('');
}

/** Shape of node-wav's decode, which ships no type declarations. */
interface NodeWav {
  decode(data: Uint8Array | ArrayBuffer): { sampleRate: number; channelData: Float32Array[] };
}

/**
 * Decodes a WAV file (as read from the library) and returns its loudness levels, from the first
 * channel. Throws node-wav's error if the file is not a WAV it understands.
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
