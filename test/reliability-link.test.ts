/**
 * Link-fault campaign: the built `recorder sync` CLI against the simulator through the fault-
 * injecting relay (test/support/relay.ts), each fault kind on its own and all together. However
 * the link misbehaves, a sync run ends either with every recording copied byte-identical to the
 * card and verified, or with a clear error and a resumable .part file; the next run continues.
 * Checked after every case, with the simulator stopped:
 *
 * - every library .wav equals the card's file (mtools) byte for byte, and `recorder verify` passes;
 * - every .part file left behind (none at the end) is a prefix of the card's file: never a wrong byte;
 * - with --delete-after-verify, the card still holds every recording that is not in the library,
 *   and nothing else on the card changed.
 *
 * Figures (runs, bytes relayed, faults injected) are printed as one JSON line per case
 * (`link-campaign:`) for docs/reliability.md.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recipientBytes } from '../host/engine/privacy/recipient.js';
import { PROTOCOL, RECIPIENT_ACTION, RECIPIENT_FLAGS } from '../protocol/src/schema.js';
import { RawClient } from './support/raw-client.js';
import { Relay, stopAllRelays, type RelayOptions } from './support/relay.js';
import { cardJournal, cardRecordings, checkJournalChain, checkWav, record, scanLibrary } from './support/reliability.js';
import { CLI, fsckCheck, requireSimulator, requireTool, runCli, startCli, startSim, stopAll, tempDir } from './support/sim.js';

let pristine: { dir: string; image: string; files: Map<number, Buffer> };

beforeAll(async () => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
  requireTool('socat', 'socat');
  requireTool('fsck.fat', 'dosfstools');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
  // One card with three recordings (about 0.2, 0.4 and 0.7 MB), copied for every case.
  const dir = tempDir('rec-link-src-');
  const sim = await startSim({ dir, sizeMb: 64, speed: 25 });
  await record(sim, 6, 25);
  await record(sim, 12, 25);
  await record(sim, 22, 25);
  expect(await sim.quit()).toBe(0);
  const files = cardRecordings(sim.image, dir);
  expect([...files.keys()]).toEqual([1, 2, 3]);
  pristine = { dir, image: sim.image, files };
}, 60_000);

afterEach(async () => {
  await stopAllRelays();
});
afterAll(stopAll);

const figures: Record<string, unknown>[] = [];
afterAll(() => {
  for (const f of figures) console.log(`link-campaign: ${JSON.stringify(f)}`);
});

interface Case {
  name: string;
  relay: Partial<RelayOptions>;
  deleteAfterVerify?: boolean;
  /** CLI runs allowed before every recording must be in the library. */
  maxRuns?: number;
  /** Signals sent to the first runs once they have copied `interruptAfter` bytes of a file. */
  interrupt?: NodeJS.Signals[];
  interruptAfter?: number;
  /** The app's per-request timeout, ms (default 400, so faults are recovered from quickly). */
  timeoutMs?: number;
}

const MB = 1 << 20;
const CASES: Case[] = [
  { name: 'bit flips', relay: { corruptRate: 2e-5 } },
  { name: 'dropped bytes', relay: { dropRate: 1e-5 } },
  { name: 'duplicated chunks', relay: { dupRate: 1e-5, dupMaxBytes: 200 }, deleteAfterVerify: true },
  { name: 'stalls longer than the app waits', relay: { stallEveryBytes: 400_000, stallMs: 1200 } },
  { name: 'USB unplugs', relay: { disconnectEveryBytes: 0.4 * MB, disconnectMs: 700 }, deleteAfterVerify: true },
  { name: 'silent link', relay: { disconnectEveryBytes: 0.6 * MB, disconnectMs: 3000, disconnectMode: 'silent' } },
  { name: 'UART pacing (921600 baud), default timeouts', relay: { bytesPerSecond: 92_160 }, timeoutMs: 0 },
  { name: 'app stopped (Ctrl-C) then killed mid-copy, with bit flips', relay: { corruptRate: 1e-5 }, interrupt: ['SIGINT', 'SIGKILL'], interruptAfter: 150_000, maxRuns: 5 },
  {
    name: 'all together',
    relay: {
      bytesPerSecond: 1_000_000,
      corruptRate: 1e-5,
      dropRate: 5e-6,
      dupRate: 5e-6,
      stallEveryBytes: 400_000,
      stallMs: 1000,
      disconnectEveryBytes: 0.5 * MB,
      disconnectMs: 700,
    },
    deleteAfterVerify: true,
  },
];

describe('link-fault campaign: recorder sync through the fault-injecting relay', () => {
  CASES.forEach((c, i) => {
    it(
      c.name,
      async () => {
        const dir = tempDir('rec-link-');
        const image = join(dir, 'card.img');
        copyFileSync(pristine.image, image);
        copyFileSync(`${pristine.image}.settings`, `${image}.settings`);
        const lib = join(dir, 'library');
        const sim = await startSim({ dir, image, speed: 1, timeoutMs: 170_000 });
        const relay = await Relay.start({ devicePath: sim.link, appLink: join(dir, 'app-tty'), seed: 1000 + i, timeoutMs: 170_000, ...c.relay });

        const runs: { code: number | null; ok: boolean; error?: string }[] = [];
        const seen: Record<string, number> = {};
        for (let run = 0; run < (c.maxRuns ?? 4); run++) {
          const args = ['sync', '--port', relay.appLink, '--dest', lib, '--json'];
          const timeout = c.timeoutMs ?? 400;
          if (timeout) args.push('--timeout', String(timeout));
          if (c.deleteAfterVerify) args.push('--delete-after-verify');
          const cli = startCli(args, 150_000);
          const sig = c.interrupt?.[run];
          if (sig) {
            await cli.waitFor((e) => e.type === 'file.progress' && (e.bytes as number) >= (c.interruptAfter ?? 0) * (run + 1), 60_000);
            cli.signal(sig);
          }
          const code = await cli.done;
          for (const e of cli.events) seen[e.type as string] = (seen[e.type as string] ?? 0) + 1;
          const result = cli.events.at(-1) as { type: string; ok: boolean; result?: { failed: { code: string; message: string }[] }; code?: string; message?: string } | undefined;
          if (sig === 'SIGKILL') {
            runs.push({ code, ok: false, error: 'killed' });
          } else {
            // Every run ends with a result line: success, or a failure that says what happened.
            expect(result?.type, cli.stderr.join('')).toBe('result');
            const error = result!.ok ? undefined : (result!.result?.failed[0]?.code ?? result!.code ?? (code === 130 ? 'CANCELLED' : undefined));
            if (!result!.ok) expect(error, JSON.stringify(result)).toBeTruthy();
            if (sig === 'SIGINT') expect(code).toBe(130);
            runs.push({ code, ok: result!.ok, error });
          }
          // Whatever the outcome, nothing wrong is in the library, and partial copies are prefixes.
          checkLibraryAgainst(lib, pristine.files);
          if (code === 0) break;
          // A failed run keeps what it copied; the next run resumes it.
        }
        const stats = relay.stats();
        await relay.stop();
        expect(await sim.quit()).toBe(0);
        const events = Object.fromEntries(['file.retry', 'link.noise', 'link.disconnected', 'link.reconnected', 'file.resumed', 'file.restarted', 'file.deleted'].map((k) => [k, seen[k] ?? 0]));
        figures.push({ case: c.name, runs: runs.length, outcomes: runs.map((r) => (r.ok ? 'ok' : r.error)), events, stats });

        expect(runs.at(-1)!.code, JSON.stringify(runs)).toBe(0);
        const { items, others } = scanLibrary(lib);
        expect([...items.keys()].sort()).toEqual([1, 2, 3]);
        expect(others, 'no .part or temporary files left').toEqual([]);
        checkLibraryAgainst(lib, pristine.files);
        const verify = await runCli(['verify', lib, '--json']);
        expect(verify.code, verify.stdout).toBe(0);

        // The card: untouched except for deletions of verified recordings.
        const after = cardRecordings(image, dir);
        for (const [n, bytes] of after) expect(bytes.equals(pristine.files.get(n)!), `recording ${n} changed on the card`).toBe(true);
        for (const n of pristine.files.keys()) {
          if (!after.has(n)) expect(items.has(n), `recording ${n} was deleted from the card but is not in the library`).toBe(true);
        }
        if (c.deleteAfterVerify) expect(after.size).toBe(0);
        else expect(after.size).toBe(3);
        expect(checkJournalChain(cardJournal(image, dir)).map((r) => r.number)).toEqual([1, 2, 3]);
        const fsck = fsckCheck(image);
        expect(fsck.status, fsck.output).toBe(0);
        // The fault was really exercised.
        if (c.relay.corruptRate) expect(stats.toApp.corrupted + stats.toDevice.corrupted).toBeGreaterThan(0);
        if (c.relay.dropRate) expect(stats.toApp.dropped + stats.toDevice.dropped).toBeGreaterThan(0);
        if (c.relay.dupRate) expect(stats.toApp.duplicatedChunks + stats.toDevice.duplicatedChunks).toBeGreaterThan(0);
        if (c.relay.stallEveryBytes) expect(stats.toApp.stalls).toBeGreaterThan(0);
        if (c.relay.disconnectEveryBytes) {
          expect(stats.disconnects).toBeGreaterThan(0);
          expect(seen['link.reconnected'] ?? 0).toBeGreaterThan(0);
        }
        if (c.interrupt) expect(seen['file.resumed'] ?? 0, 'an interrupted copy was resumed').toBeGreaterThan(0);
      },
      180_000,
    );
  });
});

/** Every library .wav equals the card's file; every .part is a prefix of it. */
function checkLibraryAgainst(lib: string, card: Map<number, Buffer>): void {
  const { items, others } = scanLibrary(lib);
  for (const [n, item] of items) {
    const copy = readFileSync(item.wav);
    const original = card.get(n);
    expect(original, `library has recording ${n} that the card never had`).toBeDefined();
    expect(copy.equals(original!), `library copy of recording ${n} differs from the card`).toBe(true);
    expect(checkWav(copy).ok).toBe(true);
  }
  for (const o of others) {
    if (!o.endsWith('.wav.part')) continue;
    const m = /_(\d+)(?:-\d+)?\.wav\.part$/.exec(o);
    expect(m, o).not.toBeNull();
    const part = readFileSync(join(lib, o));
    const original = card.get(Number(m![1]))!;
    expect(part.length).toBeLessThanOrEqual(original.length);
    expect(part.equals(original.subarray(0, part.length)), `${o} is not a prefix of the card's file`).toBe(true);
  }
}

/**
 * The key exchange over a faulty link: `recorder recipient set age1...` through the relay, each
 * trial from a recorder without a recipient. However the link misbehaves, the recorder ends up
 * holding exactly the key given or none (never another key: a damaged SET is refused by its CRC),
 * and the app says which: success only when the recorder holds the key, otherwise a result that
 * fails in words (a code and a sentence, no stack trace). Checked after each trial directly on the
 * simulator's link (SET_RECIPIENT GET), then cleared for the next trial; a last run on a clean
 * link sets it.
 */
describe('link-fault campaign: setting the owner key (SET_RECIPIENT) through the relay', () => {
  it('ends with the owner key set exactly as given or not set and said so, never another key', async () => {
    requireTool('age-keygen', 'age');
    const dir = tempDir('rec-link-key-');
    const keyFile = join(dir, 'owner.txt');
    expect(spawnSync('age-keygen', ['-o', keyFile]).status).toBe(0);
    const recipient = /# public key: (age1[a-z0-9]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!;
    const want = recipientBytes(recipient)!;
    const sim = await startSim({ dir, sizeMb: 64, speed: 1, timeoutMs: 170_000 });
    const trials: { name: string; relay: Partial<RelayOptions> }[] = [
      ...[1, 2, 3, 4, 5, 6].map((s) => ({ name: `bit flips ${s}`, relay: { corruptRate: 4e-3, seed: 2000 + s } })),
      ...[1, 2, 3, 4].map((s) => ({ name: `dropped bytes ${s}`, relay: { dropRate: 4e-3, seed: 2100 + s } })),
      // Only the answers damaged: the recorder takes every SET it is sent.
      ...[1, 2, 3, 4, 5, 6].map((s) => ({ name: `answers damaged ${s}`, relay: { toApp: { corruptRate: 6e-3 }, seed: 2300 + s } })),
      ...KEY_EXCHANGE_UNPLUG_AT.map((n) => ({ name: `unplug after ${n} bytes`, relay: { disconnectEveryBytes: n, disconnectMs: 400, seed: 2200 + n } })),
    ];
    const outcomes: Record<string, number> = {};
    let faults = 0;
    let unplugs = 0;
    for (const t of trials) {
      const relay = await Relay.start({ devicePath: sim.link, appLink: join(dir, 'app-tty'), timeoutMs: 60_000, ...t.relay });
      const cli = startCli(['recipient', 'set', recipient, '--port', relay.appLink, '--library', join(dir, 'library'), '--json', '--timeout', '400'], 50_000);
      const code = await cli.done;
      const stats = relay.stats();
      faults += stats.faults;
      unplugs += stats.disconnects;
      await relay.stop();
      const result = cli.events.findLast((e) => e.type === 'result') as { ok: boolean; recipient?: string; code?: string; message?: string } | undefined;
      expect(result, `${t.name}: no result line; ${cli.stderr.join('').slice(-800)}`).toBeDefined();
      expect(cli.stderr.join(''), `${t.name}: a stack trace`).not.toMatch(/^\s+at /m);
      const held = await deviceRecipient(sim.link);
      // Never another key: the recorder holds the one given, or none.
      expect(held === null || held.equals(want), `${t.name}: the recorder holds ${held?.toString('hex')}`).toBe(true);
      let outcome: string;
      if (result!.ok) {
        expect(code, t.name).toBe(0);
        expect(result!.recipient, t.name).toBe(recipient);
        expect(held, `${t.name}: the app said set, the recorder holds none`).not.toBeNull();
        outcome = 'set';
      } else {
        expect(code, t.name).not.toBe(0);
        expect(result!.code, `${t.name}: ${JSON.stringify(result)}`).toMatch(/^[A-Z_]+$/);
        expect(result!.message?.length ?? 0, `${t.name}: ${JSON.stringify(result)}`).toBeGreaterThan(20);
        outcome = `failed (${result!.code}), ${held ? 'set' : 'not set'}`;
      }
      // A damaged request or answer is sent again (SET is idempotent), so the app fails with the
      // key set only when the cable went with the recorder's answer: it cannot know then.
      if (!result!.ok && held) expect(stats.disconnects, `${t.name}: the app failed (${result!.code}) although the recorder took the key, with no unplug`).toBeGreaterThan(0);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (held) await clearRecipient(sim.link);
    }
    figures.push({ case: 'key exchange (recipient set)', trials: trials.length, faults, unplugs, outcomes });
    // On a clean link the app sets it, and reads it back.
    const set = await runCli(['recipient', 'set', recipient, '--port', sim.link, '--library', join(dir, 'library'), '--json']);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    expect((await deviceRecipient(sim.link))?.equals(want)).toBe(true);
    expect(await sim.quit()).toBe(0);
    expect(faults).toBeGreaterThan(trials.length);
    expect(unplugs).toBe(KEY_EXCHANGE_UNPLUG_AT.length);
  }, 180_000);
});

/**
 * Where the key-exchange trials pull the cable, in bytes relayed both ways: in HELLO (19 bytes)
 * and its answer (154: to 173), in SET_RECIPIENT (50: to 223), in its answer (to 273).
 */
const KEY_EXCHANGE_UNPLUG_AT = [20, 60, 110, 160, 200, 220, 235, 250, 265];

/**
 * A client straight on the simulator's link; a leading delimiter first ends whatever part of a
 * frame the faulty link left in the recorder's receiver.
 */
async function openDirect(link: string): Promise<RawClient> {
  const c = await RawClient.open(link);
  await c.writeRaw(Buffer.from([PROTOCOL.delimiter]));
  return c;
}

/** The recipient the simulator holds (SET_RECIPIENT GET straight on its link), or null. */
async function deviceRecipient(link: string): Promise<Buffer | null> {
  const c = await openDirect(link);
  try {
    const r = (await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.GET, reserved: Buffer.alloc(3), recipient: Buffer.alloc(32) })) as { flags: number; recipient: Buffer };
    if (r.flags & RECIPIENT_FLAGS.SET) return r.recipient;
    expect(r.recipient.equals(Buffer.alloc(32)), 'a recipient not set is all zero').toBe(true);
    return null;
  } finally {
    await c.close();
  }
}

async function clearRecipient(link: string): Promise<void> {
  const c = await openDirect(link);
  try {
    await c.ok('SET_RECIPIENT', { action: RECIPIENT_ACTION.CLEAR, reserved: Buffer.alloc(3), recipient: Buffer.alloc(32) });
  } finally {
    await c.close();
  }
}
