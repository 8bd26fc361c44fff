/**
 * Nothing sensitive in the output or the logs (issue 18, "Private by default"): the real firmware
 * in the simulator, encrypting to an owner key protected by a passphrase, and the built app's
 * main commands with --json (keys, sync, recipient, list, info, decrypt, verify, export). Neither
 * their stdout and stderr, nor the simulator's own output, nor any text file the app writes in the
 * library (custody log, recorder logs, manifests, pins) holds the owner's secret key, its
 * passphrase, the recording's age file key, or audio bytes (also looked for in every run of hex
 * or base64 in them, decoded). The app has no debug log of its own to turn on: what it writes is
 * what these commands print and the library's files.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Decrypter } from 'age-encryption';
import { afterAll, describe, expect, it } from 'vitest';
import { stopAllProcesses } from '../host/sim/driver.js';
import { fileKeyOffsets } from './support/age-file-key.mjs';
import { parseRecording } from './support/recording.js';
import { CLI, requireSimulator, requireTool, runCli, startSim, stopAll, tempDir } from './support/sim.js';

const SPEED = 10;
const PASSPHRASE = 'plum kettle orbit seventeen';

afterAll(async () => {
  await stopAllProcesses(2000);
  await stopAll();
});

/** Every file under `dir` (recursively). */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The text, and the bytes of every hex or base64 run in it decoded (a key printed in either form). */
function decodedForms(text: string): Buffer {
  const parts = [Buffer.from(text, 'utf8')];
  for (const m of text.matchAll(/[0-9a-fA-F]{32,}/g)) parts.push(Buffer.from(m[0].length % 2 ? m[0].slice(1) : m[0], 'hex'));
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{22,}={0,2}/g)) parts.push(Buffer.from(m[0], 'base64'), Buffer.from(m[0], 'base64url'));
  return Buffer.concat(parts);
}

describe('no secret in the output or the logs', () => {
  it('keys, sync, recipient, list, info, decrypt, verify and export with --json, encrypted, passphrase-protected key', async () => {
    requireSimulator();
    requireTool('age', 'age');
    if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
    const dir = tempDir('rec-logs-');
    const root = join(dir, 'library');
    const dest = join(root, 'Kitchen');
    const outputs: { what: string; text: string }[] = [];
    const cli = async (args: string[], withPassphrase: boolean) => {
      const r = await runCli([...args, '--json'], 180_000, { HOME: dir, ...(withPassphrase ? { RECORDER_PASSPHRASE: PASSPHRASE } : {}) });
      outputs.push({ what: `recorder ${args.join(' ')}`, text: r.stdout + r.stderr });
      return r;
    };
    /** A command that must succeed (the recorder's with a generous answer timeout: the machine may be loaded). */
    const ok = async (args: string[], withPassphrase: boolean) => {
      const r = await cli(args.includes('--port') ? [...args, '--timeout', '10000'] : args, withPassphrase);
      expect(r.code, `recorder ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      return r;
    };

    const made = await cli(['keys', 'new', '--passphrase', '--library', root], true);
    expect(made.code, made.stdout + made.stderr).toBe(0);
    const keyFile = (JSON.parse(made.stdout.trim().split('\n').at(-1)!) as { file: string }).file;
    const d = new Decrypter();
    d.addPassphrase(PASSPHRASE);
    const identity = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(await d.decrypt(readFileSync(keyFile), 'text'))![0];

    const sim = await startSim({ dir, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    await ok(['sync', '--port', sim.link, '--dest', dest], false);
    await ok(['recipient', 'set', '--library', root, '--port', sim.link], false);
    let from = sim.stdout.length;
    sim.send('press');
    await sim.waitFor(/^mic on/, 20_000, from);
    await new Promise((r) => setTimeout(r, 3000 / SPEED));
    from = sim.stdout.length;
    sim.send('stop');
    await sim.waitFor(/^mic off/, 20_000, from);
    // Copied without the passphrase (no unlock each time) until the recorder has sealed it.
    for (let attempt = 1; ; attempt++) {
      const r = await cli(['sync', '--port', sim.link, '--dest', dest], false);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      if (!r.stdout.includes('"code":"SIGNATURE_PENDING"')) break;
      expect(attempt).toBeLessThan(40);
      await new Promise((res) => setTimeout(res, 250));
    }
    await ok(['decrypt', '1', '--dest', dest], true);
    await ok(['sync', '--port', sim.link, '--dest', dest], true);
    await ok(['list', '--port', sim.link, '--dest', dest], true);
    await ok(['info', '--port', sim.link], true);
    await ok(['keys', 'show', '--library', root], true);
    await ok(['verify', dest], true);
    await ok(['export', '1', '--dest', dest, '--zip', join(dir, 'bundle.zip')], true);
    await ok(['export', '1', '--dest', dest, '--to', join(dir, 'bundle')], true);
    await ok(['excerpt', '1', '--from', '0:00', '--to', '0:01', '--dest', dest], true);
    await ok(['markers', '1', '--webvtt', '--audacity', '--dest', dest], true);
    expect(await sim.quit()).toBe(0);
    outputs.push({ what: 'the simulator', text: sim.stdout.join('\n') + sim.stderr.join('') });
    for (const f of walk(root).filter((p) => /\.(log|json|txt)$/.test(p) && !p.includes('/keys/'))) outputs.push({ what: f, text: readFileSync(f, 'utf8') });
    expect(outputs.length).toBeGreaterThan(15);

    const age = readFileSync(join(dest, readdirSync(dest).find((n) => n.endsWith('_1.age'))!));
    const audio = parseRecording(readFileSync(join(dest, readdirSync(dest).find((n) => n.endsWith('_1.wav'))!))).data;
    // 24-byte windows of the audio: the sine repeats, so a window is found wherever audio was printed.
    const windows = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => audio.subarray(Math.floor((audio.length * f) / 2) * 2, Math.floor((audio.length * f) / 2) * 2 + 24));
    const secretForms = [identity, identity.toLowerCase(), PASSPHRASE, 'AGE-SECRET-KEY'];
    for (const o of outputs) {
      const bytes = decodedForms(o.text);
      for (const s of secretForms) expect(o.text.includes(s), `${o.what} holds a secret`).toBe(false);
      expect(fileKeyOffsets(bytes, age), `${o.what} holds the recording's file key`).toEqual([]);
      for (const w of windows) expect(bytes.includes(w), `${o.what} holds audio bytes`).toBe(false);
    }
    // Private files: every folder the app made 0700 and every file 0600 (library, keys, exports).
    const written = [root, join(dir, 'bundle'), join(dir, 'bundle.zip'), ...walk(root), ...walk(join(dir, 'bundle'))];
    const dirs = written.filter((p) => statSync(p).isDirectory()).flatMap((p) => [p, ...readdirSync(p, { recursive: true, encoding: 'utf8' }).map((n) => join(p, n)).filter((x) => statSync(x).isDirectory())]);
    for (const p of written.filter((x) => !statSync(x).isDirectory())) expect((statSync(p).mode & 0o777).toString(8), p).toBe('600');
    for (const p of new Set(dirs)) expect((statSync(p).mode & 0o777).toString(8), p).toBe('700');
    expect(walk(root).some((p) => p.includes('_excerpt_'))).toBe(true);
    // The test would see them: the key file itself holds none in clear, the decrypted WAV holds the audio.
    expect(readFileSync(keyFile).includes(identity)).toBe(false);
    expect(windows.every((w) => audio.includes(w))).toBe(true);
    expect(createHash('sha256').update(age).digest('hex')).toMatch(/^[0-9a-f]{64}$/);
  }, 300_000);
});
