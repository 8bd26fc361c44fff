/** `recorder mark`, `excerpt`, `markers` and `notes` (issue 15) against the fake recorder. */
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cliIo } from '../engine/testing/cli-io.js';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { run } from './main.js';


/** A home with one library (~/Recordings/Kitchen) holding recording 1 with three markers. */
async function home() {
  const d = new FakeDevice();
  d.addRecording({ samples: 48_000, markers: [1001, 16_000, 40_000] });
  const h = mkdtempSync(join(tmpdir(), 'cli-markers-'));
  const lib = join(h, 'Recordings', 'Kitchen');
  expect(await run(['sync', '--port', d.path, '--dest', lib], cliIo(d).io)).toBe(0);
  return { d, home: h, lib };
}

describe('recorder mark', () => {
  test('while recording: says the marker, its recording and time; --json gives them', async () => {
    const d = new FakeDevice();
    expect(await run(['record', 'start', '--port', d.path], cliIo(d).io)).toBe(0);
    const t = cliIo(d);
    expect(await run(['mark', '--port', d.path], t.io), t.err()).toBe(0);
    expect(t.out()).toMatch(/^Marker 1 dropped in recording 1 at 0:00:0\d\.\d{3} \(sample \d+\)\.$/m);
    const j = cliIo(d);
    expect(await run(['mark', '--port', d.path, '--json'], j.io)).toBe(0);
    expect(j.json().at(-1)).toMatchObject({ type: 'result', command: 'mark', ok: true, number: 1, marker: 2, sampleRate: 16_000 });
  });

  test('not recording: a clear message and exit 1, with --json an error code', async () => {
    const d = new FakeDevice();
    const t = cliIo(d);
    expect(await run(['mark', '--port', d.path], t.io)).toBe(1);
    expect(t.err()).toMatch(/The recorder is not recording, so there is nothing to mark\..*Start a recording first/);
    const j = cliIo(d);
    expect(await run(['mark', '--port', d.path, '--json'], j.io)).toBe(1);
    expect(j.json().at(-1)).toMatchObject({ type: 'result', command: 'mark', ok: false, code: 'DEVICE_ERROR' });
    expect(await run(['mark', 'now', '--port', d.path], cliIo(d).io)).toBe(2);
  });
});

describe('recorder excerpt, markers, notes', () => {
  test('excerpt from marker 1 to the next: found under ~/Recordings, written to exports/, plain and --json', async () => {
    const { home: h, lib } = await home();
    const t = cliIo(undefined, { HOME: h });
    expect(await run(['excerpt', '1', '--from-marker', '1'], t.io), t.err()).toBe(0);
    expect(t.out()).toMatch(/Excerpt of recording 1 \(0:00:00\.062 to 0:00:01\.000, 14999 samples from sample 1001\) written to .*exports.*_excerpt_0-00-00\.062_to_0-00-01\.000\.wav/);
    const j = cliIo(undefined, { HOME: h });
    expect(await run(['excerpt', '1', '--from', '0:00.5', '--to-marker', '3', '--json'], j.io), j.err()).toBe(0);
    const r = j.json().at(-1) as { ok: boolean; wav: string; note: string; provenance: { excerpt: { firstSample: number; sampleCount: number } } };
    expect(r.ok).toBe(true);
    expect(r.provenance.excerpt).toMatchObject({ firstSample: 8000, sampleCount: 32_000 });
    expect(r.wav.startsWith(join(lib, 'exports'))).toBe(true);
    expect(readFileSync(r.note, 'utf8')).toContain('sox ');
    // refusals in words, and usage errors
    const past = cliIo(undefined, { HOME: h });
    expect(await run(['excerpt', '1', '--to', '4'], past.io)).toBe(1);
    expect(past.err()).toMatch(/--to 0:00:04\.000 is past the end of the recording, which lasts 0:00:03\.000/);
    const none = cliIo(undefined, { HOME: h });
    expect(await run(['excerpt', '9'], none.io)).toBe(1);
    expect(none.err()).toMatch(/No library under .* holds recording\(s\) 9/);
    for (const args of [['excerpt'], ['excerpt', '1', '--from', 'soon'], ['excerpt', '1', '--from', '1', '--from-marker', '1'], ['excerpt', '1', '--to-marker', '0'], ['excerpt', '1', '--audacity']]) {
      const u = cliIo(undefined, { HOME: h });
      expect(await run(args, u.io), args.join(' ')).toBe(2);
      expect(u.err()).toMatch(/^Usage: recorder excerpt/m);
    }
  });

  test('markers lists, exports Audacity labels and WebVTT; notes writes a note', async () => {
    const { home: h, lib } = await home();
    const n = cliIo(undefined, { HOME: h });
    expect(await run(['notes', '1', '--marker', '2', '--text', 'the letter was never sent'], n.io), n.err()).toBe(0);
    expect(n.out()).toContain('Note of marker 2 of recording 1 written');
    expect(n.out()).toMatch(/^ {4}2 {2}0:00:01\.000 {2}sample 16000 {7}the letter was never sent$/m);
    const l = cliIo(undefined, { HOME: h });
    expect(await run(['markers', '1', '--dest', lib], l.io), l.err()).toBe(0);
    expect(l.out()).toMatch(/^Recording 1 \(.*_Kitchen_1\.wav\): 3 marker\(s\)\.$/m);
    expect(l.out()).toMatch(/^ {4}1 {2}0:00:00\.062 {2}sample 1001 .*\(no note\)$/m);
    const out = join(h, 'for-the-advocate');
    const x = cliIo(undefined, { HOME: h });
    expect(await run(['markers', '1', '--audacity', '--webvtt', '--out', out, '--json'], x.io), x.err()).toBe(0);
    const r = x.json().at(-1) as { audacity: string; webvtt: string; markers: number };
    expect(r.markers).toBe(3);
    expect(readFileSync(r.audacity, 'utf8')).toBe('0.062562\t0.062562\tMarker 1\n1.000000\t1.000000\tthe letter was never sent\n2.500000\t2.500000\tMarker 3\n');
    expect(readFileSync(r.webvtt, 'utf8')).toContain('marker-2\n00:00:01.000 --> 00:00:02.500\nthe letter was never sent\n');
    const bad = cliIo(undefined, { HOME: h });
    expect(await run(['notes', '1', '--marker', '2'], bad.io)).toBe(2);
    expect(existsSync(join(lib, 'exports'))).toBe(false);
  });

  test('--help of each command names every option it accepts', async () => {
    const options: Record<string, string[]> = {
      mark: ['--port', '--json'],
      excerpt: ['--from', '--to', '--from-marker', '--to-marker', '--out', '--dest', '--json'],
      markers: ['--audacity', '--webvtt', '--out', '--dest', '--json'],
      notes: ['--marker', '--text', '--dest', '--json'],
    };
    for (const [command, opts] of Object.entries(options)) {
      const t = cliIo();
      expect(await run([command, '--help'], t.io)).toBe(0);
      for (const o of opts) expect(t.out(), `${command} ${o}`).toContain(o);
    }
    const t = cliIo();
    await run(['--help'], t.io);
    for (const c of Object.keys(options)) expect(t.out()).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
  });
});
