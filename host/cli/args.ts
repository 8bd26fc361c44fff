/** Minimal argument parsing: a command word, positional arguments, --flags and --key value. */

export interface Parsed {
  command: string | null;
  positional: string[];
  flags: Map<string, string | true>;
}

/** Options that take a value. Everything else starting with -- is a boolean flag. */
const WITH_VALUE = new Set(['port', 'dest', 'rate', 'discreet', 'window', 'timeout', 'image', 'link', 'size-mb', 'mic', 'speed', 'stall-every', 'stall-ms', 'settings', 'sim']);

export class UsageError extends Error {}

export function parseArgs(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let command: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      flags.set('help', true);
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) flags.set(key, a.slice(eq + 1));
      else if (WITH_VALUE.has(key)) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`--${key} needs a value`);
        flags.set(key, v);
      } else flags.set(key, true);
      continue;
    }
    if (command === null) command = a;
    else positional.push(a);
  }
  return { command, positional, flags };
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.flags.get(key);
  if (v === true) throw new UsageError(`--${key} needs a value`);
  return v;
}

export function checkFlags(p: Parsed, allowed: string[]): void {
  for (const k of p.flags.keys()) {
    if (!allowed.includes(k) && !['help', 'json', 'port', 'timeout'].includes(k)) throw new UsageError(`unknown option --${k}`);
  }
}
