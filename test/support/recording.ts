/** Checks shared by the end-to-end tests: our WAV layout, the ramp signal, polling. */
import { decodeStruct, type StructValue } from '../../protocol/src/codec.js';
import { CARD_LAYOUT } from '../../protocol/src/schema.js';

/**
 * Splits a recording file as the firmware writes it: checks the RIFF size, finds the data chunk
 * (samples at CARD_LAYOUT.wavDataOffset) and decodes the trailing evid chunk.
 */
export function parseRecording(file: Buffer): { data: Buffer; evid: StructValue } {
  if (file.subarray(0, 4).toString('latin1') !== 'RIFF') throw new Error('not a RIFF file');
  if (file.readUInt32LE(4) !== file.length - 8) throw new Error(`RIFF size ${file.readUInt32LE(4)} does not match the file (${file.length} bytes)`);
  const dataSize = file.readUInt32LE(CARD_LAYOUT.wavDataOffset - 4);
  const data = file.subarray(CARD_LAYOUT.wavDataOffset, CARD_LAYOUT.wavDataOffset + dataSize);
  // The markers' chunks (cue, LIST/adtl), if any, come between the data and evid.
  let evidAt = CARD_LAYOUT.wavDataOffset + dataSize;
  for (const id of [CARD_LAYOUT.cueChunkId, CARD_LAYOUT.listChunkId]) {
    if (evidAt + 8 <= file.length && file.subarray(evidAt, evidAt + 4).toString('latin1') === id) {
      const size = file.readUInt32LE(evidAt + 4);
      evidAt += 8 + size + (size & 1);
    }
  }
  if (file.subarray(evidAt, evidAt + 4).toString('latin1') !== CARD_LAYOUT.evidenceChunkId) throw new Error(`no evid chunk after the data (offset ${evidAt})`);
  const evid = decodeStruct('EVIDENCE_CHUNK', file.subarray(evidAt + 8, evidAt + 8 + file.readUInt32LE(evidAt + 4)));
  return { data, evid };
}

/** Checks that 16-bit samples are the ramp n mod 65536 from `first`; returns the sample count. */
export function expectRamp(data: Buffer, first = 0): number {
  if (data.length % 2 !== 0) throw new Error(`odd data length ${data.length}`);
  const n = data.length / 2;
  for (let i = 0; i < n; i++) {
    const v = data.readUInt16LE(2 * i);
    if (v !== ((first + i) & 0xffff)) throw new Error(`sample ${i} is ${v}, expected ${(first + i) & 0xffff}: lost or repeated samples`);
  }
  return n;
}

/** Polls fn every 100 ms until it returns a value, failing after timeoutMs. */
export async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The longest run, in samples, of the recorded signal anywhere in `img` (2-byte aligned, as the
 * card stores 16-bit samples): every 8-sample window of the signal is looked up, each hit followed
 * while the image goes on as the signal does. All-zero blocks are skipped (they hold nothing).
 */
export function longestSignalRun(img: Buffer, sig: Buffer): number {
  const WINDOW = 8; // samples that must match before a run is followed
  const at = new Map<string, number>();
  for (let p = 0; p + 2 * WINDOW <= sig.length; p += 2) {
    const key = sig.toString('latin1', p, p + 2 * WINDOW);
    if (!at.has(key)) at.set(key, p);
  }
  const zero = Buffer.alloc(512);
  let best = 0;
  let next = 0; // the image before this was inside a run already followed
  for (let block = 0; block < img.length; block += 512) {
    if (block + 512 <= next || img.subarray(block, block + 512).equals(zero)) continue;
    for (let o = Math.max(block, next); o < block + 512 && o + 2 * WINDOW <= img.length; o += 2) {
      const p = at.get(img.toString('latin1', o, o + 2 * WINDOW));
      if (p === undefined) continue;
      let n = 0;
      while (o + 2 * n + 1 < img.length && p + 2 * n + 1 < sig.length && img.readInt16LE(o + 2 * n) === sig.readInt16LE(p + 2 * n)) n++;
      best = Math.max(best, n);
      next = o + 2 * n;
      if (next > o + 2) o = next - 2;
    }
  }
  return best;
}
