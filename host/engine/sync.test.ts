import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { readdirSync, readFileSync, statSync, writeFileSync, symlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import type { Fs } from './library.js';
import { xorshift32 } from '../../protocol/src/prng.js';
import { crc32 } from '../../protocol/src/codec.js';
import { MIN_READ } from './read-size.js';
import { SLOWEST_HASH_BYTES_PER_S } from './sync.js';
import { verifyLibraryFile } from './verify.js';
import { listLibrary } from './listing.js';
import { setup } from './testing/harness.js';

/** vi.waitFor's default of 1 s is too short on a loaded machine. */
const SETTLE = { timeout: 15_000, interval: 10 };

/** The READs of recordings' audio (not of their signed files). */
const audioReads = (h: ReturnType<typeof setup>) => h.device.log.filter((l) => l.command === 'READ' && Number(l.req.part) === 0);
const checkedReads = (h: ReturnType<typeof setup>) => h.device.log.filter((l) => l.command === 'READ_CHECKED' && Number(l.req.part) === 0);
const wavs = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.wav')).sort();

describe('sync', () => {
  test('a recording made without a clock gets a time estimate in its manifest and its file.verified event', async () => {
    const h = setup();
    h.device.addRecording({ samples: 16000, clockSet: false, startUnixMs: 0n });
    h.device.addRecording({ samples: 16000 });
    const before = Date.now();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    const manifests = readdirSync(h.dest)
      .filter((n) => /_\d+\.json$/.test(n))
      .map((n) => JSON.parse(readFileSync(join(h.dest, n), 'utf8')) as { recording: { number: number }; times: { estimate?: { estimated: boolean; method: string; earliestUnixMs: number | null; latestUnixMs: number } } });
    const undated = manifests.find((m) => m.recording.number === 1)!;
    const dated = manifests.find((m) => m.recording.number === 2)!;
    // the fake recorder's journal has no CLOCK_LOST: only the journal's order bounds it, and this sync's time
    expect(undated.times.estimate).toMatchObject({ estimated: true, method: 'journal-order', earliestUnixMs: null });
    expect(undated.times.estimate!.latestUnixMs).toBeGreaterThanOrEqual(before - 2000);
    expect(undated.times.estimate!.latestUnixMs).toBeLessThanOrEqual(Date.now());
    expect(dated.times.estimate).toBeUndefined();
    const verified = h.of('file.verified');
    expect(verified.find((e) => e.number === 1)!.timeEstimate).toMatchObject({ method: 'journal-order' });
    expect(verified.find((e) => e.number === 2)!.timeEstimate).toBeUndefined();
  });

  test("a dated recording's manifest keeps the clock's last set before it and the drift this sync measured", async () => {
    const h = setup();
    h.device.addRecording({ samples: 16000 });
    const setAt = Date.now() - 3_600_000;
    h.device.appendClockSet(0n, BigInt(setAt));
    h.device.addRecording({ samples: 16000 });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    const manifests = readdirSync(h.dest)
      .filter((n) => /_\d+\.json$/.test(n))
      .map((n) => JSON.parse(readFileSync(join(h.dest, n), 'utf8')) as { recording: { number: number }; times: { clockSinceSet?: { lastSetUnixMs: number; lastSetIso: string; driftMs: number; driftPpm: number; measuredBy: string } } });
    const manifest = (n: number) => manifests.find((m) => m.recording.number === n)!;
    // no set journalled before the first: nothing to say
    expect(manifest(1).times.clockSinceSet).toBeUndefined();
    const c = manifest(2).times.clockSinceSet!;
    expect(c).toMatchObject({ lastSetUnixMs: setAt, lastSetIso: new Date(setAt).toISOString(), measuredBy: 'this-sync' });
    // the fake recorder's clock runs 1.5 s fast; the measurement is within its round trip
    expect(Math.abs(c.driftMs - 1500)).toBeLessThan(1000);
    expect(c.driftPpm).toBeCloseTo((c.driftMs / 3_600_000) * 1e6, 0);
    // the library reads it back, in words (an older manifest without it reads as null)
    const listed = (await listLibrary(h.dest)).entries;
    expect(listed.find((e) => e.number === 2)!.clockSinceSet!.text).toMatch(new RegExp(`^clock set ${new Date(setAt).toISOString().slice(0, 16).replace('T', ' ')} UTC; it had drifted 1\\.\\d s fast \\(\\d+(\\.\\d)? ppm\\) by the next sync$`));
    expect(listed.find((e) => e.number === 1)!.clockSinceSet).toBeNull();
  });

  test('copies, verifies and describes every finished recording, in order of events', async () => {
    const h = setup();
    h.device.addRecording({ samples: 20000 });
    h.device.addRecording({ samples: 3001 });
    h.device.addRecording({ samples: 100, finished: false });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(r.copied).toEqual([1, 2]);
    expect(r.inProgress).toEqual([3]);
    const t = h.types().filter((x) => x !== 'file.progress' && x !== 'note');
    expect(t.slice(0, 6)).toEqual(['device.found', 'device.connected', 'device.info', 'clock.offset', 'clock.set', 'list.received']);
    // the recorder's identity is asked first, before anything on it is changed
    expect(h.device.log.map((l) => l.command).slice(0, 3)).toEqual(['HELLO', 'IDENTITY', 'INFO']);
    expect(t).toContain('journal.checked');
    expect(t.indexOf('journal.checked')).toBeLessThan(t.indexOf('file.started'));
    expect(t.at(-1)).toBe('sync.summary');
    expect(h.of('file.verified').map((e) => e.number)).toEqual([1, 2]);
    expect(h.of('file.skipped')).toEqual([expect.objectContaining({ number: 3, reason: 'in-progress' })]);
    expect(h.of('journal.checked')[0]).toMatchObject({ chain: 'ok', total: 2, gaps: [], problems: [] });
    const last = h.of('file.progress').filter((e) => e.number === 1).at(-1)!;
    expect(last.bytes).toBe(last.total);
    // files: friendly names, contents identical to the device's, modes
    expect(wavs(h.dest)).toHaveLength(2);
    for (const n of [1, 2]) {
      const name = wavs(h.dest).find((x) => x.endsWith(`_Kitchen_${n}.wav`))!;
      expect(name).toMatch(/^\d{4}-\d{2}-\d{2}_\d{4}_Kitchen_\d+\.wav$/);
      expect(readFileSync(join(h.dest, name)).equals(h.device.recordings.get(n)!.file)).toBe(true);
      expect(statSync(join(h.dest, name)).mode & 0o777).toBe(0o600);
      expect(statSync(join(h.dest, name.replace('.wav', '.json'))).mode & 0o777).toBe(0o600);
      expect((await verifyLibraryFile(join(h.dest, name))).ok).toBe(true);
    }
    expect(readdirSync(h.dest).some((n) => n.endsWith('.part'))).toBe(false);
    // the clock was set from the host
    expect(h.device.log.filter((l) => l.command === 'SET_TIME')).toHaveLength(1);
    expect(Math.abs(h.of('clock.offset')[0]!.offsetMs - 1500)).toBeLessThan(200);
  });

  test('a second sync copies nothing and reports the copies as already there', async () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording();
    await h.engine.sync({ dest: h.dest });
    const reads = h.device.log.filter((l) => l.command === 'READ').length;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(r.copied).toEqual([]);
    expect(r.alreadyHad).toEqual([1, 2]);
    expect(h.device.log.filter((l) => l.command === 'READ').length).toBe(reads);
  });

  test('default library folder is ~/Recordings/<label>, 0700', async () => {
    const h0 = setup();
    const h = setup({ home: h0.dest });
    h.device.addRecording();
    const r = await h.engine.sync();
    expect(r.destination).toBe(join(h0.dest, 'Recordings', 'Kitchen'));
    expect(statSync(r.destination).mode & 0o777).toBe(0o700);
    expect(wavs(r.destination)).toHaveLength(1);
  });

  test('the manifest records device, times, clock offset, journal and verification', async () => {
    const h = setup();
    const rec = h.device.addRecording({ samples: 16000, overruns: 3 });
    await h.engine.sync({ dest: h.dest });
    const name = wavs(h.dest)[0]!;
    const m = JSON.parse(readFileSync(join(h.dest, name.replace('.wav', '.json')), 'utf8'));
    expect(m.manifestVersion).toBe(2);
    expect(m.app.version).toBe('9.9.9-test');
    expect(m.device).toEqual({ id: '123456789abcdef0', label: 'Kitchen', model: 'ER-1 sim', firmware: '1.2.3', simulated: true });
    expect(m.file.name).toBe(name);
    expect(m.file.sha256).toBe(createHash('sha256').update(rec.file).digest('hex'));
    expect(m.recording).toMatchObject({ number: 1, sampleRate: 16000, sampleCount: 16000, durationMs: 1000, sha256: rec.sha256.toString('hex'), stopReason: 'button', overruns: 3, dataOffset: 1024 });
    expect(m.times.deviceStartUnixMs).toBe(rec.startUnixMs.toString());
    expect(m.times.deviceStartIso).toBe(new Date(Number(rec.startUnixMs)).toISOString());
    expect(typeof m.times.hostEstimatedStartIso).toBe('string');
    expect(Math.abs(m.clock.offsetMs - 1500)).toBeLessThan(200);
    expect(m.clock.deviceClockWasSet).toBe(true);
    expect(m.journal.hex).toBe(h.device.journal[0]!.toString('hex'));
    expect(m.journal.recordSha256).toBe(createHash('sha256').update(h.device.journal[0]!).digest('hex'));
    expect(m.journal.decoded).toMatchObject({ number: 1, sampleCount: 16000, overruns: 3, index: 0 });
    expect(m.journal.chain).toBe('ok');
    expect(m.verification).toMatchObject({ ok: true, sha256MatchesDevice: true, wavStructureOk: true, evidenceChunkOk: true, journalMatches: true, sampleCountMatches: true });
    expect(typeof m.integrity).toBe('string');
  });

  test('reads are windowed: several requests in flight, never more than the window', async () => {
    const h = setup();
    h.device.addRecording({ samples: 40000 });
    let outstanding = 0;
    let most = 0;
    const handle = h.device.handle.bind(h.device);
    h.device.handle = (f) => {
      if (f.command === 0x05) {
        outstanding++;
        most = Math.max(most, outstanding);
        setImmediate(() => outstanding--);
      }
      return handle(f);
    };
    const r = await h.engine.sync({ dest: h.dest, window: 4 });
    expect(r.ok).toBe(true);
    expect(most).toBe(4);
    const reads = h.device.log.filter((l) => l.command === 'READ');
    expect(Math.max(...reads.map((l) => Number(l.req.length)))).toBe(4096 - 8);
    const seqs = h.device.log.map((l) => l.seq);
    expect(seqs).not.toContain(0);
  });

  test('dropped and damaged frames are retried and the copy still verifies', async () => {
    const h = setup();
    h.device.addRecording({ samples: 30000 });
    h.device.faults.dropResponse = ({ command, n }) => command === 'READ' && (n === 2 || n === 5);
    h.device.faults.corruptResponse = ({ command, n }) => command === 'READ' && n === 7;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(h.of('file.retry').length).toBeGreaterThanOrEqual(1);
    expect(h.device.log.filter((l) => l.command === 'READ').length).toBeGreaterThan(Math.ceil(h.device.recordings.get(1)!.file.length / 4088));
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(h.device.recordings.get(1)!.file)).toBe(true);
  });

  test('noise is not a dead recorder: a block damaged many times in a row is asked again, no reconnect', async () => {
    const h = setup();
    const rec = h.device.addRecording({ samples: 30000 });
    // The answers for one block arrive damaged 9 times running (more than the 4 tries a silent link gets).
    let damaged = 0;
    h.device.faults.corruptResponse = ({ command }) => command === 'READ' && Number(h.device.log.at(-1)!.req.offset) === 3 * 4088 && damaged++ < 9;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(damaged).toBe(10);
    expect(h.types()).not.toContain('link.disconnected');
    expect(h.of('error')).toEqual([]);
    const retries = h.of('file.retry');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    for (const e of retries) {
      expect(e.cause).toBe('noise');
      expect(e.message).toMatch(/noisy link/);
    }
    expect(JSON.stringify(h.events)).not.toMatch(/stopped answering/);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
  });

  test('a dead link is still one: nothing arrives, so the recorder "stopped answering" after the usual tries', async () => {
    const h = setup({ reconnectTimeoutMs: 150 });
    h.device.addRecording({ samples: 60000 });
    const handle = h.device.handle.bind(h.device);
    h.device.handle = (f) => {
      if (h.device.readResponses >= 5) h.device.faults.silent = true;
      return handle(f);
    };
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('file.failed')).toEqual([expect.objectContaining({ number: 1, code: 'DISCONNECTED', message: expect.stringMatching(/did not come back/) })]);
    // the tries in flight when it died saw the last answers arrive; the rest saw nothing
    expect(h.of('file.retry').at(-1)!.cause).toBe('silence');
    expect(h.of('link.disconnected')[0]!.message).toMatch(/stopped answering/);
  });

  test('a link too noisy for any READ to arrive fails with LINK_NOISE, the .part kept, no reconnect', async () => {
    const h = setup();
    h.device.addRecording({ samples: 30000 });
    h.device.faults.corruptResponse = ({ command }) => command === 'READ' && Number(h.device.log.at(-1)!.req.offset) >= 2 * 4088;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    const failed = h.of('file.failed')[0]!;
    expect(failed).toMatchObject({ number: 1, code: 'LINK_NOISE' });
    expect(failed.message).toMatch(/damaged READ 41 times in a row while the recorder kept answering/);
    expect(failed.partKept).toMatch(/\.wav\.part$/);
    expect(h.types()).not.toContain('link.disconnected');
  });

  test('READs shrink on a noisy link (a byte error rate of 3e-4) and the copy still verifies (a device from before READ_CHECKED)', async () => {
    const h = setup();
    h.device.faults.noReadChecked = true;
    const rec = h.device.addRecording({ samples: 300_000 });
    const rng = xorshift32(17);
    h.device.faults.corruptResponse = ({ command, bytes }) => command === 'READ' && rng() / 2 ** 32 < 1 - (1 - 3e-4) ** bytes;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    const lengths = audioReads(h).map((l) => Number(l.req.length));
    expect(lengths[0]).toBe(4088);
    // the best size at 3e-4 is about 400 bytes: the last reads are near the smallest allowed
    expect(Math.max(...lengths.slice(-50))).toBeLessThanOrEqual(1024);
    // all but the READ of the end of the file (not always the last sent: resends may follow it)
    const inside = audioReads(h).filter((l) => Number(l.req.offset) + Number(l.req.length) < rec.file.length);
    expect(inside.length).toBeGreaterThan(lengths.length - 10);
    expect(Math.min(...inside.map((l) => Number(l.req.length)))).toBeGreaterThanOrEqual(MIN_READ);
    expect(h.types()).not.toContain('link.disconnected');
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
  });

  test('READ_CHECKED on a noisy link (3e-4): large READs stay, only damaged blocks are read again, the copy verifies', async () => {
    const h = setup({ timeoutMs: 1000 }); // no answer late on a loaded machine: the bytes asked for are the noise's
    const rec = h.device.addRecording({ samples: 300_000 });
    const rng = xorshift32(17);
    h.device.faults.corruptResponse = ({ command, bytes }) => (command === 'READ' || command === 'READ_CHECKED') && rng() / 2 ** 32 < 1 - (1 - 3e-4) ** bytes;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
    const checked = checkedReads(h);
    expect(checked.length).toBeGreaterThan(50);
    // the model's choice at 3e-4: small blocks (128 bytes at the estimate's 3e-4), READs of nearly 4 KiB
    expect(Number(checked.at(-1)!.req.blockSize)).toBeLessThanOrEqual(256);
    expect(Math.max(...checked.map((l) => Number(l.req.length)))).toBeGreaterThan(3900);
    // block re-reads are the size of a block: from the first READ_CHECKED on, the file was asked
    // for about once (at 3e-4 most answers are damaged; plain READs would ask for each again whole)
    expect(checked.some((l) => Number(l.req.length) <= 256)).toBe(true);
    const asked = checked.reduce((n, l) => n + Number(l.req.length), 0);
    expect(asked).toBeLessThan((rec.file.length - Number(checked[0]!.req.offset)) * 1.15);
    expect(h.types()).not.toContain('link.disconnected');
  });

  test('a damaged READ_CHECKED answer: its intact blocks are written, only the damaged block is read again', async () => {
    const h = setup({ timeoutMs: 10_000 }); // no answer late on a loaded machine: the READs counted are the ones the damage caused
    const rec = h.device.addRecording({ samples: 100_000 });
    // three damaged plain READs make the link noisy enough for READ_CHECKED
    h.device.faults.corruptResponse = ({ command, n }) => command === 'READ' && n <= 3;
    const damaged: { offset: number; blockSize: number }[] = [];
    h.device.faults.damageFrame = ({ command, n, raw }) => {
      if (command !== 'READ_CHECKED' || n !== 2) return;
      const payload = raw.subarray(8, raw.length - 4);
      damaged.push({ offset: payload.readUInt32LE(4), blockSize: payload.readUInt16LE(10) });
      raw[8 + 12 + payload.readUInt16LE(10) + 5]! ^= 0x10; // a data byte of the second block
    };
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
    expect(damaged).toHaveLength(1);
    const { offset, blockSize } = damaged[0]!;
    const first = checkedReads(h).find((l) => Number(l.req.offset) === offset)!;
    const again = checkedReads(h).filter((l) => Number(l.req.offset) >= offset && Number(l.req.offset) < offset + Number(first.req.length));
    // the damaged answer's READ, then one READ of its second block alone
    expect(again.map((l) => [Number(l.req.offset) - offset, Number(l.req.length)])).toEqual([
      [0, expect.any(Number)],
      [blockSize, blockSize],
    ]);
  });

  test('a READ_CHECKED answer with a damaged header is not guessed at: the whole READ is sent again', async () => {
    let t = 0;
    // no answer late on a loaded machine (lost frames are sent again when a later answer comes);
    // a second per clock reading: no retry line is held back as part of a burst
    const h = setup({ timeoutMs: 10_000, now: () => (t += 1000) });
    const rec = h.device.addRecording({ samples: 100_000 });
    h.device.faults.corruptResponse = ({ command, n }) => command === 'READ' && n <= 3;
    let offset = -1;
    h.device.faults.damageFrame = ({ command, n, raw }) => {
      if (command !== 'READ_CHECKED' || n !== 2) return;
      offset = raw.readUInt32LE(8 + 4);
      raw[8 + 4]! ^= 0x01; // the answer's offset field: its blocks would land elsewhere in the file
    };
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
    const same = checkedReads(h).filter((l) => Number(l.req.offset) === offset);
    expect(same).toHaveLength(2);
    expect(Number(same[1]!.req.length)).toBe(Number(same[0]!.req.length));
    // and it is reported as a lost READ is (a noisy link, asking again)
    expect(h.of('file.retry')).toContainEqual(expect.objectContaining({ offset, cause: 'noise' }));
  });

  test('a forged block check cannot put wrong bytes in the library: the SHA-256 of the copy catches them', async () => {
    const h = setup();
    const rec = h.device.addRecording({ samples: 100_000 });
    h.device.faults.corruptResponse = ({ command, n }) => command === 'READ' && n <= 3;
    let forged = 0;
    h.device.faults.damageFrame = ({ command, n, raw }) => {
      if (command !== 'READ_CHECKED' || n !== 2) return;
      // wrong bytes in the first block, its table entry forged to match (the frame CRC still fails)
      const p = raw.subarray(8, raw.length - 4);
      const dataLength = p.readUInt16LE(8);
      const blockSize = p.readUInt16LE(10);
      p[12 + 7]! ^= 0x55;
      const start = crc32(p.subarray(0, 12), crc32(raw.subarray(0, 8)));
      p.writeUInt32LE(crc32(p.subarray(12, 12 + blockSize), start), 12 + dataLength);
      forged++;
    };
    const r = await h.engine.sync({ dest: h.dest });
    expect(forged).toBe(1);
    // the first copy held the forged bytes and failed the recorder's SHA-256; the second is exact
    expect(h.of('file.restarted')).toEqual([expect.objectContaining({ message: expect.stringMatching(/did not match the recorder's fingerprint/) })]);
    expect(r.ok).toBe(true);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
  });

  test('a device from before READ_CHECKED is never asked for it', async () => {
    const h = setup();
    h.device.faults.noReadChecked = true;
    const rec = h.device.addRecording({ samples: 100_000 });
    h.device.faults.corruptResponse = ({ command, n }) => command === 'READ' && n % 3 === 0;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(rec.file)).toBe(true);
    expect(h.device.log.some((l) => l.command === 'READ_CHECKED')).toBe(false);
  });

  test('a clean link keeps the largest READ', async () => {
    const h = setup({ timeoutMs: 10_000 }); // no answer late on a loaded machine: nothing is lost here
    h.device.addRecording({ samples: 100_000 });
    await h.engine.sync({ dest: h.dest });
    const lengths = audioReads(h).map((l) => Number(l.req.length));
    expect(lengths.length).toBeGreaterThan(40);
    expect(lengths.slice(0, -1).every((n) => n === 4088)).toBe(true);
  });

  test('garbage between frames does not disturb the copy', async () => {
    const h = setup();
    h.device.addRecording({ samples: 10000 });
    h.device.faults.garbage = Buffer.from([0x00, 0x41, 0x42, 0x00, 0xff, 0x13, 0x37, 0x00, 0x05, 0x01, 0x00]);
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(r.copied).toEqual([1]);
  });

  test('unplugged mid-copy: says so, waits, resumes from the .part after checking it with HASH', async () => {
    const h = setup();
    h.device.addRecording({ samples: 60000 });
    h.device.faults.unplugAfterReads = 10;
    h.device.faults.replugAfterMs = 100;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    const t = h.types();
    expect(t).toContain('link.disconnected');
    expect(t).toContain('link.waiting');
    expect(t).toContain('link.reconnected');
    expect(h.of('link.disconnected')[0]!.message).toMatch(/disconnected/);
    const resumed = h.of('file.resumed');
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.fromOffset).toBeGreaterThan(0);
    const hash = h.device.log.find((l) => l.command === 'HASH')!;
    expect(Number(hash.req.offset)).toBe(0);
    expect(Number(hash.req.length)).toBe(resumed[0]!.fromOffset);
    // only the rest was read after the replug
    const reads = h.device.log.filter((l) => l.command === 'READ' && Number(l.req.part) === 0);
    const afterHash = reads.slice(h.device.log.filter((l) => l.command === 'READ' && h.device.log.indexOf(l) < h.device.log.indexOf(hash)).length);
    expect(Math.min(...afterHash.map((l) => Number(l.req.offset)))).toBe(resumed[0]!.fromOffset);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(h.device.recordings.get(1)!.file)).toBe(true);
  });

  test('device that never comes back: plain error, .part kept, nothing verified', async () => {
    const h = setup({ reconnectTimeoutMs: 150 });
    h.device.addRecording({ samples: 60000 });
    h.device.faults.unplugAfterReads = 5;
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('file.verified')).toHaveLength(0);
    const failed = h.of('file.failed')[0]!;
    expect(failed.code).toBe('DISCONNECTED');
    expect(failed.partKept).toMatch(/\.wav\.part$/);
    expect(existsSync(failed.partKept!)).toBe(true);
    expect(wavs(h.dest)).toHaveLength(0);
  });

  test('Ctrl-C stops cleanly, keeps the .part, and the next sync resumes it', async () => {
    const h = setup();
    h.device.addRecording({ samples: 80000 });
    const ac = new AbortController();
    h.engine.on((e) => {
      if (e.type === 'file.progress' && e.bytes > 40000) ac.abort();
    });
    const r1 = await h.engine.sync({ dest: h.dest, signal: ac.signal, progressIntervalMs: 0 });
    expect(r1.cancelled).toBe(true);
    expect(r1.ok).toBe(false);
    const part = readdirSync(h.dest).find((n) => n.endsWith('.part'))!;
    expect(statSync(join(h.dest, part)).size).toBeGreaterThan(40000);
    const r2 = await h.engine.sync({ dest: h.dest });
    expect(r2.ok).toBe(true);
    expect(h.of('file.resumed')).toHaveLength(1);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(h.device.recordings.get(1)!.file)).toBe(true);
  });

  /** A sync stopped part way (Ctrl-C): the .part it leaves, and its size. */
  async function partialCopy(h: ReturnType<typeof setup>, samples: number, stopAfter: number): Promise<{ part: string; size: number }> {
    const ac = new AbortController();
    const off = h.engine.on((e) => {
      if (e.type === 'file.progress' && e.bytes > stopAfter) ac.abort();
    });
    h.device.addRecording({ samples });
    expect((await h.engine.sync({ dest: h.dest, signal: ac.signal, progressIntervalMs: 0 })).cancelled).toBe(true);
    off();
    const part = join(h.dest, readdirSync(h.dest).find((n) => n.endsWith('.part'))!);
    return { part, size: statSync(part).size };
  }

  test('resume: the HASH of a long partial copy gets the time a slow card needs to hash it', async () => {
    const h = setup(); // 60 ms per request, 3 resends: 240 ms is all a fixed timeout would allow
    const { size } = await partialCopy(h, 100_000, 120_000);
    // The device hashes at twice the slowest rate the host allows for: 0.6 s for these 120 kB.
    const delays: number[] = [];
    h.device.faults.hashDelayMs = (length) => {
      delays.push((length * 1000) / (2 * SLOWEST_HASH_BYTES_PER_S));
      return delays.at(-1)!;
    };
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(delays[0]).toBeGreaterThan(4 * 60);
    expect(h.of('file.resumed')).toEqual([expect.objectContaining({ number: 1, fromOffset: size })]);
    expect(h.types()).not.toContain('link.disconnected');
    // one HASH for the resume, sent once: a resend would only queue behind the first on a device
    const hashes = h.device.log.filter((l) => l.command === 'HASH');
    expect(hashes.map((l) => Number(l.req.length))).toEqual([size]);
    expect(readFileSync(join(h.dest, wavs(h.dest)[0]!)).equals(h.device.recordings.get(1)!.file)).toBe(true);
  });

  test('resume: a device that never answers the HASH is given up on, the .part kept as it was', async () => {
    const h = setup({ reconnectTimeoutMs: 150 });
    const { part, size } = await partialCopy(h, 100_000, 120_000);
    h.device.faults.hashDelayMs = () => Infinity;
    const r = await h.engine.sync({ dest: h.dest, maxReconnects: 1 });
    expect(r.ok).toBe(false);
    expect(h.of('file.failed')).toEqual([expect.objectContaining({ number: 1, code: 'TIMEOUT', partKept: part })]);
    // each connection asked once, and the sync gave up after the reconnects it is allowed
    expect(h.device.log.filter((l) => l.command === 'HASH')).toHaveLength(2);
    expect(statSync(part).size).toBe(size);
    expect(wavs(h.dest)).toHaveLength(0);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);
  });

  test('list reports what is and is not safely in the library', async () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording({ finished: false });
    expect(await h.engine.list({ destination: h.dest })).toMatchObject({ destination: h.dest, toCopy: [1], alreadyInLibrary: [], inProgress: [2] });
    await h.engine.sync({ dest: h.dest });
    h.device.addRecording({ number: 3 });
    const l = await h.engine.list({ destination: h.dest });
    expect(l).toMatchObject({ toCopy: [3], alreadyInLibrary: [1], inProgress: [2] });
    expect(h.of('list.received').at(-1)).toMatchObject({ total: 3, toCopy: [3], alreadyInLibrary: [1], inProgress: [2] });
  });

  test('stop() aborts a running copy and resolves once the port is closed', async () => {
    const h = setup();
    h.device.addRecording({ samples: 80000 });
    let stopped: Promise<void> | null = null;
    let openWhenStopped = false;
    h.engine.on((e) => {
      if (e.type === 'file.progress' && e.bytes > 40000 && !stopped) {
        openWhenStopped = h.device.portOpen;
        stopped = h.engine.stop();
      }
    });
    let settled = false;
    const op = h.engine.sync({ dest: h.dest, progressIntervalMs: 0 }).finally(() => (settled = true));
    await vi.waitFor(() => expect(stopped).not.toBeNull(), SETTLE);
    expect(openWhenStopped).toBe(true);
    await stopped;
    expect(settled).toBe(true);
    expect(h.device.portOpen).toBe(false);
    expect((await op).cancelled).toBe(true);
    await h.engine.stop(); // nothing running: resolves at once
  });

  test('a .part that does not match the device is started over', async () => {
    const h = setup();
    const rec = h.device.addRecording({ samples: 20000 });
    await h.engine.sync({ dest: h.dest });
    const name = wavs(h.dest)[0]!;
    // set up a bad partial copy for a second device library
    const h2 = setup();
    h2.device.recordings = h.device.recordings;
    h2.device.journal = h.device.journal;
    h2.device.signer = h.device.signer;
    h2.device.nextNumber = 2;
    const bad = Buffer.from(rec.file.subarray(0, 5000));
    bad[4000] = bad[4000]! ^ 1;
    writeFileSync(join(h2.dest, name + '.part'), bad);
    const r = await h2.engine.sync({ dest: h2.dest });
    expect(r.ok).toBe(true);
    expect(h2.of('file.restarted')).toHaveLength(1);
    expect(h2.of('file.resumed')).toHaveLength(0);
    expect(readFileSync(join(h2.dest, name)).equals(rec.file)).toBe(true);
  });

  test('a device that sends wrong audio: hash mismatch, nothing published or deleted', async () => {
    const h = setup();
    h.device.addRecording({ samples: 20000 });
    h.device.faults.corruptReadData = (off) => off > 1024 && off < 8000;
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.ok).toBe(false);
    expect(h.of('file.failed')[0]!.code).toBe('HASH_MISMATCH');
    expect(h.of('file.restarted')).toHaveLength(1);
    expect(wavs(h.dest)).toHaveLength(0);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);
    expect(h.device.recordings.size).toBe(1);
  });

  /** The real file system, except that writes to a copy's .part fail with `code` after 12,000 bytes. */
  function partWritesFailing(code: string, message: string): Fs {
    let written = 0;
    return {
      ...fsp,
      open: (async (p: string, flags: number, mode?: number) => {
        const fh = await fsp.open(p, flags, mode);
        if (!String(p).endsWith('.part')) return fh;
        const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
        (fh as unknown as { write: unknown }).write = async (...a: unknown[]) => {
          const len = a[2] as number;
          if (written + len > 12000) throw Object.assign(new Error(message), { code });
          written += len;
          return write(...a);
        };
        return fh;
      }) as Fs['open'],
    };
  }

  test.each([
    { disk: 'full disk', code: 'ENOSPC', message: 'ENOSPC: no space left on device, write', engineCode: 'DISK_FULL', words: /disk is full/i },
    // A library disk pulled out mid-copy: Node's own words ("i/o error") are not shown.
    { disk: 'the disk pulled out (EIO)', code: 'EIO', message: 'EIO: i/o error, write', engineCode: 'DEST_UNWRITABLE', words: /^(?!.*i\/o error).*the disk stopped answering \(was it unplugged\?\)/ },
  ])('$disk: said in words, .part kept, sync stops, nothing marked verified, nothing deleted', async ({ code, message, engineCode, words }) => {
    const h = setup({ fs: partWritesFailing(code, message) });
    h.device.addRecording({ samples: 20000 });
    h.device.addRecording({ samples: 20000 });
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.ok).toBe(false);
    const f = h.of('file.failed');
    expect(f).toHaveLength(1);
    expect(f[0]!.code).toBe(engineCode);
    expect(f[0]!.message).toMatch(words);
    expect(f[0]!.partKept).toBeTruthy();
    expect(h.of('error').some((e) => e.code === engineCode)).toBe(true);
    expect(h.of('file.verified')).toHaveLength(0);
    expect(h.of('file.started')).toHaveLength(1); // stopped: no point trying the next file
    expect(readdirSync(h.dest).filter((n) => n.endsWith('.json') && !n.startsWith('.') && !n.startsWith('recorder-'))).toHaveLength(0);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);
  });

  test('unwritable destination: plain error', async () => {
    const h = setup();
    h.device.addRecording();
    writeFileSync(join(h.dest, 'blocker'), 'x');
    const r = await h.engine.sync({ dest: join(h.dest, 'blocker', 'sub') });
    expect(r.ok).toBe(false);
    expect(h.of('error')[0]!.code).toBe('DEST_UNWRITABLE');
  });

  test('hostile labels cannot choose a path; everything stays inside the library', async () => {
    for (const label of ['../../etc', '..', 'a/b\\c', '\u0007bell\u0000', '/abs', 'C:\\x']) {
      const h = setup();
      h.device.label = label;
      const rec = h.device.addRecording();
      rec.name = '../evil.wav';
      const r = await h.engine.sync({ dest: h.dest });
      expect(r.ok, `${label}: ${JSON.stringify(h.events.filter((e) => e.type === 'error' || e.type === 'warning' || e.type === 'file.failed'))}`).toBe(true);
      const files = readdirSync(h.dest).filter((n) => !n.startsWith('.') && !n.startsWith('recorder-') && n !== 'custody.log');
      expect(files).toHaveLength(3);
      for (const f of files) {
        // eslint-disable-next-line no-control-regex
        expect(f).not.toMatch(/[/\\\u0000-\u001f]|\.\./);
        expect(f).toMatch(/^\d{4}-\d{2}-\d{2}_\d{4}_[\p{L}\p{N}_-]+_1\.(wav|json|evidence)$/u);
      }
      // the library's own files are named by ids (hex), never by the label
      for (const f of readdirSync(h.dest).filter((n) => n.startsWith('recorder-'))) expect(f).toMatch(/^recorder-[0-9a-f]+\.[a-z0-9.-]+$/);
      expect(existsSync(join(h.dest, '..', 'evil.wav'))).toBe(false);
    }
  });

  /** A library and device with one recording, and the file name its copy will want. */
  async function withNameOfCopy() {
    const h = setup();
    h.device.addRecording();
    const probe = setup();
    probe.device.addRecording();
    await probe.engine.sync({ dest: probe.dest });
    return { h, name: wavs(probe.dest)[0]!, elsewhere: probe.dest };
  }

  test('an existing different file with the same name is never overwritten', async () => {
    const { h, name } = await withNameOfCopy();
    writeFileSync(join(h.dest, name), 'my own file');
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(h.dest, name), 'utf8')).toBe('my own file');
    expect(h.of('warning').some((w) => w.code === 'FILE_CONFLICT')).toBe(true);
    const copy = h.of('file.verified')[0]!.path;
    expect(copy).toMatch(/_1-2\.wav$/);
    expect((await verifyLibraryFile(copy)).ok).toBe(true);
  });

  test('a symlinked .part is not followed', async () => {
    const { h, name, elsewhere } = await withNameOfCopy();
    const victim = join(elsewhere, 'victim.txt');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(h.dest, name + '.part'));
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(h.of('file.failed')[0]!.code).toBe('UNSAFE_PATH');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });
});

describe('journal', () => {
  test('a broken chain is reported loudly and blocks deletion', async () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording();
    h.device.addRecording();
    h.device.journal[1]![60] = h.device.journal[1]![60]! ^ 0xff; // alter record 1 (its sampleRate field) without re-chaining
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.ok).toBe(false);
    expect(r.journal).toBe('broken');
    const j = h.of('journal.checked')[0]!;
    expect(j.chain).toBe('broken');
    expect(j.problems.some((p) => p.kind === 'broken-chain' && p.index === 2)).toBe(true);
    expect(h.of('error').some((e) => e.code === 'JOURNAL_BROKEN')).toBe(true);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);
    expect(h.of('warning').filter((w) => w.code === 'DELETE_REFUSED').length).toBeGreaterThan(0);
    // the copies are still made: evidence is never left behind
    expect(r.copied).toEqual([1, 2, 3]);
  });

  test('a rewritten history (re-chained) is caught against the record remembered from the last sync', async () => {
    const h = setup();
    h.device.keyState = 'legacy'; // a signed recorder is refused outright (evidence.test.ts)
    h.device.addRecording();
    h.device.addRecording();
    expect((await h.engine.sync({ dest: h.dest })).journal).toBe('ok');
    h.device.journal[0]![60] = h.device.journal[0]![60]! ^ 0x01;
    h.device.rechain(1);
    h.device.addRecording();
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.journal).toBe('broken');
    expect(h.of('journal.checked').at(-1)!.problems.some((p) => /rewritten/.test(p.message))).toBe(true);
  });

  test('records disappearing since the last sync (shrunk journal) are a gap', async () => {
    const h = setup();
    h.device.keyState = 'legacy'; // a signed recorder is refused outright (evidence.test.ts)
    h.device.addRecording();
    h.device.addRecording();
    await h.engine.sync({ dest: h.dest });
    h.device.journal = h.device.journal.slice(0, 1);
    h.device.recordings.delete(2);
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.ok).toBe(false);
    expect(r.journal).toBe('gap');
    expect(h.of('journal.checked').at(-1)!.gaps.some((g) => g.kind === 'shrunk')).toBe(true);
    expect(h.of('warning').some((w) => w.code === 'JOURNAL_GAP')).toBe(true);
  });

  test('a skipped recording number is a gap', async () => {
    const h = setup();
    h.device.addRecording({ number: 1 });
    h.device.addRecording({ number: 3 });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.journal).toBe('gap');
    expect(h.of('journal.checked')[0]!.gaps[0]!.message).toMatch(/recording 2 is missing/);
  });

  test('a recording without a journal record is copied but not trusted for deletion', async () => {
    const h = setup();
    h.device.addRecording({ journal: false });
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.copied).toEqual([1]);
    expect(r.ok).toBe(false);
    expect(h.device.recordings.size).toBe(1);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);
  });
});

describe('delete after verify', () => {
  test('deletes only with the flag, only verified copies, with the device SHA-256, after the copy is on disk', async () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording();
    h.device.addRecording({ finished: false });
    const noFlag = await h.engine.sync({ dest: h.dest });
    expect(noFlag.deleted).toEqual([]);
    expect(h.device.log.some((l) => l.command === 'DELETE')).toBe(false);

    const shas = [1, 2].map((n) => h.device.recordings.get(n)!.sha256);
    const onDisk: boolean[] = [];
    const handle = h.device.handle.bind(h.device);
    h.device.handle = (f) => {
      if (f.command === 0x07) onDisk.push(wavs(h.dest).length === 2);
      return handle(f);
    };
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.deleted).toEqual([1, 2]);
    expect(onDisk).toEqual([true, true]);
    const dels = h.device.log.filter((l) => l.command === 'DELETE');
    expect(dels.map((d) => Number(d.req.number))).toEqual([1, 2]);
    expect((dels[0]!.req.sha256 as Buffer).equals(shas[0]!)).toBe(true);
    expect((dels[1]!.req.sha256 as Buffer).equals(shas[1]!)).toBe(true);
    expect([...h.device.recordings.keys()]).toEqual([3]);
    expect(h.of('file.deleted').map((e) => e.number)).toEqual([1, 2]);
  });

  test('a DELETE whose answer the link lost is confirmed by LIST, one never done is sent again, never one done twice', async () => {
    const h = setup();
    for (let i = 0; i < 3; i++) h.device.addRecording();
    // 1: the recorder deletes it, its answer is lost. 2: the request is lost (the recorder never
    // saw it). 3: answered at once.
    const handle = h.device.handle.bind(h.device);
    let deletes = 0;
    h.device.handle = (f) => {
      if (f.command !== 0x07) return handle(f);
      deletes++;
      if (deletes === 2) return []; // the second DELETE sent (recording 2's first) never arrived
      return handle(f);
    };
    h.device.faults.dropResponse = ({ command, n }) => command === 'DELETE' && n === 1;
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(r.ok).toBe(true);
    expect(r.deleted).toEqual([1, 2, 3]);
    expect([...h.device.recordings.keys()]).toEqual([]);
    // Four sent: recording 2's twice; recording 1's not repeated, LIST showed it gone.
    expect(deletes).toBe(4);
    expect(h.device.log.filter((l) => l.command === 'DELETE').map((d) => Number(d.req.number))).toEqual([1, 2, 3]);
    expect(h.of('warning').filter((w) => w.code === 'DELETE_REFUSED')).toEqual([]);
  });

  test('a library copy damaged since the last sync is not a reason to delete', async () => {
    const h = setup();
    h.device.addRecording();
    await h.engine.sync({ dest: h.dest });
    const file = join(h.dest, wavs(h.dest)[0]!);
    const b = readFileSync(file);
    b[2000] = b[2000]! ^ 1;
    await fsp.chmod(file, 0o600);
    writeFileSync(file, b);
    const r = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    // a fresh copy is made beside the damaged one, verified, and only then deleted
    expect(h.of('warning').some((w) => w.code === 'HASH_MISMATCH')).toBe(true);
    expect(r.copied).toEqual([1]);
    expect(r.deleted).toEqual([1]);
    const fresh = h.of('file.verified').at(-1)!.path;
    expect((await verifyLibraryFile(fresh)).ok).toBe(true);
    expect((await verifyLibraryFile(file)).ok).toBe(false);
  });

  test('deleteSynced refuses numbers without a verified copy', async () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording();
    await h.engine.sync({ dest: h.dest });
    h.device.addRecording();
    const deleted = await h.engine.deleteSynced({ destination: h.dest, numbers: [1, 3] });
    expect(deleted).toEqual([1]);
    expect([...h.device.recordings.keys()]).toEqual([2, 3]);
    expect(h.of('warning').some((w) => w.code === 'DELETE_REFUSED' && /3/.test(w.message))).toBe(true);
  });
});

