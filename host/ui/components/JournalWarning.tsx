/**
 * Problems with the recorder's journal (its tamper-evident list of every recording), stated
 * loudly: these matter for evidence, and the right response is to keep the recorder safe.
 */

import { Box, Text } from 'ink';

export interface JournalWarningProps {
  problems: string[];
  width?: number;
}

export function JournalWarning({ problems, width = 80 }: JournalWarningProps) {
  if (problems.length === 0) return null;
  return (
    <Box borderStyle="double" borderColor="red" paddingX={1} width={width} flexDirection="column">
      <Text bold color="red">
        IMPORTANT: the recorder&apos;s journal has a problem
      </Text>
      {problems.map((p) => (
        <Text key={p}>{p}</Text>
      ))}
    </Box>
  );
}
