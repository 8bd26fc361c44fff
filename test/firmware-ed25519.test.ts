/**
 * The firmware's Ed25519 (firmware/core/crypto, through firmware/tests/crosscheck/ed25519_cli.c
 * in the host build) against node:crypto (OpenSSL) on random seeds and messages, both ways: the
 * same public keys and signatures (Ed25519 is deterministic), each side verifies the other's
 * signatures, and both reject the same tampered ones. The Wycheproof vectors get the same verdict
 * from both and from the file. All of it twice: the host build's ed25519-cli (orlp's table-driven
 * base-point multiplication) and ed25519-compact-base-cli (the compact one, as the QEMU port
 * signs: REC_ED25519_COMPACT_BASE, firmware/core/crypto/README.md).
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, randomInt, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/sim.js';

const TESTS_BUILD = join(ROOT, 'firmware', 'build', 'tests');
const CLIS = [
  { name: 'orlp\'s base-point table', cli: process.env.REC_ED25519_CLI ?? join(TESTS_BUILD, 'ed25519-cli') },
  { name: 'compact base-point multiplication', cli: join(TESTS_BUILD, 'ed25519-compact-base-cli') },
];
const VECTORS = join(ROOT, 'firmware', 'tests', 'vectors');

// DER wrappers of a raw Ed25519 seed (PKCS#8) and public key (SubjectPublicKeyInfo), RFC 8410.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const privateKey = (seed: Buffer): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
const publicKey = (pub: Buffer): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
const rawPublicKey = (key: KeyObject): Buffer => createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
const hexOrDash = (b: Buffer): string => (b.length ? b.toString('hex') : '-');

/** Runs the firmware's Ed25519 over the requests (one per line); its answers, one per request. */
function firmware(cli: string, requests: string[]): string[] {
  const r = spawnSync(cli, [], { input: requests.join('\n') + '\n', encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  expect(r.status, `ed25519-cli: ${r.stdout.slice(-300)} ${r.stderr}`).toBe(0);
  const answers = r.stdout.trimEnd().split('\n');
  expect(answers).toHaveLength(requests.length);
  return answers;
}

beforeAll(() => {
  for (const { cli } of CLIS) {
    if (!existsSync(cli)) throw new Error(`${cli} not built: run npm test (it builds firmware/build first)`);
  }
});

describe.each(CLIS)('firmware Ed25519 ($name) against node:crypto', ({ cli }) => {
  it('derives the same keys and signatures on random seeds and messages, and each verifies the other', () => {
    const cases = Array.from({ length: 200 }, (_, i) => {
      const seed = randomBytes(32);
      // Empty, short and block-boundary lengths first, then random ones up to 2 KiB.
      const len = [0, 1, 111, 112, 127, 128, 129, 255][i] ?? randomInt(0, 2048);
      const message = randomBytes(len);
      const key = privateKey(seed);
      return { seed, message, pub: rawPublicKey(key), nodeSig: sign(null, message, key) };
    });
    const keypairs = firmware(cli, cases.map((c) => `keypair ${c.seed.toString('hex')}`));
    const sigs = firmware(cli, cases.map((c) => `sign ${c.seed.toString('hex')} ${hexOrDash(c.message)}`));
    const verdicts = firmware(cli, cases.map((c) => `verify ${c.pub.toString('hex')} ${hexOrDash(c.message)} ${c.nodeSig.toString('hex')}`));
    cases.forEach((c, i) => {
      const what = `seed ${c.seed.toString('hex')}, ${c.message.length}-byte message`;
      expect(keypairs[i], what).toBe(c.pub.toString('hex'));
      expect(sigs[i], what).toBe(c.nodeSig.toString('hex'));
      expect(verdicts[i], what).toBe('1');
      expect(verify(null, c.message, publicKey(c.pub), Buffer.from(sigs[i]!, 'hex')), what).toBe(true);
    });
  });

  it('rejects the same tampered signatures, messages and keys as node:crypto', () => {
    const cases = Array.from({ length: 150 }, (_, i) => {
      const seed = randomBytes(32);
      const message = randomBytes(randomInt(1, 300));
      const key = privateKey(seed);
      const pub = rawPublicKey(key);
      const sig = sign(null, message, key);
      // One random bit flipped in the signature, the message or the public key, in turn.
      const target = [sig, message, pub][i % 3]!;
      const bit = randomInt(0, target.length * 8);
      target[bit >> 3]! ^= 1 << (bit & 7);
      let nodeVerdict: boolean;
      try {
        nodeVerdict = verify(null, message, publicKey(pub), sig);
      } catch {
        nodeVerdict = false; // a public key that is not a curve point
      }
      return { seed, message, pub, sig, nodeVerdict, what: `seed ${seed.toString('hex')}, ${['signature', 'message', 'public key'][i % 3]} bit ${bit} flipped` };
    });
    const verdicts = firmware(cli, cases.map((c) => `verify ${c.pub.toString('hex')} ${hexOrDash(c.message)} ${c.sig.toString('hex')}`));
    cases.forEach((c, i) => {
      expect(c.nodeVerdict, c.what).toBe(false);
      expect(verdicts[i], c.what).toBe('0');
    });
  });

  it('gives every 64-byte Wycheproof signature the verdict of the file, as node:crypto does', () => {
    interface WycheproofGroup {
      publicKey: { pk: string };
      tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid' }[];
    }
    const file = JSON.parse(readFileSync(join(VECTORS, 'wycheproof_ed25519_test.json'), 'utf8')) as { testGroups: WycheproofGroup[] };
    const cases = file.testGroups.flatMap((g) => g.tests.filter((t) => t.sig.length === 128).map((t) => ({ ...t, pk: g.publicKey.pk })));
    expect(cases.length).toBeGreaterThan(130);
    const verdicts = firmware(cli, cases.map((t) => `verify ${t.pk} ${t.msg || '-'} ${t.sig}`));
    cases.forEach((t, i) => {
      const expected = t.result === 'valid';
      expect(verdicts[i], `tcId ${t.tcId}`).toBe(expected ? '1' : '0');
      expect(verify(null, Buffer.from(t.msg, 'hex'), publicKey(Buffer.from(t.pk, 'hex')), Buffer.from(t.sig, 'hex')), `tcId ${t.tcId}`).toBe(expected);
    });
  });

  it('signs the RFC 8032 section 7.1 vectors as the RFC and node:crypto do', () => {
    const file = JSON.parse(readFileSync(join(VECTORS, 'rfc8032_ed25519.json'), 'utf8')) as {
      tests: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
    };
    expect(file.tests.map((t) => t.name)).toEqual(['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']);
    const sigs = firmware(cli, file.tests.map((t) => `sign ${t.secretKey} ${t.message || '-'}`));
    file.tests.forEach((t, i) => {
      const key = privateKey(Buffer.from(t.secretKey, 'hex'));
      expect(rawPublicKey(key).toString('hex'), t.name).toBe(t.publicKey);
      expect(sign(null, Buffer.from(t.message, 'hex'), key).toString('hex'), t.name).toBe(t.signature);
      expect(sigs[i], t.name).toBe(t.signature);
    });
  });
});
