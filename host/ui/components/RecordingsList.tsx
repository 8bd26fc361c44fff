/**
 * The recordings on the recorder (and those handled in this session), one line each: number,
 * when it started, how long, a loudness sparkline (where people spoke), and what has happened
 * to it. Problems get a second, indented line in plain words.
 */

import { Box, Text } from 'ink';
import type { RecordingRow } from '../state.js';
import { clip, formatDateTime, formatDuration, plural } from '../format.js';
import { sparkline } from '../sparkline.js';
import { stopReasonText } from '../messages.js';

export interface RecordingsListProps {
  recordings: RecordingRow[];
  width?: number;
  /** Most rows to show; the rest are summed up in one line. */
  maxRows?: number;
  /** Show times in UTC (tests); local time otherwise. */
  utc?: boolean;
}

/** Beside the status of a recording made without encryption (issue 13). */
export const NOT_ENCRYPTED = ' · not encrypted';

/** Characters of the loudness sparkline. */
export const SPARK_WIDTH = 16;

const COL_NUMBER = 8;
const COL_DATE = 19;
const COL_LENGTH = 9;
const COL_SPARK = SPARK_WIDTH + 2;

export function statusText(r: RecordingRow): string {
  switch (r.status) {
    case 'on-device':
      return 'on the recorder';
    case 'recording':
      return 'recording now';
    case 'copying': {
      const pct = r.size > 0 && r.copied !== undefined ? Math.floor((r.copied / r.size) * 100) : 0;
      return `copying… ${pct}%`;
    }
    case 'verified':
      return 'copied and verified';
    case 'in-library':
      return 'already in library';
    case 'failed':
      return 'FAILED — see below';
    case 'deleted':
      return 'copied, then deleted';
  }
}

function statusColor(r: RecordingRow): string | undefined {
  switch (r.status) {
    case 'verified':
    case 'in-library':
      return 'green';
    case 'copying':
      return 'cyan';
    case 'failed':
      return 'red';
    case 'recording':
      return 'yellow';
    default:
      return undefined;
  }
}

/** A line when the recorder's signature does not simply vouch for the whole copy. */
export function signatureText(r: RecordingRow): { text: string; color: string } | null {
  const s = r.signature;
  if (!s || r.status === 'failed') return null;
  if (s.status === 'pending') return { text: 'Signature pending: the recorder was still signing it. Copy again (s) in a minute.', color: 'yellow' };
  if (s.status === 'unsigned') return { text: 'Not signed by the recorder (made without a signing key).', color: 'yellow' };
  if (s.vouchedSamples !== null && s.vouchedSamples < s.sampleCount) {
    const pct = Math.floor((100 * s.vouchedSamples) / Math.max(1, s.sampleCount));
    return { text: `Cut off by a power loss: signed while recording for the first ${pct}%, the rest after power came back.`, color: 'yellow' };
  }
  return null;
}

function needsAttention(r: RecordingRow): boolean {
  return r.status === 'failed' || r.status === 'copying' || r.missingFromJournal || r.status === 'recording';
}

/** The rows to show when there are more than fit: everything needing attention, then the newest. */
export function pickRows(rows: RecordingRow[], maxRows: number): RecordingRow[] {
  if (rows.length <= maxRows) return rows;
  const chosen = new Set<number>();
  for (const r of rows) if (needsAttention(r) && chosen.size < maxRows) chosen.add(r.number);
  for (let i = rows.length - 1; i >= 0 && chosen.size < maxRows; i--) chosen.add((rows[i] as RecordingRow).number);
  return rows.filter((r) => chosen.has(r.number));
}

function hiddenSummary(hidden: RecordingRow[]): string {
  const counts = new Map<string, number>();
  for (const r of hidden) counts.set(statusText(r), (counts.get(statusText(r)) ?? 0) + 1);
  const parts = [...counts.entries()].map(([s, n]) => `${n} ${s}`);
  return `${plural(hidden.length, 'earlier recording')} not shown: ${parts.join(', ')}`;
}

function Row({ r, width, utc }: { r: RecordingRow; width: number; utc: boolean }) {
  const spark = r.levels && r.levels.length > 0 ? sparkline(r.levels) : '·'.repeat(SPARK_WIDTH);
  const stateWidth = Math.max(8, width - COL_NUMBER - COL_DATE - COL_LENGTH - COL_SPARK);
  const extra: { text: string; color: string }[] = [];
  if (r.missingFromJournal) extra.push({ text: "! Not in the recorder's journal — see the warning below.", color: 'red' });
  if (r.status === 'failed' && r.failure) {
    const action = r.failure.action.trim();
    const reason = r.failure.reason.charAt(0).toUpperCase() + r.failure.reason.slice(1);
    extra.push({ text: `${reason.replace(/\.?$/, '.')}${action ? ` ${action}` : ''}`, color: 'red' });
  }
  const why = stopReasonText(r.stopReason);
  if (why) extra.push({ text: why, color: 'yellow' });
  const signed = signatureText(r);
  if (signed) extra.push(signed);
  // Made without encryption: said beside the status, or on a line of its own when it does not fit.
  const notEncryptedFits = stateWidth - statusText(r).length > NOT_ENCRYPTED.length;
  if (r.encrypted === false && !notEncryptedFits) extra.push({ text: 'Not encrypted (recorded without an owner key).', color: 'yellow' });
  return (
    <Box flexDirection="column">
      <Box>
        <Text>{`#${r.number} `.padEnd(COL_NUMBER)}</Text>
        <Text>{clip(formatDateTime(r.startUnixMs, utc), COL_DATE - 2).padEnd(COL_DATE)}</Text>
        <Text>{formatDuration(r.durationMs / 1000).padStart(COL_LENGTH - 2).padEnd(COL_LENGTH)}</Text>
        <Text color="cyan" dimColor={!r.levels}>
          {spark.padEnd(COL_SPARK)}
        </Text>
        <Text color={statusColor(r)} bold={r.status === 'failed'}>
          {clip(statusText(r), stateWidth)}
        </Text>
        {r.encrypted === false && notEncryptedFits ? <Text color="yellow">{NOT_ENCRYPTED}</Text> : null}
      </Box>
      {extra.map((x) => (
        <Box key={x.text} paddingLeft={COL_NUMBER} width={width}>
          <Text color={x.color}>{x.text}</Text>
        </Box>
      ))}
    </Box>
  );
}

export function RecordingsList({ recordings, width = 80, maxRows = 12, utc = false }: RecordingsListProps) {
  if (recordings.length === 0) {
    return (
      <Box width={width}>
        <Text dimColor>No recordings to show yet.</Text>
      </Box>
    );
  }
  const shown = pickRows(recordings, maxRows);
  const shownSet = new Set(shown.map((r) => r.number));
  const hidden = recordings.filter((r) => !shownSet.has(r.number));
  return (
    <Box flexDirection="column" width={width}>
      <Text bold>
        {'No.'.padEnd(COL_NUMBER) + 'Started'.padEnd(COL_DATE) + 'Length'.padStart(COL_LENGTH - 2).padEnd(COL_LENGTH) + 'Loudness'.padEnd(COL_SPARK) + 'What happened'}
      </Text>
      {shown.map((r) => (
        <Row key={r.number} r={r} width={width} utc={utc} />
      ))}
      {hidden.length > 0 ? <Text dimColor>{hiddenSummary(hidden)}</Text> : null}
    </Box>
  );
}
