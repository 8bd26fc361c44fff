/**
 * The engine's encryption operations (issue 13) that need no recorder: the owner keys of a
 * library, and decrypting copies already in it (`recorder decrypt`). The recorder's side
 * (SET_RECIPIENT) is in engine.ts with the other device operations.
 */
import * as path from 'node:path';
import { EngineError, toEngineError } from '../errors.js';
import { indexLibrary, type Fs } from '../library.js';
import type { Emit } from '../session.js';
import { decryptLibraryCopy } from './decrypt-copy.js';
import { createOwnerKey, importOwnerKey, KEYS_FOLDER, keysFolderOf, listOwnerKeys, loadIdentities, looselyProtected, PASSPHRASE_HOW, type OwnerKey, type OwnerKeyStatus, type PassphraseSource } from './owner-keys.js';

export interface KeysCreated {
  library: string;
  key: OwnerKey;
}

export async function keysCreate(emit: Emit, root: string, now: () => number, protect?: { source: PassphraseSource | undefined; workFactor?: number }): Promise<KeysCreated> {
  let passphrase: string | null = null;
  if (protect) {
    passphrase = protect.source ? await protect.source({ purpose: 'new', file: keysFolderOf(root), recipient: null }) : null;
    if (passphrase === null) throw new EngineError('OWNER_KEY', 'A passphrase was asked for (--passphrase), and none was given; no key was made.', PASSPHRASE_HOW);
  }
  const key = await createOwnerKey(root, now, passphrase !== null ? { passphrase, workFactor: protect?.workFactor } : undefined);
  emit({
    type: 'note',
    message: passphrase !== null
      ? `New owner key made. Its public half, to give the recorder: ${key.recipient}. Its SECRET half is in ${key.file}, encrypted with your passphrase (the stock \`age -d\` opens it with the passphrase). Recordings encrypted to this key can be opened only with that file AND the passphrase: if either is lost, the recordings are lost for good. Back up the file now (a USB stick kept somewhere safe), and keep the passphrase apart from it (a password manager, or on paper in a safe place).`
      : `New owner key made. Its public half, to give the recorder: ${key.recipient}. Its SECRET half is in ${key.file} (only you can read it). Recordings encrypted to this key can be opened only with that file: if it is lost, the recordings are lost for good. Back it up now (a USB stick kept somewhere safe, or a password manager), and never send it to anyone.`,
  });
  return { library: root, key };
}

export async function keysImport(emit: Emit, root: string, file: string, copy: boolean, now: () => number, unlock?: PassphraseSource): Promise<{ library: string; keys: OwnerKey[]; looselyProtected: boolean }> {
  const keys = await importOwnerKey(root, file, copy, now, unlock);
  const loose = await looselyProtected(path.resolve(file));
  for (const k of keys) {
    emit({ type: 'note', message: copy ? `Owner key ${k.recipient} copied into ${k.file}. Keep your backup of it.` : `Owner key ${k.recipient} imported: this library will use it where it is, ${k.file} (not copied). Keep that file there, and keep a backup.` });
  }
  if (loose) emit({ type: 'warning', code: 'OWNER_KEY', message: `${path.resolve(file)} can be read by other users of this computer.`, action: `Make it private: chmod 600 ${JSON.stringify(path.resolve(file))}` });
  return { library: root, keys, looselyProtected: loose };
}

export async function keysShow(emit: Emit, root: string): Promise<{ library: string; folder: string; keys: OwnerKeyStatus[] }> {
  const keys = await listOwnerKeys(root);
  for (const k of keys) if (!k.usable) emit({ type: 'warning', code: 'OWNER_KEY', message: `Owner key ${k.recipient} cannot be used: ${k.problem}.`, action: 'Put the key file back from your backup, or import it again with `recorder keys import FILE`.' });
  return { library: root, folder: keysFolderOf(root), keys };
}

export interface DecryptOutcome {
  number: number | null;
  path: string;
  ok: boolean;
  wavPath: string | null;
  already: boolean;
  code: string | null;
  message: string;
}

async function subfolders(fs: Fs, root: string): Promise<string[]> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names) {
    if (n.startsWith('.') || n === KEYS_FOLDER) continue;
    if ((await fs.lstat(path.join(root, n)).catch(() => null))?.isDirectory()) out.push(path.join(root, n));
  }
  return out;
}

/**
 * Decrypts the encrypted copies named (recording numbers in `folder`, or .age paths) with the
 * owner keys given and the library's; each outcome is reported, a failure in words.
 */
export async function decryptCopies(fs: Fs, emit: Emit, o: { root: string; folder: string | null; targets: string[]; identityFiles: string[]; now: () => number; unlock?: PassphraseSource }): Promise<DecryptOutcome[]> {
  const { identities, problems } = await loadIdentities(o.root, o.identityFiles, o.unlock);
  for (const p of problems) emit({ type: 'warning', code: 'OWNER_KEY', message: `An owner key of this library cannot be used: ${p}.`, action: 'Put the key file back from your backup, or give the key with --identity FILE.' });
  if (identities.length === 0) throw new EngineError('OWNER_KEY', `No owner key to decrypt with: none was given, and ${keysFolderOf(o.root)} holds none.`, 'Give the owner key file with --identity FILE (the file age-keygen or `recorder keys new` wrote).');
  const out: DecryptOutcome[] = [];
  // Recording numbers are looked up in the folder given, or in every recorder's folder of the library.
  const folders = o.folder ? [o.folder] : await subfolders(fs, o.root);
  const copies = (await Promise.all(folders.map((f) => indexLibrary(fs, f)))).flatMap((i) => [...i.values()]);
  const where = o.folder ?? `the recorders' folders of ${o.root}`;
  for (const t of o.targets) {
    let agePath: string;
    let number: number | null = null;
    if (/^\d+$/.test(t)) {
      number = Number(t);
      const hits = copies.filter((c) => c.manifest.recording.number === number);
      if (hits.length !== 1) {
        const message = hits.length === 0 ? `There is no copy of recording ${number} in ${where}.` : `${hits.length} copies of recording ${number} (from different recorders) are in ${where}: name the .age file instead, or the recorder's folder with --dest DIR.`;
        emit({ type: 'error', code: 'MANIFEST_INVALID', message, action: 'Give the library folder with --dest DIR, or the .age file itself.' });
        out.push({ number, path: where, ok: false, wavPath: null, already: false, code: 'MANIFEST_INVALID', message });
        continue;
      }
      agePath = hits[0]!.wav;
    } else agePath = path.resolve(t);
    try {
      const d = await decryptLibraryCopy(fs, agePath, identities, o.now);
      number = d.manifest.recording.number;
      const message = d.already ? `Recording ${number} was already decrypted: ${d.wavPath} (checked).` : `Recording ${number} decrypted: ${d.wavPath} is the recording the recorder signed (its SHA-256 is the one in the signed statement).`;
      emit({ type: 'note', message });
      out.push({ number, path: agePath, ok: true, wavPath: d.wavPath, already: d.already, code: null, message });
    } catch (e) {
      const x = toEngineError(e);
      if (x.code === 'CANCELLED') throw x;
      emit({ type: 'error', code: x.code, message: x.message, action: x.action });
      out.push({ number, path: agePath, ok: false, wavPath: null, already: false, code: x.code, message: x.message });
    }
  }
  return out;
}
