import { existsSync, lstatSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LIBRARY_FOLDER, makeFolder, type Fs } from './library.js';
import { setup } from './testing/harness.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'recorder-folder-'));

/**
 * A file system where `walled` exists but refuses every new child with ENOENT, as /proc does on
 * Linux and a link to nothing does; counts the mkdir calls, which must not run on.
 */
function procLike(walled: string): { fs: Fs; mkdirs: () => number } {
  let n = 0;
  const fs: Fs = {
    ...fsp,
    mkdir: (async (p: string, o?: unknown) => {
      n++;
      if (p === walled) throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${p}'`), { code: 'EEXIST' });
      if (p.startsWith(`${walled}/`)) throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${p}'`), { code: 'ENOENT' });
      return fsp.mkdir(p, o as never);
    }) as Fs['mkdir'],
  };
  return { fs, mkdirs: () => n };
}

describe('makeFolder: the library or export folder, made one level at a time', () => {
  test('a folder under one that takes no new folders (/proc): refused at once, naming both', async () => {
    const walled = scratch();
    const { fs, mkdirs } = procLike(walled);
    await expect(makeFolder(fs, join(walled, 'nope', 'lib'), LIBRARY_FOLDER)).rejects.toMatchObject({
      code: 'DEST_UNWRITABLE',
      message: `The recordings folder ${join(walled, 'nope', 'lib')} cannot be made: ${walled} does not take new folders.`,
      action: expect.stringContaining('--dest'),
    });
    expect(mkdirs()).toBe(1);
  });

  test('new folders (and their parents) are made 0700; an existing one is used as it is', async () => {
    const dir = scratch();
    const deep = join(dir, 'a', 'b', 'c');
    expect(await makeFolder(fsp, deep, LIBRARY_FOLDER)).toBe(deep);
    for (const p of [join(dir, 'a'), join(dir, 'a', 'b'), deep]) expect(statSync(p).mode & 0o777).toBe(0o700);
    expect(await makeFolder(fsp, deep, LIBRARY_FOLDER)).toBe(deep);
  });

  test('a file on the way, or in its place: refused, nothing made', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'file'), 'x');
    await expect(makeFolder(fsp, join(dir, 'file', 'sub', 'lib'), LIBRARY_FOLDER)).rejects.toMatchObject({ code: 'DEST_UNWRITABLE', message: expect.stringContaining(`${join(dir, 'file')} is a file, not a folder`) });
    await expect(makeFolder(fsp, join(dir, 'file'), { name: 'export folder', option: '--out' })).rejects.toMatchObject({ code: 'DEST_UNWRITABLE', message: `The export folder ${join(dir, 'file')} is not a folder.`, action: expect.stringContaining('--out') });
  });

  test('a link in its place, to a folder or to nothing: refused, nothing made where it points', async () => {
    const dir = scratch();
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'to-folder'));
    symlinkSync(join(dir, 'missing'), join(dir, 'to-nothing'));
    for (const link of ['to-folder', 'to-nothing']) {
      await expect(makeFolder(fsp, join(dir, link), LIBRARY_FOLDER)).rejects.toMatchObject({ code: 'UNSAFE_PATH', message: expect.stringContaining(`${join(dir, link)} as the recordings folder: it is a symbolic link`) });
      expect(lstatSync(join(dir, link)).isSymbolicLink()).toBe(true);
    }
    expect(existsSync(join(dir, 'missing'))).toBe(false);
    // Under a link to nothing: the kernel answers ENOENT, which must not loop either.
    await expect(makeFolder(fsp, join(dir, 'to-nothing', 'lib'), LIBRARY_FOLDER)).rejects.toMatchObject({ code: 'DEST_UNWRITABLE', message: expect.stringContaining(`${join(dir, 'to-nothing')} does not take new folders`) });
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  test('sync into such a folder: one error, the recorder not touched beyond saying who it is', async () => {
    const walled = scratch();
    const { fs } = procLike(walled);
    const h = setup({ fs });
    h.device.addRecording();
    const r = await h.engine.sync({ dest: join(walled, 'nope'), deleteAfterVerify: true });
    expect(r.ok).toBe(false);
    expect(h.of('error').map((e) => e.code)).toEqual(['DEST_UNWRITABLE']);
    expect(h.device.log.map((l) => l.command).filter((c) => c !== 'HELLO' && c !== 'INFO')).toEqual([]);
    expect(h.device.recordings.size).toBe(1);
  });
});
