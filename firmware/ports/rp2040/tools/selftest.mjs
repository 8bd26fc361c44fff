// Runs a bare-metal self-test image of the RP2040 build (such as ed25519-selftest-rp2040.bin) on
// the rp2040js emulator and collects what it reports through BKPT (the protocol is described in
// firmware/core/crypto/selftest/ed25519_selftest_rp2040.c): text output, the exit status, and
// the core's cycle count over each timed section. Used by test/rp2040-ed25519.test.ts and by
// `npm run bench -- --only crypto`; with `bootrom` and `rosc`, by test/rp2040-nvm.test.ts for the
// port's NVM and entropy self-test (the synthetic boot ROM of bootrom.mjs and the ROSC model of
// rosc.mjs; the emulated clock then runs with the instructions, so the timer counts).
//
// The cycle counts are rp2040js's model of the Cortex-M0+ (one cycle per instruction plus fixed
// extras for loads, stores, taken branches and BL) with flash read at SRAM speed: the XIP cache
// misses of real hardware are not modelled.
import { readFileSync } from 'node:fs';
import { RP2040 } from 'rp2040js';
import { boot2Valid } from './boot2.mjs';
import { NVM_BYTES, NVM_OFFSET, installSyntheticBootrom } from './bootrom.mjs';
import { installRosc } from './rosc.mjs';

const BOOT2_RUN_ADDR = 0x20041f00;

function readString(mcu, addr) {
  let s = '';
  for (let a = addr >>> 0, n = 0; n < 4096; a++, n++) {
    const b = mcu.readUint8(a);
    if (b === 0) return s;
    s += String.fromCharCode(b);
  }
  throw new Error(`self-test string at 0x${addr.toString(16)} is not terminated`);
}

/**
 * Boots `binPath` as the boot ROM would (boot2 checked and run from SRAM) and executes it until
 * it exits or `maxCycles` pass. Returns { status, output, timings: [{ name, cycles }], cycles,
 * nvm, bootrom, rosc }. Options: `bootrom` installs the synthetic boot ROM, `rosc` the ROSC
 * model with these options, `nvm` is the NVM's content (the last 64 KiB of the flash) at start;
 * the result's `nvm` is its content at the end.
 */
export function runRp2040Selftest(binPath, { maxCycles = 2_000_000_000, bootrom = false, rosc = null, nvm = null } = {}) {
  const image = readFileSync(binPath);
  const mcu = new RP2040();
  mcu.flash.set(image);
  if (nvm) mcu.flash.set(nvm, NVM_OFFSET);
  const boot2 = image.subarray(0, 256);
  if (!boot2Valid(boot2)) throw new Error(`${binPath}: boot2 CRC check failed`);
  mcu.sram.set(boot2, BOOT2_RUN_ADDR - 0x20000000);
  const core = mcu.core;
  core.SP = 0x20042000;
  core.LR = 0;
  core.PC = BOOT2_RUN_ADDR;

  let output = '';
  let status = null;
  let started = null;
  const timings = [];
  mcu.onBreak = (code) => {
    const r0 = core.registers[0] >>> 0;
    if (code === 1) started = core.cycles;
    else if (code === 2) {
      if (started === null) throw new Error('self-test ended a timed section it did not start');
      timings.push({ name: readString(mcu, r0), cycles: core.cycles - started });
      started = null;
    } else if (code === 3) output += readString(mcu, r0);
    else if (code === 4) status = r0;
    else throw new Error(`self-test hit BKPT ${code} at 0x${(core.PC >>> 0).toString(16)}`);
  };
  const rom = bootrom ? installSyntheticBootrom(mcu) : null;
  const roscModel = rosc ? installRosc(mcu, rosc) : null;
  // The timer (entropy sampling waits on it) needs the clock to move with the instructions.
  let cycleNanos = 1e9 / mcu.clkSys;
  mcu.addClockListener((hz) => (cycleNanos = 1e9 / hz));
  const tick = rosc !== null;
  while (status === null) {
    const cycles = core.executeInstruction();
    if (tick) mcu.clock.tick(cycles * cycleNanos);
    if (core.cycles > maxCycles) throw new Error(`self-test did not exit within ${maxCycles} cycles; output:\n${output}`);
  }
  return { status, output, timings, cycles: core.cycles, nvm: mcu.flash.slice(NVM_OFFSET, NVM_OFFSET + NVM_BYTES), bootrom: rom, rosc: roscModel };
}
