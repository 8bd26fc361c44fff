import { mkdtempSync, readFileSync, statSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { markerCues, notesPath, parseVttTimestamp, parseWebVtt, readMarkerNotes, vttTimestamp, webVttProblems, writeMarkerNotes, type MarkerNote } from './notes.js';

const folder = () => mkdtempSync(join(tmpdir(), 'notes-'));

describe('marker notes (WebVTT beside a copy)', () => {
  test('the notes file is named after the copy, .wav or .age', () => {
    expect(notesPath('/lib/2026-01-02_1030_Kitchen_3.wav')).toBe('/lib/2026-01-02_1030_Kitchen_3.notes.vtt');
    expect(notesPath('/lib/2026-01-02_1030_Kitchen_3.age')).toBe('/lib/2026-01-02_1030_Kitchen_3.notes.vtt');
  });

  test('timestamps: written hh:mm:ss.ttt, read with or without hours', () => {
    expect(vttTimestamp(0)).toBe('00:00:00.000');
    expect(vttTimestamp(3_723_004)).toBe('01:02:03.004');
    expect(vttTimestamp(100 * 3_600_000)).toBe('100:00:00.000');
    expect(parseVttTimestamp('01:02:03.004')).toBe(3_723_004);
    expect(parseVttTimestamp('02:03.004')).toBe(123_004);
    for (const bad of ['1:02:03.004', '00:60:00.000', '00:00:00,000', '00:00:00.00', '00:00.0000', '']) expect(parseVttTimestamp(bad)).toBeNull();
  });

  test('round trip: a file written is read back to the same notes, 0600, a conforming WebVTT file', async () => {
    const wav = join(folder(), 'rec_1.wav');
    const notes: MarkerNote[] = [
      { number: 1, startMs: 1500, endMs: 62_000, text: 'She said we missed the appointment' },
      { number: 2, startMs: 62_000, endMs: 62_000, text: '' },
      { number: 3, startMs: 70_250, endMs: 3_700_000, text: 'Two lines:\nthe second one' },
    ];
    await writeMarkerNotes(wav, notes);
    const p = notesPath(wav);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const text = readFileSync(p, 'utf8');
    expect(webVttProblems(text)).toEqual([]);
    expect(text).toContain('marker-2\n00:01:02.000 --> 00:01:02.001\nMarker 2\n');
    expect(text).toContain('marker-1\n00:00:01.500 --> 00:01:02.000\nShe said we missed the appointment\n');
    const back = await readMarkerNotes(wav);
    // a zero-length cue is given 1 ms (WebVTT wants the end after the start); nothing else changes
    expect(back).toEqual([notes[0], { ...notes[1], endMs: 62_001 }, notes[2]]);
    // and writing what was read gives the same file
    await writeMarkerNotes(wav, back);
    expect(readFileSync(p, 'utf8')).toBe(text);
  });

  test('hostile note text cannot break the file: -->, blank lines, markup, control characters, CR', async () => {
    const wav = join(folder(), 'rec_2.wav');
    const hostile = 'a --> b\n\n\nmarker-9\n00:00:00.000 --> 00:00:01.000\n<b>bold</b> & more\r\nWEBVTT\u0000\u0007end';
    await writeMarkerNotes(wav, [
      { number: 1, startMs: 0, endMs: 1000, text: hostile },
      { number: 2, startMs: 1000, endMs: 2000, text: '   \n\n' },
    ]);
    const text = readFileSync(notesPath(wav), 'utf8');
    expect(webVttProblems(text)).toEqual([]);
    const cues = parseWebVtt(text).filter((b) => b.kind === 'cue');
    expect(cues.map((c) => c.kind === 'cue' && c.id)).toEqual(['marker-1', 'marker-2']);
    const back = await readMarkerNotes(wav);
    // blank lines are dropped (a blank line ends a WebVTT cue); everything else comes back
    expect(back[0]!.text).toBe('a --> b\nmarker-9\n00:00:00.000 --> 00:00:01.000\n<b>bold</b> & more\nWEBVTTend');
    expect(back[1]!.text).toBe('');
    expect(text).toContain('\nMarker 2\n');
  });

  test('a hand-edited file: BOM, CRLF, no hours, settings, tags, references, comments and extra cues, which a rewrite keeps', async () => {
    const dir = folder();
    const wav = join(dir, 'rec_3.age');
    const hand = [
      '\ufeffWEBVTT - notes by the advocate',
      '',
      'NOTE checked against the minutes',
      '',
      'marker-2',
      '01:10.000 --> 01:20.000 align:start',
      '<v Mum>we were never told &amp; nobody wrote&#33;',
      '',
      '',
      'marker-1',
      '00:00:05.000 --> 00:01:10.000',
      'Chair opens the meeting &lt;late&gt;',
      '',
      '00:00:30.000 --> 00:00:40.000',
      'a translator\'s own cue',
      '',
    ].join('\r\n');
    writeFileSync(notesPath(wav), hand);
    expect(await readMarkerNotes(wav)).toEqual([
      { number: 1, startMs: 5000, endMs: 70_000, text: 'Chair opens the meeting <late>' },
      { number: 2, startMs: 70_000, endMs: 80_000, text: 'Mum: we were never told & nobody wrote!' },
    ]);
    await writeMarkerNotes(wav, [
      { number: 1, startMs: 5000, endMs: 70_000, text: 'edited' },
      { number: 2, startMs: 70_000, endMs: 80_000, text: 'Mum: we were never told' },
    ]);
    const text = readFileSync(notesPath(wav), 'utf8');
    expect(webVttProblems(text)).toEqual([]);
    expect(text).toContain('NOTE checked against the minutes');
    // the hand-made cue is kept, in time order between the two markers
    const ids = parseWebVtt(text).filter((b) => b.kind === 'cue').map((b) => (b.kind === 'cue' ? (b.id ?? b.text) : ''));
    expect(ids).toEqual(['marker-1', "a translator's own cue", 'marker-2']);
    expect((await readMarkerNotes(wav)).map((n) => n.text)).toEqual(['edited', 'Mum: we were never told']);
  });

  test('a missing file is no notes; a file that is not WebVTT is refused, not overwritten', async () => {
    const dir = folder();
    expect(await readMarkerNotes(join(dir, 'none.wav'))).toEqual([]);
    const wav = join(dir, 'rec_4.wav');
    writeFileSync(notesPath(wav), 'my shopping list\n');
    await expect(readMarkerNotes(wav)).rejects.toMatchObject({ code: 'NOTES_INVALID' });
    await expect(writeMarkerNotes(wav, [{ number: 1, startMs: 0, endMs: 10, text: 'x' }])).rejects.toMatchObject({ code: 'NOTES_INVALID' });
    expect(readFileSync(notesPath(wav), 'utf8')).toBe('my shopping list\n');
    writeFileSync(notesPath(wav), 'WEBVTT\n\nmarker-1\n00:00:01.000 -> 00:00:02.000\nx\n');
    await expect(readMarkerNotes(wav)).rejects.toMatchObject({ code: 'NOTES_INVALID', message: expect.stringContaining('line 4') });
    writeFileSync(notesPath(wav), 'WEBVTT\n\nmarker-1\n00:00:01.000 --> 00:00:02.000\nx\n\nmarker-1\n00:00:03.000 --> 00:00:04.000\ny\n');
    await expect(readMarkerNotes(wav)).rejects.toMatchObject({ code: 'NOTES_INVALID', message: expect.stringContaining('two cues') });
  });

  test('a notes file that is a symbolic link is not written through', async () => {
    const dir = folder();
    const wav = join(dir, 'rec_5.wav');
    writeFileSync(join(dir, 'target.vtt'), 'WEBVTT\n');
    symlinkSync(join(dir, 'target.vtt'), notesPath(wav));
    await expect(writeMarkerNotes(wav, [{ number: 1, startMs: 0, endMs: 10, text: 'x' }])).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    expect(readFileSync(join(dir, 'target.vtt'), 'utf8')).toBe('WEBVTT\n');
  });

  test('the conformance check finds what the W3C rules forbid', () => {
    expect(webVttProblems('WEBVT\n')).toEqual([expect.stringContaining('does not start with "WEBVTT"')]);
    expect(webVttProblems('WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n')).toEqual([expect.stringContaining('no later than it starts')]);
    expect(webVttProblems('WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nx\n\n00:00:01.000 --> 00:00:04.000\ny\n')).toEqual([expect.stringContaining('before the cue above')]);
    expect(webVttProblems('WEBVTT\n\na\n00:00:01.000 --> 00:00:02.000\nx & y\n')).toEqual([expect.stringContaining('bare "&"')]);
    expect(webVttProblems('WEBVTT\n\na\n00:00:01.000 --> 00:00:02.000\n<script>\n')).toEqual([expect.stringContaining('not a WebVTT tag')]);
    expect(webVttProblems('WEBVTT\n\na\n00:00:01.000 --> 00:00:02.000\nx\n\na\n00:00:03.000 --> 00:00:04.000\ny\n')).toEqual([expect.stringContaining('used twice')]);
    expect(webVttProblems('WEBVTT\n\njust words\n')).toEqual([expect.stringContaining('neither a cue')]);
  });

  test('markerCues: each marker to the next, the last to the end, notes attached', () => {
    expect(markerCues([{ number: 2, timeMs: 9000 }, { number: 1, timeMs: 1000 }], 20_000, [{ number: 2, startMs: 0, endMs: 0, text: 'hi' }])).toEqual([
      { number: 1, startMs: 1000, endMs: 9000, text: '' },
      { number: 2, startMs: 9000, endMs: 20_000, text: 'hi' },
    ]);
  });
});
