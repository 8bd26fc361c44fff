/**
 * "A recorder unplugged while the app decrypts" (issue 18, faults left open): the real firmware in
 * the simulator encrypts two recordings to the library's owner key; `recorder sync` copies the
 * first and decrypts it, and the simulator is killed (a bus-powered recorder pulled out) as soon
 * as the decrypted WAV's .part appears, then started again on the same card and pseudo-terminal
 * path, as a replugged USB device. The app finishes: exit 0, both recordings in the library, each
 * .age byte-identical to the card's and each WAV what the stock `age -d` gives; no .part or
 * temporary file left; `recorder verify` passes; nothing deleted from the card. The kill is timed
 * by the file system, not by a clock: it lands while the first WAV is being written, or (on a
 * machine fast enough to finish first) just after; every check holds in both cases, and the test
 * prints which it was.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, stopAllProcesses } from '../host/sim/driver.js';
import { CLI, mcopyOut, requireSimulator, requireTool, runCli, SIM_BIN, startCli, startSim, stopAll, tempDir } from './support/sim.js';

const SPEED = 10;

afterAll(async () => {
  await stopAllProcesses(2000);
  await stopAll();
});

describe('a recorder unplugged while the app decrypts', () => {
  it('sync waits for it, finishes, and nothing is lost or left half-written', async () => {
    requireSimulator();
    requireTool('age', 'age');
    requireTool('mcopy', 'mtools');
    if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
    const dir = tempDir('rec-unplug-');
    const root = join(dir, 'library');
    const dest = join(root, 'Kitchen');
    const image = join(dir, 'card.img');
    const env = { HOME: dir };
    expect((await runCli(['keys', 'new', '--library', root], 60_000, env)).code).toBe(0);
    const keyFile = join(root, 'keys', readdirSync(join(root, 'keys')).find((n) => n.endsWith('.txt'))!);

    const sim = await startSim({ dir, image, sizeMb: 64, speed: SPEED, mic: 'sine:440' });
    expect((await runCli(['sync', '--port', sim.link, '--dest', dest], 120_000, env)).code).toBe(0);
    expect((await runCli(['recipient', 'set', '--library', root, '--port', sim.link], 60_000, env)).code).toBe(0);
    // Two recordings: the first of 40 device seconds (1.3 MB: its decryption takes a while), the second short.
    for (const seconds of [40, 3]) {
      let from = sim.stdout.length;
      sim.send('press');
      await sim.waitFor(/^mic on/, 20_000, from);
      await new Promise((r) => setTimeout(r, (seconds * 1000) / SPEED));
      from = sim.stdout.length;
      sim.send('stop');
      await sim.waitFor(/^mic off/, 20_000, from);
    }
    // Let the recorder seal both (it does in its idle time) before the sync that is cut.
    await new Promise((r) => setTimeout(r, 3000));
    const link = sim.link;

    const app = startCli(['sync', '--port', link, '--dest', dest, '--json'], 240_000);
    // The kill: at the first sight of the decrypted WAV's .part (polled every 2 ms).
    let killedWhile = 'not yet';
    for (const t0 = Date.now(); Date.now() - t0 < 120_000; ) {
      const names = existsSync(dest) ? readdirSync(dest) : [];
      if (names.some((n) => n.endsWith('_1.wav.part'))) killedWhile = 'the first WAV was being written';
      else if (names.some((n) => n.endsWith('_1.wav'))) killedWhile = 'just after the first WAV was written';
      if (killedWhile !== 'not yet') break;
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(killedWhile).not.toBe('not yet');
    await sim.kill();
    console.log(`hostile-unplug-decrypt: the recorder was pulled while ${killedWhile}`);
    await new Promise((r) => setTimeout(r, 1000));
    const replugged = await startSimulator({ bin: SIM_BIN, image, link, sizeMb: 64, mic: 'sine:440', speed: SPEED, boost: true, timeoutMs: 240_000 });
    const code = await app.done;
    const said = JSON.stringify(app.events) + app.text.join('\n') + app.stderr.join('');
    expect(code, said.slice(-3000)).toBe(0);
    // It said the recorder went away and came back.
    expect(app.events.map((e) => e.type)).toEqual(expect.arrayContaining(['link.disconnected', 'link.reconnected']));
    expect((await replugged.quit(20_000)).code).toBe(0);

    const names = readdirSync(dest);
    expect(names.filter((n) => /\.part$|\.tmp-/.test(n))).toEqual([]);
    for (const n of [1, 2]) {
      const age = join(dest, names.find((x) => x.endsWith(`_${n}.age`))!);
      const onCard = join(dir, `REC0000${n}.AGE`);
      mcopyOut(image, `RECORDS/REC0000${n}.AGE`, onCard);
      expect(readFileSync(age).equals(readFileSync(onCard)), `recording ${n}'s .age`).toBe(true);
      const stock = spawnSync('age', ['-d', '-i', keyFile, age], { timeout: 60_000, maxBuffer: 64 << 20 });
      expect(stock.status).toBe(0);
      expect(readFileSync(age.replace(/\.age$/, '.wav')).equals(stock.stdout), `recording ${n}'s WAV`).toBe(true);
    }
    const v = await runCli(['verify', dest, '--json'], 120_000, env);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 300_000);
});
