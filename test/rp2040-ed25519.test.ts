/**
 * The firmware's Ed25519 as Cortex-M0+ code: the RP2040 build's self-test image
 * (firmware/build-rp2040/ed25519-selftest-rp2040.bin, from
 * firmware/core/crypto/selftest/ed25519_selftest_rp2040.c) runs the RFC 8032 section 7.1 vectors
 * and timed keypair/sign/verify on rp2040js. The cycle counts are reported by
 * `npm run bench -- --only crypto`, not asserted here. Also checks by disassembly that the M0+
 * build's Ed25519 calls no libgcc routine: its 64-bit multiply is core/crypto/mul64_v6m.c,
 * straight-line code, instead of libgcc's __aeabi_lmul (which branches on its operands).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { runRp2040Selftest } from '../firmware/ports/rp2040/tools/selftest.mjs';
import { RP2040_BUILD } from './support/rp2040.js';
import { requireTool } from './support/sim.js';

const SELFTEST_ELF = join(RP2040_BUILD, 'ed25519-selftest-rp2040.elf');
const SELFTEST_BIN = join(RP2040_BUILD, 'ed25519-selftest-rp2040.bin');
const CRYPTO_LIB = join(RP2040_BUILD, 'librec_crypto.a');

beforeAll(() => {
  for (const f of [SELFTEST_BIN, CRYPTO_LIB]) {
    if (!existsSync(f)) throw new Error(`${f} not built: run npm test (it builds firmware/build-rp2040)`);
  }
  requireTool('arm-none-eabi-objdump', 'binutils-arm-none-eabi');
});

function tool(name: string, args: string[]): string {
  const r = spawnSync(name, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

it('runs the RFC 8032 vectors and the timed runs on the Cortex-M0+ under rp2040js', () => {
  const r = runRp2040Selftest(SELFTEST_BIN);
  for (const name of ['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']) expect(r.output).toContain(`${name}: ok\n`);
  expect(r.output).toContain('mul64: ok\n');
  expect(r.output).toContain('timed runs: ok\n');
  const m = /ed25519 selftest: 5 of 5 RFC 8032 vectors passed; stack used (\d+) bytes/.exec(r.output);
  expect(m, r.output).not.toBeNull();
  // The self-test's stack is the port's 8 KiB in SCRATCH_X/Y.
  expect(Number(m![1])).toBeLessThan(8192);
  expect(r.status, r.output).toBe(0);
  expect(r.timings.map((t) => t.name)).toEqual([
    'keypair from seed',
    'sign, 64-byte message',
    'sign, 200-byte statement',
    'verify, 64-byte message',
    'verify, 200-byte statement',
    'sign, 448-byte checkpoint slot',
    'SHA-256, 4096 bytes',
    'X25519, one scalar multiplication',
    'ChaCha20-Poly1305, 4096 bytes',
  ]);
  for (const t of r.timings) expect(t.cycles).toBeGreaterThan(0);
}, 120_000);

it('the M0+ Ed25519 calls nothing outside rec_crypto, and its __aeabi_lmul has no branch', () => {
  // Every symbol the Ed25519 objects use is defined in the library itself: no libgcc helper
  // (__aeabi_lmul, __aeabi_uldivmod ...), no libc. (The library's other primitives, for age,
  // are checked on their own; they call memcpy/memset and the core's SHA-256.)
  const ED25519_OBJECTS = new Set(['ed25519.c.obj', 'ed25519_base.c.obj', 'keypair.c.obj', 'sign.c.obj', 'verify.c.obj', 'sha512.c.obj', 'fe.c.obj', 'ge.c.obj', 'sc.c.obj', 'mul64_v6m.c.obj']);
  const defined = new Set<string>();
  const undefinedSyms = new Set<string>();
  const objectsSeen = new Set<string>();
  for (const line of tool('arm-none-eabi-nm', ['-A', CRYPTO_LIB]).split('\n')) {
    const m = /^[^:]+:([^:]+):(?:[0-9a-f]{8})?\s+([A-Za-z])\s+(\S+)$/.exec(line);
    if (!m) continue;
    if (m[2] !== 'U') defined.add(m[3]!);
    else if (ED25519_OBJECTS.has(m[1]!)) undefinedSyms.add(m[3]!);
    objectsSeen.add(m[1]!);
  }
  for (const o of ED25519_OBJECTS) expect(objectsSeen, `${o} in ${CRYPTO_LIB}`).toContain(o);
  expect(defined).toContain('__aeabi_lmul');
  expect([...undefinedSyms].filter((s) => !defined.has(s))).toEqual([]);

  // In the linked self-test, __aeabi_lmul is the library's Thumb-1 one (mul64_v6m.c), not
  // libgcc's, and is straight-line code: six MULS, and the only branch is its return (bx lr).
  // (Its results: the self-test's "mul64: ok" above, against rec_mul64.)
  const syms = tool('arm-none-eabi-nm', [SELFTEST_ELF]);
  const addr = (name: string) => new RegExp(`^([0-9a-f]{8}) T ${name}$`, 'm').exec(syms)?.[1];
  expect(addr('__aeabi_lmul')).toBeDefined();
  const dis = tool('arm-none-eabi-objdump', ['-d', '--disassemble=__aeabi_lmul', SELFTEST_ELF]);
  const insns = dis.split('\n').map((l) => /^\s*[0-9a-f]+:\s+(?:[0-9a-f]{4}\s+){1,2}\s*(\S+)\s*(.*)$/.exec(l)).filter((m) => m !== null);
  expect(insns.length).toBeGreaterThan(10);
  expect(insns.filter((m) => m[1] === 'muls').length).toBe(6);
  const branches = insns.filter((m) => /^(b|bl|blx|bx|cbz|cbnz)(\.[nw])?$|^b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)(\.[nw])?$/.test(m[1]!) || (m[1] === 'pop' && m[2]!.includes('pc')) || / (pc|r15),/.test(` ${m[2]}`));
  expect(branches.map((m) => `${m[1]} ${m[2]}`)).toEqual([expect.stringMatching(/^bx\s+lr/)]);
  expect(insns.at(-1)![1]).toBe('bx');
});

it('the RP2040 image signs with orlp\'s table-driven base-point multiplication (the port\'s choice)', () => {
  // REC_ED25519_COMPACT_BASE is off for this port: a signature takes 118 ms at 48 MHz with the
  // table and three times that with the compact one (firmware/core/crypto/README.md).
  const syms = tool('arm-none-eabi-nm', ['-S', join(RP2040_BUILD, 'recorder-rp2040.elf')]);
  const sizeOf = (name: string) => new RegExp(`^[0-9a-f]{8} ([0-9a-f]{8}) [tTrR] ${name}$`, 'm').exec(syms)?.[1];
  expect(sizeOf('orlp_ge_scalarmult_base')).toBeDefined();
  expect(parseInt(sizeOf('base') ?? '0', 16)).toBe(32 * 8 * 3 * 10 * 4); // ge.c's base[32][8]
  expect(sizeOf('rec_ge_scalarmult_base_compact')).toBeUndefined();
});
