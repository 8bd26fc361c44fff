/**
 * Pinning a recorder's key in its library folder (issue 12 contract): the first signed IDENTITY
 * pins its public key to the device id; every later IDENTITY must show the same key and a journal
 * no older than the last one attested. Also kept here: the key files for stock tools, every signed
 * attestation, the device journal as copied (one file per epoch) and the library's log.
 *
 * Files (all 0600 in a 0700 folder): recorder-<keyId>.pub (signify), recorder-<keyId>.minisign.pub,
 * recorder-<keyId>.pem (OpenSSL), recorder-<deviceId>.pin.json (the pin record),
 * recorder-<keyId>.journal-<epoch>.bin (the journal's 128-byte records), recorder-<deviceId>.log
 * (JSON lines: pins, re-pins, deletions from the recorder).
 */
import { constants } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { JOURNAL_KIND } from '../../../protocol/src/schema.js';
import { EngineError, fsError } from '../errors.js';
import { entryFromRaw, JOURNAL_RECORD_SIZE, type JournalEntry } from '../journal.js';
import { FILE_MODE, safeJoin, writeFileAtomic, type Fs } from '../library.js';
import { checkAttestation, type Attestation, type CheckedIdentity } from './identity.js';
import { minisignPublicKey, opensslPublicKeyPem, signifyPublicKey } from './open-formats.js';
import type { EvidenceCode } from './recording.js';

export const PIN_VERSION = 1;

export interface PinRecord {
  pinVersion: 1;
  deviceId: string;
  keyId: string;
  /** Raw Ed25519 public key, hex. */
  publicKey: string;
  pinnedAtIso: string;
  /** Every signed IDENTITY answer seen from this key, oldest first. */
  attestations: Attestation[];
  /** Keys pinned before an explicit re-pin, newest last. */
  previous: { keyId: string; publicKey: string; pinnedAtIso: string; unpinnedAtIso: string; reason: string; attestations: Attestation[] }[];
}

const idPart = (deviceId: string) => deviceId.replace(/[^0-9a-f]/gi, '');
export const pinPath = (dir: string, deviceId: string) => safeJoin(dir, `recorder-${idPart(deviceId)}.pin.json`);
export const logPath = (dir: string, deviceId: string) => safeJoin(dir, `recorder-${idPart(deviceId)}.log`);
/** The journal as copied, per key and epoch: a re-pinned recorder (a new key) starts its own. */
export const journalPath = (dir: string, keyId: string, epoch: number) => safeJoin(dir, `recorder-${idPart(keyId)}.journal-${Math.trunc(epoch)}.bin`);
export const keyFileNames = (keyId: string) => ({ signify: `recorder-${keyId}.pub`, minisign: `recorder-${keyId}.minisign.pub`, pem: `recorder-${keyId}.pem` });

/**
 * Names of the library's own files (not recordings or manifests); custody.log: custody.ts; the
 * wipe certificates (wipe.ts) and, at a library's root, fleet.json (fleet.ts).
 */
export const LIBRARY_FILE = /^(recorder-[0-9a-f]+\.(pin\.json|log|journal-\d+\.bin|pub|minisign\.pub|pem)|custody\.log|wipe-[0-9a-f]+-\d{8}T\d{6}Z\.json|fleet\.json)$/;

export async function loadPin(fs: Fs, dir: string, deviceId: string): Promise<PinRecord | null> {
  let text: string;
  try {
    text = String(await fs.readFile(pinPath(dir, deviceId)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(e, 'read the pinned key', dir);
  }
  let p: PinRecord | null = null;
  try {
    p = JSON.parse(text) as PinRecord;
  } catch {
    // reported below as unreadable
  }
  if (!p || p.pinVersion !== PIN_VERSION || typeof p.keyId !== 'string' || typeof p.publicKey !== 'string' || !Array.isArray(p.attestations)) {
    throw new EngineError('MANIFEST_INVALID', `The pinned-key record ${pinPath(dir, deviceId)} is not readable.`, 'Do not edit it by hand. Restore it from a backup, or ask for advice.');
  }
  return p;
}

export async function savePin(fs: Fs, dir: string, p: PinRecord): Promise<void> {
  await writeFileAtomic(fs, pinPath(dir, p.deviceId), JSON.stringify(p, null, 2) + '\n');
}

/** Writes the three public key files for stock tools (same bytes each time). */
export async function writeKeyFiles(fs: Fs, dir: string, publicKey: Buffer): Promise<void> {
  const keyId = createHash('sha256').update(publicKey).digest().subarray(0, 8).toString('hex');
  const names = keyFileNames(keyId);
  await writeFileAtomic(fs, safeJoin(dir, names.signify), signifyPublicKey(publicKey, `ER-1 recorder public key ${keyId}`));
  await writeFileAtomic(fs, safeJoin(dir, names.minisign), minisignPublicKey(publicKey));
  await writeFileAtomic(fs, safeJoin(dir, names.pem), opensslPublicKeyPem(publicKey));
}

/** Appends one JSON line to the library's log (created 0600). Nothing secret goes in it. */
export async function appendLog(fs: Fs, dir: string, deviceId: string, entry: Record<string, unknown>): Promise<void> {
  const p = logPath(dir, deviceId);
  let fh;
  try {
    fh = await fs.open(p, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
    await fh.write(JSON.stringify({ atIso: new Date().toISOString(), deviceId, ...entry }) + '\n');
    await fh.sync();
  } catch (e) {
    throw fsError(e, 'write the library log', p);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

export async function readLog(fs: Fs, dir: string, deviceId: string): Promise<Record<string, unknown>[]> {
  try {
    return String(await fs.readFile(logPath(dir, deviceId)))
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
}

/** Keeps the device's journal as read (it only grows within an epoch: never shortened here). */
export async function saveLibraryJournal(fs: Fs, dir: string, keyId: string, epoch: number, entries: JournalEntry[]): Promise<void> {
  const have = await loadLibraryJournal(fs, dir, keyId, epoch);
  if (have && have.length > entries.length) return;
  await writeFileAtomic(fs, journalPath(dir, keyId, epoch), Buffer.concat(entries.map((e) => e.raw)));
}

export async function loadLibraryJournal(fs: Fs, dir: string, keyId: string, epoch: number): Promise<JournalEntry[] | null> {
  let raw: Buffer;
  try {
    raw = Buffer.from(await fs.readFile(journalPath(dir, keyId, epoch)));
  } catch {
    return null;
  }
  const out: JournalEntry[] = [];
  for (let i = 0; (i + 1) * JOURNAL_RECORD_SIZE <= raw.length; i++) out.push(entryFromRaw(Buffer.from(raw.subarray(i * JOURNAL_RECORD_SIZE, (i + 1) * JOURNAL_RECORD_SIZE)), i));
  return out;
}

/** A reason sync must not go on with this recorder. */
export interface PinRefusal {
  code: EvidenceCode;
  message: string;
  action: string;
}

export interface HeadState {
  epoch: number;
  count: number;
  head: string;
}

export function headOf(a: Attestation): HeadState {
  const c = checkAttestation(a);
  return { epoch: c.identity.journalEpoch, count: c.identity.journalCount, head: c.identity.journalHead.toString('hex') };
}

/**
 * Is `now` a journal state that can follow `before`? The same epoch with at least as many
 * records, or a later epoch whose journal starts with EPOCH_START (the device formatted its card).
 * `journal` is the device's journal as read now (for the EPOCH_START and the record at the old head).
 */
export function replayProblem(before: HeadState, now: HeadState, journal: JournalEntry[] | null): PinRefusal | null {
  const act = 'Nothing was copied. Keep the recorder and the card exactly as they are and ask for advice: someone may have put an old copy of the card in the recorder, or the recorder is not the one it claims to be.';
  if (now.epoch < before.epoch || (now.epoch === before.epoch && now.count < before.count)) {
    return {
      code: 'JOURNAL_REPLAYED',
      message: `The recorder's journal has gone back in time: it now says epoch ${now.epoch} with ${now.count} record(s), but on ${'an earlier'} sync it signed epoch ${before.epoch} with ${before.count} record(s).`,
      action: act,
    };
  }
  if (now.epoch === before.epoch && journal && before.count > 0) {
    const e = journal[before.count - 1];
    if (e && e.hash.toString('hex') !== before.head) {
      return { code: 'JOURNAL_REPLAYED', message: `The recorder's journal record ${before.count - 1} differs from the one it signed at an earlier sync: its journal has been rewritten.`, action: act };
    }
  }
  if (now.epoch > before.epoch && journal) {
    const first = journal[0];
    if (!first || first.record.kind !== JOURNAL_KIND.EPOCH_START || first.record.number !== now.epoch) {
      return { code: 'JOURNAL_REPLAYED', message: `The recorder says it started journal epoch ${now.epoch}, but its journal does not begin with the record that says so (EPOCH_START).`, action: act };
    }
    if (now.epoch === before.epoch + 1 && first.record.sampleCount < before.count) {
      return { code: 'JOURNAL_TAIL_CUT', message: `The recorder's previous journal ended with ${first.record.sampleCount} record(s), but it had signed ${before.count}: records ${first.record.sampleCount}..${before.count - 1} of epoch ${before.epoch} are missing.`, action: act };
    }
  }
  return null;
}

/** Checks a signed IDENTITY against the pin: null when it may go on. */
export function pinProblem(pin: PinRecord, id: CheckedIdentity, journal: JournalEntry[] | null): PinRefusal | null {
  if (id.keyId !== pin.keyId) {
    return {
      code: 'WRONG_KEY',
      message: `This recorder (device ${pin.deviceId}) now answers with signing key ${id.keyId}, but the library pinned key ${pin.keyId} for it on ${pin.pinnedAtIso.slice(0, 10)}. It may be a different device pretending to be this one.`,
      action: `Nothing was copied. If you know why the key changed (for example the recorder was repaired and set up again), run \`recorder devices re-pin ${pin.deviceId} --reason "..."\` and then sync again. Otherwise keep the recorder as it is and ask for advice.`,
    };
  }
  const last = pin.attestations.at(-1);
  if (!last) return null;
  return replayProblem(headOf(last), { epoch: id.identity.journalEpoch, count: id.identity.journalCount, head: id.identity.journalHead.toString('hex') }, journal);
}

/** The library folder under ~/Recordings that pins this recorder (when --dest is not given). */
export async function findPinnedLibrary(fs: Fs, deviceId: string, home = homedir()): Promise<string> {
  const root = path.join(home, 'Recordings');
  const found: string[] = [];
  for (const n of await fs.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, n);
    if (await fs.stat(pinPath(dir, deviceId)).then(() => true, () => false)) found.push(dir);
  }
  if (found.length === 1) return found[0]!;
  throw new EngineError(
    'NOT_A_RECORDER',
    found.length ? `Recorder ${deviceId} is pinned in several libraries (${found.join(', ')}).` : `No library under ${root} pins recorder ${deviceId}.`,
    'Say which library folder with --dest.',
  );
}

/** Moves the current pin to `previous`: the next sync pins whatever key the recorder shows. */
export async function rePin(fs: Fs, dir: string, deviceId: string, reason: string, now = Date.now()): Promise<PinRecord> {
  const pin = await loadPin(fs, dir, deviceId);
  if (!pin) throw new EngineError('NOT_A_RECORDER', `No key is pinned for recorder ${deviceId} in ${dir}.`, 'Check the device id and the library folder (--dest).');
  if (!reason.trim()) throw new EngineError('INTERNAL', 'A re-pin needs a reason (--reason "...").', 'Say why the key changed; it is written to the library log.');
  const moved: PinRecord = {
    ...pin,
    keyId: '',
    publicKey: '',
    pinnedAtIso: '',
    attestations: [],
    previous: [...pin.previous, { keyId: pin.keyId, publicKey: pin.publicKey, pinnedAtIso: pin.pinnedAtIso, unpinnedAtIso: new Date(now).toISOString(), reason, attestations: pin.attestations }],
  };
  await savePin(fs, dir, moved);
  await appendLog(fs, dir, deviceId, { event: 're-pin', oldKeyId: pin.keyId, reason });
  return moved;
}
