import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { cliIo } from '../engine/testing/cli-io.js';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { signingDevice } from '../engine/testing/signing-device.js';
import { run } from './main.js';
import { parseArgs } from './args.js';


describe('recorder CLI', () => {
  test('parses commands, flags and values', () => {
    const p = parseArgs(['sync', '--port', '/dev/x', '--dest=/d', '--delete-after-verify', '--json']);
    expect(p.command).toBe('sync');
    expect(p.flags.get('port')).toBe('/dev/x');
    expect(p.flags.get('dest')).toBe('/d');
    expect(p.flags.get('delete-after-verify')).toBe(true);
  });

  test('export: finds the only library under ~/Recordings holding the recording; says which when several do; usage errors exit 2', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const home = mkdtempSync(join(tmpdir(), 'cli-home-'));
    const lib = join(home, 'Recordings', 'Kitchen');
    expect(await run(['sync', '--port', d.path, '--dest', lib], cliIo(d).io)).toBe(0);
    const t = cliIo();
    t.io.env = { HOME: home };
    expect(await run(['export', '1', '--to', join(home, 'b')], t.io), t.err()).toBe(0);
    expect(t.out()).toMatch(/Exported recording\(s\) 1 to .*b: open report\.html/);
    expect(readdirSync(join(home, 'b'))).toContain('VERIFY.txt');
    expect(await run(['sync', '--port', d.path, '--dest', join(home, 'Recordings', 'Copy')], cliIo(d).io)).toBe(0);
    const two = cliIo();
    two.io.env = { HOME: home };
    expect(await run(['export', '1', '--to', join(home, 'c')], two.io)).toBe(1);
    expect(two.err()).toMatch(/Recording\(s\) 1 are in several libraries .* Say which library folder with --dest/);
    for (const args of [['export'], ['export', 'x1', '--to', 'z'], ['export', '1'], ['export', '1', '--to', 'a', '--zip', 'b']]) {
      const u = cliIo();
      expect(await run(args, u.io), args.join(' ')).toBe(2);
      expect(u.err()).toMatch(/^Usage: recorder export/m);
    }
  });

  test('sync --json prints one JSON object per line ending with the result', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    const t = cliIo(d);
    const code = await run(['sync', '--port', d.path, '--dest', dest, '--json'], t.io);
    expect(code).toBe(0);
    const lines = t.out().trim().split('\n').map((l) => JSON.parse(l) as { type: string; ok?: boolean });
    expect(lines[0]!.type).toBe('device.found');
    expect(lines.at(-2)!.type).toBe('sync.summary');
    expect(lines.at(-1)).toMatchObject({ type: 'result', command: 'sync', ok: true });
    expect(readdirSync(dest).filter((n) => n.endsWith('.wav'))).toHaveLength(1);
  });

  test('plain output is one line per event; verify exits 1 on a missing file', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    const t = cliIo(d);
    expect(await run(['sync', '--port', d.path, '--dest', dest], t.io)).toBe(0);
    expect(t.out()).toMatch(/copied and verified/);
    expect(t.out()).not.toMatch(/^\{/m);
    const v = cliIo();
    expect(await run(['verify', dest], v.io)).toBe(0);
    const bad = cliIo();
    expect(await run(['verify', join(dest, 'missing.wav')], bad.io)).toBe(1);
  });

  test('list says which recordings are in the library and how many are still to copy', async () => {
    const d = new FakeDevice();
    d.addRecording();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    const before = cliIo(d);
    expect(await run(['list', '--port', d.path, '--dest', dest], before.io)).toBe(0);
    expect(before.out()).toContain('2 recording(s) on the recorder: 2 to copy, 0 already in the library.');
    expect(before.out()).toContain(`2 to copy, 0 verified in the library. Library: ${dest}`);
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    d.addRecording();
    const after = cliIo(d);
    expect(await run(['list', '--port', d.path, '--dest', dest], after.io)).toBe(0);
    const rows = after.out().split('\n').filter((l) => /^ +\d+ /.test(l));
    expect(rows.map((l) => l.trim().split(/\s{2,}/).at(-1))).toEqual(['in library', 'in library', 'TO COPY']);
    expect(after.out()).toContain(`1 to copy, 2 verified in the library. Library: ${dest}`);
    // A copy that no longer verifies is not counted as safe: it is to copy again.
    const wav = join(dest, readdirSync(dest).filter((n) => n.endsWith('.wav')).sort()[0]!);
    const b = readFileSync(wav);
    b[b.length - 200]! ^= 0xff;
    writeFileSync(wav, b);
    const json = cliIo(d);
    expect(await run(['list', '--port', d.path, '--dest', dest, '--json'], json.io)).toBe(0);
    const lines = json.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.type === 'warning')).toMatchObject({ code: 'HASH_MISMATCH' });
    expect(lines.at(-1)).toMatchObject({ type: 'result', command: 'list', ok: true, destination: dest, toCopy: [1, 3], alreadyInLibrary: [2], inProgress: [] });
  });

  test('format refuses without a terminal or --yes; with --yes it shows the device first', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    const t = cliIo(d);
    expect(await run(['format', '--port', d.path, '--dest', dest], t.io)).toBe(2);
    expect(d.recordings.size).toBe(1);
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    const y = cliIo(d);
    expect(await run(['format', '--port', d.path, '--dest', dest, '--yes'], y.io)).toBe(0);
    expect(y.err()).toMatch(/ERASE every recording on the card of recorder "Kitchen" \(id 123456789abcdef0/);
    expect(d.recordings.size).toBe(0);
  });

  test('format and wipe refuse while a recording has no verified copy, naming it; --discard-unsynced must name exactly those', async () => {
    const d = new FakeDevice();
    d.addRecording();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    for (const command of ['format', 'wipe']) {
      const r = cliIo(d);
      expect(await run([command, '--port', d.path, '--dest', dest, '--yes'], r.io)).toBe(1);
      expect(r.err()).toMatch(new RegExp(`2 recording\\(s\\) on the recorder have no verified copy in this library, so the ${command} was refused and nothing was erased: recording 1 \\(.*\\); recording 2 \\(`));
      expect(r.err()).toMatch(new RegExp(`--discard-unsynced 1,2`));
      const wrong = cliIo(d);
      expect(await run([command, '--port', d.path, '--dest', dest, '--yes', '--discard-unsynced', '2'], wrong.io)).toBe(1);
      expect(wrong.err()).toMatch(/--discard-unsynced names 2, but the recordings without a verified copy in this library are: recording 1/);
      expect(d.recordings.size).toBe(2);
    }
    expect(await run(['wipe', '--port', d.path, '--dest', dest, '--yes', '--discard-unsynced', '1,x'], cliIo(d).io)).toBe(2);
    // Sync one: the other alone must be named.
    d.addRecording();
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    d.addRecording();
    const one = cliIo(d);
    expect(await run(['format', '--port', d.path, '--dest', dest, '--yes', '--json'], one.io)).toBe(1);
    const last = JSON.parse(one.out().trim().split('\n').at(-1)!) as { code: string; message: string };
    expect(last).toMatchObject({ code: 'UNSYNCED' });
    expect(last.message).toMatch(/^1 recording\(s\) .*: recording 4 \(/);
    expect(await run(['format', '--port', d.path, '--dest', dest, '--yes', '--discard-unsynced', '4'], cliIo(d).io)).toBe(0);
    expect(d.recordings.size).toBe(0);
  });

  test('a wipe whose card came out: in words, exit 1, no certificate; WIPE_UNFINISHED only once the recorder had begun', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    const certificates = () => readdirSync(dest).filter((n) => n.startsWith('wipe-'));
    d.faults.wipeNoCard = 'at-start';
    const before = cliIo(d);
    expect(await run(['wipe', '--port', d.path, '--dest', dest, '--yes'], before.io)).toBe(1);
    expect(before.err()).toMatch(/The recorder refused WIPE: no memory card in the device\./);
    d.faults.wipeNoCard = 'mid-wipe';
    const mid = cliIo(d);
    expect(await run(['wipe', '--port', d.path, '--dest', dest, '--yes', '--json'], mid.io)).toBe(1);
    const last = JSON.parse(mid.out().trim().split('\n').at(-1)!) as { code: string; message: string; action: string };
    expect(last).toMatchObject({ code: 'WIPE_UNFINISHED' });
    expect(last.message).toBe("The wipe began but did not finish: the recorder's memory card was removed while it was being erased. The recorder's recording keys are already destroyed; the card is part erased. No wipe certificate was written.");
    expect(last.action).toMatch(/^Put the memory card back in the recorder \(keep it connected\): it finishes the wipe by itself\. Then run `recorder wipe` again/);
    expect(certificates()).toEqual([]);
  });

  test('wipe writes a certificate that verify-wipe checks against the pinned key', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    const w = cliIo(d);
    expect(await run(['wipe', '--port', d.path, '--dest', dest, '--yes'], w.io)).toBe(0);
    expect(w.err()).toMatch(/This will WIPE recorder "Kitchen" \(id 123456789abcdef0, simulator\): 1 recording\(s\) erased/);
    expect(w.out()).toMatch(/Recorder Kitchen was wiped: 131072 blocks \(67 MB\) by zero-filled \(simulated card\), its recording keys destroyed, journal epoch 2 started\. Certificate: /);
    expect(d.recordings.size).toBe(0);
    const file = readdirSync(dest).find((n) => /^wipe-123456789abcdef0-\d{8}T\d{6}Z\.json$/.test(n));
    expect(file).toBeDefined();
    const path = join(dest, file!);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const cert = JSON.parse(readFileSync(path, 'utf8')) as { keyId: string; epoch: number; method: string; pinnedKey: boolean; journal: string[] };
    expect(cert).toMatchObject({ epoch: 2, method: 'zero-fill', pinnedKey: true, recordingsBefore: [1], discardedUnsynced: [] });
    const v = cliIo();
    expect(await run(['verify-wipe', path], v.io)).toBe(0);
    expect(v.out()).toMatch(/The wipe certificate of recorder Kitchen verifies: signed by its pinned key/);
    // A certificate edited afterwards (another block count), or checked where another key is pinned, fails.
    const edited = { ...cert, blocksErased: 1 };
    writeFileSync(path, JSON.stringify(edited));
    const bad = cliIo();
    expect(await run(['verify-wipe', path, '--json'], bad.io)).toBe(1);
    expect(bad.out()).toMatch(/the blocks or the method stated differ/);
    writeFileSync(path, JSON.stringify(cert));
    const other = mkdtempSync(join(tmpdir(), 'cli-'));
    const o = cliIo();
    expect(await run(['verify-wipe', path, '--dest', other], o.io)).toBe(1);
    expect(o.err()).toMatch(/this library holds no pinned key for the recorder/);
  });

  test('a wipe in a library that never pinned the recorder warns, and its certificate verifies only where the key is pinned', async () => {
    const d = new FakeDevice();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    const w = cliIo(d);
    expect(await run(['wipe', '--port', d.path, '--dest', dest, '--yes', '--json'], w.io)).toBe(0);
    const events = w.out().trim().split('\n').map((l) => JSON.parse(l) as { type: string; code?: string; certificatePath?: string });
    expect(events.find((e) => e.type === 'warning')).toMatchObject({ code: 'NOT_PINNED' });
    const done = events.find((e) => e.type === 'wipe.done')!;
    expect(JSON.parse(readFileSync(done.certificatePath!, 'utf8'))).toMatchObject({ pinnedKey: false, recordingsBefore: [] });
    expect(await run(['verify-wipe', done.certificatePath!], cliIo().io)).toBe(1);
  });

  test('usage errors exit 2 and --help exits 0', async () => {
    expect(await run(['settings', '--rate', '44100'], cliIo().io)).toBe(2);
    expect(await run(['record', 'pause'], cliIo().io)).toBe(2);
    expect(await run(['frobnicate'], cliIo().io)).toBe(2);
    const h = cliIo();
    expect(await run(['sync', '--help'], h.io)).toBe(0);
    expect(h.out()).toMatch(/--delete-after-verify/);
  });

  test('unknown options and missing values are usage errors: a clear message and exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['sync', '--frobnicate'], /^unknown option --frobnicate\nUsage: recorder sync /],
      [['list', '--window', '3'], /^unknown option --window\nUsage: recorder list /],
      [['info', '-x'], /^unknown option -x\nUsage: recorder info /],
      [['sync', '--port'], /^--port needs a value\nUsage: recorder sync /],
      [['info', '--port', '--json'], /^--port needs a value\n/],
      [['sync', '--json=yes'], /^--json takes no value\n/],
      [['--dest'], /^--dest needs a value\nUsage: recorder <command>/],
    ];
    for (const [argv, message] of cases) {
      const t = cliIo();
      expect(await run(argv, t.io), argv.join(' ')).toBe(2);
      expect(t.err(), argv.join(' ')).toMatch(message);
      expect(t.out()).toBe('');
    }
  });

  test('-h, help COMMAND, --version and "--" before positional arguments', async () => {
    const h = cliIo();
    expect(await run(['label', '-h'], h.io)).toBe(0);
    expect(h.out()).toMatch(/^Usage: recorder label NAME/);
    const help = cliIo();
    expect(await run(['help', 'verify'], help.io)).toBe(0);
    expect(help.out()).toMatch(/^Usage: recorder verify PATH/);
    const v = cliIo();
    expect(await run(['--version'], v.io)).toBe(0);
    expect(v.out()).toMatch(/^\d+\.\d+\.\d+/);
    expect(parseArgs(['verify', '--json', '--', '--odd-name.wav']).positional).toEqual(['--odd-name.wav']);
    // sim's options are the simulator's: not judged by the app's parser.
    const written = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await run(['sim', '--quiet', '--help'], cliIo().io)).toBe(0);
      expect(String(written.mock.calls[0]?.[0])).toMatch(/^Usage: recorder sim /);
    } finally {
      written.mockRestore();
    }
    expect(parseArgs(['-h']).flags.get('help')).toBe(true);
  });

  test('device errors exit 1 with the plain message', async () => {
    const t = cliIo();
    t.io.engine = { open: async () => Promise.reject(Object.assign(new Error('Error: Cannot lock port'), {})) };
    expect(await run(['info', '--port', '/dev/x'], t.io)).toBe(1);
    expect(t.err()).toMatch(/already in use/);
  });
  test('a recorder with another key: sync exits 1 and says what to do; devices re-pin then lets it sync', async () => {
    const d = new FakeDevice();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    d.signer = signingDevice();
    d.addRecording();
    const refused = cliIo(d);
    expect(await run(['sync', '--port', d.path, '--dest', dest], refused.io)).toBe(1);
    expect(refused.err()).toMatch(/another key|pinned key/);
    expect(refused.err()).toMatch(/recorder devices re-pin 123456789abcdef0 --reason/);
    expect(readdirSync(dest).filter((n) => n.endsWith('.wav'))).toHaveLength(1);
    const noReason = cliIo();
    expect(await run(['devices', 're-pin', '123456789abcdef0', '--dest', dest], noReason.io)).toBe(2);
    expect(noReason.err()).toMatch(/--reason is required/);
    const rp = cliIo();
    expect(await run(['devices', 're-pin', '123456789abcdef0', '--reason', 'repaired', '--dest', dest, '--json'], rp.io)).toBe(0);
    expect(JSON.parse(rp.out().trim().split('\n').at(-1)!)).toMatchObject({ type: 'result', command: 'devices', ok: true });
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    expect(readdirSync(dest).filter((n) => n.endsWith('.wav'))).toHaveLength(2);
  });

  test('verify --json gives one code per failure; plain output says what it means and what to do', async () => {
    const d = new FakeDevice();
    d.addRecording();
    d.addRecording();
    const dest = mkdtempSync(join(tmpdir(), 'cli-'));
    expect(await run(['sync', '--port', d.path, '--dest', dest], cliIo(d).io)).toBe(0);
    const folder = readdirSync(dest).find((n) => n.endsWith('_1.evidence'))!;
    const sig = join(dest, folder, 'REC00001.SIG');
    const bytes = readFileSync(sig);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 1; // inside the signed statement
    writeFileSync(sig, bytes);
    const j = cliIo();
    expect(await run(['verify', dest, '--json'], j.io)).toBe(1);
    const result = JSON.parse(j.out().trim().split('\n').at(-1)!) as { ok: boolean; results: { ok: boolean; failures: { code: string }[] }[] };
    expect(result.ok).toBe(false);
    expect(result.results.flatMap((r) => r.failures.map((f) => f.code))).toContain('SIGNATURE_INVALID');
    const plain = cliIo();
    expect(await run(['verify', dest], plain.io)).toBe(1);
    expect(plain.err()).toMatch(/changed after the recorder signed them/);
    expect(plain.err()).toMatch(/ask a solicitor or the project for advice/);
  });
});

// Compile-time check: the engine is what the interactive UI expects (host/ui/engine-port.ts).
import type { EnginePort } from '../ui/engine-port.js';
import { createEngine } from '../engine/engine.js';
export const _engineFitsUi: (e: ReturnType<typeof createEngine>) => EnginePort = (e) => e;
