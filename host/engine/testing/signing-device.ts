/**
 * A stand-in for the recorder's signing key in tests (node:crypto Ed25519): what the device will
 * do for each statement is sign it, then sign minisign's signature || trusted comment.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { minisignGlobalMessage, type SignedStatement } from '../evidence/open-formats.js';

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
