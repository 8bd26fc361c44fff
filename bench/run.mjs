#!/usr/bin/env node
// `npm run bench`: every benchmark of issue #7, each repeated (median of --reps, default 3), results
// printed and written to bench/results/<date>.json and bench/results/latest.md (the table that
// docs/benchmarks.md quotes). Not part of `npm test`.
//
//   node bench/run.mjs [--only paced,link,unpaced,startup,resume,stall,verify,sweep,retransmit,crypto,evidence,encrypted,rp2040stall,rp2040sync,rp2040budget] [--reps N] [--compare DIR [--compare-label NAME]]
//
// --compare DIR: another checkout of the project with its app built (DIR/dist), e.g. the commit
// before a change; the link, unpaced and startup groups then run it too, interleaved with this
// one repeat by repeat, so that both see the same load.
//
// Needs `npm run build` first (npm run bench does it). Builds a release simulator in
// firmware/build-bench (and one with 8 KiB frames in firmware/build-bench-8k), compiles the
// shared test relay (test/support/relay.ts) next to it, and builds bench/ptyblast.c. The crypto
// group builds the RP2040 firmware (firmware/build-rp2040, as npm test does) for its Ed25519 self-test;
// the evidence group (bench/evidence.mjs) also builds the QEMU firmware (firmware/build-qemu),
// both images with signing linked (firmware/build-qemu-signing, firmware/build-rp2040-signing) and
// each port's other fixed-base multiplication (firmware/build-rp2040-compact, firmware/build-qemu-table).
// The encrypted group (bench/encrypted-sync.mjs) syncs an encrypted and a plain recording (issue 13).
// The rp2040stall, rp2040sync and rp2040budget groups (bench/rp2040-device.ts, issue 17) run the
// RP2040 image of firmware/build-rp2040 on rp2040js: card stalls while recording with everything
// on, the cycles the device spends per byte it serves, and per second of audio it records
// (REC_RP2040_BUILD=DIR runs another build's image, e.g. an older commit's for a before/after).
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { measureEncryptedSync } from './encrypted-sync.mjs';
import { measureEvidence, rp2040Selftest } from './evidence.mjs';
import * as L from './lib.mjs';

const argv = process.argv.slice(2);
const arg = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : d;
};
const ONLY = arg('only', 'paced,link,unpaced,startup,resume,stall,verify,sweep,retransmit,crypto,evidence,encrypted,rp2040stall,rp2040sync,rp2040budget').split(',');
const REPS = Number(arg('reps', '3'));
const COMPARE_DIR = arg('compare', null);
/** How the compared build is named in the results (never its path): --compare-label, or its folder's name. */
const COMPARE = COMPARE_DIR ? arg('compare-label', COMPARE_DIR.replace(/\/+$/, '').split('/').pop()) : null;
/** The apps measured: this build, and with --compare the other build too. */
const APPS = [{ name: 'app', cli: L.CLI }, ...(COMPARE_DIR ? [{ name: 'compared', cli: join(COMPARE_DIR, 'dist', 'host', 'cli', 'main.js') }] : [])];
if (COMPARE_DIR && !existsSync(APPS[1].cli)) throw new Error(`--compare ${COMPARE_DIR}: no app built there (${APPS[1].cli})`);
const on = (name) => ONLY.includes(name);

const USB = 1_000_000; // USB full speed, about what CDC reaches in practice (bytes/s)
const UART = 92_160; // 921600 baud, 8N1
const LINKS = [
  { name: 'USB FS', key: 'usb', rate: USB, seconds: 250 }, // 16 kHz: 8.0 MB
  { name: 'UART 921600', key: 'uart', rate: UART, seconds: 32 }, // 16 kHz: 1.0 MB
];

const results = { date: new Date().toISOString(), machine: L.machine(), reps: REPS, compare: COMPARE, rows: [], notes: [] };
const outDir = join(L.BENCH, 'results');
const stamp = results.date.replace(/[:.]/g, '-');
const row = (r) => {
  results.rows.push(r);
  // written as it goes, so an interrupted run keeps what it measured
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  console.log(`  -> ${r.goal} | ${r.what} | ${r.value} | ${r.noise ?? ''}`);
};
// The relay's token bucket starts full (burstBytes default: 20 ms of the rate, at least 256 B)
// and keeps up to that much unused rate: a transfer gets that many bytes "free" at the start.
const headStart = (rate) => Math.max(256, Math.round(rate / 50));
const fmt = (x, d = 3) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(d));
const pct = (s) => (s.spread === null ? '' : `n=${s.n}, spread ${(100 * s.spread).toFixed(1)}% (min ${fmt(s.min)}, max ${fmt(s.max)})`);

// ---- setup --------------------------------------------------------------------------------------
// The simulator and the relay serve every group but crypto, evidence and the rp2040 ones (firmware
// builds on rp2040js and QEMU).
const needSim = ONLY.some((g) => !['crypto', 'evidence', 'rp2040stall', 'rp2040sync', 'rp2040budget'].includes(g));
if (needSim) console.log('building the release simulator (firmware/build-bench) ...');
const SIM = needSim ? L.buildSim('build-bench') : null;
const SIM8K = on('sweep') ? (console.log('building the 8 KiB-frame simulator (firmware/build-bench-8k) ...'), L.buildSim('build-bench-8k', '-DREC_SERVER_MAX_PAYLOAD=8192')) : null;
// tsc keeps the folders below the common root of relay.ts and what it imports (host/sim/driver.ts).
const relayJs = join(L.ROOT, 'firmware', 'build-bench', 'relay', 'test', 'support', 'relay.js');
const relaySources = [join(L.ROOT, 'test', 'support', 'relay.ts'), join(L.ROOT, 'host', 'sim', 'driver.ts')];
if (needSim && (!existsSync(relayJs) || relaySources.some((f) => statSync(relayJs).mtimeMs < statSync(f).mtimeMs))) {
  console.log('compiling test/support/relay.ts for the benchmarks ...');
  L.run('npx', ['tsc', 'test/support/relay.ts', '--outDir', 'firmware/build-bench/relay', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--types', 'node']);
}
const { Relay } = needSim ? await import(relayJs) : {};
if (!existsSync(L.CLI)) throw new Error('the app is not built: run npm run build (npm run bench does)');

/** A card image with one recording (L.makeImage) made by the release simulator. */
const makeImage = (name, o) => L.makeImage(SIM, name, o);

async function withSim(img, o, fn) {
  const sim = await L.startSim(o.bin ?? SIM, img.dir, { image: img.image, mic: 'demo', speed: o.speed ?? 1 });
  try {
    return await fn(sim);
  } finally {
    await sim.quit();
  }
}

async function withRelay(devicePath, o, fn) {
  const appLink = join(L.tempDir('rec-bench-link-'), 'app');
  const relay = await Relay.start({ devicePath, appLink, bytesPerSecond: o.rate, corruptRate: o.corrupt || undefined, seed: o.seed ?? 1, timeoutMs: 1_800_000, ...(o.extra ?? {}) });
  try {
    return await fn(appLink, relay);
  } finally {
    await relay.stop();
  }
}

/** Our sync through the real CLI; returns wall s, transfer s, bytes, CPU s. */
async function syncCli(port, dest, extra = [], o = {}) {
  const r = await L.runApp(['sync', '--port', port, '--dest', dest, ...extra], { timeoutMs: o.timeoutMs ?? 900_000, onEvent: o.onEvent, preload: o.preload, cli: o.cli });
  const res = r.events.at(-1)?.result;
  if (r.code !== 0 || !res?.ok) throw new Error(`sync failed (${r.code}): ${r.stderr.slice(-1500)} ${JSON.stringify(r.events.at(-1)).slice(0, 500)}`);
  const tp = L.transferPhase(r.events);
  const count = (type) => r.events.filter((e) => e.type === type).length;
  return { t0: r.t0, wallS: r.wallMs / 1000, transferS: tp ? tp.ms / 1000 : null, bytes: res.bytes, cpuS: r.cpu ? (r.cpu.userUs + r.cpu.systemUs) / 1e6 : null, events: r.events, retries: count('file.retry'), reconnects: count('link.reconnected'), disconnects: count('link.disconnected') };
}

/** Sync through the engine with window/chunk options (bench/sync-engine.mjs), in its own process. */
async function syncEngine(port, dest, { window, chunk } = {}) {
  const args = [join(L.BENCH, 'sync-engine.mjs'), '--port', port, '--dest', dest];
  if (window) args.push('--window', String(window));
  if (chunk) args.push('--chunk', String(chunk));
  const p = L.start(process.execPath, args, { timeoutMs: 600_000 });
  const d = await p.done;
  const line = p.lines.at(-1);
  if (d.code !== 0 || !line) throw new Error(`engine sync failed: ${p.stderr.join('').slice(-1500)}`);
  return JSON.parse(line);
}

function libraryWav(dest) {
  const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.wav') ? [join(d, e.name)] : []));
  return walk(dest);
}

/** ZMODEM over the same relay: sz on a socat pty (the "device"), rz on the relay's app side. */
async function zmodem(file, { rate, corrupt, seed, szArgs }) {
  const dir = L.tempDir('rec-bench-zm-');
  const szLink = join(dir, 'sz');
  const rzDir = join(dir, 'rx');
  mkdirSync(rzDir);
  // b921600: lrzsz sizes its blocks and timing from the terminal's speed; at the pty default
  // (38400) sz stops and waits and gets a fifth of the link.
  const sz = L.start('socat', [`PTY,raw,echo=0,link=${szLink}`, `EXEC:sz ${szArgs} ${file},pty,raw,echo=0,stderr,b921600`], { timeoutMs: 900_000 });
  try {
    await L.waitPath(szLink);
    return await withRelay(szLink, { rate, corrupt, seed }, async (appLink, relay) => {
      const t0 = performance.now();
      const rz = L.start('sh', ['-c', `exec rz -b -y -q < "${appLink}" > "${appLink}"`], { cwd: rzDir, timeoutMs: 900_000 });
      const r = await rz.done;
      const s = (performance.now() - t0) / 1000;
      await sz.done;
      const got = join(rzDir, file.split('/').pop());
      const ok = r.code === 0 && existsSync(got) && statSync(got).size === statSync(file).size;
      const st = relay.stats();
      return { ok, s, wire: st.toApp.bytesOut, corrupted: st.toApp.corrupted + st.toDevice.corrupted };
    });
  } finally {
    await sz.stop();
  }
}

// ---- 1 + 2: paced links, ours and ZMODEM ------------------------------------------------------
// lrzsz sz options tried, the best per condition is the comparison: streaming with 1 KiB
// subpackets (the default), 8 KiB subpackets, and (with errors) a 16 KiB window so that a
// retransmission request does not have to wait behind a deep buffer.
const ZM_CONFIGS_CLEAN = ['-b -q', '-b -q -8'];
const ZM_CONFIGS_ERR = ['-b -q', '-b -q -8 -w 16384'];
if (on('paced')) {
  for (const link of LINKS) {
    console.log(`\n[paced] ${link.name}: making a ${link.seconds} s recording ...`);
    const img = await makeImage(link.key, { seconds: link.seconds });
    let file = null;
    for (const corrupt of [0, 1e-5]) {
      const ZM_CONFIGS = corrupt ? ZM_CONFIGS_ERR : ZM_CONFIGS_CLEAN;
      const ours = [];
      const zm = Object.fromEntries(ZM_CONFIGS.map((c) => [c, []]));
      for (let rep = 0; rep < REPS; rep++) {
        const seed = 11 + rep;
        const r = await withSim(img, {}, (sim) =>
          withRelay(sim.link, { rate: link.rate, corrupt, seed }, async (appLink, relay) => {
            const dest = L.tempDir('rec-bench-lib-');
            const x = await syncCli(appLink, dest);
            file ??= libraryWav(dest)[0];
            const st = relay.stats();
            return { ...x, wire: st.toApp.bytesOut, corrupted: st.toApp.corrupted + st.toDevice.corrupted };
          }),
        );
        ours.push(r);
        console.log(`  ours ${link.key} corrupt=${corrupt} rep ${rep}: wall ${fmt(r.wallS)} s, transfer ${fmt(r.transferS)} s, goodput ${fmt(r.bytes / r.transferS / link.rate)}, retries ${r.retries}, corrupted ${r.corrupted}`);
        for (const c of ZM_CONFIGS) {
          const z = await zmodem(file, { rate: link.rate, corrupt, seed, szArgs: c });
          zm[c].push(z);
          console.log(`  zmodem "${c}" rep ${rep}: ${fmt(z.s)} s ok=${z.ok} corrupted ${z.corrupted}`);
        }
      }
      const size = ours[0].bytes;
      const gp = L.stats(ours.map((r) => r.bytes / r.transferS / link.rate));
      const gpWall = L.stats(ours.map((r) => r.bytes / r.wallS / link.rate));
      const wall = L.stats(ours.map((r) => r.wallS));
      const tag = corrupt ? `corruption ${corrupt}/byte` : 'clean';
      if (!corrupt) {
        row({ goal: '1', what: `sync goodput, ${link.name} (${link.rate} B/s), ${(size / 1e6).toFixed(1)} MB, transfer phase`, value: fmt(gp.median), goal_value: '>= 0.97', noise: pct(gp), cmd: 'npm run bench -- --only paced' });
        const gpc = L.stats(ours.map((r) => (r.bytes - headStart(link.rate)) / r.transferS / link.rate));
        row({ goal: '1', what: `sync goodput, ${link.name}, transfer phase, less the relay's initial bucket (${headStart(link.rate)} B)`, value: fmt(gpc.median), goal_value: '>= 0.97', noise: pct(gpc), cmd: 'npm run bench -- --only paced' });
        row({ goal: '1', what: `sync goodput, ${link.name}, whole \`recorder sync\` (process start to exit, incl. verify)`, value: fmt(gpWall.median), noise: pct(gpWall), cmd: 'npm run bench -- --only paced' });
        row({ goal: '1', what: `wire bytes per recording byte, ${link.name}`, value: fmt(ours[0].wire / size, 4), cmd: 'npm run bench -- --only paced' });
      }
      const zmBest = ZM_CONFIGS.map((c) => ({ c, s: L.stats(zm[c].filter((z) => z.ok).map((z) => z.s)) })).sort((a, b) => (a.s.median ?? Infinity) - (b.s.median ?? Infinity));
      for (const z of zmBest) row({ goal: '2', what: `ZMODEM \`sz ${z.c}\`, ${link.name}, ${tag}: seconds (${zm[z.c].filter((x) => x.ok).length}/${REPS} ok)`, value: fmt(z.s.median, 2), noise: pct(z.s), cmd: 'npm run bench -- --only paced' });
      row({ goal: '2', what: `ours: whole \`recorder sync\`, ${link.name}, ${tag}: seconds (retries ${ours.map((r) => r.retries).join('/')})`, value: fmt(wall.median, 2), noise: pct(wall), cmd: 'npm run bench -- --only paced' });
      const best = zmBest[0];
      row({ goal: '2', what: `ours / ZMODEM (best: sz ${best.c}), ${link.name}, ${tag}`, value: fmt(wall.median / best.s.median), goal_value: '< 1', cmd: 'npm run bench -- --only paced' });
      const tr = L.stats(ours.map((r) => r.transferS));
      row({ goal: '2', what: `ours (transfer phase only) / ZMODEM best, ${link.name}, ${tag}`, value: fmt(tr.median / best.s.median), cmd: 'npm run bench -- --only paced' });
    }
  }
}

// ---- link under errors (issue 17): goodput at 0, 1e-5 and 1e-4 byte corruption, reconnects ----
// One recording through the relay paced at USB FS, corruption both ways; with --compare the other
// build runs the same seed right after this one. Duplicated: bytes the device sent beyond one
// clean sync's (damaged frames sent again, re-reads after a reconnect) per recording byte.
if (on('link')) {
  const SECONDS = Number(arg('link-seconds', '250')); // 16 kHz: 8.0 MB
  console.log(`\n[link] USB FS: making a ${SECONDS} s recording ...`);
  const img = await makeImage('link', { seconds: SECONDS });
  const cmd = `npm run bench -- --only link${COMPARE ? ' --compare DIR' : ''}`;
  let cleanDeviceBytes = null;
  for (const corrupt of [0, 1e-5, 1e-4]) {
    const runs = Object.fromEntries(APPS.map((a) => [a.name, []]));
    for (let rep = 0; rep < REPS; rep++) {
      for (const a of APPS) {
        const r = await withSim(img, {}, (sim) =>
          withRelay(sim.link, { rate: USB, corrupt, seed: 21 + rep }, async (appLink, relay) => ({ ...(await syncCli(appLink, L.tempDir('rec-bench-lib-'), [], { cli: a.cli, timeoutMs: 1_200_000 })), deviceBytes: relay.stats().toApp.bytesIn, load: L.machine().loadavg })),
        );
        if (!corrupt) cleanDeviceBytes = Math.min(cleanDeviceBytes ?? Infinity, r.deviceBytes);
        runs[a.name].push(r);
        console.log(`  ${a.name} corrupt=${corrupt} rep ${rep}: transfer ${fmt(r.bytes / r.transferS / USB)}, whole ${fmt(r.bytes / r.wallS / USB)} of the link, ${fmt(r.wallS)} s, retries ${r.retries}, reconnects ${r.reconnects}, load ${r.load}`);
      }
    }
    const tag = corrupt ? `corruption ${corrupt}/byte` : 'clean';
    for (const a of APPS) {
      const rs = runs[a.name];
      const who = a.name === 'app' ? 'this build' : `compared build (${COMPARE})`;
      const tr = L.stats(rs.map((r) => r.bytes / r.transferS / USB));
      const wh = L.stats(rs.map((r) => r.bytes / r.wallS / USB));
      const dup = L.stats(rs.map((r) => (r.deviceBytes - cleanDeviceBytes) / r.bytes));
      const size = `${(rs[0].bytes / 1e6).toFixed(1)} MB`;
      const loads = rs.map((r) => r.load.split(' ')[0]).join('/');
      row({ goal: 'link', what: `${who}: goodput, USB FS, ${size}, ${tag}, transfer phase (load ${loads})`, value: fmt(tr.median), goal_value: corrupt === 1e-4 ? '>= 0.80' : corrupt ? '>= 0.97' : '>= 0.984', noise: pct(tr), cmd });
      row({ goal: 'link', what: `${who}: goodput, USB FS, ${size}, ${tag}, whole \`recorder sync\``, value: fmt(wh.median), noise: pct(wh), cmd });
      row({ goal: 'link', what: `${who}: USB FS, ${tag}: reconnects / retry lines / duplicated bytes per recording byte`, value: `${rs.map((r) => r.reconnects).join('/')} / ${rs.map((r) => r.retries).join('/')} / ${fmt(dup.median)}`, goal_value: corrupt ? '0 reconnects' : '', noise: pct(dup), cmd });
    }
  }
}

// ---- 3: unpaced pty, app vs raw --------------------------------------------------------------
let bigLibrary = null;
const app = [];
const compared = [];
const raw = [];
if (on('unpaced') || on('verify')) {
  console.log('\n[unpaced] making a ~100 MB recording (48 kHz, ramp) ...');
  const img = await makeImage('big', { seconds: 1045, rate: 48000, mic: 'ramp', sizeMb: 512, speed: 100 });
  const blaster = L.buildBlaster();
  for (let rep = 0; rep < (on('unpaced') ? REPS : 1); rep++) {
    const dest = L.tempDir('rec-bench-biglib-');
    const r = await withSim(img, { speed: 1 }, (sim) => syncCli(sim.link, dest));
    bigLibrary = dest;
    app.push({ ...r, load: L.machine().loadavg.split(' ')[0] });
    if (!on('unpaced')) break;
    console.log(`  app rep ${rep}: ${(r.bytes / 1e6).toFixed(1)} MB, transfer ${fmt(r.transferS)} s = ${fmt(r.bytes / r.transferS / 1e6, 1)} MB/s, wall ${fmt(r.wallS)} s, CPU ${fmt(r.cpuS)} s`);
    if (COMPARE) {
      const c = await withSim(img, { speed: 1 }, (sim) => syncCli(sim.link, L.tempDir('rec-bench-biglib-'), [], { cli: APPS[1].cli }));
      compared.push({ ...c, load: L.machine().loadavg.split(' ')[0] });
      console.log(`  compared rep ${rep}: transfer ${fmt(c.bytes / c.transferS / 1e6, 1)} MB/s, wall ${fmt(c.wallS)} s, CPU ${fmt(c.cpuS)} s`);
    }
    const dir = L.tempDir('rec-bench-raw-');
    const link = join(dir, 'raw');
    const b = L.start(blaster, [link, String(r.bytes)], { timeoutMs: 120_000 });
    await b.waitLine(/^ready/);
    const rd = L.start(process.execPath, [join(L.BENCH, 'pty-read.mjs'), link, String(r.bytes)], { timeoutMs: 120_000 });
    await rd.done;
    await b.done;
    const x = JSON.parse(rd.lines.at(-1));
    raw.push(x);
    console.log(`  raw pty rep ${rep}: ${fmt(x.bytes / x.ms / 1e3, 1)} MB/s`);
  }
}
if (on('unpaced')) {
  const rawMBs = L.stats(raw.map((x) => x.bytes / x.ms / 1e3));
  const cmd = `npm run bench -- --only unpaced${COMPARE ? ' --compare DIR' : ''}`;
  for (const [who, runs] of [['', app], [`compared build (${COMPARE}): `, compared]]) {
    if (!runs.length) continue;
    const appMBs = L.stats(runs.map((r) => r.bytes / r.transferS / 1e6));
    const appWallMBs = L.stats(runs.map((r) => r.bytes / r.wallS / 1e6));
    const cpu = L.stats(runs.map((r) => (r.cpuS * 100e6) / r.bytes));
    row({ goal: '3', what: `${who}unpaced pty: app throughput, transfer phase (MB/s), ${(runs[0].bytes / 1e6).toFixed(0)} MB (load ${runs.map((r) => r.load).join('/')})`, value: fmt(appMBs.median, 1), noise: pct(appMBs), cmd });
    row({ goal: '3', what: `${who}unpaced pty: whole \`recorder sync\` incl. verification (MB/s)`, value: fmt(appWallMBs.median, 1), noise: pct(appWallMBs), cmd });
    row({ goal: '3', what: `${who}app / raw`, value: fmt(appMBs.median / rawMBs.median), goal_value: '>= 0.75', cmd });
    row({ goal: '3', what: `${who}app CPU seconds per 100 MB (user+system, whole sync incl. verify)`, value: fmt(cpu.median, 2), goal_value: '<= 3', noise: pct(cpu), cmd });
  }
  row({ goal: '3', what: 'raw pty throughput, same run (C writer -> serialport reader, MB/s)', value: fmt(rawMBs.median, 1), noise: pct(rawMBs), cmd });
}

// ---- startup: the fixed cost of a `recorder sync` with nothing to copy (issue 17) -------------
// A small card already in the library: process start to exit (Node, modules, HELLO, identity,
// clock, LIST, JOURNAL, the library copy checked again), wall and CPU; interleaved with --compare.
if (on('startup')) {
  console.log('\n[startup] recorder sync with nothing to copy ...');
  const img = await makeImage('startup', { seconds: 5, sizeMb: 64 });
  const cmd = `npm run bench -- --only startup${COMPARE ? ' --compare DIR' : ''}`;
  await withSim(img, { speed: 50 }, async (sim) => {
    const dest = L.tempDir('rec-bench-lib-');
    await syncCli(sim.link, dest);
    const runs = Object.fromEntries(APPS.map((a) => [a.name, []]));
    for (let rep = 0; rep < Math.max(5, REPS); rep++) {
      for (const a of APPS) {
        const r = await syncCli(sim.link, dest, [], { cli: a.cli });
        if (r.bytes !== 0) throw new Error('the startup sync copied something');
        runs[a.name].push({ ...r, load: L.machine().loadavg.split(' ')[0] });
      }
    }
    for (const a of APPS) {
      const who = a.name === 'app' ? 'this build' : `compared build (${COMPARE})`;
      const wall = L.stats(runs[a.name].map((r) => r.wallS));
      const cpu = L.stats(runs[a.name].map((r) => r.cpuS));
      row({ goal: 'startup', what: `${who}: \`recorder sync\` with nothing to copy, process start to exit: seconds (load ${runs[a.name].map((r) => r.load).join('/')})`, value: fmt(wall.median, 3), goal_value: '< 0.5', noise: pct(wall), cmd });
      row({ goal: 'startup', what: `${who}: the same, CPU seconds (user+system)`, value: fmt(cpu.median, 3), noise: pct(cpu), cmd });
    }
  });
}

// ---- 4: resume after a disconnect ------------------------------------------------------------
if (on('resume')) {
  console.log('\n[resume] USB-paced sync of 8 MB, cable pulled half way (relay unplug) ...');
  const img = await makeImage('resume', { seconds: 250 });
  const clean = [];
  const cut = [];
  for (let rep = 0; rep < REPS; rep++) {
    const c = await withSim(img, {}, (sim) => withRelay(sim.link, { rate: USB }, async (appLink, relay) => ({ ...(await syncCli(appLink, L.tempDir('rec-bench-lib-'))), toApp: relay.stats().toApp })));
    clean.push(c);
    const half = Math.round(c.toApp.bytesIn / 2) + rep * 40_000;
    const x = await withSim(img, {}, (sim) =>
      withRelay(sim.link, { rate: USB, extra: { disconnectEveryBytes: half, disconnectMs: 1000, maxDisconnects: 1 } }, async (appLink, relay) => {
        const r = await syncCli(appLink, L.tempDir('rec-bench-lib-'));
        return { ...r, toApp: relay.stats().toApp, disconnects: relay.stats().disconnects };
      }),
    );
    const resumed = x.events.find((e) => e.type === 'file.resumed');
    const disc = x.events.find((e) => e.type === 'link.disconnected');
    const rec = x.events.find((e) => e.type === 'link.reconnected');
    const extra = x.toApp.bytesIn - c.toApp.bytesIn;
    cut.push({ extra, fromOffset: resumed?.fromOffset ?? null, lostS: x.wallS - c.wallS, detectS: disc && rec ? (rec.t - disc.t) / 1000 : null, disconnects: x.disconnects, discarded: x.toApp.discarded });
    console.log(`  rep ${rep}: disconnects ${x.disconnects}, extra device bytes ${extra}, resumed from ${resumed?.fromOffset}, wall +${fmt(x.wallS - c.wallS)} s`);
  }
  const ex = L.stats(cut.map((c) => c.extra));
  row({ goal: '4', what: 'resume after unplug (USB FS, 8 MB): extra bytes the device sent (read twice + one re-handshake)', value: `${Math.round(ex.median)} B`, goal_value: '<= 1 window (8 x 4088 = 32704 B)', noise: `n=${ex.n}, min ${ex.min}, max ${ex.max}`, cmd: 'npm run bench -- --only resume' });
  const lost = L.stats(cut.map((c) => c.lostS));
  row({ goal: '4', what: 'resume: time lost vs an uninterrupted sync (incl. the 1 s the cable is out)', value: `${fmt(lost.median, 2)} s`, noise: pct(lost), cmd: 'npm run bench -- --only resume' });
}

// ---- 5: card write stalls survived ----------------------------------------------------------
if (on('stall')) {
  const SPEED = 2;
  for (const rate of [16000, 48000]) {
    console.log(`\n[stall] ${rate} Hz at --speed ${SPEED}: binary search on --stall-ms ...`);
    const theory = (65536 / (rate * 2)) * 1000;
    const every = rate === 16000 ? 100 : 300;
    const img = await makeImage(`stall${rate}`, { seconds: 1, rate, sizeMb: 64, mic: 'ramp' });
    // overrunsTotal in INFO is the sum over the journal (every recording on the card) plus the
    // one in progress: a trial counts the difference across its own recording.
    const overruns = async (sim) => {
      const r = await L.runApp(['info', '--port', sim.link], { timeoutMs: 60_000 });
      const dev = r.events.find((e) => e.device)?.device;
      if (!dev) throw new Error(`info failed: ${r.stderr}`);
      return dev.overrunsTotal;
    };
    const trial = async (ms) => {
      const sim = await L.startSim(SIM, img.dir, { image: img.image, mic: 'ramp', speed: SPEED, stallEvery: every, stallMs: ms });
      try {
        const before = await overruns(sim);
        const gapS = every / (rate / 256 + 3) + ms / 1000;
        await L.record(sim, Math.max(8, 4 * gapS), SPEED);
        return (await overruns(sim)) - before;
      } finally {
        await sim.quit();
      }
    };
    const found = [];
    for (let rep = 0; rep < REPS; rep++) {
      let lo = Math.round(theory * 0.5);
      let hi = Math.round(theory * 1.25);
      while (hi - lo > 10) {
        const mid = Math.round((lo + hi) / 2);
        const ov = await trial(mid);
        console.log(`  rep ${rep}: stall ${mid} ms -> ${ov} samples lost`);
        if (ov === 0) lo = mid;
        else hi = mid;
      }
      found.push(lo);
    }
    const s = L.stats(found);
    row({ goal: '5', what: `longest card stall with 0 lost samples, ${rate / 1000} kHz, 64 KiB ring (theory ${Math.round(theory)} ms)`, value: `${s.median} ms`, noise: `n=${s.n}, ${s.min}-${s.max} ms; --speed ${SPEED}, 10 ms steps`, cmd: 'npm run bench -- --only stall' });
  }
  row({ goal: '5', what: 'RAM per 100 ms of stall tolerance (16-bit mono): 16 kHz / 48 kHz', value: '3.2 KB / 9.6 KB', cmd: '(arithmetic)' });
}

// ---- 6: verify vs sha256sum ------------------------------------------------------------------
if (on('verify')) {
  console.log('\n[verify] recorder verify vs sha256sum on the 100 MB library ...');
  const wav = libraryWav(bigLibrary)[0];
  const size = statSync(wav).size;
  L.run('sha256sum', [wav], { timeoutMs: 120_000 }); // page cache warm for both
  const ver = [];
  const sha = [];
  for (let rep = 0; rep < REPS; rep++) {
    const r = await L.runApp(['verify', bigLibrary], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`verify failed: ${r.stderr}`);
    ver.push({ s: r.wallMs / 1000, cpu: (r.cpu.userUs + r.cpu.systemUs) / 1e6 });
    const t0 = performance.now();
    L.run('sha256sum', [wav], { timeoutMs: 120_000 });
    sha.push((performance.now() - t0) / 1000);
  }
  const v = L.stats(ver.map((x) => size / x.s / 1e6));
  const h = L.stats(sha.map((s) => size / s / 1e6));
  row({ goal: '6', what: `\`recorder verify\` throughput, ${(size / 1e6).toFixed(0)} MB file, warm cache (MB/s, whole process)`, value: fmt(v.median, 0), noise: pct(v), cmd: 'npm run bench -- --only verify' });
  row({ goal: '6', what: '`sha256sum` on the same file (MB/s)', value: fmt(h.median, 0), noise: pct(h), cmd: 'npm run bench -- --only verify' });
  row({ goal: '6', what: 'verify / sha256sum', value: fmt(v.median / h.median), cmd: 'npm run bench -- --only verify' });
}

// ---- 7: window x chunk sweep ----------------------------------------------------------------
if (on('sweep')) {
  const sweeps = [
    { link: LINKS[0], seconds: 125, windows: [1, 2, 4, 8], chunks: [1024, 2048, 4088, 8184] }, // 4 MB
    { link: LINKS[1], seconds: 16, windows: [1, 2, 4, 8], chunks: [1024, 4088, 8184] }, // 0.5 MB
  ];
  for (const sw of sweeps) {
    console.log(`\n[sweep] ${sw.link.name}: window x chunk ...`);
    const img = await makeImage(`sweep-${sw.link.key}`, { seconds: sw.seconds });
    for (const chunk of sw.chunks) {
      const bin = chunk > 4088 ? SIM8K : SIM;
      for (const window of sw.windows) {
        const g = [];
        for (let rep = 0; rep < REPS; rep++) {
          const r = await withSim(img, { bin }, (sim) => withRelay(sim.link, { rate: sw.link.rate }, (appLink) => syncEngine(appLink, L.tempDir('rec-bench-lib-'), { window, chunk })));
          g.push((r.bytes - headStart(sw.link.rate)) / (r.transferMs / 1000) / sw.link.rate);
        }
        const s = L.stats(g);
        console.log(`  window ${window} chunk ${chunk}: ${fmt(s.median)} (${pct(s)})`);
        row({ goal: '7', what: `goodput less the relay's initial bucket, ${sw.link.name}, window ${window}, chunk ${chunk}${chunk > 4088 ? ' (device built with 8 KiB frames)' : ''}`, value: fmt(s.median), noise: pct(s), cmd: `npm run bench -- --only sweep` });
      }
    }
  }
}

// ---- experiment: fast retransmit on a noisy link (bench/fast-retransmit.mjs) -----------------
if (on('retransmit')) {
  for (const link of LINKS) {
    console.log(`\n[retransmit] ${link.name}, corruption 1e-5: the app as it is vs with fast retransmit ...`);
    const img = await makeImage(`rt-${link.key}`, { seconds: link.seconds });
    const asIs = [];
    const fast = [];
    for (let rep = 0; rep < REPS; rep++) {
      const seed = 11 + rep;
      for (const [list, preload] of [[asIs, []], [fast, ['./fast-retransmit.mjs']]]) {
        const r = await withSim(img, {}, (sim) => withRelay(sim.link, { rate: link.rate, corrupt: 1e-5, seed }, (appLink) => syncCli(appLink, L.tempDir('rec-bench-lib-'), [], { preload })));
        list.push(r.wallS);
        console.log(`  ${preload.length ? 'fast retransmit' : 'as is'} rep ${rep}: ${fmt(r.wallS)} s, retries ${r.retries}`);
      }
    }
    const a = L.stats(asIs);
    const f = L.stats(fast);
    row({ goal: '2 (experiment)', what: `${link.name}, corruption 1e-5: whole sync, app as it is`, value: `${fmt(a.median, 2)} s`, noise: pct(a), cmd: 'npm run bench -- --only retransmit' });
    row({ goal: '2 (experiment)', what: `${link.name}, corruption 1e-5: whole sync with fast retransmit (bench/fast-retransmit.mjs, not in the app)`, value: `${fmt(f.median, 2)} s`, noise: pct(f), cmd: 'npm run bench -- --only retransmit' });
  }
}

// ---- crypto: Ed25519, X25519, ChaCha20-Poly1305 on the RP2040's Cortex-M0+ (rp2040js cycles) ----
if (on('crypto')) {
  const r = await rp2040Selftest();
  const cmd = 'npm run bench -- --only crypto';
  for (const t of r.timings) {
    const ms = (hz) => ((1000 * t.cycles) / hz).toFixed(1);
    const age = /^(X25519|ChaCha20)/.test(t.name); // issue 13's encryption
    const what = t.name.startsWith('SHA') || age ? t.name : `Ed25519 ${t.name}`;
    row({ goal: age ? 'issue 13' : 'issue 12', what: `${what}, Cortex-M0+ (rp2040js cycle model): cycles; ms at 48 MHz / 125 MHz`, value: `${t.cycles} cycles; ${ms(48e6)} ms / ${ms(125e6)} ms`, noise: 'deterministic (emulated); XIP flash cache misses not modelled', cmd });
  }
  const stack = /stack used (\d+) bytes/.exec(r.output)?.[1];
  row({ goal: 'issue 12', what: 'Ed25519 self-test stack high-water mark, Cortex-M0+ (painted stack; verify is the deepest)', value: `${stack} B`, cmd });
}

// ---- evidence: signing and hashing on the device, flash and RAM with signing (bench/evidence.mjs) ----
if (on('evidence')) await measureEvidence(row);

// ---- encrypted: sync goodput of an encrypted recording against a plain one (bench/encrypted-sync.mjs) ----
if (on('encrypted')) await measureEncryptedSync({ sim: SIM, reps: REPS, links: LINKS, h: { withSim, withRelay, syncCli, headStart, row } });

// ---- rp2040stall / rp2040sync: the RP2040 image's own figures on rp2040js (bench/rp2040-device.ts) ----
if (on('rp2040stall') || on('rp2040sync') || on('rp2040budget')) {
  console.log('\n[rp2040] building the RP2040 firmware (firmware/build-rp2040) ...');
  const fw = join(L.ROOT, 'firmware');
  L.run('cmake', ['-S', join(fw, 'ports', 'rp2040'), '-B', join(fw, 'build-rp2040'), `-DCMAKE_TOOLCHAIN_FILE=${join(fw, 'cmake', 'arm-none-eabi-m0plus.cmake')}`]);
  L.run('cmake', ['--build', join(fw, 'build-rp2040'), '-j', '2']);
  const size = JSON.parse(readFileSync(join(fw, 'build-rp2040', 'size.json'), 'utf8'));
  // TypeScript (as the board harness it uses): loaded through vite, which vitest brings.
  const { runnerImport } = await import('vite');
  const { module: dev } = await runnerImport(join(L.BENCH, 'rp2040-device.ts'));
  if (on('rp2040stall')) {
    const cmd = 'npm run bench -- --only rp2040stall';
    const ring = 114688; // REC_AUDIO_RING_BYTES of firmware/ports/rp2040/CMakeLists.txt
    row({ goal: 'issue 17', what: `RP2040 image: static RAM (audio ring ${ring / 1024} KiB)`, value: `${size.ram} B of ${size.budget.ram / 1024} KiB budget (264 KB on the chip)`, cmd });
    // The emulator is exact: repeats give the same answer, so one trial per stall length.
    for (const rate of [48000, 16000]) {
      const t = await dev.stallTrial(rate, 1000);
      row({ goal: 'issue 17', what: `RP2040 on rp2040js, ${rate / 1000} kHz (clk_sys ${t.clkHz / 1e6} MHz), encrypted and signed: samples lost to ${t.stalls} card stalls of 1000 ms (one per 6 s of audio; ring theory ${Math.round((1000 * ring) / (2 * rate))} ms)`, value: `${t.overruns}`, goal_value: '0', noise: `deterministic (emulated); ${t.emulatedS.toFixed(1)} s emulated in ${t.wallS.toFixed(0)} s`, cmd });
    }
    // One stall alone: the ring's capacity, apart from how fast the backlog of the last one drains.
    const one = await dev.stallTrial(48000, 1000, 8, 3, 1);
    row({ goal: 'issue 17', what: `RP2040 on rp2040js, 48 kHz, encrypted and signed: samples lost to ${one.stalls} card stall of 1000 ms alone`, value: `${one.overruns}`, goal_value: '0', noise: `deterministic (emulated); ${one.emulatedS.toFixed(1)} s emulated in ${one.wallS.toFixed(0)} s`, cmd });
  }
  if (on('rp2040sync')) {
    const cmd = 'npm run bench -- --only rp2040sync';
    // The board's own clocks (48 MHz, SPI 24 MHz), then 125 MHz with the SPI at 20.8 MHz (clk_peri
    // / 6 when clk_peri was clk_sys; the port now takes clk_peri from PLL_USB, so its SPI runs at
    // 24 MHz at every clock and this projection is the conservative one). The
    // harness gives every SPI byte its wire time, so what overlaps the wire (DMA) is counted once.
    const board = await dev.syncRate();
    const at125 = await dev.syncRate({ cpuHz: 125e6, spiHz: 125e6 / 6 });
    // Waiting for the wire: the FIFO loop, the DMA wait and the clock reads of its time limit.
    const waits = (r) => r.profile.filter((p) => ['port_spi_finish', 'port_spi_transfer', 'rp2040_time_us'].includes(p.fn)).reduce((a, p) => a + p.share, 0);
    for (const r of [board, at125]) {
      const at = `${(r.clkHz / 1e6).toFixed(0)} MHz (SPI ${(r.spiHz / 1e6).toFixed(1)} MHz)`;
      row({ goal: 'issue 17', what: `RP2040 on rp2040js at ${at}: cycles per byte served by READ (${(r.bytes / 1e6).toFixed(2)} MB, 8 in flight; SD over SPI, CRC, COBS, framing, USB CDC; SPI wire time emulated)`, value: `${r.cyclesPerByte.toFixed(1)} cycles/B (${r.instructionsPerByte.toFixed(1)} instructions/B), ${r.spiBytesPerByte.toFixed(3)} SPI bytes/B, ${(100 * waits(r)).toFixed(1)}% of the PC samples in the SPI loop or the DMA wait`, noise: 'deterministic (emulated)', cmd });
      row({ goal: 'issue 17', what: `RP2040 sync rate it sustains at ${at}`, value: `${(r.rate / 1e6).toFixed(3)} MB/s`, goal_value: r === at125 ? '>= 1.0 MB/s at 125 MHz' : '', cmd });
    }
    for (const rate of [16000, 48000]) {
      const bytes = 2 * 3600 * rate * 2;
      const min = (r) => bytes / Math.min(r.rate, USB) / 60;
      row({ goal: 'issue 17', what: `two-hour meeting at ${rate / 1000} kHz (${(bytes / 1e6).toFixed(0)} MB): sync time at ${(board.clkHz / 1e6).toFixed(0)} MHz / 125 MHz (the device or USB FS's 1 MB/s, the slower)`, value: `${min(board).toFixed(1)} / ${min(at125).toFixed(1)} min`, cmd });
    }
    // READ_CHECKED (issue 17) in blocks of 256 (the host's choice at 1e-4): the table's cost on the device
    const c = await dev.syncRate(null, 4, 16000, 8, 8, 256);
    row({ goal: 'issue 17', what: `RP2040 on rp2040js at ${(c.clkHz / 1e6).toFixed(0)} MHz: cycles per byte served by READ_CHECKED in 256-byte blocks (READs of 4020 B; against READ above)`, value: `${c.cyclesPerByte.toFixed(1)} cycles/B (${c.instructionsPerByte.toFixed(1)} instructions/B)`, noise: 'deterministic (emulated)', cmd });
    results.notes.push({ rp2040SyncProfile: board.profile.slice(0, 30), rp2040SyncProfile125: at125.profile.slice(0, 30) });
    for (const r of [board, at125]) console.log(`  PC samples by function (share) at ${(r.clkHz / 1e6).toFixed(0)} MHz:\n` + r.profile.slice(0, 30).map((p) => `    ${(100 * p.share).toFixed(1)}% ${p.fn}`).join('\n'));
  }
  // ---- rp2040budget: the recording's whole cost on the RP2040 image (bench/rp2040-device.ts) ----
  if (on('rp2040budget')) {
    const cmd = 'npm run bench -- --only rp2040budget';
    // The port's clocks (firmware/ports/rp2040/hw.c): 48 MHz from PLL_USB, or PLL_SYS's standard settings.
    const clocks = [48, 64, 72, 80, 96, 112, 125].map((m) => m * 1e6);
    for (const rate of [16000, 48000]) {
      const t = await dev.budgetTrial(rate);
      const cycles = t.cyclesPerS + t.signingCyclesPerS;
      // Busy share at clock f: the harness gives every SPI byte its wire time, so the core's waits
      // for the wire (FIFO loop, DMA wait) are in the cycles already (conservative: they do not
      // shrink with a faster CPU clock).
      const busyAt = (f) => cycles / f;
      const need = 2 * cycles;
      const lowest = clocks.find((f) => f >= need) ?? null;
      const split = t.parts.map((p) => `${p.part} ${(100 * p.share).toFixed(1)}%`).join(', ');
      row({ goal: 'issue 17', what: `RP2040 on rp2040js, recording at ${rate / 1000} kHz encrypted and signed: cycles per second of audio (${t.audioS.toFixed(1)} s counted at ${t.clkHz / 1e6} MHz; signing one checkpoint per 60 s from the self-test; SPI wire ${(1000 * t.spiWireSPerS).toFixed(1)} ms/s at ${(t.spiHz / 1e6).toFixed(0)} MHz, emulated: the core's waits for it are in the cycles)`, value: `${(cycles / 1e6).toFixed(2)} M cycles/s (${(cycles / rate).toFixed(0)} per sample): ${split}`, noise: 'deterministic (emulated); one run', cmd });
      row({ goal: 'issue 17', what: `the same: share of the CPU at 125 MHz, cycles only / with the SPI wire time`, value: `${((100 * cycles) / 125e6).toFixed(1)}% / ${(100 * busyAt(125e6)).toFixed(1)}%`, goal_value: '< 25%', cmd });
      row({ goal: 'issue 17', what: `the same: lowest clock with a 2x margin (cycles and SPI wire time), and the port's clock for the rate`, value: `${(need / 1e6).toFixed(1)} MHz -> ${lowest ? lowest / 1e6 : 'none'} MHz; the port runs ${t.clkHz / 1e6} MHz (busy ${(100 * busyAt(t.clkHz)).toFixed(1)}%)`, goal_value: 'margin >= 2x', cmd });
      results.notes.push({ [`rp2040Budget${rate}`]: { ...t, profile: t.profile.slice(0, 30) } });
      console.log(`  ${rate} Hz, PC samples by function (share):\n` + t.profile.slice(0, 20).map((p) => `    ${(100 * p.share).toFixed(1)}% ${p.fn}`).join('\n'));
    }
  }
}

// ---- output -----------------------------------------------------------------------------------
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
const m = results.machine;
const md = [
  `Run ${results.date} on ${m.nproc} x ${m.cpu}, Node ${m.node}, load average at start ${m.loadavg}; median of ${REPS}.`,
  '',
  '| goal | measurement | result | target | noise (repeats) | reproduce |',
  '|---|---|---|---|---|---|',
  ...results.rows.map((r) => `| ${r.goal} | ${r.what} | ${r.value} | ${r.goal_value ?? ''} | ${r.noise ?? ''} | \`${r.cmd}\` |`),
  '',
].join('\n');
writeFileSync(join(outDir, 'latest.md'), md);
console.log('\n' + md);
console.log(`written: bench/results/${stamp}.json, bench/results/latest.md`);
L.killAll();
process.exit(0);
