import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, unlinkSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, test } from 'vitest';
import { checkJournal, entryFromRaw } from './journal.js';
import { recordingBaseName, safeJoin, sanitiseLabel } from './library.js';
import { buildRecorderWav, FakeDevice } from './testing/fake-device.js';
import { setup } from './testing/harness.js';
import { inspectFile, verifyLibraryFile } from './verify.js';
import { realFs } from './library.js';
import { parseWav } from './wav.js';

const reader = (b: Buffer) => async (o: number, n: number) => b.subarray(o, o + n);

describe('WAV structure', () => {
  const good = () => buildRecorderWav({ number: 4, deviceId: 1n, sampleRate: 16000, samples: 999, startUnixMs: 5n }).file;
  test('accepts the recorder layout', async () => {
    const r = await parseWav(reader(good()), good().length);
    expect(r.problems).toEqual([]);
    expect(r.layout).toMatchObject({ dataOffset: 1024, dataLength: 1998, hasBext: true });
    expect(r.layout.evidence!.number).toBe(4);
  });
  test.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 10), /truncated|runs past/],
    ['stereo', (b: Buffer) => (b.writeUInt16LE(2, 22), b), /channels/],
    ['8-bit', (b: Buffer) => (b.writeUInt16LE(8, 34), b), /16-bit/],
    ['odd rate', (b: Buffer) => (b.writeUInt32LE(44100, 24), b), /sample rate/],
    ['not RIFF', (b: Buffer) => (b.write('RIFX', 0), b), /RIFF/],
    ['data moved', (b: Buffer) => (b.writeUInt32LE(b.readUInt32LE(40) - 2, 40), b), /./],
    ['no evid', (b: Buffer) => Buffer.concat([(b.writeUInt32LE(b.length - 80 - 8, 4), b.subarray(0, b.length - 80))]), /evid/],
    ['extra bytes', (b: Buffer) => Buffer.concat([b, Buffer.alloc(3)]), /RIFF header says/],
  ])('rejects %s', async (_n, mutate, re) => {
    const b = mutate(Buffer.from(good()));
    const r = await parseWav(reader(b), b.length);
    expect(r.ok).toBe(false);
    expect(r.problems.join('; ')).toMatch(re);
  });
});

describe('inspectFile', () => {
  // Both hashes come from one read of the file, a MiB at a time: the audio starts inside the
  // first MiB and ends inside the third, after two MiB boundaries.
  test('hashes the whole file and its audio as they are on disk', async () => {
    const wav = buildRecorderWav({ number: 2, deviceId: 1n, sampleRate: 48000, samples: 1_200_000, startUnixMs: 5n });
    const dir = mkdtempSync(join(tmpdir(), 'inspect-'));
    try {
      const file = join(dir, 'REC00002.WAV');
      writeFileSync(file, wav.file);
      const ins = await inspectFile(realFs, file);
      expect(ins.wavProblems).toEqual([]);
      expect(ins.size).toBe(wav.file.length);
      expect(ins.fileSha256).toBe(createHash('sha256').update(wav.file).digest('hex'));
      expect(ins.dataSha256).toBe(wav.sha256.toString('hex'));
      // an audio byte changed on disk changes both
      const changed = Buffer.from(wav.file);
      changed[(2 << 20) + 5]! ^= 1;
      writeFileSync(file, changed);
      const again = await inspectFile(realFs, file);
      expect(again.dataSha256).not.toBe(ins.dataSha256);
      expect(again.fileSha256).toBe(createHash('sha256').update(changed).digest('hex'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('names', () => {
  test('sanitising labels', () => {
    expect(sanitiseLabel('../../etc/passwd')).toBe('etc-passwd');
    expect(sanitiseLabel('..')).toBe('');
    expect(sanitiseLabel('Café Ø 3')).toBe('Café-Ø-3');
    expect(sanitiseLabel('a\u0000b\u001bc')).toBe('a-b-c');
    expect(recordingBaseName({ startUnixMs: 0n, clockSet: false, label: '', deviceId: 'ab12', number: 7 })).toBe('undated_ab12_7');
  });
  test('safeJoin refuses anything that leaves the folder', () => {
    for (const bad of ['../x', 'a/b', '..', 'a\\b', 'x\u0000', '']) expect(() => safeJoin('/lib', bad)).toThrow(/unsafe|leave/i);
    expect(safeJoin('/lib', 'ok.wav')).toBe('/lib/ok.wav');
  });
});

describe('journal chain', () => {
  test('a good chain passes; an edited record or a reorder fails', () => {
    const d = new FakeDevice();
    for (let i = 0; i < 4; i++) d.addRecording();
    const entries = () => d.journal.map((r, i) => entryFromRaw(Buffer.from(r), i));
    expect(checkJournal(entries(), 4, null).chain).toBe('ok');
    const e = entries();
    e[2] = entryFromRaw(Buffer.from(d.journal[3]!), 2);
    const c = checkJournal(e, 4, null);
    expect(c.chain).toBe('broken');
    expect(c.problems.map((p) => p.kind)).toContain('index');
  });
});

describe('offline verify', () => {
  let h: ReturnType<typeof setup>;
  let wav: string;
  beforeEach(async () => {
    h = setup();
    h.device.addRecording({ samples: 8000 });
    await h.engine.sync({ dest: h.dest });
    wav = join(h.dest, readdirSync(h.dest).find((n) => n.endsWith('.wav'))!);
  });

  test('a good copy verifies', async () => {
    expect(await verifyLibraryFile(wav)).toMatchObject({ ok: true, problems: [] });
    const r = await h.engine.verify([h.dest]);
    expect(r.ok).toBe(true);
    expect(h.of('file.verified').at(-1)).toMatchObject({ alreadyPresent: true, path: wav });
  });
  test('a flipped audio byte fails', async () => {
    const b = readFileSync(wav);
    b[3000] = b[3000]! ^ 0x01;
    writeFileSync(wav, b);
    const r = await verifyLibraryFile(wav);
    expect(r.ok).toBe(false);
    expect(r.problems.join()).toMatch(/audio's SHA-256/);
  });
  test('a flipped header byte fails', async () => {
    const b = readFileSync(wav);
    b[100] = b[100]! ^ 0x01;
    writeFileSync(wav, b);
    expect((await verifyLibraryFile(wav)).problems.join()).toMatch(/file's SHA-256/);
  });
  test('truncation fails', async () => {
    truncateSync(wav, 5000);
    expect((await verifyLibraryFile(wav)).problems.join()).toMatch(/truncated/);
  });
  test('a missing sidecar fails', async () => {
    unlinkSync(wav.replace('.wav', '.json'));
    expect((await verifyLibraryFile(wav)).problems.join()).toMatch(/sidecar .* is missing/);
    expect((await h.engine.verify([wav])).ok).toBe(false);
  });
  test('emits exactly one event per file checked: verified, or failed naming the file', async () => {
    const before = h.events.length;
    const b = readFileSync(wav);
    b[3000] = b[3000]! ^ 0x01;
    writeFileSync(wav, b);
    await h.engine.verify({ destination: h.dest });
    // (the recorder-wide checks of the folder add their own note or errors, not about one file)
    const seen = h.events.slice(before).filter((e) => e.type.startsWith('file.'));
    expect(seen.map((e) => e.type)).toEqual(['file.failed']);
    expect(seen[0]).toMatchObject({ number: 1, code: 'HASH_MISMATCH' });
    unlinkSync(wav.replace('.wav', '.json'));
    await h.engine.verify({ destination: h.dest });
    const all = h.events.slice(before);
    const orphan = all.slice(all.findIndex((e) => e.type === 'file.failed') + 1);
    expect(orphan.filter((e) => e.type.startsWith('file.')).map((e) => e.type)).toEqual(['file.failed']);
    expect(orphan.find((e) => e.type === 'file.failed')).toMatchObject({ number: 0, code: 'MANIFEST_INVALID' });
    expect((orphan.find((e) => e.type === 'file.failed') as { message: string }).message).toContain(wav);
    // the recorder's journal lists the recording whose manifest is gone
    expect(orphan.some((e) => e.type === 'error' && e.code === 'RECORDING_MISSING')).toBe(true);
  });
  test('an edited manifest fails', async () => {
    const p = wav.replace('.wav', '.json');
    const m = JSON.parse(readFileSync(p, 'utf8'));
    m.device.label = 'Somebody else';
    writeFileSync(p, JSON.stringify(m, null, 2));
    expect((await verifyLibraryFile(wav)).problems.join()).toMatch(/edited/);
  });
  test('an edited manifest whose integrity was recomputed still fails on content', async () => {
    const { serialiseManifest } = await import('./library.js');
    const p = wav.replace('.wav', '.json');
    const m = JSON.parse(readFileSync(p, 'utf8'));
    m.recording.sampleCount += 1;
    delete m.integrity;
    writeFileSync(p, serialiseManifest(m));
    const r = await verifyLibraryFile(wav);
    expect(r.ok).toBe(false);
    expect(r.problems.join()).toMatch(/samples/);
  });
  test('nothing to verify is not success', async () => {
    expect((await h.engine.verify([join(h.dest, 'nope.wav')])).ok).toBe(false);
  });
});
