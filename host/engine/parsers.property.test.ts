/**
 * Property tests (fast-check, fixed seeds) of the app's parsers of files an attacker or a broken
 * disk can hand it (issue 18): the manifest (sidecar) as verify reads it, the custody log, the
 * signed statement and its signify/minisign/OpenSSL files, the checkpoint slots and trusted
 * comment, the library reader export gathers a bundle from, and VERIFY.txt.
 *
 * Invariants:
 *   - never throws anything but the documented error (OpenFormatError for the open formats,
 *     EngineError for export; verify and the custody check report problems and throw nothing);
 *   - a mutated or forged input never verifies as good (the untrusted comments of signify and
 *     minisign are not signed: a change there may verify, and the signed content is then the same);
 *   - serialise then parse is the identity;
 *   - nothing is read by a size taken from the input (evidence files larger than the recorder
 *     ever writes are refused unread).
 * Fixed seeds and run counts: the same commit gives the same result every time, in a few seconds.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { appendCustody, checkCustody, checkCustodyLines, CUSTODY_LOG, readCustody, type CustodyInput } from './custody.js';
import { EngineError } from './errors.js';
import {
  checksumStatement,
  minisignPublicKey,
  minisignSignature,
  OpenFormatError,
  opensslPublicKeyPem,
  parseChecksumStatement,
  parseMinisignPublicKey,
  parseMinisignSignature,
  parseOpensslPublicKeyPem,
  parseRawSignature,
  parseSignifyPublicKey,
  parseSignifySignature,
  signifyPublicKey,
  signifySignature,
  verifyMinisignFiles,
  verifySignifyFiles,
  type ChecksumEntry,
} from './evidence/open-formats.js';
import { formatSlot, formatTrustedComment, parseSlotMessage, parseTrustedComment, slotMessage, type Slot, type TrustedComment } from './evidence/recording.js';
import { gatherBundle } from './export/gather.js';
import { parseVerifyText } from './export/verify-text.js';
import { manifestIntegrity, serialiseManifest, type Manifest } from './library.js';
import { setup } from './testing/harness.js';
import { signingDevice, signStatement } from './testing/signing-device.js';
import { verifyLibraryFile } from './verify.js';

const SEED = 18;
const params = (numRuns: number) => ({ seed: SEED, numRuns });

/** Runs `f`; a throw other than the documented error type fails the property. */
function throwsOnly<T>(type: new (...a: never[]) => Error, f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    if (e instanceof type) return null;
    throw e;
  }
}

const flip = (b: Buffer, at: number, bit: number) => {
  const c = Buffer.from(b);
  c[at % c.length]! ^= 1 << bit;
  return c;
};

describe('signed statement and its open-format files', () => {
  const d = signingDevice();
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const statement = checksumStatement([
    { name: 'REC00042.WAV', sha256: sha('audio') },
    { name: 'REC00042.CKP', sha256: sha('ckp') },
  ]);
  const signed = signStatement(d, statement, 'er1 a trusted comment');
  const sig = signifySignature(signed);
  const msg = Buffer.from(minisignSignature(signed));
  const pub = signifyPublicKey(d.publicKey);
  const minisignPub = minisignPublicKey(d.publicKey);

  it('every parser throws only OpenFormatError, on random bytes and on mutated good files', () => {
    const parsers: ((b: Buffer) => unknown)[] = [parseSignifySignature, parseMinisignSignature, parseSignifyPublicKey, parseMinisignPublicKey, parseOpensslPublicKeyPem, parseRawSignature, parseChecksumStatement, (b) => parseTrustedComment(b.toString('latin1')), parseSlotMessage];
    const goods = [sig, msg, Buffer.from(pub), Buffer.from(minisignPub), Buffer.from(opensslPublicKeyPem(d.publicKey)), statement];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const p of parsers) throwsOnly(OpenFormatError, () => p(Buffer.from(bytes)));
      }),
      params(400),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: goods.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.nat({ max: 40 }), (g, at, bit, cut) => {
        const m = flip(goods[g]!, at, bit);
        for (const x of [m, m.subarray(0, Math.max(0, m.length - cut)), Buffer.concat([m, m.subarray(0, cut)])]) for (const p of parsers) throwsOnly(OpenFormatError, () => p(x));
      }),
      params(400),
    );
  });

  it('a changed byte never verifies, unless it is in the unsigned comment and the signed content is the same', () => {
    const untrustedEnd = (f: Buffer) => f.indexOf(0x0a) + 1;
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const s = flip(sig, at, bit);
        const vs = verifySignifyFiles(pub, s);
        if (vs.ok) {
          expect(at % sig.length).toBeLessThan(untrustedEnd(sig));
          expect(vs.message.equals(statement)).toBe(true);
        }
        const mm = flip(msg, at, bit);
        const vm = verifyMinisignFiles(minisignPub, mm, statement);
        if (vm.ok) {
          expect(at % msg.length).toBeLessThan(untrustedEnd(msg));
          expect(vm.trustedComment).toBe(signed.trustedComment);
        }
        // the statement itself changed: never verifies
        expect(verifyMinisignFiles(minisignPub, msg, flip(statement, at, bit)).ok).toBe(false);
        // the public key changed (not its comment): never verifies
        const pk = Buffer.from(pub);
        if (verifySignifyFiles(flip(pk, at, bit), sig).ok) expect(at % pk.length).toBeLessThan(untrustedEnd(pk));
      }),
      params(500),
    );
  });

  it('checksum statements round-trip, and a list the writer refuses is refused when read', () => {
    const name = fc.string({ unit: fc.constantFrom(...'abcXYZ019._- ()/é'.split('')), minLength: 1, maxLength: 12 });
    const entry = fc.record({ name, sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')) });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), (entries: ChecksumEntry[]) => {
        const text = throwsOnly(OpenFormatError, () => checksumStatement(entries));
        if (text === null) {
          expect(() => parseChecksumStatement(Buffer.from(entries.map((e) => `SHA256 (${e.name}) = ${e.sha256}\n`).join('')))).toThrow(OpenFormatError);
          return;
        }
        expect(parseChecksumStatement(text)).toEqual(entries);
      }),
      params(400),
    );
  });

  const word = fc.string({ unit: fc.constantFrom(...'0123456789abcdefT:Z-.'.split('')), minLength: 1, maxLength: 20 });
  const num = fc.nat({ max: 2 ** 40 });
  it('the trusted comment round-trips (with and without age=)', () => {
    const tc = fc.record({ v: word, dev: word, uid: word, rec: num, epoch: num, jidx: num, jrec: word, start: word, stop: word, clock: word, rate: num, samples: num, vouched: num, ckpts: num, reason: word, overruns: num, recovered: word, audio: word, wav: word, age: fc.option(word, { nil: undefined }), ckp: word, fw: word });
    fc.assert(
      fc.property(tc, (t) => {
        const clean = Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as unknown as TrustedComment;
        expect(parseTrustedComment(formatTrustedComment(clean))).toEqual(clean);
      }),
      params(300),
    );
  });

  it('checkpoint slots round-trip through their 448-byte message', () => {
    const small = fc.nat({ max: 99_999 });
    const slot: fc.Arbitrary<Slot> = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), k: word, r: small, rate: small, t0: word, u0: num, pj: word }),
      fc.record({ kind: fc.constant('ckpt' as const), k: word, r: small, i: fc.nat({ max: 9999 }), n: fc.nat({ max: 9_999_999_999 }), u: num, s: word, h: word }),
      fc.record({ kind: fc.constant('stop' as const), k: word, r: small, i: fc.nat({ max: 9999 }), n: fc.nat({ max: 9_999_999_999 }), why: word, rec: small, vouched: num, s: word, h: word, f: word }),
    );
    fc.assert(
      fc.property(slot, (s) => {
        expect(parseSlotMessage(slotMessage(formatSlot(s)))).toEqual(s);
      }),
      params(300),
    );
  });
});

/** A library with one copy signed by the (fake) recorder, as sync left it. */
async function syncedLibrary() {
  const h = setup();
  h.device.addRecording({ samples: 4000 });
  expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
  const wav = join(h.dest, readdirSync(h.dest).find((n) => n.endsWith('.wav'))!);
  const manifestPath = wav.replace(/\.wav$/, '.json');
  return { dir: h.dest, wav, manifestPath, manifestText: readFileSync(manifestPath, 'utf8') };
}

/** Every path (as keys) to a value in a JSON tree. */
function pathsOf(v: unknown, at: string[] = []): string[][] {
  const out: string[][] = [at];
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...at, k]));
  return out;
}

function setAt(root: unknown, at: string[], value: unknown, remove: boolean): unknown {
  if (at.length === 0) return value;
  const copy = structuredClone(root) as Record<string, unknown>;
  let o = copy;
  for (const k of at.slice(0, -1)) o = o[k] as Record<string, unknown>;
  if (remove) delete o[at.at(-1)!];
  else o[at.at(-1)!] = value;
  return copy;
}

/** Fields verify checks against the file, the journal record or the recorder's signature. */
const CHECKED = [
  ['file', 'name'],
  ['file', 'size'],
  ['file', 'sha256'],
  ['device', 'id'],
  ['recording', 'number'],
  ['recording', 'sampleRate'],
  ['recording', 'sampleCount'],
  ['recording', 'sha256'],
  ['recording', 'dataOffset'],
  ['times', 'deviceStartUnixMs'],
  ['journal', 'index'],
  ['journal', 'hex'],
  ['journal', 'recordSha256'],
  ['verification', 'ok'],
  ['evidence', 'keyId'],
  ['evidence', 'folder'],
  ['evidence', 'status'],
];

describe('the manifest (sidecar), as verify reads it', () => {
  let lib: Awaited<ReturnType<typeof syncedLibrary>>;
  beforeAll(async () => {
    lib = await syncedLibrary();
  });
  const original = () => JSON.parse(lib.manifestText) as Manifest;
  const verify = async (text: string) => {
    writeFileSync(lib.manifestPath, text);
    try {
      return await verifyLibraryFile(lib.wav);
    } finally {
      writeFileSync(lib.manifestPath, lib.manifestText);
    }
  };

  it('round-trips: the sidecar sync wrote is serialiseManifest of what it parses to, and verifies', async () => {
    expect(serialiseManifest(original())).toBe(lib.manifestText);
    expect((await verifyLibraryFile(lib.wav)).ok).toBe(true);
  });

  it('any value changed, removed or retyped anywhere: verify throws nothing and the copy does not verify', async () => {
    const paths = pathsOf(original());
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: paths.length - 1 }), fc.jsonValue({ maxDepth: 2 }), fc.boolean(), async (i, value, remove) => {
        const m = setAt(original(), paths[i]!, value, remove);
        fc.pre(JSON.stringify(m) !== JSON.stringify(original()));
        const v = await verify(JSON.stringify(m));
        expect(v.ok).toBe(false);
        expect(v.problems.length).toBeGreaterThan(0);
      }),
      params(80),
    );
  });

  it('a forger who recomputes the integrity hash: any checked field changed still fails, and verify throws nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: CHECKED.length - 1 }), fc.jsonValue({ maxDepth: 1 }), fc.boolean(), async (i, value, remove) => {
        const o = original();
        const m = setAt(o, CHECKED[i]!, value, remove) as Manifest;
        fc.pre(JSON.stringify(m) !== JSON.stringify(o));
        if (m && typeof m === 'object') m.integrity = manifestIntegrity(m);
        const v = await verify(JSON.stringify(m));
        if (v.ok) {
          // Two changes mean what the original means or say less: the evidence folder's name
          // removed (the default is the same folder), and the claim of a signature removed (the
          // copy is then reported as unsigned: a downgrade, see docs/reliability.md, Findings).
          const p = CHECKED[i]!.join('.');
          if (p === 'evidence.folder') expect(remove || value === null).toBe(true);
          else {
            expect(p).toBe('evidence.status');
            expect(v.signature?.status).toBe('unsigned');
          }
        }
      }),
      params(250),
    );
  });

  it('a changed byte anywhere in the sidecar text: throws nothing, never verifies unless the JSON means the same', async () => {
    const text = Buffer.from(lib.manifestText);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: text.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, x) => {
        const t = Buffer.from(text);
        t[at]! ^= x;
        const v = await verify(t.toString('latin1'));
        if (v.ok) {
          // only whitespace between tokens may change what is not meaning
          expect(JSON.stringify(JSON.parse(t.toString('latin1')))).toBe(JSON.stringify(original()));
        }
      }),
      params(80),
    );
  });

  it('export gathering a bundle from a library of damaged sidecars throws only EngineError', async () => {
    const paths = pathsOf(original());
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: paths.length - 1 }), fc.jsonValue({ maxDepth: 2 }), fc.boolean(), async (i, value, remove) => {
        writeFileSync(lib.manifestPath, JSON.stringify(setAt(original(), paths[i]!, value, remove)));
        try {
          await gatherBundle(nodeFs, lib.dir, [1]);
        } catch (e) {
          expect(e).toBeInstanceOf(EngineError);
        } finally {
          writeFileSync(lib.manifestPath, lib.manifestText);
        }
      }),
      params(50),
    );
  });

  it('an evidence file changed (a flipped bit, cut, or extended) never verifies, except in an unsigned comment', async () => {
    const folder = join(lib.dir, original().evidence!.folder!);
    const names = readdirSync(folder).filter((n) => /\.(SHA|SIG|MSG|CKP)$/.test(n));
    expect(names).toHaveLength(4);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: names.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 2 }), async (f, at, bit, how) => {
        const p = join(folder, names[f]!);
        const good = readFileSync(p);
        const bad = how === 0 ? flip(good, at, bit) : how === 1 ? good.subarray(0, at % good.length) : Buffer.concat([good, Buffer.alloc(1 + (at % 600), bit)]);
        writeFileSync(p, bad);
        try {
          const v = await verifyLibraryFile(lib.wav);
          if (v.ok) {
            expect(how).toBe(0);
            expect(names[f]).toMatch(/\.(SIG|MSG)$/);
            expect(at % good.length).toBeLessThan(good.indexOf(0x0a) + 1);
          }
        } finally {
          writeFileSync(p, good);
        }
      }),
      params(80),
    );
  });

  it('an evidence file far larger than the recorder ever writes is refused unread', async () => {
    const folder = join(lib.dir, original().evidence!.folder!);
    const ckp = join(folder, readdirSync(folder).find((n) => n.endsWith('.CKP'))!);
    const good = readFileSync(ckp);
    let bytesRead = 0;
    const counting = {
      ...nodeFs,
      readFile: (async (p: Parameters<typeof nodeFs.readFile>[0], o?: Parameters<typeof nodeFs.readFile>[1]) => {
        const b = await nodeFs.readFile(p, o);
        bytesRead += b.length;
        return b;
      }) as typeof nodeFs.readFile,
    };
    try {
      truncateSync(ckp, 64 << 20); // sparse: 64 MiB of zeros on disk costs nothing
      bytesRead = 0;
      const v = await verifyLibraryFile(lib.wav, counting);
      expect(v.ok).toBe(false);
      expect(v.problems.join('; ')).toMatch(/CKP.*(larger|too large)/);
      expect(bytesRead).toBeLessThan(1 << 20);
    } finally {
      writeFileSync(ckp, good);
    }
  });
});

describe('the custody log', () => {
  const input: fc.Arbitrary<CustodyInput> = fc.record({
    event: fc.constantFrom('copied', 'signature-added', 'verified', 'exported', 'decrypted'),
    recordings: fc.array(fc.record({ deviceId: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex')), number: fc.nat({ max: 99999 }), file: fc.string({ maxLength: 20 }) }), { maxLength: 2 }),
    files: fc.dictionary(fc.string({ maxLength: 12 }), fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')), { maxKeys: 3 }),
    details: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), { nil: undefined }),
  });

  it('round-trips: what was appended is read back, entry for entry, and the chain checks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(input, { minLength: 1, maxLength: 5 }), async (inputs) => {
        const dir = mkdtempSync(join(tmpdir(), 'custody-prop-'));
        let t = 0;
        for (const i of inputs) await appendCustody(nodeFs, dir, i, { appVersion: '1', now: () => ++t * 1000 });
        const lines = await readCustody(nodeFs, dir);
        expect(lines.map((l) => ({ event: l.entry!.event, recordings: l.entry!.recordings, files: l.entry!.files, ...(l.entry!.details !== undefined ? { details: l.entry!.details } : {}) }))).toEqual(
          inputs.map((i) => JSON.parse(JSON.stringify({ event: i.event, recordings: i.recordings, files: i.files, ...(i.details !== undefined ? { details: i.details } : {}) })) as unknown),
        );
        expect((await checkCustody(nodeFs, dir)).ok).toBe(true);
      }),
      params(60),
    );
  });

  it('an entry changed, removed, inserted or swapped before the last: the check fails; any text: it throws nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custody-prop-'));
    mkdirSync(dir, { recursive: true });
    for (let n = 0; n < 6; n++) await appendCustody(nodeFs, dir, { event: 'verified', recordings: [{ deviceId: 'ab', number: n, file: `f${n}.wav` }], files: { [`f${n}.wav`]: '0'.repeat(64) } }, { appVersion: '1', now: () => n });
    const text = readFileSync(join(dir, CUSTODY_LOG), 'utf8');
    const good = text.trimEnd().split('\n');
    const check = (lines: string[]) => checkCustodyLines(dir, lines.filter((l) => l !== '').map((l) => ({ text: l, entry: (() => { try { const e = JSON.parse(l) as unknown; return e && typeof e === 'object' ? e : null; } catch { return null; } })() as never })));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 3 }), (i, at, x, how) => {
        const lines = [...good];
        if (how === 0) {
          const b = Buffer.from(lines[i]!);
          b[at % b.length]! ^= x;
          fc.pre(!b.includes(0x0a));
          lines[i] = b.toString('latin1');
        } else if (how === 1) lines.splice(i, 1);
        else if (how === 2) lines.splice(i, 0, lines[(i + 1 + (at % (good.length - 1))) % good.length]!);
        else [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
        expect(check(lines).ok).toBe(false);
      }),
      params(400),
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null')), { maxLength: 8 }), (lines) => {
        check(lines);
      }),
      params(300),
    );
  });
});

describe('VERIFY.txt, as the tests and the bundle checker read it', () => {
  it('never throws on any text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (t) => {
        parseVerifyText(t);
        parseVerifyText(`# ${t}\n$ ${t}\n${t}\n`);
      }),
      params(300),
    );
  });
});
