/**
 * The firmware's Ed25519 as Cortex-M3 code: the bare-metal self-test of the QEMU build
 * (firmware/core/crypto/selftest/ed25519_selftest_qemu.c) runs the RFC 8032 section 7.1 vectors
 * in qemu-system-arm's lm3s6965evb and exits through semihosting with its status. The QEMU build
 * multiplies the base point with the compact multiplication (REC_ED25519_COMPACT_BASE, turned on
 * by the port; firmware/core/crypto/README.md): the self-test and the device image are checked
 * to hold it and not orlp's 30 KiB table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { QEMU_BIN, requireQemu } from './support/qemu.js';
import { requireTool, ROOT } from './support/sim.js';

const SELFTEST = join(ROOT, 'firmware', 'build-qemu', 'ed25519-selftest-qemu.elf');
const IMAGE = join(ROOT, 'firmware', 'build-qemu', 'ports', 'qemu', 'recorder-qemu.elf');

it('runs the RFC 8032 vectors on the Cortex-M3 under QEMU', () => {
  requireQemu();
  if (!existsSync(SELFTEST)) throw new Error(`Ed25519 self-test not built at ${SELFTEST}: run npm test (it builds firmware/build-qemu)`);
  const r = spawnSync(QEMU_BIN, ['-M', 'lm3s6965evb', '-kernel', SELFTEST, '-display', 'none', '-monitor', 'none', '-serial', 'none',
    '-semihosting-config', 'enable=on,target=native', '-no-reboot'], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  // Semihosting writes go to QEMU's stderr.
  const output = `${r.stdout}${r.stderr}`;
  expect(r.error, output).toBeUndefined();
  for (const name of ['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']) expect(output).toContain(`${name}: ok\n`);
  // The timed runs (bench/ reads their counts under -icount) check their own results too.
  expect(output).toContain('timed runs: ok\n');
  const m = /ed25519 selftest: 5 of 5 RFC 8032 vectors passed; stack used (\d+) bytes/.exec(output);
  expect(m, output).not.toBeNull();
  // The self-test links with an 8 KiB stack; the call-graph bound of verify is about 3.3 KiB.
  expect(Number(m![1])).toBeLessThan(8192);
  expect(r.status, output).toBe(0);
});

it('the QEMU build signs with the compact base-point multiplication, without orlp\'s table', () => {
  requireTool('arm-none-eabi-nm', 'binutils-arm-none-eabi');
  for (const elf of [SELFTEST, IMAGE]) {
    if (!existsSync(elf)) throw new Error(`${elf} not built: run npm test (it builds firmware/build-qemu)`);
    const r = spawnSync('arm-none-eabi-nm', ['-S', elf], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const sizeOf = (name: string) => new RegExp(`^[0-9a-f]{8} ([0-9a-f]{8}) [tTrR] ${name}$`, 'm').exec(r.stdout)?.[1];
    expect(sizeOf('rec_ge_scalarmult_base_compact'), elf).toBeDefined();
    // 1B .. 8B, eight ge_precomp of three ten-limb field elements
    expect(parseInt(sizeOf('base_multiples') ?? '0', 16), elf).toBe(8 * 3 * 10 * 4);
    // orlp's function and its table (ge.c's static base[32][8]) were dropped by --gc-sections
    expect(sizeOf('orlp_ge_scalarmult_base'), elf).toBeUndefined();
    expect(sizeOf('base'), elf).toBeUndefined();
  }
});
