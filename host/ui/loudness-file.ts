/**
 * Loudness of a WAV file in the library, for the sparkline. The one place in host/ui that reads
 * files. Recordings can be hours long (hundreds of MB), so 16-bit PCM is read a piece at a time
 * and never held in memory whole; other formats fall back to node-wav (see loudness.ts).
 */

import { open, readFile } from 'node:fs/promises';
import { LoudnessAccumulator, loudnessFromWav } from './loudness.js';

interface WavLayout {
  format: number;
  channels: number;
  bitsPerSample: number;
  dataOffset: number;
  dataSize: number;
}

/** Finds the fmt and data chunks in the first bytes of a RIFF/WAVE file. */
export function parseWavLayout(head: Uint8Array, fileSize: number): WavLayout | null {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const tag = (at: number): string => String.fromCharCode(...head.subarray(at, at + 4));
  if (head.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') return null;
  let pos = 12;
  let fmt: Omit<WavLayout, 'dataOffset' | 'dataSize'> | null = null;
  while (pos + 8 <= head.length) {
    const id = tag(pos);
    const size = v.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === 'fmt ' && body + 16 <= head.length) {
      fmt = { format: v.getUint16(body, true), channels: v.getUint16(body + 2, true), bitsPerSample: v.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) return null;
      return { ...fmt, dataOffset: body, dataSize: Math.min(size, Math.max(0, fileSize - body)) };
    }
    pos = body + size + (size % 2);
  }
  return null;
}

const HEAD_BYTES = 64 * 1024;
const PIECE_BYTES = 1 << 20;

/** Loudness levels (0..1 each) of the first channel of a WAV file. */
export async function loudnessOfWavFile(path: string, count: number): Promise<number[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await fh.read(head, 0, head.length, 0);
    const layout = parseWavLayout(head, size);
    if (!layout || layout.format !== 1 || layout.bitsPerSample !== 16 || layout.channels < 1) {
      return loudnessFromWav(await readFile(path), count);
    }
    const frameBytes = 2 * layout.channels;
    const frames = Math.floor(layout.dataSize / frameBytes);
    const acc = new LoudnessAccumulator(frames, count);
    const piece = Buffer.alloc(PIECE_BYTES - (PIECE_BYTES % frameBytes));
    let done = 0;
    while (done < frames) {
      const want = Math.min(piece.length, (frames - done) * frameBytes);
      const { bytesRead } = await fh.read(piece, 0, want, layout.dataOffset + done * frameBytes);
      const got = Math.floor(bytesRead / frameBytes);
      if (got === 0) break;
      const firstChannel = new Int16Array(got);
      for (let i = 0; i < got; i++) firstChannel[i] = piece.readInt16LE(i * frameBytes);
      acc.push(firstChannel);
      done += got;
    }
    return acc.levels();
  } finally {
    await fh.close().catch(() => undefined);
  }
}
