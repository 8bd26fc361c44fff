/**
 * Temporary files (issue 18, "Private by default"): every file the app writes on its way to a
 * final one is made beside it, in the library or the export's folder (a `.part`, a `.tmp-...`, a
 * hidden `.NAME.partial-...` folder), never in the system's temporary folder, and is removed when
 * the operation fails half-way. Each case fails with a full disk in the middle of the write;
 * TMPDIR points at an empty folder of the test's own, which must stay empty.
 */
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Fs } from './library.js';
import { createOwnerKey } from './privacy/owner-keys.js';
import { recipientBytes } from './privacy/recipient.js';
import { setup } from './testing/harness.js';

/** The real file system, except that writes to files whose name matches fail with ENOSPC after `bytes`. */
function fullDisk(match: RegExp, bytes: number): Fs & typeof nodeFs {
  let written = 0;
  return {
    ...nodeFs,
    open: (async (...args: Parameters<typeof nodeFs.open>) => {
      const fh = await nodeFs.open(...args);
      if (!match.test(String(args[0]))) return fh;
      const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
      (fh as unknown as { write: unknown }).write = async (...a: unknown[]) => {
        if (written >= bytes) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        const r = await write(...a);
        written += r.bytesWritten;
        return r;
      };
      return fh;
    }) as typeof nodeFs.open,
  };
}

/** Everything under `dir` whose name says it is temporary. */
function temporaries(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((n) => /\.part$|\.part-|\.tmp-|\.partial-/.test(n));
}

let systemTmp: string;
let savedTmpdir: string | undefined;
beforeEach(() => {
  systemTmp = mkdtempSync(join(tmpdir(), 'own-tmpdir-'));
  savedTmpdir = process.env.TMPDIR;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
});
/** From here on os.tmpdir() is the test's own empty folder. */
const watchSystemTmp = () => {
  process.env.TMPDIR = systemTmp;
  expect(tmpdir()).toBe(systemTmp);
};

describe('temporary files stay in the library and are removed on failure', () => {
  test('sync of an encrypted recording, the disk full while decrypting: the .age is kept, no .wav.part, nothing in TMPDIR', async () => {
    const fs = fullDisk(/\.wav\.part$/, 100_000);
    const h = setup({ fs });
    const owner = await createOwnerKey(h.dest);
    const dest = join(h.dest, 'Kitchen');
    mkdirSync(dest);
    h.device.recipient = recipientBytes(owner.recipient);
    h.device.addRecording({ samples: 200_000 });
    watchSystemTmp();
    const r = await h.engine.sync({ dest });
    expect(h.of('error').map((e) => e.code).concat(h.of('file.failed').map((e) => e.code))).toContain('DISK_FULL');
    expect(r.deleted).toEqual([]);
    expect(readdirSync(dest).filter((n) => n.endsWith('.age'))).toHaveLength(1);
    expect(readdirSync(dest).filter((n) => n.endsWith('.wav'))).toEqual([]);
    expect(temporaries(h.dest)).toEqual([]);
    expect(readdirSync(systemTmp)).toEqual([]);
  });

  test('decrypt, the disk full half-way: no .wav.part left, nothing in TMPDIR', async () => {
    const h = setup();
    const dest = join(h.dest, 'Kitchen');
    mkdirSync(dest);
    const owner = await createOwnerKey(join(h.dest, 'elsewhere'));
    h.device.recipient = recipientBytes(owner.recipient);
    h.device.addRecording({ samples: 200_000 });
    expect((await h.engine.sync({ dest })).ok).toBe(true);
    const full = setup({ fs: fullDisk(/\.wav\.part$/, 100_000) });
    watchSystemTmp();
    const r = await full.engine.decrypt({ targets: ['1'], destination: dest, identityFiles: [owner.file] });
    expect(r.map((x) => [x.ok, x.code])).toEqual([[false, 'DISK_FULL']]);
    expect(readdirSync(dest).filter((n) => n.endsWith('.wav'))).toEqual([]);
    expect(temporaries(h.dest)).toEqual([]);
    expect(readdirSync(systemTmp)).toEqual([]);
  });

  test('sync, the disk full while writing a manifest: no .tmp- file left, nothing deleted from the recorder, nothing in TMPDIR', async () => {
    const h = setup({ fs: fullDisk(/\.json\.tmp-/, 0) });
    h.device.addRecording({ samples: 4000 });
    watchSystemTmp();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(r.deleted).toEqual([]);
    expect(readdirSync(h.dest).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(readdirSync(systemTmp)).toEqual([]);
  });

  test('export to a ZIP, the disk full while zipping: no staging folder or .part-, nothing in TMPDIR', async () => {
    const h = setup();
    h.device.addRecording({ samples: 40_000 });
    expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
    const out = mkdtempSync(join(tmpdir(), 'export-out-'));
    const { exportBundle } = await import('./export/bundle.js');
    watchSystemTmp();
    await expect(exportBundle({ library: h.dest, numbers: [1], zip: join(out, 'b.zip'), fs: fullDisk(/\.zip\.part-/, 20_000), appVersion: '1', emit: () => undefined })).rejects.toMatchObject({ code: 'DISK_FULL' });
    expect(readdirSync(out)).toEqual([]);
    expect(temporaries(h.dest)).toEqual([]);
    expect(readdirSync(systemTmp)).toEqual([]);
  });
});
