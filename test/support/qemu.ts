/**
 * Runs the QEMU port (firmware/build-qemu/ports/qemu/recorder-qemu.elf) in qemu-system-arm's
 * lm3s6965evb machine for end-to-end tests: the protocol link (UART0) on a pseudo-terminal, the
 * console (UART1: button, state lines) on the process's stdin/stdout, the SD card an image file.
 * Every QEMU started here has a hard time limit and is killed by `stopAllQemu` (register it in
 * afterEach), also when the test fails. QEMU runs in a working directory of its own: the
 * firmware keeps its device NVM there (the file `er1-nvm.bin`, through semihosting), so a test
 * that boots again in the same folder finds its key, and no two tests share one. See docs/qemu.md.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { quitWith, spawnLines, type LineProcess } from '../../host/sim/driver.js';
import { ROOT, tempDir } from './sim.js';

export const QEMU_ELF = resolve(process.env.REC_QEMU_ELF ?? join(ROOT, 'firmware', 'build-qemu', 'ports', 'qemu', 'recorder-qemu.elf'));
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
  /**
   * QEMU's working directory, where the firmware's NVM file `er1-nvm.bin` lives (NVM_FILE in
   * firmware/ports/qemu/nvm.c). Default: the card image's folder (a test's own temporary
   * folder, so the NVM stays with its card across reboots), or a new temporary folder without
   * a card.
   */
  workDir?: string;
}

/** The NVM file the QEMU port keeps in its working directory. */
export const QEMU_NVM_FILE = 'er1-nvm.bin';

export interface Qemu {
  /** QEMU's working directory (holds the NVM file). */
  workDir: string;
  /** The pseudo-terminal of the protocol link (UART0). */
  pty: string;
  proc: ChildProcess;
  /** Console lines (UART1). */
  lines: string[];
  stderr: string[];
  /** Sends a console command (`press`, `hold [MS]`, `stop`, `stack`, `uptime`, `quit`). */
  send(command: string): void;
  /** Waits for a console line matching re that arrives after the line index `from` (default: any). */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Console command `quit` (semihosting exit), killed if it does not exit in time. */
  quit(timeoutMs?: number): Promise<number | null>;
  /** Power cut: SIGKILL. What QEMU wrote to the image stays there. */
  kill(): Promise<void>;
}

const running = new Set<LineProcess>();
const PTY_LINE = /char device redirected to (\/dev\/pts\/\d+) \(label serial0\)/;

/** SIGKILLs every QEMU still running (a power cut: the tests check the image afterwards). */
export async function stopAllQemu(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.race([Promise.all(all.map((p) => p.kill())), new Promise((r) => setTimeout(r, 5000))]);
}


export async function startQemu(o: QemuOptions): Promise<Qemu> {
  requireQemu();
  const args = ['-M', 'lm3s6965evb', '-kernel', QEMU_ELF, '-display', 'none', '-monitor', 'none', '-serial', 'pty', '-serial', 'stdio'];
  if (o.image) args.push('-drive', `if=sd,format=raw,file=${resolve(o.image)}`);
  const workDir = o.workDir ?? (o.image ? dirname(resolve(o.image)) : tempDir('rec-qemu-'));
  // Semihosting lets `quit` end QEMU with a status; -no-reboot turns a firmware reset (fault,
  // assert) into an exit the test sees instead of a silent reboot.
  args.push('-semihosting-config', 'enable=on,target=native', '-no-reboot');
  // QEMU announces the pseudo-terminal on stdout when a serial port is on stdio (else stderr).
  let ptyResolve: (p: string) => void = () => {};
  const ptyPath = new Promise<string>((r) => (ptyResolve = r));
  const p = spawnLines(QEMU_BIN, args, {
    name: 'QEMU',
    cwd: workDir,
    timeoutMs: o.timeoutMs ?? 120_000,
    onLine(line) {
      const m = PTY_LINE.exec(line);
      if (m) ptyResolve(m[1]!);
    },
  });
  running.add(p);
  void p.exit.then(() => running.delete(p));
  p.proc.stderr!.on('data', () => {
    const m = PTY_LINE.exec(p.stderr.join(''));
    if (m) ptyResolve(m[1]!);
  });
  const describe = () => `console: ${p.lines.slice(-20).join(' | ')}; ${p.describe()}`;
  const q: Qemu = {
    workDir,
    pty: '',
    proc: p.proc,
    lines: p.lines,
    stderr: p.stderr,
    send: (command) => p.send(command),
    waitFor: (re, timeoutMs = 30_000, from = 0) => p.waitLine(re, { timeoutMs, from }).catch((e: Error) => Promise.reject(new Error(`${e.message}; ${describe()}`))),
    quit: async (timeoutMs = 20_000) => (await quitWith(p, 'quit', timeoutMs)).code,
    kill: async () => void (await p.kill()),
  };
  let startTimer: NodeJS.Timeout | undefined;
  q.pty = await Promise.race([
    ptyPath,
    new Promise<string>((_, reject) => {
      startTimer = setTimeout(() => reject(new Error(`QEMU did not report its pseudo-terminal; ${describe()}`)), 15_000);
      void p.exit.then(() => reject(new Error(`QEMU exited at start; ${describe()}`)));
    }),
  ]).finally(() => clearTimeout(startTimer));
  await q.waitFor(/^ready$/, 60_000);
  return q;
}
