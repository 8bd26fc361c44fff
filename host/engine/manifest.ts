/**
 * The manifest (.json sidecar) of a verified copy: what the recorder, its journal and this
 * computer said about the recording when it was copied. Built from decoded structs, with the
 * flags read through the summaries of convert.ts.
 */
import type { Info, ListEntry } from '../../protocol/generated/types.js';
import { jsonable, summariseEntry, summariseInfo } from './convert.js';
import type { JournalCheck, JournalEntry } from './journal.js';
import type { ManifestEvidence } from './evidence/sync-evidence.js';
import { durationText, ENCRYPTED_MANIFEST_VERSION, MANIFEST_VERSION, type Manifest, type ManifestEncryption, type ManifestClockSinceSet, type ManifestLoan, type ManifestMarker, type ManifestTimeEstimate } from './library.js';
import type { TimeEstimate } from './placement.js';
import type { ClockSinceSet } from './clock-since-set.js';

/** The device clock as measured at the start of a sync (manifest `clock`). */
export interface ClockInfo {
  offsetMs: number | null;
  roundTripMs: number | null;
  deviceClockWasSet: boolean;
  measuredAtIso: string | null;
  deviceClockSetTo: string | null;
}

export interface ManifestInput {
  info: Info;
  deviceId: string;
  entry: ListEntry;
  /** The copy as published (the age file of an encrypted recording). */
  file: { name: string; size: number; sha256: string };
  /** An encrypted recording: manifest version 3, its WAV checked only once it is decrypted. */
  encryption?: ManifestEncryption;
  journalEntry: JournalEntry | null;
  journalCheck: JournalCheck;
  clock: ClockInfo;
  /** A recording made without a clock: where it lies in time (placement.ts); null otherwise. */
  timeEstimate?: TimeEstimate | null;
  /** A dated recording: the clock's last set before it and its drift since (clock-since-set.ts); null otherwise. */
  clockSinceSet?: ClockSinceSet | null;
  appVersion: string;
  now: () => number;
  verification: { sampleCountMatches: boolean; journalProblems: string[] };
  evidence: ManifestEvidence;
  /** The verified WAV's markers (none given for an encrypted recording not decrypted). */
  markers?: ManifestMarker[];
  /** The loan the recorder is on (issue 16). */
  loan?: ManifestLoan;
}

/** The manifest's form of a time estimate: ISO times beside the ms, and that it is estimated. */
export function manifestEstimate(e: TimeEstimate): ManifestTimeEstimate {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    estimated: true,
    startUnixMs: e.startUnixMs,
    startIso: iso(e.startUnixMs)!,
    earliestUnixMs: e.earliestUnixMs,
    earliestIso: iso(e.earliestUnixMs),
    latestUnixMs: e.latestUnixMs,
    latestIso: iso(e.latestUnixMs)!,
    errorMs: e.errorMs,
    method: e.method,
    why: "the recorder's clock was lost (its battery ran flat): the start is placed from its uptime and journal",
  };
}

/** The manifest's form of a clock since set: ISO times beside the ms. */
export function manifestClockSinceSet(c: ClockSinceSet): ManifestClockSinceSet {
  return {
    lastSetUnixMs: c.lastSetUnixMs,
    lastSetIso: new Date(c.lastSetUnixMs).toISOString(),
    driftMs: c.drift?.driftMs ?? null,
    driftPpm: c.drift?.driftPpm ?? null,
    measuredAtIso: c.drift ? new Date(c.drift.measuredAtUnixMs).toISOString() : null,
    measuredBy: c.drift?.measuredBy ?? null,
  };
}

export function buildManifest(m: ManifestInput): Manifest {
  const { info, entry: e, journalEntry: j, clock } = m;
  const device = summariseInfo(info);
  const rec = summariseEntry(e);
  const clockSet = rec.clockSet;
  const startMs = Number(e.startUnixMs);
  const stopMs = j ? Number(j.record.stopUnixMs) : null;
  const iso = (ms: number | null) => (ms !== null && clockSet && ms > 0 ? new Date(ms).toISOString() : null);
  const hostStart = clock.offsetMs !== null && clock.deviceClockWasSet && clockSet ? new Date(startMs - clock.offsetMs).toISOString() : null;
  return {
    manifestVersion: m.encryption ? ENCRYPTED_MANIFEST_VERSION : MANIFEST_VERSION,
    app: { name: 'evidence-recorder', version: m.appVersion },
    file: { ...m.file },
    device: { id: m.deviceId, label: device.label, model: device.model, firmware: device.firmware, simulated: device.simulated },
    recording: {
      number: rec.number,
      deviceFileName: rec.deviceName,
      sampleRate: rec.sampleRate,
      sampleCount: rec.sampleCount,
      durationMs: rec.durationMs,
      durationText: durationText(rec.durationMs),
      sha256: rec.sha256,
      dataOffset: rec.dataOffset,
      stopReason: rec.stopReason,
      overruns: j ? j.record.overruns : 0,
      clockSet,
      recovered: rec.recovered,
    },
    times: {
      deviceStartUnixMs: e.startUnixMs.toString(),
      deviceStopUnixMs: j ? j.record.stopUnixMs.toString() : null,
      deviceStartIso: iso(startMs),
      deviceStopIso: iso(stopMs),
      hostEstimatedStartIso: hostStart,
      copiedAtIso: new Date(m.now()).toISOString(),
      ...(m.timeEstimate && !clockSet ? { estimate: manifestEstimate(m.timeEstimate) } : {}),
      ...(m.clockSinceSet && clockSet ? { clockSinceSet: manifestClockSinceSet(m.clockSinceSet) } : {}),
    },
    clock: { ...clock },
    journal: j
      ? {
          index: j.index,
          hex: j.raw.toString('hex'),
          recordSha256: j.hash.toString('hex'),
          decoded: jsonable(j.record) as Record<string, unknown>,
          chain: m.journalCheck.chain,
          problems: [...m.journalCheck.problems, ...m.journalCheck.gaps].map((p) => p.message),
        }
      : null,
    verification: {
      ok: true,
      verifiedAtIso: new Date(m.now()).toISOString(),
      sha256MatchesDevice: true,
      // An encrypted copy's WAV structure and evid chunk are checked when it is decrypted.
      wavStructureOk: !m.encryption || m.encryption.derived !== null,
      evidenceChunkOk: !m.encryption || m.encryption.derived !== null,
      journalMatches: m.verification.journalProblems.length === 0,
      sampleCountMatches: m.verification.sampleCountMatches,
      problems: m.verification.journalProblems,
    },
    evidence: m.evidence,
    ...(m.encryption ? { encryption: m.encryption } : {}),
    ...(m.markers?.length ? { markers: m.markers } : {}),
    ...(m.loan ? { loan: { id: m.loan.id, reference: m.loan.reference } } : {}),
  };
}
