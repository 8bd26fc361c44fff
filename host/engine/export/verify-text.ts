/**
 * VERIFY.txt: the exact commands that check a bundle with free standard tools, each with the
 * output it prints when everything is in order. The end-to-end test (test/export-sim.test.ts)
 * runs them as written, so the format is strict:
 *
 * - `In the folder <name>:` (or `In the bundle folder:`) says where the commands below it run;
 * - a line starting with `  $ ` is a command, to be run with `sh` as it stands;
 * - the indented lines after it, up to a blank line, are its expected output (stdout and stderr).
 */
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { keyFileNames } from '../evidence/pins.js';
import { cardName } from '../evidence/recording.js';
import { JOURNAL_RECORD_SIZE } from '../journal.js';
import { audioName, type BundleRecording, type BundleSource } from './gather.js';

export const KEYS_FOLDER = 'keys';
export const JOURNAL_FILE = 'journal.bin';
export const MANIFEST_FILE = 'manifest.json';
export const CUSTODY_FILE = 'custody.log';
export const REPORT_HTML = 'report.html';
export const REPORT_PDF = 'report.pdf';
export const VERIFIER_HTML = 'check-in-browser.html';
export const VERIFY_TXT = 'VERIFY.txt';
/** What VERIFY.txt calls the owner's age key file, which is never in a bundle. */
export const OWNER_KEY_FILE = 'owner.txt';

/** A command and what it prints when the bundle is genuine. */
export interface Step {
  command: string;
  expect: string[];
}

export interface StepGroup {
  /** Folder in the bundle the commands run in; '' for the bundle folder itself. */
  folder: string;
  intro: string;
  steps: Step[];
}

const wrap = (text: string, width = 78) => {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) {
      out.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(line);
  return out.join('\n');
};

const tmpFile = (name: string) => `"\${TMPDIR:-/tmp}/${name}"`;

/** The steps for one recording, run in its folder. */
export function recordingSteps(r: BundleRecording): StepGroup {
  const n = r.manifest.recording.number;
  const name = (ext: string) => cardName(n, ext);
  const sha = name(CARD_LAYOUT.statementExt);
  const sig = name(CARD_LAYOUT.signifyExt);
  const msg = name(CARD_LAYOUT.minisignExt);
  const o = r.original;
  const wav = audioName(o);
  const steps: Step[] = [];
  // An encrypted recording not decrypted for the bundle: the WAV the statement lists is made
  // first with the owner's key (never in a bundle), so that the checks below find it.
  if (o.kind === 'age' && !o.decryptedPath) steps.push({ command: `age -d -i ${OWNER_KEY_FILE} ${o.name} > ${wav}`, expect: [] });
  if (r.signed && r.keyId && r.trustedComment) {
    const keys = keyFileNames(r.keyId);
    // in the statement's own order (sha256sum -c and signify print them so); an encrypted
    // recording's lists the .AGE and the WAV inside it
    const listed = Object.keys(r.manifest.evidence?.statement ?? {}).map((f) => `${f}: OK`);
    steps.push({ command: `sha256sum -c ${sha}`, expect: listed });
    steps.push({ command: `signify-openbsd -C -p ../${KEYS_FOLDER}/${keys.signify} -x ${sig}`, expect: ['Signature Verified', ...listed] });
    steps.push({
      command: `minisign -Vm ${sha} -x ${msg} -p ../${KEYS_FOLDER}/${keys.minisign}`,
      expect: ['Signature and comment signature verified', `Trusted comment: ${r.manifest.evidence!.trustedComment}`],
    });
    const sigBin = tmpFile(`${name('sig')}.bin`);
    steps.push({ command: `sed -n 2p ${sig} | base64 -d | tail -c 64 > ${sigBin}`, expect: [] });
    steps.push({ command: `openssl pkeyutl -verify -pubin -inkey ../${KEYS_FOLDER}/${keys.pem} -rawin -in ${sha} -sigfile ${sigBin}`, expect: ['Signature Verified Successfully'] });
    if (r.journal) {
      steps.push({ command: `dd if=${JOURNAL_FILE} bs=${JOURNAL_RECORD_SIZE} skip=${r.journal.index} count=1 2>/dev/null | sha256sum`, expect: [`${r.trustedComment.jrec}  -`] });
    }
  } else {
    steps.push({ command: `sha256sum ${o.name}`, expect: [`${r.manifest.file.sha256}  ${o.name}`] });
    const derived = r.manifest.encryption?.derived;
    if (o.kind === 'age' && derived) steps.push({ command: `sha256sum ${wav}`, expect: [`${derived.sha256}  ${wav}`] });
  }
  steps.push({
    command: `ffprobe -v error -show_entries stream=codec_name,sample_rate,channels -of default=noprint_wrappers=1 ${wav}`,
    expect: ['codec_name=pcm_s16le', `sample_rate=${r.manifest.recording.sampleRate}`, 'channels=1'],
  });
  return { folder: r.folder, intro: `Recording ${n}`, steps };
}

/** The key's fingerprint, worked out from the key file itself. */
export function keySteps(keyId: string): StepGroup {
  return {
    folder: '',
    intro: `The recorder's key ${keyId}`,
    steps: [{ command: `sed -n 2p ${KEYS_FOLDER}/${keyFileNames(keyId).signify} | base64 -d | tail -c 32 | sha256sum | cut -c 1-16`, expect: [keyId] }],
  };
}

export function verifyGroups(src: BundleSource): StepGroup[] {
  return [...[...src.keys.keys()].map(keySteps), ...src.recordings.map(recordingSteps)];
}

function renderGroup(g: StepGroup): string {
  const where = g.folder ? `In the folder ${g.folder}:` : 'In the bundle folder:';
  return [where, '', ...g.steps.map((s) => [`  $ ${s.command}`, ...s.expect.map((l) => `  ${l}`), ''].join('\n'))].join('\n');
}

/** The whole of VERIFY.txt. */
export function verifyText(src: BundleSource, madeAtIso: string): string {
  const signed = src.recordings.filter((r) => r.signed);
  const unsigned = src.recordings.filter((r) => !r.signed);
  const p = (s: string) => wrap(s) + '\n';
  const out: string[] = [];
  out.push('HOW TO CHECK THIS BUNDLE WITH FREE STANDARD TOOLS', '='.repeat(49), '');
  out.push(p(`This bundle was made on ${madeAtIso} by the evidence recorder app. It holds ${src.recordings.length} recording(s), each in a folder of its own, as the recorder wrote it, with the files the recorder signed. The report (${REPORT_HTML}, also ${REPORT_PDF}) explains them in plain words; ${VERIFIER_HTML} checks them in a web browser without any of the tools below.`));
  out.push(p('The commands below need a terminal (Linux, macOS, or WSL on Windows) and these free tools: sha256sum (coreutils), signify (Debian/Ubuntu package signify-openbsd; elsewhere the command is "signify"), minisign, openssl (3.0 or later), dd, base64, ffprobe (ffmpeg). Any one of signify, minisign and openssl is enough for the signature: they check the same signature. Run each command in the folder named above it. Each ends with exit status 0 and prints exactly the lines below it when everything is in order; any other output, or a non-zero exit status, means the check failed.'));
  out.push(p('What each check shows: sha256sum, that each file is byte for byte the one the statement (REC*.SHA) lists; signify, that the recorder\'s key signed the statement, and then the files again; minisign, the same signature and the recorder\'s signed description of the recording (its "trusted comment": recording number, start and stop by the recorder\'s clock, samples, checksums); openssl, the same signature with a third tool; dd and sha256sum, that journal.bin holds the journal entry the recorder signed for this recording (its checksum is the "jrec" of the trusted comment; the entries before it are the recorder\'s earlier journal, each naming the checksum of the one before); ffprobe, that the recording is ordinary 16-bit PCM audio at the stated sample rate.'));
  if (signed.length) {
    out.push(p(`The key: the first step works out the recorder's key fingerprint from the key file. It must be the fingerprint given on the first page of the report, and the one the recorder's own library knows: "recorder verify" on the owner's library names it, and it is in the name of the library's recorder-<fingerprint>.pub file. A bundle whose key file was replaced by another key passes the other checks with that other key; only this comparison shows it.`));
  }
  const encrypted = src.recordings.filter((r) => r.original.kind === 'age');
  if (encrypted.length) {
    const notDecrypted = encrypted.filter((r) => r.original.kind === 'age' && !r.original.decryptedPath);
    out.push(p(`Recording(s) ${encrypted.map((r) => r.manifest.recording.number).join(', ')} were encrypted on the recorder as they were recorded (age format, https://age-encryption.org), so that only the holder of the owner's key can listen to them. The REC*.AGE file is the recording exactly as the recorder wrote it; the recorder's statement lists both it and the WAV audio it decrypts to, so the checks below check both.${notDecrypted.length ? ` For recording(s) ${notDecrypted.map((r) => r.manifest.recording.number).join(', ')} the WAV is not in this bundle: the first command makes it with the free tool age (1.1 or later) and the owner's key file, written ${OWNER_KEY_FILE} there (give its path instead). The owner's key is never part of a bundle; only its owner can run that step, or give the decrypted WAV.` : ' The decrypted WAV is in the bundle beside it.'}`));
  }
  if (unsigned.length) {
    out.push(p(`Recording(s) ${unsigned.map((r) => r.manifest.recording.number).join(', ')} carry no signature from the recorder (it had no signing key when it made them). For those only the checksum the app recorded when it copied them can be checked; nothing shows which recorder made them.`));
  }
  const estimated = src.recordings.filter((r) => !r.manifest.recording.clockSet && r.manifest.times.estimate);
  if (estimated.length) {
    out.push(p(`Recording(s) ${estimated.map((r) => r.manifest.recording.number).join(', ')} were made while the recorder's clock was lost (its battery had run flat), so their signed description gives no start time. The report gives the start the app estimated when it copied them, from how long the recorder had been running and from its journal, with the earliest and latest times it can have been; no signature covers that estimate, and the checks below do not check it.`));
  }
  out.push(p(`What the checks do not show: that nobody else had the recorder's key (someone holding the recorder could copy it), that the recorder's clock was right, or what happened in the room beyond the sound the microphone picked up. The report says more.`));
  out.push('', 'THE COMMANDS', '-'.repeat(12), '');
  for (const g of verifyGroups(src)) out.push(`${g.intro}.`, renderGroup(g));
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

/** Parses VERIFY.txt back into its command groups (for the tests that run it as written). */
export function parseVerifyText(text: string): StepGroup[] {
  const groups: StepGroup[] = [];
  let g: StepGroup | null = null;
  let step: Step | null = null;
  for (const line of text.split('\n')) {
    const where = /^In the (?:folder (\S+)|bundle folder):$/.exec(line);
    if (where) {
      g = { folder: where[1] ?? '', intro: '', steps: [] };
      groups.push(g);
      step = null;
    } else if (g && line.startsWith('  $ ')) {
      step = { command: line.slice(4), expect: [] };
      g.steps.push(step);
    } else if (g && step && line.startsWith('  ')) step.expect.push(line.slice(2));
    else step = null;
  }
  return groups;
}
