/**
 * The recordings library on the host: where files go, what they are called, the sidecar
 * manifests, safe (no-follow, no-overwrite, fsynced) writes, and what we remember per device.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { constants } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { EngineError, fsError } from './errors.js';
import type { ManifestEvidence } from './evidence/sync-evidence.js';
import type { JournalMemory } from './journal.js';

/** The file-system calls the library uses; tests inject failures through this. */
export type Fs = Pick<typeof nodeFs, 'open' | 'mkdir' | 'lstat' | 'stat' | 'link' | 'unlink' | 'rename' | 'readFile' | 'readdir'>;
export const realFs: Fs = nodeFs;

/** 2 added `evidence` (issue 12: the recorder's signature); version 1 manifests are still read. */
export const MANIFEST_VERSION = 2;
/** 3: an encrypted recording (issue 13: `encryption`); plain recordings keep version 2. */
export const ENCRYPTED_MANIFEST_VERSION = 3;
export const READABLE_MANIFEST_VERSIONS: readonly number[] = [1, 2, 3];
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Keeps letters, digits, '-' and '_' from a label; everything else becomes '-'. */
export function sanitiseLabel(label: string): string {
  const s = label
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}_-]+/gu, '-')
    .replace(/-+/g, '-')
    .replace(/^[-_.]+|[-_.]+$/g, '');
  return [...s].slice(0, 32).join('');
}

/** Folder name for a device: its sanitised label, or its id when the label has nothing usable. */
export function deviceFolderName(label: string, deviceId: string): string {
  return sanitiseLabel(label) || deviceId.replace(/[^0-9a-f]/gi, '');
}

export function defaultDestination(label: string, deviceId: string, home = homedir()): string {
  return path.join(home, 'Recordings', deviceFolderName(label, deviceId));
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYY-MM-DD_HHMM` in host local time, or "undated" when the device clock was not set. */
export function dateStamp(startUnixMs: bigint, clockSet: boolean): string {
  const ms = Number(startUnixMs);
  if (!clockSet || !Number.isFinite(ms) || ms <= 0) return 'undated';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return 'undated';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}`;
}

/** Friendly base name (no extension): `YYYY-MM-DD_HHMM_<label>_<number>`. Only safe characters. */
export function recordingBaseName(o: { startUnixMs: bigint; clockSet: boolean; label: string; deviceId: string; number: number; suffix?: number }): string {
  const base = `${dateStamp(o.startUnixMs, o.clockSet)}_${deviceFolderName(o.label, o.deviceId)}_${Math.trunc(o.number)}`;
  return o.suffix && o.suffix > 1 ? `${base}-${o.suffix}` : base;
}

/** Joins a file name to the library folder, refusing anything that could leave it. */
export function safeJoin(dir: string, name: string): string {
  // eslint-disable-next-line no-control-regex
  if (!name || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f]/.test(name) || name.includes('..')) {
    throw new EngineError('UNSAFE_PATH', `Refused an unsafe file name (${JSON.stringify(name)}).`, 'Report this to the project.');
  }
  const root = path.resolve(dir);
  const full = path.resolve(root, name);
  if (path.dirname(full) !== root) throw new EngineError('UNSAFE_PATH', `Refused a file name that would leave the recordings folder (${JSON.stringify(name)}).`, 'Report this to the project.');
  return full;
}

/** What a folder is for, in messages: its name and the option that chooses another. */
export interface FolderRole {
  name: string; // "recordings folder"
  option: string; // "--dest"
}
export const LIBRARY_FOLDER: FolderRole = { name: 'recordings folder', option: '--dest' };

/**
 * Creates a folder (0700) and any missing parents, one level at a time, and refuses a link or a
 * file in its place. Node's own `mkdir(..., { recursive: true })` never returns when the kernel
 * answers ENOENT for a child of a folder that exists (/proc, a link to nothing): it makes the
 * parent again (EEXIST) and retries for ever. Here every step is tried once.
 */
export async function makeFolder(fs: Fs, dir: string, role: FolderRole): Promise<string> {
  const full = path.resolve(dir);
  const elsewhere = `Choose a folder you can write to with ${role.option} (one in your home folder, say) and try again.`;
  const missing: string[] = [];
  for (let p = full; path.dirname(p) !== p; p = path.dirname(p)) {
    const st = await fs.stat(p).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? null : Promise.reject(fsError(e, `reach the ${role.name}`, full))));
    if (st && !st.isDirectory() && p !== full) throw new EngineError('DEST_UNWRITABLE', `The ${role.name} ${full} cannot be made: ${p} is a file, not a folder.`, elsewhere);
    if (st) break;
    missing.unshift(p);
  }
  for (const p of missing) {
    try {
      await fs.mkdir(p, { mode: DIR_MODE });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue; // made meanwhile, or a link to nothing (refused below)
      if (code === 'ENOENT') throw new EngineError('DEST_UNWRITABLE', `The ${role.name} ${full} cannot be made: ${path.dirname(p)} does not take new folders.`, elsewhere);
      const x = fsError(e, `create the ${role.name}`, full);
      throw new EngineError(x.code, x.message, elsewhere);
    }
  }
  const st = await fs.lstat(full).catch((e: unknown) => Promise.reject(fsError(e, `create the ${role.name}`, full)));
  if (st.isSymbolicLink()) throw new EngineError('UNSAFE_PATH', `Refused to use ${full} as the ${role.name}: it is a symbolic link, so the files would go somewhere else.`, `If the folder it points to is where they belong, name that folder with ${role.option}; otherwise remove the link.`);
  if (!st.isDirectory()) throw new EngineError('DEST_UNWRITABLE', `The ${role.name} ${full} is not a folder.`, elsewhere);
  return full;
}

/** Creates the recordings folder (sync's --dest). */
export async function ensureDir(fs: Fs, dir: string): Promise<void> {
  await makeFolder(fs, dir, LIBRARY_FOLDER);
}

async function lstatOrNull(fs: Fs, p: string) {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export async function exists(fs: Fs, p: string): Promise<boolean> {
  return (await lstatOrNull(fs, p)) !== null;
}

/** Fails if p is a symbolic link or anything but a regular file. Returns false when absent. */
export async function assertRegularOrAbsent(fs: Fs, p: string): Promise<boolean> {
  const st = await lstatOrNull(fs, p);
  if (!st) return false;
  if (st.isSymbolicLink()) throw new EngineError('UNSAFE_PATH', `Refused to write through ${p}: it is a symbolic link.`, 'Remove the link from the recordings folder and run sync again.');
  if (!st.isFile()) throw new EngineError('UNSAFE_PATH', `Refused to write ${p}: something that is not a file is in the way.`, 'Move it out of the recordings folder and run sync again.');
  return true;
}

/** Opens a file for writing without following a symbolic link; creates it 0600 if absent. */
export async function openNoFollow(fs: Fs, p: string, create: boolean): Promise<nodeFs.FileHandle> {
  const flags = constants.O_RDWR | constants.O_NOFOLLOW | (create ? constants.O_CREAT | constants.O_EXCL : 0);
  try {
    return await fs.open(p, flags, FILE_MODE);
  } catch (e) {
    throw fsError(e, 'open a file for writing', p);
  }
}

/** fsyncs a directory so a rename or link in it survives a power cut (best effort). */
export async function fsyncDir(fs: Fs, dir: string): Promise<void> {
  let fh: nodeFs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // some platforms cannot fsync directories
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Writes a whole small file atomically (temp file, fsync, rename) without following links. */
export async function writeFileAtomic(fs: Fs, p: string, data: Buffer | string): Promise<void> {
  await assertRegularOrAbsent(fs, p);
  const tmp = `${p}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await openNoFollow(fs, tmp, true);
  try {
    try {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
      let o = 0;
      while (o < buf.length) o += (await fh.write(buf, o, buf.length - o, o)).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, p);
  } catch (e) {
    await fs.unlink(tmp).catch(() => undefined);
    throw e instanceof EngineError ? e : fsError(e, 'write', p);
  }
  await fsyncDir(fs, path.dirname(p));
}

/** Moves a finished .part to its final name, never replacing an existing file. */
export async function publishNoClobber(fs: Fs, part: string, final: string): Promise<void> {
  try {
    await fs.link(part, final);
    await fs.unlink(part);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new EngineError('FILE_CONFLICT', `A file named ${path.basename(final)} appeared in the folder while copying; it was not touched.`, 'Run sync again.');
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      // File systems without hard links (FAT, exFAT): check, then rename.
      if (await exists(fs, final)) throw new EngineError('FILE_CONFLICT', `A file named ${path.basename(final)} is already in the folder; it was not touched.`, 'Run sync again.');
      try {
        await fs.rename(part, final);
      } catch (e2) {
        throw fsError(e2, 'finish the copy', final);
      }
    } else throw fsError(e, 'finish the copy', final);
  }
  await fsyncDir(fs, path.dirname(final));
}

// ---------------------------------------------------------------------------------------------
// Manifests

/**
 * An encrypted recording (issue 13). The manifest's `file` is then the age file exactly as the
 * recorder wrote it (`<base>.age`, the evidence copy); the WAV it decrypts to is a derived copy
 * beside it (`<base>.wav`), checked against the WAV hash the recorder signed.
 */
export interface ManifestEncryption {
  format: 'age-v1';
  /** The decrypted WAV beside the age file, or null when it was not decrypted on this computer. */
  derived: {
    name: string;
    size: number;
    sha256: string;
    decryptedAtIso: string;
    /** The owner key (its recipient) that opened it. */
    recipient: string;
  } | null;
}

/**
 * A marker the recorder put in the WAV (issue 15: a short press, or MARK from the app): its
 * number (1..n, in file order), where it is (sample offset from the first sample) and its time
 * (floor(sampleOffset * 1000 / sampleRate)), and its label in the WAV ("Marker N").
 */
export interface ManifestMarker {
  number: number;
  sampleOffset: number;
  timeMs: number;
  label: string;
}

/** A loan (issue 16): its id, and the advocate's loan code (never a family's name). */
export interface ManifestLoan {
  id: string;
  reference: string;
}

/** Where a recording made without a clock lies in time (host/engine/placement.ts), as the manifest keeps it. */
export interface ManifestTimeEstimate {
  estimated: true;
  startUnixMs: number;
  startIso: string;
  /** null: nothing bounds it from below (a recorder whose clock was never set before it). */
  earliestUnixMs: number | null;
  earliestIso: string | null;
  latestUnixMs: number;
  latestIso: string;
  /** Half the interval, ms; null without an earliest. */
  errorMs: number | null;
  method: 'same-boot-as-this-sync' | 'same-boot-as-a-clock-set' | 'journal-order';
  why: string;
}

/** A dated recording's clock: when it was last set before it, and its drift since (host/engine/clock-since-set.ts). */
export interface ManifestClockSinceSet {
  /** The time the clock was set to (the host's clock then). */
  lastSetUnixMs: number;
  lastSetIso: string;
  /** Recorder clock minus the host's, ms, when next measured; null when not measured (the clock was lost before). */
  driftMs: number | null;
  driftPpm: number | null;
  measuredAtIso: string | null;
  measuredBy: 'next-clock-set' | 'this-sync' | null;
}

export interface Manifest {
  manifestVersion: 1 | 2 | 3;
  app: { name: string; version: string };
  file: { name: string; size: number; sha256: string };
  device: { id: string; label: string; model: string; firmware: string; simulated: boolean };
  recording: {
    number: number;
    deviceFileName: string;
    sampleRate: number;
    sampleCount: number;
    durationMs: number;
    durationText: string;
    /** SHA-256 of the audio data, computed on the device while recording. */
    sha256: string;
    dataOffset: number;
    stopReason: string;
    overruns: number;
    clockSet: boolean;
    recovered: boolean;
  };
  times: {
    /** Start and stop by the device clock (ms since 1970 as strings, and ISO when the clock was set). */
    deviceStartUnixMs: string;
    deviceStopUnixMs: string | null;
    deviceStartIso: string | null;
    deviceStopIso: string | null;
    /** Start corrected by the clock offset measured at copy time (host time), if meaningful. */
    hostEstimatedStartIso: string | null;
    copiedAtIso: string;
    /** A recording made without a clock: where it lies in time, estimated at the copy (placement.ts). */
    estimate?: ManifestTimeEstimate;
    /** A dated recording: the clock's last set before it and its drift since (clock-since-set.ts). */
    clockSinceSet?: ManifestClockSinceSet;
  };
  clock: {
    /** Device minus host, ms, measured when copying (before the device clock was set). */
    offsetMs: number | null;
    roundTripMs: number | null;
    deviceClockWasSet: boolean;
    measuredAtIso: string | null;
    deviceClockSetTo: string | null;
  };
  journal: {
    index: number;
    hex: string;
    /** SHA-256 of the 128-byte record. */
    recordSha256: string;
    decoded: Record<string, unknown>;
    chain: 'ok' | 'broken' | 'empty' | 'not-checked';
    problems: string[];
  } | null;
  verification: {
    ok: boolean;
    verifiedAtIso: string;
    sha256MatchesDevice: boolean;
    wavStructureOk: boolean;
    evidenceChunkOk: boolean;
    journalMatches: boolean;
    sampleCountMatches: boolean;
    problems: string[];
  };
  /** The recorder's signature of the copy (version 2; absent from version 1 manifests). */
  evidence?: ManifestEvidence;
  /** Version 3: the recording is encrypted (`file` is the age file). */
  encryption?: ManifestEncryption;
  /**
   * The markers of the verified WAV (issue 15); absent or [] when it has none, and absent for an
   * encrypted recording until it is decrypted.
   */
  markers?: ManifestMarker[];
  /** The loan the recorder was on when it was copied (issue 16: host/engine/fleet.ts); absent: none. */
  loan?: ManifestLoan;
  /** SHA-256 of this manifest serialised (JSON.stringify, no spacing) without this field. */
  integrity?: string;
}

export function manifestIntegrity(m: Manifest): string {
  const copy: Partial<Manifest> = { ...m };
  delete copy.integrity;
  return createHash('sha256').update(JSON.stringify(copy)).digest('hex');
}

export function serialiseManifest(m: Manifest): string {
  const withIntegrity: Manifest = { ...m, integrity: undefined };
  delete withIntegrity.integrity;
  withIntegrity.integrity = manifestIntegrity(withIntegrity);
  return JSON.stringify(withIntegrity, null, 2) + '\n';
}

/** The library file of a recording, without its extension (.wav, or .age when encrypted). */
export function copyBase(copyPath: string): string {
  return copyPath.replace(/\.(wav|age)$/i, '');
}

export function sidecarPath(copyPath: string): string {
  return copyBase(copyPath) + '.json';
}

export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * The copies in a library folder by `deviceId:number`: the evidence copy's path (`wav`: the .wav,
 * or for an encrypted recording the .age) and its manifest.
 */
export type LibraryIndex = Map<string, { wav: string; manifest: Manifest }>;

export async function indexLibrary(fs: Fs, dir: string): Promise<LibraryIndex> {
  const out: LibraryIndex = new Map();
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    try {
      const p = path.join(dir, n);
      const st = await fs.lstat(p);
      if (!st.isFile() || st.size > 1 << 20) continue;
      const m = JSON.parse(String(await fs.readFile(p))) as Manifest;
      if (!READABLE_MANIFEST_VERSIONS.includes(m?.manifestVersion) || !m.device?.id || typeof m.recording?.number !== 'number') continue;
      out.set(`${m.device.id}:${m.recording.number}`, { wav: p.replace(/\.json$/, m.encryption ? '.age' : '.wav'), manifest: m });
    } catch {
      // not one of ours
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What we remember per device: the last journal record verified

export function memoryPath(dir: string, deviceId: string): string {
  return safeJoin(dir, `.recorder-journal-${deviceId.replace(/[^0-9a-f]/gi, '')}.json`);
}

export async function loadMemory(fs: Fs, dir: string, deviceId: string): Promise<JournalMemory | null> {
  try {
    const m = JSON.parse(String(await fs.readFile(memoryPath(dir, deviceId)))) as JournalMemory & { deviceId?: string };
    if (typeof m.index === 'number' && typeof m.recordSha256 === 'string') return { index: m.index, recordSha256: m.recordSha256, number: m.number };
  } catch {
    // nothing remembered
  }
  return null;
}

export async function saveMemory(fs: Fs, dir: string, deviceId: string, mem: JournalMemory): Promise<void> {
  await writeFileAtomic(fs, memoryPath(dir, deviceId), JSON.stringify({ deviceId, ...mem, savedAtIso: new Date().toISOString() }, null, 2) + '\n');
}
