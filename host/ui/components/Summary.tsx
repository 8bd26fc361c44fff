/**
 * What happened, at the end of a copy, a library check or a delete: counts in plain words,
 * failures with what to do, where the files are, and journal problems stated loudly.
 */

import { Box, Text } from 'ink';
import type { FailedItem, Summary } from '../state.js';
import { formatBytes, plural } from '../format.js';
import { JournalWarning } from './JournalWarning.js';

export interface SummaryViewProps {
  summary: Summary;
  journalProblems?: string[];
  width?: number;
}

function list(numbers: number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  if (sorted.length <= 8) return sorted.join(', ');
  return `${sorted.slice(0, 8).join(', ')} and ${sorted.length - 8} more`;
}

function Failures({ failed, width, what }: { failed: FailedItem[]; width: number; what: string }) {
  if (failed.length === 0) return null;
  return (
    <Box flexDirection="column" width={width}>
      <Text color="red" bold>
        {`✗ ${failed.length === 1 ? `1 recording ${what}:` : `${failed.length} recordings ${what}:`}`}
      </Text>
      {failed.map((f, i) => (
        // A file without its record has no number (0): its reason names the file.
        <Box key={`${i}:${f.number}`} paddingLeft={4}>
          <Text>{f.number > 0 ? `Recording ${f.number}: ${f.reason}.` : f.reason.replace(/\.?$/, '.')}</Text>
        </Box>
      ))}
    </Box>
  );
}

function SyncSummary({ s, width }: { s: Extract<Summary, { kind: 'sync' }>; width: number }) {
  const nothingNew = s.copied.length === 0 && s.failed.length === 0 && !s.stopped;
  return (
    <>
      {s.copied.length > 0 ? (
        <Text color="green">{`✓ ${plural(s.copied.length, 'recording')} copied and verified (${formatBytes(s.bytes)}).`}</Text>
      ) : null}
      {nothingNew && s.alreadyHad.length > 0 ? (
        <Text color="green">✓ Nothing new to copy: everything on the recorder is already in your library.</Text>
      ) : null}
      {s.alreadyHad.length > 0 ? (
        <Text>{`• ${s.alreadyHad.length} already in your library (checked, not copied again).`}</Text>
      ) : null}
      {nothingNew && s.alreadyHad.length === 0 && s.inProgress.length === 0 ? <Text>• There were no recordings on the recorder.</Text> : null}
      {s.deleted.length > 0 ? <Text>{`• ${plural(s.deleted.length, 'recording')} deleted from the recorder (copies kept).`}</Text> : null}
      {s.inProgress.length > 0 ? (
        <Text color="yellow">{`• Recording ${list(s.inProgress)} is still being recorded; it will be copied next time.`}</Text>
      ) : null}
      {s.stopped ? <Text color="yellow" bold>{`✗ The copy stopped before the end: ${s.stopped}.`}</Text> : null}
      <Failures failed={s.failed} width={width - 4} what="could not be copied" />
      {s.failed.length > 0 || s.stopped ? (
        <Text>Press s to try again. Anything not copied is still safe on the recorder.</Text>
      ) : null}
      <Text>Your recordings are in:</Text>
      <Box paddingLeft={2}>
        <Text color="cyan">{s.destination}</Text>
      </Box>
    </>
  );
}

export function SummaryView({ summary: s, journalProblems = [], width = 80 }: SummaryViewProps) {
  const hasFailures = s.failed.length > 0;
  const trouble = hasFailures || journalProblems.length > 0 || (s.kind === 'sync' && (!s.ok || s.stopped !== null));
  const title =
    s.kind === 'sync'
      ? s.stopped
        ? 'Copy stopped before the end'
        : trouble
          ? 'Copy finished, with problems'
          : 'Copy finished'
      : s.kind === 'verify'
        ? trouble
          ? 'Library check finished, with problems'
          : 'Library check finished'
        : 'Delete finished';
  return (
    <Box flexDirection="column" width={width}>
      <Box borderStyle="round" borderColor={trouble ? 'yellow' : 'green'} paddingX={1} width={width} flexDirection="column">
        <Text bold color={trouble ? 'yellow' : 'green'}>
          {title}
        </Text>
        {s.kind === 'sync' ? <SyncSummary s={s} width={width} /> : null}
        {s.kind === 'verify' ? (
          <>
            {s.checked.length > 0 ? (
              <Text color="green">{`✓ ${plural(s.checked.length, 'recording')} in your library match their fingerprints.`}</Text>
            ) : null}
            {s.checked.length === 0 && !hasFailures ? <Text>• There are no recordings in your library yet.</Text> : null}
            <Failures failed={s.failed} width={width - 4} what="did not pass the check" />
            {hasFailures ? <Text>Do not delete anything from the recorder. Contact your advocate.</Text> : null}
            <Text>Library folder:</Text>
            <Box paddingLeft={2}>
              <Text color="cyan">{s.destination}</Text>
            </Box>
          </>
        ) : null}
        {s.kind === 'delete' ? (
          <>
            {s.deleted.length > 0 ? (
              <Text color="green">{`✓ ${plural(s.deleted.length, 'recording')} deleted from the recorder. The verified copies are in your library.`}</Text>
            ) : (
              <Text>• Nothing was deleted from the recorder.</Text>
            )}
            <Failures failed={s.failed} width={width - 4} what="was not deleted (still on the recorder)" />
          </>
        ) : null}
      </Box>
      <JournalWarning problems={journalProblems} width={width} />
    </Box>
  );
}
