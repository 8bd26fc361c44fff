/**
 * Plain-language wording for problems: what happened, and what to do next.
 *
 * The engine's events already carry a plain `message` and `action`; for the problems a family is
 * most likely to meet the UI uses its own calmer wording (below) and falls back to the engine's
 * words for everything else. Pure data and functions, no Ink.
 */

import type { ProblemCode, StopReasonName } from '../engine/events.js';
import { formatDuration } from './format.js';

export type Tone = 'info' | 'warning' | 'error';

export interface Notice {
  tone: Tone;
  /** What happened, one sentence. */
  title: string;
  /** What to do next, one sentence. May be empty when there is nothing to do. */
  action: string;
  /** Problem code, for tests and for deciding what a later event clears. */
  code?: ProblemCode | 'UNPLUGGED' | 'NOTHING_TO_DELETE' | 'BUSY' | 'ENGINE' | 'MARKED' | 'NO_MARKER';
}

/** Our own wording for the problems people meet most. */
const WORDING: Partial<Record<ProblemCode, { tone: Tone; title: string; action: string }>> = {
  WRONG_KEY: {
    tone: 'error',
    title: 'This recorder is not the one it claims to be: it signs with a different key from before. Nothing was copied.',
    action: 'Keep the recorder as it is and ask for advice. If it was repaired and set up again, re-pin it (recorder devices re-pin).',
  },
  JOURNAL_REPLAYED: {
    tone: 'error',
    title: "The recorder's journal has gone back in time (an older copy of its card?). Nothing was copied.",
    action: 'Keep the recorder and its card exactly as they are and ask for advice.',
  },
  JOURNAL_TAIL_CUT: {
    tone: 'error',
    title: "Entries at the end of the recorder's journal are missing. Nothing was copied.",
    action: 'Keep the recorder and its card exactly as they are and ask for advice.',
  },
  ATTESTATION_INVALID: {
    tone: 'error',
    title: "The recorder's proof of identity failed. Nothing was copied.",
    action: 'Unplug it, plug it back in and press s; if it happens again, ask for advice.',
  },
  DISCONNECTED: {
    tone: 'warning',
    title: 'The recorder was unplugged.',
    action: 'Plug it back in to continue — nothing has been lost.',
  },
  NO_DEVICE: {
    tone: 'warning',
    title: 'No recorder found.',
    action: 'Plug the recorder into this computer with its USB cable, then press s.',
  },
  PORT_NOT_FOUND: {
    tone: 'warning',
    title: 'The recorder is not at the port that was given.',
    action: 'Check the cable, or start the app without --port to find it automatically.',
  },
  PORT_IN_USE: {
    tone: 'warning',
    title: 'Another program is using the recorder.',
    action: 'Close other recorder windows or programs, then press s to try again.',
  },
  PERMISSION_DENIED: {
    tone: 'error',
    title: 'This computer did not allow the app to use the recorder or the folder.',
    action: 'Ask whoever looks after this computer to give you access, then try again.',
  },
  DISK_FULL: {
    tone: 'error',
    title: "This computer's disk is full, so the copy was stopped.",
    action: 'Free up space (or choose another folder), then press s. The recorder still has everything.',
  },
  DEST_UNWRITABLE: {
    tone: 'error',
    title: 'The app cannot save into the recordings folder.',
    action: 'Choose another folder, or ask for help with this one. The recorder still has everything.',
  },
  TIMEOUT: {
    tone: 'warning',
    title: 'The recorder stopped answering.',
    action: 'Unplug it, plug it back in, then press s. Nothing has been lost.',
  },
  NOT_A_RECORDER: {
    tone: 'error',
    title: 'The device on that port is not an evidence recorder.',
    action: 'Plug in the recorder itself, then press s.',
  },
  PROTOCOL_VERSION: {
    tone: 'error',
    title: 'This recorder needs a newer (or older) version of this app.',
    action: 'Keep the recorder as it is and contact your advocate for the right version.',
  },
  HASH_MISMATCH: {
    tone: 'error',
    title: "A copy did not match the recorder's fingerprint, so it was not kept as verified.",
    action: 'Press s to copy it again. The recording is still safe on the recorder.',
  },
  CANCELLED: {
    tone: 'info',
    title: 'Stopped. Anything already copied and verified is safe.',
    action: 'Press s to continue copying whenever you are ready.',
  },
  LOW_BATTERY: {
    tone: 'warning',
    title: "The recorder's battery is low.",
    action: 'Charge it soon; copying still works while it is plugged in.',
  },
  CARD_PROBLEM: {
    tone: 'error',
    title: "There is a problem with the recorder's memory card.",
    action: 'Do not format or remove the card. Keep the recorder and contact your advocate.',
  },
};

const UNPLUGGED: Notice = {
  tone: 'warning',
  title: 'The recorder was unplugged.',
  action: 'Plug it back in to continue — nothing has been lost.',
  code: 'UNPLUGGED',
};

/** The notice for an unplugged recorder (also used for the `link.disconnected` event). */
export function unpluggedNotice(): Notice {
  return { ...UNPLUGGED };
}

/**
 * A notice for a problem code. Our wording when we have it, otherwise the engine's message and
 * action (which are already plain English), otherwise a generic sentence.
 */
export function noticeFor(code: ProblemCode, message?: string, action?: string, tone?: Tone): Notice {
  const own = WORDING[code];
  if (own) return { ...own, tone: tone ?? own.tone, code };
  return {
    tone: tone ?? 'error',
    title: message && message.trim() !== '' ? message : 'Something went wrong.',
    action: action && action.trim() !== '' ? action : 'Try again with s. The recordings are still on the recorder.',
    code,
  };
}

/** Our wording for a failed file, shown under the recording in the list. */
export function failureReason(code: ProblemCode, message: string): string {
  switch (code) {
    case 'HASH_MISMATCH':
      return "the copy did not match the recorder's fingerprint";
    case 'DISCONNECTED':
      return 'the recorder was unplugged while copying';
    case 'DISK_FULL':
      return "this computer's disk is full";
    case 'TIMEOUT':
      return 'the recorder stopped answering';
    case 'WAV_INVALID':
      return 'the file from the recorder is damaged';
    case 'EVIDENCE_MISMATCH':
      return "the file's record does not match the recorder's";
    case 'FILE_CONFLICT':
      return 'a different file with the same name is in the folder';
    case 'CANCELLED':
      return 'stopped before it finished';
    case 'SIGNATURE_INVALID':
    case 'WRONG_KEY':
    case 'TRUSTED_COMMENT_MISMATCH':
    case 'CHECKPOINT_GAP':
      return "the recorder's signature does not vouch for this copy";
    default:
      return message;
  }
}

/** Why a recording stopped, in words; empty when there is nothing worth saying. */
export function stopReasonText(reason: StopReasonName): string {
  switch (reason) {
    case 'card-full':
      return 'stopped: card full';
    case 'low-battery':
      return 'stopped: battery ran low';
    case 'power-loss':
      return 'stopped: power was lost';
    case 'card-error':
      return 'stopped: card problem';
    case 'card-removed':
      return 'stopped: card removed';
    case 'max-length':
      return 'stopped: longest allowed';
    default:
      return '';
  }
}

/** Said after every journal problem: the calm, safe next step. */
export const JOURNAL_ADVICE = 'Keep the recorder and contact your advocate.';

/** The loud sentence for a recording the journal knows nothing about, or that has vanished. */
export function journalMissingSentence(number: number): string {
  return (
    `Recording ${number} is missing from the recorder's journal — it may have been deleted on ` +
    `another computer. ${JOURNAL_ADVICE}`
  );
}

/** The loud sentence for a recording on the recorder that its journal does not vouch for. */
export function journalUnvouchedSentence(number: number): string {
  return `Recording ${number} is on the recorder but missing from its journal, so the recorder cannot vouch for it. ${JOURNAL_ADVICE}`;
}

/** Said whenever the app cannot mark: the button on the recorder still can. */
const PRESS_INSTEAD = "Or press the recorder's button briefly: that marks the moment too.";

/** What the screen says after a marker was dropped from the app (key m). */
export function markedNotice(r: { number: number; marker: number; timeMs: number }): Notice {
  return {
    tone: 'info',
    title: `Marker ${r.marker} dropped at ${formatDuration(Math.floor(r.timeMs / 1000))} in recording ${r.number}.`,
    action: 'It goes on recording. Press m again to mark another moment.',
    code: 'MARKED',
  };
}

/**
 * What the screen says when the engine could not drop a marker, from its error (an EngineError:
 * `code`, `action`, and `deviceError` when the recorder itself refused).
 */
export function markRefusedNotice(err: unknown): Notice {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; action?: unknown; deviceError?: { code?: unknown; detail?: unknown } };
  const refused = (title: string, action: string): Notice => ({ tone: 'warning', title: `No marker was dropped: ${title}`, action, code: 'NO_MARKER' });
  switch (e.deviceError?.code) {
    case 'BAD_STATE':
      return refused('the recorder is not recording.', "Start a recording with the recorder's button first; then m marks the moment.");
    case 'MARKERS_FULL': {
      const most = typeof e.deviceError.detail === 'number' && e.deviceError.detail > 0 ? ` (${e.deviceError.detail})` : '';
      return refused(`this recording already holds the most markers it can${most}.`, 'It goes on recording. To mark more, stop it and start a new recording.');
    }
    case 'UNKNOWN_COMMAND':
      return refused("this recorder's software is older than markers.", "Update the recorder's software to mark from the app.");
  }
  switch (e.code) {
    case 'NO_DEVICE':
    case 'PORT_NOT_FOUND':
      return refused('no recorder is connected.', `Plug it in with its USB cable, then press m again. ${PRESS_INSTEAD}`);
    case 'PORT_IN_USE':
      return refused('another program is using the recorder.', `Close it, then press m again. ${PRESS_INSTEAD}`);
    case 'DISCONNECTED':
    case 'TIMEOUT':
      // The request may have reached the recorder (it is never sent twice): say only what is known.
      return {
        tone: 'warning',
        title: 'The recorder stopped answering, so the app cannot tell whether the marker was dropped.',
        action: 'Plug it back in if it was unplugged; its markers are listed once the recording is copied.',
        code: 'NO_MARKER',
      };
  }
  const message = (e.message === undefined ? String(err) : String(e.message)).trim().replace(/\.?$/, '.');
  const action = typeof e.action === 'string' && e.action.trim() !== '' ? e.action : PRESS_INSTEAD;
  return { tone: 'warning', title: `No marker was dropped. ${message}`, action, code: 'NO_MARKER' };
}
