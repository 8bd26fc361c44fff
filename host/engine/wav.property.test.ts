/**
 * Property tests of the app's one WAV parser (parseWav, host/engine/wav.ts; the loudness reader
 * uses it too) against random, mutated, truncated, oversized and malformed recordings (issue #6, fuzzing). Seeded PRNG: a failure names its seed and reproduces.
 *
 * Invariants:
 *   - parseWav never throws on a consistent reader; a bad file gives ok=false and at least one
 *     problem in words; a file it accepts has the recorder's layout (audio at 1024, an evid
 *     chunk whose sample count matches the data, everything inside the file);
 *   - it never reads (so never allocates) by a size taken from the file: every read is at most
 *     as long as the largest fixed structure (the evid chunk, or the recorder's largest cue and
 *     adtl chunks: a larger one is a problem, unread), and inside the file;
 *   - markers (cue/LIST-adtl before evid) come back as written; malformed ones are problems;
 *   - its work does not grow with what sizes claim: a data chunk of 0xFFFFFFFF bytes, or a
 *     4 GiB recording presented through a sparse reader, is parsed with a handful of reads;
 *   - a file made of a flood of tiny chunks is rejected after a bounded number of chunks
 *     instead of building a list as long as the file.
 */
import { describe, expect, it } from 'vitest';
import { buildRecorderWav } from './testing/fake-device.js';
import { MAX_ADTL_BYTES, MAX_CUE_BYTES, encodeMarkerChunks, parseWav, type ReadAt } from './wav.js';
import { CARD_LAYOUT, STRUCTS, structSize } from '../../protocol/src/schema.js';
import { xorshift32 } from '../../protocol/src/prng.js';

const rng = xorshift32;

const EVID_SIZE = structSize(STRUCTS.EVIDENCE_CHUNK);
/** The largest single read parseWav may make: a fixed structure, never a size from the file. */
const MAX_READ = Math.max(16, EVID_SIZE, 12, MAX_CUE_BYTES, MAX_ADTL_BYTES);

/** A reader over a buffer that checks every request against the file and counts them. */
function checkedReader(file: Buffer, size = file.length) {
  const stats = { reads: 0, bytes: 0, largest: 0 };
  const read: ReadAt = async (offset, length) => {
    stats.reads++;
    stats.bytes += length;
    stats.largest = Math.max(stats.largest, length);
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size)
      throw new Error(`read of ${length} bytes at ${offset} outside a file of ${size}`);
    return file.subarray(offset, offset + length);
  };
  return { read, stats };
}

const good = (samples = 777, rate = 16000, markers: number[] = []) =>
  buildRecorderWav({ number: 9, deviceId: 0x1234n, sampleRate: rate, samples, startUnixMs: 1767225600000n, markers }).file;

async function check(file: Buffer, label: string) {
  const { read, stats } = checkedReader(file);
  const r = await parseWav(read, file.length);
  expect(stats.largest, `${label}: largest read`).toBeLessThanOrEqual(MAX_READ);
  expect(stats.reads, `${label}: reads`).toBeLessThanOrEqual(4 + 3 * 80);
  expect(r.ok).toBe(r.problems.length === 0);
  for (const p of r.problems) expect(typeof p === 'string' && p.length > 10, `${label}: problem "${p}"`).toBe(true);
  // The chunk list says what the file claims (a truncated last chunk is listed, and reported).
  if (r.ok) {
    for (const c of r.layout.chunks) expect(c.offset + 8 + c.size, `${label}: chunk inside the file`).toBeLessThanOrEqual(file.length);
    const l = r.layout;
    expect(l.dataOffset).toBe(CARD_LAYOUT.wavDataOffset);
    expect(l.evidence).not.toBeNull();
    expect(l.evidence!.sampleCount * 2).toBe(l.dataLength);
    expect(l.dataOffset + l.dataLength).toBeLessThanOrEqual(file.length);
    expect(l.format).toMatchObject({ audioFormat: 1, channels: 1, bitsPerSample: 16, blockAlign: 2 });
    for (const m of l.markers) expect(m.sampleOffset, `${label}: marker inside the audio`).toBeLessThanOrEqual(l.dataLength / 2);
    expect(new Set(l.markers.map((m) => m.id)).size, `${label}: marker ids unique`).toBe(l.markers.length);
  }
  return r;
}

const EXTREMES = [0, 1, 2, 7, 8, 16, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff7, 0xfffffffe, 0xffffffff];

function mutate(r: () => number, src: Buffer): Buffer {
  let b = Buffer.from(src);
  const rounds = 1 + (r() % 4);
  for (let k = 0; k < rounds; k++) {
    switch (r() % 7) {
      case 0:
        b[r() % b.length]! ^= 1 << (r() % 8);
        break;
      case 1:
        b[r() % b.length] = r() & 0xff;
        break;
      case 2: // a size field (RIFF, a chunk size) or any aligned u32 set to an extreme
        {
          const at = [4, 16, 40, 1020, b.length - EVID_SIZE - 4, (r() % Math.max(1, b.length - 4)) & ~3][r() % 6]!;
          if (at >= 0 && at + 4 <= b.length) b.writeUInt32LE(EXTREMES[r() % EXTREMES.length]!, at);
        }
        break;
      case 3:
        b = b.subarray(0, r() % b.length);
        break;
      case 4:
        b = Buffer.concat([b, Buffer.alloc(r() % 300, r() & 0xff)]);
        break;
      case 5: // a chunk id rewritten
        {
          const cueAt = b.indexOf('cue ', CARD_LAYOUT.wavDataOffset, 'latin1');
          const listAt = b.indexOf('LIST', CARD_LAYOUT.wavDataOffset, 'latin1');
          const at = [12, 36, 1016, b.length - EVID_SIZE - 8, cueAt, listAt, listAt + 8, listAt + 12][r() % 8]!;
          if (at >= 0 && at + 4 <= b.length) b.write(['data', 'evid', 'fmt ', 'bext', 'JUNK', '\u0000\u0001xx', 'cue ', 'LIST', 'labl', 'adtl'][r() % 10]!, at, 'latin1');
        }
        break;
      default: // bytes cut from the middle
        {
          const i = r() % b.length;
          b = Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + (r() % 64)))]);
        }
        break;
    }
    if (b.length === 0) break;
  }
  return b;
}

describe('parseWav properties', () => {
  it('accepts the recorder layout with few, small reads', async () => {
    const r = await check(good(), 'good');
    expect(r.problems).toEqual([]);
  });

  for (const seed of [11, 12, 13, 14, 15]) {
    it(`mutated recordings never throw and are judged consistently (seed ${seed})`, async () => {
      const r = rng(seed * 2654435761);
      const bases = [good(), good(1, 8000), good(4000, 48000), good(0, 32000), good(777, 16000, [0, 5, 776]), good(3001, 8000, [3001])];
      let rejected = 0;
      for (let i = 0; i < 400; i++) {
        const f = mutate(r, bases[r() % bases.length]!);
        const res = await check(f, `seed ${seed} case ${i}`);
        if (!res.ok) rejected++;
      }
      expect(rejected).toBeGreaterThan(200); // most mutations break something
    });
  }

  it('returns the markers as written, in file order', async () => {
    const r = await check(good(16000, 16000, [0, 8000, 15999, 16000]), 'markers');
    expect(r.problems).toEqual([]);
    expect(r.layout.markers).toEqual([
      { id: 1, sampleOffset: 0, label: 'Marker 1' },
      { id: 2, sampleOffset: 8000, label: 'Marker 2' },
      { id: 3, sampleOffset: 15999, label: 'Marker 3' },
      { id: 4, sampleOffset: 16000, label: 'Marker 4' },
    ]);
    expect((await check(good(), 'no markers')).layout.markers).toEqual([]);
    const most = Array.from({ length: CARD_LAYOUT.maxMarkers }, (_, i) => i * 7);
    const all = await check(good(777, 16000, most), 'the most markers');
    expect(all.problems).toEqual([]);
    expect(all.layout.markers.map((m) => m.sampleOffset)).toEqual(most);
    expect(all.layout.markers.at(-1)!.label).toBe(`Marker ${CARD_LAYOUT.maxMarkers}`);
  });

  /** A recording with markers, its cue/LIST chunks replaced by `chunks` (RIFF size fixed up). */
  function withMarkerChunks(chunks: Buffer, samples = 100): Buffer {
    const plain = good(samples);
    const evidAt = CARD_LAYOUT.wavDataOffset + samples * 2;
    const f = Buffer.concat([plain.subarray(0, evidAt), chunks, plain.subarray(evidAt)]);
    f.writeUInt32LE(f.length - 8, 4);
    return f;
  }
  const riffChunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, Buffer.alloc(body.length & 1)]);
  };
  const cueOf = (points: [number, number][], chunkId = 'data') => {
    const n = Buffer.alloc(4);
    n.writeUInt32LE(points.length, 0);
    return Buffer.concat([
      n,
      ...points.map(([id, at]) => {
        const p = Buffer.alloc(24);
        p.writeUInt32LE(id, 0);
        p.writeUInt32LE(at, 4);
        p.write(chunkId, 8, 'latin1');
        p.writeUInt32LE(at, 20);
        return p;
      }),
    ]);
  };
  const lablOf = (id: number, text: string) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(id, 0);
    return riffChunk('labl', Buffer.concat([b, Buffer.from(text, 'latin1')]));
  };
  const adtl = (...subs: Buffer[]) => riffChunk('LIST', Buffer.concat([Buffer.from('adtl'), ...subs]));

  it.each([
    ['cue without labels', () => riffChunk('cue ', cueOf([[1, 5]])), /without their "LIST"\/"adtl" labels/],
    ['labels without cue', () => adtl(lablOf(1, 'Marker 1\0')), /unexpected "LIST" chunk/],
    ['cue after evid', () => Buffer.alloc(0), /after the evidence chunk/],
    ['a point past the audio', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 101]])), adtl(lablOf(1, 'Marker 1\0'))]), /past the audio data/],
    ['a point in another chunk', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]], 'fmt ')), adtl(lablOf(1, 'Marker 1\0'))]), /does not point into the "data" chunk/],
    ['repeated ids', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5], [1, 6]])), adtl(lablOf(1, 'Marker 1\0'))]), /repeated id 1/],
    ['id 0', () => Buffer.concat([riffChunk('cue ', cueOf([[0, 5]])), adtl(lablOf(0, 'x\0'))]), /id 0/],
    ['a count the size does not hold', () => Buffer.concat([riffChunk('cue ', Buffer.concat([cueOf([[1, 5]]).subarray(0, 4).fill(2, 0, 1), cueOf([[1, 5]]).subarray(4)])), adtl(lablOf(1, 'a\0'))]), /does not hold its 2 points/],
    ['too many points', () => riffChunk('cue ', Buffer.from([0xff, 0xff, 0xff, 0xff])), /at most 99/],
    ['a short cue', () => riffChunk('cue ', Buffer.from([1, 0])), /too short/],
    ['a label for no point', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]])), adtl(lablOf(1, 'Marker 1\0'), lablOf(7, 'Marker 7\0'))]), /names cue point 7/],
    ['a point without a label', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5], [2, 6]])), adtl(lablOf(1, 'Marker 1\0'))]), /cue point 2 has no label/],
    ['a label without its NUL', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]])), adtl(lablOf(1, 'Marker 1'))]), /not NUL-terminated/],
    ['a list of another type', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]])), riffChunk('LIST', Buffer.from('INFOxxxx'))]), /type "INFO"/],
    ['a note chunk in adtl', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]])), adtl(riffChunk('note', Buffer.from('\u0001\u0000\u0000\u0000hi\u0000')))]), /"note" sub-chunk/],
    ['a huge adtl', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]])), riffChunk('LIST', Buffer.alloc(MAX_ADTL_BYTES + 2))]), /not a list of marker labels/],
    ['a sub-chunk running past the list', () => Buffer.concat([riffChunk('cue ', cueOf([[1, 5]])), riffChunk('LIST', Buffer.concat([Buffer.from('adtllabl'), Buffer.from([200, 0, 0, 0, 1, 0, 0, 0])]))]), /sub-chunk of 200 bytes/],
  ])('malformed markers are problems, not crashes: %s', async (name, make, re) => {
    let f = withMarkerChunks(make());
    if (name === 'cue after evid') {
      f = Buffer.concat([good(100), Buffer.from(encodeMarkerChunks([5]))]);
      f.writeUInt32LE(f.length - 8, 4);
    }
    const res = await check(f, name);
    expect(res.ok).toBe(false);
    expect(res.problems.join('; ')).toMatch(re);
  });

  it('random bytes behind a RIFF/WAVE header never throw', async () => {
    const r = rng(99);
    for (let i = 0; i < 300; i++) {
      const f = Buffer.alloc(12 + (r() % 2000));
      for (let k = 12; k < f.length; k++) f[k] = r() & 0xff;
      f.write('RIFF', 0, 'latin1');
      f.writeUInt32LE(r() % 3 === 0 ? f.length - 8 : r(), 4);
      f.write('WAVE', 8, 'latin1');
      const res = await check(f, `random ${i}`);
      expect(res.ok).toBe(false);
    }
  });

  it.each([
    ['empty', Buffer.alloc(0), /too short/],
    ['eleven bytes', Buffer.from('RIFF\u0000\u0000\u0000\u0000WAV'), /too short/],
    ['not RIFF', Buffer.from('RIFX\u0004\u0000\u0000\u0000WAVE'), /RIFF\/WAVE/],
    ['header only', Buffer.from('RIFF\u0004\u0000\u0000\u0000WAVE'), /no "fmt "/],
  ])('rejects %s with a clear message', async (_n, f, re) => {
    const res = await check(f, _n);
    expect(res.ok).toBe(false);
    expect(res.problems.join('; ')).toMatch(re);
  });

  it('a data chunk claiming 0xFFFFFFFF bytes is reported as truncated at once, allocating nothing of that size', async () => {
    const f = good();
    f.writeUInt32LE(0xffffffff, CARD_LAYOUT.wavDataOffset - 4);
    f.writeUInt32LE(0xffffffff, 4);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const res = await check(f, 'data 0xFFFFFFFF');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    expect(res.ok).toBe(false);
    expect(res.problems.join('; ')).toMatch(/"data" chunk .* runs past the end of the file \(truncated\)/);
  });

  it('a 4 GiB recording (sparse reader) is parsed with a handful of small reads', async () => {
    // The real structure of a recording of 0xFFFFFA00 audio bytes, the largest the device
    // writes, served from a map of the few places that are not audio.
    const small = good(1);
    const dataLen = 0xfffffa00;
    const head = Buffer.from(small.subarray(0, CARD_LAYOUT.wavDataOffset));
    const evid = Buffer.from(small.subarray(CARD_LAYOUT.wavDataOffset + 2));
    const evidBody = evid.subarray(8);
    evidBody.writeUInt32LE(dataLen / 2, 20); // sampleCount
    const size = CARD_LAYOUT.wavDataOffset + dataLen + evid.length;
    head.writeUInt32LE(size - 8, 4);
    head.writeUInt32LE(dataLen, CARD_LAYOUT.wavDataOffset - 4);
    const evidAt = CARD_LAYOUT.wavDataOffset + dataLen;
    let reads = 0;
    const read: ReadAt = async (offset, length) => {
      reads++;
      expect(length).toBeLessThanOrEqual(MAX_READ);
      const out = Buffer.alloc(length);
      for (let i = 0; i < length; i++) {
        const o = offset + i;
        if (o < head.length) out[i] = head[o]!;
        else if (o >= evidAt && o < evidAt + evid.length) out[i] = evid[o - evidAt]!;
      }
      return out;
    };
    const res = await parseWav(read, size);
    // sampleCount is at offset 20 of EVIDENCE_CHUNK only if the schema says so: check the parse.
    expect(res.layout.dataLength).toBe(dataLen);
    expect(res.layout.evidence).not.toBeNull();
    expect(reads).toBeLessThan(12);
    if (res.layout.evidence!.sampleCount === dataLen / 2) expect(res.problems).toEqual([]);
  });

  it('a flood of tiny chunks is rejected after a bounded number of them, not listed one by one', async () => {
    // 1 MiB of 8-byte "JUNK" chunks of size 0 after a valid header: 131072 chunks.
    const base = good(2);
    const flood = Buffer.alloc(1 << 20);
    for (let o = 0; o < flood.length; o += 8) flood.write('JUNK', o, 'latin1');
    const f = Buffer.concat([base, flood]);
    f.writeUInt32LE(f.length - 8, 4);
    const { read, stats } = checkedReader(f);
    const res = await parseWav(read, f.length);
    expect(res.ok).toBe(false);
    expect(res.layout.chunks.length).toBeLessThanOrEqual(1024);
    expect(res.problems.length).toBeLessThanOrEqual(1100);
    expect(stats.reads).toBeLessThanOrEqual(1100);
    expect(res.problems.join('; ')).toMatch(/chunks/);
  });
});
