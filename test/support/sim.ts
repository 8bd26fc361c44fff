/**
 * Starts the C simulator (firmware/build/ports/host/recorder-sim) for end-to-end tests: a real
 * pseudo-terminal, a real card image. Every process started here is bounded by a timeout and
 * killed when the test ends, also when it fails (register `stopAll` in afterEach).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulatorIn, spawnLines, startSimulator, stopAllProcesses, type Simulator } from '../../host/sim/driver.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIM_BIN = process.env.REC_SIM_BIN ?? simulatorIn(ROOT);
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
  /** The driver's handle (host/sim/driver.ts), for its helpers. */
  driver: Simulator;
  link: string;
  image: string;
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  send(command: string): void;
  /** Waits for a stdout line matching re, at line index `from` or later (default: any line). */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Clean shutdown (`quit`), killed if it does not exit in time. */
  quit(timeoutMs?: number): Promise<number | null>;
  /** Power cut. */
  kill(): Promise<void>;
}

const tempDirs = new Set<string>();

export function tempDir(prefix = 'rec-e2e-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/**
 * Stops every process still running (SIGTERM, SIGKILL after 2 s) and removes temp folders; for
 * afterEach/afterAll, so a failed test leaves nothing behind.
 */
export async function stopAll(): Promise<void> {
  await stopAllProcesses(2000);
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

export async function startSim(o: SimOptions): Promise<Sim> {
  requireSimulator();
  const image = o.image ?? join(o.dir, 'card.img');
  const link = join(o.dir, `tty-${Math.random().toString(36).slice(2, 8)}`);
  const sim = await startSimulator({ bin: SIM_BIN, image, link, sizeMb: o.sizeMb ?? 128, mic: o.mic ?? 'ramp', speed: o.speed, stallEvery: o.stallEvery, stallMs: o.stallMs, extraArgs: o.extraArgs, boost: true, timeoutMs: o.timeoutMs ?? 120_000 });
  return {
    driver: sim,
    link,
    image,
    proc: sim.proc,
    stdout: sim.lines,
    stderr: sim.stderr,
    send: (command) => sim.send(command),
    waitFor: (re, timeoutMs = 20_000, from = 0) => sim.waitLine(re, { timeoutMs, from }),
    quit: async (timeoutMs = 20_000) => (await sim.quit(timeoutMs)).code,
    kill: async () => void (await sim.kill()),
  };
}

/** Runs the built CLI with a hard timeout; returns its exit code and output. */
export async function runCli(args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnLines(process.execPath, [CLI, ...args], { name: 'recorder', timeoutMs, env: { CI: '1', ...env } });
  p.proc.stdin!.end();
  let stdout = '';
  p.proc.stdout!.on('data', (d: string) => (stdout += d));
  const { code } = await p.exit;
  return { code, stdout, stderr: p.stderr.join('') };
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
  const events: Record<string, unknown>[] = [];
  const text: string[] = [];
  const waiters: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  const p = spawnLines(process.execPath, [CLI, ...args], {
    name: 'recorder',
    timeoutMs,
    env: { CI: '1' },
    onLine(line) {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        text.push(line);
        return;
      }
      events.push(e);
      for (const w of [...waiters]) {
        if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    },
  });
  p.proc.stdin!.end();
  const done = p.exit.then((s) => s.code);
  return {
    events,
    text,
    stderr: p.stderr,
    waitFor(pred, ms = 60_000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`CLI event not seen within ${ms} ms; stderr: ${p.stderr.join('').slice(-1500)}`)), ms);
        waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
        void done.then(() => {
          clearTimeout(timer);
          const late = events.find(pred);
          if (late) resolve(late);
          else reject(new Error(`CLI exited before the event; ${p.describe()}`));
        });
      });
    },
    signal(sig) {
      p.proc.kill(sig);
    },
    done,
  };
}

/** Runs one shell command line in `cwd`, as a reader of the docs would type it (bounded: 30 s). */
export function sh(cwd: string, command: string): { status: number | null; out: string } {
  const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
