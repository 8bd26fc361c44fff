/**
 * Issue 13 end to end, "a wipe that leaves nothing": the real C firmware in the simulator records
 * a known signal (a 440 Hz sine), the real app syncs it; `recorder wipe` refuses while a recording
 * has no verified copy, naming it; after the wipe, a scan of the whole raw card image finds no run
 * of the recorded signal longer than 0.1 s and the device's flash holds no state entry from before
 * the wipe; the wipe certificate verifies against the pinned key (`recorder verify-wipe`). A power
 * cut in the middle of a wipe (the simulator's --nvm-cut-at) is finished by the next boot, and the
 * app's next wipe reports it as resumed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStruct } from '../protocol/src/codec.js';
import { CARD_LAYOUT, NVM_STATE_KIND, STRUCTS, structSize } from '../protocol/src/schema.js';
import { longestSignalRun, parseRecording } from './support/recording.js';
import { record } from './support/reliability.js';
import { CLI, requireSimulator, runCli, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

const SPEED = 20;
const RATE = 16000;

let dir: string;
let lib: string;
let image: string;
let signal: Buffer;

const nvmOf = (img: string) => `${img}.nvm`;
/** The simulator's NVM: 4 KiB sectors; the state log in sectors 2 and 3 (docs/firmware.md). */
const SECTOR = 4096;
const ENTRY = structSize(STRUCTS.NVM_STATE_ENTRY);
const KEPT = [NVM_STATE_KIND.JOURNAL_HEAD, NVM_STATE_KIND.JOURNAL_PENDING, NVM_STATE_KIND.NUMBER_FLOOR, NVM_STATE_KIND.CLOCK, NVM_STATE_KIND.WIPE_PENDING] as number[];

/** The valid state-log entries of an NVM image (sectors 2 and 3), as raw 32-byte hex strings. */
function stateEntries(nvm: Buffer): { raw: string; kind: number; sequence: number }[] {
  const out: { raw: string; kind: number; sequence: number }[] = [];
  for (const sector of [2, 3]) {
    for (let o = sector * SECTOR; o < (sector + 1) * SECTOR; o += ENTRY) {
      const raw = nvm.subarray(o, o + ENTRY);
      const e = decodeStruct('NVM_STATE_ENTRY', raw) as { magic: number; kind: number; sequence: number };
      if (e.magic !== CARD_LAYOUT.nvmStateMagic) continue;
      out.push({ raw: raw.toString('hex'), kind: e.kind, sequence: e.sequence });
    }
  }
  return out;
}

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(args, 120_000);
}

beforeAll(async () => {
  requireSimulator();
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
  dir = tempDir();
  lib = join(dir, 'library');
  image = join(dir, 'card.img');
  const sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
  await record(sim, 3, SPEED);
  const r = await cli(['sync', '--port', sim.link, '--dest', lib, '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const copy = readdirSync(lib).find((n) => n.endsWith('_1.wav'))!;
  signal = Buffer.from(parseRecording(readFileSync(join(lib, copy))).data);
  expect(signal.length).toBeGreaterThan(2 * RATE * 2);
  await sim.quit();
}, 180_000);

afterAll(stopAll);

describe('recorder wipe on the simulated recorder', () => {
  it('refuses while a recording has no verified copy, then wipes so nothing of the audio or the old state is left', async () => {
    // The scanner finds the signal where it is: the card before the wipe holds all of it.
    const before = longestSignalRun(readFileSync(image), signal);
    expect(before).toBe(signal.length / 2);
    const nvmBefore = stateEntries(readFileSync(nvmOf(image)));
    expect(nvmBefore.length).toBeGreaterThan(0);

    let sim: Sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    await record(sim, 2, SPEED); // recording 2: not in the library
    const refused = await cli(['wipe', '--port', sim.link, '--dest', lib, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/1 recording\(s\) on the recorder have no verified copy in this library, so the wipe was refused and nothing was erased: recording 2 \((\d{4}-\d\d-\d\d \d\d:\d\d UTC|clock not set), 0:0[12]\)/);
    expect(refused.stderr).toMatch(/recorder wipe --discard-unsynced 2/);
    const list = await cli(['list', '--port', sim.link, '--dest', lib, '--json']);
    expect(JSON.parse(list.stdout.trim().split('\n').at(-1)!)).toMatchObject({ toCopy: [2], alreadyInLibrary: [1] });

    // Synced, it wipes; the certificate is in the library and verifies against the pinned key.
    expect((await cli(['sync', '--port', sim.link, '--dest', lib])).code).toBe(0);
    const w = await cli(['wipe', '--port', sim.link, '--dest', lib, '--yes', '--json']);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    const done = JSON.parse(w.stdout.trim().split('\n').find((l) => l.includes('"wipe.done"'))!) as { state: string; method: string; blocksErased: number; epoch: number; certificatePath: string; proven: boolean };
    expect(done).toMatchObject({ state: 'done', method: 'zero-fill', blocksErased: 64 * 2048, proven: true });
    expect((await cli(['verify-wipe', done.certificatePath])).code).toBe(0);
    const after = await cli(['list', '--port', sim.link, '--dest', lib, '--json']);
    expect(JSON.parse(after.stdout.trim().split('\n').at(-1)!)).toMatchObject({ recordings: [] });
    await sim.quit();

    // The whole raw card: no run of the recorded signal longer than 0.1 s (none at all, in fact).
    const run = longestSignalRun(readFileSync(image), signal);
    expect(run).toBeLessThan(RATE / 10);
    // The device's flash: no state entry from before the wipe, no kind outside the allowlist.
    const nvm = readFileSync(nvmOf(image));
    const entries = stateEntries(nvm);
    const old = new Set(nvmBefore.map((e) => e.raw));
    const maxBefore = Math.max(...nvmBefore.map((e) => e.sequence));
    expect(entries.filter((e) => old.has(e.raw))).toEqual([]);
    expect(entries.every((e) => e.sequence > maxBefore && KEPT.includes(e.kind))).toBe(true);
    expect(nvm.subarray(4 * SECTOR, 6 * SECTOR).every((b) => b === 0xff)).toBe(true);

    // The recorder goes on: the next recording is numbered after every earlier one.
    sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    await record(sim, 1, SPEED);
    const next = await cli(['list', '--port', sim.link, '--dest', lib, '--json']);
    expect((JSON.parse(next.stdout.trim().split('\n').at(-1)!) as { recordings: { number: number }[] }).recordings.map((r) => r.number)).toEqual([3]);
    await sim.quit();
  }, 240_000);

  it('a power cut in the middle of a wipe: the next boot finishes it, and the app reports it resumed', async () => {
    // Recording 3 synced; then a boot that journals the clock lost by the restart (the simulator
    // has no battery-backed clock), so the boot after it writes nothing to the flash and the
    // wipe's own writes are counted from 1: 1 WIPE_PENDING, 2 NUMBER_FLOOR, 3-9 the crypto-erase's
    // compaction, 10-11 the recipient sectors, then the card is erased and formatted, 12 the
    // announcement of EPOCH_START: cut there.
    let sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    const synced = await cli(['sync', '--port', sim.link, '--dest', lib]);
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    await sim.quit();
    sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED });
    await sim.quit();
    sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, extraArgs: ['--nvm-cut-at', '12'] });
    const cut = await cli(['wipe', '--port', sim.link, '--dest', lib, '--yes']);
    expect(cut.code).not.toBe(0);
    expect((await sim.driver.exit).code).toBe(3);
    expect(sim.stderr.join('')).toMatch(/power cut in NVM operation 12/);

    sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED });
    const info = await cli(['info', '--port', sim.link, '--json']);
    expect(sim.stderr.join('')).toMatch(/a wipe was cut by a power loss: finishing it[^]*wipe finished after a power cut/);
    expect(info.stdout).not.toMatch(/"wipePending":true/);
    const w = await cli(['wipe', '--port', sim.link, '--dest', lib, '--yes', '--json']);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    const done = JSON.parse(w.stdout.trim().split('\n').find((l) => l.includes('"wipe.done"'))!) as { state: string; proven: boolean; certificatePath: string };
    expect(done).toMatchObject({ state: 'resumed', proven: true });
    expect((await cli(['verify-wipe', done.certificatePath])).code).toBe(0);
    await sim.quit();
    expect(longestSignalRun(readFileSync(image), signal)).toBeLessThan(RATE / 10);
  }, 240_000);
});
