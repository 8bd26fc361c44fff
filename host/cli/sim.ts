/**
 * `recorder sim ...`: a thin launcher for the firmware simulator binary. Options are passed on
 * unchanged; stdin/stdout are inherited so `press`, `disconnect`, ... can be typed.
 */
import { spawn } from 'node:child_process';
import { buildSimulator, findSimulator, firmwareCheckout, SIM_NOT_INSTALLED } from '../sim/driver.js';

export const SIM_HELP = `Usage: recorder sim --image PATH --link PATH [--size-mb N] [--mic ramp|sine|demo|wav:FILE]
                    [--speed N] [--stall-every N --stall-ms M] [--quiet] [--verbose]

Runs the recorder simulator (recorder-sim, built from firmware/ in a checkout of the project:
the first run builds it, which needs cmake and gcc). It prints "ready link=PATH" when the app can
connect with "recorder sync --port PATH", and reads commands on stdin:
press (starts; while recording, a marker), hold [MS], stop (the 2 s hold that stops),
connect, disconnect, battery MV, eject, insert, quit.
Set RECORDER_SIM to use another simulator binary.`;

/** How `recorder sim` gets its binary; tests replace these. */
export interface SimDeps {
  find: () => string | null;
  /** The checkout the app runs from (firmware sources beside it), or null in an installed app. */
  checkout: () => string | null;
  /** Builds the simulator and returns its path; throws saying why it cannot. */
  build: () => string;
  log: (line: string) => void;
}

const defaultDeps: SimDeps = {
  find: findSimulator,
  checkout: firmwareCheckout,
  build: () => buildSimulator(),
  log: (line) => process.stderr.write(line + '\n'),
};

export async function runSim(args: string[], deps: SimDeps = defaultDeps): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(SIM_HELP + '\n');
    return 0;
  }
  let bin = deps.find();
  if (!bin) {
    // As the demo does: in a checkout, build it (once); in an installed app, say how to get it.
    if (!deps.checkout()) {
      deps.log(SIM_NOT_INSTALLED);
      return 1;
    }
    try {
      deps.log('Building the simulated recorder (first run only)...');
      bin = deps.build();
    } catch (e) {
      deps.log(`The simulated recorder could not be built.\n${(e as Error).message}`);
      return 1;
    }
  }
  return new Promise<number>((resolve) => {
    const child = spawn(bin, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('error', (e) => {
      deps.log(`Could not start the simulator: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}
