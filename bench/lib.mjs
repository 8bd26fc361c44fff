// Shared helpers for the benchmarks (bench/run.mjs): bounded child processes and the release
// simulator (both from the simulator driver, host/sim/driver.ts, built into dist/), socat
// pseudo-terminal pairs, and the app run with its CPU time (paced links use the shared relay,
// test/support/relay.ts, compiled by run.mjs).
// Every process started here has a hard timeout and is killed by killAll() (also on exit).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
// The simulator driver, from the app build (npm run bench builds it first).
import { buildSimulator, killAllNow, recordWithButton, spawnLines, startSimulator } from '../dist/host/sim/driver.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'host', 'cli', 'main.js');
export const BENCH = join(ROOT, 'bench');
export const sleep = (ms) => sleepMs(ms);

/** SIGKILLs every process the benchmarks started that still runs. */
export const killAll = killAllNow;

const temps = new Set();

export function cleanTemps() {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
  temps.clear();
}

process.on('exit', () => {
  killAll();
  if (!process.env.BENCH_KEEP) cleanTemps();
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

export function tempDir(prefix = 'rec-bench-') {
  const d = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), prefix));
  temps.add(d);
  return d;
}

/**
 * Spawns a process with a hard timeout (SIGKILL), its stdout in lines (the simulator driver's
 * spawnLines): `done` resolves with { code, signal, ms } when it exits.
 */
export function start(cmd, args, o = {}) {
  const p = spawnLines(cmd, args, { timeoutMs: o.timeoutMs ?? 120_000, cwd: o.cwd, env: o.env, onLine: o.onLine });
  return {
    proc: p.proc,
    lines: p.lines,
    stderr: p.stderr,
    done: p.exit,
    t0: p.t0,
    send: (line) => p.send(line),
    waitLine: (re, timeoutMs = 30_000, from = 0) => p.waitLine(re, { timeoutMs, from }),
    stop: (timeoutMs = 5000) => p.stop(timeoutMs),
  };
}

export async function waitPath(p, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!existsSync(p)) {
    if (Date.now() > end) throw new Error(`${p} did not appear within ${timeoutMs} ms`);
    await sleep(5);
  }
}

export function run(cmd, args, o = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: o.timeoutMs ?? 600_000, cwd: o.cwd ?? ROOT, env: { ...process.env, ...(o.env ?? {}) }, maxBuffer: 64 << 20 });
  if (r.status !== 0 && !o.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-2000)}`);
  return r;
}

/** Builds a release simulator in its own build dir (firmware/build-bench*); returns its path. */
export function buildSim(dir = 'build-bench', extraCFlags = '') {
  return buildSimulator({ root: ROOT, buildDir: dir, cflags: extraCFlags, output: 'capture' });
}

/** Builds bench/ptyblast.c (raw pty writer) next to the bench simulator. */
export function buildBlaster() {
  const out = join(ROOT, 'firmware', 'build-bench', 'ptyblast');
  run('cc', ['-O2', '-Wall', '-Wextra', '-o', out, join(BENCH, 'ptyblast.c')]);
  return out;
}

/** Starts recorder-sim; resolves once it printed `ready`. */
export async function startSim(bin, dir, o = {}) {
  const image = o.image ?? join(dir, 'card.img');
  const link = join(dir, `dev-${Math.random().toString(36).slice(2, 8)}`);
  const sim = await startSimulator({ bin, image, link, sizeMb: o.sizeMb ?? 256, mic: o.mic ?? 'ramp', quiet: true, speed: o.speed, stallEvery: o.stallEvery, stallMs: o.stallMs, timeoutMs: o.timeoutMs ?? 1_800_000 });
  return {
    driver: sim,
    proc: sim.proc,
    lines: sim.lines,
    link,
    image,
    send: (line) => sim.send(line),
    waitLine: (re, timeoutMs = 30_000, from = 0) => sim.waitLine(re, { timeoutMs, from }),
    quit: () => sim.quit(20_000),
  };
}

/** A card image with one recording of `seconds` at `rate` Hz (mic `mic`) made by the simulator `bin`: { dir, image }. */
export async function makeImage(bin, name, { seconds, rate = 16000, mic = 'demo', sizeMb = 256, speed = 50 }) {
  const dir = tempDir(`rec-bench-${name}-`);
  const sim = await startSim(bin, dir, { mic, speed, sizeMb });
  if (rate !== 16000) {
    const r = await runApp(['settings', '--rate', String(rate), '--port', sim.link], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`settings failed: ${r.stderr}`);
  }
  await record(sim, seconds, speed);
  await sim.quit();
  return { dir, image: sim.image };
}

/** Makes one recording of `seconds` device seconds with the button (sim at `speed`). */
export async function record(sim, seconds, speed) {
  const stoppedAt = await recordWithButton(sim.driver, seconds, speed, 60_000);
  await sim.waitLine(/^state rec=idle/, 60_000, stoppedAt);
}

/** A socat pseudo-terminal pair: bytes written to one end come out of the other. */
export async function ptyPair(dir, name) {
  const a = join(dir, `${name}-a`);
  const b = join(dir, `${name}-b`);
  const p = start('socat', [`PTY,raw,echo=0,link=${a}`, `PTY,raw,echo=0,link=${b}`], { timeoutMs: 3_600_000 });
  await waitPath(a);
  await waitPath(b);
  return { a, b, proc: p };
}

/**
 * Runs the real app (dist/host/cli/main.js, or o.cli: another build of it, for a comparison) with
 * bench/cpu-hook.mjs, which writes the process's CPU time at exit; o.nodeArgs go to node (e.g.
 * --cpu-prof). Returns wall ms, CPU seconds, JSON events, exit code.
 */
export async function runApp(args, o = {}) {
  const cpuFile = join(o.dir ?? tempDir(), `cpu-${Math.random().toString(36).slice(2, 8)}.json`);
  const events = [];
  const preload = ['./cpu-hook.mjs', ...(o.preload ?? [])].flatMap((m) => ['--import', new URL(m, import.meta.url).href]);
  // o.wrap: a command the app runs under (e.g. strace), its arguments before node's.
  const [cmd, ...before] = [...(o.wrap ?? []), process.execPath];
  const p = start(cmd, [...before, ...(o.nodeArgs ?? []), ...preload, o.cli ?? CLI, ...args, '--json'], {
    timeoutMs: o.timeoutMs ?? 900_000,
    env: { CI: '1', BENCH_CPU_FILE: cpuFile },
    onLine: (l) => {
      try {
        const e = JSON.parse(l);
        e.t = performance.now();
        events.push(e);
        o.onEvent?.(e);
      } catch {
        // not JSON
      }
    },
  });
  const r = await p.done;
  let cpu = null;
  try {
    cpu = JSON.parse(readFileSync(cpuFile, 'utf8'));
  } catch {
    // killed before exit
  }
  return { code: r.code, wallMs: r.ms, t0: p.t0, cpu, events, stderr: p.stderr.join('') };
}

/** Transfer phase of a sync from its events: first file.started to the last byte of the last file. */
export function transferPhase(events) {
  const started = events.find((e) => e.type === 'file.started');
  const verified = events.filter((e) => e.type === 'file.verified');
  const done = events.filter((e) => e.type === 'file.progress' && e.bytes === e.total);
  const last = done.at(-1);
  if (!started || !last) return null;
  return { ms: last.t - started.t, toVerifiedMs: verified.length ? verified.at(-1).t - started.t : null };
}

export function median(xs) {
  const s = [...xs].filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((x, y) => x - y);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median with the spread of the repeats, for the noise column. */
export function stats(xs) {
  const s = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x));
  if (!s.length) return { median: null, min: null, max: null, n: 0, spread: null };
  const med = median(s);
  const min = Math.min(...s);
  const max = Math.max(...s);
  return { median: med, min, max, n: s.length, spread: med ? (max - min) / med : null };
}

export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown';
  const nproc = run('nproc', []).stdout.trim();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return { nproc: Number(nproc), cpu: model, node: process.version, loadavg: load };
}
