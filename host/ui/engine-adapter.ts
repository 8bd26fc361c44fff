/**
 * Fits the real engine (host/engine, `createEngine`) to the small EnginePort the UI uses.
 *
 * What the engine offers and how each UI operation maps onto it:
 * - status  → engine.list(): connects, emits device.info and list.received (without library
 *             knowledge, so rows read "on the recorder" until a sync).
 * - sync    → engine.sync({ dest, signal }).
 * - verify  → engine.verify([folder]): returns results without events, so this adapter emits
 *             file.verified / file.failed / warning events for them itself.
 * - delete  → engine.sync({ dest, deleteAfterVerify: true, signal }). The engine has no
 *             "delete these numbers" call: it deletes every recording whose library copy verifies
 *             again. The UI therefore only offers delete when nothing is left to copy, so the
 *             recordings deleted are the ones the person was shown (see state.ts, ask-delete).
 * - stop    → aborts the running operation's signal (and the engine-wide controller, if given),
 *             then waits a little for it to wind down.
 */

import path from 'node:path';
import type { EngineEvent, EventInput, EventListener } from '../engine/events.js';
import type { FileVerification } from '../engine/verify.js';
import type { DeleteRequest, EnginePort, StatusRequest, SyncRequest, VerifyRequest } from './engine-port.js';

/** The parts of host/engine's `Engine` this adapter uses (so tests can pass a fake). */
export interface EngineLike {
  on(listener: EventListener): () => void;
  list(): Promise<unknown>;
  sync(options?: { dest?: string; deleteAfterVerify?: boolean; signal?: AbortSignal }): Promise<unknown>;
  verify(paths: string[]): Promise<{ ok: boolean; results: FileVerification[]; problems: { path: string; problem: string }[] }>;
}

export interface AdapterOptions {
  /** Aborted on stop(); pass the controller whose signal the engine was created with. */
  abort?: AbortController;
  /** Longest stop() waits for the running operation to finish. Default 5 s. */
  stopTimeoutMs?: number;
  now?: () => number;
}

export function fromEngine(engine: EngineLike, options: AdapterOptions = {}): EnginePort {
  const listeners = new Set<EventListener>();
  const now = options.now ?? Date.now;
  let current: { controller: AbortController; done: Promise<unknown> } | null = null;

  const emit = (e: EventInput): void => {
    const ev = { ...e, at: new Date(now()).toISOString() } as EngineEvent;
    for (const l of [...listeners]) l(ev);
  };

  function track<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const done = work(controller.signal);
    const entry = { controller, done };
    current = entry;
    const clear = (): void => {
      if (current === entry) current = null;
    };
    done.then(clear, clear);
    return done;
  }

  return {
    on(listener) {
      listeners.add(listener);
      const off = engine.on(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
    status(_request: StatusRequest) {
      return track(() => engine.list());
    },
    sync(request: SyncRequest) {
      return track((signal) => engine.sync({ dest: request.destination, signal }));
    },
    deleteSynced(request: DeleteRequest) {
      return track((signal) => engine.sync({ dest: request.destination, deleteAfterVerify: true, signal }));
    },
    verify(request: VerifyRequest) {
      return track(async () => {
        const out = await engine.verify([request.destination]);
        for (const r of out.results) {
          if (r.number === null) {
            emit({
              type: 'warning',
              code: 'MANIFEST_INVALID',
              message: `${path.basename(r.path)} could not be checked: ${r.problems.join('; ') || 'its record is missing'}.`,
              action: 'Keep the file and the recorder as they are, and contact your advocate.',
            });
          } else if (r.ok) {
            emit({ type: 'file.verified', number: r.number, path: r.path, manifestPath: r.manifestPath, sha256: r.sha256 ?? '', durationMs: 0, alreadyPresent: true });
          } else {
            emit({
              type: 'file.failed',
              number: r.number,
              code: 'MANIFEST_INVALID',
              message: r.problems.join('; ') || 'the copy does not match its record',
              action: 'Keep the recorder and this file as they are, and contact your advocate.',
              partKept: null,
            });
          }
        }
        for (const p of out.problems) {
          emit({ type: 'warning', code: 'MANIFEST_INVALID', message: `${p.path}: ${p.problem}.`, action: 'Keep the files as they are, and contact your advocate.' });
        }
        return out;
      });
    },
    async stop() {
      const running = current;
      running?.controller.abort();
      options.abort?.abort();
      if (!running) return;
      const limit = options.stopTimeoutMs ?? 5000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        running.done.then(
          () => undefined,
          () => undefined,
        ),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, limit);
        }),
      ]);
      if (timer) clearTimeout(timer);
    },
  };
}
