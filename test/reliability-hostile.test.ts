/**
 * Hostile and broken input, end to end. The cmocka tests (firmware/tests/test_app.c) and the
 * engine's unit tests (host/engine/*.test.ts) cover these cases with fakes; here the real
 * simulator, the real card image, the built CLI and the real file system:
 *
 * Device side: no card, card pulled while recording, card full, battery low, a card that is not
 * FAT32 or is damaged (no writes at all: the image bytes are compared).
 * App side: malformed, truncated and oversized WAVs and edited manifests given to `recorder
 * verify`; symlinks where the copy or its manifest would go; names with path separators from
 * the device; a full disk (a 1 MiB tmpfs, or injected ENOSPC when mounting is not allowed); a
 * read-only destination; destinations under /proc or a file, or a planted link (sync, export,
 * excerpt and markers answer at once).
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, symlinkSync, writeFileSync, ftruncateSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CARD_STATE, REC_STATE, RECORD_ACTION, STOP_REASON } from '../protocol/src/schema.js';
import { createEngine } from '../host/engine/engine.js';
import type { Fs } from '../host/engine/library.js';
import { setup } from '../host/engine/testing/harness.js';
import { ClientPool, RawClient } from './support/raw-client.js';
import { cardJournal, cardRecordings, checkJournalChain, checkWav, command, jsonLines, record, scanLibrary, sleep, waitLine } from './support/reliability.js';
import { CLI, fsckCheck, requireSimulator, requireTool, runCli, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

beforeAll(() => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
  requireTool('mkfs.fat', 'dosfstools');
  requireTool('fsck.fat', 'dosfstools');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
});

const clients = new ClientPool();
const mounts: string[] = [];
afterEach(async () => {
  await clients.closeAll();
  for (const m of mounts.splice(0)) spawnSync('umount', ['-l', m]);
  await stopAll();
});

const connect = (link: string) => clients.connect(link, { hello: true });

const fileSha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

async function list(c: RawClient): Promise<Record<string, unknown>[]> {
  const r = await c.ok('LIST', { afterNumber: 0, maxEntries: 50 });
  return r.entries as Record<string, unknown>[];
}

/** Errors a request gets (its ERROR code), or null when it succeeded. */
async function errorOf(c: RawClient, cmd: Parameters<RawClient['call']>[0], value: Record<string, unknown> = {}): Promise<number | null> {
  const f = await c.call(cmd, value as never);
  return f.kind === 2 ? f.payload.readUInt16LE(0) : null;
}

function tryMount(dir: string, options: string): boolean {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  mounts.push(dir);
  return true;
}

describe('device side: cards and batteries that misbehave', () => {
  it('no card: the recorder says so, records nothing, and works once a card is in', async () => {
    const dir = tempDir('rec-hostile-');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    let from = sim.stdout.length;
    await command(sim, 'eject'); // before any host or button touches it
    await sim.waitFor(/card=none/, 20_000, from);
    const c = await connect(sim.link);
    const info = await c.ok('INFO');
    expect(info.cardState).toBe(CARD_STATE.NONE);
    expect(await errorOf(c, 'LIST', { afterNumber: 0, maxEntries: 10 })).not.toBeNull();
    expect(await errorOf(c, 'RECORD', { action: RECORD_ACTION.START })).not.toBeNull();
    from = sim.stdout.length;
    await command(sim, 'press');
    await sleep(300);
    expect(sim.stdout.slice(from).some((l) => /^mic on/.test(l))).toBe(false);
    // The app explains instead of failing obscurely (the port is the app's alone meanwhile).
    await c.close();
    const r = await runCli(['sync', '--port', sim.link, '--dest', join(dir, 'lib'), '--json']);
    expect(r.code).not.toBe(0);
    expect(jsonLines(r.stdout).some((e) => e.type === 'warning' && e.code === 'CARD_PROBLEM')).toBe(true);
    // The state line of the insertion, not the one printed at boot (card=ok too).
    from = sim.stdout.length;
    await command(sim, 'insert');
    await sim.waitFor(/card=ok/, 20_000, from);
    const c2 = await connect(sim.link);
    expect(await list(c2)).toEqual([]);
    await c2.close();
    await record(sim, 2, 20);
    expect(await sim.quit()).toBe(0);
    expect(fsckCheck(sim.image).status).toBe(0);
    expect([...cardRecordings(sim.image, dir).keys()]).toEqual([1]);
  });

  it('card pulled while recording: stops, keeps what was written, closes it on reinsertion, records again', async () => {
    const dir = tempDir('rec-hostile-');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    const c = await connect(sim.link);
    sim.send('press');
    await sim.waitFor(/^mic on/);
    let reached = 0;
    for (let i = 0; i < 200 && reached < 3 * 16000; i++) {
      reached = Number((await c.ok('INFO')).currentSamples);
      await sleep(20);
    }
    let from = sim.stdout.length;
    await command(sim, 'eject');
    await sim.waitFor(/state rec=error card=none/, 20_000, from);
    expect((await c.ok('INFO')).cardState).toBe(CARD_STATE.NONE);
    // The state line of the insertion, not the one printed at boot.
    from = sim.stdout.length;
    await command(sim, 'insert');
    await sim.waitFor(/state rec=idle card=ok/, 20_000, from);
    const entries = await list(c);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.stopReason).toBe(STOP_REASON.CARD_REMOVED);
    expect(Number(entries[0]!.sampleCount)).toBeGreaterThanOrEqual(reached - 16000 - 256);
    // A clean state: a new recording starts and finishes normally.
    await c.close();
    await record(sim, 1, 20);
    expect(await sim.quit()).toBe(0);
    const fsck = fsckCheck(sim.image);
    expect(fsck.status, fsck.output).toBe(0);
    const files = cardRecordings(sim.image, dir);
    expect([...files.keys()]).toEqual([1, 2]);
    for (const [n, f] of files) {
      const w = checkWav(f);
      expect(w.ok, `recording ${n}: ${w.problem}`).toBe(true);
      expect(w.rampBreak, `recording ${n}`).toBe(-1);
    }
    const journal = checkJournalChain(cardJournal(sim.image, dir));
    expect(journal.map((j) => [j.number, j.stopReason])).toEqual([
      [1, STOP_REASON.CARD_REMOVED],
      [2, STOP_REASON.BUTTON],
    ]);
  });

  it('card full: stops and finalises, the journal says CARD_FULL, the card reports full until the app frees space', async () => {
    const dir = tempDir('rec-hostile-');
    const image = join(dir, 'card.img');
    const first = await startSim({ dir, image, sizeMb: 40, speed: 20 });
    expect(await first.quit()).toBe(0);
    // Fill the card from a computer, leaving about 1.5 MB: under a minute at 16 kHz.
    const filler = join(dir, 'filler.bin');
    const mdirOut = spawnSync('mdir', ['-i', image, '::/'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).stdout;
    const free = Number(/([\d ]+) bytes free/.exec(mdirOut)?.[1]?.replace(/ /g, ''));
    expect(free).toBeGreaterThan(4_000_000);
    const fd = openSync(filler, 'w');
    ftruncateSync(fd, free - 1_500_000);
    closeSync(fd);
    expect(spawnSync('mcopy', ['-i', image, filler, '::/FILLER.BIN'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).status).toBe(0);
    const fillerBefore = fileSha(filler);

    const sim = await startSim({ dir, image, speed: 40 });
    sim.send('press');
    await sim.waitFor(/^mic on/);
    await sim.waitFor(/state rec=idle card=full/, 60_000);
    const c = await connect(sim.link);
    const entries = await list(c);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.stopReason).toBe(STOP_REASON.CARD_FULL);
    expect((await c.ok('INFO')).cardState).toBe(CARD_STATE.FULL);
    expect(await errorOf(c, 'RECORD', { action: RECORD_ACTION.START })).not.toBeNull();
    expect((await c.ok('INFO')).recState).toBe(REC_STATE.IDLE);
    await c.close();
    const lib = join(dir, 'lib');
    const card = cardRecordings(image, dir).get(1)!;
    // The app copies it and, once verified, deletes it: the card takes recordings again.
    const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--delete-after-verify', '--json']);
    expect(r.code, r.stdout.slice(-1500)).toBe(0);
    expect(readFileSync(scanLibrary(lib).items.get(1)!.wav).equals(card)).toBe(true);
    const c2 = await connect(sim.link);
    expect((await c2.ok('INFO')).cardState).toBe(CARD_STATE.OK);
    expect(await errorOf(c2, 'RECORD', { action: RECORD_ACTION.START })).toBeNull();
    await c2.ok('RECORD', { action: RECORD_ACTION.STOP });
    await c2.close();
    expect(await sim.quit()).toBe(0);
    const fsck = fsckCheck(image);
    expect(fsck.status, fsck.output).toBe(0);
    const w = checkWav(card);
    expect(w.ok, w.problem).toBe(true);
    expect(w.rampBreak).toBe(-1);
    expect(w.samples).toBeGreaterThan(16000 * 20);
    const journal = checkJournalChain(cardJournal(image, dir));
    expect(journal.map((j) => j.stopReason)).toEqual([STOP_REASON.CARD_FULL, STOP_REASON.HOST]);
    expect(journal[0]!.sampleCount).toBe(w.samples);
    expect([...cardRecordings(image, dir).keys()]).toEqual([2]);
    // The computer's file was not touched.
    const back = join(dir, 'filler-back.bin');
    spawnSync('mcopy', ['-n', '-i', image, '::/FILLER.BIN', back], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    expect(fileSha(back)).toBe(fillerBefore);
  }, 120_000);

  it('battery low: stops and finalises before brown-out, refuses to start until it recovers', async () => {
    const dir = tempDir('rec-hostile-');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    sim.send('press');
    await sim.waitFor(/^mic on/);
    await sleep(150);
    await command(sim, 'battery 3200');
    await sim.waitFor(/^mic off/);
    await sim.waitFor(/state rec=idle card=ok battery=low/);
    let from = sim.stdout.length;
    await command(sim, 'press');
    await sleep(300);
    expect(sim.stdout.slice(from).some((l) => /^mic on/.test(l))).toBe(false);
    const c = await connect(sim.link);
    expect(await errorOf(c, 'RECORD', { action: RECORD_ACTION.START })).not.toBeNull();
    const entries = await list(c);
    expect(entries.map((e) => e.stopReason)).toEqual([STOP_REASON.LOW_BATTERY]);
    await c.close();
    // 3400 mV is not enough (hysteresis); 3500 mV is.
    await command(sim, 'battery 3400');
    from = sim.stdout.length;
    await command(sim, 'press');
    await sleep(300);
    expect(sim.stdout.slice(from).some((l) => /^mic on/.test(l))).toBe(false);
    await command(sim, 'battery 3500');
    await waitLine(sim, /battery=ok/, from);
    await record(sim, 1, 20);
    expect(await sim.quit()).toBe(0);
    expect(fsckCheck(sim.image).status).toBe(0);
    const journal = checkJournalChain(cardJournal(sim.image, dir));
    expect(journal.map((j) => j.stopReason)).toEqual([STOP_REASON.LOW_BATTERY, STOP_REASON.BUTTON]);
    for (const [, f] of cardRecordings(sim.image, dir)) expect(checkWav(f).ok).toBe(true);
  });

  const badCards: { name: string; make: (image: string) => void; states: number[] }[] = [
    {
      name: 'random bytes',
      make: (image) => {
        let x = 12345;
        const b = Buffer.alloc(8 << 20);
        for (let i = 0; i < b.length; i += 4) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          b.writeUInt32LE(x, i);
        }
        writeFileSync(image, b);
      },
      states: [CARD_STATE.UNFORMATTED, CARD_STATE.ERROR],
    },
    {
      name: 'a FAT16 card',
      make: (image) => {
        writeFileSync(image, Buffer.alloc(0));
        const fd = openSync(image, 'r+');
        ftruncateSync(fd, 32 << 20);
        closeSync(fd);
        expect(spawnSync('mkfs.fat', ['-F', '16', image], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status).toBe(0);
      },
      states: [CARD_STATE.UNFORMATTED, CARD_STATE.ERROR],
    },
    {
      name: 'a FAT32 card with a damaged boot sector',
      make: (image) => {
        const fd = openSync(image, 'w');
        ftruncateSync(fd, 40 << 20);
        closeSync(fd);
        expect(spawnSync('mkfs.fat', ['-F', '32', image], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status).toBe(0);
        const b = readFileSync(image);
        b.writeUInt16LE(0x0300, 11); // bytes per sector: 768
        b.writeUInt32LE(0, 36); // sectors per FAT: 0
        writeFileSync(image, b);
      },
      states: [CARD_STATE.UNFORMATTED, CARD_STATE.ERROR],
    },
  ];
  for (const bc of badCards) {
    it(`${bc.name}: a clear card state, nothing recorded, and not one byte written`, async () => {
      const dir = tempDir('rec-hostile-');
      const image = join(dir, 'card.img');
      bc.make(image);
      const before = fileSha(image);
      const sim = await startSim({ dir, image, speed: 20 });
      const c = await connect(sim.link);
      const info = await c.ok('INFO');
      expect(bc.states).toContain(info.cardState);
      expect(await errorOf(c, 'RECORD', { action: RECORD_ACTION.START })).not.toBeNull();
      expect(await errorOf(c, 'LIST', { afterNumber: 0, maxEntries: 10 })).not.toBeNull();
      const from = sim.stdout.length;
      await command(sim, 'press');
      await sleep(300);
      expect(sim.stdout.slice(from).some((l) => /^mic on/.test(l))).toBe(false);
      await c.close();
      const r = await runCli(['sync', '--port', sim.link, '--dest', join(dir, 'lib'), '--json']);
      expect(r.code).not.toBe(0);
      const events = jsonLines(r.stdout);
      expect(events.some((e) => e.type === 'warning' && e.code === 'CARD_PROBLEM'), r.stdout.slice(-1500)).toBe(true);
      expect(r.stdout + r.stderr).not.toMatch(/Unexpected problem/);
      // Pulling and reinserting it does not make the recorder write either.
      await command(sim, 'eject');
      await command(sim, 'insert');
      expect(await sim.quit()).toBe(0);
      expect(fileSha(image)).toBe(before);
    });
  }
});

/** A simulator with two short recordings, synced once into `lib`. */
async function syncedLibrary(): Promise<{ dir: string; sim: Sim; lib: string; items: ReturnType<typeof scanLibrary>['items'] }> {
  const dir = tempDir('rec-hostile-app-');
  const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
  await record(sim, 3, 20);
  await record(sim, 2, 20);
  const lib = join(dir, 'library');
  const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return { dir, sim, lib, items: scanLibrary(lib).items };
}

describe('app side: hostile files and file systems', () => {
  it('verify: malformed, truncated, oversized WAVs and edited manifests fail plainly, never crash', async () => {
    const { dir, sim, items } = await syncedLibrary();
    await sim.quit();
    const good = items.get(1)!;
    const goodWav = readFileSync(good.wav);
    const goodManifest = readFileSync(good.manifestPath, 'utf8');
    const cases: { name: string; wav: Buffer | 'sparse'; manifest: string }[] = [
      { name: 'empty', wav: Buffer.alloc(0), manifest: goodManifest },
      { name: 'truncated-header', wav: goodWav.subarray(0, 30), manifest: goodManifest },
      { name: 'truncated-data', wav: goodWav.subarray(0, goodWav.length - 1000), manifest: goodManifest },
      { name: 'random', wav: Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff)), manifest: goodManifest },
      { name: 'riff-lies', wav: Buffer.concat([Buffer.from('RIFF\xff\xff\xff\x7fWAVEdata\xff\xff\xff\x7f', 'latin1'), Buffer.alloc(100)]), manifest: goodManifest },
      { name: 'appended-junk', wav: Buffer.concat([goodWav, Buffer.alloc(3 << 20, 0x55)]), manifest: goodManifest },
      { name: 'oversized-sparse', wav: 'sparse', manifest: goodManifest },
      { name: 'manifest-not-json', wav: goodWav, manifest: '{"manifestVersion": 1, "file": ' },
      { name: 'manifest-edited-sha', wav: goodWav, manifest: goodManifest.replace(/"sha256": "([0-9a-f])/, (_m, c: string) => `"sha256": "${c === '0' ? '1' : '0'}`) },
      { name: 'manifest-other-number', wav: goodWav, manifest: goodManifest.replace(/"number": 1,/, '"number": 2,') },
      { name: 'manifest-path-escape', wav: goodWav, manifest: goodManifest.replace(/"name": "[^"]+\.wav"/, '"name": "../../../../etc/passwd"') },
      { name: 'manifest-huge', wav: goodWav, manifest: goodManifest.replace(/\n}\n$/, `,\n"pad": "${'x'.repeat(3 << 20)}"\n}\n`) },
    ];
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    for (const k of cases) {
      const wav = join(bad, `${k.name}.wav`);
      if (k.wav === 'sparse') {
        // 40 GB of nothing (sparse) behind a real header: more than a WAV can hold, and more than
        // verify may read before saying so (it used to hash it all: minutes).
        writeFileSync(wav, goodWav.subarray(0, 1024));
        const fd = openSync(wav, 'r+');
        ftruncateSync(fd, 40 * 1024 ** 3);
        closeSync(fd);
      } else writeFileSync(wav, k.wav);
      writeFileSync(join(bad, `${k.name}.json`), k.manifest);
      // Bounded: a verify that takes too long is killed at 60 s (exit code null), which fails here.
      const r = await runCli(['verify', wav, '--json'], 60_000);
      expect(r.code, `${k.name} (null: took too long): ${r.stdout.slice(-800)} ${r.stderr}`).toBe(1);
      const result = jsonLines(r.stdout).at(-1)!;
      expect(result, k.name).toMatchObject({ type: 'result', ok: false });
      expect(r.stdout + r.stderr, k.name).not.toMatch(/Unexpected problem|at .*\.js:\d+/);
    }
    // The folder as a whole: every bad one reported, and the exit status says so.
    const all = await runCli(['verify', bad, '--json'], 120_000);
    expect(all.code).toBe(1);
    // The good copy still verifies: nothing above touched it.
    expect((await runCli(['verify', good.wav, '--json'])).code).toBe(0);
  }, 240_000);

  it('symlinks where the copy, its .part or its manifest would go are never followed', async () => {
    const { dir, sim, items } = await syncedLibrary();
    // A second library, booby-trapped with links at the names the copies will take.
    const lib2 = join(dir, 'library2');
    mkdirSync(lib2);
    const victims = join(dir, 'victims');
    mkdirSync(victims);
    const one = items.get(1)!;
    const two = items.get(2)!;
    const base1 = one.wav.slice(one.wav.lastIndexOf('/') + 1);
    const base2 = two.wav.slice(two.wav.lastIndexOf('/') + 1);
    const traps = [
      { link: join(lib2, base1), victim: join(victims, 'wav.txt') },
      { link: join(lib2, base1.replace(/\.wav$/, '.json')), victim: join(victims, 'json.txt') },
      { link: join(lib2, `${base2}.part`), victim: join(victims, 'part.txt') },
      { link: join(lib2, base2.replace(/\.wav$/, '.json')), victim: join(victims, 'missing.txt') }, // dangling
    ];
    for (const t of traps) {
      if (!t.victim.endsWith('missing.txt')) writeFileSync(t.victim, `precious ${t.victim}\n`);
      symlinkSync(t.victim, t.link);
    }
    const r = await runCli(['sync', '--port', sim.link, '--dest', lib2, '--json']);
    await sim.quit();
    const events = jsonLines(r.stdout);
    expect(r.stdout + r.stderr).not.toMatch(/Unexpected problem/);
    for (const t of traps) {
      expect(lstatSync(t.link).isSymbolicLink(), `${t.link} is still the link`).toBe(true);
      if (t.victim.endsWith('missing.txt')) expect(existsSync(t.victim), 'the dangling link was not written through').toBe(false);
      else expect(readFileSync(t.victim, 'utf8')).toBe(`precious ${t.victim}\n`);
    }
    // Whatever was copied is a real file, byte-identical to the card.
    const card = cardRecordings(sim.image, dir);
    for (const [n, item] of scanLibrary(lib2).items) {
      expect(lstatSync(item.wav).isFile() && !lstatSync(item.wav).isSymbolicLink()).toBe(true);
      expect(readFileSync(item.wav).equals(card.get(n)!), `copy of ${n}`).toBe(true);
    }
    // Refusals are explained.
    if (r.code !== 0) expect(events.some((e) => (e.type === 'file.failed' || e.type === 'error') && e.code === 'UNSAFE_PATH'), r.stdout.slice(-1500)).toBe(true);
  });

  it('names with path separators from the device cannot choose where files go', async () => {
    const h = setup();
    const outside = join(h.dest, '..', `outside-${process.pid}`);
    const names = ['../../x.WAV', '/etc/passwd', '..\\..\\x.WAV', 'a/../../b.WAV', 'REC\u0000/x.WAV'];
    names.forEach((name, i) => {
      const rec = h.device.addRecording();
      rec.name = name.slice(0, 12);
      if (i === 0) h.device.label = '../../../tmp/evil';
    });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.copied).toEqual([1, 2, 3, 4, 5]);
    expect(existsSync(outside)).toBe(false);
    for (const n of readdirSync(h.dest)) expect(n).toMatch(/^[A-Za-z0-9_.-]+$/);
    // The device's name is recorded as data in the manifest, never used as a path.
    const manifests = [...scanLibrary(h.dest).items.values()].map((i) => i.manifest.recording.deviceFileName);
    expect(manifests.length).toBe(5);
    expect((await h.engine.verify([h.dest])).ok).toBe(true);
  });

  it('a full disk: clear error, a resumable .part, nothing deleted from the recorder', async () => {
    const dir = tempDir('rec-hostile-');
    const sim = await startSim({ dir, sizeMb: 64, speed: 40 });
    await record(sim, 60, 40); // about 1.9 MB
    const small = join(dir, 'small');
    if (tryMount(small, 'size=1m')) {
      const lib = join(small, 'lib');
      const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--delete-after-verify', '--json']);
      expect(r.code).toBe(1);
      const events = jsonLines(r.stdout);
      expect(events.some((e) => (e.type === 'file.failed' || e.type === 'error') && e.code === 'DISK_FULL'), r.stdout.slice(-1500)).toBe(true);
      expect(events.some((e) => e.type === 'file.deleted' || e.type === 'file.verified')).toBe(false);
      const { items, others } = scanLibrary(lib);
      expect(items.size).toBe(0);
      const card = cardRecordings(sim.image, dir); // the simulator still runs: mtools reads the image as it is
      for (const o of others.filter((x) => x.endsWith('.part'))) {
        const part = readFileSync(join(lib, o));
        expect(part.equals(card.get(1)!.subarray(0, part.length))).toBe(true);
      }
    } else {
      // No mount allowed here: the same through the engine with ENOSPC injected into its writes.
      console.log('reliability-hostile: tmpfs mount not permitted; injecting ENOSPC through the engine fs option');
      const lib = join(dir, 'lib');
      let written = 0;
      const fs: Fs = {
        ...fsp,
        open: (async (...args: Parameters<typeof fsp.open>) => {
          const fh = await fsp.open(...args);
          const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
          (fh as unknown as { write: unknown }).write = async (...a: unknown[]) => {
            if (written > 1_000_000) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
            const res = await write(...a);
            written += res.bytesWritten;
            return res;
          };
          return fh;
        }) as Fs['open'],
      };
      const engine = createEngine({ port: sim.link, fs });
      const events: { type: string; code?: string }[] = [];
      engine.on((e) => events.push(e as never));
      const res = await engine.sync({ dest: lib, deleteAfterVerify: true });
      expect(res.ok).toBe(false);
      expect(events.some((e) => e.code === 'DISK_FULL')).toBe(true);
      expect(res.deleted).toEqual([]);
    }
    const c = await connect(sim.link);
    expect((await list(c)).map((e) => e.number)).toEqual([1]);
  }, 120_000);

  it('a --dest the app cannot or must not use (/proc, under a file, a planted link): answered at once, nothing written, nothing deleted', async () => {
    const { dir, sim, lib } = await syncedLibrary();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder\n');
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(dir, 'planted'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    const cases = [
      // /proc answers ENOENT for a new folder: Node's recursive mkdir retried that for ever.
      { dest: `/proc/recorder-nope-${process.pid}`, code: 'DEST_UNWRITABLE' },
      { dest: join(dir, 'dangling', 'lib'), code: 'DEST_UNWRITABLE' },
      { dest: join(file, 'lib'), code: 'DEST_UNWRITABLE' },
      { dest: join(dir, 'planted'), code: 'UNSAFE_PATH' },
      { dest: join(dir, 'dangling'), code: 'UNSAFE_PATH' },
    ];
    for (const k of cases) {
      const r = await runCli(['sync', '--port', sim.link, '--dest', k.dest, '--delete-after-verify', '--json'], 30_000);
      expect(r.code, `${k.dest} (null: no answer in 30 s): ${r.stdout.slice(-800)} ${r.stderr}`).toBe(1);
      const errors = jsonLines(r.stdout).filter((e) => e.type === 'error');
      expect(errors.map((e) => e.code), k.dest).toEqual([k.code]);
      expect(String(errors[0]!.message), k.dest).toContain(k.dest);
      expect(String(errors[0]!.action), k.dest).toMatch(/--dest/);
      expect(r.stdout + r.stderr).not.toMatch(/Unexpected problem/);
    }
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('not a folder\n');
    // Exports into such folders: the same plain answer, and nothing left behind.
    for (const args of [
      ['export', '1', '--dest', lib, '--to', `/proc/recorder-nope-${process.pid}`],
      ['export', '1', '--dest', lib, '--zip', `/proc/recorder-nope-${process.pid}.zip`],
      ['export', '1', '--dest', lib, '--to', join(file, 'bundle')],
      ['excerpt', '1', '--dest', lib, '--out', `/proc/recorder-nope-${process.pid}`],
      ['excerpt', '1', '--dest', lib, '--out', join(dir, 'planted')],
      ['markers', '1', '--audacity', '--dest', lib, '--out', join(dir, 'dangling', 'out')],
    ]) {
      const r = await runCli([...args, '--json'], 30_000);
      expect(r.code, `${args.join(' ')} (null: no answer in 30 s): ${r.stdout.slice(-800)} ${r.stderr}`).toBe(1);
      expect(jsonLines(r.stdout).some((e) => e.type === 'error' && (e.code === 'DEST_UNWRITABLE' || e.code === 'UNSAFE_PATH')), `${args.join(' ')}: ${r.stdout.slice(-800)}`).toBe(true);
      expect(r.stdout + r.stderr).not.toMatch(/Unexpected problem/);
    }
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.includes('partial') || n.includes('.part'))).toEqual([]);
    // The recorder: both recordings still there (nothing deleted), and the library as it was.
    const c = await connect(sim.link);
    expect((await list(c)).map((e) => e.number)).toEqual([1, 2]);
    expect(scanLibrary(lib).items.size).toBe(2);
  }, 240_000);

  it('a read-only destination: plain error, nothing deleted', async () => {
    const dir = tempDir('rec-hostile-');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    await record(sim, 2, 20);
    const ro = join(dir, 'ro');
    let lib: string;
    if (tryMount(ro, 'size=1m,ro')) lib = join(ro, 'lib');
    else if (process.getuid?.() !== 0) {
      mkdirSync(ro, { mode: 0o500 });
      lib = join(ro, 'lib');
    } else {
      console.log('reliability-hostile: running as root without mount: a read-only folder cannot be made; using a path under a file instead');
      writeFileSync(ro, 'a file, not a folder');
      lib = join(ro, 'lib');
    }
    const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--delete-after-verify', '--json']);
    expect(r.code).toBe(1);
    const events = jsonLines(r.stdout);
    const err = events.find((e) => e.type === 'error');
    expect(err?.code, r.stdout.slice(-1500)).toMatch(/DEST_UNWRITABLE|PERMISSION|READ_ONLY/);
    expect(String(err?.message)).toMatch(/recordings folder|folder|write/i);
    expect(r.stdout + r.stderr).not.toMatch(/Unexpected problem/);
    const c = await connect(sim.link);
    expect((await list(c)).map((e) => e.number)).toEqual([1]);
  });
});
