/**
 * The custody log (issue 14): sync writes what it copied, verify what it found, each entry chained
 * to the one before; verify fails when an entry was edited, removed or inserted.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { appendCustody, checkCustody, CUSTODY_LOG, custodySlice, readCustody, type CustodyEntry } from './custody.js';
import { setup } from './testing/harness.js';

const entries = (dir: string) => readFileSync(join(dir, CUSTODY_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CustodyEntry);

async function synced(n = 2) {
  const h = setup();
  for (let i = 0; i < n; i++) h.device.addRecording({ samples: 4000 });
  expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
  return h;
}

describe('custody log', () => {
  test('sync writes one chained "copied" entry per copy, naming the recorder, the app and the file hashes', async () => {
    const h = await synced();
    const e = entries(h.dest);
    expect(e.map((x) => [x.seq, x.event, x.recordings[0]!.number])).toEqual([
      [0, 'copied', 1],
      [1, 'copied', 2],
    ]);
    const m = JSON.parse(readFileSync(join(h.dest, e[0]!.recordings[0]!.file.replace(/\.wav$/, '.json')), 'utf8'));
    expect(e[0]!.files[m.file.name]).toBe(m.file.sha256);
    expect(e[0]!.files['REC00001.WAV']).toBe(m.file.sha256);
    expect(Object.keys(e[0]!.files)).toContain('REC00001.CKP');
    expect(e[0]!.details).toMatchObject({ from: { deviceId: '123456789abcdef0', keyId: m.evidence.keyId, simulated: true }, signature: 'signed' });
    expect(e[0]!.app).toEqual({ name: 'evidence-recorder', version: '9.9.9-test' });
    expect(e[0]!.prev).toBe('0'.repeat(64));
    expect((await checkCustody(nodeFs, h.dest)).ok).toBe(true);
    // A second sync copies nothing and writes nothing.
    await h.engine.sync({ dest: h.dest });
    expect(entries(h.dest)).toHaveLength(2);
  });

  test('a custody log that cannot be written does not undo the copy: sync says so and goes on', async () => {
    const denied = { ...nodeFs, open: (async (p: string, ...rest: unknown[]) => (String(p).endsWith(CUSTODY_LOG) ? Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })) : (nodeFs.open as (...a: unknown[]) => Promise<nodeFs.FileHandle>)(p, ...rest))) as typeof nodeFs.open };
    const h = setup({ fs: denied });
    h.device.addRecording({ samples: 4000 });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(r.copied).toEqual([1]);
    expect(h.of('warning').find((w) => w.code === 'DEST_UNWRITABLE')?.message).toMatch(/custody log .* could not record that recording 1 was copied/);
    expect(readdirSync(h.dest)).not.toContain(CUSTODY_LOG);
  });

  test('verify checks the chain, then adds what it found', async () => {
    const h = await synced();
    const r = await h.engine.verify([h.dest]);
    expect(r.ok).toBe(true);
    expect(r.custody).toEqual([{ folder: h.dest, ok: true, entries: 2, problems: [] }]);
    const e = entries(h.dest);
    expect(e.slice(2).map((x) => [x.event, x.recordings[0]!.number, x.details!.result])).toEqual([
      ['verified', 1, 'verified'],
      ['verified', 2, 'verified'],
    ]);
    expect((await checkCustody(nodeFs, h.dest)).entries).toBe(4);
  });

  test.each([
    ['an entry edited', (l: string[]) => (l[1] = l[1]!.replace('"copied"', '"verified"'), l), /does not follow/],
    ['an entry removed', (l: string[]) => (l.splice(1, 1), l), /numbered 2/],
    ['an entry inserted', (l: string[]) => (l.splice(1, 0, l[0]!), l), /numbered 0/],
    ['the first entry removed', (l: string[]) => l.slice(1), /does not start/],
    ['a line that is not JSON', (l: string[]) => (l[2] = '{oops', l), /not readable/],
  ])('%s: verify fails with CUSTODY_LOG_BROKEN', async (_name, edit, why) => {
    const h = await synced(3);
    const p = join(h.dest, CUSTODY_LOG);
    writeFileSync(p, edit(readFileSync(p, 'utf8').trim().split('\n')).join('\n') + '\n');
    const r = await h.engine.verify([h.dest]);
    expect(r.ok).toBe(false);
    expect(r.custody[0]!.problems.join('; ')).toMatch(why);
    expect(h.of('error').map((x) => x.code)).toContain('CUSTODY_LOG_BROKEN');
  });

  test('a loose recording outside a library gets no custody log beside it', async () => {
    const h = await synced(1);
    const wav = readdirSync(h.dest).find((n) => n.endsWith('.wav'))!;
    const { mkdtempSync, copyFileSync } = await import('node:fs');
    const loose = mkdtempSync(join(h.dest, 'loose-'));
    copyFileSync(join(h.dest, wav), join(loose, wav));
    copyFileSync(join(h.dest, wav.replace(/\.wav$/, '.json')), join(loose, wav.replace(/\.wav$/, '.json')));
    await h.engine.verify([join(loose, wav)]);
    expect(readdirSync(loose)).not.toContain(CUSTODY_LOG);
  });

  test('appends chain to the exact previous line; a slice keeps the entries about the given recordings', async () => {
    const h = setup();
    const rec = (number: number) => ({ deviceId: 'ab', number, file: `x_${number}.wav` });
    for (const n of [1, 2, 1]) await appendCustody(nodeFs, h.dest, { event: 'verified', recordings: [rec(n)], files: {} }, { appVersion: '1', now: () => 0 });
    const lines = await readCustody(nodeFs, h.dest);
    expect(lines.map((l) => l.entry!.seq)).toEqual([0, 1, 2]);
    expect(custodySlice(lines, [{ deviceId: 'ab', number: 1 }]).map((l) => l.entry!.seq)).toEqual([0, 2]);
    expect(custodySlice(lines, [{ deviceId: 'cd', number: 1 }])).toEqual([]);
  });
});
