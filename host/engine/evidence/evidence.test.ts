/**
 * Issue 12 on the host: sync pins the recorder's key, copies and checks the signed files; verify
 * checks a library offline; and the forgeries a sceptical expert would try fail, naming why.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PROTOCOL } from '../../../protocol/src/schema.js';
import { serialiseManifest, type Manifest } from '../library.js';
import { setup } from '../testing/harness.js';
import { forgeAudio } from '../testing/forger.js';
import { sealRecording, signingDevice } from '../testing/signing-device.js';
import { verifyLibraryFile, verifyPaths } from '../verify.js';
import { checkIdentity, identitySignedMessage } from './identity.js';
import { keyIdOf, signifySignature } from './open-formats.js';
import { appendLog, journalPath, keyFileNames, loadPin, pinPath, rePin } from './pins.js';
import { parseSlotMessage, parseTrustedComment } from './recording.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
const wavs = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.wav')).sort();
const wavOf = (dir: string, n: number) => join(dir, wavs(dir).find((x) => x.endsWith(`_${n}.wav`))!);
const codes = (r: { failures: { code: string }[] }) => r.failures.map((f) => f.code);
const keyOf = (h: ReturnType<typeof setup>) => keyIdOf(h.device.signer.publicKey).toString('hex');

async function syncedLibrary(o: { recordings?: number; samples?: number } = {}) {
  const h = setup();
  for (let i = 0; i < (o.recordings ?? 2); i++) h.device.addRecording({ samples: o.samples ?? 5000 });
  const r = await h.engine.sync({ dest: h.dest });
  expect(r.ok, JSON.stringify(h.events.filter((e) => e.type === 'error' || e.type === 'file.failed'))).toBe(true);
  return { h, r };
}

describe('identity', () => {
  test('the signature covers domain, NUL, nonce and every byte before it; anything else fails', () => {
    const d = signingDevice();
    const h = setup();
    h.device.signer = d;
    const nonce = Buffer.alloc(32, 7);
    const raw = h.device.identityPayload(nonce);
    const ok = checkIdentity(raw, nonce);
    expect(ok.problems).toEqual([]);
    expect(ok.keyId).toBe(keyIdOf(d.publicKey).toString('hex'));
    expect(identitySignedMessage(nonce, raw).subarray(0, PROTOCOL.identityDomain.length + 1).toString('latin1')).toBe(`${PROTOCOL.identityDomain}\0`);
    expect(checkIdentity(raw, Buffer.alloc(32, 8)).problems).toHaveLength(1); // another nonce: a replayed answer
    const edited = Buffer.from(raw);
    edited[100] = edited[100]! ^ 1; // the journal count
    expect(checkIdentity(edited, nonce).problems).toHaveLength(1);
  });
});

describe('sync with a signing recorder', () => {
  test('pins the key on first sight, keeps the key files and the attestation, copies and checks the signed files', async () => {
    const { h } = await syncedLibrary();
    const keyId = keyIdOf(h.device.signer.publicKey).toString('hex');
    expect(h.of('note').some((n) => /First time this library sees recorder/.test(n.message) && n.message.includes(keyId))).toBe(true);
    for (const f of Object.values(keyFileNames(keyId))) expect(statSync(join(h.dest, f)).mode & 0o777).toBe(0o600);
    const pin = (await loadPin((await import('node:fs/promises')) as never, h.dest, '123456789abcdef0'))!;
    expect(pin.keyId).toBe(keyId);
    expect(pin.attestations).toHaveLength(1);
    expect(statSync(pinPath(h.dest, '123456789abcdef0')).mode & 0o777).toBe(0o600);
    // the evidence folder: card names, the WAV a hard link to the library copy
    const wav = wavOf(h.dest, 1);
    const folder = wav.replace(/\.wav$/, '.evidence');
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(readdirSync(folder).sort()).toEqual(['REC00001.CKP', 'REC00001.MSG', 'REC00001.SHA', 'REC00001.SIG', 'REC00001.WAV']);
    expect(statSync(join(folder, 'REC00001.WAV')).ino).toBe(statSync(wav).ino);
    for (const n of readdirSync(folder)) expect(statSync(join(folder, n)).mode & 0o777).toBe(0o600);
    const m = JSON.parse(readFileSync(wav.replace(/\.wav$/, '.json'), 'utf8')) as Manifest;
    expect(m.manifestVersion).toBe(2);
    expect(m.evidence).toMatchObject({ status: 'signed', keyId, folder: expect.stringMatching(/\.evidence$/), statement: { 'REC00001.WAV': sha(readFileSync(wav)).toString('hex') } });
    expect(h.of('file.verified')[0]!.signature).toEqual({ status: 'signed', keyId, vouchedSamples: 5000, sampleCount: 5000 });
    // the library's journal and the log; nothing secret in either
    expect(readFileSync(journalPath(h.dest, keyOf(h), 1)).length).toBe(2 * 128);
    const log = readFileSync(join(h.dest, 'recorder-123456789abcdef0.log'), 'utf8');
    expect(log).toMatch(/"event":"pin"/);
    // offline verify passes on the library alone
    const v = await verifyPaths([h.dest]);
    expect(v.ok, JSON.stringify(v)).toBe(true);
    expect(v.library).toEqual([expect.objectContaining({ ok: true, keyId, attestations: 1, journalRecords: 2 })]);
  });

  test('a signed recording with markers (cue, LIST/adtl before evid) verifies: the stop slot\'s f covers them', async () => {
    const h = setup();
    h.device.addRecording({ samples: 5000, markers: [0, 1200, 4999] });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok, JSON.stringify(h.events.filter((e) => e.type === 'error' || e.type === 'file.failed'))).toBe(true);
    expect(h.of('file.verified')[0]!.signature).toMatchObject({ status: 'signed', vouchedSamples: 5000, sampleCount: 5000 });
    const v = await verifyPaths([h.dest]);
    expect(v.ok, JSON.stringify(v)).toBe(true);
    expect(v.library).toEqual([expect.objectContaining({ ok: true, journalRecords: 4 })]); // 3 MARKER, then the RECORDING
    // The markers' bytes are under the signature: one changed is a failure.
    const wav = wavOf(h.dest, 1);
    const bytes = readFileSync(wav);
    const at = bytes.indexOf('Marker 2', 0, 'latin1');
    expect(at).toBeGreaterThan(0);
    bytes[at + 7] = '7'.charCodeAt(0);
    writeFileSync(wav, bytes);
    expect((await verifyPaths([h.dest])).ok).toBe(false);
  });

  test('a recorder without a key is provisioned at its first sync, and says so', async () => {
    const h = setup();
    h.device.keyState = 'none';
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    const prov = h.device.log.find((l) => l.command === 'PROVISION')!;
    expect(Number(prov.req.magic)).toBe(PROTOCOL.provisionMagic);
    expect((prov.req.hostRandom as Buffer).equals(Buffer.alloc(32))).toBe(false);
    expect(h.of('note').some((n) => /had no signing key, so it has just made one/.test(n.message))).toBe(true);
    const pin = (await loadPin((await import('node:fs/promises')) as never, h.dest, '123456789abcdef0'))!;
    expect(pin.attestations[0]!.request).toBe('provision');
    expect(pin.keyId).toBe(keyIdOf(h.device.signer.publicKey).toString('hex'));
  });

  test('a recording made before the recorder had its key is copied and said to be unsigned', async () => {
    const h = setup();
    h.device.keyState = 'none';
    h.device.addRecording();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(h.of('warning').filter((w) => w.code === 'UNSIGNED_LEGACY').map((w) => w.message)).toEqual([expect.stringMatching(/Recording 1 carries no signature/)]);
    expect(h.of('file.verified')[0]!.signature).toMatchObject({ status: 'unsigned' });
  });

  test('a damaged key is not replaced silently: no PROVISION, copies unsigned, said plainly', async () => {
    const h = setup();
    h.device.keyState = 'damaged';
    h.device.addRecording();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(h.device.log.some((l) => l.command === 'PROVISION')).toBe(false);
    expect(h.of('warning').some((w) => w.code === 'UNSIGNED_LEGACY' && /damaged/.test(w.message))).toBe(true);
  });

  test('old firmware (UNKNOWN_COMMAND) is an unsigned legacy recorder: copied, warned, verify notes it', async () => {
    const h = setup();
    h.device.keyState = 'legacy';
    h.device.addRecording();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(r.copied).toEqual([1]);
    expect(h.of('warning').some((w) => w.code === 'UNSIGNED_LEGACY' && /older than signed recordings/.test(w.message))).toBe(true);
    const v = await verifyLibraryFile(wavOf(h.dest, 1));
    expect(v.ok).toBe(true);
    expect(v.notices.map((n) => n.code)).toEqual(['UNSIGNED_LEGACY']);
  });

  test('a recorder claiming a pinned identity with another key is refused: nothing copied, nothing changed, what to do', async () => {
    const { h } = await syncedLibrary({ recordings: 1 });
    h.device.signer = signingDevice();
    h.device.addRecording();
    h.device.log = [];
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.ok).toBe(false);
    expect(r.copied).toEqual([]);
    const err = h.of('error').at(-1)!;
    expect(err.code).toBe('WRONG_KEY');
    expect(err.message).toMatch(/pretending/);
    expect(err.action).toMatch(/recorder devices re-pin 123456789abcdef0 --reason/);
    expect(h.device.log.map((l) => l.command)).toEqual(['HELLO', 'IDENTITY']); // not even the clock set
    expect(wavs(h.dest)).toHaveLength(1);
    expect(readFileSync(join(h.dest, 'recorder-123456789abcdef0.log'), 'utf8')).toMatch(/"event":"refused","code":"WRONG_KEY"/);
    // An explicit re-pin, with its reason in the log: the new key is accepted and pinned.
    await rePin((await import('node:fs/promises')) as never, h.dest, '123456789abcdef0', 'repaired, set up again');
    expect(readFileSync(join(h.dest, 'recorder-123456789abcdef0.log'), 'utf8')).toMatch(/"event":"re-pin".*"reason":"repaired, set up again"/);
    const again = await h.engine.sync({ dest: h.dest });
    expect(again.ok).toBe(true);
    expect(again.copied).toEqual([2]);
    // Both copies verify: the first under the key pinned when it was made.
    const v = await verifyPaths([h.dest]);
    expect(v.ok, JSON.stringify(v.results.map((x) => x.failures))).toBe(true);
  });

  test('after a re-pin, a replaced recorder with a fresh journal keeps its own journal beside the old one; both verify', async () => {
    const { h } = await syncedLibrary({ recordings: 2 });
    const oldKey = keyOf(h);
    h.device.signer = signingDevice();
    h.device.recordings.clear();
    h.device.journal = [];
    h.device.addRecording({ number: 5 });
    await rePin((await import('node:fs/promises')) as never, h.dest, '123456789abcdef0', 'replaced after water damage');
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.copied).toEqual([5]);
    expect(readFileSync(journalPath(h.dest, oldKey, 1)).length).toBe(2 * 128);
    expect(readFileSync(journalPath(h.dest, keyOf(h), 1)).length).toBe(128);
    const v = await verifyPaths([h.dest]);
    expect(v.ok, JSON.stringify([v.library, v.results.map((x) => x.failures)])).toBe(true);
    expect(v.library[0]!.attestations).toBe(2);
  });

  test('a recorder whose journal went back (an older card image) is refused', async () => {
    const { h } = await syncedLibrary({ recordings: 2 });
    h.device.journal = h.device.journal.slice(0, 1);
    h.device.recordings.delete(2);
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('error').at(-1)).toMatchObject({ code: 'JOURNAL_REPLAYED', message: expect.stringMatching(/gone back in time.*1 record.*2 record/) });
  });

  test('a card journal shorter than the count the recorder signed is refused (records N..M missing)', async () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording();
    h.device.attestedCount = 3;
    h.device.journal.push(h.device.journal[1]!); // the device counted a third record the card lost
    h.device.journal.pop();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('error').at(-1)).toMatchObject({ code: 'JOURNAL_TAIL_CUT', message: expect.stringMatching(/records 2\.\.2 are missing/) });
  });

  test('a new journal epoch (the recorder formatted its card) is accepted when it starts with EPOCH_START', async () => {
    const { h } = await syncedLibrary({ recordings: 2 });
    h.device.recordings.clear();
    h.device.startEpoch();
    h.device.addRecording();
    const r = await h.engine.sync({ dest: h.dest });
    expect(h.of('error').filter((e) => e.code === 'JOURNAL_REPLAYED')).toEqual([]);
    expect(r.copied).toEqual([3]);
    expect(existsSync(journalPath(h.dest, keyOf(h), 2))).toBe(true);
  });

  test('a recording still being signed is copied, reported pending, not deleted; the next sync adds the signature', async () => {
    const h = setup();
    h.device.addRecording({ sealing: true });
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.copied).toEqual([1]);
    expect(h.of('warning').some((w) => w.code === 'SIGNATURE_PENDING' && /signature pending/.test(w.message) && /sync again/.test(w.action))).toBe(true);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);
    expect(h.of('file.verified')[0]!.signature!.status).toBe('pending');
    const pending = await verifyLibraryFile(wavOf(h.dest, 1));
    expect(codes(pending)).toEqual(['SIGNATURE_PENDING']);
    h.device.seal(1);
    const r2 = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r2.ok).toBe(true);
    expect(h.of('note').some((n) => /signature is now added/.test(n.message))).toBe(true);
    expect((await verifyLibraryFile(wavOf(h.dest, 1))).ok).toBe(true);
    expect(r2.deleted).toEqual([1]);
  });

  test('a pending copy whose later signature does not hold is reported failed, and sync carries on', async () => {
    const h = setup();
    h.device.addRecording({ sealing: true });
    h.device.addRecording({ sealing: true });
    await h.engine.sync({ dest: h.dest });
    h.device.seal(1);
    h.device.seal(2);
    const one = h.device.recordings.get(1)!;
    one.sealed = { ...one.sealed!, sha: Buffer.from(one.sealed!.sha.toString('latin1').replace(/= [0-9a-f]/, '= 0'), 'latin1') };
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.failed.map((f) => f.number)).toEqual([1]);
    expect(h.of('file.failed').at(-1)).toMatchObject({ number: 1, code: 'SIGNATURE_INVALID' });
    expect(r.deleted).toEqual([2]);
    expect(codes(await verifyLibraryFile(wavOf(h.dest, 1)))).toEqual(['SIGNATURE_PENDING']);
  });

  test('an answer naming another device id is refused', async () => {
    const h = setup();
    h.device.addRecording();
    const real = h.device.identityPayload.bind(h.device);
    h.device.identityPayload = (nonce: Buffer) => {
      const id = h.device.deviceId;
      h.device.deviceId = 0x1111n;
      try {
        return real(nonce);
      } finally {
        h.device.deviceId = id;
      }
    };
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('error').at(-1)).toMatchObject({ code: 'ATTESTATION_INVALID', message: expect.stringMatching(/names device 0000000000001111/) });
    expect(wavs(h.dest)).toEqual([]);
  });

  test('a deletion from the recorder after a verified copy is written to the library log', async () => {
    const h = setup();
    h.device.addRecording();
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.deleted).toEqual([1]);
    const log = readFileSync(join(h.dest, 'recorder-123456789abcdef0.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.at(-1)).toMatchObject({ event: 'deleted-from-recorder', number: 1, copy: expect.stringMatching(/_1\.wav$/) });
  });

  test('a version 1 manifest (copied before signatures) still verifies, noted as unsigned', async () => {
    const { h } = await syncedLibrary({ recordings: 1 });
    const wav = wavOf(h.dest, 1);
    const m = JSON.parse(readFileSync(wav.replace(/\.wav$/, '.json'), 'utf8')) as Manifest;
    m.manifestVersion = 1;
    delete m.evidence;
    delete m.integrity;
    writeFileSync(wav.replace(/\.wav$/, '.json'), serialiseManifest(m));
    const v = await verifyLibraryFile(wav);
    expect(v.ok, JSON.stringify(v.failures)).toBe(true);
    expect(v.notices).toEqual([{ code: 'UNSIGNED_LEGACY', message: expect.stringMatching(/before recordings were signed/) }]);
    // and sync still counts it as in the library
    const again = await h.engine.sync({ dest: h.dest });
    expect(again.alreadyHad).toEqual([1]);
  });

  test('a copy whose signed files do not verify is not called verified (a device sending a bad signature)', async () => {
    const h = setup();
    const rec = h.device.addRecording();
    const other = sealRecording(signingDevice(), { number: 1, wav: rec.file, dataOffset: 1024, sampleRate: rec.sampleRate, sampleCount: rec.sampleCount, startIso: null, stopIso: null, stopReason: 'button', overruns: 0, journal: { epoch: 1, index: 0, raw: h.device.journal[0]! } });
    rec.sealed = { ...rec.sealed!, sig: other.sig };
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('file.failed')[0]).toMatchObject({ number: 1, code: 'WRONG_KEY' });
    expect(h.of('file.verified')).toEqual([]);
  });
});

describe('offline verify against forgeries', () => {
  test('edited audio with every hash recomputed and manifest and journal rewritten: fails naming the signature', async () => {
    const { h } = await syncedLibrary();
    forgeAudio(h.dest, 1);
    const v = await verifyLibraryFile(wavOf(h.dest, 1));
    expect(v.ok).toBe(false);
    expect(codes(v)).toContain('SIGNATURE_INVALID');
    expect(v.failures.find((f) => f.code === 'SIGNATURE_INVALID')!.message).toMatch(/signature/);
    // re-chaining the journal also changed the record recording 2's signature names
    expect(new Set(codes(await verifyLibraryFile(wavOf(h.dest, 2))))).toEqual(new Set(['JOURNAL_MISMATCH']));
  });

  test('a cut journal tail fails: records N..M missing', async () => {
    const { h } = await syncedLibrary({ recordings: 3 });
    truncateSync(journalPath(h.dest, keyOf(h), 1), 128);
    const v = await verifyPaths([h.dest]);
    expect(v.ok).toBe(false);
    const lib = v.library[0]!;
    expect(codes(lib)).toContain('JOURNAL_TAIL_CUT');
    expect(lib.failures.find((f) => f.code === 'JOURNAL_TAIL_CUT')!.message).toMatch(/records 1\.\.2 are missing/);
  });

  test('a copy signed by another key fails: WRONG_KEY', async () => {
    const { h } = await syncedLibrary({ recordings: 1 });
    const wav = wavOf(h.dest, 1);
    const folder = wav.replace(/\.wav$/, '.evidence');
    const m = JSON.parse(readFileSync(wav.replace(/\.wav$/, '.json'), 'utf8')) as Manifest;
    const forger = signingDevice();
    const files = sealRecording(forger, { number: 1, wav: readFileSync(wav), dataOffset: 1024, sampleRate: m.recording.sampleRate, sampleCount: m.recording.sampleCount, startIso: null, stopIso: null, stopReason: 'button', overruns: 0, journal: { epoch: 1, index: 0, raw: Buffer.from(m.journal!.hex, 'hex') } });
    for (const [ext, data] of [['SHA', files.sha], ['SIG', files.sig], ['MSG', files.msg], ['CKP', files.ckp]] as const) writeFileSync(join(folder, `REC00001.${ext}`), data);
    m.evidence!.keyId = keyIdOf(forger.publicKey).toString('hex');
    delete m.integrity;
    writeFileSync(wav.replace(/\.wav$/, '.json'), serialiseManifest(m));
    const v = await verifyLibraryFile(wav);
    expect(v.ok).toBe(false);
    expect(codes(v)).toContain('WRONG_KEY');
  });

  test('a replayed older journal fails: the library journal older than the newest attestation, or attestations going back', async () => {
    const h = setup();
    h.device.addRecording();
    await h.engine.sync({ dest: h.dest });
    const older = readFileSync(journalPath(h.dest, keyOf(h), 1));
    h.device.addRecording();
    await h.engine.sync({ dest: h.dest });
    writeFileSync(journalPath(h.dest, keyOf(h), 1), older);
    let v = await verifyPaths([h.dest]);
    expect(codes(v.library[0]!)).toContain('JOURNAL_TAIL_CUT');
    // attestations stored out of order: one signed older than one before it
    const p = pinPath(h.dest, '123456789abcdef0');
    const pin = JSON.parse(readFileSync(p, 'utf8'));
    pin.attestations.reverse();
    writeFileSync(p, JSON.stringify(pin));
    v = await verifyPaths([h.dest]);
    expect(codes(v.library[0]!)).toContain('JOURNAL_REPLAYED');
  });

  test('a forged attestation fails: ATTESTATION_INVALID', async () => {
    const { h } = await syncedLibrary({ recordings: 1 });
    const p = pinPath(h.dest, '123456789abcdef0');
    const pin = JSON.parse(readFileSync(p, 'utf8'));
    const raw = Buffer.from(pin.attestations[0].response, 'hex');
    raw.writeUInt32LE(9, 64); // a bigger journal count than signed
    pin.attestations[0].response = raw.toString('hex');
    writeFileSync(p, JSON.stringify(pin));
    expect(codes((await verifyPaths([h.dest])).library[0]!)).toContain('ATTESTATION_INVALID');
  });

  test('a recording missing from the library (in the journal) fails: RECORDING_MISSING', async () => {
    const { h } = await syncedLibrary({ recordings: 2 });
    const wav = wavOf(h.dest, 2);
    const { rmSync } = await import('node:fs');
    rmSync(wav);
    rmSync(wav.replace(/\.wav$/, '.json'));
    rmSync(wav.replace(/\.wav$/, '.evidence'), { recursive: true });
    const v = await verifyPaths([h.dest]);
    expect(v.library[0]!.failures).toEqual([expect.objectContaining({ code: 'RECORDING_MISSING', message: expect.stringMatching(/recording 2/) })]);
  });

  test('a recording cut by power verifies up to its last checkpoint and says how much is not vouched for', async () => {
    const h = setup();
    h.device.addRecording({ samples: 16000 * 150, recoveredVouched: 16000 * 120 });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(h.of('warning').some((w) => w.code === 'PARTLY_VOUCHED' && /first 120 of 150 seconds/.test(w.message))).toBe(true);
    const v = await verifyLibraryFile(wavOf(h.dest, 1));
    expect(v.ok).toBe(true);
    expect(v.signature!.vouchedSamples).toBe(16000 * 120);
    expect(v.notices.find((n) => n.code === 'PARTLY_VOUCHED')!.message).toMatch(/first 120\.0 s.*last 30\.0 s/);
    // the slots: start, two checkpoints (60 s, 120 s), the recovered stop
    const ckp = readFileSync(join(wavOf(h.dest, 1).replace(/\.wav$/, '.evidence'), 'REC00001.CKP'));
    expect(ckp.length).toBe(4 * 512);
    expect(parseSlotMessage(ckp.subarray(3 * 512, 3 * 512 + 448))).toMatchObject({ kind: 'stop', why: 'power-loss', rec: 1, vouched: 16000 * 120 });
  });

  test('a recovered recording keeps a checkpoint signed for audio that never reached the card: not a gap', async () => {
    const h = setup();
    // 150 s found after the cut; the checkpoint at 120 s was the last one matching the card.
    const rec = h.device.addRecording({ samples: 16000 * 150, recoveredVouched: 16000 * 120, sealing: true });
    // The device had also signed a checkpoint at 180 s whose audio was lost: insert it before the stop slot.
    const d = h.device.signer;
    const { slotMessage, formatSlot, startDigest } = await import('./recording.js');
    const { sign } = await import('node:crypto');
    const ckp = rec.checkpoints!;
    const slots = ckp.length / 512;
    const lost = slotMessage(formatSlot({ kind: 'ckpt', k: keyOf(h), r: 1, i: slots - 1, n: 16000 * 180, u: 181000, s: startDigest(ckp.subarray(0, 448)), h: 'ab'.repeat(32) }));
    const stop = Buffer.from(ckp.subarray((slots - 1) * 512));
    const stopText = stop.subarray(0, 448).toString('latin1').replace(/ i=\d{4} /, ` i=${String(slots).padStart(4, '0')} `);
    const stopMsg = Buffer.from(stopText, 'latin1');
    rec.checkpoints = Buffer.concat([ckp.subarray(0, (slots - 1) * 512), lost, sign(null, lost, d.privateKey), stopMsg, sign(null, stopMsg, d.privateKey)]);
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.copied).toEqual([1]);
    const v = await verifyLibraryFile(wavOf(h.dest, 1));
    expect(codes(v)).toEqual(['SIGNATURE_PENDING']);
    expect(v.signature!.vouchedSamples).toBe(16000 * 120);
  });

  test('a checkpoint slot changed after the fact fails: its signature', async () => {
    const { h } = await syncedLibrary({ recordings: 1, samples: 16000 * 70 });
    const ckpPath = join(wavOf(h.dest, 1).replace(/\.wav$/, '.evidence'), 'REC00001.CKP');
    const ckp = readFileSync(ckpPath);
    ckp[512 + 20] = ckp[512 + 20]! ^ 1;
    writeFileSync(ckpPath, ckp);
    const v = await verifyLibraryFile(wavOf(h.dest, 1));
    expect(codes(v)).toEqual(expect.arrayContaining(['SIGNATURE_INVALID', 'HASH_MISMATCH']));
  });

  test('the trusted comment names the journal record; a manifest pointing at another record fails', async () => {
    const { h } = await syncedLibrary({ recordings: 2 });
    const wav = wavOf(h.dest, 2);
    const msg = readFileSync(join(wav.replace(/\.wav$/, '.evidence'), 'REC00002.MSG'), 'utf8');
    const tc = parseTrustedComment(msg.split('\n')[2]!.replace('trusted comment: ', ''));
    expect(tc).toMatchObject({ rec: 2, jidx: 1, epoch: 1, samples: 5000, recovered: 'no', ckpts: 2 });
    const m = JSON.parse(readFileSync(wav.replace(/\.wav$/, '.json'), 'utf8')) as Manifest;
    m.journal!.index = 0;
    delete m.integrity;
    writeFileSync(wav.replace(/\.wav$/, '.json'), serialiseManifest(m));
    expect(codes(await verifyLibraryFile(wav))).toContain('JOURNAL_MISMATCH');
  });

  test('an evidence folder given to verify is pointed back to its library; a link planted as the folder is refused by sync', async () => {
    const { h } = await syncedLibrary({ recordings: 1 });
    const folder = wavOf(h.dest, 1).replace(/\.wav$/, '.evidence');
    const v = await verifyPaths([folder]);
    expect(v.ok).toBe(false);
    expect(v.problems[0]!.problem).toMatch(/verify the library folder/);
    const h2 = setup();
    h2.device.addRecording();
    const probe = setup();
    probe.device.addRecording();
    await probe.engine.sync({ dest: probe.dest });
    const name = readdirSync(probe.dest).find((n) => n.endsWith('.evidence'))!;
    const { mkdtempSync, symlinkSync } = await import('node:fs');
    const elsewhere = mkdtempSync(join(h2.dest, '..', 'elsewhere-'));
    symlinkSync(elsewhere, join(h2.dest, name));
    const r = await h2.engine.sync({ dest: h2.dest });
    expect(r.ok).toBe(false);
    expect(h2.of('file.failed')[0]).toMatchObject({ code: 'UNSAFE_PATH' });
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  test('the log is append-only JSON lines and holds no key material', async () => {
    const { h } = await syncedLibrary({ recordings: 1 });
    await appendLog((await import('node:fs/promises')) as never, h.dest, '123456789abcdef0', { event: 'note' });
    const lines = readFileSync(join(h.dest, 'recorder-123456789abcdef0.log'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).event)).toEqual(['pin', 'note']);
    expect(signifySignature).toBeTypeOf('function');
  });
});
