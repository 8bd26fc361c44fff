import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checksumStatement,
  keyIdOf,
  minisignGlobalMessage,
  minisignKeyIdText,
  minisignPublicKey,
  minisignSignature,
  opensslPublicKeyPem,
  parseChecksumStatement,
  parseMinisignPublicKey,
  parseMinisignSignature,
  parseOpensslPublicKeyPem,
  parseRawSignature,
  parseSignifyPublicKey,
  parseSignifySignature,
  rawSignature,
  signifyPublicKey,
  signifySignature,
  verifyMinisignFiles,
  verifyOpensslFiles,
  verifySignifyFiles,
  verifyStatement,
} from './open-formats.js';
import { signStatement, signingDevice } from '../testing/signing-device.js';

const STATEMENT = checksumStatement([
  { name: 'R0000042.WAV', sha256: createHash('sha256').update('audio').digest('hex') },
  { name: 'R0000042.WAV.json', sha256: createHash('sha256').update('sidecar').digest('hex') },
]);

/** The file with its n-th line replaced. */
function replaceLine(file: string | Buffer, n: number, line: string): string {
  const lines = String(file).split('\n');
  lines[n] = line;
  return lines.join('\n');
}

/** Base64 of the file's n-th line, decoded, changed by `edit`, encoded again. */
function editBlob(file: string | Buffer, n: number, edit: (b: Buffer) => Buffer): string {
  return replaceLine(file, n, edit(Buffer.from(String(file).split('\n')[n]!, 'base64')).toString('base64'));
}

describe('key id', () => {
  it('is the first 8 bytes of SHA-256 of the public key, printed by minisign as a little-endian number', () => {
    const d = signingDevice();
    expect(keyIdOf(d.publicKey)).toEqual(createHash('sha256').update(d.publicKey).digest().subarray(0, 8));
    expect(minisignKeyIdText(Buffer.from('0102030405060708', 'hex'))).toBe('807060504030201');
    expect(() => keyIdOf(d.publicKey.subarray(1))).toThrow('the Ed25519 public key is 31 bytes, expected 32');
  });
});

describe('public key files', () => {
  it('signify, minisign and OpenSSL files round-trip to the same key', () => {
    const d = signingDevice();
    const id = keyIdOf(d.publicKey);
    const signify = signifyPublicKey(d.publicKey);
    const minisign = minisignPublicKey(d.publicKey);
    // One key line for both tools: base64("Ed" || key id || key).
    const line = Buffer.concat([Buffer.from('Ed'), id, d.publicKey]).toString('base64');
    expect(signify).toBe(`untrusted comment: evidence recorder public key ${id.toString('hex')}\n${line}\n`);
    expect(minisign).toBe(`untrusted comment: minisign public key ${minisignKeyIdText(id)}\n${line}\n`);
    expect(parseSignifyPublicKey(signify)).toEqual({ comment: `evidence recorder public key ${id.toString('hex')}`, keyId: id, publicKey: d.publicKey });
    expect(parseMinisignPublicKey(minisign).publicKey).toEqual(d.publicKey);
    const pem = opensslPublicKeyPem(d.publicKey);
    expect(pem).toBe(`-----BEGIN PUBLIC KEY-----\n${Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), d.publicKey]).toString('base64')}\n-----END PUBLIC KEY-----\n`);
    expect(parseOpensslPublicKeyPem(pem)).toEqual(d.publicKey);
    expect(parseOpensslPublicKeyPem(pem.replace(/\n/g, '\r\n'))).toEqual(d.publicKey);
  });

  it('rejects malformed key files with a message saying what is wrong', () => {
    const d = signingDevice();
    const file = signifyPublicKey(d.publicKey);
    const bad: [string, string][] = [
      [replaceLine(file, 0, 'comment: x'), 'the first line must start with "untrusted comment: "'],
      [replaceLine(file, 0, 'untrusted comment: '), 'the untrusted comment is empty'],
      [file.split('\n')[1]! + '\n', 'the first line must start with "untrusted comment: "'],
      [file.trimEnd(), 'the base64 line is missing or does not end with a newline'],
      [replaceLine(file, 1, file.split('\n')[1]!.slice(0, -4) + '!!!!'), 'the base64 line is not valid base64'],
      [replaceLine(file, 1, file.split('\n')[1]!.slice(0, -1)), 'the base64 line is not valid base64'],
      [editBlob(file, 1, (b) => b.subarray(0, -1)), 'the base64 line decodes to 41 bytes, expected 42'],
      [editBlob(file, 1, (b) => Buffer.concat([Buffer.from('BK'), b.subarray(2)])), 'algorithm bytes "BK" (hex 424b), expected "Ed" (Ed25519)'],
      [editBlob(file, 1, (b) => Buffer.concat([b.subarray(0, 2), Buffer.alloc(8), b.subarray(10)])), `wrong key id 0000000000000000: a recorder's key id is ${keyIdOf(d.publicKey).toString('hex')}`],
      [file.replace('\n', '\r\n'), 'contains a carriage return'],
      [file + 'more\n', 'unexpected data after the key line'],
    ];
    for (const [text, message] of bad) expect(() => parseSignifyPublicKey(text), text).toThrow(message);
    // A key with a key id of its own (as signify -G makes them) is not a recorder's.
    const other = signingDevice();
    expect(() => parseMinisignPublicKey(editBlob(file, 1, (b) => Buffer.concat([b.subarray(0, 10), other.publicKey])))).toThrow('wrong key id');
  });

  it('rejects PEM files that are not an Ed25519 public key', () => {
    const d = signingDevice();
    const pem = opensslPublicKeyPem(d.publicKey);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => parseOpensslPublicKeyPem(rsa)).toThrow('the PEM body decodes to');
    expect(() => parseOpensslPublicKeyPem(x25519)).toThrow('not an Ed25519 public key (its algorithm header is 302a300506032b656e032100)');
    expect(() => parseOpensslPublicKeyPem(pem.replace('PUBLIC KEY-----\n', 'PRIVATE KEY-----\n'))).toThrow('not a PEM public key');
    expect(() => parseOpensslPublicKeyPem(pem.replace('KEY-----\nMCow', 'KEY-----\n*Cow'))).toThrow('not valid base64');
  });
});

describe('signatures', () => {
  it('the writers make files that parse back and verify, with the statement embedded for signify -C', () => {
    const d = signingDevice();
    const s = signStatement(d, STATEMENT);
    const id = keyIdOf(d.publicKey);
    const signify = signifySignature(s);
    const parsed = parseSignifySignature(signify);
    expect(parsed).toEqual({ comment: `signed by evidence recorder ${id.toString('hex')}`, keyId: id, signature: Buffer.from(s.signature), message: STATEMENT });
    expect(verifySignifyFiles(signifyPublicKey(d.publicKey), signify)).toEqual({ ok: true, problems: [], message: STATEMENT });

    const minisig = minisignSignature(s);
    expect(minisig.split('\n')).toEqual([
      `untrusted comment: signature from evidence recorder ${minisignKeyIdText(id)}`,
      Buffer.concat([Buffer.from('Ed'), id, s.signature]).toString('base64'),
      'trusted comment: recorder statement R0000042',
      Buffer.from(s.globalSignature).toString('base64'),
      '',
    ]);
    expect(parseMinisignSignature(minisig)).toMatchObject({ keyId: id, trustedComment: 'recorder statement R0000042', globalSignature: Buffer.from(s.globalSignature) });
    expect(verifyMinisignFiles(minisignPublicKey(d.publicKey), minisig, STATEMENT)).toEqual({ ok: true, problems: [], trustedComment: 'recorder statement R0000042' });

    expect(rawSignature(s)).toEqual(Buffer.from(s.signature));
    expect(verifyOpensslFiles(opensslPublicKeyPem(d.publicKey), STATEMENT, rawSignature(s))).toEqual({ ok: true, problems: [] });
  });

  it('the global signature covers exactly signature || trusted comment (UTF-8, no prefix, no newline)', () => {
    const s = signStatement(signingDevice(), STATEMENT, 'Zoë — statement');
    expect(minisignGlobalMessage(s.signature, 'Zoë — statement')).toEqual(Buffer.concat([s.signature, Buffer.from('Zoë — statement', 'utf8')]));
    expect(verifyStatement(s.publicKey, Buffer.concat([s.signature, Buffer.from('Zoë — statement')]), s.globalSignature)).toBe(true);
    expect(() => minisignGlobalMessage(s.signature, 'two\nlines')).toThrow('must be one line');
  });

  it('the writers refuse signatures that do not verify, so no unverifiable file is written', () => {
    const d = signingDevice();
    const s = signStatement(d, STATEMENT);
    const other = signStatement(signingDevice(), STATEMENT);
    expect(() => signifySignature({ ...s, signature: other.signature })).toThrow('the statement signature does not verify with this public key');
    expect(() => rawSignature({ ...s, statement: Buffer.from('changed') })).toThrow('does not verify');
    expect(() => minisignSignature({ ...s, trustedComment: 'edited' })).toThrow('the global (trusted comment) signature does not verify');
    expect(() => minisignSignature({ ...s, globalSignature: s.globalSignature.subarray(1) })).toThrow('is 63 bytes, expected 64');
  });

  it('verifying reports a changed statement, another key, and an edited trusted comment', () => {
    const d = signingDevice();
    const s = signStatement(d, STATEMENT);
    const other = signStatement(signingDevice(), STATEMENT);
    const changed = Buffer.from(STATEMENT);
    changed[20]! ^= 1;
    const pub = signifyPublicKey(d.publicKey);
    const signify = signifySignature(s);
    const tampered = Buffer.from(signify);
    tampered[tampered.length - 3]! ^= 1;
    expect(verifySignifyFiles(pub, tampered).problems).toEqual(['signify signature: does not verify: the statement or the signature has been changed']);
    expect(verifySignifyFiles(pub, signifySignature(other)).problems).toEqual([`signify signature: made by another key (key id ${keyIdOf(other.publicKey).toString('hex')}, this public key's is ${keyIdOf(d.publicKey).toString('hex')})`]);

    const mpub = minisignPublicKey(d.publicKey);
    const minisig = minisignSignature(s);
    expect(verifyMinisignFiles(mpub, minisig, changed)).toEqual({ ok: false, problems: ['minisign signature: does not verify: the statement or the signature has been changed'], trustedComment: null });
    expect(verifyMinisignFiles(mpub, minisignSignature(other), STATEMENT).problems[0]).toContain('made by another key');
    expect(verifyMinisignFiles(mpub, minisig.replace('R0000042', 'R0000043'), STATEMENT).problems).toEqual(['minisign signature: the trusted comment has been changed (its signature does not verify)']);
    // Another key's signature under this key's id: caught by Ed25519, not by the id.
    const forged = editBlob(minisignSignature(other), 1, (b) => Buffer.concat([b.subarray(0, 2), keyIdOf(d.publicKey), b.subarray(10)]));
    expect(verifyMinisignFiles(mpub, forged, STATEMENT).ok).toBe(false);

    const pem = opensslPublicKeyPem(d.publicKey);
    expect(verifyOpensslFiles(pem, changed, rawSignature(s)).ok).toBe(false);
    expect(verifyOpensslFiles(pem, STATEMENT, rawSignature(other)).ok).toBe(false);
    expect(verifyOpensslFiles(pem, STATEMENT, Buffer.alloc(63)).problems).toEqual(['raw Ed25519 signature file is 63 bytes, expected 64']);
  });

  it('rejects malformed signature files with a message saying what is wrong', () => {
    const s = signStatement(signingDevice(), STATEMENT);
    const minisig = minisignSignature(s);
    const bad: [string, string][] = [
      [replaceLine(minisig, 0, 'signature'), 'the first line must start with "untrusted comment: "'],
      [editBlob(minisig, 1, (b) => Buffer.concat([Buffer.from('ED'), b.subarray(2)])), 'a prehashed ("ED", BLAKE2b) signature'],
      [editBlob(minisig, 1, (b) => Buffer.concat([Buffer.from('Ex'), b.subarray(2)])), 'algorithm bytes "Ex"'],
      [editBlob(minisig, 1, (b) => b.subarray(0, 70)), 'the base64 line decodes to 70 bytes, expected 74'],
      [replaceLine(minisig, 2, 'comment: x'), 'the third line must start with "trusted comment: "'],
      [minisig.split('\n').slice(0, 2).join('\n') + '\n', 'the trusted comment line is missing'],
      [editBlob(minisig, 3, (b) => b.subarray(1)), 'the global signature line decodes to 63 bytes, expected 64'],
      [replaceLine(minisig, 3, 'not base64'), 'the global signature line is not valid base64'],
      [minisig + 'x\n', 'unexpected data after the global signature'],
    ];
    for (const [text, message] of bad) expect(() => parseMinisignSignature(text), text).toThrow(message);
    expect(() => parseSignifySignature(Buffer.from('untrusted comment: x\n'))).toThrow('the base64 line is missing');
    expect(() => parseRawSignature(Buffer.alloc(65))).toThrow('65 bytes, expected 64');
    expect(() => signifySignature(s, '')).toThrow('signify refuses an empty comment');
    expect(() => minisignSignature({ ...s }, 'a\rb')).toThrow('must be one line');
    expect(() => minisignSignature(signStatement(signingDevice(), STATEMENT, 'x'.repeat(8001)))).toThrow('the trusted comment is 8001 bytes, at most 8000 allowed');
  });

  it('a public key that is not a curve point verifies nothing', () => {
    expect(verifyStatement(Buffer.alloc(32, 0xff), STATEMENT, Buffer.alloc(64))).toBe(false);
    expect(verifyStatement(Buffer.alloc(31), STATEMENT, Buffer.alloc(64))).toBe(false);
  });
});

describe('checksum statement', () => {
  it('is sha256sum --tag lines and parses back', () => {
    const h = 'ab'.repeat(32);
    const text = checksumStatement([{ name: 'R0000042.WAV', sha256: h }]);
    expect(text.toString()).toBe(`SHA256 (R0000042.WAV) = ${h}\n`);
    expect(parseChecksumStatement(STATEMENT).map((e) => e.name)).toEqual(['R0000042.WAV', 'R0000042.WAV.json']);
  });

  it('refuses names and lines that signify -C would read differently', () => {
    const h = 'ab'.repeat(32);
    for (const [name, message] of [
      ['a)b.wav', 'contains one of'],
      ['../x.wav', 'contains one of'],
      ['a\nb', 'contains one of'],
      [' a.wav', 'starts or ends with a space'],
      ['', 'is empty'],
      ['..', 'is not a file name'],
    ]) expect(() => checksumStatement([{ name: name!, sha256: h }]), name).toThrow(message);
    expect(() => checksumStatement([])).toThrow('at least one file');
    expect(() => checksumStatement([{ name: 'a', sha256: h.toUpperCase() }])).toThrow('not 64 lowercase hex digits');
    expect(() => checksumStatement([{ name: 'a', sha256: h }, { name: 'a', sha256: h }])).toThrow('listed twice');
    const line = `SHA256 (a.wav) = ${h}\n`;
    expect(() => parseChecksumStatement(Buffer.from(line + '\n' + line.replace('a.wav', 'b.wav')))).toThrow("line 2 is not");
    expect(() => parseChecksumStatement(Buffer.from(line.trimEnd()))).toThrow('does not end with a newline');
    expect(() => parseChecksumStatement(Buffer.from(line.replace('SHA256', 'SHA512')))).toThrow('line 1 is not');
    expect(() => parseChecksumStatement(Buffer.from([0xff, 0x0a]))).toThrow('not UTF-8');
  });
});
