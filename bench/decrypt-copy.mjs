#!/usr/bin/env node
// The host's decryption after the copy, timed alone: the same function `recorder sync` calls once an
// encrypted copy is verified (decryptLibraryCopy: age-decrypt the .age to a .wav.part, hash and check
// the WAV, publish it, rewrite the manifest), on a copy of a synced .age and its manifest in a fresh
// folder. The manifest copy loses `encryption.derived` (so it decrypts again) and `evidence.folder`
// (so it links nothing into an evidence folder that is not there). Prints one JSON line: the
// milliseconds of that call (module loading excluded), the bytes in and out, and this process's CPU.
// With --stream-only: decryptToFile alone, the age decryption to the .wav.part (reading, decrypting,
// hashing, writing and fsyncing it), without the checks of the WAV and the publishing after it.
//
//   node bench/decrypt-copy.mjs --age PATH --identity FILE [--stream-only]
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decryptLibraryCopy } from '../dist/host/engine/privacy/decrypt-copy.js';
import { decryptToFile } from '../dist/host/engine/privacy/decrypt.js';
import { readIdentityFile } from '../dist/host/engine/privacy/owner-keys.js';
import { realFs, sidecarPath } from '../dist/host/engine/library.js';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) throw new Error(`--${name} is needed`);
  return args[i + 1];
};

const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'rec-bench-decrypt-'));
try {
  const age = join(dir, basename(opt('age')));
  copyFileSync(opt('age'), age);
  const manifest = JSON.parse(readFileSync(sidecarPath(opt('age')), 'utf8'));
  manifest.encryption.derived = null;
  if (manifest.evidence) delete manifest.evidence.folder;
  delete manifest.integrity;
  writeFileSync(sidecarPath(age), JSON.stringify(manifest, null, 2) + '\n');
  const identities = await readIdentityFile(opt('identity'));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const wavBytes = args.includes('--stream-only')
    ? (await decryptToFile(realFs, age, join(dir, 'out.wav.part'), identities, { dataOffset: manifest.recording.dataOffset, dataLength: manifest.recording.sampleCount * 2 }, { what: 'bench', expectedSize: manifest.file.size })).size
    : (await decryptLibraryCopy(realFs, age, identities)).derived.size;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ ms, ageBytes: statSync(age).size, wavBytes, cpuS: (cpu.user + cpu.system) / 1e6 }) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
