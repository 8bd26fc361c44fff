/**
 * Plain-language wording shared by the views. Pure functions, no Ink.
 *
 * The people reading these words are parents and advocates: say what happened in everyday
 * language, with units a non-engineer recognises (GB, minutes), and never a bare error code.
 */
import { estimateText } from '../engine/placement.js';
import { clockSinceSetText, type ClockSinceSet } from '../engine/clock-since-set.js';

/** Bytes as "1.4 GB", "820 MB", "12 KB" (decimal units, as on the card's packaging). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1000) return `${Math.round(bytes)} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  const digits = v >= 100 ? 0 : 1;
  return `${v.toFixed(digits)} ${units[u]}`;
}

/** A length of audio as "0:42", "12:05" or "1:02:33". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** Time still to wait, in words: "less than a minute", "about 3 minutes", "about 1 h 20 min". */
export function formatTimeLeft(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'working it out';
  if (seconds < 10) return 'a few seconds';
  if (seconds < 60) return 'less than a minute';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `about ${h} h` : `about ${h} h ${m} min`;
}

/** Transfer rate as "1.2 MB/s". */
export function formatRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '— MB/s';
  return `${(bytesPerSecond / 1e6).toFixed(bytesPerSecond >= 10e6 ? 0 : 1)} MB/s`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A date and time as "12 Mar 2025 14:03", in local time unless `utc` is set (tests use UTC so
 * they do not depend on the machine's time zone). Unknown dates (0 or missing) are
 * "date not known", which is what a recorder whose clock was never set reports.
 */
export function formatDateTime(unixMs: number | null | undefined, utc = false): string {
  if (unixMs === null || unixMs === undefined || !Number.isFinite(unixMs) || unixMs <= 0) return 'date not known';
  const d = new Date(unixMs);
  const day = utc ? d.getUTCDate() : d.getDate();
  const month = utc ? d.getUTCMonth() : d.getMonth();
  const year = utc ? d.getUTCFullYear() : d.getFullYear();
  const hh = utc ? d.getUTCHours() : d.getHours();
  const mm = utc ? d.getUTCMinutes() : d.getMinutes();
  return `${day} ${MONTHS[month]} ${year} ${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`;
}

/**
 * When a recording started: its date and time, or for one made without a clock its estimate
 * (host/engine/placement.ts): short for a column ("est. 7 Dec 14:05"), or in full ("7 Dec 2026,
 * about 14:05 (between 13:58 and 14:12, estimated: the recorder's clock was lost)").
 */
export function formatStart(
  startUnixMs: number | null | undefined,
  estimate: { startUnixMs: number; earliestUnixMs: number | null; latestUnixMs: number } | null | undefined,
  utc = false,
  full = false,
): string {
  if (startUnixMs || !estimate) return formatDateTime(startUnixMs, utc);
  const date = formatDateTime(estimate.startUnixMs, utc);
  const hhmm = (ms: number) => formatDateTime(ms, utc).slice(-5);
  if (!full) return `est. ${date.replace(/ \d{4} /, ' ')}`;
  return `${date.slice(0, -6)}, ${estimateText(estimate, hhmm)}`;
}

/** A dated recording's clock in words: "clock set 3 Mar 2026 09:12; it had drifted 1.2 s fast (4 ppm) by the next sync". */
export function formatClockSinceSet(c: ClockSinceSet, utc = false): string {
  return clockSinceSetText(c, (ms) => formatDateTime(ms, utc));
}

/** Amount of time in words, for the clock offset: "3 s", "4 min", "2 h", "5 days". */
function amountOfTime(ms: number): string {
  const s = Math.abs(ms) / 1000;
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  const min = s / 60;
  if (min < 90) return `${Math.round(min)} min`;
  const h = min / 60;
  if (h < 48) return `${Math.round(h)} h`;
  const days = Math.round(h / 24);
  return `${days} days`;
}

/**
 * The recorder's clock compared with this computer's, in words.
 * `offsetMs` is device time minus computer time: negative means the recorder was slow.
 * `corrected` says whether the app set the recorder's clock afterwards.
 */
export function describeClock(offsetMs: number | null | undefined, corrected: boolean, neverSet = false): string {
  // Says what the app did, not what to do: there is nothing left for the reader to set.
  if (neverSet) return corrected ? 'clock had not been set; the app set it from this computer' : 'clock has not been set';
  if (offsetMs === null || offsetMs === undefined || !Number.isFinite(offsetMs)) return 'clock not checked yet';
  if (Math.abs(offsetMs) < 1000) return 'clock is right';
  const dir = offsetMs < 0 ? 'slow' : 'fast';
  return `clock was ${amountOfTime(offsetMs)} ${dir}${corrected ? ', corrected' : ''}`;
}

/** Battery in words. `percent` if the engine knows it, else millivolts (single Li-ion cell). */
export function describeBattery(batteryMv: number | null | undefined, low: boolean): string {
  if (batteryMv === null || batteryMv === undefined || batteryMv <= 0) return low ? 'low' : 'not known';
  // A rough single-cell estimate: 3.3 V empty, 4.2 V full. Good enough to say "about".
  const pct = Math.round(Math.min(1, Math.max(0, (batteryMv - 3300) / 900)) * 100);
  const rounded = Math.round(pct / 10) * 10;
  return low || pct < 15 ? `low (about ${rounded}%), charge it soon` : `about ${rounded}%`;
}

/** A stretch of recording time, roughly: "about 40 min", "about 9 h", "about 3 days". */
export function aboutHours(seconds: number): string {
  const min = Math.round(seconds / 60);
  if (min < 1) return 'under a minute';
  if (min < 60) return `about ${min} min`;
  const h = Math.round(seconds / 3600);
  return h < 72 ? `about ${h} h` : `about ${Math.round(h / 24)} days`;
}

/**
 * Recording time left, from the card's room and the battery's charge (INFO; the battery's from
 * the recorder's cell model, so an estimate): "about 9 h of card, about 6 h of battery (estimate)".
 */
export function describeTimeLeft(cardSeconds: number | null | undefined, batterySeconds: number | null | undefined): string {
  const card = cardSeconds === null || cardSeconds === undefined ? null : `${aboutHours(cardSeconds)} of card`;
  const battery = batterySeconds === null || batterySeconds === undefined ? null : `${aboutHours(batterySeconds)} of battery (estimate)`;
  return [card, battery].filter((x) => x !== null).join(', ') || 'not known';
}

/** Clips text to at most `width` characters, ending in "…" when clipped. */
export function clip(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = Array.from(text);
  if (chars.length <= width) return text;
  return chars.slice(0, Math.max(0, width - 1)).join('') + '…';
}

/** "1 recording" / "3 recordings". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
