import { afterEach, describe, expect, it } from 'vitest';
import { quitWith, seededRandom, simulatorArgs, spawnLines, stopAllProcesses } from './driver.js';

// Small node scripts stand in for the simulator: the driver only sees lines, signals and exits.
const node = (script: string, timeoutMs = 20_000) => spawnLines(process.execPath, ['-e', script], { name: 'child', timeoutMs });

afterEach(() => stopAllProcesses(1000));

describe('spawnLines', () => {
  it('waits for a line at or after an index, not for an earlier one', async () => {
    const p = node(`console.log('ready'); process.stdin.on('data', (d) => console.log('got ' + d.toString().trim()));`);
    await p.waitLine(/^ready$/);
    p.send('one');
    await p.waitLine(/^got one$/);
    const from = p.lines.length;
    // "got" is already there, but before `from`: the wait must be for the next one.
    const next = p.waitLine(/^got/, { from });
    p.send('two');
    expect(await next).toBe('got two');
    expect((await quitWith(p, 'x', 100)).signal).toBe('SIGKILL');
  });

  it('reports a crash with its signal and stderr, and rejects a pending wait', async () => {
    const p = node(`console.error('boom: about to crash'); setTimeout(() => process.kill(process.pid, 'SIGSEGV'), 50);`);
    await expect(p.waitLine(/never/)).rejects.toThrow(/killed by SIGSEGV.*boom: about to crash/s);
    expect(p.alive).toBe(false);
    expect(p.describe()).toMatch(/child was killed by SIGSEGV/);
  });

  it('reports an exit code and keeps a last line without a newline', async () => {
    const p = node(`process.stdout.write('a\\nno newline'); process.exitCode = 3;`);
    expect((await p.exit).code).toBe(3);
    expect(p.lines).toEqual(['a', 'no newline']);
    expect(p.describe()).toMatch(/exited with code 3/);
  });

  it('stops with SIGTERM, then SIGKILL when SIGTERM is ignored', async () => {
    const polite = node(`console.log('up'); setInterval(() => {}, 1000);`);
    const stubborn = node(`process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);`);
    await polite.waitLine(/up/);
    await stubborn.waitLine(/up/);
    expect((await polite.stop(5000)).signal).toBe('SIGTERM');
    expect((await stubborn.stop(300)).signal).toBe('SIGKILL');
  });

  it('kills a process at its time limit and says so', async () => {
    const p = node(`setInterval(() => {}, 1000);`, 300);
    await p.exit;
    expect(p.describe()).toMatch(/killed after its time limit of 300 ms/);
  });

  it('stopAllProcesses leaves nothing running', async () => {
    const a = node(`setInterval(() => {}, 1000);`);
    const b = node(`process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`);
    await stopAllProcesses(300);
    expect(a.alive).toBe(false);
    expect(b.alive).toBe(false);
  });

  it('names a binary that cannot be started', async () => {
    const p = spawnLines('/nonexistent/recorder-sim', []);
    await p.exit;
    expect(p.describe()).toMatch(/cannot start \/nonexistent\/recorder-sim/);
  });
});

describe('simulator command line and seeded random', () => {
  it('passes the options as the simulator spells them', () => {
    expect(simulatorArgs({ image: 'c.img', link: 'tty', speed: 20, stallEvery: 40, quiet: true, extraArgs: ['--verbose'] })).toEqual([
      '--image', 'c.img', '--link', 'tty', '--size-mb', '128', '--mic', 'ramp', '--speed', '20', '--stall-every', '40', '--stall-ms', '500', '--quiet', '--verbose',
    ]);
  });

  it('gives the same numbers for the same seed (mulberry32)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(xs).toEqual(Array.from({ length: 5 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    // Known values: a changed generator would change every seeded campaign's meaning.
    expect(seededRandom(1)()).toBeCloseTo(0.6270739405881613, 12);
    expect(seededRandom(43)()).not.toBe(xs[0]);
  });
});
