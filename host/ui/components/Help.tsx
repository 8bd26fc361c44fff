/**
 * The help overlay: every key, and what the app will and will not do to the recorder. Each key
 * fits on one line, so that help over a connected recorder fits a 24-line terminal.
 */

import { Box, Text } from 'ink';

export interface HelpProps {
  width?: number;
}

export const KEYS: readonly { key: string; what: string }[] = [
  { key: 's', what: 'Copy new recordings to this computer and verify each one.' },
  { key: 'v', what: 'Check every copy in your library again (no recorder needed).' },
  { key: 'l', what: 'Listen to your library: every recording, its markers and notes.' },
  { key: 'm', what: 'Mark this moment while the recorder records (its button does too).' },
  { key: 'd', what: 'Delete recordings (only ones with a verified copy). Asks first.' },
  { key: 'p', what: 'Set this recorder up for a family: loan, key, settings, hand-out.' },
  { key: 'h or ?', what: 'Show or hide this help. Esc also hides it.' },
  { key: 'q', what: 'Quit. Ctrl-C also quits. Stopping in the middle of a copy is safe.' },
];

export function Help({ width = 80 }: HelpProps) {
  return (
    <Box borderStyle="round" borderColor="cyan" paddingX={1} width={width} flexDirection="column">
      <Text bold color="cyan">
        Help
      </Text>
      {KEYS.map((k) => (
        <Box key={k.key}>
          <Box width={9} flexShrink={0}>
            <Text bold>{k.key}</Text>
          </Box>
          <Box flexGrow={1}>
            <Text>{k.what}</Text>
          </Box>
        </Box>
      ))}
      <Text>
        Copying never changes or deletes anything on the recorder. A copy is verified only when its
        fingerprint (SHA-256) matches the recorder's own.
      </Text>
    </Box>
  );
}
