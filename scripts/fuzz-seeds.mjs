#!/usr/bin/env node
// Writes the seed corpora of the firmware fuzz harnesses (firmware/fuzz/corpus/<harness>/):
//   frame:   every wire frame, reject and stream of protocol/generated/vectors.json, and the
//            COBS vectors;
//   server:  the request vectors as raw serial input, and small sessions in the harness's
//            operation format (every command with a well-formed payload, a recording started
//            and stopped over the link and by the button, FORMAT with the right confirmation,
//            verified deletes, card and cable pulled);
//   fat:     patches of the boot sector, FSInfo, FAT and directory fields;
//   recover: patches of the cut recording's size fields, header and directory entry, and
//            (with the harness built) a real header, evid chunk and journal record taken from
//            the image the harness itself records (REC_FUZZ_WRITE_SEEDS);
//   evidence, age: written by the harnesses from the device's own encoders (REC_FUZZ_WRITE_SEEDS):
//            the signed checkpoint slots, a journal record of every kind, markers tails; the
//            .AGE read at every feed size, a tag patched, the last tag cut.
// Run after `npm run gen` changes the vectors; commit the result. Deterministic.
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = join(root, 'firmware', 'fuzz', 'corpus');
const vectors = JSON.parse(readFileSync(join(root, 'protocol', 'generated', 'vectors.json'), 'utf8'));
const hex = (s) => Buffer.from(s, 'hex');

function dir(name) {
  const d = join(corpus, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}
const put = (d, name, bytes) => writeFileSync(join(d, name.replace(/[^A-Za-z0-9_.-]/g, '_')), Buffer.from(bytes));

// ---- frame ----
{
  const d = dir('frame');
  for (const f of vectors.frames) put(d, `frame-${f.name}`, hex(f.wire));
  for (const f of vectors.rejects) put(d, `reject-${f.name}`, hex(f.wire));
  for (const f of vectors.stream) put(d, `stream-${f.name}`, hex(f.wire));
  for (const c of vectors.cobs) put(d, `cobs-${c.name}`, hex(c.encoded));
  // All frames back to back, with the deframer mode byte (0x00: 4096-byte limit, all at once).
  put(d, 'stream-all-frames', Buffer.concat([Buffer.from([0]), ...vectors.frames.map((f) => hex(f.wire))]));
}

// ---- server: operations, see firmware/fuzz/fuzz_server.c ----
const OP = { RAW: 0, REQ: 1, FRAME: 2, POLL: 3, TIME: 4, BUTTON: 5, MIC: 6, CARD: 7, LINK: 8, LIMIT: 9, BATTERY: 10, DELETE_OK: 11 };
const u16 = (v) => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const u64 = (v) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return [...b];
};
let seq = 1;
// A request whose payload is exactly the given bytes (length byte < 0x80).
const req = (cmd, payload = []) => [OP.REQ, cmd, ...u16(seq++), payload.length, ...payload];
const poll = (n = 8) => [OP.POLL, n];
const raw = (bytes) => {
  const out = [];
  for (let i = 0; i < bytes.length; i += 256) {
    const part = bytes.subarray(i, i + 256);
    out.push(OP.RAW, part.length - 1, ...part);
  }
  return out;
};
const CMD = { HELLO: 1, INFO: 2, SET_TIME: 3, LIST: 4, READ: 5, HASH: 6, DELETE: 7, JOURNAL: 8, SET_LABEL: 9, SETTINGS: 10, RECORD: 11, FORMAT: 12 };
const DEVICE_ID = 0x0123456789abcdefn; // the fake port's unique id
{
  const d = dir('server');
  for (const f of vectors.frames) if (f.kind === 0) put(d, `raw-${f.name}`, raw(hex(f.wire)));
  for (const f of vectors.stream) put(d, `raw-stream-${f.name}`, raw(hex(f.wire)));
  const hello = req(CMD.HELLO, u16(4096));
  put(d, 'session-read', [
    ...hello, ...poll(),
    ...req(CMD.INFO), ...poll(),
    ...req(CMD.LIST, [...u32(0), ...u16(16), 0, 0]), ...poll(),
    ...req(CMD.READ, [...u32(1), ...u32(0), ...u32(4088)]), ...poll(),
    ...req(CMD.READ, [...u32(2), ...u32(5000), ...u32(100)]), ...poll(),
    ...req(CMD.HASH, [...u32(1), 1, 0, 0, 0, ...u32(0), ...u32(1024)]), ...poll(),
    ...req(CMD.JOURNAL, [...u32(0), ...u16(8), 0, 0]), ...poll(),
  ]);
  put(d, 'session-settings', [
    ...hello, ...poll(),
    ...req(CMD.SET_TIME, u64(1767225600000)), ...poll(),
    ...req(CMD.SET_LABEL, [...Buffer.from('Meeting 12 March'.padEnd(32, '\0'))]), ...poll(),
    ...req(CMD.SETTINGS, [3, 1, 0, 0, ...u32(16000)]), ...poll(),
    ...req(CMD.SETTINGS, [0, 0, 0, 0, ...u32(0)]), ...poll(),
  ]);
  put(d, 'session-record', [
    ...hello, ...poll(),
    ...req(CMD.RECORD, [1, 0, 0, 0]), ...poll(),
    ...[...Array(8)].flatMap(() => [OP.MIC, 255, OP.TIME, ...u16(40), OP.POLL, 2]),
    OP.TIME, ...u16(1200), ...poll(),
    ...req(CMD.LIST, [...u32(0), ...u16(16), 0, 0]), ...poll(),
    ...req(CMD.READ, [...u32(3), ...u32(0), ...u32(2048)]), ...poll(),
    ...req(CMD.RECORD, [2, 0, 0, 0]), ...poll(),
    ...req(CMD.HASH, [...u32(3), 1, 0, 0, 0, ...u32(1024), ...u32(512)]), ...poll(),
  ]);
  put(d, 'session-button', [OP.BUTTON, ...poll(), OP.MIC, 200, OP.TIME, ...u16(1500), ...poll(), OP.BUTTON, ...poll(), ...hello, ...poll()]);
  put(d, 'session-delete-format', [
    ...hello, ...poll(),
    ...req(CMD.DELETE, [...u32(1), ...Array(32).fill(0)]), ...poll(),
    ...req(CMD.FORMAT, [...u32(0x54414d46), ...u64(DEVICE_ID)]), ...poll(),
    ...req(CMD.LIST, [...u32(0), ...u16(16), 0, 0]), ...poll(),
  ]);
  put(d, 'session-card-cable', [
    ...hello, ...req(CMD.HASH, [...u32(1), 1, 0, 0, 0, ...u32(0), ...u32(8000)]),
    OP.CARD, ...poll(), ...req(CMD.LIST, [...u32(0), ...u16(16), 0, 0]), ...poll(),
    OP.CARD, ...poll(), OP.LIMIT, 7, ...req(CMD.INFO), ...poll(3), OP.LINK, ...poll(), OP.LINK, OP.LIMIT, 0, ...poll(),
    OP.BATTERY, ...u16(3100), OP.TIME, ...u16(2000), ...poll(), OP.BATTERY, ...u16(3900), OP.TIME, ...u16(2000), ...poll(),
  ]);
  put(d, 'session-verified-delete', [
    ...hello, ...poll(),
    OP.DELETE_OK, 1, ...u16(seq++), ...poll(),
    ...req(CMD.LIST, [...u32(0), ...u16(16), 0, 0]), ...poll(),
    ...req(CMD.READ, [...u32(1), ...u32(0), ...u32(100)]), ...poll(),
    OP.DELETE_OK, 2, ...u16(seq++), ...poll(),
    OP.BUTTON, ...poll(), OP.MIC, 255, OP.TIME, ...u16(1100), ...poll(), OP.BUTTON, ...poll(),
    OP.DELETE_OK, 3, ...u16(seq++), ...poll(),
    ...req(CMD.JOURNAL, [...u32(0), ...u16(8), 0, 0]), ...poll(),
  ]);
  put(d, 'frame-other-version', [OP.FRAME, 2, 0, ...u16(9), ...u16(CMD.INFO), ...u16(0), ...poll()]);
  put(d, 'frame-oversize', [OP.FRAME, 1, 0, ...u16(9), ...u16(CMD.READ), ...u16(8300), ...poll()]);
}

// ---- fat: target u16 (index of a non-zero block; top bit: any block), offset u16, len u8, bytes ----
{
  const d = dir('fat');
  const patch = (target, off, bytes) => [...u16(target), ...u16(off), bytes.length, ...bytes];
  put(d, 'none', []);
  put(d, 'bpb-sectors-per-cluster', patch(0, 13, [8]));
  put(d, 'bpb-reserved', patch(0, 14, u16(1)));
  put(d, 'bpb-fats-one', patch(0, 16, [1]));
  put(d, 'bpb-total', patch(0, 32, u32(0xffffffff)));
  put(d, 'bpb-fat-size', patch(0, 36, u32(1)));
  put(d, 'bpb-root-cluster', patch(0, 44, u32(0x0fffffff)));
  put(d, 'bpb-fsinfo', patch(0, 48, u16(0)));
  put(d, 'mbr-partition', patch(0, 446, [0, 0, 0, 0, 0x0c, 0, 0, 0, ...u32(1), ...u32(60000)]));
  put(d, 'fsinfo-free', patch(1, 488, u32(0xffffffff)));
  put(d, 'fat-loop', patch(3, 8, [...u32(2), ...u32(2)]));
  put(d, 'fat-bad', patch(3, 12, u32(0x0ffffff7)));
  put(d, 'dirent-size', patch(8, 28, u32(0xffffffff)));
  put(d, 'dirent-cluster', patch(8, 20, [...u16(0xffff), 0, 0, 0, 0, ...u16(0xffff)]));
  put(d, 'dirent-lfn-attr', patch(8, 11, [0x0f]));
  put(d, 'any-block-zero', patch(0x8000, 0, Array(255).fill(0)));
}

// ---- recover: target u8, offset u16, len u8, bytes (see firmware/fuzz/fuzz_recover.c) ----
{
  const d = dir('recover');
  const patch = (target, off, bytes) => [target, ...u16(off), bytes.length, ...bytes];
  put(d, 'none', []);
  put(d, 'data-size-huge', patch(6, 1, u32(0xffffffff)));
  put(d, 'data-size-zero', patch(6, 1, u32(0)));
  put(d, 'data-size-odd', patch(6, 1, u32(4097)));
  put(d, 'riff-size-evid', patch(6, 0, u32(0x2000)));
  put(d, 'header-zeroed', [...patch(0, 0, Array(255).fill(0)), ...patch(0, 255, Array(255).fill(0))]);
  put(d, 'header-not-riff', patch(0, 0, [...Buffer.from('RIFX')]));
  put(d, 'header-rate', patch(0, 24, u32(44100)));
  put(d, 'evid-in-data', patch(1, 1024 + 4096, [...Buffer.from('evid'), ...u32(72), 1, 0, 72, 0]));
  put(d, 'dirent-size-zero', patch(2, 28, u32(0)));
  put(d, 'dirent-size-small', patch(2, 28, u32(1000)));
  put(d, 'dirent-size-huge', patch(2, 28, u32(0xfffffff0)));
  put(d, 'dirent-cluster', patch(2, 26, u16(0)));
  put(d, 'fat-chain-cut', patch(3, 0, Array(64).fill(0)));
  put(d, 'journal-torn', patch(4, 40, Array(16).fill(0xee)));
  put(d, 'state-dirty', patch(5, 12, [1]));
  put(d, 'any-block', patch(7, 3, Array(128).fill(0xff)));
  harnessSeeds('recover', d);
}

// ---- evidence, age: all from the harnesses (see firmware/fuzz/fuzz_evidence.c, fuzz_age.c) ----
for (const h of ['evidence', 'age']) harnessSeeds(h, dir(h));

// Seeds a harness writes itself from what the core makes (REC_FUZZ_WRITE_SEEDS=dir).
function harnessSeeds(h, d) {
  const bin = join(root, 'firmware', 'build-fuzz', `fuzz_${h}`);
  if (existsSync(bin)) {
    const r = spawnSync(bin, ['-runs=0'], { env: { ...process.env, REC_FUZZ_WRITE_SEEDS: d }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`fuzz_${h} seed dump failed: ${r.stderr}`);
  } else {
    console.warn(`firmware/build-fuzz/fuzz_${h} not built: its seeds were not written`);
  }
}
console.log(`seed corpora written to ${corpus}`);
