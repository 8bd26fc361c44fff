/**
 * Install like a normal tool (issue 15): the tarball `npm pack` makes installs with
 * `npm install -g` on a machine with Node only. No network (npm --offline, an empty cache, a
 * registry that does not answer), no compiler (PATH holds the new prefix's bin and a folder with
 * only `node` and `sh`), so the run-time dependencies must be inside the tarball
 * (bundleDependencies) and the serial port binding must be the prebuilt one. The installed
 * `recorder` then answers --help, copies and verifies a recording from the real simulator over
 * its pseudo-terminal, and, with no recorder and no simulator, says how to get the demo.
 *
 * The tarball is packed with --ignore-scripts from the dist/ that npm test has just built:
 * `prepack` (a clean `npm run build`) would remove and rebuild dist/ under the other end-to-end
 * tests that run from it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_NOT_INSTALLED } from '../host/sim/driver.js';
import { record } from './support/reliability.js';
import { CLI, mcopyOut, ROOT, requireSimulator, requireTool, startSim, stopAll, tempDir } from './support/sim.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command with exactly the environment given (nothing inherited), killed after timeoutMs. */
function runBounded(cmd: string, args: string[], o: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; lowPriority?: boolean }): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: o.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    // npm pack and install are long and busy: niced (their children inherit it), so that the
    // simulator tests running beside them in real time keep their share of the CPU.
    if (o.lowPriority && child.pid) {
      try {
        setPriority(child.pid, 19);
      } catch {
        // already gone: its exit is reported below
      }
    }
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? null : code, stdout, stderr: signal ? `${stderr}\n(killed by ${signal} after ${o.timeoutMs} ms)` : stderr, ms: performance.now() - t0 });
    });
  });
}

/** npm's own script (npm-cli.js), run with node directly so that npm needs nothing on PATH. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && /npm-cli\.js$/.test(fromNpm)) return fromNpm;
  const r = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  const cli = r.status === 0 ? realpathSync(r.stdout.trim()) : '';
  if (!/npm-cli\.js$/.test(cli)) throw new Error(`cannot find npm-cli.js (npm is ${cli || 'missing'})`);
  return cli;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };

/** This machine's prebuilt serial port binding (folders such as linux-x64 or darwin-x64+arm64). */
const PREBUILD = new RegExp(`node_modules/@serialport/bindings-cpp/prebuilds/${process.platform}-[\\w+]*\\b${process.arch}\\b[\\w+]*/[^/]+\\.node$`);

/** Files of a folder, recursively, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), base) : [join(dir, e.name).slice(base.length + 1)]));
}

let work: string;
let tools: string;
let prefix: string;
let home: string;
let installed: string;
/** The installed app's environment: its bin, node and sh; nothing else. */
let env: NodeJS.ProcessEnv;
let packed: { path: string }[];
let bundled: string[];

beforeAll(async () => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
  requireTool('script', 'bsdutils');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
  work = tempDir('rec-install-');
  tools = join(work, 'tools');
  prefix = join(work, 'prefix');
  home = join(work, 'home');
  for (const d of [tools, prefix, home]) mkdirSync(d);
  // A machine with Node only: no cmake, no cc, no make, no python on PATH.
  symlinkSync(process.execPath, join(tools, 'node'));
  symlinkSync('/bin/sh', join(tools, 'sh'));
  env = { PATH: `${join(prefix, 'bin')}:${tools}`, HOME: home, LANG: 'C.UTF-8' };

  const pack = await runBounded(process.execPath, [npmCli(), 'pack', '--ignore-scripts', '--json', '--pack-destination', work], { env: { ...process.env }, cwd: ROOT, timeoutMs: 180_000, lowPriority: true });
  expect(pack.code, pack.stderr).toBe(0);
  const [result] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[]; bundled: string[]; size: number }[];
  packed = result!.files;
  bundled = result!.bundled;

  const install = await runBounded(
    join(tools, 'node'),
    [npmCli(), 'install', '--global', '--prefix', prefix, '--cache', join(work, 'npm-cache'), '--offline', '--registry', 'http://127.0.0.1:9/', '--no-audit', '--no-fund', '--no-update-notifier', join(work, result!.filename)],
    { env, cwd: work, timeoutMs: 300_000, lowPriority: true },
  );
  expect(install.code, install.stdout + install.stderr).toBe(0);
  installed = join(prefix, 'lib', 'node_modules', pkg.name);
  // The run time asked of this test: reported, not asserted (it depends on the machine's load).
  console.log(`npm pack: ${(pack.ms / 1000).toFixed(1)} s (${(result!.size / 1e6).toFixed(1)} MB, ${packed.length} files); npm install -g --offline: ${(install.ms / 1000).toFixed(1)} s`);
}, 500_000);
afterAll(stopAll);

describe('npm pack, then npm install -g with Node only and no network', () => {
  it('packs the built app and its run-time dependencies, and no sources, tests, firmware or secrets', () => {
    const own = packed.map((f) => f.path).filter((p) => !p.startsWith('node_modules/'));
    for (const p of own) expect(p, 'only the built app and the package files').toMatch(/^(package\.json|README\.md|dist\/(host|protocol\/(src|generated))\/[\w/.-]+\.js)$/);
    for (const p of own) expect(p).not.toMatch(/(^|\/)(test|testing)\/|\.test\.|(^|\/)firmware\//);
    for (const p of ['dist/host/cli/main.js', 'dist/host/ui/app.js', 'dist/host/sim/driver.js', 'package.json']) expect(own).toContain(p);
    for (const dep of Object.keys(pkg.dependencies)) expect(bundled, `${dep} is bundled`).toContain(dep);
    const all = packed.map((f) => f.path);
    expect(all.filter((p) => /(^|\/)(\.env|\.npmrc|id_rsa|id_ed25519)$|\.(pem|key)$/.test(p))).toEqual([]);
    expect(all.some((p) => PREBUILD.test(p))).toBe(true);
    expect(all.filter((p) => p.startsWith('node_modules/@serialport/bindings-cpp/build/'))).toEqual([]);
  });

  it('installs with no compiler: the serial port binding that loads is the prebuilt one', async () => {
    expect(statSync(join(prefix, 'bin', 'recorder')).isFile()).toBe(true);
    const bindings = join(installed, 'node_modules', '@serialport', 'bindings-cpp');
    // node-gyp-build compiles into build/ when no prebuild fits; there is none.
    expect(existsSync(join(bindings, 'build'))).toBe(false);
    const which = await runBounded(join(tools, 'node'), ['-e', "console.log(require('node-gyp-build').path(process.cwd()))"], { env, cwd: bindings, timeoutMs: 30_000 });
    expect(which.code, which.stderr).toBe(0);
    expect(which.stdout.trim()).toMatch(PREBUILD);
    // Nothing of the app's own files holds a secret key.
    for (const f of walk(installed).filter((p) => !p.startsWith('node_modules/'))) {
      expect(readFileSync(join(installed, f), 'latin1'), f).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{20}|-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    }
  });

  it('recorder --help and --version answer from the installed package', async () => {
    const help = await runBounded('recorder', ['--help'], { env: { ...env }, cwd: home, timeoutMs: 30_000 });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: recorder <command>/);
    expect(help.stdout).toContain('--timeout');
    const version = await runBounded(join(prefix, 'bin', 'recorder'), ['--version'], { env, cwd: home, timeoutMs: 30_000 });
    expect(version.stdout.trim()).toBe(pkg.version);
    // Discovery runs (serialport's port listing loads from the bundle) and finds no recorder here.
    const info = await runBounded(join(prefix, 'bin', 'recorder'), ['info'], { env, cwd: home, timeoutMs: 30_000 });
    expect(info.code, info.stdout + info.stderr).toBe(1);
    expect(info.stderr).toMatch(/^Error: No recorder was found\./m);
  });

  it('with no simulator, `recorder sim` and `recorder` say it is only for the demo and how to get it', async () => {
    const sim = await runBounded(join(prefix, 'bin', 'recorder'), ['sim', '--image', join(work, 'card.img'), '--link', join(work, 'tty')], { env, cwd: home, timeoutMs: 30_000 });
    expect(sim.code).toBe(1);
    expect(sim.stderr).toContain(SIM_NOT_INSTALLED);
    expect(sim.stderr).not.toMatch(/Building/);
    // The interactive app on a terminal (script gives it a pseudo-terminal), no recorder plugged
    // in, an empty library: nothing to show, so it starts the demo at once, which says how to get
    // the simulator. It loads its UI (ink, react, yoga from the bundle) first: without it, it
    // would exit 2. (A library with recordings opens first: test/listen-tui.test.ts.)
    const acm = readdirSync('/dev').filter((n) => /^ttyACM\d+$/.test(n));
    expect(acm, 'this test needs a machine with no recorder plugged in').toEqual([]);
    const script = realpathSync(spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).stdout.trim());
    const ui = await runBounded(script, ['-q', '-e', '-c', 'recorder', '/dev/null'], { env, cwd: home, timeoutMs: 30_000 });
    const said = stripVTControlCharacters(ui.stdout.replace(/\r/g, ''));
    expect(ui.code, said).toBe(1);
    expect(said).toMatch(/No recorder was found: plug it in/);
    expect(said).toContain(SIM_NOT_INSTALLED);
  });

  it('recorder sync copies a recording from the real simulator, and the copy verifies', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const sim = await startSim({ dir, sizeMb: 64, speed: 20 });
    await record(sim, 6, 20);
    const sync = await runBounded(join(prefix, 'bin', 'recorder'), ['sync', '--port', sim.link, '--dest', lib], { env, cwd: home, timeoutMs: 90_000 });
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/Recording 1 copied and verified/);
    expect(await sim.quit()).toBe(0);
    const wav = walk(lib).find((p) => p.endsWith('.wav'))!;
    const card = join(dir, 'card-1.wav');
    mcopyOut(sim.image, '/RECORDS/REC00001.WAV', card);
    expect(readFileSync(join(lib, wav)).equals(readFileSync(card)), 'the copy is the card\'s file').toBe(true);
    const verify = await runBounded(join(prefix, 'bin', 'recorder'), ['verify', lib], { env, cwd: home, timeoutMs: 60_000 });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^All 1 recording\(s\) verified/m);
  }, 120_000);
});
