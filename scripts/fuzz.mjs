#!/usr/bin/env node
// Builds and runs the firmware fuzz harnesses (firmware/fuzz, docs/reliability.md "Fuzzing").
//
//   node scripts/fuzz.mjs [--time S] [--jobs N] [--only frame,server] [--keep-corpus]
//
// Configures and builds firmware/build-fuzz with clang, replays the committed corpora and crash
// regressions (ctest), then fuzzes each harness for S seconds (default 50), N at a time
// (default 2). New inputs go to firmware/build-fuzz/corpus/<harness> (not the committed seeds);
// crashes, failed invariants, timeouts (-timeout=10) and memory blow-ups (-rss_limit_mb) are
// written to firmware/build-fuzz/artifacts/ and fail the run. Prints executions, exec/s,
// coverage and corpus size per harness. scripts/fuzz-long.sh runs it for 30 min each.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearTimeout, setTimeout } from 'node:timers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HARNESSES = ['frame', 'server', 'fat', 'recover'];
// Longest input per harness: frames a little over the largest legal encoding; operation
// programs and patch lists of a few KiB.
const MAX_LEN = { frame: 9000, server: 4096, fat: 2048, recover: 2048 };
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const seconds = Number(opt('--time', process.env.REC_FUZZ_SECONDS ?? 50));
const jobs = Math.max(1, Number(opt('--jobs', 2)));
const only = opt('--only', HARNESSES.join(',')).split(',');
const build = join(root, 'firmware', 'build-fuzz');

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
if (seconds <= 0) process.exit(0);

const artifacts = join(build, 'artifacts');
mkdirSync(artifacts, { recursive: true });

function fuzzOne(h) {
  return new Promise((resolve) => {
    const work = join(build, 'corpus', h);
    mkdirSync(work, { recursive: true });
    const argv = [
      work,
      join(root, 'firmware', 'fuzz', 'corpus', h),
      join(root, 'firmware', 'fuzz', 'regressions', h),
      `-max_total_time=${seconds}`,
      `-max_len=${MAX_LEN[h]}`,
      '-timeout=10',
      '-rss_limit_mb=2048',
      '-print_final_stats=1',
      `-artifact_prefix=${join(artifacts, h)}-`,
    ];
    const started = Date.now();
    const p = spawn(join(build, `fuzz_${h}`), argv, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr.on('data', (d) => {
      log += d;
      if (log.length > 4e6) log = log.slice(-2e6);
    });
    // Hard stop well past the budget (a hang the -timeout does not catch).
    const killer = setTimeout(() => p.kill('SIGKILL'), (seconds + 120) * 1000);
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

const queue = only.filter((h) => HARNESSES.includes(h));
const results = [];
await Promise.all(
  [...Array(Math.min(jobs, queue.length))].map(async () => {
    while (queue.length) results.push(await fuzzOne(queue.shift()));
  }),
);

console.log(`\nfuzzing, ${seconds} s per harness:`);
console.log('harness   result  executions  exec/s  coverage(edges)  features  corpus  peak RSS');
for (const r of results.sort((a, b) => HARNESSES.indexOf(a.h) - HARNESSES.indexOf(b.h))) {
  console.log(
    `${r.h.padEnd(9)} ${(r.ok ? 'ok' : 'FAIL').padEnd(7)} ${String(r.execs).padStart(10)}  ${String(r.perSec).padStart(6)}  ${String(r.cov).padStart(15)}  ${String(r.ft).padStart(8)}  ${String(r.corpus).padStart(6)}  ${r.rss} MB`,
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
