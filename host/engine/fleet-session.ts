/**
 * The fleet at a connection (issue 16): which folder a recorder's recordings go to (its open
 * loan's folder, else its own folder), its pinned key carried into a new loan's folder, and what
 * the connection showed remembered in the library's fleet.json.
 */
import * as path from 'node:path';
import { summariseInfo } from './convert.js';
import { toEngineError } from './errors.js';
import { currentLoan, FLEET_FILE, loanFolder, noteDeviceSeen, loadFleet, placeOfFolder, type DeviceRecord, type Loan } from './fleet.js';
import { appendLog, keyFileNames, loadPin, savePin, writeKeyFiles } from './evidence/pins.js';
import { deviceFolderName, type Fs } from './library.js';
import type { Emit, Session } from './session.js';

/** Where a command about one recorder works: the library root, the recordings folder, the loan. */
export interface Place {
  root: string;
  dest: string;
  loan: Loan | null;
  /** The folder was named (--dest), not chosen from the fleet. */
  named: boolean;
}

/**
 * The folder of a recorder's recordings: the one named (a loan's folder is recognised as such),
 * else its open loan's folder in the library, else its own folder. A fleet file that cannot be
 * read stops the command here (FLEET_INVALID): without it the recordings could land in the
 * wrong family's folder.
 */
export async function placeFor(fs: Fs, s: Session, o: { destination?: string; libraryRoot: string }): Promise<Place> {
  if (o.destination) {
    const dest = path.resolve(o.destination);
    const { root, loan } = await placeOfFolder(fs, dest);
    return { root, dest, loan, named: true };
  }
  const root = path.resolve(o.libraryRoot);
  const loan = await currentLoan(fs, root, s.deviceId);
  return { root, dest: loan ? loanFolder(root, loan) : path.join(root, deviceFolderName(s.info.label, s.deviceId)), loan, named: false };
}

/**
 * A new loan's folder starts without the recorder's pinned key: it is carried over from the
 * recorder's newest earlier folder that pins it (an earlier loan's, or its own), so the recorder
 * must still show the key the library first trusted. Only the key: its signed journal states
 * belong to the recordings of that folder (`recorder verify` checks them there); the wipe
 * certificate of the hand-back proves the new journal.
 */
export async function carryPin(fs: Fs, emit: Emit, place: Place, deviceId: string): Promise<void> {
  const loan = place.loan;
  if (!loan || (await loadPin(fs, place.dest, deviceId))) return;
  const f = await loadFleet(fs, place.root);
  const earlier = f.loans
    .filter((l) => l.deviceId === deviceId && l.id !== loan.id)
    .sort((a, b) => b.openedAt.localeCompare(a.openedAt))
    .map((l) => loanFolder(place.root, l));
  const own = path.join(place.root, loan.folder.split('/')[0]!);
  for (const dir of [...earlier, own]) {
    const pin = await loadPin(fs, dir, deviceId).catch(() => null);
    if (!pin?.keyId) continue;
    await writeKeyFiles(fs, place.dest, Buffer.from(pin.publicKey, 'hex'));
    await savePin(fs, place.dest, { pinVersion: 1, deviceId, keyId: pin.keyId, publicKey: pin.publicKey, pinnedAtIso: pin.pinnedAtIso, attestations: [], previous: [] });
    await appendLog(fs, place.dest, deviceId, { event: 'pin-carried', keyId: pin.keyId, from: path.relative(place.root, dir) || '.' });
    emit({ type: 'note', message: `Loan ${loan.reference}: recorder ${deviceId}'s signing key ${pin.keyId}, trusted since ${pin.pinnedAtIso.slice(0, 10)}, is carried into this loan's folder (${keyFileNames(pin.keyId).signify}); a recorder showing another key is refused.` });
    return;
  }
}

/** What INFO says of a recorder, as the fleet keeps it. */
export function seenOf(s: Session): Omit<DeviceRecord, 'lastSeen' | 'currentLoanId'> {
  const d = summariseInfo(s.info);
  return { deviceId: d.deviceId, label: d.label, model: d.model, firmware: d.firmware, recordings: d.recordingCount, freeBytes: Number(d.cardFree), batteryMv: d.batteryMv, lowBattery: d.lowBattery };
}

/**
 * Remembers the recorder as this connection saw it. Only in a library that exists: a command
 * that only talks to the recorder does not make a library folder, and a folder named with --dest
 * gets a fleet beside it only when its library already keeps one. A failure is a warning.
 */
export async function noteConnection(fs: Fs, emit: Emit, s: Session, o: { root: string; named: boolean; extra?: Partial<DeviceRecord> }, now: Date): Promise<void> {
  try {
    if (!(await fs.stat(o.root).then((st) => st.isDirectory(), () => false))) return;
    if (o.named && !(await fs.stat(path.join(o.root, FLEET_FILE)).then(() => true, () => false))) return;
    await noteDeviceSeen(fs, o.root, { ...seenOf(s), ...o.extra }, now);
  } catch (e) {
    const x = toEngineError(e);
    emit({ type: 'warning', code: x.code === 'FLEET_INVALID' ? 'FLEET_INVALID' : 'DEST_UNWRITABLE', message: `The library's list of recorders could not note this recorder: ${x.message}`, action: x.action || 'The command itself went ahead.' });
  }
}
