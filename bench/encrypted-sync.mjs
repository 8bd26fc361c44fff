// Issue 13: sync goodput of an encrypted recording against a plain one of the same audio length
// (`npm run bench -- --only encrypted`). Two cards are made on the release simulator, each with one
// recording of the `demo` voice (deterministic: the same audio in both) made with the button: one
// plain (REC*.WAV), one after `recorder keys new` + `recorder recipient set` (REC*.AGE, encrypted
// to the library's owner key). Each card is synced until the recorder has sealed (signed) its
// recording, so that the timed syncs find it signed, as a user's would after a pause. Then, per
// link and repeat, the real CLI (`recorder sync`) copies each card through the shared relay paced
// at the link's rate into a fresh recorder folder of the library that holds the owner key, so the
// encrypted copy is decrypted beside it on sync, as for a user; and the encrypted card once more
// into a library without the owner key (copied and verified, not decrypted), so the difference is
// the decryption's share of the sync. The order rotates per repeat, so drift in the machine's
// load hits all three alike.
//
// Figures per sync (from the CLI's JSON events, timed on arrival):
// - before the copy: process start to file.started (Node, HELLO, clock, LIST, JOURNAL; for the
//   encrypted card also the recorder's recipient, checked against the owner keys);
// - transfer phase: first file.started to the last byte of the file (file.progress at total);
// - after the copy: from that last byte to file.verified (re-hash of the copy, signature check,
//   manifest; for the encrypted one also reading its statement and decrypting the .age to the WAV);
// - first byte to verified: transfer plus after the copy, the wait that grows with the recording
//   (the start-up before it is a fixed cost, and on a loaded machine the noisiest part);
// - whole `recorder sync`: process start to exit.
// Bytes: a plain sync delivers the WAV; an encrypted one the .AGE (the WAV plus the age header and
// 16 bytes per 64 KiB chunk). Goodput is counted both ways: .AGE bytes (what crossed the link) and
// WAV bytes (the audio file the user gets) per second, over the link rate.
// The decryption alone is timed separately (bench/decrypt-copy.mjs: the function sync calls, on a
// copy of the synced .age; and its age stream decryption alone), so it can be read against the
// whole wait.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as L from './lib.mjs';

// Device seconds per real second while making the cards: the button is pressed on the host's
// clock, so a few ms of scheduling lateness change a recording's length by SPEED times that.
const SPEED = 20;

const fmt = (x, d = 3) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(d));
const spread = (s, d = 3) => (s.n ? `n=${s.n}, min ${fmt(s.min, d)}, max ${fmt(s.max, d)}` : '');

async function cli(args, what) {
  const r = await L.runApp(args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(-1500)}`);
  return r;
}

/** Syncs to `dest` until the recorder has signed what it holds (it seals in idle time after a stop). */
async function syncUntilSealed(link, dest) {
  for (let attempt = 1; ; attempt++) {
    const r = await cli(['sync', '--port', link, '--dest', dest], 'sync while making the card');
    if (!r.events.some((e) => e.code === 'SIGNATURE_PENDING')) return;
    if (attempt === 40) throw new Error('the recorder did not seal its recording within 40 syncs');
    await L.sleep(250);
  }
}

/** A card with one sealed recording of `seconds`; encrypted to the owner key of `root` if asked. */
async function makeCard(sim, name, seconds, root, encrypted) {
  const dir = L.tempDir(`rec-bench-${name}-`);
  const s = await L.startSim(sim, dir, { mic: 'demo', speed: SPEED, sizeMb: 256 });
  try {
    const scratch = join(L.tempDir('rec-bench-setup-'), 'lib');
    // The first sync makes the recorder's signing key and pins it: it signs what follows.
    await syncUntilSealed(s.link, scratch);
    if (encrypted) await cli(['recipient', 'set', '--library', root, '--port', s.link], 'recipient set');
    await L.record(s, seconds, SPEED);
    await syncUntilSealed(s.link, scratch);
  } finally {
    await s.quit();
  }
  return { dir, image: join(dir, 'card.img') };
}

/** One timed sync of a card; the phases from the CLI's events, the files from the library. */
async function timedSync(card, variant, link, dest, h) {
  const r = await h.withSim(card, {}, (sim) => h.withRelay(sim.link, { rate: link.rate }, (appLink) => h.syncCli(appLink, dest)));
  const ev = r.events;
  const started = ev.find((e) => e.type === 'file.started');
  const lastByte = ev.find((e) => e.type === 'file.progress' && e.bytes === e.total);
  const verified = ev.find((e) => e.type === 'file.verified');
  if (!started || !lastByte || !verified) throw new Error(`sync of ${dest}: no complete copy in its events`);
  const files = readdirSync(dest);
  const age = files.find((f) => f.endsWith('.age'));
  const wav = files.find((f) => f.endsWith('.wav'));
  const expect = { plain: 'none', encrypted: 'decrypted', keyless: 'encrypted-only' }[variant];
  if (verified.encryption !== expect || !wav !== (variant === 'keyless')) throw new Error(`sync of ${dest}: encryption ${verified.encryption} with files ${files.join(', ')}`);
  return {
    copied: r.bytes, // bytes of the file copied from the recorder (.AGE or WAV)
    wavBytes: wav ? statSync(join(dest, wav)).size : null,
    agePath: age && wav ? join(dest, age) : null,
    beforeS: (started.t - r.t0) / 1000,
    transferS: r.transferS,
    afterCopyS: (verified.t - lastByte.t) / 1000,
    toVerifiedS: (verified.t - started.t) / 1000,
    wallS: r.wallS,
    cpuS: r.cpuS,
  };
}

/** Times the host's decryption alone (bench/decrypt-copy.mjs) on a synced .age, in a fresh process. */
async function decryptAlone(agePath, identity, streamOnly = false) {
  const p = L.start(process.execPath, [join(L.BENCH, 'decrypt-copy.mjs'), '--age', agePath, '--identity', identity, ...(streamOnly ? ['--stream-only'] : [])], { timeoutMs: 120_000 });
  const d = await p.done;
  if (d.code !== 0) throw new Error(`decrypt-copy failed: ${p.stderr.join('').slice(-1500)}`);
  return JSON.parse(p.lines.at(-1));
}

/**
 * Runs the group. `h`: the run's helpers (withSim, withRelay, syncCli, headStart, row); `links`:
 * [{ name, key, rate, seconds }].
 */
export async function measureEncryptedSync({ sim, reps, links, h }) {
  const cmd = `npm run bench -- --only encrypted --reps ${reps}`;
  const root = L.tempDir('rec-bench-owner-');
  await cli(['keys', 'new', '--library', root], 'keys new');
  const keyFile = join(root, 'keys', readdirSync(join(root, 'keys')).find((n) => n.endsWith('.txt')));
  // A library without the owner key: the encrypted copy is verified and kept, not decrypted.
  const keyless = L.tempDir('rec-bench-nokey-');
  for (const link of links) {
    console.log(`\n[encrypted] ${link.name}: making a plain and an encrypted card, ${link.seconds} s each ...`);
    const cards = {
      plain: await makeCard(sim, `plain-${link.key}`, link.seconds, root, false),
      encrypted: await makeCard(sim, `enc-${link.key}`, link.seconds, root, true),
    };
    const runs = { plain: [], encrypted: [], keyless: [] };
    const variants = Object.keys(runs);
    const decrypts = [];
    const streams = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const v of [...variants.slice(rep % 3), ...variants.slice(0, rep % 3)]) {
        // A fresh recorder folder in the library that holds the owner key (keys/ beside it), or,
        // for `keyless`, in one that holds none.
        const x = await timedSync(v === 'plain' ? cards.plain : cards.encrypted, v, link, join(v === 'keyless' ? keyless : root, `${link.key}-${v}-${rep}`), h);
        runs[v].push(x);
        console.log(`  ${v} rep ${rep}: ${x.copied} B copied (WAV ${x.wavBytes ?? 'not made'} B), transfer ${fmt(x.transferS)} s = ${fmt(x.copied / x.transferS / link.rate)} of the link, after the copy ${fmt(x.afterCopyS)} s, whole sync ${fmt(x.wallS)} s`);
        if (x.agePath) {
          const d = await decryptAlone(x.agePath, keyFile);
          decrypts.push(d);
          const z = await decryptAlone(x.agePath, keyFile, true);
          streams.push(z);
          console.log(`  decryption alone: ${fmt(d.ms, 1)} ms (${fmt(d.ageBytes / d.ms / 1e3, 1)} MB/s of .AGE), of which the age stream ${fmt(z.ms, 1)} ms`);
        }
      }
    }
    const p = runs.plain;
    const e = runs.encrypted;
    const st = (xs, f) => L.stats(xs.map(f));
    const gpPlain = st(p, (x) => x.copied / x.transferS / link.rate);
    const gpAge = st(e, (x) => x.copied / x.transferS / link.rate);
    const gpAgeWav = st(e, (x) => x.wavBytes / x.transferS / link.rate);
    // The relay's full token bucket at the start (see goal 1) is taken off both alike.
    const gpPlainC = st(p, (x) => (x.copied - h.headStart(link.rate)) / x.transferS / link.rate);
    const gpAgeWavC = st(e, (x) => ((x.copied - h.headStart(link.rate)) * (x.wavBytes / x.copied)) / x.transferS / link.rate);
    const wallPlain = st(p, (x) => x.wavBytes / x.wallS / link.rate);
    const wallEnc = st(e, (x) => x.wavBytes / x.wallS / link.rate);
    const k = runs.keyless;
    const phase = (f) => ({ plain: st(p, (x) => x[f]), encrypted: st(e, (x) => x[f]), keyless: st(k, (x) => x[f]) });
    const before = phase('beforeS');
    const after = phase('afterCopyS');
    const wall = phase('wallS');
    const dec = L.stats(decrypts.map((d) => d.ms / 1000));
    const decStream = L.stats(streams.map((d) => d.ms / 1000));
    const size = `${(p[0].wavBytes / 1e6).toFixed(2)} MB WAV`;
    const R = (what, value, noise = '', goal = undefined) => h.row({ goal: 'issue 13', what: `encrypted sync, ${link.name} (${link.rate} B/s), ${link.seconds} s of audio: ${what}`, value, ...(goal ? { goal_value: goal } : {}), noise, cmd });
    R('bytes copied, plain (WAV) / encrypted (.AGE; its decrypted WAV)', `${p[0].copied} / ${e[0].copied} (${e[0].wavBytes}) B`, `age overhead ${e[0].copied - e[0].wavBytes} B = ${fmt((100 * (e[0].copied - e[0].wavBytes)) / e[0].wavBytes, 3)} %`);
    R(`transfer-phase goodput, plain (${size})`, fmt(gpPlain.median), spread(gpPlain));
    R('transfer-phase goodput, encrypted, counting .AGE bytes', fmt(gpAge.median), spread(gpAge));
    R('transfer-phase goodput, encrypted, counting WAV bytes', fmt(gpAgeWav.median), spread(gpAgeWav));
    R('ratio encrypted / plain, transfer phase, .AGE bytes', fmt(gpAge.median / gpPlain.median, 4), '', '>= 0.99');
    R('ratio encrypted / plain, transfer phase, WAV bytes', fmt(gpAgeWav.median / gpPlain.median, 4), '', '>= 0.99');
    R(`ratio encrypted / plain, transfer phase, WAV bytes, less the relay's initial bucket (${h.headStart(link.rate)} B)`, fmt(gpAgeWavC.median / gpPlainC.median, 4), `plain ${fmt(gpPlainC.median)}, encrypted ${fmt(gpAgeWavC.median)}`);
    const both = (what, x, d = 3) => R(`${what} (s), plain / encrypted / encrypted without the owner key (not decrypted)`, `${fmt(x.plain.median, d)} / ${fmt(x.encrypted.median, d)} / ${fmt(x.keyless.median, d)}`, `plain ${spread(x.plain, d)}; encrypted ${spread(x.encrypted, d)}; without the key ${spread(x.keyless, d)}`);
    both('before the copy: process start to file.started', before);
    both('after the copy: last byte to file.verified (encrypted: incl. decryption)', after);
    R('host decryption alone (bench/decrypt-copy.mjs: decryptLibraryCopy on the synced .age, as sync calls it), s', fmt(dec.median), `${spread(dec)}; ${fmt(e[0].copied / dec.median / 1e6, 1)} MB/s of .AGE`);
    R('of which the age stream decryption to the .wav.part (decryptToFile), s', fmt(decStream.median), `${spread(decStream)}; ${fmt(e[0].copied / decStream.median / 1e6, 1)} MB/s of .AGE`);
    both('whole `recorder sync`', wall, 2);
    R('whole-sync goodput (WAV bytes / whole sync), plain / encrypted; ratio', `${fmt(wallPlain.median)} / ${fmt(wallEnc.median)}; ${fmt(wallEnc.median / wallPlain.median, 4)}`, `plain ${spread(wallPlain)}; encrypted ${spread(wallEnc)}`);
    const toVerified = (xs, bytes) => st(xs, (x) => bytes(x) / x.toVerifiedS / link.rate);
    const tvPlain = toVerified(p, (x) => x.wavBytes);
    const tvEnc = toVerified(e, (x) => x.wavBytes);
    const tvKeyless = toVerified(k, () => e[0].wavBytes);
    R('first byte to verified: goodput (WAV bytes / (transfer + after the copy)), plain / encrypted / encrypted without the owner key; ratios to plain', `${fmt(tvPlain.median)} / ${fmt(tvEnc.median)} / ${fmt(tvKeyless.median)}; ${fmt(tvEnc.median / tvPlain.median, 4)} / ${fmt(tvKeyless.median / tvPlain.median, 4)}`, `plain ${spread(tvPlain)}; encrypted ${spread(tvEnc)}; without the key ${spread(tvKeyless)}`, '>= 0.99 (the user\'s wait)');
    // Without the owner key no WAV is made: its audio bytes are the decrypted copy's (same card).
    const wallKeyless = st(k, (x) => e[0].wavBytes / x.wallS / link.rate);
    R('whole-sync goodput, encrypted without the owner key (WAV bytes of the same recording / whole sync); ratio to plain', `${fmt(wallKeyless.median)}; ${fmt(wallKeyless.median / wallPlain.median, 4)}`, spread(wallKeyless));
  }
}
