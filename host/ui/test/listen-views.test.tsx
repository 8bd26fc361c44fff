import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExcerptResult } from '../../engine/export/excerpt.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import type { EventListener } from '../../engine/events.js';
import type { MarkerNote } from '../../engine/notes.js';
import type { PlayerControl, PlayerOptions, PlayerStatus } from '../../engine/player.js';
import { App, ListenScreen, splitKeys } from '../app.js';
import { LibraryView } from '../components/LibraryView.js';
import { RecordingView, cursorLine } from '../components/RecordingView.js';
import { Footer } from '../components/Footer.js';
import type { EnginePort, ExcerptRequest } from '../engine-port.js';
import { initialListenState, reduceListen, type ListenState, type OpenRecording } from '../listen-state.js';
import { assertFits, libraryEntry as entry, lines, MARKERS, SETTLE, text } from './fixtures.js';

afterEach(() => cleanup());

function library(over: Partial<ListenState> = {}, entries = [entry(3, { markers: MARKERS }), entry(2, { deviceLabel: 'Office', encrypted: true, decrypted: false, playablePath: null }), entry(1, { verification: 'problems' })]): ListenState {
  const s = reduceListen(initialListenState(), { kind: 'open-library', root: '/home/sam/Recordings', home: 'device' });
  return { ...reduceListen(s, { kind: 'library-loaded', listing: { exists: true, entries, problems: [] } }), ...over };
}

function opened(over: Partial<OpenRecording> = {}): OpenRecording {
  return { entry: entry(3, { markers: MARKERS }), levels: Array.from({ length: 80 }, (_, i) => (i % 10) / 10), notes: [], marker: -1, playback: { state: 'stopped', positionMs: 0, speed: 1 }, ...over };
}

describe('LibraryView', () => {
  it('lists the recordings newest first with date, recorder, length, markers and the state of the copy', () => {
    const { lastFrame } = render(<LibraryView listen={library()} utc />);
    const l = lines(lastFrame());
    expect(l[0]).toBe('Library: /home/sam/Recordings');
    expect(l[2]).toMatch(/^ {2}Started +Recorder +Length Markers Copy$/);
    expect(l[3]).toMatch(/^> 13 Mar 2025 10:00 Kitchen #3 +1:30 +2 +verified · not encrypted$/);
    expect(l[4]).toMatch(/^ {2}12 Mar 2025 10:00 Office #2 +1:30 +0 +verified · not decrypted$/);
    expect(l[5]).toMatch(/^ {2}11 Mar 2025 10:00 Kitchen #1 +1:30 +0 +PROBLEMS · not encrypted$/);
    assertFits(lastFrame());
  });

  it('shows a recording made without a clock at its estimated start, in full when it is opened', () => {
    const estimate = { startUnixMs: Date.UTC(2025, 2, 14, 14, 5), earliestUnixMs: Date.UTC(2025, 2, 14, 13, 58), latestUnixMs: Date.UTC(2025, 2, 14, 14, 12) };
    const lost = entry(4, { startUnixMs: null, estimate });
    const { lastFrame } = render(<LibraryView listen={library({}, [lost, entry(3)])} utc />);
    expect(lines(lastFrame())[3]).toMatch(/^> est\. 14 Mar 14:05 +Kitchen #4 /);
    const open = render(<RecordingView open={opened({ entry: lost })} utc />);
    expect(text(open.lastFrame())).toContain("Started 14 Mar 2025, about 14:05 (between 13:58 and 14:12, estimated: the recorder's clock was lost)");
    assertFits(open.lastFrame());
  });

  it("shows a dated recording's clock: when it was last set, and how far it drifted by the next sync", () => {
    const clockSinceSet = { lastSetUnixMs: Date.UTC(2025, 2, 3, 9, 12), drift: { driftMs: 1200, driftPpm: 4, measuredAtUnixMs: Date.UTC(2025, 2, 6, 12), measuredBy: 'next-clock-set' as const }, text: '' };
    const open = render(<RecordingView open={opened({ entry: entry(3, { clockSinceSet }) })} utc />);
    expect(text(open.lastFrame())).toContain('Recorder clock set 3 Mar 2025 09:12; it had drifted 1.2 s fast (4 ppm) by the next sync');
    assertFits(open.lastFrame());
    expect(text(render(<RecordingView open={opened()} utc />).lastFrame())).not.toContain('clock set');
  });

  it('shows the search being typed, then what it matched', () => {
    const typing = render(<LibraryView listen={library({ input: { kind: 'search', text: 'off' }, query: 'off' })} utc />);
    expect(lines(typing.lastFrame())[1]).toBe('Search: off');
    expect(text(typing.lastFrame())).not.toContain('Kitchen #3');
    const done = render(<LibraryView listen={library({ query: '2025-03-13' })} utc />);
    expect(text(done.lastFrame())).toContain('Search: 2025-03-13 — 1 of 3 shown (Esc shows all)');
    const none = render(<LibraryView listen={library({ query: 'nobody' })} utc />);
    expect(text(none.lastFrame())).toContain('No recording matches the search.');
  });

  it('says when the library does not exist yet or is being read, and shows unreadable manifests as problem lines', () => {
    const empty = render(<LibraryView listen={{ ...library(), listing: { exists: false, entries: [], problems: [] } }} />);
    expect(text(empty.lastFrame())).toContain('Nothing has been copied to this folder yet.');
    const reading = render(<LibraryView listen={{ ...library(), listing: null }} />);
    expect(text(reading.lastFrame())).toContain('Reading the library…');
    const problems = [1, 2, 3].map((n) => ({ path: `/home/sam/Recordings/Kitchen/odd${n}.json`, message: 'it is not valid JSON' }));
    const bad = render(<LibraryView listen={{ ...library(), listing: { exists: true, entries: [entry(1)], problems } }} utc />);
    const t = text(bad.lastFrame());
    expect(t).toContain('! /home/sam/Recordings/Kitchen/odd1.json: it is not valid JSON');
    expect(t).toContain('! and 1 other file that could not be read');
    expect(t).toContain('Kitchen #1');
  });

  it('shows a window of rows around the chosen one when there are more than fit', () => {
    const many = Array.from({ length: 30 }, (_, i) => entry(30 - i));
    const { lastFrame } = render(<LibraryView listen={library({ selected: 20 }, many)} rows={12} utc />);
    const t = text(lastFrame());
    expect(t).toContain('> ');
    expect(lines(lastFrame()).find((l) => l.startsWith('>'))).toContain('Kitchen #10');
    expect(t).toContain('15-26 of 30');
    expect(lines(lastFrame()).length).toBeLessThanOrEqual(17);
  });
});

describe('RecordingView', () => {
  it('draws the loudness across 80 columns with the markers under it and the cursor over it', () => {
    const { lastFrame } = render(<RecordingView open={opened({ marker: 1, playback: { state: 'playing', positionMs: 45_000, speed: 0.75 } })} utc />);
    const l = lines(lastFrame());
    expect(l[0]).toBe('Kitchen #3 · 13 Mar 2025 10:00 · 1:30 · verified · not encrypted');
    expect(l[1]).toBe(`${' '.repeat(40)}▼ 0:45`);
    expect(Array.from(l[2]!)).toHaveLength(80);
    // Markers at 0:20 and 1:05 of 1:30: columns 17 and 57.
    expect(l[3]!.indexOf('▲')).toBe(17);
    expect(l[3]!.lastIndexOf('▲')).toBe(57);
    expect(l[4]).toBe('▶ Playing at 0.75x (slower, same pitch)   0:45 / 1:30');
    expect(l[5]).toBe('Markers (2)');
    expect(l[6]).toMatch(/^ {4}1 +0:20 +\(no note: e writes one\)$/);
    expect(l[7]).toMatch(/^> {3}2 +1:05/);
    assertFits(lastFrame());
  });

  it('shows the notes, clipped to the width', () => {
    const notes: MarkerNote[] = [{ number: 1, startMs: 20_000, endMs: 65_000, text: 'She said the appointment was missed because the letter never came, twice' }];
    const { lastFrame } = render(<RecordingView open={opened({ notes })} />);
    expect(lines(lastFrame())[6]).toMatch(/^ {4}1 +0:20 +She said the appointment .*…$/);
    assertFits(lastFrame());
  });

  it('says how to decrypt an encrypted recording that has not been decrypted here', () => {
    const e = entry(7, { encrypted: true, decrypted: false, playablePath: null, copyPath: '/lib/Kitchen/REC7.age' });
    const { lastFrame } = render(<RecordingView open={opened({ entry: e, levels: null })} />);
    expect(text(lastFrame())).toContain('Recording 7 is encrypted and has not been decrypted on this computer. Decrypt it with: recorder decrypt 7 --dest "/lib/Kitchen"');
    expect(text(lastFrame())).toContain('No markers in this recording.');
  });

  it('shows an excerpt range under the loudness ([ and ]) and on the playing line', () => {
    const { lastFrame } = render(<RecordingView open={opened({ range: { fromMs: 30_000, toMs: 60_000 } })} utc />);
    const l = lines(lastFrame());
    // 80 columns for 1:30: 0:20 and 1:05 (markers) at 17 and 57, 0:30 at 26 and 1:00 at 53.
    expect(l[3]).toBe(`${' '.repeat(17)}▲${' '.repeat(8)}[${' '.repeat(26)}]${' '.repeat(3)}▲`);
    expect(l[4]).toBe('■ Stopped   0:00 / 1:30   excerpt [0:30–1:00]');
    // Only one end set: the other is the start or the end of the recording.
    expect(lines(render(<RecordingView open={opened({ range: { toMs: 60_000 } })} utc />).lastFrame())[4]).toContain('excerpt [0:00–1:00]');
    assertFits(lastFrame());
  });

  it('puts the time before the cursor at the right-hand end', () => {
    expect(cursorLine(90_000, 90_000, 80)).toBe(`${' '.repeat(74)}1:30 ▼`);
    expect(cursorLine(0, 90_000, 80)).toBe('▼ 0:00');
  });
});

describe('Footer of the listening views', () => {
  it('shows every playback key on at most two lines of 80 columns', () => {
    const { lastFrame } = render(<Footer mode="recording" />);
    expect(text(lastFrame())).toBe('space play/pause b back 10 s s 0.75x m/M next/prev marker t time e note [ ] range x excerpt 0 start q back');
    expect(lines(lastFrame())).toHaveLength(2);
    assertFits(lastFrame());
  });

  it('shows the library keys, and the demo when no recorder is attached', () => {
    expect(text(render(<Footer mode="library" />).lastFrame())).toBe('↑↓ choose Enter open / search r reload q back');
    expect(text(render(<Footer mode="library-demo" />).lastFrame())).toBe('↑↓ choose Enter open / search r reload d demo q quit');
    expect(text(render(<Footer mode="typing" />).lastFrame())).toBe('Enter done Esc cancel');
  });
});

describe('ListenScreen', () => {
  it('fits the whole recording screen with a note being typed in 80x24', () => {
    const s: ListenState = { ...library(), view: 'recording', open: opened({ marker: 0 }), input: { kind: 'note', number: 1, text: 'Missed' }, message: { tone: 'info', text: 'Note for marker 1 saved.' } };
    const { lastFrame } = render(<ListenScreen listen={s} width={80} utc />);
    const t = text(lastFrame());
    expect(t).toContain('Evidence Recorder — listening');
    expect(t).toContain('Note for marker 1: Missed');
    expect(t).toContain('Enter done Esc cancel');
    expect(lines(lastFrame()).length).toBeLessThanOrEqual(24);
    assertFits(lastFrame());
  });

  it('offers the demo when the app started without a recorder', () => {
    const s = { ...library(), home: 'library' as const, offerDemo: true };
    const { lastFrame } = render(<ListenScreen listen={s} width={80} utc />);
    expect(text(lastFrame())).toContain('No recorder is connected: this is your library. Press d to try a demo recorder.');
    expect(lines(lastFrame()).length).toBeLessThanOrEqual(24);
  });
});

describe('splitKeys', () => {
  it('splits keys that arrive together into one each, Enter included', () => {
    expect(splitKeys('/Of\r', {})).toEqual([['/', {}], ['O', {}], ['f', {}], ['', { return: true }]]);
    expect(splitKeys('m', {})).toEqual([['m', {}]]);
    expect(splitKeys('\u001b[A', { upArrow: true })).toEqual([['\u001b[A', { upArrow: true }]]);
  });
});

/** A player that records what the app asked of it. */
class FakePlayer implements PlayerControl {
  calls: string[] = [];
  private s: PlayerStatus = { state: 'stopped', positionMs: 0, speed: 1 };
  constructor(readonly file: string) {}
  async play(fromMs: number) {
    this.calls.push(`play ${fromMs}`);
    this.s = { ...this.s, state: 'playing', positionMs: fromMs };
  }
  async toggle() {
    this.calls.push('toggle');
    this.s = { ...this.s, state: this.s.state === 'playing' ? 'paused' : 'playing' };
  }
  async back(ms?: number) {
    this.calls.push(`back ${ms}`);
  }
  async setSpeed(speed: number) {
    this.calls.push(`speed ${speed}`);
    this.s = { ...this.s, speed };
  }
  stop() {
    this.calls.push('stop');
    this.s = { ...this.s, state: 'stopped' };
  }
  status() {
    return { ...this.s };
  }
}

class IdleEngine implements EnginePort {
  private events = new EventEmitter();
  on(l: EventListener) {
    this.events.on('e', l);
    return () => this.events.off('e', l);
  }
  sync = vi.fn(async () => undefined);
  verify = vi.fn(async () => undefined);
  deleteSynced = vi.fn(async () => undefined);
  mark = vi.fn(async () => ({ number: 4, marker: 1, timeMs: 0 }));
  stop = vi.fn();
}

const tick = () => new Promise((r) => setTimeout(r, 30));

describe('App: listening', () => {
  function setup(startWith: 'library' | 'none' = 'none', program: { kind: 'ffplay'; command: string } | null = { kind: 'ffplay', command: 'ffplay' }) {
    const players: FakePlayer[] = [];
    const written: { path: string; notes: MarkerNote[] }[] = [];
    const e3 = entry(3, { markers: MARKERS });
    const engine = new IdleEngine();
    const ui = render(
      <App
        engine={engine}
        startWith={startWith}
        library="/lib"
        utc
        listLibrary={async () => ({ root: '/lib', exists: true, entries: [e3, entry(2)], problems: [] })}
        loadLevels={async () => Array.from({ length: 80 }, () => 0.5)}
        notes={{ read: async () => [], write: async (path, notes) => void written.push({ path, notes }) }}
        findPlayer={() => program}
        createPlayer={(file: string, _o: PlayerOptions) => {
          const p = new FakePlayer(file);
          players.push(p);
          return p;
        }}
        onDemo={startWith === 'library' ? () => undefined : undefined}
      />,
    );
    return { ui, players, written, engine };
  }

  it('opens the library with l, a recording with Enter, and plays it with the keys', async () => {
    const { ui, players, written, engine } = setup();
    await tick();
    ui.stdin.write('l');
    await tick();
    expect(text(ui.lastFrame())).toContain('Kitchen #3');
    ui.stdin.write('\r');
    await tick();
    expect(text(ui.lastFrame())).toContain('Markers (2)');
    for (const k of [' ', 'b', 's', 'm', 't', '1:00', '\r']) {
      ui.stdin.write(k);
      await tick();
    }
    expect(players).toHaveLength(1);
    expect(players[0]!.file).toBe('/lib/Kitchen/REC3.wav');
    expect(players[0]!.calls).toEqual(['toggle', 'back 10000', 'speed 0.75', 'play 20000', 'play 60000']);
    expect(text(ui.lastFrame())).toContain('Playing at 0.75x');
    // m is the next marker here, never a marker dropped on the recorder (the main screen's m).
    expect(engine.mark).not.toHaveBeenCalled();
    for (const k of ['e', 'Late', '\r']) {
      ui.stdin.write(k);
      await tick();
    }
    expect(written).toEqual([{ path: '/lib/Kitchen/REC3.wav', notes: [{ number: 1, startMs: 20_000, endMs: 65_000, text: 'Late' }, { number: 2, startMs: 65_000, endMs: 90_000, text: '' }] }]);
    expect(text(ui.lastFrame())).toContain('Note for marker 1 saved.');
    ui.stdin.write('q');
    await tick();
    expect(players[0]!.calls.at(-1)).toBe('stop');
    expect(text(ui.lastFrame())).toContain('Evidence Recorder — your recordings');
    ui.stdin.write('q');
    await tick();
    expect(text(ui.lastFrame())).toContain('s copy v check library l listen');
  });

  it('starts on the library when asked, and names the package to install when there is no player', async () => {
    const { ui, players } = setup('library', null);
    await tick();
    expect(text(ui.lastFrame())).toContain('No recorder is connected');
    ui.stdin.write('\r');
    await tick();
    ui.stdin.write(' ');
    await tick();
    expect(players).toHaveLength(0);
    expect(text(ui.lastFrame())).toContain('No audio player was found on this computer. Install ffmpeg');
  });
});

describe('App: an excerpt from the recording view', () => {
  /** An engine whose excerpt writes a small file and answers as the real one does. */
  class ExcerptEngine extends IdleEngine {
    dir = mkdtempSync(join(tmpdir(), 'tui-excerpt-'));
    bytes = Buffer.from('RIFF excerpt bytes');
    requests: ExcerptRequest[] = [];
    excerpt = vi.fn(async (req: ExcerptRequest): Promise<ExcerptResult> => {
      this.requests.push(req);
      const base = join(this.dir, 'exports', '2025-03-13_Kitchen_3_excerpt_0-00-20.000_to_0-01-05.000');
      mkdirSync(join(this.dir, 'exports'), { recursive: true });
      writeFileSync(`${base}.wav`, this.bytes);
      const excerpt = { fileName: 'x.wav', size: this.bytes.length, sha256: createHash('sha256').update(this.bytes).digest('hex'), audioSha256: '', firstSample: 320_000, sampleCount: 720_000, endSample: 1_040_000, startMs: 20_000, endMs: 65_000, from: 'marker 1', to: 'marker 2', byteOffset: 0, byteLength: 0 };
      return { folder: join(this.dir, 'exports'), wavPath: `${base}.wav`, notePath: `${base}.provenance.txt`, jsonPath: `${base}.provenance.json`, provenance: { excerpt } as ExcerptResult['provenance'] };
    });
  }

  function show(engine: IdleEngine) {
    return render(
      <App
        engine={engine}
        startWith="library"
        library="/lib"
        utc
        listLibrary={async () => ({ root: '/lib', exists: true, entries: [entry(3, { markers: MARKERS }), entry(2)], problems: [] })}
        loadLevels={async () => Array.from({ length: 80 }, () => 0.5)}
        notes={{ read: async () => [], write: async () => undefined }}
        findPlayer={() => null}
      />,
    );
  }

  it('x on a marker asks the engine for marker to next marker, and shows where the excerpt and its note are and that it was checked', async () => {
    const engine = new ExcerptEngine();
    const ui = show(engine);
    await tick();
    for (const k of ['\r', 'm', 'x']) {
      ui.stdin.write(k);
      await tick();
    }
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('Checked'), SETTLE);
    expect(engine.requests).toEqual([{ recording: '/lib/Kitchen/REC3.wav', range: { from: { marker: 1 } } }]);
    const t = text(ui.lastFrame());
    // Long paths wrap at 80 columns: read them with the lines joined.
    const joined = lines(ui.lastFrame()).join('');
    expect(t).toContain('Excerpt 0:00:20.000 to 0:01:05.000 (720000 samples from sample 320000):');
    expect(joined).toContain(join(engine.dir, 'exports', '2025-03-13_Kitchen_3_excerpt_0-00-20.000_to_0-01-05.000.wav'));
    expect(t).toContain('Provenance note beside it: 2025-03-13_Kitchen_3_excerpt_0-00-20.000_to_0-01-05.000.provenance.txt and .json');
    expect(t).toContain('Checked: the copy verified first; the excerpt read back matches its note (SHA-256');
    expect(t).toMatch(/\[ \] range x excerpt/);
    assertFits(ui.lastFrame());
    expect(lines(ui.lastFrame()).length).toBeLessThanOrEqual(24);
    rmSync(engine.dir, { recursive: true, force: true });
  });

  it('shows a range set with [ and ] on the loudness line and exports it; a file that reads back wrong is said plainly', async () => {
    const engine = new ExcerptEngine();
    engine.excerpt.mockImplementationOnce(async (req) => {
      engine.requests.push(req);
      throw new Error('The excerpt would end (0:00:00.000 (sample 0)) before it starts (0:00:00.000 (sample 0)): nothing to export.');
    });
    const ui = show(engine);
    await tick();
    for (const k of ['\r', '[', ']', 'x']) {
      ui.stdin.write(k);
      await tick();
    }
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('No excerpt was made: The excerpt would end'), SETTLE);
    // The range's ends sit under the loudness line, and the playing line says it.
    expect(lines(ui.lastFrame()).some((l) => l.startsWith(']'))).toBe(true);
    expect(text(ui.lastFrame())).toContain('excerpt [0:00–0:00]');
    expect(engine.requests).toEqual([{ recording: '/lib/Kitchen/REC3.wav', range: { from: { ms: 0 }, to: { ms: 0 } } }]);
    // The engine wrote one thing, the disk holds another: the person is told not to use it.
    const real = engine.excerpt.getMockImplementation()!;
    engine.excerpt.mockImplementationOnce(async (req) => {
      const r = await real(req);
      writeFileSync(r.wavPath, 'changed');
      return r;
    });
    ui.stdin.write('x');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('does NOT match its note'), SETTLE);
    assertFits(ui.lastFrame());
    rmSync(engine.dir, { recursive: true, force: true });
  });
});
