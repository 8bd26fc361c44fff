/**
 * Issue 16's first "done when", the same on every recorder the tests run (simulator, QEMU):
 * provision for loan A, record, a provision refused while the recording is on the recorder (nothing
 * changed), hand back, provision for loan B, record; loan B's library view and export never show
 * loan A's recording, and the wipe certificate is in loan A's custody log.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CUSTODY_LOG } from '../../host/engine/custody.js';
import type { LibraryEntry } from '../../host/engine/listing.js';
import { jsonLines } from './reliability.js';

export type Cli = (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;

interface Provisioned {
  deviceId: string;
  fingerprint: string | null;
  loanFolder: string;
  loan: { id: string; reference: string };
  ownerKey: { recipient: string | null };
  handout: { pdf: string; text: string };
}

const last = (stdout: string) => jsonLines(stdout).at(-1) as Record<string, unknown>;

async function provision(cli: Cli, port: string, loan: string, extra: string[] = []): Promise<Provisioned> {
  const r = await cli(['provision', '--loan', loan, '--contact', 'Sam Jones 07700 900123', '--min-hours', '0.1', '--port', port, ...extra, '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const steps = jsonLines(r.stdout).filter((e) => e.type === 'provision.step' && e.state === 'done').map((e) => e.step);
  expect(steps).toEqual(['check', 'card', 'owner-key', 'label', 'clock', 'settings', 'fingerprint', 'loan', 'handout']);
  const result = (last(r.stdout) as { result: Provisioned }).result;
  for (const f of [result.handout.pdf, result.handout.text]) expect(statSync(f).mode & 0o777).toBe(0o600);
  const text = readFileSync(result.handout.text, 'utf8');
  expect(text).toContain(`Loan code:   ${loan}`);
  expect(text).toContain('Sam Jones 07700 900123');
  if (result.fingerprint) expect(text).toContain(result.fingerprint.toUpperCase().replace(/(.{4})(?=.)/g, '$1 '));
  return result;
}

/** The recordings of a loan as the library view lists them (`recorder library --loan`): numbers, and their copies. */
async function shown(cli: Cli, loan: string): Promise<{ numbers: number[]; copies: string[] }> {
  const r = await cli(['library', '--loan', loan, '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const entries = (last(r.stdout) as { entries: LibraryEntry[] }).entries;
  return { numbers: entries.map((e) => e.number).sort((a, b) => a - b), copies: entries.map((e) => e.copyPath) };
}

function deviceOf(stdout: string): Record<string, unknown> {
  const d = (last(stdout) as { device: Record<string, unknown> }).device;
  return { label: d.label, sampleRate: d.sampleRate, discreet: d.discreet, encrypting: d.encrypting, recordingCount: d.recordingCount };
}

/**
 * `encrypts`: the recorder's software encrypts (the simulator); QEMU's build has no encryption,
 * which provisioning says as a warning.
 */
export async function provisionFlow(o: { cli: Cli; library: string; port: string; encrypts: boolean; record: () => Promise<void> }): Promise<void> {
  const { cli, port } = o;
  // Loan A: the library has no owner key yet; provisioning makes one.
  const a = await provision(cli, port, 'ADV-A', ['--discreet', 'on']);
  expect(existsSync(join(o.library, 'keys'))).toBe(true);
  expect(a.ownerKey.recipient !== null).toBe(o.encrypts);
  expect(readFileSync(a.handout.text, 'utf8')).toContain(o.encrypts ? 'The recordings are locked (encrypted)' : 'The recordings are NOT locked');
  await o.record();
  const syncA = await cli(['sync', '--port', port, '--json']);
  expect(syncA.code, syncA.stdout + syncA.stderr).toBe(0);
  const inA = await shown(cli, 'ADV-A');
  expect(inA.numbers).toHaveLength(1);
  expect(inA.copies.every((c) => c.startsWith(a.loanFolder))).toBe(true);
  expect(readdirSync(a.loanFolder).some((n) => n.endsWith('.age'))).toBe(o.encrypts);

  // The recording is still on the recorder: provisioning is refused, nothing changed.
  const before = await cli(['info', '--port', port, '--json']);
  const refused = await cli(['provision', '--loan', 'ADV-X', '--label', 'OTHER', '--rate', '8000', '--min-hours', '0.1', '--port', port, '--json']);
  expect(refused.code, refused.stdout + refused.stderr).toBe(1);
  expect(refused.stdout).toMatch(/"code":"NOT_HANDED_BACK"/);
  expect(refused.stdout).toContain('recorder handback');
  const after = await cli(['info', '--port', port, '--json']);
  expect(deviceOf(after.stdout)).toEqual(deviceOf(before.stdout));
  expect(readFileSync(join(o.library, 'fleet.json'), 'utf8')).not.toContain('ADV-X');

  // Hand back: copied, verified, wiped, the loan closed, the certificate in the custody log.
  const back = await cli(['handback', '--yes', '--port', port, '--json']);
  expect(back.code, back.stdout + back.stderr).toBe(0);
  const done = jsonLines(back.stdout).find((e) => e.type === 'handback.done') as { certificatePath: string } | undefined;
  expect(done).toBeDefined();
  const custody = readFileSync(join(a.loanFolder, CUSTODY_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; files: Record<string, string>; details?: Record<string, unknown> });
  const wiped = custody.find((e) => e.event === 'wiped');
  expect(wiped, JSON.stringify(custody)).toBeDefined();
  expect(JSON.stringify(wiped)).toContain(done!.certificatePath.split('/').at(-1)!);
  const fleetA = JSON.parse(readFileSync(join(o.library, 'fleet.json'), 'utf8')) as { loans: { id: string; closedAt?: string }[] };
  expect(fleetA.loans.find((l) => l.id === a.loan.id)?.closedAt).toBeDefined();

  // Loan B on the same recorder, the same fingerprint (its key survives the wipe).
  const b = await provision(cli, port, 'ADV-B', ['--buttons', 'no-markers']);
  expect(b.deviceId).toBe(a.deviceId);
  expect(b.fingerprint).toBe(a.fingerprint);
  expect(b.loanFolder).not.toBe(a.loanFolder);
  expect(readFileSync(b.handout.text, 'utf8')).toContain('pressing the button changes nothing');
  await o.record();
  const syncB = await cli(['sync', '--port', port, '--json']);
  expect(syncB.code, syncB.stdout + syncB.stderr).toBe(0);

  // Loan B's library view holds its own recording, never loan A's.
  const inB = await shown(cli, 'ADV-B');
  expect(inB.numbers).toHaveLength(1);
  expect(inB.copies.every((c) => c.startsWith(b.loanFolder))).toBe(true);
  expect(inB.copies.filter((c) => inA.copies.includes(c))).toEqual([]);
  expect(inB.numbers).not.toEqual(inA.numbers); // the numbers carry on after the wipe
  expect((await shown(cli, 'ADV-A')).copies).toEqual(inA.copies);
  // Its export holds only its recording; loan A's recording cannot be exported from it.
  const bundle = join(o.library, '..', 'bundle-b');
  const ex = await cli(['export', String(inB.numbers[0]), '--loan', 'ADV-B', '--to', bundle, '--json']);
  expect(ex.code, ex.stdout + ex.stderr).toBe(0);
  const files = readdirSync(bundle, { recursive: true }).map(String);
  expect(files, files.join(' ')).toContain(`recording-${inB.numbers[0]}`);
  expect(files.filter((f) => /^recording-\d+$/.test(f))).toEqual([`recording-${inB.numbers[0]}`]);
  const other = await cli(['export', String(inA.numbers[0]), '--loan', 'ADV-B', '--to', join(o.library, '..', 'bundle-a'), '--json']);
  expect(other.code).toBe(1);
}
