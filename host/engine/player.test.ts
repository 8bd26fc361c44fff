import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findPlayer, noPlayerMessage, Player, PlayerError, playerArgs, SLOW_SPEED, type PlayerProgram, type PlayerStatus } from './player.js';
import { excerptHeader } from './export/excerpt.js';

const FAKE = fileURLToPath(new URL('../../test/support/fake-player.mjs', import.meta.url));

const dirs: string[] = [];
const players: Player[] = [];
afterEach(() => {
  for (const p of players.splice(0)) p.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface LogLine {
  pid: number;
  argv?: string[];
  signal?: string;
  stdinBytes?: number;
  stdinHead?: string;
}

function setup(kind: PlayerProgram['kind'] = 'ffplay', env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'player-'));
  dirs.push(dir);
  const log = join(dir, 'player.log');
  const file = join(dir, 'REC 1.wav');
  writeFileSync(file, wav(16000, 16000 * 60));
  let now = 1_000_000;
  const ends: { status: PlayerStatus; problem: string | null }[] = [];
  const program: PlayerProgram = { kind, command: process.execPath, prefixArgs: [FAKE] };
  const player = new Player(file, {
    program,
    durationMs: 60_000,
    now: () => now,
    spawn: (c: string, a: string[], o: SpawnOptions): ChildProcess => spawn(c, a, { ...o, env: { ...process.env, FAKE_PLAYER_LOG: log, FAKE_PLAYER_LIFE_MS: '30000', ...env } }),
    onEnd: (status, problem) => ends.push({ status, problem }),
  });
  players.push(player);
  const lines = (): LogLine[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine) : []);
  /** Waits (bounded) until the log has `n` lines. */
  const waitLines = async (n: number): Promise<LogLine[]> => {
    const until = Date.now() + 30_000;
    while (lines().length < n) {
      if (Date.now() > until) throw new Error(`the fake player logged ${lines().length} lines, not ${n}: ${JSON.stringify(lines())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return lines();
  };
  return { player, file, waitLines, ends, advance: (ms: number) => (now += ms) };
}

/** A mono 16-bit WAV of `samples` samples; sample k holds k & 0x7fff. */
function wav(rate: number, samples: number): Buffer {
  const data = Buffer.alloc(samples * 2);
  for (let k = 0; k < samples; k++) data.writeInt16LE(k & 0x7fff, k * 2);
  return Buffer.concat([excerptHeader({ channels: 1, sampleRate: rate, bitsPerSample: 16 }, data.length), data]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number): Promise<void> {
  const until = Date.now() + 30_000;
  while (alive(pid)) {
    if (Date.now() > until) throw new Error(`player ${pid} still running`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Player with ffplay (a fake one that logs its arguments)', () => {
  it('plays from a time, pauses, resumes, skips back 10 s and slows to 0.75x with the exact ffplay arguments, stopping each player it replaces', async () => {
    const { player, file, waitLines, advance } = setup();
    const ffplay = (...rest: string[]) => ['-nodisp', '-autoexit', '-loglevel', 'error', ...rest, file];
    // The log's lines in the order the players wrote them: starts (argv) and stops (signal). A
    // stopped player and the one replacing it write at about the same time, so each is found by
    // what it says, not by its place.
    const state = async (starts: number, stops: number) => {
      const log = await waitLines(starts + stops);
      return { starts: log.filter((l) => l.argv), stops: log.filter((l) => l.signal) };
    };
    await player.play(0);
    let log = await state(1, 0);
    expect(log.starts[0]!.argv).toEqual(ffplay('-ss', '0.000'));

    advance(5_000);
    player.pause();
    expect(player.status()).toEqual({ state: 'paused', positionMs: 5_000, speed: 1 });
    log = await state(1, 1);
    expect(log.stops[0]).toEqual({ pid: log.starts[0]!.pid, signal: 'SIGTERM' });
    await gone(log.starts[0]!.pid);

    advance(60_000); // paused: the position does not move
    await player.toggle();
    log = await state(2, 1);
    expect(log.starts[1]!.argv).toEqual(ffplay('-ss', '5.000'));

    advance(20_000);
    await player.back();
    log = await state(3, 2);
    expect(log.stops[1]).toEqual({ pid: log.starts[1]!.pid, signal: 'SIGTERM' });
    expect(log.starts[2]!.argv).toEqual(ffplay('-ss', '15.000'));

    advance(4_000);
    await player.setSpeed(SLOW_SPEED);
    log = await state(4, 3);
    expect(log.stops[2]).toEqual({ pid: log.starts[2]!.pid, signal: 'SIGTERM' });
    expect(log.starts[3]!.argv).toEqual(ffplay('-ss', '19.000', '-af', 'atempo=0.75'));
    // At 0.75x, 4 s of wall clock are 3 s of the recording.
    advance(4_000);
    expect(player.positionMs()).toBe(22_000);

    player.stop();
    expect(player.status()).toEqual({ state: 'stopped', positionMs: 22_000, speed: SLOW_SPEED });
    log = await state(4, 4);
    expect(log.stops[3]).toEqual({ pid: log.starts[3]!.pid, signal: 'SIGTERM' });
    for (const l of log.starts) await gone(l.pid);
  });

  it('plays from a marker while paused, and never past the end', async () => {
    const { player, file, waitLines, advance } = setup();
    player.seek(42_500);
    expect(player.status()).toMatchObject({ state: 'paused', positionMs: 42_500 });
    await player.resume();
    expect((await waitLines(1))[0]!.argv).toContain('42.500');
    advance(600_000);
    expect(player.positionMs()).toBe(60_000);
    await player.play(75_000);
    const starts = (await waitLines(3)).filter((l) => l.argv);
    expect(starts[1]!.argv).toEqual(['-nodisp', '-autoexit', '-loglevel', 'error', '-ss', '60.000', file]);
  });

  it('reports the end of the recording when the player ends by itself, and a failing player with its reason', async () => {
    const ok = setup('ffplay', { FAKE_PLAYER_EXIT: '0' });
    await ok.player.play(10_000);
    await ok.waitLines(1);
    await until(() => ok.ends.length === 1);
    expect(ok.ends[0]).toEqual({ status: { state: 'stopped', positionMs: 60_000, speed: 1 }, problem: null });
    expect(ok.player.status().state).toBe('stopped');

    const bad = setup('ffplay', { FAKE_PLAYER_EXIT: '1' });
    await bad.player.play(0);
    await until(() => bad.ends.length === 1);
    expect(bad.ends[0]!.problem).toMatch(/stopped \(exit 1\)/);
  });

  it('says which package to install when the player program is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'player-'));
    dirs.push(dir);
    const ends: (string | null)[] = [];
    const p = new Player(join(dir, 'x.wav'), { program: { kind: 'ffplay', command: join(dir, 'no-such-ffplay') }, durationMs: 1000, onEnd: (_s, problem) => ends.push(problem) });
    await p.play(0);
    await until(() => ends.length === 1);
    expect(ends[0]).toMatch(/not installed.*Install ffmpeg/);
  });

  it('pipes the audio from the time asked to paplay, which reads it on its standard input', async () => {
    const { player, waitLines } = setup('paplay', { FAKE_PLAYER_STDIN: '1' });
    await player.play(59_000); // the last second: 16000 samples
    const log = await waitLines(2);
    expect(log[0]!.argv).toEqual(['--raw', '--format=s16le', '--rate=16000', '--channels=1']);
    expect(log[1]!.stdinBytes).toBe(32_000);
    // The first sample piped is sample 59 * 16000.
    const first = (59 * 16000) & 0x7fff;
    expect(log[1]!.stdinHead!.slice(0, 4)).toBe(Buffer.from([first & 0xff, first >> 8]).toString('hex'));
    await expect(player.setSpeed(SLOW_SPEED)).rejects.toThrow(/Install ffmpeg/);
  });
});

async function until(f: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('playerArgs', () => {
  const p = (kind: PlayerProgram['kind']): PlayerProgram => ({ kind, command: kind });
  it('gives sox play the same features as ffplay', () => {
    expect(playerArgs(p('play'), 'a.wav', 12_345, 1)).toEqual(['-q', 'a.wav', 'trim', '12.345']);
    expect(playerArgs(p('play'), 'a.wav', 0, SLOW_SPEED)).toEqual(['-q', 'a.wav', 'trim', '0.000', 'tempo', '0.75']);
    expect(playerArgs(p('afplay'), 'a.wav', 0, 1)).toEqual(['a.wav']);
  });
});

describe('findPlayer', () => {
  const which = (have: string[]) => (c: string) => (have.includes(c) ? `/usr/bin/${c}` : null);
  it('prefers ffplay, then sox play, then paplay and aplay; afplay on macOS only', () => {
    expect(findPlayer({ env: {}, which: which(['aplay', 'ffplay', 'play']) })).toEqual({ kind: 'ffplay', command: '/usr/bin/ffplay' });
    expect(findPlayer({ env: {}, which: which(['aplay', 'play']) })).toEqual({ kind: 'play', command: '/usr/bin/play' });
    expect(findPlayer({ env: {}, which: which(['aplay', 'paplay']) })).toEqual({ kind: 'paplay', command: '/usr/bin/paplay' });
    expect(findPlayer({ env: {}, which: which(['afplay']), platform: 'linux' })).toBeNull();
    expect(findPlayer({ env: {}, which: which(['afplay']), platform: 'darwin' })).toEqual({ kind: 'afplay', command: '/usr/bin/afplay' });
  });

  it('uses RECORDER_PLAYER when set, as ffplay unless its name or RECORDER_PLAYER_KIND says otherwise', () => {
    expect(findPlayer({ env: { RECORDER_PLAYER: '/tmp/fake-player.mjs' }, which: which([]) })).toEqual({ kind: 'ffplay', command: '/tmp/fake-player.mjs' });
    expect(findPlayer({ env: { RECORDER_PLAYER: '/opt/bin/aplay' }, which: which([]) })).toEqual({ kind: 'aplay', command: '/opt/bin/aplay' });
    expect(findPlayer({ env: { RECORDER_PLAYER: '/x/y', RECORDER_PLAYER_KIND: 'play' }, which: which([]) })).toEqual({ kind: 'play', command: '/x/y' });
  });

  it('names the package to install when there is no player', () => {
    expect(noPlayerMessage('linux')).toMatch(/Install ffmpeg.*sudo apt install ffmpeg/);
    expect(noPlayerMessage('darwin')).toMatch(/brew install ffmpeg/);
  });

  it('refuses what a player cannot do, naming what to install', () => {
    expect(() => playerArgs({ kind: 'afplay', command: 'afplay' }, 'a.wav', 5000, 1)).toThrow(PlayerError);
    expect(() => playerArgs({ kind: 'aplay', command: 'aplay' }, 'a.wav', 0, SLOW_SPEED)).toThrow(/Install ffmpeg/);
  });
});
