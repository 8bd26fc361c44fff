/** Renders engine events: one plain line each, or one JSON object per line with --json. */
import { describeEvent } from '../engine/describe.js';
import type { EngineEvent } from '../engine/events.js';

export interface Out {
  event(e: EngineEvent): void;
  /** Final result object (JSON) or line (plain). */
  result(command: string, ok: boolean, data: Record<string, unknown>, plain?: string): void;
  line(s: string): void;
  error(s: string): void;
}

export function makeOutput(json: boolean, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Out {
  const tty = !!stdout.isTTY && !json;
  let progressShown = false;
  const endProgress = () => {
    if (progressShown) {
      stdout.write('\n');
      progressShown = false;
    }
  };
  if (json) {
    const write = (o: unknown) => stdout.write(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
    return {
      event: (e) => write(e),
      result: (command, ok, data) => write({ type: 'result', command, ok, ...data }),
      line: (s) => write({ type: 'note', at: new Date().toISOString(), message: s }),
      error: (s) => write({ type: 'error', at: new Date().toISOString(), code: 'INTERNAL', message: s, action: '' }),
    };
  }
  return {
    event(e) {
      if (e.type === 'file.progress') {
        // On a terminal, progress rewrites one line; in a log, print only every quarter.
        if (tty) {
          stdout.write(`\r${describeEvent(e)}`.padEnd(80));
          progressShown = true;
          if (e.bytes >= e.total) endProgress();
          return;
        }
        const q = (x: number) => Math.floor((4 * x) / Math.max(1, e.total));
        if (e.bytes !== e.total && e.bytes !== 0 && q(e.bytes) === q(Math.max(0, e.bytes - 1))) return;
      }
      endProgress();
      const text = describeEvent(e);
      if (e.type === 'error' || e.type === 'file.failed') stderr.write(text + '\n');
      else stdout.write(text + '\n');
    },
    result(_command, _ok, _data, plain) {
      endProgress();
      if (plain) stdout.write(plain + '\n');
    },
    line: (s) => {
      endProgress();
      stdout.write(s + '\n');
    },
    error: (s) => {
      endProgress();
      stderr.write(s + '\n');
    },
  };
}
