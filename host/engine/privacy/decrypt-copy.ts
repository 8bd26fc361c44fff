/**
 * Decrypting a library's encrypted copy (`<base>.age`, the evidence copy) to its derived WAV
 * (`<base>.wav`): by sync when the library holds the owner key, and by `recorder decrypt` later.
 * The WAV is published only after it checked: its audio hashes to the recorder's SHA-256, its
 * evidence chunk names this recording, and its SHA-256 is the WAV hash the recorder signed. Then
 * the manifest names it (`encryption.derived`) and the evidence folder links it as REC*.WAV, so
 * `signify -C` there checks both files.
 */
import { constants } from 'node:fs';
import * as path from 'node:path';
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { EngineError, fsError } from '../errors.js';
import { cardName } from '../evidence/recording.js';
import { linkWav } from '../evidence/sync-evidence.js';
import { copyBase, exists, publishNoClobber, safeJoin, serialiseManifest, sidecarPath, writeFileAtomic, type Fs, type Manifest, type ManifestEncryption } from '../library.js';
import { inspectFile } from '../verify.js';
import { compareWav } from '../wav.js';
import { manifestMarkers } from '../markers.js';
import { decryptToFile } from './decrypt.js';
import type { LoadedIdentity } from './owner-keys.js';

export interface DecryptedCopy {
  wavPath: string;
  manifest: Manifest;
  derived: NonNullable<ManifestEncryption['derived']>;
  /** The WAV was already there and checked: nothing was decrypted now. */
  already: boolean;
}

export async function readManifest(fs: Fs, copyPath: string): Promise<Manifest> {
  const p = sidecarPath(copyPath);
  try {
    return JSON.parse(String(await fs.readFile(p))) as Manifest;
  } catch (e) {
    throw new EngineError('MANIFEST_INVALID', `The description ${path.basename(p)} of ${path.basename(copyPath)} cannot be read (${(e as Error).message}).`, 'Run `recorder verify` on the folder to see what is wrong.');
  }
}

export async function decryptLibraryCopy(fs: Fs, agePath: string, identities: LoadedIdentity[], now: () => number = Date.now): Promise<DecryptedCopy> {
  const m = await readManifest(fs, agePath);
  const n = m.recording?.number;
  const what = `Recording ${n} (${path.basename(agePath)})`;
  if (!m.encryption) throw new EngineError('NOT_ENCRYPTED', `${path.basename(agePath)} is not an encrypted copy: there is nothing to decrypt.`, 'Its WAV is the copy itself.');
  const dir = path.dirname(agePath);
  const wavPath = safeJoin(dir, `${path.basename(copyBase(agePath))}.wav`);
  const part = `${wavPath}.part`;
  if (await exists(fs, wavPath)) {
    const d = m.encryption.derived;
    if (d && d.name === path.basename(wavPath)) {
      const ins = await inspectFile(fs, wavPath);
      if (ins.fileSha256 === d.sha256) return { wavPath, manifest: m, derived: d, already: true };
    }
    throw new EngineError('FILE_CONFLICT', `${path.basename(wavPath)} is already in the folder and is not the decrypted copy the manifest names; it was not touched.`, 'Move it away and decrypt again.');
  }
  await fs.unlink(part).catch(() => undefined);
  const fail = async (e: unknown) => {
    await fs.unlink(part).catch(() => undefined);
    return e;
  };
  let used: LoadedIdentity | undefined;
  try {
    await decryptToFile(fs, agePath, part, identities, { dataOffset: m.recording.dataOffset, dataLength: m.recording.sampleCount * 2 }, { what, expectedSize: m.file.size });
    const ins = await inspectFile(fs, part);
    const problems: string[] = [];
    let code: EngineError['code'] = 'EVIDENCE_MISMATCH';
    const signedWav = m.evidence?.statement?.[cardName(n, CARD_LAYOUT.recordingExt)] ?? null;
    if (ins.dataSha256 !== m.recording.sha256) {
      code = 'HASH_MISMATCH';
      problems.push("its audio does not hash to the recorder's SHA-256");
    }
    if (signedWav && signedWav !== ins.fileSha256) {
      code = 'HASH_MISMATCH';
      problems.push('it is not the WAV the recorder signed');
    }
    if (ins.wavProblems.length && code !== 'HASH_MISMATCH') code = 'WAV_INVALID';
    problems.push(...ins.wavProblems);
    problems.push(...compareWav(ins.layout, { number: n, deviceId: BigInt('0x' + m.device.id), sampleRate: m.recording.sampleRate, sampleCount: m.recording.sampleCount, sha256: m.recording.sha256, startUnixMs: BigInt(m.times.deviceStartUnixMs) }));
    if (problems.length) throw new EngineError(code, `${what} decrypts, but not to the recording the recorder described: ${problems.join('; ')}.`, 'The encrypted copy is kept as it is; keep the recorder as it is and ask for advice.');
    // Which owner key opened it: the manifest says so (the stanza does not name its recipient).
    used = identities.length === 1 ? identities[0] : await whichOpens(fs, agePath, identities);
    await publishNoClobber(fs, part, wavPath);
    const derived = { name: path.basename(wavPath), size: ins.size, sha256: ins.fileSha256, decryptedAtIso: new Date(now()).toISOString(), recipient: used?.recipient ?? '' };
    if (m.evidence?.folder) {
      try {
        await linkWav(fs, wavPath, safeJoin(path.join(dir, m.evidence.folder), cardName(n, CARD_LAYOUT.recordingExt)));
      } catch (e) {
        throw fsError(e, 'link the decrypted WAV into the evidence folder', m.evidence.folder);
      }
    }
    const markers = manifestMarkers(ins.layout.markers, m.recording.sampleRate);
    const manifest: Manifest = { ...m, encryption: { ...m.encryption, derived }, verification: { ...m.verification, wavStructureOk: true, evidenceChunkOk: true }, ...(markers.length ? { markers } : {}) };
    delete manifest.integrity;
    await writeFileAtomic(fs, sidecarPath(agePath), serialiseManifest(manifest));
    return { wavPath, manifest, derived, already: false };
  } catch (e) {
    throw await fail(e);
  }
}

/** The identity among several that opens the file (its header only). */
async function whichOpens(fs: Fs, agePath: string, identities: LoadedIdentity[]): Promise<LoadedIdentity | undefined> {
  const { Decrypter } = await import('age-encryption');
  const fh = await fs.open(agePath, constants.O_RDONLY);
  const head = Buffer.alloc(4096);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const end = head.indexOf('\n--- ', 0, 'latin1');
  const header = head.subarray(0, head.indexOf('\n', end + 1, 'latin1') + 1);
  for (const i of identities) {
    const d = new Decrypter();
    d.addIdentity(i.identity);
    if (await d.decryptHeader(header).then(() => true, () => false)) return i;
  }
  return undefined;
}
