/**
 * A flat battery mid-life (issue 16), end to end: the real firmware in the simulator, the built
 * `recorder` CLI over a real pseudo-terminal. The clock is set by a sync; a recording is made;
 * another is cut by `battery 0` (the low-battery stop closes it, then the power goes: the
 * simulator exits as a real board would, losing its clock); after a restart (clock lost) a
 * recording is made, the battery goes flat again while idle, and after another restart a last one
 * is made. The sync then places each recording made without a clock in time: the interval in its
 * manifest contains the moment the test pressed the button. The simulator runs in real time here
 * (its uptime is what the placement measures against the host's clock).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../host/engine/library.js';
import { command, jsonLines, sleep } from './support/reliability.js';
import { CLI, requireSimulator, runCli, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

beforeAll(() => {
  requireSimulator();
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
});
afterEach(stopAll);

/** A recording with the button; returns the host-time window in which the recording began. */
async function recordFor(sim: Sim, ms: number): Promise<{ from: number; to: number }> {
  const at = sim.stdout.length;
  const from = Date.now();
  sim.send('press');
  await sim.waitFor(/^mic on/, 20_000, at);
  const to = Date.now();
  await sleep(ms);
  return { from, to };
}

async function stopRecording(sim: Sim): Promise<void> {
  const at = sim.stdout.length;
  await command(sim, 'stop');
  await sim.waitFor(/^mic off/, 20_000, at);
}

/** `battery 0`: the recorder closes what it records and then loses its power (exit status 4). */
async function flatBattery(sim: Sim): Promise<void> {
  const at = sim.stdout.length;
  await command(sim, 'battery 0');
  await sim.waitFor(/^power lost: battery flat/, 20_000, at);
  expect((await sim.driver.exit).code).toBe(4);
}

async function syncUntilSigned(link: string, lib: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const s = await runCli(['sync', '--port', link, '--dest', lib, '--json']);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    if (!s.stdout.includes('"code":"SIGNATURE_PENDING"')) return s.stdout;
    if (attempt === 20) throw new Error('the recorder did not sign its recordings');
    await sleep(250);
  }
}

describe('a flat battery loses the clock; the app places what was recorded without one', () => {
  it('every recording made without a clock is placed with an interval that contains its true start', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    let sim = await startSim({ dir, sizeMb: 64 });
    const image = sim.image;

    // The first sync sets the clock (and makes the signing key).
    const firstSync = Date.now();
    const first = await runCli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    expect(first.code, first.stderr).toBe(0);

    // time left: card and battery
    const info = await runCli(['info', '--port', sim.link]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/Time left: {2}about \d+ (h|min|days) of card, about \d+ (h|min) of battery \(estimate\)/);

    const t1 = await recordFor(sim, 1500);
    await stopRecording(sim);
    // battery 0 mid-recording: the low-battery stop closes it, then the power goes
    const t2 = await recordFor(sim, 1500);
    await flatBattery(sim);

    // Boot 2: no clock.
    sim = await startSim({ dir, image });
    await sleep(700);
    const t3 = await recordFor(sim, 1500);
    await stopRecording(sim);
    await sleep(500);
    await flatBattery(sim);

    // Boot 3: no clock; the sync comes in this boot.
    sim = await startSim({ dir, image });
    await sleep(500);
    const t4 = await recordFor(sim, 1500);
    await stopRecording(sim);
    await sleep(1000);
    const out = await syncUntilSigned(sim.link, lib);
    expect(jsonLines(out).some((e) => e.type === 'file.verified' && (e as { timeEstimate?: unknown }).timeEstimate)).toBe(true);

    const manifests = readdirSync(lib)
      .filter((n) => n.endsWith('.json') && /_\d+\.json$/.test(n))
      .map((n) => JSON.parse(readFileSync(join(lib, n), 'utf8')) as Manifest)
      .sort((a, b) => a.recording.number - b.recording.number);
    expect(manifests.map((m) => m.recording.number)).toEqual([1, 2, 3, 4]);
    const [m1, m2, m3, m4] = manifests as [Manifest, Manifest, Manifest, Manifest];

    // made with a clock: dated, no estimate; the second stopped for the battery
    for (const [m, t] of [[m1, t1], [m2, t2]] as const) {
      expect(m.recording.clockSet).toBe(true);
      expect(m.times.estimate).toBeUndefined();
      const start = Number(m.times.deviceStartUnixMs);
      expect(start).toBeGreaterThanOrEqual(t.from - 1000);
      expect(start).toBeLessThanOrEqual(t.to + 1000);
    }
    expect(m2.recording.stopReason).toBe('low-battery');
    // their clock was set at the first sync, and lost before the next: no drift could be measured
    for (const m of [m1, m2]) {
      const c = m.times.clockSinceSet!;
      expect(c, JSON.stringify(m.times)).toBeDefined();
      expect(c.lastSetUnixMs).toBeGreaterThanOrEqual(firstSync);
      expect(c.lastSetUnixMs).toBeLessThanOrEqual(t1.from);
      expect(c.driftMs).toBeNull();
    }

    // made without: estimated, and the interval contains the moment of the press
    for (const [m, t] of [[m3, t3], [m4, t4]] as const) {
      expect(m.recording.clockSet).toBe(false);
      const e = m.times.estimate!;
      expect(e, JSON.stringify(m.times)).toBeDefined();
      expect(e.estimated).toBe(true);
      expect(e.earliestUnixMs).not.toBeNull();
      expect(e.earliestUnixMs!).toBeLessThanOrEqual(t.to);
      expect(e.latestUnixMs).toBeGreaterThanOrEqual(t.from);
    }
    // the boot of this sync: from its uptime, to within the INFO round trip and drift (seconds at most)
    expect(m4.times.estimate!.method).toBe('same-boot-as-this-sync');
    expect(m4.times.estimate!.errorMs!).toBeLessThan(5000);
    // an earlier boot without a clock set in it: after the clock's set before it (the first sync)
    // and its uptime, before the sync now less the recording
    expect(m3.times.estimate!.method).toBe('journal-order');
    expect(m3.times.estimate!.earliestUnixMs!).toBeGreaterThanOrEqual(firstSync);
    expect(m3.times.estimate!.latestUnixMs).toBeLessThanOrEqual(t4.to);

    expect(await sim.quit()).toBe(0);
  });
});
