/**
 * Decrypting a recorder's age file (REC*.AGE) to the WAV it holds, as a stream: the file is read
 * and written in pieces, never held whole, and hashed on the way (the whole WAV, and its audio
 * data for the recorder's own SHA-256). age-encryption (the age author's TypeScript age) opens the
 * header (the owner key's X25519 stanza and the header's MAC); the payload, age's STREAM of
 * ChaCha20-Poly1305 chunks, is decrypted here with node's own ChaCha20-Poly1305 (OpenSSL), about
 * ten times faster than age-encryption's JavaScript one, which made decryption the slowest step of
 * an encrypted sync (docs/benchmarks.md, "Encrypted sync goodput"). This file turns failures into
 * plain words. age authenticates every 64 KiB chunk and the last one: a changed byte, a swapped,
 * missing or added chunk, or a cut fails at the chunk where it happens. Bytes written before a
 * failure are in the output file only: the caller writes to a .part and publishes it only after
 * everything checked.
 */
import { createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Decrypter } from 'age-encryption';
import { EngineError, fsError } from '../errors.js';
import { openNoFollow, type Fs } from '../library.js';
import type { LoadedIdentity } from './owner-keys.js';

/** age's STREAM chunk: 64 KiB of plaintext, 16 bytes of tag. */
export const AGE_CHUNK = 64 * 1024;
export const AGE_TAG = 16;
const CIPHER_CHUNK = AGE_CHUNK + AGE_TAG;
/** The payload's nonce, after the header: the salt of its key. */
const PAYLOAD_NONCE = 16;
/** A header longer than this is not one the recorder (one X25519 stanza) or age-keygen keys write. */
const MAX_HEADER = 1 << 20;

export interface Decrypted {
  /** Plaintext (WAV) size and SHA-256. */
  size: number;
  sha256: string;
  /** SHA-256 of the audio bytes [dataOffset, dataOffset + dataLength) of the plaintext. */
  audioSha256: string | null;
}

/** What the failing file is called in messages ("recording 42", or a file name). */
export interface DecryptSubject {
  what: string;
  /** The ciphertext size the recorder reported or the manifest recorded, to tell a cut file. */
  expectedSize?: number;
}

function recipientsText(identities: LoadedIdentity[]): string {
  const r = [...new Set(identities.map((i) => i.recipient))];
  return r.map((x) => `${x.slice(0, 16)}…`).join(', ');
}

/** age's header failures, in words. */
function headerError(e: unknown, s: DecryptSubject, identities: LoadedIdentity[]): EngineError {
  const m = (e as Error).message ?? String(e);
  if (/no identity matched/.test(m)) {
    return new EngineError(
      'WRONG_IDENTITY',
      `${s.what} is encrypted to another key: the owner key${identities.length > 1 ? 's' : ''} given (${recipientsText(identities)}) cannot open it.`,
      'Give the owner key it was encrypted to with --identity FILE (or import it with `recorder keys import FILE`); `recorder recipient` shows the key the recorder encrypts to now.',
    );
  }
  if (/header HMAC/.test(m)) return new EngineError('DECRYPT_FAILED', `${s.what} cannot be opened: its age header was changed after it was written (the header's check failed).`, 'Use another verified copy if you have one; keep this one as it is and ask for advice.');
  return new EngineError('DECRYPT_FAILED', `${s.what} is not a readable age file: its header is damaged or missing (${m}).`, 'Use another verified copy if you have one; keep this one as it is and ask for advice.');
}

/** Reads up to `n` bytes at `pos` (fewer at the end of the file). */
async function readAt(fh: FileHandle, buf: Buffer, n: number, pos: number): Promise<Buffer> {
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * The file key from the age header (age-encryption parses it, unwraps the stanza with the owner
 * keys and checks the header's MAC, with its own errors), and where the header ends: after the
 * first "--- MAC" line, the one line of a header that starts so (stanza lines start with "-> ",
 * their bodies are base64).
 */
async function openHeader(fh: FileHandle, cipherSize: number, identities: LoadedIdentity[]): Promise<{ fileKey: Uint8Array; headerSize: number }> {
  const d = new Decrypter();
  for (const i of identities) d.addIdentity(i.identity);
  for (let want = Math.min(cipherSize, 4096); ; want = Math.min(cipherSize, want * 4)) {
    const head = await readAt(fh, Buffer.alloc(want), want, 0);
    const mac = head.indexOf('\n--- ', 0, 'latin1');
    const end = mac < 0 ? -1 : head.indexOf('\n', mac + 1, 'latin1');
    if (end >= 0) return { fileKey: await d.decryptHeader(head.subarray(0, end + 1)), headerSize: end + 1 };
    // No end of header in what the file holds: age-encryption says what is wrong with it.
    if (want >= cipherSize || want >= MAX_HEADER) {
      await d.decryptHeader(head);
      throw new Error('the header has no end');
    }
  }
}

/** Plaintext bytes of `payload` bytes of STREAM chunks; null for a size no age file can have. */
function plaintextSize(payload: number): number | null {
  if (payload < AGE_TAG) return null;
  const full = Math.floor(payload / CIPHER_CHUNK);
  const last = payload % CIPHER_CHUNK;
  if (last > 0 && last <= AGE_TAG && payload !== AGE_TAG) return null;
  return payload - full * AGE_TAG - (last > 0 ? AGE_TAG : 0);
}

/**
 * Decrypts `agePath` into `outPath` (created, 0600, never over an existing file). Throws
 * WRONG_IDENTITY or DECRYPT_FAILED (plain words, the chunk that failed) and leaves `outPath` for
 * the caller to remove.
 */
export async function decryptToFile(fs: Fs, agePath: string, outPath: string, identities: LoadedIdentity[], audio: { dataOffset: number; dataLength: number } | null, s: DecryptSubject): Promise<Decrypted> {
  if (identities.length === 0) throw new EngineError('NOT_DECRYPTED', `${s.what} is encrypted, and no owner key was given to open it.`, 'Give the owner key with --identity FILE, or import it with `recorder keys import FILE`.');
  let input: FileHandle;
  try {
    input = await fs.open(agePath, constants.O_RDONLY);
  } catch (e) {
    throw fsError(e, 'read the encrypted copy', agePath);
  }
  let output: FileHandle | null = null;
  try {
    const cipherSize = (await input.stat()).size;
    let fileKey: Uint8Array;
    let headerSize: number;
    let nonce: Buffer;
    try {
      ({ fileKey, headerSize } = await openHeader(input, cipherSize, identities));
      nonce = Buffer.from(await readAt(input, Buffer.alloc(PAYLOAD_NONCE), PAYLOAD_NONCE, headerSize));
      if (nonce.length < PAYLOAD_NONCE) throw new Error(`stream ended before reading ${PAYLOAD_NONCE} bytes`);
    } catch (e) {
      throw headerError(e, s, identities);
    }
    const payloadStart = headerSize + PAYLOAD_NONCE;
    const streamKey = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
    // age gives the plaintext size from the ciphertext size; a size no age file can have is a cut.
    const chunksOf = (cipher: number): number | null => {
      const p = plaintextSize(cipher - payloadStart);
      return p === null ? null : Math.max(1, Math.ceil(p / AGE_CHUNK));
    };
    const present = chunksOf(cipherSize);
    const chunks = chunksOf(s.expectedSize ?? cipherSize) ?? present;
    const cut = s.expectedSize !== undefined ? cipherSize < s.expectedSize : present === null;
    output = await openNoFollow(fs, outPath, true);
    const whole = createHash('sha256');
    const audioHash = audio ? createHash('sha256') : null;
    const audioEnd = audio ? audio.dataOffset + audio.dataLength : 0;
    let written = 0;
    // STREAM: chunk k's nonce is k (11 bytes, big-endian) and a last-chunk flag; every chunk but
    // the last is full. The last one is whatever the file holds after the others (as age reads it).
    const payload = cipherSize - payloadStart;
    const count = Math.max(1, Math.ceil(payload / CIPHER_CHUNK));
    const buf = Buffer.alloc(CIPHER_CHUNK);
    const streamNonce = Buffer.alloc(12);
    for (let k = 0; k < count; k++) {
      const last = k === count - 1;
      const c = await readAt(input, buf, last ? payload - k * CIPHER_CHUNK : CIPHER_CHUNK, payloadStart + k * CIPHER_CHUNK);
      let b: Buffer;
      try {
        if (c.length < AGE_TAG) throw new Error('ciphertext chunk is too short');
        streamNonce.writeUIntBE(k, 5, 6); // bytes 0-4 stay 0: 2^48 chunks is 16 EiB
        streamNonce[11] = last ? 1 : 0;
        const dec = createDecipheriv('chacha20-poly1305', streamKey, streamNonce, { authTagLength: AGE_TAG });
        dec.setAuthTag(c.subarray(c.length - AGE_TAG));
        b = dec.update(c.subarray(0, c.length - AGE_TAG));
        dec.final(); // checks the tag; a stream cipher has nothing left to give
        // The final chunk can be empty only if it is the first one.
        if (last && k > 0 && b.length === 0) throw new Error('final chunk is empty');
      } catch (e) {
        const atEnd = present !== null ? k >= present - 1 : true;
        const where = `chunk ${k + 1}${chunks !== null ? ` of ${chunks}` : ''} (after ${written} bytes of audio file)`;
        const why = cut && atEnd ? 'the file is cut short' : /final chunk is empty/.test((e as Error).message ?? '') ? 'the file was extended after its last chunk' : 'the file was changed there, or its chunks were swapped, removed or added';
        throw new EngineError('DECRYPT_FAILED', `${s.what} fails age's check at ${where}: ${why}. Nothing after that point can be trusted.`, 'Use another verified copy if you have one; keep this one as it is and ask for advice.');
      }
      whole.update(b);
      if (audioHash) {
        const a = Math.max(written, audio!.dataOffset);
        const z = Math.min(written + b.length, audioEnd);
        if (z > a) audioHash.update(b.subarray(a - written, z - written));
      }
      let o = 0;
      try {
        while (o < b.length) o += (await output.write(b, o, b.length - o, written + o)).bytesWritten;
      } catch (e) {
        throw fsError(e, 'write the decrypted recording', outPath);
      }
      written += b.length;
    }
    await output.sync();
    return { size: written, sha256: whole.digest('hex'), audioSha256: audioHash && written >= audioEnd ? audioHash.digest('hex') : null };
  } finally {
    await output?.close().catch(() => undefined);
    await input.close().catch(() => undefined);
  }
}
