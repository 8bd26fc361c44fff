import { describe, expect, test } from 'vitest';
import { encodeFrame, encodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, COMMANDS, ERROR_CODE, KIND, SETTINGS_MASK } from '../../protocol/src/schema.js';
import { CARD_SPEED_MARGIN, cardTestTimeoutMs, cardVerdict, type CardTestResult } from './card-test.js';
import { setup } from './testing/harness.js';

const good: CardTestResult = {
  capacityBytes: 16e9,
  freeBytes: 15e9,
  testedBytes: 4 * 1048576,
  writeBytesPerSecond: 5_000_000,
  readBytesPerSecond: 10_000_000,
  elapsedMs: 1300,
  fileSystem: 'ok',
  readBackMatched: true,
};

describe('cardVerdict', () => {
  test('a fast, large, sound card is fine', () => {
    expect(cardVerdict(good, { sampleRate: 48000, encrypted: true })).toEqual({ ok: true, problems: [] });
  });

  test('too slow: the write rate is below the margin times the audio rate, at the boundary exactly', () => {
    const need = 16000 * 2 * CARD_SPEED_MARGIN;
    expect(cardVerdict({ ...good, writeBytesPerSecond: need }, { sampleRate: 16000, encrypted: false }).ok).toBe(true);
    const v = cardVerdict({ ...good, writeBytesPerSecond: need - 1 }, { sampleRate: 16000, encrypted: false });
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['CARD_TOO_SLOW']);
    expect(v.problems[0]!.message).toContain('16000 Hz needs at least 128 KB/s');
    // the same card is fine at 8 kHz, and too slow at 48 kHz, where the advice names the rate
    expect(cardVerdict({ ...good, writeBytesPerSecond: need - 1 }, { sampleRate: 8000, encrypted: false }).ok).toBe(true);
    expect(cardVerdict({ ...good, writeBytesPerSecond: need }, { sampleRate: 48000, encrypted: false }).problems[0]!.action).toContain('lower sample rate');
  });

  test('too small: free space for less than the minimum hours (default 8)', () => {
    const eightHours = 16000 * 2 * 3600 * 8;
    expect(cardVerdict({ ...good, freeBytes: eightHours }, { sampleRate: 16000, encrypted: false }).ok).toBe(true);
    const v = cardVerdict({ ...good, freeBytes: eightHours - 1 }, { sampleRate: 16000, encrypted: false });
    expect(v.problems.map((p) => p.code)).toEqual(['CARD_TOO_SMALL']);
    expect(v.problems[0]!.message).toContain('about 7.9 hours');
    expect(cardVerdict({ ...good, freeBytes: eightHours - 1 }, { sampleRate: 16000, encrypted: false, minimumHours: 4 }).ok).toBe(true);
    // encryption's tags make the same space hold a little less
    expect(cardVerdict({ ...good, freeBytes: eightHours }, { sampleRate: 16000, encrypted: true }).ok).toBe(false);
  });

  test('a read-back mismatch and a damaged file system are problems; a repaired one is not', () => {
    const v = cardVerdict({ ...good, readBackMatched: false, fileSystem: 'damaged' }, { sampleRate: 16000, encrypted: false });
    expect(v.problems.map((p) => p.code)).toEqual(['CARD_READBACK_MISMATCH', 'CARD_DAMAGED']);
    for (const p of v.problems) {
      expect(p.message.length).toBeGreaterThan(20);
      expect(p.action.length).toBeGreaterThan(20);
    }
    expect(cardVerdict({ ...good, fileSystem: 'repaired' }, { sampleRate: 16000, encrypted: false }).ok).toBe(true);
  });

  test('the request waits for the slowest card to write and read the bytes', () => {
    expect(cardTestTimeoutMs(0, 2000)).toBe(cardTestTimeoutMs(CARD_LAYOUT.cardTestDefaultBytes, 2000));
    expect(cardTestTimeoutMs(1_000_000, 2000)).toBe(2000 + 40_000);
  });
});

describe('engine.cardTest and the button scheme', () => {
  test('cardTest returns the device\'s measurements', async () => {
    const { engine, device } = setup();
    device.cardTest = { writeBytesPerSecond: 100_000, readBytesPerSecond: 400_000, fileSystem: 1, readBackMatched: 0 };
    const r = await engine.cardTest({ bytes: 1000 });
    expect(r).toEqual({ capacityBytes: 2 ** 30, freeBytes: 2 ** 29, testedBytes: 1024, writeBytesPerSecond: 102400, readBytesPerSecond: 341333, elapsedMs: 13, fileSystem: 'repaired', readBackMatched: false });
    expect(Number(device.log.find((l) => l.command === 'CARD_TEST')!.req.bytes)).toBe(1000);
  });

  test('cardTest while recording says to stop first', async () => {
    const { engine, device } = setup();
    device.recState = 1;
    await expect(engine.cardTest()).rejects.toThrow(/only between recordings/);
  });

  test('settings sets and reports the button scheme; info shows it', async () => {
    const { engine, device } = setup();
    expect((await engine.settings()).buttonScheme).toBe('standard');
    expect(await engine.settings({ buttonScheme: 'no-markers' })).toEqual({ sampleRate: 16000, discreet: false, buttonScheme: 'no-markers' });
    expect(device.buttonScheme).toBe(1);
    expect((await engine.info()).buttonScheme).toBe('no-markers');
    // changing another setting leaves the scheme alone
    expect((await engine.settings({ discreet: true })).buttonScheme).toBe('no-markers');
  });
});

describe('a recorder from before button schemes', () => {
  test('refuses the scheme bit: the engine says its software is older', async () => {
    const { engine, device } = setup();
    const answer = device.handle.bind(device);
    // As core/link/server.c before schemes: a set mask bit it does not know is BAD_ARGUMENT, detail 0.
    device.handle = (f) =>
      f.command === COMMANDS.SETTINGS.id && (f.payload[0]! & SETTINGS_MASK.BUTTON_SCHEME) !== 0
        ? [encodeFrame({ kind: KIND.ERROR, seq: f.seq, command: f.command, payload: encodeStruct('ERROR', { code: ERROR_CODE.BAD_ARGUMENT, reserved: 0, detail: 0 }) })]
        : answer(f);
    await expect(engine.settings({ buttonScheme: 'no-markers' })).rejects.toThrow(/older than button schemes/);
  });
});
