/**
 * The RP2040 firmware (firmware/build-rp2040/recorder-rp2040.bin) on the rp2040js emulator, for
 * end-to-end tests: the real image, started through its own boot2, on the emulated clock, with
 * - an SD card in SPI mode on spi0 (support/sd-card-spi.ts) backed by a card image in memory,
 *   chip select on GP23 and card detect on GP16; each byte takes its 8 clocks at the SPI clock
 *   the firmware set (rp2040js would complete it at once), so the CPU's polling and the DMA wait
 *   for the wire as on the chip, and DMA keeps its pace (instant bytes would let the TX channel
 *   run ahead of the RX FIFO);
 * - the microphone: every ADC0 conversion returns the next value of a signal (a ramp by default);
 * - the battery on ADC3 (its voltage settable while running), the button on GP7 (pressed = low);
 *   the ADC's round-robin (ADC0/ADC3 while recording) works, as rp2040js's own does not;
 * - the emulator's USB CDC host: it enumerates the device, and bytes go both ways through the
 *   bulk endpoints. An armed OUT endpoint is held (NAK) until the host has bytes to send, as on a
 *   real bus (the emulator would complete it at once with nothing, 100 000 times a second);
 * - UART0 (GP0) collected as log lines;
 * - a synthetic boot ROM (firmware/ports/rp2040/tools/bootrom.mjs: rp2040js has none) whose flash
 *   functions write the emulated flash with NOR rules, so the device NVM (the last 64 KiB) works;
 *   it fails the test when the firmware would crash a real chip (code or data in flash while XIP
 *   is off, interrupts enabled, writes outside the NVM);
 * - the ring oscillator's random bit from a seeded generator (tools/rosc.mjs), or stuck.
 *
 * Emulated time runs in slices from a background pump (`start()`), so a test can await protocol
 * answers while the device runs; when the CPU sleeps (WFI) the clock jumps to the next event.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConsoleLogger, GPIOPinState, LogLevel, RP2040, USBCDC } from 'rp2040js';
import { boot2Valid } from '../../firmware/ports/rp2040/tools/boot2.mjs';
import { NVM_BYTES, NVM_OFFSET, installSyntheticBootrom, type SyntheticBootrom } from '../../firmware/ports/rp2040/tools/bootrom.mjs';
import { installRosc, type RoscModel } from '../../firmware/ports/rp2040/tools/rosc.mjs';
import { Deframer, decodeStruct, encodeFrame, encodeStruct, type Frame, type StructValue } from '../../protocol/src/codec.js';
import { COMMANDS, KIND, type CommandName } from '../../protocol/src/schema.js';
import { SdCardSpi } from './sd-card-spi.js';
import { ROOT } from './sim.js';

export const RP2040_BUILD = process.env.REC_RP2040_BUILD ?? join(ROOT, 'firmware', 'build-rp2040');
export const RP2040_BIN = join(RP2040_BUILD, 'recorder-rp2040.bin');

export function requireRp2040Image(): Uint8Array {
  if (!existsSync(RP2040_BIN)) throw new Error(`RP2040 image not built at ${RP2040_BIN}: run npm test (it builds firmware/build-rp2040)`);
  return readFileSync(RP2040_BIN);
}

const PIN = { button: 7, led: 13, sdDetect: 16, sdCs: 23 };

/** The emulator's SimulationClock (the package exports only its IClock interface). */
interface SimClock {
  readonly nanos: number;
  readonly nanosToNextAlarm: number;
  tick(deltaNanos: number): void;
}
const BOOT2_RUN_ADDR = 0x20041f00;

export interface BoardOptions {
  firmware: Uint8Array;
  card: SdCardSpi;
  /** Raw 12-bit ADC0 value for conversion number n (default: a ramp n mod 4096). */
  mic?: (n: number) => number;
  /** Battery millivolts (default 3900). */
  batteryMv?: number;
  /** Print UART lines as they come. */
  echo?: boolean;
  /** The device NVM (the last 64 KiB of the flash) at power-on, e.g. `board.nvm` of an earlier run. */
  nvm?: Uint8Array;
  /** Seed of the ROSC random bit (default 1), or stuck at 0 or 1. */
  rosc?: { seed?: number; stuck?: 0 | 1 | null };
  /** Leave the boot ROM out (as plain rp2040js): the firmware then has no NVM. */
  noBootrom?: boolean;
}

export class Board {
  readonly mcu: RP2040;
  readonly cdc: USBCDC;
  readonly card: SdCardSpi;
  readonly uart: string[] = [];
  /** Bytes the device sent on the bulk IN endpoint. */
  readonly deframer = new Deframer();
  connected = false;
  /** Set when the watchdog reset the chip (a fatal error or a hang). */
  watchdogFired = false;
  micSamples = 0;
  /** Conversions of the battery channel (ADC3) so far. */
  batterySamples = 0;
  ledOn = false;
  /** The LED's dim glow (port_led_dim: output off, the pad's pull-up on), and how many began. */
  ledDim = false;
  dimGlows = 0;
  instructions = 0;
  sleptNs = 0;
  /** PC sampling (a profile): when set, the PC of every `profileEvery`-th instruction is counted. */
  profile: Map<number, number> | null = null;
  profileEvery = 61;
  /** Run the CPU and the SPI bus at these clocks instead of the ones the firmware set (a
   * benchmark's projection to another clock: each instruction's cycles and each SPI byte's 8 bits
   * take their time at these rates; timers and USB keep theirs). */
  runAt: { cpuHz: number; spiHz: number } | null = null;
  /** Wall-clock limit of every wait (a benchmark on a loaded machine may need more). */
  wallLimitMs = 120_000;
  readonly bootrom: SyntheticBootrom | null;
  readonly rosc: RoscModel;
  /** What stopped the emulation with an error (a synthetic-ROM check, an emulator exception). */
  fault: Error | null = null;

  private uartLine = '';
  private hostTx: number[] = [];
  private hostTxPos = 0;
  private outPending: number | null = null;
  private cycleNanos: number;
  private running = false;
  private pump: Promise<void> | null = null;
  private frameWaiters = new Map<number, (f: Frame) => void>();
  readonly events: Frame[] = [];
  readonly errors: Frame[] = [];

  constructor(private o: BoardOptions) {
    const mcu = new RP2040();
    this.mcu = mcu;
    mcu.logger = new ConsoleLogger(LogLevel.Error);
    this.card = o.card;
    this.card.now = () => mcu.clock.nanos;

    // Flash: the image at 0 (RP2040() already filled flash with 0xff). The boot ROM's job, done
    // here as it would: check boot2's CRC, copy it to SRAM and run it with LR = 0.
    mcu.flash.set(o.firmware);
    if (o.nvm) {
      if (o.nvm.length !== NVM_BYTES) throw new Error(`nvm must be ${NVM_BYTES} bytes`);
      mcu.flash.set(o.nvm, NVM_OFFSET);
    }
    const boot2 = o.firmware.subarray(0, 256);
    if (!boot2Valid(boot2)) throw new Error('boot2 CRC check failed: the boot ROM would not start this image');
    mcu.sram.set(boot2, BOOT2_RUN_ADDR - 0x20000000);
    mcu.core.SP = 0x20042000;
    mcu.core.LR = 0;
    mcu.core.PC = BOOT2_RUN_ADDR;
    this.cycleNanos = 1e9 / mcu.clkSys;
    mcu.addClockListener((hz) => (this.cycleNanos = 1e9 / hz));

    // GPIO inputs: button released (pull-up), card present.
    mcu.gpio[PIN.button]!.setInputValue(true);
    mcu.gpio[PIN.sdDetect]!.setInputValue(true);
    mcu.gpio[PIN.led]!.addListener((value) => {
      this.ledOn = mcu.gpio[PIN.led]!.outputValue;
      const dim = value === GPIOPinState.InputPullUp;
      if (dim && !this.ledDim) this.dimGlows++;
      this.ledDim = dim;
    });

    // SD card on spi0; chip select is a plain GPIO. A byte is exchanged when its 8 clocks end.
    const spi = mcu.spi[0]!;
    let shifting = 0xff;
    const byteDone = mcu.clock.createAlarm(() => spi.completeTransmit(this.card.exchange(shifting)));
    spi.onTransmit = (b: number) => {
      shifting = b;
      const hz = this.runAt?.spiHz ?? spi.clockFrequency;
      byteDone.schedule(hz > 0 ? 8e9 / hz : 0);
    };
    mcu.gpio[PIN.sdCs]!.addListener(() => {
      const pin = mcu.gpio[PIN.sdCs]!;
      this.card.selected = pin.outputEnable && !pin.outputValue;
    });

    // ADC: channel 0 the microphone signal, channel 3 the battery through its 1:2 divider.
    const adc = mcu.adc;
    const mic = o.mic ?? ((n: number) => n & 0xfff);
    this.setBatteryMv(o.batteryMv ?? 3900);
    // rp2040js 1.4.1's round-robin writes the next channel through its AINSEL setter, which masks
    // the channel with the field's shift (12) instead of its mask (7): ADC3 becomes ADC0 and the
    // round never leaves the first channel. The setter, as the datasheet has AINSEL, on this ADC.
    const adcRegs = adc as unknown as { cs: number };
    Object.defineProperty(adc, 'activeChannel', {
      get: () => (adcRegs.cs >> 12) & 7,
      set: (channel: number) => (adcRegs.cs = (adcRegs.cs & ~(7 << 12)) | ((channel & 7) << 12)),
    });
    const defaultRead = adc.onADCRead;
    adc.onADCRead = (ch: number) => {
      if (ch === 0) adc.channelValues[0] = mic(this.micSamples++) & 0xfff;
      if (ch === 3) this.batterySamples++;
      defaultRead(ch);
    };

    // UART0 log lines.
    mcu.uart[0]!.onByte = (b: number) => {
      if (b === 10) {
        const line = this.uartLine.replace(/\r$/, '');
        this.uart.push(line);
        if (o.echo) console.log(`[rp2040 ${(mcu.clock.nanos / 1e9).toFixed(3)}s] ${line}`);
        this.uartLine = '';
      } else this.uartLine += String.fromCharCode(b);
    };

    // Watchdog: the chip would reset; the test sees it and stops.
    const wd = (mcu as unknown as { peripherals: Record<number, { onWatchdogTrigger?: () => void }> }).peripherals[0x40058]!;
    wd.onWatchdogTrigger = () => {
      this.watchdogFired = true;
      this.running = false;
    };

    // Boot ROM (flash functions) and ROSC, which rp2040js lacks.
    this.bootrom = o.noBootrom ? null : installSyntheticBootrom(mcu);
    this.rosc = installRosc(mcu, o.rosc);

    // USB: the emulator's CDC host, with the OUT endpoint held until there is data.
    this.cdc = new USBCDC(mcu.usbCtrl);
    this.cdc.onDeviceConnected = () => (this.connected = true);
    this.cdc.onSerialData = (data: Uint8Array) => this.fromDevice(data);
    mcu.usbCtrl.onEndpointRead = (ep: number, size: number) => {
      if (ep === this.outEndpoint()) {
        this.outPending = size;
        this.feedOut();
      }
    };
  }

  /** The battery's voltage from now on (ADC3 reads half of it: the board's 1:2 divider). */
  setBatteryMv(mv: number): void {
    this.mcu.adc.channelValues[3] = Math.round(((mv / 2) * 4095) / 3300);
  }

  /** A copy of the device NVM now (to power the next board on with). */
  get nvm(): Uint8Array {
    return this.mcu.flash.slice(NVM_OFFSET, NVM_OFFSET + NVM_BYTES);
  }

  private outEndpoint(): number {
    return (this.cdc as unknown as { outEndpoint: number }).outEndpoint;
  }

  private feedOut() {
    if (this.outPending === null || this.hostTxPos >= this.hostTx.length) return;
    const n = Math.min(this.outPending, this.hostTx.length - this.hostTxPos);
    const chunk = Uint8Array.from(this.hostTx.slice(this.hostTxPos, this.hostTxPos + n));
    this.hostTxPos += n;
    if (this.hostTxPos === this.hostTx.length) {
      this.hostTx = [];
      this.hostTxPos = 0;
    }
    this.outPending = null;
    this.mcu.usbCtrl.endpointReadDone(this.outEndpoint(), chunk);
  }

  /** Host to device bytes (queued until the device arms its OUT endpoint). */
  send(bytes: Uint8Array): void {
    for (const b of bytes) this.hostTx.push(b);
    this.feedOut();
  }

  private fromDevice(data: Uint8Array) {
    for (const item of this.deframer.push(Buffer.from(data))) {
      if (!item.ok) continue;
      const f = item.frame;
      if (f.kind === KIND.EVENT) this.events.push(f);
      else if (f.seq === 0) this.errors.push(f);
      const w = this.frameWaiters.get(f.seq);
      if (w && f.seq !== 0) {
        this.frameWaiters.delete(f.seq);
        w(f);
      }
    }
  }

  get nowMs(): number {
    return this.mcu.clock.nanos / 1e6;
  }

  /** Runs the CPU for `ns` of emulated time (synchronously). */
  runNs(ns: number): void {
    const core = this.mcu.core;
    const clock = this.mcu.clock as unknown as SimClock;
    const end = clock.nanos + ns;
    let n = 0;
    while (clock.nanos < end && !this.watchdogFired) {
      if (core.waiting) {
        const dt = clock.nanosToNextAlarm;
        const step = dt > 0 ? Math.min(dt, end - clock.nanos) : end - clock.nanos;
        this.sleptNs += step;
        clock.tick(step);
      } else {
        if (this.profile && n % this.profileEvery === 0) this.profile.set(core.PC, (this.profile.get(core.PC) ?? 0) + 1);
        const cycles = core.executeInstruction();
        clock.tick(cycles * (this.runAt ? 1e9 / this.runAt.cpuHz : this.cycleNanos));
        n++;
      }
    }
    this.instructions += n;
  }

  /** Runs in the background, `sliceMs` of emulated time per event-loop turn, until stop(). */
  start(sliceMs = 5): void {
    if (this.running) return;
    this.running = true;
    this.pump = (async () => {
      while (this.running && !this.watchdogFired && !this.fault) {
        try {
          this.runNs(sliceMs * 1e6);
        } catch (e) {
          this.fault = e instanceof Error ? e : new Error(String(e));
          this.running = false;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
  }

  /** Stops the CPU where it is (a power cut when the test throws the board away). */
  async stop(): Promise<void> {
    this.running = false;
    await this.pump;
    this.pump = null;
  }

  /** Waits (running the emulator in the background) until pred() holds; limits in emulated and wall time. */
  async until(what: string, pred: () => boolean, emulatedMs = 10_000, wallMs = this.wallLimitMs): Promise<void> {
    this.start();
    const endEmu = this.nowMs + emulatedMs;
    const endWall = Date.now() + wallMs;
    while (!pred()) {
      if (this.fault) throw new Error(`emulation stopped while waiting for ${what}: ${this.fault.message}; log:\n${this.uart.slice(-20).join('\n')}`);
      if (this.watchdogFired) throw new Error(`watchdog reset while waiting for ${what}; log:\n${this.uart.slice(-20).join('\n')}`);
      if (this.nowMs > endEmu || Date.now() > endWall) throw new Error(`timed out waiting for ${what} (${this.nowMs.toFixed(0)} ms emulated); log:\n${this.uart.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Emulated time passes (the pump keeps running). */
  async sleep(emulatedMs: number): Promise<void> {
    const end = this.nowMs + emulatedMs;
    await this.until(`${emulatedMs} ms`, () => this.nowMs >= end, emulatedMs + 1000, 600_000);
  }

  /** Holds the button down for `ms` of emulated time. */
  async press(ms = 50): Promise<void> {
    this.start();
    this.mcu.gpio[PIN.button]!.setInputValue(false);
    await this.sleep(ms);
    this.mcu.gpio[PIN.button]!.setInputValue(true);
  }

  setCardPresent(present: boolean): void {
    this.card.removed = !present;
    this.mcu.gpio[PIN.sdDetect]!.setInputValue(present);
  }

  private seq = 1;

  /** Sends a request, resolves with the response or error frame. */
  async call(command: CommandName, value: StructValue = {}, emulatedMs = 10_000): Promise<Frame> {
    const c = COMMANDS[command];
    const seq = this.seq++;
    if (this.seq > 0xffff) this.seq = 1;
    let reply: Frame | undefined;
    this.frameWaiters.set(seq, (f) => (reply = f));
    this.send(encodeFrame({ kind: KIND.REQUEST, seq, command: c.id, payload: encodeStruct(c.request, value) }));
    await this.until(`the answer to ${command}`, () => reply !== undefined, emulatedMs);
    return reply!;
  }

  /** Sends a request and decodes the response; throws on an error frame. */
  async ok(command: CommandName, value: StructValue = {}, emulatedMs?: number): Promise<StructValue> {
    const f = await this.call(command, value, emulatedMs);
    if (f.kind === KIND.ERROR) {
      const e = decodeStruct('ERROR', f.payload);
      throw new Error(`${command} failed with error code ${String(e.code)}`);
    }
    return decodeStruct(COMMANDS[command].response, f.payload);
  }
}

/** A 64 MiB FAT32 card image made by mkfs.fat. */
export function makeCard(dir: string): { path: string; card: SdCardSpi } {
  const path = join(dir, 'card.img');
  const r = spawnSync('mkfs.fat', ['-F', '32', '-n', 'RECORDER', '-C', path, String(64 * 1024)], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  if (r.status !== 0) throw new Error(`mkfs.fat failed: ${r.stderr}`);
  return { path, card: new SdCardSpi(new Uint8Array(readFileSync(path))) };
}

/** The microphone: a pseudo-random 12-bit sequence (no period to hide lost or repeated blocks). */
export class Signal {
  readonly fed: number[] = [];
  next = (n: number): number => {
    const v = (Math.imul(n + 1, 0x9e3779b1) >>> 20) & 0xfff;
    this.fed.push(v);
    return v;
  };
  /** Checks that pcm (16-bit LE) is a contiguous run of the fed values; returns where it starts. */
  expectContiguous(pcm: Buffer): number {
    const n = pcm.length / 2;
    const raw = (i: number) => (pcm.readInt16LE(2 * i) >> 4) + 2048;
    let start = -1;
    for (let k = 0; k + 8 <= this.fed.length && start < 0; k++) {
      let ok = true;
      for (let i = 0; i < 8 && ok; i++) ok = this.fed[k + i] === raw(i);
      if (ok) start = k;
    }
    if (start < 0) throw new Error('the recording does not start with any run of the fed signal');
    for (let i = 0; i < n; i++) {
      const want = this.fed[start + i];
      if (want === undefined || raw(i) !== want || (pcm.readInt16LE(2 * i) & 0xf) !== 0) throw new Error(`sample ${i} is ${raw(i)}, fed ${want}: lost or repeated samples`);
    }
    return start;
  }
}

/** Copies a recording over USB with READ requests, four in flight. */
export async function syncFile(b: Board, number: number, size: number): Promise<Buffer> {
  const out = Buffer.alloc(size);
  const chunk = 4000;
  let next = 0;
  const worker = async () => {
    while (next < size) {
      const offset = next;
      next += chunk;
      const r = await b.ok('READ', { number, offset, length: Math.min(chunk, size - offset) }, 30_000);
      const data = r.data as Buffer;
      if (Number(r.offset) !== offset) throw new Error(`READ at ${offset} answered for ${String(r.offset)}`);
      data.copy(out, offset);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return out;
}
