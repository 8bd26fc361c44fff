/**
 * The confirmation step before deleting recordings from the recorder: says how many, that each
 * has a verified copy, and exactly which key does what.
 */

import { Box, Text } from 'ink';
import { plural } from '../format.js';

export interface ConfirmDeleteProps {
  numbers: number[];
  destination: string | null;
  width?: number;
}

export function ConfirmDelete({ numbers, destination, width = 80 }: ConfirmDeleteProps) {
  const n = numbers.length;
  const which = [...numbers].sort((a, b) => a - b);
  const shown = which.length <= 10 ? which.join(', ') : `${which.slice(0, 10).join(', ')} and ${which.length - 10} more`;
  return (
    <Box borderStyle="double" borderColor="yellow" paddingX={1} width={width} flexDirection="column">
      <Text bold color="yellow">{`Delete ${plural(n, 'recording')} from the recorder?`}</Text>
      <Text>{`Recordings: ${shown}.`}</Text>
      <Text>
        {n === 1 ? 'It has' : 'Each one has'} a copy in your library that was checked against the recorder&apos;s own
        fingerprint (SHA-256). Each copy is checked again, and the recorder checks its fingerprint, before
        anything is deleted.
      </Text>
      {destination ? <Text dimColor>{`Library: ${destination}`}</Text> : null}
      <Text>This cannot be undone on the recorder.</Text>
      <Text>
        <Text bold>y</Text> yes, delete them{'    '}
        <Text bold>n</Text> no, keep them
      </Text>
    </Box>
  );
}
