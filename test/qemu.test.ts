/**
 * The firmware as real Cortex-M3 machine code in QEMU (lm3s6965evb): the core's SPI-mode SD
 * driver against QEMU's SD card model, the protocol over the emulated UART on a pseudo-terminal
 * with the real `serialport`, the button on the console UART. Recordings are read over the
 * protocol and compared byte for byte with what mtools reads from the image; the samples must be
 * the unbroken ramp, and the SHA-256 must match the device's LIST entry and evid chunk. The
 * image is checked with fsck.fat after QEMU has exited. Emulation is slow: short recordings at
 * 16 kHz. See docs/qemu.md.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeStruct } from '../protocol/src/codec.js';
import { parseWav } from '../host/engine/wav.js';
import { CARD_STATE, ERROR_CODE, INFO_FLAGS, KIND, PROTOCOL, REC_STATE, RECIPIENT_ACTION, RECIPIENT_FLAGS, RECORD_ACTION, RECORD_FLAGS, RECORDING_STATE, STOP_REASON, WIPE_METHOD } from '../protocol/src/schema.js';
import { makeCard, requireQemu, startQemu, stopAllQemu, type Qemu } from './support/qemu.js';
import { RawClient } from './support/raw-client.js';
import { CLI, fsckCheck, mcopyOut, requireTool, runCli, stopAll, tempDir } from './support/sim.js';
import { expectRamp, longestSignalRun, parseRecording, until } from './support/recording.js';

const MiB = 1024 * 1024;
const RATE = 16000;

beforeAll(() => {
  requireQemu();
  requireTool('mkfs.fat', 'dosfstools');
  requireTool('fsck.fat', 'dosfstools');
  requireTool('mcopy', 'mtools');
});

const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllQemu();
  await stopAll();
});

async function connect(pty: string): Promise<RawClient> {
  const c = await RawClient.open(pty);
  clients.push(c);
  return c;
}

async function close(c: RawClient): Promise<void> {
  clients.splice(clients.indexOf(c), 1);
  await c.close();
}

/** Waits until the recording in progress holds at least `samples` samples. */
function samplesReached(c: RawClient, samples: number, timeoutMs = 30_000): Promise<number> {
  return until(`${samples} samples`, timeoutMs, async () => {
    const n = Number((await c.ok('INFO')).currentSamples);
    return n >= samples ? n : undefined;
  });
}

/** Presses the button on the console (`press`, or `stop`: the long hold that stops a recording)
 * and waits for the state it leads to. */
async function press(q: Qemu, state: RegExp, command: 'press' | 'stop' = 'press'): Promise<void> {
  const mark = q.lines.length;
  q.send(command);
  await q.waitFor(state, 30_000, mark);
}

type Entry = Record<string, unknown>;

async function list(c: RawClient): Promise<Entry[]> {
  const l = await c.ok('LIST', { afterNumber: 0, maxEntries: 20 });
  return l.entries as Entry[];
}

/** Copies a recording over the protocol (READ), several requests in flight. */
async function readRecording(c: RawClient, e: Entry, maxPayload: number): Promise<Buffer> {
  const size = Number(e.size);
  const chunk = maxPayload - 8;
  const offsets: number[] = [];
  for (let o = 0; o < size; o += chunk) offsets.push(o);
  const parts: Buffer[] = new Array(offsets.length);
  for (let i = 0; i < offsets.length; i += 4) {
    await Promise.all(
      offsets.slice(i, i + 4).map(async (offset, k) => {
        const r = await c.ok('READ', { number: Number(e.number), offset, length: Math.min(chunk, size - offset) }, 20_000);
        expect(r.offset).toBe(offset);
        parts[i + k] = r.data as Buffer;
      }),
    );
  }
  const file = Buffer.concat(parts);
  expect(file.length).toBe(size);
  return file;
}

/** The checks every finished recording must pass: the copy over the protocol equals the file on
 * the card, the audio is the ramp, and the hashes agree (LIST entry, evid chunk, our own). */
function checkRecording(image: string, dir: string, e: Entry, copy: Buffer): number {
  const path = join(dir, `card-${String(e.name)}`);
  mcopyOut(image, `/RECORDS/${String(e.name)}`, path);
  const onCard = readFileSync(path);
  expect(copy.equals(onCard), `${String(e.name)}: the protocol copy differs from the file on the card`).toBe(true);
  const { data, evid } = parseRecording(onCard);
  const samples = expectRamp(data);
  expect(Number(e.sampleCount)).toBe(samples);
  expect(Number(evid.sampleCount)).toBe(samples);
  const sha = createHash('sha256').update(data).digest();
  expect((evid.sha256 as Buffer).equals(sha)).toBe(true);
  expect((e.sha256 as Buffer).equals(sha)).toBe(true);
  return samples;
}

function expectFsckClean(image: string): void {
  const fsck = fsckCheck(image);
  expect(fsck.status, fsck.output).toBe(0);
}

describe('firmware under QEMU (Cortex-M3, SD card over SPI)', () => {
  it('records by command and by button on a 64 MiB SDSC card; copies match the card, the ramp is unbroken, hashes agree', async () => {
    const dir = tempDir('rec-qemu-');
    const image = join(dir, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const c = await connect(q.pty);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    expect(info.model).toBe('ER-1 qemu');
    expect(Number(info.flags) & INFO_FLAGS.SIMULATED).toBe(INFO_FLAGS.SIMULATED);
    expect(info.cardState).toBe(CARD_STATE.OK);
    expect(info.recState).toBe(REC_STATE.IDLE);
    expect(Number(info.sampleRate)).toBe(RATE);
    const maxPayload = Number(info.maxPayload);

    // By command (starting preallocates the card: allow for slow emulation).
    const started = await c.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
    expect(Number(started.number)).toBe(1);
    await samplesReached(c, 2 * RATE);
    await c.ok('RECORD', { action: RECORD_ACTION.STOP }, 30_000);

    // By the button (the console's `press` starts, `stop` is the long hold that stops).
    await press(q, /^state rec=recording/);
    await samplesReached(c, RATE);
    // A short press while recording drops a marker (and does not stop it); MARK drops another.
    const marked = q.lines.length;
    q.send('press');
    await q.waitFor(/^log: marker/, 30_000, marked);
    const mark = await c.ok('MARK', {}, 30_000);
    expect(Number(mark.marker)).toBe(2);
    expect((await c.ok('INFO')).recState).toBe(REC_STATE.RECORDING);
    await press(q, /^state rec=idle/, 'stop');

    const entries = await list(c);
    expect(entries.map((e) => e.number)).toEqual([1, 2]);
    expect(entries.map((e) => e.state)).toEqual([RECORDING_STATE.FINISHED, RECORDING_STATE.FINISHED]);
    expect(entries.map((e) => e.stopReason)).toEqual([STOP_REASON.HOST, STOP_REASON.BUTTON]);
    const copies: Buffer[] = [];
    for (const e of entries) copies.push(await readRecording(c, e, maxPayload));
    const parsed = await parseWav(async (o, n) => copies[1]!.subarray(o, o + n), copies[1]!.length);
    expect(parsed.problems).toEqual([]);
    expect(parsed.layout.markers.map((m) => m.id)).toEqual([1, 2]);
    expect(parsed.layout.markers[0]!.sampleOffset).toBeGreaterThanOrEqual(RATE);
    expect(parsed.layout.markers[1]!.sampleOffset).toBe(Number(mark.sampleOffset));
    expect(Number((await c.ok('INFO')).overrunsTotal)).toBe(0);
    await close(c);

    // The app's own sync over the same link, when the CLI is built.
    let synced: string[] = [];
    if (statSync(CLI, { throwIfNoEntry: false })) {
      const dest = join(dir, 'library');
      const r = await runCli(['sync', '--port', q.pty, '--dest', dest, '--json'], 90_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((f) => (f.isDirectory() ? walk(join(d, f.name)) : [join(d, f.name)]));
      synced = walk(dest).filter((f) => /\.wav$/i.test(f) && !/\.evidence\//.test(f)); // not the signed files' folders
      expect(synced).toHaveLength(2);
    }

    const stackLine = q.waitFor(/^stack used=/, 20_000, q.lines.length);
    expect(await q.quit()).toBe(0);
    const m = /^stack used=(\d+) reserved=(\d+)/.exec(await stackLine)!;
    expect(Number(m[1])).toBeLessThan(Number(m[2]));

    expectFsckClean(image);
    const samples = entries.map((e, i) => checkRecording(image, dir, e, copies[i]!));
    expect(samples[0]).toBeGreaterThanOrEqual(2 * RATE);
    expect(samples[1]).toBeGreaterThanOrEqual(RATE);
    for (const f of synced) {
      const sha = createHash('sha256').update(readFileSync(f)).digest('hex');
      expect(copies.some((c2) => createHash('sha256').update(c2).digest('hex') === sha), `${f} matches a copy`).toBe(true);
    }
  }, 150_000);

  it('signs on the Cortex-M3: sync provisions the key, a recording is sealed on the device, signify and verify accept the copy', async () => {
    if (!statSync(CLI, { throwIfNoEntry: false })) throw new Error(`the app is not built at ${CLI}: run npm run build`);
    requireTool('signify-openbsd', 'signify-openbsd');
    const dir = tempDir('rec-qemu-');
    const image = join(dir, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const dest = join(dir, 'library');
    const first = await runCli(['sync', '--port', q.pty, '--dest', dest, '--json'], 90_000);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/"type":"note"[^\n]*just made one \(key [0-9a-f]{16}\)/);
    const c = await connect(q.pty);
    await c.ok('HELLO', { maxPayload: 4096 });
    await c.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
    await samplesReached(c, RATE);
    await c.ok('RECORD', { action: RECORD_ACTION.STOP }, 30_000);
    // The device seals in its idle time: LIST says SEALED when the statement files are written.
    const sealed = await until('sealed', 60_000, async () => {
      const e = (await list(c))[0]!;
      return Number(e.flags) & RECORD_FLAGS.SEALED ? e : undefined;
    });
    expect(Number(sealed.checkpointsSize)).toBe(2 * 512); // start and stop slots
    await close(c);
    const r = await runCli(['sync', '--port', q.pty, '--dest', dest, '--json'], 90_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/"type":"file.verified","number":1[^\n]*"status":"signed"/);
    const stackLine = q.waitFor(/^stack used=/, 20_000, q.lines.length);
    expect(await q.quit()).toBe(0);
    const m = /^stack used=(\d+) reserved=(\d+)/.exec(await stackLine)!;
    expect(Number(m[1])).toBeLessThan(Number(m[2]));
    const pub = readdirSync(dest).find((n) => n.endsWith('.pub') && !n.endsWith('.minisign.pub'))!;
    const folder = readdirSync(dest).find((n) => n.endsWith('_1.evidence'))!;
    const check = spawnSync('signify-openbsd', ['-C', '-p', join('..', pub), '-x', 'REC00001.SIG'], { cwd: join(dest, folder), encoding: 'utf8', timeout: 30_000 });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toBe('Signature Verified\nREC00001.WAV: OK\nREC00001.CKP: OK\n');
    const v = await runCli(['verify', dest, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expectFsckClean(image);
  }, 180_000);

  it("wipes against QEMU's SD card model: the card's erase (CMD32/33/38) or, where it does not erase as its SCR says, zeros written; no run of the recording left", async () => {
    const dir = tempDir('rec-qemu-');
    const image = join(dir, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const c = await connect(q.pty);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    await press(q, /^state rec=recording/);
    await samplesReached(c, RATE);
    await press(q, /^state rec=idle/, 'stop');
    const [e] = await list(c);
    const { data } = parseRecording(await readRecording(c, e!, Number(info.maxPayload)));
    expect(longestSignalRun(readFileSync(image), data)).toBe(data.length / 2);
    const t0 = Date.now();
    const w = await c.ok('WIPE', { magic: PROTOCOL.wipeMagic, recordings: 1, newestNumber: Number(e!.number), reserved: 0, deviceId: info.deviceId! }, 600_000);
    console.log(`qemu wipe: method ${String(w.method)} (1 SD erase, 2 overwrite), ${String(w.blocksErased)} blocks in ${Date.now() - t0} ms; ${q.lines.filter((l) => /zeros/.test(l)).join('; ')}`);
    expect([WIPE_METHOD.SD_ERASE, WIPE_METHOD.OVERWRITE]).toContain(w.method);
    expect(await list(c)).toEqual([]);
    await close(c);
    expect(await q.quit()).toBe(0);
    expectFsckClean(image);
    expect(longestSignalRun(readFileSync(image), data)).toBeLessThan(RATE / 10);
  }, 660_000);

  it('tests the card over the SD driver (CARD_TEST): every byte read back, timed by the device, the scratch file gone', async () => {
    const dir = tempDir('rec-qemu-');
    const image = join(dir, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const c = await connect(q.pty);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    const t = await c.ok('CARD_TEST', { bytes: 256 * 1024, seed: 0x1234 }, 300_000);
    console.log(`qemu card test: ${String(t.testedBytes)} bytes, write ${String(t.writeMs)} ms (${String(t.writeBytesPerSecond)} B/s), read ${String(t.readMs)} ms (${String(t.readBytesPerSecond)} B/s)`);
    expect(t).toMatchObject({ testedBytes: 256 * 1024, readBackMatched: 1, firstMismatch: 0xffffffff, fileSystem: 0, freeBytes: info.cardFree });
    expect(Number(t.writeBytesPerSecond)).toBeGreaterThan(0);
    expect(Number((await c.ok('INFO')).cardFree)).toBe(Number(info.cardFree));
    await close(c);
    expect(await q.quit()).toBe(0);
    expectFsckClean(image);
    const dir2 = spawnSync('mdir', ['-b', '-i', image, '::SYSTEM'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    expect(dir2.stdout).toContain('JOURNAL.BIN');
    expect(dir2.stdout).not.toContain('CARDTEST.TMP');
  }, 360_000);

  it('works with a 4 GiB SDHC card (block addressing)', async () => {
    const dir = tempDir('rec-qemu-');
    const image = join(dir, 'card.img');
    makeCard(image, 4096 * MiB, { clusterSectors: 64 }); // sparse; 32 KiB clusters keep the FAT short
    const q = await startQemu({ image });
    await q.waitFor(/^log: card: SDHC$/);
    const c = await connect(q.pty);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    expect(info.cardState).toBe(CARD_STATE.OK);
    expect(Number(info.cardCapacity)).toBeGreaterThan(4000 * MiB);
    await press(q, /^state rec=recording/);
    await samplesReached(c, RATE);
    await press(q, /^state rec=idle/, 'stop');
    const [e] = await list(c);
    expect(e!.stopReason).toBe(STOP_REASON.BUTTON);
    const copy = await readRecording(c, e!, Number(info.maxPayload));
    await close(c);
    expect(await q.quit()).toBe(0);
    expectFsckClean(image);
    expect(checkRecording(image, dir, e!, copy)).toBeGreaterThanOrEqual(RATE);
  }, 120_000);

  it('recovers the recording after a power cut (QEMU killed while recording)', async () => {
    const dir = tempDir('rec-qemu-');
    const image = join(dir, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const c = await connect(q.pty);
    await c.ok('HELLO', { maxPayload: 4096 });
    await press(q, /^state rec=recording/);
    const reached = await samplesReached(c, 3 * RATE);
    await close(c);
    await q.kill(); // power cut

    const again = await startQemu({ image });
    await again.waitFor(/^log: recovered a recording/);
    const c2 = await connect(again.pty);
    const info = await c2.ok('HELLO', { maxPayload: 4096 });
    expect(info.cardState).toBe(CARD_STATE.OK);
    const entries = await list(c2);
    expect(entries).toHaveLength(1);
    const e = entries[0]!;
    expect(e.state).toBe(RECORDING_STATE.FINISHED);
    expect(e.stopReason).toBe(STOP_REASON.POWER_LOSS);
    expect(Number(e.flags) & RECORD_FLAGS.RECOVERED).toBe(RECORD_FLAGS.RECOVERED);
    // Sizes are patched once a second of device time: at most that is lost.
    expect(Number(e.sampleCount)).toBeGreaterThanOrEqual(reached - RATE - 512);
    const copy = await readRecording(c2, e, Number(info.maxPayload));
    await close(c2);
    expect(await again.quit()).toBe(0);
    expectFsckClean(image);
    checkRecording(image, dir, e, copy);
  }, 120_000);

  it('refuses SET_RECIPIENT with BAD_STATE: this port builds without encryption (96 KiB budget)', async () => {
    const image = join(tempDir('rec-qemu-'), 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const c = await connect(q.pty);
    await c.ok('HELLO', { maxPayload: 4096 });
    const refused = await c.call('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient: Buffer.alloc(32, 7) });
    expect(refused.kind).toBe(KIND.ERROR);
    expect(decodeStruct('ERROR', refused.payload).code).toBe(ERROR_CODE.BAD_STATE);
    const got = await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.GET, reserved: Buffer.alloc(3), recipient: Buffer.alloc(32) });
    expect(Number(got.flags) & RECIPIENT_FLAGS.SET).toBe(0);
    expect(Number((await c.ok('INFO')).flags) & INFO_FLAGS.ENCRYPTING).toBe(0);
    await close(c);
    expect(await q.quit()).toBe(0);
  }, 60_000);

  it('reports a missing card and an unformatted one (which it formats, keeping its settings), and never hangs', async () => {
    const q = await startQemu({ image: null });
    await q.waitFor(/^state rec=error card=none/);
    const c = await connect(q.pty);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    expect(info.cardState).toBe(CARD_STATE.NONE);
    expect(info.recState).toBe(REC_STATE.ERROR);
    const refused = await c.call('RECORD', { action: RECORD_ACTION.START });
    expect(refused.kind).toBe(KIND.ERROR);
    expect(Object.values(ERROR_CODE)).toContain(decodeStruct('ERROR', refused.payload).code);
    await close(c);
    expect(await q.quit()).toBe(0);

    const dir = tempDir('rec-qemu-');
    const garbage = join(dir, 'garbage.img');
    const noise = Buffer.alloc(MiB);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    writeFileSync(garbage, noise);
    truncateSync(garbage, 64 * MiB); // noise in the first MiB, zeros (sparse) after it
    const g = await startQemu({ image: garbage });
    await g.waitFor(/^state rec=error card=unformatted/);
    const c2 = await connect(g.pty);
    const info2 = await c2.ok('HELLO', { maxPayload: 4096 });
    expect(info2.cardState).toBe(CARD_STATE.UNFORMATTED);
    // The device formats it; the volume it makes leaves the port's settings blocks alone, so the
    // device id and the number floor survive the next boot.
    await c2.ok('FORMAT', { magic: PROTOCOL.formatMagic, deviceId: info2.deviceId as bigint }, 60_000);
    await c2.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
    await samplesReached(c2, RATE / 2);
    await c2.ok('RECORD', { action: RECORD_ACTION.STOP }, 30_000);
    await close(c2);
    expect(await g.quit()).toBe(0);
    expectFsckClean(garbage);
    const g2 = await startQemu({ image: garbage });
    const c3 = await connect(g2.pty);
    const info3 = await c3.ok('HELLO', { maxPayload: 4096 });
    expect(info3.cardState).toBe(CARD_STATE.OK);
    expect(info3.deviceId).toBe(info2.deviceId);
    expect(Number(info3.nextNumber)).toBe(2);
    expect(g2.lines.some((l) => /settings kept in RAM only/.test(l))).toBe(false);
    await close(c3);
    expect(await g2.quit()).toBe(0);

    // A card image QEMU cannot use is QEMU's own clear error, not a hang.
    const odd = join(dir, 'odd.img');
    writeFileSync(odd, Buffer.alloc(3 * MiB));
    await expect(startQemu({ image: odd })).rejects.toThrow(/power of 2/);
  }, 120_000);
});
