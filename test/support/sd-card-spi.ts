/**
 * Byte-level SD card in SPI mode for the rp2040js harness (a TypeScript port of the C model in
 * firmware/tests/fakes/sd_card_model.c, which the core's SD driver is tested against). SDHC only
 * (block addressed), backed by a card image in memory.
 *
 * Commands: CMD0/8/9/10/12/13/16/17/18/24/25/32/33/38/55/58/59, ACMD41 (leaves idle only with
 * HCS, after a few polls), ACMD23, ACMD13 (SD Status: 4 MiB allocation units, 1 s to erase one)
 * and ACMD51 (SCR: erased data reads as zeros); other commands answer "illegal command". CMD38
 * zeroes the blocks from CMD32 to CMD33 (unless `eraseSupported` is false: then the CSD lacks the
 * erase command class and CMD32/33/38 are illegal). Command CRC7 is checked for
 * CMD0/CMD8 and, once CMD59 turned it on, for everything, as is the CRC16 of written blocks.
 * Data tokens 0xFE/0xFC/0xFD, data responses 0x05/0x0B/0x0D, busy after writes (a number of
 * bytes, plus optional stalls in emulated time: `stallNs`, `stallEvery`), removal (the card stops answering).
 */
const BLK = 512;

export function crc7(data: Uint8Array | number[], len = data.length): number {
  let crc = 0;
  for (let i = 0; i < len; i++) {
    const b = data[i]!;
    for (let k = 7; k >= 0; k--) {
      const bit = ((b >> k) & 1) ^ ((crc >> 6) & 1);
      crc = (crc << 1) & 0x7f;
      if (bit) crc ^= 0x09;
    }
  }
  return crc;
}

export function crc16(data: Uint8Array, start = 0, len = data.length - start): number {
  let crc = 0;
  for (let i = start; i < start + len; i++) {
    crc ^= data[i]! << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

enum St {
  Cmd,
  ReadMulti,
  WriteToken,
  WriteData,
}

export interface SdStats {
  commands: number;
  blocksRead: number;
  blocksWritten: number;
  blocksErased: number;
  crcErrors: number;
  protocolErrors: number;
  /** Bytes clocked over SPI (each way), selected or not. */
  spiBytes: number;
}

export class SdCardSpi {
  readonly blocks: number;
  selected = false;
  removed = false;
  /** Busy bytes after each written block. */
  busyBytes = 16;
  /**
   * Card stalls: after every `stallEvery`-th written block the card owes `stallNs` (emulated) of
   * extra busy time, paid over the blocks that follow at most `stallBlockMaxNs` each: a card's
   * busy after one block is bounded (the driver gives up at 500 ms, the SD spec's limit for
   * SDHC), so a long stall is a run of long busies. Default: every block, nothing owed.
   */
  stallNs = 0;
  stallEvery = 1;
  stallBlockMaxNs = 250e6;
  /** No stall begins once this many have. */
  stallLimit = Infinity;
  /** Stalls begun so far. */
  stalls = 0;
  private stallOwedNs = 0;
  /** Returns the emulated time in ns (for stalls). */
  now: () => number = () => 0;
  /** The card has the erase command class (CSD CCC class 5). */
  eraseSupported = true;
  readonly stats: SdStats = { commands: 0, blocksRead: 0, blocksWritten: 0, blocksErased: 0, crcErrors: 0, protocolErrors: 0, spiBytes: 0 };
  private eraseStart = -1;
  private eraseEnd = -1;

  private idle = true;
  private spiMode = false;
  private crcOn = false;
  private appCmd = false;
  private acmd41 = 0;
  private state = St.Cmd;
  private cmd = new Uint8Array(6);
  private cmdLen = 0;
  private out: number[] = [];
  private outPos = 0;
  private busy = 0;
  private busyUntil = 0;
  private multi = false;
  private cur = 0;
  private wbuf = new Uint8Array(BLK + 2);
  private wlen = 0;

  constructor(readonly image: Uint8Array) {
    if (image.length % (BLK * 1024) !== 0) throw new Error('SDHC image size must be a multiple of 512 KiB');
    this.blocks = image.length / BLK;
  }

  /** Power cycle: the card forgets its state (as after the board loses power). */
  powerCycle(): void {
    this.idle = true;
    this.spiMode = false;
    this.crcOn = false;
    this.appCmd = false;
    this.acmd41 = 0;
    this.state = St.Cmd;
    this.cmdLen = 0;
    this.out = [];
    this.outPos = 0;
    this.busy = 0;
    this.busyUntil = 0;
    this.stallOwedNs = 0;
  }

  private push(...b: number[]) {
    if (this.outPos >= this.out.length) {
      this.out = [];
      this.outPos = 0;
    }
    for (const x of b) this.out.push(x);
  }

  private respond(...b: number[]) {
    this.push(0xff, ...b); // NCR = 1
  }

  private pushData(data: Uint8Array, start: number, len: number) {
    this.push(0xff, 0xff, 0xfe);
    for (let i = 0; i < len; i++) this.out.push(data[start + i]!);
    const c = crc16(data, start, len);
    this.out.push(c >> 8, c & 0xff);
  }

  private pushBlock(lba: number) {
    if (lba >= this.blocks) {
      this.push(0xff, 0x08); // error token: out of range
      return;
    }
    this.pushData(this.image, lba * BLK, BLK);
    this.stats.blocksRead++;
  }

  private csd(): Uint8Array {
    const csd = new Uint8Array(16);
    const set = (msb: number, lsb: number, v: number) => {
      for (let b = lsb; b <= msb; b++, v = Math.floor(v / 2)) {
        const i = 15 - (b >> 3);
        const mask = 1 << (b & 7);
        if (v & 1) csd[i]! |= mask;
        else csd[i]! &= ~mask;
      }
    };
    set(127, 126, 1);
    set(83, 80, 9);
    set(69, 48, this.blocks / 1024 - 1);
    set(103, 96, 0x32);
    set(95, 84, this.eraseSupported ? 0x5b5 : 0x595); // command classes 0 2 4 (5: erase) 7 8 10
    set(46, 46, 1); // ERASE_BLK_EN
    csd[15] = (crc7(csd, 15) << 1) | 1;
    return csd;
  }

  private cid(): Uint8Array {
    const cid = new Uint8Array([0x03, 0x53, 0x44, 0x52, 0x50, 0x32, 0x30, 0x34, 0x10, 0x12, 0x34, 0x56, 0x78, 0x01, 0x8a, 0]);
    cid[15] = (crc7(cid, 15) << 1) | 1;
    return cid;
  }

  private exec() {
    const c = this.cmd;
    const idx = c[0]! & 0x3f;
    const arg = ((c[1]! << 24) | (c[2]! << 16) | (c[3]! << 8) | c[4]!) >>> 0;
    const crcOk = c[5] === ((crc7(c, 5) << 1) | 1);
    const acmd = this.appCmd;
    this.appCmd = false;
    if (!this.spiMode) {
      if (idx !== 0 || !crcOk) return;
    }
    this.stats.commands++;
    this.out = [];
    this.outPos = 0;
    if ((idx === 0 || idx === 8 || this.crcOn) && !crcOk) {
      this.stats.crcErrors++;
      this.respond((this.idle ? 1 : 0) | 0x08);
      return;
    }
    const base = this.idle ? 1 : 0;
    const illegal = base | 0x04;
    if (acmd && idx === 41) {
      this.acmd41++;
      if (!(arg & 0x40000000)) return this.respond(0x01);
      if (this.acmd41 > 2) this.idle = false;
      return this.respond(this.idle ? 1 : 0);
    }
    if (acmd && idx === 23) return this.respond(base);
    if (acmd && idx === 13 && !this.idle) {
      const status = new Uint8Array(64);
      status[10] = 9 << 4; // AU_SIZE: 4 MiB
      status[12] = 1; // ERASE_SIZE: 1 AU
      status[13] = 1 << 2; // ERASE_TIMEOUT: 1 s, ERASE_OFFSET 0
      this.respond(0, 0);
      return this.pushData(status, 0, 64);
    }
    if (acmd && idx === 51 && !this.idle) {
      this.respond(0);
      return this.pushData(new Uint8Array([0x02, 0x05, 0, 0, 0, 0, 0, 0]), 0, 8); // DATA_STAT_AFTER_ERASE 0
    }
    switch (idx) {
      case 0:
        this.powerCycle();
        this.spiMode = true;
        return this.respond(0x01);
      case 8:
        return this.respond(base, 0, 0, (arg >> 8) & 0x0f, arg & 0xff);
      case 9:
      case 10:
        if (this.idle) return this.respond(illegal);
        this.respond(0);
        {
          const reg = idx === 9 ? this.csd() : this.cid();
          this.pushData(reg, 0, 16);
        }
        return;
      case 12:
        return this.respond(base);
      case 13:
        return this.respond(base, 0);
      case 16:
        return this.respond(this.idle ? illegal : 0);
      case 17:
      case 18:
        if (this.idle) return this.respond(illegal);
        if (arg >= this.blocks) return this.respond(0x40);
        this.respond(0);
        if (idx === 17) this.pushBlock(arg);
        else {
          this.state = St.ReadMulti;
          this.cur = arg;
        }
        return;
      case 24:
      case 25:
        if (this.idle) return this.respond(illegal);
        if (arg >= this.blocks) return this.respond(0x40);
        this.respond(0);
        this.state = St.WriteToken;
        this.multi = idx === 25;
        this.cur = arg;
        return;
      case 32:
      case 33:
        if (this.idle || !this.eraseSupported) return this.respond(illegal);
        if (arg >= this.blocks) return this.respond(0x40);
        if (idx === 32) this.eraseStart = arg;
        else this.eraseEnd = arg;
        return this.respond(0);
      case 38:
        if (this.idle || !this.eraseSupported) return this.respond(illegal);
        if (this.eraseStart < 0 || this.eraseEnd < this.eraseStart) return this.respond(0x10); // erase sequence error
        this.image.fill(0, this.eraseStart * BLK, (this.eraseEnd + 1) * BLK);
        this.stats.blocksErased += this.eraseEnd - this.eraseStart + 1;
        this.eraseStart = this.eraseEnd = -1;
        this.respond(0);
        return this.startBusy();
      case 55:
        this.appCmd = true;
        return this.respond(base);
      case 58: {
        const ocr = this.idle ? 0x00ff8000 : 0xc0ff8000;
        return this.respond(base, ocr >>> 24, (ocr >> 16) & 0xff, (ocr >> 8) & 0xff, ocr & 0xff);
      }
      case 59:
        this.crcOn = (arg & 1) === 1;
        return this.respond(base);
      default:
        return this.respond(illegal);
    }
  }

  private writeDone() {
    const crc = (this.wbuf[BLK]! << 8) | this.wbuf[BLK + 1]!;
    let resp: number;
    if (this.crcOn && crc !== crc16(this.wbuf, 0, BLK)) {
      this.stats.crcErrors++;
      resp = 0x0b;
    } else if (this.cur >= this.blocks) {
      resp = 0x0d;
    } else {
      this.image.set(this.wbuf.subarray(0, BLK), this.cur * BLK);
      this.cur++;
      this.stats.blocksWritten++;
      if (this.stallNs > 0 && this.stallEvery > 0 && this.stats.blocksWritten % this.stallEvery === 0 && this.stalls < this.stallLimit) {
        this.stallOwedNs += this.stallNs;
        this.stalls++;
      }
      resp = 0x05;
    }
    this.push(0xe0 | resp);
    this.startBusy();
    this.state = this.multi ? St.WriteToken : St.Cmd;
  }

  private startBusy() {
    this.busy = Math.max(1, this.busyBytes);
    const stall = Math.min(this.stallOwedNs, this.stallBlockMaxNs);
    this.stallOwedNs -= stall;
    this.busyUntil = stall > 0 ? this.now() + stall : 0;
  }

  private isBusy(): boolean {
    if (this.busy > 0) return true;
    if (this.busyUntil && this.now() < this.busyUntil) return true;
    this.busyUntil = 0;
    return false;
  }

  /** One byte each way: mosi from the host, the return value is what the card drives. */
  exchange(mosi: number): number {
    this.stats.spiBytes++;
    if (this.removed) return 0xff;
    let out = 0xff;
    if (this.outPos < this.out.length) {
      out = this.out[this.outPos++]!;
    } else if (this.isBusy()) {
      out = 0x00;
      if (this.busy > 0) this.busy--;
    } else if (this.state === St.ReadMulti && this.selected) {
      this.out = [];
      this.outPos = 0;
      this.pushBlock(this.cur++);
      out = this.out[this.outPos++]!;
    }
    if (!this.selected) return 0xff;

    switch (this.state) {
      case St.WriteToken:
        if (mosi === 0xff) break;
        if (this.busy > 0 || this.busyUntil || this.outPos < this.out.length) {
          this.stats.protocolErrors++;
          break;
        }
        if (mosi === (this.multi ? 0xfc : 0xfe)) {
          this.state = St.WriteData;
          this.wlen = 0;
        } else if (this.multi && mosi === 0xfd) {
          this.state = St.Cmd;
          this.push(0xff);
          this.startBusy();
        } else {
          this.stats.protocolErrors++;
        }
        break;
      case St.WriteData:
        this.wbuf[this.wlen++] = mosi;
        if (this.wlen === BLK + 2) this.writeDone();
        break;
      default:
        if (this.cmdLen === 0) {
          if ((mosi & 0xc0) !== 0x40) break;
          if (this.busy > 0) {
            this.stats.protocolErrors++;
            break;
          }
        }
        this.cmd[this.cmdLen++] = mosi;
        if (this.cmdLen === 6) {
          this.cmdLen = 0;
          if (this.state === St.ReadMulti) {
            if ((this.cmd[0]! & 0x3f) !== 12) {
              this.stats.protocolErrors++;
              break;
            }
            this.state = St.Cmd;
            this.out = [0xff, 0x00];
            this.outPos = 0;
            this.busy = 4;
            break;
          }
          this.exec();
        }
    }
    return out;
  }
}
