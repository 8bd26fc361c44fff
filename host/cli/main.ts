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
import { CARD_LAYOUT, SAMPLE_RATES } from '../../protocol/src/schema.js';
import { CARD_SPEED_MARGIN, DEFAULT_MINIMUM_HOURS, cardVerdict, recordingBytesPerSecond, type ButtonSchemeName, type CardTestResult, type CardVerdict } from '../engine/card-test.js';
import { checkFlags, commandWord, parseArgs, str, UsageError, type Parsed } from './args.js';
import { makeOutput, type Out } from './output.js';
import { passphraseSource } from './passphrase.js';
import { parseTimeText, timeText, type RangeEnd } from '../engine/export/excerpt.js';
import { basename } from 'node:path';
import { fingerprintText } from '../engine/provision/handout.js';
// The TUI's date wording (pure functions, no Ink): a recording's date reads the same everywhere.
import { describeTimeLeft, formatDateTime } from '../ui/format.js';
import type { DeviceRecord, Loan } from '../engine/fleet.js';

/** The help of each command ('' the general help); a test checks it names every option the command takes. */
export const HELP: Record<string, string> = {
  '': `Usage: recorder <command> [options]

Commands:
  sync          copy new recordings from the recorder to this computer and verify them
  list          list the recordings on the recorder
  info          show the recorder's identity, battery, card and clock
  verify PATH   check copies on this computer: manifests, the recorder's signatures, its journal
  export N...   make a bundle of recordings for a solicitor: the files, a report, the checks
  library       list the recordings in the library (all, or one loan's with --loan)
  devices       list the recorders this library has met: battery, card, last seen, loan
  devices re-pin ID --reason TEXT
                stop trusting the signing key remembered for recorder ID (after a repair)
  loan open REF start a loan of the recorder (REF: your loan code): its recordings get a folder of their own
  handback      take a recorder back: copy, verify, export if asked, wipe, close its loan
  set-time      set the recorder's clock from this computer
  label NAME    give the recorder a name (shown in file names)
  settings      show or change sample rate, discreet mode and what the button does
  card-test     test the recorder's memory card: speed, room, read-back, file system
  keys          make, import or show the owner's keys that open encrypted recordings
  recipient     show, set or clear the owner key the recorder encrypts to
  decrypt N     decrypt an encrypted copy in the library (also: decrypt FILE.age)
  provision --loan REF
                set the recorder up for a family: checks, owner key, label, clock,
                settings, card test, the loan, and a hand-out to print
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
interactive app ("recorder --loan REF": its library view shows only that loan's recordings).`,
  sync: `Usage: recorder sync [--port PATH] [--dest DIR] [--delete-after-verify] [--window N] [--identity FILE] [--passphrase-file FILE] [--json]

Copies every finished recording not yet in the library, checks each copy against the SHA-256 the
recorder computed while recording, checks the recorder's journal, and writes a manifest (.json)
beside each recording. Interrupted copies continue where they stopped next time. An encrypted
recording is kept as the recorder wrote it (.age, checked against the recorder's signature) and
decrypted beside it (.wav) when this computer holds the owner key (see "recorder keys").
  --dest DIR               library folder (default ~/Recordings/<recorder label>)
  --delete-after-verify    delete each recording from the recorder once its copy is verified
  --window N               read requests in flight (default 8)
  --identity FILE          an owner key file (age) to decrypt with, besides the library's keys
  --passphrase-file FILE   the passphrase of a protected owner key (else RECORDER_PASSPHRASE, or
                           asked on the terminal when the recorder encrypts)`,
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
  export: `Usage: recorder export N... (--to DIR | --zip FILE) [--dest DIR | --loan REF] [--library DIR] [--json]

Makes a bundle of the recordings numbered N for a solicitor or a court's expert: each recording as
the recorder wrote it with its signed files, the recorder's public key, its journal up to the
recording, the library's custody log about it, VERIFY.txt (the exact commands that check it with
free standard tools), a report in plain words (report.html and report.pdf) and a page that checks
it in a web browser (check-in-browser.html). A recording that does not verify is not exported.
  --to DIR                 a new folder for the bundle (must not exist)
  --zip FILE               a new ZIP file for the bundle (must not exist)
  --dest DIR               the library folder (default: the only one under ~/Recordings holding N)
  --loan REF               the folder of this loan (its code or id, as "recorder devices" lists it)
  --library DIR            the folder holding the recorders' folders (default ~/Recordings)`,
  library: `Usage: recorder library [--loan REF | --dest DIR] [--library DIR] [--json]

Lists the recordings copied to this computer, newest first: date, recorder, number, length,
markers, and whether the copy verified when it was made (run "recorder verify" to check the bytes
again). No recorder needed.
  --loan REF               only this loan's recordings (its code or id, as "recorder devices" lists it)
  --dest DIR               only this folder (a recorder's or a loan's)
  --library DIR            the folder holding the recorders' folders (default ~/Recordings)`,
  devices: `Usage: recorder devices [--library DIR] [--json]
       recorder devices re-pin DEVICE_ID --reason TEXT [--dest DIR] [--json]

Lists every recorder this library has met, as it was when last connected: its label, id and
signing key, firmware, when it was last seen, the recordings on it, free card space, battery, and
the loan it is on. No recorder needed.
  --library DIR            the folder holding the recorders' folders (default ~/Recordings)

The library remembers each recorder's signing key the first time it sees it, and refuses a
recorder that later shows another key under the same id. When you know why the key changed (the
recorder was repaired and set up again), re-pin it: the old key is kept as history, the reason is
written to the library's log, and the next sync trusts the key the recorder shows then.
  --dest DIR               the library folder (default: the one under ~/Recordings that pins it)`,
  loan: `Usage: recorder loan open REF [--library DIR] [--port PATH] [--json]
       recorder loan close REF [--library DIR] [--json]

A loan is one family's use of a recorder. REF is your loan register's code for it (say
ADV-2025-014), never the family's name: it is written into folder names and manifests. While the
recorder is on a loan, "recorder sync" puts its recordings in a folder of that loan
(~/Recordings/<recorder>/<REF>_<date>/); "recorder library" and "recorder export" can be limited
to that folder by the loan's code.
  loan open REF            start a loan of the connected recorder (refused while it is on one)
  loan close REF           end a loan without a hand-back (nothing is wiped; "recorder handback"
                           ends it properly)
  --library DIR            the folder holding the recorders' folders (default ~/Recordings)`,
  handback: `Usage: recorder handback [--export DIR] [--yes] [--identity FILE] [--library DIR] [--port PATH] [--json]

Takes a recorder back from a family, ready for the next: copies every recording into its loan's
folder, verifies every copy there (and stops, wiping nothing, if anything does not copy or
verify), exports them all for a solicitor if asked, then wipes the recorder as "recorder wipe"
does (type its name to confirm, or --yes), closes its loan with the wipe certificate, and writes
the certificate into the custody log of the loan's folder. A recorder on no loan is copied,
checked and wiped all the same.
  --export DIR             also make a bundle of all the loan's recordings in this new folder
  --yes                    wipe without asking for the recorder's name
  --identity FILE          an owner key file (age) to decrypt with, besides the library's keys
  --library DIR            the folder holding the recorders' folders (default ~/Recordings)`,
  'set-time': 'Usage: recorder set-time [--port PATH] [--json]\n\nMeasures how far the recorder\'s clock is off, then sets it from this computer.',
  label: 'Usage: recorder label NAME [--port PATH] [--json]\n\nGives the recorder a name of up to 32 bytes.',
  settings: `Usage: recorder settings [--rate 8000|16000|32000|48000] [--discreet on|off] [--buttons standard|no-markers] [--port PATH] [--json]

Shows the settings, or changes those given.
  --buttons standard       a press starts; while recording a press drops a marker, a 2 s hold stops
  --buttons no-markers     a press starts; while recording presses do nothing (for someone who
                           fidgets with the recorder), a 2 s hold stops`,
  'card-test': `Usage: recorder card-test [--bytes N] [--port PATH] [--json]

Tests the recorder's memory card before a loan: the recorder writes a test file in its free space,
reads it back, compares and deletes it, timing both with its own clock; it reports the card's size
and free space and whether its file system was found damaged. Then says whether the card will do
at the recorder's sample rate: fast enough with a margin (${CARD_SPEED_MARGIN} times the sound's rate), room for
${DEFAULT_MINIMUM_HOURS} hours, every byte read back as written, file system sound. Exit status 0 only if it will.
The recorder must not be recording.
  --bytes N                bytes to test (default 4 MiB, at most 64 MiB)`,
  keys: `Usage: recorder keys new|import FILE|show [--passphrase] [--passphrase-file FILE] [--copy] [--library DIR] [--json]

The owner key opens encrypted recordings. The recorder holds only its public half (age1...), so
a lost or stolen recorder cannot open its own recordings; the secret half stays on this computer.
  keys new          make a new owner key (age format) and say where its secret half is
  --passphrase      keys new: protect the secret half with a passphrase (age's scrypt; the stock
                    \`age -d\` opens the file with it), asked twice on the terminal, or taken from
                    RECORDER_PASSPHRASE or --passphrase-file FILE; never give it on the command line
  keys import FILE  use an existing age key file (age-keygen's); it is remembered where it is,
                    not copied, unless --copy is given
  keys show         the owner keys' public halves (never the secret)
  --library DIR     the folder holding the recorders' folders (default ~/Recordings); the keys
                    are in its keys/ folder
If the owner key (or its passphrase) is lost, the recordings encrypted to it are lost: back it up.`,
  recipient: `Usage: recorder recipient [set [age1...]|clear] [--library DIR] [--port PATH] [--json]

Shows the owner key (its public half, age1...) the recorder encrypts new recordings to, sets it
(default: the library's only owner key), or clears it. Clearing it makes the recorder record
WITHOUT encryption from its next recording. The recorder refuses while it is recording.`,
  decrypt: `Usage: recorder decrypt N...|FILE.age... [--identity FILE] [--passphrase-file FILE] [--dest DIR] [--library DIR] [--json]

Decrypts encrypted copies in the library to a WAV beside each (.wav), and checks the WAV is the one
the recorder signed. N is a recording number in the recorder's folder (--dest, or found in the
library); FILE.age a copy. The owner key comes from --identity FILE or the library's keys; a
protected key's passphrase from --passphrase-file FILE, RECORDER_PASSPHRASE, or the terminal.`,
  provision: `Usage: recorder provision --loan REF [--label NAME] [--rate 16000] [--discreet on|off] [--buttons standard|no-markers] [--contact TEXT] [--handout FILE] [--recipient age1...] [--min-hours H] [--library DIR] [--port PATH] [--json]

Sets the attached recorder up for a family in one go. First it checks, changing nothing: the
battery (refused when low), that the recorder holds no recordings and is on no open loan (refused:
hand it back first with "recorder handback"), and its card (a write and read-back test: refused
when too slow or too small for the sample rate). Then it gives the recorder the library's owner
key (made now if the library has none: back up its secret half), its label, the clock, the sample
rate, discreet mode and the button scheme; shows its fingerprint (write it on the case); opens the
loan; and writes a one-page hand-out for the family (PDF and text: the light, the button, how
long it records, who to call) into the loan's folder. A failure names the step, keeps what was
done before it, and says what to do.
  --loan REF               the loan code from your register (e.g. ADV-03): NEVER the family's name
  --label NAME             the recorder's label (default the loan code); not a family's name either
  --rate HZ                sample rate: 8000, 16000, 32000 or 48000 (default 16000)
  --discreet on|off        on: the light stays off while it records (default off)
  --buttons standard|no-markers
                           standard: a press while recording marks the moment; no-markers: presses
                           while recording do nothing (default standard)
  --contact TEXT           who the family calls, e.g. "Sam Jones 07700 900123" (on the hand-out)
  --handout FILE           write the hand-out as FILE.pdf and FILE.txt instead
  --recipient age1...      the owner key to use when the library holds several ("recorder keys show")
  --min-hours H            the hours of recording the card must have room for (default 8)
  --library DIR            the library: its owner keys, recorders and loans (default ~/Recordings)`,
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
Exit status 0 with a certificate; 1 otherwise, with no certificate: refused (nothing erased), or
the card came out or failed during the wipe (WIPE_UNFINISHED: the keys are gone and the card part
erased; put the card back, the recorder finishes the wipe, then run "recorder wipe" again).
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

const megabytes = (b: number): string => `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;
const kbPerS = (b: number): string => `${Math.round(b / 1000).toLocaleString('en-GB')} KB/s`;

/** The card test and its verdict in plain words. */
function cardTestText(r: CardTestResult, v: CardVerdict, sampleRate: number, encrypted: boolean): string {
  const fs = { ok: 'sound', repaired: 'repaired after an interrupted update (nothing lost)', damaged: 'DAMAGED' }[r.fileSystem];
  const lines = [
    `  Card:        ${megabytes(r.capacityBytes)}, ${megabytes(r.freeBytes)} free`,
    `  Tested:      ${megabytes(r.testedBytes)}: written at ${kbPerS(r.writeBytesPerSecond)}, read back at ${kbPerS(r.readBytesPerSecond)} (${(r.elapsedMs / 1000).toFixed(1)} s)`,
    `  Read back:   ${r.readBackMatched ? 'every byte as written' : 'NOT as written'}`,
    `  File system: ${fs}`,
  ];
  const at = `at ${sampleRate} Hz${encrypted ? ', encrypted' : ''}`;
  if (v.ok) return [...lines, `The card will do for a loan ${at}: room for about ${Math.floor(r.freeBytes / recordingBytesPerSecond(sampleRate, encrypted) / 3600)} hours.`].join('\n');
  return [...lines, `The card will NOT do for a loan ${at}:`, ...v.problems.flatMap((p) => [`  - ${p.message}`, `    What to do: ${p.action}`])].join('\n');
}

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

/** --rate, --discreet and --buttons as `settings` and `provision` take them: checked, and only those given. */
function settingsFlags(p: Parsed): { sampleRate?: number; discreet?: boolean; buttonScheme?: ButtonSchemeName } {
  const rate = str(p, 'rate');
  const discreet = str(p, 'discreet');
  const buttons = str(p, 'buttons');
  if (rate !== undefined && !(SAMPLE_RATES as readonly number[]).includes(Number(rate))) throw new UsageError(`--rate must be one of ${SAMPLE_RATES.join(', ')}`);
  if (discreet !== undefined && discreet !== 'on' && discreet !== 'off') throw new UsageError('--discreet must be on or off');
  if (buttons !== undefined && buttons !== 'standard' && buttons !== 'no-markers') throw new UsageError('--buttons must be standard or no-markers');
  return {
    ...(rate !== undefined ? { sampleRate: Number(rate) } : {}),
    ...(discreet !== undefined ? { discreet: discreet === 'on' } : {}),
    ...(buttons !== undefined ? { buttonScheme: buttons } : {}),
  };
}

async function runCommand(p: Parsed, io: Io, out: Out, signal: AbortSignal): Promise<number> {
  const command = p.command!;
  const interactive = isInteractive(io) && !p.flags.has('json');
  const timeout = str(p, 'timeout');
  if (timeout !== undefined && !(Number(timeout) >= 1)) throw new UsageError('--timeout is in milliseconds, e.g. --timeout 5000');
  const options: EngineOptions = {
    port: str(p, 'port'),
    ...(io.env.HOME ? { home: io.env.HOME } : {}),
    // The library root (keys, recipient and decrypt take it per call as well).
    ...(p.flags.get('library') ? { library: str(p, 'library') } : {}),
    signal,
    timeoutMs: timeout ? Number(timeout) : undefined,
    choose: interactive ? (c: Candidate[]) => chooseRecorder(io, c) : undefined,
    passphrase: passphraseSource(io, str(p, 'passphrase-file')),
    ...io.engine,
  };
  const engine = createEngine(options);
  engine.on((e) => out.event(e));

  switch (command) {
    case 'sync': {
      checkFlags(p, ['dest', 'delete-after-verify', 'window', 'identity', 'passphrase-file']);
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
          `  Button:     ${d.buttonScheme === 'no-markers' ? 'no-markers (presses while recording do nothing)' : 'standard (a press while recording drops a marker)'}`,
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
      checkFlags(p, ['to', 'zip', 'dest', 'loan', 'library']);
      if (p.positional.length === 0) throw new UsageError('export needs the number of at least one recording');
      const numbers = p.positional.map((x) => (/^\d{1,9}$/.test(x) ? Number(x) : NaN));
      if (numbers.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError('recordings are given by their number (1, 2, ...), as `recorder list` shows them');
      const to = str(p, 'to');
      const zip = str(p, 'zip');
      if (!!to === !!zip) throw new UsageError('say where the bundle goes: --to DIR or --zip FILE (one of the two)');
      let library = str(p, 'dest');
      const loan = str(p, 'loan');
      if (library && loan) throw new UsageError('give --dest DIR or --loan REF, not both');
      try {
        if (loan) library = (await engine.loans.find({ loan })).folder;
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
      checkFlags(p, ['reason', 'dest', 'library']);
      const [sub, deviceId] = p.positional;
      if (sub === undefined) {
        if (p.flags.has('reason') || p.flags.has('dest')) throw new UsageError('--reason and --dest are for "recorder devices re-pin"');
        const f = await engine.fleet();
        const loans = new Map(f.loans.map((l) => [l.id, l]));
        const devices = f.devices.map((d) => ({ ...d, loan: d.currentLoanId ? (loans.get(d.currentLoanId) ?? null) : null }));
        out.result('devices', true, { library: f.library, devices, loans: f.loans }, devices.length ? devices.map(deviceLines).join('\n') : `No recorder has been connected to the library ${f.library} yet.`);
        return 0;
      }
      if (p.flags.has('library')) throw new UsageError('--library is for "recorder devices" (the list); re-pin takes --dest');
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
    case 'library': {
      checkFlags(p, ['loan', 'dest', 'library']);
      if (p.positional.length) throw new UsageError('library takes no arguments');
      const loan = str(p, 'loan');
      const dest = str(p, 'dest');
      if (loan && dest) throw new UsageError('give --dest DIR or --loan REF, not both');
      const { listLibrary } = await import('../engine/listing.js');
      const folder = loan ? (await engine.loans.find({ loan })).folder : (dest ?? (await engine.fleet()).library);
      const l = await listLibrary(folder);
      const rows = l.entries.map((e) => `  ${formatDateTime(e.startUnixMs).padEnd(17)}  ${(e.deviceLabel || e.deviceId).padEnd(12)}  ${String(e.number).padStart(5)}  ${timeText(e.durationMs).padStart(8)}  ${e.markers.length ? `${e.markers.length} marker(s)  ` : ''}${e.verification === 'verified' ? 'verified' : e.verification === 'missing' ? 'COPY MISSING' : 'PROBLEMS'}${e.encrypted ? (e.decrypted ? ', encrypted (decrypted here)' : ', encrypted') : ''}  ${basename(e.copyPath)}`);
      const problems = l.problems.map((x) => `  CANNOT READ ${x.path}: ${x.message}`);
      out.result('library', l.problems.length === 0, { root: l.root, exists: l.exists, entries: l.entries, problems: l.problems }, [...rows, ...problems, `${l.entries.length} recording(s) in ${l.root}.`].join('\n'));
      return l.problems.length === 0 ? 0 : 1;
    }
    case 'loan': {
      checkFlags(p, ['library']);
      const [sub, reference, ...rest] = p.positional;
      if (rest.length || !reference || (sub !== 'open' && sub !== 'close')) throw new UsageError('use: recorder loan open REF | loan close REF');
      const l = sub === 'open' ? await engine.loans.open({ reference }) : await engine.loans.close({ loan: reference });
      out.result('loan', true, { loan: l });
      return 0;
    }
    case 'handback': {
      checkFlags(p, ['export', 'yes', 'identity', 'library']);
      if (p.positional.length) throw new UsageError('handback takes no arguments');
      const yes = p.flags.has('yes');
      if (!yes && !interactive) throw new UsageError('handback wipes the recorder: run it on a terminal to confirm, or add --yes');
      const identity = str(p, 'identity');
      const r = await engine.handback({
        exportTo: str(p, 'export'),
        ...(identity ? { identityFiles: [identity] } : {}),
        confirm: async (d, h, loan) => {
          const name = d.label || d.deviceId;
          io.stderr.write(`Everything on recorder "${d.label || '(no label)'}" (id ${d.deviceId}${d.simulated ? ', simulator' : ''}) is copied and verified. This will now WIPE it${loan ? ` and close loan ${loan.reference}` : ''}: ${h.total} recording(s) erased from it, the keys of its recordings destroyed.\n`);
          if (yes) return true;
          const a = await ask(io, `Type ${JSON.stringify(name)} to wipe it, or press Enter to cancel: `);
          return a.trim() === name;
        },
      });
      out.result('handback', r !== null, r ? { ...r } : { wiped: false });
      return r ? 0 : 1;
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
      checkFlags(p, ['rate', 'discreet', 'buttons']);
      const r = await engine.settings(settingsFlags(p));
      out.result('settings', true, r);
      return 0;
    }
    case 'card-test': {
      checkFlags(p, ['bytes']);
      if (p.positional.length) throw new UsageError('card-test takes no arguments');
      const b = str(p, 'bytes');
      if (b !== undefined && !(/^\d+$/.test(b) && Number(b) >= 512 && Number(b) <= CARD_LAYOUT.cardTestMaxBytes)) throw new UsageError(`--bytes must be a number of bytes from 512 to ${CARD_LAYOUT.cardTestMaxBytes}`);
      const d = await engine.info();
      const r = await engine.cardTest({ bytes: b === undefined ? undefined : Number(b) });
      const verdict = cardVerdict(r, { sampleRate: d.sampleRate, encrypted: d.encrypting });
      out.result('card-test', verdict.ok, { result: r, sampleRate: d.sampleRate, encrypted: d.encrypting, verdict }, cardTestText(r, verdict, d.sampleRate, d.encrypting));
      return verdict.ok ? 0 : 1;
    }
    case 'keys': {
      checkFlags(p, ['library', 'copy', 'passphrase', 'passphrase-file']);
      const [sub, file, ...rest] = p.positional;
      const library = str(p, 'library');
      if (rest.length) throw new UsageError('too many arguments');
      if (sub === 'new' && !file) {
        const protect = p.flags.has('passphrase') || p.flags.has('passphrase-file');
        const r = await engine.keys.create({ library, passphrase: protect });
        out.result('keys', true, { library: r.library, recipient: r.key.recipient, file: r.key.file, passphrase: protect }, `Recipient (public, give it to the recorder with "recorder recipient set"): ${r.key.recipient}\nSecret key file (back it up; losing it${protect ? ' or its passphrase' : ''} loses the recordings): ${r.key.file}`);
        return 0;
      }
      if (sub === 'import' && file) {
        const r = await engine.keys.import(file, { library, copy: p.flags.has('copy') });
        out.result('keys', true, { library: r.library, keys: r.keys.map((k) => ({ recipient: k.recipient, file: k.file, stored: k.stored })) }, r.keys.map((k) => `Recipient: ${k.recipient}`).join('\n'));
        return 0;
      }
      if ((sub === 'show' || sub === undefined) && !file) {
        const r = await engine.keys.show({ library });
        const lines = r.keys.map((k) => `  ${k.recipient}  ${k.usable ? 'usable' : 'CANNOT BE USED'}${k.passphrase ? '  (passphrase)' : ''}  ${k.stored === 'referenced' ? 'key file kept at' : 'key file'} ${k.file}`);
        out.result('keys', true, { library: r.library, folder: r.folder, keys: r.keys.map((k) => ({ recipient: k.recipient, file: k.file, stored: k.stored, usable: k.usable, problem: k.problem, passphrase: !!k.passphrase })) }, `${lines.join('\n') || '  (no owner keys: make one with "recorder keys new")'}\nOwner keys of ${r.library} (listed in ${r.folder}).`);
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
      checkFlags(p, ['identity', 'dest', 'library', 'passphrase-file']);
      if (p.positional.length === 0) throw new UsageError('decrypt needs a recording number or an .age file');
      const identity = str(p, 'identity');
      const r = await engine.decrypt({ targets: p.positional, destination: str(p, 'dest'), library: str(p, 'library'), identityFiles: identity ? [identity] : [] });
      const ok = r.every((x) => x.ok);
      out.result('decrypt', ok, { results: r }, ok ? `Decrypted ${r.length} recording(s).` : `${r.filter((x) => !x.ok).length} of ${r.length} could not be decrypted; the messages above say why. Nothing was changed in the encrypted copies.`);
      return ok ? 0 : 1;
    }
    case 'provision': {
      checkFlags(p, ['loan', 'label', 'rate', 'discreet', 'buttons', 'contact', 'handout', 'recipient', 'min-hours', 'library']);
      if (p.positional.length) throw new UsageError('provision takes no arguments: give the loan code with --loan REF');
      const loan = str(p, 'loan');
      if (!loan?.trim()) throw new UsageError("provision needs --loan REF: the loan code from your register (never the family's name)");
      const settings = settingsFlags(p);
      const minHours = str(p, 'min-hours');
      if (minHours !== undefined && !(Number(minHours) > 0 && Number(minHours) <= 10_000)) throw new UsageError('--min-hours takes a number of hours, e.g. 8 or 0.5');
      const r = await engine.provision({
        loan,
        label: str(p, 'label'),
        ...settings,
        contact: str(p, 'contact'),
        handout: str(p, 'handout'),
        recipient: str(p, 'recipient'),
        ...(minHours ? { minimumHours: Number(minHours) } : {}),
        library: str(p, 'library'),
      });
      const hours = (h: number) => (h >= 10 ? Math.floor(h) : Math.floor(h * 2) / 2);
      out.result('provision', true, { result: r }, [
        `Recorder "${r.label}" (id ${r.deviceId}) is ready for loan ${r.loan.reference}.`,
        `  Fingerprint: ${r.fingerprint ? `${fingerprintText(r.fingerprint)}   (write it on the case and in your loan register)` : 'none: this recorder does not sign its recordings'}`,
        `  Owner key:   ${!r.ownerKey.recipient ? 'none: this recorder cannot encrypt, its recordings are NOT encrypted' : `${r.ownerKey.recipient}${r.ownerKey.file ? `, secret half in ${r.ownerKey.file}${r.ownerKey.created ? ' (NEW: back it up now)' : ''}` : ' (its secret half is not on this computer)'}`}`,
        `  Settings:    ${r.settings.sampleRate} Hz, discreet mode ${r.settings.discreet ? 'on' : 'off'}, ${r.settings.buttonScheme} button`,
        `  Records:     about ${hours(r.cardHours)} hours on the card; a full battery about ${hours(r.batteryHours.small)} hours (estimate; ${hours(r.batteryHours.large)} with the 1000 mAh cell)`,
        `  Loan folder: ${r.loanFolder}`,
        `  Hand-out:    ${r.handout.pdf} (print it; text: ${basename(r.handout.text)})`,
      ].join('\n'));
      return 0;
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

/** A recorder of the fleet in a few lines (recorder devices). */
function deviceLines(d: DeviceRecord & { loan: Loan | null }): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  return [
    `  ${d.label || '(no label)'}  (id ${d.deviceId}${d.keyFingerprint ? `, key ${d.keyFingerprint}` : ''})`,
    `      ${[d.model, d.firmware ? `firmware ${d.firmware}` : null].filter(Boolean).join(', ') || 'model not known'}; last seen ${formatDateTime(Date.parse(d.lastSeen))}`,
    `      ${d.recordings ?? '?'} recording(s) on it, ${d.freeBytes !== undefined ? `${mb(d.freeBytes)} free` : 'free space not known'}, battery ${d.batteryMv !== undefined ? `${d.batteryMv} mV` : 'not known'}${d.lowBattery ? ' (LOW)' : ''}`,
    `      ${d.loan ? `on loan ${d.loan.reference} since ${formatDateTime(Date.parse(d.loan.openedAt))} (${d.loan.id})` : 'not on loan'}`,
  ].join('\n');
}

/** The library folder under ~/Recordings holding recordings with these numbers, when it is the only one. */
async function findLibraryWith(numbers: number[], home?: string): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { homedir } = await import('node:os');
  const { indexLibrary, realFs } = await import('../engine/library.js');
  const root = join(home || homedir(), 'Recordings');
  const found: string[] = [];
  const folders = async (dir: string) => (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && !e.name.startsWith('.') && !e.name.endsWith('.evidence')).map((e) => join(dir, e.name));
  // A recorder's folders, and its loans' folders inside them (issue 16).
  for (const dir of (await Promise.all((await folders(root)).map(async (d) => [d, ...(await folders(d))]))).flat()) {
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
  // --loan REF: the library view shows that loan's folder only (issue 16).
  const loan = str(p, 'loan');
  let library: string | undefined;
  if (loan) {
    try {
      library = (await createEngine({ ...io.engine, ...(io.env.HOME ? { home: io.env.HOME } : {}) }).loans.find({ loan })).folder;
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      io.stderr.write(`${e.message} ${e.action}\n`);
      return 1;
    }
  }
  const scoped = library ? { library } : {};
  // Ink owns the terminal: a protected owner key's passphrase comes from RECORDER_PASSPHRASE or
  // --passphrase-file, else from the app's own masked prompt (host/ui/passphrase-asker.ts; Esc
  // there: encrypted recordings are copied, not decrypted).
  const uiEngine: Partial<EngineOptions> = { passphrase: passphraseSource(io, str(p, 'passphrase-file'), { prompt: false }), ...(io.engine ?? {}) };
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
      const listing = await listLibrary(library ?? destination ?? defaultLibraryRoot());
      let wantDemo = listing.entries.length === 0 && listing.problems.length === 0 && !library;
      if (!wantDemo) {
        const code = await mod.runInteractive({ ...(destination ? { destination } : {}), ...scoped, engineOptions: uiEngine, startWith: 'library', onDemo: () => (wantDemo = true) });
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
        return await mod.runInteractive({ port: demo.link, destination: destination ?? demo.library, engineOptions: uiEngine, startWith: 'status' });
      } finally {
        await demo.stop();
        io.stderr.write(`The demo card and copies are in ${demo.folder} (removed at the next demo).\n`);
      }
    }
  }
  return mod.runInteractive({ port, ...(destination ? { destination } : {}), ...scoped, engineOptions: uiEngine, startWith: 'status' });
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
