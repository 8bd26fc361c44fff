import type { SyntheticBootrom } from './bootrom.mjs';
import type { RoscModel } from './rosc.mjs';
export interface Rp2040SelftestResult {
  status: number;
  output: string;
  timings: { name: string; cycles: number }[];
  cycles: number;
  /** The NVM (the last 64 KiB of the flash) at the end. */
  nvm: Uint8Array;
  bootrom: SyntheticBootrom | null;
  rosc: RoscModel | null;
}
export interface Rp2040SelftestOptions {
  maxCycles?: number;
  /** Install the synthetic boot ROM (bootrom.mjs). */
  bootrom?: boolean;
  /** Install the ROSC model (rosc.mjs) with these options; the clock then runs with the CPU. */
  rosc?: { seed?: number; stuck?: 0 | 1 | null } | null;
  /** The NVM's content at start. */
  nvm?: Uint8Array | null;
}
export function runRp2040Selftest(binPath: string, options?: Rp2040SelftestOptions): Rp2040SelftestResult;
