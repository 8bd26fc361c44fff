/**
 * docs/checking-signatures.md, step by step: the exact shell commands it gives a solicitor's
 * expert, run with the stock tools in a library made by sync (the fake recorder signs in the
 * issue-12 formats with a stand-in key), on the genuine files and after a forger's edit.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../host/engine/evidence/open-formats.js';
import { setup } from '../host/engine/testing/harness.js';
import { requireTool, sh, stopAll, tempDir } from './support/sim.js';

let lib: string;
let keyId: string;
/** Where the doc says /tmp: a folder of this run's own. */
let tmp: string;

const folderOf = (n: number) => join(lib, readdirSync(lib).find((x) => x.endsWith(`_${n}.evidence`))!);

beforeAll(async () => {
  for (const [tool, pkg] of [['signify-openbsd', 'signify-openbsd'], ['minisign', 'minisign'], ['openssl', 'openssl'], ['sha256sum', 'coreutils'], ['dd', 'coreutils']]) requireTool(tool!, pkg!);
  const h = setup();
  lib = tempDir('rec-lib-');
  tmp = tempDir('rec-check-');
  h.device.addRecording({ samples: 16000 * 70 });
  // Cut by a power loss at 150 s: the last checkpoint made while recording is at 120 s.
  h.device.addRecording({ samples: 16000 * 150, recoveredVouched: 16000 * 120 });
  const r = await h.engine.sync({ dest: lib });
  expect(r.ok).toBe(true);
  keyId = keyIdOf(h.device.signer.publicKey).toString('hex');
}, 60_000);

afterAll(() => stopAll());

describe('the steps of docs/checking-signatures.md', () => {
  it('signify checks the signature, then the recording and its checkpoints', () => {
    const r = sh(folderOf(1), `signify-openbsd -C -p ../recorder-${keyId}.pub -x REC00001.SIG`);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toBe('Signature Verified\nREC00001.WAV: OK\nREC00001.CKP: OK\n');
  });

  it('minisign checks the statement and shows the signed description', () => {
    const r = sh(folderOf(1), `minisign -Vm REC00001.SHA -x REC00001.MSG -p ../recorder-${keyId}.minisign.pub`);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/Signature and comment signature verified\nTrusted comment: er1 v=1 dev=[0-9a-f]{16} .* rec=1 .*recovered=no /);
  });

  it('OpenSSL checks the statement with the signature taken out of the .SIG file; sha256sum the files', () => {
    const f = folderOf(1);
    const extract = sh(f, `sed -n 2p REC00001.SIG | base64 -d | tail -c 64 > ${tmp}/REC00001.sig.bin`);
    expect(extract.status, extract.out).toBe(0);
    const r = sh(f, `openssl pkeyutl -verify -pubin -inkey ../recorder-${keyId}.pem -rawin -in REC00001.SHA -sigfile ${tmp}/REC00001.sig.bin`);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/Signature Verified Successfully/);
    const sums = sh(f, 'sha256sum -c REC00001.SHA');
    expect(sums.status, sums.out).toBe(0);
    expect(sums.out).toBe('REC00001.WAV: OK\nREC00001.CKP: OK\n');
  });

  it('a checkpoint: its signature with OpenSSL, then the audio it vouches for with dd and sha256sum', () => {
    const f = folderOf(2);
    // slot 2 is the checkpoint at 120 s; slot 3 the stop slot written after the power came back
    const slot = (i: number) => `dd if=REC00002.CKP bs=512 skip=${i} count=1 2>/dev/null`;
    expect(sh(f, `${slot(2)} | head -c 448 > ${tmp}/ckpt.msg && ${slot(2)} | tail -c 64 > ${tmp}/ckpt.sig`).status).toBe(0);
    const v = sh(f, `openssl pkeyutl -verify -pubin -inkey ../recorder-${keyId}.pem -rawin -in ${tmp}/ckpt.msg -sigfile ${tmp}/ckpt.sig`);
    expect(v.out).toMatch(/Signature Verified Successfully/);
    const msg = sh(f, `cat ${tmp}/ckpt.msg`).out;
    const n = Number(/ n=(\d+) /.exec(msg)![1]);
    const h = / h=([0-9a-f]{64})/.exec(msg)![1];
    expect(n).toBe(16000 * 120);
    const audio = sh(f, `tail -c +1025 REC00002.WAV | head -c $((2 * ${n})) | sha256sum`);
    expect(audio.out).toBe(`${h}  -\n`);
    const stop = sh(f, `${slot(3)} | head -c 448`).out;
    expect(stop).toMatch(/^ER1 stop v1 .* why=power-loss rec=1 vouched=1920000 /);
  });

  it('every check fails after the audio is changed, and the checkpoint hash no longer matches', () => {
    const f = folderOf(2);
    const wav = join(f, 'REC00002.WAV');
    const bytes = readFileSync(wav);
    bytes[1024 + 1000] = bytes[1024 + 1000]! ^ 1;
    writeFileSync(wav, bytes);
    const s = sh(f, `signify-openbsd -C -p ../recorder-${keyId}.pub -x REC00002.SIG`);
    expect(s.status).not.toBe(0);
    expect(s.out).toMatch(/REC00002.WAV: FAIL/);
    expect(sh(f, 'sha256sum -c REC00002.SHA').status).not.toBe(0);
    const msg = sh(f, 'dd if=REC00002.CKP bs=512 skip=1 count=1 2>/dev/null | head -c 448').out;
    const n = Number(/ n=(\d+) /.exec(msg)![1]);
    expect(sh(f, `tail -c +1025 REC00002.WAV | head -c $((2 * ${n})) | sha256sum`).out).not.toContain(/ h=([0-9a-f]{64})/.exec(msg)![1]);
    // a forger rewriting the statement cannot redo its signature
    const statement = readFileSync(join(f, 'REC00002.SHA'), 'utf8').replace(/(REC00002\.WAV\) = )[0-9a-f]{64}/, `$1${sh(f, 'sha256sum REC00002.WAV').out.slice(0, 64)}`);
    writeFileSync(join(f, 'REC00002.SHA'), statement);
    expect(sh(f, `minisign -Vm REC00002.SHA -x REC00002.MSG -p ../recorder-${keyId}.minisign.pub`).status).not.toBe(0);
  });
});
