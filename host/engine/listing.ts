/**
 * The library listing (issue 15, "listening"): every copy in a library folder, across recorders,
 * newest first, read from the manifests beside the copies. It never re-reads the audio (hours of
 * it would take minutes): what it says about verification is what the manifest recorded when the
 * copy was made, plus whether the copy is still there; `recorder verify` checks the bytes again.
 *
 * A library folder is `~/Recordings` (one folder per recorder inside it, and in a recorder's folder
 * one folder per loan: issue 16), one recorder's folder, or one loan's folder: the folder itself
 * and the folders two levels down are read. A manifest that cannot be read,
 * or that is of a version or program this app does not know, is listed as a problem line, never a
 * crash; a folder that does not exist yet is an empty library.
 */
import * as path from 'node:path';
import { copyBase, READABLE_MANIFEST_VERSIONS, realFs, type Fs, type Manifest } from './library.js';
import { clockSinceSetText, type ClockSinceSet } from './clock-since-set.js';

/** A marker of a recording as its manifest lists it (the manifest's optional `markers` field). */
export interface ListedMarker {
  number: number;
  sampleOffset: number;
  timeMs: number;
  label: string;
}

export type ListedVerification =
  /** The manifest says the copy verified when it was made, and the copy is there. */
  | 'verified'
  /** The manifest records problems found when the copy was made. */
  | 'problems'
  /** The copy the manifest describes is not in the folder any more. */
  | 'missing';

export interface LibraryEntry {
  /** `deviceId:number`: unique in a library. */
  key: string;
  folder: string;
  /** The evidence copy: the .wav, or for an encrypted recording the .age. */
  copyPath: string;
  manifestPath: string;
  deviceId: string;
  deviceLabel: string;
  simulated: boolean;
  number: number;
  /** Start by the recorder's clock, ms since 1970; null when its clock was not set. */
  startUnixMs: number | null;
  /** Made without a clock: where it lies in time, as estimated at the copy (placement.ts); else null. */
  estimate?: { startUnixMs: number; earliestUnixMs: number | null; latestUnixMs: number } | null;
  /** Dated: the clock's last set before it and its drift since, as found at the copy (clock-since-set.ts), with `text` in words (UTC); else null. */
  clockSinceSet?: (ClockSinceSet & { text: string }) | null;
  durationMs: number;
  sampleRate: number;
  markers: ListedMarker[];
  verification: ListedVerification;
  /** Problems the manifest records, in its words. */
  problems: string[];
  encrypted: boolean;
  /** An encrypted recording's decrypted WAV is beside it. */
  decrypted: boolean;
  /** The plain WAV to listen to (the copy, or the decrypted WAV); null when there is none. */
  playablePath: string | null;
}

/** A file that looks like a manifest but could not be used: shown as a line of its own. */
export interface LibraryProblem {
  path: string;
  message: string;
}

export interface LibraryListing {
  root: string;
  /** False when the folder does not exist yet (nothing has been copied there). */
  exists: boolean;
  entries: LibraryEntry[];
  problems: LibraryProblem[];
}

/** Manifests are small; anything bigger is not one of ours. */
const MAX_MANIFEST_BYTES = 1 << 20;

/** Files beside the copies that are JSON but not manifests (pins, wipe certificates, keys). */
function isOtherJson(name: string): boolean {
  return name.startsWith('.') || name.endsWith('.pin.json') || /^wipe-.*\.json$/.test(name) || name === 'owner-keys.json' || name === 'fleet.json';
}

/** Folders that hold no recordings of their own: a recording's signed files, keys, exports. */
function holdsNoRecordings(name: string): boolean {
  return name.startsWith('.') || name.endsWith('.evidence') || name === 'keys' || name === 'exports';
}

async function isFile(fs: Fs, p: string): Promise<boolean> {
  try {
    return (await fs.lstat(p)).isFile();
  } catch {
    return false;
  }
}

/** The markers of a manifest, checked one by one (a manifest written by hand may hold anything). */
export function manifestMarkers(m: unknown): ListedMarker[] {
  const raw = (m as { markers?: unknown }).markers;
  if (!Array.isArray(raw)) return [];
  const out: ListedMarker[] = [];
  for (const x of raw) {
    const k = x as Partial<ListedMarker> | null;
    if (!k || !Number.isInteger(k.number) || !Number.isFinite(k.sampleOffset) || !Number.isFinite(k.timeMs)) continue;
    out.push({ number: k.number as number, sampleOffset: k.sampleOffset as number, timeMs: k.timeMs as number, label: typeof k.label === 'string' ? k.label : `Marker ${k.number}` });
  }
  return out.sort((a, b) => a.timeMs - b.timeMs || a.number - b.number);
}

/** Why a parsed JSON file is not a manifest this app reads, or null when it is one. */
function manifestProblem(m: Partial<Manifest> | null): string | null {
  if (!m || typeof m !== 'object') return 'it is not a manifest of this app';
  if (typeof m.manifestVersion !== 'number') return 'it is not a manifest of this app (no manifest version)';
  if (!READABLE_MANIFEST_VERSIONS.includes(m.manifestVersion)) return `its manifest version ${m.manifestVersion} is newer than this app knows: update the app`;
  if (!m.device?.id || typeof m.recording?.number !== 'number' || !m.file?.name || !m.verification) return 'the manifest is incomplete (no recorder, recording number, file or verification)';
  return null;
}

/** The manifest's time estimate, checked (a manifest written by hand may hold anything). */
function manifestEstimateOf(m: Manifest): LibraryEntry['estimate'] {
  const e = m.times?.estimate;
  if (!e || m.recording.clockSet || !Number.isFinite(e.startUnixMs) || !Number.isFinite(e.latestUnixMs)) return null;
  return { startUnixMs: e.startUnixMs, earliestUnixMs: Number.isFinite(e.earliestUnixMs) ? e.earliestUnixMs : null, latestUnixMs: e.latestUnixMs };
}

/** The manifest's clock since set, checked (older manifests have none; a hand-written one may hold anything). */
function manifestClockSinceSetOf(m: Manifest): LibraryEntry['clockSinceSet'] {
  const c = m.times?.clockSinceSet;
  if (!c || !m.recording.clockSet || !Number.isFinite(c.lastSetUnixMs)) return null;
  const measuredAt = typeof c.measuredAtIso === 'string' ? Date.parse(c.measuredAtIso) : NaN;
  const measured = Number.isFinite(c.driftMs) && Number.isFinite(c.driftPpm) && Number.isFinite(measuredAt) && (c.measuredBy === 'next-clock-set' || c.measuredBy === 'this-sync');
  const out: ClockSinceSet = { lastSetUnixMs: c.lastSetUnixMs, drift: measured ? { driftMs: c.driftMs!, driftPpm: c.driftPpm!, measuredAtUnixMs: measuredAt, measuredBy: c.measuredBy! } : null };
  return { ...out, text: clockSinceSetText(out, (ms) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`) };
}

async function entryFrom(fs: Fs, manifestPath: string, m: Manifest): Promise<LibraryEntry> {
  const folder = path.dirname(manifestPath);
  const encrypted = !!m.encryption;
  const copyPath = manifestPath.replace(/\.json$/, encrypted ? '.age' : '.wav');
  const present = await isFile(fs, copyPath);
  const derivedName = m.encryption?.derived?.name;
  const derivedPath = derivedName && !/[/\\]/.test(derivedName) ? path.join(folder, derivedName) : copyBase(copyPath) + '.wav';
  const decrypted = encrypted && !!m.encryption?.derived && (await isFile(fs, derivedPath));
  const start = Number(m.times?.deviceStartUnixMs);
  const problems = Array.isArray(m.verification.problems) ? m.verification.problems.map(String) : [];
  return {
    key: `${m.device.id}:${m.recording.number}`,
    folder,
    copyPath,
    manifestPath,
    deviceId: m.device.id,
    deviceLabel: typeof m.device.label === 'string' ? m.device.label : '',
    simulated: !!m.device.simulated,
    number: m.recording.number,
    startUnixMs: m.recording.clockSet && Number.isFinite(start) && start > 0 ? start : null,
    estimate: manifestEstimateOf(m),
    clockSinceSet: manifestClockSinceSetOf(m),
    durationMs: Number(m.recording.durationMs) || 0,
    sampleRate: Number(m.recording.sampleRate) || 0,
    markers: manifestMarkers(m),
    verification: !present ? 'missing' : m.verification.ok === true && problems.length === 0 ? 'verified' : 'problems',
    problems,
    encrypted,
    decrypted,
    playablePath: !encrypted ? (present ? copyPath : null) : decrypted ? derivedPath : null,
  };
}

async function listFolder(fs: Fs, dir: string, out: LibraryListing): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    out.problems.push({ path: dir, message: `the folder could not be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
    return;
  }
  const set = new Set(names);
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || isOtherJson(name)) continue;
    const p = path.join(dir, name);
    const base = name.slice(0, -'.json'.length);
    // A JSON file with a recording beside it is meant to be its manifest; others are not ours.
    const besideCopy = set.has(`${base}.wav`) || set.has(`${base}.age`);
    let m: Partial<Manifest> | null;
    try {
      const st = await fs.lstat(p);
      if (!st.isFile()) continue;
      if (st.size > MAX_MANIFEST_BYTES) {
        if (besideCopy) out.problems.push({ path: p, message: 'the manifest is too big to be one of this app' });
        continue;
      }
      m = JSON.parse(String(await fs.readFile(p))) as Partial<Manifest> | null;
    } catch (e) {
      if (besideCopy) out.problems.push({ path: p, message: `the manifest could not be read (${e instanceof SyntaxError ? 'it is not valid JSON' : ((e as NodeJS.ErrnoException).code ?? (e as Error).message)})` });
      continue;
    }
    const why = manifestProblem(m);
    if (why) {
      // Any JSON with a manifest version, or beside a recording, is a manifest we cannot use.
      if (besideCopy || (m && typeof m === 'object' && 'manifestVersion' in m)) out.problems.push({ path: p, message: why });
      continue;
    }
    try {
      out.entries.push(await entryFrom(fs, p, m as Manifest));
    } catch (e) {
      out.problems.push({ path: p, message: `the manifest could not be used (${(e as Error).message})` });
    }
  }
}

/** Newest first (an estimated start counts); recordings with no date at all last; then by recorder and number. */
export function compareEntries(a: LibraryEntry, b: LibraryEntry): number {
  const ta = a.startUnixMs ?? a.estimate?.startUnixMs ?? -Infinity;
  const tb = b.startUnixMs ?? b.estimate?.startUnixMs ?? -Infinity;
  if (ta !== tb) return tb > ta ? 1 : -1;
  return a.deviceLabel.localeCompare(b.deviceLabel) || a.deviceId.localeCompare(b.deviceId) || b.number - a.number;
}

/** The folders in a folder that may hold recordings, not through symbolic links (a library holds folders it made). */
async function subfolders(fs: Fs, dir: string): Promise<string[]> {
  let names: string[] = [];
  try {
    names = await fs.readdir(dir);
  } catch {
    return []; // reported by listFolder
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    if (holdsNoRecordings(name)) continue;
    const sub = path.join(dir, name);
    if (await fs.lstat(sub).then((st) => st.isDirectory(), () => false)) out.push(sub);
  }
  return out;
}

/** Every copy in a library folder, its recorders' folders and their loans' folders, newest first. */
export async function listLibrary(root: string, fs: Fs = realFs): Promise<LibraryListing> {
  const out: LibraryListing = { root, exists: false, entries: [], problems: [] };
  try {
    const st = await fs.stat(root);
    if (!st.isDirectory()) {
      out.problems.push({ path: root, message: 'this is not a folder' });
      return out;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    out.problems.push({ path: root, message: `the folder could not be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
    return out;
  }
  out.exists = true;
  await listFolder(fs, root, out);
  for (const sub of await subfolders(fs, root)) {
    await listFolder(fs, sub, out);
    for (const loan of await subfolders(fs, sub)) await listFolder(fs, loan, out);
  }
  // One copy per recording: a recorder's folder inside a folder listed too is read once.
  const seen = new Set<string>();
  out.entries = out.entries.filter((e) => (seen.has(e.copyPath) ? false : (seen.add(e.copyPath), true))).sort(compareEntries);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Search: by a day, a range of days, a month, and words of the recorder's label

export interface LibraryQuery {
  /** Start of the dates asked for (inclusive), ms since 1970. */
  fromMs: number | null;
  /** End of the dates asked for (exclusive). */
  toMs: number | null;
  /** Words that must all be in the recorder's label (or file name), any case. */
  words: string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function dayStart(y: number, m: number, d: number, utc: boolean): number {
  return utc ? Date.UTC(y, m, d) : new Date(y, m, d).getTime();
}

/** A day `2025-03-12` or `12 Mar 2025` (as the app shows dates), or a month `2025-03`: [from, to). */
function dateSpan(text: string, utc: boolean): [number, number] | null {
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
    if (mo > 11 || d < 1 || d > 31) return null;
    return [dayStart(y, mo, d, utc), dayStart(y, mo, d + 1, utc)];
  }
  m = /^(\d{4})-(\d{1,2})$/.exec(text);
  if (m) {
    const [y, mo] = [Number(m[1]), Number(m[2]) - 1];
    if (mo > 11) return null;
    return [dayStart(y, mo, 1, utc), dayStart(y, mo + 1, 1, utc)];
  }
  m = /^(\d{1,2}) ([a-z]{3})[a-z]* (\d{4})$/i.exec(text);
  if (m) {
    const mo = MONTHS.indexOf(m[2]!.toLowerCase());
    const d = Number(m[1]);
    if (mo < 0 || d < 1 || d > 31) return null;
    return [dayStart(Number(m[3]), mo, d, utc), dayStart(Number(m[3]), mo, d + 1, utc)];
  }
  return null;
}

/**
 * Reads what the person typed: dates (a day, `FROM..TO` or `FROM to TO`, a month) and words of
 * a label. Dates are days of the local calendar (UTC when `utc`), as the app shows them.
 */
export function parseLibraryQuery(text: string, utc = false): LibraryQuery {
  const q: LibraryQuery = { fromMs: null, toMs: null, words: [] };
  let rest = ` ${text.trim().replace(/\s+/g, ' ')} `;
  const DAY = String.raw`\d{4}-\d{1,2}(?:-\d{1,2})?|\d{1,2} [a-z]{3}[a-z]* \d{4}`;
  const range = new RegExp(String.raw` (${DAY})(?: ?\.\. ?| to )(${DAY}) `, 'i').exec(rest);
  if (range) {
    const a = dateSpan(range[1]!, utc);
    const b = dateSpan(range[2]!, utc);
    if (a && b) {
      q.fromMs = Math.min(a[0], b[0]);
      q.toMs = Math.max(a[1], b[1]);
      rest = rest.replace(range[0], ' ');
    }
  }
  if (q.fromMs === null) {
    const single = new RegExp(String.raw` (${DAY}) `, 'i').exec(rest);
    const span = single ? dateSpan(single[1]!, utc) : null;
    if (single && span) {
      [q.fromMs, q.toMs] = span;
      rest = rest.replace(single[0], ' ');
    }
  }
  q.words = rest.split(' ').filter(Boolean).map((w) => w.toLowerCase());
  return q;
}

export function matchesQuery(e: LibraryEntry, q: LibraryQuery): boolean {
  if (q.fromMs !== null || q.toMs !== null) {
    if (e.startUnixMs === null) return false;
    if (q.fromMs !== null && e.startUnixMs < q.fromMs) return false;
    if (q.toMs !== null && e.startUnixMs >= q.toMs) return false;
  }
  const hay = `${e.deviceLabel} ${path.basename(e.copyPath)}`.toLowerCase();
  return q.words.every((w) => hay.includes(w));
}

/** The entries matching what the person typed (all of them for an empty search). */
export function filterLibrary(entries: readonly LibraryEntry[], text: string, utc = false): LibraryEntry[] {
  const q = parseLibraryQuery(text, utc);
  return entries.filter((e) => matchesQuery(e, q));
}

/**
 * What to say when a recording cannot be listened to: an encrypted copy not decrypted on this
 * computer (how to decrypt it), or a copy missing from the folder. Null when it can be played.
 */
export function whyNotPlayable(e: LibraryEntry): string | null {
  if (e.playablePath) return null;
  if (e.verification === 'missing') return `The copy is not in ${e.folder} any more: nothing to play.`;
  if (e.encrypted) {
    return `Recording ${e.number} is encrypted and has not been decrypted on this computer. Decrypt it with: recorder decrypt ${e.number} --dest "${e.folder}" (the owner key must be on this computer; see the user guide).`;
  }
  return 'There is no WAV file to play.';
}
