/**
 * Listening (issue 15): the library view and the recording view's state, and the pure function
 * that turns a key press into the next state and the effects the app must carry out (list the
 * library, play from a time, pause, save a note...). No Ink, no I/O, no clock: the app runs the
 * effects (host/ui/app.tsx) with the engine's listing, player and notes, and reports back with
 * the actions of `listenReduce`.
 */

import type { ExcerptRange } from '../engine/export/excerpt.js';
import type { LibraryEntry, LibraryListing } from '../engine/listing.js';
import { filterLibrary } from '../engine/listing.js';
import type { MarkerNote } from '../engine/notes.js';
import { formatDuration } from './format.js';

export type ListenView = 'closed' | 'library' | 'recording';

export interface PlaybackView {
  state: 'stopped' | 'playing' | 'paused';
  positionMs: number;
  /** 1, or 0.75 (slower, same pitch). */
  speed: number;
}

export interface OpenRecording {
  entry: LibraryEntry;
  /** Loudness across the recording (one per column); null until read, or when there is no WAV. */
  levels: number[] | null;
  /** The note of each marker that has one (from `<copy base>.notes.vtt`). */
  notes: MarkerNote[];
  /** Index into entry.markers of the chosen marker; -1 before one is chosen. */
  marker: number;
  playback: PlaybackView;
  /** A time range for an excerpt, set with [ and ] at the playing position (ms); absent: none. */
  range?: ExcerptMarks;
}

/** The ends of a time range the person set; either may be missing (then the start or the end). */
export interface ExcerptMarks {
  fromMs?: number;
  toMs?: number;
}

/** A line the person is typing: a search, a time to play from, or a marker's note. */
export type ListenInput = { kind: 'search'; text: string } | { kind: 'time'; text: string } | { kind: 'note'; number: number; text: string };

export interface ListenMessage {
  tone: 'info' | 'error';
  text: string;
}

export interface ListenState {
  view: ListenView;
  /** Where the app started: the recorder's screen (listening is reached with l), or the library. */
  home: 'device' | 'library';
  root: string | null;
  /** Null while it is being read. */
  listing: Pick<LibraryListing, 'exists' | 'entries' | 'problems'> | null;
  query: string;
  /** Index into the entries matching the query. */
  selected: number;
  open: OpenRecording | null;
  input: ListenInput | null;
  message: ListenMessage | null;
  /** No recorder was attached at start: the library view offers the demo (d). */
  offerDemo: boolean;
}

export type ListenEffect =
  | { kind: 'load-library' }
  | { kind: 'open'; entry: LibraryEntry }
  | { kind: 'close' }
  | { kind: 'play'; fromMs: number }
  | { kind: 'toggle' }
  | { kind: 'back'; ms: number }
  | { kind: 'speed'; speed: number }
  | { kind: 'save-note'; number: number; text: string }
  /** Export an excerpt of the open recording (host/engine/export/excerpt.ts) with its provenance note. */
  | { kind: 'excerpt'; range: ExcerptRange }
  | { kind: 'demo' }
  | { kind: 'quit' };

export type ListenAction =
  | { kind: 'open-library'; root: string; home?: 'device' | 'library'; offerDemo?: boolean }
  | { kind: 'library-loaded'; listing: Pick<LibraryListing, 'exists' | 'entries' | 'problems'> }
  | { kind: 'levels'; key: string; levels: number[] }
  | { kind: 'notes'; key: string; notes: MarkerNote[] }
  | { kind: 'playback'; key: string; playback: PlaybackView }
  | { kind: 'message'; message: ListenMessage | null }
  /** A key press (the app works out its effects from the same function, listenKey). */
  | { kind: 'key'; input: string; key: KeyLike; utc: boolean };

/** The keys as Ink reports them (only those used here). */
export interface KeyLike {
  upArrow?: boolean;
  downArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  shift?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export const SKIP_BACK_MS = 10_000;
export const SLOW = 0.75;

export function initialListenState(): ListenState {
  return { view: 'closed', home: 'device', root: null, listing: null, query: '', selected: 0, open: null, input: null, message: null, offerDemo: false };
}

/** The entries the library view shows now (those matching the search). */
export function shownEntries(s: ListenState, utc = false): LibraryEntry[] {
  return s.listing ? filterLibrary(s.listing.entries, s.query, utc) : [];
}

/** "12:05", "1:02:33", "90" (seconds), "1:30.5": ms, or null when it is not a time. */
export function parsePlayTime(text: string): number | null {
  const t = text.trim();
  if (!/^\d+(?::\d{1,2}){0,2}(?:\.\d{1,3})?$/.test(t)) return null;
  const parts = t.split(':').map(Number);
  // Minutes and seconds after the first part are below 60.
  if (parts.slice(1).some((n) => n >= 60)) return null;
  return Math.round(parts.reduce((total, n) => total * 60 + n, 0) * 1000);
}

export function reduceListen(s: ListenState, a: ListenAction): ListenState {
  switch (a.kind) {
    case 'open-library':
      return { ...s, view: 'library', root: a.root, home: a.home ?? s.home, offerDemo: a.offerDemo ?? s.offerDemo, listing: null, open: null, input: null, message: null };
    case 'library-loaded': {
      const count = a.listing.entries.length;
      return { ...s, listing: a.listing, selected: Math.max(0, Math.min(s.selected, count - 1)) };
    }
    case 'levels':
      return s.open?.entry.key === a.key ? { ...s, open: { ...s.open, levels: a.levels.slice() } } : s;
    case 'notes':
      return s.open?.entry.key === a.key ? { ...s, open: { ...s.open, notes: a.notes.slice() } } : s;
    case 'playback':
      return s.open?.entry.key === a.key ? { ...s, open: { ...s.open, playback: { ...a.playback } } } : s;
    case 'message':
      return { ...s, message: a.message };
    case 'key':
      return listenKey(s, a.input, a.key, a.utc).state;
  }
}

type Result = { state: ListenState; effects: ListenEffect[] };
const same = (state: ListenState): Result => ({ state, effects: [] });

/** Applies typed characters and backspace to a line of input. */
function edit(text: string, input: string, key: KeyLike): string {
  if (key.backspace || key.delete) return Array.from(text).slice(0, -1).join('');
  // eslint-disable-next-line no-control-regex
  const printable = input.replace(/[\u0000-\u001f\u007f]/g, '');
  return key.ctrl || key.meta ? text : text + printable;
}

function typing(s: ListenState, input: string, key: KeyLike): Result {
  const line = s.input as ListenInput;
  if (key.escape) {
    // Esc leaves a search as it was before the person started typing it.
    return same({ ...s, input: null, message: null, ...(line.kind === 'search' ? { query: '', selected: 0 } : {}) });
  }
  if (!key.return) {
    const text = edit(line.text, input, key);
    const next = { ...line, text } as ListenInput;
    // A search narrows the list as the person types.
    return same(line.kind === 'search' ? { ...s, input: next, query: text, selected: 0 } : { ...s, input: next });
  }
  switch (line.kind) {
    case 'search':
      return same({ ...s, input: null, query: line.text.trim(), selected: 0 });
    case 'time': {
      const open = s.open as OpenRecording;
      const ms = parsePlayTime(line.text);
      if (ms === null) return same({ ...s, message: { tone: 'error', text: `"${line.text}" is not a time: type minutes:seconds (12:05), hours:minutes:seconds (1:02:33) or seconds (90).` } });
      if (ms > open.entry.durationMs) return same({ ...s, message: { tone: 'error', text: `The recording is only ${formatDuration(open.entry.durationMs / 1000)} long.` } });
      return { state: { ...s, input: null, message: null }, effects: [{ kind: 'play', fromMs: ms }] };
    }
    case 'note': {
      const text = line.text.trim();
      const open = s.open as OpenRecording;
      const notes = [...open.notes.filter((n) => n.number !== line.number), { number: line.number, startMs: 0, endMs: 0, text }].sort((a, b) => a.number - b.number);
      return { state: { ...s, input: null, open: { ...open, notes } }, effects: [{ kind: 'save-note', number: line.number, text }] };
    }
  }
}

function libraryKey(s: ListenState, input: string, key: KeyLike, utc: boolean): Result {
  const entries = shownEntries(s, utc);
  const page = 10;
  if (key.upArrow || input === 'k') return same({ ...s, selected: Math.max(0, s.selected - 1) });
  if (key.downArrow || input === 'j') return same({ ...s, selected: Math.max(0, Math.min(entries.length - 1, s.selected + 1)) });
  if (key.pageUp) return same({ ...s, selected: Math.max(0, s.selected - page) });
  if (key.pageDown) return same({ ...s, selected: Math.max(0, Math.min(entries.length - 1, s.selected + page)) });
  if (input === '/') return same({ ...s, input: { kind: 'search', text: s.query }, message: null });
  if (key.return) {
    const entry = entries[s.selected];
    if (!entry) return same(s);
    const open: OpenRecording = { entry, levels: null, notes: [], marker: -1, playback: { state: 'stopped', positionMs: 0, speed: 1 } };
    return { state: { ...s, view: 'recording', open, message: null }, effects: [{ kind: 'open', entry }] };
  }
  if (input === 'r') return { state: { ...s, listing: null, message: null }, effects: [{ kind: 'load-library' }] };
  if (input === 'd' && s.offerDemo) return { state: s, effects: [{ kind: 'demo' }] };
  if (key.escape) {
    if (s.query) return same({ ...s, query: '', selected: 0 });
    return s.home === 'device' ? same({ ...s, view: 'closed', message: null }) : same(s);
  }
  if (input === 'q') return s.home === 'device' ? same({ ...s, view: 'closed', message: null }) : { state: s, effects: [{ kind: 'quit' }] };
  return same(s);
}

function recordingKey(s: ListenState, input: string, key: KeyLike): Result {
  const open = s.open as OpenRecording;
  const markers = open.entry.markers;
  const chooseMarker = (i: number): Result => {
    if (markers.length === 0) return same({ ...s, message: { tone: 'info', text: 'This recording has no markers.' } });
    const marker = Math.max(0, Math.min(markers.length - 1, i));
    return { state: { ...s, open: { ...open, marker }, message: null }, effects: [{ kind: 'play', fromMs: (markers[marker] as { timeMs: number }).timeMs }] };
  };
  if (key.escape || input === 'q') return { state: { ...s, view: 'library', open: null, message: null }, effects: [{ kind: 'close' }] };
  if (input === ' ') return { state: { ...s, message: null }, effects: [{ kind: 'toggle' }] };
  if (input === 'b') return { state: { ...s, message: null }, effects: [{ kind: 'back', ms: SKIP_BACK_MS }] };
  if (input === 's') return { state: { ...s, message: null }, effects: [{ kind: 'speed', speed: open.playback.speed === 1 ? SLOW : 1 }] };
  if (input === '0') return { state: { ...s, message: null }, effects: [{ kind: 'play', fromMs: 0 }] };
  if (input === 'm' || (key.tab && !key.shift)) return chooseMarker(open.marker + 1);
  if (input === 'M' || (key.tab && key.shift)) return chooseMarker(open.marker < 0 ? 0 : open.marker - 1);
  if (key.upArrow) return markers.length ? same({ ...s, open: { ...open, marker: Math.max(0, open.marker - 1) } }) : same(s);
  if (key.downArrow) return markers.length ? same({ ...s, open: { ...open, marker: Math.min(markers.length - 1, open.marker + 1) } }) : same(s);
  if (key.return && open.marker >= 0) return chooseMarker(open.marker);
  if (input === 't') return same({ ...s, input: { kind: 'time', text: '' }, message: null });
  if (input === '[' || input === ']') {
    const at = Math.max(0, Math.min(open.entry.durationMs, Math.round(open.playback.positionMs)));
    const range = { ...open.range, ...(input === '[' ? { fromMs: at } : { toMs: at }) };
    const text = `Excerpt ${input === '[' ? 'starts' : 'ends'} at ${clockText(at)}: ${input === '[' ? '] sets its end' : '[ sets its start'}, x exports it.`;
    return same({ ...s, open: { ...open, range }, message: { tone: 'info', text } });
  }
  if (input === 'x') return excerptKey(s, open);
  if (input === 'e') {
    if (markers.length === 0) return same({ ...s, message: { tone: 'info', text: 'This recording has no markers to write notes on.' } });
    if (open.marker < 0) return same({ ...s, message: { tone: 'info', text: 'Choose a marker first (m), then press e to write its note.' } });
    const number = (markers[open.marker] as { number: number }).number;
    const text = open.notes.find((n) => n.number === number)?.text ?? '';
    return same({ ...s, input: { kind: 'note', number, text }, message: null });
  }
  return same(s);
}

/** The time of a position, to the second ("12:05"). */
export function clockText(ms: number): string {
  return formatDuration(Math.floor(ms / 1000));
}

/** Why no excerpt can be made of this copy, in plain words; null when it can. */
export function whyNoExcerpt(e: LibraryEntry): string | null {
  if (e.verification === 'missing') return `The copy is not in ${e.folder} any more: no excerpt can be made.`;
  if (e.verification !== 'verified') return `Recording ${e.number}'s copy did not verify when it was copied, so no excerpt is made from it (check it with: recorder verify).`;
  if (e.encrypted && !e.decrypted) return `Recording ${e.number} is encrypted and has not been decrypted on this computer, so no excerpt can be made. Decrypt it first with: recorder decrypt ${e.number} --dest "${e.folder}".`;
  return null;
}

/** x: the range set with [ and ] when there is one, else the chosen marker to the next one (or the end). */
function excerptKey(s: ListenState, open: OpenRecording): Result {
  const why = whyNoExcerpt(open.entry);
  if (why) return same({ ...s, message: { tone: 'error', text: why } });
  const r = open.range;
  if (r && (r.fromMs !== undefined || r.toMs !== undefined)) {
    const range: ExcerptRange = { ...(r.fromMs !== undefined ? { from: { ms: r.fromMs } } : {}), ...(r.toMs !== undefined ? { to: { ms: r.toMs } } : {}) };
    return { state: { ...s, message: { tone: 'info', text: 'Making the excerpt…' } }, effects: [{ kind: 'excerpt', range }] };
  }
  const markers = open.entry.markers;
  if (markers.length === 0) return same({ ...s, message: { tone: 'info', text: 'This recording has no markers: set a range with [ (start) and ] (end) while it plays, then press x.' } });
  if (open.marker < 0) return same({ ...s, message: { tone: 'info', text: 'Choose a marker first (m), or set a range with [ and ], then press x.' } });
  const number = (markers[open.marker] as { number: number }).number;
  return { state: { ...s, message: { tone: 'info', text: 'Making the excerpt…' } }, effects: [{ kind: 'excerpt', range: { from: { marker: number } } }] };
}

/** The next state and effects for a key press in the listening views (`utc`: dates in UTC, tests). */
export function listenKey(s: ListenState, input: string, key: KeyLike, utc = false): Result {
  if (s.view === 'closed') return same(s);
  if (s.input) return typing(s, input, key);
  return s.view === 'library' ? libraryKey(s, input, key, utc) : recordingKey(s, input, key);
}
