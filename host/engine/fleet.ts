/**
 * The fleet (issue 16): every recorder this library has met, and its loans. An advocate lends a
 * recorder to one family at a time; a loan names it by the advocate's loan code (never a family's
 * name: a lost laptop or recorder must not say whose recordings these are), and gives its
 * recordings a folder of their own under the recorder's folder, `<device folder>/<loan folder>/`,
 * so two families' recordings never mix, even with the same recording numbers.
 *
 * Stored in `fleet.json` at the library root (the folder holding each recorder's folder, by
 * default ~/Recordings), 0600 in a 0700 folder, written whole and atomically. `fleetVersion`
 * says its format: a newer one is refused (update the app), never rewritten. A file that is not
 * readable (hand-edited, cut short) is reported with where it is and nothing is written over it.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { EngineError, fsError } from './errors.js';
import { deviceFolderName, makeFolder, sanitiseLabel, writeFileAtomic, type Fs } from './library.js';

export const FLEET_FILE = 'fleet.json';
export const FLEET_VERSION = 1;
/** A fleet file bigger than this is not one of ours (thousands of loans fit in far less). */
const MAX_FLEET_BYTES = 16 << 20;

export interface DeviceRecord {
  deviceId: string;
  /** The id of the recorder's signing key (as pinned), when known. */
  keyFingerprint?: string;
  label: string;
  model?: string;
  firmware?: string;
  /** ISO time of the last connection. */
  lastSeen: string;
  /** Recordings on its card when last seen. */
  recordings?: number;
  /** Free bytes on its card when last seen. */
  freeBytes?: number;
  batteryMv?: number;
  lowBattery?: boolean;
  /** The open loan it is on, if any (derived from `loans` when read). */
  currentLoanId?: string;
}

export interface Loan {
  id: string;
  deviceId: string;
  /** The advocate's loan code, not a family's name. */
  reference: string;
  openedAt: string;
  closedAt?: string;
  /** The loan's recordings folder, relative to the library root. */
  folder: string;
  /** The wipe certificate of its hand-back, relative to the library root. */
  wipeCertificate?: string;
}

export interface Fleet {
  devices: DeviceRecord[];
  loans: Loan[];
}

export const fleetPath = (libraryRoot: string) => path.join(path.resolve(libraryRoot), FLEET_FILE);

const LIBRARY_ROOT = { name: 'library folder', option: '--library' };

function invalid(file: string, why: string): EngineError {
  return new EngineError(
    'FLEET_INVALID',
    `The list of recorders and loans ${file} cannot be read: ${why}. Nothing was changed in it.`,
    'Do not delete it: restore it from a backup, or mend the entry named (it is JSON text). The recordings themselves are not affected.',
  );
}

const isText = (v: unknown): v is string => typeof v === 'string';
const isOptional = (v: unknown, t: 'string' | 'number' | 'boolean') => v === undefined || typeof v === t;

/** The raw file (kept whole, so fields a later version added survive this version's writes). */
interface RawFleet {
  raw: Record<string, unknown>;
  devices: Record<string, unknown>[];
  loans: Record<string, unknown>[];
}

async function readRaw(fs: Fs, libraryRoot: string): Promise<RawFleet> {
  const file = fleetPath(libraryRoot);
  let text: string;
  try {
    const st = await fs.lstat(file);
    if (st.isSymbolicLink() || !st.isFile()) throw invalid(file, 'it is not a plain file');
    if (st.size > MAX_FLEET_BYTES) throw invalid(file, 'it is far too big to be one');
    text = String(await fs.readFile(file));
  } catch (e) {
    if (e instanceof EngineError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { raw: {}, devices: [], loans: [] };
    throw fsError(e, 'read the list of recorders', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalid(file, 'it is not valid JSON (cut short, or edited by hand)');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(file, 'it is not a list of recorders');
  const r = raw as Record<string, unknown>;
  if (typeof r.fleetVersion !== 'number') throw invalid(file, 'it has no fleetVersion');
  if (r.fleetVersion > FLEET_VERSION) {
    throw new EngineError('FLEET_INVALID', `The list of recorders and loans ${file} was written by a newer version of this app (format ${r.fleetVersion}; this one reads up to ${FLEET_VERSION}). Nothing was changed in it.`, 'Update the app on this computer.');
  }
  if (!Array.isArray(r.devices) || !Array.isArray(r.loans)) throw invalid(file, 'it has no "devices" or no "loans" list');
  r.devices.forEach((d: unknown, i) => {
    const x = d as Record<string, unknown> | null;
    if (!x || typeof x !== 'object' || !isText(x.deviceId) || !/^[0-9a-f]{16}$/.test(x.deviceId) || !isText(x.label) || !isText(x.lastSeen)) throw invalid(file, `recorder entry ${i + 1} lacks its deviceId (16 hex digits), label or lastSeen`);
    for (const k of ['keyFingerprint', 'model', 'firmware'] as const) if (!isOptional(x[k], 'string')) throw invalid(file, `recorder entry ${i + 1}: "${k}" is not text`);
    for (const k of ['recordings', 'freeBytes', 'batteryMv'] as const) if (!isOptional(x[k], 'number')) throw invalid(file, `recorder entry ${i + 1}: "${k}" is not a number`);
    if (!isOptional(x.lowBattery, 'boolean')) throw invalid(file, `recorder entry ${i + 1}: "lowBattery" is not true or false`);
  });
  const ids = new Set<string>();
  r.loans.forEach((l: unknown, i) => {
    const x = l as Record<string, unknown> | null;
    if (!x || typeof x !== 'object' || !isText(x.id) || !isText(x.deviceId) || !isText(x.reference) || !isText(x.openedAt) || !isText(x.folder)) throw invalid(file, `loan entry ${i + 1} lacks its id, deviceId, reference, openedAt or folder`);
    if (!isOptional(x.closedAt, 'string') || !isOptional(x.wipeCertificate, 'string')) throw invalid(file, `loan entry ${i + 1}: "closedAt" or "wipeCertificate" is not text`);
    if (!isSafeRelative(x.folder) || (isText(x.wipeCertificate) && !isSafeRelative(x.wipeCertificate))) throw invalid(file, `loan entry ${i + 1} names a folder or file outside the library`);
    if (ids.has(x.id)) throw invalid(file, `loan id ${x.id} is listed twice`);
    ids.add(x.id);
  });
  const open = new Map<string, string>();
  for (const x of r.loans as Record<string, unknown>[]) {
    if (x.closedAt !== undefined) continue;
    const other = open.get(x.deviceId as string);
    if (other) throw invalid(file, `recorder ${String(x.deviceId)} is on two open loans (${other} and ${String(x.id)})`);
    open.set(x.deviceId as string, x.id as string);
  }
  return { raw: r, devices: r.devices as Record<string, unknown>[], loans: r.loans as Record<string, unknown>[] };
}

/** A path inside the library: relative, no `..`, no control characters. */
function isSafeRelative(p: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (!p || path.isAbsolute(p) || p.includes('\\') || /[\u0000-\u001f\u007f]/.test(p)) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function fromRaw(r: RawFleet): Fleet {
  const loans = r.loans.map((x) => ({ ...x }) as unknown as Loan);
  const openOf = new Map(loans.filter((l) => !l.closedAt).map((l) => [l.deviceId, l.id]));
  const devices = r.devices.map((x) => {
    const d = { ...x } as unknown as DeviceRecord;
    delete d.currentLoanId;
    const open = openOf.get(d.deviceId);
    return open ? { ...d, currentLoanId: open } : d;
  });
  return { devices, loans };
}

async function writeRaw(fs: Fs, libraryRoot: string, r: RawFleet, f: Fleet): Promise<void> {
  // The root may be a link to another disk (~/Recordings on an external drive): only a missing
  // root is made, and made private.
  if (!(await fs.stat(libraryRoot).then((st) => st.isDirectory(), () => false))) await makeFolder(fs, libraryRoot, LIBRARY_ROOT);
  const byId = new Map(r.devices.map((d) => [d.deviceId as string, d]));
  const loanById = new Map(r.loans.map((l) => [l.id as string, l]));
  const openOf = new Map(f.loans.filter((l) => !l.closedAt).map((l) => [l.deviceId, l.id]));
  const out = {
    ...r.raw,
    fleetVersion: FLEET_VERSION,
    devices: f.devices.map((d) => {
      const x: Record<string, unknown> = { ...byId.get(d.deviceId), ...d };
      delete x.currentLoanId;
      const open = openOf.get(d.deviceId);
      if (open) x.currentLoanId = open;
      return x;
    }),
    loans: f.loans.map((l) => ({ ...loanById.get(l.id), ...l })),
  };
  await writeFileAtomic(fs, fleetPath(libraryRoot), JSON.stringify(out, null, 2) + '\n');
}

/** The recorders and loans of a library; empty lists when it has none yet. */
export async function loadFleet(fs: Fs, libraryRoot: string): Promise<Fleet> {
  return fromRaw(await readRaw(fs, libraryRoot));
}

/** Reads, changes and writes the fleet; `change` returns what the caller gets. */
async function update<T>(fs: Fs, libraryRoot: string, change: (f: Fleet) => T): Promise<T> {
  const r = await readRaw(fs, libraryRoot);
  const f = fromRaw(r);
  const out = change(f);
  await writeRaw(fs, libraryRoot, r, f);
  return out;
}

/**
 * Remembers what a connection showed of a recorder (every connection calls this): the fields
 * given replace the remembered ones, those not given (say its key, known only to sync) are kept.
 */
export async function noteDeviceSeen(fs: Fs, libraryRoot: string, d: Omit<DeviceRecord, 'lastSeen' | 'currentLoanId'>, now: Date): Promise<DeviceRecord> {
  return update(fs, libraryRoot, (f) => {
    const given = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as Omit<DeviceRecord, 'lastSeen' | 'currentLoanId'>;
    const i = f.devices.findIndex((x) => x.deviceId === d.deviceId);
    const open = f.loans.find((l) => l.deviceId === d.deviceId && !l.closedAt);
    const record: DeviceRecord = { ...(i >= 0 ? f.devices[i] : {}), ...given, lastSeen: now.toISOString() };
    delete record.currentLoanId;
    if (open) record.currentLoanId = open.id;
    if (i >= 0) f.devices[i] = record;
    else f.devices.push(record);
    return record;
  });
}

/** The open loan of a recorder, or null. */
export async function currentLoan(fs: Fs, libraryRoot: string, deviceId: string): Promise<Loan | null> {
  return (await loadFleet(fs, libraryRoot)).loans.find((l) => l.deviceId === deviceId && !l.closedAt) ?? null;
}

const pad = (n: number) => String(n).padStart(2, '0');
const day = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** Checks a loan code: 1 to 64 characters, no control characters, some letter or digit. */
export function checkReference(reference: string): string {
  const r = reference.normalize('NFC').trim();
  // eslint-disable-next-line no-control-regex
  if (!r || [...r].length > 64 || /[\u0000-\u001f\u007f]/.test(r) || !/[\p{L}\p{N}]/u.test(r)) {
    throw new EngineError('LOAN_REFUSED', `"${reference}" cannot be a loan code: it must be 1 to 64 characters, with letters or digits and no control characters.`, 'Use the code of your loan register (for example ADV-2025-014), not the family\'s name.');
  }
  return r;
}

/**
 * Opens a loan of a recorder: its recordings go to `<device folder>/<loan code>_<date>/` from now
 * on (the folder is made now, 0700). Refused while the recorder is on an open loan.
 */
export async function openLoan(fs: Fs, libraryRoot: string, o: { deviceId: string; reference: string }, now: Date): Promise<Loan> {
  const reference = checkReference(o.reference);
  if (!/^[0-9a-f]{16}$/.test(o.deviceId)) throw new EngineError('LOAN_REFUSED', `"${o.deviceId}" is not a recorder's id (16 hex digits, as "recorder info" shows it).`, 'Give the recorder\'s id.');
  const loan = await update(fs, libraryRoot, (f) => {
    const open = f.loans.find((l) => l.deviceId === o.deviceId && !l.closedAt);
    const device = f.devices.find((d) => d.deviceId === o.deviceId);
    const name = device?.label ? `"${device.label}"` : o.deviceId;
    if (open) {
      throw new EngineError('LOAN_REFUSED', `Recorder ${name} is still on loan ${open.reference} (opened ${open.openedAt.slice(0, 10)}), so a new loan was not opened.`, 'Hand it back first ("recorder handback": copies, checks and wipes it, and closes that loan).');
    }
    const deviceFolder = deviceFolderName(device?.label ?? '', o.deviceId);
    const base = `${sanitiseLabel(reference) || 'loan'}_${day(now)}`;
    const taken = new Set(f.loans.map((l) => l.folder));
    let folder = `${deviceFolder}/${base}`;
    for (let n = 2; taken.has(folder); n++) folder = `${deviceFolder}/${base}-${n}`;
    let id: string;
    do id = `loan-${randomBytes(4).toString('hex')}`;
    while (f.loans.some((l) => l.id === id));
    const l: Loan = { id, deviceId: o.deviceId, reference, openedAt: now.toISOString(), folder };
    f.loans.push(l);
    if (!device) f.devices.push({ deviceId: o.deviceId, label: '', lastSeen: now.toISOString() });
    return l;
  });
  await makeFolder(fs, loanFolder(libraryRoot, loan), { name: 'loan folder', option: '--library' });
  return loan;
}

/** Closes a loan (after its hand-back), with its wipe certificate (relative to the library root). */
export async function closeLoan(fs: Fs, libraryRoot: string, loanId: string, o: { wipeCertificate?: string }, now: Date): Promise<Loan> {
  if (o.wipeCertificate !== undefined && !isSafeRelative(o.wipeCertificate)) throw new EngineError('LOAN_REFUSED', `The wipe certificate ${o.wipeCertificate} is not inside the library.`, 'Give its path relative to the library folder.');
  return update(fs, libraryRoot, (f) => {
    const i = f.loans.findIndex((l) => l.id === loanId);
    if (i < 0) throw new EngineError('LOAN_REFUSED', `There is no loan ${loanId} in this library.`, 'See "recorder devices" for the loans it knows.');
    const l = f.loans[i]!;
    if (l.closedAt) throw new EngineError('LOAN_REFUSED', `Loan ${l.reference} (${l.id}) was already closed on ${l.closedAt.slice(0, 10)}.`, 'Nothing to do.');
    const closed: Loan = { ...l, closedAt: now.toISOString(), ...(o.wipeCertificate !== undefined ? { wipeCertificate: o.wipeCertificate } : {}) };
    f.loans[i] = closed;
    return closed;
  });
}

/** The absolute folder of a loan's recordings. */
export function loanFolder(libraryRoot: string, loan: Loan): string {
  return path.join(path.resolve(libraryRoot), ...loan.folder.split('/'));
}

/**
 * The loan a `--loan` names: its id, or its loan code (the open one first, then the newest);
 * with `deviceId`, only that recorder's loans. Refused when nothing matches, or a code names
 * loans of several recorders.
 */
export function findLoan(f: Fleet, refOrId: string, deviceId?: string): Loan {
  const mine = f.loans.filter((l) => !deviceId || l.deviceId === deviceId);
  const byId = mine.find((l) => l.id === refOrId);
  if (byId) return byId;
  const want = refOrId.normalize('NFC').trim().toLowerCase();
  const byRef = mine.filter((l) => l.reference.toLowerCase() === want);
  if (byRef.length === 0) throw new EngineError('LOAN_REFUSED', `No loan ${JSON.stringify(refOrId)} is known in this library.`, '"recorder devices" lists the recorders and their loans.');
  if (new Set(byRef.map((l) => l.deviceId)).size > 1) {
    throw new EngineError('LOAN_REFUSED', `Loan code ${JSON.stringify(refOrId)} was used for several recorders (${byRef.map((l) => l.id).join(', ')}).`, 'Name the loan by its id ("recorder devices" lists them).');
  }
  return byRef.find((l) => !l.closedAt) ?? byRef.sort((a, b) => b.openedAt.localeCompare(a.openedAt))[0]!;
}

/**
 * A recordings folder's library root and loan: a loan's folder is two levels under the root
 * (`<root>/<device>/<loan>`), a recorder's folder one. Reads the fleet of the root two levels up.
 */
export async function placeOfFolder(fs: Fs, folder: string): Promise<{ root: string; loan: Loan | null }> {
  const full = path.resolve(folder);
  const up2 = path.dirname(path.dirname(full));
  if (up2 !== path.dirname(up2)) {
    const f = await loadFleet(fs, up2).catch(() => null);
    const loan = f?.loans.find((l) => loanFolder(up2, l) === full);
    if (loan) return { root: up2, loan };
  }
  return { root: path.dirname(full), loan: null };
}
