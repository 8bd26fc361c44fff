#!/usr/bin/env node
// Worst-case stack of the QEMU port, from GCC's call graph (-fcallgraph-info=su: one .ci file
// per object, with each function's frame size and its calls).
//
//   node stack-usage.mjs [--stack BYTES] [--elf FILE --nm NM] BUILD_DIR
//   node stack-usage.mjs --entry FUNCTION [--entry FUNCTION ...] BUILD_DIR
//
// With --entry only the deepest path from each named function is reported (e.g. the stack of
// rec_ed25519_sign for a library not linked into an image yet); the worst case is the largest.
//
// worst case = deepest path from Reset_Handler
//            + for each interrupt priority level that can preempt: the deepest handler at that
//              level, plus the 32-byte exception frame and 4 bytes of alignment (levels nest)
//            + the deepest fault handler (a fault can come on top of everything).
// Indirect calls go to any function reachable through a pointer in this firmware (the block
// device operations, the microphone callback, the FAT directory-walk callbacks): the largest of
// them is taken. Functions without call-graph information (newlib's memcpy/memset/strlen,
// libgcc's division helpers) are counted as EXTERNAL_BYTES each. Recursion is allowed only where
// listed in RECURSION with the source's own depth limit (the deepest listed cycle is added: they
// do not nest); any other cycle is reported.
// With --stack the worst case is compared with the stack reserved (exit 1 when it does not fit).
// With --elf and --nm the image is also checked for heap functions (exit 1 if malloc is linked).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const EXTERNAL_BYTES = 64;
const EXCEPTION_FRAME = 32 + 4;
// Interrupt handlers by NVIC priority (hw.c: hw_init); lower number preempts higher.
const LEVELS = [['TIMER0A_Handler'], ['UART0_Handler'], ['SysTick_Handler'], ['UART1_Handler', 'TIMER1A_Handler']];
const FAULTS = ['HardFault_Handler', 'HardFault_Handler_c', 'NMI_Handler', 'MemManage_Handler', 'BusFault_Handler', 'UsageFault_Handler', 'Default_Handler'];
// Targets of calls through pointers, by caller (the first rule that matches): the microphone
// callback from its interrupt, the FAT directory-walk callbacks from dir_walk, the device
// context's detach hook (set by the application loop), the SD block device operations from
// everything else (the core's rec_bd_* inline helpers).
const INDIRECT = [
  { caller: /^TIMER0A_Handler$/, targets: /^rec_recorder_on_mic_block$/ },
  { caller: /^fat_dir_walk$/, targets: /fat\w*\.c:\w+_cb$/ },
  { caller: /^rec_device_detach_card$/, targets: /app\.c:forget_server_files$/ },
  { caller: /./, targets: /sd_spi\.c:bd_(read|write|sync)$/ },
];
// Bounded recursion: function, file, and the macro in that file holding the depth limit.
const RECURSION = [
  { fn: 'mark_dir', file: 'fat_repair.c', macro: 'REPAIR_MAX_DEPTH' },
  { fn: 'xl_dir', file: 'fat_repair.c', macro: 'REPAIR_MAX_DEPTH' },
];

const args = process.argv.slice(2);
let reserved = 0;
let elf = '';
let nm = 'arm-none-eabi-nm';
let dir = '';
const entries = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--stack') reserved = Number(args[++i]);
  else if (args[i] === '--entry') entries.push(args[++i]);
  else if (args[i] === '--elf') elf = args[++i];
  else if (args[i] === '--nm') nm = args[++i];
  else dir = args[i];
}
if (!dir) {
  console.error('usage: stack-usage.mjs [--stack BYTES] [--elf FILE --nm NM] [--entry FUNCTION ...] BUILD_DIR');
  process.exit(2);
}

function findCi(d, out = []) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) findCi(p, out);
    else if (name.endsWith('.ci')) out.push(p);
  }
  return out;
}

const frame = new Map(); // title -> bytes
const calls = new Map(); // title -> Set of titles
const sources = new Set();
const dynamic = [];
for (const file of findCi(dir)) {
  const text = readFileSync(file, 'utf8');
  const g = /graph: \{ title: "([^"]+)"/.exec(text);
  if (g) sources.add(g[1]);
  for (const m of text.matchAll(/node: \{ title: "([^"]+)" label: "[^"\\]*\\n[^"\\]*\\n(\d+) bytes \(([^)]*)\)"/g)) {
    frame.set(m[1], Number(m[2]));
    if (m[3] !== 'static') dynamic.push(`${m[1]} (${m[3]})`);
  }
  for (const m of text.matchAll(/edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"/g)) {
    if (!calls.has(m[1])) calls.set(m[1], new Set());
    calls.get(m[1]).add(m[2]);
  }
}
if (frame.size === 0) {
  console.error(`stack analysis: no call graph (.ci files) under ${dir}`);
  process.exit(1);
}

const short = (t) => t.replace(/^.*\//, '');
const externals = new Set();

function resolve(caller, target) {
  if (target === '__indirect_call') {
    const rule = INDIRECT.find((r) => r.caller.test(short(caller)));
    return [...frame.keys()].filter((t) => rule.targets.test(short(t)));
  }
  if (frame.has(target)) return [target];
  // The core's weak port defaults: GCC titles a weak definition file:name, as a static one.
  const weak = [...frame.keys()].filter((t) => t.endsWith(`/port_defaults.c:${target}`));
  if (weak.length) return weak;
  externals.add(target);
  return [];
}

const memo = new Map();
const onPath = [];
const cycles = []; // each: the functions on the cycle
// Deepest path from t: { bytes, path }.
function deepest(t) {
  if (memo.has(t)) return memo.get(t);
  if (onPath.includes(t)) {
    cycles.push(onPath.slice(onPath.indexOf(t)));
    return { bytes: 0, path: [`${short(t)} (recursion)`] };
  }
  onPath.push(t);
  let best = { bytes: 0, path: [] };
  for (const callee of calls.get(t) ?? []) {
    const targets = resolve(t, callee);
    if (targets.length === 0 && callee !== '__indirect_call') {
      if (EXTERNAL_BYTES > best.bytes) best = { bytes: EXTERNAL_BYTES, path: [`${callee} (external, ${EXTERNAL_BYTES})`] };
      continue;
    }
    for (const c of targets) {
      const d = deepest(c);
      if (d.bytes > best.bytes) best = d;
    }
  }
  onPath.pop();
  const r = { bytes: (frame.get(t) ?? 0) + best.bytes, path: [`${short(t)} (${frame.get(t) ?? 0})`, ...best.path] };
  memo.set(t, r);
  return r;
}

function root(name) {
  if (!frame.has(name)) {
    console.error(`stack analysis: ${name} not found in the call graph`);
    process.exit(1);
  }
  return deepest(name);
}

if (entries.length) {
  const worst = entries.map((e) => {
    const d = root(e);
    console.log(`  ${e}: ${d.bytes} bytes: ${d.path.join(' > ')}`);
    return d.bytes;
  });
  const recursive = cycles.map((c) => c.map(short).join(' > '));
  if (recursive.length) console.log(`  recursion (not bounded by the analysis): ${recursive.join(', ')}`);
  console.log(`worst-case stack of ${entries.join(', ')}: ${Math.max(...worst)} bytes (externals counted as ${EXTERNAL_BYTES} bytes each: ${[...externals].sort().join(', ')})`);
  process.exit(recursive.length || dynamic.length ? 1 : 0);
}

const main = root('Reset_Handler');
let total = main.bytes;
const lines = [`  main:   ${main.bytes} bytes: ${main.path.join(' > ')}`];
for (const level of LEVELS) {
  const worst = level.map(root).reduce((a, b) => (b.bytes > a.bytes ? b : a));
  total += worst.bytes + EXCEPTION_FRAME;
  lines.push(`  + irq:  ${worst.bytes} + ${EXCEPTION_FRAME} bytes: ${worst.path.join(' > ')}`);
}
const fault = FAULTS.filter((f) => frame.has(f)).map(root).reduce((a, b) => (b.bytes > a.bytes ? b : a), { bytes: 0, path: [] });
total += fault.bytes + EXCEPTION_FRAME;
lines.push(`  + fault: ${fault.bytes} + ${EXCEPTION_FRAME} bytes: ${fault.path.join(' > ')}`);

// Bounded recursion: each extra level costs one more trip round the cycle. The listed cycles are
// checked below: when no function of one cycle can reach a function of another (the repair's
// passes over the directory tree run one after the other), only the deepest is added; otherwise
// they may nest and their sum is added.
const unbounded = [];
const counted = []; // { cycle, extra }
const seenCycles = new Set();
for (const cycle of cycles) {
  const key = cycle.map(short).sort().join(',');
  if (seenCycles.has(key)) continue;
  seenCycles.add(key);
  const rule = RECURSION.find((r) => cycle.some((c) => short(c) === `${r.file}:${r.fn}`));
  if (!rule) {
    unbounded.push(cycle.map(short).join(' > '));
    continue;
  }
  const src = [...sources].find((s) => s.endsWith(`/${rule.file}`));
  const m = src && new RegExp(`#define\\s+${rule.macro}\\s+(\\d+)`).exec(readFileSync(src, 'utf8'));
  if (!m) {
    unbounded.push(`${rule.fn} (${rule.macro} not found in ${rule.file})`);
    continue;
  }
  // One more level costs the frames of the functions on the cycle.
  const trip = cycle.reduce((sum, c) => sum + (frame.get(c) ?? 0), 0);
  const extra = trip * (Number(m[1]) - 1);
  counted.push({ cycle, extra });
  lines.push(`  + recursion ${cycle.map(short).join(' > ')}: ${Number(m[1]) - 1} more levels x ${trip} bytes = ${extra}`);
}

// True when a function on `from` calls, directly or not, a function on `to` that is not on `from`.
function reachesOther(from, to) {
  const own = new Set(from);
  const goal = new Set(to.filter((t) => !own.has(t)));
  const seen = new Set();
  const stack = [...from];
  while (stack.length) {
    const t = stack.pop();
    if (seen.has(t)) continue;
    seen.add(t);
    if (goal.has(t)) return true;
    for (const callee of calls.get(t) ?? []) stack.push(...resolve(t, callee));
  }
  return false;
}
const nested = counted.some((a) => counted.some((b) => a !== b && reachesOther(a.cycle, b.cycle)));
const recursionExtra = nested ? counted.reduce((sum, c) => sum + c.extra, 0) : Math.max(0, ...counted.map((c) => c.extra));
if (counted.length > 1) lines.push(`  (the recursions ${nested ? 'may nest: their sum' : 'do not reach one another: the deepest'} is added)`);
total += recursionExtra;

console.log(`stack analysis (call graph of ${frame.size} functions; externals counted as ${EXTERNAL_BYTES} bytes each: ${[...externals].sort().join(', ')})`);
for (const l of lines) console.log(l);
let failed = false;
if (dynamic.length) {
  console.log(`  dynamic frames (not bounded by the analysis): ${dynamic.join(', ')}`);
  failed = true;
}
if (unbounded.length) {
  console.log(`  recursion without a known bound: ${unbounded.join(', ')}`);
  failed = true;
}
console.log(`worst-case stack: ${total} bytes${reserved ? ` of ${reserved} reserved` : ''}`);
if (reserved && total > reserved) {
  console.log(`stack analysis: the worst case (${total}) exceeds the stack reserved (${reserved}): raise REC_STACK_BYTES`);
  failed = true;
}

if (elf) {
  const r = spawnSync(nm, ['--defined-only', elf], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`heap check: ${nm} failed: ${r.stderr}`);
    failed = true;
  } else {
    const heap = r.stdout.split('\n').map((l) => l.split(' ').pop()).filter((s) => /^(_?malloc|_?free|_?calloc|_?realloc|_sbrk|_malloc_r|_free_r)$/.test(s ?? ''));
    if (heap.length) {
      console.log(`heap check: heap functions are linked: ${heap.join(', ')}`);
      failed = true;
    } else {
      console.log('heap check: no malloc/free/sbrk linked');
    }
  }
}
process.exit(failed ? 1 : 0);
