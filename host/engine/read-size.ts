/**
 * READ size that follows the link's error rate (issue 17). A frame of w bytes on the wire arrives
 * intact with probability (1 - p)^w at a byte error rate p, and a damaged one is sent again whole,
 * so a READ of s bytes delivers s / (s + a) * (1 - p)^(s + a + r) of the link, a being the framing
 * of its answer and r its request (sent the other way, but lost with it when damaged). Large READs waste less on framing, small ones lose less to each damaged
 * byte: at p = 1e-4 a 4 KiB answer is damaged one time in three, a 512-byte one one time in
 * twenty. The rate is estimated from the READs themselves (those answered, those lost to noise),
 * over about the last MEMORY_BYTES of them, so the size shrinks on a noisy link and grows back on
 * a clean one.
 *
 * A device that answers READ_CHECKED (INFO_FLAGS.READ_CHECKED) offers a second way: large READs
 * with a CRC-32 per block of b bytes, of which a damaged answer keeps its intact blocks and only
 * the damaged ones are read again (protocol/src/read-checked.ts). It costs 4 bytes per block, so
 * it is chosen only where the model says it delivers more than plain READs: never on a clean link.
 */
import { cobsMaxEncodedLength } from '../../protocol/src/codec.js';
import { checkedBlocks, checkedMaxLength } from '../../protocol/src/read-checked.js';
import { PROTOCOL, STRUCTS, structSize } from '../../protocol/src/schema.js';

const FRAMING = PROTOCOL.headerSize + PROTOCOL.crcSize;
/** Wire bytes of an answer besides its data: READ header, frame header, CRC, COBS code, delimiter. */
export const ANSWER_OVERHEAD = FRAMING + structSize(STRUCTS.READ) + 2;
/** The same for a READ_CHECKED answer, besides its data and check table. */
export const CHECKED_OVERHEAD = FRAMING + structSize(STRUCTS.READ_CHECKED) + 2;
/** Wire bytes of a READ request (COBS of the frame, its delimiter): the other way, but damage there loses the answer too. */
const REQUEST_WIRE = cobsMaxEncodedLength(FRAMING + structSize(STRUCTS.READ_REQ)) + 1;
/** Block sizes READ_CHECKED is planned with (the best near sqrt(4 / p): table cost against re-read cost). */
const CHECKED_BLOCKS = [128, 256, 512, 1024] as const;
/** How much past traffic the estimate remembers (it fades with e-folding over this many bytes). */
const MEMORY_BYTES = 2 << 20;
/** Clean bytes the estimate starts with, so that one early loss does not shrink READs at once. */
const PRIOR_BYTES = 512 << 10;
/**
 * Smallest READ chosen: with the recorder's 8 requests in flight, 8 x 512 bytes keep a 1 MB/s
 * link busy across a 4 ms round trip; smaller READs would lose more to round trips than to noise.
 */
export const MIN_READ = 512;

/** The READ size that delivers the most at byte error rate p, from `min` to `max`. */
export function bestReadSize(p: number, max: number, min = MIN_READ): number {
  const lo = Math.min(min, max);
  if (!(p > 0)) return max;
  if (p >= 1) return lo;
  // d/ds ln(s / (s + a) * (1 - p)^(s + a + r)) = 0  <=>  s^2 + a s - a / q = 0, q = -ln(1 - p)
  const o = ANSWER_OVERHEAD;
  const q = -Math.log1p(-p);
  const s = (-o + Math.sqrt(o * o + (4 * o) / q)) / 2;
  return Math.max(lo, Math.min(max, Math.floor(s)));
}

/** The share of the link that READs of `size` deliver at byte error rate p (the model above). */
export function readYield(size: number, p: number): number {
  return (size / (size + ANSWER_OVERHEAD)) * Math.pow(1 - p, size + ANSWER_OVERHEAD + REQUEST_WIRE);
}

/**
 * The share of the link READ_CHECKEDs of `size` bytes in blocks of `block` deliver at byte error
 * rate p: a damaged header, framing or request loses the whole answer (sent again); a damaged
 * block is read again alone, by a READ of its size delivering readYield of it.
 */
export function checkedYield(size: number, block: number, p: number): number {
  const blocks = checkedBlocks(size, block);
  const answer = size + 4 * blocks + CHECKED_OVERHEAD;
  const headerIntact = Math.pow(1 - p, CHECKED_OVERHEAD + REQUEST_WIRE);
  const damagedBlocks = blocks * (1 - Math.pow(1 - p, block + 4));
  return size / (answer / headerIntact + (damagedBlocks * block) / readYield(block, p));
}

/** What to ask for: `length` bytes, by READ (`blockSize` 0) or by READ_CHECKED in blocks of `blockSize`. */
export interface ReadPlan {
  length: number;
  blockSize: number;
}

/**
 * The plan that delivers the most at byte error rate p: plain READs up to `max` bytes, or with
 * `checkedPayload` (the agreed payload limit of a device answering READ_CHECKED) checked ones.
 */
export function bestReadPlan(p: number, max: number, min = MIN_READ, checkedPayload: number | null = null): ReadPlan {
  const plain = bestReadSize(p, max, min);
  let best: ReadPlan = { length: plain, blockSize: 0 };
  if (checkedPayload === null || !(p > 0) || min >= max) return best;
  let bestYield = readYield(plain, p);
  for (const block of CHECKED_BLOCKS) {
    const length = Math.min(max, checkedMaxLength(checkedPayload, block));
    const y = checkedYield(length, block, p);
    if (y > bestYield) {
      best = { length, blockSize: block };
      bestYield = y;
    }
  }
  return best;
}

/** Wire bytes a READ of `length` exposes to damage, both ways: by READ_CHECKED when `blockSize` > 0. */
function exposedBytes(length: number, blockSize: number): number {
  return length + REQUEST_WIRE + (blockSize > 0 ? 4 * checkedBlocks(length, blockSize) + CHECKED_OVERHEAD : ANSWER_OVERHEAD);
}

export class ReadSizer {
  /** Bytes exposed to damage (with the prior) and READs lost to noise, both fading. */
  private exposed = PRIOR_BYTES;
  private lost = 0;

  /** `checkedPayload`: the agreed payload limit when the device answers READ_CHECKED (null: it does not). */
  constructor(
    readonly max: number,
    readonly min = MIN_READ,
    readonly checkedPayload: number | null = null,
  ) {}

  /**
   * A READ of `size` bytes was answered (by READ_CHECKED when `blockSize` > 0): intact, or with
   * `damagedBlocks` blocks whose check failed (each at least one damaged byte).
   */
  answered(size: number, blockSize = 0, damagedBlocks = 0): void {
    this.observe(exposedBytes(size, blockSize), damagedBlocks);
  }

  /** A try of a READ of `size` bytes was lost to noise (its answer or request damaged). */
  lostToNoise(size: number, blockSize = 0): void {
    this.observe(exposedBytes(size, blockSize), 1);
  }

  private observe(w: number, lost: number): void {
    const fade = Math.exp(-w / MEMORY_BYTES);
    this.exposed = this.exposed * fade + w;
    this.lost = this.lost * fade + lost;
  }

  /** Estimated byte error rate. */
  get errorRate(): number {
    return this.lost / this.exposed;
  }

  /** Size of the next plain READ. */
  next(): number {
    return bestReadSize(this.errorRate, this.max, this.min);
  }

  /** The next READ: plain, or READ_CHECKED where the device answers it and the model prefers it. */
  plan(): ReadPlan {
    return bestReadPlan(this.errorRate, this.max, this.min, this.checkedPayload);
  }
}
