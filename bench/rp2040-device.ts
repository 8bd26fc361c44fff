/**
 * The RP2040 firmware's own figures on rp2040js (issue 17), for `npm run bench -- --only
 * rp2040stall` (bench/run.mjs loads this file with vite's runnerImport: it is TypeScript, as the
 * board harness test/support/rp2040.ts is). Nothing here asserts a time: it measures and reports.
 *
 * Card stalls: the device image as built (encryption on, the ring of firmware/ports/rp2040/
 * CMakeLists.txt), provisioned (so its checkpoints are signed) and given an owner recipient (so it
 * records to .AGE), records at 48 kHz while the SD card model stalls every 6 s of audio
 * (`stallEvery`, `stallNs` of test/support/sd-card-spi.ts: the stall paid in busies of at most
 * 250 ms per block, under the driver's 500 ms limit). INFO's overrunsTotal before and after is the
 * recording's loss. The emulator's clock is exact, so one trial per stall length is the figure; the
 * longest stall with no loss is found by bisection.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL, RECIPIENT_ACTION, RECORD_ACTION } from '../protocol/src/schema.js';
import { checkedMaxLength } from '../protocol/src/read-checked.js';
import { Board, RP2040_BUILD, Signal, makeCard, requireRp2040Image } from '../test/support/rp2040.js';
import { ageRecipientBytes } from '../test/support/age.js';

export interface StallTrial {
  rate: number;
  /** clk_sys while recording (the port's clock for the rate). */
  clkHz: number;
  stallMs: number;
  stalls: number;
  overruns: number;
  samples: number;
  emulatedS: number;
  wallS: number;
}

/** An owner recipient for the device to encrypt to (the key is thrown away: only the cost counts). */
function ownerRecipient(dir: string): Buffer {
  const keyFile = join(dir, 'owner.txt');
  const made = spawnSync('age-keygen', ['-o', keyFile], { encoding: 'utf8', timeout: 10_000 });
  if (made.status !== 0) throw new Error(`age-keygen failed (install the Debian package age): ${made.stderr}`);
  return ageRecipientBytes(/# public key: (age1[a-z0-9]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!);
}

/** A board booted on a fresh card in a temporary folder, enumerated and greeted; stopped and removed after `use`. */
async function onBoard<T>(use: (b: Board, card: ReturnType<typeof makeCard>['card'], dir: string) => Promise<T>): Promise<T> {
  const firmware = requireRp2040Image();
  const dir = mkdtempSync(join(tmpdir(), 'rec-bench-rp2040-'));
  const { card } = makeCard(dir);
  const b = new Board({ firmware, card, mic: new Signal().next });
  b.wallLimitMs = 1_200_000; // the emulator is slow on a loaded machine: emulated limits bound the waits
  try {
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    return await use(b, card, dir);
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a recording and asks INFO every emulated second until `samples` are in: the last INFO. */
async function recordUntil(b: Board, samples: number): Promise<Record<string, unknown>> {
  await b.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
  let info = await b.ok('INFO');
  while (Number(info.currentSamples) < samples) {
    await b.sleep(1000);
    info = await b.ok('INFO', {}, 30_000);
  }
  return info;
}

/**
 * One recording of `seconds` at `rate` with a `stallMs` card stall every `everyS` seconds of audio
 * written (counted in card blocks, so the encryption's and the checkpoints' blocks count too).
 */
export async function stallTrial(rate: number, stallMs: number, seconds = 13, everyS = 6, maxStalls = Infinity): Promise<StallTrial> {
  return onBoard(async (b, card, dir) => {
    await b.ok('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: randomBytes(32) }, 20_000);
    await b.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient: ownerRecipient(dir) }, 30_000);
    await b.ok('SETTINGS', { setMask: 1, sampleRate: rate });
    const before = Number((await b.ok('INFO')).overrunsTotal);
    card.stallEvery = Math.round((everyS * rate * 2) / 512);
    card.stallNs = stallMs * 1e6;
    card.stallLimit = maxStalls;
    const wall0 = Date.now();
    const emu0 = b.nowMs;
    const info = await recordUntil(b, seconds * rate);
    const clkHz = b.mcu.clkSys;
    card.stallNs = 0;
    await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 60_000);
    const after = await b.ok('INFO');
    return {
      rate,
      clkHz,
      stallMs,
      stalls: card.stalls,
      overruns: Number(after.overrunsTotal) - before,
      samples: Number(info.currentSamples),
      emulatedS: (b.nowMs - emu0) / 1000,
      wallS: (Date.now() - wall0) / 1000,
    };
  });
}

/**
 * The longest stall (ms, to `stepMs`) with no sample lost, by bisection between `okMs` (expected
 * to pass: checked) and `failMs` (expected to lose: checked); every trial is returned.
 */
export async function longestStall(rate: number, okMs: number, failMs: number, stepMs: number, log = (s: string) => console.log(s)) {
  const trials: StallTrial[] = [];
  const run = async (ms: number) => {
    const t = await stallTrial(rate, ms);
    trials.push(t);
    log(`  rp2040js ${rate} Hz, stall ${ms} ms x ${t.stalls}: ${t.overruns} samples lost (${t.emulatedS.toFixed(1)} s emulated in ${t.wallS.toFixed(0)} s)`);
    return t.overruns === 0 && t.stalls >= 3;
  };
  let lo = okMs;
  let hi = failMs;
  if (!(await run(lo))) return { longestMs: null, trials };
  if (await run(hi)) return { longestMs: hi, trials };
  while (hi - lo > stepMs) {
    const mid = lo + Math.round((hi - lo) / 2 / stepMs) * stepMs;
    if (await run(mid)) lo = mid;
    else hi = mid;
  }
  return { longestMs: lo, trials };
}

export interface BudgetTrial {
  rate: number;
  /** clk_sys while recording (what the firmware set; rp2040js runs the core at it). */
  clkHz: number;
  spiHz: number;
  audioS: number;
  /** Cycles the core executed (not asleep) per second of audio. */
  cyclesPerS: number;
  /** SPI wire time per second of audio, in seconds (the harness emulates it: the core's waits for the wire are in `cyclesPerS`). */
  spiWireSPerS: number;
  /** Signing per second of audio: one checkpoint signature per 60 s, from the crypto self-test's count. */
  signingCyclesPerS: number;
  /** Share of the PC samples per part of the work, and per function (largest first). */
  parts: { part: string; share: number }[];
  profile: { fn: string; share: number }[];
}

/** The part of the recording's work a function belongs to (by the source files' names). */
const BUDGET_PARTS: [string, RegExp][] = [
  ['hashing (SHA-256)', /^compress$|sha256|ckpt_hash/],
  ['encryption (ChaCha20-Poly1305, age)', /^__aeabi_lmul$|chacha|poly1305|^torsion_|^rec_age|^rec_enc/],
  ['signing (Ed25519)', /ed25519|^sc_|^fe_|^ge_|ckpt_sign|scalar/],
  ['ADC capture (DMA interrupt, samples to the ring)', /isr_dma|^rec_ring_push$|mic/],
  ['card writes (FAT, SD over SPI)', /spi|^rec_sd_|^send_cmd$|^xfer$|^wait_ready|^rec_bd|fat|store|wav|patch|^write_blocks$|^append$|^flush$|journal/],
  ['run-time helpers (64-bit division, memcpy, memset)', /^__|^mem/],
  ['main loop, timers, USB, button', /poll|uptime|time_us|watchdog|^take$|button|usb|^rec_ring_|^check$/],
];

/** One checkpoint signature (448-byte slot), M0+ cycles: docs/benchmarks.md, issue 13 (the crypto self-test). */
export const CHECKPOINT_SIGNATURE_CYCLES = 3_940_405;

/**
 * The recording budget with everything on: the image provisioned (signed checkpoints) and given
 * an owner recipient (.AGE), recording at `rate`; after `warmS` seconds of audio (the start's key
 * agreement and first signature done) the core's cycles (asleep excluded) and its PC samples are
 * counted over the next `seconds` of audio captured by the ADC, with no host traffic. The SPI wire
 * time is counted from the card model's bytes at the SPI clock the firmware set.
 */
export async function budgetTrial(rate: number, seconds = 6, warmS = 2): Promise<BudgetTrial> {
  return onBoard(async (b, card, dir) => {
    await b.ok('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: randomBytes(32) }, 20_000);
    await b.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient: ownerRecipient(dir) }, 30_000);
    await b.ok('SETTINGS', { setMask: 1, sampleRate: rate });
    await b.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
    const mic0 = b.micSamples;
    await b.until('the warm-up audio', () => b.micSamples >= mic0 + warmS * rate, (warmS + 10) * 1000);
    const clkHz = b.mcu.clkSys;
    const spiHz = (b.mcu.spi[0] as unknown as { clockFrequency: number }).clockFrequency;
    const ns0 = b.mcu.clock.nanos;
    const slept0 = b.sleptNs;
    const spi0 = card.stats.spiBytes;
    const s0 = b.micSamples;
    const profile = new Map<number, number>();
    b.profile = profile;
    await b.until('the measured audio', () => b.micSamples >= s0 + seconds * rate, (seconds + 10) * 1000);
    b.profile = null;
    if (b.mcu.clkSys !== clkHz) throw new Error(`clk_sys changed while measuring (${clkHz} -> ${b.mcu.clkSys} Hz)`);
    const audioS = (b.micSamples - s0) / rate;
    const activeNs = b.mcu.clock.nanos - ns0 - (b.sleptNs - slept0);
    const spiBytes = card.stats.spiBytes - spi0;
    await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 60_000);
    const { byFn, total } = samplesByFunction(profile);
    const byPart = new Map<string, number>();
    for (const [fn, n] of byFn) {
      const part = BUDGET_PARTS.find(([, re]) => re.test(fn))?.[0] ?? 'other';
      byPart.set(part, (byPart.get(part) ?? 0) + n);
    }
    return {
      rate,
      clkHz,
      spiHz,
      audioS,
      cyclesPerS: (activeNs * clkHz) / 1e9 / audioS,
      spiWireSPerS: (spiBytes * 8) / spiHz / audioS,
      signingCyclesPerS: CHECKPOINT_SIGNATURE_CYCLES / 60,
      parts: [...byPart].sort((x, y) => y[1] - x[1]).map(([part, n]) => ({ part, share: n / total })),
      profile: [...byFn].sort((x, y) => y[1] - x[1]).map(([fn, n]) => ({ fn, share: n / total })),
    };
  });
}

export interface SyncRate {
  bytes: number;
  /** The clocks the CPU and the SPI bus ran at (the board's own, or `runAt`'s). */
  clkHz: number;
  spiHz: number;
  /** Cycles the core spent (not asleep) per byte served: its work, and its waits for the SPI
   * bus where the wire is slower than the work that overlaps it (the harness gives every SPI
   * byte its 8 clocks, so polling and DMA wait for the wire as on the chip). */
  cyclesPerByte: number;
  instructionsPerByte: number;
  spiBytesPerByte: number;
  /** Bytes served per second of the core's time at these clocks. */
  rate: number;
  /** Share of PC samples per function, largest first. */
  profile: { fn: string; share: number }[];
}

/** Function names of the image's symbols, for the PC samples (arm-none-eabi-nm). */
function symbolizer(elf: string): (pc: number) => string {
  const r = spawnSync('arm-none-eabi-nm', ['-S', '-C', '--defined-only', elf], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`arm-none-eabi-nm failed: ${r.stderr}`);
  const syms = r.stdout
    .split('\n')
    .map((l) => /^([0-9a-f]+) ([0-9a-f]+) [tTwW] (\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ start: parseInt(m[1]!, 16) & ~1, size: parseInt(m[2]!, 16), name: m[3]! }))
    .sort((a, b) => a.start - b.start);
  return (pc) => {
    let lo = 0;
    let hi = syms.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = syms[mid]!;
      if (pc < s.start) hi = mid - 1;
      else if (pc >= s.start + s.size) lo = mid + 1;
      else return s.name;
    }
    return `?${pc.toString(16)}`;
  };
}

/** The PC samples of `Board.profile` summed per function of the image (its symbols). */
function samplesByFunction(profile: Map<number, number>): { byFn: Map<string, number>; total: number } {
  const name = symbolizer(join(RP2040_BUILD, 'recorder-rp2040.elf'));
  const byFn = new Map<string, number>();
  let total = 0;
  for (const [pc, n] of profile) {
    const fn = name(pc);
    byFn.set(fn, (byFn.get(fn) ?? 0) + n);
    total += n;
  }
  return { byFn, total };
}

/**
 * The device's own sync rate: a plain recording of `seconds` at `rate` is made, then read back
 * `passes` times with READ requests of the largest payload, `window` in flight (the device's
 * maximum is 8; the host's side of rp2040js answers at once, so the device is the limit), while
 * the emulator counts the core's time (asleep excluded) and samples its PC. `runAt` runs the read
 * back with the CPU and the SPI bus at other clocks than the firmware's (the recording is made at
 * the board's own). With `blockSize` the requests are READ_CHECKED in blocks of that size, of the
 * largest length whose table fits.
 */
export async function syncRate(runAt: Board['runAt'] = null, seconds = 4, rate = 16000, passes = 8, window = 8, blockSize = 0): Promise<SyncRate> {
  return onBoard(async (b, card) => {
    await b.ok('SETTINGS', { setMask: 1, sampleRate: rate });
    await recordUntil(b, seconds * rate);
    await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 60_000);
    const [e] = (await b.ok('LIST', { afterNumber: 0, maxEntries: 4 })).entries as Record<string, unknown>[];
    const size = Number(e!.size);
    const number = Number(e!.number);
    const chunk = blockSize > 0 ? checkedMaxLength(4096, blockSize) : 4096 - 8;

    b.runAt = runAt;
    const clkHz = runAt?.cpuHz ?? b.mcu.clkSys;
    const spiHz = runAt?.spiHz ?? (b.mcu.spi[0] as unknown as { clockFrequency: number }).clockFrequency;
    const ns0 = b.mcu.clock.nanos;
    const slept0 = b.sleptNs;
    const instr0 = b.instructions;
    const spi0 = card.stats.spiBytes;
    const profile = new Map<number, number>();
    b.profile = profile;
    let next = 0;
    const worker = async () => {
      while (next < size * passes) {
        const offset = next % size;
        next = offset + chunk >= size ? (Math.floor(next / size) + 1) * size : next + chunk;
        const length = Math.min(chunk, size - offset);
        const r = blockSize > 0 ? await b.ok('READ_CHECKED', { number, offset, length, blockSize }, 30_000) : await b.ok('READ', { number, offset, length }, 30_000);
        const got = blockSize > 0 ? Number(r.dataLength) : (r.data as Buffer).length;
        if (Number(r.offset) !== offset || got !== length) throw new Error(`READ at ${offset}: a wrong answer`);
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    b.profile = null;
    b.runAt = null;
    const activeNs = b.mcu.clock.nanos - ns0 - (b.sleptNs - slept0);
    const cycles = (activeNs * clkHz) / 1e9;
    const served = size * passes;
    const cyclesPerByte = cycles / served;
    const spiBytesPerByte = (card.stats.spiBytes - spi0) / served;
    const { byFn, total } = samplesByFunction(profile);
    return {
      bytes: served,
      clkHz,
      spiHz,
      cyclesPerByte,
      instructionsPerByte: (b.instructions - instr0) / served,
      spiBytesPerByte,
      rate: served / (activeNs / 1e9),
      profile: [...byFn].sort((x, y) => y[1] - x[1]).map(([fn, n]) => ({ fn, share: n / total })),
    };
  });
}
