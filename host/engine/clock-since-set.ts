/**
 * How far a dated recording's time can be trusted (issue 16): when the recorder's clock was last
 * set before it, and how far that clock had drifted by the time it was next measured. Read from
 * the journal: a CLOCK_SET record keeps the clock before the set (startUnixMs, 0 when it was not
 * set) and the host's time it was set to (stopUnixMs). The drift is measured at the next
 * CLOCK_SET that found the clock still running, or else by this sync's INFO exchange (the clock
 * as it was before this sync set it).
 *
 * The recorder journals CLOCK_SET only when a set moves the clock by a second or more (or sets it
 * for the first time): a set that moved it less leaves no record, so "last set" is the last set
 * that moved it, and a drift under a second may have been corrected unseen before it.
 */
import { JOURNAL_KIND, RECORD_FLAGS } from '../../protocol/src/schema.js';
import type { JournalEntry } from './journal.js';

/** The clock's drift measured since its last set: what the clock said minus the host's time. */
export interface DriftMeasurement {
  /** Recorder clock minus the host's clock, ms: positive when the recorder ran fast. */
  driftMs: number;
  /** The drift over the time since the set, parts per million. */
  driftPpm: number;
  /** The host's time of the measurement, ms since 1970. */
  measuredAtUnixMs: number;
  /** At a later CLOCK_SET in the journal, or at this sync's INFO exchange. */
  measuredBy: 'next-clock-set' | 'this-sync';
}

export interface ClockSinceSet {
  /** The time the clock was last set to before the recording (the host's clock then), ms since 1970. */
  lastSetUnixMs: number;
  /** Null when it was not measured: the clock was lost before it was next set, or this sync did not measure it. */
  drift: DriftMeasurement | null;
}

/** This sync's measurement of the recorder's clock (manifest.ts ClockInfo), before it set it. */
export interface ClockMeasuredNow {
  /** Device minus host, ms; null when the clock was not set. */
  offsetMs: number | null;
  measuredAtUnixMs: number;
}

function drift(driftMs: number, lastSetUnixMs: number, measuredAtUnixMs: number, measuredBy: DriftMeasurement['measuredBy']): DriftMeasurement {
  const elapsed = measuredAtUnixMs - lastSetUnixMs;
  return { driftMs, driftPpm: elapsed > 0 ? Math.round((driftMs / elapsed) * 1e6 * 10) / 10 : 0, measuredAtUnixMs, measuredBy };
}

/**
 * The clock's last set before the recording journalled as `target`, and its drift since, from
 * the journal of its epoch (`entries`, in order) and this sync's measurement. Null for a
 * recording made without a clock, or when no set of the clock is in the journal before it.
 */
export function clockSinceSet(entries: JournalEntry[], target: JournalEntry, now: ClockMeasuredNow | null): ClockSinceSet | null {
  if (target.record.kind !== JOURNAL_KIND.RECORDING || !(target.record.flags & RECORD_FLAGS.CLOCK_SET)) return null;
  const at = entries.findIndex((e) => e.index === target.index);
  if (at < 0) return null;
  let setAt = -1;
  for (let i = at - 1; i >= 0; i--) {
    if (entries[i]!.record.kind === JOURNAL_KIND.CLOCK_SET) {
      setAt = i;
      break;
    }
  }
  if (setAt < 0) return null;
  const lastSetUnixMs = Number(entries[setAt]!.record.stopUnixMs);
  for (let i = at + 1; i < entries.length; i++) {
    const r = entries[i]!.record;
    // A lost clock restarts from nothing: what it said after is no drift of this set.
    if (r.kind === JOURNAL_KIND.CLOCK_LOST) return { lastSetUnixMs, drift: null };
    if (r.kind !== JOURNAL_KIND.CLOCK_SET) continue;
    if (r.startUnixMs === 0n) return { lastSetUnixMs, drift: null };
    return { lastSetUnixMs, drift: drift(Number(r.startUnixMs) - Number(r.stopUnixMs), lastSetUnixMs, Number(r.stopUnixMs), 'next-clock-set') };
  }
  if (!now || now.offsetMs === null) return { lastSetUnixMs, drift: null };
  return { lastSetUnixMs, drift: drift(now.offsetMs, lastSetUnixMs, now.measuredAtUnixMs, 'this-sync') };
}

/** The clocks since set of the dated recordings of `entries`, by recording number. */
export function clocksSinceSetByNumber(entries: JournalEntry[], now: ClockMeasuredNow | null): Map<number, ClockSinceSet> {
  const out = new Map<number, ClockSinceSet>();
  for (const e of entries) {
    const c = clockSinceSet(entries, e, now);
    if (c) out.set(e.record.number, c);
  }
  return out;
}

function amount(ms: number): string {
  const s = Math.abs(ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/**
 * "clock set 3 Mar 09:12; it had drifted 1.2 s fast (4 ppm) by the next sync", with `format`
 * writing a time (the caller's local or UTC form).
 */
export function clockSinceSetText(c: { lastSetUnixMs: number; drift: Pick<DriftMeasurement, 'driftMs' | 'driftPpm'> | null }, format: (ms: number) => string): string {
  const set = `clock set ${format(c.lastSetUnixMs)}`;
  if (!c.drift) return `${set}; its drift since was not measured`;
  if (Math.abs(c.drift.driftMs) < 50) return `${set}; it was still right at the next sync`;
  const dir = c.drift.driftMs > 0 ? 'fast' : 'slow';
  return `${set}; it had drifted ${amount(c.drift.driftMs)} ${dir} (${Math.abs(c.drift.driftPpm)} ppm) by the next sync`;
}
