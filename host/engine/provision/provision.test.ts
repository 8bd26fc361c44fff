import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { describe, expect, test } from 'vitest';
import { EngineError } from '../errors.js';
import type { DeviceSummary, EngineEvent, EventInput } from '../events.js';
import { loadFleet, loanFolder, openLoan } from '../fleet.js';
import { realFs } from '../library.js';
import { createOwnerKey } from '../privacy/owner-keys.js';
import { keysCreate } from '../privacy/ops.js';
import { stamp } from '../session.js';
import { batteryHours, cardHoursFor, fingerprintText, handoutPdf, handoutSections, handoutText, type HandoutModel } from './handout.js';
import { looksLikeAName, provision, type ProvisionContext, type ProvisionRequest } from './provision.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'provision-'));

function summary(over: Partial<DeviceSummary> = {}): DeviceSummary {
  return {
    deviceId: '00000000000000a1', label: '', model: 'sim', firmware: '1.0.0', protocolVersion: 1, simulated: true, discreet: false, clockSet: false, lowBattery: false, encrypting: false,
    batteryMv: 4100, recState: 'idle', cardState: 'ok', sampleRate: 16000, cardCapacity: '8000000000', cardFree: '7900000000', clockUnixMs: '0', uptimeMs: '0', currentNumber: 0,
    currentSamples: 0, nextNumber: 1, recordingCount: 0, journalCount: 0, overrunsTotal: 0, maxPayload: 4096, maxInFlight: 8, buttonScheme: 'standard', cardSecondsLeft: null, batterySecondsLeft: null, ...over,
  };
}

interface Card { capacityBytes: number; freeBytes: number; writeBytesPerSecond: number }

/** A recorder as the engine's operations show it, recording what was done to it. */
function fakeRecorder(d: DeviceSummary, card: Card = { capacityBytes: 8e9, freeBytes: 7.9e9, writeBytesPerSecond: 2e6 }) {
  const calls: string[] = [];
  const state = { ...d, recipient: null as string | null, buttonScheme: 'standard' as 'standard' | 'no-markers' };
  return {
    calls,
    state,
    device: {
      info: async () => (calls.push('info'), { ...state }),
      cardTest: async () => (calls.push('cardTest'), card),
      setLabel: async (label: string) => (calls.push(`label ${label}`), (state.label = label), { ...state }),
      setTime: async () => (calls.push('setTime'), (state.clockSet = true), { offsetMs: 12 }),
      settings: async (c: { sampleRate: number; discreet: boolean; buttonScheme: 'standard' | 'no-markers' }) => (calls.push(`settings ${c.sampleRate} ${c.discreet} ${c.buttonScheme}`), Object.assign(state, c), { sampleRate: state.sampleRate, discreet: state.discreet, buttonScheme: state.buttonScheme }),
      recipient: async (c: { set: string }): Promise<{ recipient: string | null; unsupported?: boolean }> => (calls.push('recipient'), (state.recipient = c.set), { recipient: c.set }),
      fingerprint: async () => (calls.push('fingerprint'), { keyId: '0123456789abcdef' }),
    },
  };
}

function context(root: string, rec: ReturnType<typeof fakeRecorder>, over: Partial<ProvisionContext<Card>> = {}) {
  const events: EngineEvent[] = [];
  const emit = (e: EventInput) => events.push(stamp(e, () => Date.UTC(2026, 11, 7, 18)));
  const ctx: ProvisionContext<Card> = {
    device: rec.device,
    emit,
    fs: realFs,
    root,
    now: () => Date.UTC(2026, 11, 7, 18),
    appVersion: '0.0.0-test',
    // 3x the rate a recording needs: the rule h16card's cardVerdict stands for here
    cardVerdict: (r, o) => (r.writeBytesPerSecond >= 3 * o.sampleRate * 2 ? { ok: true, problems: [] } : { ok: false, problems: [{ code: 'CARD_SLOW', message: 'The card writes too slowly.', action: 'Use another card.' }] }),
    createOwnerKey: () => keysCreate(emit, root, Date.now),
    ...over,
  };
  return { ctx, events };
}

const steps = (events: EngineEvent[]) => events.filter((e) => e.type === 'provision.step').map((e) => (e.type === 'provision.step' ? `${e.step} ${e.state}` : ''));

describe('provision', () => {
  test('sets the key, label, clock and settings, opens the loan and writes the hand-out (0600) in its folder', async () => {
    const root = tmp();
    const key = await createOwnerKey(root);
    const rec = fakeRecorder(summary());
    const { ctx, events } = context(root, rec);
    const r = await provision(ctx, { loan: 'ADV-03', discreet: true, buttonScheme: 'no-markers', contact: 'Sam (advocate) 07700 900123' });
    expect(rec.calls).toEqual(['info', 'cardTest', 'recipient', 'label ADV-03', 'setTime', 'settings 16000 true no-markers', 'fingerprint']);
    expect(rec.state.recipient).toBe(key.recipient);
    expect(r.ownerKey).toEqual({ recipient: key.recipient, file: key.file, created: false });
    const fleet = await loadFleet(realFs, root);
    expect(fleet.loans).toEqual([r.loan]);
    expect(r.loan).toMatchObject({ deviceId: '00000000000000a1', reference: 'ADV-03' });
    expect(fleet.devices).toEqual([expect.objectContaining({ deviceId: '00000000000000a1', label: 'ADV-03', keyFingerprint: '0123456789abcdef', currentLoanId: r.loan.id })]);
    expect(r.handout.pdf).toBe(join(loanFolder(root, r.loan), 'handout-ADV-03.pdf'));
    expect(r.loan.folder).toMatch(/^ADV-03\/ADV-03_\d{4}-\d\d-\d\d$/);
    for (const f of [r.handout.pdf, r.handout.text]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const text = readFileSync(r.handout.text, 'utf8');
    expect(text).toContain('0123 4567 89AB CDEF');
    expect(text).toContain('Sam (advocate) 07700 900123');
    expect(text).toContain('the light stays OFF (discreet mode)');
    expect(text).toContain('pressing the button changes nothing');
    expect(steps(events)).toEqual(['check', 'card', 'owner-key', 'label', 'clock', 'settings', 'fingerprint', 'loan', 'handout'].flatMap((s) => [`${s} started`, `${s} done`]));
    const end = events.at(-1)!;
    expect(end).toMatchObject({ type: 'provision.done', ok: true, loan: 'ADV-03', fingerprint: '0123456789abcdef', failedStep: null, handout: r.handout });
    expect((await PDFDocument.load(readFileSync(r.handout.pdf))).getPageCount()).toBe(1);
  });

  test('a library without an owner key gets one (and is told to back it up); --handout FILE writes FILE.pdf and FILE.txt', async () => {
    const root = tmp();
    const rec = fakeRecorder(summary());
    const { ctx, events } = context(root, rec);
    const out = join(tmp(), 'for-family.pdf');
    const r = await provision(ctx, { loan: 'L-7', label: 'REC-7', handout: out });
    expect(r.ownerKey.created).toBe(true);
    expect(rec.state.recipient).toBe(r.ownerKey.recipient);
    expect(events.some((e) => e.type === 'note' && /Back it up now/.test(e.message))).toBe(true);
    expect(r.handout).toEqual({ pdf: out, text: out.replace(/\.pdf$/, '.txt') });
    expect(rec.calls).toContain('label REC-7');
  });

  test('a recorder that still holds recordings is refused before anything is changed, pointing to handback', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const rec = fakeRecorder(summary({ recordingCount: 2 }));
    const { ctx, events } = context(root, rec);
    const e = await provision(ctx, { loan: 'ADV-04' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).code).toBe('NOT_HANDED_BACK');
    expect((e as EngineError).action).toContain('recorder handback');
    expect((e as EngineError).message).toContain('Nothing on the recorder was changed.');
    expect(rec.calls).toEqual(['info']);
    expect((await loadFleet(realFs, root)).loans).toEqual([]);
    expect(events.find((x) => x.type === 'error')).toMatchObject({ code: 'NOT_HANDED_BACK' });
    expect(events.at(-1)).toMatchObject({ type: 'provision.done', ok: false, failedStep: 'check', done: [] });
  });

  test('an open loan, a low battery, a missing card: refused at the check; a battery not full: said', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const other = tmp();
    await openLoan(realFs, other, { deviceId: '00000000000000a1', reference: 'OLD-1' }, new Date());
    const cases: [Partial<DeviceSummary>, string, string, RegExp][] = [
      [{}, other, 'NOT_HANDED_BACK', /still on loan OLD-1/],
      [{ batteryMv: 3200, lowBattery: true }, root, 'LOW_BATTERY', /battery is too low .*3200 mV/],
      [{ batteryMv: 3400 }, root, 'LOW_BATTERY', /battery is too low/],
      [{ cardState: 'none' }, root, 'CARD_PROBLEM', /no memory card/],
      [{ recState: 'recording' }, root, 'RECORDING_IN_PROGRESS', /recording now/],
    ];
    for (const [d, library, code, msg] of cases) {
      const rec = fakeRecorder(summary(d));
      const { ctx } = context(library, rec);
      const e = (await provision(ctx, { loan: 'ADV-05' }).catch((x: unknown) => x)) as EngineError;
      expect(e.code).toBe(code);
      expect(e.message).toMatch(msg);
      expect(rec.calls).toEqual(['info']);
    }
    const rec = fakeRecorder(summary({ batteryMv: 3800 }));
    const { ctx, events } = context(root, rec);
    const r = await provision(ctx, { loan: 'ADV-06' });
    expect(r.warnings).toEqual(['The battery is not full (3800 mV).']);
    expect(events.some((x) => x.type === 'warning' && x.code === 'LOW_BATTERY')).toBe(true);
    // a recorder that does not measure its cell (0 mV, never low): said, not refused
    const unmeasured = await provision(context(tmp(), fakeRecorder(summary({ batteryMv: 0 }))).ctx, { loan: 'ADV-07' });
    expect(unmeasured.warnings).toEqual(['This recorder does not measure its battery.']);
  });

  test('a card too slow is refused after the test, before any setting is changed', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const rec = fakeRecorder(summary(), { capacityBytes: 8e9, freeBytes: 7.9e9, writeBytesPerSecond: 50_000 });
    const { ctx, events } = context(root, rec);
    const e = (await provision(ctx, { loan: 'ADV-08' }).catch((x: unknown) => x)) as EngineError;
    expect(e.code).toBe('CARD_PROBLEM');
    expect(e.message).toContain('writes too slowly');
    expect(e.action).toBe('Use another card.');
    expect(rec.calls).toEqual(['info', 'cardTest']);
    expect(events.at(-1)).toMatchObject({ type: 'provision.done', ok: false, failedStep: 'card', done: ['check'] });
  });

  test('a failure later names its step and keeps what was done', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const rec = fakeRecorder(summary());
    rec.device.fingerprint = async () => {
      throw new EngineError('TIMEOUT', 'The recorder stopped answering.', 'Unplug it and plug it back in.');
    };
    const { ctx, events } = context(root, rec);
    const e = (await provision(ctx, { loan: 'ADV-09' }).catch((x: unknown) => x)) as EngineError;
    expect(e.message).toMatch(/^Provisioning stopped while reading its fingerprint: The recorder stopped answering\. Done before it stopped \(kept\): checking the recorder, testing the card, giving it the owner's key, naming it, setting its clock, choosing its settings\.$/);
    expect(e.action).toBe('Unplug it and plug it back in.');
    expect(events.at(-1)).toMatchObject({ type: 'provision.done', ok: false, failedStep: 'fingerprint' });
    expect((await loadFleet(realFs, root)).loans).toEqual([]);
  });

  test('run again after a failure after the loan was opened: the same loan is carried on, not refused', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const rec = fakeRecorder(summary());
    const missing = join(tmp(), 'no-such-folder', 'handout');
    const e = (await provision(context(root, rec).ctx, { loan: 'ADV-12', handout: missing }).catch((x: unknown) => x)) as EngineError;
    expect(e.message).toMatch(/^Provisioning stopped while writing the hand-out: /);
    const first = (await loadFleet(realFs, root)).loans;
    expect(first).toHaveLength(1);
    const { ctx, events } = context(root, rec);
    const r = await provision(ctx, { loan: 'adv-12' });
    expect(r.loan).toEqual(first[0]);
    expect((await loadFleet(realFs, root)).loans).toEqual(first);
    expect(events.some((x) => x.type === 'provision.step' && x.step === 'check' && /loan ADV-12 already open from an earlier run/.test(x.message))).toBe(true);
    // another loan code while that one is open: refused
    const other = (await provision(context(root, rec).ctx, { loan: 'ADV-13' }).catch((x: unknown) => x)) as EngineError;
    expect(other.code).toBe('NOT_HANDED_BACK');
  });

  test('several owner keys: refused unless --recipient names one; a bad loan code or label: refused before connecting', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const second = await createOwnerKey(root);
    let rec = fakeRecorder(summary());
    const e = (await provision(context(root, rec).ctx, { loan: 'ADV-10' }).catch((x: unknown) => x)) as EngineError;
    expect(e.code).toBe('OWNER_KEY');
    expect(e.action).toContain('--recipient');
    rec = fakeRecorder(summary());
    const r = await provision(context(root, rec).ctx, { loan: 'ADV-10', recipient: second.recipient });
    expect(rec.state.recipient).toBe(second.recipient);
    expect(r.ownerKey.file).toBe(second.file);
    for (const req of [{ loan: '' }, { loan: 'ADV-1', label: 'x'.repeat(33) }, { loan: 'A\nB' }] as ProvisionRequest[]) {
      rec = fakeRecorder(summary());
      await expect(provision(context(root, rec).ctx, req)).rejects.toThrow(EngineError);
      expect(rec.calls).toEqual([]);
    }
  });

  test('a recorder built without encryption: said, and the hand-out says its recordings are not locked', async () => {
    const root = tmp();
    await createOwnerKey(root);
    const rec = fakeRecorder(summary({ batteryMv: 0 }));
    rec.device.recipient = async () => ({ recipient: null, unsupported: true });
    const { ctx, events } = context(root, rec);
    const r = await provision(ctx, { loan: 'ADV-14' });
    expect(r.ownerKey.recipient).toBeNull();
    expect(events.some((e) => e.type === 'warning' && e.code === 'NOT_ENCRYPTED')).toBe(true);
    expect(readFileSync(r.handout.text, 'utf8')).toContain('The recordings are NOT locked');
  });

  test("a label that looks like a person's name is warned about, not refused", async () => {
    expect(looksLikeAName('Amina Khan')).toBe(true);
    expect(looksLikeAName("Mary O'Neil")).toBe(true);
    expect(looksLikeAName('ADV-03')).toBe(false);
    expect(looksLikeAName('Loan 3')).toBe(false);
    const root = tmp();
    await createOwnerKey(root);
    const { ctx, events } = context(root, fakeRecorder(summary()));
    await provision(ctx, { loan: 'ADV-11', label: 'Amina Khan' });
    expect(events.some((e) => e.type === 'warning' && /looks like a person's name/.test(e.message) && /never the family's name/.test(e.action))).toBe(true);
  });
});

describe('the hand-out', () => {
  const model: HandoutModel = { loan: 'ADV-03', label: 'ADV-03', deviceId: '00000000000000a1', fingerprint: 'a1b2c3d4e5f60718', contact: null, sampleRate: 16000, discreet: false, buttonScheme: 'standard', encrypted: true, cardHours: cardHoursFor(7.9e9, 16000, true), madeAtIso: '2026-12-07T18:00:00.000Z' };

  test('the standard button and the light on: markers, the steady light; hours from the card and the battery estimate', () => {
    const t = handoutText(model);
    expect(t).toContain('a short press marks the moment');
    expect(t).toContain('Steady on: it is recording.');
    expect(t).toContain('A full battery records for about 14 hours (an estimate');
    // 7.9 GB at 32 kB/s: 68.5 hours
    expect(t).toContain('The memory card has room for about 68 hours of recording.');
    expect(t).toContain('Your advocate.');
    expect(t).toContain('Fingerprint: A1B2 C3D4 E5F6 0718 (also written on the case)');
    expect(t).toContain('Set up on:   2026-12-07');
  });

  test('the battery hours are the cell model INFO reports from (BATTERY_MODEL): per rate and light, erring short', () => {
    // The firmware's rec_battery_seconds_left at 4200 mV: mAh x 0.85 x 3600 / current (test_app.c checks the same figures).
    expect(Math.floor(batteryHours(16000, true).small * 3600)).toBe(Math.floor((400 * 850 * 3600) / 22000));
    expect(Math.floor(batteryHours(16000, false).small * 3600)).toBe(Math.floor((400 * 850 * 3600) / 24000));
    expect(Math.floor(batteryHours(48000, true).small * 3600)).toBe(Math.floor((400 * 850 * 3600) / 42200));
    expect(Math.floor(batteryHours(48000, false).large * 3600)).toBe(Math.floor((1000 * 850 * 3600) / 44200));
    // 48 kHz runs the RP2040 at 80 MHz and writes three times the bytes: 7.7 hours with the light on, not 14.
    expect(handoutText({ ...model, sampleRate: 48000 })).toContain('A full battery records for about 7.5 hours (an estimate; about 19 hours if your advocate');
  });

  test('the words follow the settings: discreet mode, no markers, no contact, no key', () => {
    const s = handoutSections({ ...model, discreet: true, buttonScheme: 'no-markers', fingerprint: null, encrypted: false });
    const all = JSON.stringify(s);
    expect(all).not.toContain('marks the moment');
    expect(all).toContain('the light stays OFF');
    expect(all).toContain('about 15 hours');
    expect(all).toContain('NOT locked');
    expect(all).toContain('none (this recorder does not sign its recordings)');
    expect(fingerprintText('0123456789abcdef')).toBe('0123 4567 89AB CDEF');
  });

  test('the PDF is one A4 page, the same bytes for the same input', async () => {
    const a = await handoutPdf({ ...model, contact: 'Sam Advocate, Family Rights Org, 07700 900123' }, '1.0.0');
    const b = await handoutPdf({ ...model, contact: 'Sam Advocate, Family Rights Org, 07700 900123' }, '1.0.0');
    expect(a.equals(b)).toBe(true);
    const doc = await PDFDocument.load(a);
    expect(doc.getPageCount()).toBe(1);
    expect(doc.getTitle()).toBe('Your recorder (ADV-03)');
  });
});
