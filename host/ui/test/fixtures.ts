/** Test data for the UI tests: engine events, a device, recordings, and a width check. */

import { stripVTControlCharacters } from 'node:util';
import type { DeviceSummary, EngineEvent, EventInput, RecordingSummary } from '../../engine/events.js';
import type { LibraryEntry } from '../../engine/listing.js';

let clock = Date.UTC(2025, 2, 12, 14, 0, 0);

/** Stamps an event with `at`, one second after the previous one. */
export function ev(e: EventInput): EngineEvent {
  clock += 1000;
  return { ...e, at: new Date(clock).toISOString() } as EngineEvent;
}

export function device(over: Partial<DeviceSummary> = {}): DeviceSummary {
  return {
    deviceId: '0123456789abcdef',
    label: 'Kitchen table recorder',
    model: 'ER-1',
    firmware: '1.2.3',
    protocolVersion: 1,
    simulated: false,
    discreet: false,
    clockSet: true,
    lowBattery: false,
    encrypting: false,
    buttonScheme: 'standard',
    batteryMv: 4020,
    recState: 'idle',
    cardState: 'ok',
    sampleRate: 16000,
    cardCapacity: '15931539456',
    cardFree: '12300000000',
    clockUnixMs: String(Date.UTC(2025, 2, 12, 14, 0, 0)),
    uptimeMs: '3600000',
    currentNumber: 0,
    currentSamples: 0,
    nextNumber: 9,
    recordingCount: 3,
    journalCount: 8,
    overrunsTotal: 0,
    cardSecondsLeft: 9 * 3600,
    batterySecondsLeft: 6 * 3600,
    maxPayload: 4096,
    maxInFlight: 4,
    ...over,
  };
}

/** A finished recording; `startUnixMs` 12 Mar 2025 09:30 UTC plus `number` hours. */
export function recording(number: number, over: Partial<RecordingSummary> = {}): RecordingSummary {
  return {
    number,
    state: 'finished',
    deviceName: `REC${String(number).padStart(5, '0')}.WAV`,
    size: 1_000_000 * number,
    dataOffset: 1024,
    sampleRate: 16000,
    sampleCount: 16000 * 62,
    durationMs: 62_000,
    startUnixMs: String(Date.UTC(2025, 2, 12, 9 + number, 30, 0)),
    stopReason: 'button',
    clockSet: true,
    recovered: false,
    encrypted: false,
    sha256: 'ab'.repeat(32),
    ...over,
  };
}

/** Lines of a frame as a person sees them (colours removed). */
export function lines(frame: string | undefined): string[] {
  return stripVTControlCharacters(frame ?? '').split('\n');
}

/** Widest line of a frame, in characters (the UI uses no double-width characters). */
export function widest(frame: string | undefined): number {
  return Math.max(0, ...lines(frame).map((l) => Array.from(l).length));
}

/** Throws unless every line of the frame fits in `columns`. */
export function assertFits(frame: string | undefined, columns = 80): void {
  const bad = lines(frame).filter((l) => Array.from(l).length > columns);
  if (bad.length > 0) throw new Error(`${bad.length} line(s) wider than ${columns}:\n${bad.join('\n')}`);
}

/** The frame as plain text with the box-drawing borders and runs of spaces folded, for wording checks. */
export function text(frame: string | undefined): string {
  return lines(frame)
    .map((l) => l.replace(/[│╭╮╰╯─║╔╗╚╝═]/g, ' ').trim())
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Options for vi.waitFor where the awaited frame follows real work (a sync, a library check):
 * its default of 1 s failed a CI run on a loaded machine; this only waits longer, never passes more.
 */
export const SETTLE = { timeout: 15_000, interval: 10 };

/** A recording in the library (Kitchen #n, 10+n Mar 2025 10:00 UTC, 1:30 long). */
export function libraryEntry(number: number, over: Partial<LibraryEntry> = {}): LibraryEntry {
  return {
    key: `0123456789abcdef:${number}`,
    folder: '/lib/Kitchen',
    copyPath: `/lib/Kitchen/REC${number}.wav`,
    manifestPath: `/lib/Kitchen/REC${number}.json`,
    deviceId: '0123456789abcdef',
    deviceLabel: 'Kitchen',
    simulated: false,
    number,
    startUnixMs: Date.UTC(2025, 2, 10 + number, 10),
    durationMs: 90_000,
    sampleRate: 16000,
    markers: [],
    verification: 'verified',
    problems: [],
    encrypted: false,
    decrypted: false,
    playablePath: `/lib/Kitchen/REC${number}.wav`,
    ...over,
  };
}

/** Two markers, at 0:20 and 1:05. */
export const MARKERS = [
  { number: 1, sampleOffset: 320_000, timeMs: 20_000, label: 'Marker 1' },
  { number: 2, sampleOffset: 1_040_000, timeMs: 65_000, label: 'Marker 2' },
];
