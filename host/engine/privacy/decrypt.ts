/**
 * Decrypting a recorder's age file (REC*.AGE) to the WAV it holds, as a stream: the file is read
 * and written in pieces, never held whole, and hashed on the way (the whole WAV, and its audio
 * data for the recorder's own SHA-256). age-encryption (the age author's TypeScript age) does the
 * decryption; this file turns its failures into plain words. age authenticates every 64 KiB chunk
 * and the last one: a changed byte, a swapped, missing or added chunk, or a cut fails at the chunk
 * where it happens. Bytes written before a failure are in the output file only: the caller writes
 * to a .part and publishes it only after everything checked.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { EngineError, fsError } from '../errors.js';
import { openNoFollow, type Fs } from '../library.js';
import type { LoadedIdentity } from './owner-keys.js';

/** age's STREAM chunk: 64 KiB of plaintext, 16 bytes of tag. */
export const AGE_CHUNK = 64 * 1024;
export const AGE_TAG = 16;
/**
 * Ciphertext is fed one chunk's worth at a time: age-encryption then decrypts at most one chunk
 * per piece, after the one before was taken, so the bytes written tell which chunk failed.
 */
const READ_BYTES = AGE_CHUNK + AGE_TAG;

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

function readStream(fh: FileHandle): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = Buffer.alloc(READ_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) controller.close();
      else {
        pos += bytesRead;
        controller.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
      }
    },
  });
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
    const { Decrypter } = await import('age-encryption'); // loaded when a recording is decrypted, not at start-up
    const d = new Decrypter();
    for (const i of identities) d.addIdentity(i.identity);
    let plain: Awaited<ReturnType<InstanceType<typeof Decrypter>['decrypt']>> & ReadableStream<Uint8Array>;
    try {
      plain = (await d.decrypt(readStream(input))) as typeof plain;
    } catch (e) {
      throw headerError(e, s, identities);
    }
    // age gives the plaintext size from the ciphertext size; a size no age file can have is a cut.
    const chunksOf = (cipher: number): number | null => {
      try {
        return Math.max(1, Math.ceil((plain as unknown as { size(n: number): number }).size(cipher) / AGE_CHUNK));
      } catch {
        return null;
      }
    };
    const present = chunksOf(cipherSize);
    const chunks = chunksOf(s.expectedSize ?? cipherSize) ?? present;
    const cut = s.expectedSize !== undefined ? cipherSize < s.expectedSize : present === null;
    output = await openNoFollow(fs, outPath, true);
    const whole = createHash('sha256');
    const audioHash = audio ? createHash('sha256') : null;
    const audioEnd = audio ? audio.dataOffset + audio.dataLength : 0;
    let written = 0;
    const reader = plain.getReader();
    for (;;) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (e) {
        const k = Math.floor(written / AGE_CHUNK);
        const last = present !== null ? k >= present - 1 : true;
        const where = `chunk ${k + 1}${chunks !== null ? ` of ${chunks}` : ''} (after ${written} bytes of audio file)`;
        const why = cut && last ? 'the file is cut short' : /final chunk is empty/.test((e as Error).message ?? '') ? 'the file was extended after its last chunk' : 'the file was changed there, or its chunks were swapped, removed or added';
        throw new EngineError('DECRYPT_FAILED', `${s.what} fails age's check at ${where}: ${why}. Nothing after that point can be trusted.`, 'Use another verified copy if you have one; keep this one as it is and ask for advice.');
      }
      if (r.done) break;
      const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
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
