/**
 * The passphrase prompt on a real terminal (issue 18): the built CLI under `script` (a pseudo-
 * terminal), `recorder keys new --passphrase` asks twice and shows nothing of what is typed; two
 * different answers make no key; the key made is an age file at age's default work factor (18),
 * which the stock `age -d` opens with that passphrase.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, requireTool, stopAll, tempDir } from './support/sim.js';

afterAll(stopAll);

/** Runs `command` on a pseudo-terminal, typing each answer when its prompt appears; bounded. */
function onTerminal(command: string, answers: [RegExp, string][], timeoutMs = 120_000): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CI: '' } });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${command} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    let screen = '';
    let next = 0;
    const feed = () => {
      while (next < answers.length && answers[next]![0].test(screen)) {
        p.stdin.write(`${answers[next]![1]}\r`);
        screen += '\n'; // a later prompt must appear after this one
        answers[next]![0] = /$^/; // each prompt answered once
        next++;
      }
    };
    p.stdout.on('data', (b: Buffer) => {
      screen += b.toString();
      feed();
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

describe('the passphrase prompt', () => {
  it('asks twice, echoes nothing, and makes a key the stock age opens with the passphrase; two different answers make none', async () => {
    requireTool('script', 'bsdutils');
    requireTool('age', 'age');
    if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
    const dir = tempDir('rec-prompt-');
    const pass = 'quiet lantern ninety';

    const differ = await onTerminal(`${process.execPath} ${CLI} keys new --passphrase --library ${join(dir, 'a')}`, [
      [/Passphrase for the new owner key/, pass],
      [/same passphrase again/, 'something else'],
    ]);
    expect(differ.code).toBe(1);
    expect(differ.screen).toMatch(/The two passphrases differ; no key was made/);
    expect(differ.screen).not.toContain(pass);
    expect(existsSync(join(dir, 'a', 'keys')) ? readdirSync(join(dir, 'a', 'keys')) : []).toEqual([]);

    const lib = join(dir, 'b');
    const made = await onTerminal(`${process.execPath} ${CLI} keys new --passphrase --library ${lib}`, [
      [/Passphrase for the new owner key/, pass],
      [/same passphrase again/, pass],
    ]);
    expect(made.code, made.screen).toBe(0);
    expect(made.screen).not.toContain(pass);
    expect(made.screen).not.toContain('AGE-SECRET-KEY');
    const file = join(lib, 'keys', readdirSync(join(lib, 'keys')).find((n) => n.endsWith('.age'))!);
    expect(readFileSync(file, 'latin1')).toMatch(/-> scrypt \S+ 18\n/);
    const opened = await onTerminal(`age -d ${file}`, [[/passphrase/i, pass]]);
    expect(opened.code).toBe(0);
    expect(opened.screen).toMatch(/AGE-SECRET-KEY-1/);
  }, 240_000);
});
