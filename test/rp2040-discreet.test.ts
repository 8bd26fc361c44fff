/**
 * The discreet confirmation on the RP2040 port under rp2040js (docs/firmware.md, LED): the button
 * (GP7) held for a second or more is answered by the LED's dim glow (GP13's output off and its
 * pad's pull-up on), two short glows when idle and one long one while recording, and starts or
 * stops nothing; a short press starts a recording and, while recording, drops a marker (one short
 * glow); held 2 s it stops (three glows: docs/firmware.md, "The button"). In discreet mode the LED
 * stays off while recording.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { REC_STATE, SETTINGS_MASK } from '../protocol/src/schema.js';
import { Board, requireRp2040Image } from './support/rp2040.js';
import { SdCardSpi } from './support/sd-card-spi.js';
import { requireTool, stopAll, tempDir } from './support/sim.js';

let firmware: Uint8Array;
beforeAll(() => {
  firmware = requireRp2040Image();
  requireTool('mkfs.fat', 'dosfstools');
});

const boards: Board[] = [];
afterEach(async () => {
  for (const b of boards.splice(0)) await b.stop();
  await stopAll();
});

it('answers a held button with the dim glow; a short press records, then drops a marker; a 2 s hold stops', async () => {
  const path = join(tempDir('rec-rp2040-'), 'card.img');
  const r = spawnSync('mkfs.fat', ['-F', '32', '-n', 'RECORDER', '-C', path, String(64 * 1024)], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  expect(r.status, r.stderr).toBe(0);
  const b = new Board({ firmware, card: new SdCardSpi(new Uint8Array(readFileSync(path))) });
  boards.push(b);
  await b.until('USB enumeration', () => b.connected, 10_000);
  await b.ok('HELLO', { maxPayload: 4096 });
  await b.ok('SETTINGS', { setMask: SETTINGS_MASK.DISCREET, discreet: 1, sampleRate: 0 });
  const recState = async () => (await b.ok('INFO')).recState;
  const waitState = async (want: number) => {
    // Starting preallocates the card's free space: seconds of emulated time.
    for (let i = 0; i < 40 && (await recState()) !== want; i++) await b.sleep(500);
    expect(await recState()).toBe(want);
  };

  // Idle: held 1.3 s (the answer starts at 1 s, while it is still down): two glows.
  await b.press(1300);
  await b.sleep(1000);
  expect(b.dimGlows).toBe(2);
  expect(b.ledDim).toBe(false);
  expect(await recState()).toBe(REC_STATE.IDLE);

  // A short press records; discreet: the LED stays off.
  await b.press(60);
  await waitState(REC_STATE.RECORDING);
  expect(b.ledOn).toBe(false);

  // Recording: one glow, and it records on.
  await b.press(1300);
  await b.sleep(1000);
  expect(b.dimGlows).toBe(3);
  expect(b.ledOn).toBe(false);
  expect(await recState()).toBe(REC_STATE.RECORDING);

  // A short press while recording drops a marker: one more glow, and it records on.
  await b.press(60);
  await b.sleep(600);
  expect(b.dimGlows).toBe(4);
  expect(await recState()).toBe(REC_STATE.RECORDING);

  // Held 2.3 s: the hold's glow at 1 s, then at 2 s the stop and its three glows.
  await b.press(2300);
  await waitState(REC_STATE.IDLE);
  await b.sleep(1500);
  expect(b.dimGlows).toBe(8);
}, 240_000);
