/**
 * A recording's signed files (issue 12 contract): the statement REC00042.SHA, its signify form
 * REC00042.SIG, the minisign form REC00042.MSG with the trusted comment, and the checkpoint slots
 * REC00042.CKP, checked against the WAV beside them, the pinned key, and what the manifest and the
 * journal say. Used by sync (before a copy counts as verified) and by offline verify.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import * as path from 'node:path';
import { CARD_LAYOUT, STRUCTS, structSize } from '../../../protocol/src/schema.js';
import type { Fs } from '../library.js';
import { keyIdOf, OpenFormatError, parseChecksumStatement, parseMinisignSignature, parseSignifySignature, verifyStatement, minisignGlobalMessage } from './open-formats.js';

/** Machine codes of evidence failures (`verify --json`, sync warnings). */
export type EvidenceCode =
  | 'SIGNATURE_INVALID' // a statement, trusted-comment or checkpoint signature does not verify
  | 'WRONG_KEY' // signed by (or claiming) another key than the one pinned for this recorder
  | 'HASH_MISMATCH' // a file differs from the hash the signed statement gives
  | 'TRUSTED_COMMENT_MISMATCH' // the signed trusted comment disagrees with the manifest or files
  | 'JOURNAL_MISMATCH' // the signed comment names a journal record the library's journal lacks
  | 'CHECKPOINT_GAP' // checkpoint slots missing, out of order, or not matching the audio
  | 'EVIDENCE_MISSING' // signed files expected but absent
  | 'SIGNATURE_PENDING' // the recorder had not finished signing when it was copied
  | 'UNSIGNED_LEGACY' // made without a device key (old firmware, or a recorder never provisioned)
  | 'NOT_PINNED' // no pinned key for this recorder in the library
  | 'JOURNAL_TAIL_CUT' // the library's journal is shorter than the recorder attested
  | 'JOURNAL_REPLAYED' // an attestation or journal older than one seen before
  | 'JOURNAL_BROKEN' // the library's journal chain does not link up
  | 'RECORDING_MISSING' // a journal recording has no copy in the library
  | 'ATTESTATION_INVALID'; // a stored IDENTITY answer does not verify

export interface EvidenceFailure {
  code: EvidenceCode;
  message: string;
}

/** The card name of a recording's file: REC00042.WAV, REC00042.SHA, ... */
export function cardName(number: number, ext: string): string {
  return `${CARD_LAYOUT.recordingPrefix}${String(number).padStart(CARD_LAYOUT.recordingDigits, '0')}.${ext}`;
}

export const EVIDENCE_EXTS = [CARD_LAYOUT.statementExt, CARD_LAYOUT.signifyExt, CARD_LAYOUT.minisignExt, CARD_LAYOUT.checkpointsExt] as const;

/** `<base>.evidence` beside the library copy `<base>.wav` (or `<base>.age`). */
export function evidenceFolderOf(copyPath: string): string {
  return copyPath.replace(/\.(wav|age)$/i, '') + '.evidence';
}

// ---- trusted comment

export interface TrustedComment {
  v: string;
  dev: string;
  uid: string;
  rec: number;
  epoch: number;
  jidx: number;
  jrec: string;
  start: string;
  stop: string;
  clock: string;
  rate: number;
  samples: number;
  vouched: number;
  ckpts: number;
  reason: string;
  overruns: number;
  recovered: string;
  audio: string;
  wav: string;
  /** An encrypted recording (issue 13): SHA-256 of the age file as on the card. */
  age?: string;
  ckp: string;
  fw: string;
}

const TC_FIELDS = ['v', 'dev', 'uid', 'rec', 'epoch', 'jidx', 'jrec', 'start', 'stop', 'clock', 'rate', 'samples', 'vouched', 'ckpts', 'reason', 'overruns', 'recovered', 'audio', 'wav', 'ckp', 'fw'] as const;
const TC_NUMBERS = new Set(['rec', 'epoch', 'jidx', 'rate', 'samples', 'vouched', 'ckpts', 'overruns']);

/** The fields in order: an encrypted recording's comment has `age` right after `wav`. */
function fieldsOf(encrypted: boolean): readonly string[] {
  if (!encrypted) return TC_FIELDS;
  const at = TC_FIELDS.indexOf('wav') + 1;
  return [...TC_FIELDS.slice(0, at), 'age', ...TC_FIELDS.slice(at)];
}

export function formatTrustedComment(t: TrustedComment): string {
  return ['er1', ...fieldsOf(t.age !== undefined).map((k) => `${k}=${t[k as keyof TrustedComment]}`)].join(' ');
}

/** Parses the contract's one-line trusted comment (fields in their order); throws OpenFormatError. */
export function parseTrustedComment(s: string): TrustedComment {
  const parts = s.split(' ');
  const fields = fieldsOf(parts.length === TC_FIELDS.length + 2);
  if (parts[0] !== 'er1' || parts.length !== fields.length + 1) throw new OpenFormatError(`the trusted comment is not a recorder's ("er1" and ${TC_FIELDS.length} fields, or ${TC_FIELDS.length + 1} with age= for an encrypted recording)`);
  const out: Record<string, string | number> = {};
  fields.forEach((k, i) => {
    const [key, ...rest] = parts[i + 1]!.split('=');
    const value = rest.join('=');
    if (key !== k || value === '') throw new OpenFormatError(`the trusted comment's field ${i + 1} should be ${k}=...`);
    if (TC_NUMBERS.has(k)) {
      if (!/^\d+$/.test(value)) throw new OpenFormatError(`the trusted comment's ${k} is not a number`);
      out[k] = Number(value);
    } else out[k] = value;
  });
  return out as unknown as TrustedComment;
}

// ---- checkpoint slots

export const SLOT_BYTES = CARD_LAYOUT.checkpointSlotSize;
const MESSAGE_BYTES = 448;
/** The evid chunk (its header and version-1 payload), last in the file. */
const EVID_CHUNK_BYTES = 8 + structSize(STRUCTS.EVIDENCE_CHUNK);
/** The most the recorder writes after the audio: every marker's cue point and label, and evid. */
const MAX_TAIL_BYTES = 2 * 12 + CARD_LAYOUT.maxMarkers * (24 + 22) + EVID_CHUNK_BYTES;

export type Slot =
  | { kind: 'start'; k: string; r: number; rate: number; t0: string; u0: number; pj: string }
  | { kind: 'ckpt'; k: string; r: number; i: number; n: number; u: number; s: string; h: string }
  | { kind: 'stop'; k: string; r: number; i: number; n: number; why: string; rec: number; vouched: number; s: string; h: string; f: string };

/** The 448 message bytes of a slot: text, spaces to 447 bytes, LF. */
export function slotMessage(text: string): Buffer {
  if (text.length > MESSAGE_BYTES - 1 || !/^[\x21-\x7e ]*$/.test(text)) throw new OpenFormatError('a checkpoint message must be printable ASCII of at most 447 bytes');
  return Buffer.from(text.padEnd(MESSAGE_BYTES - 1, ' ') + '\n', 'ascii');
}

export function formatSlot(s: Slot): string {
  switch (s.kind) {
    case 'start':
      return `ER1 start v1 k=${s.k} r=${String(s.r).padStart(5, '0')} rate=${s.rate} t0=${s.t0} u0=${s.u0} pj=${s.pj}`;
    case 'ckpt':
      return `ER1 ckpt v1 k=${s.k} r=${String(s.r).padStart(5, '0')} i=${String(s.i).padStart(4, '0')} n=${String(s.n).padStart(10, '0')} u=${s.u} s=${s.s} h=${s.h}`;
    case 'stop':
      return `ER1 stop v1 k=${s.k} r=${String(s.r).padStart(5, '0')} i=${String(s.i).padStart(4, '0')} n=${String(s.n).padStart(10, '0')} why=${s.why} rec=${s.rec} vouched=${s.vouched} s=${s.s} h=${s.h} f=${s.f}`;
  }
}

const SLOT_KEYS = { start: ['k', 'r', 'rate', 't0', 'u0', 'pj'], ckpt: ['k', 'r', 'i', 'n', 'u', 's', 'h'], stop: ['k', 'r', 'i', 'n', 'why', 'rec', 'vouched', 's', 'h', 'f'] } as const;
const SLOT_NUMBERS = new Set(['r', 'rate', 'u0', 'i', 'n', 'u', 'rec', 'vouched']);

export function parseSlotMessage(message: Buffer): Slot {
  if (message.length !== MESSAGE_BYTES || message[MESSAGE_BYTES - 1] !== 0x0a) throw new OpenFormatError('a checkpoint message must be 448 bytes ending in LF');
  const text = message.subarray(0, MESSAGE_BYTES - 1).toString('latin1').replace(/ +$/, '');
  const parts = text.split(' ');
  const kind = parts[1];
  if (parts[0] !== 'ER1' || parts[2] !== 'v1' || (kind !== 'start' && kind !== 'ckpt' && kind !== 'stop')) throw new OpenFormatError('not a recorder checkpoint message');
  const keys = SLOT_KEYS[kind];
  if (parts.length !== keys.length + 3) throw new OpenFormatError(`a ${kind} checkpoint needs ${keys.length} fields`);
  const out: Record<string, string | number> = { kind };
  keys.forEach((k, i) => {
    const p = parts[i + 3]!;
    if (!p.startsWith(`${k}=`)) throw new OpenFormatError(`the ${kind} checkpoint's field ${i + 1} should be ${k}=...`);
    const v = p.slice(k.length + 1);
    if (SLOT_NUMBERS.has(k)) {
      if (!/^\d+$/.test(v)) throw new OpenFormatError(`the ${kind} checkpoint's ${k} is not a number`);
      out[k] = Number(v);
    } else out[k] = v;
  });
  return out as unknown as Slot;
}

/** First 16 bytes of SHA-256 of slot 0's message, hex: every later slot names it (s=). */
export function startDigest(slot0Message: Buffer): string {
  return createHash('sha256').update(slot0Message).digest().subarray(0, 16).toString('hex');
}

// ---- the check

export interface EvidenceFiles {
  folder: string;
  number: number;
  /**
   * The library WAV (the folder's REC*.WAV is checked to be the same bytes); for an encrypted
   * recording the decrypted WAV, or null when it was not decrypted (its audio is then unchecked).
   */
  wavPath: string | null;
  /** An encrypted recording: the library's age file, the evidence copy (the folder's REC*.AGE). */
  agePath?: string;
}

export interface EvidenceExpectations {
  /** The pinned public key of the recorder. */
  publicKey: Buffer;
  /** The manifest's (or the device's) view of the recording. */
  sampleRate: number;
  sampleCount: number;
  audioSha256: string;
  /** SHA-256 of the WAV when it was copied (or decrypted); null when there is no WAV. */
  fileSha256: string | null;
  /** An encrypted recording: SHA-256 of the age file when it was copied. */
  ageSha256?: string;
  dataOffset: number;
  /** The journal record the statement must name, if the library has it (index, raw bytes). */
  journal: { index: number; raw: Buffer } | null;
  /** true: the SHA/SIG/MSG must be there; false: the recorder had not sealed it (checkpoints only). */
  sealed: boolean;
}

export interface EvidenceReport {
  ok: boolean;
  failures: EvidenceFailure[];
  keyId: string;
  trustedComment: TrustedComment | null;
  /** The statement's hashes (hex) by card name. */
  statement: Record<string, string> | null;
  checkpoints: { slots: number; validSlots: number; vouchedSamples: number; sampleCount: number; recovered: boolean } | null;
}

/** Reads a whole evidence file of at most `maxBytes`; null when it is not there. */
async function readOrNull(fs: Fs, p: string, maxBytes: number, fail: (code: EvidenceCode, message: string) => void): Promise<Buffer | null> {
  try {
    const size = (await fs.stat(p)).size;
    if (size > maxBytes) {
      fail('SIGNATURE_INVALID', `${path.basename(p)} is ${size} bytes, larger than the recorder ever writes for this recording (at most ${maxBytes}): it was not read`);
      return Buffer.alloc(0);
    }
    return Buffer.from(await fs.readFile(p));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The statement and its two signature files hold a few lines each. */
const MAX_STATEMENT_FILE_BYTES = 64 * 1024;

/**
 * The most checkpoint slots a recording of `sampleCount` samples can have: the start slot, one a
 * checkpoint interval, the stop slot, and a few signed for audio a power cut kept off the card.
 */
function maxCheckpointSlots(sampleCount: number, sampleRate: number): number {
  const perSlot = Math.max(1, sampleRate) * CARD_LAYOUT.checkpointIntervalS;
  return 2 + Math.ceil(Math.max(0, sampleCount) / perSlot) + 4;
}

/** The largest evidence file (by card extension) the recorder writes for such a recording. */
export function maxEvidenceBytes(ext: string, sampleCount: number, sampleRate: number): number {
  return ext === CARD_LAYOUT.checkpointsExt ? maxCheckpointSlots(sampleCount, sampleRate) * SLOT_BYTES : MAX_STATEMENT_FILE_BYTES;
}

/**
 * Reads the WAV once: whole-file SHA-256, the audio prefix hashes at the given sample counts,
 * and the bytes the stop slot's f covers (the header, then what follows the audio: markers and evid).
 */
async function hashWav(fs: Fs, wavPath: string, dataOffset: number, prefixSamples: number[]): Promise<{ file: string; prefixes: Map<number, string>; headerAndEvid: string | null }> {
  const fh = await fs.open(wavPath, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    const whole = createHash('sha256');
    const audio = createHash('sha256');
    const wanted = [...new Set(prefixSamples)].sort((a, b) => a - b);
    const prefixes = new Map<number, string>();
    const buf = Buffer.alloc(1 << 20);
    let pos = 0;
    const snapshot = (h: Hash) => h.copy().digest('hex');
    let audioFed = 0; // bytes of audio hashed so far
    let next = 0;
    const takeDue = () => {
      while (next < wanted.length && wanted[next]! * 2 === audioFed) prefixes.set(wanted[next++]!, snapshot(audio));
    };
    takeDue();
    const audioEnd = dataOffset + (wanted.at(-1) ?? 0) * 2;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      whole.update(chunk);
      // Audio bytes [dataOffset, audioEnd), cut at each wanted prefix to snapshot its hash.
      const end = pos + bytesRead;
      const stop = Math.min(end, audioEnd);
      let a = Math.max(pos, dataOffset);
      while (a < stop) {
        const b = Math.min(stop, next < wanted.length ? dataOffset + wanted[next]! * 2 : stop);
        audio.update(chunk.subarray(a - pos, b - pos));
        audioFed += b - a;
        a = b;
        takeDue();
      }
      pos = end;
    }
    // f covers the header and everything after the audio: the markers (cue, LIST/adtl), if any,
    // and the evid chunk. A tail larger than the recorder's largest is not read.
    let headerAndEvid: string | null = null;
    const dataEnd = audioEnd;
    const tailLength = size - dataEnd;
    if (tailLength >= 8 && tailLength <= MAX_TAIL_BYTES) {
      const head = Buffer.alloc(Math.min(CARD_LAYOUT.wavDataOffset, size));
      await fh.read(head, 0, head.length, 0);
      const tail = Buffer.alloc(tailLength);
      await fh.read(tail, 0, tail.length, dataEnd);
      if (tail.toString('latin1', tailLength - EVID_CHUNK_BYTES, tailLength - EVID_CHUNK_BYTES + 4) === CARD_LAYOUT.evidenceChunkId) {
        headerAndEvid = createHash('sha256').update(head).update(tail).digest('hex');
      }
    }
    return { file: whole.digest('hex'), prefixes, headerAndEvid };
  } finally {
    await fh.close();
  }
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Checks one recording's evidence folder. Every failure is listed; nothing stops at the first. */
export async function checkRecordingEvidence(fs: Fs, files: EvidenceFiles, want: EvidenceExpectations): Promise<EvidenceReport> {
  const failures: EvidenceFailure[] = [];
  const fail = (code: EvidenceCode, message: string) => failures.push({ code, message });
  const keyId = keyIdOf(want.publicKey).toString('hex');
  const n = files.number;
  const name = (ext: string) => cardName(n, ext);
  const at = (ext: string) => `${files.folder}/${name(ext)}`;
  const report: EvidenceReport = { ok: false, failures, keyId, trustedComment: null, statement: null, checkpoints: null };

  const [sha, sig, msg, ckp] = await Promise.all(EVIDENCE_EXTS.map((x) => readOrNull(fs, at(x), maxEvidenceBytes(x, want.sampleCount, want.sampleRate), fail)));
  const folderWav = at(CARD_LAYOUT.recordingExt);
  const encrypted = files.agePath !== undefined;

  // -- checkpoints: parse and verify every slot (the WAV is hashed once, below)
  const slots: { slot: Slot | null; message: Buffer; valid: boolean; index: number }[] = [];
  if (!ckp) fail(want.sealed ? 'EVIDENCE_MISSING' : 'CHECKPOINT_GAP', `${name(CARD_LAYOUT.checkpointsExt)} (the signed checkpoints) is missing`);
  else {
    if (ckp.length === 0 || ckp.length % SLOT_BYTES !== 0) fail('CHECKPOINT_GAP', `${name(CARD_LAYOUT.checkpointsExt)} is ${ckp.length} bytes, not whole ${SLOT_BYTES}-byte slots`);
    for (let i = 0; (i + 1) * SLOT_BYTES <= ckp.length; i++) {
      const message = ckp.subarray(i * SLOT_BYTES, i * SLOT_BYTES + MESSAGE_BYTES);
      const signature = ckp.subarray(i * SLOT_BYTES + MESSAGE_BYTES, (i + 1) * SLOT_BYTES);
      let slot: Slot | null = null;
      try {
        slot = parseSlotMessage(message);
      } catch {
        // an unreadable slot is reported below as not valid
      }
      slots.push({ slot, message, valid: verifyStatement(want.publicKey, message, signature), index: i });
    }
  }
  const prefixWanted = [want.sampleCount, ...slots.flatMap((s) => (s.slot && s.slot.kind !== 'start' ? [s.slot.n] : []))].filter((x) => x <= want.sampleCount);
  // An encrypted copy not decrypted here: the signatures and the age file are checked, the audio
  // inside it is not (the checkpoints' audio hashes and the stop slot's header hash need it).
  let wavHashes: Awaited<ReturnType<typeof hashWav>> | null = null;
  if (files.wavPath !== null) {
    try {
      wavHashes = await hashWav(fs, files.wavPath, want.dataOffset, prefixWanted);
    } catch (e) {
      fail('EVIDENCE_MISSING', `the recording ${files.wavPath} cannot be read (${(e as Error).message})`);
      return report;
    }
    if (wavHashes.file !== want.fileSha256) fail('HASH_MISMATCH', 'the WAV file differs from the copy that was made (its SHA-256 changed)');
    if (wavHashes.prefixes.get(want.sampleCount) !== want.audioSha256) fail('HASH_MISMATCH', "the audio differs from the recorder's fingerprint of it");
  }

  // -- slots in order: start, then checkpoints, the stop slot last
  let vouched = 0;
  let validSlots = 0;
  let recovered = false;
  let stopSlot: Extract<Slot, { kind: 'stop' }> | null = null;
  let s0: string | null = null;
  let chainOk = true;
  // A recording cut by power ends in a recovered stop slot (rec=1) naming the samples its last
  // matching checkpoint vouched for. Checkpoints after that point were signed for audio that did
  // not reach the card: they stay in the file, signed, but vouch for nothing and are not a gap.
  const last = slots.at(-1);
  const recoveredStop = last?.valid && last.slot?.kind === 'stop' && last.slot.rec === 1 ? last.slot : null;
  for (const { slot, message, valid, index } of slots) {
    const where = `checkpoint slot ${index}`;
    if (!chainOk) break;
    if (!valid) {
      fail('SIGNATURE_INVALID', `${where}: its signature does not verify under the recorder's key (changed, or made by another key)`);
      chainOk = false;
      break;
    }
    if (!slot || slot.k !== keyId || slot.r !== n) {
      fail(slot && slot.k !== keyId ? 'WRONG_KEY' : 'CHECKPOINT_GAP', `${where}: ${slot ? (slot.k !== keyId ? `names key ${slot.k}` : `is for recording ${slot.r}`) : 'is not a checkpoint message'}`);
      chainOk = false;
      break;
    }
    if (index === 0) {
      if (slot.kind !== 'start' || slot.rate !== want.sampleRate) {
        fail('CHECKPOINT_GAP', `${where}: is not the start of this recording`);
        chainOk = false;
        break;
      }
      s0 = startDigest(message);
      validSlots++;
      continue;
    }
    if (slot.kind === 'start' || slot.i !== index || slot.s !== s0) {
      fail('CHECKPOINT_GAP', `${where}: out of order, or from another recording's start`);
      chainOk = false;
      break;
    }
    const matches = slot.n <= want.sampleCount && (!wavHashes || wavHashes.prefixes.get(slot.n) === slot.h);
    if (!matches && slot.kind === 'ckpt' && recoveredStop && slot.n > recoveredStop.vouched) continue;
    if (!matches) {
      fail('CHECKPOINT_GAP', `${where}: the first ${slot.n} samples of the audio differ from what the recorder signed`);
      chainOk = false;
      break;
    }
    validSlots++;
    if (slot.kind === 'stop') {
      stopSlot = slot;
      if (index !== slots.length - 1) fail('CHECKPOINT_GAP', `${where}: slots follow the stop slot`);
      if (slot.n !== want.sampleCount) fail('CHECKPOINT_GAP', `${where}: the recording stopped at ${slot.n} samples, the file holds ${want.sampleCount}`);
      if (wavHashes && wavHashes.headerAndEvid !== slot.f) fail('CHECKPOINT_GAP', `${where}: the WAV header or evidence chunk differs from what the recorder signed`);
      recovered = slot.rec === 1;
      vouched = recovered ? Math.min(slot.vouched, slot.n) : slot.n;
      break;
    }
    vouched = slot.n;
  }
  if (chainOk && ckp && !stopSlot && want.sealed) fail('CHECKPOINT_GAP', `${name(CARD_LAYOUT.checkpointsExt)} has no stop slot`);
  report.checkpoints = { slots: slots.length, validSlots, vouchedSamples: vouched, sampleCount: want.sampleCount, recovered };

  if (!want.sealed) {
    report.ok = failures.length === 0;
    return report;
  }

  // -- the statement and its two signed forms
  for (const [buf, ext] of [[sha, CARD_LAYOUT.statementExt], [sig, CARD_LAYOUT.signifyExt], [msg, CARD_LAYOUT.minisignExt]] as const) {
    if (!buf) fail('EVIDENCE_MISSING', `${name(ext)} is missing`);
  }
  if (!sha || !sig || !msg) return report;
  let signature: Buffer | null = null;
  try {
    const s = parseSignifySignature(sig);
    if (s.keyId.toString('hex') !== keyId) fail('WRONG_KEY', `${name(CARD_LAYOUT.signifyExt)} was made by key ${s.keyId.toString('hex')}, not by this recorder's pinned key ${keyId}`);
    else if (!s.message.equals(sha)) fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.signifyExt)} signs a different statement from ${name(CARD_LAYOUT.statementExt)}`);
    else if (!verifyStatement(want.publicKey, sha, s.signature)) fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.signifyExt)}: the signature over the statement does not verify: the statement or the signature was changed`);
    else signature = s.signature;
  } catch (e) {
    fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.signifyExt)} is not a readable signature (${(e as Error).message})`);
  }
  let tc: TrustedComment | null = null;
  try {
    const m = parseMinisignSignature(msg);
    if (m.keyId.toString('hex') !== keyId) fail('WRONG_KEY', `${name(CARD_LAYOUT.minisignExt)} was made by key ${m.keyId.toString('hex')}, not by this recorder's pinned key ${keyId}`);
    else if (!verifyStatement(want.publicKey, sha, m.signature)) fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.minisignExt)}: the signature over the statement does not verify`);
    else if (!verifyStatement(want.publicKey, minisignGlobalMessage(m.signature, m.trustedComment), m.globalSignature)) fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.minisignExt)}: the trusted comment was changed (its signature does not verify)`);
    else {
      if (signature && !m.signature.equals(signature)) fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.minisignExt)} and ${name(CARD_LAYOUT.signifyExt)} carry different signatures`);
      tc = parseTrustedComment(m.trustedComment);
    }
  } catch (e) {
    fail(e instanceof OpenFormatError ? 'TRUSTED_COMMENT_MISMATCH' : 'SIGNATURE_INVALID', `${name(CARD_LAYOUT.minisignExt)}: ${(e as Error).message}`);
  }
  report.trustedComment = tc;

  // -- statement hashes against the files
  let statement: Record<string, string> = {};
  try {
    statement = Object.fromEntries(parseChecksumStatement(sha).map((x) => [x.name, x.sha256]));
  } catch (e) {
    fail('SIGNATURE_INVALID', `${name(CARD_LAYOUT.statementExt)} is not a readable statement (${(e as Error).message})`);
  }
  report.statement = statement;
  const wavName = name(CARD_LAYOUT.recordingExt);
  const ckpName = name(CARD_LAYOUT.checkpointsExt);
  const ageName = name(CARD_LAYOUT.encryptedExt);
  const listed = encrypted ? [ageName, wavName, ckpName] : [wavName, ckpName];
  if (Object.keys(statement).sort().join() !== [...listed].sort().join()) fail('TRUSTED_COMMENT_MISMATCH', `${name(CARD_LAYOUT.statementExt)} lists ${Object.keys(statement).join(', ') || 'nothing'}, not ${listed.slice(0, -1).join(', ')} and ${listed.at(-1)}`);
  if (wavHashes && statement[wavName] && statement[wavName] !== wavHashes.file) fail('HASH_MISMATCH', `${wavName}: the ${encrypted ? 'decrypted' : "library's"} WAV differs from the one the recorder signed`);
  if (encrypted && statement[ageName] && statement[ageName] !== want.ageSha256) fail('HASH_MISMATCH', `${ageName}: the library's encrypted copy differs from the one the recorder signed`);
  // The folder holds the library's files under their card names (hard links, or copies).
  const sameBytes = async (inFolder: string, libraryFile: string) =>
    fs
      .stat(inFolder)
      .then(async (st) => (st.size === (await fs.stat(libraryFile)).size ? sha256Hex(Buffer.from(await fs.readFile(inFolder))) : 'size differs'))
      .catch(() => null);
  if (wavHashes && files.wavPath !== null) {
    const folderWavBytesSha = await sameBytes(folderWav, files.wavPath);
    if (folderWavBytesSha === null) fail('EVIDENCE_MISSING', `${wavName} (the link to the library WAV) is missing from ${files.folder}`);
    else if (folderWavBytesSha !== wavHashes.file) fail('HASH_MISMATCH', `${wavName} in the evidence folder is not the library's WAV`);
  }
  if (encrypted) {
    const folderAgeSha = await sameBytes(at(CARD_LAYOUT.encryptedExt), files.agePath!);
    if (folderAgeSha === null) fail('EVIDENCE_MISSING', `${ageName} (the link to the library's encrypted copy) is missing from ${files.folder}`);
    else if (folderAgeSha !== want.ageSha256) fail('HASH_MISMATCH', `${ageName} in the evidence folder is not the library's encrypted copy`);
  }
  if (ckp && statement[ckpName] && statement[ckpName] !== sha256Hex(ckp)) fail('HASH_MISMATCH', `${ckpName}: the checkpoints differ from the ones the recorder signed`);

  // -- the trusted comment against the files, the manifest and the journal
  if (tc) {
    const diffs: string[] = [];
    const same = (what: string, a: string | number, b: string | number) => {
      if (a !== b) diffs.push(`${what}: signed ${a}, here ${b}`);
    };
    same('key', tc.dev, keyId);
    same('recording number', tc.rec, n);
    same('sample rate', tc.rate, want.sampleRate);
    same('samples', tc.samples, want.sampleCount);
    same('audio SHA-256', tc.audio, want.audioSha256);
    same('WAV SHA-256', tc.wav, wavHashes?.file ?? statement[wavName] ?? '-');
    if (encrypted) same('age file SHA-256', tc.age ?? '-', want.ageSha256 ?? '-');
    else if (tc.age !== undefined && tc.age !== '-') diffs.push('it names an encrypted file, but this copy is not encrypted');
    if (statement[ckpName]) same('checkpoints SHA-256', tc.ckp, statement[ckpName]);
    same('checkpoint slots', tc.ckpts, slots.length);
    if (stopSlot) same('vouched samples', tc.vouched, recovered ? stopSlot.vouched : stopSlot.n);
    if (diffs.length) fail('TRUSTED_COMMENT_MISMATCH', `the signed trusted comment disagrees with the files: ${diffs.join('; ')}`);
    if (!want.journal) fail('JOURNAL_MISMATCH', `the recorder signed journal record ${tc.jidx}, which the library's journal does not hold`);
    else {
      const jhash = sha256Hex(want.journal.raw);
      if (want.journal.index !== tc.jidx || jhash !== tc.jrec) fail('JOURNAL_MISMATCH', `the recorder signed journal record ${tc.jidx} (${tc.jrec.slice(0, 16)}…), but the library's journal has ${want.journal.index === tc.jidx ? 'a different record there' : `this recording at record ${want.journal.index}`}`);
    }
  }
  report.ok = failures.length === 0;
  return report;
}
