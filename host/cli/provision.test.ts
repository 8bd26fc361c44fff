/** `recorder provision` (issue 16) on the command line, against the fake recorder. */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadFleet } from '../engine/fleet.js';
import { realFs } from '../engine/library.js';
import { recipientString } from '../engine/privacy/recipient.js';
import { cliIo } from '../engine/testing/cli-io.js';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { run } from './main.js';

async function cli(args: string[], device?: FakeDevice) {
  const t = cliIo(device);
  const code = await run(args, t.io);
  return { code, out: t.out(), err: t.err(), json: () => t.json() };
}

const lib = () => mkdtempSync(join(tmpdir(), 'cli-provision-'));

describe('recorder provision', () => {
  test('sets the recorder up, opens the loan, and says the fingerprint and where the hand-out is', async () => {
    const library = lib();
    await cli(['keys', 'new', '--library', library]);
    const d = new FakeDevice();
    d.cardFree = 4n << 30n; // 4 GiB: 37 hours at 16 kHz
    d.cardCapacity = 8n << 30n;
    d.clockSet = false;
    const r = await cli(['provision', '--loan', 'ADV-21', '--discreet', 'on', '--contact', 'Sam 07700 900123', '--library', library, '--port', d.path], d);
    expect(r.code, r.out + r.err).toBe(0);
    expect(d.label).toBe('ADV-21');
    expect(d.discreet).toBe(true);
    expect(d.clockSet).toBe(true);
    const fleet = await loadFleet(realFs, library);
    expect(fleet.loans).toEqual([expect.objectContaining({ reference: 'ADV-21', deviceId: '123456789abcdef0' })]);
    const key = /Owner key: {3}(age1\S+),/.exec(r.out)![1]!;
    expect(recipientString(d.recipient!)).toBe(key);
    // each step said once, the connection said once
    expect(r.out.match(/^Connected on /gm)).toHaveLength(1);
    for (const s of ['Checking the recorder', 'Naming the recorder "ADV-21".', "Setting the recorder's clock", 'Loan ADV-21 is open']) expect(r.out).toContain(s);
    expect(r.out).toMatch(/Fingerprint: [0-9A-F]{4} [0-9A-F]{4} [0-9A-F]{4} [0-9A-F]{4} {3}\(write it on the case/);
    const pdf = /Hand-out: {4}(\S+\.pdf)/.exec(r.out)![1]!;
    expect(statSync(pdf).mode & 0o777).toBe(0o600);
    const text = readFileSync(pdf.replace(/\.pdf$/, '.txt'), 'utf8');
    expect(text).toContain('Sam 07700 900123');
    expect(text).toContain('ADV-21');
  });

  test('--json: every step as an event, and the result', async () => {
    const library = lib();
    const d = new FakeDevice();
    const r = await cli(['provision', '--loan', 'ADV-22', '--rate', '8000', '--buttons', 'no-markers', '--handout', join(library, 'sheet'), '--library', library, '--port', d.path, '--json'], d);
    expect(r.code, r.out + r.err).toBe(0);
    const lines = r.json();
    const steps = lines.filter((l) => l.type === 'provision.step' && l.state === 'done').map((l) => l.step);
    expect(steps).toEqual(['check', 'card', 'owner-key', 'label', 'clock', 'settings', 'fingerprint', 'loan', 'handout']);
    const result = lines.at(-1) as { type: string; ok: boolean; result: { settings: { sampleRate: number }; handout: { pdf: string }; ownerKey: { created: boolean } } };
    expect(result).toMatchObject({ type: 'result', command: 'provision', ok: true });
    expect(result.result.settings.sampleRate).toBe(8000);
    expect(result.result.ownerKey.created).toBe(true); // the library had no owner key
    expect(result.result.handout.pdf).toBe(join(library, 'sheet.pdf'));
    expect(d.sampleRate).toBe(8000);
    expect(d.buttonScheme).toBe(1);
  });

  test('a card too slow for the rate is refused after the test, before any setting', async () => {
    const library = lib();
    const d = new FakeDevice();
    d.cardTest = { ...d.cardTest, writeBytesPerSecond: 40_000 };
    const r = await cli(['provision', '--loan', 'ADV-24', '--library', library, '--port', d.path], d);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/The memory card writes 40 KB\/s; recording at 16000 Hz needs at least 128 KB\/s/);
    expect(d.log.map((l) => l.command)).toContain('CARD_TEST');
    expect(d.log.map((l) => l.command)).not.toContain('SET_RECIPIENT');
    expect(d.label).toBe('Kitchen');
  });

  test('a recorder with recordings on it is refused (exit 1), nothing changed, pointing to handback', async () => {
    const library = lib();
    const d = new FakeDevice();
    d.addRecording();
    const r = await cli(['provision', '--loan', 'ADV-23', '--library', library, '--port', d.path], d);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/still holds 1 recording\(s\) from its last loan/);
    expect(r.err).toContain('recorder handback');
    expect(r.out).toMatch(/Provisioning stopped: Provisioning stopped while checking the recorder: .* Nothing on the recorder was changed\./);
    expect(d.label).toBe('Kitchen');
    expect(d.log.map((l) => l.command)).not.toContain('SET_LABEL');
    expect((await loadFleet(realFs, library)).loans).toEqual([]);
  });

  test('usage: --loan is required; --rate, --discreet and --buttons take only their values', async () => {
    for (const [args, msg] of [
      [['provision'], /needs --loan REF/],
      [['provision', '--loan', 'A', '--rate', '44100'], /--rate must be one of/],
      [['provision', '--loan', 'A', '--discreet', 'yes'], /--discreet must be on or off/],
      [['provision', '--loan', 'A', '--buttons', 'none'], /--buttons must be standard or no-markers/],
      [['provision', 'ADV-1'], /takes no arguments/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err).toContain('Usage: recorder provision --loan REF');
    }
  });
});
