/**
 * A connection to one recorder: discovery, open, HELLO, events, and waiting for the device to
 * come back after an unplug.
 */
import type { Info } from '../../protocol/generated/types.js';
import { ProtocolClient, type LostTry } from './client.js';
import { cardStateName, deviceIdHex, recStateName, summariseInfo } from './convert.js';
import { choosePort, type Candidate, type DiscoveryOptions } from './discovery.js';
import { EngineError } from './errors.js';
import type { EngineEvent, EventInput } from './events.js';
import { openError, openSerial, type Transport, type TransportOpener } from './transport.js';

export interface ConnectOptions extends DiscoveryOptions {
  /** Serial port path; skips discovery. */
  port?: string;
  /** Called when several recorders are found (interactive runs); without it --port is required. */
  choose?: (c: Candidate[]) => Promise<string | null>;
  /** Opens a transport (default: serialport). Tests pass a fake. */
  open?: TransportOpener;
  timeoutMs?: number;
  retries?: number;
  maxPayload?: number;
  reconnectTimeoutMs?: number;
  reconnectPollMs?: number;
  now?: () => number;
}

export type Emit = (e: EventInput) => void;

export function stamp(e: EventInput, now: () => number): EngineEvent {
  return { ...e, at: new Date(now()).toISOString() } as EngineEvent;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class Session {
  client!: ProtocolClient;
  info!: Info;
  port!: Candidate;
  private noiseReported = 0;
  private lastRetryNotice = -Infinity;
  private lastRetryCause: LostTry | null = null;
  private noiseTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: ConnectOptions,
    private readonly emit: Emit,
  ) {}

  get deviceId(): string {
    return deviceIdHex(this.info.deviceId);
  }

  /** Finds the port, opens it and says HELLO. */
  async connect(signal?: AbortSignal): Promise<void> {
    const { candidate, notes } = await choosePort({ ...this.opts, choose: this.opts.choose });
    for (const n of notes) this.emit({ type: 'warning', code: 'DISCOVERY_LIMITED', message: n, action: 'Use --port PATH if the recorder is not found.' });
    this.port = candidate;
    this.emit({ type: 'device.found', port: candidate.port, source: candidate.source, description: candidate.description });
    await this.open(candidate.port, signal);
    this.emit({ type: 'device.connected', port: candidate.port });
    this.emit({ type: 'device.info', port: candidate.port, device: summariseInfo(this.info) });
  }

  private async open(path: string, signal?: AbortSignal, helloRetries?: number): Promise<void> {
    let transport: Transport;
    try {
      transport = await (this.opts.open ?? openSerial)(path);
    } catch (e) {
      throw e instanceof EngineError ? e : openError(path, e);
    }
    const client = new ProtocolClient(transport, {
      timeoutMs: this.opts.timeoutMs,
      retries: this.opts.retries,
      maxPayload: this.opts.maxPayload,
      onState: (s) => this.emit({ type: 'device.state', recState: recStateName(s.recState), cardState: cardStateName(s.cardState), number: s.number, samples: s.samples }),
      onNoise: () => this.scheduleNoiseReport(),
      onRetry: (command, attempt, req, cause) => {
        const r = req as { number?: number; offset?: number };
        const t = (this.opts.now ?? Date.now)();
        // one line per burst of lost tries, and one when their cause changes
        if ((command !== 'READ' && command !== 'READ_CHECKED') || (t - this.lastRetryNotice < 500 && cause === this.lastRetryCause)) return;
        this.lastRetryNotice = t;
        this.lastRetryCause = cause;
        const at = r.offset ?? 0;
        const message = cause === 'noise' ? `the block at byte ${at} arrived damaged (a noisy link: the recorder is answering); asking again (try ${attempt + 1}).` : `no answer for the block at byte ${at}; asking again (try ${attempt + 1}).`;
        this.emit({ type: 'file.retry', number: r.number ?? 0, offset: at, attempt, cause, message });
      },
    });
    try {
      this.info = await client.hello({ signal, retries: helloRetries });
    } catch (e) {
      await client.close().catch(() => undefined);
      throw e;
    }
    this.client = client;
  }

  private scheduleNoiseReport(): void {
    if (this.noiseTimer) return;
    this.noiseTimer = setTimeout(() => {
      this.noiseTimer = null;
      const n = this.client?.noise ?? 0;
      if (n > this.noiseReported) {
        this.emit({ type: 'link.noise', count: n - this.noiseReported, message: `${n - this.noiseReported} damaged message(s) on the cable were detected and sent again; nothing was lost.` });
        this.noiseReported = n;
      }
    }, 1000);
    this.noiseTimer.unref?.();
  }

  /** After an unplug or a dead link: waits for the same recorder to come back and reconnects. */
  async waitForReturn(reason: string, signal?: AbortSignal): Promise<void> {
    const now = this.opts.now ?? Date.now;
    const path = this.port.port;
    const wantId = this.info.deviceId;
    await this.client?.close().catch(() => undefined);
    const why = /stopped answering/.test(reason) ? 'stopped answering' : 'was disconnected';
    this.emit({ type: 'link.disconnected', port: path, message: `The recorder ${why}. Nothing copied so far is lost.` });
    const start = now();
    const limit = this.opts.reconnectTimeoutMs ?? 10 * 60_000;
    // A quarter of a second for the first 10 s (a cable put back at once costs under 0.3 s more
    // than it was out), then a second: docs/benchmarks.md, resume.
    const pollAfter = (waited: number) => this.opts.reconnectPollMs ?? (waited < 10_000 ? 250 : 1000);
    let lastNotice = -Infinity;
    for (;;) {
      if (signal?.aborted) throw new EngineError('CANCELLED', 'Stopped while waiting for the recorder.', '');
      const waited = now() - start;
      if (waited > limit) {
        throw new EngineError('DISCONNECTED', `The recorder did not come back within ${Math.round(limit / 1000)} seconds.`, 'Plug the recorder back in and run sync again; it will continue where it stopped.');
      }
      if (waited - lastNotice >= 5000) {
        lastNotice = waited;
        this.emit({ type: 'link.waiting', port: path, waitedMs: waited, message: 'Waiting for the recorder: plug it back in (the copy continues by itself).' });
      }
      const paths = [path];
      if (this.port.source !== 'explicit') {
        try {
          const { candidates } = await (await import('./discovery.js')).discover(this.opts);
          for (const c of candidates) if (!paths.includes(c.port)) paths.push(c.port);
        } catch {
          // keep polling the old path
        }
      }
      for (const p of paths) {
        try {
          await this.open(p, signal, 1);
        } catch (e) {
          if (e instanceof EngineError && e.code === 'CANCELLED') throw e;
          continue;
        }
        if (this.info.deviceId !== wantId) {
          await this.client.close().catch(() => undefined);
          throw new EngineError('DISCONNECTED', `A different recorder (${deviceIdHex(this.info.deviceId)}) was plugged in.`, 'Plug the original recorder back in and run sync again.');
        }
        this.port = { ...this.port, port: p };
        this.emit({ type: 'link.reconnected', port: p, message: 'The recorder is back; continuing.' });
        return;
      }
      await sleep(pollAfter(now() - start), signal);
    }
  }

  async close(): Promise<void> {
    if (this.noiseTimer) clearTimeout(this.noiseTimer);
    this.noiseTimer = null;
    await this.client?.close().catch(() => undefined);
  }
}
