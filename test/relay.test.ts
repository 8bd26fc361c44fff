/**
 * The fault-injecting relay (test/support/relay.ts) against a loopback: a socat pseudo-terminal
 * stands in for the device, the test plays both the device (socat's stdio) and the app (the real
 * `serialport` on the relay's terminal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Relay, stopAllRelays, type RelayOptions } from './support/relay.js';
import { requireTool, stopAll, tempDir } from './support/sim.js';

beforeAll(() => requireTool('socat', 'socat'));

const procs: ChildProcess[] = [];
const ports: SerialPort[] = [];
afterEach(async () => {
  for (const p of ports.splice(0)) if (p.isOpen) await new Promise((r) => p.close(r));
  await stopAllRelays();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await stopAll();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake device: a pseudo-terminal whose other end is this process. */
async function fakeDevice(dir: string): Promise<{ path: string; proc: ChildProcess; received: Buffer[] }> {
  const path = join(dir, 'device');
  const proc = spawn('socat', [`PTY,link=${path},raw,echo=0`, 'STDIO'], { stdio: ['pipe', 'pipe', 'ignore'] });
  procs.push(proc);
  setTimeout(() => proc.kill('SIGKILL'), 60_000).unref();
  const received: Buffer[] = [];
  proc.stdout!.on('data', (b: Buffer) => received.push(b));
  const end = Date.now() + 30_000;
  while (!existsSync(path)) {
    if (Date.now() > end || proc.exitCode !== null || proc.signalCode !== null) throw new Error(`socat did not make ${path}`);
    await sleep(10);
  }
  return { path, proc, received };
}

function openApp(path: string): Promise<{ port: SerialPort; received: Buffer[]; closed: Promise<Error | undefined> }> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    const received: Buffer[] = [];
    port.on('data', (b: Buffer) => received.push(b));
    let onClose: (e?: Error) => void = () => undefined;
    const closed = new Promise<Error | undefined>((r) => (onClose = r));
    port.on('close', (e?: Error) => onClose(e ?? undefined));
    port.on('error', (e: Error) => onClose(e));
    port.open((err) => {
      if (err) return reject(err);
      ports.push(port);
      resolve({ port, received, closed });
    });
  });
}

async function waitBytes(parts: Buffer[], n: number, timeoutMs = 30_000): Promise<Buffer> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const b = Buffer.concat(parts);
    if (b.length >= n) return b;
    if (Date.now() > end) throw new Error(`only ${b.length} of ${n} bytes arrived`);
    await sleep(10);
  }
}

function pattern(n: number, salt = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + salt + (i >> 8)) & 0xff;
  return b;
}

async function relayFor(o: Partial<RelayOptions> = {}) {
  const dir = tempDir('rec-relay-');
  const dev = await fakeDevice(dir);
  const relay = await Relay.start({ devicePath: dev.path, appLink: join(dir, 'app'), timeoutMs: 60_000, ...o });
  const app = await openApp(relay.appLink);
  return { dir, dev, relay, app };
}

describe('relay', () => {
  it('forwards both ways unchanged and counts the bytes', async () => {
    const { dev, relay, app } = await relayFor();
    const down = pattern(200_000);
    const up = pattern(50_000, 3);
    dev.proc.stdin!.write(down);
    app.port.write(up);
    expect((await waitBytes(app.received, down.length)).equals(down)).toBe(true);
    expect((await waitBytes(dev.received, up.length)).equals(up)).toBe(true);
    const s = relay.stats();
    expect(s.toApp.bytesIn).toBe(down.length);
    expect(s.toApp.bytesOut).toBe(down.length);
    expect(s.toDevice.bytesOut).toBe(up.length);
    expect(s.faults).toBe(0);
  });

  it('limits the rate with a token bucket', async () => {
    const { dev, app } = await relayFor({ toApp: { bytesPerSecond: 100_000 } });
    const down = pattern(150_000);
    const t0 = Date.now();
    dev.proc.stdin!.write(down);
    expect((await waitBytes(app.received, down.length)).equals(down)).toBe(true);
    // Not faster than the rate (1.5 s, less the bucket's head start). No upper bound on the wall
    // clock here: a loaded machine is slower; waitBytes' 30 s bounds a relay that stalls.
    const s = (Date.now() - t0) / 1000;
    expect(s).toBeGreaterThan(1.3);
  });

  it('injects the same bit flips, drops and duplicates for the same seed', async () => {
    const faults = { corruptRate: 1e-3, dropRate: 5e-4, dupRate: 2e-4, seed: 42 };
    const down = pattern(100_000);
    const outs: Buffer[] = [];
    for (let run = 0; run < 2; run++) {
      const { dev, relay, app } = await relayFor({ toApp: faults, seed: 42 });
      // Different chunking in the two runs: faults follow byte positions, not timing.
      if (run === 0) dev.proc.stdin!.write(down);
      else for (let o = 0; o < down.length; o += 1000) dev.proc.stdin!.write(down.subarray(o, o + 1000));
      const s0 = await until(() => relay.stats().toApp.bytesIn === down.length && relay.stats().toApp.bytesOut === Buffer.concat(app.received).length);
      expect(s0).toBe(true);
      const s = relay.stats();
      expect(s.toApp.corrupted).toBeGreaterThan(50);
      expect(s.toApp.dropped).toBeGreaterThan(20);
      expect(s.toApp.duplicatedChunks).toBeGreaterThan(5);
      expect(s.toApp.bytesOut).toBe(down.length - s.toApp.dropped + s.toApp.duplicatedBytes);
      outs.push(Buffer.concat(app.received));
      await relay.stop();
    }
    expect(outs[0]!.equals(outs[1]!)).toBe(true);
    expect(outs[0]!.equals(down)).toBe(false);
  });

  it('stalls every N bytes', async () => {
    const { dev, relay, app } = await relayFor({ toApp: { stallEveryBytes: 10_000, stallMs: 100 } });
    const t0 = Date.now();
    dev.proc.stdin!.write(pattern(50_000));
    await waitBytes(app.received, 50_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(relay.stats().toApp.stalls).toBe(5);
  });

  it('models an unplug: the open port closes, the path disappears and comes back', async () => {
    const { dev, relay, app } = await relayFor({ disconnectEveryBytes: 20_000, disconnectMs: 500, maxDisconnects: 1 });
    dev.proc.stdin!.write(pattern(30_000));
    expect(await until(() => !existsSync(relay.appLink), 5000)).toBe(true);
    // As with a USB serial device on Linux, the hang-up shows at the next write: it fails and the
    // port closes (the app's engine writes a request at least every timeout).
    app.port.write(Buffer.from('anyone there?'));
    const err = await Promise.race([app.closed, sleep(5000).then(() => 'no close')]);
    expect(err).not.toBe('no close');
    // Plugged back in: the path is there and the relay forwards again (under load the path can
    // appear a moment before the relay forwards; bytes sent in between are lost, as on a cable).
    expect(await until(() => existsSync(relay.appLink) && relay.pluggedIn, 5000)).toBe(true);
    expect(relay.stats().disconnects).toBe(1);
    // What the device sent while unplugged is gone; a new session works both ways.
    const again = await openApp(relay.appLink);
    dev.proc.stdin!.write(pattern(5000, 9));
    expect((await waitBytes(again.received, 5000)).equals(pattern(5000, 9))).toBe(true);
    again.port.write(Buffer.from('hello'));
    expect((await waitBytes(dev.received, 5)).subarray(-5).toString()).toBe('hello');
  });

  it('stop() kills socat and removes the link', async () => {
    const { relay } = await relayFor();
    await relay.stop();
    expect(existsSync(relay.appLink)).toBe(false);
    const r = spawn('pgrep', ['-f', `PTY,link=${relay.appLink}`]);
    const code = await new Promise((res) => r.once('exit', res));
    expect(code).toBe(1);
  });
});

async function until(f: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}
