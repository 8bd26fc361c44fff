/**
 * Placing in time a recording made without a clock (issue 16). The recorder has no battery-backed
 * clock: a flat battery loses it, and it still records, with its uptime (ms since it started).
 * Every boot that finds the clock lost journals CLOCK_LOST at its first mount, before anything
 * else it records (once the clock has ever been set), so the records from one CLOCK_LOST to the
 * next share one uptime count. Within such a boot an anchor (a moment whose uptime and true time
 * are both known) places the recording: the INFO exchange of this sync when it is the boot
 * running now, or a CLOCK_SET of that boot (the host's time when it set the clock). Without one,
 * the journal's order bounds it: after the clock sets before it, before the ones after it, and
 * before now.
 *
 * Every bound allows for the recorder's crystal (DRIFT_BOUND_PPM) over the uptime between the
 * recording and the anchor, and for the anchor's own uncertainty, so the interval contains the
 * true start (test/flat-battery-sim.test.ts checks it end to end).
 */
import { JOURNAL_KIND, RECORD_FLAGS } from '../../protocol/src/schema.js';
import type { JournalEntry } from './journal.js';

/**
 * The most the recorder's uptime may run fast or slow, parts per million. The RP2040 board's
 * 12 MHz crystal is specified to some 30 ppm with temperature; 100 leaves room for a worse part.
 */
export const DRIFT_BOUND_PPM = 100;
/**
 * How long after the host read its clock for SET_TIME the recorder may have set it: the request
 * with its retries (2 s timeout, 3 retries of the same time: client.ts).
 */
export const SET_TIME_LATENCY_BOUND_MS = 8000;

/** What this sync saw at its INFO exchange: the recorder's uptime and the host's clock then. */
export interface UptimeReference {
  /** The host's clock halfway through the INFO exchange, ms since 1970. */
  hostUnixMs: number;
  /** The recorder's uptime in that INFO. */
  deviceUptimeMs: number;
  /** How long the exchange took: the uptime was read within half of it of hostUnixMs. */
  roundTripMs: number;
}

export type PlacementMethod = 'same-boot-as-this-sync' | 'same-boot-as-a-clock-set' | 'journal-order';

/** Where a recording made without a clock lies in time, by the journal and this sync. */
export interface TimeEstimate {
  /** Best estimate of the start: the middle of the interval (its latest end when it has no earliest). */
  startUnixMs: number;
  /** The start is not before this (null: nothing bounds it from below). */
  earliestUnixMs: number | null;
  /** The start is not after this. */
  latestUnixMs: number;
  /** Half the interval, ms (null without an earliest). */
  errorMs: number | null;
  method: PlacementMethod;
  estimated: true;
}

interface Interval {
  lo: number;
  hi: number;
}

const p = DRIFT_BOUND_PPM / 1e6;

/** The records from one CLOCK_LOST to the next: one boot when `oneBoot`. */
interface Segment {
  start: number;
  end: number; // exclusive
  oneBoot: boolean;
  /** The highest uptime journalled in it (how long that boot ran, at least). */
  lastUptimeMs: number;
}

/** Records whose uptimes are of the boot that journalled them (recovery writes an earlier boot's recording). */
function uptimeOfThisBoot(e: JournalEntry): boolean {
  const r = e.record;
  if (r.kind === JOURNAL_KIND.FOUND_UNJOURNALED) return false;
  return !(r.kind === JOURNAL_KIND.RECORDING && r.flags & RECORD_FLAGS.RECOVERED);
}

function segmentsOf(entries: JournalEntry[]): Segment[] {
  const out: Segment[] = [];
  let cur: Segment | null = null;
  let lastUp = -1;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const up = Number(e.record.stopUptimeMs);
    const lost = e.record.kind === JOURNAL_KIND.CLOCK_LOST;
    // A fall in uptime proves a restart too, but not that nothing else restarted before it.
    const restarted = uptimeOfThisBoot(e) && up < lastUp;
    if (!cur || lost || restarted) {
      if (cur) out.push(cur);
      cur = { start: i, end: i, oneBoot: lost, lastUptimeMs: 0 };
      lastUp = -1;
    }
    cur.end = i + 1;
    if (uptimeOfThisBoot(e)) {
      lastUp = Math.max(lastUp, up);
      cur.lastUptimeMs = Math.max(cur.lastUptimeMs, up);
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** The start by an anchor (true time within [lo, hi] at uptime `at`), for a start at uptime `u`. */
function fromAnchor(a: Interval, at: number, u: number): Interval {
  const d = u - at;
  return d >= 0 ? { lo: a.lo + d * (1 - p), hi: a.hi + d * (1 + p) } : { lo: a.lo + d * (1 + p), hi: a.hi + d * (1 - p) };
}

function clockSetAnchor(e: JournalEntry): Interval {
  const to = Number(e.record.stopUnixMs);
  return { lo: to, hi: to + SET_TIME_LATENCY_BOUND_MS };
}

function estimate(iv: Interval, method: PlacementMethod): TimeEstimate {
  const lo = Math.floor(iv.lo);
  const hi = Math.ceil(iv.hi);
  return { startUnixMs: Math.round((lo + hi) / 2), earliestUnixMs: lo, latestUnixMs: hi, errorMs: Math.ceil((hi - lo) / 2), method, estimated: true };
}

/**
 * The time estimate of the recording whose journal record is `target` (a RECORDING made without a
 * clock), from the whole journal of its epoch (`entries`, in order) and this sync's INFO exchange.
 * Null for a recording with a clock.
 */
export function placeRecording(entries: JournalEntry[], target: JournalEntry, now: UptimeReference): TimeEstimate | null {
  const r = target.record;
  if (r.flags & RECORD_FLAGS.CLOCK_SET) return null;
  const at = entries.findIndex((e) => e.index === target.index);
  if (at < 0) return null;
  const durationMs = r.sampleRate > 0 ? (r.sampleCount * 1000) / r.sampleRate : 0;
  const segs = segmentsOf(entries);
  const segIx = segs.findIndex((s) => at >= s.start && at < s.end);
  const seg = segs[segIx]!;
  const u = Number(r.startUptimeMs);
  const hasUptime = uptimeOfThisBoot(target);

  // Within one boot: every anchor of that boot bounds the start; their intersection is the answer.
  if (seg.oneBoot && hasUptime) {
    let iv: Interval | null = null;
    // named after the anchor that bounds it most closely on its own
    let method: PlacementMethod = 'same-boot-as-a-clock-set';
    let bestWidth = Infinity;
    const take = (a: Interval, atUp: number, m: PlacementMethod) => {
      const b = fromAnchor(a, atUp, u);
      if (b.hi - b.lo < bestWidth) {
        bestWidth = b.hi - b.lo;
        method = m;
      }
      iv = iv ? { lo: Math.max(iv.lo, b.lo), hi: Math.min(iv.hi, b.hi) } : b;
    };
    for (let i = seg.start; i < seg.end; i++) {
      const e = entries[i]!;
      if (e.record.kind === JOURNAL_KIND.CLOCK_SET) take(clockSetAnchor(e), Number(e.record.stopUptimeMs), 'same-boot-as-a-clock-set');
    }
    // The boot running now: the last one, and no later boot (each would have journalled CLOCK_LOST).
    // (Records after the INFO, such as this sync's CLOCK_SET, may have later uptimes; the
    // recording itself cannot.)
    if (segIx === segs.length - 1 && Number(r.stopUptimeMs) <= now.deviceUptimeMs) {
      const half = now.roundTripMs / 2;
      take({ lo: now.hostUnixMs - half, hi: now.hostUnixMs + half }, now.deviceUptimeMs, 'same-boot-as-this-sync');
    }
    if (iv) return estimate(iv, method);
  }

  // By the journal's order. A record before this one was journalled before it stopped; a clock
  // set in an earlier boot happened before this boot began (and so before its uptime u).
  let lo: number | null = null;
  for (let k = 0; k < segs.length; k++) {
    const s = segs[k]!;
    for (let i = s.start; i < Math.min(s.end, at); i++) {
      const e = entries[i]!;
      if (e.record.kind !== JOURNAL_KIND.CLOCK_SET) continue;
      const set = clockSetAnchor(e).lo;
      const bound = k < segIx && seg.oneBoot && hasUptime ? set + u * (1 - p) : set - durationMs * (1 + p);
      lo = lo === null ? bound : Math.max(lo, bound);
    }
  }
  // After: it stopped before any later record was journalled, and a later boot began after its
  // boot ended (after the last uptime journalled in it).
  let hi = now.hostUnixMs + now.roundTripMs / 2 - durationMs * (1 - p);
  const last = segs[segs.length - 1]!;
  if (segIx < segs.length - 1 && last.oneBoot && seg.oneBoot && hasUptime) {
    // the boot running now began at the INFO's time less its uptime, after this one ended
    hi = Math.min(hi, now.hostUnixMs + now.roundTripMs / 2 - now.deviceUptimeMs * (1 - p) - (seg.lastUptimeMs - u) * (1 - p));
  }
  for (let k = segIx; k < segs.length; k++) {
    const s = segs[k]!;
    for (let i = Math.max(s.start, at + 1); i < s.end; i++) {
      const e = entries[i]!;
      if (e.record.kind !== JOURNAL_KIND.CLOCK_SET) continue;
      const set = clockSetAnchor(e).hi;
      let bound = set - durationMs * (1 - p);
      if (k > segIx && seg.oneBoot && s.oneBoot && hasUptime) {
        // the later boot began at set - its uptime; this one ended at least lastUptime - u after the start
        bound = Math.min(bound, set - Number(e.record.stopUptimeMs) * (1 - p) - (seg.lastUptimeMs - u) * (1 - p));
      }
      hi = Math.min(hi, bound);
    }
  }
  const out = estimate({ lo: lo ?? hi, hi }, 'journal-order');
  if (lo === null) return { ...out, startUnixMs: out.latestUnixMs, earliestUnixMs: null, errorMs: null };
  return out;
}

/** Journal records of `entries` indexed by their recording number, for recordings. */
export function estimatesByNumber(entries: JournalEntry[], now: UptimeReference): Map<number, TimeEstimate> {
  const out = new Map<number, TimeEstimate>();
  for (const e of entries) {
    if (e.record.kind !== JOURNAL_KIND.RECORDING && e.record.kind !== JOURNAL_KIND.FOUND_UNJOURNALED) continue;
    const est = placeRecording(entries, e, now);
    if (est) out.set(e.record.number, est);
  }
  return out;
}

const hm = (ms: number) => {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

/** "about 14:05 (between 13:58 and 14:12, estimated: the recorder's clock was lost)", in host local time. */
export function estimateText(e: Pick<TimeEstimate, 'startUnixMs' | 'earliestUnixMs' | 'latestUnixMs'>, format: (ms: number) => string = hm): string {
  const why = "estimated: the recorder's clock was lost";
  if (e.earliestUnixMs === null) return `before ${format(e.latestUnixMs)} (${why})`;
  return `about ${format(e.startUnixMs)} (between ${format(e.earliestUnixMs)} and ${format(e.latestUnixMs)}, ${why})`;
}
