import { describe, expect, it } from 'vitest';
import { JOURNAL_KIND, RECORD_FLAGS } from '../../protocol/src/schema.js';
import type { JournalRecord } from '../../protocol/generated/types.js';
import type { JournalEntry } from './journal.js';
import { clockSinceSet, clockSinceSetText, clocksSinceSetByNumber } from './clock-since-set.js';

const T0 = Date.UTC(2026, 2, 3, 9, 12);
const HOUR = 3_600_000;

/** A journal as the firmware writes it, from short descriptions of its records. */
function journal(...records: Partial<JournalRecord>[]): JournalEntry[] {
  return records.map((r, index) => ({ index, raw: Buffer.alloc(0), hash: Buffer.alloc(0), record: { number: 0, startUnixMs: 0n, stopUnixMs: 0n, startUptimeMs: 0n, stopUptimeMs: 0n, sampleRate: 0, sampleCount: 0, stopReason: 0, flags: 0, kind: 0, overruns: 0, index, ...r } as JournalRecord }));
}
const set = (before: number, to: number): Partial<JournalRecord> => ({ kind: JOURNAL_KIND.CLOCK_SET, startUnixMs: BigInt(before), stopUnixMs: BigInt(to) });
const dated = (number: number, at: number): Partial<JournalRecord> => ({ kind: JOURNAL_KIND.RECORDING, number, startUnixMs: BigInt(at), stopUnixMs: BigInt(at + 60_000), flags: RECORD_FLAGS.CLOCK_SET });
const undated = (number: number): Partial<JournalRecord> => ({ kind: JOURNAL_KIND.RECORDING, number });
const lost: Partial<JournalRecord> = { kind: JOURNAL_KIND.CLOCK_LOST };

describe('clockSinceSet', () => {
  it('takes the last set before the recording and the drift the next set found', () => {
    // set at T0, then again 100 h later when the clock had run 1.44 s fast (4 ppm)
    const j = journal(set(0, T0 - 10 * HOUR), set(T0 - 5000, T0), dated(1, T0 + HOUR), set(T0 + 100 * HOUR + 1440, T0 + 100 * HOUR));
    expect(clockSinceSet(j, j[2]!, { offsetMs: 99, measuredAtUnixMs: T0 + 200 * HOUR })).toEqual({ lastSetUnixMs: T0, drift: { driftMs: 1440, driftPpm: 4, measuredAtUnixMs: T0 + 100 * HOUR, measuredBy: 'next-clock-set' } });
  });

  it("measures the drift at this sync when no later set is journalled", () => {
    const j = journal(set(0, T0), dated(1, T0 + HOUR));
    expect(clockSinceSet(j, j[1]!, { offsetMs: -720, measuredAtUnixMs: T0 + 50 * HOUR })?.drift).toEqual({ driftMs: -720, driftPpm: -4, measuredAtUnixMs: T0 + 50 * HOUR, measuredBy: 'this-sync' });
    expect(clockSinceSet(j, j[1]!, { offsetMs: null, measuredAtUnixMs: T0 + 50 * HOUR })).toEqual({ lastSetUnixMs: T0, drift: null });
    expect(clockSinceSet(j, j[1]!, null)).toEqual({ lastSetUnixMs: T0, drift: null });
  });

  it('measures no drift across a lost clock', () => {
    const afterLoss = journal(set(0, T0), dated(1, T0 + HOUR), lost, set(0, T0 + 9 * HOUR), dated(2, T0 + 10 * HOUR));
    expect(clockSinceSet(afterLoss, afterLoss[1]!, { offsetMs: 500, measuredAtUnixMs: T0 + 20 * HOUR })).toEqual({ lastSetUnixMs: T0, drift: null });
    // the recording after the new set is measured from that set
    expect(clockSinceSet(afterLoss, afterLoss[4]!, { offsetMs: 500, measuredAtUnixMs: T0 + 19 * HOUR })?.lastSetUnixMs).toBe(T0 + 9 * HOUR);
    // a set that found the clock not running (firmware without CLOCK_LOST) measures nothing
    const unset = journal(set(0, T0), dated(1, T0 + HOUR), set(0, T0 + 9 * HOUR));
    expect(clockSinceSet(unset, unset[1]!, null)).toEqual({ lastSetUnixMs: T0, drift: null });
  });

  it('is null for a recording without a clock, or with no set journalled before it', () => {
    const j = journal(dated(1, T0), set(0, T0 + HOUR), undated(2));
    expect(clockSinceSet(j, j[0]!, null)).toBeNull();
    expect(clockSinceSet(j, j[2]!, null)).toBeNull();
    expect([...clocksSinceSetByNumber(journal(set(0, T0), dated(1, T0 + 1), undated(2), dated(3, T0 + 2)), null).keys()]).toEqual([1, 3]);
  });
});

describe('clockSinceSetText', () => {
  const fmt = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  it('says when the clock was set and how far it drifted, in words', () => {
    expect(clockSinceSetText({ lastSetUnixMs: T0, drift: { driftMs: 1200, driftPpm: 4 } }, fmt)).toBe('clock set 09:12; it had drifted 1.2 s fast (4 ppm) by the next sync');
    expect(clockSinceSetText({ lastSetUnixMs: T0, drift: { driftMs: -95_000, driftPpm: -26.4 } }, fmt)).toBe('clock set 09:12; it had drifted 2 min slow (26.4 ppm) by the next sync');
    expect(clockSinceSetText({ lastSetUnixMs: T0, drift: { driftMs: 12, driftPpm: 0 } }, fmt)).toBe('clock set 09:12; it was still right at the next sync');
    expect(clockSinceSetText({ lastSetUnixMs: T0, drift: null }, fmt)).toBe('clock set 09:12; its drift since was not measured');
  });
});
