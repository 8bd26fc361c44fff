/**
 * The demo recorder: when `recorder` (npm start) finds no recorder, it starts the firmware
 * simulator with a few recordings of speech-like audio, labelled as simulated, so a newcomer sees
 * the whole app work. The demo card and library live in a temporary folder, never in the real
 * library.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../engine/engine.js';
import { buildSimulator, findSimulator, firmwareCheckout, recordWithButton, startSimulator, type SimulatorOptions } from '../sim/driver.js';

export const DEMO_LABEL = 'Demo (simulated)';

export interface Demo {
  link: string;
  library: string;
  folder: string;
  stop(): Promise<void>;
}

/**
 * Starts the demo: a fresh card with three recordings (about 45, 90 and 30 seconds of
 * speech-like audio), then the simulator again in real time for the app to connect to.
 */
export async function startDemo(log: (s: string) => void, folder = join(tmpdir(), 'evidence-recorder-demo')): Promise<Demo> {
  let bin = findSimulator();
  if (!bin) {
    // First run: a lean release build of the simulator alone (no tests, so no cmocka needed).
    // An installed app has no firmware sources: buildSimulator says how to get the simulator.
    if (firmwareCheckout()) log('Building the simulated recorder (first run only)...');
    bin = buildSimulator();
  }
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const image = join(folder, 'card.img');
  const link = join(folder, 'recorder-tty');
  const library = join(folder, 'library');
  // No hard time limit: the demo runs as long as the app does.
  const common: SimulatorOptions = { bin, image, link, sizeMb: 128, mic: 'demo', timeoutMs: 2 ** 31 - 1 };
  log('No recorder found: starting the simulated recorder with demo recordings...');

  // Make the demo recordings quickly: 40 times real time.
  const speed = 40;
  const fast = await startSimulator({ ...common, speed, timeoutMs: 600_000 });
  try {
    // Date the recordings as after provisioning. The device clock runs 40 times fast here, so
    // start it back by the demo's length: the recordings then end about now, not in the future.
    const lengths = [45, 90, 30];
    const aheadMs = (lengths.reduce((a, b) => a + b, 0) + 30) * 1000;
    // Its library is the demo folder: the simulated recorder is not noted in the real fleet.
    const engine = createEngine({ port: link, now: () => Date.now() - aheadMs, library: folder });
    await engine.setLabel(DEMO_LABEL);
    await engine.setTime();
    for (const seconds of lengths) await recordWithButton(fast, seconds, speed, 10_000);
  } finally {
    await fast.quit(10_000);
  }
  // Then in real time, as a recorder on a desk would be.
  const live = await startSimulator(common);
  return {
    link,
    library,
    folder,
    async stop() {
      await live.quit(10_000);
    },
  };
}
