#!/usr/bin/env node
// One sync through the app's engine (dist/host/engine), with the engine options the CLI does not
// expose: read window, chunk (bytes per READ) and the payload limit offered in HELLO. Prints one
// JSON line: bytes, wall and transfer-phase milliseconds, CPU time of this process.
//
//   node bench/sync-engine.mjs --port PATH --dest DIR [--window N] [--chunk BYTES] [--max-payload N]
import { performance } from 'node:perf_hooks';
import { createEngine } from '../dist/host/engine/index.js';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name) => (opt(name) === undefined ? undefined : Number(opt(name)));

const t0 = performance.now();
const cpu0 = process.cpuUsage();
const engine = createEngine({ port: opt('port'), maxPayload: num('max-payload'), timeoutMs: num('timeout'), appVersion: 'bench' });
let started = null;
let lastByte = null;
let maxPayload = null;
engine.on((e) => {
  if (e.type === 'file.started' && started === null) started = performance.now();
  if (e.type === 'file.progress' && e.bytes === e.total) lastByte = performance.now();
  if (e.type === 'device.info') maxPayload = e.device.maxPayload ?? null;
});
const r = await engine.sync({ dest: opt('dest'), window: num('window'), chunkSize: num('chunk'), setTime: false, progressIntervalMs: 1000 });
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  JSON.stringify({
    ok: r.ok,
    bytes: r.bytes,
    copied: r.copied,
    wallMs: performance.now() - t0,
    transferMs: started !== null && lastByte !== null ? lastByte - started : null,
    maxPayload,
    cpu: { userUs: cpu.user, systemUs: cpu.system },
    failed: r.failed,
  }) + '\n',
);
process.exit(r.ok ? 0 : 1);
