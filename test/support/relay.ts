/**
 * A fault-injecting, pacing relay between the app and a device's serial link, for reliability
 * campaigns and benchmarks.
 *
 *   app (serialport on appLink)  <->  socat PTY <-> this relay <->  device pty (serialport)
 *
 * The device side is opened with the real `serialport` (the simulator's pty link, or any serial
 * port). Node cannot create a pseudo-terminal, so the app side is `socat PTY,link=appLink STDIO`:
 * the child's stdin/stdout are the master side, and `appLink` is the new terminal the app opens.
 *
 * Faults, all deterministic from `seed` as functions of the byte position in each direction's
 * stream (not of timing, so the same seed hits the same bytes whatever the chunking):
 *
 * - bytesPerSecond: a token bucket per direction (USB full speed ~1_000_000, a 921600-baud UART
 *   ~92_160).
 * - corruptRate: per byte, the probability of one flipped bit.
 * - dropRate: per byte, the probability that it is lost.
 * - dupRate: per byte, the probability that the 1..dupMaxBytes bytes just forwarded are sent
 *   again (a duplicated chunk).
 * - stallEveryBytes / stallMs: forwarding pauses stallMs every stallEveryBytes bytes.
 * - disconnectEveryBytes / disconnectMs: after that many bytes relayed (both directions
 *   together), the cable is pulled. 'unplug' (default) models a USB unplug: socat is stopped, so
 *   the app's open port gets a hang-up (read error, close) and the path disappears; after
 *   disconnectMs a new pseudo-terminal appears at the same path. 'silent' keeps the port but
 *   forwards nothing (bytes both ways are thrown away) for disconnectMs: a link that just dies.
 *   During an unplug what the device sends is thrown away, as a device's USB stack does when the
 *   host is gone.
 *
 * Faults may be given for both directions at the top level, or per direction in `toApp` and
 * `toDevice` (which override the top level).
 *
 * Every process is killed in stop(); a hard timeout (timeoutMs) stops the relay in any case, and
 * stopAllRelays() is for afterEach.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { seededRandom } from '../../host/sim/driver.js';

export interface FaultOptions {
  bytesPerSecond?: number;
  /** Token bucket size in bytes (default: 20 ms of the rate, at least 256). */
  burstBytes?: number;
  corruptRate?: number;
  dropRate?: number;
  dupRate?: number;
  dupMaxBytes?: number;
  stallEveryBytes?: number;
  stallMs?: number;
}

export interface RelayOptions extends FaultOptions {
  /** The device's serial port (e.g. the simulator's --link). */
  devicePath: string;
  /** Where the app-side pseudo-terminal's symlink goes. */
  appLink: string;
  toApp?: FaultOptions;
  toDevice?: FaultOptions;
  disconnectEveryBytes?: number;
  disconnectMs?: number;
  disconnectMode?: 'unplug' | 'silent';
  /** Stop pulling the cable after this many disconnects (default unlimited). */
  maxDisconnects?: number;
  seed?: number;
  /** Hard limit on the relay's life, ms (default 10 minutes). */
  timeoutMs?: number;
  /** Called for notable happenings (unplug, replug, device closed), for test logs. */
  log?: (line: string) => void;
  /**
   * Keep each direction's stream as it came in (before faults) and the positions of the bytes
   * dropped or flipped in it (streams()), so a campaign can tell which messages were hit.
   */
  keepStreams?: boolean;
}

/** A direction's stream as it came in, and where its drops and bit flips fell (byte positions). */
export interface KeptStream {
  bytes: Buffer;
  faultAt: number[];
}

export interface DirectionStats {
  /** Bytes received from the source. */
  bytesIn: number;
  /** Bytes written to the destination (after drops and duplicates). */
  bytesOut: number;
  corrupted: number;
  dropped: number;
  duplicatedChunks: number;
  duplicatedBytes: number;
  stalls: number;
  /** Bytes thrown away because the cable was pulled. */
  discarded: number;
}

export interface RelayStats {
  toApp: DirectionStats;
  toDevice: DirectionStats;
  disconnects: number;
  /** corrupted + dropped + duplicated chunks + stalls (both directions) + disconnects. */
  faults: number;
}

/** Distance to the next event of a per-byte Bernoulli(p) process (>= 1), or Infinity. */
function gap(r: () => number, p: number | undefined): number {
  if (!p || p <= 0) return Infinity;
  if (p >= 1) return 1;
  return 1 + Math.floor(Math.log(1 - r()) / Math.log(1 - p));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;
const MAX_CHUNK = 4096;

class Direction {
  readonly stats: DirectionStats = { bytesIn: 0, bytesOut: 0, corrupted: 0, dropped: 0, duplicatedChunks: 0, duplicatedBytes: 0, stalls: 0, discarded: 0 };
  private queue: Buffer[] = [];
  queued = 0;
  private wake: (() => void) | null = null;
  /** Input bytes processed (the stream position faults are counted against). */
  private pos = 0;
  private nextDrop: number;
  private nextCorrupt: number;
  private nextDup: number;
  private nextStall: number;
  private readonly stallEvery: number;
  private readonly r: () => number;
  private tokens: number;
  private lastRefill = performance.now();
  private readonly burst: number;
  /** The last bytes written, for duplicated chunks. */
  private history = Buffer.alloc(0);
  /** keepStreams: the input so far, and the positions of dropped or flipped bytes. */
  readonly kept: { chunks: Buffer[]; faultAt: number[] } | null;

  constructor(
    readonly name: 'toApp' | 'toDevice',
    private readonly f: FaultOptions,
    seed: number,
    readonly onPressure: (high: boolean) => void,
    keep = false,
  ) {
    this.kept = keep ? { chunks: [], faultAt: [] } : null;
    this.r = seededRandom(seed);
    this.nextDrop = gap(this.r, f.dropRate);
    this.nextCorrupt = gap(this.r, f.corruptRate);
    this.nextDup = gap(this.r, f.dupRate);
    this.stallEvery = f.stallEveryBytes && f.stallMs ? Math.max(1, Math.floor(f.stallEveryBytes)) : Infinity;
    this.nextStall = this.stallEvery;
    this.burst = f.burstBytes ?? Math.max(256, Math.round((f.bytesPerSecond ?? 0) / 50));
    this.tokens = this.burst;
  }

  push(b: Buffer): void {
    this.stats.bytesIn += b.length;
    this.queue.push(b);
    this.queued += b.length;
    if (this.queued > HIGH_WATER) this.onPressure(true);
    this.poke();
  }

  poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  idle(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }

  discardAll(): void {
    this.stats.discarded += this.queued;
    this.queue = [];
    this.queued = 0;
    this.onPressure(false);
  }

  /** Bytes that may go now under the rate limit (waits for tokens); at least 1 unless stopping. */
  async allowance(want: number, stopped: () => boolean): Promise<number> {
    const rate = this.f.bytesPerSecond;
    if (!rate) return want;
    for (;;) {
      const t = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.lastRefill) * rate) / 1000);
      this.lastRefill = t;
      if (this.tokens >= 1) {
        const n = Math.min(want, Math.floor(this.tokens));
        this.tokens -= n;
        return n;
      }
      if (stopped()) return 0;
      await sleep(Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / rate)));
    }
  }

  /** Bytes until the next stall boundary. */
  untilStall(): number {
    return this.nextStall - this.pos;
  }

  /** Takes up to n queued bytes. */
  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n && this.queue.length) {
      const head = this.queue[0]!;
      const k = Math.min(head.length, n - got);
      parts.push(head.subarray(0, k));
      if (k === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(k);
      got += k;
    }
    this.queued -= got;
    if (this.queued < LOW_WATER) this.onPressure(false);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Applies drops, bit flips and duplicates to the next input bytes. */
  mangle(input: Buffer): Buffer {
    const start = this.pos;
    const end = start + input.length;
    this.pos = end;
    this.kept?.chunks.push(Buffer.from(input));
    if (Math.min(this.nextDrop, this.nextCorrupt, this.nextDup) > end) return this.remember(input);
    const out: Buffer[] = [];
    let i = start;
    while (i < end) {
      const ev = Math.min(this.nextDrop, this.nextCorrupt, this.nextDup);
      // Event positions are 1-based counts of bytes: the event at position p hits byte p-1.
      const at = ev - 1;
      if (at >= end) {
        out.push(this.remember(input.subarray(i - start)));
        break;
      }
      if (at > i) {
        out.push(this.remember(input.subarray(i - start, at - start)));
        i = at;
        continue;
      }
      let byte = input[i - start]!;
      let dropped = false;
      if (this.nextDrop === ev) {
        dropped = true;
        this.stats.dropped++;
        this.nextDrop += gap(this.r, this.f.dropRate);
      }
      if (this.nextCorrupt === ev) {
        if (!dropped) {
          byte ^= 1 << Math.floor(this.r() * 8);
          this.stats.corrupted++;
        }
        this.nextCorrupt += gap(this.r, this.f.corruptRate);
      }
      if (this.kept && (dropped || byte !== input[i - start])) this.kept.faultAt.push(i);
      if (!dropped) out.push(this.remember(Buffer.of(byte)));
      if (this.nextDup === ev) {
        const k = Math.min(this.history.length, 1 + Math.floor(this.r() * (this.f.dupMaxBytes ?? 64)));
        if (k > 0) {
          out.push(this.remember(Buffer.from(this.history.subarray(this.history.length - k))));
          this.stats.duplicatedChunks++;
          this.stats.duplicatedBytes += k;
        }
        this.nextDup += gap(this.r, this.f.dupRate);
      }
      i++;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  private remember(b: Buffer): Buffer {
    if (this.f.dupRate) {
      const h = Buffer.concat([this.history, b]);
      this.history = h.length > 256 ? h.subarray(h.length - 256) : h;
    }
    return b;
  }

  /** True (and the boundary moved on) if the stream has reached a stall boundary. */
  stallDue(): boolean {
    if (this.pos < this.nextStall) return false;
    this.nextStall += this.stallEvery;
    this.stats.stalls++;
    return true;
  }

  get stallMs(): number {
    return this.f.stallMs ?? 0;
  }
}

const relays = new Set<Relay>();

/** Stops every relay still running (for afterEach). */
export async function stopAllRelays(): Promise<void> {
  await Promise.all([...relays].map((r) => r.stop()));
}

export class Relay {
  readonly appLink: string;
  private device!: SerialPort;
  private socat: ChildProcess | null = null;
  private socatExit: Promise<void> | null = null;
  private stopped = false;
  private unplugged = false;
  private disconnects = 0;
  private relayedSinceStart = 0;
  private nextDisconnect: number;
  private readonly disconnectEvery: number;
  private hard: NodeJS.Timeout | null = null;
  private pumps: Promise<void>[] = [];
  private unplugging: Promise<void> | null = null;
  private readonly toApp: Direction;
  private readonly toDevice: Direction;
  private readonly log: (l: string) => void;
  /** True once the device side closed (the device died or was unplugged at its end). */
  deviceClosed = false;

  private constructor(private readonly o: RelayOptions) {
    this.appLink = o.appLink;
    this.log = o.log ?? (() => undefined);
    const seed = o.seed ?? 1;
    const pick = (d: FaultOptions | undefined): FaultOptions => ({
      bytesPerSecond: o.bytesPerSecond,
      burstBytes: o.burstBytes,
      corruptRate: o.corruptRate,
      dropRate: o.dropRate,
      dupRate: o.dupRate,
      dupMaxBytes: o.dupMaxBytes,
      stallEveryBytes: o.stallEveryBytes,
      stallMs: o.stallMs,
      ...d,
    });
    this.toApp = new Direction('toApp', pick(o.toApp), seed * 2 + 1, (high) => (high ? this.device?.pause() : this.device?.resume()), o.keepStreams);
    this.toDevice = new Direction('toDevice', pick(o.toDevice), seed * 2 + 2, (high) => (high ? this.socat?.stdout?.pause() : this.socat?.stdout?.resume()), o.keepStreams);
    this.disconnectEvery = o.disconnectEveryBytes ? Math.max(1, Math.floor(o.disconnectEveryBytes)) : Infinity;
    this.nextDisconnect = this.disconnectEvery;
  }

  /** Opens the device, creates the app-side terminal and starts forwarding. */
  static async start(o: RelayOptions): Promise<Relay> {
    const r = new Relay(o);
    relays.add(r);
    r.hard = setTimeout(() => {
      r.log('relay: hard timeout, stopping');
      void r.stop();
    }, o.timeoutMs ?? 600_000);
    r.hard.unref();
    try {
      await r.openDevice();
      await r.startAppSide();
    } catch (e) {
      await r.stop();
      throw e;
    }
    r.pumps = [r.pump(r.toApp), r.pump(r.toDevice)];
    return r;
  }

  private openDevice(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: this.o.devicePath, baudRate: 115200, autoOpen: false, lock: false });
      port.open((err) => {
        if (err) return reject(err);
        this.device = port;
        port.on('data', (b: Buffer) => {
          if (this.unplugged || this.stopped) {
            this.toApp.stats.bytesIn += b.length;
            this.toApp.stats.discarded += b.length;
          } else this.toApp.push(b);
        });
        const gone = (e?: Error) => {
          if (this.deviceClosed) return;
          this.deviceClosed = true;
          this.log(`relay: device side closed${e ? ` (${e.message})` : ''}`);
        };
        port.on('close', gone);
        port.on('error', gone);
        resolve();
      });
    });
  }

  private async startAppSide(): Promise<void> {
    if (existsSync(this.appLink) || isLink(this.appLink)) unlinkSync(this.appLink);
    const p = spawn('socat', ['-d', '-d', `PTY,link=${this.appLink},raw,echo=0`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.socat = p;
    this.socatExit = new Promise((r) => p.once('exit', () => r()));
    let err = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdin!.on('error', () => undefined); // EPIPE when socat goes away mid-write
    p.stdout!.on('data', (b: Buffer) => {
      if (this.socat !== p) return;
      if (this.unplugged || this.stopped) {
        this.toDevice.stats.bytesIn += b.length;
        this.toDevice.stats.discarded += b.length;
      } else this.toDevice.push(b);
    });
    const end = Date.now() + 5000;
    while (!/PTY is \S+/.test(err) || !existsSync(this.appLink)) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`socat exited: ${err}`);
      if (Date.now() > end) throw new Error(`socat did not create ${this.appLink}: ${err}`);
      await sleep(5);
    }
  }

  private async stopAppSide(): Promise<void> {
    const p = this.socat;
    if (!p) return;
    this.socat = null;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 1000);
      await this.socatExit;
      clearTimeout(t);
    }
    // SIGTERM lets socat remove its link; after a SIGKILL we do.
    if (isLink(this.appLink)) {
      try {
        unlinkSync(this.appLink);
      } catch {
        // already gone
      }
    }
  }

  private async pump(d: Direction): Promise<void> {
    while (!this.stopped) {
      if (this.unplugging) {
        await this.unplugging;
        continue;
      }
      if (d.queued === 0) {
        await d.idle();
        continue;
      }
      let n = Math.min(d.queued, MAX_CHUNK, d.untilStall(), Math.max(1, this.nextDisconnect - this.relayedSinceStart));
      n = await d.allowance(n, () => this.stopped);
      if (this.stopped) break;
      if (this.unplugging || this.unplugged) continue;
      const chunk = d.take(Math.min(n, d.queued));
      if (chunk.length === 0) continue;
      const out = d.mangle(chunk);
      this.relayedSinceStart += chunk.length;
      d.stats.bytesOut += out.length;
      await this.write(d, out);
      if (d.stallDue()) await sleep(d.stallMs);
      if (this.relayedSinceStart >= this.nextDisconnect && !this.unplugging) {
        this.nextDisconnect += this.disconnectEvery;
        if (this.o.maxDisconnects === undefined || this.disconnects < this.o.maxDisconnects) void this.unplug();
      }
    }
  }

  private write(d: Direction, b: Buffer): Promise<void> {
    if (b.length === 0) return Promise.resolve();
    if (d.name === 'toDevice') {
      const port = this.device;
      if (!port?.isOpen) return Promise.resolve();
      return new Promise((resolve) => {
        const ok = port.write(b, () => undefined);
        if (ok) resolve();
        else {
          const done = () => {
            port.off('close', done);
            resolve();
          };
          port.once('drain', done);
          port.once('close', done);
        }
      });
    }
    const p = this.socat;
    if (!p || !p.stdin || p.stdin.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      if (p.stdin!.write(b)) return resolve();
      const done = () => {
        p.stdin!.off('drain', done);
        p.off('exit', done);
        resolve();
      };
      p.stdin!.once('drain', done);
      p.once('exit', done);
    });
  }

  /**
   * Pulls the cable for `ms` (default disconnectMs, 1000): see the header. Resolves when it is
   * plugged back in.
   */
  unplug(ms = this.o.disconnectMs ?? 1000, mode = this.o.disconnectMode ?? 'unplug'): Promise<void> {
    if (this.unplugging) return this.unplugging;
    this.unplugging = (async () => {
      this.unplugged = true;
      this.disconnects++;
      this.toApp.discardAll();
      this.toDevice.discardAll();
      this.log(`relay: ${mode} #${this.disconnects} for ${ms} ms`);
      if (mode === 'unplug') await this.stopAppSide();
      await sleep(ms);
      this.toApp.discardAll();
      this.toDevice.discardAll();
      if (!this.stopped && mode === 'unplug') await this.startAppSide();
      this.unplugged = false;
      this.log('relay: plugged back in');
    })().finally(() => {
      this.unplugging = null;
      this.toApp.poke();
      this.toDevice.poke();
    });
    this.toApp.poke();
    this.toDevice.poke();
    return this.unplugging;
  }

  /** False from the moment the cable is pulled until the relay forwards again (the new path can
   * exist a little before that). */
  get pluggedIn(): boolean {
    return !this.unplugged;
  }

  stats(): RelayStats {
    const a = { ...this.toApp.stats };
    const b = { ...this.toDevice.stats };
    const per = (s: DirectionStats) => s.corrupted + s.dropped + s.duplicatedChunks + s.stalls;
    return { toApp: a, toDevice: b, disconnects: this.disconnects, faults: per(a) + per(b) + this.disconnects };
  }

  /** keepStreams: each direction's input before faults, and where its drops and flips fell. */
  streams(): { toApp: KeptStream; toDevice: KeptStream } {
    const of = (d: Direction): KeptStream => ({ bytes: Buffer.concat(d.kept?.chunks ?? []), faultAt: [...(d.kept?.faultAt ?? [])] });
    return { toApp: of(this.toApp), toDevice: of(this.toDevice) };
  }

  /** Stops forwarding, kills socat, closes the device port. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopped) {
      await Promise.all(this.pumps);
      return;
    }
    this.stopped = true;
    relays.delete(this);
    if (this.hard) clearTimeout(this.hard);
    this.toApp.poke();
    this.toDevice.poke();
    await this.stopAppSide();
    const port = this.device;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
    await Promise.race([Promise.all(this.pumps), sleep(2000)]);
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
