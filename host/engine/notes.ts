/**
 * Marker notes (issue 15): a WebVTT file beside a library copy, `<copy base>.notes.vtt`, with one
 * cue per marker (identifier `marker-N`, from the marker's time to the next marker's or the end of
 * the recording) whose text is the user's note. A parent, advocate or translator can fill it in
 * with any WebVTT-aware editor; the app reads it back and rewrites it.
 *
 * The file follows the W3C WebVTT rules (https://www.w3.org/TR/webvtt1/): the `WEBVTT` signature,
 * blocks separated by blank lines, `hh:mm:ss.ttt --> hh:mm:ss.ttt` timings with the end after the
 * start, cues in order of start time, and cue text that holds no blank line and no `-->`
 * (`&`, `<` and `>` are written as `&amp;`, `&lt;` and `&gt;`). A note's blank lines cannot be
 * kept (a blank line ends a cue in WebVTT): they are dropped.
 *
 * Cues and comments added by hand that are not `marker-N` cues are kept when the app rewrites the
 * file, so a hand-made transcript is never lost.
 */
import * as path from 'node:path';
import { EngineError, fsError } from './errors.js';
import { copyBase, realFs, writeFileAtomic, type Fs } from './library.js';

export interface MarkerNote {
  /** The marker's number, 1..n. */
  number: number;
  startMs: number;
  endMs: number;
  /** The user's note; '' when there is none (the file then shows "Marker N"). */
  text: string;
}

/** A marker as the manifest lists it (enough to lay out its cue). */
export interface MarkerTime {
  number: number;
  timeMs: number;
}

/** One block of a WebVTT file as read: a cue, or another block (NOTE, STYLE, REGION) kept as text. */
export type VttBlock =
  | { kind: 'cue'; id: string | null; startMs: number; endMs: number; settings: string; text: string; raw: string; line: number }
  | { kind: 'other'; raw: string; line: number };

export function notesPath(copyPath: string): string {
  return copyBase(copyPath) + '.notes.vtt';
}

const markerId = (n: number) => `marker-${n}`;
const defaultText = (n: number) => `Marker ${n}`;
const MARKER_ID = /^marker-([1-9]\d{0,5})$/;
const TIMESTAMP = /^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$/;

/** `hh:mm:ss.ttt` (hours at least two digits, as WebVTT requires). */
export function vttTimestamp(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = Math.floor((t % 60_000) / 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(h)}:${p(m)}:${p(s)}.${p(t % 1000, 3)}`;
}

/** Parses a WebVTT timestamp (`mm:ss.ttt` or `h+:mm:ss.ttt`); null when it is not one. */
export function parseVttTimestamp(s: string): number | null {
  const m = TIMESTAMP.exec(s);
  if (!m) return null;
  return Number(m[1] ?? 0) * 3_600_000 + Number(m[2]) * 60_000 + Number(m[3]) * 1000 + Number(m[4]);
}

/** Escapes a note's text for a cue payload: no blank line, no `-->`, no markup. */
export function escapeCueText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'))
    .join('\n');
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', nbsp: '\u00a0', lrm: '\u200e', rlm: '\u200f', quot: '"', apos: "'" };

/** Turns cue text back into plain text: character references decoded, tags dropped (a voice tag
 * `<v Name>` becomes "Name: ", so who spoke is not lost). */
export function unescapeCueText(payload: string): string {
  return payload
    .replace(/<v(?:\.[^\s>]*)?[ \t]+([^>]*)>/g, (_m, name: string) => `${name.trim()}: `)
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|[a-zA-Z]+);/g, (m, ref: string) => {
      if (ref[0] === '#') {
        const cp = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
      }
      return NAMED[ref] ?? m;
    });
}

function invalid(message: string): EngineError {
  return new EngineError('NOTES_INVALID', message, 'Open the notes file in a text editor and fix it (it must start with WEBVTT), or move it aside to start afresh.');
}

/**
 * Reads a WebVTT file into blocks, as a WebVTT parser does (signature, blank-line separated
 * blocks, a timing line with or without an identifier above it). Throws NOTES_INVALID when the
 * text is not WebVTT or a cue's timing is unreadable.
 */
export function parseWebVtt(input: string, where = 'the notes file'): VttBlock[] {
  const text = input.replace(/^\ufeff/, '').replaceAll('\u0000', '\ufffd');
  const lines = text.split(/\r\n|\r|\n/);
  if (!/^WEBVTT(?:[ \t].*)?$/.test(lines[0] ?? '')) throw invalid(`${where} is not a WebVTT file: it does not start with "WEBVTT".`);
  let i = 1;
  // the header runs to the first blank line
  while (i < lines.length && lines[i] !== '') i++;
  const blocks: VttBlock[] = [];
  while (i < lines.length) {
    while (i < lines.length && lines[i] === '') i++;
    if (i >= lines.length) break;
    const start = i;
    const block: string[] = [];
    while (i < lines.length && lines[i] !== '') block.push(lines[i++]!);
    const raw = block.join('\n');
    const timingAt = block[0]!.includes('-->') ? 0 : block.length > 1 && block[1]!.includes('-->') ? 1 : -1;
    if (timingAt < 0) {
      blocks.push({ kind: 'other', raw, line: start + 1 });
      continue;
    }
    const timing = /^(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(block[timingAt]!);
    const startMs = timing ? parseVttTimestamp(timing[1]!) : null;
    const endMs = timing ? parseVttTimestamp(timing[2]!) : null;
    if (startMs === null || endMs === null) throw invalid(`${where}, line ${start + 1 + timingAt}: the cue timing ${JSON.stringify(block[timingAt])} is not "hh:mm:ss.ttt --> hh:mm:ss.ttt".`);
    blocks.push({
      kind: 'cue',
      id: timingAt === 1 ? block[0]! : null,
      startMs,
      endMs,
      settings: (timing![3] ?? '').trim(),
      text: block.slice(timingAt + 1).join('\n'),
      raw,
      line: start + 1,
    });
  }
  return blocks;
}

/** What the W3C rules for a WebVTT file say is wrong with `text` ([] = a conforming file, for
 * the parts this app writes: signature, blocks, timings, order, identifiers, cue text). */
export function webVttProblems(input: string): string[] {
  const problems: string[] = [];
  let blocks: VttBlock[];
  try {
    blocks = parseWebVtt(input);
  } catch (e) {
    return [(e as Error).message];
  }
  const text = input.replace(/^\ufeff/, '');
  if (/\r(?!\n)/.test(text) && /\n/.test(text.replace(/\r\n/g, ''))) problems.push('mixed line terminators');
  if (text.split(/\r\n|\r|\n/).length > 1 && text.split(/\r\n|\r|\n/)[1] !== '') {
    // the header may hold only non-blank lines without "-->"
    const header: string[] = [];
    for (const l of text.split(/\r\n|\r|\n/).slice(1)) {
      if (l === '') break;
      header.push(l);
    }
    if (header.some((l) => l.includes('-->'))) problems.push('the header holds "-->"');
  }
  const ids = new Set<string>();
  let lastStart = -1;
  let sawCue = false;
  for (const b of blocks) {
    if (b.kind === 'other') {
      const first = b.raw.split('\n')[0]!;
      if (!/^NOTE(?:[ \t\n]|$)/.test(b.raw) && !/^(STYLE|REGION)[ \t]*$/.test(first)) problems.push(`line ${b.line}: a block that is neither a cue nor a NOTE, STYLE or REGION block`);
      if (/^(STYLE|REGION)/.test(first) && sawCue) problems.push(`line ${b.line}: ${first} after the first cue`);
      if (b.raw.includes('-->')) problems.push(`line ${b.line}: "-->" in a ${first.split(/\s/)[0]} block`);
      continue;
    }
    sawCue = true;
    const timingLine = b.raw.split('\n')[b.id === null ? 0 : 1]!;
    if (!/^(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}[ \t]+-->[ \t]+(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}(?:[ \t]+.*)?$/.test(timingLine)) problems.push(`line ${b.line}: malformed cue timing`);
    if (b.endMs <= b.startMs) problems.push(`line ${b.line}: the cue ends (${vttTimestamp(b.endMs)}) no later than it starts (${vttTimestamp(b.startMs)})`);
    if (b.startMs < lastStart) problems.push(`line ${b.line}: the cue starts before the cue above it`);
    lastStart = b.startMs;
    if (b.id !== null) {
      if (b.id.includes('-->')) problems.push(`line ${b.line}: the cue identifier holds "-->"`);
      if (ids.has(b.id)) problems.push(`line ${b.line}: the cue identifier ${JSON.stringify(b.id)} is used twice`);
      ids.add(b.id);
    }
    if (b.text.includes('-->')) problems.push(`line ${b.line}: the cue text holds "-->"`);
    if (/&(?!(?:#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);)/.test(b.text)) problems.push(`line ${b.line}: a bare "&" in the cue text (write &amp;)`);
    for (const tag of b.text.match(/<[^>]*>?/g) ?? []) {
      if (!/^<(?:\/?(?:c|i|b|u|ruby|rt|v|lang)(?:\.[^\s>]+)*(?:[ \t][^>]*)?|\/?[cibu]|\d{2,}:[0-5]\d:[0-5]\d\.\d{3}|[0-5]\d:[0-5]\d\.\d{3})>$/.test(tag)) problems.push(`line ${b.line}: ${JSON.stringify(tag)} in the cue text is not a WebVTT tag (write &lt;)`);
    }
  }
  return problems;
}

/** The marker notes in parsed blocks (cues identified `marker-N`), by number. */
function notesOf(blocks: VttBlock[], where: string): MarkerNote[] {
  const byNumber = new Map<number, MarkerNote>();
  for (const b of blocks) {
    if (b.kind === 'other' && MARKER_ID.test(b.raw.split('\n')[0]!)) throw invalid(`${where}, line ${b.line + 1}: the cue ${b.raw.split('\n')[0]} has no timing line ("hh:mm:ss.ttt --> hh:mm:ss.ttt").`);
    if (b.kind !== 'cue' || b.id === null) continue;
    const m = MARKER_ID.exec(b.id);
    if (!m) continue;
    const number = Number(m[1]);
    if (byNumber.has(number)) throw invalid(`${where}, line ${b.line}: two cues are called ${b.id}.`);
    const t = unescapeCueText(b.text);
    byNumber.set(number, { number, startMs: b.startMs, endMs: b.endMs, text: t === defaultText(number) ? '' : t });
  }
  return [...byNumber.values()].sort((a, b) => a.number - b.number);
}

const OWN_NOTE = /^NOTE Notes on the markers of /;

/**
 * The notes file beside a copy: its marker notes, and the blocks a person added (other cues,
 * comments) that a rewrite keeps. Nothing when there is no notes file.
 */
export async function readNotesFile(copyPath: string, fs: Fs = realFs): Promise<{ notes: MarkerNote[]; kept: VttBlock[] }> {
  const p = notesPath(copyPath);
  let text: string;
  try {
    const st = await fs.lstat(p);
    if (st.isSymbolicLink()) throw new EngineError('UNSAFE_PATH', `Refused to use ${p}: it is a symbolic link.`, 'Remove the link from the recordings folder.');
    if (!st.isFile()) throw invalid(`${p} is not a regular file.`);
    if (st.size > 16 << 20) throw invalid(`${p} is larger than 16 MiB: not a notes file.`);
    text = String(await fs.readFile(p, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { notes: [], kept: [] };
    throw e instanceof EngineError ? e : fsError(e, 'read the notes', p);
  }
  const blocks = parseWebVtt(text, path.basename(p));
  return {
    notes: notesOf(blocks, path.basename(p)),
    kept: blocks.filter((b) => (b.kind === 'cue' ? !(b.id !== null && MARKER_ID.test(b.id)) : !OWN_NOTE.test(b.raw))),
  };
}

/** Reads the notes beside a copy; [] when there is no notes file. */
export async function readMarkerNotes(copyPath: string, fs: Fs = realFs): Promise<MarkerNote[]> {
  return (await readNotesFile(copyPath, fs)).notes;
}

/** The WebVTT text for the notes, keeping `kept` blocks (hand-added cues and comments). */
export function formatMarkerNotes(notes: readonly MarkerNote[], title: string, kept: readonly VttBlock[] = []): string {
  const seen = new Set<number>();
  const cues: { startMs: number; order: number; raw: string }[] = [];
  for (const n of notes) {
    if (!Number.isSafeInteger(n.number) || n.number < 1 || n.number > 999_999) throw new EngineError('NOTES_INVALID', `A marker note has the number ${n.number}; markers are numbered from 1.`, 'Report this to the project.');
    if (seen.has(n.number)) throw new EngineError('NOTES_INVALID', `Two notes are given for marker ${n.number}.`, 'Report this to the project.');
    seen.add(n.number);
    const startMs = Math.max(0, Math.floor(n.startMs));
    // WebVTT wants the end after the start: a marker on the very last millisecond gets 1 ms
    const endMs = Math.max(startMs + 1, Math.floor(n.endMs));
    const text = escapeCueText(n.text) || defaultText(n.number);
    cues.push({ startMs, order: n.number, raw: `${markerId(n.number)}\n${vttTimestamp(startMs)} --> ${vttTimestamp(endMs)}\n${text}` });
  }
  for (const b of kept) if (b.kind === 'cue') cues.push({ startMs: b.startMs, order: 1e9 + b.line, raw: b.raw });
  cues.sort((a, b) => a.startMs - b.startMs || a.order - b.order);
  const others = kept.filter((b) => b.kind === 'other').map((b) => b.raw);
  const safeTitle = title.replace(/-->/g, '--').replace(/[\r\n]+/g, ' ');
  const head = ['WEBVTT', '', `NOTE Notes on the markers of ${safeTitle}: one cue per marker (marker-N),\nfrom the marker to the next one. Write the note under the timing line;\na blank line ends a cue.`];
  return [...head, ...others, ...cues.map((c) => c.raw)].join('\n\n') + '\n';
}

/**
 * Writes the notes beside a copy (0600, atomically). Cues and comments in the existing file that
 * are not marker notes are kept; a file that is not WebVTT is not overwritten (NOTES_INVALID).
 */
export async function writeMarkerNotes(copyPath: string, notes: readonly MarkerNote[], fs: Fs = realFs): Promise<void> {
  const { kept } = await readNotesFile(copyPath, fs);
  await writeFileAtomic(fs, notesPath(copyPath), formatMarkerNotes(notes, path.basename(copyBase(copyPath)), kept));
}

/**
 * The cue of every marker: from its time to the next marker's (or the end of the recording),
 * with the note already written for it, if any.
 */
export function markerCues(markers: readonly MarkerTime[], durationMs: number, notes: readonly MarkerNote[] = []): MarkerNote[] {
  const sorted = [...markers].sort((a, b) => a.timeMs - b.timeMs || a.number - b.number);
  const text = new Map(notes.map((n) => [n.number, n.text]));
  return sorted.map((m, i) => ({
    number: m.number,
    startMs: m.timeMs,
    endMs: Math.max(m.timeMs, i + 1 < sorted.length ? sorted[i + 1]!.timeMs : durationMs),
    text: text.get(m.number) ?? '',
  }));
}
