/**
 * Property tests of the streaming Deframer and the frame decoder (issue #6, fuzzing): random
 * and mutated input, with a seeded PRNG so every failure reproduces (the seed is in the test
 * name). The C deframer is fuzzed with the same invariants by firmware/fuzz/fuzz_frame.c.
 *
 * Invariants:
 *   - push() never throws; every item is a good frame or a FrameError with a known reason;
 *   - each item accounts for exactly the bytes of its segment (bytes between delimiters);
 *   - a good frame re-encodes to its segment (allowing the one non-canonical COBS form both
 *     decoders accept: a final 0xFF block without the trailing 0x01 code);
 *   - the result of a one-shot decodeWireFrame of the segment is the same (or oversize);
 *   - results do not depend on how the stream is chunked;
 *   - memory is bounded: `pending` never exceeds the largest legal encoding, whatever arrives;
 *   - a corrupted frame (bit flips, truncation, inserted bytes) never comes out as a good
 *     frame with other content.
 */
import { describe, expect, it } from 'vitest';
import { Deframer, FrameError, cobsEncode, decodeWireFrame, encodeFrame, type DeframerItem } from '../src/codec.js';
import { PROTOCOL } from '../src/schema.js';
import { xorshift32 } from '../src/prng.js';

const rng = xorshift32;

const REASONS = new Set(['cobs', 'short', 'crc', 'length', 'version', 'oversize']);

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[r() % xs.length]!;

function randomFrame(r: Rand, maxPayload: number): Buffer {
  const len = r() % 4 === 0 ? r() % (maxPayload + 1) : r() % 64;
  const payload = Buffer.alloc(len);
  const zeroHeavy = r() % 3 === 0;
  for (let i = 0; i < len; i++) payload[i] = zeroHeavy && r() % 2 ? 0 : r() & 0xff;
  if (r() % 5 === 0) payload.fill(0xaa); // long runs without zeros: 0xFF COBS blocks
  return encodeFrame({ kind: r() % 4, seq: r() & 0xffff, command: r() & 0xffff, payload });
}

function mutate(r: Rand, b: Buffer): Buffer {
  const out = Buffer.from(b);
  switch (r() % 6) {
    case 0: {
      const i = r() % out.length;
      out[i]! ^= 1 << (r() % 8);
      return out;
    }
    case 1:
      return out.subarray(0, r() % out.length);
    case 2: {
      const i = r() % (out.length + 1);
      return Buffer.concat([out.subarray(0, i), Buffer.from([r() & 0xff]), out.subarray(i)]);
    }
    case 3: {
      const i = r() % out.length;
      return Buffer.concat([out.subarray(0, i), out.subarray(i + 1)]);
    }
    case 4: {
      for (let k = 0; k < 4; k++) out[r() % out.length] = r() & 0xff;
      return out;
    }
    default:
      return Buffer.concat([out, out.subarray(0, r() % out.length)]);
  }
}

/** The segments a stream splits into (bytes between delimiters; empty ones dropped). */
function segments(stream: Buffer): { bytes: Buffer; complete: boolean }[] {
  const out: { bytes: Buffer; complete: boolean }[] = [];
  let start = 0;
  for (let i = 0; i < stream.length; i++) {
    if (stream[i] !== PROTOCOL.delimiter) continue;
    if (i > start) out.push({ bytes: stream.subarray(start, i), complete: true });
    start = i + 1;
  }
  if (start < stream.length) out.push({ bytes: stream.subarray(start), complete: false });
  return out;
}

function feed(d: Deframer, stream: Buffer, r: Rand | null): DeframerItem[] {
  const items: DeframerItem[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const n = r ? 1 + (r() % 97) : stream.length;
    items.push(...d.push(stream.subarray(pos, pos + n))); // a throw fails the test
    if (d.pending > Math.max(d.maxEncoded, stream.length)) throw new Error(`pending ${d.pending} over the bound`);
    pos += n;
  }
  return items;
}

const describeItem = (it: DeframerItem) =>
  it.ok ? `ok:${it.frame.kind}:${it.frame.seq}:${it.frame.command}:${it.frame.payload.toString('hex')}` : `err:${it.error.reason}:${it.bytes}`;

function checkStream(stream: Buffer, maxPayload: number, r: Rand) {
  const d = new Deframer(maxPayload);
  const items = feed(d, stream, r);
  const segs = segments(stream);
  const complete = segs.filter((s) => s.complete);
  expect(items.length).toBe(complete.length);
  items.forEach((item, i) => {
    const seg = complete[i]!.bytes;
    if (item.ok) {
      const enc = encodeFrame({ ...item.frame, version: item.frame.version });
      const body = enc.subarray(0, enc.length - 1);
      const same = body.equals(seg);
      const trailing = body.length === seg.length + 1 && body.subarray(0, seg.length).equals(seg) && body[seg.length] === 0x01;
      expect(same || trailing, `frame re-encodes to its segment (${seg.length} bytes)`).toBe(true);
      expect(item.frame.payload.length).toBeLessThanOrEqual(maxPayload);
    } else {
      expect(item.error).toBeInstanceOf(FrameError);
      expect(REASONS.has(item.error.reason)).toBe(true);
      expect(item.bytes).toBe(seg.length);
    }
    // The same answer as decoding the segment on its own.
    let want: string;
    if (seg.length > d.maxEncoded) want = 'err:oversize';
    else {
      try {
        decodeWireFrame(seg, maxPayload);
        want = 'ok';
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
        want = `err:${(e as FrameError).reason}`;
      }
    }
    expect(item.ok ? 'ok' : `err:${item.error.reason}`).toBe(want);
  });
  const last = segs[segs.length - 1];
  expect(d.pending).toBe(last && !last.complete ? last.bytes.length : 0);
  // Chunking does not matter.
  expect(feed(new Deframer(maxPayload), stream, null).map(describeItem)).toEqual(items.map(describeItem));
}

describe('Deframer properties', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`random bytes, frames and mutated frames keep every invariant (seed ${seed})`, () => {
      const r = rng(seed * 0x9e3779b1);
      for (let round = 0; round < 40; round++) {
        const maxPayload = pick(r, [PROTOCOL.minMaxPayload, PROTOCOL.absoluteMaxPayload, 16, 0]);
        const parts: Buffer[] = [];
        const n = 1 + (r() % 8);
        for (let k = 0; k < n; k++) {
          const kind = r() % 4;
          if (kind === 0) {
            const junk = Buffer.alloc(r() % 300);
            for (let i = 0; i < junk.length; i++) junk[i] = r() % 5 === 0 ? 0 : r() & 0xff;
            parts.push(junk);
          } else {
            const f = randomFrame(r, Math.max(maxPayload, 16));
            parts.push(kind === 1 ? f : mutate(r, f));
          }
        }
        checkStream(Buffer.concat(parts), maxPayload, r);
      }
    });
  }

  it('the non-canonical COBS form is the only ambiguity: a final 0xFF block with or without 0x01', () => {
    // 8 + 496 + 4 = 508 decoded bytes without a zero: two full 0xFF blocks, then the 0x01 code.
    let wire: Buffer | null = null;
    let payload = Buffer.alloc(0);
    for (let fill = 1; fill < 256 && !wire; fill++) {
      payload = Buffer.alloc(496, fill);
      const w = encodeFrame({ kind: 3, seq: 0x0101, command: 0x0101, payload });
      if (w.length === 508 + 2 + 1 + 1 && w[0] === 0xff && w[255] === 0xff && w[w.length - 2] === 0x01) wire = w;
    }
    expect(wire).not.toBeNull();
    const canonical = wire!;
    const short = Buffer.concat([canonical.subarray(0, canonical.length - 2), Buffer.from([0])]);
    expect(decodeWireFrame(canonical).payload.equals(payload)).toBe(true);
    expect(decodeWireFrame(short).payload.equals(payload)).toBe(true);
    checkStream(Buffer.concat([canonical, short]), PROTOCOL.minMaxPayload, rng(9));
  });

  it('a corrupted frame never decodes as a good frame with other content (2000 mutations)', () => {
    const r = rng(0xc0ffee);
    for (let i = 0; i < 2000; i++) {
      const payload = Buffer.alloc(r() % 200);
      for (let k = 0; k < payload.length; k++) payload[k] = r() & 0xff;
      const f = { kind: r() % 4, seq: r() & 0xffff, command: r() & 0xffff, payload };
      const wire = encodeFrame(f);
      const bad = mutate(r, wire);
      for (const item of new Deframer().push(Buffer.concat([bad, Buffer.from([0])]))) {
        if (!item.ok) continue;
        // Only the original frame may come out (e.g. a mutation after its delimiter).
        expect(describeItem(item)).toBe(describeItem({ ok: true, frame: { version: 1, ...f } }));
      }
    }
  });

  it('memory stays bounded under 32 MiB of input without a delimiter, and it resynchronises', () => {
    const d = new Deframer(PROTOCOL.minMaxPayload);
    const junk = Buffer.alloc(1 << 20, 0x5a);
    const before = process.memoryUsage();
    let items: DeframerItem[] = [];
    for (let i = 0; i < 32; i++) {
      items = items.concat(d.push(junk));
      expect(d.pending).toBe((i + 1) * junk.length); // counted, not stored
    }
    const after = process.memoryUsage();
    expect(items).toEqual([]);
    // The 32 MiB pushed were not kept: growth well below their size.
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 << 20);
    const good = encodeFrame({ kind: 0, seq: 7, command: 2, payload: Buffer.alloc(0) });
    const out = d.push(Buffer.concat([Buffer.from([0]), good]));
    expect(out.map((x) => (x.ok ? 'ok' : x.error.reason))).toEqual(['oversize', 'ok']);
    expect(out[0]!.ok ? 0 : out[0]!.bytes).toBe(32 << 20);
  });

  it('an encoding longer than the limit is rejected as oversize before any decoding', () => {
    const d = new Deframer(16);
    const big = encodeFrame({ kind: 0, seq: 1, command: 1, payload: Buffer.alloc(17, 1) });
    const [item] = d.push(big);
    expect(item && !item.ok && item.error.reason).toBe('oversize');
    // and a COBS stream of maximal blocks never allocates beyond the deframer's buffer
    const blocks = cobsEncode(Buffer.alloc(100_000, 0x77));
    expect(feed(new Deframer(16), Buffer.concat([blocks, Buffer.from([0])]), null).map(describeItem)).toEqual([`err:oversize:${blocks.length}`]);
  });
});
