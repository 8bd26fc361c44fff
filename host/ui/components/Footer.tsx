/**
 * Key hints along the bottom: always visible, always the keys that work right now.
 */

import { Box, Text } from 'ink';

export type FooterMode = 'normal' | 'busy' | 'confirm' | 'help' | 'quitting';

export interface FooterProps {
  mode: FooterMode;
  width?: number;
}

const HINTS: Record<FooterMode, [string, string][]> = {
  normal: [
    ['s', 'copy'],
    ['v', 'check library'],
    ['d', 'delete copied'],
    ['h', 'help'],
    ['q', 'quit'],
  ],
  busy: [
    ['h', 'help'],
    ['q', 'stop and quit (safe)'],
  ],
  confirm: [
    ['y', 'yes, delete'],
    ['n', 'no, keep them'],
  ],
  help: [
    ['h', 'close help'],
    ['q', 'quit'],
  ],
  quitting: [],
};

export function Footer({ mode, width = 80 }: FooterProps) {
  if (mode === 'quitting') {
    return (
      <Box width={width}>
        <Text dimColor>Closing the connection to the recorder…</Text>
      </Box>
    );
  }
  return (
    <Box width={width}>
      <Text>
        {HINTS[mode].map(([k, what], i) => (
          <Text key={k}>
            {i > 0 ? '   ' : ''}
            <Text bold inverse>{` ${k} `}</Text>
            <Text>{` ${what}`}</Text>
          </Text>
        ))}
      </Text>
    </Box>
  );
}
