/**
 * xorshift32: a tiny deterministic PRNG. The vector generator uses it so that regeneration is
 * byte-stable, and the property tests so that a failure reproduces from its seed. Not for secrets.
 */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
