#!/usr/bin/env node
// Flash and RAM use of the RP2040 image against its budget, from the linker map's symbols
// (__flash_used, __ram_used). Writes a one-line summary and size.json beside the ELF.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [elf, map] = process.argv.slice(2);
const text = readFileSync(map, 'utf8');
function sym(name) {
  const m = new RegExp(`0x([0-9a-f]+)\\s+${name} = `).exec(text);
  if (!m) throw new Error(`${name} not in ${map}`);
  return parseInt(m[1], 16);
}
const flash = sym('__flash_used');
const ram = sym('__ram_used');
const budget = { flash: 192 * 1024, ram: 160 * 1024 };
const r = { flash, ram, stack: 8192, budget };
writeFileSync(join(dirname(elf), 'size.json'), JSON.stringify(r, null, 2) + '\n');
const pct = (a, b) => ((100 * a) / b).toFixed(1);
console.log(`rp2040 image: flash ${flash} B (${pct(flash, budget.flash)}% of 192 KiB), RAM ${ram} B static (${pct(ram, budget.ram)}% of 160 KiB) + 8 KiB stack`);
