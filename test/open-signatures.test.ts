/**
 * The open signature files of host/engine/evidence/open-formats.ts against the stock tools a
 * solicitor's expert would use (docs/checking-signatures.md): signify (`signify-openbsd -C`),
 * minisign (`-V`, legacy signatures) and OpenSSL (`pkeyutl -verify -rawin`). Keys are made by
 * node:crypto, standing in for the recorder. Each tool must pass the genuine files and fail
 * after one changed byte in a listed recording, one changed byte in the statement, a signature
 * by another key, and an edited trusted comment; the module's own checks give the same verdict.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumStatement,
  keyIdOf,
  minisignKeyIdText,
  minisignPublicKey,
  minisignSignature,
  opensslPublicKeyPem,
  rawSignature,
  signifyPublicKey,
  signifySignature,
  verifyMinisignFiles,
  verifyOpensslFiles,
  verifySignifyFiles,
} from '../host/engine/evidence/open-formats.js';
import { signStatement, signingDevice, type SigningDevice } from '../host/engine/testing/signing-device.js';
import { requireTool, stopAll, tempDir } from './support/sim.js';


const TRUSTED_COMMENT = 'evidence recorder statement R0000042, 2 files';
// The files a recorder's statement would sit beside, as docs/checking-signatures.md names them.
const STATEMENT = 'R0000042.sha256';
const SIGNIFY_SIG = 'R0000042.sig';
const MINISIGN_SIG = `${STATEMENT}.minisig`;
const RAW_SIG = `${STATEMENT}.sig`;

/**
 * A folder with two "recordings", the checksum statement over them signed by `signer`, and the
 * public key files of `owner` (the key the expert was given).
 */
function folder(signer: SigningDevice, owner: SigningDevice = signer): string {
  const dir = tempDir('rec-sig-');
  const files = { 'R0000042.WAV': randomBytes(200_000), 'R0000042.WAV.json': Buffer.from('{"recording":42}\n') };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  const statement = checksumStatement(Object.entries(files).map(([name, bytes]) => ({ name, sha256: createHash('sha256').update(bytes).digest('hex') })));
  // The recorder's two signatures: the statement, and minisign's signature || trusted comment.
  const signed = signStatement(signer, statement, TRUSTED_COMMENT);
  writeFileSync(join(dir, STATEMENT), statement);
  writeFileSync(join(dir, SIGNIFY_SIG), signifySignature(signed));
  writeFileSync(join(dir, MINISIGN_SIG), minisignSignature(signed));
  writeFileSync(join(dir, RAW_SIG), rawSignature(signed));
  writeFileSync(join(dir, 'dev.pub'), signifyPublicKey(owner.publicKey));
  writeFileSync(join(dir, 'dev.minisign.pub'), minisignPublicKey(owner.publicKey));
  writeFileSync(join(dir, 'dev.pem'), opensslPublicKeyPem(owner.publicKey));
  return dir;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(dir: string, cmd: string, args: string[]): Run {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  if (r.error) throw r.error;
  if (r.signal) throw new Error(`${cmd} ${args.join(' ')} was stopped by ${r.signal} (timeout?)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const signify = (dir: string): Run => run(dir, 'signify-openbsd', ['-C', '-p', 'dev.pub', '-x', SIGNIFY_SIG]);
const minisign = (dir: string): Run => run(dir, 'minisign', ['-Vm', STATEMENT, '-p', 'dev.minisign.pub']);
const openssl = (dir: string): Run => run(dir, 'openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'dev.pem', '-rawin', '-in', STATEMENT, '-sigfile', RAW_SIG]);

/** The module's own verdicts on the folder's files, for comparison with the tools'. */
function ours(dir: string): { signify: boolean; minisign: boolean; openssl: boolean } {
  const read = (name: string): Buffer => readFileSync(join(dir, name));
  return {
    signify: verifySignifyFiles(read('dev.pub'), read(SIGNIFY_SIG)).ok,
    minisign: verifyMinisignFiles(read('dev.minisign.pub'), read(MINISIGN_SIG), read(STATEMENT)).ok,
    openssl: verifyOpensslFiles(read('dev.pem'), read(STATEMENT), read(RAW_SIG)).ok,
  };
}

function flipByte(dir: string, name: string, offset: (length: number) => number): void {
  const bytes = readFileSync(join(dir, name));
  bytes[offset(bytes.length)]! ^= 0x01;
  writeFileSync(join(dir, name), bytes);
}

beforeAll(() => {
  requireTool('signify-openbsd', 'signify-openbsd');
  requireTool('minisign', 'minisign');
  requireTool('openssl', 'openssl');
});
afterAll(stopAll);

describe('stock tools check a recorder-style signed statement', () => {
  it('all three pass the genuine files: signify checks the listed files, minisign prints the trusted comment', () => {
    const dir = folder(signingDevice());
    const s = signify(dir);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout).toBe('Signature Verified\nR0000042.WAV: OK\nR0000042.WAV.json: OK\n');
    const m = minisign(dir);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toBe(`Signature and comment signature verified\nTrusted comment: ${TRUSTED_COMMENT}\n`);
    const o = openssl(dir);
    expect(o.status, o.stderr).toBe(0);
    expect(o.stdout).toBe('Signature Verified Successfully\n');
    expect(ours(dir)).toEqual({ signify: true, minisign: true, openssl: true });
    // minisign and OpenSSL check the statement only; the doc sends the files to sha256sum -c.
    const c = run(dir, 'sha256sum', ['-c', STATEMENT]);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toBe('R0000042.WAV: OK\nR0000042.WAV.json: OK\n');
  });

  it('(a) one byte changed in a listed recording: signify -C fails that file', () => {
    const dir = folder(signingDevice());
    flipByte(dir, 'R0000042.WAV', (n) => n >> 1);
    const s = signify(dir);
    expect(s.status).toBe(1);
    expect(s.stdout).toBe('Signature Verified\nR0000042.WAV.json: OK\n');
    expect(s.stderr).toBe('R0000042.WAV: FAIL\n');
    expect(run(dir, 'sha256sum', ['-c', STATEMENT]).status).toBe(1);
  });

  it('(b) one byte changed in the statement: every tool fails', () => {
    const dir = folder(signingDevice());
    flipByte(dir, STATEMENT, (n) => n - 10); // a hex digit of the last hash
    flipByte(dir, SIGNIFY_SIG, (n) => n - 10); // the same byte of signify's embedded copy
    const s = signify(dir);
    expect(s.status).toBe(1);
    expect(s.stderr).toContain('signature verification failed');
    expect(s.stdout).not.toContain('OK');
    const m = minisign(dir);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe('Signature verification failed\n');
    const o = openssl(dir);
    expect(o.status).toBe(1);
    expect(o.stdout).toContain('Signature Verification Failure');
    expect(ours(dir)).toEqual({ signify: false, minisign: false, openssl: false });
  });

  it('(c) a signature by another key: every tool fails, also when the key id is relabelled', () => {
    const owner = signingDevice();
    const other = signingDevice();
    const dir = folder(other, owner);
    const s = signify(dir);
    expect(s.status).toBe(1);
    expect(s.stderr).toContain('verification failed: checked against wrong key');
    const m = minisign(dir);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe(`Signature key id in ${MINISIGN_SIG} is ${minisignKeyIdText(keyIdOf(other.publicKey))}\nbut the key id in the public key is ${minisignKeyIdText(keyIdOf(owner.publicKey))}\n`);
    const o = openssl(dir);
    expect(o.status).toBe(1);
    expect(o.stdout).toContain('Signature Verification Failure');
    expect(ours(dir)).toEqual({ signify: false, minisign: false, openssl: false });

    // The key id is a label, not a proof: with the owner's id written in, Ed25519 still fails.
    const relabel = (text: string, line: number): string => {
      const lines = text.split('\n');
      const blob = Buffer.from(lines[line]!, 'base64');
      keyIdOf(owner.publicKey).copy(blob, 2);
      lines[line] = blob.toString('base64');
      return lines.join('\n');
    };
    writeFileSync(join(dir, SIGNIFY_SIG), relabel(readFileSync(join(dir, SIGNIFY_SIG), 'utf8'), 1));
    writeFileSync(join(dir, MINISIGN_SIG), relabel(readFileSync(join(dir, MINISIGN_SIG), 'utf8'), 1));
    const s2 = signify(dir);
    expect(s2.status).toBe(1);
    expect(s2.stderr).toContain('signature verification failed');
    const m2 = minisign(dir);
    expect(m2.status).toBe(1);
    expect(m2.stderr).toBe('Signature verification failed\n');
    expect(ours(dir)).toEqual({ signify: false, minisign: false, openssl: false });
  });

  it('(d) an edited trusted comment: minisign fails the comment signature', () => {
    const dir = folder(signingDevice());
    const file = join(dir, MINISIGN_SIG);
    writeFileSync(file, readFileSync(file, 'utf8').replace('R0000042, 2 files', 'R0000043, 2 files'));
    const m = minisign(dir);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe('Comment signature verification failed\n');
    expect(m.stdout).not.toContain('Trusted comment');
    expect(ours(dir).minisign).toBe(false);
  });
});
