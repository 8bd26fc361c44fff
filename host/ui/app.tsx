/**
 * The interactive terminal UI: what `recorder` shows when run with no arguments on a terminal.
 *
 * The engine knows nothing of Ink. `App` subscribes to the engine's events, folds them into the
 * UI state with the pure reducer of state.ts, renders the views from that state, and turns key
 * presses into engine operations. `runInteractive` creates the engine, renders `App` and resolves
 * with an exit code once the person has quit and the engine has stopped.
 */

import { useCallback, useEffect, useReducer, useRef } from 'react';
import { Box, Text, render, useApp, useInput, useStdout } from 'ink';
import type { EngineEvent } from '../engine/events.js';
import { createEngine as createRealEngine, loudnessOfWavFile, type EngineOptions } from '../engine/index.js';
import type { EnginePort } from './engine-port.js';
import { busyNotice, initialState, isBusy, reduce, type Task, type UiState } from './state.js';
import { DevicePanel } from './components/DevicePanel.js';
import { RecordingsList, SPARK_WIDTH } from './components/RecordingsList.js';
import { Progress } from './components/Progress.js';
import { SummaryView } from './components/Summary.js';
import { NoticeView } from './components/Notice.js';
import { JournalWarning } from './components/JournalWarning.js';
import { ConfirmDelete } from './components/ConfirmDelete.js';
import { Help } from './components/Help.js';
import { Footer, type FooterMode } from './components/Footer.js';

/** Widest the UI ever draws: readable, and safe on the classic 80-column terminal. */
export const MAX_WIDTH = 80;

export type LevelsLoader = (path: string, count: number) => Promise<number[]>;

export interface AppProps {
  engine: EnginePort;
  /** Library folder for copies; the engine's default (per recorder) when absent. */
  destination?: string;
  /** Serial port, when the person gave one; the engine discovers the recorder otherwise. */
  port?: string;
  /** What to do as soon as the app starts: show the recorder (default), copy at once, or wait. */
  startWith?: 'status' | 'sync' | 'none';
  /** Computes loudness levels of a verified copy; default reads the WAV file. */
  loadLevels?: LevelsLoader;
  /** Called once, after the engine has stopped, when the person quits. */
  onQuit?: (state: UiState) => void;
  /** Dates in UTC instead of local time (tests). */
  utc?: boolean;
  /** Rows of the recordings list; default fits a 24-line terminal comfortably. */
  maxRows?: number;
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const plain = msg.trim().replace(/\.?$/, '.');
  return `That did not work: ${plain}`;
}

function footerMode(state: UiState): FooterMode {
  if (state.quitting) return 'quitting';
  if (state.overlay.kind === 'confirm-delete') return 'confirm';
  if (state.overlay.kind === 'help') return 'help';
  return isBusy(state) ? 'busy' : 'normal';
}

/** The whole screen, from state alone. Exported for tests. */
export function Screen({ state, width, utc = false, maxRows = 8 }: { state: UiState; width: number; utc?: boolean; maxRows?: number }) {
  const recordingNow = state.device?.recState === 'recording';
  const overlay = state.overlay;
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color="cyan">
        Evidence Recorder — copy and check your recordings
      </Text>
      <DevicePanel device={state.device} clock={state.clock} connection={state.connection} port={state.port} width={width} />
      {state.notice ? <NoticeView notice={state.notice} width={width} /> : null}
      {overlay.kind === 'help' ? <Help width={width} /> : null}
      {overlay.kind === 'confirm-delete' ? <ConfirmDelete numbers={overlay.numbers} destination={state.destination} width={width} /> : null}
      {overlay.kind === 'none' ? (
        <>
          <RecordingsList recordings={state.recordings} width={width} maxRows={maxRows} utc={utc} />
          {state.task === 'sync' && state.transfer ? <Progress transfer={state.transfer} recordingNow={recordingNow} width={width} /> : null}
          {state.task === 'verify' ? <Text>Checking the copies in your library…</Text> : null}
          {state.task === 'delete' ? <Text>Deleting from the recorder (each is checked first)…</Text> : null}
          {state.summary ? (
            <SummaryView summary={state.summary} journalProblems={state.journalProblems} width={width} />
          ) : (
            <JournalWarning problems={state.journalProblems} width={width} />
          )}
        </>
      ) : null}
      <Footer mode={footerMode(state)} width={width} />
    </Box>
  );
}

export function App({ engine, destination, port, startWith = 'status', loadLevels = loudnessOfWavFile, onQuit, utc = false, maxRows = 8 }: AppProps) {
  const [state, dispatch] = useReducer(reduce, destination ?? null, initialState);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const width = Math.max(40, Math.min(MAX_WIDTH, stdout?.columns || MAX_WIDTH));

  // Latest state for key handlers, and a synchronous "busy" flag so two quick presses of s
  // cannot start two copies before React re-renders.
  const stateRef = useRef(state);
  stateRef.current = state;
  const runningRef = useRef<Task | null>(null);
  const quittingRef = useRef(false);

  useEffect(() => {
    let live = true;
    const off = engine.on((event: EngineEvent) => {
      if (!live) return;
      dispatch({ kind: 'event', event });
      // An encrypted copy's loudness comes from its decrypted WAV (none when it is not decrypted).
      const wav = event.type !== 'file.verified' ? null : event.encryption === 'decrypted' ? event.path.replace(/\.age$/i, '.wav') : event.encryption === 'encrypted-only' ? null : event.path;
      if (event.type === 'file.verified' && wav) {
        const number = event.number;
        loadLevels(wav, SPARK_WIDTH).then(
          (levels) => {
            if (live) dispatch({ kind: 'levels', number, levels });
          },
          () => undefined, // no sparkline is not worth a message
        );
      }
    });
    return () => {
      live = false;
      off();
    };
  }, [engine, loadLevels]);

  const runTask = useCallback(
    (task: Task, numbers: number[] = []) => {
      if (quittingRef.current) return;
      if (runningRef.current !== null && runningRef.current !== 'status') {
        dispatch({ kind: 'notice', notice: busyNotice(runningRef.current) });
        return;
      }
      // The folder given at start, else the one the last copy used (the engine picks a default
      // per recorder when there is neither).
      const dest = destination ?? stateRef.current.destination ?? undefined;
      if (task === 'verify' && dest === undefined) {
        dispatch({
          kind: 'notice',
          notice: {
            tone: 'info',
            title: 'The app does not know where your library is yet.',
            action: 'Press s to copy from the recorder first; then v checks that library.',
          },
        });
        return;
      }
      runningRef.current = task;
      dispatch({ kind: 'task-started', task });
      let op: Promise<unknown>;
      try {
        op =
          task === 'sync'
            ? engine.sync({ destination: dest, port })
            : task === 'verify'
              ? engine.verify({ destination: dest as string })
              : task === 'delete'
                ? engine.deleteSynced({ destination: dest, port, numbers })
                : engine.status
                  ? engine.status({ destination: dest, port })
                  : Promise.resolve();
      } catch (err) {
        op = Promise.reject(err);
      }
      op.then(
        () => {
          if (runningRef.current === task) runningRef.current = null;
          dispatch({ kind: 'task-finished', task });
        },
        (err: unknown) => {
          if (runningRef.current === task) runningRef.current = null;
          dispatch({ kind: 'task-finished', task, error: quittingRef.current ? undefined : errorText(err) });
        },
      );
    },
    [engine, destination, port],
  );

  useEffect(() => {
    if (startWith === 'sync') runTask('sync');
    else if (startWith === 'status' && engine.status) runTask('status');
    // Only once, when the app starts (runTask and engine do not change for an App's life).
  }, []);

  const quit = useCallback(() => {
    if (quittingRef.current) return;
    quittingRef.current = true;
    dispatch({ kind: 'quitting' });
    const finish = (): void => {
      onQuit?.(stateRef.current);
      exit();
    };
    Promise.resolve()
      .then(() => engine.stop())
      .then(finish, finish);
  }, [engine, exit, onQuit]);

  useInput((input, key) => {
    if (quittingRef.current) return;
    if ((key.ctrl && input === 'c') || input === 'q') {
      quit();
      return;
    }
    const s = stateRef.current;
    if (s.overlay.kind === 'confirm-delete') {
      const numbers = s.overlay.numbers;
      if (input === 'y' || input === 'Y') {
        dispatch({ kind: 'answer-delete', yes: true });
        runTask('delete', numbers);
      } else if (input === 'n' || input === 'N' || key.escape) {
        dispatch({ kind: 'answer-delete', yes: false });
      }
      return;
    }
    if (s.overlay.kind === 'help') {
      if (input === 'h' || input === '?' || key.escape) dispatch({ kind: 'help', open: false });
      return;
    }
    switch (input) {
      case 'h':
      case '?':
        dispatch({ kind: 'help', open: true });
        return;
      case 's':
        runTask('sync');
        return;
      case 'v':
        runTask('verify');
        return;
      case 'd':
        if (runningRef.current !== null && runningRef.current !== 'status') {
          dispatch({ kind: 'notice', notice: busyNotice(runningRef.current) });
        } else {
          dispatch({ kind: 'ask-delete' });
        }
        return;
      default:
        return;
    }
  });

  return <Screen state={state} width={width} utc={utc} maxRows={maxRows} />;
}

export interface InteractiveOptions {
  /**
   * Creates the engine. Called once; its `stop()` is called when the person quits. Default: the
   * real engine (host/engine createEngine with `engineOptions` and `port`), which is an
   * EnginePort as it is: the UI consumes the engine's own events.
   */
  createEngine?: () => EnginePort | Promise<EnginePort>;
  /** Options for the real engine when createEngine is not given (port is taken from `port`). */
  engineOptions?: Omit<EngineOptions, 'port' | 'signal'>;
  /** Library folder; default: the engine's per-recorder folder under ~/Recordings. */
  destination?: string;
  port?: string;
  startWith?: 'status' | 'sync' | 'none';
  loadLevels?: LevelsLoader;
  /** Streams, for tests; default process.stdin / process.stdout. */
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

/**
 * Runs the interactive UI until the person quits (q or Ctrl-C). Resolves with the exit code:
 * 0 when everything ended well, 1 when the engine could not be started or the session ended with
 * a problem still standing (a failed copy or check, or a journal problem).
 */
export async function runInteractive(options: InteractiveOptions): Promise<number> {
  const stderr = options.stderr ?? process.stderr;
  let engine: EnginePort;
  try {
    engine = await (options.createEngine ?? (() => defaultEngine(options)))();
  } catch (err) {
    stderr.write(`The recorder app could not start. ${errorText(err)}\n`);
    return 1;
  }
  let finalState: UiState | null = null;
  const instance = render(
    <App
      engine={engine}
      destination={options.destination}
      port={options.port}
      startWith={options.startWith}
      loadLevels={options.loadLevels}
      onQuit={(s) => {
        finalState = s;
      }}
    />,
    {
      // Undefined would override Ink's defaults (process.stdin/stdout/stderr): pass only what is set.
      ...(options.stdin ? { stdin: options.stdin } : {}),
      ...(options.stdout ? { stdout: options.stdout } : {}),
      ...(options.stderr ? { stderr: options.stderr } : {}),
      exitOnCtrlC: false,
      patchConsole: false,
    },
  );
  try {
    await instance.waitUntilExit();
  } finally {
    await Promise.resolve(engine.stop()).catch(() => undefined);
  }
  return endedWithProblems(finalState) ? 1 : 0;
}

/** The real engine: its own events and operations are what the UI uses (no adapter). */
export function defaultEngine(options: Pick<InteractiveOptions, 'engineOptions' | 'port'>): EnginePort {
  return createRealEngine({ ...options.engineOptions, port: options.port });
}

/** Whether the session ended with a problem still standing. */
export function endedWithProblems(state: UiState | null): boolean {
  if (!state) return false;
  if (state.journalProblems.length > 0) return true;
  if (state.summary && state.summary.failed.length > 0) return true;
  return state.recordings.some((r) => r.status === 'failed');
}
