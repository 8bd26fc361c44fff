/**
 * A hang-up of the recorder's port (the USB device gone, the other end of a pseudo-terminal
 * closed) closes the app's transport (host/engine/transport.ts, the real `serialport`) at once,
 * also while bytes are pouring in: serialport alone read the hung-up port (0 bytes) again and
 * again and noticed nothing until the app next wrote. A socat pseudo-terminal fed from
 * /dev/zero stands in for a recorder that is sending when it goes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { EngineError } from '../host/engine/errors.js';
import { HANG_UP_MESSAGE, openSerial, type Transport } from '../host/engine/transport.js';
import { requireTool, stopAll, tempDir } from './support/sim.js';

beforeAll(() => requireTool('socat', 'socat'));

const procs: ChildProcess[] = [];
const transports: Transport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await stopAll();
});

/** A pseudo-terminal whose other end writes zeros as fast as the app takes them. */
async function pouringDevice(dir: string): Promise<{ path: string; proc: ChildProcess; exited: Promise<unknown> }> {
  const path = join(dir, 'device');
  const proc = spawn('socat', ['-u', 'OPEN:/dev/zero', `PTY,link=${path},raw,echo=0`], { stdio: 'ignore' });
  procs.push(proc);
  setTimeout(() => proc.kill('SIGKILL'), 60_000).unref();
  const exited = new Promise((r) => proc.once('exit', r));
  for (let waited = 0; !existsSync(path); waited += 10) {
    if (waited > 30_000 || proc.exitCode !== null || proc.signalCode !== null) throw new Error(`socat did not make ${path}`);
    await sleep(10);
  }
  return { path, proc, exited };
}

it('a port hung up while bytes pour in closes the transport at once, as a disconnection', async () => {
  const device = await pouringDevice(tempDir('rec-hangup-'));
  const t = await openSerial(device.path);
  transports.push(t);
  let received = 0;
  let flowing: () => void = () => undefined;
  const enough = new Promise<void>((r) => (flowing = r));
  t.onData((b) => {
    received += b.length;
    if (received > 1_000_000) flowing();
  });
  const closed = new Promise<Error | undefined>((r) => t.onClose(r));
  await enough;
  expect(t.isOpen).toBe(true);

  device.proc.kill('SIGKILL'); // the other end goes while the app is busy reading
  await device.exited;
  // Nothing is written: only the read side can notice. Bounded well inside the test's timeout.
  const bound = sleep(30_000).then(() => 'still open' as const);
  const err = await Promise.race([closed, bound]);
  expect(err).not.toBe('still open');
  expect(t.isOpen).toBe(false);
  expect((err as Error).message).toMatch(new RegExp(`${HANG_UP_MESSAGE}|bad file descriptor|input/output error`, 'i'));
  // and the next write says so plainly, without trying
  const write = await t.write(Buffer.from([0])).then(
    () => null,
    (e: unknown) => e,
  );
  expect(write).toBeInstanceOf(EngineError);
  expect((write as EngineError).code).toBe('DISCONNECTED');
}, 60_000);
