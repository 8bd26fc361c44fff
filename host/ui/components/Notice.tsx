/**
 * One message: what happened, and what to do next. Calm colours: yellow for "needs you",
 * red only for real failures.
 */

import { Box, Text } from 'ink';
import type { Notice } from '../messages.js';

export interface NoticeViewProps {
  notice: Notice;
  width?: number;
}

const COLORS = { info: 'cyan', warning: 'yellow', error: 'red' } as const;

export function NoticeView({ notice, width = 80 }: NoticeViewProps) {
  const color = COLORS[notice.tone];
  return (
    <Box borderStyle="round" borderColor={color} paddingX={1} width={width} flexDirection="column">
      <Text bold color={color}>
        {notice.title}
      </Text>
      {notice.action ? <Text>{notice.action}</Text> : null}
    </Box>
  );
}
