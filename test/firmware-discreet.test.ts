/**
 * The button's answers (docs/firmware.md, "The button") in the simulator: a held button (`hold`)
 * is answered on the dimmed LED, one long glow while recording and two short ones otherwise, and
 * starts or stops nothing; a short press (`press`) starts a recording, and while recording drops a
 * marker answered by one dim glow without stopping; the long hold (`stop`) stops it, answered by
 * three glows. In discreet mode the full LED stays dark while recording. The simulator prints the
 * LED with --verbose: `led on`/`led off`, `led dim`/`led undim`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { REC_STATE, SETTINGS_MASK } from '../protocol/src/schema.js';
import { ClientPool } from './support/raw-client.js';
import { requireSimulator, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

beforeAll(() => requireSimulator());

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
  await stopAll();
});

/** Holds the button, waits for the answer to end and some more; the LED lines it printed. */
async function holdAndWatch(sim: Sim, dimGlows: number, command = 'hold'): Promise<string[]> {
  const from = sim.stdout.length;
  sim.send(command);
  await sim.waitFor(new RegExp(`^ok ${command}$`), 20_000, from);
  // Each glow is a `led dim` then a `led undim`; wait for the last undim of the expected answer.
  let at = from;
  for (let i = 0; i < dimGlows; i++) {
    await sim.waitFor(/^led dim$/, 20_000, at);
    at = sim.stdout.indexOf('led dim', at) + 1;
    await sim.waitFor(/^led undim$/, 20_000, at);
    at = sim.stdout.indexOf('led undim', at) + 1;
  }
  // The longest answer lasts 1.2 s of device time: 1.5 s more shows nothing else follows.
  await sleep(1500);
  return sim.stdout.slice(from).filter((l) => l.startsWith('led ') || l.startsWith('mic ') || l.startsWith('state '));
}

it('answers a held button with a dim glow, one long while recording and two short otherwise, and toggles nothing', async () => {
  const dir = tempDir();
  const sim = await startSim({ dir, sizeMb: 64, extraArgs: ['--verbose'] });
  const c = await clients.connect(sim.link);
  await c.ok('HELLO', { maxPayload: 4096 });
  await c.ok('SETTINGS', { setMask: SETTINGS_MASK.DISCREET, discreet: 1, sampleRate: 0 });

  // Idle: two glows, no recording, no full light in between.
  const idle = await holdAndWatch(sim, 2);
  expect(idle.filter((l) => l === 'led dim')).toHaveLength(2);
  expect(idle.filter((l) => l.startsWith('mic ') || l.startsWith('state '))).toEqual([]);

  // A short press records, as before; discreet: the full LED is off from then on.
  let from = sim.stdout.length;
  sim.send('press');
  await sim.waitFor(/^state rec=recording/, 20_000, from);
  const recording = await holdAndWatch(sim, 1);
  expect(recording.filter((l) => l === 'led dim')).toHaveLength(1);
  expect(recording).not.toContain('led on');
  expect(recording.filter((l) => l.startsWith('mic ') || l.startsWith('state '))).toEqual([]);
  const info = await c.ok('INFO');
  expect(info.recState).toBe(REC_STATE.RECORDING); // the hold stopped nothing

  // A short press while recording (a touch, or a check) is a marker: one glow, still recording.
  const marker = await holdAndWatch(sim, 1, 'press');
  expect(marker.filter((l) => l === 'led dim')).toHaveLength(1);
  expect(marker).not.toContain('led on');
  expect(marker.filter((l) => l.startsWith('mic ') || l.startsWith('state '))).toEqual([]);
  expect((await c.ok('INFO')).recState).toBe(REC_STATE.RECORDING);

  // The long hold stops it: three glows.
  const stop = await holdAndWatch(sim, 3, 'stop');
  expect(stop.filter((l) => l === 'led dim')).toHaveLength(3);
  expect(stop).toContain('mic off');
  expect(stop).not.toContain('led on');
  from = sim.stdout.length;
  expect(await sim.quit()).toBe(0);
}, 60_000);
