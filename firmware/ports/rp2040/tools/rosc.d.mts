import type { RP2040 } from 'rp2040js';
export interface RoscModel {
  /** null: the seeded generator; 0 or 1: that bit on every read. */
  stuck: 0 | 1 | null;
  reads: number;
  ones: number;
  /** Reads less than 10 us of emulated time after the previous one. */
  tooSoon: number;
}
export function installRosc(mcu: RP2040, options?: { seed?: number; stuck?: 0 | 1 | null }): RoscModel;
