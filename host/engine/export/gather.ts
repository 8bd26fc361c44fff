/**
 * What an export needs to know about each recording, read from the library and checked first:
 * an export of a recording that does not verify now is refused, saying why.
 */
import * as path from 'node:path';
import type * as nodeFs from 'node:fs/promises';
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { adviceFor } from '../evidence/advice.js';
import { keyFileNames, loadLibraryJournal, loadPin } from '../evidence/pins.js';
import { cardName, EVIDENCE_EXTS, evidenceFolderOf, parseTrustedComment, type TrustedComment } from '../evidence/recording.js';
import { checkCustody, readCustody, custodySlice, type CustodyCheck, type CustodyLine } from '../custody.js';
import { EngineError } from '../errors.js';
import type { JournalEntry } from '../journal.js';
import { indexLibrary, type Manifest } from '../library.js';
import { verifyLibraryFile, verifyLibraryFolder, type FileVerification, type LibraryVerification } from '../verify.js';

/**
 * The recording as the recorder wrote it, in the bundle: a WAV, or for an encrypted recording
 * (issue 13) the .AGE, which is then the evidence original; the WAV it decrypts to goes beside it
 * under its card name when the library has it (decrypted with the owner key, and checked against
 * the WAV hash the recorder signed). The owner key itself never goes into a bundle.
 */
export type BundleOriginal =
  | {
      kind: 'wav';
      /** The card name, as the signed statement lists it. */
      name: string;
    }
  | {
      kind: 'age';
      /** REC00042.AGE. */
      name: string;
      /** REC00042.WAV: the card name of the audio inside, as the statement lists it. */
      wavName: string;
      /** The library's decrypted WAV, or null when it was not decrypted (not in the bundle then). */
      decryptedPath: string | null;
    };

/** The card name of the audio file (the original, or for an encrypted recording the WAV inside). */
export const audioName = (o: BundleOriginal) => (o.kind === 'age' ? o.wavName : o.name);

export interface BundleRecording {
  manifest: Manifest;
  /** The library copy: the WAV, or for an encrypted recording the .age. */
  copyPath: string;
  /** The library WAV to read the audio from; null for an encrypted recording not decrypted. */
  audioPath: string | null;
  /** Folder in the bundle: recording-42. */
  folder: string;
  original: BundleOriginal;
  signed: boolean;
  keyId: string | null;
  /** The recording's signed files in the library (card names), present ones only. */
  evidenceFiles: { name: string; path: string }[];
  trustedComment: TrustedComment | null;
  /** Journal records 0..index of the recording's epoch (the chain up to it), when the library has them. */
  journal: { epoch: number; index: number; records: JournalEntry[] } | null;
  verification: FileVerification;
}

export interface BundleSource {
  library: string;
  recordings: BundleRecording[];
  /** The key files of the recorders, by key id: library paths. */
  keys: Map<string, { name: string; path: string }[]>;
  /** The raw public keys (hex) by key id, as pinned in the library. */
  publicKeys: Map<string, string>;
  libraryChecks: LibraryVerification[];
  custody: CustodyCheck;
  custodyLines: CustodyLine[];
}

type ReadFs = Pick<typeof nodeFs, 'open' | 'mkdir' | 'lstat' | 'stat' | 'link' | 'unlink' | 'rename' | 'readFile' | 'readdir'>;

const refuse = (message: string, action: string) => new EngineError('EXPORT_REFUSED', message, action);

/** Reads and checks the recordings to export; throws EXPORT_REFUSED naming the first that cannot go. */
export async function gatherBundle(fs: ReadFs, library: string, numbers: number[]): Promise<BundleSource> {
  const index = await indexLibrary(fs, library);
  if (index.size === 0) throw refuse(`There are no recordings in ${library}.`, 'Say which library folder with --dest (the folder sync copies into).');
  const recordings: BundleRecording[] = [];
  const keys = new Map<string, { name: string; path: string }[]>();
  const publicKeys = new Map<string, string>();
  const devices = new Set<string>();
  for (const n of numbers) {
    const found = [...index.values()].filter((x) => x.manifest.recording.number === n);
    if (found.length === 0) {
      const have = [...index.values()].map((x) => x.manifest.recording.number).sort((a, b) => a - b);
      throw refuse(`There is no recording ${n} in ${library}.`, `The recordings there are ${have.join(', ')}; \`recorder verify ${library}\` lists them.`);
    }
    if (found.length > 1) throw refuse(`Recording ${n} in ${library} comes from ${found.length} different recorders.`, 'Copy one recorder\'s recordings into a library folder of its own, then export from it.');
    const { wav, manifest: m } = found[0]!;
    const v = await verifyLibraryFile(wav, fs);
    if (!v.ok) {
      const first = v.failures[0]!;
      throw refuse(
        `Recording ${n} (${path.basename(wav)}) does not verify, so it cannot be exported as evidence: ${v.failures.map((f) => f.message).join('; ')} (${adviceFor(first.code).meaning}).`,
        adviceFor(first.code).action,
      );
    }
    devices.add(m.device.id);
    const signed = m.evidence?.status === 'signed';
    const keyId = signed ? m.evidence!.keyId : null;
    const folderOnDisk = path.join(library, m.evidence?.folder ?? path.basename(evidenceFolderOf(wav)));
    const evidenceFiles: BundleRecording['evidenceFiles'] = [];
    if (signed) {
      for (const ext of EVIDENCE_EXTS) evidenceFiles.push({ name: cardName(n, ext), path: path.join(folderOnDisk, cardName(n, ext)) });
      if (keyId && !keys.has(keyId)) {
        keys.set(keyId, Object.values(keyFileNames(keyId)).map((name) => ({ name, path: path.join(library, name) })));
        // verifyLibraryFile has just checked the signature under this pinned key
        const pin = await loadPin(fs, library, m.device.id);
        const k = pin?.keyId === keyId ? pin : pin?.previous.find((x) => x.keyId === keyId);
        if (k) publicKeys.set(keyId, k.publicKey);
      }
    }
    let journal: BundleRecording['journal'] = null;
    const epoch = m.evidence?.journalEpoch ?? null;
    if (keyId && epoch !== null && m.journal) {
      const all = await loadLibraryJournal(fs, library, keyId, epoch);
      if (all && all.length > m.journal.index) journal = { epoch, index: m.journal.index, records: all.slice(0, m.journal.index + 1) };
    }
    const derived = m.encryption?.derived ?? null;
    const decryptedPath = derived ? path.join(path.dirname(wav), derived.name) : null;
    const wavName = cardName(n, CARD_LAYOUT.recordingExt);
    recordings.push({
      manifest: m,
      copyPath: wav,
      audioPath: m.encryption ? decryptedPath : wav,
      folder: `recording-${n}`,
      original: m.encryption ? { kind: 'age', name: cardName(n, CARD_LAYOUT.encryptedExt), wavName, decryptedPath } : { kind: 'wav', name: wavName },
      signed,
      keyId,
      evidenceFiles,
      trustedComment: m.evidence?.trustedComment ? parseTrustedComment(m.evidence.trustedComment) : null,
      journal,
      verification: v,
    });
  }
  const libraryChecks: LibraryVerification[] = [];
  for (const d of devices) if (await loadPin(fs, library, d)) libraryChecks.push(await verifyLibraryFolder(library, d, fs));
  const custodyLines = await readCustody(fs, library);
  return { library, recordings, keys, publicKeys, libraryChecks, custody: await checkCustody(fs, library), custodyLines: custodySlice(custodyLines, recordings.map((r) => ({ deviceId: r.manifest.device.id, number: r.manifest.recording.number }))) };
}
