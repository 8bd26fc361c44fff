/**
 * What the report says, in plain words, worked out once from the bundle: report.ts renders it as
 * HTML, pdf.ts as a PDF, so both say the same. Written for a reader who is not technical: the
 * first page holds no checksums, only the recorder's key fingerprint (which the reader compares);
 * the checksums are in the technical appendix at the end.
 */
import { loudnessOfWavFile } from '../loudness.js';
import type { CustodyEntry } from '../custody.js';
import type { ManifestClockSinceSet, ManifestTimeEstimate } from '../library.js';
import type { BundleRecording, BundleSource } from './gather.js';
import { VERIFIER_HTML, VERIFY_TXT } from './verify-text.js';

/** How a reader ties the key fingerprint to the recorder (the report, the PDF, the verifier page). */
export const FINGERPRINT_ADVICE =
  'Ask the recorder\'s owner, or the advocate who lent the recorder, to compare it with the fingerprint their recorder app shows when it checks their copies ("recorder verify" names it). If it is the same, the signatures in this bundle were made by that recorder\'s key.';

/** Bars of the loudness picture across the whole recording. */
export const LOUDNESS_BARS = 480;

export type Verdict = 'verified' | 'not verified';

export interface Marker {
  /** Seconds from the start. */
  atSeconds: number;
  label: string;
}

export interface ReportRecording {
  number: number;
  folder: string;
  title: string;
  verdict: Verdict;
  /** One sentence for the first page. */
  summary: string;
  facts: { label: string; value: string }[];
  /** What the checks found, one plain sentence each. */
  checks: string[];
  /** Gaps, power cuts, missed audio: [] when there are none. */
  warnings: string[];
  durationSeconds: number;
  loudness: number[];
  /** An encrypted recording not decrypted for the bundle: no audio to draw the picture from. */
  audioEncrypted: boolean;
  markers: Marker[];
  /** For the appendix: file name and SHA-256, and the signed description. */
  technical: { label: string; value: string }[];
}

export interface ReportModel {
  title: string;
  madeAt: string;
  appVersion: string;
  /** Key fingerprints of the recorders (none for unsigned recordings). */
  fingerprints: { keyId: string; label: string; simulated: boolean }[];
  recordings: ReportRecording[];
  /** The library-wide checks (journal complete and unbroken, custody log chained), in words. */
  libraryChecks: string[];
  custody: { when: string; what: string }[];
  proves: string[];
  doesNotProve: string[];
  howToCheck: string[];
}

const pad = (n: number) => String(n).padStart(2, '0');
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "Saturday 14 March 2026, 10:30:00 (UTC+01:00)" in this computer's time zone. */
export function formatWhen(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const zone = `UTC${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${DAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}, ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} (${zone})`;
}

/** "1 hour 2 minutes 5 seconds". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const parts: string[] = [];
  const unit = (n: number, w: string) => (n ? [`${n} ${w}${n === 1 ? '' : 's'}`] : []);
  parts.push(...unit(Math.floor(s / 3600), 'hour'), ...unit(Math.floor((s % 3600) / 60), 'minute'), ...unit(s % 60, 'second'));
  return parts.join(' ') || '0 seconds';
}

/**
 * A start placed in time by the app (host/engine/placement.ts), for a recording made while the
 * recorder's clock was lost: "about <when>, between <when> and <when> (estimated: ...)".
 */
export function estimatedStartText(e: Pick<ManifestTimeEstimate, 'startUnixMs' | 'earliestUnixMs' | 'latestUnixMs'>): string {
  const why = "estimated: the recorder's clock was lost (its battery ran flat), so the app placed the start from how long the recorder had been running and from its journal when it copied the recording; no signature covers this estimate";
  if (e.earliestUnixMs === null) return `before ${formatWhen(e.latestUnixMs)} (${why})`;
  return `about ${formatWhen(e.startUnixMs)}, between ${formatWhen(e.earliestUnixMs)} and ${formatWhen(e.latestUnixMs)} (${why})`;
}

/** The clock's last set before a dated recording and its drift since (host/engine/clock-since-set.ts), as a sentence. */
export function clockSinceSetSentence(c: Pick<ManifestClockSinceSet, 'lastSetUnixMs' | 'driftMs' | 'driftPpm'>): string {
  const set = `The clock was last set before this recording on ${formatWhen(c.lastSetUnixMs)}`;
  if (c.driftMs === null || c.driftPpm === null) return `${set}; how far it drifted after that was not measured.`;
  const s = Math.abs(c.driftMs) / 1000;
  return `${set}; when it was next checked it had drifted ${s < 10 ? s.toFixed(1) : Math.round(s)} seconds ${c.driftMs >= 0 ? 'ahead' : 'behind'} (${Math.abs(c.driftPpm)} parts per million).`;
}

const STOP_WORDS: Record<string, string> = {
  button: 'the button on the recorder was pressed',
  host: 'it was stopped from the app',
  'card-full': 'the memory card was full',
  'low-battery': 'the battery ran low',
  'power-loss': 'the power was lost (the recording was closed when the power came back)',
  'card-error': 'the memory card failed',
  'card-removed': 'the memory card was taken out',
  'max-length': 'it reached the longest length the recorder allows',
};

function recordingModel(r: BundleRecording, loudness: number[]): ReportRecording {
  const m = r.manifest;
  const rec = m.recording;
  const n = rec.number;
  const rate = Math.max(1, rec.sampleRate);
  const durationSeconds = rec.sampleCount / rate;
  const clockSet = rec.clockSet;
  const startMs = Number(m.times.deviceStartUnixMs);
  const stopMs = m.times.deviceStopUnixMs === null ? null : Number(m.times.deviceStopUnixMs);
  const label = m.device.label || 'without a name';
  const facts: ReportRecording['facts'] = [];
  facts.push({ label: 'Recorder', value: `"${label}"${m.device.simulated ? ' (a SIMULATED recorder, for demonstrations and tests: this recording says nothing about any real meeting)' : ''}` });
  const o = r.original;
  if (o.kind === 'age') {
    facts.push({
      label: 'Encrypted',
      value: `Yes: the recorder encrypted this recording as it recorded it (age format), so that only the holder of its owner's key can listen to it. ${o.name} is the file exactly as the recorder wrote and signed it. ${o.decryptedPath ? `${o.wavName} beside it is the audio decrypted from it with the owner's key; the recorder signed its checksum too.` : `The audio in it was not decrypted for this bundle; the owner's key (never part of a bundle) is needed to listen to it, as VERIFY.txt shows.`}`,
    });
  }
  if (clockSet) {
    facts.push({ label: 'Started', value: formatWhen(startMs) });
    if (stopMs !== null) facts.push({ label: 'Stopped', value: formatWhen(stopMs) });
    const off = m.clock.offsetMs;
    const since = m.times.clockSinceSet;
    facts.push({
      label: 'Clock',
      value: `These times are the recorder's own clock, which is set from the owner's computer whenever the app connects.${since ? ` ${clockSinceSetSentence(since)}` : ''}${off !== null ? ` When this recording was copied (${formatWhen(Date.parse(m.times.copiedAtIso))}) the recorder's clock was ${Math.abs(off / 1000).toFixed(1)} seconds ${off > 0 ? 'ahead of' : 'behind'} that computer.` : ''}`,
    });
  } else if (m.times.estimate) {
    facts.push({ label: 'Started', value: estimatedStartText(m.times.estimate) });
  } else {
    facts.push({ label: 'Started', value: "not known: the recorder's clock had not been set, so it counted from when it was switched on" });
  }
  facts.push({ label: 'Length', value: formatDuration(durationSeconds) });
  facts.push({ label: 'Why it stopped', value: STOP_WORDS[rec.stopReason] ?? 'not recorded' });
  facts.push({ label: 'Copied to the computer', value: formatWhen(Date.parse(m.times.copiedAtIso)) });

  const warnings: string[] = [];
  const markers: Marker[] = [{ atSeconds: 0, label: 'start' }];
  const vouched = m.evidence?.checkpoints?.vouchedSamples ?? null;
  if (rec.recovered || rec.stopReason === 'power-loss') warnings.push('The power was lost during this recording. The recorder closed the recording when the power came back; the audio up to the power cut is in the file.');
  if (r.signed && vouched !== null && vouched < rec.sampleCount) {
    const at = vouched / rate;
    warnings.push(`While it was recording, the recorder signed the audio up to ${formatDuration(at)}. The last ${formatDuration(durationSeconds - at)} are present, and were signed only after the power came back.`);
    markers.push({ atSeconds: at, label: 'signed while recording up to here' });
  }
  if (rec.overruns > 0) warnings.push(`The recorder could not keep up ${rec.overruns} time(s) and missed a little audio each time (a fraction of a second).`);
  if (!r.signed) warnings.push('The recorder did not sign this recording (it had no signing key when it made it). Only its fingerprint, taken when it was copied, shows that it has not changed since; nothing shows which recorder made it.');
  markers.push({ atSeconds: durationSeconds, label: 'stop' });

  const checks: string[] = [];
  checks.push('The recording file is exactly, to the last bit, the one that was copied from the recorder.');
  if (r.signed) {
    checks.push(`The recorder's signature on it is valid. It was made by the recorder with key fingerprint ${r.keyId}, and nothing in the recording or the signed files has changed since.`);
    checks.push(`The recorder's numbered history (its journal) lists it as its recording ${n}${r.journal ? ', and the history up to it links up entry by entry' : ''}.`);
    if (o.kind === 'age' && o.decryptedPath) checks.push(`The decrypted audio (${o.wavName}) is exactly the audio the recorder signed.`);
    if (m.evidence?.checkpoints && r.audioPath) checks.push(`While it was recording, the recorder signed a checkpoint every minute (${m.evidence.checkpoints.slots} in all); they match the audio.`);
  }
  const ok = r.verification.ok;
  const verdict: Verdict = ok ? 'verified' : 'not verified';
  const summary = ok
    ? r.signed
      ? `Verified: the file is exactly the recording that recorder "${label}" made and signed.`
      : 'Verified, without a signature: the file is exactly the one copied from the recorder, but the recorder did not sign it.'
    : `NOT verified: ${r.verification.problems.join('; ')}.`;

  const technical: ReportRecording['technical'] = [
    { label: `${r.folder}/${r.original.name} SHA-256`, value: m.file.sha256 },
    { label: 'Audio data SHA-256 (computed by the recorder while recording)', value: rec.sha256 },
  ];
  for (const [name, sha] of Object.entries(m.evidence?.statement ?? {})) if (name !== r.original.name) technical.push({ label: `${r.folder}/${name} SHA-256 (as the statement lists it)`, value: sha });
  if (m.evidence?.trustedComment) technical.push({ label: 'Signed description (minisign trusted comment)', value: m.evidence.trustedComment });
  if (m.journal) technical.push({ label: `Journal entry ${m.journal.index} SHA-256`, value: m.journal.recordSha256 });
  technical.push({ label: 'Device id', value: m.device.id }, { label: 'Recorder model and firmware', value: `${m.device.model} ${m.device.firmware}` }, { label: 'Samples, sample rate', value: `${rec.sampleCount} at ${rec.sampleRate} Hz` });
  return { number: n, folder: r.folder, title: `Recording ${n}`, verdict, summary, facts, checks, warnings, durationSeconds, loudness, audioEncrypted: r.audioPath === null, markers, technical };
}

function custodyWords(e: CustodyEntry): string {
  const recs = e.recordings.map((r) => r.number).join(', ');
  const by = `by the recorder app ${e.app.version} on the computer "${e.host}"`;
  const d = e.details ?? {};
  switch (e.event) {
    case 'copied': {
      const from = (d.from ?? {}) as { label?: string; keyId?: string | null };
      return `Recording ${recs} copied from recorder "${from.label || 'without a name'}"${from.keyId ? ` (key fingerprint ${from.keyId})` : ''} and checked, ${by}.`;
    }
    case 'signature-added':
      return `The recorder's signature for recording ${recs} added to the copy and checked, ${by}.`;
    case 'verified':
      return `Recording ${recs} checked: ${d.result === 'verified' ? 'verified' : 'NOT verified'}, ${by}.`;
    case 'exported':
      if (d.kind === 'excerpt') return `An excerpt of recording ${recs} exported (${String(d.sampleCount)} samples from sample ${String(d.firstSample)}), ${by}.`;
      return `Recording(s) ${recs} exported ${d.kind === 'zip' ? 'as a ZIP file' : 'to a folder'}, ${by}.`;
    case 'decrypted':
      return `Recording ${recs} decrypted, ${by}.`;
    case 'wiped':
      return `The recorder was wiped at its hand-back, after recording(s) ${recs || '(none)'} had been copied and checked (wipe certificate ${String(d.certificate)}), ${by}.`;
  }
}

export async function reportModel(src: BundleSource, madeAtIso: string, appVersion: string): Promise<ReportModel> {
  const recordings: ReportRecording[] = [];
  for (const r of src.recordings) recordings.push(recordingModel(r, r.audioPath ? await loudnessOfWavFile(r.audioPath, LOUDNESS_BARS) : []));
  const fingerprints = [...src.keys.keys()].map((keyId) => {
    const m = src.recordings.find((r) => r.keyId === keyId)!.manifest;
    return { keyId, label: m.device.label, simulated: m.device.simulated };
  });
  const libraryChecks: string[] = [];
  for (const l of src.libraryChecks) {
    libraryChecks.push(
      l.ok
        ? `The recorder's journal, as copied into the owner's library, is complete and unbroken (${l.journalRecords} entries), and every recording it lists is in the library.`
        : `The owner's library has problems with this recorder's journal: ${l.failures.map((f) => f.message).join('; ')}.`,
    );
  }
  libraryChecks.push(
    src.custody.ok
      ? `The owner's custody log (the app's record of everything done to the recordings on that computer) has ${src.custody.entries} entries, each linked to the one before; none was changed, removed or inserted.`
      : `The owner's custody log does not link up: ${src.custody.problems.join('; ')}.`,
  );
  const plural = recordings.length === 1 ? 'recording' : 'recordings';
  return {
    title: `${recordings.length === 1 ? recordings[0]!.title : `Recordings ${recordings.map((r) => r.number).join(', ')}`}: what was recorded and how it was checked`,
    madeAt: formatWhen(Date.parse(madeAtIso)),
    appVersion,
    fingerprints,
    recordings,
    libraryChecks,
    custody: src.custodyLines.filter((l) => l.entry).map((l) => ({ when: formatWhen(Date.parse(l.entry!.atIso)), what: custodyWords(l.entry!) })),
    proves: [
      `Which recorder made the ${plural}: the signature was made with the key of the recorder whose fingerprint is given above.`,
      'That nothing has changed since, not even one bit: a changed recording no longer matches its signature, and a new signature needs the recorder\'s key.',
      "Where each recording sits in the recorder's numbered history, so a recording removed from that history shows.",
      'For a recording cut short by a power failure, how much of it the recorder signed while it was recording.',
    ],
    doesNotProve: [
      "That nobody else had the recorder's key. The recorder has no protected storage for it: someone who had the recorder in their hands could copy the key and sign other files. Who held the recorder matters.",
      "That the times are exact. The recorder's clock is set from the owner's computer, and drifts by about 2 seconds a day.",
      "That the recorder's software was genuine, or that the sound came from the room and not from elsewhere.",
      'That the recording covers the whole meeting, or who was speaking.',
      'Anything at all about a recording from a simulated recorder.',
    ],
    howToCheck: [
      `Open ${VERIFIER_HTML} from this bundle in a current web browser (Chrome, Edge, Firefox or Safari) and drop the bundle's files on it: it checks the signatures and fingerprints on this computer, without the internet.`,
      `Or follow ${VERIFY_TXT}: it gives the exact commands for free standard tools (sha256sum, signify, minisign, openssl, ffprobe) and what each prints when everything is in order.`,
      'Compare the key fingerprint above with the one the recorder\'s own library knows (see above). A matching fingerprint is what ties the signatures to that recorder.',
    ],
  };
}
