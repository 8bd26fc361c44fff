/** `recorder card-test` and `recorder settings --buttons` (issue 16) against the fake recorder. */
import { describe, expect, test } from 'vitest';
import { cliIo } from '../engine/testing/cli-io.js';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { run } from './main.js';

describe('recorder card-test', () => {
  test('a good card: the measurements and "will do", exit 0; --json has the result and the verdict', async () => {
    const d = new FakeDevice();
    d.cardFree = 6_000_000_000n;
    const t = cliIo(d);
    expect(await run(['card-test', '--port', d.path], t.io), t.err()).toBe(0);
    expect(t.out()).toContain('Tested:      4.2 MB: written at 9,001 KB/s, read back at 19,973 KB/s');
    expect(t.out()).toContain('Read back:   every byte as written');
    expect(t.out()).toMatch(/The card will do for a loan at 16000 Hz: room for about 52 hours\./);
    expect(Number(d.log.find((l) => l.command === 'CARD_TEST')!.req.bytes)).toBe(0);
    const j = cliIo(d);
    expect(await run(['card-test', '--bytes', '65536', '--port', d.path, '--json'], j.io)).toBe(0);
    expect(j.json().at(-1)).toMatchObject({ type: 'result', command: 'card-test', ok: true, sampleRate: 16000, encrypted: false, result: { testedBytes: 65536, readBackMatched: true }, verdict: { ok: true, problems: [] } });
  });

  test('a slow card that loses bytes, at 48 kHz: each problem with what to do, exit 1', async () => {
    const d = new FakeDevice();
    d.sampleRate = 48000;
    d.cardTest = { writeBytesPerSecond: 200_000, readBytesPerSecond: 900_000, fileSystem: 0, readBackMatched: 0 };
    const t = cliIo(d);
    expect(await run(['card-test', '--port', d.path], t.io)).toBe(1);
    expect(t.out()).toContain('The card will NOT do for a loan at 48000 Hz:');
    expect(t.out()).toContain('did not give back what the recorder wrote');
    expect(t.out()).toMatch(/writes 200 KB\/s; recording at 48000 Hz needs at least 384 KB\/s/);
    expect(t.out()).toContain('What to do: Use a faster memory card');
    const j = cliIo(d);
    expect(await run(['card-test', '--port', d.path, '--json'], j.io)).toBe(1);
    const r = j.json().at(-1) as { ok: boolean; verdict: { problems: { code: string }[] } };
    expect(r.ok).toBe(false);
    // 537 MB free holds under 8 hours at 48 kHz
    expect(r.verdict.problems.map((p) => p.code)).toEqual(['CARD_READBACK_MISMATCH', 'CARD_TOO_SLOW', 'CARD_TOO_SMALL']);
  });

  test('refusals: while recording in words; bad --bytes is a usage error', async () => {
    const d = new FakeDevice();
    d.recState = 1;
    const t = cliIo(d);
    expect(await run(['card-test', '--port', d.path], t.io)).toBe(1);
    expect(t.err()).toMatch(/only between recordings.*Stop the recording/);
    expect(await run(['card-test', '--bytes', 'lots', '--port', d.path], cliIo(d).io)).toBe(2);
    expect(await run(['card-test', '--bytes', String(65 * 1048576), '--port', d.path], cliIo(d).io)).toBe(2);
    expect(await run(['card-test', 'now', '--port', d.path], cliIo(d).io)).toBe(2);
  });
});

describe('recorder settings --buttons, info', () => {
  test('sets no-markers and back; info shows it; a wrong scheme is a usage error', async () => {
    const d = new FakeDevice();
    const j = cliIo(d);
    expect(await run(['settings', '--buttons', 'no-markers', '--port', d.path, '--json'], j.io)).toBe(0);
    expect(j.json().at(-1)).toMatchObject({ command: 'settings', ok: true, buttonScheme: 'no-markers' });
    expect(d.buttonScheme).toBe(1);
    const i = cliIo(d);
    expect(await run(['info', '--port', d.path], i.io)).toBe(0);
    expect(i.out()).toContain('Button:     no-markers (presses while recording do nothing)');
    expect(await run(['settings', '--buttons', 'standard', '--port', d.path], cliIo(d).io)).toBe(0);
    expect(d.buttonScheme).toBe(0);
    expect(await run(['settings', '--buttons', 'quiet', '--port', d.path], cliIo(d).io)).toBe(2);
  });
});
