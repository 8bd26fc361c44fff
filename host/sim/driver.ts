/**
 * The one driver of the firmware simulator (recorder-sim, built in firmware/build.../ports/host)
 * for every program that runs it: the demo (host/cli/demo.ts), `recorder sim` (host/cli/sim.ts),
 * the end-to-end tests (test/support/sim.ts), the benchmarks (bench/, from dist/) and the
 * power-cut campaign (scripts/power-campaign.mjs). It finds or builds the binary, spawns it,
 * waits for its `ready link=PATH` line, and stops it; every process started here has a hard time
 * limit, and an exit is reported with its code or signal and the end of its stderr. Also the
 * seeded PRNG those programs share, so a seed means the same sequence everywhere.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where the repository may be: from host/sim (sources under vitest) or dist/host/sim (built). */
const ROOT_CANDIDATES = [resolve(HERE, '..', '..'), resolve(HERE, '..', '..', '..')];
/** The simulator inside a CMake build folder of firmware/. */
const SIM_IN_BUILD = join('ports', 'host', 'recorder-sim');

/** The simulator binary in the build folder `firmware/<buildDir>` of the repository at `root`. */
export function simulatorIn(root: string, buildDir = 'build'): string {
  return join(root, 'firmware', buildDir, SIM_IN_BUILD);
}

/**
 * The simulator to run: $RECORDER_SIM, else the one in firmware/build (the test build) or
 * firmware/build-sim (the demo's own build); null when neither is built.
 */
export function findSimulator(): string | null {
  if (process.env.RECORDER_SIM) return process.env.RECORDER_SIM;
  for (const root of ROOT_CANDIDATES) {
    for (const build of ['build', 'build-sim']) {
      const p = simulatorIn(root, build);
      if (existsSync(p)) return p;
    }
  }
  return null;
}

/** What to do when findSimulator() finds none. */
export const SIM_NOT_BUILT = 'The simulator is not built. Build it with: cmake -S firmware -B firmware/build && cmake --build firmware/build';

/** The repository the app runs from, when the firmware sources are beside it (a checkout); null in an installed package. */
export function firmwareCheckout(): string | null {
  return ROOT_CANDIDATES.find((r) => existsSync(join(r, 'firmware', 'CMakeLists.txt'))) ?? null;
}

/**
 * Why an installed app (npm pack / npm install -g) has no simulator, and how to get one: the
 * package holds the app, not the firmware sources the simulator is built from.
 */
export const SIM_NOT_INSTALLED = [
  'The simulated recorder is not part of the installed app: it is only needed for the demo (trying the app without a recorder). With a real recorder you need nothing more.',
  'To get it, in a checkout of the project (with Node.js 20+, cmake and gcc): run "npm ci" once, then "npm start" for the demo, or "npm start -- sim --image card.img --link /tmp/recorder" for the simulator alone (the first run builds it, into firmware/build-sim).',
  'This installed app then uses it with: RECORDER_SIM=<checkout>/firmware/build-sim/ports/host/recorder-sim recorder sim ...',
].join('\n');

export interface BuildOptions {
  /** Repository root; default: the one this file is in. */
  root?: string;
  /** Build folder under firmware/; default build-sim. */
  buildDir?: string;
  /** Extra C flags (e.g. -DREC_SERVER_MAX_PAYLOAD=8192). */
  cflags?: string;
  /** `inherit` shows CMake's errors on this process's stderr; `capture` puts them in the error. */
  output?: 'inherit' | 'capture';
}

/**
 * Builds a lean release simulator (no tests, no sanitizers) with CMake and returns its path.
 * Throws, naming the Debian packages, when the build fails.
 */
export function buildSimulator(o: BuildOptions = {}): string {
  const root = o.root ?? firmwareCheckout();
  if (!root) throw new Error(SIM_NOT_INSTALLED);
  const buildDir = o.buildDir ?? 'build-sim';
  const build = join(root, 'firmware', buildDir);
  // -Wno-error for two warnings only a Release (-O3 -DNDEBUG) build shows: a maybe-uninitialized
  // false positive in fat.c, and buf_size unused once REC_ASSERT is compiled out.
  const cflags = `-Wno-error=maybe-uninitialized -Wno-error=unused-parameter ${o.cflags ?? ''}`.trim();
  for (const args of [
    ['-S', join(root, 'firmware'), '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DREC_SANITIZE=OFF', '-DREC_BUILD_TESTS=OFF', `-DCMAKE_C_FLAGS=${cflags}`],
    ['--build', build, '-j', '2', '--target', 'recorder-sim'],
  ]) {
    const r = spawnSync('cmake', args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', o.output === 'capture' ? 'pipe' : 'inherit'] });
    if (r.error || r.status !== 0) {
      const tail = o.output === 'capture' ? `\n${(r.stderr ?? '').slice(-2000)}` : '';
      throw new Error(`building the simulator failed (cmake ${args[0]}): install cmake and gcc (Debian packages), then try again${tail}`);
    }
  }
  const bin = simulatorIn(root, buildDir);
  if (!existsSync(bin)) throw new Error(`the simulator was built but is not at ${bin}`);
  return bin;
}

// ---- Processes ----------------------------------------------------------------------------------

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

export interface SpawnOptions {
  /** Hard limit on the process's life (SIGKILL). Default 120 s. */
  timeoutMs?: number;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called for every stdout line as it arrives. */
  onLine?: (line: string) => void;
  /** Name in error messages; default the command's file name. */
  name?: string;
}

/** A child process read line by line, with its stderr kept for error messages. */
export interface LineProcess {
  readonly proc: ChildProcess;
  readonly name: string;
  /** stdout lines so far (a trailing \r removed). */
  readonly lines: string[];
  /** stderr chunks so far. */
  readonly stderr: string[];
  /** performance.now() at spawn. */
  readonly t0: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exit: Promise<ExitStatus>;
  readonly alive: boolean;
  /** Writes a line to stdin (ignored once the process is gone). */
  send(line: string): void;
  /** The first stdout line matching re at index `from` or later; rejects on timeout or exit. */
  waitLine(re: RegExp, o?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** SIGKILL (for the simulator: a power cut), then waits for the exit. */
  kill(): Promise<ExitStatus>;
  /** Says how it ended (or that it runs), with the end of its stderr. */
  describe(): string;
}

const live = new Set<LineProcess>();

/** SIGKILLs every process started here that still runs; synchronous, for process 'exit'. */
export function killAllNow(): void {
  for (const p of live) if (p.alive) p.proc.kill('SIGKILL');
  live.clear();
}

/** Stops every process started here that still runs: SIGTERM, then SIGKILL after graceMs. */
export async function stopAllProcesses(graceMs = 2000): Promise<void> {
  const all = [...live];
  live.clear();
  await Promise.all(all.map((p) => p.stop(graceMs)));
}

function exitText(name: string, s: ExitStatus | null, timedOut: number | null): string {
  if (!s) return `${name} is running`;
  if (timedOut !== null && s.signal === 'SIGKILL') return `${name} was killed after its time limit of ${timedOut} ms`;
  if (s.signal) return `${name} was killed by ${s.signal}`;
  return `${name} exited with code ${s.code}`;
}

/** Spawns cmd with stdin/stdout/stderr piped, its stdout split into lines. */
export function spawnLines(cmd: string, args: string[], o: SpawnOptions = {}): LineProcess {
  const t0 = performance.now();
  const name = o.name ?? cmd.split('/').pop()!;
  const timeoutMs = o.timeoutMs ?? 120_000;
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: o.cwd, env: { ...process.env, ...(o.env ?? {}) } });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ re: RegExp; from: number; resolve: (l: string) => void; reject: (e: Error) => void }>();
  let status: ExitStatus | null = null;
  let timedOut: number | null = null;
  let spawnError = '';
  const hard = setTimeout(() => {
    timedOut = timeoutMs;
    proc.kill('SIGKILL');
  }, timeoutMs);
  const describe = () => {
    const err = (spawnError + stderr.join('')).slice(-2000).trim();
    return `${exitText(name, status, timedOut)}${err ? `; stderr: ${err}` : ''}`;
  };
  const exit = new Promise<ExitStatus>((resolveExit) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (status) return;
      clearTimeout(hard);
      status = { code, signal, ms: performance.now() - t0 };
      live.delete(p);
      for (const w of [...waiters]) w.reject(new Error(`${describe()} (before printing ${w.re})`));
      waiters.clear();
      resolveExit(status);
    };
    // 'close' comes once stdout and stderr are drained too (an 'exit' can come before the last
    // output): wait for it, but not forever (a grandchild may hold the pipes).
    proc.once('exit', (code, signal) => {
      const t = setTimeout(() => done(code, signal), 2000);
      proc.once('close', () => (clearTimeout(t), done(code, signal)));
    });
    // A binary that cannot be started emits 'error' and no 'exit'.
    proc.once('error', (e) => {
      spawnError = `cannot start ${cmd}: ${e.message}\n`;
      done(null, null);
    });
  });
  proc.stdin!.on('error', () => undefined); // a process gone while we write
  const onLine = (line: string) => {
    lines.push(line);
    o.onLine?.(line);
    for (const w of [...waiters]) {
      if (lines.length - 1 >= w.from && w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      onLine(line);
    }
  });
  proc.stdout!.on('end', () => {
    if (buf) onLine(buf.replace(/\r$/, ''));
    buf = '';
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const p: LineProcess = {
    proc,
    name,
    lines,
    stderr,
    t0,
    exit,
    get alive() {
      return status === null && proc.exitCode === null && proc.signalCode === null;
    },
    send(line) {
      if (proc.stdin!.writable) proc.stdin!.write(line + '\n');
    },
    waitLine(re, { from = 0, timeoutMs = 20_000 } = {}) {
      const seen = lines.slice(from).find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (status) return Promise.reject(new Error(`${describe()} (before printing ${re})`));
      return new Promise((resolveLine, rejectLine) => {
        const t = setTimeout(() => {
          waiters.delete(w);
          rejectLine(new Error(`${name} did not print ${re} within ${timeoutMs} ms; ${describe()}`));
        }, timeoutMs);
        const w = {
          re,
          from,
          resolve: (l: string) => (clearTimeout(t), resolveLine(l)),
          reject: (e: Error) => (clearTimeout(t), rejectLine(e)),
        };
        waiters.add(w);
      });
    },
    async stop(graceMs = 5000) {
      if (!status) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exit;
        clearTimeout(t);
      }
      return exit;
    },
    async kill() {
      if (!status) proc.kill('SIGKILL');
      return exit;
    },
    describe,
  };
  live.add(p);
  return p;
}

/** Sends `command` (e.g. quit) and waits for the exit; SIGKILL when it takes over timeoutMs. */
export async function quitWith(p: LineProcess, command: string, timeoutMs = 20_000): Promise<ExitStatus> {
  if (p.alive) {
    p.send(command);
    const t = setTimeout(() => p.proc.kill('SIGKILL'), timeoutMs);
    await p.exit;
    clearTimeout(t);
  }
  return p.exit;
}

// ---- The simulator ------------------------------------------------------------------------------

export interface SimulatorOptions {
  /** Binary; default findSimulator(). */
  bin?: string;
  /** Card image (created at sizeMb when missing). */
  image: string;
  /** Where the simulator makes its pseudo-terminal (a symbolic link). */
  link: string;
  sizeMb?: number;
  /** ramp, sine, demo or wav:FILE; default ramp. */
  mic?: string;
  /** Device time per real time. */
  speed?: number;
  stallEvery?: number;
  stallMs?: number;
  quiet?: boolean;
  extraArgs?: string[];
  /** Raise the CPU priority (nice -15) when faster than real time and run as root (as in CI). */
  boost?: boolean;
  /** Hard limit on the simulator's life. Default 120 s. */
  timeoutMs?: number;
  /** How long `ready` may take. Default 30 s. */
  readyTimeoutMs?: number;
  /** false: resolve at once after spawning (to cut the power while it boots). Default true. */
  waitReady?: boolean;
  /** Called for every stdout line. */
  onLine?: (line: string) => void;
}

export interface Simulator extends LineProcess {
  /** The pseudo-terminal the app opens (the path given as --link). */
  readonly link: string;
  readonly image: string;
  /** Clean shutdown (`quit`: the recording is closed, the card released); SIGKILL after timeoutMs. */
  quit(timeoutMs?: number): Promise<ExitStatus>;
  /** Sends a console command and waits for its `ok <command>` line. */
  command(line: string, timeoutMs?: number): Promise<string>;
}

/** The simulator's command line for o (the options of firmware/ports/host/sim_main.c). */
export function simulatorArgs(o: SimulatorOptions): string[] {
  const args = ['--image', o.image, '--link', o.link, '--size-mb', String(o.sizeMb ?? 128), '--mic', o.mic ?? 'ramp'];
  if (o.speed) args.push('--speed', String(o.speed));
  if (o.stallEvery) args.push('--stall-every', String(o.stallEvery), '--stall-ms', String(o.stallMs ?? 500));
  if (o.quiet) args.push('--quiet');
  args.push(...(o.extraArgs ?? []));
  return args;
}

/** Starts the simulator and resolves once it printed `ready` (rejects, with why, if it did not). */
export async function startSimulator(o: SimulatorOptions): Promise<Simulator> {
  const bin = o.bin ?? findSimulator();
  if (!bin) throw new Error(SIM_NOT_BUILT);
  const args = simulatorArgs(o);
  // A simulator running faster than real time is a real-time program: other processes on a busy
  // machine must not be mistaken for the firmware losing audio.
  const boost = !!o.boost && o.speed !== undefined && o.speed > 1 && process.getuid?.() === 0;
  const [cmd, cmdArgs] = boost ? ['nice', ['-n', '-15', bin, ...args]] : [bin, args];
  const p = spawnLines(cmd, cmdArgs, { name: 'the simulator', timeoutMs: o.timeoutMs ?? 120_000, env: { ASAN_OPTIONS: 'detect_leaks=0' }, ...(o.onLine ? { onLine: o.onLine } : {}) });
  const sim: Simulator = Object.assign(p, {
    link: o.link,
    image: o.image,
    quit: (timeoutMs = 20_000) => quitWith(p, 'quit', timeoutMs),
    async command(line: string, timeoutMs = 20_000) {
      const from = p.lines.length;
      p.send(line);
      return p.waitLine(new RegExp(`^ok ${line.split(' ')[0]}`), { from, timeoutMs });
    },
  });
  if (o.waitReady === false) return sim;
  try {
    await p.waitLine(/^ready/, { timeoutMs: o.readyTimeoutMs ?? 30_000 });
  } catch (e) {
    await p.kill();
    throw e;
  }
  return sim;
}

/**
 * Makes one recording with the simulator's button: `press`, its `mic on`, deviceSeconds of device
 * time (at `speed` times real time), `stop` (the long hold that stops; a second press would drop a
 * marker), its `mic off`. Returns the index of the first line printed after the stop.
 */
export async function recordWithButton(sim: Pick<LineProcess, 'lines' | 'send' | 'waitLine'>, deviceSeconds: number, speed: number, timeoutMs = 20_000): Promise<number> {
  let from = sim.lines.length;
  sim.send('press');
  await sim.waitLine(/^mic on/, { from, timeoutMs });
  await new Promise((r) => setTimeout(r, (deviceSeconds * 1000) / speed));
  from = sim.lines.length;
  sim.send('stop');
  await sim.waitLine(/^mic off/, { from, timeoutMs });
  return from;
}

// ---- Seeded randomness --------------------------------------------------------------------------

/** mulberry32: a small, fast PRNG; the same seed gives the same numbers in [0, 1) everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
