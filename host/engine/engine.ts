/**
 * The engine's public API: createEngine(options) gives every operation the CLI and the UI need.
 * Each operation connects, does its work, emits events, and disconnects.
 */
import { readFileSync } from 'node:fs';
import { PROTOCOL, RECORD_ACTION, SAMPLE_RATES, SETTINGS_MASK } from '../../protocol/src/schema.js';
import { summariseEntry, summariseInfo } from './convert.js';
import type { Candidate, DiscoveryOptions } from './discovery.js';
import { EngineError, toEngineError } from './errors.js';
import type { DeviceSummary, EngineEvent, EventListener, RecordingSummary } from './events.js';
import type { Fs } from './library.js';
import { Session, stamp, type ConnectOptions, type Emit } from './session.js';
import { deleteVerified, listAll, measureAndSetClock, sync as runSync, type SyncOptions, type SyncResult } from './sync.js';
import { defaultDestination } from './library.js';
import type { TransportOpener } from './transport.js';
import { verifyPaths } from './verify.js';

export interface EngineOptions extends DiscoveryOptions {
  /** Serial port path; skips discovery. */
  port?: string;
  /** Called when several recorders are found (interactive runs); without it --port is required. */
  choose?: (c: Candidate[]) => Promise<string | null>;
  /** Opens a transport (default: serialport). Tests pass a fake. */
  open?: TransportOpener;
  timeoutMs?: number;
  retries?: number;
  maxPayload?: number;
  reconnectTimeoutMs?: number;
  reconnectPollMs?: number;
  fs?: Fs;
  home?: string;
  now?: () => number;
  appVersion?: string;
  signal?: AbortSignal;
}

export interface Engine {
  /** Subscribes to events; returns an unsubscribe function. */
  on(listener: EventListener): () => void;
  info(): Promise<DeviceSummary>;
  list(): Promise<RecordingSummary[]>;
  setTime(): Promise<{ offsetMs: number | null }>;
  setLabel(label: string): Promise<DeviceSummary>;
  settings(change?: { sampleRate?: number; discreet?: boolean }): Promise<{ sampleRate: number; discreet: boolean }>;
  /** Formats the card after `confirm(device)` resolves true. */
  format(confirm: (device: DeviceSummary) => Promise<boolean>): Promise<boolean>;
  record(action: 'start' | 'stop'): Promise<{ recState: string; number: number }>;
  /** Copies and verifies; `destination` is accepted as a synonym of `dest` (UI EnginePort). */
  sync(options?: Omit<SyncOptions, 'fs' | 'home' | 'now' | 'appVersion'> & { destination?: string; port?: string }): Promise<SyncResult>;
  /** Verifies library files or folders offline; emits file.verified / file.failed per file. */
  verify(paths: string[] | { destination: string }): ReturnType<typeof verifyPaths>;
  /** Connects and reports device, clock, list and journal without copying or changing anything. */
  status(o?: { destination?: string; port?: string }): Promise<DeviceSummary>;
  /** Deletes recordings from the device, each only if its library copy verifies now. */
  deleteSynced(o: { destination: string; port?: string; numbers: number[] }): Promise<number[]>;
  /** Default library folder for a device. */
  defaultDestination(label: string, deviceId: string): string;
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

  function withSession<T>(work: (s: Session, signal: AbortSignal) => Promise<T>, port?: string): Promise<T> {
    return track(runSession(work, port));
  }

  async function runSession<T>(work: (s: Session, signal: AbortSignal) => Promise<T>, port?: string): Promise<T> {
    const s = new Session({ ...(options as ConnectOptions), ...(port ? { port } : {}) }, emit);
    const signal = signalFor();
    try {
      await s.connect(signal);
      return await work(s, signal);
    } catch (e) {
      const err = toEngineError(e);
      emit({ type: 'error', code: err.code, message: err.message, action: err.action, ...(err.deviceError ? { deviceError: err.deviceError } : {}) });
      throw err;
    } finally {
      await s.close();
    }
  }

  return {
    on(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    info: () => withSession(async (s) => summariseInfo(s.info)),
    list: () =>
      withSession(async (s) => {
        const { total, entries } = await listAll(s, options.signal);
        const recordings = entries.map(summariseEntry);
        emit({ type: 'list.received', total, recordings, toCopy: [], alreadyInLibrary: [], inProgress: recordings.filter((r) => r.state !== 'finished').map((r) => r.number) });
        return recordings;
      }),
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
        const r = await s.client.request('SETTINGS', { setMask: mask, discreet: change.discreet ? 1 : 0, reserved: 0, sampleRate: change.sampleRate ?? 0 });
        const out = { sampleRate: r.sampleRate, discreet: r.discreet !== 0 };
        emit({ type: 'note', message: `Settings: ${out.sampleRate} Hz, discreet mode ${out.discreet ? 'on' : 'off'}.` });
        return out;
      }),
    format: (confirm) =>
      withSession(async (s) => {
        const d = summariseInfo(s.info);
        if (!(await confirm(d))) {
          emit({ type: 'note', message: 'Format cancelled; nothing was changed.' });
          return false;
        }
        await s.client.request('FORMAT', { magic: PROTOCOL.formatMagic, reserved: 0, deviceId: s.info.deviceId }, { retries: 0, timeoutMs: Math.max(30_000, options.timeoutMs ?? 0) });
        emit({ type: 'note', message: `The card in ${d.label || d.deviceId} was formatted.` });
        return true;
      }),
    record: (action) =>
      withSession(async (s) => {
        const r = await s.client.request('RECORD', { action: action === 'start' ? RECORD_ACTION.START : RECORD_ACTION.STOP, reserved: Buffer.alloc(3) }, { retries: 0 });
        const names = ['idle', 'recording', 'finalising', 'error'];
        const out = { recState: names[r.recState] ?? 'unknown', number: r.number };
        emit({ type: 'note', message: action === 'start' ? `Recording ${r.number} started.` : `Recording stopped (state: ${out.recState}).` });
        return out;
      }),
    sync: (o = {}) =>
      withSession((s, signal) => runSync(s, emit, { ...o, dest: o.dest ?? o.destination, signal: o.signal ?? signal, fs: options.fs, home: options.home, now, appVersion: version }), o.port),
    verify: async (arg) => {
      const paths = Array.isArray(arg) ? arg : [arg.destination];
      const r = await verifyPaths(paths, options.fs);
      for (const f of r.results) {
        if (f.ok) emit({ type: 'file.verified', number: f.number ?? 0, path: f.path, manifestPath: f.manifestPath, sha256: f.sha256 ?? '', durationMs: 0, alreadyPresent: true });
        else emit({ type: 'file.failed', number: f.number ?? 0, code: f.problems.some((p) => p.includes('sidecar')) ? 'MANIFEST_INVALID' : 'HASH_MISMATCH', message: `${f.path} does not verify: ${f.problems.join('; ')}.`, action: 'Do not use this copy as evidence; use another verified copy.', partKept: null });
      }
      for (const p of r.problems) emit({ type: 'error', code: 'MANIFEST_INVALID', message: `${p.path}: ${p.problem}.`, action: 'Check the path.' });
      return r;
    },
    status: (o = {}) =>
      withSession(async (s, signal) => {
        await measureAndSetClock(s, emit, now, false, signal);
        const { total, entries } = await listAll(s, signal);
        const recordings = entries.map(summariseEntry);
        const dest = o.destination ?? defaultDestination(s.info.label, s.deviceId, options.home);
        const { indexLibrary } = await import('./library.js');
        const lib = await indexLibrary(options.fs ?? (await import('./library.js')).realFs, dest);
        const have = recordings.filter((r) => r.state === 'finished' && lib.get(`${s.deviceId}:${r.number}`)?.manifest.recording.sha256 === r.sha256).map((r) => r.number);
        const inProgress = recordings.filter((r) => r.state !== 'finished').map((r) => r.number);
        emit({ type: 'list.received', total, recordings, toCopy: recordings.filter((r) => r.state === 'finished' && !have.includes(r.number)).map((r) => r.number), alreadyInLibrary: have, inProgress });
        const { readJournal } = await import('./sync.js');
        const { checkJournal } = await import('./journal.js');
        const { loadMemory, realFs } = await import('./library.js');
        const j = await readJournal(s, signal);
        const c = checkJournal(j.entries, j.total, await loadMemory(options.fs ?? realFs, dest, s.deviceId));
        emit({ type: 'journal.checked', total: c.total, fromIndex: c.fromIndex, lastIndex: c.lastIndex, chain: c.chain, gaps: c.gaps, problems: c.problems });
        return summariseInfo(s.info);
      }, o.port),
    deleteSynced: (o) => withSession((s, signal) => deleteVerified(s, emit, { dest: o.destination, numbers: o.numbers, fs: options.fs, signal, now }), o.port),
    defaultDestination: (label, deviceId) => defaultDestination(label, deviceId, options.home),
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
