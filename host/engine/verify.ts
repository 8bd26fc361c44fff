/** Checks library files against their sidecar manifests, offline (no device needed). */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { jsonable } from './convert.js';
import { entryFromRaw, JOURNAL_RECORD_SIZE } from './journal.js';
import { checkRecordingEvidence, evidenceFolderOf } from './evidence/recording.js';
import { checkAttestation } from './evidence/identity.js';
import { LIBRARY_FILE, loadLibraryJournal, loadPin, type PinRecord } from './evidence/pins.js';
import { JOURNAL_KIND } from '../../protocol/src/schema.js';
import type { ProblemCode, SignatureSummary } from './events.js';
import { indexLibrary, manifestIntegrity, READABLE_MANIFEST_VERSIONS, realFs, sidecarPath, type Fs, type Manifest } from './library.js';
import { checkCustody, CUSTODY_LOG, type CustodyCheck } from './custody.js';
import { compareWav, hashRange, parseWav, type ReadAt, type WavLayout } from './wav.js';
import { compareMarkers } from './markers.js';

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

/**
 * SHA-256 of a file's first `size` bytes and of the range within them, from one read of the
 * file: each MiB read goes into both hashes (the audio is nearly all of a recording, and was
 * read twice). Null for the range when it is null. The next MiB is read (in the thread pool)
 * while this one is hashed (here): the disk and the hashing overlap.
 */
async function hashFileAndRange(fh: FileHandle, size: number, range: { offset: number; length: number } | null): Promise<{ file: string; range: string | null }> {
  const file = createHash('sha256');
  const part = range ? createHash('sha256') : null;
  const start = range?.offset ?? 0;
  const end = start + (range?.length ?? 0);
  const step = Math.min(HASH_STEP, size);
  const bufs = [Buffer.allocUnsafe(step), Buffer.allocUnsafe(step)];
  const readAt = (pos: number, i: number) => fh.read(bufs[i]!, 0, Math.min(step, size - pos), pos);
  let which = 0;
  let pending = size > 0 ? readAt(0, which) : null;
  for (let pos = 0; pending; ) {
    const { bytesRead } = await pending;
    const chunk = bufs[which]!.subarray(0, bytesRead);
    which ^= 1;
    // bytesRead 0: shorter than it was, and the whole-file hash then differs
    pending = bytesRead > 0 && pos + bytesRead < size ? readAt(pos + bytesRead, which) : null;
    file.update(chunk);
    const a = Math.max(pos, start);
    const b = Math.min(pos + bytesRead, end);
    if (part && b > a) part.update(chunk.subarray(a - pos, b - pos));
    pos += bytesRead;
  }
  return { file: file.digest('hex'), range: part ? part.digest('hex') : null };
}

/** Bytes read at a time when hashing a file. */
const HASH_STEP = 1 << 20;

/** Reads a recording file from disk: structure, audio SHA-256 and whole-file SHA-256. */
export async function inspectFile(fs: Fs, file: string): Promise<Inspection> {
  const fh = await fs.open(file, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    const wav = await parseWav(readerFor(fh), size);
    const l = wav.layout;
    const audio = l.dataOffset >= 0 && l.dataOffset + l.dataLength <= size ? { offset: l.dataOffset, length: l.dataLength } : null;
    const sha = await hashFileAndRange(fh, size, audio);
    return { size, fileSha256: sha.file, dataSha256: sha.range, layout: l, wavProblems: wav.problems };
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
  /** The recorder's id and the file's SHA-256 as read now (for the custody log). */
  deviceId: string | null;
  fileSha256: string | null;
  /** Every failure, in words (the messages of `failures`). */
  problems: string[];
  /** Every failure with its code. */
  failures: { code: ProblemCode; message: string }[];
  /** Worth knowing, not failures: unsigned copies, the unvouched end of a cut recording. */
  notices: { code: ProblemCode; message: string }[];
  signature: SignatureSummary | null;
  /** Issue 13: the copy is an age file (an encrypted recording); `path` is then the .age. */
  encrypted: boolean;
  /** The decrypted WAV beside an encrypted copy, when it is there and checked; else null. */
  decrypted: string | null;
}

/**
 * Whether a library copy stands as the copy of its recording (sync does not copy it again): it
 * verifies, or it was flagged when it was made (journal problems) or is waiting for the
 * recorder's signature. Such a copy is still never a reason to delete from the recorder.
 */
export function copyStands(v: FileVerification): boolean {
  return v.ok || (v.failures.length > 0 && v.failures.every((f) => f.code === 'JOURNAL_MISMATCH' || f.code === 'SIGNATURE_PENDING'));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** What is missing or of the wrong type among the fields verify reads; null when none. */
export function manifestShapeProblem(m: unknown): string | null {
  if (!isObject(m)) return 'it is not a JSON object';
  const want: [string, unknown, (v: unknown) => boolean][] = [];
  const str = (v: unknown) => typeof v === 'string';
  const obj = (name: string, v: unknown, fields: [string, (v: unknown) => boolean][], optional = false) => {
    if (optional && (v === undefined || v === null)) return;
    if (!isObject(v)) return void want.push([name, v, () => false]);
    for (const [k, ok] of fields) want.push([`${name}.${k}`, v[k], ok]);
  };
  obj('file', m.file, [['name', str], ['size', isCount], ['sha256', str]]);
  obj('device', m.device, [['id', str]]);
  obj('recording', m.recording, [['number', isCount], ['sampleRate', isCount], ['sampleCount', isCount], ['sha256', str], ['dataOffset', isCount]]);
  obj('times', m.times, [['deviceStartUnixMs', (v) => typeof v === 'string' && /^\d{1,20}$/.test(v)]]);
  obj('journal', m.journal, [['index', isCount], ['hex', str], ['recordSha256', str]], true);
  obj('verification', m.verification, [['ok', (v) => typeof v === 'boolean']]);
  obj('evidence', m.evidence, [['status', (v) => v === 'signed' || v === 'pending' || v === 'unsigned'], ['keyId', (v) => v === null || str(v)], ['folder', (v) => v === null || v === undefined || str(v)], ['journalEpoch', (v) => v === null || v === undefined || isCount(v)]], true);
  obj('encryption', m.encryption, [['derived', (v) => v === null || (isObject(v) && str(v.name) && isCount(v.size) && str(v.sha256))]], true);
  if (m.markers !== undefined && !(Array.isArray(m.markers) && m.markers.every((x) => isObject(x) && isCount(x.number) && isCount(x.sampleOffset)))) want.push(['markers', m.markers, () => false]);
  const bad = want.filter(([, v, ok]) => !ok(v)).map(([k]) => k);
  return bad.length ? `${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} missing or not what a sidecar holds` : null;
}

/** Verifies one library recording against its sidecar. */
export async function verifyLibraryFile(file: string, fs: Fs = realFs): Promise<FileVerification> {
  const manifestPath = sidecarPath(file);
  const res: FileVerification = { path: file, manifestPath, ok: false, number: null, sha256: null, deviceId: null, fileSha256: null, problems: [], failures: [], notices: [], signature: null, encrypted: false, decrypted: null };
  const p = res.problems;
  const add = (code: ProblemCode, message: string) => {
    p.push(message);
    res.failures.push({ code, message });
  };
  let m: Manifest;
  try {
    m = JSON.parse(String(await fs.readFile(manifestPath))) as Manifest;
  } catch (e) {
    add('MANIFEST_INVALID', (e as NodeJS.ErrnoException).code === 'ENOENT' ? `the sidecar ${path.basename(manifestPath)} is missing` : `the sidecar ${path.basename(manifestPath)} cannot be read (${(e as Error).message})`);
    return res;
  }
  if (!READABLE_MANIFEST_VERSIONS.includes(m?.manifestVersion)) {
    add('MANIFEST_INVALID', `the sidecar has manifestVersion ${String(m?.manifestVersion)}, expected ${READABLE_MANIFEST_VERSIONS.join(' or ')}`);
    return res;
  }
  if (m.integrity !== manifestIntegrity(m)) add('MANIFEST_INVALID', 'the sidecar has been edited since it was written (its integrity hash does not match)');
  // The checks below read these fields: a sidecar without them (or with other types) is damaged,
  // and said so, rather than failing half-way with a TypeError.
  const shape = manifestShapeProblem(m);
  if (shape) {
    add('MANIFEST_INVALID', `the sidecar is damaged: ${shape}`);
    return res;
  }
  res.number = m.recording?.number ?? null;
  res.sha256 = m.recording?.sha256 ?? null;
  res.deviceId = typeof m.device?.id === 'string' ? m.device.id : null;
  // A file whose size differs from the copy's cannot match its hashes: say so without reading it.
  // Before, a huge file in the library (say 40 GB where a recording was) was hashed to the end
  // before verify (and sync's check of copies already in the library) reported anything.
  try {
    const size = (await fs.stat(file)).size;
    if (typeof m.file?.size === 'number' && size !== m.file.size) {
      if (m.file?.name !== path.basename(file)) add('MANIFEST_INVALID', `the sidecar describes ${m.file?.name}, not ${path.basename(file)}`);
      add('HASH_MISMATCH', `the file is ${size} bytes but was ${m.file.size} when copied (truncated or changed)`);
      return res;
    }
  } catch {
    // unreadable: inspectFile below says how
  }
  const r = m.recording;
  // The WAV: the copy itself, or an encrypted copy's decrypted WAV (when it is here).
  const nameMatches = () => {
    if (m.file?.name !== path.basename(file)) add('MANIFEST_INVALID', `the sidecar describes ${m.file?.name}, not ${path.basename(file)}`);
  };
  const checkWav = async (wav: string, want: { size: number; sha256: string }, what: string, afterRead = () => {}) => {
    let ins: Inspection;
    try {
      ins = await inspectFile(fs, wav);
    } catch (e) {
      add('MANIFEST_INVALID', `the ${what === 'file' ? 'recording' : what} cannot be read (${(e as Error).message})`);
      return false;
    }
    afterRead();
    if (wav === file) res.fileSha256 = ins.fileSha256;
    if (ins.size !== want.size) add('HASH_MISMATCH', `the ${what} is ${ins.size} bytes but was ${want.size} when ${res.encrypted ? 'decrypted' : 'copied'} (truncated or changed)`);
    if (ins.fileSha256 !== want.sha256) add('HASH_MISMATCH', `the ${what}'s SHA-256 differs from when it was ${res.encrypted ? 'decrypted' : 'copied'}: it has been changed`);
    for (const w of ins.wavProblems) add('WAV_INVALID', `WAV structure: ${w}`);
    if (ins.dataSha256 !== r?.sha256) add('HASH_MISMATCH', 'the audio\'s SHA-256 differs from the one the recorder computed');
    let deviceId: bigint | undefined;
    try {
      deviceId = BigInt('0x' + m.device.id);
    } catch {
      add('MANIFEST_INVALID', 'the sidecar\'s device id is unreadable');
    }
    for (const x of compareWav(ins.layout, { number: r.number, deviceId, sampleRate: r.sampleRate, sampleCount: r.sampleCount, sha256: r.sha256, startUnixMs: BigInt(m.times?.deviceStartUnixMs ?? '0') })) add('EVIDENCE_MISMATCH', `compared with the sidecar: ${x}`);
    for (const x of compareMarkers(m.markers ?? [], ins.layout.markers, r.sampleRate)) add('EVIDENCE_MISMATCH', `compared with the sidecar: ${x}`);
    return true;
  };
  if (m.encryption) {
    res.encrypted = true;
    nameMatches();
    await verifyEncryptedCopy(fs, file, m, res, add, checkWav);
  } else if (!(await checkWav(file, m.file, 'file', nameMatches))) return res;
  if (m.journal) {
    try {
      const raw = Buffer.from(m.journal.hex, 'hex');
      if (raw.length !== JOURNAL_RECORD_SIZE) throw new Error('wrong length');
      const e = entryFromRaw(raw, m.journal.index);
      if (e.hash.toString('hex') !== m.journal.recordSha256) add('JOURNAL_MISMATCH', 'the journal record in the sidecar does not match its hash');
      if (!isDeepStrictEqual(jsonable(e.record), m.journal.decoded)) add('JOURNAL_MISMATCH', 'the decoded journal record in the sidecar differs from the record itself');
      if (e.record.number !== r.number) add('JOURNAL_MISMATCH', 'the journal record is for another recording');
      if (e.record.sha256.toString('hex') !== r.sha256) add('HASH_MISMATCH', 'the journal record\'s SHA-256 differs from the recording\'s');
      if (e.record.sampleCount !== r.sampleCount) add('JOURNAL_MISMATCH', 'the journal record\'s sample count differs from the recording\'s');
    } catch (e) {
      add('JOURNAL_MISMATCH', `the journal record in the sidecar is unreadable (${(e as Error).message})`);
    }
  } else {
    add('JOURNAL_MISMATCH', 'the sidecar holds no journal record');
  }
  if (!m.verification?.ok) add('MANIFEST_INVALID', 'the copy was not verified when it was made');
  await verifySignature(fs, file, m, res, add);
  res.ok = p.length === 0;
  return res;
}

/**
 * An encrypted copy (issue 13): the age file as copied (size, SHA-256), and its decrypted WAV when
 * it is here (checked like a plain copy against the manifest). Without the WAV the copy still
 * verifies (its signed hash is checked by verifySignature); a notice says it is not decrypted.
 */
async function verifyEncryptedCopy(fs: Fs, file: string, m: Manifest, res: FileVerification, add: (code: ProblemCode, message: string) => void, checkWav: (wav: string, want: { size: number; sha256: string }, what: string) => Promise<boolean>): Promise<void> {
  let size: number;
  let sha256: string;
  try {
    const fh = await fs.open(file, constants.O_RDONLY);
    try {
      size = (await fh.stat()).size;
      sha256 = (await hashRange(readerFor(fh), 0, size)).toString('hex');
    } finally {
      await fh.close();
    }
  } catch (e) {
    add('MANIFEST_INVALID', `the encrypted copy cannot be read (${(e as Error).message})`);
    return;
  }
  if (size !== m.file?.size) add('HASH_MISMATCH', `the encrypted copy is ${size} bytes but was ${m.file?.size} when copied (truncated or changed)`);
  res.fileSha256 = sha256;
  if (sha256 !== m.file?.sha256) add('HASH_MISMATCH', "the encrypted copy's SHA-256 differs from when it was copied: it has been changed");
  const d = m.encryption!.derived;
  const n = m.recording?.number;
  const wav = d ? path.join(path.dirname(file), path.basename(d.name)) : null;
  if (d && wav && (await fs.stat(wav).then(() => true, () => false))) {
    if (await checkWav(wav, d, 'decrypted WAV')) res.decrypted = wav;
  } else {
    res.notices.push({ code: 'NOT_DECRYPTED', message: d ? `the decrypted WAV ${d.name} is not here any more: make it again with \`recorder decrypt ${n}\`` : `encrypted, not decrypted on this computer: decrypt it with \`recorder decrypt ${n} --identity FILE\`` });
  }
}

/** The recorder's signature of a copy (issue 12), checked under the key pinned in its folder. */
async function verifySignature(fs: Fs, file: string, m: Manifest, res: FileVerification, add: (code: ProblemCode, message: string) => void): Promise<void> {
  const ev = m.evidence;
  const r = m.recording;
  if (!ev || ev.status === 'unsigned') {
    res.signature = { status: 'unsigned', keyId: null, vouchedSamples: null, sampleCount: r?.sampleCount ?? 0 };
    res.notices.push({ code: 'UNSIGNED_LEGACY', message: ev ? 'no signature from the recorder' : 'copied by an earlier version of this app, before recordings were signed' });
    return;
  }
  res.signature = { status: ev.status, keyId: ev.keyId, vouchedSamples: null, sampleCount: r.sampleCount };
  const dir = path.dirname(file);
  let pin: PinRecord | null = null;
  try {
    pin = await loadPin(fs, dir, m.device.id);
  } catch (e) {
    add('NOT_PINNED', (e as Error).message);
    return;
  }
  // A copy signed before an explicit re-pin is checked under the key pinned at the time.
  const key = pin?.keyId === ev.keyId ? pin : pin?.previous.find((x) => x.keyId === ev.keyId);
  if (!pin || !pin.publicKey && !key) {
    add('NOT_PINNED', `no key is pinned for recorder ${m.device.id} in this folder, so its signature cannot be checked`);
    return;
  }
  const publicKey = Buffer.from((key ?? pin).publicKey, 'hex');
  if (!key) add('WRONG_KEY', `the copy says it was signed by key ${ev.keyId}, but the key pinned for this recorder is ${pin.keyId}`);
  else if (key !== pin) res.notices.push({ code: 'WRONG_KEY', message: `signed by key ${ev.keyId}, pinned for this recorder until it was re-pinned (${(key as PinRecord['previous'][number]).reason})` });
  const journal = ev.journalEpoch !== null && ev.keyId ? await loadLibraryJournal(fs, dir, ev.keyId, ev.journalEpoch) : null;
  const jidx = m.journal?.index ?? -1;
  const entry = journal && jidx >= 0 ? journal[jidx] : undefined;
  let report;
  try {
    report = await checkRecordingEvidence(
      fs,
      { folder: path.join(dir, ev.folder ?? evidenceFolderOf(path.basename(file))), number: r.number, ...(res.encrypted ? { wavPath: res.decrypted, agePath: file } : { wavPath: file }) },
      {
        publicKey,
        sampleRate: r.sampleRate,
        sampleCount: r.sampleCount,
        audioSha256: r.sha256,
        ...(res.encrypted ? { fileSha256: res.decrypted ? (m.encryption?.derived?.sha256 ?? null) : null, ageSha256: m.file.sha256 } : { fileSha256: m.file.sha256 }),
        dataOffset: r.dataOffset,
        journal: entry ? { index: entry.index, raw: entry.raw } : null,
        sealed: ev.status === 'signed',
      },
    );
  } catch (e) {
    add('EVIDENCE_MISSING', `the signed files cannot be read (${(e as Error).message})`);
    return;
  }
  for (const f of report.failures) add(f.code, f.message);
  if (entry && m.journal && entry.hash.toString('hex') !== m.journal.recordSha256) add('JOURNAL_MISMATCH', `the library's journal record ${jidx} differs from the one in the sidecar`);
  if (ev.status === 'pending') add('SIGNATURE_PENDING', 'the recorder had not finished signing this recording when it was copied: connect the recorder and run sync again');
  const c = report.checkpoints;
  res.signature.vouchedSamples = c?.vouchedSamples ?? null;
  if (c && c.vouchedSamples < c.sampleCount && report.failures.length === 0) {
    const rate = Math.max(1, r.sampleRate);
    res.notices.push({ code: 'PARTLY_VOUCHED', message: `the recording was cut off: the recorder vouched while recording for its first ${(c.vouchedSamples / rate).toFixed(1)} s; the last ${((c.sampleCount - c.vouchedSamples) / rate).toFixed(1)} s are signed only as found after the power came back` });
  }
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
    if (st.isDirectory() && /\.evidence\/?$/.test(p)) {
      problems.push({ path: p, problem: "this is a recording's folder of signed files: verify the library folder that holds it (or the recording's .wav)" });
    } else if (st.isDirectory()) {
      const names = (await fs.readdir(p)).sort();
      // An encrypted recording's copy is its .age; the .wav beside it is derived (its manifest is the .age's).
      const ages = names.filter((n) => /\.age$/i.test(n) && !n.startsWith('.'));
      const encryptedBases = new Set(ages.map((n) => n.replace(/\.age$/i, '')));
      const wavs = names.filter((n) => /\.wav$/i.test(n) && !n.startsWith('.') && !encryptedBases.has(n.replace(/\.wav$/i, '')));
      for (const n of [...wavs, ...ages].sort()) files.push(path.join(p, n));
      for (const n of names.filter((n) => n.endsWith('.json') && !n.startsWith('.') && !LIBRARY_FILE.test(n))) {
        const w = n.replace(/\.json$/, '.wav');
        if (!wavs.includes(w) && !ages.includes(n.replace(/\.json$/, '.age'))) problems.push({ path: path.join(p, n), problem: `sidecar without its recording ${w}` });
      }
      if (wavs.length === 0 && ages.length === 0 && !problems.some((x) => x.path.startsWith(p))) problems.push({ path: p, problem: 'no recordings in this folder' });
    } else if (/\.(json|wav)$/i.test(p)) {
      // A manifest or a derived WAV stands for the encrypted copy when there is one.
      const age = p.replace(/\.(json|wav)$/i, '.age');
      files.push((await fs.stat(age).then(() => true, () => false)) ? age : p.replace(/\.json$/i, '.wav'));
    } else files.push(p);
  }
  return { files: [...new Set(files)], problems };
}

/** What verify found about a recorder's journal and attestations in one library folder. */
export interface LibraryVerification {
  folder: string;
  deviceId: string;
  keyId: string | null;
  ok: boolean;
  failures: { code: ProblemCode; message: string }[];
  /** Journal records (all epochs) and the newest signed count, for the report. */
  journalRecords: number;
  attestations: number;
}

const RECORDING_KINDS: ReadonlySet<number> = new Set([JOURNAL_KIND.RECORDING, JOURNAL_KIND.FOUND_UNJOURNALED]);

/**
 * The recorder-wide checks of a library folder, offline: every stored IDENTITY attestation
 * verifies under the pinned key and none goes back in time; the library's journal (one file per
 * epoch) links up and holds at least what the newest attestation signed (a cut tail fails); every
 * recording of the journal has its copy in the folder.
 */
export async function verifyLibraryFolder(dir: string, deviceId: string, fs: Fs = realFs): Promise<LibraryVerification> {
  const failures: LibraryVerification['failures'] = [];
  const fail = (code: ProblemCode, message: string) => failures.push({ code, message });
  const out: LibraryVerification = { folder: dir, deviceId, keyId: null, ok: false, failures, journalRecords: 0, attestations: 0 };
  let pin: PinRecord | null;
  try {
    pin = await loadPin(fs, dir, deviceId);
  } catch (e) {
    fail('NOT_PINNED', (e as Error).message);
    return out;
  }
  if (!pin) return { ...out, ok: true };
  out.keyId = pin.keyId || null;
  // Every attestation, in the order they were received, under the key pinned at the time.
  const eras = [...pin.previous.map((x) => ({ keyId: x.keyId, attestations: x.attestations })), { keyId: pin.keyId, attestations: pin.attestations }];
  // The newest signed journal state per key and epoch.
  const newest = new Map<string, { keyId: string; epoch: number; count: number; head: string }>();
  for (const era of eras) {
    let before: { epoch: number; count: number } | null = null;
    for (const a of era.attestations) {
      out.attestations++;
      let c;
      try {
        c = checkAttestation(a);
      } catch (e) {
        fail('ATTESTATION_INVALID', `the recorder's signed answer of ${a.atIso} is unreadable (${(e as Error).message})`);
        continue;
      }
      if (c.problems.length) fail('ATTESTATION_INVALID', `the recorder's signed answer of ${a.atIso}: ${c.problems.join('; ')}`);
      if (c.identity.deviceId.toString(16).padStart(16, '0') !== deviceId) fail('ATTESTATION_INVALID', `the recorder's signed answer of ${a.atIso} is from device ${c.identity.deviceId.toString(16).padStart(16, '0')}, not ${deviceId}`);
      if (c.keyId !== era.keyId) fail('WRONG_KEY', `the recorder's signed answer of ${a.atIso} was made by key ${c.keyId}, not the pinned key ${era.keyId}`);
      const now = { epoch: c.identity.journalEpoch, count: c.identity.journalCount };
      if (before && (now.epoch < before.epoch || (now.epoch === before.epoch && now.count < before.count))) {
        fail('JOURNAL_REPLAYED', `on ${a.atIso} the recorder signed a journal of ${now.count} record(s) in epoch ${now.epoch}, older than the ${before.count} record(s) of epoch ${before.epoch} it had signed before`);
      }
      before = now;
      const k = `${era.keyId}:${now.epoch}`;
      const seen = newest.get(k);
      if (!seen || now.count >= seen.count) newest.set(k, { keyId: era.keyId, epoch: now.epoch, count: now.count, head: c.identity.journalHead.toString('hex') });
    }
  }
  const library = await indexLibrary(fs, dir);
  for (const signed of newest.values()) {
    const epoch = signed.epoch;
    const journal = (await loadLibraryJournal(fs, dir, signed.keyId, epoch)) ?? [];
    out.journalRecords += journal.length;
    if (journal.length < signed.count) {
      fail('JOURNAL_TAIL_CUT', `the library's journal (epoch ${epoch}) has ${journal.length} record(s), but the recorder signed that it had ${signed.count}: records ${journal.length}..${signed.count - 1} are missing`);
    } else if (signed.count > 0 && journal[signed.count - 1]!.hash.toString('hex') !== signed.head) {
      fail('JOURNAL_BROKEN', `the library's journal record ${signed.count - 1} (epoch ${epoch}) differs from the one the recorder signed`);
    }
    journal.forEach((e, i) => {
      const want = i === 0 ? Buffer.alloc(32) : journal[i - 1]!.hash;
      if (e.record.index !== i || !e.record.prevHash.equals(want)) fail('JOURNAL_BROKEN', `the library's journal record ${i} (epoch ${epoch}) does not link to the one before it`);
      if (RECORDING_KINDS.has(e.record.kind) && !library.has(`${deviceId}:${e.record.number}`)) {
        fail('RECORDING_MISSING', `the journal lists recording ${e.record.number} (record ${i}, epoch ${epoch}), but its copy is not in this folder`);
      }
    });
  }
  out.ok = failures.length === 0;
  return out;
}

export async function verifyPaths(paths: string[], fs: Fs = realFs): Promise<{ ok: boolean; results: FileVerification[]; problems: { path: string; problem: string }[]; library: LibraryVerification[]; custody: CustodyCheck[] }> {
  const { files, problems } = await expandVerifyPaths(paths, fs);
  const results: FileVerification[] = [];
  for (const f of files) results.push(await verifyLibraryFile(f, fs));
  const library: LibraryVerification[] = [];
  const custody: CustodyCheck[] = [];
  for (const p of paths) {
    const isDir = await fs.stat(p).then((st) => st.isDirectory()).catch(() => false);
    if (!isDir) continue;
    const names = (await fs.readdir(p)).sort();
    for (const n of names) {
      const m = /^recorder-([0-9a-f]+)\.pin\.json$/.exec(n);
      if (m) library.push(await verifyLibraryFolder(p, m[1]!, fs));
    }
    if (names.includes(CUSTODY_LOG)) custody.push(await checkCustody(fs, p));
  }
  return { ok: problems.length === 0 && results.length > 0 && results.every((r) => r.ok) && library.every((l) => l.ok) && custody.every((c) => c.ok), results, problems, library, custody };
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
