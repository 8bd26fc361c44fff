/**
 * Encrypted recording as Cortex-M3 machine code in QEMU (issue 13; docs/qemu.md): the owner's
 * recipient from `age-keygen` is set with SET_RECIPIENT, a recording of three 64 KiB age chunks
 * is made by command, the .AGE read over the protocol equals the card's file, and the stock
 * `age -d` gives the WAV plain mode would have written: the unbroken ramp, whose SHA-256 is the
 * one LIST reports. No WAV and no hold file are left on the card, and fsck.fat is clean.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INFO_FLAGS, RECIPIENT_ACTION, RECORD_ACTION, RECORD_FLAGS, RECORDING_STATE } from '../protocol/src/schema.js';
import { makeCard, requireQemu, startQemu, stopAllQemu } from './support/qemu.js';
import { RawClient } from './support/raw-client.js';
import { expectRamp, parseRecording, until } from './support/recording.js';
import { fsckCheck, mcopyOut, requireTool, stopAll, tempDir } from './support/sim.js';

const MiB = 1024 * 1024;
const RATE = 16000;

beforeAll(() => {
  requireQemu();
  for (const [tool, pkg] of [['mkfs.fat', 'dosfstools'], ['fsck.fat', 'dosfstools'], ['mcopy', 'mtools'], ['mdir', 'mtools'], ['age', 'age'], ['age-keygen', 'age']] as const)
    requireTool(tool, pkg);
});

const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllQemu();
  await stopAll();
});

/** The 32 bytes inside an age1... recipient (bech32 data part). */
function recipientBytes(recipient: string): Buffer {
  const charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const c of recipient.slice(recipient.lastIndexOf('1') + 1, -6)) {
    acc = ((acc << 5) | charset.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

describe('encrypted recording under QEMU (Cortex-M3)', () => {
  it('records to REC00001.AGE, which the stock age decrypts to the WAV LIST describes', async () => {
    const dir = tempDir('rec-qemu-age-');
    const keyFile = join(dir, 'owner.txt');
    const made = spawnSync('age-keygen', ['-o', keyFile], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const recipient = recipientBytes(/# public key: (age1[a-z0-9]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!);
    const image = join(dir, 'card.img');
    makeCard(image, 64 * MiB);
    const q = await startQemu({ image });
    const c = await RawClient.open(q.pty);
    clients.push(c);
    const info = await c.ok('HELLO', { maxPayload: 4096 });
    const maxPayload = Number(info.maxPayload);
    await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient }, 30_000);
    expect(Number((await c.ok('INFO')).flags) & INFO_FLAGS.ENCRYPTING).toBe(INFO_FLAGS.ENCRYPTING);

    await c.ok('RECORD', { action: RECORD_ACTION.START }, 60_000);
    await until('3 s of audio', 60_000, async () => (Number((await c.ok('INFO')).currentSamples) >= 3 * RATE ? true : undefined));
    await c.ok('RECORD', { action: RECORD_ACTION.STOP }, 60_000);
    const [e] = (await c.ok('LIST', { afterNumber: 0, maxEntries: 4 })).entries as Record<string, unknown>[];
    expect(e!.name).toBe('REC00001.AGE');
    expect(e!.state).toBe(RECORDING_STATE.FINISHED);
    expect(Number(e!.flags) & RECORD_FLAGS.ENCRYPTED).toBe(RECORD_FLAGS.ENCRYPTED);

    // READ the .AGE as it is, several requests in flight.
    const size = Number(e!.size);
    const chunk = maxPayload - 8;
    const parts: Buffer[] = [];
    for (let o = 0; o < size; o += chunk) {
      const r = await c.ok('READ', { number: 1, offset: o, length: Math.min(chunk, size - o) }, 20_000);
      parts.push(r.data as Buffer);
    }
    const copy = Buffer.concat(parts);
    await c.close();
    clients.splice(0);
    expect(await q.quit()).toBe(0);

    const fsck = fsckCheck(image);
    expect(fsck.status, fsck.output).toBe(0);
    const names = spawnSync('mdir', ['-b', '-i', image, '::RECORDS'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).stdout;
    expect(names).toMatch(/REC00001\.AGE/i);
    expect(names).not.toMatch(/REC00001\.(WAV|HLD)/i);
    const onCard = join(dir, 'REC00001.AGE');
    mcopyOut(image, '/RECORDS/REC00001.AGE', onCard);
    expect(copy.equals(readFileSync(onCard))).toBe(true);

    const d = spawnSync('age', ['-d', '-i', keyFile, onCard], { maxBuffer: 64 << 20 });
    expect(d.status, d.stderr.toString()).toBe(0);
    const { data, evid } = parseRecording(d.stdout);
    const samples = expectRamp(data);
    expect(samples).toBeGreaterThanOrEqual(3 * RATE);
    expect(Number(e!.sampleCount)).toBe(samples);
    const sha = createHash('sha256').update(data).digest();
    expect((e!.sha256 as Buffer).equals(sha)).toBe(true);
    expect((evid.sha256 as Buffer).equals(sha)).toBe(true);
  }, 180_000);
});
