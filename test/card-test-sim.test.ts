/**
 * The card test and the button scheme on the simulated recorder (issue 16), through the app's
 * command line: `recorder card-test` on a fast image and on one slowed by --card-speed (the
 * recorder's own clock measures the slow card, and the verdict says it is too slow); a power cut
 * in the middle of a test leaves the scratch file, which the next boot removes; and with
 * `settings --buttons no-markers` presses while recording leave no marker in the WAV or journal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CARD_LAYOUT, JOURNAL_KIND } from '../protocol/src/schema.js';
import { decodeStruct, type StructValue } from '../protocol/src/codec.js';
import { parseWav } from '../host/engine/wav.js';
import { ClientPool } from './support/raw-client.js';
import { until } from './support/recording.js';
import { CLI, fsckCheck, mcopyOut, requireSimulator, requireTool, runCli, startSim, stopAll, tempDir } from './support/sim.js';

beforeAll(() => {
  requireSimulator();
  for (const [tool, pkg] of [['mcopy', 'mtools'], ['mdir', 'mtools'], ['fsck.fat', 'dosfstools']] as const) requireTool(tool, pkg);
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npx tsc -p tsconfig.build.json`);
});

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
  await stopAll();
});

/** The files of a folder of the card image (mdir -b). */
function cardFiles(image: string, folder: string): string[] {
  const r = spawnSync('mdir', ['-b', '-i', image, `::${folder}`], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('/').at(-1)!);
}

interface CardTestJson {
  ok: boolean;
  result: { testedBytes: number; writeBytesPerSecond: number; readBackMatched: boolean; fileSystem: string; freeBytes: number };
  verdict: { ok: boolean; problems: { code: string }[] };
}

function lastJson(stdout: string): CardTestJson {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as CardTestJson;
}

describe('card test on the simulator', () => {
  it('a fast card will do; a card slowed to 60 KB/s is measured so and is too slow; the test leaves nothing behind', async () => {
    const dir = tempDir();
    // 1200 MB (sparse) holds over 8 hours at 16 kHz, so the fast card passes on every count.
    const fast = await startSim({ dir, sizeMb: 1200 });
    const r = await runCli(['card-test', '--port', fast.link, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.result).toMatchObject({ testedBytes: CARD_LAYOUT.cardTestDefaultBytes, readBackMatched: true, fileSystem: 'ok' });
    expect(j.result.writeBytesPerSecond).toBeGreaterThan(1_000_000);
    expect(cardFiles(fast.image, 'SYSTEM')).not.toContain('CARDTEST.TMP');
    expect(await fast.quit()).toBe(0);
    expect(fsckCheck(fast.image).status).toBe(0);

    // The same image in a card that writes 60,000 bytes a second: 256 KiB take some 4.4 s.
    const slow = await startSim({ dir, image: fast.image, extraArgs: ['--card-speed', '60000'] });
    const s = await runCli(['card-test', '--bytes', '262144', '--port', slow.link, '--json']);
    expect(s.code, s.stderr).toBe(1);
    const k = lastJson(s.stdout);
    // Never faster than the card (its sleeps only add); well above half of it on a loaded machine.
    expect(k.result.writeBytesPerSecond).toBeLessThanOrEqual(60_000 * 1.02);
    expect(k.result.writeBytesPerSecond).toBeGreaterThan(30_000);
    expect(k.verdict.problems.map((p) => p.code)).toContain('CARD_TOO_SLOW');
    const plain = await runCli(['card-test', '--bytes', '65536', '--port', slow.link]);
    expect(plain.stdout).toMatch(/The card will NOT do for a loan at 16000 Hz:[\s\S]*recording at 16000 Hz needs at least 128 KB\/s/);
    expect(await slow.quit()).toBe(0);
  }, 180_000);

  it('a power cut during the test leaves its scratch file; the next boot removes it and the space is free again', async () => {
    const dir = tempDir();
    const first = await startSim({ dir, sizeMb: 64, extraArgs: ['--card-speed', '100000'] });
    const before = await runCli(['info', '--port', first.link, '--json']);
    const freeBefore = Number((JSON.parse(before.stdout.trim().split('\n').at(-1)!) as { device: { cardFree: string } }).device.cardFree);
    // 4 MiB at 100 KB/s: some 40 s of writing, time enough to see the file and cut the power.
    const c = await clients.connect(first.link, { hello: true });
    void c.call('CARD_TEST', { bytes: 0, seed: 7 }, 120_000).catch(() => undefined);
    await until('the scratch file on the card', 30_000, async () => (cardFiles(first.image, 'SYSTEM').includes('CARDTEST.TMP') ? true : undefined));
    await first.kill();
    await clients.closeAll();
    expect(cardFiles(first.image, 'SYSTEM')).toContain('CARDTEST.TMP');

    const second = await startSim({ dir, image: first.image });
    await until('the boot to remove it', 20_000, async () => (second.stderr.join('').includes('removing the scratch file of a card test cut short') ? true : undefined));
    const after = await runCli(['info', '--port', second.link, '--json']);
    expect(after.code, after.stderr).toBe(0);
    expect(Number((JSON.parse(after.stdout.trim().split('\n').at(-1)!) as { device: { cardFree: string } }).device.cardFree)).toBe(freeBefore);
    expect(await second.quit()).toBe(0);
    expect(cardFiles(second.image, 'SYSTEM')).not.toContain('CARDTEST.TMP');
    expect(fsckCheck(second.image).status).toBe(0);
  }, 180_000);
});

describe('button scheme no-markers on the simulator', () => {
  it('presses while recording leave no marker in the WAV or the journal; a long hold still stops', async () => {
    const dir = tempDir();
    const sim = await startSim({ dir, sizeMb: 64 });
    const set = await runCli(['settings', '--buttons', 'no-markers', '--port', sim.link, '--json']);
    expect(set.code, set.stderr).toBe(0);
    const info = await runCli(['info', '--port', sim.link]);
    expect(info.stdout).toContain('Button:     no-markers');
    let from = sim.stdout.length;
    sim.send('press');
    await sim.waitFor(/^mic on/, 20_000, from);
    for (let i = 0; i < 3; i++) {
      from = sim.stdout.length;
      sim.send('press');
      await sim.waitFor(/^ok press/, 20_000, from);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(sim.stdout.filter((l) => /^mic off/.test(l))).toEqual([]);
    from = sim.stdout.length;
    sim.send('stop');
    await sim.waitFor(/^mic off/, 20_000, from);
    const c = await clients.connect(sim.link, { hello: true });
    const list = decodeStruct('LIST', (await c.call('LIST', { afterNumber: 0, maxEntries: 4 })).payload);
    const entries = list.entries as StructValue[];
    expect(entries).toHaveLength(1);
    const records = decodeStruct('JOURNAL', (await c.call('JOURNAL', { fromIndex: 0, maxRecords: 30, reserved: 0 })).payload).records as StructValue[];
    expect(records.filter((r) => Number(r.kind) === JOURNAL_KIND.MARKER)).toEqual([]);
    await clients.closeAll();
    expect(await sim.quit()).toBe(0);
    expect(sim.stderr.join('')).toContain('press ignored: the button scheme takes no markers');
    const name = `REC${String(Number(entries[0]!.number)).padStart(5, '0')}.WAV`;
    mcopyOut(sim.image, `RECORDS/${name}`, join(dir, name));
    const wav = readFileSync(join(dir, name));
    const parsed = await parseWav(async (o, n) => wav.subarray(o, o + n), wav.length);
    expect(parsed.problems).toEqual([]);
    expect(parsed.layout.markers).toEqual([]);
    expect(Number(entries[0]!.sampleCount)).toBeGreaterThan(8000); // the presses took over a second
  }, 120_000);
});
