#!/usr/bin/env node
// Runs every test of the project, in order: tool check, typecheck, lint, firmware build and
// C tests (CTest), the Cortex-M cross builds (RP2040, QEMU), app build, then vitest (unit, view
// and end-to-end tests, the QEMU ones included).
// A missing system tool fails at once with one line naming the Debian packages to install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jobs = Math.max(1, Math.min(2, Number(process.env.REC_TEST_JOBS ?? 2)));

// tool -> Debian package that provides it
const TOOLS = [
  ['cmake', 'cmake'],
  ['cc', 'gcc'],
  ['pkg-config', 'pkg-config'],
  ['mkfs.fat', 'dosfstools'],
  ['fsck.fat', 'dosfstools'],
  ['mcopy', 'mtools'],
  ['mdir', 'mtools'],
  ['ffprobe', 'ffmpeg'],
  ['sox', 'sox'],
  ['mediainfo', 'mediainfo'],
  ['arm-none-eabi-gcc', 'gcc-arm-none-eabi'],
  ['qemu-system-arm', 'qemu-system-arm'],
  ['socat', 'socat'],
  ['clang', 'clang'],
  ['openscad', 'openscad'],
  // test/open-signatures.test.ts and test/checking-signatures.test.ts: the stock tools that check
  // a recorder's signed files (docs/checking-signatures.md).
  ['signify-openbsd', 'signify-openbsd'],
  ['minisign', 'minisign'],
  ['openssl', 'openssl'],
  // encrypted recordings (issue 13) are checked with the stock age; the solicitor's report and
  // verifier page (issue 14) are tested in a real headless browser.
  ['age', 'age'],
  ['chromium', 'chromium'],
  // test/export-sim.test.ts unpacks the ZIP form of a bundle with the stock unzip.
  ['unzip', 'unzip'],
  // test/listen-tui.test.ts drives the interactive app on a real 80x24 terminal in tmux.
  ['tmux', 'tmux'],
];

function have(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool} || test -x /sbin/${tool} || test -x /usr/sbin/${tool}`], { stdio: 'ignore' }).status === 0;
}

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`\n${name} failed (exit ${r.status ?? r.signal}).`);
    process.exit(r.status || 1);
  }
}

const missing = TOOLS.filter(([t]) => !have(t));
if (!have('pkg-config') || spawnSync('pkg-config', ['--exists', 'cmocka']).status !== 0) missing.push(['cmocka', 'libcmocka-dev']);
// newlib for the Cortex-M builds: without it the compiler prints a bare "libc.a".
if (have('arm-none-eabi-gcc')) {
  const libc = spawnSync('arm-none-eabi-gcc', ['-mcpu=cortex-m3', '-mthumb', '-print-file-name=libc.a'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  if (!libc.includes('/')) missing.push(['newlib', 'libnewlib-arm-none-eabi']);
}
// libFuzzer for the fuzz harnesses (firmware/fuzz): without its runtime clang cannot link them.
if (!have('clang')) missing.push(['libFuzzer', 'libclang-rt-14-dev']);
else {
  const probe = spawnSync('clang', ['-fsanitize=fuzzer', '-x', 'c', '-', '-o', '/dev/null'], {
    input: 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n',
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  if (probe.status !== 0) missing.push(['libFuzzer', 'libclang-rt-14-dev']);
}
if (missing.length) {
  const pkgs = [...new Set(missing.map(([, p]) => p))];
  console.error(`missing tools (${missing.map(([t]) => t).join(', ')}): install the Debian packages: apt-get install ${pkgs.join(' ')}`);
  process.exit(1);
}
if (!existsSync(join(root, 'node_modules'))) {
  console.error('node_modules is missing: run npm ci first');
  process.exit(1);
}

process.env.PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint', 'npx', ['eslint', '.']);
step('firmware configure', 'cmake', ['-S', 'firmware', '-B', 'firmware/build', '-DCMAKE_BUILD_TYPE=Debug']);
step('firmware build', 'cmake', ['--build', 'firmware/build', '-j', String(jobs)]);
step('firmware tests', 'ctest', ['--test-dir', 'firmware/build', '--output-on-failure', '-j', String(jobs)]);
// libFuzzer harnesses of the core (firmware/fuzz, docs/reliability.md "Fuzzing"): build with clang,
// replay the committed corpora and crash regressions, then fuzz each harness for a fixed number of
// executions from a fixed seed (about 2 minutes in all, two at a time), so the same commit gives
// the same result every time; any crash, failed invariant, timeout or memory blow-up fails.
// REC_FUZZ_RUNS=0 replays only. Random, longer fuzzing is scripts/fuzz-long.sh, outside the tests.
step('firmware fuzzing', 'node', ['scripts/fuzz.mjs', '--seed', '1', '--jobs', String(jobs), ...(process.env.REC_FUZZ_RUNS ? ['--runs', process.env.REC_FUZZ_RUNS] : [])]);
// The RP2040 board firmware (ELF, BIN, UF2), a cross build of its own; its tests run under vitest.
step('rp2040 firmware configure', 'cmake', ['-S', 'firmware/ports/rp2040', '-B', 'firmware/build-rp2040', `-DCMAKE_TOOLCHAIN_FILE=${join(root, 'firmware', 'cmake', 'arm-none-eabi-m0plus.cmake')}`]);
step('rp2040 firmware build', 'cmake', ['--build', 'firmware/build-rp2040', '-j', String(jobs)]);
// The QEMU port (docs/qemu.md): the core cross-compiled for the Cortex-M3 of QEMU's lm3s6965evb;
// the build prints flash/RAM sizes and the worst-case stack, and fails over its budget or when
// malloc is linked. test/qemu.test.ts runs it under qemu-system-arm.
step('qemu firmware configure', 'cmake', ['-S', 'firmware', '-B', 'firmware/build-qemu', `-DCMAKE_TOOLCHAIN_FILE=${join(root, 'firmware', 'cmake', 'arm-none-eabi.cmake')}`, '-DREC_PORT=qemu']);
step('qemu firmware build', 'cmake', ['--build', 'firmware/build-qemu', '-j', String(jobs)]);
step('app build', 'npx', ['tsc', '-p', 'tsconfig.build.json']);
// Directory filters with a slash: vitest matches substrings, and "host" alone also matches
// test/reliability-hostile.test.ts.
step('app unit and view tests', 'npx', ['vitest', 'run', 'protocol/', 'host/']);
// End-to-end tests one file at a time: the simulator tests run in real time (a stalled process
// loses audio like a stalled card), and the QEMU and RP2040 emulators are CPU-bound, so no two
// may share the two cores.
step('end-to-end tests', 'npx', ['vitest', 'run', 'test', '--no-file-parallelism']);
