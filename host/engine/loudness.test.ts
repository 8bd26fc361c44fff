import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LoudnessAccumulator, levelFromRms, loudnessFromWav, loudnessLevels, loudnessOfWavFile } from './loudness.js';
import { parseWav } from './wav.js';

/** `seconds` of 16 kHz audio: quiet noise, with a loud tone from `burstFrom` to `burstTo` seconds. */
function meeting(seconds: number, burstFrom: number, burstTo: number, rate = 16000): Int16Array {
  const out = new Int16Array(seconds * rate);
  let seed = 1;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const noise = ((seed / 0x7fffffff) * 2 - 1) * 30; // about -64 dBFS: a quiet room
    const t = i / rate;
    const tone = t >= burstFrom && t < burstTo ? Math.sin(2 * Math.PI * 440 * t) * 20000 : 0;
    out[i] = Math.round(noise + tone);
  }
  return out;
}

function argmax(xs: number[]): number {
  return xs.reduce((best, x, i) => (x > (xs[best] ?? -Infinity) ? i : best), 0);
}

describe('loudnessLevels', () => {
  it('gives silence the lowest level everywhere', () => {
    const levels = loudnessLevels(new Int16Array(16000), 16);
    expect(levels).toHaveLength(16);
    expect(levels.every((v) => v === 0)).toBe(true);
  });

  it('keeps a quiet room low', () => {
    const levels = loudnessLevels(meeting(8, 100, 100), 8);
    expect(Math.max(...levels)).toBeLessThan(0.1);
  });

  it('shows a loud burst in the stretch of time where it happened', () => {
    // 16 s, speech from 10 s to 12 s: buckets of 1 s, so buckets 10 and 11 are loud.
    const levels = loudnessLevels(meeting(16, 10, 12), 16);
    expect(argmax(levels)).toBeGreaterThanOrEqual(10);
    expect(argmax(levels)).toBeLessThanOrEqual(11);
    expect(levels[10]).toBeGreaterThan(0.8);
    expect(levels[11]).toBeGreaterThan(0.8);
    for (const i of [0, 5, 9, 12, 15]) expect(levels[i]).toBeLessThan(0.1);
    // A 440 Hz tone at 20000/32768 peak is about -7 dBFS: the second-highest of eight steps
    // (the sparkline's blocks); everything else is on the lowest.
    const steps = levels.map((v) => Math.round(v * 7));
    expect(steps.filter((x, i) => i !== 10 && i !== 11 && x !== 0)).toEqual([]);
    expect([steps[10], steps[11]]).toEqual([6, 6]);
  });

  it('treats Int16 and float samples alike (full scale is 1)', () => {
    const i16 = Int16Array.from({ length: 1000 }, (_, i) => (i % 2 ? 16384 : -16384));
    const f32 = Float32Array.from(i16, (x) => x / 32768);
    const a = loudnessLevels(i16, 4);
    const b = loudnessLevels(f32, 4);
    for (let i = 0; i < 4; i++) expect(a[i]).toBeCloseTo(b[i] as number, 6);
    // Half scale is -6 dBFS: 1 - 6.02/60 ≈ 0.9.
    expect(a[0]).toBeCloseTo(1 - (20 * Math.log10(0.5)) / -60, 3);
  });

  it('maps decibels linearly between the floor and full scale', () => {
    expect(levelFromRms(1)).toBe(1);
    expect(levelFromRms(0)).toBe(0);
    expect(levelFromRms(0.001)).toBe(0); // -60 dBFS: the floor
    expect(levelFromRms(0.01)).toBeCloseTo(1 / 3, 6); // -40 dBFS
    expect(levelFromRms(0.01, -40)).toBe(0);
  });

  it('gives 0 to stretches that get no samples, and rejects a bad count', () => {
    expect(loudnessLevels([0.5, 0.5], 4)).toEqual([0, expect.any(Number), 0, expect.any(Number)]);
    expect(loudnessLevels([], 3)).toEqual([0, 0, 0]);
    expect(() => loudnessLevels([1], 0)).toThrow(RangeError);
    expect(() => loudnessLevels([1], 2.5)).toThrow(RangeError);
  });
});

describe('LoudnessAccumulator', () => {
  it('gives the same levels as loudnessLevels when fed in uneven pieces', () => {
    const samples = meeting(5, 1.3, 2.1, 8000);
    const whole = loudnessLevels(samples, 13);
    const acc = new LoudnessAccumulator(samples.length, 13);
    let at = 0;
    for (const size of [1, 777, 4096, 3, 10000]) {
      acc.push(samples.subarray(at, at + size));
      at += size;
    }
    acc.push(samples.subarray(at));
    const pieces = acc.levels();
    expect(pieces).toHaveLength(13);
    for (let i = 0; i < 13; i++) expect(pieces[i]).toBeCloseTo(whole[i] as number, 9);
  });
});

/** A WAV laid out as the recorder writes it: padding so audio starts at 1024, then an evid chunk. */
function recorderWav(samples: Int16Array, rate = 16000): Buffer {
  const fmt = Buffer.alloc(8 + 16);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE(rate * 2, 16);
  fmt.writeUInt16LE(2, 20);
  fmt.writeUInt16LE(16, 22);
  const padBody = 1024 - 12 - fmt.length - 8 - 8;
  const pad = Buffer.alloc(8 + padBody);
  pad.write('JUNK', 0, 'latin1');
  pad.writeUInt32LE(padBody, 4);
  const dataHead = Buffer.alloc(8);
  dataHead.write('data', 0, 'latin1');
  dataHead.writeUInt32LE(samples.byteLength, 4);
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const evid = Buffer.alloc(8 + 72, 0x55);
  evid.write('evid', 0, 'latin1');
  evid.writeUInt32LE(72, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), fmt, pad, dataHead, data, evid]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

describe('loudness of WAV files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'engine-loudness-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the audio at offset 1024 in a recorder-style file (with the app\'s WAV parser)', async () => {
    const wav = recorderWav(meeting(1, 0, 0));
    const { layout } = await parseWav(async (o, n) => wav.subarray(o, o + n), wav.length);
    expect(layout.format).toMatchObject({ audioFormat: 1, channels: 1, bitsPerSample: 16 });
    expect(layout).toMatchObject({ dataOffset: 1024, dataLength: 32000 });
  });

  it('refuses a file that is not a WAV, as node-wav does', async () => {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'not a wav file at all');
    await expect(loudnessOfWavFile(path, 4)).rejects.toThrow();
  });

  it('reads a file from disk piece by piece and finds the burst (and agrees with node-wav)', async () => {
    const samples = meeting(20, 15, 17);
    const wav = recorderWav(samples);
    const path = join(dir, 'REC00007.WAV');
    writeFileSync(path, wav);
    const levels = await loudnessOfWavFile(path, 10);
    expect(argmax(levels)).toBe(7); // 2 s per bucket: 15..17 s is bucket 7
    expect(levels[7]).toBeGreaterThan(0.8);
    expect(levels[2]).toBeLessThan(0.1);
    const viaNodeWav = loudnessFromWav(wav, 10);
    for (let i = 0; i < 10; i++) expect(levels[i]).toBeCloseTo(viaNodeWav[i] as number, 3);
  });

  it('falls back to node-wav for formats other than 16-bit PCM', async () => {
    const require = createRequire(import.meta.url);
    const wav = require('node-wav') as { encode(ch: Float32Array[], o: object): Buffer };
    const ch = new Float32Array(8000 * 4);
    for (let i = 8000; i < 16000; i++) ch[i] = Math.sin(i / 3) * 0.7;
    const path = join(dir, 'float.wav');
    writeFileSync(path, wav.encode([ch], { sampleRate: 8000, float: true }));
    const levels = await loudnessOfWavFile(path, 4);
    expect(argmax(levels)).toBe(1);
    expect(levels[0]).toBe(0);
  });
});
