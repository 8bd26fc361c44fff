/**
 * Encrypted recording on the real device's image (issue 13; docs/rp2040.md): the RP2040 firmware
 * on rp2040js. The owner's recipient from `age-keygen` is set with SET_RECIPIENT, a recording of
 * more than one 64 KiB age chunk is made by command, the .AGE read over USB equals the card's
 * file, and the stock `age -d` gives the WAV plain mode would have written: the fed signal without
 * a gap, whose SHA-256 is the one LIST reports. No WAV and no hold file are left on the card, and
 * fsck.fat is clean. (The QEMU port builds without encryption: docs/qemu.md.)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INFO_FLAGS, RECIPIENT_ACTION, RECORD_ACTION, RECORD_FLAGS, RECORDING_STATE } from '../protocol/src/schema.js';
import { Board, Signal, makeCard, requireRp2040Image, syncFile } from './support/rp2040.js';
import { parseRecording } from './support/recording.js';
import { fsckCheck, mcopyOut, requireTool, stopAll, tempDir } from './support/sim.js';
import { ageRecipientBytes as recipientBytes } from './support/age.js';

const RATE = 16000;
const AGE_CHUNK = 64 * 1024;

let firmware: Uint8Array;
beforeAll(() => {
  firmware = requireRp2040Image();
  for (const [tool, pkg] of [['mkfs.fat', 'dosfstools'], ['fsck.fat', 'dosfstools'], ['mcopy', 'mtools'], ['mdir', 'mtools'], ['age', 'age'], ['age-keygen', 'age']] as const)
    requireTool(tool, pkg);
});

const boards: Board[] = [];
afterEach(async () => {
  for (const b of boards.splice(0)) await b.stop();
  await stopAll();
});


describe('encrypted recording on the RP2040 image (rp2040js)', () => {
  it('records to REC00001.AGE, which the stock age decrypts to the WAV LIST describes', async () => {
    const dir = tempDir('rec-rp2040-age-');
    const keyFile = join(dir, 'owner.txt');
    const made = spawnSync('age-keygen', ['-o', keyFile], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const recipient = recipientBytes(/# public key: (age1[a-z0-9]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!);
    const { path, card } = makeCard(dir);
    const signal = new Signal();
    const b = new Board({ firmware, card, mic: signal.next, echo: process.env.REC_RP2040_ECHO === '1' });
    boards.push(b);
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    await b.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.SET, reserved: Buffer.alloc(3), recipient }, 30_000);
    expect(Number((await b.ok('INFO')).flags) & INFO_FLAGS.ENCRYPTING).toBe(INFO_FLAGS.ENCRYPTING);

    await b.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
    let info = await b.ok('INFO');
    while (Number(info.currentSamples) < 3 * RATE) {
      await b.sleep(1000);
      info = await b.ok('INFO');
    }
    await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 30_000);
    const [e] = (await b.ok('LIST', { afterNumber: 0, maxEntries: 4 })).entries as Record<string, unknown>[];
    expect(e!.name).toBe('REC00001.AGE');
    expect(e!.state).toBe(RECORDING_STATE.FINISHED);
    expect(Number(e!.flags) & RECORD_FLAGS.ENCRYPTED).toBe(RECORD_FLAGS.ENCRYPTED);
    const size = Number(e!.size);
    expect(size).toBeGreaterThan(AGE_CHUNK); // more than one age chunk: the chunk chaining is exercised

    const copy = await syncFile(b, 1, size);
    await b.sleep(200);
    // The stack (8 KiB in SCRATCH_X/Y, zero at power-on) after the encrypted start, recording and
    // finish: its deepest write is well inside the reserve.
    const scratch = b.mcu.sram.subarray(0x40000, 0x42000);
    const stackUsed = scratch.length - scratch.findIndex((x) => x !== 0);
    console.log(`rp2040 encrypted recording: stack high-water mark ${stackUsed} of ${scratch.length} B`);
    expect(stackUsed).toBeLessThan(6 * 1024);
    await b.stop();
    boards.splice(boards.indexOf(b), 1);

    writeFileSync(path, card.image);
    const fsck = fsckCheck(path);
    expect(fsck.status, fsck.output).toBe(0);
    const names = spawnSync('mdir', ['-b', '-i', path, '::RECORDS'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).stdout;
    expect(names).toMatch(/REC00001\.AGE/i);
    expect(names).not.toMatch(/REC00001\.(WAV|HLD)/i);
    const onCard = join(dir, 'REC00001.AGE');
    mcopyOut(path, '/RECORDS/REC00001.AGE', onCard);
    expect(copy.equals(readFileSync(onCard))).toBe(true);

    const d = spawnSync('age', ['-d', '-i', keyFile, onCard], { maxBuffer: 64 << 20, timeout: 30_000 });
    expect(d.status, d.stderr.toString()).toBe(0);
    const { data, evid } = parseRecording(d.stdout);
    signal.expectContiguous(data);
    const samples = data.length / 2;
    expect(samples).toBeGreaterThanOrEqual(3 * RATE);
    expect(Number(e!.sampleCount)).toBe(samples);
    const sha = createHash('sha256').update(data).digest();
    expect((e!.sha256 as Buffer).equals(sha)).toBe(true);
    expect((evid.sha256 as Buffer).equals(sha)).toBe(true);
  }, 150_000);
});
