/**
 * age X25519 recipients as strings and as the 32 bytes the recorder holds (SET_RECIPIENT): the
 * `age1...` form is Bech32 (BIP 173, not Bech32m) of the X25519 public key with the prefix "age".
 * age-encryption does the key work but keeps its Bech32 to itself, so the few lines are here
 * (checked against age-encryption's own recipients in recipient.test.ts).
 */

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const RECIPIENT_PREFIX = 'age';

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk >>> 0;
}

const expandPrefix = (p: string) => [...[...p].map((c) => c.charCodeAt(0) >> 5), 0, ...[...p].map((c) => c.charCodeAt(0) & 31)];

/** Regroups bits (8 → 5 with padding, 5 → 8 refusing non-zero padding). */
function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    acc = (acc << from) | data[i]!;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & max);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & max);
  } else if (bits >= from || ((acc << (to - bits)) & max) !== 0) return null;
  return out;
}

export function bech32Encode(prefix: string, bytes: Uint8Array): string {
  const data = convertBits(bytes, 8, 5, true)!;
  const mod = polymod([...expandPrefix(prefix), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const check = Array.from({ length: 6 }, (_, i) => (mod >>> (5 * (5 - i))) & 31);
  return prefix + '1' + [...data, ...check].map((d) => CHARSET[d]).join('');
}

/** The prefix and bytes of a Bech32 string, or null when it is not valid Bech32. */
export function bech32Decode(s: string): { prefix: string; bytes: Buffer } | null {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return null;
  const lower = s.toLowerCase();
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || sep + 7 > lower.length) return null;
  const prefix = lower.slice(0, sep);
  const values: number[] = [];
  for (const c of lower.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v < 0) return null;
    values.push(v);
  }
  if (polymod([...expandPrefix(prefix), ...values]) !== 1) return null;
  const bytes = convertBits(values.slice(0, -6), 5, 8, false);
  return bytes ? { prefix, bytes: Buffer.from(bytes) } : null;
}

/** The 32-byte X25519 public key inside an `age1...` recipient; null when it is not one. */
export function recipientBytes(recipient: string): Buffer | null {
  const d = bech32Decode(recipient.trim());
  return d && d.prefix === RECIPIENT_PREFIX && d.bytes.length === 32 ? d.bytes : null;
}

/** The `age1...` recipient of a 32-byte X25519 public key. */
export function recipientString(bytes: Uint8Array): string {
  if (bytes.length !== 32) throw new Error('an X25519 recipient is 32 bytes');
  return bech32Encode(RECIPIENT_PREFIX, bytes);
}

/** A short, file-name-safe id of a recipient: its first 12 characters after `age1`. */
export function recipientShortId(recipient: string): string {
  return recipient.slice(RECIPIENT_PREFIX.length + 1, RECIPIENT_PREFIX.length + 13);
}
