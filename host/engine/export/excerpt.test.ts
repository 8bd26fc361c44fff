/**
 * Markers after sync (issue 15): the manifest's markers, excerpts that are exact byte slices with
 * their provenance note, the Audacity label track and WebVTT file, and notes set from the app.
 * Against the fake recorder; test/markers-sim.test.ts does the same with the simulator and runs
 * the note's sox and ffmpeg commands.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { describeEvent } from '../describe.js';
import type { Manifest } from '../library.js';
import { audacityLabels, manifestMarkers } from '../markers.js';
import { notesPath, parseWebVtt, readMarkerNotes, webVttProblems } from '../notes.js';
import { createOwnerKey } from '../privacy/owner-keys.js';
import { recipientBytes } from '../privacy/recipient.js';
import { setup } from '../testing/harness.js';
import { verifyLibraryFile } from '../verify.js';
import { excerptHeader, makeExcerpt, parseTimeText, shellQuote, sliceOf, timeText } from './excerpt.js';
import { exportMarkerFiles, markerNotes } from './marker-files.js';
import { safeNamePart } from './library-recording.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const D = CARD_LAYOUT.wavDataOffset;
const fileOf = (dir: string, suffix: string) => join(dir, readdirSync(dir).find((x) => x.endsWith(suffix))!);
const manifestOf = (dir: string, n: number) => JSON.parse(readFileSync(fileOf(dir, `_${n}.json`), 'utf8')) as Manifest;
const emit = () => undefined;

/** A synced library: recording 1 (20001 samples at 16 kHz) with markers at odd sample offsets. */
async function library(markers = [1001, 7777, 19_999]) {
  const h = setup();
  const rec = h.device.addRecording({ samples: 20_001, markers });
  const r = await h.engine.sync({ dest: h.dest });
  expect(r.ok).toBe(true);
  return { ...h, rec };
}

describe('times and slices', () => {
  test('times: seconds, m:ss and h:mm:ss with up to 3 decimals', () => {
    expect(parseTimeText('75')).toBe(75_000);
    expect(parseTimeText('75.5')).toBe(75_500);
    expect(parseTimeText('1:15.25')).toBe(75_250);
    expect(parseTimeText('1:02:03.004')).toBe(3_723_004);
    expect(parseTimeText(' 0:00:00 ')).toBe(0);
    for (const bad of ['', '1:2', '1:60', '-3', '1.2345', '1:02:03:04', 'ten']) expect(parseTimeText(bad)).toBeNull();
    expect(timeText(3_723_004)).toBe('1:02:03.004');
  });

  const rec = { sampleCount: 20_001, sampleRate: 16_000, markers: manifestMarkers([{ id: 1, sampleOffset: 1001, label: 'Marker 1' }, { id: 2, sampleOffset: 7777, label: 'Marker 2' }, { id: 3, sampleOffset: 20_000, label: 'Marker 3' }], 16_000) };

  test('marker to marker, marker to the next one, the last marker to the end (the last sample)', () => {
    expect(sliceOf({ from: { marker: 1 }, to: { marker: 2 } }, rec)).toMatchObject({ first: 1001, count: 6776 });
    expect(sliceOf({ from: { marker: 1 } }, rec)).toMatchObject({ first: 1001, count: 6776 });
    expect(sliceOf({ from: { marker: 2 } }, rec)).toMatchObject({ first: 7777, count: 12_223 });
    expect(sliceOf({ from: { marker: 3 } }, rec)).toMatchObject({ first: 20_000, count: 1, toText: 'the end (sample 20001)' });
    expect(sliceOf({ from: { marker: 1 }, to: { ms: 1000 } }, rec)).toMatchObject({ first: 1001, count: 14_999 });
  });

  test('times map to exact samples; the whole recording; a range past the end is refused in words', () => {
    expect(sliceOf({}, rec)).toMatchObject({ first: 0, count: 20_001 });
    expect(sliceOf({ from: { ms: 62 }, to: { ms: 1250 } }, rec)).toMatchObject({ first: 992, count: 19_008 });
    expect(() => sliceOf({ from: { ms: 1000 }, to: { ms: 1251 } }, rec)).toThrow(/past the end of the recording, which lasts 0:00:01.250/);
    expect(() => sliceOf({ from: { ms: 1250 } }, { ...rec, sampleCount: 20_000 })).toThrow(/at or past the end/);
    expect(() => sliceOf({ from: { ms: 1251 } }, rec)).toThrow(/--from 0:00:01.251 is past the end/);
    expect(() => sliceOf({ from: { ms: 500 }, to: { ms: 500 } }, rec)).toThrow(/before it starts/);
    expect(() => sliceOf({ from: { marker: 2 }, to: { marker: 1 } }, rec)).toThrow(/before it starts/);
    expect(() => sliceOf({ from: { marker: 4 } }, rec)).toThrow(/no marker 4: its markers are 1, 2, 3/);
    expect(() => sliceOf({ from: { marker: 1 } }, { ...rec, markers: [] })).toThrow(/has no markers/);
    expect(() => sliceOf({ from: { marker: 1 } }, { ...rec, markers: [{ number: 1, sampleOffset: 20_002, timeMs: 1250, label: '' }] })).toThrow(/past the end/);
  });

  test('the excerpt header is the canonical 44 bytes sox writes', () => {
    const h = excerptHeader({ channels: 1, sampleRate: 16_000, bitsPerSample: 16 }, 15_554);
    expect(h.toString('hex')).toBe('52494646e63c000057415645666d74201000000001000100803e0000007d000002001000646174' + '61c23c0000');
  });

  test('file-name parts from any text: no separators, not hidden, never empty', () => {
    expect(safeNamePart('../../etc/passwd')).toBe('etc-passwd');
    expect(safeNamePart('.hidden name\n$(rm -rf ~)')).toBe('hidden-name-rm-rf');
    expect(safeNamePart('Küche_3')).toBe('Küche_3');
    expect(safeNamePart('///')).toBe('recording');
    expect(safeNamePart('x'.repeat(200))).toHaveLength(80);
  });

  test('shell quoting of file names', () => {
    expect(shellQuote('2026-01-02_1030_Kitchen_3.wav')).toBe('2026-01-02_1030_Kitchen_3.wav');
    expect(shellQuote("it's $(rm -rf ~).wav")).toBe(`'it'\\''s $(rm -rf ~).wav'`);
    expect(shellQuote('-x.wav')).toBe('./-x.wav');
  });
});

describe('markers after sync', () => {
  test('the manifest lists the WAV\'s markers: number, sample offset, time, label; verify agrees', async () => {
    const h = await library();
    const m = manifestOf(h.dest, 1);
    expect(m.markers).toEqual([
      { number: 1, sampleOffset: 1001, timeMs: 62, label: 'Marker 1' },
      { number: 2, sampleOffset: 7777, timeMs: 486, label: 'Marker 2' },
      { number: 3, sampleOffset: 19_999, timeMs: 1249, label: 'Marker 3' },
    ]);
    expect((await verifyLibraryFile(fileOf(h.dest, '_1.wav'))).ok).toBe(true);
    const verified = h.of('file.verified')[0]!;
    expect(verified.markers).toBe(3);
    expect(describeEvent(verified)).toMatch(/^Recording 1 copied and verified \(0:01, 3 markers\)/);
  });

  test('a recording without markers has no markers field', async () => {
    const h = setup();
    h.device.addRecording({ samples: 3000 });
    await h.engine.sync({ dest: h.dest });
    expect(manifestOf(h.dest, 1).markers).toBeUndefined();
  });

  test('an encrypted recording: no markers until it is decrypted, then those of its WAV', async () => {
    const h = setup();
    const dest = join(h.dest, 'Kitchen');
    mkdirSync(dest);
    const owner = await createOwnerKey(h.dest);
    h.device.recipient = recipientBytes(owner.recipient);
    h.device.addRecording({ samples: 30_000, markers: [5, 29_000] });
    const r = await h.engine.sync({ dest });
    expect(r.ok).toBe(true);
    const m = manifestOf(dest, 1);
    expect(m.encryption?.derived).not.toBeNull();
    expect(m.markers).toEqual([
      { number: 1, sampleOffset: 5, timeMs: 0, label: 'Marker 1' },
      { number: 2, sampleOffset: 29_000, timeMs: 1812, label: 'Marker 2' },
    ]);
    expect((await verifyLibraryFile(fileOf(dest, '_1.age'))).ok).toBe(true);
    // and the excerpt comes from the decrypted WAV, and says so
    const x = await makeExcerpt({ library: dest, recording: 1, range: { from: { marker: 1 } }, appVersion: 't', emit });
    const wav = readFileSync(fileOf(dest, '_1.wav'));
    expect(readFileSync(x.wavPath).subarray(44).equals(wav.subarray(D + 10, D + 58_000))).toBe(true);
    expect(x.provenance.original.fileName).toMatch(/_1\.wav$/);
    expect(x.provenance.original.decryptedFrom).toMatchObject({ fileName: expect.stringMatching(/_1\.age$/), cardName: 'REC00001.AGE' });
    expect(readFileSync(x.notePath, 'utf8')).toContain('(the decrypted WAV of an encrypted recording)');
  });
});

describe('excerpts', () => {
  test('marker 1 to marker 2: the exact bytes of the original\'s samples, a new header, a provenance note; 0700/0600', async () => {
    const h = await library();
    const original = readFileSync(fileOf(h.dest, '_1.wav'));
    const x = await makeExcerpt({ library: h.dest, recording: 1, range: { from: { marker: 1 }, to: { marker: 2 } }, appVersion: '9.9.9', emit, now: () => Date.UTC(2026, 0, 2) });
    const out = readFileSync(x.wavPath);
    expect(out.subarray(0, 44).equals(excerptHeader({ channels: 1, sampleRate: 16_000, bitsPerSample: 16 }, 6776 * 2))).toBe(true);
    expect(out.subarray(44).equals(original.subarray(D + 2002, D + 2 * 7777))).toBe(true);
    expect(x.folder).toBe(join(h.dest, 'exports'));
    expect(statSync(x.folder).mode & 0o777).toBe(0o700);
    for (const f of [x.wavPath, x.notePath, x.jsonPath]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readdirSync(x.folder).some((n) => n.endsWith('.part'))).toBe(false);
    const p = x.provenance;
    expect(p.original).toMatchObject({ fileName: expect.stringMatching(/_Kitchen_1\.wav$/), sha256: sha(original), size: original.length, dataOffset: D, sampleCount: 20_001, cardName: 'REC00001.WAV', decryptedFrom: null });
    expect(p.excerpt).toMatchObject({ sha256: sha(out), audioSha256: sha(out.subarray(44)), firstSample: 1001, sampleCount: 6776, endSample: 7777, startMs: 62, endMs: 486, byteOffset: D + 2002, byteLength: 13_552 });
    expect(p.recorder).toMatchObject({ deviceId: h.rec && manifestOf(h.dest, 1).device.id, recordingNumber: 1 });
    expect(JSON.parse(readFileSync(x.jsonPath, 'utf8'))).toEqual(p);
    const note = readFileSync(x.notePath, 'utf8');
    for (const s of [sha(original), sha(out), 'sample 1001', '6776 samples', `sox ${p.original.fileName} excerpt-by-sox.wav trim 1001s 6776s`, 'atrim=start_sample=1001:end_sample=7777', `skip=${D + 2002} count=13552`]) expect(note).toContain(s);
    // exporting the same again never replaces the first
    const y = await makeExcerpt({ library: h.dest, recording: fileOf(h.dest, '_1.wav'), range: { from: { marker: 1 }, to: { marker: 2 } }, appVersion: '9.9.9', emit });
    expect(y.wavPath).toBe(x.wavPath.replace(/\.wav$/, '-2.wav'));
    expect(readFileSync(x.wavPath).equals(out)).toBe(true);
    // the library's custody log says what left it
    const log = readFileSync(join(h.dest, 'custody.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; files: Record<string, string>; details: Record<string, unknown> });
    expect(log.filter((e) => e.event === 'exported')).toEqual([
      expect.objectContaining({ files: { [p.original.fileName]: sha(original), [p.excerpt.fileName]: sha(out) }, details: { kind: 'excerpt', to: x.wavPath, firstSample: 1001, sampleCount: 6776 } }),
      expect.objectContaining({ details: expect.objectContaining({ to: y.wavPath }) }),
    ]);
    // and a bundle's report says so in words
    const bundle = join(mkdtempSync(join(tmpdir(), 'excerpt-bundle-')), 'bundle');
    await h.engine.exportBundle({ library: h.dest, numbers: [1], to: bundle });
    expect(readFileSync(join(bundle, 'report.html'), 'utf8')).toContain('An excerpt of recording 1 exported (6776 samples from sample 1001)');
    // the exports folder and a notes file in the library do not disturb its verification
    await markerNotes({ library: h.dest, recording: 1, set: { marker: 1, text: 'x' }, emit });
    const v = await h.engine.verify([h.dest]);
    expect(v.ok, JSON.stringify([v.problems, v.results.flatMap((r) => r.failures)])).toBe(true);
  });

  test('the note\'s sha256sum, sox, ffmpeg, dd and tail commands, run as written, print the hashes it gives', async () => {
    const h = await library();
    const x = await makeExcerpt({ library: h.dest, recording: 1, range: { from: { marker: 2 }, to: { ms: 1100 } }, appVersion: 't', emit });
    const check = mkdtempSync(join(tmpdir(), 'excerpt-check-'));
    copyFileSync(fileOf(h.dest, '_1.wav'), join(check, x.provenance.original.fileName));
    copyFileSync(x.wavPath, join(check, basename(x.wavPath)));
    expect(x.provenance.commands.map((c) => c.tool)).toEqual(['sha256sum', 'sox', 'ffmpeg', 'dd', 'tail', 'sha256sum']);
    for (const c of x.provenance.commands) {
      const r = spawnSync('sh', ['-c', c.run], { cwd: check, encoding: 'utf8', timeout: 30_000 });
      expect(r.status, `${c.run}: ${r.stderr}`).toBe(0);
      expect(r.stdout, c.run).toMatch(new RegExp(`^${c.prints}\\b`, 'm'));
    }
    expect(readFileSync(join(check, 'excerpt-by-sox.wav')).equals(readFileSync(x.wavPath))).toBe(true);
    expect(readFileSync(join(check, 'excerpt-by-ffmpeg.wav')).equals(readFileSync(x.wavPath))).toBe(true);
  });

  test('from a time at an odd sample to the very last sample', async () => {
    const h = await library();
    const original = readFileSync(fileOf(h.dest, '_1.wav'));
    const x = await makeExcerpt({ library: h.dest, recording: 1, range: { from: { marker: 3 } }, to: join(h.dest, 'for the advocate'), appVersion: 't', emit });
    expect(x.provenance.excerpt).toMatchObject({ firstSample: 19_999, sampleCount: 2 });
    expect(readFileSync(x.wavPath).subarray(44).equals(original.subarray(D + 2 * 19_999, D + 2 * 20_001))).toBe(true);
    const t = await makeExcerpt({ library: h.dest, recording: 1, range: { from: { ms: 1 }, to: { ms: 1250 } }, to: join(h.dest, 'for the advocate'), appVersion: 't', emit });
    expect(t.provenance.excerpt).toMatchObject({ firstSample: 16, sampleCount: 19_984 });
  });

  test('refused: a range past the end, a recording not there, a copy that does not verify, a link for the folder', async () => {
    const h = await library();
    await expect(makeExcerpt({ library: h.dest, recording: 1, range: { from: { ms: 0 }, to: { ms: 5000 } }, appVersion: 't', emit })).rejects.toMatchObject({ code: 'EXPORT_REFUSED', message: expect.stringContaining('past the end') });
    await expect(makeExcerpt({ library: h.dest, recording: 7, range: {}, appVersion: 't', emit })).rejects.toMatchObject({ code: 'EXPORT_REFUSED', message: expect.stringContaining('no recording 7') });
    mkdirSync(join(h.dest, 'elsewhere'));
    symlinkSync(join(h.dest, 'elsewhere'), join(h.dest, 'linked'));
    await expect(makeExcerpt({ library: h.dest, recording: 1, range: {}, to: join(h.dest, 'linked'), appVersion: 't', emit })).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    const wav = fileOf(h.dest, '_1.wav');
    const b = readFileSync(wav);
    b[D + 10] = b[D + 10]! ^ 1;
    writeFileSync(wav, b);
    await expect(makeExcerpt({ library: h.dest, recording: 1, range: {}, appVersion: 't', emit })).rejects.toMatchObject({ code: 'EXPORT_REFUSED', message: expect.stringContaining('does not verify') });
    expect(readdirSync(h.dest)).not.toContain('exports');
  });
});

describe('marker files and notes', () => {
  test('Audacity labels: start<TAB>end<TAB>label per marker, in seconds; the note replaces the label', () => {
    const ms = manifestMarkers([{ id: 1, sampleOffset: 1001, label: 'Marker 1' }, { id: 2, sampleOffset: 48_000, label: 'Marker 2' }], 16_000);
    expect(audacityLabels(ms, 16_000, [{ number: 2, startMs: 0, endMs: 0, text: 'She said\twe\nmissed it' }])).toBe('0.062562\t0.062562\tMarker 1\n3.000000\t3.000000\tShe said we missed it\n');
  });

  test('recorder markers: label track and WebVTT in the export folder, filled from the notes, conforming; notes set and listed', async () => {
    const h = await library();
    const copy = fileOf(h.dest, '_1.wav');
    let l = await markerNotes({ library: h.dest, recording: 1, emit });
    expect(l.markers.map((m) => [m.number, m.timeMs, m.endMs, m.note])).toEqual([[1, 62, 486, ''], [2, 486, 1249, ''], [3, 1249, 1250, '']]);
    l = await markerNotes({ library: h.dest, recording: 1, set: { marker: 2, text: 'the chair --> "we never got the letter" & <no> minutes' }, emit });
    expect(l.markers[1]!.note).toBe('the chair --> "we never got the letter" & <no> minutes');
    expect(statSync(notesPath(copy)).mode & 0o777).toBe(0o600);
    expect(await readMarkerNotes(copy)).toHaveLength(3);
    await expect(markerNotes({ library: h.dest, recording: 1, set: { marker: 9, text: 'x' }, emit })).rejects.toMatchObject({ code: 'NOTES_INVALID', message: expect.stringContaining('no marker 9') });

    const r = await exportMarkerFiles({ library: h.dest, recording: 1, audacity: true, webvtt: true, emit });
    expect(r.markers).toBe(3);
    expect(readFileSync(r.audacity!, 'utf8')).toBe('0.062562\t0.062562\tMarker 1\n0.486062\t0.486062\tthe chair --> "we never got the letter" & <no> minutes\n1.249937\t1.249937\tMarker 3\n');
    const vtt = readFileSync(r.webvtt!, 'utf8');
    expect(webVttProblems(vtt)).toEqual([]);
    const cues = parseWebVtt(vtt).flatMap((b) => (b.kind === 'cue' ? [[b.id, b.startMs, b.endMs, b.text]] : []));
    expect(cues).toEqual([
      ['marker-1', 62, 486, 'Marker 1'],
      ['marker-2', 486, 1249, 'the chair --&gt; "we never got the letter" &amp; &lt;no&gt; minutes'],
      ['marker-3', 1249, 1250, 'Marker 3'],
    ]);
    for (const f of [r.audacity!, r.webvtt!]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const again = await exportMarkerFiles({ library: h.dest, recording: 1, audacity: true, webvtt: false, emit });
    expect(again.audacity).toBe(r.audacity!.replace('.labels.txt', '-2.labels.txt'));
  });
});
