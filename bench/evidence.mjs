// The device-side cost of issue 12's evidence (signatures and hashes), for `npm run bench -- --only
// crypto,evidence` (bench/run.mjs). Nothing here asserts a time: it builds, measures and reports.
//
// - Cortex-M0+ (RP2040): the Ed25519 self-test image runs on rp2040js, which counts the emulated
//   core's cycles over each timed section (firmware/ports/rp2040/tools/selftest.mjs).
// - Cortex-M3 (QEMU): QEMU has no cycle model. The same timed sections run in qemu-system-arm with
//   `-icount shift=0` (the virtual clock advances 1 ns per guest instruction); the self-test reads
//   SysTick, which runs on that clock, and a loop of known length gives instructions per tick.
//   So these are instruction counts, to within one tick (80 instructions on the lm3s6965evb).
// - Stack: the call-graph bound of rec_ed25519_sign (firmware/ports/qemu/tools/stack-usage.mjs over
//   GCC's -fcallgraph-info of rec_crypto), per build.
// - Flash and RAM: the device images as built, and with REC_LINK_SIGNING=ON (Ed25519 keypair and
//   sign kept in the image though nothing calls them yet).
// - Both fixed-base multiplications (REC_ED25519_COMPACT_BASE, firmware/core/crypto/README.md):
//   each port as it ships (RP2040: orlp's table; QEMU: compact) and the other choice, built in
//   firmware/build-rp2040-compact and firmware/build-qemu-table (the QEMU image with the table
//   does not fit its 96 KiB: only its self-test is built there).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as L from './lib.mjs';

const FW = join(L.ROOT, 'firmware');
const QEMU_TOOLCHAIN = join(FW, 'cmake', 'arm-none-eabi.cmake');
const RP2040_TOOLCHAIN = join(FW, 'cmake', 'arm-none-eabi-m0plus.cmake');
const QEMU_BUDGET = { flash: 96 * 1024, ram: 48 * 1024 };

/** Configures and builds the QEMU cross build in firmware/<dir> (targets: all when none given). */
function buildQemu(dir, options = [], targets = []) {
  const b = join(FW, dir);
  L.run('cmake', ['-S', FW, '-B', b, `-DCMAKE_TOOLCHAIN_FILE=${QEMU_TOOLCHAIN}`, '-DREC_PORT=qemu', ...options]);
  L.run('cmake', ['--build', b, '-j', '2', ...targets.flatMap((t) => ['--target', t])]);
  return b;
}

/** Configures and builds the RP2040 port in firmware/<dir>. */
function buildRp2040(dir, options = [], targets = []) {
  const b = join(FW, dir);
  L.run('cmake', ['-S', join(FW, 'ports', 'rp2040'), '-B', b, `-DCMAKE_TOOLCHAIN_FILE=${RP2040_TOOLCHAIN}`, ...options]);
  L.run('cmake', ['--build', b, '-j', '2', ...targets.flatMap((t) => ['--target', t])]);
  return b;
}

const rp2040Runs = new Map();
/**
 * The RP2040 self-test on rp2040js (built and run once per bench run and build): { timings,
 * output }. The port's own build (orlp's table), or with `compact` the compact multiplication.
 */
export async function rp2040Selftest({ compact = false } = {}) {
  const dir = compact ? 'build-rp2040-compact' : 'build-rp2040';
  if (rp2040Runs.has(dir)) return rp2040Runs.get(dir);
  console.log(`\n[crypto] building the RP2040 firmware and its Ed25519 self-test (firmware/${dir}) ...`);
  const b = buildRp2040(dir, [`-DREC_ED25519_COMPACT_BASE=${compact ? 'ON' : 'OFF'}`], ['ed25519-selftest-rp2040.elf']);
  const { runRp2040Selftest } = await import('../firmware/ports/rp2040/tools/selftest.mjs');
  // The emulator's cycle model is deterministic: repeats give the same counts, so one run is enough.
  const r = runRp2040Selftest(join(b, 'ed25519-selftest-rp2040.bin'));
  if (r.status !== 0) throw new Error(`Ed25519 self-test failed on rp2040js (${dir}):\n${r.output}`);
  rp2040Runs.set(dir, r);
  return r;
}

/**
 * The QEMU self-test under -icount shift=0: instruction counts per timed section, from SysTick
 * ticks and the calibration loop. Returns { timings: [{ name, instructions }], perTick }.
 */
function qemuInstructionCounts(buildDir) {
  const elf = join(buildDir, 'ed25519-selftest-qemu.elf');
  const r = spawnSync('qemu-system-arm', ['-M', 'lm3s6965evb', '-kernel', elf, '-display', 'none', '-monitor', 'none', '-serial', 'none',
    '-semihosting-config', 'enable=on,target=native', '-no-reboot', '-icount', 'shift=0'], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  const out = `${r.stdout}${r.stderr}`; // semihosting writes go to stderr
  if (r.status !== 0 || !out.includes('timed runs: ok\n')) throw new Error(`QEMU self-test failed (${r.status ?? r.signal}):\n${out}`);
  const cal = /calibration: (\d+) instructions in (\d+) ticks/.exec(out);
  if (!cal || Number(cal[2]) === 0) throw new Error(`QEMU self-test printed no usable calibration:\n${out}`);
  const perTick = Number(cal[1]) / Number(cal[2]);
  const timings = [...out.matchAll(/^timed (.+): (\d+) ticks$/gm)].map((m) => ({ name: m[1], instructions: Math.round(Number(m[2]) * perTick) }));
  return { timings, perTick };
}

/** The call-graph stack bound of one function in a cross build's rec_crypto. */
function stackOf(buildDir, fn) {
  const r = L.run(process.execPath, [join(FW, 'ports', 'qemu', 'tools', 'stack-usage.mjs'), '--entry', fn, join(buildDir, 'CMakeFiles', 'rec_crypto.dir')]);
  const m = new RegExp(`^\\s*${fn}: (\\d+) bytes`, 'm').exec(r.stdout);
  if (!m) throw new Error(`no stack figure for ${fn}:\n${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

/** Flash and RAM of the QEMU image, from its linker symbols (what the linker script checks). */
function qemuImageSize(buildDir) {
  const nm = L.run('arm-none-eabi-nm', [join(buildDir, 'ports', 'qemu', 'recorder-qemu.elf')]).stdout;
  const sym = (name) => {
    const m = new RegExp(`^([0-9a-f]+) \\w ${name}$`, 'm').exec(nm);
    if (!m) throw new Error(`${name} not in the QEMU image`);
    return parseInt(m[1], 16);
  };
  return { flash: sym('_sidata') + sym('_edata') - sym('_sdata'), ram: sym('_estack') - 0x20000000, stack: sym('_estack') - sym('_sstack') };
}

/** Flash and static RAM of the RP2040 image (its report.mjs writes size.json after each link). */
function rp2040ImageSize(buildDir) {
  return JSON.parse(readFileSync(join(buildDir, 'size.json'), 'utf8'));
}

const kib = (n) => `${n.toLocaleString('en-US')} B`;
const pct = (x) => `${(100 * x).toFixed(2)} %`;

/** All the evidence rows; `row` is run.mjs's row writer. */
export async function measureEvidence(row) {
  const cmd = 'npm run bench -- --only evidence';
  const goal = 'issue 12';

  // ---- Cortex-M0+ (rp2040js cycles) ----
  const rp = await rp2040Selftest();
  const cycles = (name) => {
    const t = rp.timings.find((x) => x.name === name);
    if (!t) throw new Error(`the RP2040 self-test has no timed section "${name}"`);
    return t.cycles;
  };
  const shaCpb = cycles('SHA-256, 4096 bytes') / 4096;
  const signSlot = cycles('sign, 448-byte checkpoint slot');
  const signStatement = cycles('sign, 200-byte statement');
  row({ goal, what: 'SHA-256, Cortex-M0+ (rp2040js): cycles per byte (one 4096-byte update, init and final included)', value: shaCpb.toFixed(1), noise: 'deterministic (emulated); XIP flash cache misses not modelled', cmd });
  row({ goal, what: 'Ed25519 sign, 448-byte checkpoint slot, Cortex-M0+ (rp2040js): cycles; ms at 48 MHz / 125 MHz', value: `${signSlot} cycles; ${((1000 * signSlot) / 48e6).toFixed(1)} ms / ${((1000 * signSlot) / 125e6).toFixed(1)} ms`, noise: 'deterministic (emulated)', cmd });

  // ---- stack of sign (call graph) ----
  console.log('\n[evidence] building the QEMU firmware and its self-test (firmware/build-qemu) ...');
  const qemuBuild = buildQemu('build-qemu');
  const rpBuild = join(FW, 'build-rp2040');
  buildRp2040('build-rp2040'); // the whole port: its image size below
  row({ goal, what: 'stack of rec_ed25519_sign, call-graph bound: Cortex-M0+ (RP2040 build, orlp\'s table) / Cortex-M3 (QEMU build, compact)', value: `${stackOf(rpBuild, 'rec_ed25519_sign')} B / ${stackOf(qemuBuild, 'rec_ed25519_sign')} B`, noise: 'libgcc/newlib helpers counted as 64 B', cmd });

  // ---- Cortex-M3 (QEMU instruction counts) ----
  const q = qemuInstructionCounts(qemuBuild);
  const res = Math.round(q.perTick);
  for (const t of q.timings) {
    const what = /^(SHA|X25519|ChaCha20)/.test(t.name) ? t.name : `Ed25519 ${t.name}`;
    row({ goal, what: `${what}, Cortex-M3 (QEMU -icount shift=0): instructions`, value: `${t.instructions}`, noise: `deterministic; +-${res} (one SysTick tick); instructions, not cycles`, cmd });
  }
  const qsha = q.timings.find((t) => t.name === 'SHA-256, 4096 bytes');
  row({ goal, what: 'SHA-256, Cortex-M3 (QEMU -icount shift=0): instructions per byte', value: (qsha.instructions / 4096).toFixed(1), noise: `+-${(res / 4096).toFixed(2)}`, cmd });
  const qaead = q.timings.find((t) => t.name === 'ChaCha20-Poly1305, 4096 bytes');
  if (qaead) row({ goal: 'issue 13', what: 'ChaCha20-Poly1305, Cortex-M3 (QEMU -icount shift=0): instructions per byte', value: (qaead.instructions / 4096).toFixed(1), noise: `+-${(res / 4096).toFixed(2)}`, cmd });

  // ---- the other fixed-base multiplication of each port (REC_ED25519_COMPACT_BASE) ----
  console.log('\n[evidence] building the other fixed-base multiplication (firmware/build-rp2040-compact, firmware/build-qemu-table) ...');
  const rpCompact = await rp2040Selftest({ compact: true });
  const rpCompactBuild = buildRp2040('build-rp2040-compact', ['-DREC_ED25519_COMPACT_BASE=ON'], ['recorder-rp2040.elf']);
  const qemuTableBuild = buildQemu('build-qemu-table', ['-DREC_ED25519_COMPACT_BASE=OFF'], ['ed25519-selftest-qemu.elf']);
  const qTable = qemuInstructionCounts(qemuTableBuild);
  const m0 = (run, name) => run.timings.find((t) => t.name === name).cycles;
  const m3 = (run, name) => run.timings.find((t) => t.name === name).instructions;
  for (const name of ['keypair from seed', 'sign, 448-byte checkpoint slot']) {
    const [table, compact] = [m0(rp, name), m0(rpCompact, name)];
    row({ goal, what: `Ed25519 ${name}, Cortex-M0+ (rp2040js): cycles with orlp's table (the port's choice) / compact; ms at 48 MHz`, value: `${table} / ${compact} cycles (x${(compact / table).toFixed(2)}); ${((1000 * table) / 48e6).toFixed(1)} / ${((1000 * compact) / 48e6).toFixed(1)} ms`, noise: 'deterministic (emulated)', cmd });
    const [qt, qc] = [m3(qTable, name), m3(q, name)];
    row({ goal, what: `Ed25519 ${name}, Cortex-M3 (QEMU -icount shift=0): instructions with orlp's table / compact (the port's choice)`, value: `${qt} / ${qc} (x${(qc / qt).toFixed(2)})`, noise: `+-${res} (one SysTick tick)`, cmd });
  }
  row({ goal, what: 'stack of rec_ed25519_sign, call-graph bound, the other choice: Cortex-M0+ compact / Cortex-M3 orlp\'s table', value: `${stackOf(rpCompactBuild, 'rec_ed25519_sign')} B / ${stackOf(qemuTableBuild, 'rec_ed25519_sign')} B`, noise: 'libgcc/newlib helpers counted as 64 B', cmd });
  const rpc = rp2040ImageSize(rpCompactBuild);
  row({ goal, what: 'RP2040 image with the compact fixed-base multiplication: flash; static RAM', value: `${kib(rpc.flash)}; ${kib(rpc.ram)}`, goal_value: `<= ${kib(rpc.budget.flash)}; <= ${kib(rpc.budget.ram)}`, noise: `room left ${kib(rpc.budget.flash - rpc.flash)} flash`, cmd });

  // ---- CPU share (Cortex-M0+ cycles) ----
  // While recording: SHA-256 of every audio byte (done today already) and one checkpoint slot
  // signed per 60 s of audio. At sealing, after stop: the card is read again and hashed (one pass
  // counted here; the statement also hashes the checkpoint file, 512 B per minute, left out) and
  // two signatures are made (the statement, and minisign's signature over the first signature and
  // the trusted comment: a 448-byte message is taken for both, the larger of the two measured).
  const HOUR = 3600;
  for (const rate of [16000, 48000]) {
    const bytesPerS = rate * 2; // mono 16-bit
    const recordingPerS = bytesPerS * shaCpb + signSlot / 60;
    const sealingPerHour = HOUR * bytesPerS * shaCpb + 2 * Math.max(signSlot, signStatement);
    for (const hz of [48e6, 125e6]) {
      const mhz = hz / 1e6;
      row({ goal, what: `CPU share while recording, ${rate / 1000} kHz mono 16-bit, Cortex-M0+ at ${mhz} MHz: SHA-256 of the audio + one checkpoint signature per 60 s`, value: pct(recordingPerS / hz), noise: `hashing ${pct((bytesPerS * shaCpb) / hz)}, signing ${pct(signSlot / 60 / hz)}`, cmd });
      row({ goal, what: `sealing after stop, per hour of ${rate / 1000} kHz audio, Cortex-M0+ at ${mhz} MHz: one SHA-256 re-read pass + 2 signatures (CPU seconds, card reads not counted)`, value: `${(sealingPerHour / hz).toFixed(1)} s`, noise: `each further hash pass over the audio: +${((HOUR * bytesPerS * shaCpb) / hz).toFixed(1)} s`, cmd });
      row({ goal, what: `CPU share of all of it (recording + sealing) spread over a 1-hour recording, ${rate / 1000} kHz, Cortex-M0+ at ${mhz} MHz`, value: pct((HOUR * recordingPerS + sealingPerHour) / HOUR / hz), cmd });
    }
  }

  // ---- CPU share with encryption (issue 13; Cortex-M0+ cycles) ----
  // While recording encrypted: the above, and ChaCha20-Poly1305 over every audio byte (each is
  // encrypted once; the finish at stop re-encrypts at most three 64 KiB chunks, and the start's
  // two X25519 run before the microphone starts, so neither is in the share). Sealing decrypts the
  // .AGE once more and hashes it twice (the ciphertext for the .AGE line, the plaintext for the WAV).
  const aeadCpb = cycles('ChaCha20-Poly1305, 4096 bytes') / 4096;
  const x25519 = cycles('X25519, one scalar multiplication');
  row({ goal: 'issue 13', what: 'ChaCha20-Poly1305, Cortex-M0+ (rp2040js): cycles per byte (one 4096-byte pass, init and tag included)', value: aeadCpb.toFixed(1), noise: 'deterministic (emulated); XIP flash cache misses not modelled', cmd });
  row({ goal: 'issue 13', what: 'encrypted recording start, Cortex-M0+: two X25519 (share, shared secret); ms at 48 / 125 MHz', value: `${((2000 * x25519) / 48e6).toFixed(0)} ms / ${((2000 * x25519) / 125e6).toFixed(0)} ms`, noise: 'before the microphone starts: delays the start, loses no audio', cmd });
  for (const rate of [16000, 48000]) {
    const bytesPerS = rate * 2;
    const perS = bytesPerS * (shaCpb + aeadCpb) + signSlot / 60;
    const sealingPerHour = HOUR * bytesPerS * (2 * shaCpb + aeadCpb) + 2 * Math.max(signSlot, signStatement);
    for (const hz of [48e6, 125e6]) {
      const mhz = hz / 1e6;
      row({ goal: 'issue 13', what: `CPU share while recording encrypted, ${rate / 1000} kHz mono 16-bit, Cortex-M0+ at ${mhz} MHz: SHA-256 + ChaCha20-Poly1305 of the audio + one checkpoint signature per 60 s`, value: pct(perS / hz), goal_value: hz === 125e6 && rate === 48000 ? '< 25 %' : '', noise: `hashing ${pct((bytesPerS * shaCpb) / hz)}, encryption ${pct((bytesPerS * aeadCpb) / hz)}, signing ${pct(signSlot / 60 / hz)}`, cmd });
      row({ goal: 'issue 13', what: `sealing an encrypted recording, per hour of ${rate / 1000} kHz audio, Cortex-M0+ at ${mhz} MHz: decrypt + 2 SHA-256 passes + 2 signatures (CPU seconds)`, value: `${(sealingPerHour / hz).toFixed(1)} s`, cmd });
    }
  }

  // ---- flash and RAM with signing linked ----
  console.log('\n[evidence] building the images with Ed25519 signing kept in (REC_LINK_SIGNING=ON: firmware/build-qemu-signing, firmware/build-rp2040-signing) ...');
  const qemuSigning = buildQemu('build-qemu-signing', ['-DREC_LINK_SIGNING=ON'], ['recorder-qemu.elf']);
  const rpSigning = buildRp2040('build-rp2040-signing', ['-DREC_LINK_SIGNING=ON'], ['recorder-rp2040.elf']);
  for (const [label, s] of [['as built', qemuImageSize(qemuBuild)], ['with Ed25519 keypair + sign + SHA-512 linked', qemuImageSize(qemuSigning)]]) {
    row({ goal, what: `QEMU image ${label}: flash; RAM (incl. ${s.stack} B stack)`, value: `${kib(s.flash)}; ${kib(s.ram)}`, goal_value: `<= ${kib(QEMU_BUDGET.flash)}; <= ${kib(QEMU_BUDGET.ram)}`, noise: `room left ${kib(QEMU_BUDGET.flash - s.flash)} flash, ${kib(QEMU_BUDGET.ram - s.ram)} RAM`, cmd });
  }
  for (const [label, s] of [['as built', rp2040ImageSize(rpBuild)], ['with Ed25519 keypair + sign + SHA-512 linked', rp2040ImageSize(rpSigning)]]) {
    row({ goal, what: `RP2040 image ${label}: flash; static RAM (+ ${s.stack} B stack)`, value: `${kib(s.flash)}; ${kib(s.ram)}`, goal_value: `<= ${kib(s.budget.flash)}; <= ${kib(s.budget.ram)}`, noise: `room left ${kib(s.budget.flash - s.flash)} flash, ${kib(s.budget.ram - s.ram)} RAM`, cmd });
  }
}
