import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import type { EngineEvent, EventInput, EventListener } from '../../engine/events.js';
import { App, endedWithProblems, runInteractive } from '../app.js';
import { EngineError } from '../../engine/errors.js';
import type { EnginePort, MarkResult } from '../engine-port.js';
import { initialState } from '../state.js';
import { assertFits, device, ev, lines, recording, SETTLE, text } from './fixtures.js';

afterEach(() => cleanup());

const DEST = '/home/sam/Recordings';

/** An engine whose operations stay pending until the test settles them. */
class FakeEngine implements EnginePort {
  private listeners = new Set<EventListener>();
  calls: { op: string; arg?: unknown }[] = [];
  pending: { op: string; resolve: (value?: unknown) => void; reject: (e: Error) => void }[] = [];
  stopped = 0;

  on(l: EventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(e: EventInput): void {
    const stamped: EngineEvent = ev(e);
    for (const l of [...this.listeners]) l(stamped);
  }
  private op(op: string, arg: unknown): Promise<unknown> {
    this.calls.push({ op, arg });
    return new Promise<unknown>((resolve, reject) => this.pending.push({ op, resolve, reject }));
  }
  status(arg: unknown) {
    return this.op('status', arg);
  }
  sync(arg: unknown) {
    return this.op('sync', arg);
  }
  verify(arg: unknown) {
    return this.op('verify', arg);
  }
  deleteSynced(arg: unknown) {
    return this.op('delete', arg);
  }
  mark(arg: unknown) {
    return this.op('mark', arg) as Promise<MarkResult>;
  }
  stop() {
    this.stopped++;
  }
  settle(op: string, error?: Error, value?: unknown): void {
    const i = this.pending.findIndex((p) => p.op === op);
    const p = this.pending.splice(i, 1)[0];
    if (!p) throw new Error(`no pending ${op}`);
    if (error) p.reject(error);
    else p.resolve(value);
  }
  ops(): string[] {
    return this.calls.map((c) => c.op);
  }
}

function connected(engine: FakeEngine, opts: { inLibrary?: number[]; toCopy?: number[]; recording?: boolean } = {}): void {
  const now = opts.recording ? { recState: 'recording' as const, currentNumber: 4, currentSamples: 16000 * 62 } : {};
  engine.emit({ type: 'device.info', port: '/dev/ttyACM0', device: device({ simulated: true, ...now }) });
  const inProgress = opts.recording ? [recording(4, { state: 'recording', durationMs: 0, sha256: '' })] : [];
  engine.emit({
    type: 'list.received',
    total: 3 + inProgress.length,
    recordings: [recording(1), recording(2), recording(3), ...inProgress],
    toCopy: opts.toCopy ?? [],
    alreadyInLibrary: opts.inLibrary ?? [1, 2, 3],
    inProgress: inProgress.map((r) => r.number),
  });
}

const tick = () => new Promise((r) => setTimeout(r, 20));

function setup(props: Partial<Parameters<typeof App>[0]> = {}) {
  const engine = new FakeEngine();
  const onQuit = vi.fn();
  const loadLevels = vi.fn(async () => [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const ui = render(<App engine={engine} destination={DEST} onQuit={onQuit} loadLevels={loadLevels} utc {...props} />);
  return { engine, onQuit, loadLevels, ui };
}

describe('App', () => {
  it('looks at the recorder when it starts and shows it', async () => {
    const { engine, ui } = setup();
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status']), SETTLE);
    expect(engine.calls[0]?.arg).toEqual({ destination: DEST, port: undefined });
    connected(engine);
    engine.settle('status');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('SIMULATED RECORDER (demo)'), SETTLE);
    expect(text(ui.lastFrame())).toContain('s copy v check library l listen d delete h help q quit');
    assertFits(ui.lastFrame());
  });

  it('copies on s, shows the summary, and ignores a second s while copying', async () => {
    const { engine, ui, loadLevels } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('s');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['sync']), SETTLE);
    ui.stdin.write('s');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Still copying.'), SETTLE);
    expect(engine.ops()).toEqual(['sync']);

    connected(engine, { inLibrary: [1, 2], toCopy: [3] });
    engine.emit({ type: 'file.started', number: 3, fileName: 'x', path: `${DEST}/3.wav`, size: 3_000_000, fromOffset: 0 });
    engine.emit({ type: 'file.verified', number: 3, path: `${DEST}/3.wav`, manifestPath: `${DEST}/3.json`, sha256: 'ab'.repeat(32), durationMs: 62_000, alreadyPresent: false });
    engine.emit({ type: 'sync.summary', ok: true, deviceId: 'x', label: 'x', destination: DEST, copied: [3], alreadyHad: [1, 2], failed: [], deleted: [], inProgress: [], journal: 'ok', bytes: 3_000_000, elapsedMs: 2000, message: 'x' });
    engine.settle('sync');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Copy finished'), SETTLE);
    const t = text(ui.lastFrame());
    expect(t).toContain('✓ 1 recording copied and verified (3.0 MB).');
    expect(t).toContain('• 2 already in your library');
    expect(t).toContain(`Your recordings are in: ${DEST}`);
    // Loudness was computed from the verified copy and drawn in its row.
    expect(loadLevels).toHaveBeenCalledWith(`${DEST}/3.wav`, 16);
    await vi.waitFor(() => expect(ui.lastFrame()).toContain('▁▁██▁▁▁▁▁▁▁▁▁▁▁▁'), SETTLE);
    assertFits(ui.lastFrame());
  });

  it('says so in plain words when an operation cannot run', async () => {
    const { engine, ui } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('s');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['sync']), SETTLE);
    engine.settle('sync', new Error('serial port closed'));
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('That did not work: serial port closed.'), SETTLE);
    expect(text(ui.lastFrame())).toContain('Press s to try again.');
  });

  it('shows the unplugged message when the recorder goes away', async () => {
    const { engine, ui } = setup({ startWith: 'sync' });
    await vi.waitFor(() => expect(engine.ops()).toEqual(['sync']), SETTLE);
    connected(engine);
    engine.emit({ type: 'link.disconnected', port: '/dev/ttyACM0', message: 'gone' });
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('The recorder was unplugged. Plug it back in to continue — nothing has been lost.'), SETTLE);
  });

  it('asks before deleting, and deletes only after y', async () => {
    const { engine, ui } = setup();
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status']), SETTLE);
    connected(engine);
    engine.settle('status');
    await tick();
    ui.stdin.write('d');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Delete 3 recordings from the recorder?'), SETTLE);
    expect(text(ui.lastFrame())).toContain('y yes, delete n no, keep them');
    ui.stdin.write('x'); // not an answer: nothing happens
    ui.stdin.write('n');
    await vi.waitFor(() => expect(text(ui.lastFrame())).not.toContain('Delete 3 recordings'), SETTLE);
    expect(engine.ops()).toEqual(['status']);

    ui.stdin.write('d');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Delete 3 recordings from the recorder?'), SETTLE);
    ui.stdin.write('y');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status', 'delete']), SETTLE);
    expect(engine.calls[1]?.arg).toEqual({ destination: DEST, port: undefined, numbers: [1, 2, 3] });
    for (const n of [1, 2, 3]) engine.emit({ type: 'file.deleted', number: n, message: 'ok' });
    engine.settle('delete');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('✓ 3 recordings deleted from the recorder.'), SETTLE);
  });

  it('checks the library on v', async () => {
    const { engine, ui } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('v');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['verify']), SETTLE);
    expect(engine.calls[0]?.arg).toEqual({ destination: DEST });
    engine.emit({ type: 'file.verified', number: 1, path: `${DEST}/1.wav`, manifestPath: `${DEST}/1.json`, sha256: 'ab'.repeat(32), durationMs: 1, alreadyPresent: true });
    engine.settle('verify');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('✓ 1 recording in your library match their fingerprints.'), SETTLE);
  });

  it('asks for a copy first when it does not know where the library is', async () => {
    const { engine, ui } = setup({ startWith: 'none', destination: undefined });
    await tick();
    ui.stdin.write('v');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('The app does not know where your library is yet.'), SETTLE);
    expect(engine.ops()).toEqual([]);
  });

  it('opens and closes help with h and ?', async () => {
    const { ui } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('h');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Show or hide this help.'), SETTLE);
    assertFits(ui.lastFrame());
    ui.stdin.write('?');
    await vi.waitFor(() => expect(text(ui.lastFrame())).not.toContain('Show or hide this help.'), SETTLE);
    ui.stdin.write('?');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Show or hide this help.'), SETTLE);
  });

  it('drops a marker on m while the recorder records, and offers m only then', async () => {
    const { engine, ui } = setup();
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status']), SETTLE);
    connected(engine, { recording: true });
    engine.settle('status');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('s copy v check l listen d delete m mark h help q quit'), SETTLE);
    ui.stdin.write('m');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status', 'mark']), SETTLE);
    expect(engine.calls[1]?.arg).toEqual({ port: undefined });
    ui.stdin.write('m'); // while the first is on its way: not a second connection
    await tick();
    expect(engine.ops()).toEqual(['status', 'mark']);
    engine.settle('mark', undefined, { number: 4, marker: 2, timeMs: 62_900 });
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Marker 2 dropped at 1:02 in recording 4. It goes on recording. Press m again to mark another moment.'), SETTLE);
    assertFits(ui.lastFrame());
    expect(lines(ui.lastFrame()).length).toBeLessThanOrEqual(24);

    // The recording stopped: m leaves the footer.
    engine.emit({ type: 'device.state', recState: 'idle', cardState: 'ok', number: 4, samples: 0 });
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('s copy v check library l listen d delete h help q quit'), SETTLE);
    expect(text(ui.lastFrame())).not.toContain('m mark');
  });

  it('says why no marker was dropped when the recorder is not recording', async () => {
    const { engine, ui } = setup();
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status']), SETTLE);
    connected(engine);
    engine.settle('status');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('s copy v check library l listen d delete h help q quit'), SETTLE);
    expect(text(ui.lastFrame())).not.toContain('m mark');
    // The recorder decides (the screen may not know it was started since): the app asks it.
    ui.stdin.write('m');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['status', 'mark']), SETTLE);
    const refusal = { code: 'BAD_STATE', value: 5, detail: 0, text: 'bad state' };
    engine.settle('mark', new EngineError('DEVICE_ERROR', 'The recorder is not recording, so there is nothing to mark.', 'Start a recording first.', refusal));
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain("No marker was dropped: the recorder is not recording. Start a recording with the recorder's button first; then m marks the moment."), SETTLE);
    assertFits(ui.lastFrame());
  });

  it('does not mark while a copy holds the recorder, and says what to do instead', async () => {
    const { engine, ui } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('s');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['sync']), SETTLE);
    ui.stdin.write('m');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain("No marker was dropped: the app is still copying from the recorder. Press m again when it has finished, or press the recorder's button briefly"), SETTLE);
    expect(engine.ops()).toEqual(['sync']);
  });

  it('starts a copy asked for while a marker is on its way once the marker is done', async () => {
    const { engine, ui } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('m');
    await vi.waitFor(() => expect(engine.ops()).toEqual(['mark']), SETTLE);
    ui.stdin.write('s'); // one connection to the recorder at a time
    await tick();
    expect(engine.ops()).toEqual(['mark']);
    engine.settle('mark', undefined, { number: 4, marker: 1, timeMs: 500 });
    await vi.waitFor(() => expect(engine.ops()).toEqual(['mark', 'sync']), SETTLE);
  });

  it('quits on q, stopping the engine first', async () => {
    const { engine, ui, onQuit } = setup({ startWith: 'none' });
    await tick();
    ui.stdin.write('q');
    await vi.waitFor(() => expect(onQuit).toHaveBeenCalledTimes(1), SETTLE);
    expect(engine.stopped).toBe(1);
    ui.stdin.write('s');
    await tick();
    expect(engine.ops()).toEqual([]);
  });

  it('quits cleanly on Ctrl-C, even in the middle of a copy', async () => {
    const { engine, ui, onQuit } = setup({ startWith: 'sync' });
    await vi.waitFor(() => expect(engine.ops()).toEqual(['sync']), SETTLE);
    ui.stdin.write('\u0003');
    await vi.waitFor(() => expect(onQuit).toHaveBeenCalledTimes(1), SETTLE);
    expect(engine.stopped).toBe(1);
  });
});

/** Just enough of a TTY for Ink. */
function fakeTty() {
  const stdout = Object.assign(new EventEmitter(), { columns: 80, rows: 40, isTTY: true, frames: [] as string[], write(s: string) { stdout.frames.push(s); return true; } });
  const stdin = Object.assign(new EventEmitter(), {
    isTTY: true,
    data: null as string | null,
    setEncoding() {},
    setRawMode() {},
    resume() {},
    pause() {},
    ref() {},
    unref() {},
    read() {
      const d = stdin.data;
      stdin.data = null;
      return d;
    },
    press(s: string) {
      stdin.data = s;
      stdin.emit('readable');
      stdin.emit('data', s);
    },
  });
  return { stdout, stdin };
}

describe('runInteractive', () => {
  it('runs until q, stops the engine and resolves 0', async () => {
    const engine = new FakeEngine();
    const { stdout, stdin } = fakeTty();
    const done = runInteractive({ createEngine: () => engine, destination: DEST, startWith: 'none', stdin: stdin as never, stdout: stdout as never, stderr: stdout as never });
    // Ready once the app listens to the engine and to keys. (Output cannot tell: where CI is set,
    // Ink writes only the last frame, at exit.)
    await vi.waitFor(() => {
      expect((engine as unknown as { listeners: Set<unknown> }).listeners.size).toBeGreaterThan(0);
      expect(stdin.listenerCount('readable') + stdin.listenerCount('data')).toBeGreaterThan(0);
    }, SETTLE);
    stdin.press('q');
    await expect(done).resolves.toBe(0);
    expect(engine.stopped).toBeGreaterThanOrEqual(1);
    expect(stdout.frames.join('')).toContain('Evidence Recorder');
  });

  it('resolves 1 and says why when the engine cannot be created', async () => {
    const written: string[] = [];
    const stderr = { write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const code = await runInteractive({
      createEngine: () => {
        throw new Error('serialport is not installed');
      },
      stderr,
    });
    expect(code).toBe(1);
    expect(written.join('')).toBe('The recorder app could not start. That did not work: serialport is not installed.\n');
  });

  it('counts a session ending with a failure or a journal problem as not well', () => {
    const s = initialState(DEST);
    expect(endedWithProblems(s)).toBe(false);
    expect(endedWithProblems({ ...s, journalProblems: ['x'] })).toBe(true);
    expect(endedWithProblems({ ...s, summary: { kind: 'delete', deleted: [], failed: [{ number: 1, reason: 'x' }] } })).toBe(true);
  });
});
