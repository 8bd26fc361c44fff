/**
 * `recorder provision` (issue 16): one guided run that makes an attached recorder ready for a
 * family. The checks that change nothing come first (battery, recordings still on it, an open
 * loan, the card's speed and room), so a refused recorder is left exactly as it was; then the
 * owner key, label, clock and settings; then its fingerprint, the loan, and the family's hand-out.
 * Each step is reported as `provision.step` events; a failure names its step, keeps what was done
 * before it, and says what to do.
 *
 * The device operations are the engine's own (each its own connection), passed in as
 * `ProvisionDevice`, so this module holds only the order, the refusals and the hand-out.
 */
import * as path from 'node:path';
import { DEFAULT_MINIMUM_HOURS, type CardTestResult } from '../card-test.js';
import { EngineError, toEngineError } from '../errors.js';
import type { DeviceSummary, ProblemCode, ProvisionStep } from '../events.js';
import { checkReference, currentLoan, loanFolder, noteDeviceSeen, openLoan, type Loan } from '../fleet.js';
import { sanitiseLabel, writeFileAtomic, type Fs } from '../library.js';
import { listOwnerKeys } from '../privacy/owner-keys.js';
import type { KeysCreated } from '../privacy/ops.js';
import type { Emit } from '../session.js';
import { batteryHours, cardHoursFor, fingerprintText, handoutPdf, handoutText, type ButtonScheme, type HandoutModel } from './handout.js';

/** Below this the recorder refuses to start a recording (docs/firmware.md, "low battery"): refused. */
export const PROVISION_MIN_BATTERY_MV = 3450;
/** Below this the cell is not full (a LiPo rests at about 4.1-4.2 V when full): said, not refused. */
export const PROVISION_FULL_BATTERY_MV = 3900;

export interface ProvisionRequest {
  /** The advocate's loan code (from their register; never a family's name). */
  loan: string;
  /** The recorder's label; default the loan code. */
  label?: string;
  sampleRate?: number;
  discreet?: boolean;
  buttonScheme?: ButtonScheme;
  /** Who the family calls ("NAME PHONE"). */
  contact?: string;
  /** Where the hand-out goes: FILE.pdf and FILE.txt (default: the loan's folder in the library). */
  handout?: string;
  /** The owner recipient (age1...) to use when the library holds several owner keys. */
  recipient?: string;
  /** Hours of recording the card's free space must hold at the chosen rate (default card-test.ts DEFAULT_MINIMUM_HOURS). */
  minimumHours?: number;
}

/** What provisioning reads of the card test (card-test.ts CardTestResult); tests give less. */
export type CardTestLike = Pick<CardTestResult, 'capacityBytes' | 'freeBytes'>;

/** The engine's device operations provisioning uses (each connects, works and disconnects). */
export interface ProvisionDevice<C extends CardTestLike = CardTestLike> {
  info(): Promise<DeviceSummary>;
  cardTest(): Promise<C>;
  setLabel(label: string): Promise<DeviceSummary>;
  setTime(): Promise<{ offsetMs: number | null }>;
  settings(change: { sampleRate: number; discreet: boolean; buttonScheme: ButtonScheme }): Promise<{ sampleRate: number; discreet: boolean; buttonScheme?: ButtonScheme }>;
  /** Sets the owner recipient; `unsupported`: this recorder's software cannot encrypt (QEMU's build). */
  recipient(change: { set: string }): Promise<{ recipient: string | null; unsupported?: boolean }>;
  /** The recorder's key id (its fingerprint); it makes its key first when it has none. */
  fingerprint(): Promise<{ keyId: string | null }>;
}

export interface ProvisionContext<C extends CardTestLike = CardTestLike> {
  device: ProvisionDevice<C>;
  emit: Emit;
  fs: Fs;
  /** The library root (the folder holding the recorders' folders and keys/). */
  root: string;
  now: () => number;
  appVersion: string;
  cardVerdict(r: C, o: { sampleRate: number; encrypted: boolean; minimumHours: number }): { ok: boolean; problems: { message: string; action: string }[] };
  /** Makes a new owner key in the library (privacy/ops.ts keysCreate, which says where it is). */
  createOwnerKey(): Promise<KeysCreated>;
}

export interface ProvisionResult<C extends CardTestLike = CardTestLike> {
  deviceId: string;
  label: string;
  loan: Loan;
  /** The loan's folder (absolute): its recordings and the hand-out go there. */
  loanFolder: string;
  fingerprint: string | null;
  /** The owner key the recorder encrypts to; recipient null: it cannot encrypt (a warning said so). */
  ownerKey: { recipient: string | null; file: string | null; created: boolean };
  settings: { sampleRate: number; discreet: boolean; buttonScheme: ButtonScheme };
  clockOffsetMs: number | null;
  card: C;
  /** Hours of recording the card's free space holds, and a full battery's estimate (hardware/power-budget.md). */
  cardHours: number;
  batteryHours: { small: number; large: number };
  handout: { pdf: string; text: string };
  warnings: string[];
}

const STEP_NAMES: Record<ProvisionStep, string> = {
  check: 'checking the recorder',
  card: 'testing the card',
  'owner-key': "giving it the owner's key",
  label: 'naming it',
  clock: 'setting its clock',
  settings: 'choosing its settings',
  fingerprint: 'reading its fingerprint',
  loan: 'opening the loan',
  handout: 'writing the hand-out',
};

/** Checks a label as the recorder takes it: 1 to 32 bytes, no control characters. */
export function labelProblem(label: string): string | null {
  const bytes = Buffer.byteLength(label, 'utf8');
  if (bytes === 0 || bytes > 32) return `a label must be 1 to 32 bytes long (this one is ${bytes})`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(label)) return 'a label cannot contain control characters';
  return null;
}

/** "Amina Khan", "O'Neil-Smith Jo": two or more capitalised words, as names are written. */
export function looksLikeAName(s: string): boolean {
  return /^\p{Lu}\p{Ll}+(?:[ '-]+\p{Lu}[\p{L}'-]*\p{Ll})+$/u.test(s.trim());
}

class Refusal extends EngineError {}

const refuse = (code: ProblemCode, message: string, action: string) => new Refusal(code, message, action);

/** Runs the provisioning; resolves with what was done, or throws the step's error after reporting it. */
export async function provision<C extends CardTestLike>(ctx: ProvisionContext<C>, req: ProvisionRequest): Promise<ProvisionResult<C>> {
  const { device, emit } = ctx;
  const sampleRate = req.sampleRate ?? 16000;
  const discreet = req.discreet ?? false;
  const buttonScheme = req.buttonScheme ?? 'standard';
  // Input the recorder never sees is checked before anything (fleet.ts: LOAN_REFUSED).
  const reference = checkReference(req.loan);
  const label = (req.label ?? reference).trim();
  const done: ProvisionStep[] = [];
  const warnings: string[] = [];
  const warn = (code: ProblemCode, message: string, action: string) => {
    warnings.push(message);
    emit({ type: 'warning', code, message, action });
  };
  let deviceId = '';
  let fingerprint: string | null = null;
  // The loan an earlier run of provisioning opened for this recorder, with this code (carried on).
  let reopened: Loan | null = null;

  async function step<T>(name: ProvisionStep, started: string, work: () => Promise<T>, doneText: (r: T) => string): Promise<T> {
    emit({ type: 'provision.step', step: name, state: 'started', message: started });
    try {
      const r = await work();
      done.push(name);
      emit({ type: 'provision.step', step: name, state: 'done', message: doneText(r) });
      return r;
    } catch (e) {
      const err = toEngineError(e);
      // The engine's own operations have said their error already; a refusal of this module has not.
      if (e instanceof Refusal || !(e instanceof EngineError)) emit({ type: 'error', code: err.code, message: err.message, action: err.action });
      const kept = done.length ? `Done before it stopped (kept): ${done.map((s) => STEP_NAMES[s]).join(', ')}.` : 'Nothing on the recorder was changed.';
      const message = `Provisioning stopped while ${STEP_NAMES[name]}: ${err.message.replace(/\.$/, '')}. ${kept}`;
      emit({ type: 'provision.step', step: name, state: 'failed', message: `Failed: ${STEP_NAMES[name]}.` });
      emit({ type: 'provision.done', ok: false, deviceId, label, loan: reference, fingerprint, handout: null, done: [...done], failedStep: name, message: `${message} ${err.action}`.trim() });
      throw new EngineError(err.code, message, err.action || 'Fix the problem above, then run `recorder provision` again.', err.deviceError);
    }
  }

  const bad = labelProblem(label);
  if (bad) throw new EngineError('INTERNAL', `${bad[0]!.toUpperCase()}${bad.slice(1)}.`, 'Use a short neutral code from your loan register, such as ADV-03.');

  const info = await step(
    'check',
    'Checking the recorder: battery, recordings still on it, its loan.',
    async () => {
      const d = await device.info();
      deviceId = d.deviceId;
      if (d.wipePending) throw refuse('CARD_PROBLEM', 'A wipe of this recorder was cut by a power loss and is not finished.', 'Run `recorder wipe` (or `recorder handback`) again to finish it, then provision it.');
      // 0 mV: a recorder that does not measure its cell (the QEMU board); it never reports it low.
      const measured = d.batteryMv > 0;
      if (d.lowBattery || (measured && d.batteryMv < PROVISION_MIN_BATTERY_MV)) {
        throw refuse('LOW_BATTERY', `The battery is too low to hand the recorder over (${d.batteryMv} mV): it could not even start a recording.`, 'Charge it until the charging light goes out (about 2 hours for the small battery), then provision it again.');
      }
      if (!measured) warn('LOW_BATTERY', 'This recorder does not measure its battery.', 'Make sure it is charged full before you give it to the family.');
      else if (d.batteryMv < PROVISION_FULL_BATTERY_MV) warn('LOW_BATTERY', `The battery is not full (${d.batteryMv} mV).`, 'Charge it full before you give it to the family.');
      if (d.cardState !== 'ok') {
        throw refuse('CARD_PROBLEM', d.cardState === 'none' ? 'There is no memory card in the recorder.' : `The memory card is not usable (${d.cardState}).`, d.cardState === 'unformatted' ? 'Run `recorder format` (it asks first), then provision it again.' : 'Put a good card in (see hardware/README.md, "Why an industrial or high-endurance microSD card"), then provision it again.');
      }
      if (d.recState === 'recording' || d.recState === 'finalising') throw refuse('RECORDING_IN_PROGRESS', 'The recorder is recording now.', 'Stop the recording (hold the button for two seconds), hand the recorder back with `recorder handback`, then provision it.');
      if (d.recState !== 'idle') throw refuse('DEVICE_ERROR', `The recorder reports a problem (its state: ${d.recState}).`, 'Unplug it, plug it back in, and look at `recorder info`; if it stays so, ask for help.');
      if (d.recordingCount > 0) {
        throw refuse('NOT_HANDED_BACK', `The recorder still holds ${d.recordingCount} recording(s) from its last loan, so it was not provisioned.`, 'Hand it back first: `recorder handback` copies and checks every recording, then wipes it. Then provision it.');
      }
      const open = await currentLoan(ctx.fs, ctx.root, d.deviceId);
      if (open && open.reference.toLowerCase() === reference.toLowerCase()) reopened = open;
      else if (open) throw refuse('NOT_HANDED_BACK', `The recorder is still on loan ${open.reference}, so it was not provisioned.`, 'Hand it back first with `recorder handback` (it closes that loan), then provision it.');
      if (looksLikeAName(label) || looksLikeAName(reference)) {
        warn('INTERNAL', `"${looksLikeAName(label) ? label : reference}" looks like a person's name.`, "Use a neutral code from your loan register (such as ADV-03), never the family's name: the recorder and its hand-out may be lost.");
      }
      return d;
    },
    (d) => `Recorder "${d.label || '(no label)'}" (id ${d.deviceId}): no recordings, ${reopened ? `loan ${reopened.reference} already open from an earlier run (carried on)` : 'not on loan'}, battery ${d.batteryMv > 0 ? `${d.batteryMv} mV` : 'not measured'}.`,
  );

  const card = await step(
    'card',
    'Testing the memory card: writing and reading back a test file (this takes a few seconds).',
    async () => {
      const r = await device.cardTest();
      const v = ctx.cardVerdict(r, { sampleRate, encrypted: true, minimumHours: req.minimumHours ?? DEFAULT_MINIMUM_HOURS });
      if (!v.ok) {
        const first = v.problems[0]!;
        throw refuse('CARD_PROBLEM', `The memory card is not good enough for this recorder: ${v.problems.map((p) => p.message.replace(/\.$/, '')).join('; ')}.`, first.action);
      }
      return r;
    },
    (r) => `The card is good: ${(r.freeBytes / 1e9).toFixed(1)} GB free of ${(r.capacityBytes / 1e9).toFixed(1)} GB, fast enough for ${sampleRate} Hz.`,
  );

  const ownerKey = await step(
    'owner-key',
    "Giving the recorder the owner's key, so that it encrypts every recording.",
    async () => {
      let recipient = req.recipient ?? null;
      let file: string | null = null;
      let created = false;
      const usable = (await listOwnerKeys(ctx.root)).filter((k) => k.usable);
      if (recipient) file = usable.find((k) => k.recipient === recipient)?.file ?? null;
      else if (usable.length === 1) ({ recipient, file } = usable[0]!);
      else if (usable.length > 1) throw refuse('OWNER_KEY', `This library holds ${usable.length} owner keys, and provisioning does not guess which one the recorder should encrypt to.`, 'Say which with --recipient age1... (`recorder keys show` lists them).');
      else {
        // A recorder going to a family records encrypted: a library without an owner key gets
        // one now (keysCreate says where its secret half is and that it must be backed up).
        const k = await ctx.createOwnerKey();
        ({ recipient, file } = k.key);
        created = true;
      }
      const r = await device.recipient({ set: recipient });
      if (r.unsupported) {
        warn('NOT_ENCRYPTED', "This recorder's software cannot encrypt (it was built without encryption): its recordings will NOT be encrypted, and anyone who finds it or its card can listen to them.", 'For a family, use a recorder that encrypts (the RP2040 board); otherwise tell the family to keep it safe.');
        return { recipient: null, file: null, created };
      }
      if (r.recipient !== recipient) throw refuse('DEVICE_ERROR', 'The recorder did not keep the owner key it was given.', 'Unplug it, plug it back in, and run `recorder provision` again.');
      if (!file) warn('OWNER_KEY', `This computer holds no secret half of the owner key ${recipient}: it cannot open the recorder's recordings.`, 'Make sure the owner (whoever will copy the recordings) holds that key.');
      return { recipient, file, created };
    },
    (k) => (k.recipient ? `Every recording will be encrypted to the owner key ${k.recipient}.${k.created ? ` It was made now: BACK UP its secret half, ${k.file}; without it the recordings cannot be opened.` : ''}` : 'The recorder records WITHOUT encryption.'),
  );

  const named = await step('label', `Naming the recorder "${label}".`, () => device.setLabel(label), (d) => `The recorder is called "${d.label}".`);
  const clock = await step('clock', "Setting the recorder's clock from this computer.", () => device.setTime(), () => "The recorder's clock is set.");
  const settings = await step(
    'settings',
    `Choosing ${sampleRate} Hz, discreet mode ${discreet ? 'on' : 'off'}, the ${buttonScheme} button.`,
    async () => {
      const r = await device.settings({ sampleRate, discreet, buttonScheme });
      const out = { sampleRate: r.sampleRate, discreet: r.discreet, buttonScheme: r.buttonScheme ?? 'standard' };
      if (out.sampleRate !== sampleRate || out.discreet !== discreet || out.buttonScheme !== buttonScheme) {
        throw refuse('DEVICE_ERROR', `The recorder did not keep its settings (it reports ${out.sampleRate} Hz, discreet mode ${out.discreet ? 'on' : 'off'}, the ${out.buttonScheme} button).`, 'Update its software, or run `recorder provision` again.');
      }
      return out;
    },
    (s) => `Settings: ${s.sampleRate} Hz, discreet mode ${s.discreet ? 'on' : 'off'}, the ${s.buttonScheme === 'standard' ? 'standard button (a press while recording marks the moment)' : 'button without markers (presses while recording do nothing)'}.`,
  );
  fingerprint = (
    await step('fingerprint', "Reading the recorder's fingerprint (its signing key).", () => device.fingerprint(), (f) => (f.keyId ? `Fingerprint: ${fingerprintText(f.keyId)}. Write it on the case and in your loan register.` : 'This recorder has no signing key: its recordings will not be signed.'))
  ).keyId;
  const loan = await step(
    'loan',
    `Opening loan ${reference}.`,
    async () => {
      if (reopened) return reopened;
      // The fleet learns the recorder's new name and key first: the loan's folder is named after it.
      const at = new Date(ctx.now());
      await noteDeviceSeen(ctx.fs, ctx.root, { deviceId: info.deviceId, label: named.label, model: info.model, firmware: info.firmware, recordings: 0, freeBytes: card.freeBytes, batteryMv: info.batteryMv, lowBattery: info.lowBattery, ...(fingerprint ? { keyFingerprint: fingerprint } : {}) }, at);
      return openLoan(ctx.fs, ctx.root, { deviceId: info.deviceId, reference }, at);
    },
    (l) => `Loan ${l.reference} is open: its recordings go to ${loanFolder(ctx.root, l)}.`,
  );

  const cardHours = cardHoursFor(card.freeBytes, settings.sampleRate, ownerKey.recipient !== null);
  const model: HandoutModel = {
    loan: reference,
    label: named.label,
    deviceId: info.deviceId,
    fingerprint,
    contact: req.contact?.trim() || null,
    sampleRate: settings.sampleRate,
    discreet: settings.discreet,
    buttonScheme: settings.buttonScheme,
    encrypted: ownerKey.recipient !== null,
    cardHours,
    madeAtIso: new Date(ctx.now()).toISOString(),
  };
  const handout = await step(
    'handout',
    'Writing the hand-out for the family.',
    async () => {
      let base: string;
      if (req.handout) base = path.resolve(req.handout).replace(/\.(pdf|txt)$/i, '');
      else base = path.join(loanFolder(ctx.root, loan), `handout-${sanitiseLabel(reference) || 'loan'}`);
      const files = { pdf: `${base}.pdf`, text: `${base}.txt` };
      // 0600 like every file of the library: it names the loan and the advocate's number.
      await writeFileAtomic(ctx.fs, files.text, handoutText(model));
      await writeFileAtomic(ctx.fs, files.pdf, await handoutPdf(model, ctx.appVersion));
      return files;
    },
    (f) => `Hand-out for the family (print it): ${f.pdf} (also as text: ${path.basename(f.text)}).`,
  );

  const result: ProvisionResult<C> = {
    deviceId: info.deviceId,
    label: named.label,
    loan,
    loanFolder: loanFolder(ctx.root, loan),
    fingerprint,
    ownerKey,
    settings,
    clockOffsetMs: clock.offsetMs,
    card,
    cardHours,
    batteryHours: batteryHours(settings.sampleRate, settings.discreet),
    handout,
    warnings,
  };
  emit({
    type: 'provision.done',
    ok: true,
    deviceId: info.deviceId,
    label: named.label,
    loan: reference,
    fingerprint,
    handout,
    done: [...done],
    failedStep: null,
    message: `Recorder "${named.label}" is ready for loan ${reference}${fingerprint ? `; write its fingerprint ${fingerprintText(fingerprint)} on the case` : ''}. Print the hand-out and give it to the family with the recorder.`,
  });
  return result;
}
