/**
 * The real app (the built `recorder` CLI) against the real C firmware in the simulator, over a
 * real pseudo-terminal with the real `serialport`: sync, manifests, resume after a disconnect,
 * delete-after-verify, offline verify. Copies are compared with the card image read by mtools.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CARD_LAYOUT } from '../protocol/src/schema.js';
import { RawClient } from './support/raw-client.js';
import { expectRamp, parseRecording } from './support/recording.js';
import { record, waitLine } from './support/reliability.js';
import { CLI, fsckCheck, mcopyOut, requireSimulator, requireTool, runCli, startCli, startSim, stopAll, tempDir } from './support/sim.js';

beforeAll(() => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
  requireTool('fsck.fat', 'dosfstools');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
});
afterEach(stopAll);

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

interface Manifest {
  manifestVersion: number;
  file: { name: string; size: number; sha256: string };
  device: { id: string; label: string; simulated: boolean };
  recording: { number: number; sampleRate: number; sampleCount: number; sha256: string; stopReason: string; deviceFileName: string };
  journal: { chain: string; decoded: { number: number; sha256: string } };
  verification: { ok: boolean };
}

/** The library's recordings: number -> wav path and manifest. */
function library(dir: string): Map<number, { wav: string; manifest: Manifest }> {
  const out = new Map<number, { wav: string; manifest: Manifest }>();
  const walk = (d: string) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.name.endsWith('.json') && !ent.name.startsWith('.') && !ent.name.startsWith('recorder-')) {
        // Manifests only: the library also keeps hidden per-device journal state, and the
        // recorder's pinned key (recorder-<device id>.pin.json).
        const m = JSON.parse(readFileSync(p, 'utf8')) as Manifest;
        out.set(m.recording.number, { wav: join(d, m.file.name), manifest: m });
      }
    }
  };
  walk(dir);
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('recorder sync against the simulator', () => {
  it('copies finished recordings byte-identical to the card, with manifests, while a recording continues', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    await record(sim, 12, 20);
    await record(sim, 20, 20);
    // A third recording stays in progress during the sync. Its own `mic on`, not one of the
    // recordings before (the sync must not start before it).
    const third = sim.stdout.length;
    sim.send('press');
    await sim.waitFor(/^mic on/, 20_000, third);

    const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const events = jsonLines(r.stdout); // every line parses as JSON
    const result = events.at(-1)!;
    expect(result).toMatchObject({ type: 'result', command: 'sync', ok: true, result: { copied: [1, 2], inProgress: [3] } });
    expect(events.filter((e) => e.type === 'file.verified').map((e) => e.number)).toEqual([1, 2]);
    const info = events.find((e) => e.type === 'device.info') as { device: { deviceId: string; simulated: boolean } };
    expect(info.device.simulated).toBe(true);

    const before = sim.stdout.length;
    sim.send('stop');
    await waitLine(sim, /^mic off/, before);
    expect(await sim.quit()).toBe(0);
    const fsck = fsckCheck(sim.image);
    expect(fsck.status, fsck.output).toBe(0);

    const books = library(lib);
    expect([...books.keys()].sort()).toEqual([1, 2]);
    for (const [n, { wav, manifest }] of books) {
      const card = join(dir, `card-${n}.wav`);
      mcopyOut(sim.image, `/RECORDS/REC0000${n}.WAV`, card);
      const copy = readFileSync(wav);
      expect(copy.equals(readFileSync(card)), `recording ${n} differs from the card`).toBe(true);
      const { data } = parseRecording(copy);
      expectRamp(data);
      expect(manifest.manifestVersion).toBe(2);
      expect(manifest.file.sha256).toBe(sha256(copy));
      expect(manifest.file.size).toBe(copy.length);
      expect(manifest.recording.sha256).toBe(sha256(data));
      expect(manifest.recording.sampleCount).toBe(data.length / 2);
      expect(manifest.recording.sampleRate).toBe(16000);
      expect(manifest.recording.deviceFileName).toBe(`REC0000${n}.WAV`);
      expect(manifest.recording.stopReason).toBe('button');
      expect(manifest.device.id).toBe(info.device.deviceId);
      expect(manifest.device.simulated).toBe(true);
      expect(manifest.journal.chain).toBe('ok');
      expect(manifest.journal.decoded.number).toBe(n);
      expect(manifest.journal.decoded.sha256).toBe(manifest.recording.sha256);
      expect(manifest.verification.ok).toBe(true);
    }
  }, 120_000);

  it('resumes after the cable is pulled mid-file, without re-reading what was verified', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const sim = await startSim({ dir, sizeMb: 128, speed: 40 });
    await record(sim, 10, 40);
    const c = await RawClient.open(sim.link);
    await c.ok('SETTINGS', { setMask: 1, sampleRate: 48000 });
    await c.close();
    await record(sim, 300, 40); // about 29 MB

    const run = startCli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    await run.waitFor((e) => e.type === 'file.verified' && e.number === 1);
    await run.waitFor((e) => e.type === 'file.progress' && e.number === 2 && (e.bytes as number) > 4_000_000);
    sim.send('disconnect');
    await run.waitFor((e) => e.type === 'link.disconnected', 60_000);
    sim.send('connect');
    const resumed = await run.waitFor((e) => e.type === 'file.resumed' && e.number === 2, 60_000);
    expect(resumed.fromOffset as number).toBeGreaterThan(4_000_000);
    expect(await run.done).toBe(0);
    const result = run.events.at(-1)!;
    expect(result).toMatchObject({ type: 'result', ok: true, result: { copied: [1, 2] } });
    // Recording 1 was read once; recording 2 started from 0 once, and again only from where the
    // verified prefix ended.
    expect(run.events.filter((e) => e.type === 'file.started' && e.number === 1)).toHaveLength(1);
    const starts = run.events.filter((e) => e.type === 'file.started' && e.number === 2).map((e) => e.fromOffset as number);
    expect(starts[0]).toBe(0);
    expect(starts.slice(1).every((o) => o >= (resumed.fromOffset as number))).toBe(true);
    expect(run.events.some((e) => e.type === 'file.restarted')).toBe(false);
    expect(await sim.quit()).toBe(0);
    const card = join(dir, 'card-2.wav');
    mcopyOut(sim.image, '/RECORDS/REC00002.WAV', card);
    expect(readFileSync(library(lib).get(2)!.wav).equals(readFileSync(card))).toBe(true);
  }, 240_000);

  it('notices at once that the recorder died mid-copy (the pty hung up), keeps the partial copy and deletes nothing', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const sim = await startSim({ dir, sizeMb: 128, speed: 40 });
    const c = await RawClient.open(sim.link);
    await c.ok('SETTINGS', { setMask: 1, sampleRate: 48000 });
    await c.close();
    await record(sim, 300, 40); // about 29 MB
    const card = join(dir, 'card-1.wav');
    mcopyOut(sim.image, '/RECORDS/REC00001.WAV', card);

    // A request timeout longer than this test waits for the disconnection: a hang-up noticed only
    // by a request timing out (or by the resend after it) would fail the wait below.
    const run = startCli(['sync', '--port', sim.link, '--dest', lib, '--json', '--delete-after-verify', '--timeout', '100000']);
    await run.waitFor((e) => e.type === 'file.progress' && e.number === 1 && (e.bytes as number) > 4_000_000);
    // The app held still (answers queue on the pty) while the recorder's power is cut, so that
    // everything it says after resuming is its reaction to the hang-up. (That a hang-up met in
    // the middle of a read is noticed too is test/link-hangup.test.ts.)
    run.signal('SIGSTOP');
    await sleep(500);
    await sim.kill();
    const killedAt = run.events.length;
    run.signal('SIGCONT');
    const gone = await run.waitFor((e) => e.type === 'link.disconnected', 60_000);
    expect(gone.message).toMatch(/was disconnected/);
    // The first thing said after the power cut is the disconnection: no request timed out first.
    const after = run.events.slice(killedAt).filter((e) => e.type !== 'file.progress');
    expect(after[0]).toMatchObject({ type: 'link.disconnected' });
    expect(run.events.some((e) => e.type === 'file.retry' || e.code === 'TIMEOUT')).toBe(false);
    run.signal('SIGINT'); // the app waits for the recorder to come back; stop it
    expect(await run.done).toBe(130);
    expect(run.events.some((e) => e.type === 'file.verified' || e.type === 'file.deleted')).toBe(false);

    // The partial copy is kept, a true prefix of the card's file, ready to resume; the card keeps it.
    const parts = (readdirSync(lib, { recursive: true }) as string[]).filter((n) => n.endsWith('.wav.part'));
    expect(parts).toHaveLength(1);
    const part = readFileSync(join(lib, parts[0]!));
    const whole = readFileSync(card);
    expect(part.length).toBeGreaterThan(4_000_000);
    expect(part.length).toBeLessThan(whole.length);
    expect(part.equals(whole.subarray(0, part.length))).toBe(true);
    const still = join(dir, 'card-1-after.wav');
    mcopyOut(sim.image, '/RECORDS/REC00001.WAV', still);
    expect(readFileSync(still).equals(whole)).toBe(true);
  }, 240_000);

  it('deletes from the recorder only what was copied and verified', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    await record(sim, 8, 20);
    await record(sim, 8, 20);
    const third = sim.stdout.length;
    sim.send('press'); // in progress: must survive
    await sim.waitFor(/^mic on/, 20_000, third);
    // Before copying, list says what is not in the library yet (the wipe procedure relies on it).
    const before = jsonLines((await runCli(['list', '--port', sim.link, '--dest', lib, '--json'])).stdout).at(-1);
    expect(before).toMatchObject({ type: 'result', ok: true, toCopy: [1, 2], alreadyInLibrary: [], inProgress: [3] });
    const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--delete-after-verify', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const events = jsonLines(r.stdout);
    expect(events.filter((e) => e.type === 'file.deleted').map((e) => e.number)).toEqual([1, 2]);
    const list = await runCli(['list', '--port', sim.link, '--dest', lib, '--json']);
    const listed = jsonLines(list.stdout).at(-1) as { recordings: { number: number }[] };
    expect(listed.recordings.map((x) => x.number)).toEqual([3]);
    expect(listed).toMatchObject({ toCopy: [], alreadyInLibrary: [], inProgress: [3] });
    expect([...library(lib).keys()].sort()).toEqual([1, 2]);
    // A second sync finds nothing new and deletes nothing.
    const again = await runCli(['sync', '--port', sim.link, '--dest', lib, '--delete-after-verify', '--json']);
    expect(jsonLines(again.stdout).filter((e) => e.type === 'file.deleted')).toHaveLength(0);
  }, 120_000);

  it('verify passes on a true copy and fails on a flipped byte, a truncated file and a missing manifest', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    await record(sim, 6, 20);
    const r = await runCli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { wav } = library(lib).get(1)!;
    const manifestPath = wav.replace(/\.wav$/, '.json');
    const good = readFileSync(wav);
    const goodManifest = readFileSync(manifestPath);

    expect((await runCli(['verify', lib, '--json'])).code).toBe(0);

    const flipped = Buffer.from(good);
    flipped[CARD_LAYOUT.wavDataOffset + 1000]! ^= 0x01;
    writeFileSync(wav, flipped);
    const v1 = await runCli(['verify', wav, '--json']);
    expect(v1.code).not.toBe(0);
    expect(jsonLines(v1.stdout).at(-1)).toMatchObject({ type: 'result', ok: false });

    writeFileSync(wav, good);
    truncateSync(wav, good.length - 4096);
    expect((await runCli(['verify', wav, '--json'])).code).not.toBe(0);

    writeFileSync(wav, good);
    rmSync(manifestPath);
    expect((await runCli(['verify', wav, '--json'])).code).not.toBe(0);

    // Restored, the copy verifies again: the failures above were the damage, nothing else.
    writeFileSync(manifestPath, goodManifest);
    expect((await runCli(['verify', wav, '--json'])).code).toBe(0);
  }, 120_000);
});
