/**
 * Listening in the real app (issue 15), on a real pseudo-terminal of 80x24 in tmux: the built
 * `recorder` with no recorder attached opens the person's library (WAV files and manifests as sync
 * writes them), searches it, opens a recording, and plays it through a FAKE player program
 * (test/support/fake-player.mjs, named by RECORDER_PLAYER) that logs its arguments: play, a
 * marker, a typed time, back 10 s, 0.75x; a note is written on a marker; every player is stopped
 * when the recording is closed and the app quits. An excerpt is exported with x on a marker from a
 * library that sync wrote (the excerpt verifies its copy first), and the sox and ffmpeg commands of
 * its provenance note, run as written, make the same bytes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExcerptProvenance } from '../host/engine/export/excerpt.js';
import { setup } from '../host/engine/testing/harness.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtureLibrary } from './support/listen-library.js';
import { CLI, ROOT, requireTool } from './support/sim.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const FAKE_PLAYER = join(ROOT, 'test', 'support', 'fake-player.mjs');

beforeAll(() => {
  requireTool('tmux', 'tmux');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
});

interface LogLine {
  pid: number;
  argv?: string[];
  signal?: string;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function tmux(socket: string, args: string[]): string {
  const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Whether a process runs (a zombie, ended but not yet reaped, does not). */
const alive = (pid: number) => !/^(Z|$)/.test(spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8', timeout: 10_000 }).stdout.trim());

async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 15_000, last: () => string = () => ''): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${last()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the built app in an 80x24 tmux window with the fake player, on a fixture library or on
 * the library folder given (`newest`: its newest copy).
 */
function startApp(library?: { lib: string; newest: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'listen-tui-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const lib = library?.lib ?? join(dir, 'Recordings');
  const { newest } = library ?? writeFixtureLibrary(lib);
  const log = join(dir, 'player.log');
  const socket = `listen-${process.pid}-${Date.now()}`;
  const env = {
    RECORDER_PLAYER: FAKE_PLAYER,
    FAKE_PLAYER_LOG: log,
    FAKE_PLAYER_LIFE_MS: '60000',
    TZ: 'UTC',
    HOME: dir,
  };
  const command = ['env', '-u', 'CI', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, '--dest', lib].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  tmux(socket, ['new-session', '-d', '-x', '80', '-y', '24', '-s', 'app', command]);
  // The window stays when the app ends, so that only the app can stop its player (tmux would
  // otherwise hang up on everything left in it).
  tmux(socket, ['set-option', '-t', 'app', 'remain-on-exit', 'on']);
  const lines = (): LogLine[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine) : []);
  cleanups.push(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server'], { timeout: 10_000 });
    for (const l of lines()) if (l.argv && alive(l.pid)) process.kill(l.pid, 'SIGKILL');
  });
  const screen = () => tmux(socket, ['capture-pane', '-p', '-t', 'app']);
  const starts = () => lines().filter((l) => l.argv);
  const appPid = Number(tmux(socket, ['display-message', '-p', '-t', 'app', '#{pane_pid}']).trim());
  return {
    socket,
    appPid,
    ended: () => !alive(appPid),
    newest,
    lines,
    screen,
    starts,
    see: (re: RegExp, what = String(re)) => until(what, () => re.test(screen()), 20_000, screen),
    keys: (...k: string[]) => tmux(socket, ['send-keys', '-t', 'app', ...k]),
    nthStart: (n: number) => until(`player start ${n}`, () => starts()[n - 1], 15_000, () => JSON.stringify(lines())),
    stopped: (pid: number) => until(`player ${pid} stopped`, () => lines().some((l) => l.pid === pid && l.signal === 'SIGTERM'), 15_000, () => JSON.stringify(lines())),
  };
}

describe('listening in the app, in tmux', () => {
  it('opens the library without a recorder, plays a recording with the keys and a fake player, writes a note, and stops every player', async () => {
    const { newest, screen, starts, see, keys, nthStart, stopped, ended } = startApp();
    const ffplay = (...rest: string[]) => ['-nodisp', '-autoexit', '-loglevel', 'error', ...rest, newest];
    const ss = (l: LogLine) => Number(l.argv![l.argv!.indexOf('-ss') + 1]);

    // The library, newest first, with the demo offered; it fits the 80x24 terminal.
    await see(/Kitchen #2/);
    let s = screen();
    const rows = s.split('\n').filter((l) => / #\d/.test(l));
    expect(rows.map((l) => /(\w+ #\d)/.exec(l)![1])).toEqual(['Kitchen #2', 'Office #5', 'Kitchen #1']);
    expect(rows[0]).toMatch(/12 Mar 2025 10:00 +Kitchen #2 +1:30 +2 +verified · not encrypted/);
    expect(s).toContain('Press d to try a demo recorder');
    // All of it on the 24 lines: the title at the top, the keys at the bottom.
    expect(s.split('\n')[0]).toContain('Evidence Recorder — your recordings');
    expect(s).toMatch(/Enter +open .* q +quit/);
    for (const l of s.split('\n')) expect(Array.from(l).length).toBeLessThanOrEqual(80);

    // Search by label, then by a day; Esc shows all again.
    keys('/', 'O', 'f', 'f', 'i', 'c', 'e', 'Enter');
    await see(/1 of 3 shown/);
    expect(screen()).not.toContain('Kitchen #2');
    // (Esc alone: Esc followed at once by / would read as Alt-/.)
    keys('Escape');
    await see(/Type \/ to search/);
    keys('/', '2025-03-12', 'Enter');
    await see(/Search: 2025-03-12 — 1 of 3 shown/);
    keys('Enter');

    // The recording: loudness, markers, keys in the footer.
    await see(/Markers \(2\)/);
    s = screen();
    expect(s).toContain('Kitchen #2 · 12 Mar 2025 10:00 · 1:30');
    expect(s).toMatch(/space +play\/pause/);
    expect(s).toMatch(/b +back 10 s/);
    expect(s).toMatch(/0\.75x/);
    for (const l of s.split('\n')) expect(Array.from(l).length).toBeLessThanOrEqual(80);

    // Play from the start.
    keys('Space');
    expect((await nthStart(1)).argv).toEqual(ffplay('-ss', '0.000'));
    await see(/▶ Playing/);
    // Next marker (0:20) plays from it.
    keys('m');
    expect((await nthStart(2)).argv).toEqual(ffplay('-ss', '20.000'));
    // A typed time.
    keys('t', '1:00', 'Enter');
    expect((await nthStart(3)).argv).toEqual(ffplay('-ss', '60.000'));
    // Back 10 s: from where it has got to since (the position follows the wall clock).
    keys('b');
    const back = await nthStart(4);
    expect(back.argv!.slice(0, 5)).toEqual(ffplay('-ss', '').slice(0, 5));
    expect(ss(back)).toBeGreaterThanOrEqual(50);
    expect(ss(back)).toBeLessThan(58);
    // 0.75x, without changing pitch: ffplay's atempo filter, from where it is.
    keys('s');
    const slow = await nthStart(5);
    expect(slow.argv).toEqual(ffplay('-ss', slow.argv![5]!, '-af', 'atempo=0.75'));
    expect(ss(slow)).toBeGreaterThanOrEqual(ss(back));
    expect(ss(slow)).toBeLessThan(ss(back) + 8);
    await see(/Playing at 0\.75x/);
    // Pause: the player is stopped.
    keys('Space');
    await see(/Paused/);
    await stopped(slow.pid);

    // A note on the chosen marker (1), saved beside the copy.
    keys('e', 'Missed the appointment', 'Enter');
    await see(/Note for marker 1 saved/);
    expect(screen()).toMatch(/> +1 +0:20 +Missed the appointment/);
    const vtt = readFileSync(newest.replace(/\.wav$/, '.notes.vtt'), 'utf8');
    expect(vtt).toMatch(/^WEBVTT/);
    expect(vtt).toContain('marker-1\n00:00:20.000 --> 00:01:05.000\nMissed the appointment');

    // Play again, then leave the recording: the player is stopped; q quits the app.
    keys('Space');
    const again = await nthStart(6);
    keys('q');
    await see(/Evidence Recorder — your recordings/);
    await stopped(again.pid);
    keys('q');
    await until('the app to quit', ended, 15_000, screen);
    for (const l of starts()) await until(`player ${l.pid} gone`, () => !alive(l.pid));
  });

  it('stops the player when the app is ended by a signal while it plays', async () => {
    const { newest, see, keys, nthStart, lines, appPid, ended } = startApp();
    await see(/Kitchen #2/);
    keys('Enter');
    await see(/Markers \(2\)/);
    keys('Space');
    const playing = await nthStart(1);
    expect(playing.argv!.at(-1)).toBe(newest);
    expect(alive(playing.pid)).toBe(true);
    // SIGTERM to the app alone (as a shutdown or a process manager sends it), not to the player:
    // the app stops its player before it ends. (Closing the terminal reaches both with SIGHUP.)
    expect(appPid).toBeGreaterThan(1);
    process.kill(appPid, 'SIGTERM');
    await until(`player ${playing.pid} gone`, () => !alive(playing.pid), 15_000, () => JSON.stringify(lines()));
    await until('the app to end', ended);
  });

  it('exports an excerpt with x on a marker; the sox and ffmpeg commands of its provenance note make the same bytes', async () => {
    requireTool('sox', 'sox');
    requireTool('ffmpeg', 'ffmpeg');
    // A library as sync writes it, from a (fake) recorder: its copy verifies as `recorder verify` checks it.
    const h = setup();
    cleanups.push(() => rmSync(h.dest, { recursive: true, force: true }));
    const samples = Int16Array.from({ length: 48_000 }, (_, k) => Math.round(12_000 * Math.sin((2 * Math.PI * 440 * k) / 16_000)));
    h.device.addRecording({ samples, markers: [16_001, 32_777] });
    expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
    const copy = readdirSync(h.dest).find((f) => f.endsWith('_1.wav'))!;
    const { see, keys, screen, ended } = startApp({ lib: h.dest, newest: join(h.dest, copy) });

    await see(/#1 /);
    keys('Enter');
    await see(/Markers \(2\)/);
    expect(screen()).toMatch(/x +excerpt/);
    // Marker 1, then x: marker 1 to marker 2.
    keys('Down');
    await see(/> +1 +0:01/);
    keys('x');
    await see(/Checked: the copy verified first/);
    const s = screen();
    expect(s).toContain('Excerpt 0:00:01.000 to 0:00:02.048 (16776 samples from sample 16001):');
    expect(s).toMatch(/Provenance note beside it:\s+\S+\.provenance\.txt and\s+\.json/);
    for (const l of s.split('\n')) expect(Array.from(l).length).toBeLessThanOrEqual(80);
    // All of it on the 24 lines: the title still at the top, the keys at the bottom.
    expect(s.split('\n')[0]).toBe('Evidence Recorder — listening');
    expect(s.trimEnd().split('\n').at(-1)).toMatch(/x +excerpt +0 +start +q +back/);

    // The note in the exports folder, read as anyone would, and its commands run as written.
    const exports = join(h.dest, 'exports');
    const json = readdirSync(exports).filter((f) => f.endsWith('.provenance.json'));
    expect(json).toHaveLength(1);
    const p = JSON.parse(readFileSync(join(exports, json[0]!), 'utf8')) as ExcerptProvenance;
    const excerpt = readFileSync(join(exports, p.excerpt.fileName));
    expect(sha256(excerpt)).toBe(p.excerpt.sha256);
    expect(p.excerpt).toMatchObject({ firstSample: 16_001, sampleCount: 16_776, from: expect.stringContaining('marker 1'), to: expect.stringContaining('marker 2') });
    expect(p.original.fileName).toBe(copy);
    expect(existsSync(join(exports, json[0]!.replace(/\.json$/, '.txt')))).toBe(true);
    // The screen named this very file.
    expect(s.replace(/\n/g, '')).toContain(p.excerpt.fileName);
    const check = mkdtempSync(join(tmpdir(), 'listen-tui-check-'));
    cleanups.push(() => rmSync(check, { recursive: true, force: true }));
    copyFileSync(join(h.dest, copy), join(check, p.original.fileName));
    for (const tool of ['sox', 'ffmpeg']) {
      const c = p.commands.find((x) => x.tool === tool)!;
      expect(c.prints).toBe(p.excerpt.sha256);
      const r = spawnSync('sh', ['-c', c.run], { cwd: check, encoding: 'utf8', timeout: 30_000 });
      expect(r.status, `${c.run}: ${r.stderr}`).toBe(0);
      expect(r.stdout, c.run).toMatch(new RegExp(`^${c.prints}\\b`, 'm'));
      expect(readFileSync(join(check, `excerpt-by-${tool}.wav`)).equals(excerpt)).toBe(true);
    }

    keys('q');
    await see(/Evidence Recorder — your recordings/);
    keys('q');
    await until('the app to quit', ended, 15_000, screen);
  });
});
