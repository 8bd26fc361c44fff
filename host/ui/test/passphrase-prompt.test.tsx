/**
 * The interactive app's masked passphrase prompt (issue 18): the view from props (a star per
 * character, never the characters; the wrong-passphrase message; Enter and Esc); the app with the
 * real engine and a protected owner key: a sync asks, a wrong passphrase is said and asked again,
 * the right one decrypts, Esc copies without decrypting; nothing typed is ever on the screen, and
 * the passphrase is in no engine event (what `--json` prints). RECORDER_PASSPHRASE or
 * --passphrase-file still come first: the prompt does not show.
 */
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import { createEngine } from '../../engine/index.js';
import type { EngineEvent } from '../../engine/events.js';
import { createOwnerKey } from '../../engine/privacy/owner-keys.js';
import { recipientBytes } from '../../engine/privacy/recipient.js';
import { FakeDevice } from '../../engine/testing/fake-device.js';
import { App } from '../app.js';
import { PassphrasePrompt } from '../components/PassphrasePrompt.js';
import { PassphraseAsker } from '../passphrase-asker.js';
import { SETTLE, text } from './fixtures.js';

afterEach(() => cleanup());

const PASSPHRASE = 'correct horse battery staple';
const WRONG = 'wrong horse';
const ESC = '\u001b';
const ENTER = '\r';

/** A library whose owner key is protected (work factor 10: 18 takes seconds), a recorder encrypting to it with one recording. */
async function protectedLibrary() {
  const lib = mkdtempSync(join(tmpdir(), 'ui-pass-'));
  const key = await createOwnerKey(lib, Date.now, { passphrase: PASSPHRASE, workFactor: 10 });
  const device = new FakeDevice();
  device.recipient = recipientBytes(key.recipient);
  device.addRecording({ samples: 20_000 });
  const dest = join(lib, 'Kitchen');
  mkdirSync(dest);
  return { lib, dest, device, key };
}

/** The real engine as the app starts it, with the asker as its passphrase source; every event kept. */
function engineWith(k: Awaited<ReturnType<typeof protectedLibrary>>, asker: PassphraseAsker, first?: () => Promise<string | null>) {
  const engine = createEngine({ port: k.device.path, open: k.device.opener, timeoutMs: 60, appVersion: 't', home: k.lib, passphrase: asker.source(first) });
  const events: EngineEvent[] = [];
  engine.on((e) => events.push(e));
  return { engine, events };
}

/** Types a string one key at a time, as a person does. */
async function type(ui: ReturnType<typeof render>, s: string) {
  for (const ch of s) {
    ui.stdin.write(ch);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('the passphrase prompt (view)', () => {
  it('shows a star for each character typed, the key it opens, and Enter and Esc', () => {
    const { lastFrame } = render(<PassphrasePrompt file="/lib/keys/owner-abc.age" recipient="age1qyqszqgpqyqszqgpqyqszqgp" wrong={false} typedLength={4} width={100} />);
    const t = text(lastFrame());
    expect(t).toMatch(/The owner key is protected by a passphrase/);
    expect(t).toMatch(/owner key \/lib\/keys\/owner-abc\.age \(age1qyqszqgpqyqs…\)\./);
    expect(t).toMatch(/Passphrase: \*\*\*\* /);
    expect(t).not.toMatch(/\*\*\*\*\*/);
    expect(t).toMatch(/Enter open the key/);
    expect(t).toMatch(/Esc not now \(encrypted recordings are copied, not decrypted\)/);
    expect(t).not.toMatch(/wrong/);
  });

  it('says when the last passphrase was wrong, with nothing typed yet', () => {
    const t = text(render(<PassphrasePrompt file="/k.age" recipient={null} wrong typedLength={0} />).lastFrame());
    expect(t).toMatch(/That passphrase is wrong \(it is case-sensitive\): nothing was decrypted\. Type it again\./);
    expect(t).toMatch(/Passphrase: Enter open the key/);
  });
});

describe('the app asks for the passphrase when a sync meets a protected owner key', () => {
  it('masked; a wrong one is said and asked again; the right one decrypts; never on the screen or in an event', async () => {
    const k = await protectedLibrary();
    const asker = new PassphraseAsker();
    const { engine, events } = engineWith(k, asker);
    const ui = render(<App engine={engine} destination={k.dest} startWith="sync" passphrase={asker} loadLevels={async () => []} utc />);
    const frames: string[] = [];
    const seen = () => frames.push(text(ui.lastFrame()));
    await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(/Passphrase:/), SETTLE);
    await type(ui, WRONG);
    await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(new RegExp(`Passphrase: \\*{${WRONG.length}} `)), SETTLE);
    seen();
    ui.stdin.write(ENTER);
    await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(/That passphrase is wrong/), SETTLE);
    seen();
    await type(ui, PASSPHRASE + 'x');
    ui.stdin.write('\u007f'); // backspace: the x goes
    await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(new RegExp(`Passphrase: \\*{${PASSPHRASE.length}} `)), SETTLE);
    seen();
    ui.stdin.write(ENTER);
    await vi.waitFor(() => expect(readdirSync(k.dest).filter((n) => n.endsWith('.wav'))).toHaveLength(1), SETTLE);
    await vi.waitFor(() => expect(text(ui.lastFrame())).not.toMatch(/Passphrase:/), SETTLE);
    seen();
    expect(readdirSync(k.dest).filter((n) => n.endsWith('.age'))).toHaveLength(1);
    for (const f of frames) {
      expect(f).not.toContain(PASSPHRASE);
      expect(f).not.toContain(WRONG);
      expect(f).not.toMatch(/horse|staple/);
    }
    const json = events.map((e) => JSON.stringify(e)).join('\n');
    expect(json).not.toMatch(/horse|staple/);
    expect(json).not.toContain('AGE-SECRET-KEY');
    ui.unmount();
    await engine.stop();
  });

  it('Esc: no passphrase; the encrypted recording is copied and verified, not decrypted, and the app says how to give one', async () => {
    const k = await protectedLibrary();
    const asker = new PassphraseAsker();
    const { engine, events } = engineWith(k, asker);
    const ui = render(<App engine={engine} destination={k.dest} startWith="sync" passphrase={asker} loadLevels={async () => []} utc />);
    await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(/Passphrase:/), SETTLE);
    await type(ui, 'abc');
    ui.stdin.write(ESC);
    await vi.waitFor(() => expect(events.some((e) => e.type === 'sync.summary')).toBe(true), SETTLE);
    expect(text(ui.lastFrame())).not.toMatch(/Passphrase:/);
    expect(readdirSync(k.dest).filter((n) => n.endsWith('.age'))).toHaveLength(1);
    expect(readdirSync(k.dest).filter((n) => n.endsWith('.wav'))).toHaveLength(0);
    expect(events.find((e) => e.type === 'sync.summary')).toMatchObject({ ok: true, copied: [1] });
    expect(events.map((e) => JSON.stringify(e)).join('\n')).toMatch(/protected by a passphrase, and none was given[^]*RECORDER_PASSPHRASE/);
    ui.unmount();
    await engine.stop();
  });

  it('RECORDER_PASSPHRASE or --passphrase-file (the source given first) answers: no prompt', async () => {
    const k = await protectedLibrary();
    const asker = new PassphraseAsker();
    const shown = vi.fn();
    asker.subscribe(shown);
    const { engine } = engineWith(k, asker, async () => PASSPHRASE);
    const ui = render(<App engine={engine} destination={k.dest} startWith="sync" passphrase={asker} loadLevels={async () => []} utc />);
    await vi.waitFor(() => expect(readdirSync(k.dest).filter((n) => n.endsWith('.wav'))).toHaveLength(1), SETTLE);
    expect(shown).not.toHaveBeenCalled();
    expect(text(ui.lastFrame())).not.toMatch(/Passphrase:/);
    ui.unmount();
    await engine.stop();
  });
});
