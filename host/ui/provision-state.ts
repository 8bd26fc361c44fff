/**
 * Provisioning in the interactive app (issue 16): the form an advocate fills in (p on the
 * recorder's screen), then the steps of `recorder provision` as the engine reports them, then the
 * fingerprint and the hand-out. Pure: a key press gives the next state and at most one effect
 * (run or close), which host/ui/app.tsx carries out with the engine; the engine's provision.*
 * events and errors are folded in with `reduceProvision`.
 */

import type { EngineEvent, ProvisionStep } from '../engine/events.js';
import { SAMPLE_RATES } from '../../protocol/src/schema.js';

export type ButtonSchemeName = 'standard' | 'no-markers';

export interface ProvisionForm {
  loan: string;
  /** Empty: the loan code. */
  label: string;
  contact: string;
  sampleRate: number;
  discreet: boolean;
  buttonScheme: ButtonSchemeName;
}

/** The form's fields, in order: text fields are typed into, the others change with ← → or space. */
export const FIELDS = ['loan', 'label', 'contact', 'sampleRate', 'discreet', 'buttonScheme'] as const;
export type FieldName = (typeof FIELDS)[number];
const TEXT_FIELDS: readonly FieldName[] = ['loan', 'label', 'contact'];
const MAX_TEXT = 64;

export interface StepLine {
  step: ProvisionStep;
  state: 'started' | 'done' | 'failed';
  message: string;
}

export interface ProvisionUiState {
  view: 'closed' | 'form' | 'running' | 'done';
  field: number;
  form: ProvisionForm;
  /** Why the form cannot be sent yet (the loan code is missing). */
  formProblem: string | null;
  steps: StepLine[];
  warnings: string[];
  /** The problem that stopped it, and what to do. */
  error: { message: string; action: string } | null;
  result: { ok: boolean; message: string; fingerprint: string | null; handout: { pdf: string; text: string } | null } | null;
}

export interface ProvisionRequestUi {
  loan: string;
  label?: string;
  contact?: string;
  sampleRate: number;
  discreet: boolean;
  buttonScheme: ButtonSchemeName;
}

export type ProvisionEffect = { kind: 'run'; request: ProvisionRequestUi } | { kind: 'close' };

export interface KeyLike {
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  shift?: boolean;
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export const initialProvisionState = (): ProvisionUiState => ({
  view: 'closed',
  field: 0,
  form: { loan: '', label: '', contact: '', sampleRate: 16000, discreet: false, buttonScheme: 'standard' },
  formProblem: null,
  steps: [],
  warnings: [],
  error: null,
  result: null,
});

export type ProvisionAction =
  | { kind: 'open' }
  | { kind: 'close' }
  /** The state a key press gave (provisionKey), kept at once by the app so fast keys see each other. */
  | { kind: 'set'; state: ProvisionUiState }
  | { kind: 'event'; event: EngineEvent }
  | { kind: 'finished'; error?: string };

/** The request the form makes: text trimmed, an empty label or contact left out. */
export function requestOf(f: ProvisionForm): ProvisionRequestUi {
  return {
    loan: f.loan.trim(),
    ...(f.label.trim() ? { label: f.label.trim() } : {}),
    ...(f.contact.trim() ? { contact: f.contact.trim() } : {}),
    sampleRate: f.sampleRate,
    discreet: f.discreet,
    buttonScheme: f.buttonScheme,
  };
}

function cycle<T>(values: readonly T[], v: T, by: number): T {
  const i = values.indexOf(v);
  return values[(i + by + values.length) % values.length]!;
}

/** A key press on the provisioning screen: the next state and what the app must do. */
export function provisionKey(s: ProvisionUiState, input: string, key: KeyLike): { state: ProvisionUiState; effect: ProvisionEffect | null } {
  if (s.view === 'closed') return { state: s, effect: null };
  if (s.view === 'running') return { state: s, effect: null }; // it finishes or fails by itself; q quits the app safely
  if (s.view === 'done') {
    if (key.escape || key.return || input === 'q') return { state: initialProvisionState(), effect: { kind: 'close' } };
    return { state: s, effect: null };
  }
  if (key.escape) return { state: initialProvisionState(), effect: { kind: 'close' } };
  const name = FIELDS[s.field]!;
  if (key.return) {
    if (!s.form.loan.trim()) return { state: { ...s, field: 0, formProblem: 'Type the loan code from your register first (not the family\'s name).' }, effect: null };
    const request = requestOf(s.form);
    return { state: { ...s, view: 'running', formProblem: null, steps: [], warnings: [], error: null, result: null }, effect: { kind: 'run', request } };
  }
  if (key.upArrow || (key.tab && key.shift)) return { state: { ...s, field: (s.field + FIELDS.length - 1) % FIELDS.length }, effect: null };
  if (key.downArrow || key.tab) return { state: { ...s, field: (s.field + 1) % FIELDS.length }, effect: null };
  if (TEXT_FIELDS.includes(name)) {
    const text = s.form[name as 'loan' | 'label' | 'contact'];
    if (key.backspace || key.delete) return { state: { ...s, form: { ...s.form, [name]: text.slice(0, -1) } }, effect: null };
    // eslint-disable-next-line no-control-regex
    if (input && !key.ctrl && !key.meta && !/[\u0000-\u001f\u007f]/.test(input) && [...text].length < MAX_TEXT) {
      return { state: { ...s, formProblem: null, form: { ...s.form, [name]: text + input } }, effect: null };
    }
    return { state: s, effect: null };
  }
  const by = key.leftArrow ? -1 : key.rightArrow || input === ' ' ? 1 : 0;
  if (by === 0) return { state: s, effect: null };
  const form =
    name === 'sampleRate'
      ? { ...s.form, sampleRate: cycle(SAMPLE_RATES as readonly number[], s.form.sampleRate, by) }
      : name === 'discreet'
        ? { ...s.form, discreet: !s.form.discreet }
        : { ...s.form, buttonScheme: s.form.buttonScheme === 'standard' ? ('no-markers' as const) : ('standard' as const) };
  return { state: { ...s, form }, effect: null };
}

export function reduceProvision(s: ProvisionUiState, a: ProvisionAction): ProvisionUiState {
  switch (a.kind) {
    case 'open':
      return { ...initialProvisionState(), view: 'form' };
    case 'close':
      return initialProvisionState();
    case 'set':
      return a.state;
    case 'finished':
      if (s.view !== 'running') return s;
      // A run that ended without provision.done (it could not start: no recorder) says why here.
      return { ...s, view: 'done', result: s.result ?? { ok: !a.error, message: a.error ?? 'Finished.', fingerprint: null, handout: null } };
    case 'event': {
      if (s.view !== 'running') return s;
      const e = a.event;
      if (e.type === 'provision.step') {
        const steps = s.steps.filter((x) => x.step !== e.step);
        return { ...s, steps: [...steps, { step: e.step, state: e.state, message: e.message }] };
      }
      if (e.type === 'provision.done') return { ...s, view: 'done', result: { ok: e.ok, message: e.message, fingerprint: e.fingerprint, handout: e.handout } };
      if (e.type === 'warning') return { ...s, warnings: [...s.warnings, `${e.message} ${e.action}`.trim()] };
      if (e.type === 'error') return { ...s, error: { message: e.message, action: e.action } };
      return s;
    }
  }
}
