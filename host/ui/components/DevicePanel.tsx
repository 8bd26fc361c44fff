/**
 * The recorder: who it is, how full, how charged, whether its clock was right, and whether it
 * is recording right now. A simulated recorder (the demo) says so in a badge nobody can miss.
 */

import { Box, Text } from 'ink';
import type { DeviceSummary } from '../../engine/events.js';
import type { ClockView, Connection } from '../state.js';
import { aboutHours, describeBattery, describeClock, formatBytes } from '../format.js';

export interface DevicePanelProps {
  device: DeviceSummary | null;
  clock: ClockView;
  connection: Connection;
  port: string | null;
  width?: number;
}

function cardText(d: DeviceSummary): string {
  switch (d.cardState) {
    case 'none':
      return 'no memory card in the recorder';
    case 'error':
      return 'the memory card has a problem — do not format it';
    case 'unformatted':
      return 'the memory card is not set up';
    default: {
      const free = Number(d.cardFree);
      const cap = Number(d.cardCapacity);
      const full = d.cardState === 'full' ? ' (full — recording has stopped)' : '';
      const left = d.cardState === 'ok' && d.cardSecondsLeft != null ? `, ${aboutHours(d.cardSecondsLeft)}` : '';
      return `${formatBytes(free)} free of ${formatBytes(cap)}${left}${full}`;
    }
  }
}

function recordingText(d: DeviceSummary): { text: string; color?: string } {
  switch (d.recState) {
    case 'recording':
      return {
        text: 'recording now — recording continues while you copy',
        color: 'red',
      };
    case 'finalising':
      return { text: 'finishing a recording — it will be ready in a moment' };
    case 'error':
      return { text: 'the recorder reports a problem — keep it and contact your advocate', color: 'red' };
    default:
      return { text: 'not recording' };
  }
}

/** "0123 4567 89ab cdef": easier to read aloud on the phone. */
function groupedId(id: string): string {
  return id.replace(/(.{4})(?=.)/g, '$1 ');
}

function Line({ label, children, color }: { label: string; children: string; color?: string }) {
  return (
    <Box>
      <Box width={11} flexShrink={0}>
        <Text dimColor>{label}</Text>
      </Box>
      <Box flexGrow={1}>
        <Text color={color}>{children}</Text>
      </Box>
    </Box>
  );
}

export function DevicePanel({ device, clock, connection, port, width = 80 }: DevicePanelProps) {
  if (!device) {
    const text =
      connection === 'looking'
        ? `Looking for the recorder${port ? ` on ${port}` : ''}…`
        : connection === 'unplugged'
          ? 'The recorder is unplugged.'
          : connection === 'connected'
            ? `Connected${port ? ` on ${port}` : ''}; reading the recorder…`
            : 'No recorder connected yet. Plug it in with its USB cable, then press s.';
    return (
      <Box borderStyle="round" borderColor="gray" paddingX={1} width={width} flexDirection="column">
        <Text>{text}</Text>
      </Box>
    );
  }
  const rec = recordingText(device);
  const name = device.label.trim() !== '' ? device.label : 'Recorder with no name';
  return (
    <Box borderStyle="round" borderColor={device.simulated ? 'magenta' : 'cyan'} paddingX={1} width={width} flexDirection="column">
      {device.simulated ? (
        <Text bold inverse color="magenta">
          {' SIMULATED RECORDER (demo) — not a real device '}
        </Text>
      ) : null}
      <Text>
        <Text bold>{name}</Text>
        <Text dimColor>{`  ${device.model} · id ${groupedId(device.deviceId)} · firmware ${device.firmware}`}</Text>
      </Text>
      <Line label="Battery" color={device.lowBattery ? 'yellow' : undefined}>
        {describeBattery(device.batteryMv, device.lowBattery) + (device.batterySecondsLeft != null ? `, ${aboutHours(device.batterySecondsLeft)} of recording (estimate)` : '')}
      </Line>
      <Line label="Card" color={device.cardState === 'ok' ? undefined : 'yellow'}>
        {cardText(device)}
      </Line>
      <Line label="Clock" color={clock.neverSet && !clock.corrected ? 'yellow' : undefined}>
        {describeClock(clock.offsetMs, clock.corrected, clock.neverSet)}
      </Line>
      <Line label="Now" color={rec.color}>
        {rec.text}
      </Line>
      <Line label="Privacy" color={device.encrypting ? undefined : 'yellow'}>
        {device.encrypting ? 'new recordings are encrypted to the owner key' : 'not encrypted: anyone with the recorder or its card can listen'}
      </Line>
      {connection === 'unplugged' ? <Text color="yellow">Unplugged — plug it back in to carry on.</Text> : null}
    </Box>
  );
}
