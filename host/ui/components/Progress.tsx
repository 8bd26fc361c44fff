/**
 * Copy progress: this file and all files, with speed and time left. Renders only from props.
 */

import { Box, Text } from 'ink';
import type { TransferView } from '../state.js';
import { formatBytes, formatRate, formatTimeLeft } from '../format.js';

export interface ProgressProps {
  transfer: TransferView;
  /** The recorder is recording while we copy: say that this is fine. */
  recordingNow?: boolean;
  width?: number;
}

/** A bar of `width` cells, `fraction` (0..1) of them full. */
export function bar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

function pct(fraction: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  return `${Math.floor(f * 100)}%`.padStart(4);
}

export function Progress({ transfer: t, recordingNow = false, width = 80 }: ProgressProps) {
  // Label 11, two spaces, bar, two spaces, percent 4, two spaces, text (up to ~34).
  const barWidth = Math.max(10, Math.min(30, width - 57));
  const cur = t.current;
  const fileFraction = cur && cur.total > 0 ? cur.bytes / cur.total : 0;
  const overallBytes = t.doneBytes + (cur ? cur.bytes : 0);
  const overallFraction = t.totalBytes > 0 ? overallBytes / t.totalBytes : 0;
  const left = t.rate > 0 ? Math.max(0, t.totalBytes - overallBytes) / t.rate : Number.NaN;
  const fileIndex = Math.min(t.numbers.length, t.doneFiles + (cur ? 1 : 0));
  const heading = cur
    ? `Copying recording ${cur.number} (file ${fileIndex} of ${t.numbers.length})`
    : t.doneFiles >= t.numbers.length && t.numbers.length > 0
      ? 'Finishing up…'
      : 'Getting ready to copy…';
  return (
    <Box flexDirection="column" width={width}>
      <Text bold>{heading}</Text>
      <Text>
        {'This file  '}
        <Text color="cyan">{bar(fileFraction, barWidth)}</Text>
        {`  ${pct(fileFraction)}  `}
        {cur ? `${formatBytes(cur.bytes)} of ${formatBytes(cur.total)}` : ''}
      </Text>
      <Text>
        {'All files  '}
        <Text color="green">{bar(overallFraction, barWidth)}</Text>
        {`  ${pct(overallFraction)}  `}
        {`${formatRate(t.rate)}, ${formatTimeLeft(left)}${Number.isFinite(left) ? ' left' : ''}`}
      </Text>
      {recordingNow ? <Text dimColor>The recorder keeps recording while you copy; that is fine.</Text> : null}
    </Box>
  );
}
