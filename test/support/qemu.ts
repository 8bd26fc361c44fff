/**
 * Runs the QEMU port (firmware/build-qemu/ports/qemu/recorder-qemu.elf) in qemu-system-arm's
 * lm3s6965evb machine for end-to-end tests: the protocol link (UART0) on a pseudo-terminal, the
 * console (UART1: button, state lines) on the process's stdin/stdout, the SD card an image file.
 * Every QEMU started here has a hard time limit and is killed by `stopAllQemu` (register it in
 * afterEach), also when the test fails. See docs/qemu.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './sim.js';

export const QEMU_ELF = process.env.REC_QEMU_ELF ?? join(ROOT, 'firmware', 'build-qemu', 'ports', 'qemu', 'recorder-qemu.elf');
export const QEMU_BIN = process.env.REC_QEMU_BIN ?? 'qemu-system-arm';

export function requireQemu(): void {
  const r = spawnSync('sh', ['-c', `command -v ${QEMU_BIN}`]);
  if (r.status !== 0) throw new Error(`${QEMU_BIN} is missing: install the Debian package qemu-system-arm`);
  if (!existsSync(QEMU_ELF)) throw new Error(`QEMU firmware not built at ${QEMU_ELF}: run npm test (it builds firmware/build-qemu first)`);
}

const SBIN_PATH = `${process.env.PATH}:/usr/sbin:/sbin`;

/**
 * A FAT32 card image made by mkfs.fat: a sparse file of `sizeBytes` (a power of two, as QEMU
 * wants), with the volume ending `tailKiB` before the end so the port can keep its settings in
 * the last blocks. `clusterSectors` sets the cluster size (bigger clusters make a 4 GiB card's
 * FAT short enough to preallocate quickly under emulation).
 */
export function makeCard(path: string, sizeBytes: number, o: { tailKiB?: number; clusterSectors?: number } = {}): void {
  const t = spawnSync('truncate', ['-s', String(sizeBytes), path], { encoding: 'utf8' });
  if (t.status !== 0) throw new Error(`truncate failed: ${t.stderr}`);
  const kib = sizeBytes / 1024 - (o.tailKiB ?? 64);
  const args = ['-F', '32', '-n', 'RECORDER'];
  if (o.clusterSectors) args.push('-s', String(o.clusterSectors));
  const r = spawnSync('mkfs.fat', [...args, path, String(kib)], { encoding: 'utf8', env: { ...process.env, PATH: SBIN_PATH } });
  if (r.status !== 0) throw new Error(`mkfs.fat failed: ${r.stdout}${r.stderr}`);
}

export interface QemuOptions {
  /** Card image; null boots with the SD slot empty. */
  image: string | null;
  /** Hard limit on QEMU's life. */
  timeoutMs?: number;
}

export interface Qemu {
  /** The pseudo-terminal of the protocol link (UART0). */
  pty: string;
  proc: ChildProcess;
  /** Console lines (UART1). */
  lines: string[];
  stderr: string[];
  /** Sends a console command (`press`, `stack`, `uptime`, `quit`). */
  send(command: string): void;
  /** Waits for a console line matching re that arrives after the line index `from` (default: any). */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Console command `quit` (semihosting exit), killed if it does not exit in time. */
  quit(timeoutMs?: number): Promise<number | null>;
  /** Power cut: SIGKILL. What QEMU wrote to the image stays there. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();

export async function stopAllQemu(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null) {
      waits.push(new Promise((r) => p.once('exit', r)));
      p.kill('SIGKILL');
    }
  }
  running.clear();
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5000))]);
}

function exited(p: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

export async function startQemu(o: QemuOptions): Promise<Qemu> {
  requireQemu();
  const args = ['-M', 'lm3s6965evb', '-kernel', QEMU_ELF, '-display', 'none', '-monitor', 'none', '-serial', 'pty', '-serial', 'stdio'];
  if (o.image) args.push('-drive', `if=sd,format=raw,file=${o.image}`);
  // Semihosting lets `quit` end QEMU with a status; -no-reboot turns a firmware reset (fault,
  // assert) into an exit the test sees instead of a silent reboot.
  args.push('-semihosting-config', 'enable=on,target=native', '-no-reboot');
  const proc = spawn(QEMU_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(proc);
  const hard = setTimeout(() => proc.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  proc.once('exit', () => {
    clearTimeout(hard);
    running.delete(proc);
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: { re: RegExp; from: number; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  let ptyResolve: (p: string) => void = () => {};
  const ptyPath = new Promise<string>((r) => (ptyResolve = r));
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      lines.push(line);
      // QEMU announces the pseudo-terminal on stdout when a serial port is on stdio.
      const pm = /char device redirected to (\/dev\/pts\/\d+) \(label serial0\)/.exec(line);
      if (pm) ptyResolve(pm[1]!);
      for (const w of [...waiters]) {
        if (lines.length - 1 >= w.from && w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  let errBuf = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    errBuf += chunk;
    const m = /char device redirected to (\/dev\/pts\/\d+) \(label serial0\)/.exec(errBuf);
    if (m) ptyResolve(m[1]!);
  });
  const describe = () => `console: ${lines.slice(-20).join(' | ')}; stderr: ${stderr.join('').slice(-1000)}`;
  proc.once('exit', (code, signal) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`QEMU exited (${code ?? signal}) before printing ${w.re}; ${describe()}`));
  });
  const q: Qemu = {
    pty: '',
    proc,
    lines,
    stderr,
    send(command: string) {
      proc.stdin!.write(command + '\n');
    },
    waitFor(re: RegExp, timeoutMs = 30_000, from = 0) {
      const seen = lines.slice(from).find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        return Promise.reject(new Error(`QEMU exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}; ${describe()}`));
      }
      return new Promise((resolve, reject) => {
        const w = {
          re,
          from,
          resolve: (l: string) => (clearTimeout(t), resolve(l)),
          reject: (e: Error) => (clearTimeout(t), reject(e)),
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`QEMU console did not print ${re} within ${timeoutMs} ms; ${describe()}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async quit(timeoutMs = 20_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.stdin!.write('quit\n');
      return exited(proc, timeoutMs);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc, 5000);
    },
  };
  let startTimer: NodeJS.Timeout | undefined;
  q.pty = await Promise.race([
    ptyPath,
    new Promise<string>((_, reject) => {
      startTimer = setTimeout(() => reject(new Error(`QEMU did not report its pseudo-terminal; ${describe()}`)), 15_000);
      proc.once('exit', (code) => reject(new Error(`QEMU exited (${code}) at start; ${describe()}`)));
    }),
  ]).finally(() => clearTimeout(startTimer));
  await q.waitFor(/^ready$/, 60_000);
  return q;
}
