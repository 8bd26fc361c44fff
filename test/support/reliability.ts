/**
 * Helpers shared by the reliability campaigns (test/reliability-*.test.ts): recordings made with
 * the simulator's button, the card's recordings read back with mtools, WAV checks, library
 * indexing.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, JOURNAL_KIND, STRUCTS, structSize } from '../../protocol/src/schema.js';
import { LIBRARY_FILE } from '../../host/engine/evidence/pins.js';
import { recordWithButton } from '../../host/sim/driver.js';
import { mcopyOut, type Sim } from './sim.js';

export const JOURNAL_RECORD_SIZE = structSize(STRUCTS.JOURNAL_RECORD);
export const sha256 = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The first stdout line matching re at line index `from` or later. */
export function waitLine(sim: Sim, re: RegExp, from: number, timeoutMs = 20_000): Promise<string> {
  return sim.waitFor(re, timeoutMs, from);
}

/** A control command, waiting for its `ok`. */
export async function command(sim: Sim, line: string, timeoutMs = 20_000): Promise<void> {
  await sim.driver.command(line, timeoutMs);
}

/** Makes a recording of about `seconds` device seconds with the button. */
export async function record(sim: Sim, seconds: number, speed: number): Promise<void> {
  await recordWithButton(sim.driver, seconds, speed);
}

const MENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/** Names of the files in a folder of a FAT image (empty when the folder is missing). */
export function mdirNames(image: string, dosDir: string): string[] {
  const r = spawnSync('mdir', ['-b', '-i', image, `::${dosDir}`], { env: MENV, encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.replace(/^.*\//, ''));
}

/** Every recording on the card image: number -> file bytes. */
export function cardRecordings(image: string, tmp: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const name of mdirNames(image, '/RECORDS')) {
    const m = /^REC(\d{5})\.WAV$/i.exec(name);
    if (!m) continue;
    const dest = join(tmp, `card-${name}-${Math.random().toString(36).slice(2, 8)}`);
    mcopyOut(image, `/RECORDS/${name}`, dest);
    out.set(Number(m[1]), readFileSync(dest));
  }
  return out;
}

export function cardJournal(image: string, tmp: string): Buffer {
  if (!mdirNames(image, '/SYSTEM').some((n) => /^JOURNAL\.BIN$/i.test(n))) return Buffer.alloc(0);
  const dest = join(tmp, `journal-${Math.random().toString(36).slice(2, 8)}.bin`);
  mcopyOut(image, '/SYSTEM/JOURNAL.BIN', dest);
  return readFileSync(dest);
}

export interface JournalRec {
  kind: number;
  number: number;
  sha256: Buffer;
  sampleCount: number;
  stopReason: number;
  flags: number;
  prevHash: Buffer;
}

/**
 * Decodes the journal and checks the prevHash chain over every record (throws on a break); returns
 * the records of recordings (kinds RECORDING and FOUND_UNJOURNALED): the clock, key, epoch and
 * spent-number records the firmware also journals are left out.
 */
export function checkJournalChain(journal: Buffer): JournalRec[] {
  if (journal.length % JOURNAL_RECORD_SIZE !== 0) throw new Error(`journal is ${journal.length} bytes, not a whole number of records`);
  const recs: JournalRec[] = [];
  let prev = Buffer.alloc(32);
  for (let o = 0; o < journal.length; o += JOURNAL_RECORD_SIZE) {
    const raw = journal.subarray(o, o + JOURNAL_RECORD_SIZE);
    const r = decodeStruct('JOURNAL_RECORD', raw) as unknown as JournalRec;
    if (!r.prevHash.equals(prev)) throw new Error(`journal record ${o / JOURNAL_RECORD_SIZE} does not chain to the one before it`);
    prev = createHash('sha256').update(raw).digest();
    if (r.kind === JOURNAL_KIND.RECORDING || r.kind === JOURNAL_KIND.FOUND_UNJOURNALED) recs.push(r);
  }
  return recs;
}

export interface WavCheck {
  ok: boolean;
  problem?: string;
  samples: number;
  sampleRate: number;
  dataSha256: string;
  evidSha256?: string;
  evidSamples?: number;
  /** First sample that breaks the ramp (n mod 65536), or -1. */
  rampBreak: number;
}

/** Our own WAV check: RIFF sizes, data at 1024, trailing evid chunk agreeing with the audio. */
export function checkWav(file: Buffer): WavCheck {
  const bad = (problem: string): WavCheck => ({ ok: false, problem, samples: 0, sampleRate: 0, dataSha256: '', rampBreak: -1 });
  if (file.length < CARD_LAYOUT.wavDataOffset + 8) return bad(`only ${file.length} bytes`);
  if (file.subarray(0, 4).toString('latin1') !== 'RIFF' || file.subarray(8, 12).toString('latin1') !== 'WAVE') return bad('not RIFF/WAVE');
  if (file.readUInt32LE(4) !== file.length - 8) return bad(`RIFF size ${file.readUInt32LE(4)} for a file of ${file.length} bytes`);
  if (file.subarray(CARD_LAYOUT.wavDataOffset - 8, CARD_LAYOUT.wavDataOffset - 4).toString('latin1') !== 'data') return bad('no data chunk at 1016');
  const sampleRate = file.readUInt32LE(24);
  const dataSize = file.readUInt32LE(CARD_LAYOUT.wavDataOffset - 4);
  const data = file.subarray(CARD_LAYOUT.wavDataOffset, CARD_LAYOUT.wavDataOffset + dataSize);
  if (data.length !== dataSize) return bad('data chunk runs past the end');
  const evidAt = CARD_LAYOUT.wavDataOffset + dataSize + (dataSize & 1);
  const base: WavCheck = { ok: true, samples: dataSize / 2, sampleRate, dataSha256: sha256(data), rampBreak: -1 };
  for (let i = 0; i < data.length / 2; i++) {
    if (data.readUInt16LE(2 * i) !== (i & 0xffff)) {
      base.rampBreak = i;
      break;
    }
  }
  if (file.subarray(evidAt, evidAt + 4).toString('latin1') !== 'evid') return { ...base, ok: false, problem: 'no evid chunk after the audio' };
  const evid = decodeStruct('EVIDENCE_CHUNK', file.subarray(evidAt + 8, evidAt + 8 + file.readUInt32LE(evidAt + 4)));
  const evidSha = (evid.sha256 as Buffer).toString('hex');
  const res = { ...base, evidSha256: evidSha, evidSamples: Number(evid.sampleCount) };
  if (evidSha !== base.dataSha256) return { ...res, ok: false, problem: 'evid SHA-256 differs from the audio' };
  if (Number(evid.sampleCount) !== base.samples) return { ...res, ok: false, problem: 'evid sample count differs' };
  return res;
}

export interface LibraryItem {
  wav: string;
  manifestPath: string;
  manifest: { file: { name: string; sha256: string }; recording: { number: number; sha256: string; deviceFileName: string }; device: { id: string } };
}

/** The library's manifests (number -> paths), and every other file found (part files etc.). */
export function scanLibrary(dir: string): { items: Map<number, LibraryItem>; others: string[] } {
  const items = new Map<number, LibraryItem>();
  const others: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return { items, others };
  }
  for (const n of names) {
    const p = join(dir, n);
    if (lstatSync(p).isSymbolicLink()) {
      others.push(n);
      continue;
    }
    // The recorder's pinned key, journal and log, and each recording's signed files (issue 12).
    if (LIBRARY_FILE.test(n) || (n.endsWith('.evidence') && lstatSync(p).isDirectory())) continue;
    if (n.endsWith('.json') && !n.startsWith('.')) {
      const m = JSON.parse(readFileSync(p, 'utf8')) as LibraryItem['manifest'];
      items.set(m.recording.number, { wav: join(dir, m.file.name), manifestPath: p, manifest: m });
    } else if (!n.endsWith('.wav') && !n.startsWith('.recorder-journal-')) others.push(n);
  }
  return { items, others };
}

export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
