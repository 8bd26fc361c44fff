/**
 * Protocol client: typed request/response over a Transport with sequence numbers, per-request
 * timeouts and retries, ERROR frames turned into DeviceError, and STATE events surfaced.
 */
import { Deframer, FrameError, PayloadError, decodeStruct, encodeFrame, encodeStruct, type Frame, type StructValue } from '../../protocol/src/codec.js';
import { COMMANDS, EVENTS, KIND, PROTOCOL, type CommandName } from '../../protocol/src/schema.js';
import type { Info, Mark, StateEvent, StructTypes } from '../../protocol/generated/types.js';
import { DeviceError, EngineError, deviceErrorInfo } from './errors.js';
import type { Transport } from './transport.js';

export type RequestOf<C extends CommandName> = StructTypes[(typeof COMMANDS)[C]['request']];
export type ResponseOf<C extends CommandName> = StructTypes[(typeof COMMANDS)[C]['response']];

export interface ClientOptions {
  /** Time to wait for each answer before resending, ms. */
  timeoutMs?: number;
  /** Resends after tries on which nothing at all arrived (for requests that are safe to repeat). */
  retries?: number;
  /**
   * Further resends after tries lost to noise: bytes kept arriving but this answer did not (it
   * was damaged, or late). A noisy link is not a dead one; only requests safe to repeat get them.
   */
  noisyRetries?: number;
  /** Payload limit the host offers in HELLO. */
  maxPayload?: number;
  onState?: (e: StateEvent) => void;
  /** A damaged or unexpected frame arrived (already counted in `noise`). */
  onNoise?: (reason: string) => void;
  /** A request is being sent again: after silence (a timeout with nothing received) or noise. */
  onRetry?: (command: CommandName, attempt: number, req: unknown, cause: LostTry) => void;
}

/**
 * Why a try got no answer. 'silence': nothing at all arrived while it waited (a dead link, or a
 * recorder that stopped); 'noise': the link carried bytes, but not this answer intact (a damaged
 * frame, or an answer later than the timeout).
 */
export type LostTry = 'silence' | 'noise';

export interface RequestOptions {
  retries?: number;
  /** Resends after noise (ClientOptions.noisyRetries); none by default when `retries` is 0. */
  noisyRetries?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called for each try of this request lost to noise, before it is sent again. */
  onNoisyTry?: () => void;
  /**
   * An answer whose frame CRC failed but whose header names this request (seq, command, kind,
   * version) is passed here: true takes it as the answer (requestRaw's `damaged`; the caller
   * keeps only what its own checks pass, READ_CHECKED's blocks), false leaves the try lost.
   */
  salvage?: (frame: Frame) => boolean;
}

/** An answer; `damaged` when its frame CRC failed and RequestOptions.salvage took it. */
export interface Answer extends Frame {
  damaged?: boolean;
}

interface Pending {
  command: number;
  name: CommandName;
  /** The answer, or why the try counts as lost (it is then sent again). */
  resolve: (f: Answer | LostTry) => void;
  reject: (e: Error) => void;
  salvage?: (frame: Frame) => boolean;
  /** Sent again when noise took it (the caller allows noisy resends): see resendAfterDamage. */
  resendable: boolean;
}

/** Default ClientOptions.noisyRetries: at a third of all frames damaged, 40 losses in a row happen once in 10^19. */
const NOISY_RETRIES = 40;

const COMMAND_BY_ID = new Map<number, CommandName>(Object.entries(COMMANDS).map(([k, v]) => [v.id, k as CommandName]));

export class ProtocolClient {
  readonly timeoutMs: number;
  readonly retries: number;
  readonly noisyRetries: number;
  readonly offeredMaxPayload: number;
  /** Payload limit agreed in HELLO (the protocol minimum until then). */
  maxPayload: number = PROTOCOL.minMaxPayload;
  /** Damaged or unintelligible frames seen so far. */
  noise = 0;
  /** Valid frames received so far. */
  goodFrames = 0;
  /** Bytes received so far (what tells a noisy link from a silent one). */
  receivedBytes = 0;
  /** Protocol version of frames from a device speaking another version, if any were seen. */
  foreignVersion: number | null = null;
  private readonly deframer = new Deframer(PROTOCOL.absoluteMaxPayload);
  private readonly pending = new Map<number, Pending>();
  /** READs found lost because a later answer arrived first, and sent again at once. */
  lostReads = 0;
  /** Requests sent again at once because a damaged frame took their answer (resendAfterDamage). */
  damageResends = 0;
  /** A damaged frame's request was guessed (the oldest waiting) since the last good frame. */
  private guessedSinceGoodFrame = false;
  private nextSeq = 1;
  private closed: Error | null = null;
  private flushed = false;
  private readonly unsubs: (() => void)[] = [];

  constructor(
    readonly transport: Transport,
    private readonly opts: ClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.retries = opts.retries ?? 3;
    this.noisyRetries = opts.noisyRetries ?? NOISY_RETRIES;
    this.offeredMaxPayload = Math.min(opts.maxPayload ?? PROTOCOL.absoluteMaxPayload, PROTOCOL.absoluteMaxPayload);
    this.unsubs.push(transport.onData((b) => this.onData(b)));
    this.unsubs.push(
      transport.onClose((err) =>
        this.fail(new EngineError('DISCONNECTED', `The recorder was disconnected${err ? ` (${err.message})` : ''}.`, 'Plug the recorder back in.')),
      ),
    );
  }

  get isOpen(): boolean {
    return this.closed === null && this.transport.isOpen;
  }

  /** Opens the session: agrees the payload limit and returns the device's INFO. */
  async hello(opts: RequestOptions = {}): Promise<Info> {
    let info: Info;
    try {
      info = await this.request('HELLO', { maxPayload: this.offeredMaxPayload, reserved: 0 }, opts);
    } catch (e) {
      throw this.explainHelloFailure(e);
    }
    if (info.protocolVersion !== PROTOCOL.version) {
      throw new EngineError('PROTOCOL_VERSION', `The recorder speaks protocol version ${info.protocolVersion}; this app speaks version ${PROTOCOL.version}.`, 'Update the companion app or the recorder so they match.');
    }
    const agreed = info.maxPayload;
    this.maxPayload = agreed >= PROTOCOL.minMaxPayload && agreed <= this.offeredMaxPayload ? agreed : PROTOCOL.minMaxPayload;
    return info;
  }

  private explainHelloFailure(e: unknown): unknown {
    if (this.foreignVersion !== null) {
      return new EngineError('PROTOCOL_VERSION', `The device on ${this.transport.path} speaks protocol version ${this.foreignVersion}; this app speaks version ${PROTOCOL.version}.`, 'Update the companion app or the recorder so they match.');
    }
    if (e instanceof EngineError && e.code === 'TIMEOUT') {
      if (this.noise > 0 && this.goodFrames === 0) {
        return new EngineError('NOT_A_RECORDER', `Something on ${this.transport.path} is sending data, but it is not an evidence recorder (or its messages are damaged).`, 'Check you chose the right port, unplug and re-plug the recorder, and try again.');
      }
      return new EngineError('TIMEOUT', `Nothing answered on ${this.transport.path}.`, 'Check the recorder is switched on and plugged in with a data cable, and that this is its port.');
    }
    return e;
  }

  /**
   * Drops a marker in the recording being made (as a short press of the button does): its number
   * and sample offset. Never resent after a timeout (unless opts say so): a lost answer may be a
   * marker taken, and a resend would drop a second one. DeviceError BAD_STATE when the device is
   * not recording, MARKERS_FULL when the recording holds CARD_LAYOUT.maxMarkers.
   */
  async mark(opts: RequestOptions = {}): Promise<Mark> {
    return this.request('MARK', {}, { retries: 0, ...opts });
  }

  /** Sends a request and waits for its answer, resending after timeouts. */
  async request<C extends CommandName>(name: C, req: RequestOf<C>, opts: RequestOptions = {}): Promise<ResponseOf<C>> {
    return (await this.requestRaw(name, req, opts)).value;
  }

  /** Like request(), also returning the raw response payload and frame (`damaged`: see RequestOptions.salvage). */
  async requestRaw<C extends CommandName>(name: C, req: RequestOf<C>, opts: RequestOptions = {}): Promise<{ value: ResponseOf<C>; payload: Buffer; frame: Answer }> {
    const cmd = COMMANDS[name];
    const payload = encodeStruct(cmd.request, req as unknown as StructValue);
    const retries = opts.retries ?? this.retries;
    const noisyRetries = opts.noisyRetries ?? (retries > 0 ? this.noisyRetries : 0);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let silentTries = 0;
    let noisyTries = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw this.closed;
      if (opts.signal?.aborted) throw new EngineError('CANCELLED', 'Stopped.', '');
      const seq = this.allocSeq();
      const receivedBefore = this.receivedBytes;
      const outcome = await new Promise<Answer | LostTry>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(seq);
          signal?.removeEventListener('abort', onAbort);
          resolve(this.lostTryCause(receivedBefore));
        }, timeoutMs);
        const signal = opts.signal;
        const onAbort = () => {
          clearTimeout(timer);
          this.pending.delete(seq);
          reject(new EngineError('CANCELLED', 'Stopped.', ''));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.pending.set(seq, {
          command: cmd.id,
          name,
          salvage: opts.salvage,
          resendable: noisyRetries > 0,
          resolve: (f) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve(f);
          },
          reject: (e) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        });
        let wire = encodeFrame({ kind: KIND.REQUEST, seq, command: cmd.id, payload });
        if (!this.flushed) {
          // A leading delimiter ends any line noise the device may have buffered.
          wire = Buffer.concat([Buffer.from([PROTOCOL.delimiter]), wire]);
          this.flushed = true;
        }
        this.transport.write(wire).catch((e: unknown) => {
          const p = this.pending.get(seq);
          if (p) {
            this.pending.delete(seq);
            p.reject(e instanceof EngineError ? e : new EngineError('DISCONNECTED', `Sending to the recorder failed: ${(e as Error).message}.`, 'Plug the recorder back in.'));
          }
        });
      });
      if (typeof outcome !== 'string') return { value: this.decodeResponse(name, outcome), payload: outcome.payload, frame: outcome };
      if (outcome === 'noise' && noisyTries < noisyRetries) {
        noisyTries++;
        opts.onNoisyTry?.();
      } else if (outcome === 'noise' && noisyRetries > 0) {
        throw new EngineError('LINK_NOISE', `The cable to the recorder damaged ${name} ${noisyTries + 1} times in a row while the recorder kept answering.`, 'Try another USB cable or port, then run the command again; a copy continues where it stopped.');
      } else if (silentTries++ >= retries) {
        throw new EngineError('TIMEOUT', `The recorder stopped answering (${name} got no reply after ${attempt + 1} tries).`, 'Check the cable; unplug and re-plug the recorder and run the command again.');
      }
      this.opts.onRetry?.(name, attempt + 1, req, outcome);
    }
  }

  /**
   * A try that timed out was lost to noise when bytes arrived while it waited, from a recorder
   * known to be there (a valid frame seen): a port that sends only garbage is not a recorder, and
   * its tries count as silence.
   */
  private lostTryCause(receivedBefore: number): LostTry {
    return this.receivedBytes !== receivedBefore && this.goodFrames > 0 ? 'noise' : 'silence';
  }

  private decodeResponse<C extends CommandName>(name: C, frame: Frame): ResponseOf<C> {
    if (frame.kind === KIND.ERROR) {
      const err = this.decodeError(frame.payload);
      throw new DeviceError(deviceErrorInfo(err.code, err.detail), name);
    }
    try {
      // The frame's payload is this answer's own (a fresh decode): its bytes need no second copy.
      return decodeStruct(COMMANDS[name].response, frame.payload, true) as unknown as ResponseOf<C>;
    } catch (e) {
      if (e instanceof PayloadError) {
        throw new EngineError('NOT_A_RECORDER', `The recorder sent an answer to ${name} that this app cannot understand (${e.message}).`, 'Update the companion app or the recorder so they match.');
      }
      throw e;
    }
  }

  private decodeError(payload: Buffer): { code: number; detail: number } {
    try {
      const v = decodeStruct('ERROR', payload);
      return { code: Number(v.code), detail: Number(v.detail) };
    } catch {
      return { code: 0, detail: 0 };
    }
  }

  private allocSeq(): number {
    for (let i = 0; i < 0x10000; i++) {
      const s = this.nextSeq;
      this.nextSeq = this.nextSeq >= 0xffff ? 1 : this.nextSeq + 1; // 0 is reserved for unsolicited frames
      if (s !== PROTOCOL.unsolicitedSeq && !this.pending.has(s)) return s;
    }
    throw new EngineError('INTERNAL', 'Too many requests in flight.', '');
  }

  private onData(chunk: Buffer): void {
    this.receivedBytes += chunk.length;
    for (const item of this.deframer.push(chunk)) {
      if (item.ok) {
        this.onFrame(item.frame);
        continue;
      }
      const err = item.error;
      const f = (err as FrameError & { frame?: Frame }).frame;
      if (err instanceof FrameError && err.reason === 'version' && f) this.foreignVersion = f.version;
      this.noiseSeen(`damaged frame (${item.error.message})`);
      // Only a whole frame whose CRC failed is taken for a damaged answer: bytes that do not even
      // make a frame (garbage on the line, or a frame split by a damaged byte) could be anything.
      if (err instanceof FrameError && err.reason === 'crc' && f && !this.onDamagedFrame(f)) this.resendAfterDamage(f);
    }
  }

  /**
   * A frame whose CRC failed: handed to its request's salvage (READ_CHECKED keeps the blocks
   * whose own CRC holds) when its header names a request waiting for it. Its seq may itself be
   * damaged: the salvage checks the answer's fields against its own request.
   */
  private onDamagedFrame(f: Frame): boolean {
    if (f.kind !== KIND.RESPONSE || f.version !== PROTOCOL.version || f.seq === PROTOCOL.unsolicitedSeq) return false;
    const p = this.pending.get(f.seq);
    if (!p?.salvage || f.command !== p.command || !p.salvage(f)) return false;
    this.resendLostReads(f.seq);
    this.pending.delete(f.seq);
    p.resolve(Object.assign(f, { damaged: true }));
    return true;
  }

  /**
   * A frame lost to noise (a whole frame whose CRC failed and was not salvaged, or the recorder
   * reporting that it could not read one of ours): the request it answered, or failed to carry,
   * is sent again at once rather than after its timeout. When no later answer reveals the loss
   * (the last request of a window, or a command sent alone) that timeout was seconds of a
   * stalled link (docs/benchmarks.md, issue 17). Which request: the one the damaged frame's
   * header still names, when that is waiting for an answer of that command; else the oldest
   * waiting, since the recorder answers in order, and then only once until a good frame comes.
   * Only requests the caller lets noise resend, and only once a recorder has answered (a port
   * sending garbage is not one: lostTryCause). A wrong guess costs one repeated request.
   */
  private resendAfterDamage(f: Frame | undefined): void {
    if (this.goodFrames === 0 || f?.kind === KIND.EVENT) return;
    const named = f && f.seq !== PROTOCOL.unsolicitedSeq ? this.pending.get(f.seq) : undefined;
    let seq: number | undefined;
    if (named && f && named.command === f.command) seq = f.seq;
    else if (!this.guessedSinceGoodFrame) {
      seq = this.pending.keys().next().value;
      this.guessedSinceGoodFrame = true;
    }
    if (seq === undefined) return;
    const q = this.pending.get(seq)!;
    if (!q.resendable) return;
    this.resendLostReads(seq); /* the READs sent before it were lost too */
    this.pending.delete(seq);
    this.damageResends++;
    q.resolve('noise');
  }

  private noiseSeen(reason: string): void {
    this.noise++;
    this.opts.onNoise?.(reason);
  }

  private onFrame(f: Frame): void {
    this.guessedSinceGoodFrame = false;
    if (f.kind === KIND.EVENT) {
      this.goodFrames++;
      if (f.command === EVENTS.STATE.id) {
        try {
          this.opts.onState?.(decodeStruct('STATE_EVENT', f.payload) as unknown as StateEvent);
        } catch {
          this.noiseSeen('malformed STATE event');
        }
      }
      return;
    }
    if (f.kind !== KIND.RESPONSE && f.kind !== KIND.ERROR) {
      this.noiseSeen(`unexpected frame kind ${f.kind}`);
      return;
    }
    if (f.seq === PROTOCOL.unsolicitedSeq) {
      // The device could not read one of our frames: the oldest waiting, as it reads in order.
      this.goodFrames++;
      this.noiseSeen('the recorder reported a damaged frame from us');
      this.resendAfterDamage(undefined);
      return;
    }
    const p = this.pending.get(f.seq);
    if (!p) return; // a late answer to a request already resent: ignore it
    if (f.command !== p.command) {
      this.noiseSeen(`answer for ${COMMAND_BY_ID.get(f.command) ?? f.command} where ${p.name} was expected`);
      return;
    }
    this.goodFrames++;
    this.resendLostReads(f.seq); /* before removing f.seq: the scan stops there */
    this.pending.delete(f.seq);
    p.resolve(f);
  }

  /**
   * Fast retransmit. The device answers requests strictly in order (protocol/README.md), so
   * when the answer to `answered` arrives, every READ sent before it that is still unanswered
   * was lost on the wire (its request or its answer was damaged). Waiting for its timeout would
   * stall the window for seconds on a noisy link: it is sent again at once instead, through the
   * same path a timeout takes. Only READs (and READ_CHECKEDs): they are safe to repeat and carry the throughput.
   */
  private resendLostReads(answered: number): void {
    // A Map iterates in insertion order, which is sending order (a resend is a new entry).
    for (const [seq, q] of this.pending) {
      if (seq === answered) break;
      if (q.name !== 'READ' && q.name !== 'READ_CHECKED') continue;
      this.pending.delete(seq);
      this.lostReads++;
      q.resolve('noise');
    }
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = e;
    for (const [seq, p] of [...this.pending]) {
      this.pending.delete(seq);
      p.reject(e);
    }
  }

  /** Detaches from the transport and fails any request still waiting. Does not close it. */
  detach(): void {
    this.fail(new EngineError('DISCONNECTED', 'The connection to the recorder was closed.', ''));
    for (const u of this.unsubs) u();
  }

  async close(): Promise<void> {
    this.detach();
    await this.transport.close();
  }
}
