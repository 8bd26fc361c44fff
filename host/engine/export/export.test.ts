/**
 * `recorder export` on the engine (issue 14): the bundle's layout and contents, the ZIP form, the
 * custody entry, and the bad inputs (an unknown number, a recording that no longer verifies, a
 * destination that exists, a full disk), none of which leaves anything at the destination.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { CUSTODY_LOG, type CustodyEntry } from '../custody.js';
import { keyIdOf } from '../evidence/open-formats.js';
import { createOwnerKey } from '../privacy/owner-keys.js';
import { recipientBytes } from '../privacy/recipient.js';
import { setup } from '../testing/harness.js';
import { OWNER_KEY_FILE, parseVerifyText, VERIFY_TXT } from './verify-text.js';
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

/** Runs VERIFY.txt's commands as written, each in its folder; returns the first that does not print what it says. */
function runVerifyText(bundle: string): string[] {
  const wrong: string[] = [];
  for (const g of parseVerifyText(readFileSync(join(bundle, VERIFY_TXT), 'utf8'))) {
    for (const s of g.steps) {
      const r = spawnSync('sh', ['-c', `${s.command} 2>&1`], { cwd: join(bundle, g.folder), timeout: 30_000, encoding: 'utf8' });
      const got = r.stdout.split('\n').filter((l) => l !== '');
      if (r.status !== 0 || JSON.stringify(got) !== JSON.stringify(s.expect)) wrong.push(`${s.command}: exit ${r.status}, printed ${JSON.stringify(got)}, expected ${JSON.stringify(s.expect)}`);
    }
  }
  return wrong;
}

/** Everything in a folder, recursively, as one buffer (to look for what must not be there). */
const allBytes = (dir: string): Buffer => Buffer.concat(readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? allBytes(join(dir, e.name)) : readFileSync(join(dir, e.name)))));

describe('an encrypted recording (issue 13)', () => {
  /** A recorder encrypting to an owner key; the library has the key (decrypted) or not. */
  async function encryptedLibrary(libraryHasKey: boolean) {
    const h = setup();
    const dest = join(h.dest, 'Kitchen');
    mkdirSync(dest);
    const owner = await createOwnerKey(libraryHasKey ? h.dest : join(h.dest, '..', `owner-${Math.random().toString(36).slice(2)}`));
    h.device.recipient = recipientBytes(owner.recipient);
    const rec = h.device.addRecording({ samples: 40_000 });
    expect((await h.engine.sync({ dest })).ok).toBe(true);
    const to = join(h.dest, '..', `out-${Math.random().toString(36).slice(2)}`);
    await h.engine.exportBundle({ library: dest, numbers: [1], to });
    return { h, rec, owner, to, folder: join(to, 'recording-1') };
  }

  test('decrypted in the library: the bundle holds the .AGE as written and the WAV it decrypts to; VERIFY.txt checks both as written; never the owner key', async () => {
    const { rec, owner, to, folder } = await encryptedLibrary(true);
    expect(readdirSync(folder).sort()).toEqual(['REC00001.AGE', 'REC00001.CKP', 'REC00001.MSG', 'REC00001.SHA', 'REC00001.SIG', 'REC00001.WAV', 'journal.bin', 'manifest.json']);
    expect(readFileSync(join(folder, 'REC00001.AGE')).equals(rec.age!)).toBe(true);
    expect(readFileSync(join(folder, 'REC00001.WAV')).equals(rec.file)).toBe(true);
    const text = readFileSync(join(to, VERIFY_TXT), 'utf8');
    const steps = parseVerifyText(text)[1]!.steps;
    expect(steps.map((s) => s.command.split(' ')[0])).toEqual(['sha256sum', 'signify-openbsd', 'minisign', 'sed', 'openssl', 'dd', 'ffprobe']);
    expect([...steps[0]!.expect].sort()).toEqual(['REC00001.AGE: OK', 'REC00001.CKP: OK', 'REC00001.WAV: OK']);
    expect(text).toMatch(/were encrypted on the recorder/);
    expect(runVerifyText(to)).toEqual([]);
    const report = readFileSync(join(to, 'report.html'), 'utf8');
    expect(report).toMatch(/the recorder encrypted this recording as it recorded it/);
    expect(report).toMatch(/<svg/);
    expect(report).not.toMatch(/There is no picture of how loud it was/);
    expect(allBytes(to).includes(Buffer.from('AGE-SECRET-KEY'))).toBe(false);
    expect(allBytes(to).includes(Buffer.from(readFileSync(owner.file, 'utf8').match(/AGE-SECRET-KEY-\S+/)![0]))).toBe(false);
  });

  test('not decrypted: the bundle holds the .AGE only; VERIFY.txt first decrypts it with the owner key (given by its owner), then checks both', async () => {
    const { h, rec, owner, to, folder } = await encryptedLibrary(false);
    expect(readdirSync(folder).sort()).toEqual(['REC00001.AGE', 'REC00001.CKP', 'REC00001.MSG', 'REC00001.SHA', 'REC00001.SIG', 'journal.bin', 'manifest.json']);
    expect(readFileSync(join(folder, 'REC00001.AGE')).equals(rec.age!)).toBe(true);
    const text = readFileSync(join(to, VERIFY_TXT), 'utf8');
    const steps = parseVerifyText(text)[1]!.steps;
    expect(steps[0]!.command).toBe(`age -d -i ${OWNER_KEY_FILE} REC00001.AGE > REC00001.WAV`);
    expect(text).toMatch(/The owner's key is never part of a bundle/);
    const report = readFileSync(join(to, 'report.html'), 'utf8');
    expect(report).toMatch(/There is no picture of how loud it was: the audio is inside the encrypted file/);
    expect(report).not.toMatch(/<svg/);
    // the custody entry names only the files the bundle has
    const log = readFileSync(join(h.dest, 'Kitchen', CUSTODY_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CustodyEntry);
    expect(Object.keys(log.at(-1)!.files).sort()).toEqual(['recording-1/REC00001.AGE', 'recording-1/REC00001.CKP']);
    // without the key the first step fails, so the checks cannot pass by accident
    expect(runVerifyText(to).length).toBeGreaterThan(0);
    // its owner puts the key there: every command prints what VERIFY.txt says
    rmSync(join(folder, 'REC00001.WAV'), { force: true });
    writeFileSync(join(folder, OWNER_KEY_FILE), readFileSync(owner.file));
    expect(runVerifyText(to)).toEqual([]);
    expect(readFileSync(join(folder, 'REC00001.WAV')).equals(rec.file)).toBe(true);
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
