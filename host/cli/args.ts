/**
 * Argument parsing on node:util parseArgs: a command word, positional arguments, and the
 * options below. Which options a command accepts is checked by the command (checkFlags).
 */
import { parseArgs as parseNodeArgs, type ParseArgsConfig } from 'node:util';

export interface Parsed {
  command: string | null;
  positional: string[];
  flags: Map<string, string | true>;
}

/** Every option of every command (except `sim`, whose options are the simulator's). */
export const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  json: { type: 'boolean' },
  port: { type: 'string' },
  timeout: { type: 'string' },
  dest: { type: 'string' },
  'delete-after-verify': { type: 'boolean' },
  window: { type: 'string' },
  rate: { type: 'string' },
  discreet: { type: 'string' },
  buttons: { type: 'string' },
  bytes: { type: 'string' },
  yes: { type: 'boolean' },
  reason: { type: 'string' },
  to: { type: 'string' },
  zip: { type: 'string' },
  identity: { type: 'string' },
  library: { type: 'string' },
  copy: { type: 'boolean' },
  passphrase: { type: 'boolean' },
  'passphrase-file': { type: 'string' },
  'discard-unsynced': { type: 'string' },
  from: { type: 'string' },
  'from-marker': { type: 'string' },
  'to-marker': { type: 'string' },
  out: { type: 'string' },
  audacity: { type: 'boolean' },
  webvtt: { type: 'boolean' },
  marker: { type: 'string' },
  text: { type: 'string' },
  // loans and hand-back (issue 16)
  loan: { type: 'string' },
  export: { type: 'string' },
  // provision (issue 16)
  label: { type: 'string' },
  contact: { type: 'string' },
  handout: { type: 'string' },
  recipient: { type: 'string' },
  'min-hours': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** Options every command accepts. */
export const COMMON = ['help', 'json', 'port', 'timeout'];

export class UsageError extends Error {}

/** Node's parse errors in our words: "unknown option --x", "--port needs a value". */
function usageError(e: unknown): UsageError {
  const code = (e as { code?: string }).code;
  const message = (e as Error).message;
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(`unknown option ${option}`);
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return new UsageError(/does not take an argument/.test(message) ? `${option} takes no value` : `${option} needs a value`);
  }
  return new UsageError(message);
}

/**
 * The command word (the first positional argument) and where it is in argv, found without
 * judging the options: `sim` hands everything after it to the simulator unparsed, and a usage
 * error shows the help of the command it was meant for.
 */
export function commandWord(argv: string[]): { command: string | null; index: number } {
  const { tokens } = parseNodeArgs({ args: argv, options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  return first && first.kind === 'positional' ? { command: first.value, index: first.index } : { command: null, index: -1 };
}

export function parseArgs(argv: string[]): Parsed {
  let parsed;
  try {
    parsed = parseNodeArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (e) {
    throw usageError(e);
  }
  const flags = new Map<string, string | true>();
  for (const [key, value] of Object.entries(parsed.values)) {
    if (value !== undefined && value !== false) flags.set(key, value);
  }
  const [command = null, ...positional] = parsed.positionals;
  return { command, positional, flags };
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.flags.get(key);
  if (v === true) throw new UsageError(`--${key} needs a value`);
  return v;
}

export function checkFlags(p: Parsed, allowed: string[]): void {
  for (const k of p.flags.keys()) {
    if (!allowed.includes(k) && !COMMON.includes(k)) throw new UsageError(`unknown option --${k}`);
  }
}
