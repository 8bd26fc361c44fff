/** `recorder devices`, `loan` and `library --loan` (issue 16) on the fake recorder, plain and --json. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { cliIo } from '../engine/testing/cli-io.js';
import { run } from './main.js';

describe('recorder devices, loan and library --loan', () => {
  it('lists the recorders met and their loans; a loan scopes the library', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cli-fleet-'));
    const d = new FakeDevice();
    const none = cliIo(undefined, { HOME: home });
    expect(await run(['devices'], none.io)).toBe(0);
    expect(none.out()).toMatch(/No recorder has been connected to the library .*Recordings yet/);

    const open = cliIo(d, { HOME: home });
    expect(await run(['loan', 'open', 'FAM-9', '--port', d.path, '--json'], open.io), open.err()).toBe(0);
    const loan = (open.json().at(-1) as { loan: { id: string; folder: string } }).loan;
    d.addRecording({ samples: 800 });
    const sync = cliIo(d, { HOME: home });
    expect(await run(['sync', '--port', d.path], sync.io), sync.err()).toBe(0);
    expect(sync.out()).toMatch(/is on loan FAM-9: its recordings go to that loan's folder/);

    const plain = cliIo(undefined, { HOME: home });
    expect(await run(['devices'], plain.io)).toBe(0);
    expect(plain.out()).toMatch(/Kitchen {2}\(id 123456789abcdef0, key [0-9a-f]{16}\)\n {6}ER-1 sim, firmware 1\.2\.3; last seen .*\n {6}1 recording\(s\) on it, \d+ MB free, battery 4000 mV\n {6}on loan FAM-9 since .* \(loan-[0-9a-f]{8}\)/);
    const json = cliIo(undefined, { HOME: home });
    expect(await run(['devices', '--json'], json.io)).toBe(0);
    expect(json.json().at(-1)).toMatchObject({ type: 'result', command: 'devices', ok: true, devices: [{ deviceId: '123456789abcdef0', currentLoanId: loan.id, loan: { reference: 'FAM-9' } }], loans: [{ id: loan.id }] });

    const lib = cliIo(undefined, { HOME: home });
    expect(await run(['library', '--loan', 'fam-9'], lib.io)).toBe(0);
    expect(lib.out()).toMatch(/Kitchen .* 1 .*verified .*_1\.wav\n1 recording\(s\) in .*FAM-9_/);
    const unknown = cliIo(undefined, { HOME: home });
    expect(await run(['library', '--loan', 'FAM-0'], unknown.io)).toBe(1);
    expect(unknown.err()).toMatch(/No loan "FAM-0" is known in this library/);

    const close = cliIo(undefined, { HOME: home });
    expect(await run(['loan', 'close', 'FAM-9'], close.io)).toBe(0);
    expect(close.out()).toMatch(/Loan FAM-9 .* is closed, without a hand-back \(nothing was wiped\)/);
  });

  it('a damaged fleet.json: a plain error, exit status 1, and the file as it was', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cli-fleet-'));
    mkdirSync(join(home, 'Recordings'));
    const file = join(home, 'Recordings', 'fleet.json');
    writeFileSync(file, '{"fleetVersion":1,"devices":[');
    const t = cliIo(undefined, { HOME: home });
    expect(await run(['devices'], t.io)).toBe(1);
    expect(t.err()).toMatch(/fleet\.json cannot be read: it is not valid JSON .* Nothing was changed in it\. Do not delete it: restore it from a backup/);
    expect(readFileSync(file, 'utf8')).toBe('{"fleetVersion":1,"devices":[');
  });
});
