import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CobsError,
  Deframer,
  FrameError,
  cobsDecode,
  cobsEncode,
  crc32,
  crc32Table,
  decodeStruct,
  decodeWireFrame,
  encodeFrame,
  encodeStruct,
  type Frame,
} from '../src/codec.js';
import { COMMANDS, KIND, PROTOCOL, type StructName } from '../src/schema.js';
import type { Vectors } from '../gen/vectors.js';
import { xorshift32 } from '../src/prng.js';

const vectors = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'generated', 'vectors.json'), 'utf8')) as Vectors;
const hex = (s: string) => Buffer.from(s, 'hex');

const rng = xorshift32;

describe('CRC-32', () => {
  it('has the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
  it.each(vectors.crc32)('vector $name', (v) => {
    expect(crc32(hex(v.input))).toBe(v.crc);
  });
  it('continues incrementally', () => {
    const data = Buffer.from('hello, recorder');
    expect(crc32(data.subarray(5), crc32(data.subarray(0, 5)))).toBe(crc32(data));
  });
  it('zlib\'s CRC (when Node has it) equals the table', () => {
    const next = xorshift32(99);
    for (let n = 0; n < 300; n += 7) {
      const data = Buffer.from(Array.from({ length: n }, () => next() & 0xff));
      const start = next();
      expect(crc32(data)).toBe(crc32Table(data));
      expect(crc32(data, start)).toBe(crc32Table(data, start));
    }
  });
});

describe('COBS', () => {
  it.each(vectors.cobs)('vector $name encodes and decodes', (v) => {
    const enc = cobsEncode(hex(v.decoded));
    expect(enc.toString('hex')).toBe(v.encoded);
    expect(enc.includes(0)).toBe(false);
    expect(cobsDecode(enc).toString('hex')).toBe(v.decoded);
  });
  it('rejects a zero byte and a block running past the end', () => {
    expect(() => cobsDecode(Buffer.from([0x03, 0x01, 0x00]))).toThrow(CobsError);
    expect(() => cobsDecode(Buffer.from([0x05, 0x01]))).toThrow(CobsError);
  });
  it('round-trips random data of every length up to 1100', () => {
    const r = rng(42);
    for (let n = 0; n <= 1100; n += 7) {
      const data = Buffer.from(Array.from({ length: n }, () => (r() % 4 === 0 ? 0 : r() & 0xff)));
      expect(cobsDecode(cobsEncode(data)).equals(data)).toBe(true);
    }
  });
});

describe('structs', () => {
  it.each(vectors.messages)('vector $struct encodes to the same bytes', (m) => {
    const decoded = decodeStruct(m.struct, hex(m.bytes));
    for (const f of m.fields) {
      const got = decoded[f.name];
      const want = f.type === 'bytes' ? f.value : f.value;
      if (Buffer.isBuffer(got)) expect(got.toString('hex')).toBe(want);
      else expect(String(got)).toBe(want);
    }
    expect(encodeStruct(m.struct, decoded).toString('hex')).toBe(m.bytes);
  });
  it('rejects payloads of the wrong size', () => {
    expect(() => decodeStruct('READ_REQ', Buffer.alloc(15))).toThrow(/exactly 16/);
    expect(() => decodeStruct('READ_REQ', Buffer.alloc(17))).toThrow(/exactly 16/);
    const list = encodeStruct('LIST', { total: 1, count: 2, more: 0, reserved: 0 });
    expect(() => decodeStruct('LIST', list)).toThrow(/2 records/);
  });
  it('refuses text longer than its field', () => {
    expect(() => encodeStruct('SET_LABEL_REQ' as StructName, { label: 'x'.repeat(33) })).toThrow(RangeError);
  });
});

describe('frames', () => {
  it.each(vectors.frames)('vector $name', (f) => {
    const wire = encodeFrame({ kind: f.kind, seq: f.seq, command: f.command, payload: hex(f.payload) });
    expect(wire.toString('hex')).toBe(f.wire);
    const back = decodeWireFrame(hex(f.wire));
    expect(back).toMatchObject({ version: PROTOCOL.version, kind: f.kind, seq: f.seq, command: f.command });
    expect(back.payload.toString('hex')).toBe(f.payload);
  });
  it.each(vectors.rejects)('rejects $name as $reason', (r) => {
    let err: unknown;
    try {
      decodeWireFrame(hex(r.wire));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).reason).toBe(r.reason);
  });
  it('keeps seq and command of a frame with another version, so it can be answered', () => {
    const v = vectors.rejects.find((r) => r.reason === 'version')!;
    try {
      decodeWireFrame(hex(v.wire));
      expect.unreachable();
    } catch (e) {
      expect((e as FrameError & { frame: Frame }).frame).toMatchObject({ version: 2, seq: 5, command: COMMANDS.INFO.id });
    }
  });
});

function collect(d: Deframer, chunks: Uint8Array[]) {
  const frames: Frame[] = [];
  let errors = 0;
  for (const c of chunks) {
    for (const item of d.push(c)) {
      if (item.ok) frames.push(item.frame);
      else errors++;
    }
  }
  return { frames, errors };
}

describe('Deframer', () => {
  it.each(vectors.stream)('stream $name in one chunk, byte by byte and in random chunks', (s) => {
    const wire = hex(s.wire);
    const want = s.frames.map((w) => decodeWireFrame(hex(w)));
    const r = rng(7);
    const splits: Uint8Array[][] = [[wire], Array.from(wire, (b) => Uint8Array.of(b))];
    const random: Uint8Array[] = [];
    for (let i = 0; i < wire.length; ) {
      const n = 1 + (r() % 97);
      random.push(wire.subarray(i, i + n));
      i += n;
    }
    splits.push(random);
    for (const chunks of splits) {
      const got = collect(new Deframer(), chunks);
      expect(got.frames).toEqual(want);
      expect(got.errors).toBe(s.errors);
    }
  });

  it('resynchronises after random garbage between frames (property)', () => {
    const r = rng(1234);
    for (let round = 0; round < 200; round++) {
      const sent: Frame[] = [];
      const parts: Buffer[] = [];
      for (let i = 0; i < 5; i++) {
        // Garbage, then a delimiter: a receiver can only resynchronise at a delimiter.
        const g = Buffer.from(Array.from({ length: r() % 300 }, () => r() & 0xff));
        parts.push(g, Buffer.from([0]));
        const payload = Buffer.from(Array.from({ length: r() % 700 }, () => r() & 0xff));
        const f = { kind: KIND.RESPONSE, seq: 1 + (r() % 65535), command: COMMANDS.READ.id, payload };
        sent.push({ version: PROTOCOL.version, ...f });
        parts.push(encodeFrame(f));
      }
      const wire = Buffer.concat(parts);
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < wire.length; ) {
        const n = 1 + (r() % 200);
        chunks.push(wire.subarray(i, i + n));
        i += n;
      }
      const got = collect(new Deframer(), chunks);
      // Every real frame is recovered; garbage can never be accepted as a frame (CRC-32).
      expect(got.frames).toEqual(sent);
    }
  });

  it('drops oversize input with bounded memory and recovers at the next delimiter', () => {
    const d = new Deframer(PROTOCOL.minMaxPayload);
    const flood = Buffer.alloc(1_000_000, 0x41);
    const items = d.push(flood);
    expect(items).toEqual([]);
    expect(d.pending).toBe(flood.length);
    const ok = encodeFrame({ kind: KIND.REQUEST, seq: 3, command: COMMANDS.INFO.id, payload: Buffer.alloc(0) });
    const res = d.push(Buffer.concat([Buffer.from([0]), ok]));
    expect(res).toHaveLength(2);
    expect(res[0]!.ok).toBe(false);
    expect(res[0]!.ok === false && res[0]!.error.reason).toBe('oversize');
    expect(res[1]!.ok && res[1]!.frame.seq).toBe(3);
  });

  it('rejects a frame whose payload exceeds the agreed limit', () => {
    const d = new Deframer(4096);
    const big = encodeFrame({ kind: KIND.RESPONSE, seq: 1, command: COMMANDS.READ.id, payload: Buffer.alloc(5000, 1) });
    const [item] = d.push(big);
    expect(item!.ok).toBe(false);
  });

  it('never throws on random bytes (fuzz)', () => {
    const r = rng(99);
    const d = new Deframer(4096);
    for (let i = 0; i < 2000; i++) {
      const chunk = Buffer.from(Array.from({ length: r() % 64 }, () => (r() % 8 === 0 ? 0 : r() & 0xff)));
      expect(() => d.push(chunk)).not.toThrow();
    }
  });
});
