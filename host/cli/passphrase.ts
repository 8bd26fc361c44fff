/**
 * Where the command line gets the passphrase of a protected owner key (issue 18): a file
 * (--passphrase-file FILE, for scripts), the environment (RECORDER_PASSPHRASE), or a prompt on
 * the terminal that echoes nothing. Never from the command line itself (it would be in the shell
 * history and in `ps`), and never printed or logged.
 */
import { readFile } from 'node:fs/promises';
import { EngineError } from '../engine/errors.js';
import type { PassphraseSource } from '../engine/privacy/owner-keys.js';

export const PASSPHRASE_ENV = 'RECORDER_PASSPHRASE';

interface PromptIo {
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** A passphrase file's text without its final line break (editors add one). */
async function fromFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new EngineError('OWNER_KEY', `The passphrase file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, 'Give a file that holds only the passphrase, readable by you.');
  }
  const p = text.replace(/\r?\n$/, '');
  if (p === '') throw new EngineError('OWNER_KEY', `The passphrase file ${file} is empty.`, 'Put the passphrase in it (one line), or leave --passphrase-file out to be asked.');
  return p;
}

/** Reads a line from the terminal without echoing it; Ctrl-C stops. */
export function promptHidden(io: PromptIo, question: string): Promise<string> {
  const stdin = io.stdin;
  // Echo off before the question shows: an answer typed as soon as it appears is not echoed.
  const wasRaw = stdin.isRaw;
  stdin.setRawMode(true);
  stdin.resume();
  io.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      io.stderr.write('\n');
    };
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          return resolve(typed);
        }
        if (ch === '\u0003' || ch === '\u0004') {
          done();
          return reject(new EngineError('CANCELLED', 'Stopped: no passphrase was typed.', 'Run the command again when you have it.'));
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * The command line's passphrase source: the file given, else the environment, else the terminal
 * (unless `prompt` is false: the interactive app, whose terminal Ink owns).
 */
export function passphraseSource(io: PromptIo, file: string | undefined, o: { prompt: boolean } = { prompt: true }): PassphraseSource {
  return async ({ purpose, file: keyFile }) => {
    if (file !== undefined) return fromFile(file);
    const env = io.env[PASSPHRASE_ENV];
    if (env !== undefined && env !== '') return env;
    if (!o.prompt || !io.stdin.isTTY || typeof io.stdin.setRawMode !== 'function') return null;
    if (purpose === 'unlock') return promptHidden(io, `Passphrase of the owner key ${keyFile}: `);
    const first = await promptHidden(io, 'Passphrase for the new owner key (nothing shows as you type): ');
    if (first === '') throw new EngineError('OWNER_KEY', 'The passphrase is empty; no key was made.', 'Choose a passphrase of several random words.');
    if ((await promptHidden(io, 'The same passphrase again: ')) !== first) throw new EngineError('OWNER_KEY', 'The two passphrases differ; no key was made.', 'Run `recorder keys new --passphrase` again and type the same passphrase twice.');
    return first;
  };
}
