import { describe, expect, it } from 'vitest';
import type { LibraryEntry } from '../../engine/listing.js';
import { libraryEntry as entry, MARKERS } from './fixtures.js';
import { initialListenState, listenKey, parsePlayTime, reduceListen, shownEntries, type KeyLike, type ListenEffect, type ListenState } from '../listen-state.js';


function library(entries: LibraryEntry[], home: 'device' | 'library' = 'device', offerDemo = false): ListenState {
  const s = reduceListen(initialListenState(), { kind: 'open-library', root: '/lib', home, offerDemo });
  return reduceListen(s, { kind: 'library-loaded', listing: { exists: true, entries, problems: [] } });
}

/** Presses keys in order; returns the last state and every effect asked for. */
function press(s: ListenState, ...keys: (string | KeyLike)[]): { state: ListenState; effects: ListenEffect[] } {
  const effects: ListenEffect[] = [];
  for (const k of keys) {
    const r = typeof k === 'string' ? listenKey(s, k, {}, true) : listenKey(s, '', k, true);
    // The reducer gives the same state as the function the app takes the effects from.
    expect(reduceListen(s, { kind: 'key', input: typeof k === 'string' ? k : '', key: typeof k === 'string' ? {} : k, utc: true })).toEqual(r.state);
    s = r.state;
    effects.push(...r.effects);
  }
  return { state: s, effects };
}

const ENTER = { return: true };
const ESC = { escape: true };
const DOWN = { downArrow: true };

describe('library view keys', () => {
  const entries = [entry(3, { markers: MARKERS }), entry(2, { deviceLabel: 'Office' }), entry(1)];

  it('moves the choice with the arrows and opens the chosen recording with Enter', () => {
    const { state, effects } = press(library(entries), DOWN, DOWN, DOWN, { upArrow: true }, ENTER);
    expect(state.view).toBe('recording');
    expect(state.open?.entry.number).toBe(2);
    expect(state.open?.playback).toEqual({ state: 'stopped', positionMs: 0, speed: 1 });
    expect(effects).toEqual([{ kind: 'open', entry: entries[1] }]);
  });

  it('searches with / as the person types, keeps it with Enter, and Esc shows all again', () => {
    let r = press(library(entries), '/', 'o', 'f', 'f');
    expect(r.state.input).toEqual({ kind: 'search', text: 'off' });
    expect(shownEntries(r.state, true).map((e) => e.number)).toEqual([2]);
    r = press(r.state, { backspace: true }, 'f', ENTER);
    expect(r.state.input).toBeNull();
    expect(r.state.query).toBe('off');
    r = press(r.state, ENTER);
    expect(r.effects).toEqual([{ kind: 'open', entry: entries[1] }]);
    r = press(library(entries), '/', '2025-03-12', ENTER);
    expect(shownEntries(r.state, true).map((e) => e.number)).toEqual([2]);
    r = press(r.state, ESC);
    expect(r.state.query).toBe('');
    expect(shownEntries(r.state, true)).toHaveLength(3);
  });

  it('goes back to the recorder with q or Esc when it came from there; quits when the library is the start', () => {
    expect(press(library(entries), 'q').state.view).toBe('closed');
    expect(press(library(entries), ESC).state.view).toBe('closed');
    const home = press(library(entries, 'library'), 'q');
    expect(home.state.view).toBe('library');
    expect(home.effects).toEqual([{ kind: 'quit' }]);
    expect(press(library(entries, 'library'), ESC).effects).toEqual([]);
  });

  it('offers the demo with d only when no recorder was attached, and reloads with r', () => {
    expect(press(library(entries, 'library', true), 'd').effects).toEqual([{ kind: 'demo' }]);
    expect(press(library(entries), 'd').effects).toEqual([]);
    const r = press(library(entries), 'r');
    expect(r.effects).toEqual([{ kind: 'load-library' }]);
    expect(r.state.listing).toBeNull();
  });
});

describe('recording view keys', () => {
  const opened = (over: Partial<LibraryEntry> = {}) => press(library([entry(3, { markers: MARKERS, ...over })]), ENTER).state;

  it('space plays or pauses, b goes back 10 s, s toggles 0.75x, 0 plays from the start', () => {
    const s = opened();
    expect(press(s, ' ').effects).toEqual([{ kind: 'toggle' }]);
    expect(press(s, 'b').effects).toEqual([{ kind: 'back', ms: 10_000 }]);
    expect(press(s, 's').effects).toEqual([{ kind: 'speed', speed: 0.75 }]);
    const slow = reduceListen(s, { kind: 'playback', key: s.open!.entry.key, playback: { state: 'playing', positionMs: 1000, speed: 0.75 } });
    expect(press(slow, 's').effects).toEqual([{ kind: 'speed', speed: 1 }]);
    expect(press(s, '0').effects).toEqual([{ kind: 'play', fromMs: 0 }]);
  });

  it('m and Tab play from the next marker, M and Shift-Tab from the previous, stopping at the ends', () => {
    const r = press(opened(), 'm', { tab: true }, 'm', 'M', { tab: true, shift: true }, 'M');
    expect(r.effects).toEqual([
      { kind: 'play', fromMs: 20_000 },
      { kind: 'play', fromMs: 65_000 },
      { kind: 'play', fromMs: 65_000 },
      { kind: 'play', fromMs: 20_000 },
      { kind: 'play', fromMs: 20_000 },
      { kind: 'play', fromMs: 20_000 },
    ]);
    expect(r.state.open?.marker).toBe(0);
    const none = press(opened({ markers: [] }), 'm');
    expect(none.effects).toEqual([]);
    expect(none.state.message?.text).toBe('This recording has no markers.');
  });

  it('t plays from a typed time, and says what a time looks like when it is not one', () => {
    let r = press(opened(), 't', '1', ':', '0', '5', ENTER);
    expect(r.effects).toEqual([{ kind: 'play', fromMs: 65_000 }]);
    expect(r.state.input).toBeNull();
    r = press(opened(), 't', 'soon', ENTER);
    expect(r.effects).toEqual([]);
    expect(r.state.message?.text).toMatch(/"soon" is not a time/);
    r = press(opened(), 't', '2:00', ENTER);
    expect(r.state.message?.text).toBe('The recording is only 1:30 long.');
    r = press(r.state, ESC);
    expect(r.state.input).toBeNull();
    expect(r.state.view).toBe('recording');
  });

  it('e edits the chosen marker note, starting from the note it has; Enter saves it, Esc leaves it', () => {
    const s = opened();
    expect(press(s, 'e').state.message?.text).toMatch(/Choose a marker first/);
    const withNotes = reduceListen(press(s, 'm').state, { kind: 'notes', key: s.open!.entry.key, notes: [{ number: 1, startMs: 20_000, endMs: 65_000, text: 'Late' }] });
    let r = press(withNotes, 'e');
    expect(r.state.input).toEqual({ kind: 'note', number: 1, text: 'Late' });
    r = press(r.state, '!', ENTER);
    expect(r.effects).toEqual([{ kind: 'save-note', number: 1, text: 'Late!' }]);
    expect(r.state.open?.notes.map((n) => [n.number, n.text])).toEqual([[1, 'Late!']]);
    r = press(withNotes, 'e', 'x', ESC);
    expect(r.effects).toEqual([]);
    expect(r.state.open?.notes[0]?.text).toBe('Late');
  });

  it('q and Esc go back to the library and stop the player', () => {
    for (const k of ['q', ESC]) {
      const r = press(opened(), k);
      expect(r.state.view).toBe('library');
      expect(r.state.open).toBeNull();
      expect(r.effects).toEqual([{ kind: 'close' }]);
    }
  });

  it('takes the results of a recording only while it is open', () => {
    const s = opened();
    expect(reduceListen(s, { kind: 'levels', key: 'other:1', levels: [1] }).open?.levels).toBeNull();
    expect(reduceListen(s, { kind: 'levels', key: s.open!.entry.key, levels: [0.5] }).open?.levels).toEqual([0.5]);
  });
});

describe('excerpt keys', () => {
  const opened = (over: Partial<LibraryEntry> = {}) => press(library([entry(3, { markers: MARKERS, ...over })]), ENTER).state;
  const at = (s: ListenState, positionMs: number) => reduceListen(s, { kind: 'playback', key: s.open!.entry.key, playback: { state: 'playing', positionMs, speed: 1 } });

  it('x exports from the chosen marker (the engine takes it to the next marker or the end)', () => {
    let r = press(opened(), 'm', 'x');
    expect(r.effects.at(-1)).toEqual({ kind: 'excerpt', range: { from: { marker: 1 } } });
    expect(r.state.message).toEqual({ tone: 'info', text: 'Making the excerpt…' });
    r = press(r.state, 'm', 'x');
    expect(r.effects.at(-1)).toEqual({ kind: 'excerpt', range: { from: { marker: 2 } } });
  });

  it('[ and ] set a range at the playing position, and x then exports that range instead', () => {
    let r = press(at(opened(), 12_345), '[');
    expect(r.state.open!.range).toEqual({ fromMs: 12_345 });
    expect(r.state.message?.text).toBe('Excerpt starts at 0:12: ] sets its end, x exports it.');
    expect(press(r.state, 'x').effects).toEqual([{ kind: 'excerpt', range: { from: { ms: 12_345 } } }]);
    r = press(at(r.state, 47_000), ']', 'm', 'x');
    expect(r.state.open!.range).toEqual({ fromMs: 12_345, toMs: 47_000 });
    expect(r.effects.at(-1)).toEqual({ kind: 'excerpt', range: { from: { ms: 12_345 }, to: { ms: 47_000 } } });
    // An end alone runs from the start; pressing [ again moves the start.
    expect(press(at(opened(), 30_000), ']', 'x').effects).toEqual([{ kind: 'excerpt', range: { to: { ms: 30_000 } } }]);
    expect(press(at(r.state, 20_000), '[').state.open!.range).toEqual({ fromMs: 20_000, toMs: 47_000 });
    // The range belongs to the open recording: closing it forgets the range.
    expect(press(r.state, 'q', ENTER).state.open!.range).toBeUndefined();
  });

  it('says why no excerpt is made: no markers and no range, no marker chosen, not decrypted, not verified', () => {
    const say = (s: ListenState) => {
      const r = press(s, 'x');
      expect(r.effects).toEqual([]);
      return r.state.message;
    };
    expect(say(opened({ markers: [] }))).toEqual({ tone: 'info', text: 'This recording has no markers: set a range with [ (start) and ] (end) while it plays, then press x.' });
    expect(say(opened())?.text).toBe('Choose a marker first (m), or set a range with [ and ], then press x.');
    expect(say(opened({ encrypted: true, decrypted: false, playablePath: null }))).toEqual({ tone: 'error', text: 'Recording 3 is encrypted and has not been decrypted on this computer, so no excerpt can be made. Decrypt it first with: recorder decrypt 3 --dest "/lib/Kitchen".' });
    expect(say(opened({ verification: 'problems' }))?.text).toMatch(/^Recording 3's copy did not verify when it was copied, so no excerpt is made from it/);
    expect(say(opened({ verification: 'missing' }))?.text).toBe('The copy is not in /lib/Kitchen any more: no excerpt can be made.');
    // A decrypted copy can be excerpted.
    expect(press(opened({ encrypted: true, decrypted: true }), 'm', 'x').effects.at(-1)).toEqual({ kind: 'excerpt', range: { from: { marker: 1 } } });
  });
});

describe('parsePlayTime', () => {
  it('reads minutes:seconds, hours:minutes:seconds and seconds', () => {
    expect(parsePlayTime('12:05')).toBe(725_000);
    expect(parsePlayTime('1:02:33')).toBe(3_753_000);
    expect(parsePlayTime(' 90 ')).toBe(90_000);
    expect(parsePlayTime('1:30.5')).toBe(90_500);
    for (const bad of ['', '1:60', '1:2:3:4', 'x', '-5', '1:75:00']) expect(parsePlayTime(bad)).toBeNull();
  });
});
