#!/usr/bin/env node
// UF2 converter (https://github.com/microsoft/uf2): a flat binary for flash at 0x10000000 into
// 512-byte blocks the RP2040 boot ROM's mass-storage device accepts (datasheet 2.8.4.2):
// magic 0x0A324655 and 0x9E5D5157, flags 0x2000 (family id present), target address, 256 data
// bytes, block number, block count, family 0xe48bff56 (RP2040), 476 data bytes of which 256 are
// used, final magic 0x0AB16F30. Addresses are 256-byte aligned and cover whole 4 KiB flash
// sectors (erratum RP2040-E14: a partly written sector may be left unprogrammed) except the last.
//
//   node uf2.mjs <in.bin> <out.uf2> [base address, default 0x10000000]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const UF2_MAGIC_START0 = 0x0a324655;
export const UF2_MAGIC_START1 = 0x9e5d5157;
export const UF2_MAGIC_END = 0x0ab16f30;
export const UF2_FLAG_FAMILY_ID = 0x00002000;
export const RP2040_FAMILY_ID = 0xe48bff56;
export const PAYLOAD = 256;
const SECTOR = 4096;

/** Converts a binary image to UF2 blocks. */
export function binToUf2(bin, base = 0x10000000, familyId = RP2040_FAMILY_ID) {
  if (base % PAYLOAD !== 0) throw new Error('base address must be 256-byte aligned');
  // Pad with 0xff (erased flash) to whole 4 KiB sectors, except that the last sector may be short
  // of its tail only in whole 256-byte pages.
  const pages = Math.ceil(bin.length / PAYLOAD);
  const image = new Uint8Array(pages * PAYLOAD).fill(0xff);
  image.set(bin);
  // Whole sectors: extend the last sector's pages when the image ends inside a sector.
  const sectorPages = SECTOR / PAYLOAD;
  const totalPages = Math.ceil(pages / sectorPages) * sectorPages;
  const padded = new Uint8Array(totalPages * PAYLOAD).fill(0xff);
  padded.set(image);
  const out = new Uint8Array(totalPages * 512);
  const view = new DataView(out.buffer);
  for (let i = 0; i < totalPages; i++) {
    const o = i * 512;
    view.setUint32(o + 0, UF2_MAGIC_START0, true);
    view.setUint32(o + 4, UF2_MAGIC_START1, true);
    view.setUint32(o + 8, UF2_FLAG_FAMILY_ID, true);
    view.setUint32(o + 12, base + i * PAYLOAD, true);
    view.setUint32(o + 16, PAYLOAD, true);
    view.setUint32(o + 20, i, true);
    view.setUint32(o + 24, totalPages, true);
    view.setUint32(o + 28, familyId, true);
    out.set(padded.subarray(i * PAYLOAD, (i + 1) * PAYLOAD), o + 32);
    view.setUint32(o + 508, UF2_MAGIC_END, true);
  }
  return out;
}

/** Parses and checks UF2 blocks; throws on the first malformed one. Returns address -> data. */
export function parseUf2(uf2) {
  if (uf2.length % 512 !== 0) throw new Error('UF2 length is not a multiple of 512');
  const view = new DataView(uf2.buffer, uf2.byteOffset, uf2.length);
  const blocks = [];
  const count = uf2.length / 512;
  for (let i = 0; i < count; i++) {
    const o = i * 512;
    const b = {
      magic0: view.getUint32(o, true),
      magic1: view.getUint32(o + 4, true),
      flags: view.getUint32(o + 8, true),
      address: view.getUint32(o + 12, true),
      size: view.getUint32(o + 16, true),
      blockNo: view.getUint32(o + 20, true),
      numBlocks: view.getUint32(o + 24, true),
      familyId: view.getUint32(o + 28, true),
      magicEnd: view.getUint32(o + 508, true),
      data: uf2.subarray(o + 32, o + 32 + view.getUint32(o + 16, true)),
    };
    if (b.magic0 !== UF2_MAGIC_START0 || b.magic1 !== UF2_MAGIC_START1 || b.magicEnd !== UF2_MAGIC_END) throw new Error(`block ${i}: bad magic`);
    if (b.blockNo !== i || b.numBlocks !== count) throw new Error(`block ${i}: numbered ${b.blockNo} of ${b.numBlocks}, expected ${i} of ${count}`);
    if (b.size > 476) throw new Error(`block ${i}: payload ${b.size} bytes`);
    blocks.push(b);
  }
  return blocks;
}

function main(args) {
  if (args.length < 2) {
    console.error('usage: uf2.mjs <in.bin> <out.uf2> [base]');
    process.exit(2);
  }
  const base = args[2] ? Number(args[2]) : 0x10000000;
  const uf2 = binToUf2(readFileSync(args[0]), base);
  writeFileSync(args[1], uf2);
  console.log(`${args[1]}: ${uf2.length / 512} blocks, ${(uf2.length / 512) * PAYLOAD} bytes of flash from 0x${base.toString(16)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
