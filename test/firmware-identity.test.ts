/**
 * The device key of the real C firmware in the simulator, over a real pseudo-terminal: PROVISION
 * makes it in the simulator's own flash (IMAGE.nvm, never the card), IDENTITY signs the host's
 * nonce with it (checked here with node:crypto), it survives a restart, a second PROVISION
 * without force is refused, the seed is nowhere on the card image, a power cut in PROVISION never
 * leaves a silent key, and a journal cut on the card is caught by the device's own count.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeStruct } from '../protocol/src/codec.js';
import { describeJournalRecord, entryFromRaw } from '../host/engine/journal.js';
import { recordWithButton } from '../host/sim/driver.js';
import { ERROR_CODE, IDENTITY_FLAGS, JOURNAL_KIND, KIND, PROTOCOL, STRUCTS, structSize } from '../protocol/src/schema.js';
import { ClientPool, RawClient } from './support/raw-client.js';
import { mcopyOut, requireSimulator, requireTool, startSim, stopAll, tempDir } from './support/sim.js';

const IDENTITY_SIZE = structSize(STRUCTS.IDENTITY);
const SIGNED_BYTES = IDENTITY_SIZE - 64; // everything before `signature`
const JOURNAL_SIZE = structSize(STRUCTS.JOURNAL_RECORD);
const NVM_SEED_OFFSET = 32; // NVM_IDENTITY.seed, copy A at offset 0 of the NVM file

beforeAll(() => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
});

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
  await stopAll();
});

const connect = (link: string) => clients.connect(link, { hello: true });

/** Checks the IDENTITY signature with node:crypto and returns the decoded response. */
function checkIdentity(payload: Buffer, nonce: Buffer): { publicKey: Buffer; flags: number; journalCount: number; journalEpoch: number } {
  expect(payload.length).toBe(IDENTITY_SIZE);
  const v = decodeStruct('IDENTITY', payload);
  const publicKey = Buffer.from(v.publicKey as Uint8Array);
  const flags = Number(v.flags);
  if (flags & IDENTITY_FLAGS.HAS_KEY) {
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]), format: 'der', type: 'spki' });
    const message = Buffer.concat([Buffer.from(PROTOCOL.identityDomain, 'ascii'), Buffer.from([0]), nonce, payload.subarray(0, SIGNED_BYTES)]);
    const signature = payload.subarray(SIGNED_BYTES);
    expect(verify(null, message, key, signature)).toBe(true);
    const otherNonce = Buffer.from(message);
    otherNonce[PROTOCOL.identityDomain.length + 1]! ^= 1;
    expect(verify(null, otherNonce, key, signature)).toBe(false);
  }
  return { publicKey, flags, journalCount: Number(v.journalCount), journalEpoch: Number(v.journalEpoch) };
}

async function identity(c: RawClient) {
  const nonce = randomBytes(32);
  const f = await c.call('IDENTITY', { nonce });
  expect(f.kind).toBe(KIND.RESPONSE);
  return checkIdentity(f.payload, nonce);
}

describe('device key in the simulator', () => {
  it('PROVISION makes a key that signs IDENTITY, survives a restart, is not replaced without force, and never reaches the card', async () => {
    const dir = tempDir();
    let sim = await startSim({ dir, sizeMb: 64 });
    let c = await connect(sim.link);
    const before = await identity(c);
    expect(before.flags & IDENTITY_FLAGS.HAS_KEY).toBe(0);
    expect(before.flags & IDENTITY_FLAGS.SIMULATED).toBe(IDENTITY_FLAGS.SIMULATED);
    expect(before.journalEpoch).toBe(1);

    const hostRandom = randomBytes(32);
    const made = await c.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom });
    expect(made.kind).toBe(KIND.RESPONSE);
    const key = checkIdentity(made.payload, hostRandom);
    expect(key.flags & IDENTITY_FLAGS.HAS_KEY).toBe(IDENTITY_FLAGS.HAS_KEY);
    expect(key.journalCount).toBe(1); // KEY_CREATED

    const journal = await c.call('JOURNAL', { fromIndex: 0, maxRecords: 4 });
    const record = decodeStruct('JOURNAL_RECORD', journal.payload.subarray(journal.payload.length - JOURNAL_SIZE));
    expect(Number(record.kind)).toBe(JOURNAL_KIND.KEY_CREATED);

    const again = await c.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: randomBytes(32) });
    expect(again.kind).toBe(KIND.ERROR);
    expect(Number(decodeStruct('ERROR', again.payload).code)).toBe(ERROR_CODE.BAD_STATE);
    await c.close();
    expect(await sim.quit()).toBe(0);

    // The seed lives in the simulator's flash file beside the image: it is the key's seed, and
    // no byte run of the card image holds it.
    const nvm = readFileSync(join(dir, 'card.img.nvm'));
    expect(nvm.length).toBe(65536);
    const seed = nvm.subarray(NVM_SEED_OFFSET, NVM_SEED_OFFSET + 32);
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    expect(Buffer.from(derived.subarray(derived.length - 32)).equals(key.publicKey)).toBe(true);
    expect(readFileSync(join(dir, 'card.img')).indexOf(seed)).toBe(-1);

    sim = await startSim({ dir, sizeMb: 64 });
    c = await connect(sim.link);
    const after = await identity(c);
    expect(after.publicKey.equals(key.publicKey)).toBe(true);
    expect(after.journalCount).toBe(1);
    expect(await sim.quit()).toBe(0);
  }, 60_000);

  it('a power cut in the middle of PROVISION leaves no silent key: DAMAGED, and PROVISION with force mends it', async () => {
    const dir = tempDir();
    // NVM operations of a fresh simulator: 1 the journal counter adopted at the first mount, then
    // PROVISION: 2 erase copy A, 3 program copy A (cut here), 4 erase B, 5 program B.
    let sim = await startSim({ dir, sizeMb: 64, extraArgs: ['--nvm-cut-at', '3'] });
    let c = await connect(sim.link);
    void c.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: randomBytes(32) }, 5_000).catch(() => undefined);
    const exit = await sim.driver.exit;
    expect(exit.code).toBe(3);
    await c.close();

    sim = await startSim({ dir, sizeMb: 64 });
    c = await connect(sim.link);
    const after = await identity(c);
    expect(after.flags & IDENTITY_FLAGS.HAS_KEY).toBe(0);
    expect(after.flags & IDENTITY_FLAGS.DAMAGED).toBe(IDENTITY_FLAGS.DAMAGED);
    const refused = await c.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 0, reserved: Buffer.alloc(3), hostRandom: randomBytes(32) });
    expect(refused.kind).toBe(KIND.ERROR);
    const hostRandom = randomBytes(32);
    const mended = await c.call('PROVISION', { magic: PROTOCOL.provisionMagic, flags: 1, reserved: Buffer.alloc(3), hostRandom });
    expect(mended.kind).toBe(KIND.RESPONSE);
    const key = checkIdentity(mended.payload, hostRandom);
    expect(key.flags & (IDENTITY_FLAGS.HAS_KEY | IDENTITY_FLAGS.DAMAGED)).toBe(IDENTITY_FLAGS.HAS_KEY);
    expect(await sim.quit()).toBe(0);
  }, 60_000);

  it('a journal cut short on the card is found by the device\'s own count: TAIL_LOST, then the recording found without its record', async () => {
    const dir = tempDir();
    let sim = await startSim({ dir, sizeMb: 64, speed: 10 });
    await recordWithButton(sim.driver, 1, 10);
    await recordWithButton(sim.driver, 1, 10);
    expect(await sim.quit()).toBe(0);

    // Someone with the card cuts the journal's last record (recording 2's).
    const journalPath = join(dir, 'journal.bin');
    mcopyOut(sim.image, '/SYSTEM/JOURNAL.BIN', journalPath);
    expect(readFileSync(journalPath).length).toBe(2 * JOURNAL_SIZE);
    writeFileSync(journalPath, readFileSync(journalPath).subarray(0, JOURNAL_SIZE));
    const put = spawnSync('mcopy', ['-o', '-i', sim.image, journalPath, '::/SYSTEM/JOURNAL.BIN'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, encoding: 'utf8' });
    expect(put.status, put.stderr).toBe(0);

    sim = await startSim({ dir, sizeMb: 64, speed: 10 });
    const c = await connect(sim.link);
    const f = await c.call('JOURNAL', { fromIndex: 0, maxRecords: 8 });
    const entries = [];
    for (let o = 12; o < f.payload.length; o += JOURNAL_SIZE) entries.push(entryFromRaw(Buffer.from(f.payload.subarray(o, o + JOURNAL_SIZE)), entries.length));
    expect(entries.map((e) => [e.record.kind, e.record.number])).toEqual([
      [JOURNAL_KIND.RECORDING, 1],
      [JOURNAL_KIND.TAIL_LOST, 2],
      [JOURNAL_KIND.FOUND_UNJOURNALED, 2],
    ]);
    expect(describeJournalRecord(entries[1]!.record)).toBe('the journal on this card was cut or replaced: 1 record missing (the recorder had counted 2)');
    expect((await identity(c)).journalCount).toBe(3);
    expect(await sim.quit()).toBe(0);
  }, 60_000);
});
