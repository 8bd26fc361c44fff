/**
 * Issue 14 end to end: the real firmware in the simulator records and signs, the real app syncs
 * and exports, and the bundle is checked only with the commands its VERIFY.txt gives, run as
 * written with the stock tools, as a folder and unpacked from the ZIP file, and with its
 * check-in-browser.html in headless Chromium. Every tampered copy fails both: a flipped audio byte,
 * an edited statement, the statement signed again by another key, and that other key put in place
 * of the recorder's key files. An encrypted recording (issue 13) the same way: its bundle without
 * the decrypted WAV passes once the owner runs VERIFY.txt's stock `age -d` step with the key file,
 * and with the WAV (decrypted in the library) passes as it is.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minisignGlobalMessage, minisignPublicKey, minisignSignature, opensslPublicKeyPem, signifyPublicKey, signifySignature } from '../host/engine/evidence/open-formats.js';
import { parseVerifyText, type StepGroup } from '../host/engine/export/verify-text.js';
import { checkInBrowser, requireChromium, withBrowser } from './support/browser.js';
import { record } from './support/reliability.js';
import { CLI, requireSimulator, requireTool, runCli, startSim, stopAll, tempDir } from './support/sim.js';

const SPEED = 20;
let lib: string;
let out: string;
let bundle: string;
let keyId: string;

/** What running VERIFY.txt as written gave: every step that printed other than expected. */
function runVerifyTxt(dir: string): { failed: string[]; ran: number } {
  const groups: StepGroup[] = parseVerifyText(readFileSync(join(dir, 'VERIFY.txt'), 'utf8'));
  const tmp = tempDir('rec-verify-tmp-');
  const failed: string[] = [];
  let ran = 0;
  for (const g of groups) {
    for (const s of g.steps) {
      const r = spawnSync('sh', ['-c', s.command], { cwd: join(dir, g.folder), encoding: 'utf8', timeout: 30_000, env: { ...process.env, TMPDIR: tmp } });
      ran++;
      const got = `${r.stdout}${r.stderr}`;
      const want = s.expect.map((l) => `${l}\n`).join('');
      if (r.status !== 0 || got !== want) failed.push(`${g.folder || '.'}: ${s.command}\n  exit ${r.status}\n  got: ${JSON.stringify(got)}\n  want: ${JSON.stringify(want)}`);
    }
  }
  return { failed, ran };
}

/** Syncs until the recorder has sealed (signed) its last recording. */
async function syncUntilSealed(port: string, dest: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await runCli(['sync', '--port', port, '--dest', dest, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    if (!r.stdout.includes('"code":"SIGNATURE_PENDING"')) return;
    if (attempt === 20) throw new Error('the recorder did not seal its recording');
    await new Promise((res) => setTimeout(res, 250));
  }
}

function copyOfBundle(): string {
  const dir = join(tempDir('rec-tampered-'), 'bundle');
  cpSync(bundle, dir, { recursive: true });
  return dir;
}

/** Another Ed25519 key, as a forger would make one. */
function forgerKey(): { privateKey: KeyObject; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url') };
}

beforeAll(async () => {
  requireSimulator();
  requireChromium();
  for (const [tool, pkg] of [['age', 'age'], ['age-keygen', 'age'], ['signify-openbsd', 'signify-openbsd'], ['minisign', 'minisign'], ['openssl', 'openssl'], ['sha256sum', 'coreutils'], ['ffprobe', 'ffmpeg'], ['unzip', 'unzip']] as const) requireTool(tool, pkg);
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
  const dir = tempDir();
  lib = join(dir, 'library');
  out = tempDir('rec-export-');
  const sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
  expect((await runCli(['sync', '--port', sim.link, '--dest', lib, '--json'])).code).toBe(0);
  // 65 s: a checkpoint signed while recording, then the stop slot.
  await record(sim, 65, SPEED);
  await syncUntilSealed(sim.link, lib);
  await sim.quit();
  keyId = readdirSync(lib).find((n) => /^recorder-[0-9a-f]{16}\.pem$/.test(n))!.slice('recorder-'.length, -'.pem'.length);
  bundle = join(out, 'for-solicitor');
  const r = await runCli(['export', '1', '--dest', lib, '--to', bundle, '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}, 180_000);

afterAll(stopAll);

describe('a bundle checked only with its VERIFY.txt', () => {
  it('every command, run as written, prints exactly what VERIFY.txt says', () => {
    const { failed, ran } = runVerifyTxt(bundle);
    expect(failed).toEqual([]);
    expect(ran).toBe(8);
    expect(readFileSync(join(bundle, 'VERIFY.txt'), 'utf8')).toContain(keyId);
  });

  it('the verifier page in Chromium says verified', async () => {
    const v = await withBrowser((b) => checkInBrowser(b, bundle));
    expect(v.verdict, JSON.stringify(v)).toBe('verified');
    expect(v.results).toEqual([expect.stringMatching(/^Recording 1: verified\. The file is exactly the recording that recorder ".*" \(key [0-9a-f]{16}\) made and signed; 3 signed checkpoints match\./)]);
  }, 90_000);

  it('the ZIP form, unpacked with unzip, passes the same commands', async () => {
    const zip = join(out, 'for-solicitor.zip');
    const r = await runCli(['export', '1', '--dest', lib, '--zip', zip, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const unpacked = tempDir('rec-unzip-');
    const u = spawnSync('unzip', ['-q', zip, '-d', unpacked], { encoding: 'utf8', timeout: 30_000 });
    expect(u.status, u.stderr).toBe(0);
    expect(runVerifyTxt(unpacked).failed).toEqual([]);
  });

  it('the custody log records the copy and both exports, and verify checks its chain', async () => {
    const log = readFileSync(join(lib, 'custody.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    // (a sync that came before the recorder had sealed also wrote 'signature-added')
    expect(log.map((e) => e.event).filter((e) => e !== 'signature-added')).toEqual(['copied', 'exported', 'exported']);
    const v = await runCli(['verify', lib, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`Custody log of .*: ${log.length} entries, chain intact`));
  });
});

describe('every tampered copy fails VERIFY.txt', () => {
  it('one audio byte flipped', async () => {
    const dir = copyOfBundle();
    const wav = join(dir, 'recording-1', 'REC00001.WAV');
    const b = readFileSync(wav);
    b[1024 + 5000] = b[1024 + 5000]! ^ 1;
    writeFileSync(wav, b);
    const { failed } = runVerifyTxt(dir);
    expect(failed.join('\n')).toMatch(/sha256sum -c/);
    expect(failed.join('\n')).toMatch(/signify-openbsd -C/);
    expect((await withBrowser((b) => checkInBrowser(b, dir))).verdict).toBe('not-verified');
  }, 90_000);

  it('the statement edited to match the edited audio', async () => {
    const dir = copyOfBundle();
    const wav = join(dir, 'recording-1', 'REC00001.WAV');
    const b = readFileSync(wav);
    b[1024 + 5000] = b[1024 + 5000]! ^ 1;
    writeFileSync(wav, b);
    const newSha = spawnSync('sha256sum', [wav], { encoding: 'utf8' }).stdout.slice(0, 64);
    const shaFile = join(dir, 'recording-1', 'REC00001.SHA');
    writeFileSync(shaFile, readFileSync(shaFile, 'utf8').replace(/(REC00001\.WAV\) = )[0-9a-f]{64}/, `$1${newSha}`));
    const { failed } = runVerifyTxt(dir);
    const text = failed.join('\n');
    expect(text).not.toMatch(/sha256sum -c/); // the files match the edited statement...
    expect(text).toMatch(/signify-openbsd -C/); // ...but its signature does not
    expect(text).toMatch(/minisign -Vm/);
    expect(text).toMatch(/openssl pkeyutl/);
    expect((await withBrowser((b) => checkInBrowser(b, dir))).verdict).toBe('not-verified');
  }, 90_000);

  it('the edited statement signed again by another key: signify says wrong key', async () => {
    const dir = copyOfBundle();
    const rec = join(dir, 'recording-1');
    const shaFile = join(rec, 'REC00001.SHA');
    const statement = readFileSync(shaFile);
    const k = forgerKey();
    const signature = sign(null, statement, k.privateKey);
    const trustedComment = /Trusted comment: (.*)\n/.exec(readFileSync(join(dir, 'VERIFY.txt'), 'utf8'))![1]!;
    writeFileSync(join(rec, 'REC00001.SIG'), signifySignature({ publicKey: k.publicKey, statement, signature }));
    writeFileSync(join(rec, 'REC00001.MSG'), minisignSignature({ publicKey: k.publicKey, statement, signature, trustedComment, globalSignature: sign(null, minisignGlobalMessage(signature, trustedComment), k.privateKey) }));
    const { failed } = runVerifyTxt(dir);
    const text = failed.join('\n');
    expect(text).toMatch(/signify-openbsd -C[^\n]*\n\s+exit 1\n\s+got: "[^"]*wrong key/);
    expect(text).toMatch(/minisign -Vm/);
    expect(text).toMatch(/openssl pkeyutl/);
    const v = await withBrowser((b) => checkInBrowser(b, dir));
    expect(v.verdict).toBe('not-verified');
    expect(v.results.join('\n')).toMatch(/was made by key [0-9a-f]{16}, not by the key [0-9a-f]{16} of this bundle/);
  }, 90_000);

  it('the other key also put in place of the recorder\'s key files: only the fingerprint step shows it, and it fails', async () => {
    const dir = copyOfBundle();
    const rec = join(dir, 'recording-1');
    const statement = readFileSync(join(rec, 'REC00001.SHA'));
    const k = forgerKey();
    const signature = sign(null, statement, k.privateKey);
    const trustedComment = /Trusted comment: (.*)\n/.exec(readFileSync(join(dir, 'VERIFY.txt'), 'utf8'))![1]!;
    writeFileSync(join(rec, 'REC00001.SIG'), signifySignature({ publicKey: k.publicKey, statement, signature }));
    writeFileSync(join(rec, 'REC00001.MSG'), minisignSignature({ publicKey: k.publicKey, statement, signature, trustedComment, globalSignature: sign(null, minisignGlobalMessage(signature, trustedComment), k.privateKey) }));
    writeFileSync(join(dir, 'keys', `recorder-${keyId}.pub`), signifyPublicKey(k.publicKey));
    writeFileSync(join(dir, 'keys', `recorder-${keyId}.minisign.pub`), minisignPublicKey(k.publicKey));
    writeFileSync(join(dir, 'keys', `recorder-${keyId}.pem`), opensslPublicKeyPem(k.publicKey));
    const { failed } = runVerifyTxt(dir);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/^\.: sed -n 2p keys\/recorder-[0-9a-f]{16}\.pub .*sha256sum/);
    // the page knows the key the bundle was made with
    expect((await withBrowser((b) => checkInBrowser(b, dir))).verdict).toBe('not-verified');
  }, 90_000);
});

describe('an encrypted recording (issue 13): the bundle checked only with its VERIFY.txt', () => {
  it('without the decrypted WAV: the owner decrypts it with the stock age as VERIFY.txt says, then every command passes; decrypted in the library: the WAV is in the bundle', async () => {
    const dir = tempDir();
    const encLib = join(dir, 'library');
    const keyFile = join(tempDir('rec-owner-'), 'owner.txt');
    expect(spawnSync('age-keygen', ['-o', keyFile], { timeout: 20_000 }).status).toBe(0);
    const recipient = spawnSync('age-keygen', ['-y', keyFile], { encoding: 'utf8', timeout: 20_000 }).stdout.trim();
    const sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    // a first sync before recording, as above (the recorder signs from then on)
    expect((await runCli(['sync', '--port', sim.link, '--dest', encLib, '--json'])).code).toBe(0);
    const set = await runCli(['recipient', 'set', recipient, '--port', sim.link, '--json']);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    await record(sim, 65, SPEED);
    await syncUntilSealed(sim.link, encLib);
    await sim.quit();
    // the library has no owner key: the .age only
    const ageOnly = join(tempDir('rec-export-'), 'bundle');
    const r = await runCli(['export', '1', '--dest', encLib, '--to', ageOnly, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const folder = join(ageOnly, 'recording-1');
    expect(readdirSync(folder)).toContain('REC00001.AGE');
    expect(readdirSync(folder)).not.toContain('REC00001.WAV');
    const text = readFileSync(join(ageOnly, 'VERIFY.txt'), 'utf8');
    const groups = parseVerifyText(text);
    expect(groups.map((g) => g.folder), text).toEqual(['', 'recording-1']);
    expect(groups[1]!.steps[0]!.command).toBe('age -d -i owner.txt REC00001.AGE > REC00001.WAV');
    // its owner gives the key file, as VERIFY.txt says
    cpSync(keyFile, join(folder, 'owner.txt'));
    const run = runVerifyTxt(ageOnly);
    expect(run.failed).toEqual([]);
    expect(run.ran).toBe(9);
    // decrypted in the library: the bundle has the WAV, and the same commands without age pass
    const d = await runCli(['decrypt', '1', '--identity', keyFile, '--library', dir, '--json']);
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const withWav = join(tempDir('rec-export-'), 'bundle');
    expect((await runCli(['export', '1', '--dest', encLib, '--to', withWav, '--json'])).code).toBe(0);
    expect(readdirSync(join(withWav, 'recording-1'))).toEqual(expect.arrayContaining(['REC00001.AGE', 'REC00001.WAV']));
    const again = runVerifyTxt(withWav);
    expect(again.failed).toEqual([]);
    expect(again.ran).toBe(8);
    const v = await withBrowser((b) => checkInBrowser(b, withWav));
    expect(v.verdict, JSON.stringify(v)).toBe('verified');
  }, 240_000);
});

describe('export refuses bad input, on the command line', () => {
  it('an unknown number, an existing destination, a missing --to/--zip', async () => {
    const unknown = await runCli(['export', '9', '--dest', lib, '--to', join(out, 'x')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/There is no recording 9 in/);
    const exists = await runCli(['export', '1', '--dest', lib, '--to', bundle]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/already exists; export never replaces anything/);
    const where = await runCli(['export', '1', '--dest', lib]);
    expect(where.code).toBe(2);
    expect(where.stderr).toMatch(/--to DIR or --zip FILE/);
    expect(existsSync(join(out, 'x'))).toBe(false);
  });
});
