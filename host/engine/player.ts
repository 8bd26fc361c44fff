/**
 * Listening to a recording through a real player program on this computer (issue 15). The app
 * does not decode or output audio itself: it starts the player at a time and speed, and to pause,
 * skip or change speed it stops that player and starts it again from the position it tracks (the
 * wall clock since the start, times the speed). Nothing here knows of Ink.
 *
 * Players, in the order they are looked for, and what each can do:
 *
 * | program            | package (Debian / macOS)   | start at a time | 0.75x, same pitch |
 * |--------------------|----------------------------|-----------------|-------------------|
 * | `ffplay`           | ffmpeg / `brew install ffmpeg` | yes (`-ss`) | yes (`-af atempo=0.75`) |
 * | `play`             | sox / `brew install sox`   | yes (`trim`)    | yes (`tempo 0.75`) |
 * | `paplay`, `aplay`  | pulseaudio-utils, alsa-utils | yes (the audio from that time is piped in) | no |
 * | `afplay` (macOS)   | part of macOS              | no (from the start only) | no |
 *
 * `RECORDER_PLAYER` names the program to use instead (tests use a fake one); its kind (which
 * options it takes) is `RECORDER_PLAYER_KIND`, else guessed from its name, else ffplay's.
 *
 * A player runs for as long as it plays (no timeout: a recording can be hours long), and is
 * always stopped by `stop()`, by starting another, and when this process exits.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { readerFor } from './verify.js';
import { parseWav } from './wav.js';

export type PlayerKind = 'ffplay' | 'play' | 'paplay' | 'aplay' | 'afplay';

export interface PlayerProgram {
  kind: PlayerKind;
  /** The executable. */
  command: string;
  /** Arguments before the player's own (tests: a script run by node). */
  prefixArgs?: string[];
}

export interface PlayerFeatures {
  /** Can start anywhere in the recording (so pause, skip back, markers and typed times work). */
  seek: boolean;
  /** Can play at 0.75x without changing the pitch. */
  slow: boolean;
  /** What to install to get it. */
  install: string;
}

export const PLAYER_FEATURES: Record<PlayerKind, PlayerFeatures> = {
  ffplay: { seek: true, slow: true, install: 'ffmpeg (Debian/Ubuntu: sudo apt install ffmpeg; macOS: brew install ffmpeg)' },
  play: { seek: true, slow: true, install: 'sox (Debian/Ubuntu: sudo apt install sox; macOS: brew install sox)' },
  paplay: { seek: true, slow: false, install: 'pulseaudio-utils' },
  aplay: { seek: true, slow: false, install: 'alsa-utils' },
  afplay: { seek: false, slow: false, install: 'macOS' },
};

/** The speeds the app offers: normal, and slower for hard-to-follow speech. */
export const SLOW_SPEED = 0.75;

const SEARCH_ORDER: PlayerKind[] = ['ffplay', 'play', 'paplay', 'aplay', 'afplay'];

/** Full path of an executable on PATH, or null. */
export function onPath(command: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const d of dirs) {
    const p = path.join(d, command);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

function kindFromName(command: string): PlayerKind {
  const name = path.basename(command).toLowerCase();
  return SEARCH_ORDER.find((k) => name === k || name.startsWith(`${k}.`) || name.endsWith(`-${k}`) || name.includes(`-${k}.`)) ?? 'ffplay';
}

export interface FindPlayerOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  which?: (command: string) => string | null;
}

/** The player to use on this computer, or null when there is none (see noPlayerMessage). */
export function findPlayer(o: FindPlayerOptions = {}): PlayerProgram | null {
  const env = o.env ?? process.env;
  const which = o.which ?? ((c: string) => onPath(c, env));
  const chosen = env.RECORDER_PLAYER?.trim();
  if (chosen) {
    const kind = env.RECORDER_PLAYER_KIND?.trim() as PlayerKind | undefined;
    return { kind: kind && kind in PLAYER_FEATURES ? kind : kindFromName(chosen), command: chosen };
  }
  const platform = o.platform ?? process.platform;
  for (const kind of SEARCH_ORDER) {
    if (kind === 'afplay' && platform !== 'darwin') continue;
    const command = which(kind);
    if (command) return { kind, command };
  }
  return null;
}

/** What to tell the person when no player is on this computer: the package that has one. */
export function noPlayerMessage(platform: NodeJS.Platform = process.platform): string {
  const how = platform === 'darwin' ? 'brew install ffmpeg' : platform === 'win32' ? 'install ffmpeg from ffmpeg.org and put it on PATH' : 'sudo apt install ffmpeg';
  return `No audio player was found on this computer. Install ffmpeg, which has the player ffplay (${how}), then open the recording again.`;
}

export class PlayerError extends Error {}

/** The raw audio of a WAV from a time: for players that read it on their standard input. */
export interface PipedAudio {
  start: number;
  end: number;
  sampleRate: number;
  channels: number;
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

/**
 * The exact command line for playing `file` from `fromMs` at `speed` (1 or SLOW_SPEED). Players
 * that take the audio on standard input (paplay, aplay) need `piped`: the audio's bytes and format.
 */
export function playerArgs(program: PlayerProgram, file: string, fromMs: number, speed: number, piped?: PipedAudio): string[] {
  const f = PLAYER_FEATURES[program.kind];
  if (speed !== 1 && !f.slow) throw new PlayerError(`${program.kind} cannot slow down speech without changing its pitch. Install ${PLAYER_FEATURES.ffplay.install} for 0.75x.`);
  if (fromMs > 0 && !f.seek) throw new PlayerError(`${program.kind} can only play from the start. Install ${PLAYER_FEATURES.ffplay.install} to start anywhere.`);
  const pre = program.prefixArgs ?? [];
  switch (program.kind) {
    case 'ffplay':
      return [...pre, '-nodisp', '-autoexit', '-loglevel', 'error', '-ss', seconds(fromMs), ...(speed !== 1 ? ['-af', `atempo=${speed}`] : []), file];
    case 'play':
      return [...pre, '-q', file, 'trim', seconds(fromMs), ...(speed !== 1 ? ['tempo', String(speed)] : [])];
    case 'paplay':
      if (!piped) throw new PlayerError('paplay needs the audio format');
      return [...pre, '--raw', '--format=s16le', `--rate=${piped.sampleRate}`, `--channels=${piped.channels}`];
    case 'aplay':
      if (!piped) throw new PlayerError('aplay needs the audio format');
      return [...pre, '-q', '-t', 'raw', '-f', 'S16_LE', '-r', String(piped.sampleRate), '-c', String(piped.channels), '-'];
    case 'afplay':
      return [...pre, file];
  }
}

/** Where the 16-bit PCM from `fromMs` lies in a WAV file, for the players that take it piped. */
export async function pipedAudio(file: string, fromMs: number): Promise<PipedAudio> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const { layout } = await parseWav(readerFor(fh), size);
    const fmt = layout.format;
    if (!fmt || fmt.audioFormat !== 1 || fmt.bitsPerSample !== 16 || layout.dataOffset < 0) throw new PlayerError(`${path.basename(file)} is not 16-bit PCM: install ffmpeg to play it.`);
    const frame = 2 * fmt.channels;
    const end = layout.dataOffset + Math.min(layout.dataLength, size - layout.dataOffset);
    const skip = Math.floor((fromMs * fmt.sampleRate) / 1000) * frame;
    return { start: Math.min(end, layout.dataOffset + skip), end, sampleRate: fmt.sampleRate, channels: fmt.channels };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

// Every player process alive, so that none outlives the app: not when it exits, and not when it
// is ended by a signal (its terminal closed: SIGHUP; SIGTERM), which would otherwise leave the
// player playing on its own.
const live = new Set<ChildProcess>();
const ENDING_SIGNALS: NodeJS.Signals[] = ['SIGHUP', 'SIGTERM'];

function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

function onEndingSignal(signal: NodeJS.Signals): void {
  killAll();
  watchSignals(false);
  // Then the signal again, now without this listener: it ends the app as it would have, through
  // the app's own listeners if it has some (Ink's signal-exit restores the terminal, then ends
  // the process, but only when it is the last listener: it was not while this one was there).
  process.kill(process.pid, signal);
}

let watching = false;
function watchSignals(on: boolean): void {
  if (on === watching) return;
  watching = on;
  for (const signal of ENDING_SIGNALS) {
    if (on) process.on(signal, onEndingSignal);
    else process.off(signal, onEndingSignal);
  }
  if (on) process.on('exit', killAll);
  else process.off('exit', killAll);
}

function track(child: ChildProcess): void {
  live.add(child);
  watchSignals(true);
  child.once('exit', () => {
    live.delete(child);
    if (live.size === 0) watchSignals(false);
  });
}

export type PlaybackState = 'stopped' | 'playing' | 'paused';

export interface PlayerStatus {
  state: PlaybackState;
  positionMs: number;
  speed: number;
}

export interface PlayerOptions {
  program: PlayerProgram;
  /** Length of the recording, so the tracked position stops at its end. */
  durationMs: number;
  spawn?: (command: string, args: string[], options: SpawnOptions) => ChildProcess;
  now?: () => number;
  /** The player ended by itself: at the end of the recording, or failing (message then). */
  onEnd?: (status: PlayerStatus, problem: string | null) => void;
}

/**
 * Plays one WAV file. Pause, skip back and speed changes stop the player and start it again from
 * the tracked position: no player needs to be remote-controlled.
 */
export class Player {
  private child: ChildProcess | null = null;
  private baseMs = 0;
  private startedAt = 0;
  private state: PlaybackState = 'stopped';
  private speedNow = 1;
  private readonly now: () => number;
  private readonly spawnFn: NonNullable<PlayerOptions['spawn']>;
  /** Bumped on every start and stop: a player's exit counts only if it is still the current one. */
  private generation = 0;

  constructor(
    readonly file: string,
    private readonly o: PlayerOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.spawnFn = o.spawn ?? nodeSpawn;
  }

  get features(): PlayerFeatures {
    return PLAYER_FEATURES[this.o.program.kind];
  }

  status(): PlayerStatus {
    return { state: this.state, positionMs: this.positionMs(), speed: this.speedNow };
  }

  positionMs(): number {
    const p = this.state === 'playing' ? this.baseMs + (this.now() - this.startedAt) * this.speedNow : this.baseMs;
    return Math.max(0, Math.min(this.o.durationMs, Math.round(p)));
  }

  /** The process id of the player running now (tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Plays from `fromMs` (the start, a marker, a typed time) at the current speed. */
  async play(fromMs: number): Promise<void> {
    const from = Math.max(0, Math.min(this.o.durationMs, Math.round(fromMs)));
    const program = this.o.program;
    const needsPipe = program.kind === 'paplay' || program.kind === 'aplay';
    // Check the command line before stopping what plays: a refusal leaves it playing.
    if (!needsPipe) playerArgs(program, this.file, from, this.speedNow);
    const piped = needsPipe ? await pipedAudio(this.file, from) : undefined;
    const args = playerArgs(program, this.file, from, this.speedNow, piped);
    this.kill();
    const generation = ++this.generation;
    let child: ChildProcess;
    try {
      child = this.spawnFn(program.command, args, { stdio: [piped ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new PlayerError(`The player ${program.command} could not be started: ${(e as Error).message}`);
    }
    track(child);
    this.child = child;
    this.baseMs = from;
    this.startedAt = this.now();
    this.state = 'playing';
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-2000);
    });
    if (piped && child.stdin) {
      child.stdin.on('error', () => undefined); // the player stopped reading: it was stopped
      createReadStream(this.file, { start: piped.start, end: Math.max(piped.start, piped.end - 1) }).on('error', () => child.stdin?.destroy()).pipe(child.stdin);
    }
    const ended = (problem: string | null) => {
      if (generation !== this.generation) return;
      this.child = null;
      const at = problem ? this.positionMs() : this.o.durationMs;
      this.state = 'stopped';
      this.baseMs = problem ? at : 0;
      this.o.onEnd?.({ state: 'stopped', positionMs: at, speed: this.speedNow }, problem);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      ended(e.code === 'ENOENT' ? `The player ${program.command} is not installed. ${noPlayerMessage()}` : `The player ${program.command} failed: ${e.message}`);
    });
    child.once('exit', (code, signal) => {
      const last = stderr.trim().split('\n').pop() ?? '';
      ended(code === 0 ? null : `The player ${path.basename(program.command)} stopped (${signal ?? `exit ${code}`})${last ? `: ${last}` : ''}.`);
    });
  }

  pause(): void {
    if (this.state !== 'playing') return;
    this.baseMs = this.positionMs();
    this.kill();
    this.state = 'paused';
  }

  /** Plays from the tracked position (the start again after the recording ended). */
  async resume(): Promise<void> {
    await this.play(this.baseMs);
  }

  /** Space: pause when playing, else play from where it was. */
  async toggle(): Promise<void> {
    if (this.state === 'playing') this.pause();
    else await this.resume();
  }

  /** Back `ms` (10 s by default); keeps playing if it was. */
  async back(ms = 10_000): Promise<void> {
    const to = Math.max(0, this.positionMs() - ms);
    if (this.state === 'playing') await this.play(to);
    else this.baseMs = to;
  }

  /** Moves the position without playing (a marker chosen while paused). */
  seek(ms: number): void {
    if (this.state === 'playing') this.pause();
    this.baseMs = Math.max(0, Math.min(this.o.durationMs, Math.round(ms)));
    if (this.state === 'stopped') this.state = 'paused';
  }

  get speed(): number {
    return this.speedNow;
  }

  /** Sets the speed (1 or SLOW_SPEED); a playing recording goes on at the new speed from where it is. */
  async setSpeed(speed: number): Promise<void> {
    if (speed === this.speedNow) return;
    if (speed !== 1 && !this.features.slow) playerArgs(this.o.program, this.file, 0, speed);
    const playing = this.state === 'playing';
    const at = this.positionMs();
    this.speedNow = speed;
    if (playing) await this.play(at);
  }

  /** Stops playing; the position is kept. */
  stop(): void {
    if (this.state === 'playing') this.baseMs = this.positionMs();
    this.kill();
    this.state = 'stopped';
  }

  private kill(): void {
    this.generation++;
    const c = this.child;
    this.child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    // A player that ignores SIGTERM is killed outright.
    const hard = setTimeout(() => {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, 2000);
    hard.unref();
    c.once('exit', () => clearTimeout(hard));
  }
}

/** What the app uses of a Player (tests give a fake). */
export type PlayerControl = Pick<Player, 'play' | 'toggle' | 'back' | 'setSpeed' | 'stop' | 'status'>;
