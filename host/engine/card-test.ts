/**
 * The card test (CARD_TEST, issue 16) on the host side: the request's timeout from its size, the
 * result in plain units, and the verdict a person lending the recorder needs: can this card hold
 * a loan's recordings at the chosen sample rate without losing audio?
 */
import { BUTTON_SCHEME, CARD_FS_STATE, CARD_LAYOUT } from '../../protocol/src/schema.js';
import type { CardTest } from '../../protocol/generated/types.js';

export interface CardTestResult {
  /** Bytes of the card's file system. */
  capacityBytes: number;
  /** Free bytes before the test (its scratch file is deleted again). */
  freeBytes: number;
  testedBytes: number;
  /** Measured with the recorder's own clock. */
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
  /** Writing and reading back, ms. */
  elapsedMs: number;
  fileSystem: 'ok' | 'repaired' | 'damaged';
  readBackMatched: boolean;
}

export interface CardProblem {
  code: 'CARD_TOO_SLOW' | 'CARD_TOO_SMALL' | 'CARD_READBACK_MISMATCH' | 'CARD_DAMAGED';
  message: string;
  action: string;
}

export interface CardVerdict {
  ok: boolean;
  problems: CardProblem[];
}

export type ButtonSchemeName = 'standard' | 'no-markers';

export function buttonSchemeName(v: number): ButtonSchemeName {
  return v === BUTTON_SCHEME.NO_MARKERS ? 'no-markers' : 'standard';
}

export function buttonSchemeValue(name: ButtonSchemeName): number {
  return name === 'no-markers' ? BUTTON_SCHEME.NO_MARKERS : BUTTON_SCHEME.STANDARD;
}

/**
 * The slowest rate a recorder is taken to write and read its card at during CARD_TEST, bytes per
 * second: a card this slow fails the test at every sample rate; the request's timeout leaves room
 * for it so that the test's answer, not a timeout, says the card is slow.
 */
export const SLOWEST_CARD_BYTES_PER_S = 50_000;

/** The request timeout of a CARD_TEST of `bytes` (0: the recorder's default). */
export function cardTestTimeoutMs(bytes: number, requestTimeoutMs: number): number {
  const b = bytes > 0 ? bytes : CARD_LAYOUT.cardTestDefaultBytes;
  return requestTimeoutMs + Math.ceil((2 * b * 1000) / SLOWEST_CARD_BYTES_PER_S);
}

export function cardTestResult(v: CardTest): CardTestResult {
  return {
    capacityBytes: Number(v.capacityBytes),
    freeBytes: Number(v.freeBytes),
    testedBytes: v.testedBytes,
    writeBytesPerSecond: v.writeBytesPerSecond,
    readBytesPerSecond: v.readBytesPerSecond,
    elapsedMs: v.writeMs + v.readMs,
    fileSystem: v.fileSystem === CARD_FS_STATE.OK ? 'ok' : v.fileSystem === CARD_FS_STATE.REPAIRED ? 'repaired' : 'damaged',
    readBackMatched: v.readBackMatched === 1,
  };
}

/**
 * How many times the audio's own rate the card must write, measured by CARD_TEST. Why 4:
 * - x2: the recorder's buffer rides out a card that stalls for about a second (a card busy with
 *   wear levelling; docs/firmware.md "Recording"); to be ready for the next stall the card must
 *   then write the second it missed and the second coming, in one second.
 * - x2: the test writes long runs of blocks (up to the buffer's size per write), the best case; a
 *   recording writes the blocks as they fill, in shorter runs, and rewrites its header, directory
 *   entry and journal between them every 750 ms, each costing the card's slower small-write time.
 */
export const CARD_SPEED_MARGIN = 4;
/** An encrypted recording's extra bytes: a 16-byte tag per 64 KiB chunk (age), the rest is the WAV. */
const ENCRYPTION_OVERHEAD = 1 + 16 / 65536;
/** Hours a card must hold when nobody says otherwise: a day's meetings. */
export const DEFAULT_MINIMUM_HOURS = 8;

/** Bytes per second a recording at this sample rate writes (16-bit mono). */
export function recordingBytesPerSecond(sampleRate: number, encrypted: boolean): number {
  return sampleRate * 2 * (encrypted ? ENCRYPTION_OVERHEAD : 1);
}

const kbps = (b: number): string => `${Math.round(b / 1000).toLocaleString('en-GB')} KB/s`;
const hoursText = (h: number): string => (h >= 10 ? `${Math.floor(h)} hours` : `${Math.floor(h * 10) / 10} hours`);

/** Whether a tested card will do for a loan at this sample rate, and what is wrong if not. */
export function cardVerdict(r: CardTestResult, o: { sampleRate: number; encrypted: boolean; minimumHours?: number }): CardVerdict {
  const problems: CardProblem[] = [];
  const rate = recordingBytesPerSecond(o.sampleRate, o.encrypted);
  const needed = rate * CARD_SPEED_MARGIN;
  const minimumHours = o.minimumHours ?? DEFAULT_MINIMUM_HOURS;
  if (!r.readBackMatched) {
    problems.push({
      code: 'CARD_READBACK_MISMATCH',
      message: 'The memory card did not give back what the recorder wrote on it: recordings on it could be damaged.',
      action: 'Do not use this card. Put in a new memory card and test again.',
    });
  }
  if (r.fileSystem === 'damaged') {
    problems.push({
      code: 'CARD_DAMAGED',
      message: 'The memory card\'s filing system was damaged; the recorder had to cut parts of it to go on.',
      action: 'Copy off anything you need (recorder sync), then format the card (recorder format) or use a new one, and test again.',
    });
  }
  if (r.writeBytesPerSecond < needed) {
    problems.push({
      code: 'CARD_TOO_SLOW',
      message: `The memory card writes ${kbps(r.writeBytesPerSecond)}; recording at ${o.sampleRate} Hz needs at least ${kbps(needed)} (${CARD_SPEED_MARGIN} times the ${kbps(rate)} of the sound, so a slow moment of the card loses nothing).`,
      action: o.sampleRate > 16000 ? 'Use a faster memory card (one marked class 10, U1 or faster), or choose a lower sample rate, and test again.' : 'Use a faster memory card (one marked class 10, U1 or faster) and test again.',
    });
  }
  const hours = r.freeBytes / rate / 3600;
  if (hours < minimumHours) {
    problems.push({
      code: 'CARD_TOO_SMALL',
      message: `The memory card has room for about ${hoursText(hours)} of recording at ${o.sampleRate} Hz; a loan needs at least ${minimumHours} hours.`,
      action: 'Copy the recordings off and free the card (recorder sync, then recorder wipe), use a larger card, or choose a lower sample rate.',
    });
  }
  return { ok: problems.length === 0, problems };
}
