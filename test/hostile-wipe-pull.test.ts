/**
 * Issue 18, "a card pulled during a wipe", end to end: the real firmware in the simulator and the
 * real `recorder wipe`. The simulator pulls the card at its N-th write or erase after the command
 * `card pull-after-writes N` (a pull from stdin would be taken only after the WIPE request, which
 * runs whole), so each case lands at a known step of the wipe: the card's erase, the middle of the
 * new volume's format, the new journal's last write. For each: the app says in words what happened
 * and what to do, exits 1 and issues no certificate; the copies in the library still verify; the
 * recorder says WIPE_PENDING; once the card is back the recorder finishes the wipe on its own, the
 * card mounts and `fsck.fat -n` finds it clean; the next `recorder wipe` reports the wipe finished
 * and its certificate verifies.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, record } from './support/reliability.js';
import { CLI, fsckCheck, requireSimulator, requireTool, runCli, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

const SPEED = 20;
const SIZE_MB = 64;

let dir: string;
let lib: string;
let image: string;
/** Card writes and erases of a whole wipe, counted on the first (unbroken) one. */
let wipeWrites: number;

const cli = (args: string[]) => runCli(args, 120_000);
const certificates = () => readdirSync(lib).filter((n) => /^wipe-.*\.json$/.test(n));
const start = () => startSim({ dir, image, sizeMb: SIZE_MB, speed: SPEED, mic: 'sine:440' });

async function cardWrites(sim: Sim): Promise<number> {
  const from = sim.stdout.length;
  sim.send('card writes');
  return Number(/card writes=(\d+)/.exec(await sim.waitFor(/^card writes=\d+/, 10_000, from))![1]);
}

/** A recording made and synced, so the wipe is allowed. */
async function recordAndSync(sim: Sim): Promise<void> {
  await record(sim, 1, SPEED);
  const r = await cli(['sync', '--port', sim.link, '--dest', lib]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

async function finishedWipe(sim: Sim, state: 'done' | 'resumed'): Promise<void> {
  const w = await cli(['wipe', '--port', sim.link, '--dest', lib, '--yes', '--json']);
  expect(w.code, w.stdout + w.stderr).toBe(0);
  const done = JSON.parse(w.stdout.trim().split('\n').find((l) => l.includes('"wipe.done"'))!) as { state: string; proven: boolean; certificatePath: string };
  expect(done).toMatchObject({ state, proven: true });
  const v = await cli(['verify-wipe', done.certificatePath]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
}

beforeAll(async () => {
  requireSimulator();
  requireTool('fsck.fat', 'dosfstools');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
  dir = tempDir();
  lib = join(dir, 'library');
  image = join(dir, 'card.img');
  // The unbroken wipe, counted: the pulls below are placed within it.
  const sim = await start();
  await recordAndSync(sim);
  const before = await cardWrites(sim);
  await finishedWipe(sim, 'done');
  wipeWrites = (await cardWrites(sim)) - before;
  await sim.quit();
  expect(wipeWrites).toBeGreaterThanOrEqual(4);
}, 180_000);

afterAll(stopAll);

describe('a card pulled during recorder wipe', () => {
  // The wipe's card operations after its crypto-erase (the NVM; its cuts are test/privacy-wipe's):
  // 1 the card's erase, 2 the first write of the new volume, the middle of the format, and the
  // last (the new journal's). wipeWrites is known only once beforeAll has run.
  const cases: [string, () => number][] = [
    ['its erase', () => 1],
    ['the first write of the new volume', () => 2],
    ['the middle of its writes', () => Math.floor(wipeWrites / 2)],
    ['its last write (the new journal)', () => wipeWrites],
  ];
  for (const [name, at] of cases) {
    it(`pulled at ${name}: said, no certificate, finished once the card is back`, async () => {
      const n = at();
      const sim = await start();
      await recordAndSync(sim);
      const certs = certificates();
      await command(sim, `card pull-after-writes ${n}`);
      const from = sim.stdout.length;
      const w = await cli(['wipe', '--port', sim.link, '--dest', lib, '--yes']);
      await sim.waitFor(/^card pulled$/, 10_000, from);
      console.log(`hostile-wipe-pull: pulled at card write ${n} of ${wipeWrites}: exit ${w.code}\n${w.stderr}`);
      expect(w.code).toBe(1);
      expect(w.stderr).toMatch(/The wipe began but did not finish: the recorder's memory card was removed while it was being erased. The recorder's recording keys are already destroyed; the card is part erased. No wipe certificate was written./);
      expect(w.stderr).toMatch(/Put the memory card back in the recorder .*: it finishes the wipe by itself. Then run `recorder wipe` again/);
      expect(certificates()).toEqual(certs);
      // The recorder knows: WIPE_PENDING until the card is back and erased.
      const pending = await cli(['info', '--port', sim.link, '--json']);
      expect(pending.stdout).toMatch(/"wipePending":true/);
      // The library's copies are untouched and verify.
      const v = await cli(['verify', lib]);
      expect(v.code, v.stdout + v.stderr).toBe(0);

      // The card back: the recorder finishes the wipe by itself; the next wipe says so, and its
      // certificate verifies; the card is a clean FAT32 volume.
      await command(sim, 'insert');
      await finishedWipe(sim, 'resumed');
      expect(sim.stderr.join('')).toMatch(/wipe finished after a power cut/);
      await sim.quit();
      const fsck = fsckCheck(image);
      expect(fsck.status, fsck.output).toBe(0);
    }, 180_000);
  }
});
