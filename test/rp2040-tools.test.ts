/**
 * Build outputs of the RP2040 port: boot2's CRC as the boot ROM computes it, the vector table,
 * the UF2 file (blocks, magic numbers, addresses, family, count), the flash/RAM budget, and the
 * pin map in firmware/ports/rp2040/board_pins.h against hardware/pins.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boot2Block, boot2Valid, crc32Mpeg2 } from '../firmware/ports/rp2040/tools/boot2.mjs';
import { binToUf2, parseUf2, PAYLOAD, RP2040_FAMILY_ID, UF2_FLAG_FAMILY_ID } from '../firmware/ports/rp2040/tools/uf2.mjs';
import { RP2040_BUILD, requireRp2040Image } from './support/rp2040.js';
import { ROOT } from './support/sim.js';

describe('boot2 checksum', () => {
  it('is CRC-32/MPEG-2: the catalogue check value, and the same bits the boot ROM compares', () => {
    // reveng catalogue: CRC-32/MPEG-2, poly 0x04c11db7, init 0xffffffff, no reflection, xorout 0
    expect(crc32Mpeg2(new TextEncoder().encode('123456789'))).toBe(0x0376e6e7);
    expect(crc32Mpeg2(new Uint8Array(0))).toBe(0xffffffff);
    // A bitwise reference written out differently: MSB-first long division over the message.
    const msg = Uint8Array.from({ length: 252 }, (_, i) => (i * 37 + 11) & 0xff);
    let crc = 0xffffffffn;
    for (const b of msg) {
      for (let k = 7; k >= 0; k--) {
        const top = ((crc >> 31n) & 1n) ^ BigInt((b >> k) & 1);
        crc = (crc << 1n) & 0xffffffffn;
        if (top) crc ^= 0x04c11db7n;
      }
    }
    expect(crc32Mpeg2(msg)).toBe(Number(crc));
  });

  it('pads the code to 252 bytes and stores the CRC little-endian; any flipped bit fails the check', () => {
    const code = Uint8Array.from([0x00, 0xb5, 0x01, 0x4b, 0x00, 0x21]);
    const block = boot2Block(code);
    expect(block.length).toBe(256);
    expect(Array.from(block.subarray(0, 6))).toEqual(Array.from(code));
    expect(block.subarray(6, 252).every((b) => b === 0)).toBe(true);
    expect(new DataView(block.buffer).getUint32(252, true)).toBe(crc32Mpeg2(block.subarray(0, 252)));
    expect(boot2Valid(block)).toBe(true);
    for (const bit of [0, 100 * 8 + 3, 251 * 8 + 7, 253 * 8]) {
      const bad = block.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(boot2Valid(bad)).toBe(false);
    }
    expect(() => boot2Block(new Uint8Array(253))).toThrow(/252/);
  });

  it('the built image starts with a valid boot2 and a vector table at 0x100', () => {
    const bin = requireRp2040Image();
    expect(boot2Valid(bin.subarray(0, 256))).toBe(true);
    const v = new DataView(bin.buffer, bin.byteOffset);
    const sp = v.getUint32(0x100, true);
    const reset = v.getUint32(0x104, true);
    expect(sp).toBe(0x20042000); // top of SCRATCH_Y
    expect(reset & 1).toBe(1); // Thumb
    expect(reset - 1).toBeGreaterThan(0x10000100);
    expect(reset - 1).toBeLessThan(0x10000000 + bin.length);
  });
});

describe('UF2 converter', () => {
  it('makes 512-byte blocks with both start magics, the end magic, the RP2040 family and 256-byte payloads', () => {
    const bin = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
    const uf2 = binToUf2(bin);
    const blocks = parseUf2(uf2);
    // 5000 bytes = 20 pages, padded to whole 4 KiB sectors: 2 sectors = 32 blocks
    expect(blocks).toHaveLength(32);
    blocks.forEach((b, i) => {
      expect(b.flags).toBe(UF2_FLAG_FAMILY_ID);
      expect(b.familyId).toBe(RP2040_FAMILY_ID);
      expect(b.familyId).toBe(0xe48bff56);
      expect(b.size).toBe(PAYLOAD);
      expect(b.address).toBe(0x10000000 + i * 256);
      expect(b.blockNo).toBe(i);
      expect(b.numBlocks).toBe(32);
    });
    const data = Buffer.concat(blocks.map((b) => b.data));
    expect(data.subarray(0, 5000).equals(Buffer.from(bin))).toBe(true);
    expect(data.subarray(5000).every((b) => b === 0xff)).toBe(true);
    // the unused part of each block's data area is zero
    expect(uf2.subarray(32 + 256, 508).every((b) => b === 0)).toBe(true);
    expect(() => parseUf2(uf2.subarray(0, 700))).toThrow();
    const bad = uf2.slice();
    bad[512 * 3 + 510] = 0;
    expect(() => parseUf2(bad)).toThrow(/magic/);
  });

  it('the UF2 the build wrote holds exactly the BIN, from 0x10000000, in whole sectors', () => {
    const bin = requireRp2040Image();
    const file = join(RP2040_BUILD, 'recorder-rp2040.uf2');
    expect(existsSync(file)).toBe(true);
    const uf2 = new Uint8Array(readFileSync(file));
    expect(Buffer.from(uf2).equals(Buffer.from(binToUf2(bin)))).toBe(true);
    const blocks = parseUf2(uf2);
    expect(blocks.length % 16).toBe(0);
    expect(blocks.length).toBe(Math.ceil(bin.length / 4096) * 16);
    expect(blocks[0]!.address).toBe(0x10000000);
    const data = Buffer.concat(blocks.map((b) => b.data));
    expect(data.subarray(0, bin.length).equals(Buffer.from(bin))).toBe(true);
  });

  it('fits the budget: 192 KiB of flash, 160 KiB of RAM', () => {
    const size = JSON.parse(readFileSync(join(RP2040_BUILD, 'size.json'), 'utf8')) as { flash: number; ram: number };
    expect(size.flash).toBeLessThanOrEqual(192 * 1024);
    expect(size.ram).toBeLessThanOrEqual(160 * 1024);
    expect(requireRp2040Image().length).toBe(size.flash);
  });
});

describe('pin map', () => {
  it('board_pins.h agrees with hardware/pins.json, the source of truth', () => {
    const json = JSON.parse(readFileSync(join(ROOT, 'hardware', 'pins.json'), 'utf8')) as {
      crystalHz: number;
      pins: Record<string, { gpio: number; adcChannel?: number; presentLevel?: number; dividerRatio?: number }>;
    };
    const header = readFileSync(join(ROOT, 'firmware', 'ports', 'rp2040', 'board_pins.h'), 'utf8');
    const defs = new Map<string, number>();
    for (const m of header.matchAll(/^#define (\w+) (\d+)u\b/gm)) defs.set(m[1]!, Number(m[2]));
    for (const [name, pin] of Object.entries(json.pins)) {
      const key = name === 'SD_DETECT' ? 'PIN_SD_DETECT' : name === 'VBAT' ? 'PIN_VBAT' : `PIN_${name}`;
      expect(defs.get(key), `${key} in board_pins.h`).toBe(pin.gpio);
    }
    expect(defs.get('MIC_ADC_CHANNEL')).toBe(json.pins.MIC!.adcChannel);
    expect(defs.get('VBAT_ADC_CHANNEL')).toBe(json.pins.VBAT!.adcChannel);
    expect(defs.get('VBAT_DIVIDER_RATIO')).toBe(json.pins.VBAT!.dividerRatio);
    expect(defs.get('SD_DETECT_PRESENT_LEVEL')).toBe(json.pins.SD_DETECT!.presentLevel);
    expect(defs.get('BOARD_XOSC_HZ')).toBe(json.crystalHz);
    // ADC pins are GPIO 26 + channel
    expect(json.pins.MIC!.gpio).toBe(26 + json.pins.MIC!.adcChannel!);
    expect(json.pins.VBAT!.gpio).toBe(26 + json.pins.VBAT!.adcChannel!);
    // and the header names no pin the JSON lacks
    const jsonPins = new Set(Object.values(json.pins).map((p) => p.gpio));
    for (const [k, v] of defs) if (k.startsWith('PIN_')) expect(jsonPins.has(v), k).toBe(true);
  });
});
