/**
 * Small things a new user saw (issue 15): dates that read differently in `list` and in the app,
 * a port named with --port that the app claimed to have "found", and `verify` calling a file
 * that does not verify "Recording 0 NOT copied" (sync's wording).
 */
import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { RecordingsList } from '../ui/components/RecordingsList.js';
import { formatDateTime } from '../ui/format.js';
import { run, type Io } from './main.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cli-new-user-'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(cleanup);

function io(device?: FakeDevice): { io: Io; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b));
  stderr.on('data', (b: Buffer) => (err += b));
  return {
    io: {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr: stderr as unknown as NodeJS.WriteStream,
      stdin: new PassThrough() as unknown as NodeJS.ReadStream,
      env: {},
      engine: device ? { open: device.opener, timeoutMs: 60, appVersion: 't' } : {},
    },
    out: () => out,
    err: () => err,
  };
}

describe('what a new user reads', () => {
  test('a recording date reads the same in `recorder list` and in the app', async () => {
    const d = new FakeDevice();
    const start = Date.UTC(2025, 2, 14, 9, 30, 0);
    d.addRecording({ startUnixMs: BigInt(start) });
    d.addRecording({ clockSet: false });
    const t = io(d);
    expect(await run(['list', '--port', d.path, '--dest', tempDir()], t.io), t.err()).toBe(0);
    // Local time in both, as the user's computer shows it.
    const shown = formatDateTime(start);
    expect(t.out()).toContain(shown);
    const { lastFrame } = render(<RecordingsList recordings={[{ number: 1, startUnixMs: start, durationMs: 300, size: 10_000, status: 'on-device', stopReason: 'button', missingFromJournal: false }]} />);
    expect(lastFrame()).toContain(shown);
    // A recording made before the clock was set: the app's words, not another form.
    expect(t.out()).toMatch(/^\s+2\s.*date not known/m);
  });

  test('a port named with --port is opened, not "found"', async () => {
    const d = new FakeDevice();
    const t = io(d);
    expect(await run(['info', '--port', '/dev/ttyNOPE'], t.io)).toBe(1);
    expect(t.out() + t.err()).not.toMatch(/found/i);
    expect(t.out()).toMatch(/^Opening \/dev\/ttyNOPE/m);
    // Found by discovery, it is still "found".
    const u = io(d);
    u.io.engine = { ...u.io.engine, listPorts: async () => [{ path: d.path, vendorId: '1209', productId: '7ec0' }] };
    expect(await run(['info'], u.io), u.err()).toBe(0);
    expect(u.out()).toMatch(/^Found recorder port \/dev\/fake-recorder/m);
  });

  test('verify says which file does not verify, in its own words, not sync\'s "NOT copied"', async () => {
    const dir = tempDir();
    const stray = join(dir, 'notes.wav');
    writeFileSync(stray, 'not a recording');
    const t = io();
    expect(await run(['verify', stray], t.io)).toBe(1);
    expect(t.err()).not.toMatch(/Recording 0|NOT copied/);
    expect(t.err()).toMatch(/notes\.wav does not verify: /);
    // A copy in the library that was edited: named by its file, still not "NOT copied".
    const d = new FakeDevice();
    d.addRecording();
    const lib = tempDir();
    expect(await run(['sync', '--port', d.path, '--dest', lib], io(d).io)).toBe(0);
    const { readdirSync, appendFileSync } = await import('node:fs');
    const wav = readdirSync(lib).find((n) => n.endsWith('.wav'))!;
    appendFileSync(join(lib, wav), 'x');
    const v = io();
    expect(await run(['verify', lib], v.io)).toBe(1);
    expect(v.err()).toContain(`${wav} does not verify`);
    expect(v.err()).not.toMatch(/NOT copied/);
  });
});
