/**
 * Issue 16 on the fake recorder: a loan files the recordings in a folder of its own (its id in
 * each manifest); hand-back copies, verifies, wipes, closes the loan and logs the certificate;
 * a second loan on the same recorder, even with its numbers started again, never mixes with the
 * first; and hand-back refuses, wiping nothing, while anything is not copied and verified.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCustody } from './custody.js';
import { loadFleet, loanFolder } from './fleet.js';
import { realFs, type Manifest } from './library.js';
import { listLibrary } from './listing.js';
import { setup } from './testing/harness.js';

const yes = async () => true;
const manifestsIn = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.json') && !n.includes('pin') && !n.startsWith('wipe-') && !n.startsWith('.'))
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Manifest);

describe('loans and hand-back on the fake recorder', () => {
  it('two loans of one recorder: each its own folder, hand-back closes the first with its certificate logged, numbers that start again do not mix', async () => {
    const h = setup();
    const root = join(h.home, 'Recordings');
    const one = await h.engine.loans.open({ reference: 'ADV-2026-001' });
    expect(one.folder).toMatch(/^Kitchen\/ADV-2026-001_\d{4}-\d\d-\d\d$/);
    h.device.addRecording({ samples: 800 });
    h.device.addRecording({ samples: 900 });
    const s1 = await h.engine.sync();
    expect(s1).toMatchObject({ ok: true, copied: [1, 2], destination: loanFolder(root, one) });
    expect(manifestsIn(loanFolder(root, one)).map((m) => [m.recording.number, m.loan])).toEqual([
      [1, { id: one.id, reference: 'ADV-2026-001' }],
      [2, { id: one.id, reference: 'ADV-2026-001' }],
    ]);
    // The connection is noted: key, card, battery, the loan.
    const f1 = await h.engine.fleet();
    expect(f1.devices).toEqual([expect.objectContaining({ deviceId: '123456789abcdef0', label: 'Kitchen', keyFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), recordings: 2, batteryMv: 4000, currentLoanId: one.id })]);

    const back = await h.engine.handback({ confirm: yes });
    expect(back).toMatchObject({ recordings: [1, 2], loan: { id: one.id, closedAt: expect.any(String) }, destination: loanFolder(root, one) });
    expect(h.device.recordings.size).toBe(0);
    const fleet = await loadFleet(realFs, root);
    expect(fleet.loans[0]).toMatchObject({ id: one.id, wipeCertificate: `${one.folder}/${back!.certificatePath.split('/').at(-1)}` });
    expect(fleet.devices[0]).toMatchObject({ recordings: 0 });
    expect(fleet.devices[0]!.currentLoanId).toBeUndefined();
    const wiped = (await readCustody(realFs, loanFolder(root, one))).map((l) => l.entry!).filter((e) => e.event === 'wiped');
    expect(wiped).toHaveLength(1);
    expect(wiped[0]).toMatchObject({ recordings: [{ number: 1 }, { number: 2 }], details: { certificate: back!.certificatePath.split('/').at(-1), loan: { id: one.id } } });
    expect(Object.keys(wiped[0]!.files)).toEqual([back!.certificatePath.split('/').at(-1)]);
    expect(h.of('handback.done')).toHaveLength(1);
    // The folder with its wipe certificate still verifies (the certificate is not a stray sidecar).
    expect(await h.engine.verify([loanFolder(root, one)])).toMatchObject({ ok: true, problems: [] });

    // The next family: numbers start again from 1 (a recorder without its number memory).
    const two = await h.engine.loans.open({ reference: 'ADV-2026-002' });
    h.device.nextNumber = 1;
    h.device.addRecording({ samples: 700 });
    const s2 = await h.engine.sync();
    expect(s2).toMatchObject({ ok: true, copied: [1], destination: loanFolder(root, two) });
    // The key the library trusted is carried into the new folder, not trusted afresh.
    expect(h.of('note').some((n) => /signing key [0-9a-f]{16}, trusted since .* is carried into this loan's folder/.test(n.message))).toBe(true);
    expect(h.of('note').filter((n) => /First time this library sees recorder/.test(n.message))).toHaveLength(1);
    const scoped = await listLibrary(loanFolder(root, two));
    expect(scoped.entries.map((e) => [e.number, e.folder])).toEqual([[1, loanFolder(root, two)]]);
    expect(manifestsIn(loanFolder(root, two)).map((m) => m.loan?.id)).toEqual([two.id]);
    // The whole library still holds both families' recordings, each in its loan's folder.
    const all = await listLibrary(root);
    expect(all.entries.map((e) => `${e.folder.slice(root.length + 1)}:${e.number}`).sort()).toEqual([`${one.folder}:1`, `${one.folder}:2`, `${two.folder}:1`]);
    // Export scoped to the second loan has only its recording 1.
    const bundle = await h.engine.exportBundle({ library: loanFolder(root, two), numbers: [1], to: join(h.home, 'bundle') });
    expect(bundle.recordings).toEqual([1]);
    const verify = await h.engine.verify([loanFolder(root, two)]);
    expect(verify.ok).toBe(true);
  });

  it('refuses to wipe while a recording is still being made or a copy does not verify, and says so', async () => {
    const h = setup();
    const root = join(h.home, 'Recordings');
    const loan = await h.engine.loans.open({ reference: 'L-7' });
    h.device.addRecording({ samples: 800 });
    h.device.addRecording({ samples: 800, finished: false });
    await expect(h.engine.handback({ confirm: yes })).rejects.toMatchObject({ code: 'HANDBACK_REFUSED', message: expect.stringMatching(/still recording \(recording 2\).*Nothing was wiped/) });
    expect(h.device.recordings.size).toBe(2);

    h.device.recordings.delete(2);
    h.device.nextNumber = 2;
    // A copy damaged in the library after it was made: sync makes a fresh one beside it, but the
    // folder holds a copy that does not verify, so nothing is wiped.
    await h.engine.sync();
    const wav = readdirSync(loanFolder(root, loan)).find((n) => n.endsWith('_1.wav'))!;
    const p = join(loanFolder(root, loan), wav);
    const bytes = readFileSync(p);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(p, bytes);
    let asked = false;
    await expect(h.engine.handback({ confirm: async () => ((asked = true), true) })).rejects.toMatchObject({ code: 'HANDBACK_REFUSED', message: expect.stringMatching(/do not all verify/) });
    expect(asked).toBe(false);
    expect(h.device.recordings.size).toBe(1);
    expect((await loadFleet(realFs, root)).loans[0]!.closedAt).toBeUndefined();
  });

  it('a recorder on no loan is handed back all the same (copied, checked, wiped), and says so', async () => {
    const h = setup();
    h.device.addRecording({ samples: 800 });
    const r = await h.engine.handback({ confirm: yes });
    expect(r).toMatchObject({ loan: null, recordings: [1], destination: join(h.home, 'Recordings', 'Kitchen') });
    expect(h.of('note')[0]!.message).toMatch(/on no open loan: it is copied to .* checked and wiped all the same, and no loan is closed/);
    expect(existsSync(r!.certificatePath)).toBe(true);
    // Cancelled at the question: nothing wiped.
    const c = setup();
    c.device.addRecording({ samples: 800 });
    expect(await c.engine.handback({ confirm: async () => false })).toBeNull();
    expect(c.device.recordings.size).toBe(1);
  });
});
