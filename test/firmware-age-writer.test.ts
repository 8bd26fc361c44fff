/**
 * The firmware's streaming age writer (firmware/core/evidence/age.c, through
 * firmware/tests/crosscheck/age_writer_cli.c in the host build) against the stock `age` tool: a key
 * made by `age-keygen`, recordings shorter than a chunk, at the end of the hold file, over several
 * chunks, and recovered after a power cut while recording; `age -d` gives exactly the WAV the
 * writer meant, which ffprobe reads with the right duration. A flipped byte and a cut-off file are
 * refused by `age`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/sim.js';
import { ageRecipientBytes as recipientBytes } from './support/age.js';

const CLI = process.env.REC_AGE_WRITER_CLI ?? join(ROOT, 'firmware', 'build', 'tests', 'age-writer-cli');
const RATE = 16000;


function run(cmd: string, args: string[], input?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { input, timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

let dir = '';
let key = '';
let recipientHex = '';

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`age-writer-cli not built at ${CLI}: run npm test (it builds firmware/build first)`);
  dir = mkdtempSync(join(tmpdir(), 'age-writer-'));
  key = join(dir, 'owner.txt');
  const made = run('age-keygen', ['-o', key]);
  expect(made.status, made.stderr).toBe(0);
  const recipient = /# public key: (age1[a-z0-9]+)/.exec(readFileSync(key, 'utf8'))![1]!;
  recipientHex = recipientBytes(recipient).toString('hex');
  expect(recipientHex).toHaveLength(64);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes a recording with the firmware's writer; returns the audio bytes kept and the paths. */
function write(name: string, audioBytes: number, cutAfterBlocks?: number): { kept: number; age: string; wav: string } {
  const age = join(dir, `${name}.AGE`);
  const wav = join(dir, `${name}.expected.wav`);
  const args = [recipientHex, String(audioBytes), age, wav];
  if (cutAfterBlocks !== undefined) args.push(String(cutAfterBlocks));
  const r = run(CLI, args);
  expect(r.status, r.stdout.toString() + r.stderr).toBe(0);
  const kept = Number(/kept (\d+)/.exec(r.stdout.toString())![1]);
  return { kept, age, wav };
}

function decrypt(age: string): ReturnType<typeof run> {
  return run('age', ['-d', '-i', key, age]);
}

function duration(wav: Buffer): number {
  const path = join(dir, 'probe.wav');
  writeFileSync(path, wav);
  const r = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', path]);
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.toString().trim());
}

describe('the stock age decrypts what the firmware writes', () => {
  // Audio lengths: none, shorter than a chunk, filling the hold file exactly (chunk 0 ends with the
  // audio, the evid chunk alone in chunk 1), the evid chunk across a boundary, several chunks.
  for (const audio of [0, 30_000, 64_512, 2 * 65_536 - 1024 - 40, 600_000]) {
    it(`${audio} bytes of audio`, () => {
      const w = write(`len${audio}`, audio);
      expect(w.kept).toBe(audio);
      const d = decrypt(w.age);
      expect(d.status, d.stderr).toBe(0);
      expect(d.stdout.equals(readFileSync(w.wav))).toBe(true);
      if (audio > 0) expect(duration(d.stdout)).toBeCloseTo(audio / 2 / RATE, 3);
    });
  }

  it('recovers a recording cut while it was written, to a file age decrypts', () => {
    for (const cut of [3, 40, 130, 131, 200, 400]) {
      const w = write(`cut${cut}`, 400_000, cut);
      expect(w.kept).toBeGreaterThanOrEqual(0);
      const d = decrypt(w.age);
      expect(d.status, `cut ${cut}: ${d.stderr}`).toBe(0);
      expect(d.stdout.equals(readFileSync(w.wav))).toBe(true);
    }
  });

  it('age refuses a flipped byte and a cut-off file', () => {
    const w = write('tamper', 200_000);
    const good = readFileSync(w.age);
    const flipped = Buffer.from(good);
    flipped[good.length - 100]! ^= 1;
    writeFileSync(join(dir, 'flipped.AGE'), flipped);
    expect(decrypt(join(dir, 'flipped.AGE')).status).not.toBe(0);
    writeFileSync(join(dir, 'short.AGE'), good.subarray(0, 184 + 65_552));
    expect(decrypt(join(dir, 'short.AGE')).status).not.toBe(0);
  });
});
