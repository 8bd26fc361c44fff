import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeLoan, currentLoan, findLoan, fleetPath, FLEET_VERSION, loadFleet, loanFolder, noteDeviceSeen, openLoan, placeOfFolder } from './fleet.js';
import { realFs as fs } from './library.js';

const ID = '00112233aabbccdd';
const OTHER = 'ffeeddcc00000001';
const root = () => join(mkdtempSync(join(tmpdir(), 'fleet-')), 'Recordings');
const at = (iso: string) => new Date(iso);

describe('the fleet of a library', () => {
  it('is empty when the library has none yet, and remembers what each connection showed', async () => {
    const r = root();
    expect(await loadFleet(fs, r)).toEqual({ devices: [], loans: [] });
    await noteDeviceSeen(fs, r, { deviceId: ID, label: 'ADV-03', keyFingerprint: '0123456789abcdef', firmware: '1.2.0', recordings: 2, freeBytes: 1000, batteryMv: 3900, lowBattery: false }, at('2026-03-01T10:00:00Z'));
    // A later connection without the key (not every command asks the recorder for it) keeps it.
    const d = await noteDeviceSeen(fs, r, { deviceId: ID, label: 'ADV-03', firmware: '1.3.0', recordings: 0, freeBytes: 5000, batteryMv: 3500, lowBattery: true }, at('2026-03-02T10:00:00Z'));
    expect(d).toEqual({ deviceId: ID, label: 'ADV-03', keyFingerprint: '0123456789abcdef', firmware: '1.3.0', recordings: 0, freeBytes: 5000, batteryMv: 3500, lowBattery: true, lastSeen: '2026-03-02T10:00:00.000Z' });
    expect((await loadFleet(fs, r)).devices).toEqual([d]);
    // Private: the file 0600, the library folder made 0700.
    expect(statSync(fleetPath(r)).mode & 0o777).toBe(0o600);
    expect(statSync(r).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(fleetPath(r), 'utf8'))).toMatchObject({ fleetVersion: FLEET_VERSION });
  });

  it('opens a loan with a folder of its own under the recorder, refuses a second one, and closes it with its certificate', async () => {
    const r = root();
    await noteDeviceSeen(fs, r, { deviceId: ID, label: 'ADV 03' }, at('2026-03-01T09:00:00Z'));
    const one = await openLoan(fs, r, { deviceId: ID, reference: 'L-2026/014' }, at('2026-03-01T10:00:00'));
    expect(one).toMatchObject({ deviceId: ID, reference: 'L-2026/014', folder: 'ADV-03/L-2026-014_2026-03-01' });
    expect(one.id).toMatch(/^loan-[0-9a-f]{8}$/);
    expect(statSync(loanFolder(r, one)).isDirectory()).toBe(true);
    expect(statSync(loanFolder(r, one)).mode & 0o777).toBe(0o700);
    expect(await currentLoan(fs, r, ID)).toEqual(one);
    expect((await loadFleet(fs, r)).devices[0]!.currentLoanId).toBe(one.id);

    await expect(openLoan(fs, r, { deviceId: ID, reference: 'L-2026/015' }, at('2026-03-02T10:00:00'))).rejects.toMatchObject({ code: 'LOAN_REFUSED', message: expect.stringMatching(/still on loan L-2026\/014/), action: expect.stringMatching(/recorder handback/) });
    // Another recorder may be lent meanwhile.
    const other = await openLoan(fs, r, { deviceId: OTHER, reference: 'L-2026/016' }, at('2026-03-02T10:00:00'));
    expect(other.folder).toBe('ffeeddcc00000001/L-2026-016_2026-03-02');

    const closed = await closeLoan(fs, r, one.id, { wipeCertificate: 'ADV-03/L-2026-014_2026-03-01/wipe-x.json' }, at('2026-04-01T10:00:00Z'));
    expect(closed).toMatchObject({ id: one.id, closedAt: '2026-04-01T10:00:00.000Z', wipeCertificate: 'ADV-03/L-2026-014_2026-03-01/wipe-x.json' });
    expect(await currentLoan(fs, r, ID)).toBeNull();
    expect((await loadFleet(fs, r)).devices.find((d) => d.deviceId === ID)!.currentLoanId).toBeUndefined();
    await expect(closeLoan(fs, r, one.id, {}, at('2026-04-02T10:00:00Z'))).rejects.toMatchObject({ code: 'LOAN_REFUSED', message: expect.stringMatching(/already closed/) });
    await expect(closeLoan(fs, r, 'loan-00000000', {}, at('2026-04-02T10:00:00Z'))).rejects.toMatchObject({ code: 'LOAN_REFUSED' });

    // The same code again on the same day: a folder of its own all the same.
    const again = await openLoan(fs, r, { deviceId: ID, reference: 'L-2026/014' }, at('2026-03-01T18:00:00'));
    expect(again.folder).toBe('ADV-03/L-2026-014_2026-03-01-2');
    expect(findLoan(await loadFleet(fs, r), 'l-2026/014')).toEqual(again); // the open one first
    expect(findLoan(await loadFleet(fs, r), one.id)).toMatchObject({ id: one.id });
    expect(() => findLoan({ devices: [], loans: [] }, 'nope')).toThrow(/No loan "nope"/);
    expect(await placeOfFolder(fs, loanFolder(r, again))).toEqual({ root: r, loan: again });
    expect(await placeOfFolder(fs, join(r, 'ADV-03'))).toEqual({ root: r, loan: null });
  });

  it('refuses a loan code that could not be one, and a device id that is not one', async () => {
    const r = root();
    for (const bad of ['', '   ', '---', 'a\nb', 'x'.repeat(65)]) {
      await expect(openLoan(fs, r, { deviceId: ID, reference: bad }, new Date())).rejects.toMatchObject({ code: 'LOAN_REFUSED' });
    }
    await expect(openLoan(fs, r, { deviceId: 'ADV-03', reference: 'L1' }, new Date())).rejects.toMatchObject({ code: 'LOAN_REFUSED' });
    expect((await loadFleet(fs, r)).loans).toEqual([]);
  });

  it('a damaged or hand-edited file: a clear error, and nothing written over it', async () => {
    const r = root();
    mkdirSync(r, { recursive: true });
    const cases: [string, RegExp][] = [
      ['{"fleetVersion":1,"devices":[', /not valid JSON/],
      ['[]', /not a list of recorders/],
      ['{"devices":[],"loans":[]}', /no fleetVersion/],
      ['{"fleetVersion":1,"devices":[{"deviceId":"xyz","label":"a","lastSeen":"t"}],"loans":[]}', /recorder entry 1/],
      ['{"fleetVersion":1,"devices":[{"deviceId":"00112233aabbccdd","label":"a","lastSeen":"t","batteryMv":"3.9V"}],"loans":[]}', /"batteryMv" is not a number/],
      ['{"fleetVersion":1,"devices":[],"loans":[{"id":"a","deviceId":"00112233aabbccdd","reference":"r","openedAt":"t","folder":"../../etc"}]}', /outside the library/],
      ['{"fleetVersion":1,"devices":[],"loans":[{"id":"a","deviceId":"00112233aabbccdd","reference":"r","openedAt":"t","folder":"x/a"},{"id":"b","deviceId":"00112233aabbccdd","reference":"s","openedAt":"t","folder":"x/b"}]}', /two open loans/],
    ];
    for (const [text, why] of cases) {
      writeFileSync(fleetPath(r), text);
      await expect(loadFleet(fs, r)).rejects.toMatchObject({ code: 'FLEET_INVALID', message: expect.stringMatching(why), action: expect.stringMatching(/backup/) });
      await expect(noteDeviceSeen(fs, r, { deviceId: ID, label: 'A' }, new Date())).rejects.toMatchObject({ code: 'FLEET_INVALID' });
      await expect(openLoan(fs, r, { deviceId: ID, reference: 'L1' }, new Date())).rejects.toMatchObject({ code: 'FLEET_INVALID' });
      expect(readFileSync(fleetPath(r), 'utf8')).toBe(text);
    }
  });

  it('a file of a newer version is refused, not rewritten; fields a later version added are kept', async () => {
    const r = root();
    mkdirSync(r, { recursive: true });
    const newer = JSON.stringify({ fleetVersion: FLEET_VERSION + 1, devices: [], loans: [] });
    writeFileSync(fleetPath(r), newer);
    await expect(noteDeviceSeen(fs, r, { deviceId: ID, label: 'A' }, new Date())).rejects.toMatchObject({ code: 'FLEET_INVALID', message: expect.stringMatching(/newer version/), action: expect.stringMatching(/Update the app/) });
    expect(readFileSync(fleetPath(r), 'utf8')).toBe(newer);

    writeFileSync(fleetPath(r), JSON.stringify({ fleetVersion: 1, note: 'kept', devices: [{ deviceId: ID, label: 'A', lastSeen: '2026-01-01T00:00:00.000Z', colour: 'red' }], loans: [{ id: 'loan-1', deviceId: ID, reference: 'R', openedAt: '2026-01-01T00:00:00.000Z', folder: 'A/R_2026-01-01', room: 4 }] }));
    await noteDeviceSeen(fs, r, { deviceId: ID, label: 'A', batteryMv: 3700 }, new Date('2026-02-01T00:00:00Z'));
    await closeLoan(fs, r, 'loan-1', {}, new Date('2026-02-01T00:00:00Z'));
    const raw = JSON.parse(readFileSync(fleetPath(r), 'utf8')) as { note: string; devices: { colour: string; batteryMv: number }[]; loans: { room: number; closedAt: string }[] };
    expect(raw).toMatchObject({ note: 'kept', devices: [{ colour: 'red', batteryMv: 3700 }], loans: [{ room: 4, closedAt: '2026-02-01T00:00:00.000Z' }] });
  });
});
