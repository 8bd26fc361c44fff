/**
 * The recorder's identity (issue 12): IDENTITY and PROVISION requests and the check of the signed
 * answer. The device signs "ER1-IDENTITY-v1" || 0x00 || nonce || the IDENTITY bytes before its
 * signature, so a fresh nonce proves the key and the journal head it reports are live now.
 */
import { randomBytes } from 'node:crypto';
import { decodeStruct } from '../../../protocol/src/codec.js';
import { ERROR_CODE, IDENTITY_FLAGS, PROTOCOL, STRUCTS, structSize } from '../../../protocol/src/schema.js';
import type { Identity } from '../../../protocol/generated/types.js';
import type { ProtocolClient } from '../client.js';
import { DeviceError } from '../errors.js';
import { keyIdOf, verifyStatement } from './open-formats.js';

const NONCE_BYTES = 32;
const SIGNATURE_BYTES = 64;
export const IDENTITY_SIZE = structSize(STRUCTS.IDENTITY);

/** One signed IDENTITY answer as kept in the pin record: enough to check it again offline. */
export interface Attestation {
  /** The nonce the host sent (hex): for PROVISION, the host random. */
  nonce: string;
  /** The IDENTITY payload as received (hex). */
  response: string;
  /** Host time it was received. */
  atIso: string;
  /** 'identity' or 'provision'. */
  request: 'identity' | 'provision';
}

/** What an IDENTITY answer says, checked. */
export interface CheckedIdentity {
  identity: Identity;
  raw: Buffer;
  nonce: Buffer;
  hasKey: boolean;
  damaged: boolean;
  entropyFailed: boolean;
  /** 16 hex digits, or null without a key. */
  keyId: string | null;
  publicKey: Buffer | null;
  /** Problems with the answer (signature, key id): non-empty means it proves nothing. */
  problems: string[];
}

/** The bytes the device signs for an IDENTITY answer. */
export function identitySignedMessage(nonce: Uint8Array, raw: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(PROTOCOL.identityDomain, 'ascii'), Buffer.from([0]), nonce, Buffer.from(raw).subarray(0, IDENTITY_SIZE - SIGNATURE_BYTES)]);
}

/** Decodes and checks one IDENTITY payload against the nonce the host sent. */
export function checkIdentity(raw: Buffer, nonce: Buffer): CheckedIdentity {
  const identity = decodeStruct('IDENTITY', raw) as unknown as Identity;
  const hasKey = (identity.flags & IDENTITY_FLAGS.HAS_KEY) !== 0;
  const problems: string[] = [];
  let keyId: string | null = null;
  let publicKey: Buffer | null = null;
  if (hasKey) {
    publicKey = Buffer.from(identity.publicKey);
    keyId = keyIdOf(publicKey).toString('hex');
    if (!identity.keyId.equals(keyIdOf(publicKey))) problems.push('the key id it sent does not belong to its public key');
    if (!verifyStatement(publicKey, identitySignedMessage(nonce, raw), identity.signature)) problems.push('its signature over our challenge does not verify');
  }
  return {
    identity,
    raw,
    nonce,
    hasKey,
    damaged: (identity.flags & IDENTITY_FLAGS.DAMAGED) !== 0,
    entropyFailed: (identity.flags & IDENTITY_FLAGS.ENTROPY_FAILED) !== 0,
    keyId,
    publicKey,
    problems,
  };
}

export function attestationOf(c: CheckedIdentity, request: Attestation['request'], at: number): Attestation {
  return { nonce: c.nonce.toString('hex'), response: c.raw.toString('hex'), atIso: new Date(at).toISOString(), request };
}

/** Checks a stored attestation again (offline verify). */
export function checkAttestation(a: Attestation): CheckedIdentity {
  return checkIdentity(Buffer.from(a.response, 'hex'), Buffer.from(a.nonce, 'hex'));
}

/** True when the device does not know the command (firmware from before signing). */
export function isUnknownCommand(e: unknown): boolean {
  return e instanceof DeviceError && e.info.value === ERROR_CODE.UNKNOWN_COMMAND;
}

/** IDENTITY with a fresh nonce; null when the recorder's firmware does not know the command. */
export async function requestIdentity(client: ProtocolClient, signal?: AbortSignal): Promise<CheckedIdentity | null> {
  const nonce = randomBytes(NONCE_BYTES);
  try {
    const { payload } = await client.requestRaw('IDENTITY', { nonce }, { signal });
    return checkIdentity(payload, nonce);
  } catch (e) {
    if (isUnknownCommand(e)) return null;
    throw e;
  }
}

/** PROVISION: the device makes its key with our random bytes mixed in; answers IDENTITY. */
export async function requestProvision(client: ProtocolClient, signal?: AbortSignal): Promise<CheckedIdentity> {
  const hostRandom = randomBytes(NONCE_BYTES);
  // Not resent after a timeout: a second PROVISION would be refused (the key exists by then).
  const { payload } = await client.requestRaw('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom }, { signal, retries: 0, timeoutMs: Math.max(client.timeoutMs, 10_000) });
  return checkIdentity(payload, hostRandom);
}
