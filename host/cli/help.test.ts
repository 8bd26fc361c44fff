/**
 * Every option is in --help (issue 15: `--timeout` was not). Which options a command takes is
 * found by running it, not from a list kept beside the code: an option it does not take is
 * refused with "unknown option --x" before anything else happens. Its help must then name each
 * option it takes, and name none it refuses.
 */
import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { EngineError } from '../engine/errors.js';
import { COMMON, OPTIONS } from './args.js';
import { HELP, run, type Io } from './main.js';

const home = mkdtempSync(join(tmpdir(), 'cli-help-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** An Io with no recorder anywhere: discovery finds none and opening a named port fails at once. */
function noRecorder(): { io: Io; err: () => string } {
  const sink = () => new PassThrough() as unknown as NodeJS.WriteStream;
  const stderr = sink();
  let err = '';
  (stderr as unknown as PassThrough).on('data', (b: Buffer) => (err += b));
  return {
    io: {
      stdout: sink(),
      stderr,
      stdin: new PassThrough() as unknown as NodeJS.ReadStream,
      env: { HOME: home },
      engine: {
        home,
        listPorts: async () => [],
        listFallback: async () => [],
        open: async () => {
          throw new EngineError('NO_DEVICE', 'no recorder in this test', '');
        },
      },
    },
    err: () => err,
  };
}

/** A value each string option accepts (the library folders point into the test's home). */
const VALUE: Record<string, string> = { port: '/dev/ttyTEST', timeout: '100', dest: home, library: home, window: '8', rate: '16000', discreet: 'on', to: join(home, 'b'), zip: join(home, 'b.zip'), identity: join(home, 'k.txt'), reason: 'r', 'discard-unsynced': '3' };

/** Runs `recorder COMMAND --NAME [value]` and says whether the command took the option. */
async function takes(command: string, name: keyof typeof OPTIONS): Promise<boolean> {
  const option = OPTIONS[name];
  const args = [command, `--${name}`, ...(option.type === 'string' ? [VALUE[name] ?? 'x'] : [])];
  const t = noRecorder();
  await run(args, t.io);
  return !t.err().includes(`unknown option --${name}`);
}

/** The options a help text names: `--name` words. */
function named(help: string): Set<string> {
  return new Set([...help.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!));
}

describe('recorder --help names every option', () => {
  // help and --version are answered before any command runs (tested below).
  const probed = (Object.keys(OPTIONS) as (keyof typeof OPTIONS)[]).filter((n) => n !== 'help' && n !== 'version');
  const commands = Object.keys(HELP).filter((c) => c !== '');

  test('the general help names the options every command takes, and --version', () => {
    for (const name of [...COMMON, 'version']) expect(named(HELP['']!), `--${name} in the general help`).toContain(name);
  });

  test.each(commands)('%s: its help names each option it takes and none it refuses', async (command) => {
    const help = named(HELP[command]!);
    for (const name of probed) {
      const taken = await takes(command, name);
      if (COMMON.includes(name)) {
        expect(taken, `${command} takes the common option --${name}`).toBe(true);
      } else if (taken) {
        expect(help, `"recorder ${command} --help" names --${name}, which it takes`).toContain(name);
      } else {
        expect(help, `"recorder ${command} --help" names --${name}, which it refuses`).not.toContain(name);
      }
    }
  });

  test('every option is taken by some command (none is parsed for nothing)', async () => {
    for (const name of probed) {
      let any = false;
      for (const command of commands) if (!any && (await takes(command, name))) any = true;
      expect(any, `--${name}`).toBe(true);
    }
  });

  test('--timeout must be a number of milliseconds', async () => {
    const t = noRecorder();
    expect(await run(['info', '--timeout', 'soon'], t.io)).toBe(2);
    expect(t.err()).toMatch(/--timeout is in milliseconds/);
  });
});
