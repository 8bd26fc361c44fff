/**
 * The wipe (issue 13) and format's guard: a recorder is erased only when every recording on it
 * has a copy in this library that verifies now, or the user names exactly the ones to lose
 * (--discard-unsynced). After WIPE, the recorder's signed IDENTITY over a fresh nonce and its new
 * journal (EPOCH_START, WIPED) go into a wipe certificate in the library, which
 * `recorder verify-wipe` checks offline against the key pinned for the recorder.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { INFO_FLAGS, JOURNAL_KIND, PROTOCOL, WIPE_METHOD, WIPE_STATE } from '../../protocol/src/schema.js';
import type { ListEntry } from '../../protocol/generated/types.js';
import { deviceIdHex, summariseEntry } from './convert.js';
import { DeviceError, EngineError, fsError } from './errors.js';
import type { RecordingSummary } from './events.js';
import { checkIdentity } from './evidence/identity.js';
import { appendLog, loadPin } from './evidence/pins.js';
import { entryFromRaw, JOURNAL_RECORD_SIZE } from './journal.js';
import { durationText, ensureDir, indexLibrary, safeJoin, saveMemory, writeFileAtomic, type Fs } from './library.js';
import type { Emit, Session } from './session.js';
import { listAll, readJournal, standing } from './sync.js';
import { copyStands, verifyLibraryFile } from './verify.js';

/** A recording on the recorder without a copy in the library that verifies now. */
export interface UnsyncedRecording {
  number: number;
  /** ISO start time, or null when the recorder's clock was not set. */
  start: string | null;
  durationMs: number;
  /** Still being recorded. */
  recording: boolean;
}

/** What the recorder holds, against the library. */
export interface Holdings {
  entries: ListEntry[];
  total: number;
  newest: number;
  unsynced: UnsyncedRecording[];
}

/** Lists the recorder and checks each library copy now (as sync does before it skips one). */
export async function holdings(s: Session, fs: Fs, destination: string, signal?: AbortSignal): Promise<Holdings> {
  const { total, entries } = await listAll(s, signal);
  const library = await indexLibrary(fs, destination);
  const st = standing(entries, library, s.deviceId);
  const unverified = new Set([...st.toCopy, ...st.inProgress]);
  for (const n of st.alreadyInLibrary) {
    if (!copyStands(await verifyLibraryFile(library.get(`${s.deviceId}:${n}`)!.wav, fs))) unverified.add(n);
  }
  const unsynced = entries
    .filter((e) => unverified.has(e.number))
    .map((e): UnsyncedRecording => {
      const r: RecordingSummary = summariseEntry(e);
      return { number: r.number, start: r.clockSet ? new Date(Number(r.startUnixMs)).toISOString() : null, durationMs: r.durationMs, recording: r.state !== 'finished' };
    });
  return { entries, total, newest: entries.reduce((m, e) => Math.max(m, e.number), 0), unsynced };
}

export function describeUnsynced(u: UnsyncedRecording): string {
  const when = u.start ? `${u.start.slice(0, 16).replace('T', ' ')} UTC` : 'clock not set';
  return `recording ${u.number} (${when}, ${durationText(u.durationMs)}${u.recording ? ', still recording' : ''})`;
}

/**
 * Refuses to erase recordings without a verified copy, naming each, unless `discard` names
 * exactly those numbers (no more, no fewer: a list made for another state of the card is refused).
 */
export function refuseUnsynced(what: 'wipe' | 'format', unsynced: UnsyncedRecording[], discard: number[] | undefined): void {
  const want = unsynced.map((u) => u.number).sort((a, b) => a - b);
  const named = [...new Set(discard ?? [])].sort((a, b) => a - b);
  const list = unsynced.map(describeUnsynced).join('; ');
  if (discard !== undefined && named.join(',') !== want.join(',')) {
    throw new EngineError(
      'UNSYNCED',
      want.length === 0
        ? `--discard-unsynced names ${named.join(', ')}, but every recording on the recorder has a verified copy in this library. Nothing was erased.`
        : `--discard-unsynced names ${named.join(', ') || 'nothing'}, but the recordings without a verified copy in this library are: ${list}. Nothing was erased.`,
      want.length === 0 ? `Run the ${what} again without --discard-unsynced.` : `Run \`recorder sync\` first. To lose exactly these for ever, run \`recorder ${what} --discard-unsynced ${want.join(',')}\`.`,
    );
  }
  if (want.length === 0 || discard !== undefined) return;
  throw new EngineError(
    'UNSYNCED',
    `${want.length} recording(s) on the recorder have no verified copy in this library, so the ${what} was refused and nothing was erased: ${list}.`,
    `Run \`recorder sync\` first (with --dest if the library is elsewhere). Only if they must be lost for ever: \`recorder ${what} --discard-unsynced ${want.join(',')}\`.`,
  );
}

/** The wipe certificate: everything needed to check the wipe again offline. */
export interface WipeCertificate {
  type: 'er1-wipe-certificate';
  version: 1;
  deviceId: string;
  label: string;
  /** The recorder's key (hex) and its id, as it signed IDENTITY after the wipe. */
  keyId: string | null;
  publicKey: string | null;
  /** Whether that key is the one this library pinned for the recorder. */
  pinnedKey: boolean;
  wipedAtIso: string;
  state: 'done' | 'resumed';
  method: 'sd-erase' | 'overwrite' | 'zero-fill' | 'unknown';
  blocksErased: number;
  bytesErased: number;
  /** The journal epoch the wipe began. */
  epoch: number;
  /** Recordings on the recorder before the wipe, and those erased without a verified copy. */
  recordingsBefore: number[];
  discardedUnsynced: number[];
  /** IDENTITY over a fresh nonce after the wipe (hex), and the new journal's records (hex). */
  identity: { nonce: string; response: string };
  journal: string[];
}

const METHOD_NAMES: Record<number, WipeCertificate['method']> = {
  [WIPE_METHOD.SD_ERASE]: 'sd-erase',
  [WIPE_METHOD.OVERWRITE]: 'overwrite',
  [WIPE_METHOD.ZERO_FILL]: 'zero-fill',
};

export function methodText(m: WipeCertificate['method']): string {
  return m === 'sd-erase' ? "the card's own erase" : m === 'overwrite' ? 'zeros written over every block' : m === 'zero-fill' ? 'zero-filled (simulated card)' : 'an unknown method';
}

export interface WipeResult {
  certificate: WipeCertificate;
  certificatePath: string;
}

export interface WipeOptions {
  destination: string;
  discardUnsynced?: number[];
  confirm: (h: Holdings) => Promise<boolean>;
  fs: Fs;
  now: () => number;
  signal?: AbortSignal;
}

/** Longest a WIPE may take: the card's erase (minutes on a large card that lacks one). */
export const WIPE_TIMEOUT_MS = 30 * 60_000;

export async function runWipe(s: Session, emit: Emit, o: WipeOptions): Promise<WipeResult | null> {
  const h = await holdings(s, o.fs, o.destination, o.signal);
  refuseUnsynced('wipe', h.unsynced, o.discardUnsynced);
  if (!(await o.confirm(h))) {
    emit({ type: 'note', message: 'Wipe cancelled; nothing was changed.' });
    return null;
  }
  emit({ type: 'note', message: 'Wiping: destroying the recorder\'s recording keys and erasing every block of its card. This can take minutes on a large card; leave it connected.' });
  const w = await s.client
    .request('WIPE', { magic: PROTOCOL.wipeMagic, recordings: h.total, newestNumber: h.newest, reserved: 0, deviceId: s.info.deviceId }, { retries: 0, timeoutMs: WIPE_TIMEOUT_MS, signal: o.signal })
    .catch(async (e: unknown) => {
      throw await wipeFailure(s, e, o.signal);
    });
  // The proof: a fresh nonce, so the signed journal head is the state after the wipe.
  const nonce = randomBytes(32);
  const { payload } = await s.client.requestRaw('IDENTITY', { nonce }, { signal: o.signal });
  const id = checkIdentity(payload, nonce);
  const journal = await readJournal(s, o.signal);
  const pin = await loadPin(o.fs, o.destination, s.deviceId);
  const cert: WipeCertificate = {
    type: 'er1-wipe-certificate',
    version: 1,
    deviceId: s.deviceId,
    label: s.info.label,
    keyId: id.keyId,
    publicKey: id.publicKey ? id.publicKey.toString('hex') : null,
    pinnedKey: !!pin && !!id.publicKey && pin.publicKey === id.publicKey.toString('hex'),
    wipedAtIso: new Date(o.now()).toISOString(),
    state: w.state === WIPE_STATE.RESUMED ? 'resumed' : 'done',
    method: METHOD_NAMES[w.method] ?? 'unknown',
    blocksErased: w.blocksErased,
    bytesErased: w.blocksErased * 512,
    epoch: w.epoch,
    recordingsBefore: h.entries.map((e) => e.number),
    discardedUnsynced: h.unsynced.map((u) => u.number),
    identity: { nonce: nonce.toString('hex'), response: payload.toString('hex') },
    journal: journal.entries.map((e) => e.raw.toString('hex')),
  };
  await ensureDir(o.fs, o.destination);
  const stamp = cert.wipedAtIso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const file = safeJoin(o.destination, `wipe-${s.deviceId}-${stamp}.json`);
  try {
    await writeFileAtomic(o.fs, file, JSON.stringify(cert, null, 2) + '\n');
  } catch (e) {
    throw e instanceof EngineError ? e : fsError(e, 'write the wipe certificate', file);
  }
  // A library that never pinned this recorder (nothing was ever synced into it) cannot tie the
  // signature to it: said, and the certificate is checked for itself only.
  if (!pin) emit({ type: 'warning', code: 'NOT_PINNED', message: `This library has not pinned recorder ${s.deviceId}'s key, so the certificate cannot be tied to it here.`, action: 'Keep the certificate in the library that holds the recorder\'s recordings, and check it there with `recorder verify-wipe`.' });
  const problems = checkCertificate(cert, pin ? pin.publicKey : cert.publicKey);
  await appendLog(o.fs, o.destination, s.deviceId, { event: 'wiped', certificate: path.basename(file), state: cert.state, method: cert.method, epoch: cert.epoch, discardedUnsynced: cert.discardedUnsynced, proven: problems.length === 0 });
  if (problems.length === 0) {
    // The new journal was verified here: the next sync carries on from it rather than reporting
    // the old journal's records as gone (a format the app did not do is still reported).
    const last = journal.entries.at(-1)!;
    await saveMemory(o.fs, o.destination, s.deviceId, { index: last.index, recordSha256: last.hash.toString('hex'), number: 0 });
  }
  emit({
    type: 'wipe.done',
    deviceId: s.deviceId,
    state: cert.state,
    method: cert.method,
    blocksErased: cert.blocksErased,
    epoch: cert.epoch,
    certificatePath: file,
    proven: problems.length === 0,
    problems,
    message: `Recorder ${cert.label || cert.deviceId} was wiped${cert.state === 'resumed' ? ' (finished after a power cut)' : ''}: ${cert.blocksErased} blocks (${(cert.bytesErased / 1e6).toFixed(0)} MB) by ${methodText(cert.method)}, its recording keys destroyed, journal epoch ${cert.epoch} started. Certificate: ${file}`,
  });
  if (problems.length) {
    throw new EngineError('WIPE_UNPROVEN', `The wipe was done, but its certificate does not prove it: ${problems.join('; ')}.`, 'Keep the certificate and the recorder as they are, and ask for advice before handing it on.');
  }
  return { certificate: cert, certificatePath: file };
}

/**
 * A WIPE that failed: a refusal before anything was done (counts changed, recording, no card at
 * the start) stays as the recorder said it; one that failed after the recorder had begun (its
 * INFO says WIPE_PENDING: the keys are gone, the card was pulled or failed mid-erase) is said as
 * such, since "refused" would make the user think nothing was erased. No certificate is written
 * for it: the recorder finishes the wipe itself at its next card, and the next wipe proves it.
 */
async function wipeFailure(s: Session, e: unknown, signal?: AbortSignal): Promise<unknown> {
  if (!(e instanceof DeviceError)) return e;
  const pending = await s.client.request('INFO', {}, { signal }).then(
    (i) => (i.flags & INFO_FLAGS.WIPE_PENDING) !== 0,
    () => false,
  );
  if (!pending) return e;
  return new EngineError(
    'WIPE_UNFINISHED',
    `The wipe began but did not finish: the recorder's memory card ${e.info.code === 'NO_CARD' ? 'was removed' : `failed (${e.info.text})`} while it was being erased. The recorder's recording keys are already destroyed; the card is part erased. No wipe certificate was written.`,
    e.info.code === 'NO_CARD'
      ? 'Put the memory card back in the recorder (keep it connected): it finishes the wipe by itself. Then run `recorder wipe` again to get the certificate.'
      : 'Put in a working memory card (or the same one after a check): the recorder finishes the wipe on it by itself. Then run `recorder wipe` again to get the certificate.',
    e.deviceError,
  );
}

/**
 * Checks a certificate: the IDENTITY signature over its nonce verifies under `pinnedKey` (hex,
 * the key this library pinned for the recorder), and that signed answer says the recorder's
 * journal is exactly the certificate's: EPOCH_START then WIPED of the stated epoch, blocks and
 * method, chained, then nothing but CLOCK_LOST records (a wipe finished at a boot after a power
 * cut is followed by that boot's "clock lost", which holds only an uptime), the last its head.
 * Returns the problems (none: proven).
 */
export function checkCertificate(c: WipeCertificate, pinnedKey: string | null): string[] {
  const problems: string[] = [];
  if (c.type !== 'er1-wipe-certificate' || c.version !== 1) return ['it is not a wipe certificate this app knows'];
  const id = checkIdentity(Buffer.from(c.identity.response, 'hex'), Buffer.from(c.identity.nonce, 'hex'));
  if (!id.hasKey || !id.publicKey) return ['the recorder had no signing key, so nothing vouches for the wipe'];
  problems.push(...id.problems);
  if (!pinnedKey) problems.push('this library holds no pinned key for the recorder, so the signature cannot be tied to it');
  else if (pinnedKey !== id.publicKey.toString('hex')) problems.push('it is signed by another key than the one pinned for this recorder');
  if (c.publicKey !== id.publicKey.toString('hex')) problems.push('the key it names is not the key that signed');
  if (deviceIdHex(id.identity.deviceId) !== c.deviceId) problems.push('the signed device id is not the certificate\'s');
  const recs = c.journal.map((h, i) => entryFromRaw(Buffer.from(h, 'hex'), i));
  if (recs.length < 2 || recs.some((r) => r.raw.length !== JOURNAL_RECORD_SIZE)) return [...problems, `the new journal should hold EPOCH_START and WIPED, it holds ${recs.length} record(s)`];
  const [start, wiped, ...after] = recs as [ReturnType<typeof entryFromRaw>, ReturnType<typeof entryFromRaw>, ...ReturnType<typeof entryFromRaw>[]];
  after.forEach((r, i) => {
    if (r.record.kind !== JOURNAL_KIND.CLOCK_LOST) problems.push(`record ${i + 3} of the new journal is not a "clock lost": the recorder was used after the wipe`);
    if (!r.record.prevHash.equals(recs[i + 1]!.hash)) problems.push(`record ${i + 3} of the new journal does not follow the one before it`);
  });
  const head = recs[recs.length - 1]!;
  if (start.record.kind !== JOURNAL_KIND.EPOCH_START || start.record.number !== c.epoch || !start.record.prevHash.equals(Buffer.alloc(32))) problems.push('the first record is not the EPOCH_START of the new journal');
  if (wiped.record.kind !== JOURNAL_KIND.WIPED || wiped.record.number !== c.epoch) problems.push('the second record is not the WIPED record of that epoch');
  if (!wiped.record.prevHash.equals(start.hash)) problems.push('the WIPED record does not follow EPOCH_START');
  if (wiped.record.sampleCount !== c.blocksErased || METHOD_NAMES[wiped.record.sampleRate] !== c.method) problems.push('the blocks or the method stated differ from the recorder\'s WIPED record');
  if (id.identity.journalEpoch !== c.epoch || id.identity.journalCount !== recs.length || !id.identity.journalHead.equals(head.hash)) problems.push('the recorder\'s signed journal count and head are not those of this journal');
  return problems;
}

/** verify-wipe: reads a certificate and checks it against the key pinned in its folder (or dir). */
export async function verifyWipeFile(fs: Fs, file: string, dir = path.dirname(file)): Promise<{ certificate: WipeCertificate | null; problems: string[] }> {
  let c: WipeCertificate;
  try {
    c = JSON.parse(String(await fs.readFile(file))) as WipeCertificate;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw fsError(e, 'read the wipe certificate', file);
    return { certificate: null, problems: ['it is not readable JSON'] };
  }
  if (!c || typeof c !== 'object' || !c.identity || !Array.isArray(c.journal) || typeof c.deviceId !== 'string') return { certificate: null, problems: ['it is not a wipe certificate'] };
  const pin = await loadPin(fs, dir, c.deviceId);
  return { certificate: c, problems: checkCertificate(c, pin?.publicKey ?? null) };
}
