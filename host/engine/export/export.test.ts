/**
 * `recorder export` on the engine (issue 14): the bundle's layout and contents, the ZIP form, the
 * custody entry, and the bad inputs (an unknown number, a recording that no longer verifies, a
 * destination that exists, a full disk), none of which leaves anything at the destination.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { CUSTODY_LOG, type CustodyEntry } from '../custody.js';
import { keyIdOf } from '../evidence/open-formats.js';
import { setup } from '../testing/harness.js';
import { parseVerifyText, VERIFY_TXT } from './verify-text.js';
import { writeZip } from './zip.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function library(n = 2) {
  const h = setup();
  for (let i = 0; i < n; i++) h.device.addRecording({ samples: 16000 * 3 });
  expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
  const out = join(h.dest, '..', `out-${Math.random().toString(36).slice(2)}`);
  mkdirSync(out);
  return { h, out, keyId: keyIdOf(h.device.signer.publicKey).toString('hex') };
}

/** Reads a ZIP file's entries back (central directory, CRC and sizes checked). */
function unzip(file: string): Map<string, Buffer> {
  const z = readFileSync(file);
  const end = z.length - 22;
  expect(z.readUInt32LE(end)).toBe(0x06054b50);
  const count = z.readUInt16LE(end + 10);
  let p = z.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(z.readUInt32LE(p)).toBe(0x02014b50);
    const method = z.readUInt16LE(p + 10);
    const crc = z.readUInt32LE(p + 16);
    const csize = z.readUInt32LE(p + 20);
    const size = z.readUInt32LE(p + 24);
    const nlen = z.readUInt16LE(p + 28);
    const local = z.readUInt32LE(p + 42);
    const name = z.toString('utf8', p + 46, p + 46 + nlen);
    expect(z.readUInt32LE(local)).toBe(0x04034b50);
    const start = local + 30 + z.readUInt16LE(local + 26) + z.readUInt16LE(local + 28);
    const raw = z.subarray(start, start + csize);
    const data = method === 8 ? inflateRawSync(raw) : Buffer.from(raw);
    expect(data.length).toBe(size);
    expect(crc32(data)).toBe(crc);
    out.set(name, data);
    p += 46 + nlen;
  }
  return out;
}

describe('export to a folder', () => {
  test('holds each recording as written, its signed files, the key, the journal up to it, the custody log and VERIFY.txt', async () => {
    const { h, out, keyId } = await library();
    const to = join(out, 'bundle');
    const r = await h.engine.exportBundle({ library: h.dest, numbers: [2], to });
    expect(r).toMatchObject({ destination: to, kind: 'folder', recordings: [2] });
    expect(readdirSync(to).sort()).toEqual(['VERIFY.txt', 'check-in-browser.html', 'custody.log', 'keys', 'recording-2', 'report.html', 'report.pdf'].sort());
    expect(readdirSync(join(to, 'keys')).sort()).toEqual([`recorder-${keyId}.minisign.pub`, `recorder-${keyId}.pem`, `recorder-${keyId}.pub`]);
    expect(readdirSync(join(to, 'recording-2')).sort()).toEqual(['REC00002.CKP', 'REC00002.MSG', 'REC00002.SHA', 'REC00002.SIG', 'REC00002.WAV', 'journal.bin', 'manifest.json']);
    const m = JSON.parse(readFileSync(join(to, 'recording-2', 'manifest.json'), 'utf8'));
    expect(sha(readFileSync(join(to, 'recording-2', 'REC00002.WAV')))).toBe(m.file.sha256);
    // the journal from its first record to the recording's, whose hash the recorder signed
    const journal = readFileSync(join(to, 'recording-2', 'journal.bin'));
    expect(journal.length).toBe(128 * (m.journal.index + 1));
    expect(sha(journal.subarray(128 * m.journal.index))).toBe(m.journal.recordSha256);
    // the custody log slice: the copy of recording 2 only; the library's log gains "exported"
    const slice = readFileSync(join(to, 'custody.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CustodyEntry);
    expect(slice.map((e) => [e.event, e.recordings[0]!.number])).toEqual([['copied', 2]]);
    const log = readFileSync(join(h.dest, CUSTODY_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CustodyEntry);
    expect(log.at(-1)).toMatchObject({ event: 'exported', recordings: [{ number: 2 }], details: { to, kind: 'folder' } });
    expect(log.at(-1)!.files['recording-2/REC00002.WAV']).toBe(m.file.sha256);
    // VERIFY.txt: the key fingerprint, then the recording's commands with their expected output
    const groups = parseVerifyText(readFileSync(join(to, VERIFY_TXT), 'utf8'));
    expect(groups.map((g) => g.folder)).toEqual(['', 'recording-2']);
    expect(groups[0]!.steps[0]!.expect).toEqual([keyId]);
    const commands = groups[1]!.steps.map((s) => s.command.split(' ')[0]);
    expect(commands).toEqual(['sha256sum', 'signify-openbsd', 'minisign', 'sed', 'openssl', 'dd', 'ffprobe']);
    expect(groups[1]!.steps[2]!.expect[1]).toBe(`Trusted comment: ${m.evidence.trustedComment}`);
    expect(readdirSync(out)).toEqual(['bundle']);
  });

  test('several recordings in one bundle; the same number twice is one', async () => {
    const { h, out } = await library(3);
    const r = await h.engine.exportBundle({ library: h.dest, numbers: [3, 1, 3], to: join(out, 'b') });
    expect(r.recordings).toEqual([3, 1]);
    expect(readdirSync(join(out, 'b')).filter((n) => n.startsWith('recording-')).sort()).toEqual(['recording-1', 'recording-3']);
    expect(parseVerifyText(readFileSync(join(out, 'b', VERIFY_TXT), 'utf8')).map((g) => g.folder)).toEqual(['', 'recording-3', 'recording-1']);
  });
});

describe('an unsigned recording (made by a recorder without a key)', () => {
  test('exported with its checksum only: no key files, VERIFY.txt checks the checksum, the report says it is not signed', async () => {
    const h = setup();
    h.device.keyState = 'legacy';
    h.device.addRecording({ samples: 16000 * 2 });
    expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
    const to = join(h.dest, '..', `out-${Math.random().toString(36).slice(2)}`);
    await h.engine.exportBundle({ library: h.dest, numbers: [1], to });
    expect(readdirSync(to)).not.toContain('keys');
    expect(readdirSync(join(to, 'recording-1')).sort()).toEqual(['REC00001.WAV', 'manifest.json']);
    const m = JSON.parse(readFileSync(join(to, 'recording-1', 'manifest.json'), 'utf8'));
    const groups = parseVerifyText(readFileSync(join(to, VERIFY_TXT), 'utf8'));
    expect(groups.map((g) => g.steps.map((s) => s.command.split(' ')[0]))).toEqual([['sha256sum', 'ffprobe']]);
    expect(groups[0]!.steps[0]!.expect).toEqual([`${m.file.sha256}  REC00001.WAV`]);
    expect(sha(readFileSync(join(to, 'recording-1', 'REC00001.WAV')))).toBe(m.file.sha256);
    expect(readFileSync(join(to, VERIFY_TXT), 'utf8')).toMatch(/carry no signature from the recorder/);
    expect(readFileSync(join(to, 'report.html'), 'utf8')).toMatch(/Verified, without a signature: the file is exactly the one copied from the recorder, but the recorder did not sign it/);
  });
});

describe('export to a ZIP file', () => {
  test('the same files, readable back with their checksums; the custody entry names the ZIP file\'s SHA-256', async () => {
    const { h, out } = await library(1);
    const folder = join(out, 'b');
    await h.engine.exportBundle({ library: h.dest, numbers: [1], to: folder });
    const zip = join(out, 'b.zip');
    const r = await h.engine.exportBundle({ library: h.dest, numbers: [1], zip });
    expect(r.kind).toBe('zip');
    const entries = unzip(zip);
    expect([...entries.keys()].sort()).toEqual(r.files.slice().sort());
    expect(entries.get('recording-1/REC00001.WAV')!.equals(readFileSync(join(folder, 'recording-1', 'REC00001.WAV')))).toBe(true);
    expect(entries.get('VERIFY.txt')!.toString('utf8')).toMatch(/^HOW TO CHECK THIS BUNDLE/);
    const log = readFileSync(join(h.dest, CUSTODY_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CustodyEntry);
    expect(log.at(-1)!.files['b.zip']).toBe(sha(readFileSync(zip)));
    expect(readdirSync(out).sort()).toEqual(['b', 'b.zip']);
  });

  test('the writer stores large files and deflates small ones, names in UTF-8', async () => {
    const dir = await nodeFs.mkdtemp(join((await import('node:os')).tmpdir(), 'zip-'));
    const big = Buffer.alloc((16 << 20) + 5, 7);
    writeFileSync(join(dir, 'big'), big);
    writeFileSync(join(dir, 'small'), 'aaaa'.repeat(1000));
    writeFileSync(join(dir, 'tiny'), 'x');
    await writeZip(join(dir, 'o.zip'), [
      { name: 'd/big.bin', path: join(dir, 'big') },
      { name: 'Café/small.txt', path: join(dir, 'small') },
      { name: 'tiny', path: join(dir, 'tiny') },
    ]);
    const z = readFileSync(join(dir, 'o.zip'));
    expect(z.length).toBeLessThan(big.length + 2000);
    const e = unzip(join(dir, 'o.zip'));
    expect(e.get('d/big.bin')!.equals(big)).toBe(true);
    expect(e.get('Café/small.txt')!.toString()).toBe('aaaa'.repeat(1000));
    expect(e.get('tiny')!.toString()).toBe('x');
    await expect(writeZip(join(dir, 'o.zip'), [])).rejects.toThrow(/EEXIST/);
  });
});

describe('bad input: refused, nothing left at the destination', () => {
  test('an unknown recording number', async () => {
    const { h, out } = await library(2);
    await expect(h.engine.exportBundle({ library: h.dest, numbers: [7], to: join(out, 'b') })).rejects.toMatchObject({ code: 'EXPORT_REFUSED', message: expect.stringMatching(/no recording 7 .*/) });
    expect(h.of('error').at(-1)!.action).toMatch(/1, 2/);
    expect(readdirSync(out)).toEqual([]);
  });

  test('a recording that no longer verifies: says why', async () => {
    const { h, out } = await library(2);
    const wav = join(h.dest, readdirSync(h.dest).find((n) => n.endsWith('_2.wav'))!);
    const b = readFileSync(wav);
    b[2000] = b[2000]! ^ 1;
    writeFileSync(wav, b);
    await expect(h.engine.exportBundle({ library: h.dest, numbers: [1, 2], to: join(out, 'b') })).rejects.toMatchObject({ code: 'EXPORT_REFUSED', message: expect.stringMatching(/Recording 2 .* does not verify.*SHA-256 differs/) });
    expect(readdirSync(out)).toEqual([]);
  });

  test('a destination that exists (a folder, a file, a link) is never replaced', async () => {
    const { h, out } = await library(1);
    mkdirSync(join(out, 'empty'));
    writeFileSync(join(out, 'f.zip'), 'mine');
    await nodeFs.symlink(join(out, 'nowhere'), join(out, 'link'));
    for (const o of [{ to: join(out, 'empty') }, { zip: join(out, 'f.zip') }, { to: join(out, 'link') }]) {
      await expect(h.engine.exportBundle({ library: h.dest, numbers: [1], ...o })).rejects.toMatchObject({ code: 'FILE_CONFLICT' });
    }
    expect(readdirSync(join(out, 'empty'))).toEqual([]);
    expect(readFileSync(join(out, 'f.zip'), 'utf8')).toBe('mine');
    expect(readdirSync(out).sort()).toEqual(['empty', 'f.zip', 'link']);
  });

  test('a full disk: DISK_FULL, and the half-made bundle is removed', async () => {
    const { h, out } = await library(1);
    const { exportBundle } = await import('./bundle.js');
    let writes = 0;
    const full = { ...nodeFs, copyFile: async (...a: Parameters<typeof nodeFs.copyFile>) => (++writes > 2 ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })) : nodeFs.copyFile(...a)) } as typeof nodeFs;
    for (const o of [{ to: join(out, 'b') }, { zip: join(out, 'b.zip') }]) {
      writes = 0;
      await expect(exportBundle({ library: h.dest, numbers: [1], ...o, fs: full, appVersion: '1', emit: () => undefined })).rejects.toMatchObject({ code: 'DISK_FULL', action: expect.stringMatching(/Nothing was left half-written/) });
    }
    expect(readdirSync(out)).toEqual([]);
    expect(existsSync(join(out, 'b'))).toBe(false);
  });

  test('neither or both of --to and --zip', async () => {
    const { h, out } = await library(1);
    await expect(h.engine.exportBundle({ library: h.dest, numbers: [1] })).rejects.toMatchObject({ code: 'EXPORT_REFUSED' });
    await expect(h.engine.exportBundle({ library: h.dest, numbers: [1], to: join(out, 'a'), zip: join(out, 'b') })).rejects.toMatchObject({ code: 'EXPORT_REFUSED' });
  });
});
