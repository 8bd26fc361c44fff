/** Engine errors: a ProblemCode, a plain message saying what happened, and what to do. */
import { ERROR_CODE, ERROR_TEXT } from '../../protocol/src/schema.js';
import type { DeviceErrorInfo, ProblemCode } from './events.js';

export class EngineError extends Error {
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly action: string = '',
    readonly deviceError?: DeviceErrorInfo,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The device answered a request with an ERROR frame. */
export class DeviceError extends EngineError {
  constructor(
    readonly info: DeviceErrorInfo,
    readonly command: string,
  ) {
    super(
      info.code === 'BAD_VERSION' ? 'PROTOCOL_VERSION' : 'DEVICE_ERROR',
      `The recorder refused ${command}: ${info.text}.`,
      actionForDeviceError(info.code),
      info,
    );
    this.name = 'DeviceError';
  }
}

const NAMES = new Map<number, string>(Object.entries(ERROR_CODE).map(([k, v]) => [v, k]));

export function deviceErrorInfo(value: number, detail: number): DeviceErrorInfo {
  const code = NAMES.get(value);
  if (code === undefined) return { code: `UNKNOWN(${value})`, value, detail, text: `unknown error ${value}` };
  return { code, value, detail, text: ERROR_TEXT[code as keyof typeof ERROR_CODE] };
}

function actionForDeviceError(code: string): string {
  switch (code) {
    case 'BUSY':
    case 'NOT_FINISHED':
      return 'Wait until the recording has finished, then try again.';
    case 'NO_CARD':
      return 'Put the memory card back in the recorder and try again.';
    case 'CARD_ERROR':
      return 'Do not format the card. Unplug the recorder, re-seat the card, and try again; if it keeps happening, ask for help.';
    case 'CARD_FULL':
      return 'Copy the recordings to this computer, then free space on the recorder.';
    case 'MARKERS_FULL':
      return 'This recording holds as many markers as the recorder keeps; note the time by hand, or stop and start a new recording.';
    case 'BAD_VERSION':
      return 'Update the companion app or the recorder so they match.';
    case 'HASH_MISMATCH':
      return 'Nothing was deleted. Run sync again to make a fresh verified copy.';
    default:
      return 'Try again; if it keeps happening, note the message and ask for help.';
  }
}

/** Maps a Node file-system error to a plain EngineError. */
export function fsError(e: unknown, what: string, where: string): EngineError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new EngineError('DISK_FULL', `The disk is full: could not ${what} in ${where}.`, 'Free some space on this computer (or choose another folder with --dest) and run sync again. The partial copy is kept.');
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new EngineError('DEST_UNWRITABLE', `This computer would not let the app ${what} in ${where} (permission denied or read-only).`, 'Choose a folder you can write to with --dest, or fix its permissions, and run sync again.');
    case 'ELOOP':
      return new EngineError('UNSAFE_PATH', `Refused to ${what}: ${where} is a symbolic link.`, 'Remove or rename the link in the recordings folder and run sync again.');
    case 'ENOENT': // /proc and other kernel folders answer this for a new file, as does a link to nothing
      return new EngineError('DEST_UNWRITABLE', `Could not ${what} in ${where}: that folder does not take new files, or part of its path is missing.`, 'Choose a folder you can write to with --dest and run sync again.');
    case 'EIO':
    case 'ENXIO':
    case 'ENODEV':
    case 'ESTALE': // a disk pulled out (or a network share gone) under files already open
      return new EngineError('DEST_UNWRITABLE', `Could not ${what} in ${where}: the disk stopped answering (was it unplugged?).`, 'Plug the disk back in, or choose another folder with --dest, and run sync again. The recorder keeps its recordings: nothing is deleted from it until a copy is safely verified.');
    case 'ENOTDIR':
    case 'EISDIR':
      return new EngineError('DEST_UNWRITABLE', `Could not ${what}: ${where} is not where a file can go.`, 'Choose another folder with --dest.');
    default:
      return new EngineError('DEST_UNWRITABLE', `Could not ${what} in ${where}: ${(e as Error | undefined)?.message ?? String(e)}.`, 'Check the destination folder and run sync again.');
  }
}

export function toEngineError(e: unknown): EngineError {
  if (e instanceof EngineError) return e;
  return new EngineError('INTERNAL', `Unexpected problem: ${(e as Error | undefined)?.message ?? String(e)}`, 'Note this message and report it to the project.');
}
