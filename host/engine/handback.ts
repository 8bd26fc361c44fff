/**
 * Hand-back (issue 16): the advocate takes a recorder back from a family and makes it ready for
 * the next one, in one step and in this order: copy everything, verify everything in the loan's
 * folder, export if asked, wipe (issue 13's wipe, with its refusal and its certificate), close the
 * loan with the certificate, and write the certificate into the loan folder's custody log. Any
 * failure before the wipe stops it with nothing wiped. A recorder on no open loan is handed back
 * all the same (copied, checked and wiped), and no loan is closed.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { EngineError } from './errors.js';
import type { DeviceSummary } from './events.js';
import { appendCustodyOrWarn } from './custody.js';
import type { ExportResult } from './export/bundle.js';
import { closeLoan, type Loan } from './fleet.js';
import type { Place } from './fleet-session.js';
import { indexLibrary, type Fs } from './library.js';
import { summariseInfo } from './convert.js';
import type { Emit, Session } from './session.js';
import type { SyncResult } from './sync.js';
import type { FileVerification } from './verify.js';
import { runWipe, type Holdings, type WipeResult } from './wipe.js';

export interface HandbackOptions {
  /** A new folder for a bundle of every recording of the loan (recorder export's --to). */
  exportTo?: string;
  /** Owner key files to decrypt with while copying (sync's --identity). */
  identityFiles?: string[];
  /** Asked before the wipe (the CLI: type the recorder's name); false cancels, nothing wiped. */
  confirm: (device: DeviceSummary, h: Holdings, loan: Loan | null) => Promise<boolean>;
}

export interface HandbackResult {
  deviceId: string;
  /** The loan closed, or null when the recorder was on none. */
  loan: Loan | null;
  destination: string;
  /** The recordings of the recorder in the folder when it was wiped. */
  recordings: number[];
  exported: ExportResult | null;
  certificatePath: string;
}

/** What the engine lends the hand-back: its sync, verify and export, with their events. */
export interface HandbackSteps {
  fs: Fs;
  now: () => number;
  signal: AbortSignal;
  appVersion: string;
  place: Place;
  sync(): Promise<SyncResult>;
  verify(folder: string): Promise<{ ok: boolean; results: FileVerification[] }>;
  exportAll(numbers: number[], to: string): Promise<ExportResult>;
}

const stopped = (why: string, action: string) => new EngineError('HANDBACK_REFUSED', `Hand-back stopped before the wipe: ${why}. Nothing was wiped; the recorder is as it was.`, action);

export async function runHandback(s: Session, emit: Emit, o: HandbackOptions, d: HandbackSteps): Promise<HandbackResult | null> {
  const { place, fs } = d;
  const loan = place.loan;
  const name = s.info.label ? `"${s.info.label}"` : s.deviceId;
  emit({
    type: 'note',
    message: loan
      ? `Hand-back of recorder ${name}, loan ${loan.reference} (opened ${loan.openedAt.slice(0, 10)}): copying every recording to ${place.dest}, checking every copy, then wiping the recorder.`
      : `Recorder ${name} is on no open loan: it is copied to ${place.dest}, checked and wiped all the same, and no loan is closed.`,
  });

  const synced = await d.sync();
  if (synced.cancelled) throw new EngineError('CANCELLED', 'Hand-back stopped during the copy. Nothing was wiped.', 'Run `recorder handback` again when ready.');
  if (synced.inProgress.length) throw stopped(`the recorder is still recording (recording ${synced.inProgress.join(', ')})`, 'Stop the recording (press the button), then run `recorder handback` again.');
  if (!synced.ok) {
    const why = synced.journal === 'broken' ? "the recorder's journal check failed" : synced.journal === 'gap' ? "the recorder's journal has gaps" : `${synced.failed.length} recording(s) did not copy and verify`;
    throw stopped(`the copy did not finish cleanly (${why})`, 'Read the messages above. Put it right and run `recorder handback` again; if the journal check failed or has gaps, keep the recorder as it is and ask for advice.');
  }

  const checked = await d.verify(place.dest);
  if (!checked.ok) {
    const bad = checked.results.filter((r) => !r.ok).length;
    throw stopped(`the copies in ${place.dest} do not all verify (${bad ? `${bad} recording(s) failed` : 'the library folder check failed'})`, 'Read the messages above; run `recorder verify` on that folder once it is put right, then `recorder handback` again. Ask for advice before wiping anything.');
  }
  const copies = [...(await indexLibrary(fs, place.dest)).values()].filter((x) => x.manifest.device.id === s.deviceId).sort((a, b) => a.manifest.recording.number - b.manifest.recording.number);
  const recordings = copies.map((x) => x.manifest.recording.number);

  let exported: ExportResult | null = null;
  if (o.exportTo) {
    if (recordings.length === 0) emit({ type: 'note', message: `The folder ${place.dest} holds no recordings of this recorder: there is nothing to export.` });
    else exported = await d.exportAll(recordings, o.exportTo);
  }

  const device = summariseInfo(s.info);
  const wiped: WipeResult | null = await runWipe(s, emit, { destination: place.dest, confirm: (h) => o.confirm(device, h, loan), fs, now: d.now, signal: d.signal });
  if (!wiped) return null;

  const certName = path.basename(wiped.certificatePath);
  const certSha = createHash('sha256').update(await fs.readFile(wiped.certificatePath)).digest('hex');
  const c = wiped.certificate;
  await appendCustodyOrWarn(
    fs,
    place.dest,
    {
      event: 'wiped',
      recordings: copies.map((x) => ({ deviceId: s.deviceId, number: x.manifest.recording.number, file: path.basename(x.wav) })),
      files: { [certName]: certSha },
      details: { certificate: certName, loan: loan ? { id: loan.id, reference: loan.reference } : null, deviceId: c.deviceId, keyId: c.keyId, epoch: c.epoch, method: c.method, blocksErased: c.blocksErased, state: c.state, recordingsBefore: c.recordingsBefore, discardedUnsynced: c.discardedUnsynced },
    },
    { appVersion: d.appVersion, now: d.now, emit },
  );
  const closed = loan ? await closeLoan(fs, place.root, loan.id, { wipeCertificate: path.relative(place.root, wiped.certificatePath).split(path.sep).join('/') }, new Date(d.now())) : null;
  emit({
    type: 'handback.done',
    deviceId: s.deviceId,
    loanId: closed?.id ?? null,
    reference: closed?.reference ?? null,
    destination: place.dest,
    recordings,
    exportedTo: exported?.destination ?? null,
    certificatePath: wiped.certificatePath,
    message: `Recorder ${name} is handed back${closed ? ` and loan ${closed.reference} is closed` : ''}: ${recordings.length} recording(s) copied and verified in ${place.dest}${exported ? `, exported to ${exported.destination}` : ''}; the recorder is wiped, and its wipe certificate ${certName} is in that folder's custody log. It is ready for the next loan.`,
  });
  return { deviceId: s.deviceId, loan: closed, destination: place.dest, recordings, exported, certificatePath: wiped.certificatePath };
}
