import type { RP2040 } from 'rp2040js';
export const FLASH_BYTES: number;
export const NVM_OFFSET: number;
export const NVM_BYTES: number;
export interface SyntheticBootrom {
  ops: { fn: 'RE' | 'RP'; offset: number; count: number }[];
  errors: string[];
  xipOn: boolean;
}
export function syntheticBootrom(): Uint8Array;
export function installSyntheticBootrom(mcu: RP2040, options?: { writableFrom?: number }): SyntheticBootrom;
