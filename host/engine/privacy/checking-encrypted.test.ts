/**
 * docs/checking-signatures.md, "An encrypted recording", step by step with the stock tools on a
 * library copied from the test recorder: `age -d -i owner.txt REC00001.AGE > REC00001.WAV` in the
 * evidence folder, then signify -C, sha256sum -c and minisign as for a plain recording.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { flipByteInChunk } from '../testing/age-writer.js';
import { setup } from '../testing/harness.js';
import { recipientBytes } from './recipient.js';

function sh(cwd: string, command: string): { status: number | null; out: string } {
  const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the encrypted-recording steps of docs/checking-signatures.md', () => {
  test('age -d, then signify -C, sha256sum -c and minisign check the .AGE and the WAV; damage and a wrong key are refused', async () => {
    const h = setup();
    const dest = join(h.dest, 'Kitchen');
    mkdirSync(dest);
    const owner = join(h.dest, 'owner.txt');
    expect(spawnSync('age-keygen', ['-o', owner], { timeout: 20_000 }).status).toBe(0);
    h.device.recipient = recipientBytes(spawnSync('age-keygen', ['-y', owner], { encoding: 'utf8' }).stdout.trim());
    h.device.addRecording({ samples: 100_000 });
    // synced on a computer without the owner key: the folder holds the .AGE, not the WAV
    expect((await h.engine.sync({ dest })).ok).toBe(true);
    const folder = join(dest, readdirSync(dest).find((n) => n.endsWith('.evidence'))!);
    expect(existsSync(join(folder, 'REC00001.WAV'))).toBe(false);
    const keyId = readdirSync(dest).find((n) => n.endsWith('.minisign.pub'))!.replace(/^recorder-|\.minisign\.pub$/g, '');
    const before = sh(folder, `signify-openbsd -C -p ../recorder-${keyId}.pub -x REC00001.SIG`);
    expect(before.out).toContain('REC00001.AGE: OK');
    expect(before.out).toContain('REC00001.WAV: FAIL');

    const dec = sh(folder, `age -d -i ${owner} REC00001.AGE > REC00001.WAV`);
    expect(dec.status).toBe(0);
    const signify = sh(folder, `signify-openbsd -C -p ../recorder-${keyId}.pub -x REC00001.SIG`);
    expect(signify.status).toBe(0);
    expect(signify.out).toMatch(/Signature Verified\nREC00001.AGE: OK\nREC00001.WAV: OK\nREC00001.CKP: OK/);
    const sums = sh(folder, 'sha256sum -c REC00001.SHA');
    expect(sums.status).toBe(0);
    expect(sums.out).toMatch(/REC00001.AGE: OK\nREC00001.WAV: OK\nREC00001.CKP: OK/);
    const minisign = sh(folder, `minisign -Vm REC00001.SHA -x REC00001.MSG -p ../recorder-${keyId}.minisign.pub`);
    expect(minisign.status).toBe(0);
    expect(minisign.out).toMatch(/Trusted comment: er1 .* wav=[0-9a-f]{64} age=[0-9a-f]{64} ckp=/);
    expect(readFileSync(join(folder, 'REC00001.WAV')).equals(h.device.recordings.get(1)!.file)).toBe(true);

    // a changed chunk and a wrong key: age refuses with its own words
    unlinkSync(join(folder, 'REC00001.WAV'));
    writeFileSync(join(h.dest, 'changed.age'), flipByteInChunk(readFileSync(join(folder, 'REC00001.AGE')), 1));
    const changed = sh(h.dest, `age -d -i ${owner} changed.age > changed.wav`);
    expect(changed.status).toBe(1);
    expect(changed.out).toContain('failed to decrypt and authenticate payload chunk');
    const other = join(h.dest, 'other.txt');
    spawnSync('age-keygen', ['-o', other], { timeout: 20_000 });
    const wrong = sh(folder, `age -d -i ${other} REC00001.AGE > /dev/null`);
    expect(wrong.status).toBe(1);
    expect(wrong.out).toContain('no identity matched any of the recipients');
  });
});
