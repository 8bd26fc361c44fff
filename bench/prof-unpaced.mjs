// A CPU profile of one unpaced `recorder sync` of a ~100 MB recording (issue 17, the app's cost):
//   node bench/prof-unpaced.mjs [--reps N] [--prof] [--strace]
// Builds what `npm run bench -- --only unpaced` builds, syncs the same recording N times and
// prints CPU s per 100 MB each time (the simulator's too); --prof writes a .cpuprofile (node
// --cpu-prof) per run and prints its heaviest functions by self time; --strace counts the app's
// system calls (strace -c).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as L from './lib.mjs';

const argv = process.argv.slice(2);
const reps = Number(argv[argv.indexOf('--reps') + 1] || 1);
const prof = argv.includes('--prof');
const strace = argv.includes('--strace');
const SIM = L.buildSim('build-bench');
// The recording of `npm run bench -- --only unpaced` (bench/run.mjs, goal 3).
const img = await L.makeImage(SIM, 'prof-big', { seconds: 1045, rate: 48000, mic: 'ramp', sizeMb: 512, speed: 100 });
for (let rep = 0; rep < reps; rep++) {
  const sim = await L.startSim(SIM, img.dir, { image: img.image, mic: 'demo', speed: 1 });
  const profDir = L.tempDir('rec-prof-cpu-');
  try {
    const dest = L.tempDir('rec-prof-lib-');
    const simCpu = () => readFileSync(`/proc/${sim.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).map(Number);
    const before = simCpu();
    const r = await L.runApp(['sync', '--port', sim.link, '--dest', dest], { nodeArgs: prof ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [], ...(strace ? { wrap: ['strace', '-f', '-c', '-o', join(profDir, 'strace.txt')] } : {}) });
    const res = r.events.at(-1)?.result;
    if (r.code !== 0 || !res?.ok) throw new Error(`sync failed: ${r.stderr.slice(-800)}`);
    const cpuS = (r.cpu.userUs + r.cpu.systemUs) / 1e6;
    const after = simCpu();
    console.log(`  simulator CPU during the sync: user ${((after[0] - before[0]) / 100).toFixed(2)} s, system ${((after[1] - before[1]) / 100).toFixed(2)} s`);
    console.log(`rep ${rep}: ${(res.bytes / 1e6).toFixed(1)} MB in ${(r.wallMs / 1000).toFixed(2)} s, CPU ${cpuS.toFixed(2)} s (user ${(r.cpu.userUs / 1e6).toFixed(2)}, system ${(r.cpu.systemUs / 1e6).toFixed(2)}) = ${((cpuS * 100e6) / res.bytes).toFixed(2)} s per 100 MB`);
    if (strace) console.log(readFileSync(join(profDir, 'strace.txt'), 'utf8').split('\n').slice(0, 14).join('\n'));
    if (prof) {
      const f = readdirSync(profDir).find((n) => n.endsWith('.cpuprofile'));
      const p = JSON.parse(readFileSync(join(profDir, f), 'utf8'));
      const self = new Map();
      const dt = new Map();
      p.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
      for (const n of p.nodes) {
        const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
        self.set(k, (self.get(k) ?? 0) + (dt.get(n.id) ?? 0));
      }
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      console.log(`  profile ${join(profDir, f)}: ${(total / 1e6).toFixed(2)} s sampled`);
      for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
    }
  } finally {
    await sim.quit();
  }
}
