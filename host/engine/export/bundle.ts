/**
 * `recorder export`: a self-contained bundle of one or more recordings for a solicitor or a
 * court's expert, as a folder or a ZIP file.
 *
 * Layout (names fixed; VERIFY.txt refers to them):
 *
 *   VERIFY.txt                 the exact stock-tool commands and their expected output
 *   report.html, report.pdf    the report in plain words (report.ts, pdf.ts)
 *   check-in-browser.html      the offline verifier page (verifier-page.ts)
 *   custody.log                the library's custody log entries about these recordings
 *   keys/recorder-<key>.pub, .minisign.pub, .pem   the recorder's public key for each tool
 *   recording-42/REC00042.WAV  the recording as the recorder wrote it (encrypted: REC00042.AGE,
 *                              with the decrypted REC00042.WAV beside it where the library has it)
 *   recording-42/REC00042.SHA, .SIG, .MSG, .CKP   the recorder's signed files
 *   recording-42/manifest.json the app's description of the copy
 *   recording-42/journal.bin   the recorder's journal from its first entry to this recording's
 *
 * Nothing is written at the destination until the whole bundle is ready: it is made in a hidden
 * folder beside it and renamed (a folder) or zipped and linked (a ZIP file) at the end, so a full
 * disk or an error leaves no half bundle behind. Every file and folder is on the disk (fsync)
 * before the final name appears, so a disk pulled just after shows no complete-looking bundle of
 * empty files; a disk pulled before leaves at most the hidden `.NAME.partial-*` folder on it. An
 * existing destination is never replaced.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import * as path from 'node:path';
import { appendCustodyOrWarn } from '../custody.js';
import { EngineError, fsError } from '../errors.js';
import { fsyncDir } from '../library.js';
import type { Emit } from '../session.js';
import { gatherBundle, type BundleSource } from './gather.js';
import { documents } from './documents.js';
import { CUSTODY_FILE, JOURNAL_FILE, KEYS_FOLDER, MANIFEST_FILE } from './verify-text.js';
import { writeZip, ZipLimitError } from './zip.js';

export type ExportFs = typeof nodeFs;

export interface ExportOptions {
  /** The library folder the recordings are in. */
  library: string;
  numbers: number[];
  /** A folder to create (must not exist). */
  to?: string;
  /** A ZIP file to create (must not exist). */
  zip?: string;
  fs?: ExportFs;
  appVersion: string;
  now?: () => number;
  emit: Emit;
}

export interface ExportResult {
  destination: string;
  kind: 'folder' | 'zip';
  /** Bundle-relative names of everything in it. */
  files: string[];
  recordings: number[];
}

const ACTION_SPACE = 'Free some space, or choose another destination, and export again. Nothing was left half-written.';

async function existsNoFollow(fs: ExportFs, p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw fsError(e, 'look at the destination', p);
    },
  );
}

/** The bundle's files: bundle-relative name, and either the library file to copy or the bytes. */
export async function bundleFiles(src: BundleSource, madeAtIso: string, appVersion: string): Promise<{ name: string; from?: string; data?: Buffer | string }[]> {
  const out: { name: string; from?: string; data?: Buffer | string }[] = [];
  for (const [, files] of src.keys) for (const k of files) out.push({ name: `${KEYS_FOLDER}/${k.name}`, from: k.path });
  for (const r of src.recordings) {
    out.push({ name: `${r.folder}/${r.original.name}`, from: r.copyPath });
    if (r.original.kind === 'age' && r.original.decryptedPath) out.push({ name: `${r.folder}/${r.original.wavName}`, from: r.original.decryptedPath });
    for (const e of r.evidenceFiles) out.push({ name: `${r.folder}/${e.name}`, from: e.path });
    out.push({ name: `${r.folder}/${MANIFEST_FILE}`, from: r.copyPath.replace(/\.(wav|age)$/i, '.json') });
    if (r.journal) out.push({ name: `${r.folder}/${JOURNAL_FILE}`, data: Buffer.concat(r.journal.records.map((e) => e.raw)) });
  }
  out.push({ name: CUSTODY_FILE, data: src.custodyLines.map((l) => l.text + '\n').join('') });
  for (const [name, data] of Object.entries(await documents(src, madeAtIso, appVersion))) out.push({ name, data });
  return out;
}

export async function exportBundle(o: ExportOptions): Promise<ExportResult> {
  const fs = o.fs ?? nodeFs;
  const now = o.now ?? Date.now;
  if (!!o.to === !!o.zip) throw new EngineError('EXPORT_REFUSED', 'Say where the bundle goes: a new folder (--to DIR) or a new ZIP file (--zip FILE), one of the two.', 'Run the export again with --to or --zip.');
  if (o.numbers.length === 0) throw new EngineError('EXPORT_REFUSED', 'Say which recording(s) to export, by number.', '`recorder verify <library>` lists them.');
  const destination = path.resolve((o.to ?? o.zip)!);
  const kind = o.to ? 'folder' : 'zip';
  if (await existsNoFollow(fs, destination)) {
    throw new EngineError('FILE_CONFLICT', `${destination} already exists; export never replaces anything.`, 'Choose a new name for the bundle, or move the old one away first.');
  }
  const parent = path.dirname(destination);
  const st = await fs.stat(parent).catch(() => null);
  if (!st?.isDirectory()) throw new EngineError('DEST_UNWRITABLE', `The folder ${parent} does not exist.`, 'Create it first, or choose another destination.');

  const numbers = [...new Set(o.numbers)];
  const src = await gatherBundle(fs, path.resolve(o.library), numbers);
  const madeAtIso = new Date(now()).toISOString();
  const stage = path.join(parent, `.${path.basename(destination)}.partial-${randomBytes(4).toString('hex')}`);
  const zipPart = `${destination}.part-${randomBytes(4).toString('hex')}`;
  const names: string[] = [];
  try {
    await fs.mkdir(stage, { mode: 0o700 });
    for (const f of await bundleFiles(src, madeAtIso, o.appVersion)) {
      const to = path.join(stage, ...f.name.split('/'));
      await makeStageFolders(fs, stage, f.name);
      if (f.from) await fs.copyFile(f.from, to, constants.COPYFILE_EXCL);
      else await fs.writeFile(to, f.data!, { flag: 'wx', mode: 0o600 });
      if (kind === 'folder') await syncFile(fs, to); // the ZIP's stage is read back into a ZIP file, which is synced
      names.push(f.name);
    }
    if (kind === 'folder') {
      // On the disk before the name says "complete": a disk pulled after the rename must not
      // hold a finished-looking bundle of empty files.
      for (const d of new Set(names.map((n) => path.dirname(n)))) await fsyncDir(fs, path.join(stage, ...d.split('/')));
      // rename() would replace an empty folder made meanwhile: checked again just before.
      if (await existsNoFollow(fs, destination)) throw new EngineError('FILE_CONFLICT', `${destination} appeared while the bundle was being made; it was not touched.`, 'Choose a new name and export again.');
      await fs.rename(stage, destination);
      await fsyncDir(fs, parent);
    } else {
      await writeZip(zipPart, names.map((name) => ({ name, path: path.join(stage, ...name.split('/')) })), { fs, date: new Date(now()) });
      await fs.link(zipPart, destination);
      await fs.unlink(zipPart);
      await fsyncDir(fs, parent);
      await fs.rm(stage, { recursive: true, force: true });
    }
  } catch (e) {
    const gone = e instanceof EngineError ? null : await diskGone(fs, e, parent, stage);
    await fs.rm(stage, { recursive: true, force: true }).catch(() => undefined);
    await fs.unlink(zipPart).catch(() => undefined);
    if (e instanceof EngineError) throw e;
    if (e instanceof ZipLimitError) throw new EngineError('EXPORT_REFUSED', `The ZIP file cannot be made: ${e.message}.`, 'Export to a folder with --to instead.');
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new EngineError('FILE_CONFLICT', `${destination} appeared while the bundle was being made; it was not touched.`, 'Choose a new name and export again.');
    if (gone) throw gone;
    const x = fsError(e, 'write the bundle', parent);
    throw new EngineError(x.code, x.message, x.code === 'DISK_FULL' ? ACTION_SPACE : 'Choose another destination and export again. Nothing was left half-written.');
  }

  const files: Record<string, string> = {};
  for (const r of src.recordings) {
    files[`${r.folder}/${r.original.name}`] = r.manifest.file.sha256;
    // a WAV the statement lists but the bundle lacks (an encrypted recording not decrypted) is not named
    const absent = r.original.kind === 'age' && !r.original.decryptedPath ? r.original.wavName : null;
    for (const [n, h] of Object.entries(r.manifest.evidence?.statement ?? {})) if (n !== r.original.name && n !== absent) files[`${r.folder}/${n}`] = h;
  }
  if (kind === 'zip') files[path.basename(destination)] = await sha256File(fs, destination);
  await appendCustodyOrWarn(
    fs,
    src.library,
    {
      event: 'exported',
      recordings: src.recordings.map((r) => ({ deviceId: r.manifest.device.id, number: r.manifest.recording.number, file: r.manifest.file.name })),
      files,
      details: { to: destination, kind },
    },
    { appVersion: o.appVersion, now, emit: o.emit },
  );
  o.emit({ type: 'note', message: `Exported recording(s) ${numbers.join(', ')} to ${destination}: open ${kind === 'zip' ? 'it, then ' : ''}report.html to read about them, VERIFY.txt to check them with standard tools, check-in-browser.html to check them in a web browser.` });
  return { destination, kind, files: names, recordings: numbers };
}

/**
 * The stage's subfolders of a bundle name, one level at a time and never the stage itself: on a
 * disk pulled mid-export whose mount point stays (a permanent one, or a lazy unmount), a
 * recursive mkdir would make the stage again on the disk under it and carry on into a bundle
 * missing what went before.
 */
async function makeStageFolders(fs: ExportFs, stage: string, name: string): Promise<void> {
  const parts = name.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    await fs.mkdir(path.join(stage, ...parts.slice(0, i)), { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

/** fsync of a file: its bytes on the disk (a disk that fails it says so here, EIO). */
async function syncFile(fs: ExportFs, p: string): Promise<void> {
  const fh = await fs.open(p, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const PULLED_CODES = new Set(['EIO', 'ENODEV', 'ENXIO', 'ESHUTDOWN', 'ENOTCONN']);

/**
 * A destination that went away mid-export, said as such: the disk answers EIO (a USB disk
 * pulled, or failing), or the folder being written vanished (unmounted, removed). Null for
 * anything else.
 */
async function diskGone(fs: ExportFs, e: unknown, parent: string, stage: string): Promise<EngineError | null> {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const stageLeft = path.basename(stage);
  const action = `Plug the disk back in (or choose another destination) and export again. Nothing in the library was changed. If a hidden folder ${stageLeft} is left on that disk, it is this unfinished bundle: delete it.`;
  if (PULLED_CODES.has(code)) return new EngineError('DEST_UNWRITABLE', `The disk holding ${parent} stopped answering while the bundle was being written (${code}: unplugged, or failing). The bundle was not made.`, action);
  if (code !== 'ENOENT') return null;
  const stageThere = await fs.lstat(stage).then(() => true, () => false);
  if (stageThere) return null;
  return new EngineError('DEST_UNWRITABLE', `The folder ${parent} went away while the bundle was being written (its disk unplugged or unmounted, or the folder removed). The bundle was not made.`, action);
}

async function sha256File(fs: ExportFs, p: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.open(p, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}
