/**
 * A minimal protocol client over the real `serialport`, built only on the protocol codec. End-to-
 * end tests of the firmware use it where the app's engine is not what is under test.
 */
import { SerialPort } from 'serialport';
import { Deframer, decodeStruct, encodeFrame, encodeStruct, type Frame, type StructValue } from '../../protocol/src/codec.js';
import { COMMANDS, KIND, type CommandName } from '../../protocol/src/schema.js';

export class RawClient {
  private deframer = new Deframer();
  private seq = 1;
  private waiting = new Map<number, (f: Frame) => void>();
  readonly events: Frame[] = [];
  readonly errors: Frame[] = [];

  private constructor(private port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      for (const item of this.deframer.push(chunk)) {
        if (!item.ok) continue;
        const f = item.frame;
        if (f.kind === KIND.EVENT) this.events.push(f);
        else if (f.seq === 0) this.errors.push(f);
        const w = this.waiting.get(f.seq);
        if (w && f.seq !== 0) {
          this.waiting.delete(f.seq);
          w(f);
        }
      }
    });
  }

  static open(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      port.open((err) => (err ? reject(err) : resolve(new RawClient(port))));
    });
  }

  writeRaw(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.port.write(bytes, (err) => (err ? reject(err) : this.port.drain(() => resolve()))));
  }

  /** Sends a request and resolves with the response (or error) frame. */
  async call(command: CommandName, value: StructValue = {}, timeoutMs = 10_000): Promise<Frame> {
    const c = COMMANDS[command];
    const seq = this.seq++;
    if (this.seq > 0xffff) this.seq = 1;
    const frame = encodeFrame({ kind: KIND.REQUEST, seq, command: c.id, payload: encodeStruct(c.request, value) });
    const reply = new Promise<Frame>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new Error(`no answer to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(seq, (f) => {
        clearTimeout(t);
        resolve(f);
      });
    });
    await this.writeRaw(frame);
    return reply;
  }

  /** Sends a request and decodes the response; throws on an error frame. */
  async ok(command: CommandName, value: StructValue = {}, timeoutMs?: number): Promise<StructValue> {
    const f = await this.call(command, value, timeoutMs);
    if (f.kind === KIND.ERROR) {
      const e = decodeStruct('ERROR', f.payload);
      throw new Error(`${command} failed with error code ${String(e.code)}`);
    }
    return decodeStruct(COMMANDS[command].response, f.payload);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}

/** The clients a test file opens, all closed after each test, also when it fails (closing one
 * twice is harmless). */
export class ClientPool {
  private readonly clients: RawClient[] = [];

  /** Opens a client on `link`; with `hello`, also opens the session (4096-byte payloads). */
  async connect(link: string, o: { hello?: boolean } = {}): Promise<RawClient> {
    const c = await RawClient.open(link);
    this.clients.push(c);
    if (o.hello) await c.ok('HELLO', { maxPayload: 4096 });
    return c;
  }

  async closeAll(): Promise<void> {
    for (const c of this.clients.splice(0)) await c.close();
  }
}
