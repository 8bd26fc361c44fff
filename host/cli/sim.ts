/**
 * `recorder sim ...`: a thin launcher for the firmware simulator binary. Options are passed on
 * unchanged; stdin/stdout are inherited so `press`, `disconnect`, ... can be typed.
 */
import { spawn } from 'node:child_process';
import { findSimulator, SIM_NOT_BUILT } from '../sim/driver.js';

export const SIM_HELP = `Usage: recorder sim --image PATH --link PATH [--size-mb N] [--mic ramp|sine|demo|wav:FILE]
                    [--speed N] [--stall-every N --stall-ms M] [--quiet] [--verbose]

Runs the recorder simulator (firmware/build/ports/host/recorder-sim). It prints "ready link=PATH"
when the app can connect with "recorder sync --port PATH", and reads commands on stdin:
press (starts; while recording, a marker), hold [MS], stop (the 2 s hold that stops),
connect, disconnect, battery MV, eject, insert, quit.
Set RECORDER_SIM to use another simulator binary.`;

export async function runSim(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(SIM_HELP + '\n');
    return 0;
  }
  const bin = findSimulator();
  if (!bin) {
    process.stderr.write(SIM_NOT_BUILT + '\n');
    return 1;
  }
  return new Promise<number>((resolve) => {
    const child = spawn(bin, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('error', (e) => {
      process.stderr.write(`Could not start the simulator: ${e.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}
