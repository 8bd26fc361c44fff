/**
 * Encoding and decoding of the wire protocol, driven by the schema.
 *
 * Wire format: every frame is COBS-encoded and followed by a single 0x00. The decoded frame is
 * an 8-byte header, the payload, and a CRC-32 (little-endian) of header and payload.
 */
import * as zlib from 'node:zlib';
import {
  CRC32,
  FRAME_HEADER,
  PROTOCOL,
  STRUCTS,
  fieldOffsets,
  fieldSize,
  structSize,
  type FieldDef,
  type StructDef,
  type StructName,
} from './schema.js';

// ---------------------------------------------------------------------------------------------
// CRC-32

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CRC32.polyReflected : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32/ISO-HDLC with the table, in JavaScript (also the reference the tests hold zlib's to). */
export function crc32Table(data: Uint8Array, crc = 0): number {
  let c = (crc ^ CRC32.xorOut) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ CRC32.xorOut) >>> 0;
}

/**
 * zlib's CRC-32 (Node >= 20.15), the same CRC-32/ISO-HDLC in native code: every received byte
 * passes through the CRC, and the table loop cost more CPU than the rest of the frame's handling.
 */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32/ISO-HDLC. Pass a previous result as `crc` to continue over more data. */
export const crc32: (data: Uint8Array, crc?: number) => number = typeof nativeCrc32 === 'function' ? (data, crc = 0) => nativeCrc32(data, crc) : crc32Table;

// ---------------------------------------------------------------------------------------------
// COBS

/** Largest COBS encoding of `n` bytes (without the delimiter). */
export function cobsMaxEncodedLength(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

/** COBS-encodes `data`; the result contains no zero byte and no delimiter. */
export function cobsEncode(data: Uint8Array): Buffer {
  const out = Buffer.alloc(cobsMaxEncodedLength(data.length));
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    } else {
      out[o++] = b;
      code++;
      if (code === 0xff) {
        out[codeAt] = code;
        codeAt = o++;
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

export class CobsError extends Error {}

/**
 * Decoded frames are cut from slabs of this size, as Buffer.allocUnsafe does for small buffers
 * (its pool stops at 4 KiB, under a READ answer): one allocation per slab, not per frame. A
 * frame keeps its slab alive while it is held; a slab is never written again once handed out.
 */
const DECODE_SLAB_BYTES = 256 * 1024;
let slab = Buffer.allocUnsafe(0);
let slabUsed = 0;

/** An uninitialised buffer of `n` bytes of its own (no other buffer handed out overlaps it). */
function slabBuffer(n: number): Buffer {
  if (n > DECODE_SLAB_BYTES / 4) return Buffer.allocUnsafeSlow(n);
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(DECODE_SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += (n + 7) & ~7; // 8-byte aligned, as Node's pool
  return b;
}

/** Decodes one COBS block (without delimiter). Throws CobsError on malformed input. */
export function cobsDecode(enc: Uint8Array): Buffer {
  const src = Buffer.isBuffer(enc) ? enc : Buffer.from(enc.buffer, enc.byteOffset, enc.length);
  const out = slabBuffer(enc.length);
  let o = 0;
  let i = 0;
  while (i < src.length) {
    const code = src[i]!;
    if (code === 0) throw new CobsError('zero byte inside COBS data');
    i++;
    const end = i + code - 1;
    if (end > src.length) throw new CobsError('COBS block runs past the end');
    // A block is a run of non-zero bytes: check it with indexOf and copy it whole.
    const z = src.indexOf(0, i);
    if (z >= 0 && z < end) throw new CobsError('zero byte inside COBS data');
    src.copy(out, o, i, end);
    o += end - i;
    i = end;
    if (code !== 0xff && i < src.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

// ---------------------------------------------------------------------------------------------
// Frames

export interface Frame {
  version: number;
  kind: number;
  seq: number;
  command: number;
  payload: Buffer;
}

export type FrameErrorReason = 'cobs' | 'short' | 'crc' | 'length' | 'version' | 'oversize';

export class FrameError extends Error {
  constructor(
    readonly reason: FrameErrorReason,
    message: string,
  ) {
    super(message);
  }
}

const HDR = fieldOffsets(FRAME_HEADER);
const HDR_SIZE = PROTOCOL.headerSize;
if (structSize(FRAME_HEADER) !== HDR_SIZE) throw new Error('frame header size disagrees with PROTOCOL.headerSize');

/** Builds the decoded frame bytes (header, payload, CRC) without COBS. */
export function buildFrame(f: Omit<Frame, 'version'> & { version?: number }): Buffer {
  const n = f.payload.length;
  if (n > PROTOCOL.absoluteMaxPayload) throw new RangeError(`payload of ${n} bytes exceeds ${PROTOCOL.absoluteMaxPayload}`);
  const buf = Buffer.alloc(HDR_SIZE + n + PROTOCOL.crcSize);
  buf.writeUInt8(f.version ?? PROTOCOL.version, HDR.get('version')!);
  buf.writeUInt8(f.kind, HDR.get('kind')!);
  buf.writeUInt16LE(f.seq, HDR.get('seq')!);
  buf.writeUInt16LE(f.command, HDR.get('command')!);
  buf.writeUInt16LE(n, HDR.get('length')!);
  Buffer.from(f.payload.buffer, f.payload.byteOffset, n).copy(buf, HDR_SIZE);
  buf.writeUInt32LE(crc32(buf.subarray(0, HDR_SIZE + n)), HDR_SIZE + n);
  return buf;
}

/** Encodes a frame for the wire: COBS plus the trailing delimiter. */
export function encodeFrame(f: Omit<Frame, 'version'> & { version?: number }): Buffer {
  const enc = cobsEncode(buildFrame(f));
  const out = Buffer.alloc(enc.length + 1);
  enc.copy(out);
  out[enc.length] = PROTOCOL.delimiter;
  return out;
}

/**
 * Parses a decoded (un-COBSed) frame. Checks length, CRC and version, in that order, so a
 * damaged frame is reported as damaged rather than as a version mismatch.
 */
export function parseFrame(raw: Uint8Array, maxPayload: number = PROTOCOL.absoluteMaxPayload): Frame {
  return parseFrameOf(raw, maxPayload, true);
}

/** parseFrame; the payload is a copy, or with `copy` false a view of `raw` (a buffer the caller gives away). */
function parseFrameOf(raw: Uint8Array, maxPayload: number, copy: boolean): Frame {
  if (raw.length < HDR_SIZE + PROTOCOL.crcSize) throw new FrameError('short', `frame of ${raw.length} bytes is shorter than header and CRC`);
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  const n = buf.readUInt16LE(HDR.get('length')!);
  if (raw.length - HDR_SIZE - PROTOCOL.crcSize > maxPayload) throw new FrameError('oversize', `payload exceeds ${maxPayload} bytes`);
  if (n !== raw.length - HDR_SIZE - PROTOCOL.crcSize) throw new FrameError('length', `length field ${n} disagrees with frame size ${raw.length}`);
  const want = buf.readUInt32LE(HDR_SIZE + n);
  const got = crc32(buf.subarray(0, HDR_SIZE + n));
  const version = buf.readUInt8(HDR.get('version')!);
  const frame: Frame = {
    version,
    kind: buf.readUInt8(HDR.get('kind')!),
    seq: buf.readUInt16LE(HDR.get('seq')!),
    command: buf.readUInt16LE(HDR.get('command')!),
    payload: copy ? Buffer.from(buf.subarray(HDR_SIZE, HDR_SIZE + n)) : buf.subarray(HDR_SIZE, HDR_SIZE + n),
  };
  if (want !== got) {
    // The damaged frame goes with the error: a READ_CHECKED answer's intact blocks can be kept (issue 17).
    const err = new FrameError('crc', `CRC mismatch (frame says ${hex32(want)}, computed ${hex32(got)})`);
    throw Object.assign(err, { frame });
  }
  if (version !== PROTOCOL.version) {
    const err = new FrameError('version', `protocol version ${version}, expected ${PROTOCOL.version}`);
    throw Object.assign(err, { frame });
  }
  return frame;
}

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** Decodes one wire frame (COBS data, with or without the trailing delimiter). */
export function decodeWireFrame(wire: Uint8Array, maxPayload?: number): Frame {
  let w = wire;
  if (w.length > 0 && w[w.length - 1] === PROTOCOL.delimiter) w = w.subarray(0, w.length - 1);
  let raw: Buffer;
  try {
    raw = cobsDecode(w);
  } catch (e) {
    throw new FrameError('cobs', (e as Error).message);
  }
  // The decoded bytes are this frame's own: its payload is a view of them, not another copy.
  return parseFrameOf(raw, maxPayload ?? PROTOCOL.absoluteMaxPayload, false);
}

export type DeframerItem = { ok: true; frame: Frame } | { ok: false; error: FrameError; bytes: number };

/**
 * Streaming deframer: feed it arbitrary chunks, get whole frames and errors back.
 *
 * Bytes are gathered up to each delimiter. An accumulation longer than the largest legal frame
 * is dropped at once (reported as 'oversize') and the deframer discards until the next
 * delimiter, so memory stays bounded whatever arrives. Empty frames (two delimiters in a row)
 * are ignored: senders may use a leading delimiter to flush line noise.
 */
export class Deframer {
  private buf: Buffer;
  private len = 0;
  private discarding = false;
  private discarded = 0;
  readonly maxEncoded: number;

  constructor(readonly maxPayload: number = PROTOCOL.absoluteMaxPayload) {
    this.maxEncoded = cobsMaxEncodedLength(HDR_SIZE + maxPayload + PROTOCOL.crcSize);
    this.buf = Buffer.alloc(this.maxEncoded);
  }

  push(chunk: Uint8Array): DeframerItem[] {
    const out: DeframerItem[] = [];
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    // Whole runs between delimiters are handled at once (indexOf and one copy), not byte by byte.
    let i = 0;
    while (i < data.length) {
      const d = data.indexOf(PROTOCOL.delimiter, i);
      if (d < 0) {
        this.take(data, i, data.length);
        break;
      }
      if (this.len === 0 && !this.discarding) {
        // A whole frame in this chunk is decoded where it lies, without gathering it first.
        const n = d - i;
        if (n > this.maxEncoded) out.push(this.oversize(n));
        else if (n > 0) out.push(this.decode(data.subarray(i, d)));
      } else {
        this.take(data, i, d);
        if (this.discarding) out.push(this.oversize(this.discarded));
        else if (this.len > 0) out.push(this.decode(this.buf.subarray(0, this.len)));
      }
      this.len = 0;
      this.discarding = false;
      this.discarded = 0;
      i = d + 1;
    }
    return out;
  }

  private oversize(bytes: number): DeframerItem {
    return { ok: false, error: new FrameError('oversize', `frame longer than ${this.maxEncoded} encoded bytes dropped`), bytes };
  }

  /** Gathers data[from, to) (no delimiter inside) into the current frame, or discards it. */
  private take(data: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    if (this.discarding) {
      this.discarded += n;
      return;
    }
    if (this.len + n > this.maxEncoded) {
      // Longer than any legal frame: drop what was gathered and discard up to the delimiter.
      this.discarding = true;
      this.discarded = this.len + n;
      this.len = 0;
      return;
    }
    data.copy(this.buf, this.len, from, to);
    this.len += n;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.discarding ? this.discarded : this.len;
  }

  reset(): void {
    this.len = 0;
    this.discarding = false;
    this.discarded = 0;
  }

  private decode(wire: Buffer): DeframerItem {
    try {
      return { ok: true, frame: decodeWireFrame(wire, this.maxPayload) };
    } catch (e) {
      if (e instanceof FrameError) return { ok: false, error: e, bytes: wire.length };
      throw e;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Structs

export type FieldValue = number | bigint | string | Buffer;
export type StructValue = Record<string, FieldValue | Buffer | StructValue[]>;

function writeField(buf: Buffer, off: number, f: FieldDef, v: FieldValue | undefined): void {
  switch (f.type) {
    case 'u8':
      buf.writeUInt8(Number(v ?? 0), off);
      return;
    case 'u16':
      buf.writeUInt16LE(Number(v ?? 0), off);
      return;
    case 'u32':
      buf.writeUInt32LE(Number(v ?? 0), off);
      return;
    case 'u64':
      buf.writeBigUInt64LE(BigInt((v as number | bigint | undefined) ?? 0), off);
      return;
    case 'i64':
      buf.writeBigInt64LE(BigInt((v as number | bigint | undefined) ?? 0), off);
      return;
    case 'bytes': {
      const size = fieldSize(f);
      if (v === undefined) return;
      if (!Buffer.isBuffer(v) || v.length !== size) throw new TypeError(`field ${f.name} needs a Buffer of ${size} bytes`);
      v.copy(buf, off);
      return;
    }
    case 'text': {
      const size = fieldSize(f);
      const b = Buffer.from(String(v ?? ''), 'utf8');
      if (b.length > size) throw new RangeError(`field ${f.name}: text of ${b.length} bytes exceeds ${size}`);
      b.copy(buf, off);
      return;
    }
  }
}

function readField(buf: Buffer, off: number, f: FieldDef, share: boolean): FieldValue {
  switch (f.type) {
    case 'u8':
      return buf.readUInt8(off);
    case 'u16':
      return buf.readUInt16LE(off);
    case 'u32':
      return buf.readUInt32LE(off);
    case 'u64':
      return buf.readBigUInt64LE(off);
    case 'i64':
      return buf.readBigInt64LE(off);
    case 'bytes':
      return share ? buf.subarray(off, off + fieldSize(f)) : Buffer.from(buf.subarray(off, off + fieldSize(f)));
    case 'text': {
      const raw = buf.subarray(off, off + fieldSize(f));
      const end = raw.indexOf(0);
      return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
    }
  }
}

export class PayloadError extends Error {}

/** Encodes a struct value (fixed fields, then tail) to bytes. */
export function encodeStruct(name: StructName, value: StructValue): Buffer {
  const def: StructDef = STRUCTS[name];
  const fixed = Buffer.alloc(structSize(def));
  let off = 0;
  for (const f of def.fields) {
    writeField(fixed, off, f, value[f.name] as FieldValue | undefined);
    off += fieldSize(f);
  }
  if (!def.tail) return fixed;
  if (def.tail.kind === 'bytes') {
    const data = (value[def.tail.name] as Buffer | undefined) ?? Buffer.alloc(0);
    return Buffer.concat([fixed, data]);
  }
  const recs = (value[def.tail.name] as StructValue[] | undefined) ?? [];
  return Buffer.concat([fixed, ...recs.map((r) => encodeStruct((def.tail as { struct: StructName }).struct, r))]);
}

/**
 * Decodes bytes into a struct value; throws PayloadError when the size is wrong. Byte fields and a
 * bytes tail are copies, or with `share` views of `payload` (for a payload the caller gives away,
 * such as a received frame's: a READ answer's data is then not copied again).
 */
export function decodeStruct(name: StructName, payload: Uint8Array, share = false): StructValue {
  const def: StructDef = STRUCTS[name];
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const size = structSize(def);
  if (!def.tail && buf.length !== size) throw new PayloadError(`${name}: ${buf.length} bytes, exactly ${size} expected`);
  if (buf.length < size) throw new PayloadError(`${name}: ${buf.length} bytes, at least ${size} expected`);
  const out: StructValue = {};
  let off = 0;
  for (const f of def.fields) {
    out[f.name] = readField(buf, off, f, share);
    off += fieldSize(f);
  }
  if (def.tail?.kind === 'bytes') {
    out[def.tail.name] = share ? buf.subarray(size) : Buffer.from(buf.subarray(size));
  } else if (def.tail?.kind === 'records') {
    const recName = def.tail.struct as StructName;
    const recDef: StructDef = STRUCTS[recName];
    const recSize = structSize(recDef);
    const count = Number(out[def.tail.countField]);
    if (buf.length !== size + count * recSize) {
      throw new PayloadError(`${name}: ${count} records of ${recSize} bytes need ${size + count * recSize} bytes, got ${buf.length}`);
    }
    const recs: StructValue[] = [];
    for (let i = 0; i < count; i++) recs.push(decodeStruct(recName, buf.subarray(size + i * recSize, size + (i + 1) * recSize), share));
    out[def.tail.name] = recs;
  }
  return out;
}
