#!/usr/bin/env node
// Power-cut campaign against the recorder simulator (docs/reliability.md).
//
// The simulator is SIGKILLed (a power cut: nothing is flushed, the card image keeps what had been
// written) at random moments while recording, at stop, while the app syncs, while the app deletes
// verified recordings, while formatting (FORMAT), while wiping (WIPE), while writing settings
// (SET_LABEL / SETTINGS), while the recorder takes a button marker, and while a rebooted recorder
// recovers (a second cut). Recordings get button markers (short presses) as they are made. After
// every cut the recorder boots again on the same image, is checked over the protocol, quits
// cleanly, and the image is checked with fsck.fat -n, mtools and our own WAV and journal checks:
//
//  - every recording that existed is present and byte-identical (SHA-256 of the file), unless the
//    interrupted operation was a delete of a copy verified in the library, a format or a wipe;
//  - a wipe cut anywhere is finished by the boot after it (INFO never says WIPE_PENDING with the
//    card in), or had not begun: either the card is as before, or it holds no recording, its
//    journal is EPOCH_START then WIPED, and no run of the ramp longer than 0.1 s is left anywhere
//    in the raw image;
//  - the interrupted recording is recovered (finished, valid WAV, evid chunk equal to the audio,
//    an unbroken ramp) with at most 1 s of audio (+ one 256-sample block) missing against the
//    last INFO currentSamples received before the cut; `ffprobe` reads it;
//  - every recording's markers (its "cue " and LIST/adtl chunks before the evid chunk) are the
//    journal's MARKER records of it that fall inside its audio, numbered 1..n in order; the app's
//    manifest of a copy names the same markers;
//  - the journal chain verifies, the old journal is a prefix of the new one (append-only; a
//    format starts a new one), one record per recording, every recording has its record;
//  - recording numbers are never reused; settings are the old or the new ones, never others;
//  - fsck.fat -n is clean after the rebooted simulator's clean quit;
//  - the library the app wrote holds only byte-exact copies (.part files are prefixes).
//
// Usage: node scripts/power-campaign.mjs [--cuts 2000] [--seed 1] [--speed 20] [--size-mb 64]
//          [--per-sequence 25] [--mix recording=4,stop=2,sync=1,delete=1,format=1,wipe=1,settings=1,marker=1]
//          [--recovery-cuts 0.25] [--out DIR (default .tmp/power-campaign)] [--sim PATH] [--ffprobe all|some|none]
//          [--stall-every N --stall-ms M] [--max-minutes M] [--encrypted] [--quiet]
// --encrypted: the recorder records to REC*.AGE (an owner key made with age-keygen and given to the
// recorder by the app, `recorder recipient set`, at the first boot of each sequence; its device key
// made by PROVISION then); every .AGE is decrypted with the stock `age -d` and the WAV it gives
// checked as above, and no hold file (REC*.HLD) may be left after the reboot. The phases are
// recording, stop, sync, delete, marker, wipe and settings (default mix
// recording=4,stop=2,sync=1,delete=1,marker=1,settings=1; add wipe=N); the app's syncs decrypt with
// the owner key (--identity), once the recorder has sealed what it recovered, and delete only what
// it verified and decrypted. A wipe is judged as above and, once done, must also have
// crypto-erased: INFO must not say ENCRYPTING, NVM sectors 4 and 5 (the recipient) must be blank,
// and no 16-byte window of IMAGE.nvm may be the file key of any .AGE the card held before the wipe
// (the age header MAC decides); a wipe not begun must leave the recipient set. The next cut's boot
// sets the recipient again (SET_RECIPIENT). Each sequence ends with a sync that decrypts with the
// owner key and `recorder verify` of the library: every recording with audio, recovered ones
// included, must be signed (statement over the .AGE, its WAV and checkpoints) and verify, and every
// library .age equal the card's .AGE.
// Needs the simulator (firmware/build) and the app (npm run build). Exit status 0 when every cut
// passed every check; the report is DIR/power-campaign.json and DIR/power-campaign.md.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) return true;
  return v;
}
if (argv.includes('--help') || argv.includes('-h')) {
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(text.slice(1, text.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const O = {
  cuts: Number(opt('cuts', 2000)),
  seed: Number(opt('seed', 1)),
  speed: Number(opt('speed', 20)),
  sizeMb: Number(opt('size-mb', 64)),
  perSequence: Number(opt('per-sequence', 25)),
  mix: String(opt('mix', 'recording=4,stop=2,sync=1,delete=1,format=1,wipe=1,settings=1')),
  recoveryCuts: Number(opt('recovery-cuts', 0.25)),
  out: resolve(String(opt('out', join(root, '.tmp', 'power-campaign')))),
  sim: resolve(String(opt('sim', process.env.REC_SIM_BIN ?? join(root, 'firmware', 'build', 'ports', 'host', 'recorder-sim')))),
  ffprobe: String(opt('ffprobe', 'some')),
  maxMinutes: Number(opt('max-minutes', 0)),
  quiet: argv.includes('--quiet'),
  stallEvery: Number(opt('stall-every', 0)),
  stallMs: Number(opt('stall-ms', 0)),
  encrypted: argv.includes('--encrypted'),
};
if (O.encrypted && opt('mix', null) === null) O.mix = 'recording=4,stop=2,sync=1,delete=1,marker=1,settings=1';
const CLI = join(root, 'dist', 'host', 'cli', 'main.js');
const distProto = join(root, 'dist', 'protocol', 'src');
const driverJs = join(root, 'dist', 'host', 'sim', 'driver.js');
for (const [what, p] of [['the simulator', O.sim], ['the app (npm run build)', CLI], ['the protocol build (npm run build)', join(distProto, 'codec.js')], ['the simulator driver (npm run build)', driverJs]]) {
  if (!existsSync(p)) {
    console.error(`power-campaign: ${what} is missing at ${p}`);
    process.exit(2);
  }
}
const { Deframer, decodeStruct, encodeFrame, encodeStruct } = await import(pathToFileURL(join(distProto, 'codec.js')).href);
const { CARD_LAYOUT, CARD_STATE, COMMANDS, INFO_FLAGS, JOURNAL_KIND, KIND, PROTOCOL, RECIPIENT_ACTION, RECIPIENT_FLAGS, RECORD_FLAGS, RECORDING_STATE, REC_STATE, SETTINGS_MASK, STOP_REASON, STRUCTS, structSize } = await import(pathToFileURL(join(distProto, 'schema.js')).href);
const { SerialPort } = await import('serialport');
const { killAllNow, recordWithButton, seededRandom, spawnLines, startSimulator } = await import(pathToFileURL(driverJs).href);
// The names of the library's own per-recorder files (pin record, key files, journal copy, log).
const { LIBRARY_FILE } = await import(pathToFileURL(join(root, 'dist', 'host', 'engine', 'evidence', 'pins.js')).href);
// The age file-key scan of the device's flash (shared with test/privacy-sim.test.ts).
const { fileKeyHits } = await import(pathToFileURL(join(root, 'test', 'support', 'age-file-key.mjs')).href);

const JOURNAL_RECORD_SIZE = structSize(STRUCTS.JOURNAL_RECORD);
const CUE_POINT_SIZE = structSize(STRUCTS.CUE_POINT);
const PHASES = ['recording', 'stop', 'sync', 'delete', 'format', 'wipe', 'settings', 'marker'];
if (O.encrypted && /format=[1-9]/.test(O.mix)) throw new Error('--encrypted: the phases are recording, stop, sync, delete, marker, wipe and settings');
const mix = Object.fromEntries(O.mix.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
for (const k of Object.keys(mix)) if (!PHASES.includes(k)) throw new Error(`unknown phase ${k} in --mix`);
const ENV = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', MTOOLS_SKIP_CHECK: '1', PATH: `${process.env.PATH}:/usr/sbin:/sbin` };

// ---------------------------------------------------------------------------------------------
// Processes: every one is tracked, bounded and killed on the way out.

process.on('exit', killAllNow);
for (const s of ['SIGINT', 'SIGTERM']) {
  process.on(s, () => {
    killAllNow();
    process.exit(130);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

function isLink(p) {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The simulator (host/sim/driver.ts) with this campaign's options. */
class Sim {
  constructor(sim) {
    this.sim = sim;
    this.proc = sim.proc;
    this.link = sim.link;
    this.image = sim.image;
    this.lines = sim.lines;
  }

  static async start(image, link, { waitReady = true, timeoutMs = 120_000 } = {}) {
    // Faster than real time, the simulator is a real-time program: boosted when we may (root) so
    // machine load is not mistaken for lost audio (as in test/support/sim.ts).
    const sim = await startSimulator({
      bin: simBin, image, link, sizeMb: O.sizeMb, mic: 'ramp', speed: O.speed, quiet: true,
      stallEvery: O.stallEvery, stallMs: O.stallMs || 500, boost: true, timeoutMs, waitReady, readyTimeoutMs: 20_000,
    });
    return new Sim(sim);
  }

  get alive() {
    return this.sim.alive;
  }

  waitLine(re, from = 0, timeoutMs = 20_000) {
    return this.sim.waitLine(re, { from, timeoutMs });
  }

  send(line) {
    this.sim.send(line);
  }

  command(line) {
    return this.sim.command(line);
  }

  /** Power cut. The simulator leaves its link behind; it is removed so nothing opens a stale one. */
  async cut() {
    await this.sim.kill();
    if (isLink(this.link)) unlinkSync(this.link);
  }

  async quit() {
    return (await this.sim.quit(20_000)).code;
  }
}

/** A minimal protocol client over serialport (like test/support/raw-client.ts). */
class Client {
  constructor(port) {
    this.port = port;
    this.deframer = new Deframer();
    this.seq = 1;
    this.waiting = new Map();
    this.closed = false;
    port.on('data', (chunk) => {
      for (const item of this.deframer.push(chunk)) {
        if (!item.ok || item.frame.kind === KIND.EVENT || item.frame.seq === 0) continue;
        const w = this.waiting.get(item.frame.seq);
        if (w) {
          this.waiting.delete(item.frame.seq);
          w.resolve(item.frame);
        }
      }
    });
    const gone = () => this.fail(new Error('port closed'));
    port.on('close', gone);
    port.on('error', gone);
  }

  static open(path) {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false, lock: false });
      port.open((err) => (err ? reject(err) : resolve(new Client(port))));
    });
  }

  fail(e) {
    this.closed = true;
    for (const [, w] of this.waiting) w.reject(e);
    this.waiting.clear();
  }

  call(command, value = {}, timeoutMs = 10_000) {
    if (this.closed) return Promise.reject(new Error('client closed'));
    const c = COMMANDS[command];
    const seq = this.seq++;
    if (this.seq > 0xffff) this.seq = 1;
    const frame = encodeFrame({ kind: KIND.REQUEST, seq, command: c.id, payload: encodeStruct(c.request, value) });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new Error(`no answer to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(seq, {
        resolve: (f) => (clearTimeout(t), resolve(f)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.port.write(frame, (err) => {
        if (err) this.fail(err);
      });
    });
  }

  async ok(command, value = {}, timeoutMs) {
    const f = await this.call(command, value, timeoutMs);
    if (f.kind === KIND.ERROR) {
      const e = decodeStruct('ERROR', f.payload);
      throw Object.assign(new Error(`${command} failed with error code ${e.code}`), { deviceCode: Number(e.code) });
    }
    return decodeStruct(COMMANDS[command].response, f.payload);
  }

  async list() {
    const out = [];
    let after = 0;
    for (;;) {
      const r = await this.ok('LIST', { afterNumber: after, maxEntries: 40 });
      for (const e of r.entries) {
        out.push(e);
        after = e.number;
      }
      if (!r.more || r.entries.length === 0) break;
    }
    return out;
  }

  close() {
    this.fail(new Error('client closed'));
    return new Promise((r) => (this.port.isOpen ? this.port.close(() => r()) : r()));
  }
}

// ---------------------------------------------------------------------------------------------
// Card checks (after a clean quit)

function mtool(tool, args) {
  return spawnSync(tool, args, { env: ENV, encoding: 'buffer', maxBuffer: 1 << 30 });
}

function mdir(image, dir) {
  const r = mtool('mdir', ['-b', '-i', image, `::${dir}`]);
  if (r.status !== 0) return [];
  return r.stdout
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim().replace(/^.*\//, ''))
    .filter(Boolean);
}

/** A recording's file: the WAV, or with --encrypted the .AGE (REC*.HLD is never expected after a reboot). */
const RECORDING_NAME = /^REC\d{5}\.(WAV|AGE)$/i;

/** Recordings (number -> bytes; an .AGE's decrypted WAV) and the journal of a card image. */
function readCard(image, tmp) {
  const dir = join(tmp, 'card');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const names = mdir(image, '/RECORDS').filter((n) => RECORDING_NAME.test(n));
  const files = new Map();
  const ages = new Map(); // number -> the .AGE as on the card (its header names the file key)
  if (names.length) {
    const r = mtool('mcopy', ['-n', '-o', '-i', image, ...names.map((n) => `::/RECORDS/${n}`), dir + '/']);
    if (r.status !== 0) throw new Error(`mcopy failed: ${r.stderr.toString()}`);
    for (const n of names) {
      if (/\.AGE$/i.test(n)) {
        // Encrypted: the stock age gives the WAV, which is what the checks below look at.
        if (!ownerKey) throw new Error(`${n} on the card of a campaign without --encrypted`);
        const wav = join(dir, n.replace(/\.AGE$/i, '.WAV'));
        ages.set(Number(/\d{5}/.exec(n)[0]), readFileSync(join(dir, n)));
        const d = spawnSync('age', ['-d', '-i', ownerKey, '-o', wav, join(dir, n)], { encoding: 'utf8' });
        report.ageDecryptions++;
        if (d.status !== 0) throw new Error(`${n} does not decrypt with the stock age: ${d.stderr.trim()}`);
        files.set(Number(/\d{5}/.exec(n)[0]), readFileSync(wav));
      } else {
        files.set(Number(/\d{5}/.exec(n)[0]), readFileSync(join(dir, n)));
      }
    }
  }
  // Beside each WAV its signed files (issue 12: checkpoints, statement, signify, minisign). A cut
  // during DELETE may leave them without their WAV (they go after the WAV): orphans, counted.
  const all = mdir(image, '/RECORDS');
  const sidecar = /^REC(\d{5})\.(CKP|SHA|SIG|MSG)$/i;
  const orphans = all.filter((n) => sidecar.test(n) && !files.has(Number(sidecar.exec(n)[1])));
  const others = all.filter((n) => !RECORDING_NAME.test(n) && !sidecar.test(n));
  let journal = Buffer.alloc(0);
  if (mdir(image, '/SYSTEM').some((n) => /^JOURNAL\.BIN$/i.test(n))) {
    const r = mtool('mcopy', ['-n', '-o', '-i', image, '::/SYSTEM/JOURNAL.BIN', join(dir, 'journal.bin')]);
    if (r.status !== 0) throw new Error(`mcopy journal failed: ${r.stderr.toString()}`);
    journal = readFileSync(join(dir, 'journal.bin'));
  }
  return { files, ages, journal, others, orphans, dir };
}

function checkWav(file) {
  const off = CARD_LAYOUT.wavDataOffset;
  if (file.length < off + 8) return { ok: false, problem: `only ${file.length} bytes` };
  if (file.subarray(0, 4).toString('latin1') !== 'RIFF' || file.subarray(8, 12).toString('latin1') !== 'WAVE') return { ok: false, problem: 'not RIFF/WAVE' };
  if (file.readUInt32LE(4) !== file.length - 8) return { ok: false, problem: `RIFF size ${file.readUInt32LE(4)} in a file of ${file.length} bytes` };
  if (file.subarray(off - 8, off - 4).toString('latin1') !== 'data') return { ok: false, problem: 'no data chunk at 1016' };
  const dataSize = file.readUInt32LE(off - 4);
  if (off + dataSize > file.length) return { ok: false, problem: 'data chunk runs past the end' };
  const data = file.subarray(off, off + dataSize);
  // After the audio: the markers ("cue " and LIST/adtl with a labl per cue point) when there are
  // any, then the evid chunk, which ends the file.
  let at = off + dataSize + (dataSize & 1);
  const markers = [];
  let labels = 0;
  let evid = null;
  while (at + 8 <= file.length && !evid) {
    const id = file.subarray(at, at + 4).toString('latin1');
    const size = file.readUInt32LE(at + 4);
    const body = file.subarray(at + 8, at + 8 + size);
    if (body.length !== size) return { ok: false, problem: `the ${id} chunk runs past the end` };
    if (id === 'cue ' && !markers.length) {
      const count = body.readUInt32LE(0);
      if (size !== 4 + count * CUE_POINT_SIZE) return { ok: false, problem: `a cue chunk of ${size} bytes for ${count} points` };
      for (let i = 0; i < count; i++) {
        const pt = decodeStruct('CUE_POINT', body.subarray(4 + i * CUE_POINT_SIZE, 4 + (i + 1) * CUE_POINT_SIZE));
        if (pt.chunk.toString('latin1') !== 'data' || pt.name !== i + 1 || pt.position !== pt.sampleOffset) return { ok: false, problem: `cue point ${i + 1} is not the recorder's (id ${pt.name}, position ${pt.position}, offset ${pt.sampleOffset})` };
        markers.push(pt.sampleOffset);
      }
      if (!markers.length) return { ok: false, problem: 'an empty cue chunk' };
    } else if (id === 'LIST' && markers.length && !labels && body.subarray(0, 4).toString('latin1') === 'adtl') {
      for (let o = 4; o + 8 <= body.length; o += 8 + body.readUInt32LE(o + 4) + (body.readUInt32LE(o + 4) & 1)) {
        if (body.subarray(o, o + 4).toString('latin1') !== 'labl' || body.readUInt32LE(o + 8) !== labels + 1) return { ok: false, problem: `LIST/adtl entry ${labels + 1} is not the labl of cue point ${labels + 1}` };
        labels++;
      }
      if (labels !== markers.length) return { ok: false, problem: `${labels} labels for ${markers.length} cue points` };
    } else if (id === 'evid') {
      evid = decodeStruct('EVIDENCE_CHUNK', body);
      if (at + 8 + size + (size & 1) !== file.length) return { ok: false, problem: 'bytes after the evid chunk' };
    } else return { ok: false, problem: `a ${JSON.stringify(id)} chunk after the audio` };
    at += 8 + size + (size & 1);
  }
  if (!evid) return { ok: false, problem: 'no evid chunk after the audio' };
  if (markers.length && labels !== markers.length) return { ok: false, problem: 'cue points without their LIST/adtl labels' };
  for (let i = 1; i < markers.length; i++) if (markers[i] < markers[i - 1]) return { ok: false, problem: `marker ${i + 1} comes before marker ${i}` };
  if (markers.length && markers.at(-1) > dataSize / 2) return { ok: false, problem: `marker ${markers.length} at sample ${markers.at(-1)} is past the audio (${dataSize / 2} samples)` };
  const dataSha = sha256(data);
  if (evid.sha256.toString('hex') !== dataSha) return { ok: false, problem: 'evid SHA-256 differs from the audio' };
  if (Number(evid.sampleCount) !== dataSize / 2) return { ok: false, problem: 'evid sample count differs from the data size' };
  // The ramp: sample n is n mod 65536. Samples the ring buffer had to drop (the simulator starved
  // of CPU) show as forward jumps; they are judged by the caller against the overrun count.
  const gaps = [];
  let want = 0;
  for (let i = 0; i < dataSize / 2; i++) {
    const v = data.readUInt16LE(2 * i);
    if (v !== want) {
      gaps.push({ at: i, jump: (v - want) & 0xffff });
      if (gaps.length > 1000) break;
    }
    want = (v + 1) & 0xffff;
  }
  return { ok: true, samples: dataSize / 2, sampleRate: file.readUInt32LE(24), dataSha, evid, gaps, markers };
}

const NUMBERED_KINDS = new Set([JOURNAL_KIND.RECORDING, JOURNAL_KIND.FOUND_UNJOURNALED, JOURNAL_KIND.NUMBER_SPENT]);

function checkJournal(journal) {
  if (journal.length % JOURNAL_RECORD_SIZE !== 0) throw new Error(`journal is ${journal.length} bytes, not whole records`);
  const recs = [];
  const markers = new Map(); // recording number -> marker sample offsets, in marker order
  let prev = Buffer.alloc(32);
  for (let o = 0; o < journal.length; o += JOURNAL_RECORD_SIZE) {
    const raw = journal.subarray(o, o + JOURNAL_RECORD_SIZE);
    const r = decodeStruct('JOURNAL_RECORD', raw);
    if (!r.prevHash.equals(prev)) throw new Error(`journal record ${o / JOURNAL_RECORD_SIZE} does not chain to the one before`);
    if (r.index !== o / JOURNAL_RECORD_SIZE) throw new Error(`journal record ${o / JOURNAL_RECORD_SIZE} says index ${r.index}`);
    prev = createHash('sha256').update(raw).digest();
    // Records that carry a recording number (a recording, one found without its record, or a
    // number spent without a file); clock, key, epoch and lost-tail records carry none.
    if (NUMBERED_KINDS.has(r.kind)) recs.push(r);
    if (r.kind === JOURNAL_KIND.MARKER) {
      // A recording's markers: numbered 1..n in the order taken (overruns holds the number).
      const list = markers.get(r.number) ?? [];
      if (r.overruns !== list.length + 1) throw new Error(`journal record ${r.index}: marker ${r.overruns} of recording ${r.number} after ${list.length} marker(s)`);
      list.push(r.sampleCount);
      markers.set(r.number, list);
    }
  }
  const numbers = recs.map((r) => r.number);
  if (new Set(numbers).size !== numbers.length) throw new Error(`journal has a recording twice: ${numbers.join(',')}`);
  return Object.assign(recs, { markers });
}

/** The longest run of the simulator's ramp (each 16-bit sample the one before plus 1) in a raw
 * image; all-zero blocks are skipped. */
function longestRampRun(img) {
  const zero = Buffer.alloc(512);
  let best = 0;
  let run = 0;
  let prev = -1;
  for (let b = 0; b < img.length; b += 512) {
    if (img.subarray(b, b + 512).equals(zero)) {
      run = 0;
      prev = -1;
      continue;
    }
    for (let o = b; o < b + 512; o += 2) {
      const v = img.readUInt16LE(o);
      run = v !== 0 && v === ((prev + 1) & 0xffff) ? run + 1 : 0;
      if (run > best) best = run;
      prev = v;
    }
  }
  return best;
}

function fsck(image) {
  const r = spawnSync('fsck.fat', ['-n', image], { env: ENV, encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function ffprobeOk(path) {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate', '-of', 'json', path], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return `ffprobe failed: ${r.stderr}`;
  const j = JSON.parse(r.stdout);
  return j.streams?.[0]?.codec_name === 'pcm_s16le' ? null : `ffprobe: ${r.stdout}`;
}

// ---------------------------------------------------------------------------------------------
// The app

function startCli(args, timeoutMs) {
  const events = [];
  const onLine = (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      // not JSON
    }
  };
  // A CLI that cannot start shows as a failed run (exit code null).
  const p = spawnLines(process.execPath, [CLI, ...args], { name: 'recorder', timeoutMs, env: { ...ENV, CI: '1' }, onLine });
  p.proc.stdin.end();
  return { p: p.proc, events, get stderr() { return p.stderr.join(''); }, done: p.exit.then((s) => s.code) };
}

async function waitEvent(cli, pred, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const e = cli.events.find(pred);
    if (e) return e;
    if (cli.p.exitCode !== null || cli.p.signalCode !== null || Date.now() > end) return null;
    await sleep(1);
  }
}

/**
 * Library: every .wav equals the card's file as first seen (an encrypted copy: the WAV it was
 * decrypted to, and its .age the card's .AGE); .part files are prefixes; every manifest names the
 * markers of the card's file. With --encrypted, every copy must be decrypted and every one with
 * audio signed by the recorder (recovered ones too: the recorder seals them after the power comes
 * back).
 */
function checkLibrary(lib, everSeen) {
  const problems = [];
  const signed = { recovered: 0, stopped: 0 };
  let markers = 0;
  let names = [];
  try {
    names = readdirSync(lib);
  } catch {
    return { problems, numbers: new Set(), signed, markers };
  }
  const numbers = new Set();
  for (const n of names) {
    // The recorder's pin record, key files and journal copy (issue 12) are not recordings.
    if (n.endsWith('.json') && !n.startsWith('.') && !LIBRARY_FILE.test(n)) {
      const m = JSON.parse(readFileSync(join(lib, n), 'utf8'));
      const num = m.recording.number;
      numbers.add(num);
      if (O.encrypted) {
        if (!m.encryption) problems.push(`library copy of recording ${num} is not encrypted`);
        const status = m.evidence?.status ?? 'unsigned';
        if (status === 'signed') signed[m.recording.recovered ? 'recovered' : 'stopped']++;
        else if (m.recording.sampleCount > 0) problems.push(`recording ${num}${m.recording.recovered ? ' (recovered after a power cut)' : ''} is ${status}, not signed by the recorder`);
        if (!m.encryption?.derived) {
          problems.push(`library copy of recording ${num} was not decrypted with the owner key`);
          continue;
        }
      }
      const wav = readFileSync(join(lib, O.encrypted ? m.encryption.derived.name : m.file.name));
      const want = everSeen.get(num);
      if (!want) problems.push(`library has recording ${num}, never seen on the card`);
      else {
        if (sha256(wav) !== want.sha) problems.push(`library copy of recording ${num} differs from the card`);
        // The encrypted copy is the card's .AGE byte for byte.
        if (O.encrypted && !(want.age && readFileSync(join(lib, m.file.name)).equals(want.age))) problems.push(`library ${m.file.name} (recording ${num}) is not the card's .AGE`);
        // The app's manifest names the markers the card's file holds.
        const named = (m.markers ?? []).map((x) => x.sampleOffset);
        if (want.markers && named.join(',') !== want.markers.join(',')) problems.push(`the manifest of recording ${num} names markers at [${named.join(', ')}], the card's file holds [${want.markers.join(', ')}]`);
        markers += named.length;
      }
    } else if (n.endsWith('.part')) {
      // A partial copy: of the WAV, or (encrypted) of the .AGE as the card holds it.
      const [, num, ext] = /_(\d+)(?:-\d+)?\.(wav|age)\.part$/.exec(n) ?? [];
      const want = everSeen.get(Number(num));
      const whole = ext === 'age' ? want?.age : want?.bytes;
      const part = readFileSync(join(lib, n));
      if (!whole) problems.push(`${n}: partial copy of a recording never seen`);
      else if (part.length > whole.length || !part.equals(whole.subarray(0, part.length))) problems.push(`${n} is not a prefix of the card's file`);
    }
  }
  return { problems, numbers, signed, markers };
}

// ---------------------------------------------------------------------------------------------
// The campaign

const report = {
  config: { ...O, sim: O.sim.replace(root + '/', ''), out: undefined },
  startedAt: new Date().toISOString(),
  elapsedMs: 0,
  cuts: 0,
  sequences: 0,
  byPhase: Object.fromEntries([...PHASES, 'recovery'].map((p) => [p, { cuts: 0, failed: 0, ms: 0 }])),
  recovered: 0,
  finishedAtStop: 0,
  /** Markers in the recordings checked on the card after the cuts (each one the journal's). */
  markersChecked: 0,
  /** Markers named by the manifests of the final syncs' libraries (each one the card's). */
  markersInLibrary: 0,
  /** Cuts while taking a marker: the last press journaled before the cut, or not yet. */
  markerCuts: { taken: 0, notTaken: 0 },
  /** Marker cuts where the recording had not started (its start press not taken): cut without the press. */
  markerCutsNotRecording: 0,
  encrypted: O.encrypted,
  ageDecryptions: 0,
  /** --encrypted: recordings signed by the recorder in the final syncs' libraries (recovered / stopped). */
  signedEncrypted: { recovered: 0, stopped: 0 },
  worstLossSeconds: null,
  worstLoss: null,
  lossHistogram: { '<0 (more than INFO said)': 0, '0-0.25 s': 0, '0.25-0.5 s': 0, '0.5-0.75 s': 0, '0.75-1 s': 0, '>1 s': 0 },
  fsckRuns: 0,
  filesChecked: 0,
  ffprobeRuns: 0,
  formatsCutUnformatted: 0,
  wipesDone: 0,
  wipesResumed: 0,
  wipesNotBegun: 0,
  /** --encrypted wipe cuts: .AGE files of the card before the wipe whose file key the NVM held then (unsealed), and key scans after. */
  wipeAgeFiles: 0,
  wipeKeysInNvmBefore: 0,
  wipeNvmScans: 0,
  appSyncRuns: 0,
  appSyncIncomplete: 0,
  appIncomplete: [],
  journalGaps: { spentNumbers: 0, afterFormat: 0, missingAfterFormat: 0, unexplained: [] },
  deletesVerifiedThenCut: 0,
  /** Signed files left without their WAV by a cut during DELETE, seen after a cut (names). */
  orphanSidecars: [],
  failures: [],
  /** Recordings with samples dropped by a starved simulator (ring overruns), each counted. */
  overrunRecordings: [],
};
const overrunSeen = new Set();

const tmpRoot = mkdtempSync(join(tmpdir(), 'rec-power-'));
// --encrypted: the owner's age identity, its recipient (age1...) and the recipient's 32 bytes.
let ownerKey = null;
let ownerRecipient = null;
let recipientBytes = null;
if (O.encrypted) {
  ownerKey = join(tmpRoot, 'owner.txt');
  const made = spawnSync('age-keygen', ['-o', ownerKey], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`age-keygen: ${made.stderr}`);
  const recipient = /# public key: (age1[a-z0-9]+)/.exec(readFileSync(ownerKey, 'utf8'))[1];
  ownerRecipient = recipient;
  const charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  let acc = 0;
  let bits = 0;
  const bytes = [];
  for (const ch of recipient.slice(recipient.lastIndexOf('1') + 1, -6)) {
    acc = ((acc << 5) | charset.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 0xff);
    }
  }
  recipientBytes = Buffer.from(bytes);
}
// A private copy of the simulator: a rebuild of firmware/build during a long campaign must not
// pull the binary from under it.
const simBin = join(tmpRoot, 'recorder-sim');
copyFileSync(O.sim, simBin);
chmodSync(simBin, 0o755);
mkdirSync(O.out, { recursive: true });
const log = (s) => {
  if (!O.quiet) console.log(s);
};

function pickPhase(r) {
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  let x = r() * total;
  for (const [k, w] of Object.entries(mix)) {
    if ((x -= w) < 0) return k;
  }
  return 'recording';
}

function lossBucket(s) {
  if (s < 0) return '<0 (more than INFO said)';
  if (s <= 0.25) return '0-0.25 s';
  if (s <= 0.5) return '0.25-0.5 s';
  if (s <= 0.75) return '0.5-0.75 s';
  if (s <= 1) return '0.75-1 s';
  return '>1 s';
}

/**
 * Starts a recording and polls INFO until `ms` real ms have passed, pressing the button for a
 * marker at each of `markerAtMs` (real ms after the start); returns the last INFO.
 */
async function recordFor(sim, c, ms, cutAtEnd, markerAtMs = []) {
  const from = sim.lines.length;
  sim.send('press');
  const t0 = Date.now();
  // A marker press only once the microphone is on: a press the recorder took before it had
  // started (its start press not taken yet) would start the recording instead.
  const micOnNow = () => sim.lines.slice(from).some((l) => /^mic on/.test(l));
  let pressed = 0;
  const presses = markerAtMs.filter((t) => t < ms).map((t) =>
    setTimeout(() => {
      if (sim.alive && micOnNow()) {
        sim.send('press');
        pressed++;
      }
    }, t),
  );
  let last = null;
  let cut = false;
  const timer = cutAtEnd
    ? setTimeout(() => {
        cut = true;
        sim.proc.kill('SIGKILL');
        c.fail(new Error('power cut'));
      }, ms)
    : null;
  while (!cut && Date.now() - t0 < ms) {
    try {
      const info = await c.ok('INFO', {}, 2000);
      if (!cut) last = info;
    } catch {
      break;
    }
  }
  for (const t of presses) clearTimeout(t);
  if (timer) {
    await Promise.race([sim.sim.exit, sleep(5000)]);
    clearTimeout(timer);
    await sim.cut();
  }
  return { last, micOn: micOnNow(), pressed };
}

/**
 * Real ms after a recording's start press at which to press for markers: none to two, in a
 * recording of `deviceMs`, from 400 device ms after the start to 400 before the end, 300 apart.
 */
function markerTimes(r, deviceMs) {
  const count = Math.floor(r() * 3);
  const times = [];
  for (let i = 0; i < count; i++) times.push(400 + r() * Math.max(0, deviceMs - 800));
  times.sort((a, b) => a - b);
  return times.filter((t, i) => t <= deviceMs - 400 && (i === 0 || t - times[i - 1] >= 300)).map((t) => t / O.speed);
}

/** Waits until the recorder lists no recording it is still sealing (SEALING flag). */
async function waitSealed(link, timeoutMs) {
  const c = await Client.open(link);
  try {
    await c.ok('HELLO', { maxPayload: 4096 });
    const end = Date.now() + timeoutMs;
    for (;;) {
      const sealing = (await c.list()).filter((e) => (e.flags & RECORD_FLAGS.SEALING) !== 0);
      if (!sealing.length) return;
      if (Date.now() > end) throw new Error(`the recorder is still sealing recording(s) ${sealing.map((e) => e.number).join(', ')} after ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  } finally {
    await c.close();
  }
}

async function runSequence(seqNo, r, budget) {
  const dir = join(tmpRoot, `seq-${seqNo}`);
  mkdirSync(dir, { recursive: true });
  const image = join(dir, 'card.img');
  const link = join(dir, 'link');
  const lib = join(dir, 'library');
  const state = {
    files: new Map(), // number -> { sha, bytes }
    ages: new Map(), // --encrypted: number -> the .AGE as last seen on the card
    everSeen: new Map(), // number -> { sha, bytes } as first finished on the card
    journal: Buffer.alloc(0),
    maxNumber: 0,
    label: '',
    sampleRate: 16000,
    deviceId: 0n,
  };
  // A first boot creates and formats the card.
  {
    const sim = await Sim.start(image, link);
    const c = await Client.open(link);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    state.deviceId = info.deviceId;
    state.sampleRate = info.sampleRate;
    state.label = info.label;
    // Encrypted: the device key first, so every recording is signed and sealed (the app's first
    // sync would make it; this campaign syncs only at the end of a sequence).
    if (O.encrypted) await c.ok('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: randomBytes(32) }, 15_000);
    await c.close();
    // Encrypted: the owner's recipient given to the recorder as the app gives it.
    if (O.encrypted) {
      const set = spawnSync(process.execPath, [CLI, 'recipient', 'set', ownerRecipient, '--port', link, '--library', join(dir, 'keys'), '--json'], { env: { ...ENV, CI: '1' }, encoding: 'utf8', timeout: 60_000 });
      const res = set.stdout.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).findLast((e) => e?.type === 'result');
      if (set.status !== 0 || res?.recipient !== ownerRecipient) throw new Error(`recorder recipient set failed (${set.status}): ${set.stdout.slice(-300)}${set.stderr.slice(-300)}`);
    }
    if ((await sim.quit()) !== 0) throw new Error('first quit failed');
    // The journal the first boot began: a wipe or format at the first cut is judged against it.
    state.journal = readCard(image, dir).journal;
  }

  for (let k = 0; k < O.perSequence && budget.left() > 0; k++) {
    const phase = pickPhase(r);
    const cutNo = report.cuts + 1;
    const ctx = { phase, cut: cutNo, seq: seqNo, details: {} };
    const started = Date.now();
    try {
      await oneCut(ctx, state, { image, link, lib, dir }, r);
      report.byPhase[phase].ms += Date.now() - started;
      report.byPhase[phase].cuts++;
    } catch (e) {
      report.byPhase[phase].cuts++;
      report.byPhase[phase].failed++;
      const keep = join(O.out, 'failures', `cut-${cutNo}`);
      if (report.failures.length < 10) {
        mkdirSync(keep, { recursive: true });
        spawnSync('cp', ['--sparse=always', image, `${image}.settings`, `${image}.nvm`, keep]);
      }
      report.failures.push({ cut: cutNo, sequence: seqNo, phase, message: String(e?.message ?? e), details: ctx.details, image: report.failures.length < 10 ? keep : null });
      log(`cut ${cutNo} (${phase}) FAILED: ${e?.message ?? e}`);
      killAllNow();
      return; // the card is in an unknown state: next sequence
    } finally {
      report.cuts++;
      budget.used();
    }
    if (report.cuts % 25 === 0) log(`${report.cuts} cuts, ${report.failures.length} failures, worst loss ${report.worstLossSeconds?.toFixed(3) ?? '-'} s`);
  }
  // End of the sequence: a sync with no cut copies everything, and the library verifies. With
  // --encrypted the sync decrypts with the owner key, after the recorder has sealed what it
  // recovered (a copy made while SEALING would be "signature pending").
  const sim = await Sim.start(image, link);
  if (O.encrypted) await waitSealed(link, 60_000);
  const cli = startCli(['sync', '--port', link, '--dest', lib, '--json', ...(O.encrypted ? ['--identity', ownerKey] : [])], 120_000);
  const code = await cli.done;
  report.appSyncRuns++;
  await sim.quit();
  const lc = checkLibrary(lib, state.everSeen);
  const v = spawnSync(process.execPath, [CLI, 'verify', lib, '--json'], { env: { ...ENV, CI: '1' }, encoding: 'utf8', timeout: 120_000 });
  const problems = [...lc.problems];
  const res = cli.events.findLast((e) => e.type === 'result');
  const gapsExplained = noteJournalGaps(cli.events, state, { cut: null, phase: 'final sync' });
  // A sync is "not ok" when the journal shows gaps; a gap is harmless when no recording the card
  // ever held is missing (a number spent by a cut at the start of a recording, or a format).
  const onlyExplainedGaps = code === 1 && res?.result?.failed?.length === 0 && res.result.journal === 'gap' && gapsExplained;
  if (code !== 0 && !onlyExplainedGaps) problems.push(`final sync failed (${code}): ${cli.events.filter((e) => e.type === 'error' || e.type === 'file.failed' || e.type === 'warning').map((e) => `${e.code}: ${e.message}`).join(' | ') || cli.stderr.slice(-300)}`);
  for (const n of state.files.keys()) if (!lc.numbers.has(n)) problems.push(`recording ${n} is on the card but not in the library after the final sync`);
  if (lc.numbers.size && v.status !== 0) problems.push(`recorder verify failed: ${v.stdout.slice(-500)}`);
  report.markersInLibrary += lc.markers;
  report.signedEncrypted.recovered += lc.signed.recovered;
  report.signedEncrypted.stopped += lc.signed.stopped;
  if (problems.length) {
    report.failures.push({ cut: null, sequence: seqNo, phase: 'final sync', message: problems.join('; ') });
    log(`sequence ${seqNo} final sync FAILED: ${problems.join('; ')}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

async function oneCut(ctx, state, paths, r) {
  const { image, link, lib, dir } = paths;
  const { phase } = ctx;
  const d = ctx.details;
  let sim = await Sim.start(image, link);
  let c = await Client.open(link);
  let info = await c.ok('HELLO', { maxPayload: 4096 });
  if (state.recipientErased) {
    // A wipe erased the owner's recipient (judged at the last cut): set it again, as the app does.
    const got = await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient: recipientBytes }, 10_000);
    if (!(got.flags & RECIPIENT_FLAGS.SET) || !got.recipient.equals(recipientBytes)) throw new Error('SET_RECIPIENT after a wipe did not keep the owner key');
    state.recipientErased = false;
  }
  const rate = info.sampleRate;
  let interrupted = null; // { number|null, lastSamples, micOn }
  let allowedGone = () => false;
  let settingsBefore = { label: state.label, sampleRate: state.sampleRate };
  let settingsNew = null;
  let formatCut = false;
  let wipeCut = false;
  let wipeAges = null; // --encrypted wipe: the .AGE files on the card before it
  let cliRun = null;

  const quickRecording = (seconds) => recordWithButton(sim.sim, seconds, O.speed);

  if (phase === 'recording') {
    // Up to 6 s of device time; a quarter of the cuts land in the first half second.
    const deviceMs = r() < 0.25 ? r() * 500 : 500 + r() * 5500;
    const marks = markerTimes(r, deviceMs);
    const { last, micOn, pressed } = await recordFor(sim, c, deviceMs / O.speed, true, marks);
    d.deviceMs = Math.round(deviceMs);
    d.markersPressed = pressed;
    interrupted = { last, micOn };
  } else if (phase === 'marker') {
    // A recording with a marker or two, then one more press and the cut while the recorder takes
    // it: the simulator applies a press whole (down and up) as it reads it, and the recorder's
    // next loop takes the marker and appends its journal record, within a few ms; the cut lands
    // at once (half the cuts: the press may not even have been read) or up to 3 ms after it was
    // sent, before or after the record (the report counts both).
    const deviceMs = 600 + r() * 3400;
    const marks = markerTimes(r, deviceMs);
    const { last, micOn, pressed } = await recordFor(sim, c, deviceMs / O.speed, false, marks);
    const delay = r() < 0.5 ? 0 : r() * 3;
    d.delayMs = Number(delay.toFixed(2));
    // Not recording (the start press not taken): no marker press, which would start one; a cut.
    if (micOn) sim.send('press');
    else report.markerCutsNotRecording++;
    if (delay) await sleep(delay);
    await sim.cut();
    d.markersPressed = pressed + (micOn ? 1 : 0);
    interrupted = { last, micOn, markerCut: micOn };
  } else if (phase === 'stop') {
    const deviceMs = 300 + r() * 3000;
    const marks = markerTimes(r, deviceMs);
    const { last, micOn, pressed } = await recordFor(sim, c, deviceMs / O.speed, false, marks);
    d.markersPressed = pressed;
    const from = sim.lines.length;
    sim.send('stop');
    // The stop: finalising writes the rest of the ring, the evid chunk, the header sizes, the FAT
    // trim and the journal record. Cut within a few real milliseconds of it.
    const delay = r() < 0.5 ? r() * 3 : r() * 25;
    d.delayMs = Number(delay.toFixed(2));
    await waitUntil(() => sim.lines.slice(from).some((l) => /^ok stop/.test(l)), 5000);
    await sleep(delay);
    await sim.cut();
    interrupted = { last, micOn, atStop: true };
  } else if (phase === 'sync' || phase === 'delete') {
    // Make sure there is something new to copy (and so to delete).
    await quickRecording(0.5 + r() * 2);
    if (phase === 'delete' && r() < 0.5) await quickRecording(0.5 + r());
    // Remember the new recordings exactly as the card holds them before the app touches them
    // (they may be copied and deleted before the next look at the card).
    await c.close();
    c = null;
    if ((await sim.quit()) !== 0) throw new Error('clean quit before the sync failed');
    const before = readCard(image, dir);
    rememberFirstSeen(state, before);
    d.onCard = [...before.files.keys()];
    sim = await Sim.start(image, link);
    // Encrypted: a copy made while the recorder still seals a recording it recovered would be
    // "signature pending"; the app decrypts with the owner key, and deletes only what it opened.
    if (O.encrypted) await waitSealed(link, 60_000);
    const args = ['sync', '--port', link, '--dest', lib, '--json', '--timeout', '500', ...(O.encrypted ? ['--identity', ownerKey] : [])];
    if (phase === 'delete') args.push('--delete-after-verify');
    cliRun = startCli(args, 60_000);
    report.appSyncRuns++;
    let delay;
    if (phase === 'sync') {
      await waitEvent(cliRun, (e) => e.type === 'list.received', 15_000);
      delay = r() * 60;
    } else {
      await waitEvent(cliRun, (e) => e.type === 'file.verified' || (e.type === 'file.skipped' && e.reason === 'already-verified'), 15_000);
      delay = r() * 12;
    }
    d.delayMs = Number(delay.toFixed(2));
    await sleep(delay);
    await sim.cut();
    // What the app had verified before the cut may legitimately be gone from the card.
    allowedGone = (n, libNumbers) => phase === 'delete' && libNumbers.has(n);
  } else if (phase === 'format') {
    const t0 = Date.now();
    const delay = r() * (budgetFormatMs + 5);
    d.delayMs = Number(delay.toFixed(2));
    const pending = c.ok('FORMAT', { magic: PROTOCOL.formatMagic, deviceId: state.deviceId }, 30_000).then(
      () => Date.now() - t0,
      () => null,
    );
    await sleep(delay);
    await sim.cut();
    await c.close();
    const took = await pending;
    if (took !== null) d.formatCompletedBeforeCut = true;
    formatCut = true;
    state.formats = (state.formats ?? 0) + 1;
    allowedGone = () => true;
  } else if (phase === 'wipe') {
    // As the app does: the counts it saw in LIST, so the recorder obeys.
    const seen = await c.list();
    const newest = seen.reduce((m, e) => Math.max(m, e.number), 0);
    if (O.encrypted) {
      // The .AGE files the card held (as judged after the last cut: nothing was recorded since),
      // and whether the flash still held their file keys (recordings not sealed yet).
      wipeAges = [...state.ages.values()];
      if (wipeAges.length !== seen.length) throw new Error(`LIST has ${seen.length} recordings before the wipe, the card had ${wipeAges.length} .AGE files`);
      const before = fileKeyHits(readFileSync(`${image}.nvm`), wipeAges);
      d.ageFiles = wipeAges.length;
      d.keysInNvmBefore = new Set(before.map((h) => h.file)).size;
      report.wipeAgeFiles += d.ageFiles;
      report.wipeKeysInNvmBefore += d.keysInNvmBefore;
    }
    const delay = r() * (budgetFormatMs + 10);
    d.delayMs = Number(delay.toFixed(2));
    const pending = c.ok('WIPE', { magic: PROTOCOL.wipeMagic, recordings: seen.length, newestNumber: newest, reserved: 0, deviceId: state.deviceId }, 30_000).then(
      () => true,
      () => null,
    );
    await sleep(delay);
    await sim.cut();
    await c.close();
    if (await pending) d.wipeCompletedBeforeCut = true;
    formatCut = true;
    wipeCut = true;
    state.formats = (state.formats ?? 0) + 1;
    allowedGone = () => true;
  } else if (phase === 'settings') {
    const which = r() < 0.5 ? 'label' : 'rate';
    if (which === 'label') {
      settingsNew = { label: `cut-${ctx.cut}-${Math.floor(r() * 1e6)}`, sampleRate: state.sampleRate };
      void c.call('SET_LABEL', { label: settingsNew.label }, 5000).catch(() => undefined);
    } else {
      const rates = [8000, 16000, 32000, 48000].filter((x) => x !== state.sampleRate);
      settingsNew = { label: state.label, sampleRate: rates[Math.floor(r() * rates.length)] };
      void c.call('SETTINGS', { setMask: SETTINGS_MASK.SAMPLE_RATE, sampleRate: settingsNew.sampleRate }, 5000).catch(() => undefined);
    }
    const delay = r() * 4;
    d.delayMs = Number(delay.toFixed(2));
    await sleep(delay);
    await sim.cut();
  }
  if (c) await c.close();
  d.rate = rate;

  // A second cut while the recorder boots and recovers the interrupted recording.
  if ((phase === 'recording' || phase === 'stop' || phase === 'marker') && r() < O.recoveryCuts) {
    const s2 = await Sim.start(image, link, { waitReady: false });
    const delay = r() * 15;
    await sleep(delay);
    await s2.cut();
    report.byPhase.recovery.cuts++;
    report.cuts++;
    d.recoveryCutMs = Number(delay.toFixed(2));
  }

  // Boot again on the same image and look.
  sim = await Sim.start(image, link);
  if (cliRun) {
    // The app waits for the recorder to come back, reconnects and carries on.
    const code = await cliRun.done;
    const res = cliRun.events.findLast((e) => e.type === 'result');
    const failed = res?.result?.failed ?? null;
    if (code !== 0 && (!failed || failed.length || res.result.cancelled)) {
      report.appSyncIncomplete++;
      const why = cliRun.events.filter((e) => e.type === 'error' || e.type === 'file.failed').map((e) => `${e.code}: ${e.message}`);
      const tail = cliRun.events.slice(-4).map((e) => `${e.type}${e.code ? ` ${e.code}` : ''}${e.message ? `: ${e.message}` : ''}`);
      report.appIncomplete.push({ cut: ctx.cut, phase, exit: code, why: why.length ? why : tail.length ? tail : [cliRun.stderr.slice(-300)] });
    }
    noteJournalGaps(cliRun.events, state, ctx);
    if (phase === 'delete' && cliRun.events.some((e) => e.type === 'file.deleted')) report.deletesVerifiedThenCut++;
  }
  c = await Client.open(link);
  info = await c.ok('HELLO', { maxPayload: 4096 });
  if (info.flags & INFO_FLAGS.WIPE_PENDING) throw new Error('the boot after the cut did not finish the wipe (WIPE_PENDING with the card in)');
  if (formatCut && !wipeCut && info.cardState === CARD_STATE.UNFORMATTED) {
    // Cut before the new file system was complete: the recorder says so and formats on request.
    report.formatsCutUnformatted++;
    d.unformatted = true;
    await c.ok('FORMAT', { magic: PROTOCOL.formatMagic, deviceId: state.deviceId }, 30_000);
    info = await c.ok('INFO');
  }
  if (info.cardState !== CARD_STATE.OK) throw new Error(`card state ${info.cardState} after the reboot`);
  if (info.recState !== REC_STATE.IDLE) throw new Error(`recorder state ${info.recState} after the reboot`);
  const list = await c.list();
  await c.close();
  const code = await sim.quit();
  if (code !== 0) throw new Error(`clean quit after the reboot exited ${code}`);

  // The image, as the reference tools see it.
  const f = fsck(image);
  report.fsckRuns++;
  if (!f.ok) throw new Error(`fsck.fat -n: ${f.output.slice(0, 800)}`);
  const card = readCard(image, dir);
  if (card.others.length) throw new Error(`unexpected files in RECORDS: ${card.others.join(', ')}`);
  for (const n of card.orphans) if (!report.orphanSidecars.includes(n)) report.orphanSidecars.push(n);
  const journal = checkJournal(card.journal);
  const byNumber = new Map(journal.map((j) => [j.number, j]));
  const listed = new Map(list.map((e) => [e.number, e]));
  if (listed.size !== card.files.size) throw new Error(`LIST has ${listed.size} recordings, the card ${card.files.size}`);
  // Recordings finished on the card are immutable: remember each as first seen.
  rememberFirstSeen(state, card);
  const libCheck = checkLibrary(lib, state.everSeen);
  if (libCheck.problems.length) throw new Error(libCheck.problems.join('; '));

  // Settings are the old or the new ones.
  if (settingsNew) {
    const label = info.label;
    const okLabel = label === settingsBefore.label || label === settingsNew.label;
    const okRate = info.sampleRate === settingsBefore.sampleRate || info.sampleRate === settingsNew.sampleRate;
    if (!okLabel || !okRate) throw new Error(`settings after the cut: label ${JSON.stringify(label)}, rate ${info.sampleRate}; before ${JSON.stringify(settingsBefore)}, new ${JSON.stringify(settingsNew)}`);
  }
  state.label = info.label;
  state.sampleRate = info.sampleRate;

  // The journal is append-only (a format starts a new one).
  const formattedNow = formatCut && (card.journal.length < state.journal.length || !card.journal.subarray(0, state.journal.length).equals(state.journal));
  if (wipeCut && formattedNow) {
    // The wipe happened (before the cut, or finished by the boot): nothing of the old card left.
    const recs = [];
    for (let o = 0; o < card.journal.length; o += JOURNAL_RECORD_SIZE) recs.push(decodeStruct('JOURNAL_RECORD', card.journal.subarray(o, o + JOURNAL_RECORD_SIZE)));
    if (recs[0]?.kind !== JOURNAL_KIND.EPOCH_START || recs[1]?.kind !== JOURNAL_KIND.WIPED) throw new Error(`after a wipe the journal is ${recs.map((x) => x.kind).join(',')}, not EPOCH_START then WIPED`);
    const resumed = (recs[1].flags & RECORD_FLAGS.RECOVERED) !== 0;
    if (card.files.size !== 0) throw new Error(`after a wipe the card holds recordings ${[...card.files.keys()].join(', ')}`);
    const run = longestRampRun(readFileSync(image));
    if (run > rate / 10) throw new Error(`after a wipe a run of ${run} ramp samples is left in the raw image`);
    if (O.encrypted) {
      // Crypto-erase: no recipient (INFO of a boot without --recipient, and NVM sectors 4 and 5
      // blank) and no 16-byte window of the flash opens any .AGE the card held before the wipe.
      if (info.flags & INFO_FLAGS.ENCRYPTING) throw new Error(`after a wipe ${resumed ? 'finished by this boot' : 'done before the cut'} INFO still says ENCRYPTING (the recipient is still set)`);
      const nvm = readFileSync(`${image}.nvm`);
      const rcpt = nvm.subarray(4 * 4096, 6 * 4096);
      if (!rcpt.every((b) => b === 0xff)) throw new Error('after a wipe NVM sectors 4 and 5 (the recipient) are not blank');
      const left = fileKeyHits(nvm, wipeAges);
      report.wipeNvmScans++;
      if (left.length) throw new Error(`after a wipe the NVM still holds the file key of ${left.map((h) => `.AGE #${h.file + 1} of ${wipeAges.length} at offset ${h.offset}`).join(', ')}`);
    }
    report.wipesDone++;
    if (resumed) report.wipesResumed++;
    if (O.encrypted) state.recipientErased = true;
    d.wiped = true;
  } else if (wipeCut) {
    // Not begun: the card is as before (checked below), and so is the recipient in the NVM.
    if (O.encrypted && !(info.flags & INFO_FLAGS.ENCRYPTING)) throw new Error('a wipe that had not begun cleared the recipient');
    report.wipesNotBegun++;
  }
  if (!formatCut && !card.journal.subarray(0, state.journal.length).equals(state.journal)) throw new Error('the journal is not an extension of the one before the cut');

  // Recordings that existed are unchanged (or legitimately gone).
  for (const [n, want] of state.files) {
    const got = card.files.get(n);
    if (!got) {
      if (!allowedGone(n, libCheck.numbers)) throw new Error(`recording ${n} disappeared`);
      continue;
    }
    if (sha256(got) !== want.sha) throw new Error(`recording ${n} changed`);
  }
  if (formatCut && card.files.size > 0 && card.files.size < state.files.size) d.formatPartial = true;

  // Every recording on the card: valid, listed, journaled.
  const newOnes = [];
  for (const [n, bytes] of card.files) {
    const w = checkWav(bytes);
    report.filesChecked++;
    if (!w.ok) throw new Error(`recording ${n}: ${w.problem}`);
    // Its markers are the journal's markers of it that fall inside its audio (a marker taken in the
    // audio a power cut lost is journaled, but has no place in the file).
    const journaled = (journal.markers.get(n) ?? []).filter((x) => x <= w.samples);
    if (w.markers.join(',') !== journaled.join(',')) throw new Error(`recording ${n}: markers at samples [${w.markers.join(', ')}], the journal says [${journaled.join(', ')}] inside its ${w.samples} samples`);
    report.markersChecked += w.markers.length;
    if (w.gaps.length) {
      // Only dropped samples, and counted: the evid overrun count equals the samples skipped (a
      // recovered recording's count is lost with the RAM: 0, so forward jumps only).
      const skipped = w.gaps.reduce((a, g) => a + g.jump, 0);
      const overruns = Number(w.evid.overruns);
      const recoveredFlag = (Number(w.evid.flags) & RECORD_FLAGS.RECOVERED) !== 0;
      const explained = overruns > 0 ? (skipped - overruns) % 65536 === 0 : recoveredFlag && w.gaps.every((g) => g.jump < 32768);
      if (!explained) throw new Error(`recording ${n}: the ramp breaks at sample ${w.gaps[0].at} (${w.gaps.length} break(s), ${skipped} samples skipped, ${overruns} overruns counted)`);
      const key = `${ctx.seq}:${n}`;
      if (!overrunSeen.has(key)) {
        overrunSeen.add(key);
        report.overrunRecordings.push({ cut: ctx.cut, recording: n, skippedSamples: skipped, overrunsCounted: overruns, recovered: recoveredFlag });
      }
    }
    const e = listed.get(n);
    if (!e || e.state !== RECORDING_STATE.FINISHED) throw new Error(`recording ${n} is not listed as finished`);
    if (e.sha256.toString('hex') !== w.dataSha) throw new Error(`recording ${n}: LIST SHA-256 differs from the file`);
    const j = byNumber.get(n);
    if (!j) throw new Error(`recording ${n} has no journal record`);
    if (j.sha256.toString('hex') !== w.dataSha || j.sampleCount !== w.samples) throw new Error(`recording ${n}: journal record differs from the file`);
    if (!state.files.has(n)) newOnes.push(n);
  }
  for (const n of newOnes) {
    if (n <= state.maxNumber) throw new Error(`recording number ${n} was used before (highest seen ${state.maxNumber})`);
  }
  const quick = phase === 'sync' || phase === 'delete';
  if (!interrupted && !quick && newOnes.length) throw new Error(`new recordings appeared: ${newOnes.join(', ')}`);

  if (interrupted) {
    const { last, micOn } = interrupted;
    const expectNumber = last && last.currentNumber ? last.currentNumber : null;
    if (newOnes.length > 1) throw new Error(`more than one new recording: ${newOnes.join(', ')}`);
    if (expectNumber !== null && newOnes[0] !== expectNumber) throw new Error(`recording ${expectNumber} was being recorded, but the card has ${newOnes.join(', ') || 'no new recording'}`);
    if (micOn && newOnes.length === 0) throw new Error('the microphone had started, but no recording is on the card');
    if (newOnes.length === 1) {
      const n = newOnes[0];
      const e = listed.get(n);
      const j = byNumber.get(n);
      const journaledMarkers = journal.markers.get(n)?.length ?? 0;
      if (journaledMarkers > d.markersPressed) throw new Error(`recording ${n} has ${journaledMarkers} markers journaled, ${d.markersPressed} presses were made`);
      d.markersJournaled = journaledMarkers;
      if (interrupted.markerCut) report.markerCuts[journaledMarkers === d.markersPressed ? 'taken' : 'notTaken']++;
      const samples = e.sampleCount;
      const recovered = (e.flags & RECORD_FLAGS.RECOVERED) !== 0;
      if (recovered) {
        report.recovered++;
        if (e.stopReason !== STOP_REASON.POWER_LOSS || j.stopReason !== STOP_REASON.POWER_LOSS) throw new Error(`recovered recording ${n} has stop reason ${e.stopReason}/${j.stopReason}`);
      } else {
        if (!interrupted.atStop) throw new Error(`recording ${n} was cut while recording but is not marked recovered`);
        if (e.stopReason !== STOP_REASON.BUTTON) throw new Error(`recording ${n} finished with stop reason ${e.stopReason}`);
        report.finishedAtStop++;
      }
      if (last && last.currentNumber === n) {
        const lastSamples = last.currentSamples;
        const loss = (lastSamples - samples) / rate;
        d.lastInfoSamples = lastSamples;
        d.samples = samples;
        d.lossSeconds = Number(loss.toFixed(4));
        // A starved simulator (samples dropped, above) has a backlog the promise cannot cover.
        const starved = checkWav(card.files.get(n)).gaps.length > 0;
        if (starved) {
          d.starved = true;
          report.worstLossStarvedSeconds = Math.max(report.worstLossStarvedSeconds ?? -Infinity, loss);
        } else {
          report.lossHistogram[lossBucket(loss)]++;
          if (report.worstLossSeconds === null || loss > report.worstLossSeconds) {
            report.worstLossSeconds = loss;
            report.worstLoss = { cut: ctx.cut, phase, lastInfoSamples: lastSamples, recoveredSamples: samples, sampleRate: rate, seconds: Number(loss.toFixed(4)) };
          }
        }
        if (lastSamples - samples > rate + 256 && !starved) throw new Error(`recording ${n} lost ${loss.toFixed(3)} s against the last INFO (${lastSamples} samples, ${samples} kept)`);
      }
      if (O.ffprobe === 'all' || (O.ffprobe === 'some' && ctx.cut % 5 === 0)) {
        report.ffprobeRuns++;
        const problem = ffprobeOk(join(card.dir, `REC${String(n).padStart(5, '0')}.WAV`));
        if (problem) throw new Error(`recording ${n}: ${problem}`);
      }
    }
  }

  // What the library holds that the card lost must be exactly what the app verified.
  for (const n of state.files.keys()) {
    if (!card.files.has(n) && !formatCut && !libCheck.numbers.has(n)) throw new Error(`recording ${n} was deleted without a verified copy`);
  }

  // New state.
  state.files = new Map([...card.files].map(([n, b]) => [n, { sha: sha256(b), bytes: b }]));
  state.ages = card.ages;
  state.journal = card.journal;
  state.maxNumber = Math.max(state.maxNumber, ...card.files.keys(), ...journal.map((j) => j.number));
  if (formattedNow) d.formatted = true;
}

/**
 * Remembers each finished recording of `card` (readCard) as first seen: its WAV (an .AGE's
 * decrypted WAV), markers and, encrypted, the .AGE itself. Finished recordings never change, so a
 * library copy must equal this.
 */
function rememberFirstSeen(state, card) {
  for (const [n, b] of card.files) {
    if (state.everSeen.has(n)) continue;
    const w = checkWav(b);
    state.everSeen.set(n, { sha: sha256(b), bytes: b, markers: w.ok ? w.markers : null, age: card.ages.get(n) ?? null });
  }
}

async function waitUntil(f, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(1);
  }
}

/**
 * Counts the journal gaps the app reported and says whether every one is explained: the numbers
 * missing from the journal were never on the card (spent by a cut before the file existed), and
 * records "disappeared" only after a format.
 */
function noteJournalGaps(events, state, ctx) {
  const checked = events.find((e) => e.type === 'journal.checked');
  if (!checked || !checked.gaps?.length) return true;
  let explained = true;
  for (const g of checked.gaps) {
    if (g.kind === 'gap' && /journal on this card was cut or replaced/.test(g.message)) {
      // TAIL_LOST: the device's own count outran the card's journal: only a cut format does that
      // (the card erased, the power gone before the device counted the new epoch).
      report.journalGaps.afterFormat++;
      if (!state.formats) explained = false;
    } else if (g.kind === 'gap') {
      const m = /recordings? (\d+)(?: to (\d+))?/.exec(g.message);
      const a = Number(m?.[1]);
      const b = Number(m?.[2] ?? m?.[1]);
      const lost = [];
      for (let n = a; n <= b; n++) if (state.everSeen.has(n)) lost.push(n);
      report.journalGaps.spentNumbers += b - a + 1;
      if (lost.length || !m) explained = false;
    } else if (g.kind === 'shrunk') {
      report.journalGaps.afterFormat++;
      if (!state.formats) explained = false;
    } else if (g.kind === 'missing-record') {
      // Journaled, but neither on the card nor in the library: must be a formatted-away recording.
      report.journalGaps.missingAfterFormat++;
      if (!state.formats) explained = false;
    } else explained = false;
  }
  if (!explained) report.journalGaps.unexplained.push({ cut: ctx.cut, phase: ctx.phase, gaps: checked.gaps.map((g) => g.message) });
  return explained;
}

/** How long a FORMAT of the card size takes here, to spread the format cuts over it. */
let budgetFormatMs = 50;
async function calibrateFormat() {
  const dir = join(tmpRoot, 'calibrate');
  mkdirSync(dir, { recursive: true });
  const image = join(dir, 'card.img');
  const link = join(dir, 'link');
  const sim = await Sim.start(image, link);
  const c = await Client.open(link);
  const info = await c.ok('HELLO', { maxPayload: 4096 });
  const t0 = Date.now();
  await c.ok('FORMAT', { magic: PROTOCOL.formatMagic, deviceId: info.deviceId }, 30_000);
  budgetFormatMs = Math.max(5, Date.now() - t0);
  await c.close();
  await sim.quit();
  rmSync(dir, { recursive: true, force: true });
}

const t0 = Date.now();
let exitCode = 0;
try {
  await calibrateFormat();
  report.formatMs = budgetFormatMs;
  const r = seededRandom(O.seed);
  const deadline = O.maxMinutes > 0 ? t0 + O.maxMinutes * 60_000 : Infinity;
  const budget = { left: () => (Date.now() > deadline ? 0 : O.cuts - report.cuts), used: () => undefined };
  for (let s = 1; budget.left() > 0; s++) {
    report.sequences = s;
    await runSequence(s, r, budget);
    report.elapsedMs = Date.now() - t0;
    writeReport(); // progress, in case the campaign is stopped
  }
} catch (e) {
  report.failures.push({ cut: null, phase: 'campaign', message: String(e?.stack ?? e) });
  exitCode = 1;
} finally {
  killAllNow();
  rmSync(tmpRoot, { recursive: true, force: true });
}
report.elapsedMs = Date.now() - t0;
if (report.failures.length) exitCode = 1;

function writeReport() {
writeFileSync(join(O.out, 'power-campaign.json'), JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
const md = [
  '# Power-cut campaign',
  '',
  `${report.startedAt}, seed ${O.seed}, ${O.sizeMb} MiB images, simulator speed ${O.speed}, ${report.sequences} sequence(s) of up to ${O.perSequence} cuts, ${(report.elapsedMs / 1000).toFixed(0)} s.${O.encrypted ? ' Encrypted recording (REC*.AGE, each decrypted with the stock age).' : ''}`,
  '',
  `**${report.cuts} power cuts, ${report.failures.length} failure(s).** Worst audio loss against the last INFO before the cut: ${report.worstLossSeconds === null ? 'n/a' : `${report.worstLossSeconds.toFixed(3)} s`} (limit 1 s + 256 samples).`,
  '',
  '| phase | cuts | failed |',
  '|---|---:|---:|',
  ...Object.entries(report.byPhase).map(([p, v]) => `| ${p} | ${v.cuts} | ${v.failed} |`),
  '',
  '| figure | value |',
  '|---|---:|',
  `| recordings recovered after a cut | ${report.recovered} |`,
  `| recordings that finished normally although cut at stop | ${report.finishedAtStop} |`,
  `| fsck.fat -n runs (all clean unless failures say otherwise) | ${report.fsckRuns} |`,
  `| recordings checked (WAV, evid, ramp, LIST, journal) | ${report.filesChecked} |`,
  `| ffprobe runs | ${report.ffprobeRuns} |`,
  `| markers checked on the card (each the journal's, inside the audio) / named by the final syncs' manifests | ${report.markersChecked} / ${report.markersInLibrary} |`,
  `| cuts while taking a marker: journaled before the cut / not yet (not recording: cut without the press) | ${report.markerCuts.taken} / ${report.markerCuts.notTaken} (${report.markerCutsNotRecording}) |`,
  ...(O.encrypted
    ? [
        `| .AGE files decrypted by the stock age | ${report.ageDecryptions} |`,
        `| wipe cuts: .AGE files on the card before the wipe (of them with the file key still in the NVM then) / NVM scans after a done wipe, no key left | ${report.wipeAgeFiles} (${report.wipeKeysInNvmBefore}) / ${report.wipeNvmScans} |`,
        `| encrypted recordings signed and verified after the final syncs (recovered after a cut / stopped) | ${report.signedEncrypted.recovered} / ${report.signedEncrypted.stopped} |`,
      ]
    : []),
  `| format cuts that left the card unformatted (formatted again on request) | ${report.formatsCutUnformatted} |`,
  `| wipe cuts: wiped (of them finished by the next boot) / not begun | ${report.wipesDone} (${report.wipesResumed}) / ${report.wipesNotBegun} |`,
  `| app sync runs | ${report.appSyncRuns} |`,
  `| app runs that did not finish after the recorder came back | ${report.appSyncIncomplete} |`,
  `| delete runs cut after at least one verified delete | ${report.deletesVerifiedThenCut} |`,
  `| recordings with samples dropped by a starved simulator (all counted as overruns) | ${report.overrunRecordings.length} |`,
  `| journal-gap reports for numbers no recording had (spent by a cut at a start; every later sync reports them again) | ${report.journalGaps.spentNumbers} |`,
  '',
  'Audio lost against the last INFO:',
  '',
  '| loss | cuts |',
  '|---|---:|',
  ...Object.entries(report.lossHistogram).map(([k, v]) => `| ${k} | ${v} |`),
  '',
  ...(report.failures.length ? ['Failures:', '', ...report.failures.map((f) => `- cut ${f.cut ?? '-'} (${f.phase}, sequence ${f.sequence ?? '-'}): ${f.message}`)] : []),
  '',
  `Reproduce: \`node scripts/power-campaign.mjs --cuts ${O.cuts} --seed ${O.seed} --speed ${O.speed} --size-mb ${O.sizeMb} --per-sequence ${O.perSequence} --mix ${O.mix} --recovery-cuts ${O.recoveryCuts}${O.stallEvery ? ` --stall-every ${O.stallEvery} --stall-ms ${O.stallMs || 500}` : ''}${O.encrypted ? ' --encrypted' : ''}\``,
  '',
].join('\n');
writeFileSync(join(O.out, 'power-campaign.md'), md);
return md;
}
log(writeReport());
process.exit(exitCode);
