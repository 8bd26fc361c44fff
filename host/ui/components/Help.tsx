/**
 * The help overlay: every key, and what the app will and will not do to the recorder.
 */

import { Box, Text } from 'ink';

export interface HelpProps {
  width?: number;
}

export const KEYS: readonly { key: string; what: string }[] = [
  { key: 's', what: 'Copy new recordings to this computer and verify each one.' },
  { key: 'v', what: 'Check every copy in your library again (the recorder is not needed).' },
  { key: 'l', what: 'Listen: every recording in your library, with its markers and notes.' },
  { key: 'd', what: 'Delete recordings from the recorder — only ones with a verified copy. Asks first.' },
  { key: 'h or ?', what: 'Show or hide this help.' },
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
      <Text> </Text>
      <Text>
        Copying never changes or deletes anything on the recorder. A copy counts as verified only when its
        fingerprint (SHA-256) matches the one the recorder worked out itself.
      </Text>
      <Text dimColor>Press h, ? or Esc to close this help.</Text>
    </Box>
  );
}
