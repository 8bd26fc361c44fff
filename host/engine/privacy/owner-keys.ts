/**
 * The owner's age keys (issue 13). The recorder holds only the owner's public key (the recipient,
 * `age1...`); the secret half (the identity, `AGE-SECRET-KEY-1...`) stays on this computer and
 * opens the recordings. Keys live in `keys/` of the library (the folder that holds each
 * recorder's folder, by default ~/Recordings): identities the app made or copied as
 * `owner-<short id>.txt` in `age-keygen` format (0600, folder 0700), or, protected by a passphrase,
 * that text encrypted with age's scrypt recipient as `owner-<short id>.age`, and `owner-keys.json`, the
 * list of owner keys with where each identity file is (an imported one is remembered by its path,
 * not copied, unless asked). Key generation and recipient encoding are age-encryption's
 * (the age author's reviewed TypeScript age); nothing here prints or logs a secret.
 */
import * as nodeFs from 'node:fs/promises';
import { homedir } from 'node:os';
import * as path from 'node:path';
import type * as Age from 'age-encryption';
import { EngineError, fsError } from '../errors.js';
import { assertRegularOrAbsent, DIR_MODE, makeFolder, realFs, writeFileAtomic } from '../library.js';
import { recipientBytes, recipientShortId } from './recipient.js';

export const KEYS_FOLDER = 'keys';
export const OWNER_KEYS_FILE = 'owner-keys.json';

export interface OwnerKey {
  /** The `age1...` recipient: what the recorder encrypts to. */
  recipient: string;
  /** The identity file (absolute path). */
  file: string;
  /** created: made by the app; copied: imported with --copy; referenced: imported, left where it was. */
  stored: 'created' | 'copied' | 'referenced';
  addedAtIso: string;
  /** The identity file is encrypted with a passphrase (age's scrypt recipient): `age -d` opens it. */
  passphrase?: boolean;
}

/**
 * Where a passphrase comes from (the command line: the terminal, RECORDER_PASSPHRASE or
 * --passphrase-file). `new`: for a key being made (asked twice on a terminal); `unlock`: to open
 * the key file named. null: none can be had (the caller says how to give one). Never logged.
 */
export type PassphraseSource = (ask: { purpose: 'new' | 'unlock'; file: string; recipient: string | null }) => Promise<string | null>;

/** What says how to give a passphrase where no terminal can ask for it. */
export const PASSPHRASE_HOW = 'Type it when asked (run the command in a terminal), or set the environment variable RECORDER_PASSPHRASE, or give --passphrase-file FILE (a file holding only the passphrase); never type it on the command line itself.';

/** age's scrypt work factor (log2 N) for a new protected key file: age's own default. */
export const SCRYPT_WORK_FACTOR = 18;

/** An age-encrypted file (binary or armored): a key file protected by a passphrase. */
export function isPassphraseProtected(bytes: Buffer): boolean {
  const head = bytes.subarray(0, 40).toString('latin1');
  return head.startsWith('age-encryption.org/v1\n') || head.startsWith('-----BEGIN AGE ENCRYPTED FILE-----');
}

export interface OwnerKeyStatus extends OwnerKey {
  /** The identity file is there, readable, and holds the identity of this recipient. */
  usable: boolean;
  problem: string | null;
}

/** An identity that can open recordings, with the recipient it answers to. */
export interface LoadedIdentity {
  identity: string;
  recipient: string;
  file: string;
}

/** The library root: the folder holding each recorder's folder (default ~/Recordings). */
/** age-encryption, loaded when an owner key is used: every command of the app paid for loading it. */
function age(): Promise<typeof Age> {
  return import('age-encryption');
}

export function defaultLibraryRoot(home = homedir()): string {
  return path.join(home, 'Recordings');
}

/** The library root of a recorder's folder (sync's --dest): its parent. */
export function libraryRootOf(recorderFolder: string): string {
  return path.dirname(path.resolve(recorderFolder));
}

export function keysFolderOf(root: string): string {
  return path.join(path.resolve(root), KEYS_FOLDER);
}

/** The X25519 identities in an age identity file (age-keygen format: comments, one key a line). */
export function parseIdentityFile(text: string): { identities: string[]; unsupported: number } {
  const identities: string[] = [];
  let unsupported = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(line)) identities.push(line);
    else if (line.startsWith('AGE-')) unsupported++;
  }
  return { identities, unsupported };
}

/** The recipient of an identity, or null when age-encryption does not take it. */
async function recipientOf(identity: string): Promise<string | null> {
  try {
    const r = await (await age()).identityToRecipient(identity);
    return recipientBytes(r) ? r : null;
  } catch {
    return null;
  }
}

/** age-keygen's file: two comment lines, then the identity. */
export function identityFileText(identity: string, recipient: string, createdIso: string): string {
  return `# created: ${createdIso.replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${recipient}\n${identity}\n`;
}

/** Makes the keys folder (0700; an existing one is closed to others). */
async function ensureKeysFolder(root: string): Promise<string> {
  const dir = keysFolderOf(root);
  try {
    await makeFolder(nodeFs, dir, { name: 'keys folder', option: '--library' });
    const st = await nodeFs.lstat(dir);
    if ((st.mode & 0o077) !== 0) await nodeFs.chmod(dir, DIR_MODE);
  } catch (e) {
    throw e instanceof EngineError ? e : fsError(e, 'create the keys folder', dir);
  }
  return dir;
}

async function readRegistry(root: string): Promise<OwnerKey[]> {
  const p = path.join(keysFolderOf(root), OWNER_KEYS_FILE);
  let text: string;
  try {
    text = await nodeFs.readFile(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(e, 'read the list of owner keys', p);
  }
  try {
    const j = JSON.parse(text) as { keys?: OwnerKey[] };
    return (j.keys ?? []).filter((k) => typeof k.recipient === 'string' && typeof k.file === 'string');
  } catch {
    throw new EngineError('OWNER_KEY', `The list of owner keys (${p}) is damaged.`, 'Restore it from your backup, or import the owner key again with `recorder keys import FILE`.');
  }
}

async function writeRegistry(root: string, keys: OwnerKey[]): Promise<void> {
  const dir = await ensureKeysFolder(root);
  await writeFileAtomic(realFs, path.join(dir, OWNER_KEYS_FILE), JSON.stringify({ version: 1, keys }, null, 2) + '\n');
}

async function remember(root: string, key: OwnerKey): Promise<OwnerKey[]> {
  const keys = (await readRegistry(root)).filter((k) => !(k.recipient === key.recipient && k.file === key.file));
  keys.push(key);
  await writeRegistry(root, keys);
  return keys;
}

/**
 * Writes an identity into the keys folder (0600), never over a file: in age-keygen format, or
 * that text encrypted with a passphrase (age's scrypt recipient, `owner-<id>.age`).
 */
async function storeIdentity(root: string, identity: string, recipient: string, createdIso: string, protect?: { passphrase: string; workFactor: number }): Promise<string> {
  const dir = await ensureKeysFolder(root);
  const file = path.join(dir, `owner-${recipientShortId(recipient)}.${protect ? 'age' : 'txt'}`);
  if (await assertRegularOrAbsent(realFs, file)) {
    const there = protect ? [] : parseIdentityFile(await nodeFs.readFile(file, 'utf8')).identities;
    if (there.includes(identity)) return file;
    throw new EngineError('FILE_CONFLICT', `${file} already exists and holds another key; it was not touched.`, 'Move it away and try again.');
  }
  const text = identityFileText(identity, recipient, createdIso);
  if (!protect) await writeFileAtomic(realFs, file, text);
  else {
    const e = new (await age()).Encrypter();
    e.setPassphrase(protect.passphrase);
    e.setScryptWorkFactor(protect.workFactor);
    await writeFileAtomic(realFs, file, Buffer.from(await e.encrypt(text)));
  }
  return file;
}

/** Makes a new X25519 owner key in the library's keys folder, protected by a passphrase if one is given. */
export async function createOwnerKey(root: string, now: () => number = Date.now, protect?: { passphrase: string; workFactor?: number }): Promise<OwnerKey> {
  if (protect && protect.passphrase === '') throw new EngineError('OWNER_KEY', 'The passphrase is empty; no key was made.', 'Choose a passphrase of several random words, and keep it where you keep the key backup.');
  const identity = await (await age()).generateX25519Identity();
  const recipient = (await recipientOf(identity))!;
  const addedAtIso = new Date(now()).toISOString();
  const file = await storeIdentity(root, identity, recipient, addedAtIso, protect ? { passphrase: protect.passphrase, workFactor: protect.workFactor ?? SCRYPT_WORK_FACTOR } : undefined);
  const key: OwnerKey = { recipient, file, stored: 'created', addedAtIso, ...(protect ? { passphrase: true } : {}) };
  await remember(root, key);
  return key;
}

/** A protected key file and no passphrase to open it: a sync goes on without it, decrypt stops. */
export class PassphraseMissing extends EngineError {}

/** Opens a passphrase-protected key file's text; wrong or missing passphrase: OWNER_KEY in words. */
async function unlockKeyFile(file: string, bytes: Buffer, unlock: PassphraseSource | undefined, recipient: string | null): Promise<string> {
  const passphrase = unlock ? await unlock({ purpose: 'unlock', file, recipient }) : null;
  if (passphrase === null) throw new PassphraseMissing('OWNER_KEY', `The owner key file ${file} is protected by a passphrase, and none was given.`, PASSPHRASE_HOW);
  const d = new (await age()).Decrypter();
  d.addPassphrase(passphrase);
  try {
    return await d.decrypt(bytes, 'text');
  } catch (e) {
    const m = (e as Error).message ?? '';
    if (/no identity matched/.test(m)) throw new EngineError('OWNER_KEY', `The passphrase for the owner key file ${file} is wrong; nothing was decrypted or written.`, 'Type it again carefully (it is case-sensitive). If it is lost, so are the recordings encrypted to this key.');
    throw new EngineError('OWNER_KEY', `The owner key file ${file} is damaged: age cannot open it (${m}).`, 'Put back the file from your backup.');
  }
}

/**
 * Whether `passphrase` opens the protected key file (a prompt that lets the person try again
 * asks this before answering). Anything but a wrong passphrase counts as opening: the damage is
 * then said where the key is read.
 */
export async function passphraseOpens(file: string, passphrase: string): Promise<boolean> {
  const d = new (await age()).Decrypter();
  d.addPassphrase(passphrase);
  try {
    await d.decrypt(await nodeFs.readFile(file), 'text');
    return true;
  } catch (e) {
    return !/no identity matched/.test((e as Error).message ?? '');
  }
}

/**
 * Reads an identity file (a passphrase-protected one is opened with `unlock`); throws OWNER_KEY in
 * plain words when it holds no usable identity, or the passphrase is missing or wrong.
 */
export async function readIdentityFile(file: string, unlock?: PassphraseSource, recipient: string | null = null): Promise<LoadedIdentity[]> {
  let text: string;
  let bytes: Buffer;
  try {
    const st = await nodeFs.stat(file);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    if (st.size > 1 << 20) throw new EngineError('OWNER_KEY', `${file} is too large to be an age key file.`, 'Give the file that age-keygen wrote (it starts with "# created:").');
    bytes = await nodeFs.readFile(file);
    text = isPassphraseProtected(bytes) ? '' : bytes.toString('utf8');
  } catch (e) {
    if (e instanceof EngineError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new EngineError('OWNER_KEY', code === 'ENOENT' ? `The owner key file ${file} is not there.` : `The owner key file ${file} cannot be read (${code ?? (e as Error).message}).`, 'Put back the file from your backup, or give another one with --identity FILE.');
  }
  if (isPassphraseProtected(bytes)) text = await unlockKeyFile(file, bytes, unlock, recipient);
  const { identities, unsupported } = parseIdentityFile(text);
  const out: LoadedIdentity[] = [];
  for (const identity of identities) {
    const recipient = await recipientOf(identity);
    if (recipient) out.push({ identity, recipient, file });
  }
  if (out.length === 0) {
    throw new EngineError(
      'OWNER_KEY',
      unsupported > 0 && identities.length === 0 ? `${file} holds no age X25519 key (AGE-SECRET-KEY-1...): the recorder can encrypt only to X25519 keys, not to post-quantum, passphrase or plugin keys.` : `${file} is not an age key file (no AGE-SECRET-KEY-1... line).`,
      'Give the file that `age-keygen` wrote, or make a key with `recorder keys new`.',
    );
  }
  return out;
}

/** Imports an existing identity file: remembered by its path, or copied into the keys folder. */
export async function importOwnerKey(root: string, file: string, copy: boolean, now: () => number = Date.now, unlock?: PassphraseSource): Promise<OwnerKey[]> {
  const abs = path.resolve(file);
  const loaded = await readIdentityFile(abs, unlock);
  const protectedFile = isPassphraseProtected(await nodeFs.readFile(abs));
  if (protectedFile && copy) throw new EngineError('OWNER_KEY', `${abs} is protected by a passphrase: it is used where it is, not copied.`, 'Import it without --copy, and keep it (and its backup) where it is.');
  const addedAtIso = new Date(now()).toISOString();
  const keys: OwnerKey[] = [];
  for (const l of loaded) {
    const stored = copy ? await storeIdentity(root, l.identity, l.recipient, addedAtIso) : abs;
    const key: OwnerKey = { recipient: l.recipient, file: stored, stored: copy ? 'copied' : 'referenced', addedAtIso, ...(protectedFile ? { passphrase: true } : {}) };
    await remember(root, key);
    keys.push(key);
  }
  return keys;
}

/** The owner keys of a library, each checked (its file there, holding its identity). */
export async function listOwnerKeys(root: string): Promise<OwnerKeyStatus[]> {
  const out: OwnerKeyStatus[] = [];
  for (const k of await readRegistry(root)) {
    try {
      if (k.passphrase) {
        // Its recipient is in the list: whether the file is still there and protected is
        // checked without asking for the passphrase.
        const there = isPassphraseProtected(await nodeFs.readFile(k.file).catch(() => Buffer.alloc(0)));
        out.push({ ...k, usable: there, problem: there ? null : `the protected key file ${k.file} is not there (or no longer encrypted)` });
        continue;
      }
      const loaded = await readIdentityFile(k.file);
      const match = loaded.some((l) => l.recipient === k.recipient);
      out.push({ ...k, usable: match, problem: match ? null : `${k.file} no longer holds the key of ${k.recipient}` });
    } catch (e) {
      out.push({ ...k, usable: false, problem: (e as Error).message });
    }
  }
  return out;
}

/** Group or others may read the file: worth saying (age-keygen writes 0600). */
export async function looselyProtected(file: string): Promise<boolean> {
  try {
    return ((await nodeFs.stat(file)).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/**
 * The identities that can open recordings: those of the library's owner keys that are usable, and
 * those of the files given (--identity), which must all be readable.
 */
export async function loadIdentities(root: string | null, files: string[] = [], unlock?: PassphraseSource): Promise<{ identities: LoadedIdentity[]; problems: string[]; locked: string[] }> {
  const identities: LoadedIdentity[] = [];
  const problems: string[] = [];
  /** Recipients of protected keys left closed (no passphrase): held here, not opened. */
  const locked: string[] = [];
  for (const f of files) identities.push(...(await readIdentityFile(path.resolve(f), unlock)));
  if (root !== null) {
    let keys: OwnerKeyStatus[] = [];
    try {
      keys = await listOwnerKeys(root);
    } catch (e) {
      // A damaged list of keys must not stop a sync: said, and the keys given still work.
      problems.push((e as Error).message);
    }
    for (const k of keys) {
      if (!k.usable) {
        problems.push(k.problem ?? `the owner key ${k.recipient} cannot be used`);
        continue;
      }
      // A protected key is opened only when a passphrase can be had: without one it is said and
      // skipped (a sync still copies and verifies); a wrong one stops the operation.
      let loaded: LoadedIdentity[];
      try {
        loaded = await readIdentityFile(k.file, unlock, k.recipient);
      } catch (e) {
        if (!(e instanceof PassphraseMissing)) throw e;
        problems.push(`the owner key ${k.recipient} (${k.file}) is protected by a passphrase, and none was given. ${PASSPHRASE_HOW}`);
        locked.push(k.recipient);
        continue;
      }
      for (const l of loaded) if (l.recipient === k.recipient && !identities.some((x) => x.identity === l.identity)) identities.push(l);
    }
  }
  return { identities, problems, locked };
}
