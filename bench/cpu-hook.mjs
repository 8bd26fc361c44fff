// Preloaded into the app (node --import) by the benchmarks: at exit, writes the process's own CPU
// time (user, system, microseconds) and peak RSS to $BENCH_CPU_FILE. The app itself is unchanged.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_CPU_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.cpuUsage();
    const r = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ userUs: u.user, systemUs: u.system, maxRssKb: r.maxRSS }));
  });
}
