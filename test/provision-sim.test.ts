/**
 * Issue 16 end to end on the simulated recorder (the real C firmware): `recorder provision` for a
 * first family (loan A), a recording, `recorder handback`, `recorder provision` for a second family
 * (loan B), a recording. Loan B's library view and export never show loan A's recording; the wipe
 * certificate is in loan A's custody log; each hand-out is written 0600 with the fingerprint the
 * recorder signs with. Bad input: a recorder still holding recordings, a low battery and a card
 * too slow are refused, and nothing on the recorder or in the library is changed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { record } from './support/reliability.js';
import { CLI, requireSimulator, runCli, startSim, stopAll, tempDir, type Sim } from './support/sim.js';
import { provisionFlow, type Cli } from './support/provision-flow.js';

const SPEED = 20;

beforeAll(() => {
  requireSimulator();
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
});

afterEach(stopAll);

/** The CLI with HOME in the test's folder: the library is its ~/Recordings. */
const cliIn = (home: string): Cli => (args) => runCli(args, 120_000, { HOME: home });

describe('recorder provision on the simulated recorder', () => {
  it('provision, record, hand back, provision for a second family: loan B never shows loan A', async () => {
    const home = tempDir();
    const sim = await startSim({ dir: home, sizeMb: 64, speed: SPEED });
    await provisionFlow({
      cli: cliIn(home),
      library: join(home, 'Recordings'),
      port: sim.link,
      encrypts: true,
      record: () => record(sim, 2, SPEED),
    });
    await sim.quit();
  }, 300_000);

  it('the hand-out promises the hours the recorder itself reports on a full battery (one cell model)', async () => {
    const home = tempDir();
    const cli = cliIn(home);
    const sim = await startSim({ dir: home, sizeMb: 64, speed: SPEED });
    // 48 kHz with the light off: the rate's own current (a faster clock, three times the card writes), no LED
    const r = await cli(['provision', '--loan', 'ADV-H', '--rate', '48000', '--discreet', 'on', '--min-hours', '0.1', '--port', sim.link, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const promised = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { result: { batteryHours: { small: number } } }).result.batteryHours.small;
    sim.send('battery 4200');
    let device: Record<string, unknown> = {};
    for (let i = 0; i < 20 && Number(device.batteryMv ?? 0) < 4200; i++) {
      const info = await cli(['info', '--port', sim.link, '--json']);
      device = (JSON.parse(info.stdout.trim().split('\n').at(-1)!) as { device: Record<string, unknown> }).device;
    }
    expect(device.batteryMv).toBe(4200);
    expect(device.sampleRate).toBe(48000);
    expect(Math.abs(Number(device.batterySecondsLeft) - promised * 3600)).toBeLessThan(1);
    // and not the 16 kHz figure the hand-out used to give whatever the rate
    expect(promised).toBeLessThan(9);
    await sim.quit();
  }, 240_000);

  it('refuses a low battery, and a card too slow for the rate, changing nothing', async () => {
    const home = tempDir();
    const cli = cliIn(home);
    let sim: Sim = await startSim({ dir: home, sizeMb: 64, speed: SPEED });
    const before = await cli(['info', '--port', sim.link, '--json']);
    const mark = sim.stdout.length;
    sim.send('battery 3200');
    await sim.waitFor(/battery=low/, 20_000, mark);
    const low = await cli(['provision', '--loan', 'ADV-L', '--min-hours', '0.1', '--port', sim.link, '--json']);
    expect(low.code, low.stdout + low.stderr).toBe(1);
    expect(low.stdout).toMatch(/"code":"LOW_BATTERY"/);
    expect(low.stdout).toMatch(/Charge it/);
    expect(low.stdout).toMatch(/"failedStep":"check"/);
    const after = await cli(['info', '--port', sim.link, '--json']);
    const device = (out: string) => {
      const d = (JSON.parse(out.trim().split('\n').at(-1)!) as { device: Record<string, unknown> }).device;
      return { label: d.label, sampleRate: d.sampleRate, discreet: d.discreet, encrypting: d.encrypting };
    };
    expect(device(after.stdout)).toEqual(device(before.stdout));
    expect(existsSync(join(home, 'Recordings', 'fleet.json')) ? readFileSync(join(home, 'Recordings', 'fleet.json'), 'utf8') : '').not.toContain('ADV-L');
    await sim.quit();

    // 20 kB/s: less than the 32 kB/s a recording at 16 kHz needs
    sim = await startSim({ dir: home, image: join(home, 'slow.img'), sizeMb: 64, speed: SPEED, extraArgs: ['--card-speed', '20000'] });
    const slow = await cli(['provision', '--loan', 'ADV-S', '--min-hours', '0.1', '--port', sim.link, '--json']);
    expect(slow.code, slow.stdout + slow.stderr).toBe(1);
    expect(slow.stdout).toMatch(/"code":"CARD_PROBLEM"/);
    expect(slow.stdout).toMatch(/"failedStep":"card"/);
    const info = await cli(['info', '--port', sim.link, '--json']);
    expect(device(info.stdout).encrypting).toBe(false);
    expect(device(info.stdout).label).not.toBe('ADV-S');
    await sim.quit();
  }, 240_000);
});
