/**
 * The RP2040 firmware image (firmware/build-rp2040/recorder-rp2040.bin, the same bytes as the
 * UF2) on the rp2040js emulator: boot through its own boot2, USB CDC-ACM enumeration, the
 * protocol over the bulk endpoints, a 60-second recording from the ADC through DMA to an SD card
 * in SPI mode, sync over USB, and recovery after a power cut. Card images are made by mkfs.fat
 * and checked afterwards with fsck.fat and mtools.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CARD_LAYOUT, ENTROPY_SOURCE, IDENTITY_FLAGS, JOURNAL_KIND, KIND, PROTOCOL, RECORDING_STATE, RECORD_ACTION, REC_STATE, STOP_REASON, WIPE_METHOD, WIPE_STATE } from '../protocol/src/schema.js';
import { checkIdentity } from '../host/engine/evidence/identity.js';
import { DEFAULT_UNIQUE_ID } from '../firmware/ports/rp2040/tools/bootrom.mjs';
import { Board, Signal, makeCard, requireRp2040Image, syncFile } from './support/rp2040.js';
import { SdCardSpi } from './support/sd-card-spi.js';
import { fsckCheck, mcopyOut, requireTool, stopAll, tempDir } from './support/sim.js';
import { longestSignalRun, parseRecording } from './support/recording.js';
import { journalEntriesFromPayload } from '../host/engine/journal.js';

let firmware: Uint8Array;
beforeAll(() => {
  firmware = requireRp2040Image();
  requireTool('mkfs.fat', 'dosfstools');
  requireTool('fsck.fat', 'dosfstools');
  requireTool('mcopy', 'mtools');
});

const boards: Board[] = [];
afterEach(async () => {
  for (const b of boards.splice(0)) await b.stop();
  await stopAll();
});

function boot(card: SdCardSpi, signal?: Signal): Board {
  const b = new Board({ firmware, card, mic: signal?.next, echo: process.env.REC_RP2040_ECHO === '1' });
  boards.push(b);
  return b;
}

describe('RP2040 firmware on rp2040js', () => {
  it('boots through its boot2, enumerates as a CDC-ACM device and answers HELLO and INFO', async () => {
    const dir = tempDir('rec-rp2040-');
    const { card } = makeCard(dir);
    const b = boot(card);
    await b.until('USB enumeration', () => b.connected, 10_000);
    // What the emulator's host read: the whole configuration descriptor, with its data interface.
    const cdc = b.cdc as unknown as { descriptors: number[]; inEndpoint: number; outEndpoint: number };
    expect(cdc.descriptors.length).toBe(75);
    expect(cdc.inEndpoint).toBe(2);
    expect(cdc.outEndpoint).toBe(2);
    const info = await b.ok('HELLO', { maxPayload: 4096 });
    expect(info.model).toBe('ER-1 RP2040');
    expect(Number(info.flags) & 1).toBe(1); // the harness's boot ROM (version 0): the firmware reports itself simulated
    expect(info.recState).toBe(REC_STATE.IDLE);
    expect(info.sampleRate).toBe(16000);
    expect(Number(info.batteryMv)).toBeGreaterThan(3800);
    expect(Number(info.cardCapacity)).toBeGreaterThan(60e6);
    const again = await b.ok('INFO');
    expect(again.deviceId).toBe(info.deviceId);
    // A new device's id is its flash chip's unique id (4Bh, read through the synthetic boot ROM
    // from SRAM with XIP off; the ROM fails the run on any mistake there).
    expect(BigInt(info.deviceId as bigint)).toBe(BigInt(`0x${Buffer.from(DEFAULT_UNIQUE_ID).toString('hex')}`));
    expect(b.bootrom!.ops[0]).toEqual({ fn: 'CMD', offset: 0x4b, count: 13 });
    // Then only page programs of the device's state log (NVM sectors 2 and 3: the journal count
    // adopted at the first mount); nothing else of the flash is touched.
    for (const op of b.bootrom!.ops.slice(1)) {
      expect(op.fn).toBe('RP');
      expect(op.offset).toBeGreaterThanOrEqual(0x7f2000);
      expect(op.offset + op.count).toBeLessThanOrEqual(0x7f4000);
    }
    expect(b.bootrom!.errors).toEqual([]);
    expect(b.uart).toContain('ready');
  }, 60_000);

  it('runs the clock a recording needs while it records (80 MHz at 48 kHz, 48 MHz at 16 kHz), with the SPI and UART clocks unchanged, and 48 MHz again after', async () => {
    const dir = tempDir('rec-rp2040-');
    const { card } = makeCard(dir);
    const b = boot(card, new Signal());
    const spi = b.mcu.spi[0] as unknown as { clockFrequency: number };
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    expect(b.mcu.clkSys).toBe(48e6);
    const record = async (rate: number) => {
      await b.ok('SETTINGS', { setMask: 1, sampleRate: rate });
      await b.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);
      const clk = b.mcu.clkSys;
      const spiHz = spi.clockFrequency;
      const peri = b.mcu.clkPeri;
      const mic0 = b.micSamples;
      await b.until('half a second of audio', () => b.micSamples >= mic0 + rate / 2, 5_000);
      await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 60_000);
      return { clk, spiHz, peri, after: b.mcu.clkSys };
    };
    // 2 x 780 cycles per sample x 48 kHz = 74.9 MHz: the port's next setting is 80 MHz (PLL_SYS)
    expect(await record(48000)).toEqual({ clk: 80e6, spiHz: 24e6, peri: 48e6, after: 48e6 });
    // 25 MHz is needed at 16 kHz: PLL_USB's 48 MHz, the system PLL stays off
    expect(await record(16000)).toEqual({ clk: 48e6, spiHz: 24e6, peri: 48e6, after: 48e6 });
    const info = await b.ok('INFO');
    expect(Number(info.overrunsTotal)).toBe(0);
    expect(Number(info.recordingCount)).toBe(2);
    expect(b.uart.filter((l) => l === 'recording started')).toHaveLength(2);
  }, 240_000);
});

describe('RP2040 device key on rp2040js', () => {
  it('PROVISION makes a key from the ring oscillator into the last 64 KiB of flash; IDENTITY signs with it after a reboot; a stuck oscillator makes no key', async () => {
    const dir = tempDir('rec-rp2040-');
    const { card } = makeCard(dir);
    const b = boot(card);
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    const hostRandom = randomBytes(32);
    const made = await b.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom }, 20_000);
    expect(made.kind).toBe(KIND.RESPONSE);
    const key = checkIdentity(made.payload, hostRandom);
    expect(key.problems).toEqual([]);
    expect(key.hasKey).toBe(true);
    expect(key.identity.entropySource).toBe(ENTROPY_SOURCE.ROSC);
    expect(key.identity.flags & IDENTITY_FLAGS.HAS_UNIQUE_ID).toBe(IDENTITY_FLAGS.HAS_UNIQUE_ID);
    expect(Buffer.from(key.identity.uniqueId).equals(Buffer.from(DEFAULT_UNIQUE_ID))).toBe(true);
    expect(b.bootrom!.errors).toEqual([]);
    // The seed is in the device's flash, never on the card.
    const nvm = Buffer.from(b.nvm);
    expect(nvm.subarray(0, 4).toString('latin1')).toBe(CARD_LAYOUT.nvmIdentityMagic);
    const seed = nvm.subarray(32, 64);
    expect(Buffer.from(card.image).indexOf(seed)).toBe(-1);
    await b.stop();
    boards.splice(boards.indexOf(b), 1);

    // Power on again with the same flash: the same key answers a new challenge.
    const again = new Board({ firmware, card, nvm });
    boards.push(again);
    await again.until('USB enumeration', () => again.connected, 10_000);
    await again.ok('HELLO', { maxPayload: 4096 });
    const nonce = randomBytes(32);
    const id = checkIdentity((await again.call('IDENTITY', { nonce })).payload, nonce);
    expect(id.problems).toEqual([]);
    expect(id.publicKey!.equals(key.publicKey!)).toBe(true);

    // A new device whose oscillator is stuck: the health checks refuse, and no key is made.
    const stuck = new Board({ firmware, card: makeCard(tempDir('rec-rp2040-')).card, rosc: { stuck: 1 } });
    boards.push(stuck);
    await stuck.until('USB enumeration', () => stuck.connected, 10_000);
    await stuck.ok('HELLO', { maxPayload: 4096 });
    const r = randomBytes(32);
    const refused = checkIdentity((await stuck.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: r }, 20_000)).payload, r);
    expect(refused.hasKey).toBe(false);
    expect(refused.entropyFailed).toBe(true);
  }, 120_000);
});

describe('RP2040 firmware recording on rp2040js', () => {
  it('records 60 emulated seconds, stops, syncs over USB; the audio is the fed signal and the card checks clean', async () => {
    const dir = tempDir('rec-rp2040-');
    const { path, card } = makeCard(dir);
    const signal = new Signal();
    const b = boot(card, signal);
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    await b.ok('SET_TIME', { unixMs: BigInt(Date.UTC(2025, 0, 2, 3, 4, 5)) });
    const wall0 = Date.now();
    const emu0 = b.nowMs;
    const started = await b.ok('RECORD', { action: RECORD_ACTION.START });
    expect(Number(started.number)).toBe(1);
    // Steady on while recording: the main loop sets it in the turn that sent the answer, which
    // the host may read before that turn ends.
    await b.until('the LED on', () => b.ledOn, 50);
    const target = 60 * 16000;
    let info = await b.ok('INFO');
    while (Number(info.currentSamples) < target) {
      await b.sleep(2000);
      info = await b.ok('INFO');
    }
    const stopped = await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 30_000);
    expect(stopped.recState).toBe(REC_STATE.IDLE);
    const recordWall = Date.now() - wall0;
    const recordEmu = b.nowMs - emu0;
    console.log(`rp2040js: ${(recordEmu / 1000).toFixed(1)} s emulated in ${(recordWall / 1000).toFixed(1)} s wall (${(recordEmu / recordWall).toFixed(1)}x), ${(b.instructions / 1e6).toFixed(0)} M instructions, CPU asleep ${((100 * b.sleptNs) / (b.nowMs * 1e6)).toFixed(0)}% of the time`);

    info = await b.ok('INFO');
    expect(Number(info.overrunsTotal)).toBe(0);
    const list = await b.ok('LIST', { afterNumber: 0, maxEntries: 10 });
    const entries = list.entries as Record<string, unknown>[];
    expect(entries).toHaveLength(1);
    const e = entries[0]!;
    expect(e.state).toBe(RECORDING_STATE.FINISHED);
    expect(e.stopReason).toBe(STOP_REASON.HOST);
    expect(Number(e.sampleCount)).toBeGreaterThanOrEqual(target);

    // Sync: the file over USB, checked against its own evidence chunk and the device's hash.
    const file = await syncFile(b, 1, Number(e.size));
    const { data, evid } = parseRecording(file);
    const sha = createHash('sha256').update(data).digest();
    expect((evid.sha256 as Buffer).equals(sha)).toBe(true);
    expect((e.sha256 as Buffer).equals(sha)).toBe(true);
    expect(Number(evid.sampleCount)).toBe(data.length / 2);
    const hash = await b.ok('HASH', { number: 1, algorithm: 1, offset: CARD_LAYOUT.wavDataOffset, length: data.length }, 60_000);
    expect((hash.digest as Buffer).equals(sha)).toBe(true);
    signal.expectContiguous(data);
    await b.stop();

    // The card as a computer sees it: fsck.fat clean, and the same file through mtools.
    writeFileSync(path, card.image);
    const fsck = fsckCheck(path);
    expect(fsck.status, fsck.output).toBe(0);
    const copy = join(dir, 'rec.wav');
    mcopyOut(path, '/RECORDS/REC00001.WAV', copy);
    expect(readFileSync(copy).equals(file)).toBe(true);
    // Wall time: each card byte costs the emulator three alarms (its SPI clocks, the DMA's TX and
    // RX transfers), about 4 MB of them here (recording, sync, HASH); 150 s was too tight under load.
  }, 240_000);

  it('recovers a recording cut by a power cut (the emulator stops mid-recording, boots again on the same card); settings survive a FORMAT', async () => {
    const dir = tempDir('rec-rp2040-');
    const { path, card } = makeCard(dir);
    const signal = new Signal();
    const b = boot(card, signal);
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    await b.press(60); // the button starts a recording
    // Starting preallocates the free space (FAT writes): seconds of emulated time on this card.
    await b.until('the LED steady on (recording)', () => b.ledOn, 10_000);
    expect((await b.ok('INFO')).recState).toBe(REC_STATE.RECORDING);
    let reached = 0;
    while (reached < 12 * 16000) {
      await b.sleep(1000);
      reached = Number((await b.ok('INFO')).currentSamples);
    }
    await b.stop(); // power cut: the CPU stops where it is; the card keeps what it was sent
    boards.splice(boards.indexOf(b), 1);
    card.powerCycle();

    const b2 = boot(card, signal);
    await b2.until('USB enumeration', () => b2.connected, 30_000);
    const info = await b2.ok('HELLO', { maxPayload: 4096 });
    expect(info.recState).toBe(REC_STATE.IDLE);
    const list = await b2.ok('LIST', { afterNumber: 0, maxEntries: 10 });
    const entries = list.entries as Record<string, unknown>[];
    expect(entries).toHaveLength(1);
    const e = entries[0]!;
    expect(e.state).toBe(RECORDING_STATE.FINISHED);
    expect(e.stopReason).toBe(STOP_REASON.POWER_LOSS);
    // At most one second (plus a partial block) lost against what INFO last reported.
    expect(Number(e.sampleCount)).toBeGreaterThanOrEqual(reached - 16000 - 256);
    const file = await syncFile(b2, 1, Number(e.size));
    const { data, evid } = parseRecording(file);
    expect(data.length / 2).toBe(Number(e.sampleCount));
    expect((evid.sha256 as Buffer).equals(createHash('sha256').update(data).digest())).toBe(true);
    signal.expectContiguous(data);
    // Numbers are never reused: the next recording is 2 (the settings survived on the card).
    expect(Number((await b2.ok('INFO')).nextNumber)).toBe(2);
    await b2.stop();
    writeFileSync(path, card.image);
    const fsck = fsckCheck(path);
    expect(fsck.status, fsck.output).toBe(0);

    // FORMAT rewrites the reserved sectors that hold the settings on this card: the port puts them
    // back, so identity and the number floor survive the format and the next power cycle.
    boards.splice(boards.indexOf(b2), 1);
    card.powerCycle();
    const b3 = boot(card);
    await b3.until('USB enumeration', () => b3.connected, 30_000);
    const before = await b3.ok('HELLO', { maxPayload: 4096 });
    await b3.ok('FORMAT', { magic: PROTOCOL.formatMagic, deviceId: before.deviceId! }, 60_000);
    expect(Number((await b3.ok('INFO')).recordingCount)).toBe(0);
    await b3.sleep(200);
    await b3.stop();
    boards.splice(boards.indexOf(b3), 1);
    card.powerCycle();
    const b4 = boot(card);
    await b4.until('USB enumeration', () => b4.connected, 30_000);
    const after = await b4.ok('HELLO', { maxPayload: 4096 });
    expect(after.deviceId).toBe(before.deviceId);
    expect(Number(after.nextNumber)).toBe(2);
    expect(Number(after.recordingCount)).toBe(0);
    await b4.stop();
    writeFileSync(path, card.image);
    const fsck2 = fsckCheck(path);
    expect(fsck2.status, fsck2.output).toBe(0);
  }, 170_000);
});

describe('RP2040 firmware wipe on rp2040js', () => {
  it("WIPE erases the card with the SD card's own erase (CMD32/33/38): no run of the recording left, the settings and the numbering survive, the card checks clean", async () => {
    const dir = tempDir('rec-rp2040-');
    const { path, card } = makeCard(dir);
    const signal = new Signal();
    const b = boot(card, signal);
    await b.until('USB enumeration', () => b.connected, 10_000);
    const hello = await b.ok('HELLO', { maxPayload: 4096 });
    await b.ok('RECORD', { action: RECORD_ACTION.START });
    let info = await b.ok('INFO');
    while (Number(info.currentSamples) < 3 * 16000) {
      await b.sleep(1000);
      info = await b.ok('INFO');
    }
    await b.ok('RECORD', { action: RECORD_ACTION.STOP }, 30_000);
    const e = ((await b.ok('LIST', { afterNumber: 0, maxEntries: 10 })).entries as Record<string, unknown>[])[0]!;
    const { data } = parseRecording(await syncFile(b, 1, Number(e.size)));
    expect(longestSignalRun(Buffer.from(card.image), data)).toBe(data.length / 2);

    const refused = await b.call('WIPE', { magic: PROTOCOL.wipeMagic, recordings: 0, newestNumber: 0, reserved: 0, deviceId: hello.deviceId! });
    expect(refused.kind).toBe(KIND.ERROR);
    const w = await b.ok('WIPE', { magic: PROTOCOL.wipeMagic, recordings: 1, newestNumber: 1, reserved: 0, deviceId: hello.deviceId! }, 120_000);
    expect(w.state).toBe(WIPE_STATE.DONE);
    expect(w.method).toBe(WIPE_METHOD.SD_ERASE);
    expect(card.stats.blocksErased).toBe(Number(w.blocksErased));
    expect(Number(w.blocksErased)).toBeGreaterThan(card.blocks - 64); // all but the settings tail, if hidden
    expect(Number((await b.ok('INFO')).recordingCount)).toBe(0);
    await b.sleep(200);
    await b.stop();
    boards.splice(boards.indexOf(b), 1);
    expect(longestSignalRun(Buffer.from(card.image), data)).toBeLessThan(1600);
    writeFileSync(path, card.image);
    const fsck = fsckCheck(path);
    expect(fsck.status, fsck.output).toBe(0);

    // A power cycle: the same recorder (settings put back), numbers go on, the journal says WIPED.
    card.powerCycle();
    const b2 = boot(card);
    await b2.until('USB enumeration', () => b2.connected, 30_000);
    const after = await b2.ok('HELLO', { maxPayload: 4096 });
    expect(after.deviceId).toBe(hello.deviceId);
    expect(Number(after.nextNumber)).toBe(2);
    const journal = await b2.call('JOURNAL', { fromIndex: 0, maxRecords: 8, reserved: 0 });
    expect(journal.kind).toBe(KIND.RESPONSE);
    const kinds = journalEntriesFromPayload(journal.payload).entries.map((x) => x.record.kind);
    expect(kinds).toEqual([JOURNAL_KIND.EPOCH_START, JOURNAL_KIND.WIPED]);
    await b2.stop();
  }, 150_000);
});

