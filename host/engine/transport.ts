/**
 * The byte link to a recorder. The engine talks to a Transport; the real one wraps serialport,
 * tests use an in-memory one (testing/fake-device.ts).
 */
import { EngineError } from './errors.js';

export interface Transport {
  readonly path: string;
  /** Writes all bytes, waiting for the OS buffer to drain when it is full. Rejects once closed. */
  write(data: Uint8Array): Promise<void>;
  /** Subscribes to incoming bytes; returns an unsubscribe function. */
  onData(cb: (chunk: Buffer) => void): () => void;
  /** Called once when the link closes for any reason (unplug: error set; close(): no error). */
  onClose(cb: (err?: Error) => void): () => void;
  readonly isOpen: boolean;
  close(): Promise<void>;
}

export type TransportOpener = (path: string) => Promise<Transport>;

/** Turns an open() failure into a plain error. */
export function openError(path: string, e: unknown): EngineError {
  const msg = (e as Error | undefined)?.message ?? String(e);
  if (/Cannot lock port|Resource temporarily unavailable|EBUSY|busy/i.test(msg)) {
    return new EngineError('PORT_IN_USE', `The recorder's port ${path} is already in use by another program.`, 'Close the other program (or another copy of this app) using the recorder, then try again.');
  }
  if (/ENOENT|No such file|not found/i.test(msg)) {
    return new EngineError('PORT_NOT_FOUND', `There is no port at ${path}.`, 'Check the recorder is plugged in and switched on, or run without --port to search for it.');
  }
  if (/EACCES|Permission denied|EPERM/i.test(msg)) {
    return new EngineError('PERMISSION_DENIED', `This computer did not allow the app to open ${path} (permission denied).`, 'On Linux, add yourself to the "dialout" group (then log out and in), or ask whoever manages this computer.');
  }
  return new EngineError('PORT_NOT_FOUND', `Could not open ${path}: ${msg}.`, 'Unplug the recorder, plug it back in, and try again.');
}

/** What of serialport's Unix port binding (Linux, macOS) unixPortIo needs. */
interface UnixPortBinding {
  readonly isOpen: boolean;
  readonly fd: number | null;
  /** serialport's poller of the port: 'readable' once, with an error when it was stopped or failed. */
  readonly poller?: { once(event: 'readable', cb: (err: (Error & { canceled?: boolean }) | null) => void): unknown };
  writeOperation: Promise<void> | null;
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
  write(buffer: Buffer): Promise<void>;
}
type ReadAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: null) => Promise<{ bytesRead: number; buffer: Buffer }>;
type WriteAsync = (fd: number, buffer: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number; buffer: Buffer }>;
type UnixRead = (o: { binding: UnixPortBinding; buffer: Buffer; offset: number; length: number; fsReadAsync?: ReadAsync }) => Promise<{ buffer: Buffer; bytesRead: number }>;
type UnixWrite = (o: { binding: UnixPortBinding; buffer: Buffer; offset?: number; fsWriteAsync?: WriteAsync }) => Promise<void>;

/** The message of the read error a hang-up becomes (the port is then closed as unplugged). */
export const HANG_UP_MESSAGE = 'the port was hung up';

/**
 * serialport's Unix reads and writes, with two changes.
 *
 * A hang-up closes the port at once. serialport reads again at once when read() returns 0 bytes,
 * but a hung-up terminal (the USB device gone, the other end of a pseudo-terminal closed) reads
 * 0 bytes for ever: its read loop then spins, and the hang-up is noticed only when a write fails,
 * after a request timeout (the port is non-blocking with VMIN 1, so 0 bytes means nothing but a
 * hang-up). Here a read of 0 bytes is an error, which serialport takes for a disconnect: it closes
 * the port with that error.
 *
 * Reads and writes are made where serialport's poller says the port is ready, not in libuv's
 * thread pool: serialport opens the port O_NONBLOCK, so a read or write returns at once (EAGAIN,
 * which serialport's loops already wait out, when there is nothing to read or no room). Each
 * answer and each request took a trip through the pool (two thread switches, an eventfd and
 * futexes each way), which cost more CPU than the protocol and bounded a round trip.
 *
 * Nor do most bytes go through serialport's stream at all (its machinery and promises cost more
 * per 4 KiB answer and per 30-byte request than the protocol): portReader reads incoming bytes
 * and hands them on, and `writeNow` writes a request at once when nothing is queued before it.
 *
 * Left as it is (the old behaviour) when this serialport's reader or writer cannot be reached;
 * it then returns null and the stream carries the bytes both ways.
 */
async function unixPortIo(binding: UnixPortBinding, disconnected: (err: Error) => void): Promise<DirectIo | null> {
  let unixRead: UnixRead;
  let unixWrite: UnixWrite;
  try {
    const { createRequire } = await import('node:module');
    const fromSerialport = createRequire(createRequire(import.meta.url).resolve('serialport'));
    unixRead = (fromSerialport('@serialport/bindings-cpp/dist/unix-read.js') as { unixRead: UnixRead }).unixRead;
    unixWrite = (fromSerialport('@serialport/bindings-cpp/dist/unix-write.js') as { unixWrite: UnixWrite }).unixWrite;
  } catch {
    return null;
  }
  if (typeof unixRead !== 'function' || typeof unixWrite !== 'function') return null;
  const { readSync, writeSync } = await import('node:fs');
  /** Bytes read now, or null when there are none yet (EAGAIN); a hang-up is an error. */
  const readOnce = (fd: number, buffer: Buffer, offset: number, length: number): number | null => {
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, buffer, offset, length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return null;
      // Linux answers a read of a hung-up terminal (pseudo-terminal's other end closed, USB
      // device gone) with EIO as often as with 0 bytes: the same hang-up, said the same way.
      if (code === 'EIO') throw new Error(HANG_UP_MESSAGE);
      throw e;
    }
    if (bytesRead === 0 && length > 0) throw new Error(HANG_UP_MESSAGE);
    return bytesRead;
  };
  const readNow: ReadAsync = async (fd, buffer, offset, length) => {
    const bytesRead = readOnce(fd, buffer, offset, length);
    if (bytesRead === null) throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' }); // unixRead waits for the poller
    return { bytesRead, buffer };
  };
  const writeNow: WriteAsync = async (fd, buffer, offset, length) => ({ bytesWritten: writeSync(fd, buffer, offset, length), buffer });
  binding.read = (buffer, offset, length) => unixRead({ binding, buffer, offset, length, fsReadAsync: readNow });
  // As serialport's own write (bindings-cpp linux.js/darwin.js), with writeNow.
  binding.write = async (buffer) => {
    if (!binding.isOpen) throw new Error('Port is not open');
    binding.writeOperation = (async () => {
      if (buffer.length === 0) return;
      await unixWrite({ binding, buffer, fsWriteAsync: writeNow });
      binding.writeOperation = null;
    })();
    return binding.writeOperation;
  };
  if (!binding.poller) return null;
  return {
    read: portReader(binding, readOnce, disconnected),
    writeNow: (data) => {
      if (!binding.isOpen || binding.fd === null || binding.writeOperation !== null) return 0;
      try {
        return writeSync(binding.fd, data);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return 0;
        throw e;
      }
    },
  };
}

/** Starts reading the port; each chunk read goes to `deliver`. */
type PortReader = (deliver: (chunk: Buffer) => void) => void;

/** The port read and written without serialport's stream. */
interface DirectIo {
  read: PortReader;
  /**
   * Writes what the port takes of `data` now, without waiting: the bytes written (0 when the
   * port is full, or serialport is writing). Throws when the port fails (a hang-up).
   */
  writeNow(data: Uint8Array): number;
}

/** Bytes of the buffers chunks are read into (each chunk is a view of one, never overwritten). */
const READ_SLAB_BYTES = 64 * 1024;
/** A new slab is taken when less than this is left in the current one (a terminal reads at most 4 KiB at a time on Linux). */
const READ_MIN_SPACE = 4096;
/** Reads in a row before the event loop gets a turn (timers, file writes), when bytes keep coming. */
const READS_BEFORE_YIELD = 16;

/**
 * Reads the port as serialport's stream did, without the stream: one read, its bytes handed on,
 * and the next read after the work those bytes started (the answers they resolved, the requests
 * those sent) has run; when there is nothing to read, the next read waits for the poller. An
 * error (a hang-up) closes the port as a disconnection, as serialport's stream does. A port that
 * never runs dry still lets the event loop turn every READS_BEFORE_YIELD reads.
 */
function portReader(binding: UnixPortBinding, readOnce: (fd: number, buffer: Buffer, offset: number, length: number) => number | null, disconnected: (err: Error) => void): PortReader {
  return (deliver) => {
    let slab = Buffer.allocUnsafe(READ_SLAB_BYTES);
    let used = 0;
    let inARow = 0;
    const readMore = (): void => {
      const fd = binding.fd;
      if (!binding.isOpen || fd === null) return;
      if (slab.length - used < READ_MIN_SPACE) {
        slab = Buffer.allocUnsafe(READ_SLAB_BYTES);
        used = 0;
      }
      let n: number | null;
      try {
        n = readOnce(fd, slab, used, slab.length - used);
      } catch (e) {
        disconnected(e as Error);
        return;
      }
      if (n === null) {
        inARow = 0;
        binding.poller!.once('readable', (err) => {
          if (!err) readMore();
          else if (!err.canceled) disconnected(err);
        });
        return;
      }
      const chunk = slab.subarray(used, used + n);
      used += n;
      deliver(chunk);
      if (++inARow < READS_BEFORE_YIELD) process.nextTick(readMore);
      else {
        inARow = 0;
        setImmediate(readMore);
      }
    };
    // As the stream did: the first read after whoever opened the port has subscribed.
    process.nextTick(readMore);
  };
}

/** Opens a serial port with serialport. Loaded lazily so tests never need the native module. */
export async function openSerial(path: string, baudRate = 115200): Promise<Transport> {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false, lock: true });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(openError(path, err)) : resolve())));
  // serialport's own close after a read error: 'close' with the error, as its stream reports it.
  const stream = port as unknown as { _disconnected?: (e: Error) => void };
  const disconnected = (err: Error) => stream._disconnected!(err);
  // Before anything reads: the stream starts reading only if a 'data' listener is added below.
  const direct = process.platform !== 'win32' && port.port && typeof stream._disconnected === 'function' ? await unixPortIo(port.port as unknown as UnixPortBinding, disconnected) : null;
  // USB CDC devices want DTR to know a host is attached; pseudo-terminals refuse the ioctl.
  await new Promise<void>((resolve) => port.set({ dtr: true }, () => resolve()));

  let open = true;
  const dataCbs = new Set<(b: Buffer) => void>();
  const closeCbs = new Set<(e?: Error) => void>();
  const finish = (err?: Error) => {
    if (!open) return;
    open = false;
    for (const cb of [...closeCbs]) cb(err);
  };
  const deliver = (b: Buffer) => {
    for (const cb of [...dataCbs]) cb(b);
  };
  if (direct) direct.read(deliver);
  else port.on('data', deliver);
  port.on('close', (err?: Error) => finish(err ?? undefined));
  port.on('error', (err: Error) => {
    finish(err);
    if (port.isOpen) port.close(() => undefined);
  });

  return {
    path,
    get isOpen() {
      return open;
    },
    write(data: Uint8Array) {
      if (!open) return Promise.reject(new EngineError('DISCONNECTED', 'The recorder is disconnected.', 'Plug the recorder back in.'));
      // Written at once when nothing waits in the stream before it (else the order would change);
      // what the port does not take now goes through the stream, which waits for room.
      if (direct && port.writableLength === 0) {
        let n: number;
        try {
          n = direct.writeNow(data);
        } catch (e) {
          disconnected(e as Error); // as serialport's stream does after a failed write
          return Promise.reject(new EngineError('DISCONNECTED', `Sending to the recorder failed: ${(e as Error).message}.`, 'Plug the recorder back in.'));
        }
        if (n === data.length) return Promise.resolve();
        data = data.subarray(n);
      }
      return new Promise<void>((resolve, reject) => {
        let settled = false;
        const onClose = () => {
          if (!settled) {
            settled = true;
            reject(new EngineError('DISCONNECTED', 'The recorder was disconnected while sending.', 'Plug the recorder back in.'));
          }
        };
        closeCbs.add(onClose);
        const ok = port.write(Buffer.from(data), (err) => {
          if (err && !settled) {
            settled = true;
            closeCbs.delete(onClose);
            reject(new EngineError('DISCONNECTED', `Sending to the recorder failed: ${err.message}.`, 'Plug the recorder back in.'));
          }
        });
        const done = () => {
          if (!settled) {
            settled = true;
            closeCbs.delete(onClose);
            resolve();
          }
        };
        if (ok) done();
        else port.once('drain', done);
      });
    },
    onData(cb) {
      dataCbs.add(cb);
      return () => dataCbs.delete(cb);
    },
    onClose(cb) {
      closeCbs.add(cb);
      return () => closeCbs.delete(cb);
    },
    close() {
      return new Promise<void>((resolve) => {
        if (!port.isOpen) {
          finish();
          resolve();
          return;
        }
        port.close(() => {
          finish();
          resolve();
        });
      });
    },
  };
}
