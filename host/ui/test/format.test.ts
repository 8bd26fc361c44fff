import { describe, expect, it } from 'vitest';
import { clip, describeBattery, describeClock, formatBytes, formatDateTime, formatDuration, formatRate, formatTimeLeft } from '../format.js';

describe('plain-language formatting', () => {
  it('formats sizes, lengths, rates and time left in everyday units', () => {
    expect(formatBytes(999)).toBe('999 bytes');
    expect(formatBytes(1_500_000)).toBe('1.5 MB');
    expect(formatBytes(15_931_539_456)).toBe('15.9 GB');
    expect(formatDuration(42)).toBe('0:42');
    expect(formatDuration(3753)).toBe('1:02:33');
    expect(formatRate(1_250_000)).toBe('1.3 MB/s');
    expect(formatTimeLeft(5)).toBe('a few seconds');
    expect(formatTimeLeft(61)).toBe('about 1 minute');
    expect(formatTimeLeft(4800)).toBe('about 1 h 20 min');
    expect(formatTimeLeft(Number.NaN)).toBe('working it out');
  });

  it('describes the clock offset and says whether it was corrected', () => {
    expect(describeClock(-3000, true)).toBe('clock was 3 s slow, corrected');
    expect(describeClock(7_200_000, false)).toBe('clock was 2 h fast');
    expect(describeClock(400, true)).toBe('clock is right');
    expect(describeClock(null, false)).toBe('clock not checked yet');
    // What the app did, not an instruction (issue 15: "set it now" read as a step with no key).
    expect(describeClock(null, true, true)).toBe('clock had not been set; the app set it from this computer');
  });

  it('gives dates, battery and clipped text', () => {
    expect(formatDateTime(Date.UTC(2025, 2, 12, 14, 3), true)).toBe('12 Mar 2025 14:03');
    expect(formatDateTime(0, true)).toBe('date not known');
    expect(describeBattery(4200, false)).toBe('about 100%');
    expect(describeBattery(3400, true)).toBe('low (about 10%), charge it soon');
    expect(describeBattery(0, false)).toBe('not known');
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('abc', 4)).toBe('abc');
  });
});
