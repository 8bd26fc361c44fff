/**
 * An age v1 writer for tests, on node:crypto only (X25519, HKDF-SHA-256, ChaCha20-Poly1305): what
 * the recorder does when a recipient is set, written independently of age-encryption so that the
 * app's decryption (age-encryption) and the stock `age` each check it (age-writer.test.ts). Plus
 * the damage a card or a copy can suffer: a flipped byte in a chunk, a cut, swapped chunks.
 */
import { createCipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes } from 'node:crypto';

const CHUNK = 64 * 1024;
const TAG = 16;
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
const hkdf = (ikm: Buffer, salt: Buffer, info: string) => Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'latin1'), 32));

function seal(key: Buffer, nonce: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** age's STREAM nonce: an 11-byte big-endian counter and the last-chunk flag. */
function streamNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

/** Encrypts `plain` to the X25519 public key `recipient` (32 bytes) in age v1. */
export function ageEncrypt(plain: Buffer, recipient: Buffer): Buffer {
  const fileKey = randomBytes(16);
  const ephemeral = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, randomBytes(32)]), format: 'der', type: 'pkcs8' });
  const share = createPublicKey(ephemeral).export({ format: 'der', type: 'spki' }).subarray(-32);
  const shared = diffieHellman({ privateKey: ephemeral, publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, recipient]), format: 'der', type: 'spki' }) });
  const wrapKey = hkdf(shared, Buffer.concat([share, recipient]), 'age-encryption.org/v1/X25519');
  const body = seal(wrapKey, Buffer.alloc(12), fileKey);
  const headerNoMac = `age-encryption.org/v1\n-> X25519 ${b64(share)}\n${b64(body)}\n---`;
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(headerNoMac, 'latin1').digest();
  const nonce = randomBytes(16);
  const payloadKey = hkdf(fileKey, nonce, 'payload');
  const parts: Buffer[] = [Buffer.from(`${headerNoMac} ${b64(mac)}\n`, 'latin1'), nonce];
  const count = Math.max(1, Math.ceil(plain.length / CHUNK));
  for (let i = 0; i < count; i++) parts.push(seal(payloadKey, streamNonce(i, i === count - 1), plain.subarray(i * CHUNK, (i + 1) * CHUNK)));
  return Buffer.concat(parts);
}

/** Where the payload's first chunk starts (after the header and the 16-byte nonce). */
export function agePayloadOffset(age: Buffer): number {
  const mac = age.indexOf('\n--- ', 0, 'latin1');
  return age.indexOf('\n', mac + 1, 'latin1') + 1 + 16;
}

/** Offset of chunk k (0-based) in an age file. */
export function ageChunkOffset(age: Buffer, k: number): number {
  return agePayloadOffset(age) + k * (CHUNK + TAG);
}

export function flipByteInChunk(age: Buffer, k: number, at = 100): Buffer {
  const out = Buffer.from(age);
  const i = ageChunkOffset(age, k) + at;
  out[i] = out[i]! ^ 0x01;
  return out;
}

export function swapChunks(age: Buffer, i: number, j: number): Buffer {
  const out = Buffer.from(age);
  const [a, b] = [ageChunkOffset(age, i), ageChunkOffset(age, j)];
  age.copy(out, a, b, b + CHUNK + TAG);
  age.copy(out, b, a, a + CHUNK + TAG);
  return out;
}
