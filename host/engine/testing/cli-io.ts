/**
 * The command line's streams for tests of `run` (host/cli/main.ts): in-memory stdout/stderr that
 * collect what the CLI printed, and the engine on a fake device when one is given.
 */
import { PassThrough } from 'node:stream';
import type { Io } from '../../cli/main.js';
import type { FakeDevice } from './fake-device.js';

export function cliIo(device?: FakeDevice, env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  const stderr = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b));
  stderr.on('data', (b: Buffer) => (err += b));
  const io: Io = { stdout, stderr, stdin: new PassThrough() as unknown as NodeJS.ReadStream, env, engine: device ? { open: device.opener, timeoutMs: 60, appVersion: 't' } : {} };
  return { io, out: () => out, err: () => err, json: () => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}
