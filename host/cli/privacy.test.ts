/** The command line of encrypted recordings (issue 13): keys, recipient, sync, list, decrypt. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cliIo } from '../engine/testing/cli-io.js';
import { FakeDevice } from '../engine/testing/fake-device.js';
import { recipientString } from '../engine/privacy/recipient.js';
import { run } from './main.js';


const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function cli(args: string[], device?: FakeDevice) {
  const t = cliIo(device);
  const code = await run(args, t.io);
  return { code, out: t.out(), err: t.err() };
}

describe('recorder keys and recipient', () => {
  test('keys new says where the secret is and to back it up; keys show gives recipients, never the secret', async () => {
    const lib = mkdtempSync(join(tmpdir(), 'cli-keys-'));
    const made = await cli(['keys', 'new', '--library', lib]);
    expect(made.code).toBe(0);
    const recipient = /age1[a-z0-9]{58}/.exec(made.out)![0];
    const file = join(lib, 'keys', readdirSync(join(lib, 'keys')).find((n) => n.endsWith('.txt'))!);
    expect(made.out).toContain(file);
    expect(made.out).toMatch(/if it is lost, the recordings are lost for good\. Back it up now/);
    expect(made.out).not.toMatch(/AGE-SECRET-KEY/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain(`# public key: ${recipient}\nAGE-SECRET-KEY-1`);
    const shown = await cli(['keys', 'show', '--library', lib, '--json']);
    expect(shown.code).toBe(0);
    const result = JSON.parse(shown.out.trim().split('\n').at(-1)!) as { keys: { recipient: string; usable: boolean }[] };
    expect(result.keys).toEqual([expect.objectContaining({ recipient, usable: true })]);
    expect(shown.out).not.toMatch(/AGE-SECRET-KEY/);
    // an imported age-keygen key is remembered where it is
    const own = join(mkdtempSync(join(tmpdir(), 'cli-own-')), 'me.txt');
    spawnSync('age-keygen', ['-o', own], { timeout: 20_000 });
    const imported = await cli(['keys', 'import', own, '--library', lib]);
    expect(imported.code).toBe(0);
    expect(imported.out).toMatch(/not copied/);
    expect((await cli(['keys', 'show', '--library', lib])).out).toContain(`key file kept at ${own}`);
  });

  test('recipient set uses the library key; clear warns plainly; info and list say whether recordings are encrypted', async () => {
    const lib = mkdtempSync(join(tmpdir(), 'cli-rcp-'));
    await cli(['keys', 'new', '--library', lib]);
    const d = new FakeDevice();
    d.addRecording();
    expect((await cli(['info', '--port', d.path], d)).out).toMatch(/Encryption: OFF: recordings are not encrypted/);
    const set = await cli(['recipient', 'set', '--library', lib, '--port', d.path], d);
    expect(set.code).toBe(0);
    const recipient = /Encrypts to: (age1\S+)/.exec(set.out)![1]!;
    expect(recipientString(d.recipient!)).toBe(recipient);
    expect(set.out).toMatch(/encrypts every recording from its next one to the owner key age1\S+ \(its secret half is in .*owner-/);
    expect((await cli(['info', '--port', d.path], d)).out).toMatch(/Encryption: on/);
    d.addRecording();
    const list = await cli(['list', '--port', d.path, '--dest', join(lib, 'Kitchen')], d);
    expect(list.out).toMatch(/ 1 .*… {2}not encrypted {2}TO COPY\n/);
    expect(list.out).toMatch(/ 2 .*… {2}encrypted {2}TO COPY\n/);
    const bad = await cli(['recipient', 'set', 'age1notakey', '--port', d.path], d);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/is not an age X25519 recipient/);
    expect(bad.err).not.toMatch(/\n\s+at /);
    d.recState = 1;
    const busy = await cli(['recipient', 'clear', '--port', d.path], d);
    expect(busy.code).toBe(1);
    expect(busy.err).toMatch(/Wait until the recording has finished/);
    d.recState = 0;
    const cleared = await cli(['recipient', 'clear', '--port', d.path], d);
    expect(cleared.code).toBe(0);
    expect(cleared.out).toMatch(/WITHOUT encryption .*anyone who finds the recorder or its card can listen/);
    expect(cleared.out).toContain('Encrypts to: nobody (NOT ENCRYPTED)');
    expect(d.recipient).toBeNull();
    const noKey = await cli(['recipient', 'set', '--library', mkdtempSync(join(tmpdir(), 'cli-empty-')), '--port', d.path], d);
    expect(noKey.code).toBe(2);
    expect(noKey.err).toMatch(/no owner key: make one with "recorder keys new"/);
  });
});

describe('recorder sync and decrypt of encrypted recordings', () => {
  test('an owner key file that is missing or not an age key is refused in words, before the recorder is touched', async () => {
    const d = new FakeDevice();
    const dest = mkdtempSync(join(tmpdir(), 'cli-bad-'));
    const missing = await cli(['sync', '--port', d.path, '--dest', dest, '--identity', join(dest, 'nothing.txt')], d);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/The owner key file .*nothing\.txt is not there\. Put back the file from your backup/);
    expect(d.log.map((l) => l.command)).not.toContain('SET_TIME');
    const none = await cli(['decrypt', '1', '--dest', dest, '--library', dest]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/No owner key to decrypt with/);
    expect(none.err).not.toMatch(/\n\s+at /);
  });

  test('sync without the key keeps the .age; decrypt --identity makes the WAV; the stock age gives the same bytes and signed hash', async () => {
    const lib = mkdtempSync(join(tmpdir(), 'cli-dec-'));
    const dest = join(lib, 'Kitchen');
    mkdirSync(dest);
    const keyFile = join(mkdtempSync(join(tmpdir(), 'cli-key-')), 'owner.txt');
    spawnSync('age-keygen', ['-o', keyFile], { timeout: 20_000 });
    const recipient = spawnSync('age-keygen', ['-y', keyFile], { encoding: 'utf8' }).stdout.trim();
    const d = new FakeDevice();
    expect((await cli(['recipient', 'set', recipient, '--port', d.path], d)).code).toBe(0);
    d.addRecording({ samples: 80_000 });
    const s = await cli(['sync', '--port', d.path, '--dest', dest], d);
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/Recording 1 is encrypted: .*recorder decrypt 1 --identity FILE/);
    expect(s.out).toMatch(/Recording 1 copied and verified .*, encrypted \(not decrypted on this computer\): .*\.age/);
    const wrong = join(mkdtempSync(join(tmpdir(), 'cli-wrong-')), 'other.txt');
    spawnSync('age-keygen', ['-o', wrong], { timeout: 20_000 });
    const refused = await cli(['decrypt', '1', '--identity', wrong, '--dest', dest], d);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/Recording 1 .* is encrypted to another key/);
    expect(refused.err + refused.out).not.toMatch(/\n\s+at /);
    // by number, found in the library's recorder folders
    const ok = await cli(['decrypt', '1', '--identity', keyFile, '--library', lib], d);
    expect(ok.code).toBe(0);
    const age = join(dest, readdirSync(dest).find((n) => n.endsWith('.age'))!);
    const wav = age.replace(/\.age$/, '.wav');
    const stock = spawnSync('age', ['-d', '-i', keyFile, age], { timeout: 20_000 });
    expect(stock.status).toBe(0);
    const app = readFileSync(wav);
    expect(stock.stdout.equals(app)).toBe(true);
    expect(app.equals(d.recordings.get(1)!.file)).toBe(true);
    const manifest = JSON.parse(readFileSync(age.replace(/\.age$/, '.json'), 'utf8')) as { evidence: { statement: Record<string, string> } };
    expect(sha(stock.stdout)).toBe(manifest.evidence.statement['REC00001.WAV']);
    const v = await cli(['verify', dest], d);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/Recording 1 verified, signed by the recorder \(key [0-9a-f]+\), encrypted \(decrypted WAV beside it\)/);
  });
});
