/**
 * Issue 18, "a disk pulled during an export": `exportBundle` to a destination that goes away in
 * the middle of writing the bundle, at a chosen write so every run hits the same moment.
 *
 * - Unmounted: the destination is a small tmpfs, lazily unmounted (`umount -l`, what a desktop
 *   does when a USB disk is pulled) just after the bundle's third file is copied; its mount point
 *   stays, empty, as a permanent one (`/mnt/usb`) does. Where mounting is not allowed the folder is
 *   removed and made again empty instead, which the app sees the same way (logged).
 * - Failing: the disk answers EIO to a write or to an fsync, as a pulled USB disk does for files
 *   already open (injected through the `fs` option: a real EIO needs device-mapper).
 *
 * Each time: the app says in words that the disk went away or stopped answering and that the
 * bundle was not made; nothing at the destination poses as a bundle; the library is byte for byte
 * as before; an export to a good folder then works.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { setup } from '../testing/harness.js';
import { exportBundle, type ExportFs } from './bundle.js';

const mounts: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) spawnSync('umount', ['-l', m]);
});

async function library() {
  const h = setup();
  h.device.addRecording({ samples: 16000 * 3 });
  expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
  const out = join(h.dest, '..', `out-${Math.random().toString(36).slice(2)}`);
  mkdirSync(out);
  return { h, out };
}

/** Every file of a folder with its SHA-256 (to show the library unchanged). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const eio = (what: string) => Object.assign(new Error(`EIO: i/o error, ${what}`), { code: 'EIO' });

/** The real file system, except that `around(n, 'before' | 'after')` runs around the n-th copyFile. */
function onCopy(around: (n: number, when: 'before' | 'after') => void): ExportFs {
  let n = 0;
  const copyFile = async (...a: Parameters<typeof nodeFs.copyFile>) => {
    around(++n, 'before');
    await nodeFs.copyFile(...a);
    around(n, 'after');
  };
  return { ...nodeFs, copyFile } as ExportFs;
}

/** The real file system, except that fsync of a file whose path matches fails with EIO. */
function failingSync(match: RegExp): ExportFs {
  const open = async (...a: Parameters<typeof nodeFs.open>) => {
    const fh = await nodeFs.open(...a);
    if (!match.test(String(a[0]))) return fh;
    return new Proxy(fh, { get: (t, k) => (k === 'sync' ? () => Promise.reject(eio('fsync')) : Reflect.get(t, k, t)) as unknown });
  };
  return { ...nodeFs, open } as ExportFs;
}

/** After a failed export: the retry to a good folder makes the bundle. */
async function retryWorks(library: string, out: string): Promise<void> {
  const good = join(out, 'good');
  mkdirSync(good);
  const r = await exportBundle({ library, numbers: [1], to: join(good, 'bundle'), appVersion: '1', emit: () => undefined });
  expect(r.files).toContain('recording-1/REC00001.WAV');
  expect(readdirSync(good)).toEqual(['bundle']);
}

describe('a disk pulled during an export', () => {
  test('unmounted just after the third file: said, no bundle on what is left, library unchanged, a retry works', async () => {
    const { h, out } = await library();
    const usb = join(out, 'usb');
    mkdirSync(usb);
    let mounted = false;
    const plugIn = () => {
      mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', usb]).status === 0;
      if (mounted) mounts.push(usb);
      else console.log('export-unplug: tmpfs mount not permitted; the folder is removed and made again instead');
    };
    const pull = () => {
      if (mounted) {
        expect(spawnSync('umount', ['-l', usb]).status).toBe(0);
        mounts.splice(mounts.indexOf(usb), 1);
      } else {
        rmSync(usb, { recursive: true });
        mkdirSync(usb);
      }
    };
    const before = snapshot(h.dest);
    for (const o of [{ to: join(usb, 'bundle') }, { zip: join(usb, 'bundle.zip') }]) {
      plugIn();
      const fs = onCopy((n, when) => n === 3 && when === 'after' && pull());
      await expect(exportBundle({ library: h.dest, numbers: [1], ...o, fs, appVersion: '1', emit: () => undefined })).rejects.toMatchObject({
        code: 'DEST_UNWRITABLE',
        message: expect.stringMatching(new RegExp(`The folder ${usb} went away while the bundle was being written \\(its disk unplugged or unmounted, or the folder removed\\)\\. The bundle was not made\\.`)),
        action: expect.stringMatching(/Plug the disk back in \(or choose another destination\) and export again\. Nothing in the library was changed\. If a hidden folder \.bundle(\.zip)?\.partial-[0-9a-f]+ is left on that disk, it is this unfinished bundle: delete it\./),
      });
      // What the app can still see where the disk was: nothing (no bundle made again under the
      // mount point from the files after the pull).
      expect(readdirSync(usb)).toEqual([]);
    }
    expect(snapshot(h.dest)).toEqual(before);
    await retryWorks(h.dest, out);
  });

  test('EIO on a write: said, nothing left at the destination, library unchanged, a retry works', async () => {
    const { h, out } = await library();
    const before = snapshot(h.dest);
    for (const o of [{ to: join(out, 'bundle') }, { zip: join(out, 'bundle.zip') }]) {
      const fs = onCopy((n, when) => {
        if (n === 3 && when === 'before') throw eio('write');
      });
      await expect(exportBundle({ library: h.dest, numbers: [1], ...o, fs, appVersion: '1', emit: () => undefined })).rejects.toMatchObject({
        code: 'DEST_UNWRITABLE',
        message: expect.stringMatching(new RegExp(`The disk holding ${out} stopped answering while the bundle was being written \\(EIO: unplugged, or failing\\)\\. The bundle was not made\\.`)),
      });
    }
    expect(readdirSync(out)).toEqual([]);
    expect(snapshot(h.dest)).toEqual(before);
    await retryWorks(h.dest, out);
  });

  test('EIO on the fsync of a written file (the folder) or of the ZIP file: said, nothing left, a retry works', async () => {
    const { h, out } = await library();
    const before = snapshot(h.dest);
    for (const [o, match] of [
      [{ to: join(out, 'bundle') }, /\.bundle\.partial-[0-9a-f]+\/recording-1\/REC00001\.WAV$/],
      [{ zip: join(out, 'bundle.zip') }, /bundle\.zip\.part-[0-9a-f]+$/],
    ] as const) {
      await expect(exportBundle({ library: h.dest, numbers: [1], ...o, fs: failingSync(match), appVersion: '1', emit: () => undefined })).rejects.toMatchObject({
        code: 'DEST_UNWRITABLE',
        message: expect.stringMatching(/stopped answering while the bundle was being written \(EIO: unplugged, or failing\)/),
      });
      expect(readdirSync(out)).toEqual([]);
    }
    expect(existsSync(join(out, 'bundle'))).toBe(false);
    expect(snapshot(h.dest)).toEqual(before);
    await retryWorks(h.dest, out);
  });
});
