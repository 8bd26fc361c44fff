/**
 * A stand-in for the recorder's signing key in tests (node:crypto Ed25519): what the device will
 * do for each statement is sign it, then sign minisign's signature || trusted comment.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { identitySignedMessage } from '../evidence/identity.js';
import { checksumStatement, keyIdOf, minisignGlobalMessage, minisignSignature, signifySignature, type SignedStatement } from '../evidence/open-formats.js';
import { cardName, formatSlot, formatTrustedComment, slotMessage, startDigest } from '../evidence/recording.js';

export interface SigningDevice {
  privateKey: KeyObject;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
}

export function signingDevice(): SigningDevice {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url') };
}

/** The device's two signatures over a statement. */
export function signStatement(d: SigningDevice, statement: Buffer, trustedComment = 'recorder statement R0000042'): SignedStatement {
  const signature = sign(null, statement, d.privateKey);
  const globalSignature = sign(null, minisignGlobalMessage(signature, trustedComment), d.privateKey);
  return { publicKey: d.publicKey, statement, signature, trustedComment, globalSignature };
}

/** What a sealing recorder needs to know about a finished recording (issue 12 contract). */
export interface SealInput {
  number: number;
  /** The whole WAV as on the card. */
  wav: Buffer;
  dataOffset: number;
  sampleRate: number;
  sampleCount: number;
  startIso: string | null;
  stopIso: string | null;
  stopReason: string;
  overruns: number;
  journal: { epoch: number; index: number; raw: Buffer };
  /** A recording cut by power: the samples the last checkpoint made while recording vouched for. */
  recoveredVouched?: number;
  fw?: string;
  /** An encrypted recording: the age file on the card (its plaintext is `wav`). */
  age?: Buffer;
}

export interface SealedFiles {
  ckp: Buffer;
  sha: Buffer;
  sig: Buffer;
  msg: Buffer;
  trustedComment: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** The checkpoint slots a recorder writes while recording (one per 60 s of audio, then stop). */
export function checkpointFile(d: SigningDevice, s: SealInput): Buffer {
  const k = keyIdOf(d.publicKey).toString('hex');
  const audio = s.wav.subarray(s.dataOffset, s.dataOffset + s.sampleCount * 2);
  const prefix = (n: number) => sha256(audio.subarray(0, n * 2)).toString('hex');
  const slot = (text: string) => {
    const m = slotMessage(text);
    return Buffer.concat([m, sign(null, m, d.privateKey)]);
  };
  const start = slotMessage(formatSlot({ kind: 'start', k, r: s.number, rate: s.sampleRate, t0: s.startIso ?? '-', u0: 1000, pj: '0'.repeat(64) }));
  const slots = [Buffer.concat([start, sign(null, start, d.privateKey)])];
  const s0 = startDigest(start);
  const every = s.sampleRate * CARD_LAYOUT.checkpointIntervalS;
  const limit = s.recoveredVouched ?? s.sampleCount;
  for (let n = every; n < limit || (s.recoveredVouched !== undefined && n === limit); n += every) {
    slots.push(slot(formatSlot({ kind: 'ckpt', k, r: s.number, i: slots.length, n, u: 1000 + (n * 1000) / s.sampleRate, s: s0, h: prefix(n) })));
  }
  const dataEnd = s.dataOffset + s.sampleCount * 2;
  const f = sha256(Buffer.concat([s.wav.subarray(0, CARD_LAYOUT.wavDataOffset), s.wav.subarray(dataEnd)])).toString('hex');
  const recovered = s.recoveredVouched !== undefined;
  slots.push(slot(formatSlot({ kind: 'stop', k, r: s.number, i: slots.length, n: s.sampleCount, why: recovered ? 'power-loss' : s.stopReason.replace(/ /g, '-'), rec: recovered ? 1 : 0, vouched: recovered ? s.recoveredVouched! : s.sampleCount, s: s0, h: prefix(s.sampleCount), f })));
  return Buffer.concat(slots);
}

/** The four signed files of a recording, in the contract's formats. */
export function sealRecording(d: SigningDevice, s: SealInput): SealedFiles {
  const k = keyIdOf(d.publicKey).toString('hex');
  const ckp = checkpointFile(d, s);
  const wavName = cardName(s.number, CARD_LAYOUT.recordingExt);
  const ckpName = cardName(s.number, CARD_LAYOUT.checkpointsExt);
  const sha = checksumStatement([
    ...(s.age ? [{ name: cardName(s.number, CARD_LAYOUT.encryptedExt), sha256: sha256(s.age).toString('hex') }] : []),
    { name: wavName, sha256: sha256(s.wav).toString('hex') },
    { name: ckpName, sha256: sha256(ckp).toString('hex') },
  ]);
  const recovered = s.recoveredVouched !== undefined;
  const tc = formatTrustedComment({
    v: '1',
    dev: k,
    uid: '-',
    rec: s.number,
    epoch: s.journal.epoch,
    jidx: s.journal.index,
    jrec: sha256(s.journal.raw).toString('hex'),
    start: s.startIso ?? '-',
    stop: s.stopIso ?? '-',
    clock: s.startIso ? 'set' : 'unset',
    rate: s.sampleRate,
    samples: s.sampleCount,
    vouched: recovered ? s.recoveredVouched! : s.sampleCount,
    ckpts: ckp.length / CARD_LAYOUT.checkpointSlotSize,
    reason: recovered ? 'power-loss' : s.stopReason.replace(/ /g, '-'),
    overruns: s.overruns,
    recovered: recovered ? 'yes' : 'no',
    audio: sha256(s.wav.subarray(s.dataOffset, s.dataOffset + s.sampleCount * 2)).toString('hex'),
    wav: sha256(s.wav).toString('hex'),
    ...(s.age ? { age: sha256(s.age).toString('hex') } : {}),
    ckp: sha256(ckp).toString('hex'),
    fw: s.fw ?? '1.2.3',
  });
  const signed = signStatement(d, sha, tc);
  const comment = `ER-1 recorder ${k} recording ${s.number}`;
  return { ckp, sha, sig: signifySignature(signed, comment), msg: Buffer.from(minisignSignature(signed, comment)), trustedComment: tc };
}

/** The device's signature of an IDENTITY answer: over domain || NUL || nonce || bytes before it. */
export function signIdentity(d: SigningDevice, nonce: Buffer, unsigned: Buffer): Buffer {
  return sign(null, identitySignedMessage(nonce, Buffer.concat([unsigned, Buffer.alloc(64)])), d.privateKey);
}
