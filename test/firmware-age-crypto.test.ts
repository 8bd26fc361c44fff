/**
 * The firmware's ChaCha20-Poly1305 (firmware/core/crypto over libtorsion, through
 * firmware/tests/crosscheck/age_crypto_cli.c in the host build) against node:crypto (OpenSSL) on random
 * keys, nonces, AAD and text lengths from 0 to 200 KiB, the text fed to the firmware in random
 * update sizes: the same ciphertexts and tags, each side opens the other's, and both reject
 * tampered tags, ciphertexts and AAD. Its X25519 against node's (ECDH x25519) on random keys: the
 * same public keys and shared secrets, and both refuse a small-order peer key (zero secret).
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/sim.js';

const CLI = process.env.REC_AGE_CRYPTO_CLI ?? join(ROOT, 'firmware', 'build', 'tests', 'age-crypto-cli');
const hexOrDash = (b: Buffer): string => (b.length ? b.toString('hex') : '-');

/** Runs the firmware's AEAD over the requests (one per line); its answers, one per request. */
function firmware(requests: string[]): string[] {
  const r = spawnSync(CLI, [], { input: requests.join('\n') + '\n', encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  expect(r.status, `age-crypto-cli: ${r.stdout.slice(-300)} ${r.stderr}`).toBe(0);
  const answers = r.stdout.trimEnd().split('\n');
  expect(answers).toHaveLength(requests.length);
  return answers;
}

function nodeSeal(key: Buffer, nonce: Buffer, aad: Buffer, text: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: text.length });
  const ct = Buffer.concat([c.update(text), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

function nodeOpen(key: Buffer, nonce: Buffer, aad: Buffer, ct: Buffer, tag: Buffer): Buffer | null {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: ct.length });
  d.setAuthTag(tag);
  try {
    return Buffer.concat([d.update(ct), d.final()]);
  } catch {
    return null;
  }
}

/** Random update sizes adding up to len: mostly small and odd, some large, some zero. */
function pieces(len: number): string {
  const out: number[] = [];
  let left = len;
  while (left > 0) {
    const n = Math.min(left, [0, 1, randomInt(1, 64), randomInt(1, 1000), randomInt(1, 20_000)][randomInt(0, 5)]!);
    out.push(n);
    left -= n;
  }
  return out.length ? out.join(',') : '-';
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`age-crypto-cli not built at ${CLI}: run npm test (it builds firmware/build first)`);
});

describe('firmware ChaCha20-Poly1305 against node:crypto', () => {
  const cases = Array.from({ length: 60 }, (_, i) => {
    // Empty and block-boundary lengths, a whole age chunk (64 KiB), then random up to 200 KiB.
    const len = [0, 1, 15, 16, 17, 63, 64, 65, 65536, 200 * 1024][i] ?? randomInt(0, 200 * 1024 + 1);
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes([0, 0, 1, 12, 16, 17, 300][i % 7]!);
    const text = randomBytes(len);
    return { key, nonce, aad, text, ...nodeSeal(key, nonce, aad, text) };
  });
  const req = (verb: string, c: (typeof cases)[number], rest: string) =>
    `${verb} ${c.key.toString('hex')} ${c.nonce.toString('hex')} ${hexOrDash(c.aad)} ${rest}`;

  it('seals as node does, in random update sizes, and node opens it', () => {
    const sealed = firmware(cases.map((c) => req('seal', c, `${pieces(c.text.length)} ${hexOrDash(c.text)}`)));
    cases.forEach((c, i) => {
      const what = `${c.text.length}-byte text, ${c.aad.length}-byte AAD`;
      const [ct, tag] = sealed[i]!.split(' ');
      expect(ct === '-' ? '' : ct, what).toBe(c.ct.toString('hex'));
      expect(tag, what).toBe(c.tag.toString('hex'));
      expect(nodeOpen(c.key, c.nonce, c.aad, Buffer.from(ct === '-' ? '' : ct!, 'hex'), Buffer.from(tag!, 'hex'))?.equals(c.text), what).toBe(true);
    });
  });

  it("opens node's ciphertexts in random update sizes", () => {
    const opened = firmware(cases.map((c) => req('open', c, `${pieces(c.ct.length)} ${hexOrDash(c.ct)} ${c.tag.toString('hex')}`)));
    cases.forEach((c, i) => expect(opened[i], `${c.text.length}-byte text`).toBe(hexOrDash(c.text)));
  });

  it('rejects, like node, a flipped bit in the tag, the ciphertext or the AAD', () => {
    const tampered = cases.flatMap((c) => {
      const tag = Buffer.from(c.tag);
      tag[randomInt(0, 16)]! ^= 1 << randomInt(0, 8);
      const out: { c: typeof c; aad: Buffer; ct: Buffer; tag: Buffer }[] = [{ c, aad: c.aad, ct: c.ct, tag }];
      if (c.ct.length) {
        const ct = Buffer.from(c.ct);
        ct[randomInt(0, ct.length)]! ^= 1 << randomInt(0, 8);
        out.push({ c, aad: c.aad, ct, tag: c.tag });
      }
      if (c.aad.length) {
        const aad = Buffer.from(c.aad);
        aad[randomInt(0, aad.length)]! ^= 1 << randomInt(0, 8);
        out.push({ c, aad, ct: c.ct, tag: c.tag });
      }
      return out;
    });
    const verdicts = firmware(
      tampered.map((t) => `open ${t.c.key.toString('hex')} ${t.c.nonce.toString('hex')} ${hexOrDash(t.aad)} ${pieces(t.ct.length)} ${hexOrDash(t.ct)} ${t.tag.toString('hex')}`),
    );
    tampered.forEach((t, i) => {
      expect(verdicts[i]).toBe('reject');
      expect(nodeOpen(t.c.key, t.c.nonce, t.aad, t.ct, t.tag)).toBeNull();
    });
    expect(tampered.length).toBeGreaterThan(150);
  });
});

// DER wrappers of raw X25519 keys (RFC 8410).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const x25519PrivateKey = (k: Buffer) => createPrivateKey({ key: Buffer.concat([X25519_PKCS8, k]), format: 'der', type: 'pkcs8' });
const x25519PublicRaw = (k: Buffer): string => createPublicKey(x25519PrivateKey(k)).export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI.length).toString('hex');
function nodeX25519(k: Buffer, u: Buffer): string {
  const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, u]), format: 'der', type: 'spki' });
  try {
    return diffieHellman({ privateKey: x25519PrivateKey(k), publicKey }).toString('hex');
  } catch {
    return 'reject';
  }
}

describe('firmware X25519 against node:crypto', () => {
  it('derives the same public keys and shared secrets on random keys', () => {
    const pairs = Array.from({ length: 100 }, () => ({ a: randomBytes(32), b: randomBytes(32) }));
    const pubs = firmware(pairs.flatMap((p) => [`x25519base ${p.a.toString('hex')}`, `x25519base ${p.b.toString('hex')}`]));
    pairs.forEach((p, i) => {
      expect(pubs[2 * i]).toBe(x25519PublicRaw(p.a));
      expect(pubs[2 * i + 1]).toBe(x25519PublicRaw(p.b));
    });
    const shared = firmware(pairs.flatMap((p, i) => [`x25519 ${p.a.toString('hex')} ${pubs[2 * i + 1]}`, `x25519 ${p.b.toString('hex')} ${pubs[2 * i]}`]));
    pairs.forEach((p, i) => {
      const want = nodeX25519(p.a, Buffer.from(pubs[2 * i + 1]!, 'hex'));
      expect(want).toMatch(/^[0-9a-f]{64}$/);
      expect(shared[2 * i]).toBe(want);
      expect(shared[2 * i + 1]).toBe(want);
    });
  });

  it('computes random u-coordinates (on the curve or its twist) as node does, and both refuse small-order ones', () => {
    // u = 0 and 1 and the order-8 points' u (RFC 7748 / Wycheproof), then random 32-byte strings.
    const smallOrder = ['00', '01', 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157']
      .map((h) => Buffer.from(h.padEnd(64, '0'), 'hex'));
    const us = [...smallOrder, ...Array.from({ length: 60 }, () => randomBytes(32))];
    const ks = us.map(() => randomBytes(32));
    const got = firmware(us.map((u, i) => `x25519 ${ks[i]!.toString('hex')} ${u.toString('hex')}`));
    us.forEach((u, i) => expect(got[i], u.toString('hex')).toBe(nodeX25519(ks[i]!, u)));
    expect(got.slice(0, smallOrder.length)).toEqual(smallOrder.map(() => 'reject'));
  });
});
