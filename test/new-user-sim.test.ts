/**
 * What a new user sees from the simulator (issue 15): a fresh card is not reported as "repaired"
 * (the first mount of a card without the recorder's update marker runs the same check as after
 * a cut, but nothing was cut), while a card whose marker is damaged still is.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CARD_LAYOUT } from '../protocol/src/schema.js';
import { requireSimulator, requireTool, startSim, stopAll, tempDir } from './support/sim.js';

beforeAll(() => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
});
afterEach(stopAll);

const REPAIRED = /card repaired after an interrupted update/;

/** Boots the simulator on `image` and shuts it down cleanly; returns its stderr. */
async function boot(dir: string, image: string): Promise<string> {
  const sim = await startSim({ dir, image, sizeMb: 64, timeoutMs: 30_000 });
  expect(await sim.quit()).toBe(0);
  return sim.stderr.join('');
}

describe('the simulator on a new card', () => {
  it('does not log "card repaired" for a fresh card, but does for a damaged update marker', async () => {
    const dir = tempDir();
    const image = join(dir, 'card.img');
    const first = await boot(dir, image);
    expect(first).toMatch(/formatted it FAT32/);
    expect(first).not.toMatch(REPAIRED);
    // A second boot of the same card: its marker says clean.
    expect(await boot(dir, image)).not.toMatch(REPAIRED);
    // A marker that is there but unreadable is what a cut leaves: that card is repaired.
    const zeros = join(dir, 'zeros.bin');
    writeFileSync(zeros, Buffer.alloc(512));
    const marker = `::/${CARD_LAYOUT.systemDir}/${CARD_LAYOUT.stateFile}`;
    const r = spawnSync('mcopy', ['-o', '-i', image, zeros, marker], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(await boot(dir, image)).toMatch(REPAIRED);
  }, 60_000);
});
