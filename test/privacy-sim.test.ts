/**
 * Issue 13 end to end, encrypted: the real C firmware in the simulator, the real app over a real
 * pseudo-terminal. `recorder keys new` in a temporary library, `recorder recipient set`, a
 * recording of several 64 KiB age chunks made with the simulator's button, `recorder sync`: the
 * library holds the .age exactly as on the card and the decrypted .wav; the stock `age -d` gives
 * the same bytes, whose SHA-256 the device signed (signify checks the statement). Copies of the
 * .age with a wrong identity, a flipped byte, a cut end or two chunks swapped fail `recorder
 * decrypt` in words, and the device still lists the recording. After `recorder wipe`, no 16-byte
 * window of the device's flash is the recording's age file key (checked against the header MAC,
 * which does find it in a snapshot of the flash taken while recording; sealing already destroys
 * it), and the raw card holds no run of the recorded signal. A recorder without a signing key
 * never seals, so there the key is still in the flash at the wipe, and the wipe destroys it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopAllProcesses } from '../host/sim/driver.js';
import { ageParts, fileKeyOffsets } from './support/age-file-key.mjs';
import { longestSignalRun, parseRecording } from './support/recording.js';
import { record } from './support/reliability.js';
import { CLI, mcopyOut, requireSimulator, requireTool, runCli, sh, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

const SPEED = 10;
const RATE = 16000;
const AGE_CHUNK = 65536;
const AGE_TAG = 16;

let dir: string;
/** The library root (keys/ in it) and the recorder's folder in it. */
let root: string;
let dest: string;
let image: string;
let ownerKeyFile: string;
/** The library's copies of recording 1. */
let agePath: string;
let wavPath: string;
/** The device's flash copied while recording 1 was being recorded (its file key unsealed). */
let nvmWhileRecording: Buffer;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const home = () => ({ HOME: dir });

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(args, 120_000, home());
}

function run(cmd: string, args: string[], cwd?: string): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Syncs until the recorder has sealed the recording (it seals in its idle time after a stop). */
async function syncSealed(sim: Sim): Promise<{ code: number | null; stdout: string; stderr: string }> {
  for (let attempt = 1; ; attempt++) {
    const r = await cli(['sync', '--port', sim.link, '--dest', dest, '--json']);
    if (r.code !== 0 || !r.stdout.includes('"code":"SIGNATURE_PENDING"') || attempt === 40) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Where chunk i (0-based) of the age payload starts: after the header and the 16-byte nonce. */
const chunkAt = (payload: number, i: number) => payload + 16 + i * (AGE_CHUNK + AGE_TAG);

beforeAll(async () => {
  requireSimulator();
  for (const [tool, pkg] of [['age', 'age'], ['age-keygen', 'age'], ['signify-openbsd', 'signify-openbsd'], ['mcopy', 'mtools']] as const) requireTool(tool, pkg);
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
  dir = tempDir('rec-privacy-');
  root = join(dir, 'library');
  dest = join(root, 'Kitchen');
  image = join(dir, 'card.img');
  const made = await cli(['keys', 'new', '--library', root]);
  expect(made.code, made.stdout + made.stderr).toBe(0);
  ownerKeyFile = join(root, 'keys', readdirSync(join(root, 'keys')).find((n) => n.endsWith('.txt'))!);

  const sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
  // The first sync makes the recorder's signing key and pins it, so that it signs what follows.
  const first = await cli(['sync', '--port', sim.link, '--dest', dest, '--json']);
  expect(first.code, first.stdout + first.stderr).toBe(0);
  const set = await cli(['recipient', 'set', '--library', root, '--port', sim.link]);
  expect(set.code, set.stdout + set.stderr).toBe(0);
  expect(set.stdout).toMatch(/Encrypts to: age1/);
  // About 5 device seconds (160,000 bytes of audio: three age chunks); the flash is copied in
  // the middle, while the file key must be in it (it is written there before the first byte).
  let from = sim.stdout.length;
  sim.send('press');
  await sim.waitFor(/^mic on/, 20_000, from);
  await new Promise((r) => setTimeout(r, 2500 / SPEED));
  nvmWhileRecording = readFileSync(`${image}.nvm`);
  await new Promise((r) => setTimeout(r, 2500 / SPEED));
  from = sim.stdout.length;
  sim.send('stop');
  await sim.waitFor(/^mic off/, 20_000, from);
  const r = await syncSealed(sim);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).not.toMatch(/SIGNATURE_PENDING/);
  expect(await sim.quit()).toBe(0);
  agePath = join(dest, readdirSync(dest).find((n) => n.endsWith('_1.age'))!);
  wavPath = agePath.replace(/\.age$/, '.wav');
}, 180_000);

// Processes stop after each test; the library and card (shared by the tests) after all of them.
afterEach(() => stopAllProcesses(2000));
afterAll(stopAll);

describe('an encrypted recording from the simulated recorder, synced by the app', () => {
  it('the library keeps the .age as on the card; the stock age and the app give the same WAV, whose hash the device signed', () => {
    const age = readFileSync(agePath);
    const onCard = join(dir, 'REC00001.AGE');
    mcopyOut(image, 'RECORDS/REC00001.AGE', onCard);
    expect(age.equals(readFileSync(onCard))).toBe(true);
    const { payload } = ageParts(age);
    expect(age.length).toBeGreaterThan(chunkAt(payload, 2)); // three chunks at least

    const stock = run('age', ['-d', '-i', ownerKeyFile, agePath]);
    expect(stock.status, stock.stderr).toBe(0);
    const app = readFileSync(wavPath);
    expect(stock.stdout.equals(app)).toBe(true);
    expect(parseRecording(app).data.length).toBeGreaterThan(AGE_CHUNK);

    // The device-signed statement names that WAV's SHA-256 and the .age's; signify checks both.
    const evidence = agePath.replace(/\.age$/, '.evidence');
    const statement = readFileSync(join(evidence, 'REC00001.SHA'), 'utf8');
    expect(statement).toContain(`SHA256 (REC00001.WAV) = ${sha256(stock.stdout)}\n`);
    expect(statement).toContain(`SHA256 (REC00001.AGE) = ${sha256(age)}\n`);
    const pub = readdirSync(dest).find((n) => /^recorder-[0-9a-f]{16}\.pub$/.test(n))!;
    expect(pub).toBeDefined();
    const signify = sh(evidence, `signify-openbsd -C -p ../${pub} -x REC00001.SIG`);
    expect(signify.status, signify.out).toBe(0);
    expect(signify.out).toMatch(/^Signature Verified\n/);
    expect(signify.out).toContain('REC00001.AGE: OK\n');
    expect(signify.out).toContain('REC00001.WAV: OK\n');
  });

  it('a wrong identity, a flipped byte, a cut end and two swapped chunks each fail decrypt in words; the device still lists the recording', async () => {
    const age = readFileSync(agePath);
    const { payload } = ageParts(age);
    expect(age.length).toBeGreaterThan(chunkAt(payload, 2)); // chunks 1 and 2 full, a third after them
    const other = join(tempDir('rec-other-'), 'other.txt');
    expect(run('age-keygen', ['-o', other]).status).toBe(0);
    const flipped = Buffer.from(age);
    flipped[chunkAt(payload, 1) + 1000]! ^= 0x01;
    const swapped = Buffer.concat([age.subarray(0, chunkAt(payload, 0)), age.subarray(chunkAt(payload, 1), chunkAt(payload, 2)), age.subarray(chunkAt(payload, 0), chunkAt(payload, 1)), age.subarray(chunkAt(payload, 2))]);
    expect(swapped.length).toBe(age.length);
    const cases: { name: string; file: Buffer; identity: string; message: RegExp }[] = [
      { name: 'wrong-identity', file: age, identity: other, message: /Recording 1 .* is encrypted to another key/ },
      { name: 'flipped', file: flipped, identity: ownerKeyFile, message: /Recording 1 .* fails age's check at chunk 2 of \d+ .*: the file was changed there/ },
      { name: 'cut', file: age.subarray(0, age.length - 1000), identity: ownerKeyFile, message: /Recording 1 .* fails age's check at chunk \d+ of \d+ .*: the file is cut short/ },
      { name: 'swapped', file: swapped, identity: ownerKeyFile, message: /Recording 1 .* fails age's check at chunk 1 of \d+ .*chunks were swapped/ },
    ];
    const empty = tempDir('rec-nokeys-'); // a library without keys: only --identity opens anything
    for (const c of cases) {
      const folder = join(dir, 'tamper', c.name);
      mkdirSync(folder, { recursive: true });
      const copy = join(folder, 'copy_1.age');
      writeFileSync(copy, c.file);
      copyFileSync(agePath.replace(/\.age$/, '.json'), join(folder, 'copy_1.json'));
      const r = await cli(['decrypt', copy, '--identity', c.identity, '--library', empty]);
      expect(r.code, `${c.name}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr, c.name).toMatch(c.message);
      expect(r.stdout + r.stderr, c.name).not.toMatch(/\n\s+at /);
      expect(readdirSync(folder).sort(), c.name).toEqual(['copy_1.age', 'copy_1.json']);
      // The stock age refuses each too.
      expect(run('age', ['-d', '-i', c.identity, '-o', join(dir, `${c.name}.wav`), copy]).status, c.name).not.toBe(0);
    }
    // Nothing was deleted from the recorder.
    const sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    const list = await cli(['list', '--port', sim.link, '--dest', dest, '--json']);
    expect(list.code, list.stdout + list.stderr).toBe(0);
    expect(JSON.parse(list.stdout.trim().split('\n').at(-1)!)).toMatchObject({ recordings: [expect.objectContaining({ number: 1 })], alreadyInLibrary: [1] });
    expect(await sim.quit()).toBe(0);
  }, 120_000);

  it('after wipe, no 16-byte window of the device flash is the file key, and the card holds no run of the signal', async () => {
    const age = readFileSync(agePath);
    const signal = Buffer.from(parseRecording(readFileSync(wavPath)).data);
    // The scan finds the key where it is: in the flash as it was while recording.
    expect(fileKeyOffsets(nvmWhileRecording, age).length).toBeGreaterThan(0);
    // The recording was sealed before the sync took its signature, and sealing destroyed the key.
    expect(fileKeyOffsets(readFileSync(`${image}.nvm`), age)).toEqual([]);
    // The card is encrypted: no plaintext run longer than 0.1 s even before the wipe.
    expect(longestSignalRun(readFileSync(image), signal)).toBeLessThan(RATE / 10);

    const sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    const w = await cli(['wipe', '--port', sim.link, '--dest', dest, '--yes', '--json']);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stdout).toMatch(/"wipe\.done"/);
    expect(await sim.quit()).toBe(0);

    expect(fileKeyOffsets(readFileSync(`${image}.nvm`), age)).toEqual([]);
    expect(longestSignalRun(readFileSync(image), signal)).toBeLessThan(RATE / 10);
    // The library's evidence copy still opens with the owner key (the app kept it; the device cannot).
    expect(run('age', ['-d', '-i', ownerKeyFile, agePath]).stdout.equals(readFileSync(wavPath))).toBe(true);
  }, 120_000);
});

describe('a recording whose file key is still in the flash when the recorder is wiped', () => {
  it('a recorder without a signing key never seals, so it destroys the file key as soon as the recording is closed; the wipe leaves none either', async () => {
    const d = tempDir('rec-unsealed-');
    const cliHere = (args: string[]) => runCli(args, 120_000, { HOME: d });
    const keyFile = join(d, 'owner.txt');
    expect(run('age-keygen', ['-o', keyFile]).status).toBe(0);
    const recipient = run('age-keygen', ['-y', keyFile]).stdout.toString().trim();
    const img = join(d, 'card.img');
    // Never synced, so never provisioned: nothing can sign, so no sealing will need the key.
    let sim = await startSim({ dir: d, image: img, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    const set = await cliHere(['recipient', 'set', recipient, '--port', sim.link]);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    await record(sim, 3, SPEED);
    expect(await sim.quit()).toBe(0);
    const agePathHere = join(d, 'REC00001.AGE');
    mcopyOut(img, 'RECORDS/REC00001.AGE', agePathHere);
    const age = readFileSync(agePathHere);
    const plain = run('age', ['-d', '-i', keyFile, agePathHere]);
    expect(plain.status, plain.stderr).toBe(0);
    const signal = Buffer.from(parseRecording(plain.stdout).data);
    expect(fileKeyOffsets(readFileSync(`${img}.nvm`), age)).toEqual([]);
    expect(longestSignalRun(readFileSync(img), signal)).toBeLessThan(RATE / 10);

    sim = await startSim({ dir: d, image: img, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    const w = await cliHere(['wipe', '--port', sim.link, '--dest', join(d, 'library', 'R'), '--yes', '--discard-unsynced', '1', '--json']);
    // Wiped, but unproven: no signing key vouches for it (the app says so and exits 1).
    expect(w.code, w.stdout + w.stderr).toBe(1);
    expect(w.stdout).toMatch(/"type":"wipe\.done"[^\n]*"state":"done"/);
    expect(w.stdout).toMatch(/"code":"WIPE_UNPROVEN"/);
    expect(await sim.quit()).toBe(0);
    expect(fileKeyOffsets(readFileSync(`${img}.nvm`), age)).toEqual([]);
    expect(longestSignalRun(readFileSync(img), signal)).toBeLessThan(RATE / 10);
  }, 120_000);
});
