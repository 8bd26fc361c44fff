/**
 * The library view (issue 15): every recording copied to this computer, from every recorder,
 * newest first: when, which recorder, how long, how many markers, and whether its copy verified
 * and is encrypted. `/` searches by a day, a range of days or words of the recorder's name.
 */

import { Box, Text } from 'ink';
import type { LibraryEntry } from '../../engine/listing.js';
import { clip, formatDuration, formatStart, plural } from '../format.js';
import { shownEntries, type ListenState } from '../listen-state.js';

export interface LibraryViewProps {
  listen: ListenState;
  width?: number;
  /** Rows of recordings; default fits a 24-line terminal. */
  rows?: number;
  utc?: boolean;
}

const COL_MARK = 2;
const COL_DATE = 18;
const COL_WHO = 18;
const COL_LENGTH = 8;
const COL_MARKERS = 8;

/** Whether the copy verified, and whether it is encrypted (and decrypted here). */
export function entryStateText(e: LibraryEntry): string {
  const verified = e.verification === 'verified' ? 'verified' : e.verification === 'missing' ? 'COPY MISSING' : 'PROBLEMS';
  const secret = e.encrypted ? (e.decrypted ? 'decrypted' : 'not decrypted') : 'not encrypted';
  return `${verified} · ${secret}`;
}

export function entryWho(e: LibraryEntry): string {
  return `${e.deviceLabel || e.deviceId} #${e.number}`;
}

/** The rows around the selected one when there are more than fit. */
export function windowAround(count: number, selected: number, rows: number): [number, number] {
  if (count <= rows) return [0, count];
  const start = Math.max(0, Math.min(count - rows, selected - Math.floor(rows / 2)));
  return [start, start + rows];
}

function Row({ e, selected, width, utc }: { e: LibraryEntry; selected: boolean; width: number; utc: boolean }) {
  const stateWidth = Math.max(8, width - COL_MARK - COL_DATE - COL_WHO - COL_LENGTH - COL_MARKERS);
  const ok = e.verification === 'verified';
  return (
    <Box>
      <Text bold={selected} inverse={selected}>
        {(selected ? '> ' : '  ') +
          clip(formatStart(e.startUnixMs, e.estimate, utc), COL_DATE - 1).padEnd(COL_DATE) +
          clip(entryWho(e), COL_WHO - 1).padEnd(COL_WHO) +
          formatDuration(e.durationMs / 1000).padStart(COL_LENGTH - 1).padEnd(COL_LENGTH) +
          String(e.markers.length).padStart(COL_MARKERS - 2).padEnd(COL_MARKERS)}
      </Text>
      <Text color={ok ? 'green' : 'red'} bold={!ok}>
        {clip(entryStateText(e), stateWidth)}
      </Text>
    </Box>
  );
}

export function LibraryView({ listen, width = 80, rows = 12, utc = false }: LibraryViewProps) {
  const l = listen.listing;
  const entries = shownEntries(listen, utc);
  const input = listen.input?.kind === 'search' ? listen.input : null;
  const [from, to] = windowAround(entries.length, listen.selected, rows);
  return (
    <Box flexDirection="column" width={width}>
      <Text dimColor>{clip(`Library: ${listen.root ?? ''}`, width)}</Text>
      {input ? (
        <Text>
          <Text bold>{clip(`Search: ${input.text}`, width - 1)}</Text>
          <Text inverse> </Text>
        </Text>
      ) : listen.query ? (
        <Text>{clip(`Search: ${listen.query} — ${entries.length} of ${l?.entries.length ?? 0} shown (Esc shows all)`, width)}</Text>
      ) : (
        <Text dimColor>{clip('Type / to search by day (2025-03-12, 12 Mar 2025), range (A..B), month or name.', width)}</Text>
      )}
      {l === null ? (
        <Text>Reading the library…</Text>
      ) : !l.exists ? (
        <Text>{clip('Nothing has been copied to this folder yet.', width)}</Text>
      ) : entries.length === 0 ? (
        <Text>{l.entries.length === 0 ? 'No recordings in this folder yet.' : 'No recording matches the search.'}</Text>
      ) : (
        <>
          <Text bold>
            {' '.repeat(COL_MARK) + 'Started'.padEnd(COL_DATE) + 'Recorder'.padEnd(COL_WHO) + 'Length'.padStart(COL_LENGTH - 1).padEnd(COL_LENGTH) + 'Markers'.padEnd(COL_MARKERS) + 'Copy'}
          </Text>
          {entries.slice(from, to).map((e, i) => (
            <Row key={e.key + e.copyPath} e={e} selected={from + i === listen.selected} width={width} utc={utc} />
          ))}
          {entries.length > to - from ? <Text dimColor>{`${from + 1}-${to} of ${entries.length}`}</Text> : null}
        </>
      )}
      {l && l.problems.length > 0 ? (
        <Box flexDirection="column">
          {l.problems.slice(0, 2).map((p) => (
            <Text key={p.path} color="yellow">
              {clip(`! ${p.path}: ${p.message}`, width)}
            </Text>
          ))}
          {l.problems.length > 2 ? <Text color="yellow">{`! and ${plural(l.problems.length - 2, 'other file')} that could not be read`}</Text> : null}
        </Box>
      ) : null}
    </Box>
  );
}
