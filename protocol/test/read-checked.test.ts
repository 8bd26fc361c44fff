import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FrameError, buildFrame, cobsEncode, decodeWireFrame, type Frame } from '../src/codec.js';
import { buildReadChecked, checkedMaxLength, splitReadChecked } from '../src/read-checked.js';
import { COMMANDS, KIND } from '../src/schema.js';

const vectors = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'generated', 'vectors.json'), 'utf8')) as { frames: { name: string; wire: string }[] };
const SEQ = 0x0203;
const REQ = { number: 42, offset: 4096, length: 1100, blockSize: 512 };
const DATA = Buffer.from(Array.from({ length: 1100 }, (_, i) => (i * 7 + 1) & 0xff || 1));

/** The answer as the host receives it after `damage` changed its decoded bytes (header at 0, payload at 8). */
function received(damage: (raw: Buffer) => void): { frame: Frame; intact: boolean } {
  const raw = buildFrame({ kind: KIND.RESPONSE, seq: SEQ, command: COMMANDS.READ_CHECKED.id, payload: buildReadChecked(SEQ, REQ, DATA) });
  damage(raw);
  try {
    return { frame: decodeWireFrame(cobsEncode(raw)), intact: true };
  } catch (e) {
    const frame = (e as FrameError & { frame?: Frame }).frame;
    expect((e as FrameError).reason).toBe('crc');
    return { frame: frame!, intact: false };
  }
}

const PAYLOAD = 8;
const DATA_AT = PAYLOAD + 12;
const TABLE_AT = DATA_AT + 1100;

describe('READ_CHECKED answers', () => {
  test('the shared vector splits into its data, intact', () => {
    const v = vectors.frames.find((f) => f.name === 'read_checked_response_with_table')!;
    const frame = decodeWireFrame(Buffer.from(v.wire, 'hex'));
    const parts = splitReadChecked(frame, { number: 42, offset: 4096, length: 1100, blockSize: 512 }, true)!;
    expect(parts.bad).toEqual([]);
    expect(parts.good.map((g) => [g.offset, g.data.length])).toEqual([[4096, 1100]]);
    // and its table holds as a damaged frame's would be checked
    expect(splitReadChecked(frame, { number: 42, offset: 4096, length: 1100, blockSize: 512 }, false)!.bad).toEqual([]);
  });

  test('a damaged data byte costs its block only; the others are kept, byte for byte', () => {
    for (const [at, bad] of [
      [0, [4096, 512]],
      [511, [4096, 512]],
      [512, [4608, 512]],
      [1099, [5120, 76]],
    ] as const) {
      const { frame, intact } = received((raw) => (raw[DATA_AT + at]! ^= 0x04));
      expect(intact).toBe(false);
      const parts = splitReadChecked(frame, REQ, false)!;
      expect(parts.bad).toEqual([{ offset: bad[0], length: bad[1] }]);
      for (const g of parts.good) expect(g.data.equals(DATA.subarray(g.offset - 4096, g.offset - 4096 + g.data.length))).toBe(true);
      expect(parts.good.reduce((n, g) => n + g.data.length, 0)).toBe(1100 - bad[1]);
    }
  });

  test('a damaged table entry costs its block and the next (checked from it)', () => {
    const { frame } = received((raw) => (raw[TABLE_AT + 4]! ^= 0x01));
    expect(splitReadChecked(frame, REQ, false)!.bad).toEqual([{ offset: 4608, length: 512 + 76 }]);
  });

  test('a damaged header is never guessed at', () => {
    for (const field of [0, 4, 8, 10]) {
      const { frame } = received((raw) => (raw[PAYLOAD + field]! ^= 0x01));
      expect(splitReadChecked(frame, REQ, false)).toBeNull();
    }
    // the frame header's kind: not an answer
    expect(splitReadChecked(received((raw) => (raw[1] = KIND.EVENT)).frame, REQ, false)).toBeNull();
    // an answer longer than asked (a damaged request's length, or a wrong device) is refused
    expect(splitReadChecked(received(() => undefined).frame, { ...REQ, length: 1000 }, true)).toBeNull();
  });

  test('the largest length whose data and table fit, as the device computes it', () => {
    expect(checkedMaxLength(4096, 512)).toBe(4052);
    expect(checkedMaxLength(4096, 256)).toBe(4020);
    expect(checkedMaxLength(4096, 64)).toBe(60 * 64); // 60 blocks and their entries: 4080 of the 4084 bytes
    const payload = buildReadChecked(1, { number: 1, offset: 0, blockSize: 256 }, Buffer.alloc(checkedMaxLength(4096, 256), 1));
    expect(payload.length).toBe(4096);
  });
});
