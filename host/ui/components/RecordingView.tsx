/**
 * One recording, for listening (issue 15): its loudness across the whole recording with the
 * markers under it and a cursor over it at the playing position, what is playing, and the
 * markers with their notes.
 */

import { Box, Text } from 'ink';
import type { ListedMarker } from '../../engine/listing.js';
import { whyNotPlayable } from '../../engine/listing.js';
import { clip, formatClockSinceSet, formatDuration, formatStart } from '../format.js';
import { clockText, type ExcerptMarks, type OpenRecording } from '../listen-state.js';
import { sparkline } from '../sparkline.js';
import { entryStateText, entryWho, windowAround } from './LibraryView.js';

export interface RecordingViewProps {
  open: OpenRecording;
  width?: number;
  /** Rows of the marker list. */
  markerRows?: number;
  utc?: boolean;
}

/** The column of a time across `width` columns. */
export function columnOf(ms: number, durationMs: number, width: number): number {
  if (!(durationMs > 0)) return 0;
  return Math.max(0, Math.min(width - 1, Math.floor((ms / durationMs) * width)));
}

export { clockText };

/** The cursor line: ▼ over the playing position, with the time beside it. */
export function cursorLine(positionMs: number, durationMs: number, width: number): string {
  const col = columnOf(positionMs, durationMs, width);
  const label = clockText(positionMs);
  if (col + 2 + label.length <= width) return `${' '.repeat(col)}▼ ${label}`;
  return `${' '.repeat(Math.max(0, col - label.length - 1))}${label} ▼`;
}

/** The markers line: ▲ under each marker's place in the loudness line, [ and ] under an excerpt range's ends. */
export function markerLine(markers: readonly ListedMarker[], durationMs: number, width: number, range?: ExcerptMarks): string[] {
  const cells = Array.from({ length: width }, () => ' ');
  for (const m of markers) cells[columnOf(m.timeMs, durationMs, width)] = '▲';
  if (range?.fromMs !== undefined) cells[columnOf(range.fromMs, durationMs, width)] = '[';
  if (range?.toMs !== undefined) cells[columnOf(range.toMs, durationMs, width)] = ']';
  return cells;
}

/** The columns of the loudness line an excerpt range covers ([from, to)); null without a range. */
export function rangeColumns(range: ExcerptMarks | undefined, durationMs: number, width: number): [number, number] | null {
  if (!range || (range.fromMs === undefined && range.toMs === undefined)) return null;
  const from = range.fromMs === undefined ? 0 : columnOf(range.fromMs, durationMs, width);
  const to = range.toMs === undefined ? width : columnOf(range.toMs, durationMs, width) + 1;
  return [from, Math.max(from, to)];
}

/** "   excerpt 0:20–1:05" after the playing line, when a range is set. */
function rangeText(range: ExcerptMarks | undefined, durationMs: number): string {
  if (!range || (range.fromMs === undefined && range.toMs === undefined)) return '';
  return `   excerpt [${clockText(range.fromMs ?? 0)}–${clockText(range.toMs ?? durationMs)}]`;
}

function playbackText(open: OpenRecording): string {
  const p = open.playback;
  const what = p.state === 'playing' ? '▶ Playing' : p.state === 'paused' ? '❚❚ Paused' : '■ Stopped';
  const speed = p.speed !== 1 ? ` at ${p.speed}x (slower, same pitch)` : '';
  return `${what}${speed}   ${clockText(p.positionMs)} / ${clockText(open.entry.durationMs)}${rangeText(open.range, open.entry.durationMs)}`;
}

export function RecordingView({ open, width = 80, markerRows = 6, utc = false }: RecordingViewProps) {
  const e = open.entry;
  const cantPlay = whyNotPlayable(e);
  const cursorCol = columnOf(open.playback.positionMs, e.durationMs, width);
  const spark = open.levels && open.levels.length > 0 ? sparkline(open.levels).slice(0, width).padEnd(width, '▁') : '·'.repeat(width);
  const cells = markerLine(e.markers, e.durationMs, width, open.range);
  // The loudness under an excerpt range is drawn in another colour.
  const [rangeFrom, rangeTo] = rangeColumns(open.range, e.durationMs, width) ?? [width, width];
  const loudness = (from: number, to: number) => {
    const a = Math.max(from, Math.min(to, rangeFrom));
    const b = Math.max(a, Math.min(to, rangeTo));
    return (
      <>
        {spark.slice(from, a)}
        {b > a ? <Text color="green">{spark.slice(a, b)}</Text> : null}
        {spark.slice(b, to)}
      </>
    );
  };
  const chosen = open.marker >= 0 ? e.markers[open.marker] : undefined;
  const chosenCol = chosen ? columnOf(chosen.timeMs, e.durationMs, width) : -1;
  const [from, to] = windowAround(e.markers.length, Math.max(0, open.marker), markerRows);
  const noteOf = (n: number) => open.notes.find((x) => x.number === n)?.text ?? '';
  return (
    <Box flexDirection="column" width={width}>
      <Text bold>{clip(`${entryWho(e)} · ${formatStart(e.startUnixMs, e.estimate, utc)} · ${formatDuration(e.durationMs / 1000)} · ${entryStateText(e)}`, width)}</Text>
      {!e.startUnixMs && e.estimate ? (
        <Box width={width}>
          <Text color="yellow">{`Started ${formatStart(null, e.estimate, utc, true)}`}</Text>
        </Box>
      ) : null}
      {e.startUnixMs && e.clockSinceSet ? (
        <Box width={width}>
          <Text dimColor>{`Recorder ${formatClockSinceSet(e.clockSinceSet, utc)}`}</Text>
        </Box>
      ) : null}
      <Text color="yellow">{cursorLine(open.playback.positionMs, e.durationMs, width)}</Text>
      <Text color="cyan" dimColor={!open.levels}>
        {loudness(0, cursorCol)}
        <Text inverse>{spark.charAt(cursorCol) || ' '}</Text>
        {loudness(cursorCol + 1, width)}
      </Text>
      <Text>
        {chosenCol >= 0 ? cells.slice(0, chosenCol).join('') : cells.join('')}
        {chosenCol >= 0 ? (
          <Text color="yellow" bold>
            ▲
          </Text>
        ) : null}
        {chosenCol >= 0 ? cells.slice(chosenCol + 1).join('') : null}
      </Text>
      {cantPlay ? <Text color="yellow">{cantPlay}</Text> : <Text>{playbackText(open)}</Text>}
      {e.markers.length === 0 ? (
        <Text dimColor>No markers in this recording.</Text>
      ) : (
        <Box flexDirection="column">
          <Text bold>{`Markers (${e.markers.length})`}</Text>
          {e.markers.slice(from, to).map((m, i) => {
            const selected = from + i === open.marker;
            const note = noteOf(m.number);
            const head = `${selected ? '>' : ' '} ${String(m.number).padStart(3)}  ${clockText(m.timeMs).padStart(7)}  `;
            return (
              <Text key={m.number} bold={selected}>
                {head}
                {note ? <Text>{clip(note, width - head.length)}</Text> : <Text dimColor>(no note: e writes one)</Text>}
              </Text>
            );
          })}
          {e.markers.length > to - from ? <Text dimColor>{`markers ${from + 1}-${to} of ${e.markers.length}`}</Text> : null}
        </Box>
      )}
    </Box>
  );
}
