/**
 * Markers on the simulated recorder (issue 15; docs/firmware.md, "The button"): a press starts,
 * while recording a press drops a marker, a bounce-length touch and a one-and-a-half-second hold
 * (a parent checking) drop nothing and stop nothing, MARK drops one from the host, and the long
 * hold (`stop`) stops. The WAV holds the markers as standard `cue `/`LIST adtl` chunks before
 * `evid` (the app's strict parser reads them), at the sample offsets the device journaled and MARK
 * answered, and where the test's own clock says they were taken; ffprobe and sox read the file
 * with its duration. The same for an encrypted recording, decrypted with the stock age.
 *
 * The timing tolerance: the simulator's device clock is the wall clock times --speed (1 here); a
 * command line is read as soon as it arrives (the main loop's poll wakes on stdin) and carried
 * out before the next core poll, which takes the marker at the sample being captured: the
 * samples on the card and in the ring, which the microphone thread fills in blocks of 256
 * samples (16 ms at 16 kHz). So a marker lies within one block, plus the pipe and scheduling
 * delays between this process and the simulator, of the moment the test sent the command. Those
 * delays are milliseconds; 250 ms is allowed for a loaded two-core machine.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeStruct, type StructValue } from '../protocol/src/codec.js';
import { CARD_LAYOUT, JOURNAL_KIND, KIND, PROTOCOL, RECIPIENT_ACTION, RECORD_FLAGS } from '../protocol/src/schema.js';
import { parseWav } from '../host/engine/wav.js';
import { ageRecipientBytes } from './support/age.js';
import { ClientPool, type RawClient } from './support/raw-client.js';
import { expectRamp, until } from './support/recording.js';
import { mcopyOut, requireSimulator, requireTool, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

const RATE = 16000;
const BLOCK_SAMPLES = 256;
const DELAY_MS = 250;
const TOLERANCE = BLOCK_SAMPLES + (DELAY_MS * RATE) / 1000;

beforeAll(() => {
  requireSimulator();
  for (const [tool, pkg] of [['ffprobe', 'ffmpeg'], ['soxi', 'sox'], ['mcopy', 'mtools'], ['age', 'age'], ['age-keygen', 'age']] as const) requireTool(tool, pkg);
});

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
  await stopAll();
});

function run(cmd: string, args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, timeout: 60_000, maxBuffer: 64 << 20, encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends a console command and waits for its `ok`; returns the wall time it was sent. */
async function command(sim: Sim, cmd: string): Promise<number> {
  const from = sim.stdout.length;
  const at = Date.now();
  sim.send(cmd);
  await sim.waitFor(new RegExp(`^ok ${cmd.split(' ')[0]}`), 20_000, from);
  return at;
}

interface Taken {
  /** Wall-clock ms after `mic on` when it was asked for. */
  atMs: number;
  /** MARK's answer, for the one the host dropped. */
  answer?: StructValue;
}

/**
 * One recording by the button: press, marker, a bounce, a checking hold, marker, MARK, stop.
 * Returns when each marker was asked for, relative to the `mic on` line.
 */
async function recordWithMarkers(sim: Sim, c: RawClient): Promise<{ taken: Taken[] }> {
  const from = sim.stdout.length;
  sim.send('press');
  await sim.waitFor(/^mic on/, 20_000, from);
  const t0 = Date.now();
  const taken: Taken[] = [];
  await sleep(1000);
  taken.push({ atMs: (await command(sim, 'press')) - t0 });
  await sleep(400);
  await command(sim, 'hold 10'); // a bounce-length touch: nothing
  await sleep(300);
  await command(sim, 'hold 1500'); // a parent checking: the "recording" answer, no stop, no marker
  await sleep(400);
  taken.push({ atMs: (await command(sim, 'press')) - t0 });
  await sleep(600);
  const at = Date.now();
  const answer = await c.ok('MARK');
  taken.push({ atMs: at - t0, answer });
  await sleep(500);
  expect(sim.stdout.slice(from).filter((l) => /^mic off/.test(l))).toEqual([]); // nothing stopped it
  const stopFrom = sim.stdout.length;
  sim.send('stop');
  await sim.waitFor(/^mic off/, 20_000, stopFrom);
  return { taken };
}

async function journal(c: RawClient): Promise<StructValue[]> {
  const f = await c.call('JOURNAL', { fromIndex: 0, maxRecords: 30, reserved: 0 });
  expect(f.kind).toBe(KIND.RESPONSE);
  return decodeStruct('JOURNAL', f.payload).records as StructValue[];
}

async function listOne(c: RawClient): Promise<StructValue> {
  const f = await c.call('LIST', { afterNumber: 0, maxEntries: 4 });
  const entries = decodeStruct('LIST', f.payload).entries as StructValue[];
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

/** The markers of a WAV (the app's strict parser) checked against the journal, MARK and the clock. */
async function checkMarkers(wav: Buffer, records: StructValue[], taken: Taken[], number: number): Promise<void> {
  const parsed = await parseWav(async (o, n) => wav.subarray(o, o + n), wav.length);
  expect(parsed.problems).toEqual([]);
  const markers = parsed.layout.markers;
  expect(markers.map((m) => m.id)).toEqual([1, 2, 3]);
  expect(markers.map((m) => m.label)).toEqual(['Marker 1', 'Marker 2', 'Marker 3']);
  // The journal has each, as taken, before the recording's own record.
  const journaled = records.filter((r) => Number(r.kind) === JOURNAL_KIND.MARKER && Number(r.number) === number);
  expect(journaled.map((r) => Number(r.overruns))).toEqual([1, 2, 3]);
  expect(journaled.map((r) => Number(r.sampleCount))).toEqual(markers.map((m) => m.sampleOffset));
  const own = records.findIndex((r) => Number(r.kind) === JOURNAL_KIND.RECORDING && Number(r.number) === number);
  expect(own).toBeGreaterThan(records.indexOf(journaled.at(-1)!));
  // MARK answered the third.
  expect(Number(taken[2]!.answer!.marker)).toBe(3);
  expect(Number(taken[2]!.answer!.sampleOffset)).toBe(markers[2]!.sampleOffset);
  expect(Number(taken[2]!.answer!.number)).toBe(number);
  // Where the test's clock says: between markers, as the time between the commands.
  for (let i = 1; i < 3; i++) {
    const want = ((taken[i]!.atMs - taken[0]!.atMs) * RATE) / 1000;
    const got = markers[i]!.sampleOffset - markers[0]!.sampleOffset;
    expect(Math.abs(got - want), `marker ${i + 1}: ${got} samples after marker 1, the clock says ${want}`).toBeLessThanOrEqual(2 * TOLERANCE);
  }
  // And from the start: after `mic on` was seen, so never before the command (less a block).
  expect(markers[0]!.sampleOffset).toBeGreaterThanOrEqual((taken[0]!.atMs * RATE) / 1000 - TOLERANCE);
  expect(markers[0]!.sampleOffset).toBeLessThanOrEqual((taken[0]!.atMs * RATE) / 1000 + TOLERANCE);
}

/** ffprobe and sox read the WAV with its duration (the markers' chunks do not disturb them). */
function checkTools(dir: string, file: string, samples: number): void {
  const probe = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file], dir);
  expect(probe.status, probe.stderr).toBe(0);
  expect(Number(probe.stdout.trim())).toBeCloseTo(samples / RATE, 3);
  const soxi = run('soxi', ['-s', file], dir);
  expect(soxi.status, soxi.stderr).toBe(0);
  expect(Number(soxi.stdout.trim())).toBe(samples);
  const stat = run('sox', [file, '-n', 'stat'], dir);
  expect(stat.status, stat.stderr).toBe(0);
  expect(stat.stderr).toMatch(/Samples read:\s+\d+/);
}

describe('markers on the simulator', () => {
  it('press, markers by press and MARK, a bounce and a check that stop nothing, the long hold: the cue points in the WAV and the journal', async () => {
    const dir = tempDir();
    const sim = await startSim({ dir, sizeMb: 64, speed: 1 });
    const c = await clients.connect(sim.link, { hello: true });
    expect(await c.call('MARK').then((f) => f.kind)).toBe(KIND.ERROR); // not recording: BAD_STATE
    const { taken } = await recordWithMarkers(sim, c);
    const e = await listOne(c);
    const records = await journal(c);
    await clients.closeAll();
    expect(await sim.quit()).toBe(0);

    const name = `REC${String(Number(e.number)).padStart(5, '0')}.WAV`;
    mcopyOut(sim.image, `RECORDS/${name}`, join(dir, name));
    const wav = readFileSync(join(dir, name));
    expect(wav.length).toBe(Number(e.size));
    await checkMarkers(wav, records, taken, Number(e.number));
    const dataSize = wav.readUInt32LE(CARD_LAYOUT.wavDataOffset - 4);
    expect(expectRamp(wav.subarray(CARD_LAYOUT.wavDataOffset, CARD_LAYOUT.wavDataOffset + dataSize))).toBe(Number(e.sampleCount));
    checkTools(dir, name, Number(e.sampleCount));
  }, 120_000);

  it('the same in an encrypted recording: the markers are inside the age payload, and it seals', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'owner.txt');
    const made = run('age-keygen', ['-o', keyFile]);
    expect(made.status, made.stderr).toBe(0);
    const recipient = ageRecipientBytes(/# public key: (age1[a-z0-9]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!);
    const sim = await startSim({ dir, sizeMb: 64, speed: 1 });
    const c = await clients.connect(sim.link, { hello: true });
    await c.ok('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: Buffer.alloc(32, 5) });
    await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient });
    const { taken } = await recordWithMarkers(sim, c);
    const e = await until('the recording sealed', 60_000, async () => {
      const one = await listOne(c);
      return Number(one.flags) & RECORD_FLAGS.SEALED ? one : undefined;
    });
    expect(Number(e.flags) & RECORD_FLAGS.ENCRYPTED).toBe(RECORD_FLAGS.ENCRYPTED);
    const records = await journal(c);
    await clients.closeAll();
    expect(await sim.quit()).toBe(0);

    const name = `REC${String(Number(e.number)).padStart(5, '0')}`;
    mcopyOut(sim.image, `RECORDS/${name}.AGE`, join(dir, `${name}.AGE`));
    const d = run('age', ['-d', '-i', keyFile, '-o', join(dir, `${name}.WAV`), join(dir, `${name}.AGE`)]);
    expect(d.status, d.stderr).toBe(0);
    const wav = readFileSync(join(dir, `${name}.WAV`));
    await checkMarkers(wav, records, taken, Number(e.number));
    checkTools(dir, `${name}.WAV`, Number(e.sampleCount));
  }, 120_000);
});
