import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import type { EngineEvent, EventInput, EventListener } from '../../engine/events.js';
import { EngineError } from '../../engine/errors.js';
import { App } from '../app.js';
import type { EnginePort, MarkResult } from '../engine-port.js';
import { ProvisionView } from '../components/ProvisionView.js';
import { initialProvisionState, provisionKey, reduceProvision, type ProvisionUiState } from '../provision-state.js';
import { assertFits, device, ev, SETTLE, text } from './fixtures.js';

afterEach(() => cleanup());

/** Types each character of `s` as a key press. */
function typed(s: ProvisionUiState, chars: string): ProvisionUiState {
  for (const c of chars) s = provisionKey(s, c, {}).state;
  return s;
}

describe('provision state', () => {
  it('a form of six fields: typed text, cycled choices; Enter sends the request', () => {
    let s = reduceProvision(initialProvisionState(), { kind: 'open' });
    expect(s.view).toBe('form');
    // Enter without a loan code: refused, in words
    let r = provisionKey(s, '', { return: true });
    expect(r.effect).toBeNull();
    expect(r.state.formProblem).toMatch(/loan code/);
    s = typed(r.state, 'ADV-3x');
    s = provisionKey(s, '', { backspace: true }).state;
    expect(s.form.loan).toBe('ADV-3');
    s = provisionKey(s, '', { downArrow: true }).state; // label: left empty (the loan code)
    s = provisionKey(s, '', { tab: true }).state; // contact
    s = typed(s, 'Sam 0770');
    s = provisionKey(s, '', { downArrow: true }).state; // sample rate
    s = provisionKey(s, '', { rightArrow: true }).state;
    expect(s.form.sampleRate).toBe(32000);
    s = provisionKey(s, '', { leftArrow: true }).state;
    s = provisionKey(s, '', { leftArrow: true }).state;
    expect(s.form.sampleRate).toBe(8000);
    s = provisionKey(s, '', { downArrow: true }).state; // discreet
    s = provisionKey(s, ' ', {}).state;
    s = provisionKey(s, '', { downArrow: true }).state; // button
    s = provisionKey(s, '', { rightArrow: true }).state;
    s = provisionKey(s, '', { downArrow: true }).state; // wraps to the loan code
    expect(s.field).toBe(0);
    r = provisionKey(s, '', { return: true });
    expect(r.effect).toEqual({ kind: 'run', request: { loan: 'ADV-3', contact: 'Sam 0770', sampleRate: 8000, discreet: true, buttonScheme: 'no-markers' } });
    expect(r.state.view).toBe('running');
    // keys do nothing while it runs
    expect(provisionKey(r.state, '', { escape: true })).toEqual({ state: r.state, effect: null });
  });

  it('folds the steps, warnings and the end; Esc or Enter then closes', () => {
    let s: ProvisionUiState = { ...initialProvisionState(), view: 'running' };
    const events: EventInput[] = [
      { type: 'provision.step', step: 'check', state: 'started', message: 'Checking.' },
      { type: 'warning', code: 'LOW_BATTERY', message: 'The battery is not full (3800 mV).', action: 'Charge it full.' },
      { type: 'provision.step', step: 'check', state: 'done', message: 'Checked.' },
      { type: 'provision.done', ok: true, deviceId: 'a', label: 'ADV-3', loan: 'ADV-3', fingerprint: '0123456789abcdef', handout: { pdf: '/l/h.pdf', text: '/l/h.txt' }, done: ['check'], failedStep: null, message: 'Ready.' },
    ];
    for (const e of events) s = reduceProvision(s, { kind: 'event', event: ev(e) });
    expect(s.steps).toEqual([{ step: 'check', state: 'done', message: 'Checked.' }]);
    expect(s.warnings).toEqual(['The battery is not full (3800 mV). Charge it full.']);
    expect(s.view).toBe('done');
    expect(s.result).toMatchObject({ ok: true, fingerprint: '0123456789abcdef' });
    expect(provisionKey(s, '', { return: true }).effect).toEqual({ kind: 'close' });
    // a run that could not start (no recorder) ends with its reason
    const failed = reduceProvision({ ...initialProvisionState(), view: 'running' }, { kind: 'finished', error: 'That did not work: no recorder.' });
    expect(failed.result).toMatchObject({ ok: false, message: 'That did not work: no recorder.' });
  });

  it('renders the form, then the steps and the fingerprint to write on the case, in 80 columns', () => {
    const form = typed(reduceProvision(initialProvisionState(), { kind: 'open' }), 'ADV-3');
    const f = render(<ProvisionView state={form} />);
    const ft = text(f.lastFrame());
    expect(ft).toContain('› Loan code ADV-3');
    expect(ft).toContain('Label (the loan code: ADV-3)');
    expect(ft).toContain('Who to call (your advocate)');
    expect(ft).toContain('Sample rate 16000 Hz');
    expect(ft).toContain("never the family's name");
    assertFits(f.lastFrame());
    const done: ProvisionUiState = {
      ...form,
      view: 'done',
      steps: [
        { step: 'check', state: 'done', message: 'No recordings, not on loan.' },
        { step: 'card', state: 'failed', message: 'Failed: testing the card.' },
      ],
      error: { message: 'The memory card is not good enough.', action: 'Use another card.' },
      result: { ok: false, message: 'Provisioning stopped while testing the card.', fingerprint: null, handout: null },
    };
    const d = render(<ProvisionView state={done} />);
    const dt = text(d.lastFrame());
    expect(dt).toContain('✓ Battery, recordings, loan: No recordings, not on loan.');
    expect(dt).toContain('✗ Card test: Failed: testing the card.');
    expect(dt).toContain('The memory card is not good enough. Use another card.');
    expect(dt).not.toContain('Write on the case');
    const ok = render(<ProvisionView state={{ ...done, error: null, result: { ok: true, message: 'Ready.', fingerprint: '0123456789abcdef', handout: null } }} />);
    expect(text(ok.lastFrame())).toContain('Write on the case: 0123 4567 89AB CDEF');
  });
});

class FakeEngine implements EnginePort {
  private listeners = new Set<EventListener>();
  calls: { op: string; arg?: unknown }[] = [];
  pending: { op: string; resolve: (v?: unknown) => void; reject: (e: Error) => void }[] = [];
  on(l: EventListener) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(e: EventInput) {
    const stamped: EngineEvent = ev(e);
    for (const l of [...this.listeners]) l(stamped);
  }
  private op(op: string, arg: unknown) {
    this.calls.push({ op, arg });
    return new Promise<unknown>((resolve, reject) => this.pending.push({ op, resolve, reject }));
  }
  status = (a: unknown) => this.op('status', a);
  sync = (a: unknown) => this.op('sync', a);
  verify = (a: unknown) => this.op('verify', a);
  deleteSynced = (a: unknown) => this.op('delete', a);
  mark = (a: unknown) => this.op('mark', a) as Promise<MarkResult>;
  provision = (a: unknown) => this.op('provision', a);
  stop() {}
  settle(op: string, error?: Error) {
    const i = this.pending.findIndex((p) => p.op === op);
    const p = this.pending.splice(i, 1)[0]!;
    if (error) p.reject(error);
    else p.resolve();
  }
  ops() {
    return this.calls.map((c) => c.op);
  }
}

describe('provisioning in the app', () => {
  it('p on the recorder screen opens the form; Enter runs it on the recorder; the end shows the fingerprint; Esc goes back and looks again', async () => {
    const engine = new FakeEngine();
    const ui = render(<App engine={engine} destination="/lib" port="/dev/ttyACM0" utc />);
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status']), SETTLE);
    engine.emit({ type: 'device.info', port: '/dev/ttyACM0', device: device({ simulated: true }) });
    // p while the recorder is being looked at: it says it is busy, and waits
    ui.stdin.write('p');
    await vi.waitFor(() => expect(text(ui.lastFrame())).not.toContain('Set up this recorder'), SETTLE);
    engine.settle('status');
    await new Promise((r) => setTimeout(r, 20));
    ui.stdin.write('p');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Set up this recorder for a family'), SETTLE);
    ui.stdin.write('ADV-7');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('› Loan code ADV-7'), SETTLE);
    assertFits(ui.lastFrame());
    ui.stdin.write('\r');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status', 'provision']), SETTLE);
    expect(engine.calls[1]!.arg).toEqual({ loan: 'ADV-7', sampleRate: 16000, discreet: false, buttonScheme: 'standard', port: '/dev/ttyACM0' });
    engine.emit({ type: 'provision.step', step: 'check', state: 'done', message: 'No recordings, not on loan, battery 4100 mV.' });
    engine.emit({ type: 'provision.done', ok: true, deviceId: 'a', label: 'ADV-7', loan: 'ADV-7', fingerprint: 'a1b2c3d4e5f60718', handout: { pdf: '/lib/h.pdf', text: '/lib/h.txt' }, done: ['check'], failedStep: null, message: 'Recorder "ADV-7" is ready for loan ADV-7.' });
    engine.settle('provision');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Write on the case: A1B2 C3D4 E5F6 0718'), SETTLE);
    expect(text(ui.lastFrame())).toContain('✓ Battery, recordings, loan: No recordings');
    assertFits(ui.lastFrame());
    ui.stdin.write('\u001b');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status', 'provision', 'status']), SETTLE);
    await vi.waitFor(() => expect(text(ui.lastFrame())).not.toContain('Set up this recorder'), SETTLE);
  });

  it('a refusal is shown with what to do', async () => {
    const engine = new FakeEngine();
    const ui = render(<App engine={engine} startWith="none" utc />);
    await new Promise((r) => setTimeout(r, 20));
    ui.stdin.write('p');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Set up this recorder'), SETTLE);
    ui.stdin.write('L1');
    ui.stdin.write('\r');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['provision']), SETTLE);
    engine.emit({ type: 'error', code: 'NOT_HANDED_BACK', message: 'The recorder still holds 2 recording(s) from its last loan.', action: 'Hand it back first: `recorder handback`.' });
    engine.emit({ type: 'provision.done', ok: false, deviceId: 'a', label: 'L1', loan: 'L1', fingerprint: null, handout: null, done: [], failedStep: 'check', message: 'Provisioning stopped while checking the recorder.' });
    engine.settle('provision', new EngineError('NOT_HANDED_BACK', 'x'));
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Hand it back first: `recorder handback`.'), SETTLE);
    expect(text(ui.lastFrame())).toContain('Provisioning stopped while checking the recorder.');
  });
});
