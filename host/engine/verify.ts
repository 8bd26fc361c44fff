/** Checks library files against their sidecar manifests, offline (no device needed). */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { jsonable } from './convert.js';
import { entryFromRaw, JOURNAL_RECORD_SIZE } from './journal.js';
import { MANIFEST_VERSION, manifestIntegrity, realFs, sidecarPath, type Fs, type Manifest } from './library.js';
import { compareWav, hashRange, parseWav, type ReadAt, type WavLayout } from './wav.js';

export interface Inspection {
  size: number;
  fileSha256: string;
  dataSha256: string | null;
  layout: WavLayout;
  wavProblems: string[];
}

export function readerFor(fh: FileHandle): ReadAt {
  return async (offset, length) => {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  };
}

/** Reads a recording file from disk: structure, audio SHA-256 and whole-file SHA-256. */
export async function inspectFile(fs: Fs, file: string): Promise<Inspection> {
  const fh = await fs.open(file, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    const read = readerFor(fh);
    const wav = await parseWav(read, size);
    const fileSha256 = (await hashRange(read, 0, size)).toString('hex');
    const l = wav.layout;
    const dataSha256 = l.dataOffset >= 0 && l.dataOffset + l.dataLength <= size ? (await hashRange(read, l.dataOffset, l.dataLength)).toString('hex') : null;
    return { size, fileSha256, dataSha256, layout: l, wavProblems: wav.problems };
  } finally {
    await fh.close();
  }
}

export interface FileVerification {
  path: string;
  manifestPath: string;
  ok: boolean;
  number: number | null;
  sha256: string | null;
  problems: string[];
}

/** Verifies one library recording against its sidecar. */
export async function verifyLibraryFile(file: string, fs: Fs = realFs): Promise<FileVerification> {
  const manifestPath = sidecarPath(file);
  const res: FileVerification = { path: file, manifestPath, ok: false, number: null, sha256: null, problems: [] };
  const p = res.problems;
  let m: Manifest;
  try {
    m = JSON.parse(String(await fs.readFile(manifestPath))) as Manifest;
  } catch (e) {
    p.push((e as NodeJS.ErrnoException).code === 'ENOENT' ? `the sidecar ${path.basename(manifestPath)} is missing` : `the sidecar ${path.basename(manifestPath)} cannot be read (${(e as Error).message})`);
    return res;
  }
  if (m?.manifestVersion !== MANIFEST_VERSION) {
    p.push(`the sidecar has manifestVersion ${String(m?.manifestVersion)}, expected ${MANIFEST_VERSION}`);
    return res;
  }
  if (m.integrity !== manifestIntegrity(m)) p.push('the sidecar has been edited since it was written (its integrity hash does not match)');
  res.number = m.recording?.number ?? null;
  res.sha256 = m.recording?.sha256 ?? null;
  // A file whose size differs from the copy's cannot match its hashes: say so without reading it.
  // Before, a huge file in the library (say 40 GB where a recording was) was hashed to the end
  // before verify (and sync's check of copies already in the library) reported anything.
  try {
    const size = (await fs.stat(file)).size;
    if (typeof m.file?.size === 'number' && size !== m.file.size) {
      if (m.file?.name !== path.basename(file)) p.push(`the sidecar describes ${m.file?.name}, not ${path.basename(file)}`);
      p.push(`the file is ${size} bytes but was ${m.file.size} when copied (truncated or changed)`);
      return res;
    }
  } catch {
    // unreadable: inspectFile below says how
  }
  let ins: Inspection;
  try {
    ins = await inspectFile(fs, file);
  } catch (e) {
    p.push(`the recording cannot be read (${(e as Error).message})`);
    return res;
  }
  if (m.file?.name !== path.basename(file)) p.push(`the sidecar describes ${m.file?.name}, not ${path.basename(file)}`);
  if (ins.size !== m.file?.size) p.push(`the file is ${ins.size} bytes but was ${m.file?.size} when copied (truncated or changed)`);
  if (ins.fileSha256 !== m.file?.sha256) p.push('the file\'s SHA-256 differs from when it was copied: it has been changed');
  for (const w of ins.wavProblems) p.push(`WAV structure: ${w}`);
  if (ins.dataSha256 !== m.recording?.sha256) p.push('the audio\'s SHA-256 differs from the one the recorder computed');
  const r = m.recording;
  let deviceId: bigint | undefined;
  try {
    deviceId = BigInt('0x' + m.device.id);
  } catch {
    p.push('the sidecar\'s device id is unreadable');
  }
  p.push(
    ...compareWav(ins.layout, { number: r.number, deviceId, sampleRate: r.sampleRate, sampleCount: r.sampleCount, sha256: r.sha256, startUnixMs: BigInt(m.times?.deviceStartUnixMs ?? '0') }).map(
      (s) => `compared with the sidecar: ${s}`,
    ),
  );
  if (m.journal) {
    try {
      const raw = Buffer.from(m.journal.hex, 'hex');
      if (raw.length !== JOURNAL_RECORD_SIZE) throw new Error('wrong length');
      const e = entryFromRaw(raw, m.journal.index);
      if (e.hash.toString('hex') !== m.journal.recordSha256) p.push('the journal record in the sidecar does not match its hash');
      if (!isDeepStrictEqual(jsonable(e.record), m.journal.decoded)) p.push('the decoded journal record in the sidecar differs from the record itself');
      if (e.record.number !== r.number) p.push('the journal record is for another recording');
      if (e.record.sha256.toString('hex') !== r.sha256) p.push('the journal record\'s SHA-256 differs from the recording\'s');
      if (e.record.sampleCount !== r.sampleCount) p.push('the journal record\'s sample count differs from the recording\'s');
    } catch (e) {
      p.push(`the journal record in the sidecar is unreadable (${(e as Error).message})`);
    }
  } else {
    p.push('the sidecar holds no journal record');
  }
  if (!m.verification?.ok) p.push('the copy was not verified when it was made');
  res.ok = p.length === 0;
  return res;
}

/** Expands paths (files or folders) to the recordings to verify. */
export async function expandVerifyPaths(paths: string[], fs: Fs = realFs): Promise<{ files: string[]; problems: { path: string; problem: string }[] }> {
  const files: string[] = [];
  const problems: { path: string; problem: string }[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await fs.stat(p);
    } catch {
      problems.push({ path: p, problem: 'no such file or folder' });
      continue;
    }
    if (st.isDirectory()) {
      const names = (await fs.readdir(p)).sort();
      const wavs = names.filter((n) => /\.wav$/i.test(n) && !n.startsWith('.'));
      for (const n of wavs) files.push(path.join(p, n));
      for (const n of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
        const w = n.replace(/\.json$/, '.wav');
        if (!wavs.includes(w)) problems.push({ path: path.join(p, n), problem: `sidecar without its recording ${w}` });
      }
      if (wavs.length === 0 && !problems.some((x) => x.path.startsWith(p))) problems.push({ path: p, problem: 'no recordings in this folder' });
    } else if (/\.json$/i.test(p)) {
      files.push(p.replace(/\.json$/i, '.wav'));
    } else files.push(p);
  }
  return { files: [...new Set(files)], problems };
}

export async function verifyPaths(paths: string[], fs: Fs = realFs): Promise<{ ok: boolean; results: FileVerification[]; problems: { path: string; problem: string }[] }> {
  const { files, problems } = await expandVerifyPaths(paths, fs);
  const results: FileVerification[] = [];
  for (const f of files) results.push(await verifyLibraryFile(f, fs));
  return { ok: problems.length === 0 && results.length > 0 && results.every((r) => r.ok), results, problems };
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
