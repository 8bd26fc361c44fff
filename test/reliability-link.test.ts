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
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
