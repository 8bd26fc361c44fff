/**
 * Key hints along the bottom: always visible, always the keys that work right now. Hints that
 * do not fit on one line go on to a second one (the recording view has many keys).
 */

import { Box, Text } from 'ink';

export type FooterMode = 'normal' | 'normal-recording' | 'busy' | 'confirm' | 'help' | 'quitting' | 'library' | 'library-home' | 'library-demo' | 'recording' | 'typing';

export interface FooterProps {
  mode: FooterMode;
  width?: number;
}

const LIBRARY_KEYS: [string, string][] = [
  ['↑↓', 'choose'],
  ['Enter', 'open'],
  ['/', 'search'],
  ['r', 'reload'],
];

const HINTS: Record<FooterMode, [string, string][]> = {
  normal: [
    ['s', 'copy'],
    ['v', 'check library'],
    ['l', 'listen'],
    ['d', 'delete'],
    ['h', 'help'],
    ['q', 'quit'],
  ],
  // While the attached recorder records, m marks the moment. "check" (not "check library")
  // keeps the keys on one line of 80 columns, so the screen stays 24 lines high.
  'normal-recording': [['s', 'copy'], ['v', 'check'], ['l', 'listen'], ['d', 'delete'], ['m', 'mark'], ['h', 'help'], ['q', 'quit']],
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
  library: [...LIBRARY_KEYS, ['q', 'back']],
  'library-home': [...LIBRARY_KEYS, ['q', 'quit']],
  'library-demo': [...LIBRARY_KEYS, ['d', 'demo'], ['q', 'quit']],
  recording: [
    ['space', 'play/pause'],
    ['b', 'back 10 s'],
    ['s', '0.75x'],
    ['m/M', 'next/prev marker'],
    ['t', 'time'],
    ['e', 'note'],
    ['[ ]', 'range'],
    ['x', 'excerpt'],
    ['0', 'start'],
    ['q', 'back'],
  ],
  typing: [
    ['Enter', 'done'],
    ['Esc', 'cancel'],
  ],
};

const GAP = '   ';
const hintLength = ([k, what]: [string, string]) => k.length + 2 + 1 + what.length;

/** The hints of a mode split into lines no wider than `width`. */
export function footerLines(mode: FooterMode, width: number): [string, string][][] {
  const out: [string, string][][] = [];
  let line: [string, string][] = [];
  let used = 0;
  for (const h of HINTS[mode]) {
    const need = (line.length > 0 ? GAP.length : 0) + hintLength(h);
    if (line.length > 0 && used + need > width) {
      out.push(line);
      line = [];
      used = 0;
    }
    used += (line.length > 0 ? GAP.length : 0) + hintLength(h);
    line.push(h);
  }
  if (line.length > 0) out.push(line);
  return out;
}

export function Footer({ mode, width = 80 }: FooterProps) {
  if (mode === 'quitting') {
    return (
      <Box width={width}>
        <Text dimColor>Closing the connection to the recorder…</Text>
      </Box>
    );
  }
  return (
    <Box width={width} flexDirection="column">
      {footerLines(mode, width).map((line, n) => (
        <Text key={n}>
          {line.map(([k, what], i) => (
            <Text key={k}>
              {i > 0 ? GAP : ''}
              <Text bold inverse>{` ${k} `}</Text>
              <Text>{` ${what}`}</Text>
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  );
}
