/**
 * The owner key protected by a passphrase (issue 18): `keys new --passphrase` writes the identity
 * encrypted with age's scrypt recipient (the stock `age -d` opens it with the passphrase), sync and
 * decrypt open it with the passphrase from RECORDER_PASSPHRASE or --passphrase-file (a terminal
 * would be asked), a wrong passphrase stops with nothing written, and none given says how to give
 * one. The passphrase and the secret key never appear in the output.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { recipientBytes } from '../engine/privacy/recipient.js';
import { cliIo } from '../engine/testing/cli-io.js';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { run } from './main.js';

const PASSPHRASE = 'correct horse battery staple';

/** The CLI with a low scrypt work factor (age's 18 takes seconds in JavaScript; files say theirs). */
async function cli(args: string[], o: { device?: FakeDevice; env?: NodeJS.ProcessEnv } = {}) {
  const t = cliIo(o.device, o.env ?? {});
  t.io.engine = { ...t.io.engine, scryptWorkFactor: 10 };
  const code = await run(args, t.io);
  return { code, out: t.out(), err: t.err() };
}

/** The stock `age -d` on a pseudo-terminal (it reads a passphrase only from one), typing `passphrase`. */
function stockAgeDecrypt(file: string, passphrase: string): Promise<{ code: number | null; plain: string }> {
  const out = join(mkdtempSync(join(tmpdir(), 'age-d-')), 'plain.txt');
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-qec', `age -d -o ${out} ${file}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error('age -d did not finish in 30 s'));
    }, 30_000);
    let seen = '';
    let typed = false;
    p.stdout.on('data', (b: Buffer) => {
      seen += b.toString();
      if (!typed && /passphrase/i.test(seen)) {
        typed = true;
        p.stdin.write(`${passphrase}\r`);
      }
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, plain: existsSync(out) ? readFileSync(out, 'utf8') : '' });
    });
  });
}

/** A library with a protected owner key, and a recorder folder whose recorder encrypts to it. */
async function protectedLibrary() {
  const lib = mkdtempSync(join(tmpdir(), 'cli-pass-'));
  const made = await cli(['keys', 'new', '--passphrase', '--library', lib, '--json'], { env: { RECORDER_PASSPHRASE: PASSPHRASE } });
  expect(made.code).toBe(0);
  const result = JSON.parse(made.out.trim().split('\n').at(-1)!) as { recipient: string; file: string; passphrase: boolean };
  const device = new FakeDevice();
  device.recipient = recipientBytes(result.recipient);
  const dest = join(lib, 'Kitchen');
  mkdirSync(dest);
  return { lib, dest, device, made, ...result };
}

const filesOf = (dir: string) => readdirSync(dir).sort();

describe('an owner key protected by a passphrase', () => {
  test('keys new --passphrase: an age file only the passphrase opens (the stock age -d too), 0600, nothing secret printed', async () => {
    const k = await protectedLibrary();
    expect(k.file).toMatch(/keys\/owner-[0-9a-z]+\.age$/);
    expect(k.passphrase).toBe(true);
    expect(statSync(k.file).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(k.file);
    expect(bytes.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(bytes.toString('latin1')).toMatch(/-> scrypt \S+ 10\n/);
    expect(bytes.toString('latin1')).not.toContain('AGE-SECRET-KEY');
    for (const s of [k.made.out, k.made.err]) {
      expect(s).not.toContain(PASSPHRASE);
      expect(s).not.toContain('AGE-SECRET-KEY');
    }
    expect(k.made.out).toMatch(/if either is lost, the recordings are lost for good/);
    const stock = await stockAgeDecrypt(k.file, PASSPHRASE);
    expect(stock.code).toBe(0);
    expect(stock.plain).toContain(`# public key: ${k.recipient}\nAGE-SECRET-KEY-1`);
    expect((await stockAgeDecrypt(k.file, 'not it')).code).not.toBe(0);
    const shown = await cli(['keys', 'show', '--library', k.lib, '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out.trim().split('\n').at(-1)!).keys).toEqual([expect.objectContaining({ recipient: k.recipient, usable: true, passphrase: true })]);
  });

  test('no passphrase to be had (no terminal): keys new --passphrase makes nothing and says how to give one', async () => {
    const lib = mkdtempSync(join(tmpdir(), 'cli-pass-'));
    const r = await cli(['keys', 'new', '--passphrase', '--library', lib]);
    expect(r.code).toBe(1);
    expect(r.err + r.out).toMatch(/none was given; no key was made[\s\S]*RECORDER_PASSPHRASE[\s\S]*--passphrase-file FILE/);
    expect(existsSync(join(lib, 'keys')) ? readdirSync(join(lib, 'keys')) : []).toEqual([]);
  });

  test('sync without the passphrase copies and verifies, says how to give it; decrypt: wrong passphrase writes nothing, the right one from a file decrypts', async () => {
    const k = await protectedLibrary();
    k.device.addRecording({ samples: 20_000 });
    const synced = await cli(['sync', '--port', k.device.path, '--dest', k.dest], { device: k.device });
    expect(synced.code).toBe(0);
    expect(synced.out + synced.err).toMatch(/protected by a passphrase, and none was given[\s\S]*RECORDER_PASSPHRASE/);
    const before = filesOf(k.dest);
    expect(before.filter((n) => n.endsWith('.age'))).toHaveLength(1);
    expect(before.filter((n) => n.endsWith('.wav'))).toHaveLength(0);

    const wrong = await cli(['decrypt', '1', '--dest', k.dest], { env: { RECORDER_PASSPHRASE: 'wrong horse' } });
    expect(wrong.code).toBe(1);
    expect(wrong.err + wrong.out).toMatch(/passphrase for the owner key file .*owner-.*\.age is wrong; nothing was decrypted or written/);
    expect(wrong.err + wrong.out).not.toContain('wrong horse');
    expect(filesOf(k.dest)).toEqual(before);

    const none = await cli(['decrypt', '1', '--dest', k.dest]);
    expect(none.code).toBe(1);
    expect(none.err + none.out).toMatch(/protected by a passphrase, and none was given[\s\S]*RECORDER_PASSPHRASE[\s\S]*--passphrase-file FILE/);
    expect(filesOf(k.dest)).toEqual(before);

    const file = join(mkdtempSync(join(tmpdir(), 'pp-')), 'pass.txt');
    writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    const right = await cli(['decrypt', '1', '--dest', k.dest, '--passphrase-file', file, '--json']);
    expect(right.code).toBe(0);
    expect(right.out).not.toContain(PASSPHRASE);
    expect(right.out).not.toContain('AGE-SECRET-KEY');
    expect(filesOf(k.dest).filter((n) => n.endsWith('.wav'))).toHaveLength(1);
  });

  test('sync with RECORDER_PASSPHRASE decrypts as it copies', async () => {
    const k = await protectedLibrary();
    k.device.addRecording({ samples: 20_000 });
    const r = await cli(['sync', '--port', k.device.path, '--dest', k.dest, '--json'], { device: k.device, env: { RECORDER_PASSPHRASE: PASSPHRASE } });
    expect(r.code).toBe(0);
    expect(filesOf(k.dest).filter((n) => n.endsWith('.wav'))).toHaveLength(1);
    expect(r.out + r.err).not.toContain(PASSPHRASE);
    expect(r.out + r.err).not.toContain('AGE-SECRET-KEY');
  });
});
