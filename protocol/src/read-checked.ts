/**
 * READ_CHECKED answers (schema.ts, issue 17): the data of a READ followed by a check table, one
 * u32 per block, the frame CRC's running value at the end of that block. A block's bytes are
 * right when the CRC-32 continued from the previous entry over them gives its entry, whatever
 * happened to the other blocks, so a host can keep the intact blocks of a damaged answer and read
 * only the others again. Used by the host (splitting), the fake device and the vectors (building).
 */
import { crc32, encodeStruct, type Frame } from './codec.js';
import { COMMANDS, KIND, PROTOCOL, STRUCTS, structSize } from './schema.js';

const FIELDS = structSize(STRUCTS.READ_CHECKED);
const ENTRY = 4;

/** Blocks (table entries) of `dataLength` bytes in blocks of `blockSize`. */
export function checkedBlocks(dataLength: number, blockSize: number): number {
  return Math.ceil(dataLength / blockSize);
}

/** The largest READ_CHECKED length whose data and table fit a payload of `maxPayload` (the device's rule). */
export function checkedMaxLength(maxPayload: number, blockSize: number): number {
  const room = maxPayload - FIELDS;
  const whole = Math.floor(room / (blockSize + ENTRY));
  const rest = room - whole * (blockSize + ENTRY);
  return whole * blockSize + Math.max(0, rest - ENTRY);
}

/** The frame header's 8 bytes as they were sent, from a frame's fields. */
function headerBytes(f: Omit<Frame, 'payload'>, length: number): Buffer {
  const h = Buffer.alloc(PROTOCOL.headerSize);
  h.writeUInt8(f.version, 0);
  h.writeUInt8(f.kind, 1);
  h.writeUInt16LE(f.seq, 2);
  h.writeUInt16LE(f.command, 4);
  h.writeUInt16LE(length, 6);
  return h;
}

/** The payload of a READ_CHECKED answer with seq `seq` carrying `data` (the device's side, in TypeScript). */
export function buildReadChecked(seq: number, a: { number: number; offset: number; blockSize: number }, data: Buffer): Buffer {
  const blocks = checkedBlocks(data.length, a.blockSize);
  const payload = Buffer.alloc(FIELDS + data.length + ENTRY * blocks);
  encodeStruct('READ_CHECKED', { number: a.number, offset: a.offset, dataLength: data.length, blockSize: a.blockSize }).copy(payload);
  data.copy(payload, FIELDS);
  const hdr = headerBytes({ version: PROTOCOL.version, kind: KIND.RESPONSE, seq, command: COMMANDS.READ_CHECKED.id }, payload.length);
  let crc = crc32(payload.subarray(0, FIELDS), crc32(hdr));
  for (let at = 0, i = 0; at < data.length; at += a.blockSize, i++) {
    crc = crc32(data.subarray(at, Math.min(data.length, at + a.blockSize)), crc);
    payload.writeUInt32LE(crc, FIELDS + data.length + ENTRY * i);
  }
  return payload;
}

export interface CheckedRequest {
  number: number;
  offset: number;
  length: number;
  blockSize: number;
}

export interface CheckedParts {
  /** Runs of the file whose bytes passed a CRC-32 (the frame's, or their blocks'), in file order. */
  good: { offset: number; data: Buffer }[];
  /** Ranges to read again: blocks whose check failed. */
  bad: { offset: number; length: number }[];
  /** Data bytes the answer carried (fewer than asked only at the end of the file). */
  dataLength: number;
}

/**
 * Splits a READ_CHECKED answer to `req` into the runs that passed a CRC-32 and the ranges to read
 * again. `intact`: the frame's CRC held (every block is good). Null when the answer's fields do not
 * answer `req` (number, offset, block size, a data length within the request and a payload of the
 * size they give): a damaged header is never guessed at, the whole READ is sent again.
 */
export function splitReadChecked(frame: Frame, req: CheckedRequest, intact: boolean): CheckedParts | null {
  const p = frame.payload;
  if (p.length < FIELDS || frame.kind !== KIND.RESPONSE || frame.command !== COMMANDS.READ_CHECKED.id || frame.version !== PROTOCOL.version) return null;
  const number = p.readUInt32LE(0);
  const offset = p.readUInt32LE(4);
  const dataLength = p.readUInt16LE(8);
  const blockSize = p.readUInt16LE(10);
  if (number !== req.number || offset !== req.offset || blockSize !== req.blockSize || dataLength > req.length) return null;
  const blocks = checkedBlocks(dataLength, blockSize);
  if (p.length !== FIELDS + dataLength + ENTRY * blocks) return null;
  const data = p.subarray(FIELDS, FIELDS + dataLength);
  if (intact) return { good: dataLength > 0 ? [{ offset, data }] : [], bad: [], dataLength };
  const good: CheckedParts['good'] = [];
  const bad: CheckedParts['bad'] = [];
  let prev = crc32(p.subarray(0, FIELDS), crc32(headerBytes(frame, p.length)));
  // Adjacent blocks of one verdict make one run: one write, or one READ again.
  let runStart = 0;
  let runOk = true;
  const endRun = (at: number) => {
    if (at === runStart) return;
    if (runOk) good.push({ offset: offset + runStart, data: data.subarray(runStart, at) });
    else bad.push({ offset: offset + runStart, length: at - runStart });
    runStart = at;
  };
  for (let at = 0, i = 0; at < dataLength; at += blockSize, i++) {
    const entry = p.readUInt32LE(FIELDS + dataLength + ENTRY * i);
    const ok = crc32(data.subarray(at, Math.min(dataLength, at + blockSize)), prev) === entry;
    if (ok !== runOk) endRun(at);
    runOk = ok;
    prev = entry;
  }
  endRun(dataLength);
  return { good, bad, dataLength };
}
