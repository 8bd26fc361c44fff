// A model of the RP2040 ring oscillator's random bit for rp2040js (which leaves the ROSC
// unimplemented: every read is 0, so the port's entropy would be stuck at zero). RANDOMBIT
// (ROSC_BASE 0x40060000 + 0x1c, bit 0) returns bits from a seeded generator (xorshift32), so a
// run is repeatable; `stuck` (0 or 1) makes it return that bit forever, for the health-check
// tests. It also counts reads that came less than 10 us (emulated) after the previous one,
// which the port must never make (`tooSoon`). STATUS reads as enabled and stable.
const ROSC_KEY = 0x40060; // rp2040js peripheral key of ROSC_BASE
const RANDOMBIT = 0x1c;
const STATUS = 0x18;
const STATUS_ENABLED_STABLE = (1 << 12) | (1 << 31);
const MIN_SPACING_NS = 10_000;

export function installRosc(mcu, { seed = 1, stuck = null } = {}) {
  let x = seed >>> 0 || 1;
  let lastNs = -Infinity;
  const regs = new Map();
  const rosc = {
    stuck,
    reads: 0,
    ones: 0,
    tooSoon: 0,
    readUint32(offset) {
      if (offset === STATUS) return STATUS_ENABLED_STABLE >>> 0;
      if (offset !== RANDOMBIT) return regs.get(offset) ?? 0;
      const now = mcu.clock.nanos;
      if (now - lastNs < MIN_SPACING_NS) rosc.tooSoon++;
      lastNs = now;
      rosc.reads++;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      const bit = rosc.stuck === null ? x & 1 : rosc.stuck & 1;
      rosc.ones += bit;
      return bit;
    },
    writeUint32(offset, value) {
      regs.set(offset, value >>> 0);
    },
    writeUint32Atomic(offset, value, atomicType) {
      const old = regs.get(offset) ?? 0;
      regs.set(offset, (atomicType === 1 ? old ^ value : atomicType === 2 ? old | value : atomicType === 3 ? old & ~value : value) >>> 0);
    },
  };
  mcu.peripherals[ROSC_KEY] = rosc;
  return rosc;
}
