/**
 * The bundle's pages in a real browser (issue 14), headless Debian Chromium from file://: the
 * report renders with its loudness picture and prints to A4, and check-in-browser.html says
 * "verified" for a real bundle and "not verified" for each tampered copy (a flipped audio byte,
 * an edited statement, the statement signed by another key, another key's file in the bundle).
 * The bundle comes from the fake signing recorder (fast); test/export-sim.test.ts does the same
 * on a bundle of the real firmware.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, minisignGlobalMessage, minisignSignature, signifyPublicKey, signifySignature } from '../host/engine/evidence/open-formats.js';
import { createOwnerKey } from '../host/engine/privacy/owner-keys.js';
import { recipientBytes } from '../host/engine/privacy/recipient.js';
import { setup } from '../host/engine/testing/harness.js';
import { checkInBrowser, filesUnder, requireChromium, withBrowser } from './support/browser.js';

let root: string;
let bundle: string;
let keyId: string;

beforeAll(async () => {
  requireChromium();
  const h = setup();
  h.device.addRecording({ samples: 16000 * 70 });
  h.device.addRecording({ samples: 16000 * 150, recoveredVouched: 16000 * 120 });
  expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
  keyId = keyIdOf(h.device.signer.publicKey).toString('hex');
  root = mkdtempSync(join(tmpdir(), 'rec-browser-'));
  bundle = join(root, 'bundle');
  await h.engine.exportBundle({ library: h.dest, numbers: [1, 2], to: bundle });
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function tampered(name: string, edit: (dir: string) => void): string {
  const dir = join(root, name);
  cpSync(bundle, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** The forger's own key signs the statement (and its description) of recording 1. */
function resignWithAnotherKey(dir: string): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const rec = join(dir, 'recording-1');
  const statement = readFileSync(join(rec, 'REC00001.SHA'));
  const signature = sign(null, statement, privateKey);
  const trustedComment = /trusted comment: (.*)\n/.exec(readFileSync(join(rec, 'REC00001.MSG'), 'utf8'))![1]!;
  writeFileSync(join(rec, 'REC00001.SIG'), signifySignature({ publicKey: raw, statement, signature }));
  writeFileSync(join(rec, 'REC00001.MSG'), minisignSignature({ publicKey: raw, statement, signature, trustedComment, globalSignature: sign(null, minisignGlobalMessage(signature, trustedComment), privateKey) }));
  return raw;
}

describe('the report in Chromium', () => {
  it('renders with the loudness picture of each recording and prints to A4 pages', async () => {
    await withBrowser(async (b) => {
      const page = await b.newPage();
      try {
        await page.goto(pathToFileURL(join(bundle, 'report.html')).href, { waitUntil: 'load', timeout: 20_000 });
        const shown = (await page.evaluate("[...document.querySelectorAll('svg.loudness')].map((s) => { const r = s.getBoundingClientRect(); return { w: r.width, h: r.height, bars: s.querySelectorAll('.bars rect').length }; })")) as { w: number; h: number; bars: number }[];
        expect(shown).toHaveLength(2);
        for (const s of shown) {
          expect(s.w).toBeGreaterThan(500);
          expect(s.h).toBeGreaterThan(80);
          expect(s.bars).toBe(480);
        }
        // no request left the page (self-contained)
        expect((await page.evaluate('performance.getEntriesByType("resource").length')) as number).toBe(0);
        // the page size from the report's own @page rule
        const pdf = Buffer.from(await page.pdf({ preferCSSPageSize: true, printBackground: true, timeout: 30_000 }));
        expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
        const pages = pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g)?.length ?? 0;
        // the first page, one per recording, the library and custody page, the appendix
        expect(pages).toBeGreaterThanOrEqual(5);
        expect(pages).toBeLessThanOrEqual(10);
        const box = pdf.toString('latin1').match(/\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\]/)!;
        // A4 is 595.28 x 841.89 pt; Chromium rounds to its own pixel grid
        expect(Math.abs(Number(box[1]) - 595.28)).toBeLessThan(1);
        expect(Math.abs(Number(box[2]) - 841.89)).toBeLessThan(1);
      } finally {
        await page.close();
      }
    });
  }, 90_000);
});

describe('check-in-browser.html in Chromium, from file://', () => {
  it('says verified for the bundle as exported', async () => {
    const v = await withBrowser((b) => checkInBrowser(b, bundle));
    expect(v.verdict, JSON.stringify(v)).toBe('verified');
    expect(v.text).toMatch(/^Verified: every recording in this bundle is exactly as the recorder made and signed it\./);
    expect(v.results[0]).toMatch(/^Recording 1: verified\. .*3 signed checkpoints match/);
    expect(v.results[1]).toMatch(/^Recording 2: verified\. .*cut off by a power loss: the recorder signed it while recording up to 120 seconds of 150/);
  }, 90_000);

  it('says verified, without a signature, for a recording its recorder could not sign; not verified once it is changed', async () => {
    const h = setup();
    h.device.keyState = 'legacy';
    h.device.addRecording({ samples: 16000 * 3 });
    expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
    const unsigned = join(root, 'unsigned');
    await h.engine.exportBundle({ library: h.dest, numbers: [1], to: unsigned });
    const changed = tampered('unsigned-changed', () => undefined);
    rmSync(changed, { recursive: true });
    cpSync(unsigned, changed, { recursive: true });
    const wav = join(changed, 'recording-1', 'REC00001.WAV');
    const b = readFileSync(wav);
    b[1500] = b[1500]! ^ 1;
    writeFileSync(wav, b);
    await withBrowser(async (br) => {
      const v = await checkInBrowser(br, unsigned);
      expect(v.verdict, JSON.stringify(v)).toBe('verified');
      expect(v.results).toEqual(['Recording 1: verified, without a signature: the file is exactly the one copied from the recorder, but the recorder did not sign it.']);
      const w = await checkInBrowser(br, changed);
      expect(w.verdict).toBe('not-verified');
      expect(w.results[0]).toMatch(/REC00001\.WAV is not the file that was copied from the recorder/);
    });
  }, 90_000);

  it('an encrypted recording: checks the .AGE and, when the bundle has it, the decrypted WAV against the signed statement', async () => {
    /** A bundle of recording 1 of a recorder encrypting to an owner key the library has or not. */
    async function encryptedBundle(name: string, libraryHasKey: boolean): Promise<string> {
      const h = setup();
      const dest = join(h.dest, 'Kitchen');
      mkdirSync(dest);
      const owner = await createOwnerKey(libraryHasKey ? h.dest : join(root, `${name}-owner`));
      h.device.recipient = recipientBytes(owner.recipient);
      h.device.addRecording({ samples: 16000 * 70 });
      expect((await h.engine.sync({ dest })).ok).toBe(true);
      await h.engine.exportBundle({ library: dest, numbers: [1], to: join(root, name) });
      return join(root, name);
    }
    const decrypted = await encryptedBundle('encrypted', true);
    const ageOnly = await encryptedBundle('encrypted-age-only', false);
    const flip = (from: string, name: string, file: string, at: number) => {
      const dir = join(root, name);
      cpSync(from, dir, { recursive: true });
      const p = join(dir, 'recording-1', file);
      const b = readFileSync(p);
      b[at] = b[at]! ^ 1;
      writeFileSync(p, b);
      return dir;
    };
    const flippedAge = flip(decrypted, 'encrypted-flipped-age', 'REC00001.AGE', 5000);
    const flippedWav = flip(decrypted, 'encrypted-flipped-wav', 'REC00001.WAV', 5000);
    await withBrowser(async (b) => {
      const v = await checkInBrowser(b, decrypted);
      expect(v.verdict, JSON.stringify(v)).toBe('verified');
      expect(v.results[0]).toMatch(/^Recording 1: verified\. .*3 signed checkpoints match\..* It was encrypted on the recorder: REC00001\.AGE is the file it wrote and REC00001\.WAV the audio decrypted from it; the recorder signed both\./);
      const w = await checkInBrowser(b, ageOnly);
      expect(w.verdict, JSON.stringify(w)).toBe('verified');
      expect(w.results[0]).toMatch(/^Recording 1: verified\. .*the audio in it was not decrypted for this bundle/);
      const x = await checkInBrowser(b, flippedAge);
      expect(x.verdict).toBe('not-verified');
      expect(x.results[0]).toMatch(/REC00001\.AGE is not the file that was copied from the recorder.*REC00001\.AGE differs from the file the recorder signed/);
      const y = await checkInBrowser(b, flippedWav);
      expect(y.verdict).toBe('not-verified');
      expect(y.results[0]).toMatch(/REC00001\.WAV differs from the file the recorder signed.*the audio differs from what the recorder signed when it stopped/);
    });
  }, 150_000);

  it('says not verified for each tampered copy, and why', async () => {
    const flipped = tampered('flipped', (d) => {
      const p = join(d, 'recording-1', 'REC00001.WAV');
      const b = readFileSync(p);
      b[1024 + 777] = b[1024 + 777]! ^ 0x10;
      writeFileSync(p, b);
    });
    const edited = tampered('edited', (d) => {
      const p = join(d, 'recording-2', 'REC00002.SHA');
      writeFileSync(p, readFileSync(p, 'utf8').replace(/(REC00002\.WAV\) = )([0-9a-f])/, (_m, a: string, c: string) => a + (c === '0' ? '1' : '0')));
    });
    const otherKey = tampered('other-key', (d) => void resignWithAnotherKey(d));
    const otherKeyFile = tampered('other-key-file', (d) => writeFileSync(join(d, 'keys', `recorder-${keyId}.pub`), signifyPublicKey(resignWithAnotherKey(d))));
    const missing = tampered('missing', () => undefined);
    const checkpoint = tampered('checkpoint', (d) => {
      const p = join(d, 'recording-2', 'REC00002.CKP');
      const b = readFileSync(p);
      b[512 + 100] = b[512 + 100]! ^ 1; // slot 1's text
      writeFileSync(p, b);
    });
    await withBrowser(async (b) => {
      const cases: [string, string, RegExp, string[]?][] = [
        ['a flipped audio byte', flipped, /Recording 1: NOT verified\. REC00001\.WAV is not the file that was copied from the recorder.*REC00001\.WAV differs from the file the recorder signed/],
        ['an edited statement', edited, /Recording 2: NOT verified\. REC00002\.SIG signs a different statement.*REC00002\.MSG: the signature over the statement does not verify/],
        ['the statement signed by another key', otherKey, /Recording 1: NOT verified\. REC00001\.SIG was made by key [0-9a-f]{16}, not by the key [0-9a-f]{16} of this bundle \(it was signed by a different key/],
        ['another key\'s file put in the bundle', otherKeyFile, /The key file recorder-[0-9a-f]{16}\.pub is not the key [0-9a-f]{16} this bundle was made with: it was replaced/],
        ['a checkpoint changed', checkpoint, /Recording 2: NOT verified\. REC00002\.CKP differs from the file the recorder signed.*checkpoint 1: its signature does not verify/],
        ['a signed file left out', missing, /Recording 2: NOT verified\. REC00002\.CKP not among the files/, filesUnder(missing).filter((f) => !f.endsWith('REC00002.CKP'))],
      ];
      for (const [what, dir, why, files] of cases) {
        const v = await checkInBrowser(b, dir, files);
        expect(v.verdict, `${what}: ${JSON.stringify(v)}`).toBe('not-verified');
        expect(v.text).toMatch(/^NOT verified/);
        expect(v.results.join('\n'), what).toMatch(why);
      }
    }, 120_000);
  }, 150_000);
});
