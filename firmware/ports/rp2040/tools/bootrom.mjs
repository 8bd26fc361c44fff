// A synthetic RP2040 boot ROM for rp2040js, which has none: just enough of one for the port's
// flash writes (nvm_rp2040.c) to run unchanged, with checks a real chip would enforce by
// crashing. Installed by the test harness (test/support/rp2040.ts) and the self-test runner
// (selftest.mjs).
//
// What it holds (RP2040 datasheet 2.8.3):
//   0x10  'M' 'u' 0x01, then version 0 (real chips have 1, 2 or 3: the firmware reports itself
//         as simulated when it sees 0);
//   0x14  16-bit pointer to the function table, 0x16 to the (empty) data table, 0x18 to
//         rom_table_lookup (Thumb bit set, as in the real ROM);
//   ROM_LOOKUP  rom_table_lookup(table, code) in Thumb: walks {u16 code, u16 pointer} pairs up to
//         a zero code and returns the pointer, or 0;
//   ROM_STUBS  one stub per function, `BKPT #n; BX LR`: rp2040js hands the BKPT to mcu.onBreak,
//         where this module does the work in JavaScript, then the stub returns.
// Functions: IF connect_internal_flash, EX flash_exit_xip, RE flash_range_erase(offset, count,
// block size, block command), RP flash_range_program(offset, data, count), FC flash_flush_cache,
// CX flash_enter_cmd_xip. Erase and program apply NOR rules to mcu.flash (erase: 0xFF; program:
// AND), on the 8 MiB of the Feather's chip. Flash commands sent by hand between EX and FC (chip
// select forced low through IO_QSPI's SS override, bytes through the SSI's DR0, as pico-sdk's
// flash_do_cmd does) are answered for 4Bh, the unique id (`uniqueId`, 8 bytes); anything else
// reads 0xFF.
//
// The checks (each one fails the run by throwing from the CPU's step, and is kept in `errors`):
//   - between IF and the return to XIP (CX, or the SRAM copy of boot2 turning the SSI back on in
//     XIP read mode), any CPU read of the flash window 0x10000000-0x13ffffff: instruction fetch,
//     literal or data. On the real chip the SSI is not in XIP mode then and the access crashes;
//   - IF, EX, RE, RP and FC called from flash (LR in the XIP window), or with interrupts enabled
//     (PRIMASK clear: a handler in flash could run);
//   - a flash command (chip select forced low) outside EX..FC;
//   - RE and RP out of order (before IF and EX), unaligned (4096 / 256), with RP's data outside
//     SRAM, or writing below `writableFrom` (by default the NVM: the last 64 KiB), which would
//     damage the image.
const ROM_BYTES = 16 * 1024;
const ROM_LOOKUP = 0x80;
const ROM_FUNC_TABLE = 0x100;
const ROM_DATA_TABLE = 0x140;
const ROM_STUBS = 0x200;
const BKPT_BASE = 0x60;

const XIP_START = 0x10000000;
const XIP_END = 0x14000000;
const SRAM_START = 0x20000000;
const SRAM_END = 0x20042000;
const SSI_BASE_KEY = 0x18000; // rp2040js peripheral key of XIP_SSI (0x18000000)
const SSI_CTRLR0 = 0x00;
const SSI_SSIENR = 0x08;
const SSI_TMOD_EEPROM_READ = 3; // CTRLR0.TMOD as boot2 sets it for XIP

export const FLASH_BYTES = 8 * 1024 * 1024;
export const NVM_OFFSET = FLASH_BYTES - 64 * 1024;
export const NVM_BYTES = 64 * 1024;
/** The unique id the synthetic flash chip answers to 4Bh unless told otherwise. */
export const DEFAULT_UNIQUE_ID = Uint8Array.from([0xe6, 0x60, 0x58, 0x38, 0x83, 0x1c, 0x2d, 0x2f]);
const IO_QSPI_KEY = 0x40018; // rp2040js peripheral key of IO_QSPI_BASE (unimplemented there)
const IO_QSPI_SS_CTRL = 0x0c;
const SS_OUTOVER_LOW = 2;
const SSI_DR0 = 0x60;
const CMD_READ_UNIQUE_ID = 0x4b;

// rom_table_lookup, assembled with arm-none-eabi-as (-mcpu=cortex-m0plus -mthumb):
//   lookup: ldrh r2, [r0]; cmp r2, #0; beq none; cmp r2, r1; beq found; adds r0, #4; b lookup
//   found:  ldrh r0, [r0, #2]; bx lr
//   none:   movs r0, #0; bx lr
const LOOKUP_CODE = [0x8802, 0x2a00, 0xd005, 0x428a, 0xd001, 0x3004, 0xe7f8, 0x8840, 0x4770, 0x2000, 0x4770];
const FUNCTIONS = ['IF', 'EX', 'RE', 'RP', 'FC', 'CX'];

const code16 = (name) => name.charCodeAt(0) | (name.charCodeAt(1) << 8);
const inXip = (a) => a >>> 0 >= XIP_START && a >>> 0 < XIP_END;
const hex = (a) => `0x${(a >>> 0).toString(16)}`;

/** The ROM's bytes. */
export function syntheticBootrom() {
  const rom = new Uint8Array(ROM_BYTES);
  const view = new DataView(rom.buffer);
  rom.set([0x4d, 0x75, 0x01, 0x00], 0x10);
  view.setUint16(0x14, ROM_FUNC_TABLE, true);
  view.setUint16(0x16, ROM_DATA_TABLE, true);
  view.setUint16(0x18, ROM_LOOKUP | 1, true);
  LOOKUP_CODE.forEach((h, i) => view.setUint16(ROM_LOOKUP + 2 * i, h, true));
  FUNCTIONS.forEach((name, i) => {
    view.setUint16(ROM_FUNC_TABLE + 4 * i, code16(name), true);
    view.setUint16(ROM_FUNC_TABLE + 4 * i + 2, (ROM_STUBS + 4 * i) | 1, true);
    view.setUint16(ROM_STUBS + 4 * i, 0xbe00 | (BKPT_BASE + i), true); // BKPT #n
    view.setUint16(ROM_STUBS + 4 * i + 2, 0x4770, true); // BX LR
  });
  // Both tables end with a zero code (the rest of the ROM is zero).
  return rom;
}

/**
 * Installs the ROM into `mcu` (an rp2040js RP2040) and chains its handler in front of the
 * current mcu.onBreak (install after setting your own). Returns the controller:
 * { ops: [{ fn, offset, count }], errors: string[], xipOn: boolean }.
 */
export function installSyntheticBootrom(mcu, { writableFrom = NVM_OFFSET, uniqueId = DEFAULT_UNIQUE_ID } = {}) {
  const rom = syntheticBootrom();
  mcu.bootrom.set(new Uint32Array(rom.buffer));
  const core = mcu.core;
  const state = { ops: [], errors: [], xipOn: true };
  let step = 'xip'; // xip -> IF -> EX -> (RE|RP)* -> FC -> back to xip
  const fail = (msg) => {
    const text = `synthetic boot ROM: ${msg} (PC ${hex(core.PC)}, LR ${hex(core.LR)})`;
    state.errors.push(text);
    throw new Error(text);
  };

  // While XIP is off, a CPU read of the flash window is what would crash the real chip: the
  // memory reads get a checking wrapper then. The object's own properties are made once here
  // and only reassigned (deleting them would put V8's object into slow dictionary mode, and
  // every emulated instruction reads through it).
  const READS = ['readUint32', 'readUint16', 'readUint8'];
  const proto = Object.getPrototypeOf(mcu);
  const plain = {};
  const guarded = {};
  for (const name of READS) {
    plain[name] = proto[name];
    guarded[name] = function (address) {
      if (inXip(address)) fail(`${name}(${hex(address)}) while XIP is off: code or data in flash between IF and the return to XIP`);
      return proto[name].call(this, address);
    };
    mcu[name] = plain[name];
  }
  const xipOff = () => {
    if (!state.xipOn) return;
    state.xipOn = false;
    for (const name of READS) mcu[name] = guarded[name];
  };
  const xipBack = () => {
    state.xipOn = true;
    step = 'xip';
    for (const name of READS) mcu[name] = plain[name];
  };

  // The SRAM copy of boot2 returns to XIP by enabling the SSI in its XIP read mode.
  const ssi = mcu.peripherals[SSI_BASE_KEY];
  const ssiWrite = ssi.writeUint32.bind(ssi);
  ssi.writeUint32 = (offset, value) => {
    ssiWrite(offset, value);
    if (!state.xipOn && step === 'FC' && offset === SSI_SSIENR && value & 1 && ((ssi.readUint32(SSI_CTRLR0) >>> 8) & 3) === SSI_TMOD_EEPROM_READ) xipBack();
  };

  // Flash commands by hand: chip select forced low through the QSPI SS pad override, bytes
  // through DR0; each byte written gets one answer byte.
  let csLow = false;
  let command = [];
  const answers = [];
  const qspiRegs = new Map();
  mcu.peripherals[IO_QSPI_KEY] = {
    readUint32: (offset) => qspiRegs.get(offset) ?? 0,
    writeUint32: (offset, value) => qspiRegs.set(offset, value >>> 0),
    writeUint32Atomic(offset, value, atomicType) {
      const old = qspiRegs.get(offset) ?? 0;
      const v = (atomicType === 1 ? old ^ value : atomicType === 2 ? old | value : atomicType === 3 ? old & ~value : value) >>> 0;
      qspiRegs.set(offset, v);
      if (offset !== IO_QSPI_SS_CTRL) return;
      const low = ((v >>> 8) & 3) === SS_OUTOVER_LOW;
      if (low && !csLow && step !== 'EX') fail('flash chip selected outside EX..FC');
      if (!low && csLow) state.ops.push({ fn: 'CMD', offset: command[0] ?? -1, count: command.length });
      csLow = low;
      command = [];
      answers.length = 0;
    },
  };
  const ssiRead = ssi.readUint32.bind(ssi);
  ssi.readUint32 = (offset) => (offset === SSI_DR0 && csLow ? answers.shift() ?? 0xff : ssiRead(offset));
  const ssiWriteXip = ssi.writeUint32;
  ssi.writeUint32 = (offset, value) => {
    if (offset === SSI_DR0 && csLow) {
      const i = command.length;
      command.push(value & 0xff);
      answers.push(command[0] === CMD_READ_UNIQUE_ID && i >= 5 && i < 13 ? uniqueId[i - 5] : 0xff);
      return;
    }
    ssiWriteXip(offset, value);
  };

  const calledSafely = (fn) => {
    if (inXip(core.LR)) fail(`${fn} called from flash`);
    if (!core.PM) fail(`${fn} called with interrupts enabled`);
  };
  const range = (fn, offset, count, unit) => {
    if (offset % unit !== 0 || count % unit !== 0) fail(`${fn}(${hex(offset)}, ${count}) not aligned to ${unit}`);
    if (offset < writableFrom || offset + count > FLASH_BYTES) fail(`${fn}(${hex(offset)}, ${count}) outside the writable flash ${hex(writableFrom)}-${hex(FLASH_BYTES)}`);
  };

  const handle = (fn) => {
    const r = core.registers;
    switch (fn) {
      case 'IF':
        calledSafely(fn);
        xipOff();
        step = 'IF';
        break;
      case 'EX':
        calledSafely(fn);
        if (step !== 'IF') fail('EX before IF');
        step = 'EX';
        break;
      case 'RE':
      case 'RP': {
        calledSafely(fn);
        if (step !== 'EX' && step !== 'RE' && step !== 'RP') fail(`${fn} before IF and EX`);
        const offset = r[0] >>> 0;
        if (fn === 'RE') {
          const count = r[1] >>> 0;
          range(fn, offset, count, 4096);
          if (r[2] >>> 0 !== 1 << 16 || (r[3] & 0xff) !== 0xd8) fail(`RE with block ${r[2]} / command ${hex(r[3])}: expected 65536 / 0xd8`);
          mcu.flash.fill(0xff, offset, offset + count);
          state.ops.push({ fn, offset, count });
        } else {
          const data = r[1] >>> 0;
          const count = r[2] >>> 0;
          range(fn, offset, count, 256);
          if (data < SRAM_START || data + count > SRAM_END) fail(`RP data at ${hex(data)}: not in SRAM`);
          for (let i = 0; i < count; i++) mcu.flash[offset + i] &= mcu.sram[data - SRAM_START + i];
          state.ops.push({ fn, offset, count });
        }
        step = fn;
        break;
      }
      case 'FC':
        calledSafely(fn);
        if (step === 'xip') fail('FC outside a flash operation');
        step = 'FC';
        break;
      case 'CX':
        xipBack();
        break;
    }
  };

  const previous = mcu.onBreak;
  mcu.onBreak = (code) => {
    const stub = (core.PC >>> 0) - 2; // rp2040js has stepped over the BKPT
    const i = code - BKPT_BASE;
    if (i >= 0 && i < FUNCTIONS.length && stub === ROM_STUBS + 4 * i) handle(FUNCTIONS[i]);
    else previous(code);
  };
  return state;
}
