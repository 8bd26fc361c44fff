import type { RP2040 } from 'rp2040js';
export const FLASH_BYTES: number;
export const NVM_OFFSET: number;
export const NVM_BYTES: number;
export const DEFAULT_UNIQUE_ID: Uint8Array;
export interface SyntheticBootrom {
  /** Erases and programs (offset, count), and flash commands (CMD: offset = the command byte). */
  ops: { fn: 'RE' | 'RP' | 'CMD'; offset: number; count: number }[];
  errors: string[];
  xipOn: boolean;
}
export function syntheticBootrom(): Uint8Array;
export function installSyntheticBootrom(mcu: RP2040, options?: { writableFrom?: number; uniqueId?: Uint8Array }): SyntheticBootrom;
