#!/usr/bin/env node
// Builds and runs the firmware fuzz harnesses (firmware/fuzz, docs/reliability.md "Fuzzing").
//
//   node scripts/fuzz.mjs [--seed N] [--runs N] [--jobs N] [--only frame,server]   (npm test)
//   node scripts/fuzz.mjs --time S [--jobs N] [--only frame,server]                (long, random)
//
// Configures and builds firmware/build-fuzz with clang, replays the committed corpora and crash
// regressions (ctest), then fuzzes each harness, N at a time (default 2):
//  - by default deterministically: libFuzzer with a fixed -seed (default 1) and a fixed number of
//    executions per harness (RUNS below; --runs N for all; --runs 0 replays only), starting
//    from the committed seeds and regressions only (a fresh firmware/build-fuzz/corpus-seeded/
//    <harness>), with address-space randomisation off (setarch -R) and nothing timed (corpus
//    reloads, allocator purges), so the same commit gives the same result;
//  - with --time S: S seconds per harness from a random seed, keeping what it learns in
//    firmware/build-fuzz/corpus/<harness> for the next run (scripts/fuzz-long.sh).
// Crashes, failed invariants, timeouts (-timeout=10) and memory blow-ups (-rss_limit_mb) are
// written to firmware/build-fuzz/artifacts/ and fail the run. Prints executions, exec/s,
// coverage and corpus size per harness.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearTimeout, setTimeout } from 'node:timers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HARNESSES = ['frame', 'server', 'fat', 'recover', 'evidence', 'age'];
// Longest input per harness: frames a little over the largest legal encoding; operation
// programs and patch lists of a few KiB.
const MAX_LEN = { frame: 9000, server: 4096, fat: 2048, recover: 2048, evidence: 2048, age: 2048 };
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
// Executions per harness for the deterministic run: under a minute in all on the 2-core
// machine with two harnesses at a time, about three when other jobs load it (a 1 MiB card and a
// snapshot of the booted device made the card harnesses 5-15 times faster than the 10 000 and
// 8 000 executions of before took). docs/reliability.md has the measurements.
const RUNS = { frame: 150_000, server: 40_000, fat: 60_000, recover: 30_000, evidence: 60_000, age: 20_000 };
const timed = args.includes('--time');
const seconds = Number(opt('--time', 0));
const seed = Number(opt('--seed', 1));
const runsAll = opt('--runs', null);
const runsOf = (h) => Number(runsAll ?? RUNS[h]);
const jobs = Math.max(1, Number(opt('--jobs', 2)));
const only = opt('--only', HARNESSES.join(',')).split(',');
const build = join(root, 'firmware', 'build-fuzz');

const haveSetarch = spawnSync('setarch', ['-R', 'true'], { stdio: 'ignore' }).status === 0;
const haveClang = spawnSync('sh', ['-c', 'command -v clang'], { stdio: 'ignore' }).status === 0;
if (!haveClang) {
  console.error('fuzzing needs clang with libFuzzer: install the Debian packages clang and libclang-rt-14-dev');
  process.exit(1);
}

function run(cmd, argv) {
  console.log(`\n=== ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    if (cmd === 'cmake' && argv[0] === '-S')
      console.error('configuring the fuzz harnesses failed: they need clang and libclang-rt-14-dev (libFuzzer runtime)');
    process.exit(r.status || 1);
  }
}

run('cmake', ['-S', 'firmware/fuzz', '-B', build, '-DCMAKE_C_COMPILER=clang']);
run('cmake', ['--build', build, '-j', String(jobs)]);
run('ctest', ['--test-dir', build, '--output-on-failure', '-j', String(jobs)]);
if (timed ? seconds <= 0 : runsAll !== null && Number(runsAll) <= 0) process.exit(0);

const artifacts = join(build, 'artifacts');
mkdirSync(artifacts, { recursive: true });

function fuzzOne(h) {
  return new Promise((resolve) => {
    // New inputs go to the first folder (never to the committed ones). The seeded run starts
    // from an empty one every time: what an earlier run learned would change what this one does.
    const work = join(build, timed ? 'corpus' : 'corpus-seeded', h);
    if (!timed) rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const argv = [
      work,
      join(root, 'firmware', 'fuzz', 'corpus', h),
      join(root, 'firmware', 'fuzz', 'regressions', h),
      // Nothing that depends on timing: by default libFuzzer rereads its corpus folder and
      // purges the allocator (moving later allocations) every second.
      ...(timed ? [`-max_total_time=${seconds}`] : [`-seed=${seed}`, `-runs=${runsOf(h)}`, '-reload=0', '-purge_allocator_interval=-1']),
      `-max_len=${MAX_LEN[h]}`,
      '-timeout=10',
      '-rss_limit_mb=2048',
      '-print_final_stats=1',
      `-artifact_prefix=${join(artifacts, h)}-`,
    ];
    const started = Date.now();
    // The seeded run switches address-space randomisation off, so nothing address-dependent can
    // make two runs differ (two uninitialised reads once did: docs/reliability.md, Fuzzing).
    const bin = join(build, `fuzz_${h}`);
    const [cmd, cmdArgs] = !timed && haveSetarch ? ['setarch', ['-R', bin, ...argv]] : [bin, argv];
    const p = spawn(cmd, cmdArgs, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr.on('data', (d) => {
      log += d;
      if (log.length > 4e6) log = log.slice(-2e6);
    });
    // Hard stop well past the budget (a hang the -timeout does not catch); a seeded run is
    // bounded by its executions, and gets 15 minutes on however busy a machine.
    const killer = setTimeout(() => p.kill('SIGKILL'), ((timed ? seconds : 780) + 120) * 1000);
    p.on('close', (code, signal) => {
      clearTimeout(killer);
      writeFileSync(join(build, `fuzz_${h}.log`), log);
      const stat = (k) => Number((log.match(new RegExp(`stat::${k}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
      const last = [...log.matchAll(/cov: (\d+) ft: (\d+) corp: (\d+)/g)].pop();
      resolve({
        h,
        ok: code === 0 && !signal,
        code: code ?? signal,
        execs: stat('number_of_executed_units'),
        perSec: stat('average_exec_per_sec'),
        cov: last ? Number(last[1]) : NaN,
        ft: last ? Number(last[2]) : NaN,
        corpus: last ? Number(last[3]) : NaN,
        rss: stat('peak_rss_mb'),
        secs: Math.round((Date.now() - started) / 1000),
        tail: log.split('\n').filter((l) => /ERROR|INVARIANT|SUMMARY|Test unit written|timeout|==\d+==/.test(l)).slice(0, 30).join('\n'),
      });
    });
  });
}

if (!timed && !haveSetarch) console.warn('setarch -R does not work here (util-linux): address-space randomisation stays on, and runs may differ');
const queue = only.filter((h) => HARNESSES.includes(h));
const results = [];
await Promise.all(
  [...Array(Math.min(jobs, queue.length))].map(async () => {
    while (queue.length) results.push(await fuzzOne(queue.shift()));
  }),
);

console.log(timed ? `\nfuzzing, ${seconds} s per harness:` : `\nfuzzing, seed ${seed}, ${only.filter((h) => HARNESSES.includes(h)).map((h) => `${h} ${runsOf(h)}`).join(', ')} executions:`);
console.log('harness   result  executions  exec/s  coverage(edges)  features  corpus  peak RSS  seconds');
for (const r of results.sort((a, b) => HARNESSES.indexOf(a.h) - HARNESSES.indexOf(b.h))) {
  console.log(
    `${r.h.padEnd(9)} ${(r.ok ? 'ok' : 'FAIL').padEnd(7)} ${String(r.execs).padStart(10)}  ${String(r.perSec).padStart(6)}  ${String(r.cov).padStart(15)}  ${String(r.ft).padStart(8)}  ${String(r.corpus).padStart(6)}  ${String(r.rss).padStart(5)} MB  ${String(r.secs).padStart(7)}`,
  );
}
const failed = results.filter((r) => !r.ok);
for (const r of failed) {
  console.error(`\nfuzz_${r.h} failed (exit ${r.code}); log: firmware/build-fuzz/fuzz_${r.h}.log\n${r.tail}`);
  const found = existsSync(artifacts) ? readdirSync(artifacts).filter((f) => f.startsWith(`${r.h}-`)) : [];
  if (found.length)
    console.error(`reproduce: firmware/build-fuzz/fuzz_${r.h} firmware/build-fuzz/artifacts/${found[0]}\n` +
      `then fix it and add the input to firmware/fuzz/regressions/${r.h}/`);
}
process.exit(failed.length ? 1 : 0);
