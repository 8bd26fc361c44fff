/**
 * What the interactive UI needs from the engine, and nothing more.
 *
 * The engine knows nothing of Ink. It emits the events of host/engine/events.ts to listeners and
 * offers a few long-running operations; the UI subscribes, folds the events into its state
 * (host/ui/state.ts) and calls the operations when the person presses a key. Any object with
 * this shape will do: the real engine, or a fake in tests.
 *
 * Operations resolve when they have finished (successfully or not: failures are reported as
 * events, e.g. `file.failed`, `error`). A rejected promise means the operation could not run at
 * all; the UI shows the error's message in plain words.
 */

import type { EventListener } from '../engine/events.js';
import type { ExcerptRange, ExcerptResult } from '../engine/export/excerpt.js';
import type { ProvisionRequestUi } from './provision-state.js';

export interface ExcerptRequest {
  /** The library copy (its .wav or .age file). */
  recording: string;
  range: ExcerptRange;
}

export interface SyncRequest {
  /** Library folder the verified copies go to; the engine's default when absent. */
  destination?: string;
  /** Serial port to use; the engine discovers the recorder when absent. */
  port?: string;
}

export interface VerifyRequest {
  /** Library folder whose copies are checked again against their manifests. */
  destination: string;
}

export interface DeleteRequest {
  destination?: string;
  port?: string;
  /**
   * Recordings the person agreed to delete from the recorder. The engine must still check each
   * against its verified copy (and the device refuses unless the SHA-256 matches).
   */
  numbers: number[];
}

export interface StatusRequest {
  destination?: string;
  port?: string;
}

export interface MarkRequest {
  port?: string;
}

/** A marker dropped in the recording being made. */
export interface MarkResult {
  /** The recording it is in. */
  number: number;
  /** Its number in that recording, 1..n. */
  marker: number;
  /** Time into the recording, ms (from the sample offset the recorder took it at). */
  timeMs: number;
}

export interface EnginePort {
  /** Subscribes to engine events; returns a function that unsubscribes. */
  on(listener: EventListener): () => void;
  /**
   * Optional: connect, read INFO, clock and the list of recordings (emitting `device.info`,
   * `clock.offset`, `list.received`, `journal.checked`) without copying anything, so the screen
   * can show the recorder as soon as the app starts.
   */
  status?(request: StatusRequest): Promise<unknown>;
  /** Copies every recording not yet in the library, verifying each. */
  sync(request: SyncRequest): Promise<unknown>;
  /** Checks every copy in the library again (offline: no recorder needed). */
  verify(request: VerifyRequest): Promise<unknown>;
  /** Deletes the given recordings from the recorder, each only if its verified copy is present. */
  deleteSynced(request: DeleteRequest): Promise<unknown>;
  /**
   * Drops a marker in the recording being made, like a short press of the recorder's button.
   * Rejects, saying why, when the recorder is not recording, its recording holds the most
   * markers it can, its software is older than markers, or it cannot be reached.
   */
  mark(request: MarkRequest): Promise<MarkResult>;
  /**
   * Optional: an excerpt of a library copy with its provenance note (the engine verifies the copy
   * first, as `recorder verify` does). Rejects, saying why, when it cannot be made.
   */
  excerpt?(request: ExcerptRequest): Promise<ExcerptResult>;
  /**
   * Optional: sets the recorder up for a family (`recorder provision`, issue 16), reporting each
   * step as provision.step events and the end as provision.done. Rejects, after an `error` event
   * saying why, when a step fails or the recorder is refused.
   */
  provision?(request: ProvisionRequestUi & { port?: string }): Promise<unknown>;
  /** Stops whatever is running and closes the port. Safe to call more than once. */
  stop(): Promise<void> | void;
}
