/**
 * Issue 16 end to end, "two families, one recorder": the real firmware in the simulator, the real
 * app as the command line. A loan is opened for the first family; its recording is handed back
 * (copied, verified, exported, wiped; the loan closed with the wipe certificate, which is in the
 * custody log); a loan for the second family; its recording is synced into that loan's folder.
 * The second family's library view and export never show the first family's recording, and
 * `recorder devices --json` lists the recorder on the second loan.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from './support/reliability.js';
import { CLI, requireSimulator, runCli, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

const SPEED = 20;

let dir: string;
let home: string;
let sim: Sim;

/** The CLI with this test's own home: its library is <home>/Recordings. */
const cli = (args: string[]) => runCli(args, 120_000, { HOME: home });
const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });
/** The command's final result object (the last JSON line), as the type the caller reads. */
const result = <T>(stdout: string) => lines(stdout).at(-1) as unknown as T;

beforeAll(async () => {
  requireSimulator();
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
  dir = tempDir();
  home = join(dir, 'home');
  sim = await startSim({ dir, sizeMb: 64, speed: SPEED, mic: 'sine:440', timeoutMs: 300_000 });
}, 60_000);

afterAll(async () => {
  await sim?.quit().catch(() => undefined);
  await stopAll();
});

describe('two loans of one simulated recorder', () => {
  it('hands back the first family, and the second family never sees the first family’s recordings', async () => {
    const port = ['--port', sim.link];
    expect((await cli(['label', 'ADV-03', ...port])).code).toBe(0);
    expect((await cli(['set-time', ...port])).code).toBe(0);

    // First family.
    const open1 = await cli(['loan', 'open', 'FAM-A', ...port, '--json']);
    expect(open1.code, open1.stdout + open1.stderr).toBe(0);
    const loanA = result<{ loan: { id: string; folder: string } }>(open1.stdout).loan;
    expect(loanA.folder).toMatch(/^ADV-03\/FAM-A_\d{4}-\d\d-\d\d$/);
    // A second loan while the first is open is refused.
    const twice = await cli(['loan', 'open', 'FAM-B', ...port]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/still on loan FAM-A[^]*recorder handback/);

    await record(sim, 2, SPEED);
    const bundleA = join(dir, 'bundle-a');
    const back = await cli(['handback', '--yes', '--export', bundleA, ...port, '--json']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const done = lines(back.stdout).find((e) => e.type === 'handback.done') as unknown as { loanId: string; recordings: number[]; certificatePath: string; destination: string };
    expect(done).toMatchObject({ loanId: loanA.id, recordings: [1], destination: join(home, 'Recordings', ...loanA.folder.split('/')) });
    expect(readdirSync(bundleA)).toContain('VERIFY.txt');
    expect((await cli(['verify-wipe', done.certificatePath])).code).toBe(0);
    // The wipe certificate is in the custody log of the first family's folder.
    const custody = readFileSync(join(done.destination, 'custody.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; files: Record<string, string>; details: { loan: { id: string } } });
    const wiped = custody.filter((e) => e.event === 'wiped');
    expect(wiped).toHaveLength(1);
    expect(Object.keys(wiped[0]!.files)).toEqual([done.certificatePath.split('/').at(-1)]);
    expect(wiped[0]!.details.loan.id).toBe(loanA.id);
    const checked = await cli(['verify', done.destination]);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);

    // Second family.
    const open2 = await cli(['loan', 'open', 'FAM-B', ...port, '--json']);
    expect(open2.code, open2.stdout + open2.stderr).toBe(0);
    const loanB = result<{ loan: { id: string; folder: string } }>(open2.stdout).loan;
    await record(sim, 2, SPEED);
    const sync = await cli(['sync', ...port, '--json']);
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    const summary = lines(sync.stdout).find((e) => e.type === 'sync.summary') as unknown as { copied: number[]; destination: string };
    expect(summary).toMatchObject({ copied: [2], destination: join(home, 'Recordings', ...loanB.folder.split('/')) });

    // The second family's library view: only its own recording.
    const lib = await cli(['library', '--loan', 'FAM-B', '--json']);
    expect(lib.code, lib.stdout + lib.stderr).toBe(0);
    const entries = result<{ entries: { number: number; folder: string }[] }>(lib.stdout).entries;
    expect(entries.map((e) => [e.number, e.folder])).toEqual([[2, summary.destination]]);
    // The whole library holds both, each in its loan's folder.
    const all = result<{ entries: { number: number; folder: string }[] }>((await cli(['library', '--json'])).stdout).entries;
    expect(all.map((e) => [e.number, e.folder]).sort()).toEqual([[1, done.destination], [2, summary.destination]]);
    // Its export: recording 2 only; the first family's recording 1 is not in it, nor to be had from it.
    const bundleB = join(dir, 'bundle-b');
    expect((await cli(['export', '2', '--loan', 'FAM-B', '--to', bundleB])).code).toBe(0);
    const exportedText = readdirSync(bundleB, { recursive: true }).map(String).join('\n');
    expect(exportedText).toMatch(/^recording-2\/REC00002\.WAV$/m);
    expect(exportedText).not.toMatch(/recording-1|REC00001/);
    const leak = await cli(['export', '1', '--loan', 'FAM-B', '--to', join(dir, 'bundle-c')]);
    expect(leak.code).toBe(1);
    expect(existsSync(join(dir, 'bundle-c'))).toBe(false);

    // The fleet: the recorder, its key, and the loan it is on now.
    const devices = await cli(['devices', '--json']);
    expect(devices.code, devices.stdout + devices.stderr).toBe(0);
    const fleet = result<{ devices: { label: string; keyFingerprint: string; currentLoanId: string; loan: { reference: string }; recordings: number; lastSeen: string }[]; loans: { id: string; closedAt?: string; wipeCertificate?: string }[] }>(devices.stdout);
    expect(fleet.devices).toHaveLength(1);
    expect(fleet.devices[0]).toMatchObject({ label: 'ADV-03', keyFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), currentLoanId: loanB.id, loan: { reference: 'FAM-B' }, recordings: 1 });
    expect(fleet.loans.find((l) => l.id === loanA.id)).toMatchObject({ closedAt: expect.any(String), wipeCertificate: `${loanA.folder}/${done.certificatePath.split('/').at(-1)}` });
    const plain = await cli(['devices']);
    expect(plain.stdout).toMatch(/ADV-03 {2}\(id [0-9a-f]{16}, key [0-9a-f]{16}\)[^]*on loan FAM-B since/);
  }, 300_000);
});
