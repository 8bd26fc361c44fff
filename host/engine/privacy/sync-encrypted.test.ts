/**
 * Encrypted recordings end to end against the fake recorder (issue 13): sync keeps the age file as
 * the evidence copy and decrypts it with the library's owner key; without the key the copy is still
 * verified; a wrong key and damaged age files fail in words and nothing is deleted; the stock age
 * gives the same bytes as the app.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RECORD_FLAGS } from '../../../protocol/src/schema.js';
import type { Manifest } from '../library.js';
import { flipByteInChunk, swapChunks } from '../testing/age-writer.js';
import { setup } from '../testing/harness.js';
import { createOwnerKey } from './owner-keys.js';
import { recipientBytes } from './recipient.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** 100,000 samples: a 200 kB WAV, four age chunks. */
const SAMPLES = 100_000;

/** A library root with an owner key, a recorder folder in it, and a recorder encrypting to the key. */
async function encryptedSetup(o: { ownerKey?: boolean } = {}) {
  const h = setup();
  const dest = join(h.dest, 'Kitchen');
  mkdirSync(dest);
  const key = await createOwnerKey(join(h.dest, 'owner-elsewhere'));
  const owner = o.ownerKey === false ? null : await createOwnerKey(h.dest);
  h.device.recipient = recipientBytes((owner ?? key).recipient);
  return { ...h, dest, owner, otherKey: key };
}

const manifestOf = (dest: string, n: number) => JSON.parse(readFileSync(join(dest, readdirSync(dest).find((x) => x.endsWith(`_${n}.json`))!), 'utf8')) as Manifest;
const fileOf = (dest: string, suffix: string) => join(dest, readdirSync(dest).find((x) => x.endsWith(suffix))!);

describe('encrypted recordings', () => {
  test('sync keeps the age file as evidence and decrypts it with the owner key to the WAV the recorder signed', async () => {
    const h = await encryptedSetup();
    const rec = h.device.addRecording({ samples: SAMPLES });
    h.device.addRecording({ samples: 3000, encryptTo: null });
    expect(rec.flags & RECORD_FLAGS.ENCRYPTED).toBe(RECORD_FLAGS.ENCRYPTED);
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(r.copied).toEqual([1, 2]);
    const age = fileOf(h.dest, '_1.age');
    const wav = fileOf(h.dest, '_1.wav');
    expect(readFileSync(age).equals(rec.age!)).toBe(true);
    expect(readFileSync(wav).equals(rec.file)).toBe(true);
    const m = manifestOf(h.dest, 1);
    expect(m.manifestVersion).toBe(3);
    expect(m.file).toEqual({ name: age.split('/').pop(), size: rec.age!.length, sha256: sha(rec.age!) });
    expect(m.encryption).toMatchObject({ format: 'age-v1', derived: { name: wav.split('/').pop(), size: rec.file.length, sha256: sha(rec.file), recipient: h.owner!.recipient } });
    expect(m.evidence?.status).toBe('signed');
    expect(m.evidence?.statement).toEqual({ 'REC00001.AGE': sha(rec.age!), 'REC00001.WAV': sha(rec.file), 'REC00001.CKP': expect.any(String) });
    expect(m.evidence?.trustedComment).toContain(`age=${sha(rec.age!)}`);
    const folder = age.replace(/\.age$/, '.evidence');
    expect(readdirSync(folder).sort()).toEqual(['REC00001.AGE', 'REC00001.CKP', 'REC00001.MSG', 'REC00001.SHA', 'REC00001.SIG', 'REC00001.WAV']);
    // the plain recording beside it is what it always was, and says it is not encrypted
    expect(manifestOf(h.dest, 2).manifestVersion).toBe(2);
    expect(manifestOf(h.dest, 2).encryption).toBeUndefined();
    expect(h.of('file.verified').map((e) => [e.number, e.encryption])).toEqual([[1, 'decrypted'], [2, 'none']]);
    expect(h.of('list.received')[0]!.recordings.map((x) => x.encrypted)).toEqual([true, false]);
    // the stock age gives the same bytes
    const stock = spawnSync('age', ['-d', '-i', h.owner!.file, age], { timeout: 20_000 });
    expect(stock.status).toBe(0);
    expect(sha(stock.stdout)).toBe(sha(readFileSync(wav)));
    // offline verify checks the age file, the WAV and the signatures
    const v = await h.engine.verify([h.dest]);
    expect(v.ok).toBe(true);
    expect(v.results.map((x) => [x.path.endsWith('.age'), x.encrypted, !!x.decrypted])).toEqual([[true, true, true], [false, false, false]]);
    // a second sync has nothing to do
    const again = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(again.alreadyHad).toEqual([1, 2]);
    expect(again.deleted).toEqual([1, 2]);
  });

  test('without the owner key: the age copy is verified, the app says how to decrypt, decrypt makes the WAV later', async () => {
    const h = await encryptedSetup({ ownerKey: false });
    const rec = h.device.addRecording({ samples: SAMPLES });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(readdirSync(h.dest).filter((x) => x.endsWith('.wav'))).toEqual([]);
    expect(h.of('note').map((n) => n.message).join('\n')).toMatch(/Recording 1 is encrypted: its encrypted copy .*\.age is verified and kept, but no owner key on this computer opens it.*recorder decrypt 1 --identity FILE/);
    expect(h.of('file.verified')[0]!.encryption).toBe('encrypted-only');
    expect(manifestOf(h.dest, 1).encryption?.derived).toBeNull();
    const v = await h.engine.verify([h.dest]);
    expect(v.ok).toBe(true);
    expect(v.results[0]!.notices.map((x) => x.code)).toContain('NOT_DECRYPTED');
    const d = await h.engine.decrypt({ targets: ['1'], destination: h.dest, identityFiles: [h.otherKey.file] });
    expect(d).toEqual([expect.objectContaining({ ok: true, number: 1 })]);
    expect(readFileSync(fileOf(h.dest, '_1.wav')).equals(rec.file)).toBe(true);
    const v2 = await h.engine.verify([h.dest]);
    expect(v2.ok).toBe(true);
    expect(v2.results[0]!.decrypted).toBe(fileOf(h.dest, '_1.wav'));
    // the evidence folder now holds the WAV too: signify -C there checks both files
    expect(existsSync(join(fileOf(h.dest, '_1.age').replace(/\.age$/, '.evidence'), 'REC00001.WAV'))).toBe(true);
  });

  test('a wrong owner key: a clear error, the age copy kept, nothing deleted from the recorder', async () => {
    const h = await encryptedSetup();
    h.device.recipient = recipientBytes(h.otherKey.recipient);
    h.device.addRecording({ samples: SAMPLES });
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.ok).toBe(false);
    expect(r.failed).toEqual([expect.objectContaining({ number: 1, code: 'WRONG_IDENTITY' })]);
    expect(h.of('error')[0]!.message).toMatch(/Recording 1 .* is encrypted to another key/);
    expect(h.of('error')[0]!.action).toMatch(/not deleted from the recorder/);
    expect(r.deleted).toEqual([]);
    expect(h.device.recordings.has(1)).toBe(true);
    expect(readdirSync(h.dest).some((x) => x.endsWith('.age'))).toBe(true);
    // said once at the start, before any copy
    const warned = h.events.findIndex((e) => e.type === 'warning' && e.code === 'WRONG_IDENTITY');
    expect(warned).toBeGreaterThan(-1);
    expect(warned).toBeLessThan(h.events.findIndex((e) => e.type === 'file.started'));
    expect(h.of('warning').find((e) => e.code === 'WRONG_IDENTITY')!.message).toContain(`encrypts to the owner key ${h.otherKey.recipient}, and this computer does not hold it`);
    // a later sync still keeps it on the recorder
    const again = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(again.deleted).toEqual([]);
    expect(h.device.recordings.has(1)).toBe(true);
  });

  const damage: [string, (age: Buffer) => Buffer, RegExp][] = [
    ['a flipped byte in chunk 1', (a) => flipByteInChunk(a, 0), /chunk 1 of 4 .*changed there/],
    ['a flipped byte in chunk 3', (a) => flipByteInChunk(a, 2), /chunk 3 of 4 .*changed there/],
    ['a flipped byte in the last chunk', (a) => flipByteInChunk(a, 3), /chunk 4 of 4 .*changed there/],
    ['a cut file', (a) => a.subarray(0, a.length - 1000), /fails age's check at chunk 4/],
    ['swapped chunks', (a) => swapChunks(a, 1, 2), /chunk 2 of 4 .*swapped/],
  ];
  for (const [what, edit, message] of damage) {
    test(`${what}, signed as it is by the recorder: a clear error, nothing deleted`, async () => {
      const h = await encryptedSetup();
      const rec = h.device.addRecording({ samples: SAMPLES });
      rec.age = edit(rec.age!);
      h.device.seal(1);
      const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
      expect(r.failed).toEqual([expect.objectContaining({ number: 1, code: 'DECRYPT_FAILED' })]);
      expect(h.of('error')[0]!.message).toMatch(message);
      expect(JSON.stringify(h.events)).not.toMatch(/\bat .*\.(js|ts):\d+/); // no stack trace
      expect(r.deleted).toEqual([]);
      expect(h.device.recordings.has(1)).toBe(true);
      expect(readdirSync(h.dest).filter((x) => x.endsWith('.wav') || x.endsWith('.wav.part'))).toEqual([]);
    });
  }

  test('an age file changed on the card after the recorder signed it is not copied; nothing deleted', async () => {
    const h = await encryptedSetup();
    const rec = h.device.addRecording({ samples: SAMPLES });
    rec.age = flipByteInChunk(rec.age!, 1);
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.failed).toEqual([expect.objectContaining({ number: 1, code: 'HASH_MISMATCH' })]);
    expect(h.device.recordings.has(1)).toBe(true);
    expect(readdirSync(h.dest).filter((x) => x.endsWith('.age'))).toEqual([]);
  });

  test('an encrypted copy tampered with in the library fails verify and decrypt in words', async () => {
    const h = await encryptedSetup({ ownerKey: false });
    h.device.addRecording({ samples: SAMPLES });
    await h.engine.sync({ dest: h.dest });
    const age = fileOf(h.dest, '_1.age');
    const original = readFileSync(age);
    writeFileSync(age, swapChunks(original, 0, 1));
    const v = await h.engine.verify([h.dest]);
    expect(v.ok).toBe(false);
    expect(v.results[0]!.failures.map((f) => f.code)).toContain('HASH_MISMATCH');
    const d = await h.engine.decrypt({ targets: [age], identityFiles: [h.otherKey.file] });
    expect(d[0]).toMatchObject({ ok: false, code: 'DECRYPT_FAILED', message: expect.stringMatching(/chunk 1 of 4 .*swapped/) });
    expect(readdirSync(h.dest).filter((x) => x.includes('.wav'))).toEqual([]);
    // cut short: the manifest knows its size, so decrypt says so
    writeFileSync(age, original.subarray(0, original.length - 5000));
    const cut2 = await h.engine.decrypt({ targets: ['1'], destination: h.dest, identityFiles: [h.otherKey.file] });
    expect(cut2[0]).toMatchObject({ ok: false, code: 'DECRYPT_FAILED', message: expect.stringMatching(/chunk 3 of 4 .*the file is cut short/) });
  });

  test('an encrypted recording still being signed is copied pending (checked by HASH), then signed at the next sync', async () => {
    const h = await encryptedSetup();
    h.device.addRecording({ samples: SAMPLES, sealing: true });
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.copied).toEqual([1]);
    expect(r.deleted).toEqual([]);
    expect(h.device.log.some((l) => l.command === 'HASH')).toBe(true);
    expect(manifestOf(h.dest, 1).evidence?.status).toBe('pending');
    expect(manifestOf(h.dest, 1).encryption?.derived).not.toBeNull();
    h.device.seal(1);
    const again = await h.engine.sync({ dest: h.dest });
    expect(again.ok).toBe(true);
    const m = manifestOf(h.dest, 1);
    expect(m.manifestVersion).toBe(3);
    expect(m.evidence?.status).toBe('signed');
    expect(Object.keys(m.evidence?.statement ?? {}).sort()).toEqual(['REC00001.AGE', 'REC00001.CKP', 'REC00001.WAV']);
    const v = await h.engine.verify([h.dest]);
    expect(v.ok).toBe(true);
    expect(v.results[0]!.signature?.status).toBe('signed');
  });

  test('an encrypted copy cut by an unplugged cable resumes from its .age.part and decrypts', async () => {
    const h = await encryptedSetup();
    const rec = h.device.addRecording({ samples: SAMPLES });
    h.device.faults.unplugAfterReads = 10;
    h.device.faults.replugAfterMs = 100;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    const resumed = h.of('file.resumed');
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.fromOffset).toBeGreaterThan(0);
    expect(readFileSync(fileOf(h.dest, '_1.age')).equals(rec.age!)).toBe(true);
    expect(readFileSync(fileOf(h.dest, '_1.wav')).equals(rec.file)).toBe(true);
    expect(readdirSync(h.dest).filter((x) => x.endsWith('.part'))).toEqual([]);
  });

  test('an unsigned encrypted recording is checked against the hash the recorder computes (HASH)', async () => {
    const h = await encryptedSetup();
    h.device.keyState = 'legacy';
    const rec = h.device.addRecording({ samples: 5000 });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(h.device.log.some((l) => l.command === 'HASH')).toBe(true);
    expect(readFileSync(fileOf(h.dest, '_1.wav')).equals(rec.file)).toBe(true);
  });
});
