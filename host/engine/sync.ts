/**
 * Sync: copy every finished recording not yet in the library, verify it, record a manifest,
 * check the journal, and (only when asked, and only after verification) delete from the device.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { CARD_LAYOUT, FILE_PART, HASH_ALGORITHM, INFO_FLAGS, RECIPIENT_ACTION, RECIPIENT_FLAGS, RECORD_FLAGS, RECORDING_STATE, STRUCTS, structSize } from '../../protocol/src/schema.js';
import type { ListEntry } from '../../protocol/generated/types.js';
import { durationMs, hex, summariseEntry, summariseInfo } from './convert.js';
import { EngineError, fsError, toEngineError } from './errors.js';
import type { EventOf, JournalProblem, SignatureSummary } from './events.js';
import { checkJournal, journalCheckedEvent, journalEntriesFromPayload, JOURNAL_RECORD_SIZE, memoryNumber, recordingEntries, type JournalCheck, type JournalEntry } from './journal.js';
import {
  assertRegularOrAbsent,
  defaultDestination,
  ensureDir,
  exists,
  indexLibrary,
  loadMemory,
  ENCRYPTED_MANIFEST_VERSION,
  MANIFEST_VERSION,
  sidecarPath,
  openNoFollow,
  publishNoClobber,
  realFs,
  recordingBaseName,
  safeJoin,
  saveMemory,
  serialiseManifest,
  writeFileAtomic,
  type Fs,
  type LibraryIndex,
  type Manifest,
  type ManifestLoan,
} from './library.js';
import { appendLog } from './evidence/pins.js';
import { appendCustodyOrWarn, copyEntry } from './custody.js';
import { collectEvidence, identify, readPart, recordJournal, signatureStatus, type SigningState } from './evidence/sync-evidence.js';
import { parseChecksumStatement } from './evidence/open-formats.js';
import { cardName } from './evidence/recording.js';
import { decryptLibraryCopy } from './privacy/decrypt-copy.js';
import { libraryRootOf, loadIdentities, type LoadedIdentity, type PassphraseSource } from './privacy/owner-keys.js';
import { recipientString } from './privacy/recipient.js';
import { buildManifest, type ClockInfo } from './manifest.js';
import { estimatesByNumber, type TimeEstimate } from './placement.js';
import { clocksSinceSetByNumber, type ClockSinceSet } from './clock-since-set.js';
import { manifestMarkers } from './markers.js';
import type { ProtocolClient, RequestOptions } from './client.js';
import type { Emit, Session } from './session.js';
import { copyStands, inspectFile, readerFor, verifyLibraryFile } from './verify.js';
import { compareWav, hashRange } from './wav.js';
import { MIN_READ, ReadSizer } from './read-size.js';
import { readAudioRange } from './range-read.js';

export interface SyncOptions {
  /** Library folder; default ~/Recordings/<label or device id>. */
  dest?: string;
  deleteAfterVerify?: boolean;
  /** READ requests kept in flight (capped by the device's maxInFlight). Default 8. */
  window?: number;
  /** Bytes per READ, fixed; by default it follows the link's error rate, up to maxPayload - 8 (read-size.ts). */
  chunkSize?: number;
  /** Set the device clock after measuring its offset. Default true. */
  setTime?: boolean;
  progressIntervalMs?: number;
  signal?: AbortSignal;
  fs?: Fs;
  home?: string;
  appVersion?: string;
  now?: () => number;
  /** Reconnects allowed per recording without any progress in between. Default 5. */
  maxReconnects?: number;
  /**
   * Owner key files (age identities) that open encrypted recordings, beside the owner keys of the
   * library that holds `dest` (its `keys/` folder).
   */
  identityFiles?: string[];
  /** The library root when `dest` is a loan's folder (issue 16): its owner keys are there. */
  libraryRoot?: string;
  /** The loan the recorder is on: written into each new copy's manifest. */
  loan?: ManifestLoan;
  /** Opens passphrase-protected owner keys; asked only when the recorder encrypts. */
  passphrase?: PassphraseSource;
}

/** What sync returns: the fields of its `sync.summary` event, and whether it was stopped. */
export interface SyncResult extends Omit<EventOf<'sync.summary'>, 'type' | 'at' | 'message'> {
  cancelled: boolean;
}

const READ_HEADER = structSize(STRUCTS.READ);
/**
 * Received bytes are written to the .part in batches of about this size: 16 answers per write
 * (a write per answer cost more CPU than the protocol), while a crash of the app (no chance to
 * flush) loses at most this much of the partial copy to re-read.
 */
const WRITE_BATCH_BYTES = 64 * 1024;
const LIST_ENTRY_SIZE = structSize(STRUCTS.LIST_ENTRY);
/**
 * The slowest rate a recorder is taken to hash its card at (HASH), bytes per second. The RP2040
 * build runs at 48 MHz: SHA-256 costs 130.8 cycles per byte (docs/benchmarks.md) and reading
 * the card over SPI about 40 more (the SPI loop and the SD driver's bitwise CRC16, in the
 * proportions of docs/rp2040.md's profile), about 280 kB/s; this leaves a factor near 3 for card
 * read latency and a slower card. The 2 s request timeout covers only about 0.5 MB at this rate.
 */
export const SLOWEST_HASH_BYTES_PER_S = 100_000;

/**
 * Options for a HASH of `bytes`: the request timeout plus the time the slowest recorder takes to
 * hash them, and no resend: the device answers in order, so a resend would only wait behind the
 * hash already running. A lost request or answer is a timeout, and sync reconnects and asks again.
 */
function hashRequestOptions(client: ProtocolClient, bytes: number, signal: AbortSignal | undefined, floorMs = 0): RequestOptions {
  return { signal, retries: 0, timeoutMs: Math.max(floorMs, client.timeoutMs + Math.ceil((bytes * 1000) / SLOWEST_HASH_BYTES_PER_S)) };
}
const ZERO_SHA = '0'.repeat(64);

/** Where each recording on the recorder stands against the library (the list.received fields). */
export interface Standing {
  toCopy: number[];
  alreadyInLibrary: number[];
  inProgress: number[];
}

/**
 * Sorts the recorder's recordings: still recording, already in the library (a manifest of this
 * recorder and number with the recorder's SHA-256), or to copy.
 */
export function standing(entries: ListEntry[], library: LibraryIndex, deviceId: string): Standing {
  const out: Standing = { toCopy: [], alreadyInLibrary: [], inProgress: [] };
  for (const e of entries) {
    if (e.state !== RECORDING_STATE.FINISHED) out.inProgress.push(e.number);
    else if (library.get(`${deviceId}:${e.number}`)?.manifest.recording.sha256 === hex(e.sha256)) out.alreadyInLibrary.push(e.number);
    else out.toCopy.push(e.number);
  }
  return out;
}

export async function listAll(session: Session, signal?: AbortSignal): Promise<{ total: number; entries: ListEntry[] }> {
  const entries: ListEntry[] = [];
  let after = 0;
  let total = 0;
  const maxEntries = Math.max(1, Math.floor((session.client.maxPayload - structSize(STRUCTS.LIST)) / LIST_ENTRY_SIZE));
  for (let page = 0; page < 100000; page++) {
    const r = await session.client.request('LIST', { afterNumber: after, maxEntries, reserved: 0 }, { signal });
    total = r.total;
    for (const e of r.entries) {
      if (e.number <= after) throw new EngineError('NOT_A_RECORDER', 'The recorder listed its recordings out of order.', 'Unplug the recorder, plug it back in, and try again.');
      entries.push(e);
      after = e.number;
    }
    if (!r.more || r.entries.length === 0) break;
  }
  return { total, entries };
}

export async function readJournal(session: Session, signal?: AbortSignal): Promise<{ total: number; entries: JournalEntry[] }> {
  const entries: JournalEntry[] = [];
  const maxRecords = Math.max(1, Math.floor((session.client.maxPayload - structSize(STRUCTS.JOURNAL)) / JOURNAL_RECORD_SIZE));
  let total = 0;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const { payload } = await session.client.requestRaw('JOURNAL', { fromIndex: entries.length, maxRecords, reserved: 0 }, { signal });
    const page = journalEntriesFromPayload(payload);
    total = page.total;
    if (page.fromIndex !== entries.length) throw new EngineError('NOT_A_RECORDER', 'The recorder sent journal records from the wrong place.', 'Unplug the recorder, plug it back in, and try again.');
    entries.push(...page.entries);
    if (page.entries.length === 0 || entries.length >= total) break;
  }
  return { total, entries };
}

/** Measures device minus host time with INFO, then (optionally) sets the device clock. */
export async function measureAndSetClock(session: Session, emit: Emit, now: () => number, set: boolean, signal?: AbortSignal): Promise<ClockInfo> {
  const t0 = now();
  const info = await session.client.request('INFO', {}, { signal });
  const t1 = now();
  session.info = info;
  const hostMid = Math.round((t0 + t1) / 2);
  const deviceMs = Number(info.clockUnixMs);
  const clockSet = summariseInfo(info).clockSet;
  const offsetMs = deviceMs - hostMid;
  emit({ type: 'clock.offset', offsetMs, roundTripMs: t1 - t0, deviceUnixMs: info.clockUnixMs.toString(), hostUnixMs: String(hostMid), deviceClockWasSet: clockSet });
  if (!clockSet) {
    emit({ type: 'warning', code: 'CLOCK_NOT_SET', message: "The recorder's clock had not been set, so recordings made since it was last powered up carry no trustworthy date.", action: set ? 'The clock is being set now; the offset is written into each copy\'s manifest.' : 'Run `recorder set-time`.' });
  } else if (Math.abs(offsetMs) > 2000) {
    emit({ type: 'warning', code: 'CLOCK_DRIFT', message: `The recorder's clock was ${(offsetMs / 1000).toFixed(1)} seconds ${offsetMs > 0 ? 'ahead of' : 'behind'} this computer.`, action: 'The difference is written into each copy\'s manifest; the clock is being corrected.' });
  }
  // An unset clock counts from zero at power-up: its "offset" would be meaningless in a manifest.
  const clock: ClockInfo = { offsetMs: clockSet ? offsetMs : null, roundTripMs: t1 - t0, deviceClockWasSet: clockSet, measuredAtIso: new Date(hostMid).toISOString(), deviceClockSetTo: null };
  if (set) {
    const to = now();
    const r = await session.client.request('SET_TIME', { unixMs: BigInt(to) }, { signal });
    clock.deviceClockSetTo = new Date(to).toISOString();
    emit({ type: 'clock.set', previousUnixMs: r.previousUnixMs.toString(), previousSet: r.previousSet === 1, newUnixMs: String(to), offsetMs: Number(r.previousUnixMs) - to });
  }
  return clock;
}

function isLinkLoss(e: unknown): boolean {
  return e instanceof EngineError && (e.code === 'DISCONNECTED' || e.code === 'TIMEOUT');
}

/** Progress samples are kept this far apart at most (ms); the rate is taken over the last 3 s. */
const PROGRESS_SAMPLE_MS = 100;

class Progress {
  /** One per PROGRESS_SAMPLE_MS, not one per answer: shift() copied that long array at every answer. */
  private samples: { t: number; b: number }[] = [];
  private last = -Infinity;
  constructor(
    private readonly emit: Emit,
    private readonly number: number,
    private readonly total: number,
    private readonly interval: number,
    private readonly now: () => number,
  ) {}
  update(bytes: number, force = false): void {
    const t = this.now();
    if (force || !this.samples.length || t - this.samples.at(-1)!.t >= PROGRESS_SAMPLE_MS) {
      this.samples.push({ t, b: bytes });
      while (this.samples.length > 2 && t - this.samples[0]!.t > 3000) this.samples.shift();
    }
    if (!force && t - this.last < this.interval) return;
    this.last = t;
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    const rate = dt > 0 ? Math.round((bytes - first.b) / dt) : 0;
    this.emit({ type: 'file.progress', number: this.number, bytes, total: this.total, rate, etaSeconds: rate > 0 ? Math.ceil((this.total - bytes) / rate) : null });
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number, where: string): Promise<void> {
  let o = 0;
  try {
    while (o < buf.length) o += (await fh.write(buf, o, buf.length - o, position + o)).bytesWritten;
  } catch (e) {
    throw fsError(e, 'save the copy', where);
  }
}

interface CopyTarget {
  final: string;
  part: string;
  manifest: string;
}

export async function sync(session: Session, emit: Emit, o: SyncOptions = {}): Promise<SyncResult> {
  const fs = o.fs ?? realFs;
  const now = o.now ?? Date.now;
  const signal = o.signal;
  const started = now();
  const info = session.info;
  const deviceId = session.deviceId;
  const label = info.label;
  const dest = path.resolve(o.dest ?? defaultDestination(label, deviceId, o.home));
  const result: SyncResult = { ok: false, deviceId, label, destination: dest, copied: [], alreadyHad: [], failed: [], deleted: [], inProgress: [], journal: 'not-checked', bytes: 0, elapsedMs: 0, cancelled: false };
  const finish = (message?: string): SyncResult => {
    result.elapsedMs = now() - started;
    result.ok = !result.cancelled && result.failed.length === 0 && (result.journal === 'ok' || result.journal === 'empty');
    emit({
      type: 'sync.summary',
      ok: result.ok,
      deviceId,
      label,
      destination: dest,
      copied: result.copied,
      alreadyHad: result.alreadyHad,
      failed: result.failed,
      deleted: result.deleted,
      inProgress: result.inProgress,
      journal: result.journal,
      bytes: result.bytes,
      elapsedMs: result.elapsedMs,
      message: message ?? summaryText(result),
    });
    return result;
  };

  // Device state warnings
  const device = summariseInfo(info);
  if (device.cardState === 'none') emit({ type: 'warning', code: 'CARD_PROBLEM', message: 'The recorder has no memory card in it.', action: 'Put the card back in and run sync again.' });
  else if (device.cardState === 'error' || device.cardState === 'unformatted') emit({ type: 'warning', code: 'CARD_PROBLEM', message: 'The recorder reports a problem with its memory card.', action: 'Do not format it. Ask for help before doing anything else with the card.' });
  if (device.lowBattery) emit({ type: 'warning', code: 'LOW_BATTERY', message: 'The recorder\'s battery is low.', action: 'Keep it plugged in while copying.' });

  const withLink = async <T>(what: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await what();
      } catch (e) {
        if (!isLinkLoss(e) || attempt >= (o.maxReconnects ?? 5)) throw e;
        await session.waitForReturn((e as Error).message, signal);
      }
    }
  };

  try {
    await ensureDir(fs, dest);
    // Owner keys given with --identity must be readable before anything is copied.
    const owner = await loadOwnerKeys(dest, o.identityFiles ?? [], summariseInfo(info).encrypting ? o.passphrase : undefined, o.libraryRoot);
    // Who the recorder is comes first: a recorder refused here is not changed (not even its clock).
    const signing = await withLink(() => identify(session, emit, fs, dest, now, signal));
    const clock = await withLink(() => measureAndSetClock(session, emit, now, o.setTime ?? true, signal));
    // The INFO exchange it measured: the recorder's uptime at a known host time, which places
    // recordings made without a clock in the boot running now (placement.ts).
    const uptimeNow = { hostUnixMs: Date.parse(clock.measuredAtIso ?? '') || now(), deviceUptimeMs: Number(session.info.uptimeMs), roundTripMs: clock.roundTripMs ?? 0 };
    if (summariseInfo(session.info).encrypting) await withLink(() => checkRecipient(session, emit, owner, signal));

    // Listing
    const { total, entries } = await withLink(() => listAll(session, signal));
    const library = await indexLibrary(fs, dest);
    const { toCopy, alreadyInLibrary: already, inProgress } = standing(entries, library, deviceId);
    result.inProgress = inProgress;
    emit({ type: 'list.received', total, recordings: entries.map(summariseEntry), toCopy, alreadyInLibrary: already, inProgress });

    // Journal
    const journal = await withLink(() => readJournal(session, signal));
    await recordJournal(fs, signing, deviceId, journal.entries);
    const memory = await loadMemory(fs, dest, deviceId);
    const check = checkJournal(journal.entries, journal.total, memory);
    // Only recording records (journal.ts: isRecordingKind) stand for files; the other kinds use
    // `number` for something else or spent it without a file.
    const byNumber = new Map(recordingEntries(journal.entries).map((j) => [j.record.number, j]));
    const onDevice = new Set(entries.map((e) => e.number));
    for (const j of recordingEntries(journal.entries)) {
      if (!onDevice.has(j.record.number) && !library.has(`${deviceId}:${j.record.number}`)) {
        check.gaps.push({ kind: 'missing-record', index: j.index, message: `recording ${j.record.number} is in the journal but is neither on the recorder nor in ${dest}` });
      }
    }
    for (const e of entries) {
      if (e.state === RECORDING_STATE.FINISHED && !byNumber.has(e.number)) {
        check.problems.push({ kind: 'missing-record', message: `recording ${e.number} has no journal record` });
      }
      const j = byNumber.get(e.number);
      if (j && e.state === RECORDING_STATE.FINISHED && !j.record.sha256.equals(e.sha256)) {
        check.problems.push({ kind: 'hash-differs', index: j.index, message: `recording ${e.number}: the journal's SHA-256 differs from the recording list` });
      }
    }
    if (check.problems.length) check.chain = 'broken';
    reportJournal(emit, check);
    result.journal = check.chain === 'broken' ? 'broken' : check.gaps.length ? 'gap' : check.chain;
    // A restarted journal (card formatted since the last sync) is remembered once it verifies, so
    // its gap is reported once rather than at every sync.
    if (check.chain === 'ok' && (check.restarted || !check.gaps.some((g) => g.kind === 'shrunk')) && check.lastIndex !== null) {
      const last = journal.entries[check.lastIndex]!;
      await saveMemory(fs, dest, deviceId, { index: last.index, recordSha256: last.hash.toString('hex'), number: memoryNumber(journal.entries, check.lastIndex) });
    }
    const journalTrusted = check.chain === 'ok';
    const estimates = estimatesByNumber(journal.entries, uptimeNow);
    const clocks = clocksSinceSetByNumber(journal.entries, { offsetMs: clock.offsetMs, measuredAtUnixMs: uptimeNow.hostUnixMs });

    for (const n of inProgress) emit({ type: 'file.skipped', number: n, reason: 'in-progress', message: `Recording ${n} is still being recorded; it will be copied next time.` });

    // Copies
    const ctx: CopyContext = { session, emit, fs, dest, now, signal, o, clock, check, byNumber, estimates, clocks, library, deviceId, signing, owner, undecryptable: new Set() };
    for (const e of entries) {
      if (e.state !== RECORDING_STATE.FINISHED) continue;
      if (signal?.aborted) throw new EngineError('CANCELLED', 'Stopped.', '');
      let outcome: { path: string } | null;
      if (already.includes(e.number)) {
        const existing = library.get(`${deviceId}:${e.number}`)!;
        if (existing.manifest.evidence?.status === 'pending' && signatureStatus(signing, e) === 'signed' && !(await completeSignature(ctx, e, existing, result))) continue;
        const v = await verifyLibraryFile(existing.wav, fs);
        if (copyStands(v)) {
          emit({ type: 'file.skipped', number: e.number, reason: 'already-verified', message: `Recording ${e.number} is already safely in the library (${path.basename(existing.wav)}).` });
          result.alreadyHad.push(e.number);
          outcome = { path: existing.wav };
          // An encrypted copy not decrypted yet (no owner key then, or its WAV removed since).
          if (existing.manifest.encryption && !v.decrypted && ownerIdentities(ctx).length > 0) await decryptInLibrary(ctx, e.number, existing.wav, result);
        } else {
          emit({ type: 'warning', code: 'HASH_MISMATCH', message: `The library copy of recording ${e.number} (${path.basename(existing.wav)}) no longer verifies: ${v.problems[0]}. A fresh copy will be made beside it.`, action: 'Keep the damaged file for inspection; the new copy is the one to use.' });
          library.delete(`${deviceId}:${e.number}`);
          outcome = await copyOne(ctx, e, result);
        }
      } else {
        outcome = await copyOne(ctx, e, result);
      }
      if (outcome && o.deleteAfterVerify) {
        await deleteIfSafe(ctx, e, outcome.path, journalTrusted, result);
      }
    }
  } catch (e) {
    const err = toEngineError(e);
    if (err.code === 'CANCELLED') {
      result.cancelled = true;
      emit({ type: 'error', code: 'CANCELLED', message: 'Sync stopped. Any partial copy is kept; run sync again to continue where it stopped.', action: 'Run `recorder sync` again when ready.' });
      return finish('Sync was stopped before it finished.');
    }
    emit({ type: 'error', code: err.code, message: err.message, action: err.action, ...(err.deviceError ? { deviceError: err.deviceError } : {}) });
    result.failed.push({ number: 0, code: err.code, message: err.message });
    return finish();
  }
  return finish();
}

function summaryText(r: SyncResult): string {
  const parts: string[] = [];
  parts.push(r.copied.length ? `Copied and verified ${r.copied.length} recording(s)` : 'No new recordings to copy');
  if (r.alreadyHad.length) parts.push(`${r.alreadyHad.length} already in the library`);
  if (r.deleted.length) parts.push(`${r.deleted.length} deleted from the recorder after verification`);
  if (r.inProgress.length) parts.push(`${r.inProgress.length} still recording (not copied)`);
  if (r.failed.length) parts.push(`${r.failed.length} problem(s): see the messages above`);
  if (r.journal === 'broken') parts.push('THE JOURNAL CHECK FAILED: keep the recorder as it is and ask for advice');
  if (r.journal === 'gap') parts.push('THE JOURNAL HAS GAPS: see the warnings above');
  return `${parts.join('; ')}. Library: ${r.destination}`;
}

function reportJournal(emit: Emit, c: JournalCheck): void {
  emit(journalCheckedEvent(c));
  const list = (ps: JournalProblem[]) => ps.map((p) => p.message).join('; ');
  if (c.problems.length) {
    emit({ type: 'error', code: 'JOURNAL_BROKEN', message: `The recorder's journal check FAILED: ${list(c.problems)}.`, action: 'Nothing will be deleted from the recorder. Keep it as it is, keep the copies, and ask a solicitor or the project for advice.' });
  }
  if (c.gaps.length) {
    emit({ type: 'warning', code: 'JOURNAL_GAP', message: `The recorder's journal has gaps: ${list(c.gaps)}.`, action: 'Write down what you know about these recordings; ask for advice if they matter.' });
  }
}

interface CopyContext {
  session: Session;
  emit: Emit;
  fs: Fs;
  dest: string;
  now: () => number;
  signal: AbortSignal | undefined;
  o: SyncOptions;
  clock: ClockInfo;
  check: JournalCheck;
  byNumber: Map<number, JournalEntry>;
  /** Where the recordings made without a clock lie in time (placement.ts), by number. */
  estimates: Map<number, TimeEstimate>;
  /** The clock's last set before each dated recording and its drift since (clock-since-set.ts), by number. */
  clocks: Map<number, ClockSinceSet>;
  library: LibraryIndex;
  deviceId: string;
  signing: SigningState;
  owner: OwnerKeys;
  /** Encrypted recordings whose copy the owner keys here could not open: never deleted this run. */
  undecryptable: Set<number>;
}

/** The owner keys that open encrypted recordings (--identity files and the library's keys). */
interface OwnerKeys {
  identities: LoadedIdentity[];
  /** Owner keys of the library that cannot be used now (said once, at the first encrypted recording). */
  problems: string[];
  /** Recipients of protected owner keys left closed (no passphrase given): held, not opened. */
  locked: string[];
  said: boolean;
}

async function loadOwnerKeys(dest: string, identityFiles: string[], unlock: PassphraseSource | undefined, libraryRoot = libraryRootOf(dest)): Promise<OwnerKeys> {
  const { identities, problems, locked } = await loadIdentities(libraryRoot, identityFiles, unlock);
  return { identities, problems, locked, said: false };
}

function ownerIdentities(ctx: CopyContext): LoadedIdentity[] {
  if (!ctx.owner.said) {
    ctx.owner.said = true;
    for (const p of ctx.owner.problems) ctx.emit({ type: 'warning', code: 'OWNER_KEY', message: `An owner key of this library cannot be used: ${p}.`, action: 'Encrypted recordings are still copied and verified; put the key file back (or run `recorder keys import FILE`) to decrypt them.' });
  }
  return ctx.owner.identities;
}

/**
 * A recorder that encrypts to a key none of the owner keys here is: said at the start, before
 * anything is copied (its recordings are still copied and verified, not decrypted here).
 */
async function checkRecipient(session: Session, emit: Emit, owner: OwnerKeys, signal?: AbortSignal): Promise<void> {
  const r = await session.client.request('SET_RECIPIENT', { action: RECIPIENT_ACTION.GET, reserved: Buffer.alloc(3), recipient: Buffer.alloc(32) }, { signal });
  if ((r.flags & RECIPIENT_FLAGS.SET) === 0) return;
  const recipient = recipientString(r.recipient);
  if (owner.identities.some((i) => i.recipient === recipient) || owner.locked.includes(recipient)) return;
  emit({
    type: 'warning',
    code: 'WRONG_IDENTITY',
    message: `The recorder encrypts to the owner key ${recipient}, and this computer does not hold it${owner.identities.length ? ` (it holds ${owner.identities.map((i) => i.recipient.slice(0, 16) + '…').join(', ')})` : ''}.`,
    action: 'Its recordings are copied and checked, but not decrypted here, and not deleted from the recorder while other owner keys are here. Import the right key with `recorder keys import FILE`, or give it with --identity FILE.',
  });
}

export function isEncrypted(e: ListEntry): boolean {
  return (e.flags & RECORD_FLAGS.ENCRYPTED) !== 0;
}

/**
 * Decrypts a library's encrypted copy to its WAV; a failure is reported (the encrypted copy stays,
 * verified) and keeps the recording on the recorder. True when the WAV is there and checked.
 */
async function decryptInLibrary(ctx: CopyContext, number: number, agePath: string, result: SyncResult): Promise<boolean> {
  try {
    const d = await decryptLibraryCopy(ctx.fs, agePath, ownerIdentities(ctx), ctx.now);
    const hit = ctx.library.get(`${ctx.deviceId}:${number}`);
    if (hit) hit.manifest = d.manifest;
    if (!d.already) ctx.emit({ type: 'note', message: `Recording ${number} decrypted with the owner key ${d.derived.recipient.slice(0, 16)}…: ${path.basename(d.wavPath)} is the recording the recorder signed.` });
    return true;
  } catch (err) {
    const x = toEngineError(err);
    if (x.code === 'CANCELLED' || x.code === 'DISK_FULL' || x.code === 'DEST_UNWRITABLE') throw x;
    ctx.undecryptable.add(number);
    ctx.emit({ type: 'error', code: x.code, message: x.message, action: `${x.action} The encrypted copy (${path.basename(agePath)}) is kept and verified; recording ${number} is not deleted from the recorder.`.trim() });
    result.failed.push({ number, code: x.code, message: x.message });
    return false;
  }
}

/**
 * Picks the final name: the friendly name, or a numbered variant if a different file has it. An
 * encrypted recording's copy is `<base>.age`; its decrypted WAV will be `<base>.wav`.
 */
async function chooseTarget(ctx: CopyContext, e: ListEntry): Promise<CopyTarget> {
  const info = ctx.session.info;
  const ext = isEncrypted(e) ? 'age' : 'wav';
  for (let suffix = 1; suffix < 1000; suffix++) {
    const base = recordingBaseName({ startUnixMs: e.startUnixMs, clockSet: summariseEntry(e).clockSet, label: info.label, deviceId: ctx.deviceId, number: e.number, suffix });
    const final = safeJoin(ctx.dest, `${base}.${ext}`);
    const t: CopyTarget = { final, part: safeJoin(ctx.dest, `${base}.${ext}.part`), manifest: safeJoin(ctx.dest, `${base}.json`) };
    const partThere = await exists(ctx.fs, t.part);
    const finalThere = await exists(ctx.fs, t.final) || (ext === 'age' && (await exists(ctx.fs, safeJoin(ctx.dest, `${base}.wav`))));
    const manifestThere = await exists(ctx.fs, t.manifest);
    if (!finalThere && !manifestThere) return t;
    if (suffix === 1 && !partThere) {
      const existing = finalThere || manifestThere ? path.basename(finalThere ? final : t.manifest) : '';
      if (existing) {
        ctx.emit({ type: 'warning', code: 'FILE_CONFLICT', message: `A different file named ${existing} is already in the library; it will not be touched.`, action: 'The new copy gets a numbered name instead.' });
      }
    }
  }
  throw new EngineError('FILE_CONFLICT', `Too many files named like recording ${e.number} in ${ctx.dest}.`, 'Tidy the recordings folder and run sync again.');
}

async function copyOne(ctx: CopyContext, e: ListEntry, result: SyncResult): Promise<{ path: string } | null> {
  const { emit } = ctx;
  let target: CopyTarget | null = null;
  try {
    target = await chooseTarget(ctx, e);
    let reconnects = 0;
    let lastOffset = -1;
    for (let fresh = 0; ; ) {
      try {
        await transfer(ctx, e, target, result);
        const expected = await expectedCopySha(ctx, e);
        const r = await verifyAndPublish(ctx, e, target, result, expected);
        if (r === 'mismatch') {
          if (fresh++ >= 1) throw new EngineError('HASH_MISMATCH', `The copy of recording ${e.number} did not match the recorder's SHA-256, twice.`, 'Keep the recorder as it is and ask for help. Nothing was deleted.');
          emit({ type: 'file.restarted', number: e.number, message: `The copy of recording ${e.number} did not match the recorder's fingerprint; copying it again from the start.` });
          await ctx.fs.unlink(target.part).catch(() => undefined);
          continue;
        }
        return { path: target.final };
      } catch (err) {
        if (!isLinkLoss(err)) throw err;
        const partSize = await ctx.fs.lstat(target.part).then((s) => s.size).catch(() => 0);
        if (partSize > lastOffset) reconnects = 0;
        lastOffset = partSize;
        if (reconnects++ >= (ctx.o.maxReconnects ?? 5)) throw err;
        await ctx.session.waitForReturn((err as Error).message, ctx.signal);
      }
    }
  } catch (err) {
    const x = toEngineError(err);
    if (x.code === 'CANCELLED') throw x;
    const partKept = target && (await exists(ctx.fs, target.part)) ? target.part : null;
    emit({ type: 'file.failed', number: e.number, code: x.code, message: x.message, action: x.action, partKept });
    result.failed.push({ number: e.number, code: x.code, message: x.message });
    if (x.code === 'DISK_FULL' || x.code === 'DEST_UNWRITABLE' || x.code === 'DISCONNECTED' || x.code === 'TIMEOUT' || x.code === 'LINK_NOISE') throw new EngineError(x.code, `Sync stopped: ${x.message}`, x.action);
    return null;
  }
}

/**
 * What the copy must hash to (expectedCopySha): the audio's SHA-256 the recorder computed while
 * recording, or for an encrypted recording the SHA-256 of the whole age file: the one in the
 * recorder's statement (its signature is checked after the copy), or, before the recorder signed
 * it, the one the recorder computes now (HASH).
 */
async function expectedCopySha(ctx: CopyContext, e: ListEntry): Promise<string> {
  if (!isEncrypted(e)) return hex(e.sha256);
  if ((e.flags & RECORD_FLAGS.SEALED) !== 0 && e.statementSize > 0) {
    const statement = await readPart(ctx.session, e.number, FILE_PART.STATEMENT, e.statementSize, ctx.signal);
    try {
      const line = parseChecksumStatement(statement).find((x) => x.name === cardName(e.number, CARD_LAYOUT.encryptedExt));
      if (line) return line.sha256;
    } catch {
      // an unreadable statement fails its signature check after the copy; the device hash decides here
    }
  }
  const r = await ctx.session.client.request('HASH', { number: e.number, algorithm: HASH_ALGORITHM.SHA256, part: FILE_PART.AUDIO, reserved: Buffer.alloc(2), offset: 0, length: e.size }, hashRequestOptions(ctx.session.client, e.size, ctx.signal, 30_000));
  return hex(r.digest);
}

/**
 * Copies (or resumes) one recording into its .part, synced to disk. Nothing is hashed here:
 * verifyAndPublish hashes the .part as read back from disk, and that is what is compared with
 * the recorder's SHA-256 (a hash of the bytes as received said the same thing again, at the cost
 * of one more SHA-256 of the whole recording).
 */
async function transfer(ctx: CopyContext, e: ListEntry, t: CopyTarget, result: SyncResult): Promise<void> {
  const { session, emit, fs, signal } = ctx;
  const client = session.client;
  const size = e.size;
  const dataEnd = isEncrypted(e) ? size : e.dataOffset + e.sampleCount * 2;
  if (e.dataOffset !== CARD_LAYOUT.wavDataOffset || dataEnd > size) {
    throw new EngineError('WAV_INVALID', `The recorder describes recording ${e.number} with an impossible layout (audio at ${e.dataOffset}, ${e.sampleCount} samples in ${size} bytes).`, 'Keep the recorder as it is and ask for help.');
  }
  const hadPart = await assertRegularOrAbsent(fs, t.part);
  const fh = await openNoFollow(fs, t.part, !hadPart);
  let offset = 0;
  let closed = false;
  const closeFh = async (sync: boolean) => {
    if (closed) return;
    closed = true;
    try {
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
  };
  try {
    if (hadPart) {
      const have = (await fh.stat()).size;
      if (have > size) {
        emit({ type: 'file.restarted', number: e.number, message: `The partial copy of recording ${e.number} is longer than the recording; starting again.` });
        await fh.truncate(0);
      } else if (have > 0) {
        const read = readerFor(fh);
        const local = await hashRange(read, 0, have);
        const remote = await client.request('HASH', { number: e.number, algorithm: HASH_ALGORITHM.SHA256, part: FILE_PART.AUDIO, reserved: Buffer.alloc(2), offset: 0, length: have }, hashRequestOptions(client, have, signal));
        if (remote.digest.equals(local) && remote.offset === 0 && remote.length === have) {
          offset = have;
          emit({ type: 'file.resumed', number: e.number, fromOffset: have, message: `Continuing recording ${e.number} from ${have} of ${size} bytes (the partial copy matches the recorder).` });
        } else {
          emit({ type: 'file.restarted', number: e.number, message: `The partial copy of recording ${e.number} does not match the recorder; starting again from the beginning.` });
          await fh.truncate(0);
        }
      }
    }
    emit({ type: 'file.started', number: e.number, fileName: path.basename(t.final), path: t.final, size, fromOffset: offset });

    // Windowed reads, their size following the link's error rate unless fixed by the caller
    const maxChunk = Math.max(1, Math.min(ctx.o.chunkSize ?? Infinity, client.maxPayload - READ_HEADER));
    // READ_CHECKED (a CRC per block, so a damaged answer keeps its intact blocks) where the device answers it
    const checkedPayload = ctx.o.chunkSize === undefined && (session.info.flags & INFO_FLAGS.READ_CHECKED) !== 0 ? client.maxPayload : null;
    const sizer = new ReadSizer(maxChunk, ctx.o.chunkSize !== undefined ? maxChunk : MIN_READ, checkedPayload);
    const window = Math.max(1, Math.min(ctx.o.window ?? 8, session.info.maxInFlight || 1));
    const progress = new Progress(emit, e.number, size, ctx.o.progressIntervalMs ?? 250, ctx.now);
    progress.update(offset, true);
    const got = new Map<number, Buffer>();
    const todo: { o: number; len: number }[] = [];
    let next = offset;
    let written = offset;
    let failure: unknown = null;
    const inflight = new Set<Promise<void>>();
    // Answers in file order are hashed at once and written to the .part in batches: one write
    // per 4 KiB answer cost more CPU than the whole protocol (thousands of thread-pool calls).
    const batch: Buffer[] = [];
    let batchBytes = 0;
    let onDisk = offset;
    // After a failed write (a full disk) the .part must stay a prefix of the recording: nothing
    // after the failure point may be written, so writing stops for good.
    let writeFailed = false;
    const writeBatch = async () => {
      if (batchBytes === 0 || writeFailed) return;
      const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
      batch.length = 0;
      batchBytes = 0;
      try {
        await writeAll(fh, data, onDisk, t.part);
      } catch (err) {
        writeFailed = true;
        throw err;
      }
      onDisk += data.length;
    };
    const flush = async (toDisk = false) => {
      for (let b = got.get(written); b; b = got.get(written)) {
        got.delete(written);
        batch.push(b);
        batchBytes += b.length;
        written += b.length;
        result.bytes += b.length;
        progress.update(written, written === size);
      }
      if (toDisk || batchBytes >= WRITE_BATCH_BYTES) await writeBatch();
    };
    for (;;) {
      while (!failure && !signal?.aborted && inflight.size < window && (todo.length || next < size)) {
        const plan = sizer.plan();
        let req = todo.shift();
        if (!req) {
          req = { o: next, len: Math.min(plan.length, size - next) };
          next += req.len;
        } else if (req.len > plan.length) {
          todo.unshift({ o: req.o + plan.length, len: req.len - plan.length });
          req = { o: req.o, len: plan.length };
        }
        const { o, len } = req;
        const p: Promise<void> = readAudioRange(client, sizer, e.number, o, { length: len, blockSize: plan.blockSize }, signal)
          .then((parts) => {
            if (parts.dataLength === 0) throw new EngineError('DEVICE_ERROR', `The recorder returned no data for recording ${e.number} at byte ${o}.`, 'Run sync again; if it keeps happening, ask for help.');
            if (parts.dataLength < len) todo.unshift({ o: o + parts.dataLength, len: len - parts.dataLength });
            // Damaged blocks are read again first (in file order): the writes wait for them.
            for (const b of [...parts.bad].reverse()) todo.unshift({ o: b.offset, len: b.length });
            for (const g of parts.good) got.set(g.offset, g.data);
          })
          .catch((err: unknown) => {
            failure ??= err;
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (inflight.size === 0) break;
      await Promise.race(inflight);
      try {
        await flush();
      } catch (err) {
        failure ??= err;
      }
    }
    // Everything received goes to the .part, also when stopping: a resume re-reads nothing of it.
    await flush(true).catch((err: unknown) => (failure ??= err));
    if (failure || signal?.aborted) {
      await closeFh(true).catch(() => undefined);
      throw failure ?? new EngineError('CANCELLED', 'Stopped.', '');
    }
    if (written !== size) throw new EngineError('INTERNAL', `Copy of recording ${e.number} ended at ${written} of ${size} bytes.`, 'Run sync again.');
    try {
      await closeFh(true);
    } catch (err) {
      throw fsError(err, 'save the copy', t.part);
    }
  } catch (err) {
    await closeFh(false).catch(() => undefined);
    throw err;
  }
}

/** Size and SHA-256 of a file on disk. */
async function hashFile(fs: Fs, file: string): Promise<{ size: number; sha256: string }> {
  const fh = await fs.open(file, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    return { size, sha256: (await hashRange(readerFor(fh), 0, size)).toString('hex') };
  } finally {
    await fh.close();
  }
}

/**
 * Checks a complete .part as it is on disk (audio hash, WAV structure, evidence chunk, journal
 * record), then writes its manifest and publishes it under its final name. An encrypted
 * recording's .part (its age file) is checked against `expected` (expectedCopySha) and the
 * recorder's signature, published, then decrypted when an owner key here opens it.
 */
async function verifyAndPublish(ctx: CopyContext, e: ListEntry, t: CopyTarget, result: SyncResult, expected: string): Promise<'ok' | 'mismatch'> {
  const { session, emit, fs } = ctx;
  const size = e.size;
  const deviceSha = hex(e.sha256);
  const encrypted = isEncrypted(e);
  const ins = encrypted ? null : await inspectFile(fs, t.part);
  const copy = ins ? { size: ins.size, sha256: ins.fileSha256 } : await hashFile(fs, t.part);
  if ((ins ? ins.dataSha256 : copy.sha256) !== expected || copy.size !== size) return 'mismatch';
  const journalEntry = ctx.byNumber.get(e.number) ?? null;
  const wavProblems = ins ? [...ins.wavProblems] : [];
  const evidProblems = ins ? compareWav(ins.layout, { number: e.number, deviceId: session.info.deviceId, sampleRate: e.sampleRate, sampleCount: e.sampleCount, sha256: deviceSha, startUnixMs: e.startUnixMs }) : [];
  const journalProblems: string[] = [];
  if (!journalEntry) journalProblems.push('no journal record for this recording');
  else {
    const j = journalEntry.record;
    if (!j.sha256.equals(e.sha256)) journalProblems.push('the journal SHA-256 differs');
    if (j.sampleCount !== e.sampleCount) journalProblems.push(`the journal says ${j.sampleCount} samples, the file holds ${e.sampleCount}`);
    if (j.sampleRate !== e.sampleRate) journalProblems.push('the journal sample rate differs');
    if (j.startUnixMs !== e.startUnixMs) journalProblems.push('the journal start time differs');
  }
  const sampleCountMatches = (!ins || ins.layout.dataLength === e.sampleCount * 2) && (!journalEntry || journalEntry.record.sampleCount === e.sampleCount);
  if (wavProblems.length || evidProblems.length) {
    throw new EngineError(
      wavProblems.length ? 'WAV_INVALID' : 'EVIDENCE_MISMATCH',
      `Recording ${e.number} was copied exactly, but the file is not a valid recorder file: ${[...wavProblems, ...evidProblems].join('; ')}.`,
      'The copy is kept as a .part file. Keep the recorder as it is and ask for help; nothing was deleted.',
    );
  }

  // The recorder's signature, checked before the copy counts as verified
  const signed = await collectEvidence({ session, fs, signing: ctx.signing, entry: e, finalPath: t.final, journal: journalEntry, signal: ctx.signal, ...(ins ? { wavPath: t.part, fileSha256: ins.fileSha256 } : { wavPath: null, fileSha256: null, agePath: t.part, ageSha256: copy.sha256 }) });
  journalProblems.push(...signed.journalProblems);

  // Manifest, then publish
  const manifest = buildManifest({
    info: session.info,
    deviceId: ctx.deviceId,
    entry: e,
    file: { name: path.basename(t.final), size: copy.size, sha256: copy.sha256 },
    journalEntry,
    journalCheck: ctx.check,
    clock: ctx.clock,
    timeEstimate: ctx.estimates.get(e.number) ?? null,
    clockSinceSet: ctx.clocks.get(e.number) ?? null,
    appVersion: ctx.o.appVersion ?? '0.0.0',
    now: ctx.now,
    verification: { sampleCountMatches, journalProblems },
    evidence: signed.evidence,
    ...(encrypted ? { encryption: { format: 'age-v1' as const, derived: null } } : {}),
    ...(ins ? { markers: manifestMarkers(ins.layout.markers, e.sampleRate) } : {}),
    ...(ctx.o.loan ? { loan: ctx.o.loan } : {}),
  });
  if (await exists(fs, t.manifest)) throw new EngineError('FILE_CONFLICT', `${path.basename(t.manifest)} appeared in the library while copying; it was not touched.`, 'Run sync again.');
  await publishNoClobber(fs, t.part, t.final);
  await writeFileAtomic(fs, t.manifest, serialiseManifest(manifest));
  await appendCustodyOrWarn(fs, ctx.dest, copyEntry(manifest, 'copied'), { appVersion: ctx.o.appVersion ?? '0.0.0', now: ctx.now, emit });
  ctx.library.set(`${ctx.deviceId}:${e.number}`, { wav: t.final, manifest });
  if (journalProblems.length) {
    emit({ type: 'warning', code: 'JOURNAL_MISSING', message: `Recording ${e.number} was copied and its fingerprint matches, but the journal does not vouch for it: ${journalProblems.join('; ')}.`, action: 'It will not be deleted from the recorder. Ask for advice.' });
  }
  reportSignature(emit, e.number, e.sampleRate, signed.summary, ctx.signing.signed);
  let encryption: 'none' | 'decrypted' | 'encrypted-only' = 'none';
  if (encrypted) {
    const identities = ownerIdentities(ctx);
    encryption = identities.length > 0 && (await decryptInLibrary(ctx, e.number, t.final, result)) ? 'decrypted' : 'encrypted-only';
    if (identities.length === 0) {
      emit({ type: 'note', message: `Recording ${e.number} is encrypted: its encrypted copy ${path.basename(t.final)} is verified and kept, but no owner key on this computer opens it, so no WAV was made. Decrypt it later with \`recorder decrypt ${e.number} --identity FILE\` (or \`recorder keys import FILE\`, then sync).` });
    }
  }
  const markers = ctx.library.get(`${ctx.deviceId}:${e.number}`)?.manifest.markers;
  emit({ type: 'file.verified', number: e.number, path: t.final, manifestPath: t.manifest, sha256: deviceSha, durationMs: durationMs(e.sampleCount, e.sampleRate), alreadyPresent: false, signature: signed.summary, encryption, ...(encryption !== 'encrypted-only' ? { markers: markers?.length ?? 0 } : {}), ...(manifest.times.estimate ? { timeEstimate: ctx.estimates.get(e.number)! } : {}) });
  result.copied.push(e.number);
  return 'ok';
}

/** Says plainly what the signature of a copy is worth, when it is not simply "signed". */
function reportSignature(emit: Emit, number: number, sampleRate: number, s: SignatureSummary, recorderSigns: boolean): void {
  if (s.status === 'pending') {
    emit({ type: 'warning', code: 'SIGNATURE_PENDING', message: `Recording ${number} is copied, but the recorder had not finished signing it: signature pending.`, action: 'Run sync again in a minute; the signature is then added to the copy. It will not be deleted from the recorder before that.' });
    // A recorder that cannot sign at all was said once, at the start: not again per recording.
  } else if (s.status === 'unsigned' && recorderSigns) {
    emit({ type: 'warning', code: 'UNSIGNED_LEGACY', message: `Recording ${number} carries no signature from the recorder (it was made without a signing key). Its copy is checked with its fingerprint only.`, action: 'Nothing to do now; keep the recorder and the copy as they are if the recording matters.' });
  } else if (s.vouchedSamples !== null && s.vouchedSamples < s.sampleCount) {
    const seconds = (n: number) => Math.floor(n / Math.max(1, sampleRate));
    emit({ type: 'warning', code: 'PARTLY_VOUCHED', message: `Recording ${number} was cut off (power lost). It is signed, but while recording the recorder vouched only for its first ${seconds(s.vouchedSamples)} of ${seconds(s.sampleCount)} seconds; the rest was found after the power came back.`, action: 'Mention this if you rely on the end of this recording.' });
  }
}

/**
 * Adds the signature to a copy made while the recorder was still signing it; false (reported as a
 * failed file) when the signature does not vouch for the copy.
 */
async function completeSignature(ctx: CopyContext, e: ListEntry, existing: { wav: string; manifest: Manifest }, result: SyncResult): Promise<boolean> {
  try {
    const m = existing.manifest;
    // An encrypted copy: the age file, and its decrypted WAV when it is here.
    const derived = m.encryption?.derived ? safeJoin(path.dirname(existing.wav), m.encryption.derived.name) : null;
    const wav = m.encryption ? (derived && (await exists(ctx.fs, derived)) ? derived : null) : existing.wav;
    const files = m.encryption ? { wavPath: wav, fileSha256: wav ? m.encryption.derived!.sha256 : null, agePath: existing.wav, ageSha256: m.file.sha256 } : { wavPath: existing.wav, fileSha256: m.file.sha256 };
    const signed = await collectEvidence({ session: ctx.session, fs: ctx.fs, signing: ctx.signing, entry: e, finalPath: existing.wav, journal: ctx.byNumber.get(e.number) ?? null, signal: ctx.signal, ...files });
    const manifest: Manifest = { ...m, manifestVersion: m.encryption ? ENCRYPTED_MANIFEST_VERSION : MANIFEST_VERSION, evidence: signed.evidence };
    delete manifest.integrity;
    await writeFileAtomic(ctx.fs, sidecarPath(existing.wav), serialiseManifest(manifest));
    existing.manifest = manifest;
    await appendCustodyOrWarn(ctx.fs, ctx.dest, copyEntry(manifest, 'signature-added'), { appVersion: ctx.o.appVersion ?? '0.0.0', now: ctx.now, emit: ctx.emit });
    ctx.emit({ type: 'note', message: `Recording ${e.number}: the recorder's signature is now added to the copy and checked.` });
    return true;
  } catch (err) {
    const x = toEngineError(err);
    if (x.code === 'CANCELLED' || isLinkLoss(err)) throw x;
    ctx.emit({ type: 'file.failed', number: e.number, code: x.code, message: x.message, action: x.action, partKept: null });
    result.failed.push({ number: e.number, code: x.code, message: x.message });
    return false;
  }
}

/**
 * DELETE, never repeated blindly: a repeat of one that was done would read "no such recording".
 * When the link loses its answer (or the recorder reports our request damaged, so it never came),
 * LIST says whether the recording is still there: gone, the DELETE was done; still there, it is
 * sent again, at most twice more. A link that is really gone fails LIST too.
 */
async function deleteOnDevice(ctx: CopyContext, e: ListEntry): Promise<{ number: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.session.client.request('DELETE', { number: e.number, sha256: e.sha256 }, { retries: 0, signal: ctx.signal });
    } catch (err) {
      const x = toEngineError(err);
      if (attempt >= 2 || (x.code !== 'TIMEOUT' && x.code !== 'LINK_NOISE')) throw err;
      const { entries } = await listAll(ctx.session, ctx.signal);
      if (!entries.some((l) => l.number === e.number)) return { number: e.number };
    }
  }
}

/** DELETE only a recording whose library copy verifies now, with the device's own SHA-256. */
async function deleteIfSafe(ctx: CopyContext, e: ListEntry, wav: string, journalTrusted: boolean, result: SyncResult): Promise<void> {
  const { emit } = ctx;
  const sha = hex(e.sha256);
  const j = ctx.byNumber.get(e.number);
  const refuse = (why: string) => emit({ type: 'warning', code: 'DELETE_REFUSED', message: `Recording ${e.number} was NOT deleted from the recorder: ${why}.`, action: 'It stays on the recorder. Ask for advice if this persists.' });
  if (!journalTrusted) return refuse('the journal check did not pass');
  if (ctx.library.get(`${ctx.deviceId}:${e.number}`)?.manifest.evidence?.status === 'pending') return refuse('the recorder has not finished signing it (run sync again first)');
  if (ctx.undecryptable.has(e.number)) return refuse('it is encrypted, and its copy could not be decrypted here (see the error above)');
  // With owner keys here, an encrypted copy counts once one of them opened it (the wrong key set
  // on the recorder is found before its recordings are gone); with none, the verified age file does.
  const encryption = ctx.library.get(`${ctx.deviceId}:${e.number}`)?.manifest.encryption;
  if (encryption && !encryption.derived && ctx.owner.identities.length + ctx.owner.locked.length > 0) return refuse('it is encrypted, and none of the owner keys here has opened its copy yet');
  if (!j || !j.record.sha256.equals(e.sha256)) return refuse('its journal record is missing or differs');
  if (sha === ZERO_SHA) return refuse('it has no fingerprint');
  const v = await verifyLibraryFile(wav, ctx.fs);
  if (!v.ok || v.sha256 !== sha || v.number !== e.number) return refuse(`the library copy did not verify (${v.problems[0] ?? 'different recording'})`);
  try {
    const r = await deleteOnDevice(ctx, e);
    if (r.number !== e.number) return refuse('the recorder answered for another recording');
    result.deleted.push(e.number);
    // The library's log says the recorder's copy was deleted after this one verified.
    await appendLog(ctx.fs, ctx.dest, ctx.deviceId, { event: 'deleted-from-recorder', number: e.number, sha256: sha, copy: path.basename(wav) }).catch((err: unknown) =>
      emit({ type: 'warning', code: 'DEST_UNWRITABLE', message: `Recording ${e.number} was deleted from the recorder, but the library's log could not record it (${toEngineError(err).message}).`, action: 'Note the deletion yourself; the verified copy is kept.' }),
    );
    emit({ type: 'file.deleted', number: e.number, message: `Recording ${e.number} was deleted from the recorder; the verified copy is ${path.basename(wav)}.` });
  } catch (err) {
    const x = toEngineError(err);
    if (x.code === 'CANCELLED') throw x;
    refuse(x.message);
  }
}


/** Deletes the given recordings from the device, each only if its library copy verifies now. */
export async function deleteVerified(session: Session, emit: Emit, o: { dest: string; libraryRoot?: string; numbers: number[]; fs?: Fs; signal?: AbortSignal; now?: () => number }): Promise<number[]> {
  const fs = o.fs ?? realFs;
  const deviceId = session.deviceId;
  const dest = path.resolve(o.dest);
  const { entries } = await listAll(session, o.signal);
  const journal = await readJournal(session, o.signal);
  const memory = await loadMemory(fs, dest, deviceId);
  const check = checkJournal(journal.entries, journal.total, memory);
  const byNumber = new Map(recordingEntries(journal.entries).map((j) => [j.record.number, j]));
  const library = await indexLibrary(fs, dest);
  const result = { deleted: [] as number[] } as SyncResult;
  const owner = await loadOwnerKeys(dest, [], undefined, o.libraryRoot);
  const ctx = { session, emit, fs, dest, now: o.now ?? Date.now, signal: o.signal, o: {}, clock: null as unknown as ClockInfo, check, byNumber, library, deviceId, owner, undecryptable: new Set<number>() } as CopyContext;
  for (const n of o.numbers) {
    const e = entries.find((x) => x.number === n);
    const copy = library.get(`${deviceId}:${n}`);
    if (!e) {
      emit({ type: 'warning', code: 'DELETE_REFUSED', message: `Recording ${n} is not on the recorder.`, action: '' });
      continue;
    }
    if (!copy) {
      emit({ type: 'warning', code: 'DELETE_REFUSED', message: `Recording ${n} was NOT deleted from the recorder: there is no verified copy of it in ${dest}.`, action: 'Run sync first.' });
      continue;
    }
    await deleteIfSafe(ctx, e, copy.wav, check.chain === 'ok' && check.problems.length === 0, result);
  }
  return result.deleted;
}
