/**
 * A scripted recorder for tests: speaks the real protocol (the real codec) over an in-memory
 * Transport, holds WAV files and a hash-chained journal, and can misbehave on request (drop or
 * damage frames, send garbage, speak another version, vanish mid-transfer, stay silent).
 */
import { createHash } from 'node:crypto';
import { Deframer, cobsDecode, cobsEncode, encodeFrame, encodeStruct, decodeStruct, type Frame, type StructValue } from '../../../protocol/src/codec.js';
import { buildReadChecked, checkedMaxLength } from '../../../protocol/src/read-checked.js';
import { CARD_LAYOUT, COMMANDS, ENTROPY_SOURCE, ERROR_CODE, EVENTS, FILE_PART, IDENTITY_FLAGS, INFO_FLAGS, RECIPIENT_ACTION, RECIPIENT_FLAGS, JOURNAL_KIND, KIND, PROTOCOL, RECORDING_STATE, RECORD_FLAGS, STOP_REASON, STRUCTS, structSize, WIPE_METHOD, WIPE_STATE, type CommandName } from '../../../protocol/src/schema.js';
import { stopReasonName } from '../convert.js';
import { keyIdOf } from '../evidence/open-formats.js';
import { ageEncrypt } from './age-writer.js';
import type { Transport, TransportOpener } from '../transport.js';
import { encodeMarkerChunks } from '../wav.js';
import { sealRecording, signIdentity, signingDevice, type SealedFiles, type SigningDevice } from './signing-device.js';

const COMMAND_BY_ID = new Map<number, CommandName>(Object.entries(COMMANDS).map(([k, v]) => [v.id, k as CommandName]));

export interface FakeRecording {
  number: number;
  file: Buffer;
  sampleRate: number;
  sampleCount: number;
  startUnixMs: bigint;
  stopReason: number;
  flags: number;
  sha256: Buffer;
  finished: boolean;
  name: string;
  /** The signed files (contract formats); null while unsigned or still sealing. */
  sealed: SealedFiles | null;
  /** Checkpoint slots written while recording (also before sealing). */
  checkpoints: Buffer | null;
  /** Signed but the statement not written yet (LIST flag SEALING). */
  sealing: boolean;
  journalIndex: number | null;
  overruns: number;
  /** A recording cut by power: samples vouched for by the last checkpoint made while recording. */
  recoveredVouched?: number;
  /** An encrypted recording (flag ENCRYPTED): the REC*.AGE on the card; its plaintext is `file`. */
  age: Buffer | null;
}

export interface WavOptions {
  number: number;
  deviceId: bigint;
  sampleRate: number;
  samples: Int16Array | number;
  startUnixMs: bigint;
  stopReason?: number;
  flags?: number;
  overruns?: number;
  /** Sample offsets of the recording's markers (cue/LIST-adtl chunks before evid). */
  markers?: readonly number[];
}

/** Builds a recorder WAV file: RIFF, fmt, bext (padding to 1024), data, markers if any, evid. */
export function buildRecorderWav(o: WavOptions): { file: Buffer; sha256: Buffer; sampleCount: number } {
  const samples = typeof o.samples === 'number' ? Int16Array.from({ length: o.samples }, (_, i) => ((i * 37 + o.number * 101) % 20000) - 10000) : o.samples;
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const sha256 = createHash('sha256').update(data).digest();
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0);
  fmt.writeUInt16LE(1, 2);
  fmt.writeUInt32LE(o.sampleRate, 4);
  fmt.writeUInt32LE(o.sampleRate * 2, 8);
  fmt.writeUInt16LE(2, 12);
  fmt.writeUInt16LE(16, 14);
  const bextSize = CARD_LAYOUT.wavDataOffset - 12 - 8 - 16 - 8 - 8;
  const evid = encodeStruct('EVIDENCE_CHUNK', {
    version: CARD_LAYOUT.evidenceChunkVersion,
    size: structSize(STRUCTS.EVIDENCE_CHUNK),
    number: o.number,
    deviceId: o.deviceId,
    sampleRate: o.sampleRate,
    sampleCount: samples.length,
    startUnixMs: o.startUnixMs,
    stopReason: o.stopReason ?? STOP_REASON.BUTTON,
    flags: o.flags ?? RECORD_FLAGS.CLOCK_SET,
    reserved: 0,
    overruns: o.overruns ?? 0,
    sha256,
  });
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const body = Buffer.concat([
    Buffer.from('WAVE'),
    chunk('fmt ', fmt),
    chunk('bext', Buffer.alloc(bextSize)),
    chunk('data', data),
    encodeMarkerChunks(o.markers ?? []),
    chunk('evid', evid),
  ]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  const file = Buffer.concat([head, body]);
  if (file.indexOf('data', 0, 'latin1') + 8 !== CARD_LAYOUT.wavDataOffset) throw new Error('fake WAV layout is wrong');
  return { file, sha256, sampleCount: samples.length };
}

export interface Faults {
  /** Return true to drop this outgoing response (n counts READ responses from 1). */
  dropResponse?: (f: { command: CommandName; seq: number; n: number }) => boolean;
  /** Return true to flip a byte in this outgoing frame (CRC fails on the host); bytes: its wire size. */
  corruptResponse?: (f: { command: CommandName; n: number; bytes: number }) => boolean;
  /**
   * Changes the decoded bytes (header, payload, CRC) of this outgoing frame before COBS, e.g. a
   * data byte of a READ_CHECKED answer (the frame CRC then fails; n counts this command's answers).
   */
  damageFrame?: (f: { command: CommandName; n: number; raw: Buffer }) => void;
  /** A device from before READ_CHECKED: no INFO_FLAGS.READ_CHECKED, and the command unknown. */
  noReadChecked?: boolean;
  /** Bytes of garbage sent before every response. */
  garbage?: Buffer;
  /** Send responses with this protocol version. */
  version?: number;
  /** Never answer. */
  silent?: boolean;
  /** Unplug after sending this many READ responses (counted over the device's life). */
  unplugAfterReads?: number;
  /** Plug back in this many ms after an unplug (never, if undefined). */
  replugAfterMs?: number;
  /** Device answers with this maxInFlight. */
  maxInFlight?: number;
  /** Corrupt the bytes served by READ (not the CRC: the frame is valid but the data is wrong). */
  corruptReadData?: (offset: number) => boolean;
  /**
   * How long HASH takes to answer, ms, from the bytes it hashes (a card and CPU that hash slowly);
   * Infinity: it never answers. At once when unset.
   */
  hashDelayMs?: (length: number) => number;
  /**
   * WIPE answers NO_CARD: 'at-start', no card when it came (nothing done); 'mid-wipe', the card
   * pulled after the keys went (the firmware's WIPE_PENDING stays set in INFO).
   */
  wipeNoCard?: 'at-start' | 'mid-wipe';
}

export class FakeDevice {
  deviceId = 0x1234_5678_9abc_def0n;
  label = 'Kitchen';
  model = 'ER-1 sim';
  fw = [1, 2, 3] as const;
  maxPayload = 4096;
  clockSet = true;
  /** Device clock minus real time, ms. */
  clockOffsetMs = 1500;
  sampleRate = 16000;
  discreet = false;
  /** BUTTON_SCHEME (SETTINGS, INFO). */
  buttonScheme = 0;
  /**
   * What CARD_TEST answers (as the firmware's core/recording/card_test.c would): a card that
   * writes and reads at these rates; readBackMatched 0 for a card that loses bytes.
   */
  /** The card's size and free bytes (INFO, CARD_TEST). */
  cardCapacity = 1n << 30n;
  cardFree = 1n << 29n;
  cardTest = { writeBytesPerSecond: 9_000_000, readBytesPerSecond: 20_000_000, fileSystem: 0, readBackMatched: 1 };
  recState = 0;
  /** The recording started by RECORD: when, and the sample offsets of its MARKs. */
  recordStartedMs = 0;
  markers: number[] = [];
  cardState = 0;
  /** A wipe began and did not finish (INFO_FLAGS.WIPE_PENDING). */
  wipePending = false;
  batteryMv = 4000;
  nextNumber = 1;
  recordings = new Map<number, FakeRecording>();
  journal: Buffer[] = [];
  faults: Faults = {};
  plugged = true;
  /** Requests seen, by command name, in order. */
  log: { command: CommandName; req: StructValue; seq: number }[] = [];
  readResponses = 0;
  /**
   * The device key (issue 12): 'keyed' signs with `signer`; 'none' has no key yet (PROVISION makes
   * one); 'damaged' has a key that failed its checks; 'legacy' is firmware without IDENTITY.
   */
  keyState: 'keyed' | 'none' | 'damaged' | 'legacy' = 'keyed';
  signer: SigningDevice = signingDevice();
  journalEpoch = 1;
  /** Overrides the journal count the device attests (a device whose card journal was cut). */
  attestedCount: number | null = null;
  /** The owner's X25519 recipient (SET_RECIPIENT): recordings added while set are encrypted to it. */
  recipient: Buffer | null = null;
  private transport: FakeTransport | null = null;
  path = '/dev/fake-recorder';

  /** Adds a finished recording with a journal record chained to the previous one. */
  addRecording(o: { samples?: number | Int16Array; sampleRate?: number; startUnixMs?: bigint; clockSet?: boolean; finished?: boolean; overruns?: number; journal?: boolean; number?: number; sealing?: boolean; recoveredVouched?: number; encryptTo?: Buffer | null; markers?: readonly number[] } = {}): FakeRecording {
    const number = o.number ?? this.nextNumber;
    this.nextNumber = number + 1;
    const sampleRate = o.sampleRate ?? this.sampleRate;
    const startUnixMs = o.startUnixMs ?? BigInt(Date.UTC(2025, 2, 14, 9, 30, 0) + number * 3_600_000);
    const recipient = o.encryptTo === undefined ? this.recipient : o.encryptTo;
    // The evid chunk carries the journal flags; ENCRYPTED is a LIST and journal flag only.
    const evidFlags = o.clockSet === false ? 0 : RECORD_FLAGS.CLOCK_SET;
    const flags = evidFlags | (recipient ? RECORD_FLAGS.ENCRYPTED : 0);
    const { file, sha256, sampleCount } = buildRecorderWav({ number, deviceId: this.deviceId, sampleRate, samples: o.samples ?? 5000, startUnixMs, flags: evidFlags, overruns: o.overruns, markers: o.markers });
    const finished = o.finished ?? true;
    const rec: FakeRecording = {
      number,
      file,
      sampleRate,
      sampleCount,
      startUnixMs,
      stopReason: finished ? STOP_REASON.BUTTON : STOP_REASON.NONE,
      flags,
      sha256: finished ? sha256 : Buffer.alloc(32),
      finished,
      name: `REC${String(number).padStart(5, '0')}.${recipient ? CARD_LAYOUT.encryptedExt : CARD_LAYOUT.recordingExt}`,
      age: recipient ? ageEncrypt(file, recipient) : null,
      sealed: null,
      checkpoints: null,
      sealing: false,
      journalIndex: null,
      overruns: o.overruns ?? 0,
      recoveredVouched: o.recoveredVouched,
    };
    this.recordings.set(number, rec);
    if (finished && o.journal !== false) {
      // As the firmware: each marker journaled when it was taken, before the recording's record.
      (o.markers ?? []).forEach((at, i) => this.appendMarker(number, i + 1, at, sampleRate));
      this.appendJournal(rec, o.overruns ?? 0);
      rec.journalIndex = this.journal.length - 1;
    }
    if (finished && this.keyState === 'keyed') {
      if (o.sealing) {
        rec.sealing = true;
        rec.checkpoints = this.sealFiles(rec).ckp;
      } else this.seal(rec.number);
    }
    return rec;
  }

  private sealFiles(rec: FakeRecording): SealedFiles {
    const iso = (ms: bigint) => ((rec.flags & RECORD_FLAGS.CLOCK_SET) !== 0 ? new Date(Number(ms)).toISOString() : null);
    const raw = rec.journalIndex !== null ? this.journal[rec.journalIndex]! : Buffer.alloc(128);
    return sealRecording(this.signer, {
      number: rec.number,
      wav: rec.file,
      dataOffset: CARD_LAYOUT.wavDataOffset,
      sampleRate: rec.sampleRate,
      sampleCount: rec.sampleCount,
      startIso: iso(rec.startUnixMs),
      stopIso: iso(rec.startUnixMs + BigInt(Math.round((rec.sampleCount * 1000) / rec.sampleRate))),
      stopReason: stopReasonName(rec.stopReason),
      overruns: rec.overruns,
      journal: { epoch: this.journalEpoch, index: rec.journalIndex ?? 0, raw },
      recoveredVouched: rec.recoveredVouched,
      fw: this.fw.join('.'),
      ...(rec.age ? { age: rec.age } : {}),
    });
  }

  /** Writes (or rewrites) the signed files of a finished recording, as the device's sealing does. */
  seal(number: number): void {
    const rec = this.recordings.get(number)!;
    rec.sealed = this.sealFiles(rec);
    rec.checkpoints = rec.sealed.ckp;
    rec.sealing = false;
  }

  /** The bytes of one file of a recording (FILE_PART), or null when it does not exist. */
  part(rec: FakeRecording, part: number): Buffer | null {
    switch (part) {
      case FILE_PART.AUDIO:
        return rec.age ?? rec.file;
      case FILE_PART.STATEMENT:
        return rec.sealed?.sha ?? null;
      case FILE_PART.SIGNIFY:
        return rec.sealed?.sig ?? null;
      case FILE_PART.MINISIGN:
        return rec.sealed?.msg ?? null;
      case FILE_PART.CHECKPOINTS:
        return rec.checkpoints;
      default:
        return null;
    }
  }

  /** The IDENTITY answer, signed over `nonce` when the device has a key. */
  identityPayload(nonce: Buffer): Buffer {
    const keyed = this.keyState === 'keyed';
    const last = this.journal.at(-1);
    const value = {
      publicKey: keyed ? this.signer.publicKey : Buffer.alloc(32),
      keyId: keyed ? keyIdOf(this.signer.publicKey) : Buffer.alloc(8),
      uniqueId: Buffer.alloc(8),
      deviceId: this.deviceId,
      entropySource: keyed ? ENTROPY_SOURCE.OS : ENTROPY_SOURCE.NONE,
      flags: (keyed ? IDENTITY_FLAGS.HAS_KEY : 0) | IDENTITY_FLAGS.SIMULATED | (this.keyState === 'damaged' ? IDENTITY_FLAGS.DAMAGED : 0),
      reserved: 0,
      journalEpoch: this.journalEpoch,
      journalCount: this.attestedCount ?? this.journal.length,
      journalHead: this.attestedCount === 0 || !last ? Buffer.alloc(32) : createHash('sha256').update(this.journal[(this.attestedCount ?? this.journal.length) - 1] ?? last).digest(),
      clockUnixMs: this.clockSet ? BigInt(Date.now() + this.clockOffsetMs) : 0n,
      uptimeMs: 123456n,
      signature: Buffer.alloc(64),
    };
    const raw = encodeStruct('IDENTITY', value);
    if (keyed) signIdentity(this.signer, nonce, raw.subarray(0, raw.length - 64)).copy(raw, raw.length - 64);
    return raw;
  }

  /** Starts a new journal epoch as the device's FORMAT does (EPOCH_START first). */
  startEpoch(): void {
    const prev = this.journal.at(-1);
    const count = this.journal.length;
    this.journalEpoch++;
    this.journal = [];
    const raw = encodeStruct('JOURNAL_RECORD', {
      magic: Buffer.from(CARD_LAYOUT.journalMagic, 'latin1'),
      version: CARD_LAYOUT.journalRecordVersion,
      size: 128,
      index: 0,
      number: this.journalEpoch,
      sampleCount: count,
      kind: JOURNAL_KIND.EPOCH_START,
      sha256: Buffer.concat([prev ? createHash('sha256').update(prev).digest().subarray(0, 12) : Buffer.alloc(12), Buffer.alloc(20)]),
      prevHash: Buffer.alloc(32),
    });
    this.journal.push(raw);
  }

  /** A MARKER record (JOURNAL_KIND.MARKER): recording `number`'s marker `marker` at `sampleOffset`. */
  appendMarker(number: number, marker: number, sampleOffset: number, sampleRate: number): Buffer {
    return this.appendChained({
      number,
      sampleRate,
      sampleCount: sampleOffset,
      kind: JOURNAL_KIND.MARKER,
      overruns: marker,
      sha256: Buffer.alloc(32),
    });
  }

  /** A CLOCK_SET record as SET_TIME journals it: the clock before (0n: not set) and the time it was set to. */
  appendClockSet(beforeUnixMs: bigint, toUnixMs: bigint): Buffer {
    return this.appendChained({ kind: JOURNAL_KIND.CLOCK_SET, startUnixMs: beforeUnixMs, stopUnixMs: toUnixMs, sha256: Buffer.alloc(32) });
  }

  /** Appends a journal record with the common header, chained to the record before it. */
  private appendChained(fields: StructValue): Buffer {
    const prev = this.journal[this.journal.length - 1];
    const raw = encodeStruct('JOURNAL_RECORD', {
      magic: Buffer.from(CARD_LAYOUT.journalMagic, 'latin1'),
      version: CARD_LAYOUT.journalRecordVersion,
      size: 128,
      index: this.journal.length,
      ...fields,
      prevHash: prev ? createHash('sha256').update(prev).digest() : Buffer.alloc(32),
    });
    this.journal.push(raw);
    return raw;
  }

  appendJournal(rec: FakeRecording, overruns = 0): Buffer {
    return this.appendChained({
      number: rec.number,
      startUnixMs: rec.startUnixMs,
      stopUnixMs: rec.startUnixMs + BigInt(Math.round((rec.sampleCount * 1000) / rec.sampleRate)),
      startUptimeMs: 1000n,
      stopUptimeMs: 2000n,
      sampleRate: rec.sampleRate,
      sampleCount: rec.sampleCount,
      stopReason: rec.stopReason,
      flags: rec.flags,
      kind: JOURNAL_KIND.RECORDING,
      overruns,
      sha256: rec.sha256,
    });
  }

  /** Re-chains the journal from index i (after a test edits a record). */
  rechain(from = 0): void {
    for (let i = Math.max(1, from); i < this.journal.length; i++) {
      const prevHash = createHash('sha256').update(this.journal[i - 1]!).digest();
      prevHash.copy(this.journal[i]!, 128 - 32);
    }
  }

  /** Whether the host has the port open now. */
  get portOpen(): boolean {
    return this.transport?.isOpen ?? false;
  }

  opener: TransportOpener = async (path: string) => {
    if (path !== this.path || !this.plugged) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    if (this.transport?.isOpen) throw new Error('Error: Cannot lock port');
    this.transport = new FakeTransport(path, this);
    return this.transport;
  };

  unplug(): void {
    this.plugged = false;
    this.transport?.drop(new Error('device disconnected'));
    this.transport = null;
    if (this.faults.replugAfterMs !== undefined) setTimeout(() => (this.plugged = true), this.faults.replugAfterMs);
  }

  sendEvent(recState: number, number: number): void {
    this.transport?.deliver(encodeFrame({ kind: KIND.EVENT, seq: 0, command: EVENTS.STATE.id, payload: encodeStruct('STATE_EVENT', { recState, cardState: this.cardState, reserved: 0, number, samples: 0 }) }));
  }

  /** Handles one request frame; returns the frames to send back. */
  handle(f: Frame): Buffer[] {
    const name = COMMAND_BY_ID.get(f.command);
    const err = (code: number, detail = 0, seq = f.seq) => [encodeFrame({ kind: KIND.ERROR, seq, command: f.command, payload: encodeStruct('ERROR', { code, reserved: 0, detail }) })];
    if (!name || (name === 'READ_CHECKED' && this.faults.noReadChecked)) return err(ERROR_CODE.UNKNOWN_COMMAND);
    let req: StructValue;
    try {
      req = decodeStruct(COMMANDS[name].request, f.payload);
    } catch {
      return err(ERROR_CODE.BAD_FRAME);
    }
    this.log.push({ command: name, req, seq: f.seq });
    const ok = (value: StructValue) => [encodeFrame({ version: this.faults.version, kind: KIND.RESPONSE, seq: f.seq, command: f.command, payload: encodeStruct(COMMANDS[name].response, value) })];
    switch (name) {
      case 'HELLO':
        this.maxPayload = Math.max(PROTOCOL.minMaxPayload, Math.min(Number(req.maxPayload), this.maxPayload));
        return ok(this.infoValue());
      case 'INFO':
        return ok(this.infoValue());
      case 'SET_TIME': {
        const prev = BigInt(Date.now() + this.clockOffsetMs);
        const was = this.clockSet;
        this.clockOffsetMs = Number(req.unixMs) - Date.now();
        this.clockSet = true;
        return ok({ previousUnixMs: prev, previousSet: was ? 1 : 0, reserved: Buffer.alloc(7) });
      }
      case 'LIST': {
        const all = [...this.recordings.values()].filter((r) => r.number > Number(req.afterNumber)).sort((a, b) => a.number - b.number);
        const page = all.slice(0, Number(req.maxEntries));
        return ok({
          total: this.recordings.size,
          count: page.length,
          more: all.length > page.length ? 1 : 0,
          reserved: 0,
          entries: page.map((r) => ({
            number: r.number,
            state: r.finished ? RECORDING_STATE.FINISHED : RECORDING_STATE.RECORDING,
            flags: r.flags | (r.sealed ? RECORD_FLAGS.SEALED : 0) | (r.sealing ? RECORD_FLAGS.SEALING : 0) | (r.finished && !r.sealed && !r.sealing ? RECORD_FLAGS.UNSIGNED : 0),
            stopReason: r.stopReason,
            reserved: 0,
            name: r.name,
            size: (r.age ?? r.file).length,
            dataOffset: CARD_LAYOUT.wavDataOffset,
            sampleRate: r.sampleRate,
            sampleCount: r.sampleCount,
            startUnixMs: r.startUnixMs,
            sha256: r.sha256,
            statementSize: r.sealed?.sha.length ?? 0,
            signifySize: r.sealed?.sig.length ?? 0,
            minisignSize: r.sealed?.msg.length ?? 0,
            checkpointsSize: r.checkpoints?.length ?? 0,
          })),
        });
      }
      case 'READ':
      case 'READ_CHECKED': {
        const r = this.recordings.get(Number(req.number));
        if (!r) return err(ERROR_CODE.NOT_FOUND);
        const file = this.part(r, Number(req.part));
        if (!file) return err(ERROR_CODE.NOT_FOUND);
        const off = Number(req.offset);
        const len = Number(req.length);
        const blockSize = name === 'READ_CHECKED' ? Number(req.blockSize) : 0;
        if (name === 'READ_CHECKED' && blockSize < PROTOCOL.minCheckedBlock) return err(ERROR_CODE.BAD_ARGUMENT, PROTOCOL.minCheckedBlock);
        const max = blockSize > 0 ? checkedMaxLength(this.maxPayload, blockSize) : this.maxPayload - 8;
        if (off > file.length) return err(ERROR_CODE.OUT_OF_RANGE);
        if (len > max) return err(ERROR_CODE.TOO_LARGE, max);
        let data = Buffer.from(file.subarray(off, off + len));
        if (Number(req.part) === FILE_PART.AUDIO && this.faults.corruptReadData?.(off) && data.length) {
          data = Buffer.from(data);
          data[0] = data[0]! ^ 0xff;
        }
        if (blockSize > 0) return [encodeFrame({ kind: KIND.RESPONSE, seq: f.seq, command: f.command, payload: buildReadChecked(f.seq, { number: r.number, offset: off, blockSize }, data) })];
        return ok({ number: r.number, offset: off, data });
      }
      case 'HASH': {
        const r = this.recordings.get(Number(req.number));
        if (!r) return err(ERROR_CODE.NOT_FOUND);
        const file = this.part(r, Number(req.part));
        if (!file) return err(ERROR_CODE.NOT_FOUND);
        const off = Number(req.offset);
        const len = Number(req.length);
        if (off + len > file.length) return err(ERROR_CODE.OUT_OF_RANGE);
        const digest = createHash('sha256').update(file.subarray(off, off + len)).digest();
        return ok({ number: r.number, algorithm: 1, reserved: Buffer.alloc(3), offset: off, length: len, digest });
      }
      case 'DELETE': {
        const r = this.recordings.get(Number(req.number));
        if (!r) return err(ERROR_CODE.NOT_FOUND);
        if (!r.finished) return err(ERROR_CODE.NOT_FINISHED);
        if (!(req.sha256 as Buffer).equals(r.sha256)) return err(ERROR_CODE.HASH_MISMATCH);
        this.recordings.delete(r.number);
        return ok({ number: r.number });
      }
      case 'JOURNAL': {
        const from = Number(req.fromIndex);
        const max = Math.min(Number(req.maxRecords), Math.floor((this.maxPayload - 12) / 128));
        const recs = this.journal.slice(from, from + max);
        const head = Buffer.alloc(12);
        head.writeUInt32LE(this.journal.length, 0);
        head.writeUInt32LE(from, 4);
        head.writeUInt16LE(recs.length, 8);
        return [encodeFrame({ version: this.faults.version, kind: KIND.RESPONSE, seq: f.seq, command: f.command, payload: Buffer.concat([head, ...recs]) })];
      }
      case 'IDENTITY':
        if (this.keyState === 'legacy') return err(ERROR_CODE.UNKNOWN_COMMAND);
        return [encodeFrame({ kind: KIND.RESPONSE, seq: f.seq, command: f.command, payload: this.identityPayload(req.nonce as Buffer) })];
      case 'PROVISION':
        if (this.keyState === 'legacy') return err(ERROR_CODE.UNKNOWN_COMMAND);
        if (Number(req.magic) !== PROTOCOL.provisionMagic) return err(ERROR_CODE.CONFIRMATION_REQUIRED);
        if ((this.keyState === 'keyed' || this.keyState === 'damaged') && !(Number(req.flags) & 1)) return err(ERROR_CODE.BAD_STATE);
        this.signer = signingDevice();
        this.keyState = 'keyed';
        return [encodeFrame({ kind: KIND.RESPONSE, seq: f.seq, command: f.command, payload: this.identityPayload(req.hostRandom as Buffer) })];
      case 'SET_LABEL':
        this.label = String(req.label);
        return ok({});
      case 'SETTINGS':
        if (Number(req.setMask) & 1) this.sampleRate = Number(req.sampleRate);
        if (Number(req.setMask) & 2) this.discreet = Number(req.discreet) !== 0;
        if (Number(req.setMask) & 4) {
          if (Number(req.buttonScheme) > 1) return err(ERROR_CODE.BAD_ARGUMENT, Number(req.buttonScheme));
          this.buttonScheme = Number(req.buttonScheme);
        }
        return ok({ discreet: this.discreet ? 1 : 0, buttonScheme: this.buttonScheme, reserved: Buffer.alloc(2), sampleRate: this.sampleRate });
      case 'CARD_TEST': {
        if (this.recState === 1) return err(ERROR_CODE.BUSY);
        const bytes = Math.ceil((Number(req.bytes) || CARD_LAYOUT.cardTestDefaultBytes) / 512) * 512;
        if (bytes > CARD_LAYOUT.cardTestMaxBytes) return err(ERROR_CODE.BAD_ARGUMENT, CARD_LAYOUT.cardTestMaxBytes);
        const t = this.cardTest;
        const writeMs = Math.max(1, Math.round((bytes * 1000) / t.writeBytesPerSecond));
        const readMs = Math.max(1, Math.round((bytes * 1000) / t.readBytesPerSecond));
        return ok({
          capacityBytes: this.cardCapacity,
          freeBytes: this.cardFree,
          testedBytes: bytes,
          writeMs,
          readMs,
          writeBytesPerSecond: Math.floor((bytes * 1000) / writeMs),
          readBytesPerSecond: Math.floor((bytes * 1000) / readMs),
          firstMismatch: t.readBackMatched ? 0xffffffff : 4096,
          fileSystem: t.fileSystem,
          readBackMatched: t.readBackMatched,
          reserved: Buffer.alloc(2),
        });
      }
      case 'RECORD':
        if (Number(req.action) === 1) {
          if (this.recState === 1) return err(ERROR_CODE.BAD_STATE);
          this.recState = 1;
          this.recordStartedMs = Date.now();
          this.markers = [];
          return ok({ recState: 1, reserved: Buffer.alloc(3), number: this.nextNumber });
        }
        this.recState = 0;
        return ok({ recState: 0, reserved: Buffer.alloc(3), number: 0 });
      case 'MARK': {
        // As the firmware (core/link/server.c): the offset is the samples recorded so far.
        if (this.recState !== 1) return err(ERROR_CODE.BAD_STATE);
        if (this.markers.length >= CARD_LAYOUT.maxMarkers) return err(ERROR_CODE.MARKERS_FULL, CARD_LAYOUT.maxMarkers);
        const sampleOffset = Math.floor(((Date.now() - this.recordStartedMs) * this.sampleRate) / 1000);
        this.markers.push(sampleOffset);
        return ok({ number: this.nextNumber, marker: this.markers.length, sampleOffset, sampleRate: this.sampleRate });
      }
      case 'SET_RECIPIENT': {
        const action = Number(req.action);
        if (action !== RECIPIENT_ACTION.GET && this.recState === 1) return err(ERROR_CODE.BUSY);
        if (action === RECIPIENT_ACTION.SET) this.recipient = Buffer.from(req.recipient as Buffer);
        else if (action === RECIPIENT_ACTION.CLEAR) this.recipient = null;
        else if (action !== RECIPIENT_ACTION.GET) return err(ERROR_CODE.BAD_FRAME);
        return ok({ flags: this.recipient ? RECIPIENT_FLAGS.SET : 0, reserved: Buffer.alloc(3), recipient: this.recipient ?? Buffer.alloc(32) });
      }
      case 'FORMAT':
        if (Number(req.magic) !== PROTOCOL.formatMagic || req.deviceId !== this.deviceId) return err(ERROR_CODE.CONFIRMATION_REQUIRED);
        this.recordings.clear();
        this.startEpoch();
        return ok({});
      case 'WIPE': {
        // As the firmware's wipe (firmware/core/recording/wipe.c): refused for another device or
        // a recording the host has not seen; then EPOCH_START and WIPED.
        if (Number(req.magic) !== PROTOCOL.wipeMagic) return err(ERROR_CODE.CONFIRMATION_REQUIRED);
        if (this.recState === 1) return err(ERROR_CODE.BUSY);
        const newest = Math.max(0, ...this.recordings.keys());
        if (req.deviceId !== this.deviceId || Number(req.recordings) !== this.recordings.size || Number(req.newestNumber) !== newest) return err(ERROR_CODE.BAD_STATE);
        if (this.faults.wipeNoCard) {
          this.wipePending = this.faults.wipeNoCard === 'mid-wipe';
          return err(ERROR_CODE.NO_CARD);
        }
        this.recordings.clear();
        this.startEpoch();
        const blocks = 131072;
        this.appendChained({ number: this.journalEpoch, sampleRate: WIPE_METHOD.ZERO_FILL, sampleCount: blocks, kind: JOURNAL_KIND.WIPED });
        return ok({ state: WIPE_STATE.DONE, method: WIPE_METHOD.ZERO_FILL, reserved: 0, epoch: this.journalEpoch, blocksErased: blocks });
      }
      default:
        return err(ERROR_CODE.UNKNOWN_COMMAND);
    }
  }

  infoValue(): StructValue {
    return {
      protocolVersion: PROTOCOL.version,
      fwMajor: this.fw[0],
      fwMinor: this.fw[1],
      fwPatch: this.fw[2],
      maxPayload: this.maxPayload,
      maxInFlight: this.faults.maxInFlight ?? 8,
      deviceId: this.deviceId,
      model: this.model,
      label: this.label,
      clockUnixMs: BigInt(Date.now() + this.clockOffsetMs),
      uptimeMs: 123456n,
      flags: INFO_FLAGS.SIMULATED | (this.faults.noReadChecked ? 0 : INFO_FLAGS.READ_CHECKED) | (this.discreet ? INFO_FLAGS.DISCREET : 0) | (this.clockSet ? INFO_FLAGS.CLOCK_SET : 0) | (this.recipient ? INFO_FLAGS.ENCRYPTING : 0) | (this.wipePending ? INFO_FLAGS.WIPE_PENDING : 0),
      recState: this.recState,
      cardState: this.cardState,
      buttonScheme: this.buttonScheme,
      batteryMv: this.batteryMv,
      reserved1: 0,
      sampleRate: this.sampleRate,
      cardCapacity: this.cardCapacity,
      cardFree: this.cardFree,
      currentNumber: 0,
      currentSamples: 0,
      nextNumber: this.nextNumber,
      recordingCount: this.recordings.size,
      journalCount: this.journal.length,
      overrunsTotal: 0,
      cardSecondsLeft: 9 * 3600,
      batterySecondsLeft: 6 * 3600,
    };
  }
}

/** The host end of the in-memory link. */
export class FakeTransport implements Transport {
  private open = true;
  private readonly dataCbs = new Set<(b: Buffer) => void>();
  private readonly closeCbs = new Set<(e?: Error) => void>();
  private readonly deframer = new Deframer();
  private counts = new Map<CommandName, number>();
  /** Bytes written by the host. */
  written: Buffer[] = [];

  constructor(
    readonly path: string,
    private readonly device: FakeDevice,
  ) {}

  get isOpen() {
    return this.open;
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.open) throw new Error('port is not open');
    this.written.push(Buffer.from(data));
    const items = this.deframer.push(data);
    for (const it of items) {
      if (!it.ok) continue;
      if (this.device.faults.silent) continue;
      const name = COMMAND_BY_ID.get(it.frame.command);
      const frames = this.device.handle(it.frame);
      for (let out of frames) {
        if (!name) {
          this.deliver(out);
          continue;
        }
        const n = (this.counts.get(name) ?? 0) + 1;
        this.counts.set(name, n);
        if (this.device.faults.dropResponse?.({ command: name, seq: it.frame.seq, n })) continue;
        if (this.device.faults.corruptResponse?.({ command: name, n, bytes: out.length })) {
          out = Buffer.from(out);
          out[Math.floor(out.length / 2)] = (out[Math.floor(out.length / 2)]! % 250) + 1;
        }
        const damage = this.device.faults.damageFrame;
        if (damage) {
          const raw = Buffer.from(cobsDecode(out.subarray(0, out.length - 1)));
          damage({ command: name, n, raw });
          out = Buffer.concat([cobsEncode(raw), Buffer.from([PROTOCOL.delimiter])]);
        }
        if (this.device.faults.garbage) this.deliver(this.device.faults.garbage);
        const hashDelay = name === 'HASH' ? this.device.faults.hashDelayMs?.(Number(decodeStruct('HASH_REQ', it.frame.payload).length)) : undefined;
        if (hashDelay === undefined) this.deliver(out);
        else if (hashDelay !== Infinity) setTimeout(() => this.deliver(out), hashDelay);
        if (name === 'READ' || name === 'READ_CHECKED') {
          this.device.readResponses++;
          const lim = this.device.faults.unplugAfterReads;
          if (lim !== undefined && this.device.readResponses === lim) {
            setImmediate(() => this.device.unplug());
          }
        }
      }
    }
  }

  /** Sends bytes to the host (asynchronously, as a real port would). */
  deliver(b: Buffer): void {
    setImmediate(() => {
      if (!this.open) return;
      for (const cb of [...this.dataCbs]) cb(b);
    });
  }

  onData(cb: (b: Buffer) => void) {
    this.dataCbs.add(cb);
    return () => this.dataCbs.delete(cb);
  }

  onClose(cb: (e?: Error) => void) {
    this.closeCbs.add(cb);
    return () => this.closeCbs.delete(cb);
  }

  drop(err?: Error): void {
    if (!this.open) return;
    this.open = false;
    for (const cb of [...this.closeCbs]) cb(err);
  }

  async close(): Promise<void> {
    this.drop();
  }
}
