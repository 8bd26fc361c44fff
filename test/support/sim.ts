/**
 * Starts the C simulator (firmware/build/ports/host/recorder-sim) for end-to-end tests: a real
 * pseudo-terminal, a real card image. Every process started here is bounded by a timeout and
 * killed when the test ends, also when it fails (register `stopAll` in afterEach).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIM_BIN = process.env.REC_SIM_BIN ?? join(ROOT, 'firmware', 'build', 'ports', 'host', 'recorder-sim');
export const CLI = join(ROOT, 'dist', 'host', 'cli', 'main.js');

export function requireSimulator(): void {
  if (!existsSync(SIM_BIN)) throw new Error(`simulator not built at ${SIM_BIN}: run npm test (it builds firmware/build first)`);
}

export function requireTool(tool: string, debianPackage: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool} || test -x /sbin/${tool}`]);
  if (r.status !== 0) throw new Error(`${tool} is missing: install the Debian package ${debianPackage}`);
}

export interface SimOptions {
  dir: string;
  image?: string;
  sizeMb?: number;
  mic?: string;
  speed?: number;
  stallEvery?: number;
  stallMs?: number;
  /** Hard limit on the simulator's life. */
  timeoutMs?: number;
  extraArgs?: string[];
}

export interface Sim {
  link: string;
  image: string;
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  send(command: string): void;
  /** Waits for a stdout line matching re. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Clean shutdown (`quit`), killed if it does not exit in time. */
  quit(timeoutMs?: number): Promise<number | null>;
  /** Power cut. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function tempDir(prefix = 'rec-e2e-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Kills every process still running and removes temp folders; for afterEach/afterAll. */
export async function stopAll(): Promise<void> {
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  running.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function exited(p: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

export async function startSim(o: SimOptions): Promise<Sim> {
  requireSimulator();
  const image = o.image ?? join(o.dir, 'card.img');
  const link = join(o.dir, `tty-${Math.random().toString(36).slice(2, 8)}`);
  const args = ['--image', image, '--link', link, '--size-mb', String(o.sizeMb ?? 128), '--mic', o.mic ?? 'ramp'];
  if (o.speed) args.push('--speed', String(o.speed));
  if (o.stallEvery) args.push('--stall-every', String(o.stallEvery), '--stall-ms', String(o.stallMs ?? 500));
  args.push(...(o.extraArgs ?? []));
  // A simulator running faster than real time is a real-time program: when we may (root, as in
  // CI), give it a higher CPU priority, so other processes on the machine are not mistaken for
  // the firmware losing audio.
  const boost = o.speed !== undefined && o.speed > 1 && process.getuid?.() === 0;
  const [cmd, cmdArgs] = boost ? ['nice', ['-n', '-15', SIM_BIN, ...args]] : [SIM_BIN, args];
  const proc = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  running.add(proc);
  const hard = setTimeout(() => proc.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  proc.once('exit', () => {
    clearTimeout(hard);
    running.delete(proc);
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      stdout.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const sim: Sim = {
    link,
    image,
    proc,
    stdout,
    stderr,
    send(command: string) {
      proc.stdin!.write(command + '\n');
    },
    waitFor(re: RegExp, timeoutMs = 20_000) {
      const seen = stdout.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`simulator did not print ${re} within ${timeoutMs} ms; stderr: ${stderr.join('').slice(-2000)}`));
        }, timeoutMs);
        waiters.push(w);
        proc.once('exit', (code) => {
          clearTimeout(t);
          reject(new Error(`simulator exited (${code}) before printing ${re}; stderr: ${stderr.join('').slice(-2000)}`));
        });
      });
    },
    async quit(timeoutMs = 20_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.stdin!.write('quit\n');
      return exited(proc, timeoutMs);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc, 5000);
    },
  };
  await sim.waitFor(/^ready/, 30_000);
  return sim;
}

/** Runs the built CLI with a hard timeout; returns its exit code and output. */
export function runCli(args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      running.delete(p);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Copies a file out of a FAT image with mtools. */
export function mcopyOut(image: string, dosPath: string, dest: string): void {
  const r = spawnSync('mcopy', ['-n', '-o', '-i', image, `::${dosPath}`, dest], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mcopy ${dosPath} failed: ${r.stderr}`);
}

/** fsck.fat -n: returns exit status and output. */
export function fsckCheck(image: string): { status: number | null; output: string } {
  const r = spawnSync('fsck.fat', ['-n', image], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  return { status: r.status, output: (r.stdout ?? '') + (r.stderr ?? '') };
}

export interface CliRun {
  /** Parsed JSON lines so far (non-JSON lines are kept in `text`). */
  events: Record<string, unknown>[];
  text: string[];
  stderr: string[];
  /** Resolves with the first event matching pred (already seen or future). */
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  signal(sig: NodeJS.Signals): void;
  done: Promise<number | null>;
}

/** Starts the CLI with --json-style output and streams its events; bounded by timeoutMs. */
export function startCli(args: string[], timeoutMs = 180_000): CliRun {
  const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(p);
  const events: Record<string, unknown>[] = [];
  const text: string[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let buf = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        text.push(line);
        continue;
      }
      events.push(e);
      for (const w of [...waiters]) {
        if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    }
  });
  p.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const done = new Promise<number | null>((resolve) =>
    p.once('exit', (code) => {
      clearTimeout(t);
      running.delete(p);
      resolve(code);
    }),
  );
  return {
    events,
    text,
    stderr,
    waitFor(pred, ms = 60_000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`CLI event not seen within ${ms} ms; stderr: ${stderr.join('').slice(-1500)}`)), ms);
        waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
        void done.then(() => {
          clearTimeout(timer);
          const late = events.find(pred);
          if (late) resolve(late);
          else reject(new Error(`CLI exited before the event; stderr: ${stderr.join('').slice(-1500)}`));
        });
      });
    },
    signal(sig) {
      p.kill(sig);
    },
    done,
  };
}
