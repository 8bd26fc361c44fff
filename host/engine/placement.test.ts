import { describe, expect, it } from 'vitest';
import { JOURNAL_KIND, RECORD_FLAGS } from '../../protocol/src/schema.js';
import type { JournalRecord } from '../../protocol/generated/types.js';
import type { JournalEntry } from './journal.js';
import { DRIFT_BOUND_PPM, estimateText, placeRecording, SET_TIME_LATENCY_BOUND_MS, type UptimeReference } from './placement.js';

/**
 * A recorder's life in true time: boots whose uptime runs `drift` fast or slow, clock sets that
 * reach the recorder some latency after the host read its clock, and recordings made with or
 * without a clock. It writes the journal the firmware would, and remembers every true start.
 */
class Life {
  entries: JournalEntry[] = [];
  truth = new Map<number, number>();
  private boot = 0; // true time of the current boot
  private drift = 0;
  private clockBase: { unix: number; up: number } | null = null;
  private everSet = false;
  private number = 0;
  constructor(private t: number, private rand: () => number) {
    this.startBoot();
  }
  private up(): number {
    return Math.floor((this.t - this.boot) * (1 + this.drift));
  }
  private push(r: Partial<JournalRecord>): void {
    const index = this.entries.length;
    const record = { number: 0, startUnixMs: 0n, stopUnixMs: 0n, startUptimeMs: 0n, stopUptimeMs: BigInt(this.up()), sampleRate: 0, sampleCount: 0, stopReason: 0, flags: 0, kind: 0, overruns: 0, index, ...r } as JournalRecord;
    this.entries.push({ index, raw: Buffer.alloc(0), hash: Buffer.alloc(0), record });
  }
  wait(ms: number): this {
    this.t += ms;
    return this;
  }
  startBoot(): this {
    this.boot = this.t;
    this.drift = ((this.rand() * 2 - 1) * DRIFT_BOUND_PPM * 0.9) / 1e6;
    this.clockBase = null;
    this.t += 500; // the mount
    if (this.everSet) this.push({ kind: JOURNAL_KIND.CLOCK_LOST });
    return this;
  }
  /** The battery runs flat: the power goes, and comes back `offMs` later. */
  powerLoss(offMs: number): this {
    this.t += offMs;
    return this.startBoot();
  }
  /** The host reads its clock (`to`), and the recorder sets it some latency later. */
  setClock(): number {
    const to = this.t;
    this.t += Math.floor(this.rand() * SET_TIME_LATENCY_BOUND_MS);
    this.clockBase = { unix: to, up: this.up() };
    this.everSet = true;
    this.push({ kind: JOURNAL_KIND.CLOCK_SET, stopUnixMs: BigInt(to) });
    return to;
  }
  private clock(): number | null {
    return this.clockBase ? this.clockBase.unix + (this.up() - this.clockBase.up) : null;
  }
  record(seconds: number): number {
    const n = ++this.number;
    this.truth.set(n, this.t);
    const startUp = this.up();
    const startClock = this.clock();
    this.t += seconds * 1000;
    this.push({ kind: JOURNAL_KIND.RECORDING, number: n, sampleRate: 16000, sampleCount: Math.floor(((this.up() - startUp) * 16000) / 1000), startUptimeMs: BigInt(startUp), startUnixMs: BigInt(startClock ?? 0), stopUnixMs: BigInt(this.clock() ?? 0), flags: startClock !== null ? RECORD_FLAGS.CLOCK_SET : 0 });
    return n;
  }
  /** The sync's INFO exchange, taking `rtt` ms. */
  info(rtt: number): UptimeReference {
    this.t += rtt / 2;
    const ref = { hostUnixMs: Math.round(this.t), deviceUptimeMs: this.up(), roundTripMs: rtt };
    this.t += rtt / 2;
    return ref;
  }
  entryOf(n: number): JournalEntry {
    return this.entries.find((e) => e.record.kind === JOURNAL_KIND.RECORDING && e.record.number === n)!;
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const T0 = Date.UTC(2026, 11, 7, 13, 0);

describe('placing recordings made without a clock', () => {
  it('the boot running now is placed from the INFO exchange, within round trip and drift', () => {
    const life = new Life(T0, seeded(1));
    life.setClock();
    life.wait(60_000).record(30);
    life.powerLoss(3_600_000).wait(120_000);
    const n = life.record(600);
    life.wait(400_000);
    const ref = life.info(40);
    const e = placeRecording(life.entries, life.entryOf(n), ref)!;
    expect(e.method).toBe('same-boot-as-this-sync');
    const truth = life.truth.get(n)!;
    expect(e.earliestUnixMs!).toBeLessThanOrEqual(truth);
    expect(e.latestUnixMs).toBeGreaterThanOrEqual(truth);
    // round trip plus 100 ppm of the 1,000 s since: under a quarter of a second either way
    expect(e.errorMs!).toBeLessThan(250);
    // a dated recording needs no estimate
    expect(placeRecording(life.entries, life.entryOf(1), ref)).toBeNull();
  });

  it('an earlier boot is anchored by the clock set in it, and bounded by the journal without one', () => {
    const life = new Life(T0, seeded(2));
    life.setClock();
    life.powerLoss(60_000).wait(30_000);
    const anchored = life.record(60);
    life.wait(90_000);
    life.setClock(); // a sync in that boot
    life.wait(5_000);
    life.powerLoss(7_200_000).wait(20_000);
    const bounded = life.record(120);
    life.wait(10_000);
    life.powerLoss(1_800_000).wait(60_000);
    life.setClock(); // this sync's set
    const ref = life.info(30);
    const a = placeRecording(life.entries, life.entryOf(anchored), ref)!;
    expect(a.method).toBe('same-boot-as-a-clock-set');
    expect(a.errorMs!).toBeLessThanOrEqual(SET_TIME_LATENCY_BOUND_MS / 2 + 100);
    const b = placeRecording(life.entries, life.entryOf(bounded), ref)!;
    expect(b.method).toBe('journal-order');
    for (const [n, e] of [[anchored, a], [bounded, b]] as const) {
      expect(e.earliestUnixMs!).toBeLessThanOrEqual(life.truth.get(n)!);
      expect(e.latestUnixMs).toBeGreaterThanOrEqual(life.truth.get(n)!);
    }
    // after the set before it plus its uptime at the start, before the next boot's set less its uptime
    expect(b.earliestUnixMs!).toBeGreaterThan(life.truth.get(anchored)!);
    expect(b.latestUnixMs).toBeLessThan(ref.hostUnixMs - 60_000);
  });

  it('a recorder whose clock was never set has only an upper bound before its first set', () => {
    const life = new Life(T0, seeded(3));
    life.wait(10_000);
    const n = life.record(45);
    life.wait(100_000);
    life.setClock();
    const ref = life.info(20);
    const e = placeRecording(life.entries, life.entryOf(n), ref)!;
    expect(e.method).toBe('journal-order');
    expect(e.earliestUnixMs).toBeNull();
    expect(e.latestUnixMs).toBeGreaterThanOrEqual(life.truth.get(n)!);
    expect(e.startUnixMs).toBe(e.latestUnixMs);
    expect(estimateText(e, () => 'T')).toBe("before T (estimated: the recorder's clock was lost)");
  });

  it('every estimate contains the true start, over many random lives across reboots', () => {
    for (let seed = 10; seed < 210; seed++) {
      const rand = seeded(seed);
      const life = new Life(T0 + Math.floor(rand() * 1e9), rand);
      const undated: number[] = [];
      const steps = 8 + Math.floor(rand() * 12);
      for (let s = 0; s < steps; s++) {
        const what = rand();
        if (what < 0.2) life.powerLoss(Math.floor(rand() * 86_400_000));
        else if (what < 0.35) life.setClock();
        else {
          life.wait(Math.floor(rand() * 600_000));
          const n = life.record(1 + Math.floor(rand() * 3600));
          if (!(life.entryOf(n).record.flags & RECORD_FLAGS.CLOCK_SET)) undated.push(n);
        }
      }
      life.wait(Math.floor(rand() * 600_000));
      const ref = life.info(Math.floor(rand() * 200));
      for (const n of undated) {
        const e = placeRecording(life.entries, life.entryOf(n), ref)!;
        const truth = life.truth.get(n)!;
        expect({ seed, n, ok: (e.earliestUnixMs ?? -Infinity) <= truth && truth <= e.latestUnixMs }).toEqual({ seed, n, ok: true });
      }
    }
  });

  it('says what it estimates in plain words', () => {
    const fmt = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    const text = estimateText({ startUnixMs: Date.UTC(2026, 0, 1, 14, 5), earliestUnixMs: Date.UTC(2026, 0, 1, 13, 58), latestUnixMs: Date.UTC(2026, 0, 1, 14, 12) }, fmt);
    expect(text).toBe("about 14:05 (between 13:58 and 14:12, estimated: the recorder's clock was lost)");
  });
});
