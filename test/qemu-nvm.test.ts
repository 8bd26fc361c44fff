/**
 * The QEMU port's device NVM and entropy on the Cortex-M3: the bare-metal self-test image
 * (firmware/build-qemu/ports/qemu/nvm-selftest-qemu.elf, from
 * firmware/ports/selftest/port_nvm_selftest.h with the port's nvm.c) runs in qemu-system-arm's
 * lm3s6965evb. The NVM is the host file er1-nvm.bin in QEMU's working directory, through
 * semihosting: NOR rules (erase 0xFF, program ANDs), refused arguments, persistence across a
 * restart in the same folder and none in another; entropy from the host's /dev/urandom.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { QEMU_BIN, QEMU_NVM_FILE, requireQemu } from './support/qemu.js';
import { ROOT, stopAll, tempDir } from './support/sim.js';

const SELFTEST = join(ROOT, 'firmware', 'build-qemu', 'ports', 'qemu', 'nvm-selftest-qemu.elf');
const CHECKS = 20;
const ENTROPY_SOURCE_HOST_SEMIHOSTING = 3;

afterEach(stopAll);

interface Run {
  output: string;
  persisted: string;
  entropy: string[];
}

function runSelftest(workDir: string): Run {
  requireQemu();
  if (!existsSync(SELFTEST)) throw new Error(`NVM self-test not built at ${SELFTEST}: run npm test (it builds firmware/build-qemu)`);
  const r = spawnSync(QEMU_BIN, ['-M', 'lm3s6965evb', '-kernel', SELFTEST, '-display', 'none', '-monitor', 'none', '-serial', 'none',
    '-semihosting-config', 'enable=on,target=native', '-no-reboot'], { cwd: workDir, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  const output = `${r.stdout}${r.stderr}`; // semihosting writes go to QEMU's stderr
  expect(r.error, output).toBeUndefined();
  expect(output).toContain('nvm info: sector 4096 page 256 sectors 16 simulated 1\n');
  expect(output).not.toContain('FAILED');
  expect(output).toContain(`nvm selftest: ${CHECKS} of ${CHECKS} checks passed\n`);
  expect(output).toContain('unique id: none\n'); // the LM3S6965 has none
  const stack = /stack used (\d+) bytes/.exec(output);
  expect(stack, output).not.toBeNull();
  expect(Number(stack![1])).toBeLessThan(4096); // the port's reserved stack
  expect(r.status, output).toBe(0);
  const entropy = [...output.matchAll(/^entropy source (\d+): (\S+)$/gm)].map((m) => {
    expect(Number(m[1])).toBe(ENTROPY_SOURCE_HOST_SEMIHOSTING);
    expect(m[2]).toMatch(/^[0-9a-f]{128}$/);
    return m[2]!;
  });
  expect(entropy).toHaveLength(2);
  return { output, persisted: /^nvm persisted: (\w+)$/m.exec(output)![1]!, entropy };
}

it('keeps NOR rules and persists in its working directory, and nowhere else', () => {
  const dir = tempDir('rec-qemu-nvm-');
  const first = runSelftest(dir);
  expect(first.persisted).toBe('no');

  // The host file: the whole NVM, as the port left it (sector 1 erased last, sector 2's first
  // page programmed, the marker in sector 15).
  const file = join(dir, QEMU_NVM_FILE);
  expect(statSync(file).size).toBe(16 * 4096);
  const nvm = readFileSync(file);
  expect(nvm.subarray(4096, 8192).every((b) => b === 0xff)).toBe(true);
  expect([...nvm.subarray(8192, 8192 + 4)]).toEqual([0xf0, 0xf0 ^ 7, 0xf0 ^ 14, 0xf0 ^ 21]);
  expect(nvm.subarray(8192 + 256, 12288).every((b) => b === 0xff)).toBe(true);
  expect(nvm.subarray(15 * 4096, 15 * 4096 + 31).toString('latin1')).toBe('ER-1 port NVM self-test marker\n');

  const again = runSelftest(dir);
  expect(again.persisted).toBe('yes');
  const elsewhere = runSelftest(tempDir('rec-qemu-nvm-'));
  expect(elsewhere.persisted).toBe('no');

  // Entropy varies within a run and between runs.
  const draws = [...first.entropy, ...again.entropy, ...elsewhere.entropy];
  expect(new Set(draws).size).toBe(draws.length);
  for (const d of draws) expect(new Set(d.match(/../g)).size).toBeGreaterThan(16);
}, 120_000);

it('reads bytes past the end of a short NVM file as 0xFF', () => {
  // A file cut short (as an older or interrupted run may leave it): the marker's page is past
  // its end, so the NVM there is blank, and the first write extends the file with 0xFF.
  const dir = tempDir('rec-qemu-nvm-');
  const first = runSelftest(dir);
  expect(first.persisted).toBe('no');
  const file = join(dir, QEMU_NVM_FILE);
  const spawn = spawnSync('truncate', ['-s', String(15 * 4096 + 10), file]);
  expect(spawn.status).toBe(0);
  const cut = runSelftest(dir);
  expect(cut.persisted).toBe('garbage'); // the marker's first 10 bytes, then 0xFF
  expect(statSync(file).size).toBe(16 * 4096);
  expect(runSelftest(dir).persisted).toBe('yes');
}, 120_000);
