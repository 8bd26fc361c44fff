/**
 * READ size that follows the link's error rate (issue 17). A frame of w bytes on the wire arrives
 * intact with probability (1 - p)^w at a byte error rate p, and a damaged one is sent again whole,
 * so a READ of s bytes delivers s / (s + a) * (1 - p)^(s + a + r) of the link, a being the framing
 * of its answer and r its request (sent the other way, but lost with it when damaged). Large READs waste less on framing, small ones lose less to each damaged
 * byte: at p = 1e-4 a 4 KiB answer is damaged one time in three, a 512-byte one one time in
 * twenty. The rate is estimated from the READs themselves (those answered, those lost to noise),
 * over about the last MEMORY_BYTES of them, so the size shrinks on a noisy link and grows back on
 * a clean one.
 */
import { cobsMaxEncodedLength } from '../../protocol/src/codec.js';
import { PROTOCOL, STRUCTS, structSize } from '../../protocol/src/schema.js';

const FRAMING = PROTOCOL.headerSize + PROTOCOL.crcSize;
/** Wire bytes of an answer besides its data: READ header, frame header, CRC, COBS code, delimiter. */
export const ANSWER_OVERHEAD = FRAMING + structSize(STRUCTS.READ) + 2;
/** Wire bytes of a READ request (COBS of the frame, its delimiter): the other way, but damage there loses the answer too. */
const REQUEST_WIRE = cobsMaxEncodedLength(FRAMING + structSize(STRUCTS.READ_REQ)) + 1;
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

export class ReadSizer {
  /** Bytes exposed to damage (with the prior) and READs lost to noise, both fading. */
  private exposed = PRIOR_BYTES;
  private lost = 0;

  constructor(
    readonly max: number,
    readonly min = MIN_READ,
  ) {}

  /** A READ of `size` bytes was answered intact. */
  answered(size: number): void {
    this.observe(size, 0);
  }

  /** A try of a READ of `size` bytes was lost to noise (its answer or request damaged). */
  lostToNoise(size: number): void {
    this.observe(size, 1);
  }

  private observe(size: number, lost: number): void {
    const w = size + ANSWER_OVERHEAD + REQUEST_WIRE;
    const fade = Math.exp(-w / MEMORY_BYTES);
    this.exposed = this.exposed * fade + w;
    this.lost = this.lost * fade + lost;
  }

  /** Estimated byte error rate. */
  get errorRate(): number {
    return this.lost / this.exposed;
  }

  /** Size of the next READ. */
  next(): number {
    return bestReadSize(this.errorRate, this.max, this.min);
  }
}
