/**
 * Issue 16: the report and VERIFY.txt say where a recording made without a clock lies in time
 * (the app's estimate, with its bounds) instead of "not known", and beside a dated recording
 * when its clock was last set and how far it had drifted by the next check.
 */
import { describe, expect, test } from 'vitest';
import type { Manifest } from '../library.js';
import type { BundleRecording, BundleSource } from './gather.js';
import { clockSinceSetSentence, estimatedStartText, formatWhen, reportModel } from './report-model.js';
import { verifyText } from './verify-text.js';

const T = Date.UTC(2026, 2, 14, 14, 5);
const MIN = 60_000;

describe('estimatedStartText', () => {
  test('gives the estimate and its bounds, and says why it is an estimate', () => {
    const t = estimatedStartText({ startUnixMs: T, earliestUnixMs: T - 7 * MIN, latestUnixMs: T + 7 * MIN });
    expect(t).toBe(`about ${formatWhen(T)}, between ${formatWhen(T - 7 * MIN)} and ${formatWhen(T + 7 * MIN)} (estimated: the recorder's clock was lost (its battery ran flat), so the app placed the start from how long the recorder had been running and from its journal when it copied the recording; no signature covers this estimate)`);
  });
  test('with no earliest time, only the latest', () => {
    expect(estimatedStartText({ startUnixMs: T, earliestUnixMs: null, latestUnixMs: T })).toMatch(new RegExp(`^before ${formatWhen(T).replace(/[()+]/g, '\\$&')} \\(estimated: the recorder's clock was lost`));
  });
});

describe('clockSinceSetSentence', () => {
  test('says when the clock was set and how far it had drifted, ahead or behind', () => {
    expect(clockSinceSetSentence({ lastSetUnixMs: T, driftMs: 1240, driftPpm: 4.1 })).toBe(`The clock was last set before this recording on ${formatWhen(T)}; when it was next checked it had drifted 1.2 seconds ahead (4.1 parts per million).`);
    expect(clockSinceSetSentence({ lastSetUnixMs: T, driftMs: -25_400, driftPpm: -30 })).toContain('it had drifted 25 seconds behind (30 parts per million).');
    expect(clockSinceSetSentence({ lastSetUnixMs: T, driftMs: null, driftPpm: null })).toBe(`The clock was last set before this recording on ${formatWhen(T)}; how far it drifted after that was not measured.`);
  });
});

/** An unsigned recording in a bundle (the fewest steps), with the manifest's times given. */
function recording(number: number, clockSet: boolean, times: Partial<Manifest['times']>): BundleRecording {
  const manifest = {
    recording: { number, clockSet, sampleRate: 16000, sampleCount: 16000, stopReason: 'button', overruns: 0, recovered: false, sha256: '11'.repeat(32) },
    device: { id: 'dev', label: 'Kitchen', model: 'sim', firmware: '1', simulated: false },
    file: { sha256: '00'.repeat(32) },
    clock: { offsetMs: null },
    journal: null,
    times: { deviceStartUnixMs: clockSet ? String(T) : '0', deviceStopUnixMs: null, copiedAtIso: new Date(T + 60 * MIN).toISOString(), ...times },
  } as unknown as Manifest;
  return { manifest, copyPath: '', audioPath: '', folder: `recording-${number}`, original: { kind: 'wav', name: `REC0000${number}.WAV` }, signed: false, keyId: null, evidenceFiles: [], trustedComment: null, journal: null, verification: { ok: true, problems: [] } as unknown as BundleRecording['verification'] };
}

const source = (recordings: BundleRecording[]) => ({ recordings, keys: new Map(), publicKeys: new Map(), libraryChecks: [], custody: { ok: true, entries: 0, problems: [] }, custodyLines: [], library: '' }) as unknown as BundleSource;
const estimate = { estimated: true as const, startUnixMs: T, startIso: '', earliestUnixMs: T - MIN, earliestIso: null, latestUnixMs: T + MIN, latestIso: '', errorMs: MIN, method: 'journal-order' as const, why: '' };
const clockSinceSet = { lastSetUnixMs: T - 100 * 60 * MIN, lastSetIso: '', driftMs: 1240, driftPpm: 4.1, measuredAtIso: '', measuredBy: 'this-sync' as const };

describe('the report', () => {
  test('gives an estimated start instead of "not known", and the clock since set beside a dated start', async () => {
    const model = await reportModel(source([recording(1, true, { clockSinceSet }), recording(2, false, { estimate }), recording(3, false, {}), recording(4, true, {})]), new Date(T).toISOString(), 'test');
    const fact = (n: number, label: string) => model.recordings.find((r) => r.number === n)!.facts.find((f) => f.label === label)?.value;
    expect(fact(1, 'Started')).toBe(formatWhen(T));
    expect(fact(1, 'Clock')).toContain(clockSinceSetSentence(clockSinceSet));
    expect(fact(2, 'Started')).toBe(estimatedStartText(estimate));
    expect(fact(3, 'Started')).toMatch(/^not known/);
    // an older manifest, without the clock since set: the clock fact as before
    expect(fact(4, 'Clock')).toBe("These times are the recorder's own clock, which is set from the owner's computer whenever the app connects.");
  });
});

describe('VERIFY.txt', () => {
  test('names the recordings whose start is estimated, and says no signature covers the estimate', () => {
    const text = verifyText(source([recording(1, true, {}), recording(2, false, { estimate }), recording(3, false, {})]), '2026-03-15T00:00:00.000Z').replace(/\s+/g, ' ');
    expect(text).toContain("Recording(s) 2 were made while the recorder's clock was lost");
    expect(text).toContain('no signature covers that estimate');
  });
  test('says nothing of estimates when no recording has one', () => {
    expect(verifyText(source([recording(1, true, {}), recording(3, false, {})]), '2026-03-15T00:00:00.000Z')).not.toContain('estimate');
  });
});
