import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { generateX25519Identity, identityToRecipient, Decrypter } from 'age-encryption';
import { ageEncrypt, flipByteInChunk, swapChunks } from '../testing/age-writer.js';
import { realFs } from '../library.js';
import { EngineError } from '../errors.js';
import { bech32Decode, bech32Encode, recipientBytes, recipientString } from './recipient.js';
import { createOwnerKey, importOwnerKey, listOwnerKeys, loadIdentities, parseIdentityFile, readIdentityFile } from './owner-keys.js';
import { decryptToFile } from './decrypt.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tmp = () => mkdtempSync(join(tmpdir(), 'privacy-'));

async function identity() {
  const id = await generateX25519Identity();
  const recipient = await identityToRecipient(id);
  return { identity: id, recipient, file: '(test)' };
}

describe('age recipients', () => {
  test('age1 strings and their 32 bytes round-trip, as age-encryption encodes them', async () => {
    for (let i = 0; i < 5; i++) {
      const { recipient } = await identity();
      const bytes = recipientBytes(recipient)!;
      expect(bytes).toHaveLength(32);
      expect(recipientString(bytes)).toBe(recipient);
    }
  });

  test('a damaged or foreign string is no recipient', async () => {
    const { recipient } = await identity();
    const wrong = recipient.slice(0, 10) + (recipient[10] === 'q' ? 'p' : 'q') + recipient.slice(11);
    expect(recipientBytes(wrong)).toBeNull();
    expect(recipientBytes(recipient.toUpperCase())).toEqual(recipientBytes(recipient));
    expect(recipientBytes('age1' + recipient.slice(4).toUpperCase())).toBeNull(); // mixed case
    expect(recipientBytes(bech32Encode('age', Buffer.alloc(31)))).toBeNull();
    expect(recipientBytes(bech32Encode('bc', Buffer.alloc(32)))).toBeNull();
    expect(bech32Decode('nonsense')).toBeNull();
  });
});

describe('owner keys', () => {
  test('keys new writes an age-keygen file 0600 in a 0700 folder that the stock age uses', async () => {
    const root = tmp();
    const k = await createOwnerKey(root);
    expect(k.recipient).toMatch(/^age1[a-z0-9]{58}$/);
    expect(statSync(join(root, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(k.file).mode & 0o777).toBe(0o600);
    const text = readFileSync(k.file, 'utf8');
    expect(text).toMatch(new RegExp(`^# created: \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\n# public key: ${k.recipient}\\nAGE-SECRET-KEY-1[0-9A-Z]+\\n$`));
    const plain = randomBytes(70000);
    const agePath = join(root, 'x.age');
    writeFileSync(agePath, ageEncrypt(plain, recipientBytes(k.recipient)!));
    const r = spawnSync('age', ['-d', '-i', k.file, agePath], { timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.equals(plain)).toBe(true);
    expect(await listOwnerKeys(root)).toEqual([{ ...k, usable: true, problem: null }]);
  });

  test('an imported key is remembered by its path; --copy copies it; a key age-keygen made works', async () => {
    const root = tmp();
    const file = join(tmp(), 'mine.txt');
    expect(spawnSync('age-keygen', ['-o', file], { timeout: 20_000 }).status).toBe(0);
    const [ref] = await importOwnerKey(root, file, false);
    expect(ref!.file).toBe(file);
    expect(ref!.stored).toBe('referenced');
    const [copy] = await importOwnerKey(root, file, true);
    expect(copy!.file).not.toBe(file);
    expect(copy!.file.startsWith(join(root, 'keys'))).toBe(true);
    expect(statSync(copy!.file).mode & 0o777).toBe(0o600);
    const recipient = spawnSync('age-keygen', ['-y', file], { encoding: 'utf8' }).stdout.trim();
    expect(ref!.recipient).toBe(recipient);
    const { identities } = await loadIdentities(root);
    expect(identities.map((i) => i.recipient)).toEqual([recipient]);
  });

  test('a referenced key file gone missing, or a damaged list of keys, is a problem to say, not a failure', async () => {
    const root = tmp();
    const file = join(tmp(), 'mine.txt');
    expect(spawnSync('age-keygen', ['-o', file], { timeout: 20_000 }).status).toBe(0);
    await importOwnerKey(root, file, false);
    rmSync(file);
    const gone = await loadIdentities(root);
    expect(gone.identities).toEqual([]);
    expect(gone.problems[0]).toMatch(/mine\.txt is not there/);
    expect((await listOwnerKeys(root))[0]).toMatchObject({ usable: false });
    writeFileSync(join(root, 'keys', 'owner-keys.json'), '{ damaged');
    const damaged = await loadIdentities(root);
    expect(damaged.problems[0]).toMatch(/list of owner keys .* is damaged/);
  });

  test('files that hold no X25519 identity are refused in words', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'pq.txt'), '# a post-quantum key\nAGE-SECRET-KEY-PQ-1ABCDEF\n');
    writeFileSync(join(dir, 'junk.txt'), 'hello\n');
    await expect(readIdentityFile(join(dir, 'pq.txt'))).rejects.toThrow(/holds no age X25519 key/);
    await expect(readIdentityFile(join(dir, 'junk.txt'))).rejects.toThrow(/not an age key file/);
    await expect(readIdentityFile(join(dir, 'none.txt'))).rejects.toThrow(/is not there/);
    expect(parseIdentityFile('# c\n\nAGE-SECRET-KEY-1ABC\n').identities).toEqual(['AGE-SECRET-KEY-1ABC']);
  });
});

describe('decryption', () => {
  const plain = Buffer.concat([Buffer.alloc(1024, 1), randomBytes(4 * 65536 + 500)]);
  const audio = { dataOffset: 1024, dataLength: plain.length - 1024 - 100 };

  async function attempt(age: Buffer, ids: Awaited<ReturnType<typeof identity>>[], expectedSize?: number) {
    const dir = tmp();
    writeFileSync(join(dir, 'x.age'), age);
    return decryptToFile(realFs, join(dir, 'x.age'), join(dir, 'x.wav.part'), ids, audio, { what: 'Recording 7', expectedSize }).then(
      (r) => ({ r, out: readFileSync(join(dir, 'x.wav.part')) }),
      (e: unknown) => {
        expect(e).toBeInstanceOf(EngineError);
        return { error: e as EngineError };
      },
    );
  }

  test('gives the plaintext, its hash and the audio hash, the same as age-encryption in memory', async () => {
    const id = await identity();
    const age = ageEncrypt(plain, recipientBytes(id.recipient)!);
    const got = await attempt(age, [id]);
    if (!('r' in got)) throw got.error;
    expect(got.out.equals(plain)).toBe(true);
    expect(got.r).toEqual({ size: plain.length, sha256: sha(plain), audioSha256: sha(plain.subarray(1024, 1024 + audio.dataLength)) });
    const d = new Decrypter();
    d.addIdentity(id.identity);
    expect(Buffer.from(await d.decrypt(age)).equals(plain)).toBe(true);
  });

  test('past 256 chunks (the STREAM counter carries into its next byte) as age-encryption decrypts it', async () => {
    const id = await identity();
    const big = randomBytes(300 * 65536 + 7);
    const age = ageEncrypt(big, recipientBytes(id.recipient)!);
    const dir = tmp();
    writeFileSync(join(dir, 'big.age'), age);
    const r = await decryptToFile(realFs, join(dir, 'big.age'), join(dir, 'big.part'), [id], null, { what: 'Recording 8' });
    expect(r).toEqual({ size: big.length, sha256: sha(big), audioSha256: null });
    const d = new Decrypter();
    d.addIdentity(id.identity);
    expect(sha(await d.decrypt(age))).toBe(sha(big));
    const flipped = await attempt(flipByteInChunk(age, 280), [id]);
    expect('error' in flipped && flipped.error.message).toContain('chunk 281 of 301');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a wrong identity, a flipped byte in any chunk, a cut and swapped chunks each fail in words', async () => {
    const id = await identity();
    const other = await identity();
    const age = ageEncrypt(plain, recipientBytes(id.recipient)!);
    const wrong = await attempt(age, [other]);
    expect('error' in wrong && wrong.error.code).toBe('WRONG_IDENTITY');
    expect('error' in wrong && wrong.error.message).toMatch(/encrypted to another key/);
    for (let k = 0; k < 5; k++) {
      const r = await attempt(flipByteInChunk(age, k), [id]);
      expect('error' in r && r.error.code).toBe('DECRYPT_FAILED');
      expect('error' in r && r.error.message).toContain(`chunk ${k + 1} of 5`);
      expect('error' in r && r.error.message).toMatch(/changed there, or its chunks were swapped/);
    }
    const cut = await attempt(age.subarray(0, age.length - 300), [id], age.length);
    expect('error' in cut && cut.error.message).toMatch(/chunk 5 of 5 .*cut short/);
    const cutAtChunk = await attempt(age.subarray(0, age.length - 516), [id], age.length);
    expect('error' in cutAtChunk && cutAtChunk.error.message).toMatch(/cut short/);
    const swapped = await attempt(swapChunks(age, 1, 2), [id]);
    expect('error' in swapped && swapped.error.message).toMatch(/chunk 2 of 5 .*swapped/);
    const header = Buffer.from(age);
    header[30] = header[30]! ^ 1;
    const h = await attempt(header, [id]);
    expect('error' in h && h.error.code).toMatch(/DECRYPT_FAILED|WRONG_IDENTITY/);
  });
});
