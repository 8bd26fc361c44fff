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
 * Left as it is (the old behaviour) when this serialport's reader or writer cannot be reached.
 */
async function unixPortIo(binding: UnixPortBinding): Promise<void> {
  let unixRead: UnixRead;
  let unixWrite: UnixWrite;
  try {
    const { createRequire } = await import('node:module');
    const fromSerialport = createRequire(createRequire(import.meta.url).resolve('serialport'));
    unixRead = (fromSerialport('@serialport/bindings-cpp/dist/unix-read.js') as { unixRead: UnixRead }).unixRead;
    unixWrite = (fromSerialport('@serialport/bindings-cpp/dist/unix-write.js') as { unixWrite: UnixWrite }).unixWrite;
  } catch {
    return;
  }
  if (typeof unixRead !== 'function' || typeof unixWrite !== 'function') return;
  const { readSync, writeSync } = await import('node:fs');
  const readNow: ReadAsync = async (fd, buffer, offset, length, position) => {
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, buffer, offset, length, position);
    } catch (e) {
      // Linux answers a read of a hung-up terminal (pseudo-terminal's other end closed, USB
      // device gone) with EIO as often as with 0 bytes: the same hang-up, said the same way.
      if ((e as NodeJS.ErrnoException).code === 'EIO') throw new Error(HANG_UP_MESSAGE);
      throw e;
    }
    if (bytesRead === 0 && length > 0) throw new Error(HANG_UP_MESSAGE);
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
}

/** Opens a serial port with serialport. Loaded lazily so tests never need the native module. */
export async function openSerial(path: string, baudRate = 115200): Promise<Transport> {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false, lock: true });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(openError(path, err)) : resolve())));
  // Before anything reads: the stream starts reading when the 'data' listener is added below.
  if (process.platform !== 'win32' && port.port) await unixPortIo(port.port as unknown as UnixPortBinding);
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
  port.on('data', (b: Buffer) => {
    for (const cb of [...dataCbs]) cb(b);
  });
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
