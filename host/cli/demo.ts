/**
 * The demo recorder: when `recorder` (npm start) finds no recorder, it starts the firmware
 * simulator with a few recordings of speech-like audio, labelled as simulated, so a newcomer sees
 * the whole app work. The demo card and library live in a temporary folder, never in the real
 * library.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine } from '../engine/engine.js';
import { findSimulator } from './sim.js';

export const DEMO_LABEL = 'Demo (simulated)';

export interface Demo {
  link: string;
  library: string;
  folder: string;
  stop(): Promise<void>;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Builds the simulator with CMake when it is not there yet (first run). */
function buildSimulator(log: (s: string) => void): string {
  const root = [ROOT, resolve(ROOT, '..')].find((r) => spawnSync('test', ['-f', join(r, 'firmware', 'CMakeLists.txt')]).status === 0);
  if (!root) throw new Error('the firmware sources are not beside the app, so the simulator cannot be built');
  log('Building the simulated recorder (first run only)...');
  // A lean release build of the simulator alone: no tests (no cmocka needed), no sanitizers.
  const build = join(root, 'firmware', 'build-sim');
  for (const args of [
    ['-S', join(root, 'firmware'), '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DREC_SANITIZE=OFF', '-DREC_BUILD_TESTS=OFF'],
    ['--build', build, '-j', '2', '--target', 'recorder-sim'],
  ]) {
    const r = spawnSync('cmake', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.error || r.status !== 0) {
      throw new Error(`building the simulator failed (cmake ${args[0]}): install cmake and gcc (Debian packages), then try again`);
    }
  }
  const bin = findSimulator();
  if (!bin) throw new Error('the simulator was built but cannot be found');
  return bin;
}

interface SimProcess {
  proc: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
  send(cmd: string): void;
  quit(): Promise<void>;
}

function runSim(bin: string, args: string[]): SimProcess {
  const proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  const lines: string[] = [];
  const waiters: { re: RegExp; done: () => void }[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (!w.re.test(line)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.done();
      }
    }
  });
  return {
    proc,
    lines,
    waitFor(re, timeoutMs) {
      if (lines.some((l) => re.test(l))) return Promise.resolve();
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`the simulated recorder did not respond (${re})`)), timeoutMs);
        waiters.push({ re, done: () => (clearTimeout(t), res()) });
        proc.once('exit', () => (clearTimeout(t), rej(new Error('the simulated recorder stopped unexpectedly'))));
      });
    },
    send(cmd) {
      proc.stdin!.write(cmd + '\n');
    },
    quit() {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
      return new Promise((res) => {
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.once('exit', () => (clearTimeout(t), res()));
        proc.stdin!.write('quit\n');
      });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the demo: a fresh card with three recordings (about 45, 90 and 30 seconds of
 * speech-like audio), then the simulator again in real time for the app to connect to.
 */
export async function startDemo(log: (s: string) => void, folder = join(tmpdir(), 'evidence-recorder-demo')): Promise<Demo> {
  const bin = findSimulator() ?? buildSimulator(log);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const image = join(folder, 'card.img');
  const link = join(folder, 'recorder-tty');
  const library = join(folder, 'library');
  const common = ['--image', image, '--link', link, '--size-mb', '128', '--mic', 'demo'];
  log('No recorder found: starting the simulated recorder with demo recordings...');

  // Make the demo recordings quickly: 40 times real time.
  const speed = 40;
  const fast = runSim(bin, [...common, '--speed', String(speed)]);
  try {
    await fast.waitFor(/^ready/, 30_000);
    // Date the recordings as after provisioning. The device clock runs 40 times fast here, so
    // start it back by the demo's length: the recordings then end about now, not in the future.
    const lengths = [45, 90, 30];
    const aheadMs = (lengths.reduce((a, b) => a + b, 0) + 30) * 1000;
    const engine = createEngine({ port: link, now: () => Date.now() - aheadMs });
    await engine.setLabel(DEMO_LABEL);
    await engine.setTime();
    for (const seconds of lengths) {
      fast.send('press');
      await fast.waitFor(new RegExp(`^mic on`), 10_000);
      await sleep((seconds * 1000) / speed);
      fast.lines.length = 0;
      fast.send('press');
      await fast.waitFor(/^mic off/, 10_000);
      fast.lines.length = 0;
    }
  } finally {
    await fast.quit();
  }
  // Then in real time, as a recorder on a desk would be.
  const live = runSim(bin, common);
  await live.waitFor(/^ready/, 30_000);
  return {
    link,
    library,
    folder,
    async stop() {
      await live.quit();
    },
  };
}
