/**
 * The events the engine emits while it works, for the command line (plain or --json) and the
 * interactive UI. This file is the contract between the engine and every view.
 *
 * Rules: every event is a plain JSON-serialisable object (no class instances, no Buffers, no
 * bigint: 64-bit values are decimal strings, hashes are lowercase hex). Every event has a `type`
 * and `at` (ISO-8601 host time when it was emitted). Messages meant for people are plain
 * English that say what happened; `action` says what to do about it.
 */

import type { TimeEstimate } from './placement.js';

/** Bumped when an event changes incompatibly; printed in the final --json result. */
export const EVENTS_VERSION = 1;

/** Stable machine-readable codes for problems. Views may map them to their own wording. */
export type ProblemCode =
  | 'PORT_NOT_FOUND' // the serial port path does not exist
  | 'PORT_IN_USE' // another program has the port open
  | 'PERMISSION_DENIED' // the user may not open the port or write the destination
  | 'NO_DEVICE' // discovery found no recorder
  | 'SEVERAL_DEVICES' // more than one recorder and no --port in a non-interactive run
  | 'DISCOVERY_LIMITED' // udevadm missing: fell back to /dev/ttyACM*
  | 'NOT_A_RECORDER' // the port answers with something that is not our protocol
  | 'PROTOCOL_VERSION' // a recorder speaking another protocol version
  | 'TIMEOUT' // the device stopped answering
  | 'DEVICE_ERROR' // the device answered with an ERROR frame (see deviceError)
  | 'LINK_NOISE' // damaged frames were seen on the link (retried)
  | 'DISCONNECTED' // the device went away
  | 'CANCELLED' // the user stopped the run (Ctrl-C)
  | 'DISK_FULL' // no space left on the destination
  | 'DEST_UNWRITABLE' // destination folder cannot be created or written
  | 'UNSAFE_PATH' // a destination file is a symlink or otherwise unsafe to write
  | 'FILE_CONFLICT' // a different file with the same name already exists
  | 'HASH_MISMATCH' // received bytes do not hash to the device's SHA-256
  | 'WAV_INVALID' // the WAV structure is wrong (chunks, format, sizes)
  | 'EVIDENCE_MISMATCH' // the evid chunk disagrees with the device's records
  | 'JOURNAL_GAP' // journal records are missing since the last sync
  | 'JOURNAL_BROKEN' // the journal's hash chain does not link up
  | 'JOURNAL_MISSING' // no journal record for a recording
  | 'CLOCK_NOT_SET' // the device clock had not been set (recording times are uptime-based)
  | 'CLOCK_DRIFT' // device clock differed noticeably from the host
  | 'RECORDING_IN_PROGRESS' // a recording is still running; it is not copied now
  | 'LOW_BATTERY'
  | 'CARD_PROBLEM' // no card, card error, unformatted
  | 'MANIFEST_INVALID' // sidecar missing, unreadable or inconsistent (offline verify)
  | 'DELETE_REFUSED' // the device refused a delete
  // ---- signatures (issue 12: host/engine/evidence/recording.ts EvidenceCode)
  | 'SIGNATURE_INVALID' // a signature does not verify under the recorder's pinned key
  | 'WRONG_KEY' // the recorder, or a copy, shows another key than the one pinned for it
  | 'TRUSTED_COMMENT_MISMATCH' // the signed description disagrees with the manifest or the files
  | 'JOURNAL_MISMATCH' // the signature names a journal record the library's journal lacks
  | 'CHECKPOINT_GAP' // signed checkpoints missing or not matching the audio
  | 'PARTLY_VOUCHED' // a recording cut by power: its end is signed only after the power came back
  | 'EVIDENCE_MISSING' // the signed files of a recording are missing
  | 'SIGNATURE_PENDING' // the recorder had not finished signing: run sync again
  | 'UNSIGNED_LEGACY' // made without a device key: nothing vouches for it but the hashes
  | 'NOT_PINNED' // no pinned key for the recorder in the library
  | 'JOURNAL_TAIL_CUT' // journal records the recorder signed for are missing
  | 'JOURNAL_REPLAYED' // an older journal than one already seen
  | 'RECORDING_MISSING' // a journal recording has no copy in the library
  | 'ATTESTATION_INVALID' // the recorder's signed identity answer does not verify
  // ---- the solicitor's bundle (issue 14: host/engine/custody.ts, host/engine/export/)
  | 'CUSTODY_LOG_BROKEN' // the library's custody log does not chain: an entry was changed, removed or inserted
  | 'EXPORT_REFUSED' // export refused: no such recording, or it does not verify
  // ---- encryption (issue 13: host/engine/privacy)
  | 'OWNER_KEY' // the owner's age key is missing, unreadable or not an age X25519 identity
  | 'NOT_DECRYPTED' // an encrypted copy, and no owner key here to open it (not a failure)
  | 'WRONG_IDENTITY' // none of the owner keys given opens the encrypted recording
  | 'DECRYPT_FAILED' // the encrypted file fails age's checks: changed, cut short or reordered
  | 'NOT_ENCRYPTED' // recorded without encryption (no recipient set on the recorder)
  // ---- privacy (issue 13)
  | 'UNSYNCED' // wipe or format refused: recordings without a verified copy in the library
  | 'WIPE_UNPROVEN' // the wipe was done but its certificate does not verify under the pinned key
  | 'WIPE_UNFINISHED' // the wipe began (keys destroyed) but its card failed or was pulled before the end
  // ---- the fleet and loans (issue 16: host/engine/fleet.ts, host/engine/handback.ts)
  | 'FLEET_INVALID' // the library's list of recorders and loans (fleet.json) cannot be read
  | 'LOAN_REFUSED' // a loan cannot be opened, closed or found (the recorder is on a loan already, ...)
  | 'HANDBACK_REFUSED' // hand-back stopped before the wipe: something did not copy or verify
  // ---- markers (issue 15: host/engine/notes.ts, host/engine/export/excerpt.ts)
  | 'NOTES_INVALID' // a marker notes file is not WebVTT, or a note cannot be written
  // ---- provisioning (issue 16: host/engine/provision)
  | 'NOT_HANDED_BACK' // provision refused: the recorder still holds recordings (run `recorder handback`)
  | 'INTERNAL';

/** A device ERROR frame, decoded. */
export interface DeviceErrorInfo {
  /** Name from ERROR_CODE, e.g. "NOT_FOUND", or "UNKNOWN(99)". */
  code: string;
  /** Numeric code as sent. */
  value: number;
  detail: number;
  /** ERROR_TEXT for the code. */
  text: string;
}

export type RecStateName = 'idle' | 'recording' | 'finalising' | 'error' | 'unknown';
export type CardStateName = 'ok' | 'none' | 'error' | 'unformatted' | 'full' | 'unknown';
export type StopReasonName =
  | 'none'
  | 'button'
  | 'host'
  | 'card-full'
  | 'low-battery'
  | 'power-loss'
  | 'card-error'
  | 'card-removed'
  | 'max-length'
  | 'unknown';

/** INFO, made serialisable. */
export interface DeviceSummary {
  /** 16 lowercase hex digits. */
  deviceId: string;
  label: string;
  model: string;
  /** "major.minor.patch". */
  firmware: string;
  protocolVersion: number;
  simulated: boolean;
  discreet: boolean;
  clockSet: boolean;
  lowBattery: boolean;
  /** An owner's recipient is set: new recordings are encrypted to it (INFO flag ENCRYPTING). */
  encrypting: boolean;
  /** What the button does while recording (INFO.buttonScheme): 'no-markers' ignores presses. */
  buttonScheme: 'standard' | 'no-markers';
  batteryMv: number;
  recState: RecStateName;
  cardState: CardStateName;
  sampleRate: number;
  /** Bytes, decimal string. */
  cardCapacity: string;
  cardFree: string;
  /** Device wall clock (ms since 1970, decimal string) when INFO was produced. */
  clockUnixMs: string;
  uptimeMs: string;
  currentNumber: number;
  currentSamples: number;
  nextNumber: number;
  recordingCount: number;
  journalCount: number;
  overrunsTotal: number;
  /** Recording time the card has room for at the current sample rate, seconds (while recording: this recording's room); null without a card. */
  cardSecondsLeft: number | null;
  /** Recording time left on the battery by the recorder's cell model, seconds: an estimate (hardware/power-budget.md); null when it cannot measure its battery. */
  batterySecondsLeft: number | null;
  maxPayload: number;
  maxInFlight: number;
  /** A wipe cut by a power loss is not finished yet (INFO_FLAGS.WIPE_PENDING; issue 13). */
  wipePending?: boolean;
}

/** A LIST entry, made serialisable. */
export interface RecordingSummary {
  number: number;
  state: 'recording' | 'finished' | 'unknown';
  /** The device's own 8.3 name; informational only, never used as a host path. */
  deviceName: string;
  size: number;
  dataOffset: number;
  sampleRate: number;
  sampleCount: number;
  durationMs: number;
  startUnixMs: string;
  stopReason: StopReasonName;
  clockSet: boolean;
  recovered: boolean;
  /** An age file (REC*.AGE) encrypted to the owner's key; false: recorded without encryption. */
  encrypted: boolean;
  /** Lowercase hex; all zeros while recording. */
  sha256: string;
}

/** What a journal check found (host/engine/journal.ts checkJournal; the journal.checked event). */
export interface JournalFindings {
  total: number;
  /** Index the check started from (the last verified record from the previous sync, or 0). */
  fromIndex: number;
  /** Index of the last record now verified, or null when the journal is empty. */
  lastIndex: number | null;
  chain: 'ok' | 'broken' | 'empty';
  gaps: JournalProblem[];
  problems: JournalProblem[];
}

export interface JournalProblem {
  kind: 'gap' | 'broken-chain' | 'bad-record' | 'index' | 'number-order' | 'shrunk' | 'missing-record' | 'hash-differs';
  /** Journal index concerned, when there is one. */
  index?: number;
  message: string;
}

/** What the recorder's signature says about a copy (file.verified). */
export interface SignatureSummary {
  /** signed: every signature checked; pending: the recorder had not signed yet; unsigned: no key. */
  status: 'signed' | 'pending' | 'unsigned';
  /** The recorder key's id (16 hex digits), when it has one. */
  keyId: string | null;
  /** Samples vouched for by checkpoints signed while recording (less than sampleCount when cut). */
  vouchedSamples: number | null;
  sampleCount: number;
}

/**
 * The steps of `recorder provision`, in the order it takes them: the checks that change nothing
 * first (battery, recordings held, the card), then the settings, the loan and the hand-out.
 */
export type ProvisionStep = 'check' | 'card' | 'owner-key' | 'label' | 'clock' | 'settings' | 'fingerprint' | 'loan' | 'handout';

/** Fields every event carries. */
interface Base {
  /** ISO-8601 host time the event was emitted. */
  at: string;
}

export type EngineEvent =
  // ---- discovery and connection
  | (Base & { type: 'device.found'; port: string; source: 'usb' | 'fallback' | 'explicit'; description: string })
  | (Base & { type: 'device.choose'; candidates: { port: string; description: string }[] })
  | (Base & { type: 'device.connected'; port: string })
  | (Base & { type: 'device.info'; port: string; device: DeviceSummary })
  /** Unsolicited STATE event from the device (recording started/stopped, card changes). */
  | (Base & { type: 'device.state'; recState: RecStateName; cardState: CardStateName; number: number; samples: number })
  // ---- clock
  | (Base & {
      type: 'clock.offset';
      /** Device minus host, in ms (positive: the device clock is ahead). */
      offsetMs: number;
      /** Round trip of the measuring request, ms: the uncertainty of offsetMs is about half this. */
      roundTripMs: number;
      deviceUnixMs: string;
      hostUnixMs: string;
      deviceClockWasSet: boolean;
    })
  | (Base & { type: 'clock.set'; previousUnixMs: string; previousSet: boolean; newUnixMs: string; offsetMs: number })
  // ---- listing
  | (Base & { type: 'list.received'; total: number; recordings: RecordingSummary[]; toCopy: number[]; alreadyInLibrary: number[]; inProgress: number[] })
  // ---- files
  | (Base & { type: 'file.started'; number: number; fileName: string; path: string; size: number; fromOffset: number })
  | (Base & { type: 'file.resumed'; number: number; fromOffset: number; message: string })
  | (Base & { type: 'file.restarted'; number: number; message: string })
  | (Base & {
      type: 'file.progress';
      number: number;
      bytes: number;
      total: number;
      /** Bytes per second over the last few seconds. */
      rate: number;
      /** Seconds remaining at the current rate, or null when unknown. */
      etaSeconds: number | null;
    })
  /** cause: 'noise' when the link carried bytes but not this answer intact, 'silence' when nothing arrived. */
  | (Base & { type: 'file.retry'; number: number; offset: number; attempt: number; cause: 'noise' | 'silence'; message: string })
  | (Base & {
      type: 'file.verified';
      number: number;
      path: string;
      manifestPath: string;
      sha256: string;
      durationMs: number;
      /** true when an identical verified copy was already in the library. */
      alreadyPresent: boolean;
      /** The recorder's signature (issue 12); absent from engines before signing. */
      signature?: SignatureSummary;
      /**
       * Issue 13: 'none' a recording made without encryption; 'decrypted' an encrypted copy and its
       * checked WAV; 'encrypted-only' an encrypted copy not decrypted here. Absent: not known.
       */
      encryption?: 'none' | 'decrypted' | 'encrypted-only';
      /** Issue 15: the markers in the copy (sync; absent when not known, e.g. not decrypted). */
      markers?: number;
      /** Issue 16: a recording made without a clock, placed in time (host/engine/placement.ts). */
      timeEstimate?: TimeEstimate;
    })
  | (Base & {
      type: 'file.failed';
      number: number;
      code: ProblemCode;
      message: string;
      action: string;
      partKept: string | null;
      /** 'verify': a copy in the library that does not verify (`number` 0 when the file is no recording); absent: a copy during sync. */
      during?: 'verify';
    })
  | (Base & { type: 'file.skipped'; number: number; reason: 'already-verified' | 'in-progress' | 'not-finished'; message: string })
  | (Base & { type: 'file.deleted'; number: number; message: string })
  // ---- journal
  | (Base & { type: 'journal.checked' } & JournalFindings)
  // ---- link
  | (Base & { type: 'link.disconnected'; port: string; message: string })
  | (Base & { type: 'link.waiting'; port: string; waitedMs: number; message: string })
  | (Base & { type: 'link.reconnected'; port: string; message: string })
  | (Base & { type: 'link.noise'; count: number; message: string })
  // ---- general
  | (Base & { type: 'note'; message: string })
  /** The recorder was wiped (issue 13) and its certificate written to the library. */
  | (Base & {
      type: 'wipe.done';
      deviceId: string;
      state: 'done' | 'resumed';
      method: 'sd-erase' | 'overwrite' | 'zero-fill' | 'unknown';
      blocksErased: number;
      epoch: number;
      certificatePath: string;
      /** The certificate verifies under the key pinned for the recorder (else: problems). */
      proven: boolean;
      problems: string[];
      message: string;
    })
  /** A step of `recorder provision` (issue 16) started, was done, or failed (an `error` says why). */
  | (Base & { type: 'provision.step'; step: ProvisionStep; state: 'started' | 'done' | 'failed'; message: string })
  /** The end of `recorder provision`: what was done, and on failure the step it stopped at. */
  | (Base & {
      type: 'provision.done';
      ok: boolean;
      deviceId: string;
      label: string;
      loan: string;
      /** The recorder's key fingerprint (16 hex digits), or null when not known (yet). */
      fingerprint: string | null;
      /** The hand-out's files (PDF and plain text), once written. */
      handout: { pdf: string; text: string } | null;
      done: ProvisionStep[];
      failedStep: ProvisionStep | null;
      message: string;
    })
  /** A recorder was handed back (issue 16): copied, verified, wiped, its loan closed. */
  | (Base & {
      type: 'handback.done';
      deviceId: string;
      /** The loan closed and its code; null when the recorder was on none. */
      loanId: string | null;
      reference: string | null;
      destination: string;
      recordings: number[];
      exportedTo: string | null;
      certificatePath: string;
      message: string;
    })
  | (Base & { type: 'warning'; code: ProblemCode; message: string; action: string })
  | (Base & { type: 'error'; code: ProblemCode; message: string; action: string; deviceError?: DeviceErrorInfo })
  | (Base & {
      type: 'sync.summary';
      ok: boolean;
      deviceId: string;
      label: string;
      destination: string;
      copied: number[];
      alreadyHad: number[];
      failed: { number: number; code: ProblemCode; message: string }[];
      deleted: number[];
      inProgress: number[];
      journal: 'ok' | 'broken' | 'gap' | 'empty' | 'not-checked';
      bytes: number;
      elapsedMs: number;
      message: string;
    });

export type EngineEventType = EngineEvent['type'];

/** The event of a given type. */
export type EventOf<T extends EngineEventType> = Extract<EngineEvent, { type: T }>;

/** An event before the engine stamps `at` on it. */
export type EventInput = EngineEvent extends infer E ? (E extends EngineEvent ? Omit<E, 'at'> : never) : never;

export type EventListener = (e: EngineEvent) => void;
