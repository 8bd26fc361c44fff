/**
 * One recording of the library, named by its number (in a library folder) or by its file, found
 * and checked before anything is made from it (excerpts, marker files, notes): a recording that
 * does not verify now is refused, saying why.
 */
import { constants } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import * as path from 'node:path';
import { adviceFor } from '../evidence/advice.js';
import { EngineError, fsError } from '../errors.js';
import { FILE_MODE, indexLibrary, makeFolder, sidecarPath, type Fs, type Manifest } from '../library.js';
import { verifyLibraryFile, type FileVerification } from '../verify.js';

export interface LibraryRecording {
  library: string;
  /** The evidence copy: the WAV, or for an encrypted recording the .age. */
  copyPath: string;
  manifest: Manifest;
  /** The WAV to read the audio from: the copy, or an encrypted recording's decrypted WAV (null if not decrypted). */
  audioPath: string | null;
  verification: FileVerification;
}

const refuse = (message: string, action: string) => new EngineError('EXPORT_REFUSED', message, action);

/**
 * Finds recording `ref` (a number, in `library`; or a path to its .wav, .age or .json) and checks
 * it with `recorder verify`'s checks. Throws EXPORT_REFUSED when it is not there or does not verify.
 */
export async function findLibraryRecording(fs: Fs, ref: string | number, library?: string): Promise<LibraryRecording> {
  let copyPath: string;
  let manifest: Manifest;
  let folder: string;
  if (typeof ref === 'number' || /^\d{1,9}$/.test(ref)) {
    const n = Number(ref);
    if (!library) throw refuse(`Say which library folder holds recording ${n}.`, 'Give the folder with --dest, or the recording\'s file instead of its number.');
    folder = path.resolve(library);
    const index = await indexLibrary(fs, folder);
    const found = [...index.values()].filter((x) => x.manifest.recording.number === n);
    if (found.length === 0) {
      const have = [...index.values()].map((x) => x.manifest.recording.number).sort((a, b) => a - b);
      throw refuse(`There is no recording ${n} in ${folder}.`, have.length ? `The recordings there are ${have.join(', ')}.` : 'Say which library folder with --dest (the folder sync copies into).');
    }
    if (found.length > 1) throw refuse(`Recording ${n} in ${folder} comes from ${found.length} different recorders.`, 'Name the recording by its file instead of its number.');
    copyPath = found[0]!.wav;
    manifest = found[0]!.manifest;
  } else {
    const file = path.resolve(ref);
    folder = path.dirname(file);
    const sidecar = sidecarPath(file.replace(/\.json$/i, '.wav'));
    let m: Manifest;
    try {
      m = JSON.parse(String(await fs.readFile(sidecar))) as Manifest;
    } catch (e) {
      throw refuse(`${path.basename(ref)} is not a recording of a library: its description ${path.basename(sidecar)} cannot be read (${(e as Error).message}).`, 'Name a recording that `recorder sync` copied (its .wav or .age file, or its number with --dest).');
    }
    manifest = m;
    copyPath = path.join(folder, m.file?.name ?? path.basename(file));
  }
  const v = await verifyLibraryFile(copyPath, fs);
  if (!v.ok) {
    const first = v.failures[0]!;
    throw refuse(`Recording ${manifest.recording?.number} (${path.basename(copyPath)}) does not verify, so nothing is made from it: ${v.failures.map((f) => f.message).join('; ')} (${adviceFor(first.code).meaning}).`, adviceFor(first.code).action);
  }
  const audioPath = manifest.encryption ? v.decrypted ?? null : copyPath;
  return { library: folder, copyPath, manifest, audioPath, verification: v };
}

/** Creates (0700) or opens the export folder; refuses a link or a file in its place. */
export async function exportFolder(fs: Fs, dir: string): Promise<string> {
  return makeFolder(fs, dir, { name: 'export folder', option: '--out' });
}

/** A file-name part from any text: letters, digits, '.', '-', '_' only, never hidden, at most 80 characters. */
export function safeNamePart(s: string): string {
  const out = [...s.normalize('NFC').replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/\.{2,}/g, '.').replace(/-{2,}/g, '-').replace(/^[-._]+|[-._]+$/g, '')].slice(0, 80).join('');
  return out || 'recording';
}

/**
 * The first `base`, `base-2`, `base-3`... for which none of the files `base + suffix` exists in
 * `dir` (an export never replaces a file).
 */
export async function freeBase(fs: Fs, dir: string, base: string, suffixes: readonly string[]): Promise<string> {
  for (let i = 1; i < 10_000; i++) {
    const b = i === 1 ? base : `${base}-${i}`;
    let taken = false;
    for (const s of suffixes) {
      if (await fs.lstat(path.join(dir, b + s)).then(() => true, () => false)) taken = true;
    }
    if (!taken) return b;
  }
  throw new EngineError('FILE_CONFLICT', `Too many exports named ${base} in ${dir}.`, 'Move some of them away, or choose another folder with --out.');
}

/** Writes a new file (0600, never replacing one, not through a link) and syncs it. */
export async function writeNewFile(fs: Fs, p: string, data: Buffer | string): Promise<void> {
  let fh: nodeFs.FileHandle;
  try {
    fh = await fs.open(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new EngineError('FILE_CONFLICT', `${path.basename(p)} appeared in ${path.dirname(p)} while exporting; it was not touched.`, 'Export again.');
    throw fsError(e, 'write', p);
  }
  try {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    let o = 0;
    while (o < buf.length) o += (await fh.write(buf, o, buf.length - o, o)).bytesWritten;
    await fh.sync();
  } catch (e) {
    throw fsError(e, 'write', p);
  } finally {
    await fh.close();
  }
}
