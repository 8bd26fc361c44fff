/**
 * Issue 16 end to end on the Cortex-M3 build in QEMU (docs/qemu.md): the same provision, record,
 * hand back, provision for a second family as on the simulator (test/support/provision-flow.ts),
 * with the button on the console. The card is small (64 MiB, the least FAT32 takes) so the hand-back's wipe, which writes
 * zeros over every block on QEMU's SD model, stays short; `--min-hours 0.1` lets it pass the
 * provisioning's room check. QEMU's board does not measure its battery (0 mV) and its build does not encrypt: both said, not
 * refused.
 */
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_FLAGS } from '../protocol/src/schema.js';
import { makeCard, requireQemu, startQemu, stopAllQemu, type Qemu } from './support/qemu.js';
import { provisionFlow } from './support/provision-flow.js';
import { RawClient } from './support/raw-client.js';
import { until } from './support/recording.js';
import { CLI, requireTool, runCli, stopAll, tempDir } from './support/sim.js';

const MiB = 1024 * 1024;

beforeAll(() => {
  requireQemu();
  requireTool('mkfs.fat', 'dosfstools');
  if (!statSync(CLI, { throwIfNoEntry: false })) throw new Error(`the app is not built at ${CLI}: run npm run build`);
});

afterEach(async () => {
  await stopAllQemu();
  await stopAll();
});

/** A recording of about a second made with the console's button, then sealed by the recorder. */
async function recordWithButton(q: Qemu): Promise<void> {
  let mark = q.lines.length;
  q.send('press');
  await q.waitFor(/^state rec=recording/, 30_000, mark);
  const c = await RawClient.open(q.pty);
  try {
    await c.ok('HELLO', { maxPayload: 4096 });
    await until('a second of audio', 30_000, async () => (Number((await c.ok('INFO')).currentSamples) >= 16000 ? true : undefined));
    mark = q.lines.length;
    q.send('stop');
    await q.waitFor(/^state rec=idle/, 30_000, mark);
    // The recorder signs in its idle time: copied only once sealed, so the hand-back verifies it signed.
    await until('sealed', 60_000, async () => {
      const l = (await c.ok('LIST', { afterNumber: 0, maxEntries: 20 })).entries as { flags: number }[];
      return l.length > 0 && l.every((e) => Number(e.flags) & RECORD_FLAGS.SEALED) ? true : undefined;
    });
  } finally {
    await c.close();
  }
}

describe('recorder provision on QEMU', () => {
  it('provision, record, hand back, provision for a second family: loan B never shows loan A', async () => {
    const home = tempDir('rec-qemu-');
    const image = join(home, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image, timeoutMs: 600_000 });
    await provisionFlow({
      cli: (args) => runCli(args, 300_000, { HOME: home }),
      library: join(home, 'Recordings'),
      port: q.pty,
      encrypts: false,
      record: () => recordWithButton(q),
    });
    expect(await q.quit()).toBe(0);
  }, 600_000);
});
