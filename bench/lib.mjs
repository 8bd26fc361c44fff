// Shared helpers for the benchmarks (bench/run.mjs): bounded child processes, the release
// simulator, socat pseudo-terminal pairs, and the app run with its CPU time (paced links use
// the shared relay, test/support/relay.ts, compiled by run.mjs).
// Every process started here has a hard timeout and is killed by killAll() (also on exit).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'host', 'cli', 'main.js');
export const BENCH = join(ROOT, 'bench');
export const sleep = (ms) => sleepMs(ms);

const running = new Set();
const temps = new Set();

export function killAll() {
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  running.clear();
}

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
 * Spawns a process with a hard timeout (SIGKILL). Returns { proc, lines, stderr, done, waitLine }:
 * `done` resolves with { code, signal, ms } when it exits.
 */
export function start(cmd, args, o = {}) {
  const t0 = performance.now();
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: o.cwd, env: { ...process.env, ...(o.env ?? {}) } });
  running.add(proc);
  const hard = setTimeout(() => proc.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  const lines = [];
  const stderr = [];
  const waiters = [];
  let buf = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      o.onLine?.(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (c) => stderr.push(c));
  proc.stdin.on('error', () => undefined);
  const done = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(hard);
      running.delete(proc);
      for (const w of waiters.splice(0)) w.reject(new Error(`${cmd} exited (${code ?? signal}) before printing ${w.re}: ${stderr.join('').slice(-1500)}`));
      resolve({ code, signal, ms: performance.now() - t0 });
    });
  });
  return {
    proc,
    lines,
    stderr,
    done,
    t0,
    send(line) {
      proc.stdin.write(line + '\n');
    },
    waitLine(re, timeoutMs = 30_000, from = 0) {
      const seen = lines.slice(from).find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.reject(new Error(`${cmd} already exited; stderr: ${stderr.join('').slice(-1500)}`));
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${cmd} did not print ${re} within ${timeoutMs} ms; stderr: ${stderr.join('').slice(-1500)}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop(timeoutMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return done;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const r = await done;
      clearTimeout(t);
      return r;
    },
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
  const bin = join(ROOT, 'firmware', dir, 'ports', 'host', 'recorder-sim');
  // -Wno-error for two warnings that only a Release (-O3 -DNDEBUG) build shows: a
  // maybe-uninitialized false positive in fat.c and buf_size unused once REC_ASSERT is compiled out.
  const cflags = `-Wno-error=maybe-uninitialized -Wno-error=unused-parameter ${extraCFlags}`.trim();
  run('cmake', ['-S', 'firmware', '-B', `firmware/${dir}`, '-DREC_SANITIZE=OFF', '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_C_FLAGS=${cflags}`]);
  run('cmake', ['--build', `firmware/${dir}`, '-j2', '--target', 'recorder-sim']);
  if (!existsSync(bin)) throw new Error(`no simulator at ${bin}`);
  return bin;
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
  const args = ['--image', image, '--link', link, '--size-mb', String(o.sizeMb ?? 256), '--mic', o.mic ?? 'ramp', '--quiet'];
  if (o.speed) args.push('--speed', String(o.speed));
  if (o.stallEvery) args.push('--stall-every', String(o.stallEvery), '--stall-ms', String(o.stallMs));
  const p = start(bin, args, { timeoutMs: o.timeoutMs ?? 1_800_000 });
  await p.waitLine(/^ready/, 30_000);
  return {
    ...p,
    link,
    image,
    async quit() {
      p.send('quit');
      const t = setTimeout(() => p.proc.kill('SIGKILL'), 20_000);
      const r = await p.done;
      clearTimeout(t);
      return r;
    },
  };
}

/** Makes one recording of `seconds` device seconds with the button (sim at `speed`). */
export async function record(sim, seconds, speed) {
  let from = sim.lines.length;
  sim.send('press');
  await sim.waitLine(/^mic on/, 60_000, from);
  await sleep((seconds * 1000) / speed);
  from = sim.lines.length;
  sim.send('press');
  await sim.waitLine(/^mic off/, 60_000, from);
  await sim.waitLine(/^state rec=idle/, 60_000, from);
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
 * Runs the real app (dist/host/cli/main.js) with bench/cpu-hook.mjs, which writes the process's
 * CPU time at exit. Returns wall ms, CPU seconds, JSON events, exit code.
 */
export async function runApp(args, o = {}) {
  const cpuFile = join(o.dir ?? tempDir(), `cpu-${Math.random().toString(36).slice(2, 8)}.json`);
  const events = [];
  const preload = ['./cpu-hook.mjs', ...(o.preload ?? [])].flatMap((m) => ['--import', new URL(m, import.meta.url).href]);
  const p = start(process.execPath, [...preload, CLI, ...args, '--json'], {
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
