/**
 * The RP2040 port's device NVM and entropy on the Cortex-M0+ under rp2040js: the bare-metal
 * self-test image (firmware/build-rp2040/nvm-selftest-rp2040.bin, from
 * firmware/ports/selftest/port_nvm_selftest.h with the port's nvm_rp2040.c and hw.c) writes the
 * last 64 KiB of the emulated flash through the synthetic boot ROM
 * (firmware/ports/rp2040/tools/bootrom.mjs) and samples the ROSC model (tools/rosc.mjs). Also
 * checks that the synthetic ROM stops code that would crash a real chip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RP2040 } from 'rp2040js';
import { beforeAll, expect, it } from 'vitest';
import { DEFAULT_UNIQUE_ID, NVM_BYTES, installSyntheticBootrom } from '../firmware/ports/rp2040/tools/bootrom.mjs';
import { runRp2040Selftest, type Rp2040SelftestOptions } from '../firmware/ports/rp2040/tools/selftest.mjs';
import { RP2040_BUILD } from './support/rp2040.js';
import { requireTool } from './support/sim.js';

const SELFTEST_BIN = join(RP2040_BUILD, 'nvm-selftest-rp2040.bin');
const SELFTEST_ELF = join(RP2040_BUILD, 'nvm-selftest-rp2040.elf');
const CHECKS = 20;
const ENTROPY_SOURCE_ROSC = 1;

beforeAll(() => {
  for (const f of [SELFTEST_BIN, SELFTEST_ELF]) {
    if (!existsSync(f)) throw new Error(`${f} not built: run npm test (it builds firmware/build-rp2040)`);
  }
  requireTool('arm-none-eabi-as', 'binutils-arm-none-eabi');
});

function run(o: Rp2040SelftestOptions) {
  const r = runRp2040Selftest(SELFTEST_BIN, { bootrom: true, rosc: { seed: 1 }, maxCycles: 50_000_000, ...o });
  const entropy = [...r.output.matchAll(/^entropy source (\d+): (\S+)$/gm)].map((m) => ({ source: Number(m[1]), hex: m[2]! }));
  const persisted = /^nvm persisted: (\w+)$/m.exec(r.output)?.[1];
  return { ...r, entropy, persisted };
}

function expectPassed(r: ReturnType<typeof run>) {
  expect(r.output).toContain('boot ROM: synthetic\n');
  expect(r.output).toContain('nvm info: sector 4096 page 256 sectors 16 simulated 1\n');
  expect(r.output).not.toContain('FAILED');
  expect(r.output).toContain(`nvm selftest: ${CHECKS} of ${CHECKS} checks passed\n`);
  expect(r.status, r.output).toBe(0);
  expect(r.bootrom!.errors).toEqual([]);
  expect(r.rosc!.tooSoon).toBe(0); // every sample at least 10 us after the last
  const stack = /stack used (\d+) bytes/.exec(r.output);
  expect(Number(stack![1])).toBeLessThan(8192);
}

it('erases and programs the last 64 KiB of flash through the boot ROM, with NOR rules, and keeps it across a restart', () => {
  const first = run({});
  expectPassed(first);
  expect(first.persisted).toBe('no');
  // Every write went through RE/RP, all in the NVM region (the ROM refuses anything else).
  expect(first.bootrom!.ops.filter((o) => o.fn === 'RE').length).toBeGreaterThan(0);
  expect(first.bootrom!.ops.filter((o) => o.fn === 'RP').every((o) => o.count === 256)).toBe(true);
  expect(first.nvm.length).toBe(NVM_BYTES);
  expect(Buffer.from(first.nvm.subarray(15 * 4096, 15 * 4096 + 31)).toString('latin1')).toBe('ER-1 port NVM self-test marker\n');
  expect(first.nvm.subarray(4096, 8192).every((b) => b === 0xff)).toBe(true);
  // The flash chip's unique id (command 4Bh sent by hand between EX and FC), once.
  expect(first.output).toContain(`unique id: ${Buffer.from(DEFAULT_UNIQUE_ID).toString('hex')}\n`);
  expect(first.bootrom!.ops.filter((o) => o.fn === 'CMD')).toEqual([{ fn: 'CMD', offset: 0x4b, count: 13 }]);

  const again = run({ nvm: first.nvm });
  expectPassed(again);
  expect(again.persisted).toBe('yes');
  expect(run({}).persisted).toBe('no'); // a new flash
}, 120_000);

it('packs ROSC bits 8 to a byte: varying, repeatable with the same seed, and a stuck bit shows', () => {
  const a = run({ rosc: { seed: 1 } });
  const b = run({ rosc: { seed: 1 } });
  const c = run({ rosc: { seed: 99 } });
  for (const r of [a, b, c]) {
    expectPassed(r);
    expect(r.entropy.map((e) => e.source)).toEqual([ENTROPY_SOURCE_ROSC, ENTROPY_SOURCE_ROSC]);
    expect(r.rosc!.reads).toBe(2 * 64 * 8);
  }
  expect(a.entropy[0]!.hex).not.toBe(a.entropy[1]!.hex);
  expect(new Set(a.entropy[0]!.hex.match(/../g)).size).toBeGreaterThan(16);
  expect(b.entropy).toEqual(a.entropy);
  expect(c.entropy[0]!.hex).not.toBe(a.entropy[0]!.hex);

  // The port passes raw bits on: a stuck oscillator gives constant bytes (the core's health
  // checks refuse them).
  for (const stuck of [0, 1] as const) {
    const s = run({ rosc: { stuck } });
    expectPassed(s);
    for (const e of s.entropy) expect(e.hex).toBe((stuck ? 'ff' : '00').repeat(64));
  }
}, 120_000);

it('without a boot ROM the port refuses the NVM and leaves the flash alone', () => {
  const r = run({ bootrom: false });
  expect(r.output).toContain('boot ROM: not synthetic\n');
  expect(r.output).toContain('nvm info: sector 0 page 0 sectors 0 simulated 0\n');
  expect(r.output).toContain('geometry: FAILED\n');
  expect(r.output).toContain('unique id: none\n');
  expect(r.status).toBe(1);
  expect(r.nvm.every((b) => b === 0xff)).toBe(true);
}, 60_000);

it('places the flash sequence in SRAM', () => {
  const nm = spawnSync('arm-none-eabi-nm', [SELFTEST_ELF], { encoding: 'utf8' });
  expect(nm.status).toBe(0);
  expect(nm.stdout).toMatch(/^2000[0-9a-f]{4} t flash_op_in_sram$/m);
  expect(nm.stdout).toMatch(/^107f0000 [A-Za-z] __nvm_start$/m);
});

/** Thumb code assembled by binutils. */
function thumb(source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'rec-thumb-'));
  try {
    const src = join(dir, 'a.S');
    const obj = join(dir, 'a.o');
    const bin = join(dir, 'a.bin');
    writeFileSync(src, `.syntax unified\n.cpu cortex-m0plus\n.thumb\n${source}\n`);
    for (const [cmd, args] of [['arm-none-eabi-as', [src, '-o', obj]], ['arm-none-eabi-objcopy', ['-O', 'binary', obj, bin]]] as const) {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    }
    return readFileSync(bin);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Calls of the ROM's stubs by address: IF 0x201, EX 0x205, RE 0x209, RP 0x20d, FC 0x211 (Thumb).
const CALL = (addr: number) => `movs r7, #${addr >> 2}\nlsls r7, r7, #2\nadds r7, #${addr & 3}\nblx r7`;

/** Runs code placed at `at` (flash or SRAM) on a bare chip with the synthetic ROM; the ROM's error. */
function romError(code: string, at: number): string {
  const mcu = new RP2040();
  const rom = installSyntheticBootrom(mcu);
  const bytes = thumb(code);
  if (at >= 0x20000000) mcu.sram.set(bytes, at - 0x20000000);
  else mcu.flash.set(bytes, at - 0x10000000);
  mcu.core.SP = 0x20042000;
  mcu.core.PC = at;
  try {
    for (let i = 0; i < 200; i++) mcu.core.executeInstruction();
  } catch (e) {
    expect(rom.errors).toEqual([(e as Error).message]);
    return (e as Error).message;
  }
  return 'no error';
}

it('fails code that would crash a real chip while XIP is off', () => {
  // IF called from flash.
  expect(romError(`cpsid i\n${CALL(0x201)}\nb .`, 0x10000100)).toMatch(/IF called from flash/);
  // From SRAM but with interrupts enabled (a handler in flash could run).
  expect(romError(`${CALL(0x201)}\nb .`, 0x20001000)).toMatch(/IF called with interrupts enabled/);
  // From SRAM, masked, then a read of flash between EX and the return to XIP.
  expect(romError(`cpsid i\n${CALL(0x201)}\n${CALL(0x205)}\nldr r0, =0x10000100\nldr r1, [r0]\nb .\n.ltorg`, 0x20001000)).toMatch(/readUint32\(0x10000100\) while XIP is off/);
  // Programming from a buffer in flash.
  expect(romError(`cpsid i\n${CALL(0x201)}\n${CALL(0x205)}\nldr r0, =0x7f0000\nldr r1, =0x10000000\nmovs r2, #1\nlsls r2, r2, #8\n${CALL(0x20d)}\nb .\n.ltorg`, 0x20001000)).toMatch(/RP data at 0x10000000: not in SRAM/);
  // Erasing the image instead of the NVM.
  expect(romError(`cpsid i\n${CALL(0x201)}\n${CALL(0x205)}\nmovs r0, #0\nmovs r1, #1\nlsls r1, r1, #12\nmovs r2, #1\nlsls r2, r2, #16\nmovs r3, #0xd8\n${CALL(0x209)}\nb .`, 0x20001000)).toMatch(/RE\(0x0, 4096\) outside the writable flash/);
  // A flash command (chip select forced low) while XIP is on.
  expect(romError(`ldr r0, =0x4001800c\nldr r1, =0x200\nstr r1, [r0]\nb .\n.ltorg`, 0x20001000)).toMatch(/flash chip selected outside EX..FC/);
  // Program before IF and EX.
  expect(romError(`cpsid i\n${CALL(0x20d)}\nb .`, 0x20001000)).toMatch(/RP before IF and EX/);
});
