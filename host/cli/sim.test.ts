/**
 * `recorder sim` builds the simulator it needs in a checkout, and in an installed app (no
 * firmware sources) says that it is only for the demo and how to get it (issue 15).
 */
import { describe, expect, test } from 'vitest';
import { SIM_NOT_INSTALLED } from '../sim/driver.js';
import { runSim, type SimDeps } from './sim.js';

/** A stand-in simulator: node itself, told to exit with `code`. */
const exits = (code: number) => ['-e', `process.exit(${code})`];

function deps(o: Partial<SimDeps>): { deps: SimDeps; log: string[]; built: () => number } {
  const log: string[] = [];
  let builds = 0;
  return {
    deps: {
      find: () => null,
      checkout: () => '/checkout',
      build: () => {
        builds++;
        return process.execPath;
      },
      log: (l) => log.push(l),
      ...o,
      ...(o.build ? { build: () => (builds++, o.build!()) } : {}),
    },
    log,
    built: () => builds,
  };
}

describe('recorder sim', () => {
  test('runs the simulator it finds, with the options given, and returns its exit status', async () => {
    const d = deps({ find: () => process.execPath });
    expect(await runSim(exits(3), d.deps)).toBe(3);
    expect(d.built()).toBe(0);
  });

  test('in a checkout without a built simulator, builds it first, then runs it', async () => {
    const d = deps({});
    expect(await runSim(exits(4), d.deps)).toBe(4);
    expect(d.built()).toBe(1);
    expect(d.log.join('\n')).toMatch(/Building the simulated recorder/);
  });

  test('when the build fails, says why (cmake and gcc), and exits 1', async () => {
    const d = deps({
      build: () => {
        throw new Error('building the simulator failed (cmake -S): install cmake and gcc (Debian packages), then try again');
      },
    });
    expect(await runSim(exits(0), d.deps)).toBe(1);
    expect(d.log.join('\n')).toMatch(/could not be built\.\n.*install cmake and gcc/);
  });

  test('in an installed app (no firmware sources), says it is only for the demo and exactly how to get it', async () => {
    const d = deps({ checkout: () => null });
    expect(await runSim(exits(0), d.deps)).toBe(1);
    expect(d.built()).toBe(0);
    const said = d.log.join('\n');
    expect(said).toBe(SIM_NOT_INSTALLED);
    expect(said).toMatch(/only needed for the demo/);
    expect(said).toMatch(/npm ci.*npm start/);
    expect(said).toMatch(/RECORDER_SIM=.*recorder sim/);
  });
});
