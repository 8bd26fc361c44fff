/**
 * The signature side of sync (issue 12): who the recorder is (IDENTITY, PROVISION for a recorder
 * without a key, the pin), and fetching and checking a recording's signed files into its
 * `<base>.evidence/` folder before the copy counts as verified.
 */
import * as path from 'node:path';
import { CARD_LAYOUT, FILE_PART, RECORD_FLAGS } from '../../../protocol/src/schema.js';
import type { ListEntry } from '../../../protocol/generated/types.js';
import { DeviceError, EngineError, fsError } from '../errors.js';
import type { SignatureSummary } from '../events.js';
import type { JournalEntry } from '../journal.js';
import { DIR_MODE, safeJoin, writeFileAtomic, type Fs } from '../library.js';
import type { Emit, Session } from '../session.js';
import { attestationOf, requestIdentity, requestProvision, type CheckedIdentity } from './identity.js';
import { appendLog, keyFileNames, loadPin, pinProblem, savePin, saveLibraryJournal, writeKeyFiles, type PinRecord } from './pins.js';
import { cardName, checkRecordingEvidence, EVIDENCE_EXTS, evidenceFolderOf, formatTrustedComment, maxEvidenceBytes, type EvidenceReport } from './recording.js';

/** What sync knows of the recorder's key for this run. */
export type SigningState =
  | { signed: true; keyId: string; publicKey: Buffer; identity: CheckedIdentity; pin: PinRecord; dir: string }
  | { signed: false; why: 'legacy' | 'no-key' | 'damaged' };

const refuse = (code: EngineError['code'], message: string, action: string) => new EngineError(code, message, action);

/**
 * Asks the recorder who it is, provisions it when it has no key, and checks (or makes) the pin.
 * Throws the refusal (nothing is copied) when the key or its signature is wrong.
 */
export async function identify(session: Session, emit: Emit, fs: Fs, dir: string, now: () => number, signal?: AbortSignal): Promise<SigningState> {
  const deviceId = session.deviceId;
  let id = await requestIdentity(session.client, signal);
  const pin = await loadPin(fs, dir, deviceId);
  const pinned = pin && pin.keyId ? pin : null;
  if (!id) {
    emit({
      type: 'warning',
      code: 'UNSIGNED_LEGACY',
      message: `This recorder's software is older than signed recordings, so its recordings carry no signature${pinned ? `, although this library knew it with signing key ${pinned.keyId}` : ''}. Copies are checked with their fingerprints only.`,
      action: pinned ? 'Ask for advice before relying on these copies: a signed recorder does not normally go back to unsigned.' : 'Update the recorder\'s software so that its recordings are signed.',
    });
    return { signed: false, why: 'legacy' };
  }
  let provisioned = false;
  if (!id.hasKey && !id.damaged) {
    if (pinned) throw refuse('WRONG_KEY', `This recorder (device ${deviceId}) has no signing key now, but this library pinned key ${pinned.keyId} for it. It may be a different device pretending to be this one, or its memory was wiped.`, `Nothing was copied. Keep the recorder as it is and ask for advice. If you know it was reset, run \`recorder devices re-pin ${deviceId} --reason "..."\` and sync again.`);
    try {
      id = await requestProvision(session.client, signal);
    } catch (e) {
      // A recorder makes its key only while idle (it refuses while recording): sync goes on
      // unsigned and the next sync makes the key.
      if (!(e instanceof DeviceError && e.info.code === 'BAD_STATE')) throw e;
      emit({ type: 'warning', code: 'UNSIGNED_LEGACY', message: 'This recorder has no signing key yet, and it can only make one while it is not recording. Its recordings so far carry no signature.', action: 'Run sync again when the recording has stopped: the recorder then makes its key, and signs every recording after that.' });
      return { signed: false, why: 'no-key' };
    }
    provisioned = true;
    if (!id.hasKey) {
      emit({ type: 'warning', code: 'UNSIGNED_LEGACY', message: `The recorder could not make its signing key${id.entropyFailed ? ' (its random-number source failed its checks)' : ''}. Its recordings will not be signed.`, action: 'Copies are checked with their fingerprints only. Try again later; if it keeps failing, ask for help.' });
      return { signed: false, why: 'no-key' };
    }
  }
  if (id.damaged && !id.hasKey) {
    emit({ type: 'warning', code: 'UNSIGNED_LEGACY', message: 'The recorder\'s signing key is damaged, so it records without signatures. It will not make a new key by itself.', action: 'Copies are checked with their fingerprints only. Ask for help before setting the recorder up again.' });
    return { signed: false, why: 'damaged' };
  }
  if (id.identity.deviceId !== session.info.deviceId) id.problems.push(`it names device ${id.identity.deviceId.toString(16).padStart(16, '0')}, not ${deviceId}`);
  if (id.problems.length) {
    await appendLog(fs, dir, deviceId, { event: 'refused', code: 'ATTESTATION_INVALID', nonce: id.nonce.toString('hex'), response: id.raw.toString('hex') });
    throw refuse('ATTESTATION_INVALID', `The recorder's proof of identity failed: ${id.problems.join('; ')}.`, 'Nothing was copied. Unplug the recorder, plug it back in and try again; if it happens again, keep the recorder as it is and ask for advice.');
  }
  const keyId = id.keyId!;
  const publicKey = id.publicKey!;
  if (provisioned) emit({ type: 'note', message: `This recorder had no signing key, so it has just made one (key ${keyId}). From now on it signs every recording, and this library will only accept this key from it.` });
  const attestation = attestationOf(id, provisioned ? 'provision' : 'identity', now());
  if (!pinned) {
    const record: PinRecord = { pinVersion: 1, deviceId, keyId, publicKey: publicKey.toString('hex'), pinnedAtIso: new Date(now()).toISOString(), attestations: [attestation], previous: pin?.previous ?? [] };
    await writeKeyFiles(fs, dir, publicKey);
    await savePin(fs, dir, record);
    await appendLog(fs, dir, deviceId, { event: 'pin', keyId });
    emit({ type: 'note', message: `First time this library sees recorder ${deviceId} with a key: its signing key ${keyId} is now remembered (${keyFileNames(keyId).signify}). A recorder that later claims to be this one with another key will be refused.` });
    return { signed: true, keyId, publicKey, identity: id, pin: record, dir };
  }
  const problem = pinProblem(pinned, id, null);
  if (problem) {
    await appendLog(fs, dir, deviceId, { event: 'refused', code: problem.code, nonce: id.nonce.toString('hex'), response: id.raw.toString('hex') });
    throw refuse(problem.code, problem.message, problem.action);
  }
  return { signed: true, keyId, publicKey, identity: id, pin: pinned, dir };
}

/**
 * After the journal was read: the journal must not be older than what the recorder signed before,
 * and the new attestation and the journal are kept in the library.
 */
export async function recordJournal(fs: Fs, s: SigningState, deviceId: string, journal: JournalEntry[]): Promise<void> {
  if (!s.signed) return;
  const problem = pinProblem(s.pin, s.identity, journal);
  if (problem) {
    await appendLog(fs, s.dir, deviceId, { event: 'refused', code: problem.code, nonce: s.identity.nonce.toString('hex'), response: s.identity.raw.toString('hex') });
    throw refuse(problem.code, problem.message, problem.action);
  }
  const id = s.identity.identity;
  if (journal.length < id.journalCount) {
    throw refuse('JOURNAL_TAIL_CUT', `The recorder signed that its journal has ${id.journalCount} record(s), but the card holds only ${journal.length}: records ${journal.length}..${id.journalCount - 1} are missing.`, 'Nothing was copied. Keep the recorder and its card as they are and ask for advice.');
  }
  if (!s.pin.attestations.some((a) => a.nonce === s.identity.nonce.toString('hex'))) s.pin.attestations.push(attestationOf(s.identity, 'identity', Date.now()));
  await savePin(fs, s.dir, s.pin);
  await saveLibraryJournal(fs, s.dir, s.keyId, id.journalEpoch, journal);
}

/** The manifest's `evidence` block. */
export interface ManifestEvidence {
  status: SignatureSummary['status'];
  keyId: string | null;
  /** The evidence folder's name beside the WAV (null when unsigned). */
  folder: string | null;
  journalEpoch: number | null;
  /** The statement's SHA-256 of each file, by card name. */
  statement: Record<string, string> | null;
  trustedComment: string | null;
  checkpoints: EvidenceReport['checkpoints'];
}

export function signatureStatus(s: SigningState, e: ListEntry): SignatureSummary['status'] {
  if (!s.signed || (e.flags & RECORD_FLAGS.UNSIGNED) !== 0) return 'unsigned';
  if ((e.flags & RECORD_FLAGS.SEALED) !== 0) return 'signed';
  if ((e.flags & RECORD_FLAGS.SEALING) !== 0) return 'pending';
  return 'unsigned';
}

export async function readPart(session: Session, number: number, part: number, size: number, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const step = Math.max(1, session.client.maxPayload - 16);
  for (let o = 0; o < size; ) {
    const r = await session.client.request('READ', { number, offset: o, length: Math.min(step, size - o), part, reserved: Buffer.alloc(3) }, { signal });
    if (r.number !== number || r.offset !== o || r.data.length === 0) throw new EngineError('NOT_A_RECORDER', 'The recorder answered a read of a signed file with the wrong data.', 'Unplug the recorder, plug it back in, and run sync again.');
    chunks.push(r.data);
    o += r.data.length;
  }
  return Buffer.concat(chunks);
}

/** Hard link of a library file into the evidence folder; a copy where links are not possible. */
export async function linkWav(fs: Fs, wav: string, into: string): Promise<void> {
  await fs.unlink(into).catch(() => undefined);
  try {
    await fs.link(wav, into);
  } catch {
    // File systems without hard links (FAT, exFAT): a copy, 0600 like every library file.
    await writeFileAtomic(fs, into, Buffer.from(await fs.readFile(wav)));
  }
}

export interface EvidenceInput {
  session: Session;
  fs: Fs;
  signing: SigningState;
  entry: ListEntry;
  /**
   * The WAV on disk now (the .part before publishing: its hard link follows the rename); for an
   * encrypted recording its decrypted WAV, or null when it is not decrypted.
   */
  wavPath: string | null;
  /** The final library copy's path (names the evidence folder). */
  finalPath: string;
  fileSha256: string | null;
  /** An encrypted recording: its age file on disk now, and that file's SHA-256. */
  agePath?: string;
  ageSha256?: string;
  journal: JournalEntry | null;
  signal?: AbortSignal;
}

/**
 * Copies the recording's signed files into `<base>.evidence/` and checks them; returns the
 * manifest block and what file.verified says. Throws when a signature does not hold.
 */
export async function collectEvidence(x: EvidenceInput): Promise<{ evidence: ManifestEvidence; summary: SignatureSummary; report: EvidenceReport | null; journalProblems: string[] }> {
  const { session, fs, signing: s, entry: e } = x;
  const status = signatureStatus(s, e);
  const summary: SignatureSummary = { status, keyId: s.signed ? s.keyId : null, vouchedSamples: null, sampleCount: e.sampleCount };
  if (!s.signed || status === 'unsigned') {
    return { evidence: { status: 'unsigned', keyId: s.signed ? s.keyId : null, folder: null, journalEpoch: null, statement: null, trustedComment: null, checkpoints: null }, summary, report: null, journalProblems: [] };
  }
  const folder = evidenceFolderOf(x.finalPath);
  try {
    await fs.mkdir(folder, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw fsError(err, 'create the evidence folder', folder);
  }
  // Never write through a link planted where the folder goes.
  const st = await fs.lstat(folder);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new EngineError('UNSAFE_PATH', `Refused to write the signed files into ${folder}: it is a link or not a folder.`, 'Remove it from the recordings folder and run sync again.');
  const folderWav = safeJoin(folder, cardName(e.number, CARD_LAYOUT.recordingExt));
  if (x.wavPath !== null) await linkWav(fs, x.wavPath, folderWav);
  else await fs.unlink(folderWav).catch(() => undefined);
  if (x.agePath !== undefined) await linkWav(fs, x.agePath, safeJoin(folder, cardName(e.number, CARD_LAYOUT.encryptedExt)));
  const sizes: Record<string, number> = { [CARD_LAYOUT.statementExt]: e.statementSize, [CARD_LAYOUT.signifyExt]: e.signifySize, [CARD_LAYOUT.minisignExt]: e.minisignSize, [CARD_LAYOUT.checkpointsExt]: e.checkpointsSize };
  const parts: Record<string, number> = { [CARD_LAYOUT.statementExt]: FILE_PART.STATEMENT, [CARD_LAYOUT.signifyExt]: FILE_PART.SIGNIFY, [CARD_LAYOUT.minisignExt]: FILE_PART.MINISIGN, [CARD_LAYOUT.checkpointsExt]: FILE_PART.CHECKPOINTS };
  for (const ext of EVIDENCE_EXTS) {
    if (!sizes[ext]) continue;
    // A size the recorder cannot have written is not read (nothing is allocated by it).
    const most = maxEvidenceBytes(ext, e.sampleCount, e.sampleRate);
    if (sizes[ext]! > most) throw new EngineError('SIGNATURE_INVALID', `Recording ${e.number}: the recorder says its ${cardName(e.number, ext)} is ${sizes[ext]} bytes, more than it ever writes for this recording (at most ${most}); it was not read.`, 'The copy is kept but NOT counted as verified, and nothing is deleted from the recorder. Keep the recorder as it is and ask for advice.');
    const data = await readPart(session, e.number, parts[ext]!, sizes[ext]!, x.signal);
    await writeFileAtomic(fs, safeJoin(folder, cardName(e.number, ext)), data);
  }
  const report = await checkRecordingEvidence(
    fs,
    { folder, number: e.number, wavPath: x.wavPath, ...(x.agePath !== undefined ? { agePath: x.agePath } : {}) },
    {
      publicKey: s.publicKey,
      sampleRate: e.sampleRate,
      sampleCount: e.sampleCount,
      audioSha256: e.sha256.toString('hex'),
      fileSha256: x.fileSha256,
      ...(x.ageSha256 !== undefined ? { ageSha256: x.ageSha256 } : {}),
      dataOffset: e.dataOffset,
      journal: x.journal ? { index: x.journal.index, raw: x.journal.raw } : null,
      sealed: status === 'signed',
    },
  );
  // A signature that names another journal record than the card's is a journal problem: the copy
  // is kept and flagged like one (never trusted for deletion), as sync treats journal problems.
  const signatureFailures = report.failures.filter((f) => f.code !== 'JOURNAL_MISMATCH');
  const journalProblems = report.failures.filter((f) => f.code === 'JOURNAL_MISMATCH').map((f) => f.message);
  if (signatureFailures.length) {
    const first = signatureFailures[0]!;
    throw new EngineError(first.code, `Recording ${e.number} was copied, but the recorder's signature does not vouch for it: ${report.failures.map((f) => f.message).join('; ')}.`, 'The copy is kept but NOT counted as verified, and nothing is deleted from the recorder. Keep the recorder as it is and ask for advice.');
  }
  summary.vouchedSamples = report.checkpoints?.vouchedSamples ?? null;
  return {
    evidence: {
      status,
      keyId: s.keyId,
      folder: path.basename(folder),
      journalEpoch: s.identity.identity.journalEpoch,
      statement: report.statement,
      trustedComment: report.trustedComment ? formatTrustedComment(report.trustedComment) : null,
      checkpoints: report.checkpoints,
    },
    summary,
    report,
    journalProblems,
  };
}
