/**
 * The engine's public API: createEngine(options) gives every operation the CLI and the UI need.
 * Each operation connects, does its work, emits events, and disconnects.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CARD_LAYOUT, PROTOCOL, RECIPIENT_ACTION, RECIPIENT_FLAGS, RECORD_ACTION, SAMPLE_RATES, SETTINGS_MASK } from '../../protocol/src/schema.js';
import { recStateName, summariseEntry, summariseInfo } from './convert.js';
import { DeviceError, EngineError, toEngineError } from './errors.js';
import type { DeviceErrorInfo, DeviceSummary, EngineEvent, EventListener, RecordingSummary } from './events.js';
import { checkJournal, journalCheckedEvent } from './journal.js';
import { defaultDestination, indexLibrary, loadMemory, realFs, type Fs } from './library.js';
import { Session, stamp, type ConnectOptions, type Emit } from './session.js';
import { deleteVerified, listAll, measureAndSetClock, readJournal, standing, sync as runSync, type Standing, type SyncOptions, type SyncResult } from './sync.js';
import { adviceFor } from './evidence/advice.js';
import { requestIdentity, requestProvision } from './evidence/identity.js';
import { provision, type ProvisionRequest, type ProvisionResult } from './provision/provision.js';
import { findPinnedLibrary, loadPin, rePin } from './evidence/pins.js';
import { copyStands, verifyLibraryFile, verifyPaths } from './verify.js';
import { recordVerifications } from './custody.js';
import type { ExportOptions, ExportResult } from './export/bundle.js';
import { makeExcerpt, timeText, type ExcerptOptions, type ExcerptResult } from './export/excerpt.js';
import { exportMarkerFiles, markerNotes, type MarkerFilesResult, type MarkerListing } from './export/marker-files.js';
import { decryptCopies, keysCreate, keysImport, keysShow, type DecryptOutcome, type KeysCreated } from './privacy/ops.js';
import { defaultLibraryRoot, libraryRootOf, listOwnerKeys, type OwnerKey, type OwnerKeyStatus, type PassphraseSource } from './privacy/owner-keys.js';
import { recipientBytes, recipientString } from './privacy/recipient.js';
import { holdings, refuseUnsynced, runWipe, verifyWipeFile, type Holdings, type WipeCertificate, type WipeResult } from './wipe.js';
import { closeLoan, findLoan, loadFleet, loanFolder, noteDeviceSeen, openLoan, type DeviceRecord, type Fleet, type Loan } from './fleet.js';
import { carryPin, noteConnection, placeFor, seenOf, type Place } from './fleet-session.js';
import { runHandback, type HandbackOptions, type HandbackResult } from './handback.js';
import { buttonSchemeName, buttonSchemeValue, cardTestResult, cardTestTimeoutMs, cardVerdict, type ButtonSchemeName, type CardTestResult } from './card-test.js';

/**
 * The bundle export is loaded when a bundle is made: it and what it imports (the report, the
 * verifier page, the zip writer: nine modules) were a sixth of the start-up of every command.
 */
const exportBundle = async (o: Parameters<typeof import('./export/bundle.js').exportBundle>[0]): Promise<ExportResult> => (await import('./export/bundle.js')).exportBundle(o);

/** How to reach the recorder (session.ts ConnectOptions), and where the library lives. */
export interface EngineOptions extends ConnectOptions {
  fs?: Fs;
  home?: string;
  /**
   * The library root (the folder holding each recorder's folder and fleet.json); default
   * ~/Recordings of `home`.
   */
  library?: string;
  appVersion?: string;
  signal?: AbortSignal;
  /** Where the passphrase of a protected owner key comes from (never logged); none: not asked. */
  passphrase?: PassphraseSource;
  /** age's scrypt work factor for new protected keys (default 18, age's; tests use less). */
  scryptWorkFactor?: number;
}

/** The recorder's owner recipient (SET_RECIPIENT), and whether this library holds its key. */
export interface RecipientState {
  deviceId: string;
  label: string;
  /** The `age1...` recipient new recordings are encrypted to; null: they are not encrypted. */
  recipient: string | null;
  /** The owner key of this computer's library that opens them (its file), or null. */
  ownerKeyFile: string | null;
}

/** What `list` found: the recordings, and which are (not) safely in the library. */
export interface RecorderListing extends Standing {
  /** Library folder the recordings were compared with. */
  destination: string;
  recordings: RecordingSummary[];
}

export interface Engine {
  /** Subscribes to events; returns an unsubscribe function. */
  on(listener: EventListener): () => void;
  info(): Promise<DeviceSummary>;
  /**
   * Lists the recordings on the recorder and where each stands against the library: a copy
   * counts as in the library only if it verifies now (as sync checks before skipping one).
   */
  list(o?: { destination?: string; port?: string }): Promise<RecorderListing>;
  setTime(): Promise<{ offsetMs: number | null }>;
  setLabel(label: string): Promise<DeviceSummary>;
  settings(change?: { sampleRate?: number; discreet?: boolean; buttonScheme?: ButtonSchemeName }): Promise<{ sampleRate: number; discreet: boolean; buttonScheme: ButtonSchemeName }>;
  /**
   * Tests the recorder's card (CARD_TEST, issue 16): writes `bytes` (default 4 MiB) in its free
   * space, reads them back and deletes them; the speeds are the recorder's own. Judge the result
   * with cardVerdict (card-test.ts). DEVICE_ERROR saying why when it cannot run.
   */
  cardTest(o?: { bytes?: number; port?: string }): Promise<CardTestResult>;
  /**
   * Formats the card after `confirm(device)` resolves true; refused (UNSYNCED) while a recording
   * lacks a verified copy in the library, unless `discardUnsynced` names exactly those.
   */
  format(confirm: (device: DeviceSummary) => Promise<boolean>, o?: { destination?: string; discardUnsynced?: number[] }): Promise<boolean>;
  /**
   * Wipes the recorder (issue 13) after `confirm` resolves true, with the same refusal as format,
   * and writes a wipe certificate into the library; null when not confirmed.
   */
  wipe(o: { destination?: string; port?: string; discardUnsynced?: number[]; confirm: (device: DeviceSummary, h: Holdings) => Promise<boolean> }): Promise<WipeResult | null>;
  /** Checks a wipe certificate offline against the key pinned in its library folder. */
  verifyWipe(file: string, o?: { destination?: string }): Promise<{ certificate: WipeCertificate | null; problems: string[] }>;
  record(action: 'start' | 'stop'): Promise<{ recState: string; number: number }>;
  /**
   * Drops a marker in the recording being made (issue 15), like a short press of the button:
   * DEVICE_ERROR saying so when the recorder is not recording or the recording holds the most
   * markers it can.
   */
  mark(o?: { port?: string }): Promise<{ number: number; marker: number; sampleOffset: number; sampleRate: number; timeMs: number }>;
  /** An excerpt of a library recording with its provenance note (host/engine/export/excerpt.ts). */
  excerpt(o: Omit<ExcerptOptions, 'fs' | 'appVersion' | 'now' | 'emit'>): Promise<ExcerptResult>;
  /** A recording's markers as an Audacity label track and/or a WebVTT file in an export folder. */
  markerFiles(o: { library?: string; recording: string | number; to?: string; audacity: boolean; webvtt: boolean }): Promise<MarkerFilesResult>;
  /** A recording's markers with their notes; with `set`, that marker's note is written first. */
  markerNotes(o: { library?: string; recording: string | number; set?: { marker: number; text: string } }): Promise<MarkerListing>;
  /** Copies and verifies; `destination` is accepted as a synonym of `dest` (UI EnginePort). */
  sync(options?: Omit<SyncOptions, 'fs' | 'home' | 'now' | 'appVersion'> & { destination?: string; port?: string }): Promise<SyncResult>;
  /** Verifies library files or folders offline; emits file.verified / file.failed per file. */
  verify(paths: string[] | { destination: string }): ReturnType<typeof verifyPaths>;
  /** Connects and reports device, clock, list and journal without copying or changing anything. */
  status(o?: { destination?: string; port?: string }): Promise<DeviceSummary>;
  /** Deletes recordings from the device, each only if its library copy verifies now. */
  deleteSynced(o: { destination: string; port?: string; numbers: number[] }): Promise<number[]>;
  /** Forgets the key pinned for a recorder (with a reason, in the library log): the next sync pins anew. */
  rePin(o: { deviceId: string; reason: string; destination?: string }): Promise<{ destination: string; oldKeyId: string }>;
  /** Makes a bundle of library recordings for a solicitor (host/engine/export/bundle.ts). */
  exportBundle(o: Omit<ExportOptions, 'fs' | 'appVersion' | 'now' | 'emit'>): Promise<ExportResult>;
  /** Default library folder for a device. */
  defaultDestination(label: string, deviceId: string): string;
  /**
   * The owner's age keys (issue 13), no recorder needed. `library` is the folder holding the
   * recorders' folders (default ~/Recordings); the keys are in its `keys/` folder.
   */
  keys: {
    /** passphrase: the identity file is encrypted with a passphrase from `EngineOptions.passphrase`. */
    create(o?: { library?: string; passphrase?: boolean }): Promise<KeysCreated>;
    import(file: string, o?: { library?: string; copy?: boolean }): Promise<{ library: string; keys: OwnerKey[]; looselyProtected: boolean }>;
    show(o?: { library?: string }): Promise<{ library: string; folder: string; keys: OwnerKeyStatus[] }>;
  };
  /** Shows (no argument), sets (an `age1...` recipient) or clears the recorder's owner recipient. */
  recipient(change?: { set: string } | { clear: true }, o?: { library?: string; port?: string }): Promise<RecipientState>;
  /**
   * The recorder's key fingerprint (its key id, 16 hex digits), checked against a fresh challenge;
   * a recorder without a key makes it first (PROVISION). null: its software signs nothing.
   */
  fingerprint(o?: { port?: string }): Promise<{ deviceId: string; keyId: string | null }>;
  /**
   * Sets the attached recorder up for a family (issue 16, host/engine/provision): checks first
   * (battery, recordings still on it, an open loan, the card test), then the owner key, label,
   * clock and settings, its fingerprint, the loan, and the family's hand-out. `library` is the
   * library root (default ~/Recordings).
   */
  provision(o: ProvisionRequest & { library?: string; port?: string }): Promise<ProvisionResult<CardTestResult>>;
  /** Decrypts encrypted copies of a library folder (numbers) or .age files, no recorder needed. */
  decrypt(o: { targets: string[]; destination?: string; library?: string; identityFiles?: string[] }): Promise<DecryptOutcome[]>;
  /** The recorders this library has met and their loans (fleet.json), no recorder needed. */
  fleet(o?: { library?: string }): Promise<Fleet & { library: string }>;
  /**
   * Loans (issue 16), no recorder needed: `open` gives the recorder a folder of its own for this
   * loan's recordings (refused while it is on an open loan), `close` ends one without a hand-back.
   */
  loans: {
    /** Without `deviceId`: for the connected recorder (noted in the fleet first, for its folder's name). */
    open(o: { deviceId?: string; reference: string; library?: string; port?: string }): Promise<Loan>;
    close(o: { loan: string; library?: string }): Promise<Loan>;
    /** The loan a --loan names (its id or code), and its folder. */
    find(o: { loan: string; deviceId?: string; library?: string }): Promise<{ loan: Loan; folder: string; library: string }>;
  };
  /**
   * Hand-back (issue 16): copies everything, verifies everything (and stops, wiping nothing, if
   * anything fails), exports when asked, wipes (after `confirm`), closes the loan with the wipe
   * certificate and writes the certificate into the loan folder's custody log.
   */
  handback(o: HandbackOptions & { port?: string }): Promise<HandbackResult | null>;
  /**
   * Stops whatever is running (keeps partial copies) and resolves once it has wound down and
   * closed the port, or after STOP_WAIT_MS for an operation that does not stop.
   */
  stop(): Promise<void>;
}

/** Longest stop() waits for running operations to finish. */
export const STOP_WAIT_MS = 5000;

export function appVersion(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    let pkg: { version?: string } | null = null;
    for (const u of [url, new URL('../../../package.json', import.meta.url)]) {
      try {
        pkg = JSON.parse(readFileSync(u, 'utf8')) as { version?: string };
        if (pkg.version) break;
      } catch {
        // try the next place (running from dist/ or from source)
      }
    }
    return pkg?.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** SET_RECIPIENT on a recorder built without encryption (QEMU's): BAD_STATE, detail REC_E_UNSUPPORTED. */
const cannotEncrypt = (d: DeviceErrorInfo | undefined) => d?.code === 'BAD_STATE' && d.detail === 14;

/** Connection events said once per provisioning: each of its steps is a connection of its own. */
const CONNECTION_EVENTS = new Set<EngineEvent['type']>(['device.found', 'device.connected', 'device.info']);

export function createEngine(options: EngineOptions = {}): Engine {
  const listeners = new Set<EventListener>();
  const now = options.now ?? Date.now;
  const emit: Emit = (e) => {
    const ev: EngineEvent = stamp(e, now);
    for (const l of [...listeners]) l(ev);
  };
  const version = options.appVersion ?? appVersion();

  let current = new AbortController();
  const signalFor = () => {
    if (current.signal.aborted) current = new AbortController();
    return options.signal ? AbortSignal.any([options.signal, current.signal]) : current.signal;
  };

  // Operations under way, so that stop() can wait for them to close the port.
  const running = new Set<Promise<unknown>>();
  function track<T>(op: Promise<T>): Promise<T> {
    running.add(op);
    const done = () => running.delete(op);
    op.then(done, done);
    return op;
  }

  /** An operation without a recorder: its failure is reported as an `error` event, like a session's. */
  async function reported<T>(op: Promise<T>): Promise<T> {
    try {
      return await op;
    } catch (e) {
      const err = toEngineError(e);
      emit({ type: 'error', code: err.code, message: err.message, action: err.action });
      throw err;
    }
  }

  const fsOf = () => options.fs ?? realFs;
  /** The library root: the folder holding each recorder's folder and fleet.json. */
  const libraryRoot = () => path.resolve(options.library ?? defaultLibraryRoot(options.home));

  /**
   * What a session notes in the fleet when it ends (issue 16): the library it worked in (set by
   * the commands that use a library folder) and what it learnt besides INFO.
   */
  interface SeenNote {
    root: string;
    named: boolean;
    extra: Partial<DeviceRecord>;
  }

  function withSession<T>(work: (s: Session, signal: AbortSignal, seen: SeenNote) => Promise<T>, port?: string): Promise<T> {
    return track(runSession(work, port));
  }

  async function runSession<T>(work: (s: Session, signal: AbortSignal, seen: SeenNote) => Promise<T>, port?: string): Promise<T> {
    const s = new Session({ ...options, ...(port ? { port } : {}) }, emit);
    const signal = signalFor();
    const seen: SeenNote = { root: libraryRoot(), named: false, extra: {} };
    let connected = false;
    try {
      await s.connect(signal);
      connected = true;
      return await work(s, signal, seen);
    } catch (e) {
      const err = toEngineError(e);
      emit({ type: 'error', code: err.code, message: err.message, action: err.action, ...(err.deviceError ? { deviceError: err.deviceError } : {}) });
      throw err;
    } finally {
      if (connected) await noteConnection(fsOf(), emit, s, seen, new Date(now()));
      await s.close();
    }
  }

  /** The recordings folder of a command about the connected recorder (its open loan's, by default). */
  async function placeOf(s: Session, seen: SeenNote, destination: string | undefined): Promise<Place> {
    const place = await placeFor(fsOf(), s, { destination, libraryRoot: libraryRoot() });
    seen.root = place.root;
    seen.named = place.named;
    return place;
  }

  async function syncInto(s: Session, seen: SeenNote, signal: AbortSignal, place: Place, o: Omit<SyncOptions, 'fs' | 'home' | 'now' | 'appVersion' | 'dest'>): Promise<SyncResult> {
    if (place.loan) {
      await carryPin(fsOf(), emit, place, s.deviceId);
      if (!place.named) emit({ type: 'note', message: `Recorder "${s.info.label || s.deviceId}" is on loan ${place.loan.reference}: its recordings go to that loan's folder ${place.dest}.` });
    }
    const r = await runSync(s, emit, { passphrase: options.passphrase, ...o, dest: place.dest, libraryRoot: place.root, ...(place.loan ? { loan: { id: place.loan.id, reference: place.loan.reference } } : {}), signal: o.signal ?? signal, fs: options.fs, home: options.home, now, appVersion: version });
    const pin = await loadPin(fsOf(), place.dest, s.deviceId).catch(() => null);
    if (pin?.keyId) seen.extra.keyFingerprint = pin.keyId;
    return r;
  }

  /** verify's events for what verifyPaths found. */
  async function reportVerification(r: Awaited<ReturnType<typeof verifyPaths>>): Promise<void> {
    for (const f of r.results) {
      const name = path.basename(f.path);
      if (f.ok) {
        emit({ type: 'file.verified', number: f.number ?? 0, path: f.path, manifestPath: f.manifestPath, sha256: f.sha256 ?? '', durationMs: 0, alreadyPresent: true, ...(f.signature ? { signature: f.signature } : {}), encryption: f.encrypted ? (f.decrypted ? 'decrypted' : 'encrypted-only') : 'none' });
        for (const n of f.notices) emit({ type: 'warning', code: n.code, message: `${name}: ${n.message} (${adviceFor(n.code).meaning}).`, action: adviceFor(n.code).action });
      } else {
        const first = f.failures[0]!;
        const what = f.failures.map((x) => `${x.message} [${x.code}: ${adviceFor(x.code).meaning}]`).join('; ');
        emit({ type: 'file.failed', number: f.number ?? 0, code: first.code, message: `${f.path} does not verify: ${what}.`, action: adviceFor(first.code).action, partKept: null, during: 'verify' });
      }
    }
    for (const l of r.library) {
      if (l.ok) emit({ type: 'note', message: `Recorder ${l.deviceId}${l.keyId ? ` (key ${l.keyId})` : ''}: ${l.attestations} signed identity proof(s) checked, journal of ${l.journalRecords} record(s) intact and complete, every recording it lists is in the library.` });
      for (const x of l.failures) emit({ type: 'error', code: x.code, message: `Recorder ${l.deviceId}: ${x.message} (${adviceFor(x.code).meaning}).`, action: adviceFor(x.code).action });
    }
    for (const c of r.custody) {
      if (c.ok) emit({ type: 'note', message: `Custody log of ${c.folder}: ${c.entries} entr${c.entries === 1 ? 'y' : 'ies'}, chain intact.` });
      else emit({ type: 'error', code: 'CUSTODY_LOG_BROKEN', message: `Custody log of ${c.folder}: ${c.problems.join('; ')} (${adviceFor('CUSTODY_LOG_BROKEN').meaning}).`, action: adviceFor('CUSTODY_LOG_BROKEN').action });
    }
    for (const p of r.problems) emit({ type: 'error', code: 'MANIFEST_INVALID', message: `${p.path}: ${p.problem}.`, action: 'Check the path.' });
    await recordVerifications(fsOf(), r.results, { appVersion: version, now, emit });
  }

  return {
    on(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    info: () => withSession(async (s) => summariseInfo(s.info)),
    list: (o = {}) =>
      withSession(async (s, signal, seen) => {
        const { total, entries } = await listAll(s, signal);
        const recordings = entries.map(summariseEntry);
        const fs = options.fs ?? realFs;
        const destination = (await placeOf(s, seen, o.destination)).dest;
        const library = await indexLibrary(fs, destination);
        const st = standing(entries, library, s.deviceId);
        for (const n of [...st.alreadyInLibrary]) {
          const wav = library.get(`${s.deviceId}:${n}`)!.wav;
          const v = await verifyLibraryFile(wav, fs);
          if (copyStands(v)) continue;
          st.alreadyInLibrary = st.alreadyInLibrary.filter((x) => x !== n);
          st.toCopy = [...st.toCopy, n].sort((a, b) => a - b);
          emit({ type: 'warning', code: 'HASH_MISMATCH', message: `The library copy of recording ${n} (${path.basename(wav)}) no longer verifies: ${v.problems[0]}.`, action: 'Run `recorder sync`: it makes a fresh copy beside it. Do not format the recorder before that.' });
        }
        emit({ type: 'list.received', total, recordings, ...st });
        return { destination, recordings, ...st };
      }, o.port),
    setTime: () => withSession(async (s) => ({ offsetMs: (await measureAndSetClock(s, emit, now, true, options.signal)).offsetMs })),
    setLabel: (label) =>
      withSession(async (s) => {
        const bytes = Buffer.byteLength(label, 'utf8');
        if (bytes === 0 || bytes > 32) throw new EngineError('INTERNAL', `A label must be 1 to 32 bytes long (this one is ${bytes}).`, 'Choose a shorter name.');
        // eslint-disable-next-line no-control-regex
        if (/[\u0000-\u001f\u007f]/.test(label)) throw new EngineError('INTERNAL', 'A label cannot contain control characters.', 'Choose a plain name.');
        await s.client.request('SET_LABEL', { label });
        s.info = await s.client.request('INFO', {});
        const d = summariseInfo(s.info);
        emit({ type: 'device.info', port: s.port.port, device: d });
        return d;
      }),
    settings: (change = {}) =>
      withSession(async (s) => {
        let mask = 0;
        if (change.sampleRate !== undefined) {
          if (!(SAMPLE_RATES as readonly number[]).includes(change.sampleRate)) {
            throw new EngineError('INTERNAL', `${change.sampleRate} Hz is not a rate the recorder supports.`, `Use one of ${SAMPLE_RATES.join(', ')}.`);
          }
          mask |= SETTINGS_MASK.SAMPLE_RATE;
        }
        if (change.discreet !== undefined) mask |= SETTINGS_MASK.DISCREET;
        if (change.buttonScheme !== undefined) {
          if (change.buttonScheme !== 'standard' && change.buttonScheme !== 'no-markers') throw new EngineError('INTERNAL', `"${String(change.buttonScheme)}" is not a button scheme.`, 'Use standard or no-markers.');
          mask |= SETTINGS_MASK.BUTTON_SCHEME;
        }
        const older = new EngineError('DEVICE_ERROR', "This recorder's software is older than button schemes: its button always drops markers while recording.", "Update the recorder's software.");
        let r;
        try {
          r = await s.client.request('SETTINGS', { setMask: mask, discreet: change.discreet ? 1 : 0, buttonScheme: buttonSchemeValue(change.buttonScheme ?? 'standard'), reserved: 0, sampleRate: change.sampleRate ?? 0 });
        } catch (e) {
          // A recorder from before schemes refuses the mask bit it does not know.
          if (e instanceof DeviceError && e.info.code === 'BAD_ARGUMENT' && change.buttonScheme !== undefined && e.info.detail === 0) throw older;
          throw e;
        }
        const out = { sampleRate: r.sampleRate, discreet: r.discreet !== 0, buttonScheme: buttonSchemeName(r.buttonScheme) };
        if (change.buttonScheme !== undefined && out.buttonScheme !== change.buttonScheme) throw older;
        emit({ type: 'note', message: `Settings: ${out.sampleRate} Hz, discreet mode ${out.discreet ? 'on' : 'off'}, button ${out.buttonScheme === 'standard' ? 'standard (a press while recording drops a marker)' : 'no-markers (a press while recording does nothing)'}.` });
        return out;
      }),
    cardTest: (o = {}) =>
      withSession(async (s) => {
        const bytes = o.bytes ?? 0;
        if (!Number.isInteger(bytes) || bytes < 0 || bytes > CARD_LAYOUT.cardTestMaxBytes) {
          throw new EngineError('INTERNAL', `A card test of ${bytes} bytes is not possible.`, `Choose up to ${CARD_LAYOUT.cardTestMaxBytes / 1048576} MiB.`);
        }
        let v;
        try {
          v = await s.client.request('CARD_TEST', { bytes, seed: randomBytes(4).readUInt32LE(0) }, { retries: 0, timeoutMs: cardTestTimeoutMs(bytes, s.client.timeoutMs) });
        } catch (e) {
          if (e instanceof DeviceError && e.info.code === 'UNKNOWN_COMMAND') throw new EngineError('DEVICE_ERROR', "This recorder's software is older than the card test.", "Update the recorder's software.", e.info);
          if (e instanceof DeviceError && e.info.code === 'BUSY') throw new EngineError('DEVICE_ERROR', 'The recorder is recording; the card is tested only between recordings.', 'Stop the recording (hold the button for 2 seconds, or `recorder record stop`), then test again.', e.info);
          if (e instanceof DeviceError && e.info.code === 'CARD_FULL') {
            throw new EngineError('DEVICE_ERROR', `The card has too little free space for this test${e.info.detail ? ` (it would test ${Math.floor(e.info.detail / 1024)} KiB now)` : ''}: the recorder always keeps ${CARD_LAYOUT.cardTestReserveBytes / 1048576} MiB free beside it.`, 'Copy the recordings off and free the card (recorder sync, then recorder wipe), then test again.', e.info);
          }
          throw e;
        }
        return cardTestResult(v);
      }, o.port),
    format: (confirm, o = {}) =>
      withSession(async (s, signal, seen) => {
        const d = summariseInfo(s.info);
        const fs = options.fs ?? realFs;
        const destination = (await placeOf(s, seen, o.destination)).dest;
        refuseUnsynced('format', (await holdings(s, fs, destination, signal)).unsynced, o.discardUnsynced);
        if (!(await confirm(d))) {
          emit({ type: 'note', message: 'Format cancelled; nothing was changed.' });
          return false;
        }
        await s.client.request('FORMAT', { magic: PROTOCOL.formatMagic, reserved: 0, deviceId: s.info.deviceId }, { retries: 0, timeoutMs: Math.max(30_000, options.timeoutMs ?? 0) });
        emit({ type: 'note', message: `The card in ${d.label || d.deviceId} was formatted.` });
        return true;
      }),
    wipe: (o) =>
      withSession(async (s, signal, seen) => {
        const fs = options.fs ?? realFs;
        const destination = (await placeOf(s, seen, o.destination)).dest;
        const d = summariseInfo(s.info);
        const r = await runWipe(s, emit, { destination, discardUnsynced: o.discardUnsynced, confirm: (h) => o.confirm(d, h), fs, now, signal });
        if (r) seen.extra.recordings = 0;
        return r;
      }, o.port),
    verifyWipe: async (file, o = {}) => {
      const r = await verifyWipeFile(options.fs ?? realFs, path.resolve(file), o.destination ? path.resolve(o.destination) : undefined);
      if (r.problems.length === 0 && r.certificate) {
        const c = r.certificate;
        emit({ type: 'note', message: `The wipe certificate of recorder ${c.label || c.deviceId} verifies: signed by its pinned key ${c.keyId} after the wipe of ${c.wipedAtIso} (${c.blocksErased} blocks, journal epoch ${c.epoch}).` });
      } else {
        emit({ type: 'error', code: 'WIPE_UNPROVEN', message: `${file} does not prove a wipe: ${r.problems.join('; ')}.`, action: 'Keep the file and the recorder as they are, and ask for advice.' });
      }
      return r;
    },
    record: (action) =>
      withSession(async (s) => {
        const r = await s.client.request('RECORD', { action: action === 'start' ? RECORD_ACTION.START : RECORD_ACTION.STOP, reserved: Buffer.alloc(3) }, { retries: 0 });
        const out = { recState: recStateName(r.recState), number: r.number };
        emit({ type: 'note', message: action === 'start' ? `Recording ${r.number} started.` : `Recording stopped (state: ${out.recState}).` });
        return out;
      }),
    mark: (o = {}) =>
      withSession(async (s) => {
        let r;
        try {
          r = await s.client.mark();
        } catch (e) {
          if (e instanceof DeviceError && e.info.code === 'BAD_STATE') throw new EngineError('DEVICE_ERROR', 'The recorder is not recording, so there is nothing to mark.', 'Start a recording first (press the button, or run `recorder record start`), then mark.', e.info);
          if (e instanceof DeviceError && e.info.code === 'MARKERS_FULL') throw new EngineError('DEVICE_ERROR', `This recording already holds the most markers it can (${e.info.detail || 'its limit'}); no marker was added.`, 'The recording goes on. Stop it and start a new one to mark more.', e.info);
          if (e instanceof DeviceError && e.info.code === 'UNKNOWN_COMMAND') throw new EngineError('DEVICE_ERROR', "This recorder's software is older than markers: it cannot mark a recording.", "Update the recorder's software.", e.info);
          throw e;
        }
        const timeMs = Number((BigInt(r.sampleOffset) * 1000n) / BigInt(Math.max(1, r.sampleRate)));
        emit({ type: 'note', message: `Marker ${r.marker} dropped in recording ${r.number} at ${timeText(timeMs)} (sample ${r.sampleOffset}).` });
        return { number: r.number, marker: r.marker, sampleOffset: r.sampleOffset, sampleRate: r.sampleRate, timeMs };
      }, o.port),
    excerpt: (o) => track(reported(makeExcerpt({ ...o, fs: options.fs, appVersion: version, now, emit }))),
    markerFiles: (o) => track(reported(exportMarkerFiles({ ...o, fs: options.fs, emit }))),
    markerNotes: (o) => reported(markerNotes({ ...o, fs: options.fs, emit })),
    sync: (o = {}) =>
      withSession(async (s, signal, seen) => syncInto(s, seen, signal, await placeOf(s, seen, o.dest ?? o.destination), o), o.port),
    verify: async (arg) => {
      const paths = Array.isArray(arg) ? arg : [arg.destination];
      const r = await verifyPaths(paths, options.fs);
      await reportVerification(r);
      return r;
    },
    rePin: async (o) => {
      const fs = options.fs ?? realFs;
      const dir = o.destination ?? (await findPinnedLibrary(fs, o.deviceId, options.home));
      const pin = await rePin(fs, dir, o.deviceId, o.reason);
      const old = pin.previous.at(-1)!;
      emit({ type: 'note', message: `Recorder ${o.deviceId}: key ${old.keyId} is no longer trusted for it (reason written to the library log). The next sync will trust the key the recorder shows then.` });
      return { destination: dir, oldKeyId: old.keyId };
    },
    status: (o = {}) =>
      withSession(async (s, signal, seen) => {
        await measureAndSetClock(s, emit, now, false, signal);
        const { total, entries } = await listAll(s, signal);
        const recordings = entries.map(summariseEntry);
        const fs = options.fs ?? realFs;
        const dest = (await placeOf(s, seen, o.destination)).dest;
        emit({ type: 'list.received', total, recordings, ...standing(entries, await indexLibrary(fs, dest), s.deviceId) });
        const j = await readJournal(s, signal);
        const c = checkJournal(j.entries, j.total, await loadMemory(fs, dest, s.deviceId));
        emit(journalCheckedEvent(c));
        return summariseInfo(s.info);
      }, o.port),
    deleteSynced: (o) =>
      withSession(async (s, signal, seen) => {
        const place = await placeOf(s, seen, o.destination);
        return deleteVerified(s, emit, { dest: place.dest, libraryRoot: place.root, numbers: o.numbers, fs: options.fs, signal, now });
      }, o.port),
    exportBundle: (o) =>
      track(
        exportBundle({ ...o, appVersion: version, now, emit }).catch((e: unknown) => {
          const err = toEngineError(e);
          emit({ type: 'error', code: err.code, message: err.message, action: err.action });
          throw err;
        }),
      ),
    defaultDestination: (label, deviceId) => defaultDestination(label, deviceId, options.home),
    keys: {
      create: (o = {}) => reported(keysCreate(emit, path.resolve(o.library ?? defaultLibraryRoot(options.home)), now, o.passphrase ? { source: options.passphrase, workFactor: options.scryptWorkFactor } : undefined)),
      import: (file, o = {}) => reported(keysImport(emit, path.resolve(o.library ?? defaultLibraryRoot(options.home)), file, o.copy ?? false, now, options.passphrase)),
      show: (o = {}) => reported(keysShow(emit, path.resolve(o.library ?? defaultLibraryRoot(options.home)))),
    },
    recipient: (change, o = {}) =>
      withSession(async (s) => {
        let bytes: Buffer = Buffer.alloc(32);
        if (change && 'set' in change) {
          const b = recipientBytes(change.set);
          if (!b) throw new EngineError('OWNER_KEY', `"${change.set}" is not an age X25519 recipient (a public key: "age1" and 58 more letters and digits).`, 'Copy it from `recorder keys show`, or from the "# public key:" line of your age key file.');
          bytes = b;
        }
        const action = change === undefined ? RECIPIENT_ACTION.GET : 'clear' in change ? RECIPIENT_ACTION.CLEAR : RECIPIENT_ACTION.SET;
        let r;
        try {
          // Sent again like any request when its answer is lost: SET and CLEAR are idempotent (the
          // recorder stores the same record again), and a single try made a damaged answer read
          // "stopped answering" with the key set, and a damaged request fail a key never sent.
          r = await s.client.request('SET_RECIPIENT', { action, reserved: Buffer.alloc(3), recipient: bytes });
        } catch (e) {
          if (e instanceof DeviceError && e.info.code === 'UNKNOWN_COMMAND') throw new EngineError('DEVICE_ERROR', "This recorder's software is older than encryption: it cannot encrypt its recordings.", "Update the recorder's software, then set the owner key again.");
          throw e;
        }
        const recipient = (r.flags & RECIPIENT_FLAGS.SET) !== 0 ? recipientString(r.recipient) : null;
        if (action !== RECIPIENT_ACTION.GET && recipient !== (action === RECIPIENT_ACTION.SET ? recipientString(bytes) : null)) {
          throw new EngineError('DEVICE_ERROR', 'The recorder did not keep the owner key it was given.', 'Unplug the recorder, plug it back in, and try again; if it happens again, ask for help.');
        }
        const root = path.resolve(o.library ?? defaultLibraryRoot(options.home));
        const owner = recipient ? (await listOwnerKeys(root).catch(() => [])).find((k) => k.recipient === recipient && k.usable) : undefined;
        const who = `Recorder "${s.info.label || s.deviceId}"`;
        if (!recipient) emit({ type: 'note', message: `${who} records WITHOUT encryption: anyone who finds it or its card can listen to its recordings.${action === RECIPIENT_ACTION.CLEAR ? ' (From its next recording; recordings already made stay as they are.)' : ''}` });
        else emit({ type: 'note', message: `${who} encrypts ${action === RECIPIENT_ACTION.GET ? 'its recordings' : 'every recording from its next one'} to the owner key ${recipient}${owner ? ` (its secret half is in ${owner.file})` : ': this computer holds NO key that opens them; make sure the owner has it'}.` });
        return { deviceId: s.deviceId, label: s.info.label, recipient, ownerKeyFile: owner?.file ?? null };
      }, o.port),
    fingerprint: (o = {}) =>
      withSession(async (s, signal) => {
        let id = await requestIdentity(s.client, signal);
        if (id && !id.hasKey && !id.damaged) id = await requestProvision(s.client, signal);
        if (id && id.problems.length) throw new EngineError('ATTESTATION_INVALID', `The recorder's answer about its key does not check: ${id.problems.join('; ')}.`, 'Do not hand this recorder out: keep it as it is and ask for advice.');
        return { deviceId: s.deviceId, keyId: id?.keyId ?? null };
      }, o.port),
    provision: (o) => {
      const { library, port, ...request } = o;
      const root = path.resolve(library ?? libraryRoot());
      // Each step is one of the engine's own operations on the recorder, run by an engine of its
      // own (stopped with this one) whose events pass through, the connection said once.
      const inner = createEngine({ ...options, ...(port ? { port } : {}), library: root, signal: signalFor() });
      const seen = new Set<string>();
      let settingRecipient = false;
      const off = inner.on((e) => {
        if (CONNECTION_EVENTS.has(e.type) && seen.has(e.type)) return;
        // A recorder built without encryption: provisioning says so in its own words (a warning).
        if (settingRecipient && e.type === 'error' && cannotEncrypt(e.deviceError)) return;
        seen.add(e.type);
        for (const l of [...listeners]) l(e);
      });
      const run = provision(
        {
          device: {
            info: () => inner.info(),
            cardTest: () => inner.cardTest(),
            setLabel: (label) => inner.setLabel(label),
            setTime: () => inner.setTime(),
            settings: (c) => inner.settings(c),
            recipient: async (c) => {
              settingRecipient = true;
              try {
                return await inner.recipient(c, { library: root });
              } catch (e) {
                if (e instanceof EngineError && cannotEncrypt(e.deviceError)) return { recipient: null, unsupported: true };
                throw e;
              } finally {
                settingRecipient = false;
              }
            },
            fingerprint: () => inner.fingerprint(),
          },
          emit,
          fs: options.fs ?? realFs,
          root,
          now,
          appVersion: version,
          cardVerdict,
          createOwnerKey: () => keysCreate(emit, root, now),
        },
        request,
      );
      return track(run.finally(off));
    },
    decrypt: (o) => {
      const folder = o.destination ? path.resolve(o.destination) : null;
      const root = path.resolve(o.library ?? (folder ? libraryRootOf(folder) : defaultLibraryRoot(options.home)));
      return reported(decryptCopies(options.fs ?? realFs, emit, { root, folder, targets: o.targets, identityFiles: o.identityFiles ?? [], now, unlock: options.passphrase }));
    },
    fleet: (o = {}) => {
      const library = path.resolve(o.library ?? libraryRoot());
      return reported(loadFleet(fsOf(), library).then((f) => ({ ...f, library })));
    },
    loans: {
      open: (o) => {
        const library = path.resolve(o.library ?? libraryRoot());
        const open = async (deviceId: string) => {
          const l = await openLoan(fsOf(), library, { deviceId: deviceId.toLowerCase(), reference: o.reference }, new Date(now()));
          emit({ type: 'note', message: `Loan ${l.reference} (${l.id}) opened for recorder ${l.deviceId}: its recordings go to ${loanFolder(library, l)}.` });
          return l;
        };
        if (o.deviceId) return reported(open(o.deviceId));
        return withSession(async (s) => {
          await noteDeviceSeen(fsOf(), library, seenOf(s), new Date(now()));
          return open(s.deviceId);
        }, o.port);
      },
      close: (o) =>
        reported(
          (async () => {
            const library = path.resolve(o.library ?? libraryRoot());
            const l = await closeLoan(fsOf(), library, findLoan(await loadFleet(fsOf(), library), o.loan).id, {}, new Date(now()));
            emit({ type: 'note', message: `Loan ${l.reference} (${l.id}) of recorder ${l.deviceId} is closed, without a hand-back (nothing was wiped).` });
            return l;
          })(),
        ),
      find: (o) =>
        reported(
          (async () => {
            const library = path.resolve(o.library ?? libraryRoot());
            const loan = findLoan(await loadFleet(fsOf(), library), o.loan, o.deviceId);
            return { loan, folder: loanFolder(library, loan), library };
          })(),
        ),
    },
    handback: (o) =>
      withSession(async (s, signal, seen) => {
        const place = await placeOf(s, seen, undefined);
        const r = await runHandback(s, emit, o, {
          fs: fsOf(),
          now,
          signal,
          appVersion: version,
          place,
          sync: () => syncInto(s, seen, signal, place, { identityFiles: o.identityFiles }),
          verify: async (folder) => {
            const v = await verifyPaths([folder], options.fs);
            await reportVerification(v);
            return v;
          },
          exportAll: (numbers, to) => exportBundle({ library: place.dest, numbers, to, appVersion: version, now, emit }),
        });
        if (r) seen.extra.recordings = 0;
        return r;
      }, o.port),
    stop: async () => {
      current.abort();
      if (running.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const settled = Promise.allSettled([...running]).then(() => undefined);
      await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(timer);
    },
  };
}
