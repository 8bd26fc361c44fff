/** Test helpers: a fake device, an engine wired to it, a temp library and collected events. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type EngineOptions } from '../engine.js';
import type { EngineEvent, EngineEventType, EventOf } from '../events.js';
import { FakeDevice } from './fake-device.js';

export function setup(opts: Partial<EngineOptions> = {}) {
  const device = new FakeDevice();
  const dest = mkdtempSync(join(tmpdir(), 'recorder-lib-'));
  // A home of its own: commands without a folder keep the fleet in ~/Recordings (issue 16).
  const home = mkdtempSync(join(tmpdir(), 'recorder-home-'));
  const events: EngineEvent[] = [];
  const engine = createEngine({ port: device.path, open: device.opener, timeoutMs: 60, retries: 3, reconnectPollMs: 10, reconnectTimeoutMs: 2000, appVersion: '9.9.9-test', home, ...opts });
  engine.on((e) => {
    events.push(e);
    // every event must survive JSON (no bigint, no Buffer)
    JSON.stringify(e);
  });
  const of = <T extends EngineEventType>(t: T) => events.filter((e): e is EventOf<T> => e.type === t);
  const types = () => events.map((e) => e.type);
  return { device, dest, home, events, engine, of, types };
}
