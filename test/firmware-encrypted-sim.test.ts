/**
 * Encrypted recording on the simulated recorder (issue 13), checked with the stock tools and no
 * app: the owner's recipient from `age-keygen` is set with SET_RECIPIENT, recordings longer and
 * shorter than one 64 KiB age chunk are made with the button, and what is on the card is
 * REC*.AGE only (no WAV, no hold file). `age -d -i owner.txt` gives a WAV that ffprobe and sox
 * read with the duration LIST reports, holding the simulator's ramp; its SHA-256 and the .AGE's
 * are the ones in the signed REC*.SHA (and minisign's trusted comment has age=). A power cut
 * (SIGKILL) while recording encrypted recovers, at the next start, to a file the stock age
 * decrypts, which the recorder then seals like a stopped one (reason power-loss, recovered=yes).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordWithButton } from '../host/sim/driver.js';
import { decodeStruct, type StructValue } from '../protocol/src/codec.js';
import { INFO_FLAGS, KIND, PROTOCOL, RECIPIENT_ACTION, RECIPIENT_FLAGS, RECORD_FLAGS, RECORDING_STATE, STOP_REASON } from '../protocol/src/schema.js';
import { ClientPool, type RawClient } from './support/raw-client.js';
import { expectRamp, parseRecording, until } from './support/recording.js';
import { mcopyOut, requireSimulator, requireTool, startSim, stopAll, tempDir } from './support/sim.js';
import { ageRecipientBytes as recipientBytes } from './support/age.js';

const SPEED = 4;
const RATE = 16000;

beforeAll(() => {
  requireSimulator();
  for (const [tool, pkg] of [['age', 'age'], ['age-keygen', 'age'], ['ffprobe', 'ffmpeg'], ['soxi', 'sox'], ['mcopy', 'mtools'], ['mdir', 'mtools']] as const)
    requireTool(tool, pkg);
});

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
  await stopAll();
});


function run(cmd: string, args: string[], cwd?: string): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, timeout: 60_000, maxBuffer: 64 << 20, env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** A fresh owner identity; its key file and the recipient's 32 bytes. */
function ownerKey(dir: string): { keyFile: string; recipient: Buffer } {
  const keyFile = join(dir, 'owner.txt');
  const made = run('age-keygen', ['-o', keyFile]);
  expect(made.status, made.stderr).toBe(0);
  const recipient = /# public key: (age1[a-z0-9]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!;
  return { keyFile, recipient: recipientBytes(recipient) };
}

async function setRecipient(c: RawClient, recipient: Buffer): Promise<void> {
  const r = await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient });
  expect(Number(r.flags) & RECIPIENT_FLAGS.SET).toBe(RECIPIENT_FLAGS.SET);
  expect(Buffer.from(r.recipient as Uint8Array).equals(recipient)).toBe(true);
}

interface Entry {
  number: number;
  name: string;
  state: number;
  flags: number;
  stopReason: number;
  sampleCount: number;
  sha256: string;
}

async function list(c: RawClient): Promise<Entry[]> {
  const f = await c.call('LIST', { afterNumber: 0, maxEntries: 16 });
  expect(f.kind).toBe(KIND.RESPONSE);
  const entries = decodeStruct('LIST', f.payload).entries as StructValue[];
  const out: Entry[] = [];
  for (const v of entries) {
    out.push({
      number: Number(v.number),
      name: String(v.name),
      state: Number(v.state),
      flags: Number(v.flags),
      stopReason: Number(v.stopReason),
      sampleCount: Number(v.sampleCount),
      sha256: Buffer.from(v.sha256 as Uint8Array).toString('hex'),
    });
  }
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const recName = (n: number) => `REC${String(n).padStart(5, '0')}`;

/** The card's RECORDS folder, by name. */
function cardNames(image: string): string[] {
  const r = run('mdir', ['-b', '-i', image, '::RECORDS']);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.toString().split('\n').filter(Boolean).map((l) => l.replace(/^.*\//, '').toUpperCase());
}

/** Decrypts a .AGE copied off the card with the stock age; checks the WAV the way a reader does. */
function decryptAndCheck(dir: string, image: string, e: Entry, keyFile: string, firstSample: number): Buffer {
  const name = recName(e.number);
  const age = join(dir, `${name}.AGE`);
  mcopyOut(image, `RECORDS/${name}.AGE`, age);
  const d = run('age', ['-d', '-i', keyFile, '-o', join(dir, `${name}.WAV`), age]);
  expect(d.status, d.stderr).toBe(0);
  const wav = readFileSync(join(dir, `${name}.WAV`));
  const { data, evid } = parseRecording(wav);
  expect(data.length).toBe(e.sampleCount * 2);
  expect(sha256(data)).toBe(e.sha256);
  expect(Number(evid.flags) & RECORD_FLAGS.ENCRYPTED).toBe(RECORD_FLAGS.ENCRYPTED);
  expectRamp(data, firstSample);
  const probe = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', `${name}.WAV`], dir);
  expect(probe.status, probe.stderr).toBe(0);
  expect(Number(probe.stdout.toString())).toBeCloseTo(e.sampleCount / RATE, 3);
  const soxi = run('soxi', ['-D', `${name}.WAV`], dir);
  expect(soxi.status, soxi.stderr).toBe(0);
  expect(Number(soxi.stdout.toString())).toBeCloseTo(e.sampleCount / RATE, 3);
  return wav;
}

/**
 * The signed statement of a sealed encrypted recording (after decryptAndCheck, which leaves the
 * .AGE and its WAV in dir): the WAV, CKP and AGE lines match the files (sha256sum -c), and the
 * minisign trusted comment has age=. Returns the trusted comment's text.
 */
function checkStatement(dir: string, image: string, e: Entry, wav: Buffer): string {
  const name = recName(e.number);
  for (const ext of ['SHA', 'MSG', 'CKP']) mcopyOut(image, `RECORDS/${name}.${ext}`, join(dir, `${name}.${ext}`));
  const statement = readFileSync(join(dir, `${name}.SHA`), 'utf8');
  const age = readFileSync(join(dir, `${name}.AGE`));
  expect(statement).toContain(`SHA256 (${name}.WAV) = ${sha256(wav)}\n`);
  expect(statement).toContain(`SHA256 (${name}.AGE) = ${sha256(age)}\n`);
  // sha256sum -c checks all three against the files beside the statement.
  const check = run('sha256sum', ['-c', `${name}.SHA`], dir);
  expect(check.status, check.stdout.toString() + check.stderr).toBe(0);
  for (const ext of ['WAV', 'CKP', 'AGE']) expect(check.stdout.toString()).toContain(`${name}.${ext}: OK`);
  const msg = readFileSync(join(dir, `${name}.MSG`), 'utf8');
  expect(msg).toContain(` age=${sha256(age)} `);
  return /^trusted comment: (.*)$/m.exec(msg)![1]!;
}

describe('encrypted recording on the simulator, decrypted by the stock age', () => {
  it('records to REC*.AGE only; age gives the WAV whose hashes the device signed', async () => {
    const dir = tempDir();
    const { keyFile, recipient } = ownerKey(dir);
    const sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    const c = await clients.connect(sim.link, { hello: true });
    await c.ok('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: Buffer.alloc(32, 7) });
    await setRecipient(c, recipient);
    const info = await c.ok('INFO');
    expect(Number(info.flags) & INFO_FLAGS.ENCRYPTING).toBe(INFO_FLAGS.ENCRYPTING);
    await recordWithButton(sim.driver, 5, SPEED); // 160,000 bytes: three chunks
    await recordWithButton(sim.driver, 1, SPEED); // 32,000 bytes: shorter than a chunk
    const entries = await until('both recordings sealed', 60_000, async () => {
      const l = await list(c);
      return l.length === 2 && l.every((e) => e.flags & RECORD_FLAGS.SEALED) ? l : undefined;
    });
    await clients.closeAll();
    expect(await sim.quit()).toBe(0);

    const names = cardNames(sim.image);
    for (const e of entries) {
      expect(e.name).toBe(`${recName(e.number)}.AGE`);
      expect(e.state).toBe(RECORDING_STATE.FINISHED);
      expect(e.flags & RECORD_FLAGS.ENCRYPTED).toBe(RECORD_FLAGS.ENCRYPTED);
      expect(names).toContain(`${recName(e.number)}.AGE`);
      expect(names).not.toContain(`${recName(e.number)}.WAV`);
      expect(names).not.toContain(`${recName(e.number)}.HLD`);
    }
    expect(entries[0]!.sampleCount).toBeGreaterThan(65_536 / 2);
    expect(entries[1]!.sampleCount).toBeLessThan(65_536 / 2);
    for (const e of entries) {
      const wav = decryptAndCheck(dir, sim.image, e, keyFile, 0); // the simulator's ramp starts again with each recording
      checkStatement(dir, sim.image, e, wav);
    }
  }, 120_000);

  it('a power cut while recording encrypted recovers to a file the stock age decrypts, and the recorder seals it', async () => {
    const dir = tempDir();
    const { keyFile, recipient } = ownerKey(dir);
    let sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    let c = await clients.connect(sim.link, { hello: true });
    await c.ok('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: Buffer.alloc(32, 9) });
    await setRecipient(c, recipient);
    const from = sim.stdout.length;
    sim.send('press');
    await sim.waitFor(/^mic on/, 20_000, from);
    await new Promise((r) => setTimeout(r, 3000 / SPEED + 300));
    const during = await c.ok('INFO');
    const written = Number(during.currentSamples);
    expect(written).toBeGreaterThan(RATE);
    await clients.closeAll();
    await sim.kill();

    sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    c = await clients.connect(sim.link, { hello: true });
    // Recovered at the start, then sealed as a stopped one is (its stop checkpoint signed over
    // the audio decrypted with the key still in the recorder, which sealing then destroys).
    const [e] = await until('the recovered recording sealed', 60_000, async () => {
      const l = await list(c);
      return l.length === 1 && l[0]!.flags & RECORD_FLAGS.SEALED ? l : undefined;
    });
    await clients.closeAll();
    expect(await sim.quit()).toBe(0);
    expect(e).toBeDefined();
    expect(e!.state).toBe(RECORDING_STATE.FINISHED);
    expect(e!.stopReason).toBe(STOP_REASON.POWER_LOSS);
    expect(e!.flags & RECORD_FLAGS.RECOVERED).toBe(RECORD_FLAGS.RECOVERED);
    // The loss bound: what INFO had reported written, less at most a second.
    expect(e!.sampleCount).toBeGreaterThanOrEqual(written - RATE);
    expect(cardNames(sim.image)).not.toContain(`${recName(e!.number)}.HLD`);
    const wav = decryptAndCheck(dir, sim.image, e!, keyFile, 0);
    const comment = checkStatement(dir, sim.image, e!, wav);
    expect(comment).toContain(' reason=power-loss ');
    expect(comment).toContain(' recovered=yes ');
    expect(comment).toContain(` samples=${e!.sampleCount} `);
  }, 120_000);
});
