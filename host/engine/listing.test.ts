import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { filterLibrary, listLibrary, manifestMarkers, parseLibraryQuery, whyNotPlayable, type LibraryEntry } from './listing.js';
import type { Manifest } from './library.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'listing-'));
  dirs.push(d);
  return d;
}

interface Spec {
  deviceId?: string;
  label?: string;
  number: number;
  start?: number | null;
  durationMs?: number;
  ok?: boolean;
  problems?: string[];
  markers?: unknown;
  encrypted?: 'derived' | 'not-derived';
}

/** A manifest with the fields the listing reads (the rest as sync writes them, abridged). */
export function manifest(s: Spec): Manifest & { markers?: unknown } {
  const start = s.start === undefined ? Date.UTC(2025, 2, 12, 9 + s.number, 30) : s.start;
  const m = {
    manifestVersion: s.encrypted ? 3 : 2,
    app: { name: 'evidence-recorder', version: '0.1.0' },
    file: { name: `REC${s.number}.${s.encrypted ? 'age' : 'wav'}`, size: 100, sha256: 'aa' },
    device: { id: s.deviceId ?? '0123456789abcdef', label: s.label ?? 'Kitchen', model: 'ER-1', firmware: '1.0.0', simulated: false },
    recording: { number: s.number, deviceFileName: `REC${s.number}.WAV`, sampleRate: 16000, sampleCount: 16000, durationMs: s.durationMs ?? 62_000, durationText: '1:02', sha256: 'bb', dataOffset: 1024, stopReason: 'button', overruns: 0, clockSet: start !== null, recovered: false },
    times: { deviceStartUnixMs: String(start ?? 0), deviceStopUnixMs: null, deviceStartIso: null, deviceStopIso: null, hostEstimatedStartIso: null, copiedAtIso: '2025-03-13T00:00:00.000Z' },
    clock: { offsetMs: null, roundTripMs: null, deviceClockWasSet: true, measuredAtIso: null, deviceClockSetTo: null },
    journal: null,
    verification: { ok: s.ok ?? true, verifiedAtIso: '2025-03-13T00:00:00.000Z', sha256MatchesDevice: true, wavStructureOk: true, evidenceChunkOk: true, journalMatches: true, sampleCountMatches: true, problems: s.problems ?? [] },
    ...(s.encrypted ? { encryption: { format: 'age-v1', derived: s.encrypted === 'derived' ? { name: `REC${s.number}.wav`, size: 1, sha256: 'cc', decryptedAtIso: '', recipient: 'age1x' } : null } } : {}),
    ...(s.markers !== undefined ? { markers: s.markers } : {}),
  };
  return m as Manifest & { markers?: unknown };
}

/** Writes the copy (.wav or .age, plus the decrypted .wav) and its manifest into `dir`. */
export function put(dir: string, s: Spec, { copy = true }: { copy?: boolean } = {}): void {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `REC${s.number}`);
  writeFileSync(`${base}.json`, JSON.stringify(manifest(s)));
  if (copy) writeFileSync(`${base}.${s.encrypted ? 'age' : 'wav'}`, 'x');
  if (s.encrypted === 'derived') writeFileSync(`${base}.wav`, 'x');
}

describe('listLibrary', () => {
  it('lists every recorder folder of a library newest first, with the columns the view shows', async () => {
    const root = temp();
    put(join(root, 'Kitchen'), { number: 1 });
    put(join(root, 'Kitchen'), { number: 3, markers: [{ number: 2, sampleOffset: 32000, timeMs: 2000, label: 'Marker 2' }, { number: 1, sampleOffset: 16000, timeMs: 1000, label: 'Marker 1' }] });
    put(join(root, 'Office'), { number: 2, deviceId: 'fedcba9876543210', label: 'Office', encrypted: 'derived' });
    put(join(root, 'Office'), { number: 7, deviceId: 'fedcba9876543210', label: 'Office', start: null, encrypted: 'not-derived' });
    const l = await listLibrary(root);
    expect(l.exists).toBe(true);
    expect(l.problems).toEqual([]);
    expect(l.entries.map((e) => `${e.deviceLabel}#${e.number}`)).toEqual(['Kitchen#3', 'Office#2', 'Kitchen#1', 'Office#7']);
    const [k3, o2, , o7] = l.entries as [LibraryEntry, LibraryEntry, LibraryEntry, LibraryEntry];
    expect(k3).toMatchObject({ startUnixMs: Date.UTC(2025, 2, 12, 12, 30), durationMs: 62_000, verification: 'verified', encrypted: false, decrypted: false, playablePath: join(root, 'Kitchen', 'REC3.wav') });
    expect(k3.markers.map((m) => m.number)).toEqual([1, 2]);
    expect(o2).toMatchObject({ encrypted: true, decrypted: true, copyPath: join(root, 'Office', 'REC2.age'), playablePath: join(root, 'Office', 'REC2.wav') });
    expect(o7).toMatchObject({ startUnixMs: null, encrypted: true, decrypted: false, playablePath: null });
    expect(whyNotPlayable(o7)).toContain(`recorder decrypt 7 --dest "${join(root, 'Office')}"`);
    expect(whyNotPlayable(k3)).toBeNull();
  });

  it('lists one recorder folder given on its own', async () => {
    const root = temp();
    put(root, { number: 4 });
    expect((await listLibrary(root)).entries.map((e) => e.number)).toEqual([4]);
  });

  it('is an empty library, not an error, when the folder does not exist yet', async () => {
    const l = await listLibrary(join(temp(), 'Recordings'));
    expect(l).toMatchObject({ exists: false, entries: [], problems: [] });
  });

  it('shows unreadable, foreign and newer manifests as problem lines and lists the rest', async () => {
    const root = temp();
    put(root, { number: 1 });
    writeFileSync(join(root, 'broken.json'), '{"manifestVersion": 2, "file": ');
    writeFileSync(join(root, 'broken.wav'), 'x');
    writeFileSync(join(root, 'future.json'), JSON.stringify({ ...manifest({ number: 5 }), manifestVersion: 99 }));
    writeFileSync(join(root, 'other.json'), JSON.stringify({ hello: 'world' }));
    writeFileSync(join(root, 'other.wav'), 'x');
    writeFileSync(join(root, 'null.json'), 'null');
    writeFileSync(join(root, 'null.wav'), 'x');
    // Not manifests, and no recording beside them: not mentioned.
    writeFileSync(join(root, 'recorder-0123.pin.json'), '{}');
    writeFileSync(join(root, 'notes.json'), '[1,2]');
    mkdirSync(join(root, 'keys'));
    writeFileSync(join(root, 'keys', 'owner-keys.json'), '{}');
    const l = await listLibrary(root);
    expect(l.entries.map((e) => e.number)).toEqual([1]);
    const byName = Object.fromEntries(l.problems.map((p) => [p.path.slice(root.length + 1), p.message]));
    expect(Object.keys(byName).sort()).toEqual(['broken.json', 'future.json', 'null.json', 'other.json']);
    expect(byName['broken.json']).toMatch(/not valid JSON/);
    expect(byName['future.json']).toMatch(/version 99 is newer than this app knows/);
    expect(byName['other.json']).toMatch(/not a manifest of this app/);
  });

  it('says a copy is missing, or has problems, from the manifest and the folder', async () => {
    const root = temp();
    put(root, { number: 1 }, { copy: false });
    put(root, { number: 2, ok: false, problems: ['journal record differs'] });
    const l = await listLibrary(root);
    const by = new Map(l.entries.map((e) => [e.number, e]));
    expect(by.get(1)).toMatchObject({ verification: 'missing', playablePath: null });
    expect(whyNotPlayable(by.get(1)!)).toMatch(/not in .* any more/);
    expect(by.get(2)).toMatchObject({ verification: 'problems', problems: ['journal record differs'] });
  });
});

describe('manifestMarkers', () => {
  it('keeps well-formed markers in time order and drops the rest', () => {
    expect(manifestMarkers({})).toEqual([]);
    expect(manifestMarkers({ markers: 'no' })).toEqual([]);
    expect(
      manifestMarkers({ markers: [null, { number: 2, sampleOffset: 10, timeMs: 5 }, { number: 'x' }, { number: 1, sampleOffset: 1, timeMs: 1, label: 'Marker 1' }] }),
    ).toEqual([
      { number: 1, sampleOffset: 1, timeMs: 1, label: 'Marker 1' },
      { number: 2, sampleOffset: 10, timeMs: 5, label: 'Marker 2' },
    ]);
  });
});

describe('search', () => {
  const day = (d: number, h = 10) => Date.UTC(2025, 2, d, h);
  const e = (number: number, start: number | null, label = 'Kitchen'): LibraryEntry =>
    ({ number, startUnixMs: start, deviceLabel: label, copyPath: `/lib/${label}/REC${number}.wav` }) as LibraryEntry;
  const entries = [e(1, day(10)), e(2, day(12, 23)), e(3, day(13, 0), 'Office'), e(4, day(20), 'Office'), e(5, null)];
  const numbers = (q: string) => filterLibrary(entries, q, true).map((x) => x.number);

  it('finds a day, as typed in ISO or as the app shows dates', () => {
    expect(numbers('2025-03-12')).toEqual([2]);
    expect(numbers('12 Mar 2025')).toEqual([2]);
    expect(numbers('2025-3-13')).toEqual([3]);
  });

  it('finds a range of days (both ends included) and a month', () => {
    expect(numbers('2025-03-11..2025-03-13')).toEqual([2, 3]);
    expect(numbers('2025-03-13 to 2025-03-11')).toEqual([2, 3]);
    expect(numbers('2025-03')).toEqual([1, 2, 3, 4]);
  });

  it('finds words of the label, any case, with or without a date', () => {
    expect(numbers('office')).toEqual([3, 4]);
    expect(numbers('OFF 2025-03-20')).toEqual([4]);
    expect(numbers('kitchen')).toEqual([1, 2, 5]);
    expect(numbers('')).toEqual([1, 2, 3, 4, 5]);
    expect(numbers('nobody')).toEqual([]);
  });

  it('reads local days unless told UTC', () => {
    const q = parseLibraryQuery('2025-03-12');
    expect(q.fromMs).toBe(new Date(2025, 2, 12).getTime());
    expect(q.toMs).toBe(new Date(2025, 2, 13).getTime());
    expect(q.words).toEqual([]);
  });
});
