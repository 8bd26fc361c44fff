export const UF2_MAGIC_START0: number;
export const UF2_MAGIC_START1: number;
export const UF2_MAGIC_END: number;
export const UF2_FLAG_FAMILY_ID: number;
export const RP2040_FAMILY_ID: number;
export const PAYLOAD: number;
export interface Uf2Block {
  magic0: number;
  magic1: number;
  flags: number;
  address: number;
  size: number;
  blockNo: number;
  numBlocks: number;
  familyId: number;
  magicEnd: number;
  data: Uint8Array;
}
export function binToUf2(bin: Uint8Array, base?: number, familyId?: number): Uint8Array;
export function parseUf2(uf2: Uint8Array): Uf2Block[];
