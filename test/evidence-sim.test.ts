/**
 * Issue 12 end to end: the real C firmware in the simulator signs what it records, the real app
 * syncs it over a real pseudo-terminal (provisioning the key and pinning it), the stock tools
 * check the library with the exact steps of docs/checking-signatures.md, and the forgeries a
 * sceptical expert would try fail `recorder verify`, each naming why: an edited recording with
 * every hash recomputed, a cut journal tail, a copy signed by another recorder's key, and an older
 * journal replayed (to the app through the card, and offline in the library).
 */
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalPath } from '../host/engine/evidence/pins.js';
import { forgeAudio, libraryWavOf } from '../host/engine/testing/forger.js';
import { record } from './support/reliability.js';
import { CLI, requireSimulator, requireTool, runCli, sh, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

const SPEED = 20;
let lib: string;
let keyId: string;
/** The library's journal as the first sync left it (before the three recordings). */
let olderJournal: Buffer;

const evidenceOf = (dir: string, n: number) => libraryWavOf(dir, n).replace(/\.wav$/, '.evidence');

async function sync(sim: Sim, dest: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['sync', '--port', sim.link, '--dest', dest, '--json']);
}

/** Syncs until the recorder has sealed every recording (it seals in its idle time after a stop;
 * a sync that comes first copies the recording and says "signature pending", and the next one
 * adds the signature), as the app tells its user to. */
async function syncSealed(sim: Sim, dest: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  for (let attempt = 1; ; attempt++) {
    const r = await sync(sim, dest);
    if (r.code !== 0 || !r.stdout.includes('"code":"SIGNATURE_PENDING"') || attempt === 20) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** `recorder verify --json` on a library folder: exit code and the failure codes it reports. */
async function verify(dir: string): Promise<{ code: number | null; codes: string[]; out: string }> {
  const r = await runCli(['verify', dir, '--json']);
  const codes = [...r.stdout.matchAll(/"code":"([A-Z_]+)"/g)].map((m) => m[1]!);
  return { code: r.code, codes, out: r.stdout + r.stderr };
}

/** A copy of the synced library to forge in (the original stays genuine for the other tests). */
function libraryCopy(): string {
  const dir = join(tempDir('rec-forged-'), 'library');
  cpSync(lib, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  requireSimulator();
  for (const [tool, pkg] of [['signify-openbsd', 'signify-openbsd'], ['minisign', 'minisign'], ['openssl', 'openssl'], ['sha256sum', 'coreutils']] as const) requireTool(tool, pkg);
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build`);
  const dir = tempDir();
  lib = join(dir, 'library');
  const sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
  // The first sync provisions the new recorder's key and pins it in the library.
  const first = await sync(sim, lib);
  expect(first.code, first.stderr).toBe(0);
  olderJournal = readFileSync(join(lib, readdirSync(lib).find((n) => /^recorder-[0-9a-f]{16}\.journal-1\.bin$/.test(n))!));
  // 70 s: one checkpoint signed while recording (at 60 s), then the stop slot.
  await record(sim, 70, SPEED);
  await record(sim, 4, SPEED);
  await record(sim, 4, SPEED);
  const r = await syncSealed(sim, lib);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).not.toMatch(/SIGNATURE_PENDING/);
  const pub = readdirSync(lib).find((n) => /^recorder-[0-9a-f]{16}\.pem$/.test(n))!;
  keyId = pub.slice('recorder-'.length, -'.pem'.length);
  await sim.quit();
}, 180_000);

afterAll(stopAll);

describe('a recording signed by the simulated recorder, checked with stock tools', () => {
  it('verifies in the app: every copy signed by the pinned key, journal intact', async () => {
    const v = await verify(lib);
    expect(v.code, v.out).toBe(0);
    expect(v.codes).toEqual([]);
    const result = JSON.parse(v.out.trim().split('\n').at(-1)!) as { ok: boolean; results: { number: number; signature: { status: string; keyId: string } }[] };
    expect(result.ok).toBe(true);
    expect(result.results.map((r) => [r.number, r.signature.status, r.signature.keyId])).toEqual([1, 2, 3].map((n) => [n, 'signed', keyId]));
  });

  it('signify checks the signature, then the recording and its checkpoints (docs/checking-signatures.md)', () => {
    for (const n of [1, 2, 3]) {
      const name = `REC${String(n).padStart(5, '0')}`;
      const r = sh(evidenceOf(lib, n), `signify-openbsd -C -p ../recorder-${keyId}.pub -x ${name}.SIG`);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toBe(`Signature Verified\n${name}.WAV: OK\n${name}.CKP: OK\n`);
    }
  });

  it('minisign shows the signed trusted comment, which agrees with the manifest', () => {
    const r = sh(evidenceOf(lib, 1), `minisign -Vm REC00001.SHA -x REC00001.MSG -p ../recorder-${keyId}.minisign.pub`);
    expect(r.status, r.out).toBe(0);
    const tc = /Trusted comment: (.*)\n/.exec(r.out)![1]!;
    const field = (k: string) => new RegExp(` ${k}=(\\S+)`).exec(` ${tc}`)![1];
    const m = JSON.parse(readFileSync(libraryWavOf(lib, 1).replace(/\.wav$/, '.json'), 'utf8'));
    expect(field('dev')).toBe(keyId);
    expect(field('rec')).toBe('1');
    expect(Number(field('samples'))).toBe(m.recording.sampleCount);
    expect(field('vouched')).toBe(field('samples'));
    expect(field('audio')).toBe(m.recording.sha256);
    expect(field('wav')).toBe(m.file.sha256);
    expect(field('recovered')).toBe('no');
    expect(Number(field('ckpts'))).toBe(3); // start, the checkpoint at 60 s, stop
  });

  it('OpenSSL checks the statement with the signature taken out of the .SIG file, and a checkpoint against the audio it vouches for', () => {
    const f = evidenceOf(lib, 1);
    const tmp = tempDir('rec-check-');
    expect(sh(f, `sed -n 2p REC00001.SIG | base64 -d | tail -c 64 > ${tmp}/REC00001.sig.bin`).status).toBe(0);
    const r = sh(f, `openssl pkeyutl -verify -pubin -inkey ../recorder-${keyId}.pem -rawin -in REC00001.SHA -sigfile ${tmp}/REC00001.sig.bin`);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/Signature Verified Successfully/);
    expect(sh(f, 'sha256sum -c REC00001.SHA').out).toBe('REC00001.WAV: OK\nREC00001.CKP: OK\n');
    // Slot 1: the checkpoint signed while recording, at 60 s of audio.
    expect(sh(f, `dd if=REC00001.CKP bs=512 skip=1 count=1 2>/dev/null | head -c 448 > ${tmp}/ckpt.msg`).status).toBe(0);
    expect(sh(f, `dd if=REC00001.CKP bs=512 skip=1 count=1 2>/dev/null | tail -c 64 > ${tmp}/ckpt.sig`).status).toBe(0);
    const c = sh(f, `openssl pkeyutl -verify -pubin -inkey ../recorder-${keyId}.pem -rawin -in ${tmp}/ckpt.msg -sigfile ${tmp}/ckpt.sig`);
    expect(c.status, c.out).toBe(0);
    const msg = readFileSync(join(tmp, 'ckpt.msg'), 'latin1');
    const [, n, h] = /^ER1 ckpt v1 k=[0-9a-f]{16} r=00001 i=0001 n=(\d{10}) u=\d+ s=[0-9a-f]{32} h=([0-9a-f]{64})/.exec(msg)!;
    expect(Number(n)).toBe(60 * 16000);
    expect(sh(f, `tail -c +1025 REC00001.WAV | head -c $((2 * ${Number(n)})) | sha256sum`).out).toBe(`${h}  -\n`);
  });
});

describe('forgeries fail verify, naming why', () => {
  it('edited audio with every hash recomputed, manifest and journal rewritten: the signature fails', async () => {
    const dir = libraryCopy();
    forgeAudio(dir, 2);
    const v = await verify(dir);
    expect(v.code).not.toBe(0);
    expect(v.codes).toContain('SIGNATURE_INVALID');
    expect(v.out).toMatch(/signature/i);
    // and the stock tool refuses it too
    const name = 'REC00002';
    const r = sh(evidenceOf(dir, 2), `signify-openbsd -C -p ../recorder-${keyId}.pub -x ${name}.SIG`);
    expect(r.status).not.toBe(0);
    const m = sh(evidenceOf(dir, 2), `minisign -Vm ${name}.SHA -x ${name}.MSG -p ../recorder-${keyId}.minisign.pub`);
    expect(m.status).not.toBe(0);
  });

  it('a cut journal tail (the newest recording, its record and those after it removed from the library): records missing', async () => {
    const dir = libraryCopy();
    const wav = libraryWavOf(dir, 3);
    const m3 = JSON.parse(readFileSync(wav.replace(/\.wav$/, '.json'), 'utf8')) as { journal: { index: number } };
    rmSync(wav);
    rmSync(wav.replace(/\.wav$/, '.json'));
    rmSync(wav.replace(/\.wav$/, '.evidence'), { recursive: true });
    truncateSync(journalPath(dir, keyId, 1), m3.journal.index * 128);
    const v = await verify(dir);
    expect(v.code).not.toBe(0);
    expect(v.codes).toContain('JOURNAL_TAIL_CUT');
    expect(v.out).toMatch(/missing/);
  });

  it('a copy signed by another recorder\'s key, put in place of this recorder\'s: wrong key', async () => {
    // A second simulated recorder with a key of its own makes its recording 1.
    const other = tempDir();
    const otherLib = join(other, 'library');
    const sim = await startSim({ dir: other, sizeMb: 64, speed: SPEED });
    expect((await sync(sim, otherLib)).code).toBe(0);
    await record(sim, 4, SPEED);
    expect((await syncSealed(sim, otherLib)).code).toBe(0);
    await sim.quit();
    const dir = libraryCopy();
    const mine = libraryWavOf(dir, 1);
    const theirs = libraryWavOf(otherLib, 1);
    // The forger swaps in the other recorder's files under this recorder's names and manifest.
    copyFileSync(theirs, mine);
    const myEvidence = mine.replace(/\.wav$/, '.evidence');
    for (const f of readdirSync(theirs.replace(/\.wav$/, '.evidence'))) copyFileSync(join(theirs.replace(/\.wav$/, '.evidence'), f), join(myEvidence, f));
    const m = JSON.parse(readFileSync(mine.replace(/\.wav$/, '.json'), 'utf8'));
    const t = JSON.parse(readFileSync(theirs.replace(/\.wav$/, '.json'), 'utf8'));
    m.file = { ...m.file, size: t.file.size, sha256: t.file.sha256 };
    m.recording = { ...m.recording, sampleCount: t.recording.sampleCount, sha256: t.recording.sha256 };
    m.evidence = { ...t.evidence, folder: m.evidence.folder };
    delete m.integrity;
    writeFileSync(mine.replace(/\.wav$/, '.json'), JSON.stringify(m, null, 2));
    expect(t.evidence.keyId).not.toBe(keyId);
    const v = await verify(dir);
    expect(v.code).not.toBe(0);
    expect(v.codes).toContain('WRONG_KEY');
    // The documented stock-tool steps with this recorder's key refuse it too.
    const signify = sh(myEvidence, `signify-openbsd -C -p ../recorder-${keyId}.pub -x REC00001.SIG`);
    expect(signify.status).not.toBe(0);
    expect(signify.out).toMatch(/wrong key/);
    const minisign = sh(myEvidence, `minisign -Vm REC00001.SHA -x REC00001.MSG -p ../recorder-${keyId}.minisign.pub`);
    expect(minisign.status).not.toBe(0);
  }, 120_000);

  it('an older journal replayed in the library (the copy from the first sync): the signed head says records are missing', async () => {
    const dir = libraryCopy();
    writeFileSync(journalPath(dir, keyId, 1), olderJournal);
    const v = await verify(dir);
    expect(v.code).not.toBe(0);
    expect(v.codes).toContain('JOURNAL_TAIL_CUT');
  });
});

describe('the recorder keeps its own count of its journal', () => {
  it('an older card image put back (its journal replayed): the recorder says records are missing, and sync refuses to call it complete', async () => {
    const dir = tempDir();
    const dest = join(dir, 'library');
    let sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    expect((await sync(sim, dest)).code).toBe(0);
    await record(sim, 4, SPEED);
    expect((await sync(sim, dest)).code).toBe(0);
    expect(await sim.quit()).toBe(0);
    const older = join(dir, 'older.img');
    copyFileSync(sim.image, older);
    sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    await record(sim, 4, SPEED);
    expect((await sync(sim, dest)).code).toBe(0);
    expect(await sim.quit()).toBe(0);
    // The forger puts the older card back; the recorder's own flash (card.img.nvm) stays.
    copyFileSync(older, sim.image);
    sim = await startSim({ dir, sizeMb: 64, speed: SPEED });
    const r = await sync(sim, dest);
    await sim.quit();
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/journal/i);
    expect(r.stdout).toMatch(/TAIL_LOST|JOURNAL_REPLAYED|JOURNAL_TAIL_CUT|cut or replaced/);
  }, 120_000);
});
