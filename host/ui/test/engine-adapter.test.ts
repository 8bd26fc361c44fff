import { describe, expect, it } from 'vitest';
import type { EngineEvent, EventListener } from '../../engine/events.js';
import { fromEngine, type EngineLike } from '../engine-adapter.js';

function fakeEngine(over: Partial<EngineLike> = {}) {
  const listeners = new Set<EventListener>();
  const calls: { op: string; arg?: unknown }[] = [];
  const engine: EngineLike = {
    on(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    list: async () => {
      calls.push({ op: 'list' });
      return [];
    },
    sync: async (o) => {
      calls.push({ op: 'sync', arg: o });
      return {};
    },
    verify: async (paths) => {
      calls.push({ op: 'verify', arg: paths });
      return { ok: true, results: [], problems: [] };
    },
    ...over,
  };
  return { engine, calls, listeners };
}

describe('fromEngine', () => {
  it('maps status, sync and delete onto list and sync', async () => {
    const { engine, calls } = fakeEngine();
    const port = fromEngine(engine);
    await port.status?.({});
    await port.sync({ destination: '/lib' });
    await port.deleteSynced({ destination: '/lib', numbers: [1, 2] });
    expect(calls.map((c) => c.op)).toEqual(['list', 'sync', 'sync']);
    expect(calls[1]?.arg).toMatchObject({ dest: '/lib' });
    expect((calls[1]?.arg as { deleteAfterVerify?: boolean }).deleteAfterVerify).toBeUndefined();
    expect(calls[2]?.arg).toMatchObject({ dest: '/lib', deleteAfterVerify: true });
    expect((calls[2]?.arg as { signal?: unknown }).signal).toBeInstanceOf(AbortSignal);
  });

  it('turns library check results into events the UI understands', async () => {
    const { engine } = fakeEngine({
      verify: async () => ({
        ok: false,
        results: [
          { path: '/lib/a.wav', manifestPath: '/lib/a.json', ok: true, number: 1, sha256: 'ab'.repeat(32), problems: [] },
          { path: '/lib/b.wav', manifestPath: '/lib/b.json', ok: false, number: 2, sha256: null, problems: ['the audio does not match its SHA-256'] },
          { path: '/lib/c.wav', manifestPath: '/lib/c.json', ok: false, number: null, sha256: null, problems: ['no sidecar'] },
        ],
        problems: [{ path: '/lib/d.json', problem: 'sidecar without its recording d.wav' }],
      }),
    });
    const port = fromEngine(engine, { now: () => Date.UTC(2025, 0, 1) });
    const seen: EngineEvent[] = [];
    port.on((e) => seen.push(e));
    await port.verify({ destination: '/lib' });
    expect(seen.map((e) => e.type)).toEqual(['file.verified', 'file.failed', 'warning', 'warning']);
    expect(seen[0]).toMatchObject({ number: 1, path: '/lib/a.wav', alreadyPresent: true, at: '2025-01-01T00:00:00.000Z' });
    expect(seen[1]).toMatchObject({ number: 2, code: 'MANIFEST_INVALID', message: 'the audio does not match its SHA-256' });
    expect(seen[2]).toMatchObject({ code: 'MANIFEST_INVALID', message: 'c.wav could not be checked: no sidecar.' });
    expect(seen[3]).toMatchObject({ message: '/lib/d.json: sidecar without its recording d.wav.' });
  });

  it('passes the engine’s own events through, and unsubscribes', () => {
    const { engine, listeners } = fakeEngine();
    const port = fromEngine(engine);
    const seen: string[] = [];
    const off = port.on((e) => seen.push(e.type));
    for (const l of listeners) l({ type: 'note', message: 'hi', at: 'x' });
    off();
    expect(listeners.size).toBe(0);
    expect(seen).toEqual(['note']);
  });

  it('stops a running copy by aborting its signal, and the engine-wide one', async () => {
    let signal: AbortSignal | undefined;
    const { engine } = fakeEngine({
      sync: (o) =>
        new Promise((resolve) => {
          signal = o?.signal;
          signal?.addEventListener('abort', () => resolve({ cancelled: true }));
        }),
    });
    const abort = new AbortController();
    const port = fromEngine(engine, { abort });
    const running = port.sync({});
    await port.stop();
    expect(signal?.aborted).toBe(true);
    expect(abort.signal.aborted).toBe(true);
    await expect(running).resolves.toEqual({ cancelled: true });
  });

  it('does not wait for ever for an operation that ignores the signal', async () => {
    const { engine } = fakeEngine({ sync: () => new Promise(() => undefined) });
    const port = fromEngine(engine, { stopTimeoutMs: 30 });
    void port.sync({});
    const t0 = Date.now();
    await port.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
