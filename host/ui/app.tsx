/**
 * The interactive terminal UI: what `recorder` shows when run with no arguments on a terminal.
 *
 * The engine knows nothing of Ink. `App` subscribes to the engine's events, folds them into the
 * UI state with the pure reducer of state.ts, renders the views from that state, and turns key
 * presses into engine operations. `runInteractive` creates the engine, renders `App` and resolves
 * with an exit code once the person has quit and the engine has stopped.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { Box, Text, render, useApp, useInput, useStdout } from 'ink';
import type { EngineEvent } from '../engine/events.js';
import { timeText, type ExcerptResult } from '../engine/export/excerpt.js';
import { createEngine as createRealEngine, loudnessOfWavFile, type EngineOptions } from '../engine/index.js';
import { listLibrary, whyNotPlayable, type LibraryListing } from '../engine/listing.js';
import { markerCues, readMarkerNotes, writeMarkerNotes, type MarkerNote } from '../engine/notes.js';
import { defaultLibraryRoot } from '../engine/privacy/owner-keys.js';
import { findPlayer as findRealPlayer, noPlayerMessage, Player, type PlayerControl, type PlayerOptions, type PlayerProgram } from '../engine/player.js';
import { initialListenState, listenKey, reduceListen, type KeyLike, type ListenEffect, type ListenState } from './listen-state.js';
import { LibraryView } from './components/LibraryView.js';
import { RecordingView } from './components/RecordingView.js';
import type { EnginePort } from './engine-port.js';
import { busyNotice, initialState, isBusy, markBusyNotice, reduce, type Task, type UiState } from './state.js';
import { markedNotice, markRefusedNotice } from './messages.js';
import { DevicePanel } from './components/DevicePanel.js';
import { RecordingsList, SPARK_WIDTH } from './components/RecordingsList.js';
import { Progress } from './components/Progress.js';
import { SummaryView } from './components/Summary.js';
import { NoticeView } from './components/Notice.js';
import { JournalWarning } from './components/JournalWarning.js';
import { ConfirmDelete } from './components/ConfirmDelete.js';
import { Help } from './components/Help.js';
import { Footer, type FooterMode } from './components/Footer.js';
import { ProvisionView } from './components/ProvisionView.js';
import { PassphrasePrompt } from './components/PassphrasePrompt.js';
import { PassphraseAsker, type PassphraseQuestion } from './passphrase-asker.js';
import { initialProvisionState, provisionKey, reduceProvision, type ProvisionUiState } from './provision-state.js';

/** Widest the UI ever draws: readable, and safe on the classic 80-column terminal. */
export const MAX_WIDTH = 80;

export type LevelsLoader = (path: string, count: number) => Promise<number[]>;

/** Where the notes of a recording's markers are kept (host/engine/notes.ts; tests give a fake). */
export interface NotesStore {
  read(copyPath: string): Promise<MarkerNote[]>;
  write(copyPath: string, notes: MarkerNote[]): Promise<void>;
}

const realNotes: NotesStore = { read: (p) => readMarkerNotes(p), write: (p, n) => writeMarkerNotes(p, n) };

/** SHA-256 of a file, read again from the disk. */
async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * What the person is told of an excerpt: its range, where it and its provenance note are, and
 * whether the file read back from the disk has the SHA-256 the note gives.
 */
export function excerptLines(r: ExcerptResult, readBackSha256: string): string[] {
  const x = r.provenance.excerpt;
  const checked =
    readBackSha256 === x.sha256
      ? `Checked: the copy verified first; the excerpt read back matches its note (SHA-256 ${x.sha256.slice(0, 12)}…).`
      : `The excerpt read back does NOT match its note (SHA-256 ${readBackSha256.slice(0, 12)}…, not ${x.sha256.slice(0, 12)}…): do not use it.`;
  return [`Excerpt ${timeText(x.startMs)} to ${timeText(x.endMs)} (${x.sampleCount} samples from sample ${x.firstSample}):`, r.wavPath, `Provenance note beside it: ${basename(r.notePath)} and .json`, checked];
}

/** The folder the library view lists when none is given: every recorder's folder under it. */
/** The library the app lists when no folder is named (the engine's own default). */
export { defaultLibraryRoot };

export interface AppProps {
  engine: EnginePort;
  /** Library folder for copies; the engine's default (per recorder) when absent. */
  destination?: string;
  /** Serial port, when the person gave one; the engine discovers the recorder otherwise. */
  port?: string;
  /**
   * What to do as soon as the app starts: show the recorder (default), copy at once, wait, or
   * show the library (no recorder attached).
   */
  startWith?: 'status' | 'sync' | 'none' | 'library';
  /** The folder the library view lists; default the destination, else ~/Recordings. */
  library?: string;
  /** Lists a library folder; default host/engine/listing.ts listLibrary. */
  listLibrary?: (root: string) => Promise<LibraryListing>;
  notes?: NotesStore;
  /** Finds the audio player program; default host/engine/player.ts findPlayer (RECORDER_PLAYER). */
  findPlayer?: () => PlayerProgram | null;
  /** Makes the player of a WAV file; default host/engine/player.ts Player. */
  createPlayer?: (file: string, options: PlayerOptions) => PlayerControl;
  /** Called when the person asks for the demo from the library view (then the app quits). */
  onDemo?: () => void;
  /** Computes loudness levels of a verified copy; default reads the WAV file. */
  loadLevels?: LevelsLoader;
  /** Called once, after the engine has stopped, when the person quits. */
  onQuit?: (state: UiState) => void;
  /** Dates in UTC instead of local time (tests). */
  utc?: boolean;
  /** Rows of the recordings list; default fits a 24-line terminal comfortably. */
  maxRows?: number;
  /** Asks for a protected owner key's passphrase in a masked prompt (the engine's source). */
  passphrase?: PassphraseAsker;
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
  if (isBusy(state)) return 'busy';
  return state.device?.recState === 'recording' ? 'normal-recording' : 'normal';
}

/** The whole screen, from state alone. Exported for tests. */
/** Setting a recorder up for a family (p): the recorder, and the provisioning form or its steps. Exported for tests. */
export function ProvisionScreen({ state, provision, width }: { state: UiState; provision: ProvisionUiState; width: number }) {
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color="cyan">
        Evidence Recorder — set up a recorder
      </Text>
      <DevicePanel device={state.device} clock={state.clock} connection={state.connection} port={state.port} width={width} />
      <ProvisionView state={provision} width={width} />
    </Box>
  );
}

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

/**
 * Keys that arrive together (typed faster than read, or pasted: "/Office" and Enter) as one key
 * each, as Ink reports them one by one.
 */
export function splitKeys(input: string, key: KeyLike): [string, KeyLike][] {
  const chars = Array.from(input);
  if (chars.length <= 1 || key.ctrl || key.meta || input.startsWith('\u001b')) return [[input, key]];
  return chars.map((c): [string, KeyLike] => (c === '\r' || c === '\n' ? ['', { return: true }] : c === '\u007f' || c === '\b' ? ['', { backspace: true }] : c === '\t' ? ['', { tab: true }] : [c, {}]));
}

function listenFooterMode(listen: ListenState, quitting: boolean): FooterMode {
  if (quitting) return 'quitting';
  if (listen.input) return 'typing';
  if (listen.view === 'recording') return 'recording';
  if (listen.home === 'device') return 'library';
  return listen.offerDemo ? 'library-demo' : 'library-home';
}

/** The listening screens (library, recording) from their state alone. Exported for tests. */
export function ListenScreen({ listen, width, utc = false, quitting = false }: { listen: ListenState; width: number; utc?: boolean; quitting?: boolean }) {
  const input = listen.input && listen.input.kind !== 'search' ? listen.input : null;
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color="cyan">
        {listen.view === 'recording' ? 'Evidence Recorder — listening' : 'Evidence Recorder — your recordings'}
      </Text>
      {listen.view === 'library' && listen.offerDemo ? (
        <Text color="yellow">No recorder is connected: this is your library. Press d to try a demo recorder.</Text>
      ) : null}
      {listen.view === 'library' ? <LibraryView listen={listen} width={width} rows={listen.offerDemo ? 11 : 12} utc={utc} /> : null}
      {listen.view === 'recording' && listen.open ? <RecordingView open={listen.open} width={width} utc={utc} /> : null}
      {input ? (
        <Text>
          <Text bold>{input.kind === 'time' ? 'Play from (12:05, 1:02:33 or seconds): ' : `Note for marker ${input.number}: `}</Text>
          <Text>{input.text}</Text>
          <Text inverse> </Text>
        </Text>
      ) : null}
      {listen.message ? <Text color={listen.message.tone === 'error' ? 'red' : 'green'}>{listen.message.text}</Text> : null}
      <Footer mode={listenFooterMode(listen, quitting)} width={width} />
    </Box>
  );
}

export function App({
  engine,
  destination,
  port,
  startWith = 'status',
  loadLevels = loudnessOfWavFile,
  onQuit,
  utc = false,
  maxRows = 8,
  library,
  listLibrary: listFolder = listLibrary,
  notes = realNotes,
  findPlayer = findRealPlayer,
  createPlayer = (file, options) => new Player(file, options),
  onDemo,
  passphrase,
}: AppProps) {
  const [state, dispatch] = useReducer(reduce, destination ?? null, initialState);
  const [listen, dispatchListen] = useReducer(reduceListen, undefined, initialListenState);
  const listenRef = useRef(listen);
  listenRef.current = listen;
  const [provision, dispatchProvision] = useReducer(reduceProvision, undefined, initialProvisionState);
  const provisionRef = useRef(provision);
  provisionRef.current = provision;
  const libraryRoot = library ?? destination ?? defaultLibraryRoot();
  // The player of the open recording (one at a time), by the recording's key.
  const playerRef = useRef<{ key: string; player: PlayerControl } | null>(null);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const width = Math.max(40, Math.min(MAX_WIDTH, stdout?.columns || MAX_WIDTH));

  // Latest state for key handlers, and a synchronous "busy" flag so two quick presses of s
  // cannot start two copies before React re-renders.
  const stateRef = useRef(state);
  stateRef.current = state;
  const runningRef = useRef<Task | null>(null);
  const quittingRef = useRef(false);
  // The marker being dropped (m), settled either way: one connection to the recorder at a time.
  const markingRef = useRef<Promise<void> | null>(null);

  useEffect(() => {
    let live = true;
    const off = engine.on((event: EngineEvent) => {
      if (!live) return;
      dispatch({ kind: 'event', event });
      dispatchProvision({ kind: 'event', event });
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
      const marking = markingRef.current;
      if (marking && task !== 'verify') {
        // The marker takes a moment; then the recorder is free for this.
        void marking.then(() => runTask(task, numbers));
        return;
      }
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

  /**
   * Key m: drops a marker through the engine. The recorder says whether it is recording (the
   * screen's view of it may be old), so the app asks it rather than refusing on its own.
   */
  const mark = useCallback(() => {
    if (quittingRef.current || markingRef.current) return; // one at a time; its answer is moments away
    const task = runningRef.current;
    if (task !== null && task !== 'verify') {
      dispatch({ kind: 'notice', notice: markBusyNotice(task) });
      return;
    }
    const marking: Promise<void> = Promise.resolve()
      .then(() => engine.mark({ port }))
      .then(markedNotice, markRefusedNotice)
      .then((notice) => {
        if (markingRef.current === marking) markingRef.current = null;
        dispatch({ kind: 'notice', notice });
      });
    markingRef.current = marking;
  }, [engine, port]);

  const stopPlayer = useCallback(() => {
    playerRef.current?.player.stop();
    playerRef.current = null;
  }, []);

  const quit = useCallback(() => {
    if (quittingRef.current) return;
    quittingRef.current = true;
    stopPlayer();
    dispatch({ kind: 'quitting' });
    const finish = (): void => {
      onQuit?.(stateRef.current);
      exit();
    };
    Promise.resolve()
      .then(() => engine.stop())
      .then(finish, finish);
  }, [engine, exit, onQuit, stopPlayer]);

  const say = useCallback((tone: 'info' | 'error', text: string) => dispatchListen({ kind: 'message', message: { tone, text } }), []);

  /** The player of the open recording, made on first use; null (and why, said) when it cannot play. */
  const playerFor = useCallback(
    (l: ListenState): { key: string; player: PlayerControl } | null => {
      const open = l.open;
      if (!open) return null;
      if (playerRef.current?.key === open.entry.key) return playerRef.current;
      const why = whyNotPlayable(open.entry);
      if (why || !open.entry.playablePath) {
        say('error', why ?? 'There is no WAV file to play.');
        return null;
      }
      const program = findPlayer();
      if (!program) {
        say('error', noPlayerMessage());
        return null;
      }
      const key = open.entry.key;
      const player = createPlayer(open.entry.playablePath, {
        program,
        durationMs: open.entry.durationMs,
        onEnd: (playback, problem) => {
          dispatchListen({ kind: 'playback', key, playback });
          if (problem) say('error', problem);
        },
      });
      playerRef.current = { key, player };
      return playerRef.current;
    },
    [createPlayer, findPlayer, say],
  );

  const runListenEffect = useCallback(
    async (e: ListenEffect, after: ListenState): Promise<void> => {
      const plain = (err: unknown) => (err instanceof Error ? err.message : String(err));
      switch (e.kind) {
        case 'load-library':
          listFolder(after.root ?? libraryRoot).then(
            (listing) => dispatchListen({ kind: 'library-loaded', listing }),
            (err: unknown) => {
              dispatchListen({ kind: 'library-loaded', listing: { exists: false, entries: [], problems: [] } });
              say('error', `The library could not be read: ${plain(err)}`);
            },
          );
          return;
        case 'open': {
          stopPlayer();
          const { key, playablePath, copyPath } = e.entry;
          if (playablePath) {
            loadLevels(playablePath, width).then(
              (levels) => dispatchListen({ kind: 'levels', key, levels }),
              () => undefined, // no overview is not worth a message: the recording still plays
            );
          }
          notes.read(copyPath).then(
            (n) => dispatchListen({ kind: 'notes', key, notes: n }),
            (err: unknown) => say('error', `The notes could not be read: ${plain(err)}`),
          );
          return;
        }
        case 'close':
          stopPlayer();
          return;
        case 'save-note': {
          const open = after.open;
          if (!open) return;
          try {
            await notes.write(open.entry.copyPath, markerCues(open.entry.markers, open.entry.durationMs, open.notes));
            say('info', `Note for marker ${e.number} saved.`);
          } catch (err) {
            say('error', `The note could not be saved: ${plain(err)}`);
          }
          return;
        }
        case 'excerpt': {
          const open = after.open;
          if (!open) return;
          if (!engine.excerpt) {
            say('error', 'This app cannot make excerpts here: use recorder excerpt on the command line.');
            return;
          }
          // What the engine warns of meanwhile (the custody log not written) is said with the result.
          const warnings: string[] = [];
          const off = engine.on((ev) => {
            if (ev.type === 'warning') warnings.push(ev.message);
          });
          try {
            const r = await engine.excerpt({ recording: open.entry.copyPath, range: e.range });
            const readBack = await sha256OfFile(r.wavPath);
            say(warnings.length || readBack !== r.provenance.excerpt.sha256 ? 'error' : 'info', [...excerptLines(r, readBack), ...warnings].join('\n'));
          } catch (err) {
            say('error', `No excerpt was made: ${plain(err)}`);
          } finally {
            off();
          }
          return;
        }
        case 'demo':
          onDemo?.();
          quit();
          return;
        case 'quit':
          quit();
          return;
        default: {
          const p = playerFor(after);
          if (!p) return;
          try {
            if (e.kind === 'play') await p.player.play(e.fromMs);
            else if (e.kind === 'toggle') await p.player.toggle();
            else if (e.kind === 'back') await p.player.back(e.ms);
            else await p.player.setSpeed(e.speed);
          } catch (err) {
            say('error', plain(err));
          }
          dispatchListen({ kind: 'playback', key: p.key, playback: p.player.status() });
        }
      }
    },
    [engine, libraryRoot, listFolder, loadLevels, notes, onDemo, playerFor, quit, say, stopPlayer, width],
  );

  const openLibrary = useCallback(
    (home: 'device' | 'library', offerDemo: boolean) => {
      dispatchListen({ kind: 'open-library', root: libraryRoot, home, offerDemo });
      void runListenEffect({ kind: 'load-library' }, { ...listenRef.current, root: libraryRoot });
    },
    [libraryRoot, runListenEffect],
  );

  useEffect(() => {
    if (startWith === 'sync') runTask('sync');
    else if (startWith === 'status' && engine.status) runTask('status');
    else if (startWith === 'library') openLibrary('library', onDemo !== undefined);
    // Only once, when the app starts (runTask and engine do not change for an App's life).
  }, []);

  // The playing position moves on the screen while it plays.
  const playing = listen.open?.playback.state === 'playing';
  useEffect(() => {
    if (!playing) return undefined;
    const timer = setInterval(() => {
      const p = playerRef.current;
      if (p) dispatchListen({ kind: 'playback', key: p.key, playback: p.player.status() });
    }, 250);
    return () => clearInterval(timer);
  }, [playing]);

  // No player outlives the app.
  useEffect(() => () => playerRef.current?.player.stop(), []);

  // The passphrase prompt: the question from the asker; what is typed is kept here only (a ref,
  // not the app's state) and handed to the asker on Enter.
  const [question, setQuestion] = useState<PassphraseQuestion | null>(passphrase?.current() ?? null);
  const questionRef = useRef(question);
  questionRef.current = question;
  const typedRef = useRef('');
  const [typedLength, setTypedLength] = useState(0);
  useEffect(() => {
    if (!passphrase) return;
    const unsubscribe = passphrase.subscribe((q) => {
      typedRef.current = '';
      setTypedLength(0);
      questionRef.current = q;
      setQuestion(q);
    });
    return () => void unsubscribe();
  }, [passphrase]);

  useInput((input, key) => {
    if (quittingRef.current) return;
    if (key.ctrl && input === 'c') {
      passphrase?.cancel();
      quit();
      return;
    }
    if (questionRef.current && passphrase) {
      for (const [one, k] of splitKeys(input, key)) {
        if (k.escape) return passphrase.cancel();
        if (k.return) {
          const typed = typedRef.current;
          typedRef.current = '';
          setTypedLength(0);
          return passphrase.answer(typed);
        }
        if (k.backspace || k.delete) typedRef.current = Array.from(typedRef.current).slice(0, -1).join('');
        else if (one && !k.ctrl && !k.meta && !one.startsWith('\u001b')) typedRef.current += one;
        setTypedLength(Array.from(typedRef.current).length);
      }
      return;
    }
    if (provisionRef.current.view !== 'closed') {
      for (const [one, k] of splitKeys(input, key)) {
        const r = provisionKey(provisionRef.current, one, k);
        provisionRef.current = r.state;
        if (r.effect?.kind === 'close') {
          dispatchProvision({ kind: 'close' });
          runTask('status'); // the recorder's panel shows its new name and settings
        } else if (r.effect?.kind === 'run') {
          dispatchProvision({ kind: 'set', state: r.state });
          const request = r.effect.request;
          Promise.resolve()
            .then(() => engine.provision!({ ...request, port }))
            .then(
              () => dispatchProvision({ kind: 'finished' }),
              (err: unknown) => dispatchProvision({ kind: 'finished', error: errorText(err) }),
            );
        } else dispatchProvision({ kind: 'set', state: r.state });
      }
      return;
    }
    if (listenRef.current.view !== 'closed') {
      for (const [one, k] of splitKeys(input, key)) {
        const r = listenKey(listenRef.current, one, k, utc);
        // Kept at once, so that keys typed faster than the screen redraws see each other.
        listenRef.current = r.state;
        dispatchListen({ kind: 'key', input: one, key: k, utc });
        for (const effect of r.effects) void runListenEffect(effect, r.state);
      }
      return;
    }
    if (input === 'q') {
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
      case 'l':
        openLibrary('device', false);
        return;
      case 'm':
        mark();
        return;
      case 'p':
        // Set the recorder up for a family: only while nothing else talks to it.
        if (!engine.provision) return;
        if (runningRef.current !== null || markingRef.current) dispatch({ kind: 'notice', notice: busyNotice(runningRef.current ?? 'status') });
        else dispatchProvision({ kind: 'open' });
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

  const screen =
    provision.view !== 'closed' ? (
      <ProvisionScreen state={state} provision={provision} width={width} />
    ) : listen.view !== 'closed' ? (
      <ListenScreen listen={listen} width={width} utc={utc} quitting={state.quitting} />
    ) : (
      <Screen state={state} width={width} utc={utc} maxRows={maxRows} />
    );
  if (!question) return screen;
  return (
    <Box flexDirection="column">
      {screen}
      <PassphrasePrompt file={question.file} recipient={question.recipient} wrong={question.wrong} typedLength={typedLength} width={width} />
    </Box>
  );
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
  /**
   * The masked prompt's asker. The real engine's passphrase source becomes engineOptions'
   * (RECORDER_PASSPHRASE or --passphrase-file), then this prompt. Default: a new one.
   */
  passphraseAsker?: PassphraseAsker;
  /** Library folder; default: the engine's per-recorder folder under ~/Recordings. */
  destination?: string;
  port?: string;
  startWith?: 'status' | 'sync' | 'none' | 'library';
  /** The folder the library view lists (default: the destination, else ~/Recordings). */
  library?: string;
  /** With startWith 'library': the person chose the demo (d); the app has quit to start it. */
  onDemo?: () => void;
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
  const asker = options.passphraseAsker ?? new PassphraseAsker();
  let engine: EnginePort;
  try {
    engine = await (options.createEngine ?? (() => defaultEngine({ ...options, engineOptions: { ...options.engineOptions, passphrase: asker.source(options.engineOptions?.passphrase) } })))();
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
      library={options.library}
      onDemo={options.onDemo}
      loadLevels={options.loadLevels}
      passphrase={asker}
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
