/**
 * The interactive UI's state, and the pure reducer that folds engine events (and the person's
 * key presses) into it. No Ink, no I/O, no clock: time comes from the events' `at` stamps, so a
 * sequence of events always gives the same state (and the tests can say exactly which).
 */

import type {
  CardStateName,
  DeviceSummary,
  EngineEvent,
  JournalProblem,
  ProblemCode,
  RecStateName,
  RecordingSummary,
  SignatureSummary,
  StopReasonName,
} from '../engine/events.js';
import {
  JOURNAL_ADVICE,
  failureReason,
  journalMissingSentence,
  journalUnvouchedSentence,
  noticeFor,
  unpluggedNotice,
  type Notice,
} from './messages.js';

export type Task = 'status' | 'sync' | 'verify' | 'delete';

export type RowStatus =
  | 'on-device' // on the recorder, not copied yet
  | 'recording' // being recorded now; copied next time
  | 'copying'
  | 'verified' // copied (or checked) now and verified
  | 'in-library' // an identical verified copy was already in the library
  | 'failed'
  | 'deleted'; // removed from the recorder after its copy was verified

export interface RecordingRow {
  number: number;
  /** ms since 1970, or null when the recorder's clock was not set. */
  startUnixMs: number | null;
  durationMs: number;
  size: number;
  status: RowStatus;
  stopReason: StopReasonName;
  /** Plain reason when status is failed. */
  failure?: { code: ProblemCode; reason: string; action: string };
  /** The recorder's journal has no record of this recording. */
  missingFromJournal: boolean;
  /** What the recorder's signature says about the copy, once copied or verified. */
  signature?: SignatureSummary;
  /** Bytes copied so far while copying. */
  copied?: number;
  /** Path of the verified copy in the library. */
  path?: string;
  /** Loudness over time, 0..1 each, once computed from the verified copy. */
  levels?: number[];
  /** Encrypted to the owner's key (issue 13); false: recorded without encryption; unknown when absent. */
  encrypted?: boolean;
}

export interface ClockView {
  /** Device minus computer, ms; negative: the recorder was slow. Null until measured. */
  offsetMs: number | null;
  /** The app set the recorder's clock afterwards. */
  corrected: boolean;
  /** The recorder's clock had never been set. */
  neverSet: boolean;
}

export interface TransferView {
  /** Recordings this sync is copying, in order. */
  numbers: number[];
  totalBytes: number;
  /** Bytes of files already finished (verified, failed or skipped). */
  doneBytes: number;
  /** Files finished so far. */
  doneFiles: number;
  current: { number: number; bytes: number; total: number } | null;
  /** Bytes per second (the engine's recent average). */
  rate: number;
  /** Seconds left for the current file, from the engine. */
  fileEtaSeconds: number | null;
}

export interface FailedItem {
  number: number;
  reason: string;
}

export type Summary =
  | {
      kind: 'sync';
      ok: boolean;
      destination: string;
      /** Why the copy stopped before the end (the engine reports it as failure number 0), or null. */
      stopped: string | null;
      copied: number[];
      alreadyHad: number[];
      failed: FailedItem[];
      deleted: number[];
      inProgress: number[];
      journal: 'ok' | 'broken' | 'gap' | 'empty' | 'not-checked';
      bytes: number;
      elapsedMs: number;
    }
  | { kind: 'verify'; destination: string; checked: number[]; failed: FailedItem[] }
  | { kind: 'delete'; deleted: number[]; failed: FailedItem[] };

export type Overlay = { kind: 'none' } | { kind: 'help' } | { kind: 'confirm-delete'; numbers: number[] };

export type Connection = 'not-connected' | 'looking' | 'connected' | 'unplugged';

export interface UiState {
  /** Library folder: as given, else the one the last sync used; null until known. */
  destination: string | null;
  connection: Connection;
  port: string | null;
  device: DeviceSummary | null;
  clock: ClockView;
  recordings: RecordingRow[];
  task: Task | null;
  transfer: TransferView | null;
  summary: Summary | null;
  /** Loud sentences about the recorder's journal, each ending with what to do. */
  journalProblems: string[];
  /** journal.checked arrived during the running task (its summary errors then add nothing). */
  journalChecked: boolean;
  notice: Notice | null;
  overlay: Overlay;
  /** Results gathered while a verify or delete runs, for its summary. */
  run: { checked: number[]; deleted: number[]; failed: FailedItem[] };
  quitting: boolean;
}

export type UiAction =
  | { kind: 'event'; event: EngineEvent }
  /** The person started an operation (or the app did, at start). */
  | { kind: 'task-started'; task: Task }
  /** The operation's promise settled; `error` when it rejected. */
  | { kind: 'task-finished'; task: Task; error?: string }
  | { kind: 'levels'; number: number; levels: number[] }
  | { kind: 'help'; open: boolean }
  | { kind: 'ask-delete' }
  | { kind: 'answer-delete'; yes: boolean }
  | { kind: 'notice'; notice: Notice | null }
  | { kind: 'quitting' };

export function initialState(destination: string | null = null): UiState {
  return {
    destination,
    connection: 'not-connected',
    port: null,
    device: null,
    clock: { offsetMs: null, corrected: false, neverSet: false },
    recordings: [],
    task: null,
    transfer: null,
    summary: null,
    journalProblems: [],
    journalChecked: false,
    notice: null,
    overlay: { kind: 'none' },
    run: { checked: [], deleted: [], failed: [] },
    quitting: false,
  };
}

/** Recordings that have a verified copy in the library and are still on the recorder. */
export function deletableNumbers(state: UiState): number[] {
  // A copy whose signature is still pending is not offered: the recorder must sign it first.
  return state.recordings.filter((r) => (r.status === 'verified' || r.status === 'in-library') && r.signature?.status !== 'pending').map((r) => r.number);
}

/** Whether the person may start a new operation now. */
export function isBusy(state: UiState): boolean {
  return state.task !== null && state.task !== 'status';
}

function rowFromSummary(r: RecordingSummary, status: RowStatus): RecordingRow {
  const start = Number(r.startUnixMs);
  return {
    number: r.number,
    startUnixMs: r.clockSet && Number.isFinite(start) && start > 0 ? start : null,
    durationMs: r.durationMs,
    size: r.size,
    status,
    stopReason: r.stopReason,
    missingFromJournal: false,
    encrypted: r.encrypted,
  };
}

function blankRow(number: number): RecordingRow {
  return { number, startUnixMs: null, durationMs: 0, size: 0, status: 'on-device', stopReason: 'unknown', missingFromJournal: false };
}

/** Returns recordings with row `number` replaced by f(row) (created blank if absent), sorted. */
function updateRow(rows: RecordingRow[], number: number, f: (r: RecordingRow) => RecordingRow): RecordingRow[] {
  const i = rows.findIndex((r) => r.number === number);
  if (i >= 0) {
    const next = rows.slice();
    next[i] = f(rows[i] as RecordingRow);
    return next;
  }
  return [...rows, f(blankRow(number))].sort((a, b) => a.number - b.number);
}

function rowSize(state: UiState, number: number): number {
  return state.recordings.find((r) => r.number === number)?.size ?? 0;
}

/** Marks the file `number` finished in the transfer (overall progress moves on). */
function finishInTransfer(t: TransferView | null, number: number, size: number): TransferView | null {
  if (!t) return t;
  if (!t.numbers.includes(number)) return t;
  return {
    ...t,
    doneBytes: t.doneBytes + size,
    doneFiles: t.doneFiles + 1,
    current: t.current?.number === number ? null : t.current,
  };
}

/**
 * The recording number a journal problem concerns: a `number` field if the engine adds one
 * (JournalProblem has none yet), else the "recording N ..." the engine's messages start with.
 */
export function problemNumber(p: JournalProblem): number | null {
  const n = (p as JournalProblem & { number?: unknown }).number;
  if (typeof n === 'number' && Number.isInteger(n)) return n;
  const m = /^recording (\d+)\b/i.exec(p.message.trim());
  return m ? Number(m[1]) : null;
}

function sentence(message: string): string {
  const t = message.trim();
  return (t.charAt(0).toUpperCase() + t.slice(1)).replace(/\.?$/, '.');
}

/** A gap: the journal knows a recording that is neither on the recorder nor in the library. */
function gapSentence(p: JournalProblem): string {
  const n = problemNumber(p);
  if (n !== null && (p.kind === 'missing-record' || p.kind === 'gap')) return journalMissingSentence(n);
  return `${sentence(p.message)} ${JOURNAL_ADVICE}`;
}

/** A problem: e.g. a recording on the card with no journal record, or a broken chain. */
function problemSentence(p: JournalProblem): string {
  const n = problemNumber(p);
  if (n !== null && p.kind === 'missing-record') return journalUnvouchedSentence(n);
  return `${sentence(p.message)} ${JOURNAL_ADVICE}`;
}

function addUnique(list: string[], items: string[]): string[] {
  const out = list.slice();
  for (const s of items) if (!out.includes(s)) out.push(s);
  return out;
}

const JOURNAL_CODES: ReadonlySet<ProblemCode> = new Set(['JOURNAL_GAP', 'JOURNAL_BROKEN', 'JOURNAL_MISSING']);
/** Warnings the device panel already shows; no separate notice. */
const QUIET_WARNINGS: ReadonlySet<ProblemCode> = new Set(['CLOCK_NOT_SET', 'CLOCK_DRIFT', 'LINK_NOISE', 'DISCOVERY_LIMITED', 'RECORDING_IN_PROGRESS']);

function clearConnectionNotice(notice: Notice | null): Notice | null {
  if (!notice) return notice;
  const code = notice.code;
  return code === 'UNPLUGGED' || code === 'DISCONNECTED' || code === 'NO_DEVICE' || code === 'TIMEOUT' || code === 'PORT_IN_USE' || code === 'PORT_NOT_FOUND'
    ? null
    : notice;
}

function withDeviceState(device: DeviceSummary | null, recState: RecStateName, cardState: CardStateName, number: number, samples: number): DeviceSummary | null {
  if (!device) return device;
  return { ...device, recState, cardState, currentNumber: recState === 'recording' || recState === 'finalising' ? number : 0, currentSamples: samples };
}

function onEvent(state: UiState, e: EngineEvent): UiState {
  switch (e.type) {
    case 'device.found':
      return { ...state, port: e.port, connection: state.connection === 'connected' ? 'connected' : 'looking' };
    case 'device.choose':
      return { ...state, connection: 'looking' };
    case 'device.connected':
      return { ...state, port: e.port, connection: 'connected', notice: clearConnectionNotice(state.notice) };
    case 'device.info':
      return { ...state, port: e.port, device: e.device, connection: 'connected', notice: clearConnectionNotice(state.notice) };
    case 'device.state':
      return { ...state, device: withDeviceState(state.device, e.recState, e.cardState, e.number, e.samples) };
    case 'clock.offset':
      return { ...state, clock: { offsetMs: e.offsetMs, corrected: state.clock.corrected, neverSet: !e.deviceClockWasSet } };
    case 'clock.set':
      return {
        ...state,
        clock: {
          offsetMs: state.clock.offsetMs ?? e.offsetMs,
          corrected: true,
          neverSet: state.clock.neverSet || !e.previousSet,
        },
      };
    case 'list.received': {
      const inLibrary = new Set(e.alreadyInLibrary);
      const previous = new Map(state.recordings.map((r) => [r.number, r]));
      const rows: RecordingRow[] = e.recordings.map((r) => {
        const status: RowStatus = r.state === 'recording' ? 'recording' : inLibrary.has(r.number) ? 'in-library' : 'on-device';
        const old = previous.get(r.number);
        const row = rowFromSummary(r, status);
        if (old) {
          row.missingFromJournal = old.missingFromJournal;
          if (old.path !== undefined) row.path = old.path;
          if (old.levels !== undefined) row.levels = old.levels;
        }
        return row;
      });
      // Recordings removed from the recorder in this session stay visible as "deleted".
      const listed = new Set(rows.map((r) => r.number));
      for (const old of state.recordings) if (old.status === 'deleted' && !listed.has(old.number)) rows.push(old);
      rows.sort((a, b) => a.number - b.number);
      let transfer = state.transfer;
      if (state.task === 'sync') {
        const sizes = new Map(rows.map((r) => [r.number, r.size]));
        transfer = {
          numbers: e.toCopy.slice(),
          totalBytes: e.toCopy.reduce((n, k) => n + (sizes.get(k) ?? 0), 0),
          doneBytes: 0,
          doneFiles: 0,
          current: null,
          rate: 0,
          fileEtaSeconds: null,
        };
      }
      return { ...state, recordings: rows, transfer };
    }
    case 'file.started': {
      const recordings = updateRow(state.recordings, e.number, (r) => ({
        ...r,
        status: 'copying',
        size: r.size || e.size,
        copied: e.fromOffset,
        failure: undefined,
      }));
      let transfer = state.transfer;
      if (!transfer) {
        transfer = { numbers: [e.number], totalBytes: e.size, doneBytes: 0, doneFiles: 0, current: null, rate: 0, fileEtaSeconds: null };
      } else if (!transfer.numbers.includes(e.number)) {
        transfer = { ...transfer, numbers: [...transfer.numbers, e.number], totalBytes: transfer.totalBytes + e.size };
      }
      transfer = { ...transfer, current: { number: e.number, bytes: e.fromOffset, total: e.size } };
      return { ...state, recordings, transfer };
    }
    case 'file.resumed':
      return {
        ...state,
        recordings: updateRow(state.recordings, e.number, (r) => ({ ...r, status: 'copying', copied: e.fromOffset })),
        transfer:
          state.transfer?.current?.number === e.number
            ? { ...state.transfer, current: { ...state.transfer.current, bytes: e.fromOffset } }
            : state.transfer,
      };
    case 'file.restarted':
      return {
        ...state,
        recordings: updateRow(state.recordings, e.number, (r) => ({ ...r, copied: 0 })),
        transfer:
          state.transfer?.current?.number === e.number
            ? { ...state.transfer, current: { ...state.transfer.current, bytes: 0 } }
            : state.transfer,
      };
    case 'file.progress': {
      const recordings = updateRow(state.recordings, e.number, (r) => ({ ...r, status: 'copying', copied: e.bytes }));
      const t = state.transfer;
      const transfer: TransferView = t
        ? { ...t, current: { number: e.number, bytes: e.bytes, total: e.total }, rate: e.rate, fileEtaSeconds: e.etaSeconds }
        : { numbers: [e.number], totalBytes: e.total, doneBytes: 0, doneFiles: 0, current: { number: e.number, bytes: e.bytes, total: e.total }, rate: e.rate, fileEtaSeconds: e.etaSeconds };
      return { ...state, recordings, transfer };
    }
    case 'file.retry':
      return state;
    case 'file.verified': {
      const status: RowStatus = state.task === 'verify' ? 'verified' : e.alreadyPresent ? 'in-library' : 'verified';
      const recordings = updateRow(state.recordings, e.number, (r) => ({
        ...r,
        status,
        path: e.path,
        durationMs: r.durationMs || e.durationMs,
        copied: undefined,
        failure: undefined,
        ...(e.signature ? { signature: e.signature } : {}),
        ...(e.encryption ? { encrypted: e.encryption !== 'none' } : {}),
      }));
      return {
        ...state,
        recordings,
        transfer: finishInTransfer(state.transfer, e.number, rowSize(state, e.number)),
        run: state.task === 'verify' ? { ...state.run, checked: [...state.run.checked, e.number] } : state.run,
      };
    }
    case 'file.failed': {
      const reason = failureReason(e.code, e.message);
      const recordings = updateRow(state.recordings, e.number, (r) => ({
        ...r,
        status: 'failed',
        copied: undefined,
        failure: { code: e.code, reason, action: e.action },
      }));
      const tracked = state.task === 'verify' || state.task === 'delete';
      return {
        ...state,
        recordings,
        transfer: finishInTransfer(state.transfer, e.number, rowSize(state, e.number)),
        run: tracked ? { ...state.run, failed: [...state.run.failed, { number: e.number, reason }] } : state.run,
      };
    }
    case 'file.skipped': {
      const status: RowStatus = e.reason === 'already-verified' ? 'in-library' : 'recording';
      return {
        ...state,
        recordings: updateRow(state.recordings, e.number, (r) => ({ ...r, status, copied: undefined })),
        transfer: finishInTransfer(state.transfer, e.number, rowSize(state, e.number)),
      };
    }
    case 'file.deleted':
      return {
        ...state,
        recordings: updateRow(state.recordings, e.number, (r) => ({ ...r, status: 'deleted' })),
        run: { ...state.run, deleted: [...state.run.deleted, e.number] },
      };
    case 'journal.checked': {
      let recordings = state.recordings;
      for (const p of e.problems) {
        const n = problemNumber(p);
        if (n !== null && p.kind === 'missing-record' && recordings.some((r) => r.number === n)) {
          recordings = updateRow(recordings, n, (r) => ({ ...r, missingFromJournal: true }));
        }
      }
      const sentences = [...e.gaps.map(gapSentence), ...e.problems.map(problemSentence)];
      return { ...state, recordings, journalChecked: true, journalProblems: addUnique(state.journalProblems, sentences) };
    }
    case 'link.disconnected':
      return { ...state, connection: 'unplugged', notice: unpluggedNotice() };
    case 'link.waiting':
      return { ...state, connection: 'unplugged', notice: state.notice ?? unpluggedNotice() };
    case 'link.reconnected':
      return {
        ...state,
        connection: 'connected',
        notice: { tone: 'info', title: 'The recorder is back.', action: 'Carrying on where it left off.' },
      };
    // provisioning has its own view and state (provision-state.ts)
    case 'link.noise':
    case 'note':
    case 'provision.step':
    case 'provision.done':
      return state;
    case 'handback.done':
      return { ...state, notice: { tone: 'info', title: e.message, action: 'Keep the wipe certificate with the hand-back papers.' } };
    case 'wipe.done':
      return { ...state, notice: { tone: e.proven ? 'info' : 'warning', title: e.message, action: e.proven ? 'Keep the certificate with the hand-back papers.' : e.problems.join('; ') } };
    case 'warning':
    case 'error': {
      if (JOURNAL_CODES.has(e.code)) {
        // After journal.checked these only restate its problems, which are already listed.
        if (state.journalChecked) return state;
        return { ...state, journalProblems: addUnique(state.journalProblems, [`${sentence(e.message)} ${JOURNAL_ADVICE}`]) };
      }
      if (e.type === 'warning' && QUIET_WARNINGS.has(e.code)) return state;
      const notice = noticeFor(e.code, e.message, e.action, e.type === 'warning' ? 'warning' : undefined);
      const connection: Connection = e.code === 'DISCONNECTED' ? 'unplugged' : e.code === 'NO_DEVICE' || e.code === 'PORT_NOT_FOUND' ? 'not-connected' : state.connection;
      return { ...state, notice, connection };
    }
    case 'sync.summary': {
      // The engine reports a copy that stopped early as a failure of "recording 0".
      const failed = e.failed.filter((f) => f.number > 0).map((f) => ({ number: f.number, reason: failureReason(f.code, f.message) }));
      const early = e.failed.find((f) => f.number <= 0);
      const cancelled = state.notice?.code === 'CANCELLED';
      const stopped = early ? failureReason(early.code, early.message) : cancelled ? 'you stopped it' : null;
      const destination = e.destination || state.destination || '';
      return {
        ...state,
        destination: destination || state.destination,
        summary: {
          kind: 'sync',
          ok: e.ok,
          stopped,
          destination,
          copied: e.copied.slice(),
          alreadyHad: e.alreadyHad.slice(),
          failed,
          deleted: e.deleted.slice(),
          inProgress: e.inProgress.slice(),
          journal: e.journal,
          bytes: e.bytes,
          elapsedMs: e.elapsedMs,
        },
      };
    }
    default: {
      // A new event type the UI does not know yet: ignore it rather than fail.
      const _unknown: never = e;
      void _unknown;
      return state;
    }
  }
}

export function reduce(state: UiState, action: UiAction): UiState {
  switch (action.kind) {
    case 'event':
      return onEvent(state, action.event);
    case 'task-started':
      return {
        ...state,
        task: action.task,
        // A new copy, check or delete replaces the last summary; a status refresh keeps it.
        summary: action.task === 'status' ? state.summary : null,
        transfer: action.task === 'sync' ? null : state.transfer,
        notice: action.task === 'status' ? state.notice : null,
        // A sync (and a delete, which syncs) checks the journal again and reports afresh.
        journalProblems: action.task === 'sync' || action.task === 'delete' ? [] : state.journalProblems,
        journalChecked: false,
        run: { checked: [], deleted: [], failed: [] },
        overlay: { kind: 'none' },
      };
    case 'task-finished': {
      if (state.task !== action.task) return state;
      let summary = state.summary;
      if (action.task === 'verify' && action.error === undefined) {
        summary = { kind: 'verify', destination: state.destination ?? '', checked: state.run.checked, failed: state.run.failed };
      }
      if (action.task === 'delete' && summary?.kind !== 'sync' && action.error === undefined) {
        summary = { kind: 'delete', deleted: state.run.deleted, failed: state.run.failed };
      }
      // The engine reports most problems as events before its promise rejects; their wording
      // (set during this task: starting a task clears the notice) is better than the bare error.
      const notice: Notice | null =
        action.error !== undefined && state.notice === null
          ? { tone: 'error', title: action.error, action: 'Press s to try again. The recordings are still on the recorder.', code: 'ENGINE' }
          : state.notice;
      // Recordings still marked as copying were interrupted.
      const recordings = state.recordings.map((r) => (r.status === 'copying' ? { ...r, status: 'on-device' as const, copied: undefined } : r));
      return { ...state, task: null, summary, notice, recordings, transfer: action.task === 'sync' ? null : state.transfer };
    }
    case 'levels':
      return { ...state, recordings: updateRow(state.recordings, action.number, (r) => ({ ...r, levels: action.levels.slice() })) };
    case 'help':
      if (action.open) return { ...state, overlay: { kind: 'help' } };
      return state.overlay.kind === 'help' ? { ...state, overlay: { kind: 'none' } } : state;
    case 'ask-delete': {
      if (isBusy(state)) return { ...state, notice: busyNotice(state.task) };
      const numbers = deletableNumbers(state);
      const notCopied = state.recordings.filter((r) => r.status === 'on-device' || r.status === 'failed').map((r) => r.number);
      if (notCopied.length > 0) {
        // Deleting goes through a sync that would also copy (and then delete) these: ask the
        // person to copy first, so the confirmation names exactly what will be deleted.
        return {
          ...state,
          notice: {
            tone: 'info',
            title: `${notCopied.length === 1 ? 'One recording on the recorder has' : `${notCopied.length} recordings on the recorder have`} no verified copy that the app knows of yet.`,
            action: 'Press s first (it copies anything new and checks your library); then d deletes the copied ones.',
            code: 'NOTHING_TO_DELETE',
          },
        };
      }
      if (numbers.length === 0) {
        return {
          ...state,
          notice: {
            tone: 'info',
            title: 'Nothing to delete: no recording on the recorder has a verified copy yet.',
            action: 'Press s to copy and verify the recordings first.',
            code: 'NOTHING_TO_DELETE',
          },
        };
      }
      return { ...state, overlay: { kind: 'confirm-delete', numbers } };
    }
    case 'answer-delete':
      return state.overlay.kind === 'confirm-delete' ? { ...state, overlay: { kind: 'none' } } : state;
    case 'notice':
      return { ...state, notice: action.notice };
    case 'quitting':
      return { ...state, quitting: true, overlay: { kind: 'none' } };
  }
}

export function busyNotice(task: Task | null): Notice {
  const what = task === 'sync' ? 'copying' : task === 'verify' ? 'checking the library' : task === 'delete' ? 'deleting' : 'working';
  return { tone: 'info', title: `Still ${what}.`, action: 'Please wait for it to finish, or press q to stop.', code: 'BUSY' };
}

/**
 * Said when m is pressed while the app itself is using the recorder (one connection at a time):
 * no marker is dropped, and the recorder's own button still marks.
 */
export function markBusyNotice(task: Task): Notice {
  const what = task === 'sync' ? 'copying from the recorder' : task === 'delete' ? 'deleting from the recorder' : 'reading the recorder';
  return { tone: 'info', title: `No marker was dropped: the app is still ${what}.`, action: "Press m again when it has finished, or press the recorder's button briefly: that marks the moment too.", code: 'BUSY' };
}
