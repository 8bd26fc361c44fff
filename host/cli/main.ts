#!/usr/bin/env node
/**
 * `recorder`: the command line of the companion app. With no arguments on a terminal it starts
 * the interactive UI (host/ui/app.tsx); otherwise it runs one command and prints one line per
 * event, or one JSON object per line with --json (chosen automatically off a terminal or in CI
 * only in the sense that the interactive UI is never started there).
 */
import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { createEngine, appVersion, type EngineOptions } from '../engine/engine.js';
import { EngineError } from '../engine/errors.js';
import { discover, type Candidate } from '../engine/discovery.js';
import { SAMPLE_RATES } from '../../protocol/src/schema.js';
import { checkFlags, commandWord, parseArgs, str, UsageError, type Parsed } from './args.js';
import { makeOutput, type Out } from './output.js';
import { parseTimeText, timeText, type RangeEnd } from '../engine/export/excerpt.js';
import { basename } from 'node:path';
// The TUI's date wording (pure functions, no Ink): a recording's date reads the same everywhere.
import { describeTimeLeft, formatDateTime } from '../ui/format.js';

/** The help of each command ('' the general help); a test checks it names every option the command takes. */
export const HELP: Record<string, string> = {
  '': `Usage: recorder <command> [options]

Commands:
  sync          copy new recordings from the recorder to this computer and verify them
  list          list the recordings on the recorder
  info          show the recorder's identity, battery, card and clock
  verify PATH   check copies on this computer: manifests, the recorder's signatures, its journal
  export N...   make a bundle of recordings for a solicitor: the files, a report, the checks
  devices re-pin ID --reason TEXT
                stop trusting the signing key remembered for recorder ID (after a repair)
  set-time      set the recorder's clock from this computer
  label NAME    give the recorder a name (shown in file names)
  settings      show or change sample rate and discreet mode
  keys          make, import or show the owner's keys that open encrypted recordings
  recipient     show, set or clear the owner key the recorder encrypts to
  decrypt N     decrypt an encrypted copy in the library (also: decrypt FILE.age)
  format        erase the recorder's memory card (asks first)
  wipe          erase the recorder for the next family, with a certificate (asks first)
  verify-wipe FILE
                check a wipe certificate against the recorder's pinned key
  record        start or stop a recording
  mark          drop a marker in the recording being made
  excerpt REC   export part of a recording (times or markers) with a note that proves it is a true slice
  markers REC   list a recording's markers and notes; export them for Audacity or as WebVTT
  notes REC     write the note of a marker (what was said there)
  sim           run the recorder simulator

Common options: --port PATH (the recorder's serial port), --json (one JSON object per line),
--timeout MS (how long to wait for each answer from the recorder, default 2000), --help.
"recorder --version" prints the app's version. Run "recorder" alone on a terminal for the
interactive app.`,
  sync: `Usage: recorder sync [--port PATH] [--dest DIR] [--delete-after-verify] [--window N] [--identity FILE] [--json]

Copies every finished recording not yet in the library, checks each copy against the SHA-256 the
recorder computed while recording, checks the recorder's journal, and writes a manifest (.json)
beside each recording. Interrupted copies continue where they stopped next time. An encrypted
recording is kept as the recorder wrote it (.age, checked against the recorder's signature) and
decrypted beside it (.wav) when this computer holds the owner key (see "recorder keys").
  --dest DIR               library folder (default ~/Recordings/<recorder label>)
  --delete-after-verify    delete each recording from the recorder once its copy is verified
  --window N               read requests in flight (default 8)
  --identity FILE          an owner key file (age) to decrypt with, besides the library's keys`,
  list: `Usage: recorder list [--port PATH] [--dest DIR] [--json]

Lists the recordings on the recorder, and for each whether a copy that verifies now is in the
library ("in library") or not ("TO COPY"), with the count of those still to copy.
  --dest DIR               library folder (default ~/Recordings/<recorder label>)`,
  info: 'Usage: recorder info [--port PATH] [--json]\n\nShows the recorder\'s identity, battery, card and clock.',
  verify: `Usage: recorder verify PATH... [--json]

Checks recordings (files or folders) against their manifests: SHA-256 of the file and of the
audio, WAV structure, evidence chunk and journal record; the recorder's signatures under the key
remembered for it (statement, trusted comment, checkpoints); and for a library folder, the
recorder's journal (complete, unbroken, not older than the recorder signed) and that every
recording it lists is there, and that the library's custody log links up (what it found is then
added to that log). No recorder needed. Exit status 0 only if all verify; with --json, every
failure has a code (SIGNATURE_INVALID, WRONG_KEY, JOURNAL_TAIL_CUT, CUSTODY_LOG_BROKEN, ...).`,
  export: `Usage: recorder export N... (--to DIR | --zip FILE) [--dest DIR] [--json]

Makes a bundle of the recordings numbered N for a solicitor or a court's expert: each recording as
the recorder wrote it with its signed files, the recorder's public key, its journal up to the
recording, the library's custody log about it, VERIFY.txt (the exact commands that check it with
free standard tools), a report in plain words (report.html and report.pdf) and a page that checks
it in a web browser (check-in-browser.html). A recording that does not verify is not exported.
  --to DIR                 a new folder for the bundle (must not exist)
  --zip FILE               a new ZIP file for the bundle (must not exist)
  --dest DIR               the library folder (default: the only one under ~/Recordings holding N)`,
  devices: `Usage: recorder devices re-pin DEVICE_ID --reason TEXT [--dest DIR] [--json]

The library remembers each recorder's signing key the first time it sees it, and refuses a
recorder that later shows another key under the same id. When you know why the key changed (the
recorder was repaired and set up again), re-pin it: the old key is kept as history, the reason is
written to the library's log, and the next sync trusts the key the recorder shows then.
  --dest DIR               the library folder (default: the one under ~/Recordings that pins it)`,
  'set-time': 'Usage: recorder set-time [--port PATH] [--json]\n\nMeasures how far the recorder\'s clock is off, then sets it from this computer.',
  label: 'Usage: recorder label NAME [--port PATH] [--json]\n\nGives the recorder a name of up to 32 bytes.',
  settings: `Usage: recorder settings [--rate 8000|16000|32000|48000] [--discreet on|off] [--port PATH] [--json]

Shows the settings, or changes those given.`,
  keys: `Usage: recorder keys new|import FILE|show [--copy] [--library DIR] [--json]

The owner key opens encrypted recordings. The recorder holds only its public half (age1...), so
a lost or stolen recorder cannot open its own recordings; the secret half stays on this computer.
  keys new          make a new owner key (age format) and say where its secret half is
  keys import FILE  use an existing age key file (age-keygen's); it is remembered where it is,
                    not copied, unless --copy is given
  keys show         the owner keys' public halves (never the secret)
  --library DIR     the folder holding the recorders' folders (default ~/Recordings); the keys
                    are in its keys/ folder
If the owner key is lost, the recordings encrypted to it are lost: back it up.`,
  recipient: `Usage: recorder recipient [set [age1...]|clear] [--library DIR] [--port PATH] [--json]

Shows the owner key (its public half, age1...) the recorder encrypts new recordings to, sets it
(default: the library's only owner key), or clears it. Clearing it makes the recorder record
WITHOUT encryption from its next recording. The recorder refuses while it is recording.`,
  decrypt: `Usage: recorder decrypt N...|FILE.age... [--identity FILE] [--dest DIR] [--library DIR] [--json]

Decrypts encrypted copies in the library to a WAV beside each (.wav), and checks the WAV is the one
the recorder signed. N is a recording number in the recorder's folder (--dest, or found in the
library); FILE.age a copy. The owner key comes from --identity FILE or the library's keys.`,
  format: `Usage: recorder format [--yes] [--dest DIR] [--discard-unsynced N,M] [--port PATH] [--json]

Erases the recorder's memory card. Refused while any recording on it has no copy in the library
that verifies now (each is named): run sync first. Shows which recorder it is and asks you to type
its name to confirm, unless --yes is given.
  --dest DIR               library folder (default ~/Recordings/<recorder label>)
  --discard-unsynced N,M   erase anyway exactly these recordings that have no verified copy`,
  wipe: `Usage: recorder wipe [--yes] [--dest DIR] [--discard-unsynced N,M] [--port PATH] [--json]

For handing the recorder to the next family: destroys the keys of its recordings and its owner's
key in its own memory, erases every block of its card, and starts a new signed journal that says
so. Refused while any recording on it has no copy in the library that verifies now (each is
named): run sync first. Then asks you to type the recorder's name (or --yes), wipes, and writes a
wipe certificate (wipe-<id>-<time>.json) into the library: the recorder's signature, made after
the wipe, over its new journal. Check it any time with "recorder verify-wipe FILE".
  --dest DIR               library folder (default ~/Recordings/<recorder label>)
  --discard-unsynced N,M   wipe anyway, losing exactly these recordings that have no verified copy`,
  'verify-wipe': `Usage: recorder verify-wipe FILE [--dest DIR] [--json]

Checks a wipe certificate: the recorder's signature after the wipe verifies under the key this
library pinned for it (the recorder-*.pin.json beside the certificate, or in --dest), and the
journal it signed is the fresh one the wipe began. Exit status 0 only if it does.`,
  record: 'Usage: recorder record start|stop [--port PATH] [--json]\n\nStarts or stops a recording, like pressing the button.',
  mark: `Usage: recorder mark [--port PATH] [--json]

Drops a marker in the recording the recorder is making now, like a short press of its button, and
says its number and time. The recorder must be recording.`,
  excerpt: `Usage: recorder excerpt REC [--from T | --from-marker N] [--to T | --to-marker M] [--out DIR] [--dest DIR] [--json]

Exports part of a recording as a WAV file of its own, with a provenance note (.provenance.txt and
.provenance.json): the original's SHA-256 and the recorder's signature of it, the exact first sample
and sample count, the excerpt's SHA-256, and the sox, ffmpeg and dd commands that cut the same
slice from the original so anyone can check it. The samples are copied, never re-encoded. An
encrypted recording is cut from its decrypted WAV (the note says so). Nothing is ever replaced.
REC is a recording number (in --dest, or the only library under ~/Recordings holding it) or its
file (.wav or .age). Times T are seconds (75.5), m:ss or h:mm:ss, with up to 3 decimals.
  --from T                 start at this time (default: the start)
  --to T                   end at this time (default: the end)
  --from-marker N          start at marker N (see "recorder markers REC")
  --to-marker M            end at marker M (default with --from-marker: the next marker, or the end)
  --out DIR                the export folder (default: exports/ in the library folder)
  --dest DIR               the library folder holding recording number REC`,
  markers: `Usage: recorder markers REC [--audacity] [--webvtt] [--out DIR] [--dest DIR] [--json]

Lists the markers of a recording in the library: number, time, sample, and the note written for
it. With --audacity and/or --webvtt, writes them into the export folder (nothing is replaced):
  --audacity               an Audacity label track (<name>.labels.txt: File > Import > Labels)
  --webvtt                 a WebVTT file (<name>.markers.vtt), one cue per marker with its note,
                           to fill in as a time-coded transcript
  --out DIR                the export folder (default: exports/ in the library folder)
  --dest DIR               the library folder holding recording number REC`,
  notes: `Usage: recorder notes REC [--marker N --text TEXT] [--dest DIR] [--json]

Writes the note of marker N of a recording (what was said there; --text "" clears it), then lists
the markers and their notes. The notes are kept beside the recording in <name>.notes.vtt, a WebVTT
file any subtitle editor opens; cues added there by hand are kept.
  --marker N               the marker (see "recorder markers REC")
  --text TEXT              its note
  --dest DIR               the library folder holding recording number REC`,
};

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  /** Extra engine options (tests inject a fake transport). */
  engine?: Partial<EngineOptions>;
}

const defaultIo = (): Io => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });

/** Lists several connected recorders and asks which one to use. */
async function chooseRecorder(io: Io, c: Candidate[]): Promise<string | null> {
  c.forEach((x, i) => io.stderr.write(`  ${i + 1}. ${x.port} (${x.description})\n`));
  const a = Number(await ask(io, `Several recorders are connected. Which one (1-${c.length})? `));
  return c[a - 1]?.port ?? null;
}

function isInteractive(io: Io): boolean {
  return !!io.stdout.isTTY && !!io.stdin.isTTY && !io.env.CI;
}

async function ask(io: Io, question: string): Promise<string> {
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export async function run(argv: string[], io: Io = defaultIo()): Promise<number> {
  const word = commandWord(argv);
  if (word.command === 'sim') {
    // The simulator's options are its own: passed on unparsed.
    const { runSim } = await import('./sim.js');
    return runSim(argv.slice(word.index + 1));
  }
  let p: Parsed;
  try {
    p = parseArgs(argv);
  } catch (e) {
    io.stderr.write(`${(e as Error).message}\n${HELP[word.command ?? ''] ?? HELP['']}\n`);
    return 2;
  }
  if (p.flags.has('version')) {
    io.stdout.write(appVersion() + '\n');
    return 0;
  }
  if (p.command === 'help') {
    io.stdout.write((HELP[p.positional[0] ?? ''] ?? HELP['']!) + '\n');
    return 0;
  }
  if (p.command === null) {
    if (p.flags.has('help') || !isInteractive(io)) {
      io.stdout.write(HELP['']! + '\n');
      return p.flags.has('help') ? 0 : 2;
    }
    return runUi(p, io);
  }
  if (!(p.command in HELP)) {
    io.stderr.write(`Unknown command "${p.command}".\n${HELP['']}\n`);
    return 2;
  }
  if (p.flags.has('help')) {
    io.stdout.write(HELP[p.command]! + '\n');
    return 0;
  }
  const json = p.flags.has('json');
  const out = makeOutput(json, io.stdout, io.stderr);
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    out.line('Stopping safely (press Ctrl-C again to quit at once)...');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await runCommand(p, io, out, ac.signal);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`${e.message}\n${HELP[p.command] ?? ''}\n`);
      return 2;
    }
    if (e instanceof EngineError) {
      // Already reported as an `error` event by the engine.
      out.result(p.command, false, { code: e.code, message: e.message, action: e.action });
      return e.code === 'CANCELLED' ? 130 : 1;
    }
    out.error(`Unexpected problem: ${(e as Error).stack ?? String(e)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function runCommand(p: Parsed, io: Io, out: Out, signal: AbortSignal): Promise<number> {
  const command = p.command!;
  const interactive = isInteractive(io) && !p.flags.has('json');
  const timeout = str(p, 'timeout');
  if (timeout !== undefined && !(Number(timeout) >= 1)) throw new UsageError('--timeout is in milliseconds, e.g. --timeout 5000');
  const options: EngineOptions = {
    port: str(p, 'port'),
    signal,
    timeoutMs: timeout ? Number(timeout) : undefined,
    choose: interactive ? (c: Candidate[]) => chooseRecorder(io, c) : undefined,
    ...io.engine,
  };
  const engine = createEngine(options);
  engine.on((e) => out.event(e));

  switch (command) {
    case 'sync': {
      checkFlags(p, ['dest', 'delete-after-verify', 'window', 'identity']);
      const w = str(p, 'window');
      if (w !== undefined && !(Number(w) >= 1 && Number(w) <= 64)) throw new UsageError('--window must be between 1 and 64');
      const identity = str(p, 'identity');
      const r = await engine.sync({ dest: str(p, 'dest'), deleteAfterVerify: p.flags.has('delete-after-verify'), window: w ? Number(w) : undefined, ...(identity ? { identityFiles: [identity] } : {}) });
      out.result('sync', r.ok, { result: r });
      return r.ok ? 0 : r.cancelled ? 130 : 1;
    }
    case 'list': {
      checkFlags(p, ['dest']);
      const l = await engine.list({ destination: str(p, 'dest') });
      const standing = (n: number) => (l.alreadyInLibrary.includes(n) ? 'in library' : l.toCopy.includes(n) ? 'TO COPY' : 'not finished');
      const lines = l.recordings.map(
        (r) =>
          `  ${String(r.number).padStart(5)}  ${r.state === 'finished' ? '        ' : 'RECORDING'} ${formatDateTime(r.clockSet ? Number(r.startUnixMs) : null).padEnd(17)}  ${Math.round(r.durationMs / 1000)} s  ${r.sha256.slice(0, 16)}…  ${r.encrypted ? 'encrypted' : 'not encrypted'}  ${standing(r.number)}`,
      );
      const tally = `${l.toCopy.length} to copy, ${l.alreadyInLibrary.length} verified in the library${l.inProgress.length ? `, ${l.inProgress.length} not finished` : ''}. Library: ${l.destination}`;
      out.result('list', true, { recordings: l.recordings, destination: l.destination, toCopy: l.toCopy, alreadyInLibrary: l.alreadyInLibrary, inProgress: l.inProgress }, `${lines.join('\n') || '  (no recordings)'}\n${tally}`);
      return 0;
    }
    case 'info': {
      checkFlags(p, []);
      const d = await engine.info();
      out.result(
        'info',
        true,
        { device: d },
        [
          `  Label:      ${d.label || '(none)'}`,
          `  Device id:  ${d.deviceId}${d.simulated ? '  (SIMULATOR)' : ''}`,
          `  Model:      ${d.model}, firmware ${d.firmware}`,
          `  Clock:      ${d.clockSet ? new Date(Number(d.clockUnixMs)).toISOString() : 'not set (run "recorder set-time")'}`,
          `  Battery:    ${d.batteryMv} mV${d.lowBattery ? ' (LOW)' : ''}`,
          `  Card:       ${d.cardState}, ${(Number(d.cardFree) / 1e6).toFixed(0)} of ${(Number(d.cardCapacity) / 1e6).toFixed(0)} MB free`,
          `  Time left:  ${describeTimeLeft(d.cardSecondsLeft, d.batterySecondsLeft)}`,
          `  Recording:  ${d.recState}, ${d.recordingCount} recording(s) on the card, sample rate ${d.sampleRate} Hz${d.discreet ? ', discreet mode' : ''}`,
          `  Encryption: ${d.encrypting ? 'on: new recordings are encrypted to the owner key ("recorder recipient" shows it)' : 'OFF: recordings are not encrypted (set an owner key with "recorder recipient set")'}`,
          ...(d.wipePending ? ['  WIPE NOT FINISHED: a wipe was cut by a power loss; put the card in (or run "recorder wipe" again) to finish it.'] : []),
        ].join('\n'),
      );
      return 0;
    }
    case 'verify': {
      checkFlags(p, []);
      if (p.positional.length === 0) throw new UsageError('verify needs at least one file or folder');
      const r = await engine.verify(p.positional);
      const good = r.results.filter((x) => x.ok).length;
      const signed = r.results.filter((x) => x.ok && x.signature?.status === 'signed').length;
      const libraryProblems = r.library.reduce((n, l) => n + l.failures.length, 0) + r.custody.filter((c) => !c.ok).length;
      const failed = r.results.length - good + r.problems.length + libraryProblems;
      out.result(
        'verify',
        r.ok,
        { results: r.results, problems: r.problems, library: r.library, custody: r.custody },
        r.ok ? `All ${good} recording(s) verified${signed ? `, ${signed} of them signed by their recorder` : ''}.` : `${failed} problem(s); ${good} recording(s) verified. Read the messages above: each says what it means and what to do.`,
      );
      return r.ok ? 0 : 1;
    }
    case 'export': {
      checkFlags(p, ['to', 'zip', 'dest']);
      if (p.positional.length === 0) throw new UsageError('export needs the number of at least one recording');
      const numbers = p.positional.map((x) => (/^\d{1,9}$/.test(x) ? Number(x) : NaN));
      if (numbers.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError('recordings are given by their number (1, 2, ...), as `recorder list` shows them');
      const to = str(p, 'to');
      const zip = str(p, 'zip');
      if (!!to === !!zip) throw new UsageError('say where the bundle goes: --to DIR or --zip FILE (one of the two)');
      let library = str(p, 'dest');
      try {
        library ??= await findLibraryWith(numbers, io.env.HOME);
        const r = await engine.exportBundle({ library, numbers, to, zip });
        out.result('export', true, { ...r });
        return 0;
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        if (!library) out.error(`${e.message} ${e.action}`.trim());
        out.result('export', false, { code: e.code, message: e.message, action: e.action });
        return 1;
      }
    }
    case 'devices': {
      checkFlags(p, ['reason', 'dest']);
      const [sub, deviceId] = p.positional;
      if (sub !== 're-pin' || !deviceId || p.positional.length !== 2) throw new UsageError('use: recorder devices re-pin DEVICE_ID --reason TEXT');
      if (!/^[0-9a-f]{16}$/i.test(deviceId)) throw new UsageError('the device id is 16 hex digits (see "recorder info")');
      const reason = str(p, 'reason');
      if (!reason?.trim()) throw new UsageError('--reason is required: say why the key changed (it is written to the library log)');
      try {
        const r = await engine.rePin({ deviceId: deviceId.toLowerCase(), reason, destination: str(p, 'dest') });
        out.result('devices', true, r);
        return 0;
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        out.error(`${e.message} ${e.action}`.trim());
        out.result('devices', false, { code: e.code, message: e.message, action: e.action });
        return 1;
      }
    }
    case 'set-time': {
      checkFlags(p, []);
      const r = await engine.setTime();
      out.result('set-time', true, r);
      return 0;
    }
    case 'label': {
      checkFlags(p, []);
      const name = p.positional.join(' ').trim();
      if (!name) throw new UsageError('label needs a name');
      const d = await engine.setLabel(name);
      out.result('label', true, { device: d }, `The recorder is now called "${d.label}".`);
      return 0;
    }
    case 'settings': {
      checkFlags(p, ['rate', 'discreet']);
      const rate = str(p, 'rate');
      const discreet = str(p, 'discreet');
      if (rate !== undefined && !(SAMPLE_RATES as readonly number[]).includes(Number(rate))) throw new UsageError(`--rate must be one of ${SAMPLE_RATES.join(', ')}`);
      if (discreet !== undefined && discreet !== 'on' && discreet !== 'off') throw new UsageError('--discreet must be on or off');
      const r = await engine.settings({ sampleRate: rate ? Number(rate) : undefined, discreet: discreet === undefined ? undefined : discreet === 'on' });
      out.result('settings', true, r);
      return 0;
    }
    case 'keys': {
      checkFlags(p, ['library', 'copy']);
      const [sub, file, ...rest] = p.positional;
      const library = str(p, 'library');
      if (rest.length) throw new UsageError('too many arguments');
      if (sub === 'new' && !file) {
        const r = await engine.keys.create({ library });
        out.result('keys', true, { library: r.library, recipient: r.key.recipient, file: r.key.file }, `Recipient (public, give it to the recorder with "recorder recipient set"): ${r.key.recipient}\nSecret key file (back it up; losing it loses the recordings): ${r.key.file}`);
        return 0;
      }
      if (sub === 'import' && file) {
        const r = await engine.keys.import(file, { library, copy: p.flags.has('copy') });
        out.result('keys', true, { library: r.library, keys: r.keys.map((k) => ({ recipient: k.recipient, file: k.file, stored: k.stored })) }, r.keys.map((k) => `Recipient: ${k.recipient}`).join('\n'));
        return 0;
      }
      if ((sub === 'show' || sub === undefined) && !file) {
        const r = await engine.keys.show({ library });
        const lines = r.keys.map((k) => `  ${k.recipient}  ${k.usable ? 'usable' : 'CANNOT BE USED'}  ${k.stored === 'referenced' ? 'key file kept at' : 'key file'} ${k.file}`);
        out.result('keys', true, { library: r.library, folder: r.folder, keys: r.keys.map((k) => ({ recipient: k.recipient, file: k.file, stored: k.stored, usable: k.usable, problem: k.problem })) }, `${lines.join('\n') || '  (no owner keys: make one with "recorder keys new")'}\nOwner keys of ${r.library} (listed in ${r.folder}).`);
        return r.keys.every((k) => k.usable) ? 0 : 1;
      }
      throw new UsageError('use: recorder keys new | keys import FILE | keys show');
    }
    case 'recipient': {
      checkFlags(p, ['library']);
      const [sub, value, ...rest] = p.positional;
      const library = str(p, 'library');
      if (rest.length || (sub === 'clear' && value) || (sub !== undefined && sub !== 'set' && sub !== 'clear')) throw new UsageError('use: recorder recipient | recipient set [age1...] | recipient clear');
      let change: { set: string } | { clear: true } | undefined;
      if (sub === 'clear') {
        out.line('Warning: after this the recorder records WITHOUT encryption (from its next recording): anyone who finds the recorder or its card can listen to what it records.');
        change = { clear: true };
      } else if (sub === 'set') {
        let recipient = value;
        if (!recipient) {
          const usable = (await engine.keys.show({ library })).keys.filter((k) => k.usable);
          if (usable.length !== 1) throw new UsageError(usable.length === 0 ? 'this library has no owner key: make one with "recorder keys new" (or "recorder keys import FILE"), or give the age1... recipient' : 'this library has several owner keys: give the age1... recipient to use (see "recorder keys show")');
          recipient = usable[0]!.recipient;
        }
        change = { set: recipient };
      }
      const r = await engine.recipient(change, { library });
      out.result('recipient', true, { ...r }, r.recipient ? `Encrypts to: ${r.recipient}` : 'Encrypts to: nobody (NOT ENCRYPTED)');
      return 0;
    }
    case 'decrypt': {
      checkFlags(p, ['identity', 'dest', 'library']);
      if (p.positional.length === 0) throw new UsageError('decrypt needs a recording number or an .age file');
      const identity = str(p, 'identity');
      const r = await engine.decrypt({ targets: p.positional, destination: str(p, 'dest'), library: str(p, 'library'), identityFiles: identity ? [identity] : [] });
      const ok = r.every((x) => x.ok);
      out.result('decrypt', ok, { results: r }, ok ? `Decrypted ${r.length} recording(s).` : `${r.filter((x) => !x.ok).length} of ${r.length} could not be decrypted; the messages above say why. Nothing was changed in the encrypted copies.`);
      return ok ? 0 : 1;
    }
    case 'format': {
      checkFlags(p, ['yes', 'dest', 'discard-unsynced']);
      const yes = p.flags.has('yes');
      if (!yes && !interactive) {
        throw new UsageError('format erases the card: run it on a terminal to confirm, or add --yes');
      }
      const discard = numberList(p, 'discard-unsynced');
      const done = await engine.format(async (d) => {
        const name = d.label || d.deviceId;
        io.stderr.write(`This will ERASE every recording on the card of recorder "${d.label || '(no label)'}" (id ${d.deviceId}${d.simulated ? ', simulator' : ''}): ${d.recordingCount} recording(s).\n`);
        if (yes) return true;
        const a = await ask(io, `Type ${JSON.stringify(name)} to erase it, or press Enter to cancel: `);
        return a.trim() === name;
      }, { destination: str(p, 'dest'), discardUnsynced: discard });
      out.result('format', done, { formatted: done });
      return done ? 0 : 1;
    }
    case 'wipe': {
      checkFlags(p, ['yes', 'dest', 'discard-unsynced']);
      const yes = p.flags.has('yes');
      if (!yes && !interactive) throw new UsageError('wipe erases the recorder: run it on a terminal to confirm, or add --yes');
      const r = await engine.wipe({
        destination: str(p, 'dest'),
        discardUnsynced: numberList(p, 'discard-unsynced'),
        confirm: async (d, h) => {
          const name = d.label || d.deviceId;
          const lost = h.unsynced.length ? ` ${h.unsynced.length} of them have NO verified copy and will be lost for ever: ${h.unsynced.map((u) => u.number).join(', ')}.` : ' Each has a verified copy in the library.';
          io.stderr.write(`This will WIPE recorder "${d.label || '(no label)'}" (id ${d.deviceId}${d.simulated ? ', simulator' : ''}): ${h.total} recording(s) erased, the keys of its recordings destroyed.${lost}\n`);
          if (yes) return true;
          const a = await ask(io, `Type ${JSON.stringify(name)} to wipe it, or press Enter to cancel: `);
          return a.trim() === name;
        },
      });
      out.result('wipe', r !== null, r ? { certificate: r.certificate, certificatePath: r.certificatePath } : { wiped: false });
      return r ? 0 : 1;
    }
    case 'verify-wipe': {
      checkFlags(p, ['dest']);
      if (p.positional.length !== 1) throw new UsageError('verify-wipe needs one certificate file');
      const r = await engine.verifyWipe(p.positional[0]!, { destination: str(p, 'dest') });
      const ok = r.problems.length === 0;
      out.result('verify-wipe', ok, { certificate: r.certificate, problems: r.problems });
      return ok ? 0 : 1;
    }
    case 'record': {
      checkFlags(p, []);
      const action = p.positional[0];
      if (action !== 'start' && action !== 'stop') throw new UsageError('record needs "start" or "stop"');
      const r = await engine.record(action);
      out.result('record', true, r);
      return 0;
    }
    case 'mark': {
      checkFlags(p, []);
      if (p.positional.length) throw new UsageError('mark takes no arguments');
      const r = await engine.mark();
      out.result('mark', true, r);
      return 0;
    }
    case 'excerpt': {
      checkFlags(p, ['from', 'to', 'from-marker', 'to-marker', 'out', 'dest']);
      const recording = oneRecording(p, 'excerpt');
      const end = (time: string, marker: string): RangeEnd | undefined => {
        const t = str(p, time);
        const m = str(p, marker);
        if (t !== undefined && m !== undefined) throw new UsageError(`give --${time} or --${marker}, not both`);
        if (m !== undefined) return { marker: markerNumber(m, marker) };
        if (t === undefined) return undefined;
        const ms = parseTimeText(t);
        if (ms === null) throw new UsageError(`--${time} takes a time: seconds (75.5), m:ss or h:mm:ss, with up to 3 decimals`);
        return { ms };
      };
      const range = { from: end('from', 'from-marker'), to: end('to', 'to-marker') };
      const r = await engine.excerpt({ library: await libraryFor(p, recording, io, out), recording, range, to: str(p, 'out') });
      out.result('excerpt', true, { wav: r.wavPath, note: r.notePath, json: r.jsonPath, provenance: r.provenance });
      return 0;
    }
    case 'markers':
    case 'notes': {
      checkFlags(p, command === 'markers' ? ['audacity', 'webvtt', 'out', 'dest'] : ['marker', 'text', 'dest']);
      const recording = oneRecording(p, command);
      const library = await libraryFor(p, recording, io, out);
      if (p.flags.has('audacity') || p.flags.has('webvtt')) {
        const r = await engine.markerFiles({ library, recording, to: str(p, 'out'), audacity: p.flags.has('audacity'), webvtt: p.flags.has('webvtt') });
        out.result(command, true, { ...r });
        return 0;
      }
      const marker = str(p, 'marker');
      const text = str(p, 'text');
      if ((marker === undefined) !== (text === undefined)) throw new UsageError('give both --marker N and --text TEXT');
      const l = await engine.markerNotes({ library, recording, ...(marker !== undefined ? { set: { marker: markerNumber(marker, 'marker'), text: text! } } : {}) });
      const rows = l.markers.map((m) => `  ${String(m.number).padStart(3)}  ${timeText(m.timeMs)}  sample ${String(m.sampleOffset).padEnd(10)}  ${m.note ? m.note.replace(/\n/g, ' / ') : '(no note)'}`);
      const head = `Recording ${l.number} (${basename(l.copyPath)}): ${l.markers.length ? `${l.markers.length} marker(s)` : l.encryptedNotDecrypted ? 'encrypted and not decrypted here: its markers are inside it ("recorder decrypt")' : 'no markers'}.`;
      out.result(command, true, { ...l }, [head, ...rows, ...(l.markers.length ? [`Notes: ${l.notesPath}`] : [])].join('\n'));
      return 0;
    }
  }
  throw new UsageError(`Unknown command "${command}"`);
}

/** The library folder under ~/Recordings holding recordings with these numbers, when it is the only one. */
async function findLibraryWith(numbers: number[], home?: string): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { homedir } = await import('node:os');
  const { indexLibrary, realFs } = await import('../engine/library.js');
  const root = join(home || homedir(), 'Recordings');
  const found: string[] = [];
  for (const n of await readdir(root).catch(() => [] as string[])) {
    const dir = join(root, n);
    const have = new Set([...(await indexLibrary(realFs, dir)).values()].map((x) => x.manifest.recording.number));
    if (numbers.every((x) => have.has(x))) found.push(dir);
  }
  if (found.length === 1) return found[0]!;
  throw new EngineError('EXPORT_REFUSED', found.length ? `Recording(s) ${numbers.join(', ')} are in several libraries (${found.join(', ')}).` : `No library under ${root} holds recording(s) ${numbers.join(', ')}.`, 'Say which library folder with --dest.');
}

/** The one recording a command names: its number (digits) or its file. */
function oneRecording(p: Parsed, command: string): string {
  if (p.positional.length !== 1) throw new UsageError(`${command} needs one recording: its number (as "recorder verify" lists them) or its file`);
  return p.positional[0]!;
}

function markerNumber(v: string, option: string): number {
  if (!/^[1-9]\d{0,5}$/.test(v)) throw new UsageError(`--${option} takes a marker number (1, 2, ...), as "recorder markers REC" lists them`);
  return Number(v);
}

/** The library folder for a recording given by number: --dest, or the only library under ~/Recordings holding it. */
async function libraryFor(p: Parsed, recording: string, io: Io, out: Out): Promise<string | undefined> {
  const dest = str(p, 'dest');
  if (dest || !/^\d{1,9}$/.test(recording)) return dest;
  try {
    return await findLibraryWith([Number(recording)], io.env.HOME);
  } catch (e) {
    // not an engine operation: no error event has said it
    if (e instanceof EngineError) out.error(`${e.message} ${e.action}`.trim());
    throw e;
  }
}

/** "3,5" -> [3, 5]; undefined when the option is absent. */
function numberList(p: Parsed, key: string): number[] | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  const parts = v.split(',').map((x) => x.trim());
  if (parts.some((x) => !/^[1-9]\d{0,9}$/.test(x))) throw new UsageError(`--${key} takes recording numbers separated by commas, e.g. 3,5`);
  return parts.map(Number);
}

async function runUi(p: Parsed, io: Io): Promise<number> {
  // Loaded dynamically: the UI is built separately and the CLI must work without it.
  const spec = '../ui/app.js';
  let mod: { runInteractive?: (o: Record<string, unknown>) => Promise<number> };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (e) {
    io.stderr.write(`The interactive app is not available (${(e as Error).message}).\n${HELP['']}\n`);
    return 2;
  }
  if (typeof mod.runInteractive !== 'function') {
    io.stderr.write(`The interactive app is not available.\n${HELP['']}\n`);
    return 2;
  }
  // The UI creates the engine itself (host/ui/app.tsx) and picks the library folder from the
  // recorder's label unless --dest is given.
  const destination = str(p, 'dest');
  let port = str(p, 'port');
  // No recorder attached and none named: the library, and the demo on the built-in simulated
  // recorder if the person asks for it.
  if (!port && !io.engine?.open) {
    const { candidates } = await discover({ ...(io.engine?.listPorts ? { listPorts: io.engine.listPorts } : {}), ...(io.engine?.listFallback ? { listFallback: io.engine.listFallback } : {}) });
    if (candidates.length > 1) {
      port = (await chooseRecorder(io, candidates)) ?? undefined;
      if (!port) {
        io.stderr.write('No recorder was chosen.\n');
        return 1;
      }
    }
    if (candidates.length === 0) {
      // The person's own library first, the demo (the simulated recorder) when they ask for it;
      // a library with nothing in it has nothing to show: the demo at once (a newcomer's start).
      const { listLibrary } = await import('../engine/listing.js');
      const { defaultLibraryRoot } = await import('../engine/privacy/owner-keys.js');
      const library = await listLibrary(destination ?? defaultLibraryRoot());
      let wantDemo = library.entries.length === 0 && library.problems.length === 0;
      if (!wantDemo) {
        const code = await mod.runInteractive({ ...(destination ? { destination } : {}), engineOptions: io.engine ?? {}, startWith: 'library', onDemo: () => (wantDemo = true) });
        if (!wantDemo) return code;
      }
      const { startDemo } = await import('./demo.js');
      let demo;
      try {
        demo = await startDemo((line) => io.stderr.write(line + '\n'));
      } catch (e) {
        io.stderr.write(`No recorder was found: plug it in with a data cable and switch it on (or name its port with --port).\nThe demo could not be started instead. ${(e as Error).message}\n`);
        return 1;
      }
      try {
        return await mod.runInteractive({ port: demo.link, destination: destination ?? demo.library, engineOptions: io.engine ?? {}, startWith: 'status' });
      } finally {
        await demo.stop();
        io.stderr.write(`The demo card and copies are in ${demo.folder} (removed at the next demo).\n`);
      }
    }
  }
  return mod.runInteractive({ port, ...(destination ? { destination } : {}), engineOptions: io.engine ?? {}, startWith: 'status' });
}

function isMain(): boolean {
  try {
    return !!process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`Unexpected problem: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
