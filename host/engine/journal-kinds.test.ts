/**
 * Journal record kinds (JOURNAL_RECORD.kind): only RECORDING and FOUND_UNJOURNALED are recordings;
 * NUMBER_SPENT fills the number sequence; clock, key and epoch records are not missing
 * recordings; TAIL_LOST is reported once; EPOCH_START marks a new journal; old cards (kind 0
 * everywhere) check as before. End to end through sync: a spent number no longer fails it.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { decodeStruct, encodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, JOURNAL_KIND } from '../../protocol/src/schema.js';
import type { JournalRecord } from '../../protocol/generated/types.js';
import { checkJournal, describeJournalRecord, entryFromRaw, journalKindName, journalMarkers, memoryNumber, recordingEntries, type JournalEntry } from './journal.js';
import { setup } from './testing/harness.js';

interface Spec {
  kind: number;
  number: number;
  sampleCount?: number;
  startUnixMs?: bigint;
  stopUnixMs?: bigint;
  overruns?: number;
}

function chain(specs: Spec[]): JournalEntry[] {
  const out: JournalEntry[] = [];
  specs.forEach((s, i) => {
    const raw = encodeStruct('JOURNAL_RECORD', {
      magic: Buffer.from(CARD_LAYOUT.journalMagic, 'latin1'),
      version: CARD_LAYOUT.journalRecordVersion,
      size: 128,
      index: i,
      number: s.number,
      startUnixMs: s.startUnixMs ?? 0n,
      stopUnixMs: s.stopUnixMs ?? 0n,
      startUptimeMs: 0n,
      stopUptimeMs: 0n,
      sampleRate: 16000,
      sampleCount: s.sampleCount ?? 0,
      stopReason: 0,
      flags: 0,
      kind: s.kind,
      overruns: s.overruns ?? 0,
      sha256: Buffer.alloc(32, i + 1),
      prevHash: i ? out[i - 1]!.hash : Buffer.alloc(32),
    });
    out.push(entryFromRaw(raw, i));
  });
  return out;
}

const R = (number: number): Spec => ({ kind: JOURNAL_KIND.RECORDING, number });

describe('journal record kinds', () => {
  test('clock, key and epoch records are not recordings and leave the number sequence alone', () => {
    const e = chain([
      { kind: JOURNAL_KIND.KEY_CREATED, number: 0 },
      R(1),
      { kind: JOURNAL_KIND.CLOCK_SET, number: 0, stopUnixMs: 1790000000000n },
      R(2),
      { kind: JOURNAL_KIND.CLOCK_LOST, number: 0 },
      R(3),
    ]);
    const c = checkJournal(e, e.length, null);
    expect(c.chain).toBe('ok');
    expect(c.gaps).toEqual([]);
    expect(c.problems).toEqual([]);
    expect(recordingEntries(e).map((x) => x.record.number)).toEqual([1, 2, 3]);
    expect(memoryNumber(e, 4)).toBe(2);
  });

  test('a spent number fills the gap; without it the gap is reported', () => {
    const spent = chain([R(1), { kind: JOURNAL_KIND.NUMBER_SPENT, number: 2 }, R(3)]);
    expect(checkJournal(spent, 3, null).gaps).toEqual([]);
    expect(recordingEntries(spent).map((x) => x.record.number)).toEqual([1, 3]);
    const gap = chain([R(1), R(3)]);
    expect(checkJournal(gap, 2, null).gaps.map((g) => g.message)).toEqual(['recording 2 is missing from the journal']);
  });

  test('FOUND_UNJOURNALED is a recording in the number sequence', () => {
    const e = chain([R(1), { kind: JOURNAL_KIND.FOUND_UNJOURNALED, number: 2 }, R(3)]);
    expect(checkJournal(e, 3, null).gaps).toEqual([]);
    expect(recordingEntries(e).map((x) => x.record.number)).toEqual([1, 2, 3]);
  });

  test('TAIL_LOST is a gap in plain words, said once', () => {
    const e = chain([R(1), { kind: JOURNAL_KIND.TAIL_LOST, number: 3, sampleCount: 2 }, R(2)]);
    const first = checkJournal(e, 3, null);
    expect(first.chain).toBe('ok');
    expect(first.gaps.map((g) => g.message)).toEqual(['the journal on this card was cut or replaced: 2 records missing (the recorder had counted 3)']);
    const later = checkJournal(e, 3, { index: 2, recordSha256: e[2]!.hash.toString('hex'), number: 2 });
    expect(later.gaps).toEqual([]);
    expect(later.restarted).toBe(false);
  });

  test('a journal that starts with EPOCH_START is a new one, also when its first recording number is low', () => {
    const old = chain([R(1), R(2)]);
    const memory = { index: 1, recordSha256: old[1]!.hash.toString('hex'), number: 2 };
    const fresh = chain([{ kind: JOURNAL_KIND.EPOCH_START, number: 2, sampleCount: 2 }, R(3)]);
    const c = checkJournal(fresh, 2, memory);
    expect(c.restarted).toBe(true);
    expect(c.problems).toEqual([]);
    expect(c.gaps.map((g) => g.message).join()).toMatch(/starts again at recording 3/);
  });

  test('a journal still holding the remembered record is not a new one, whatever its last record', () => {
    const e = chain([R(1), { kind: JOURNAL_KIND.CLOCK_SET, number: 0 }, R(2)]);
    const c = checkJournal(e, 3, { index: 1, recordSha256: e[1]!.hash.toString('hex'), number: memoryNumber(e, 1) });
    expect(c.restarted).toBe(false);
    expect(c.chain).toBe('ok');
    expect(c.gaps).toEqual([]);
  });

  test('MARKER records (appended while recording, before the recording\'s own record) are markers, not recordings', () => {
    const M = (recording: number, marker: number, sampleCount: number): Spec => ({ kind: JOURNAL_KIND.MARKER, number: recording, overruns: marker, sampleCount, stopUnixMs: 1790000000000n + BigInt(marker) });
    const e = chain([R(1), M(2, 1, 16000), M(2, 2, 3_600 * 16000 + 61 * 16000 + 5), R(2), M(3, 1, 0), R(3)]);
    const c = checkJournal(e, e.length, null);
    expect(c.chain).toBe('ok');
    expect(c.gaps).toEqual([]);
    expect(c.problems).toEqual([]);
    expect(recordingEntries(e).map((x) => x.record.number)).toEqual([1, 2, 3]);
    expect(journalMarkers(e, 2)).toEqual([
      { recording: 2, marker: 1, sampleOffset: 16000, sampleRate: 16000, unixMs: 1790000000001n, index: 1 },
      { recording: 2, marker: 2, sampleOffset: 3_600 * 16000 + 61 * 16000 + 5, sampleRate: 16000, unixMs: 1790000000002n, index: 2 },
    ]);
    expect(journalMarkers(e).map((m) => [m.recording, m.marker])).toEqual([[2, 1], [2, 2], [3, 1]]);
    expect(journalMarkers(e, 1)).toEqual([]);
    expect(describeJournalRecord(e[2]!.record)).toBe('marker 2 of recording 2, at 1:01:01 (sample 58576005)');
  });

  test('every kind has a name and plain words', () => {
    for (const [name, kind] of Object.entries(JOURNAL_KIND)) {
      expect(journalKindName(kind)).toBe(name);
      const r = decodeStruct('JOURNAL_RECORD', chain([{ kind, number: 5, sampleCount: 1 }])[0]!.raw) as unknown as JournalRecord;
      expect(describeJournalRecord(r)).not.toMatch(/does not know/);
    }
    expect(journalKindName(99)).toBe('kind 99');
    const clock = chain([{ kind: JOURNAL_KIND.CLOCK_SET, number: 0, stopUnixMs: 1790000000000n }])[0]!.record;
    expect(describeJournalRecord(clock)).toBe("the recorder's clock was set from not set to 2026-09-21T14:13:20.000Z");
  });
});

describe('sync with record kinds', () => {
  test('a spent number and a clock record do not fail the sync', async () => {
    const h = setup();
    h.device.addRecording(); // 1
    // The recorder journals its clock being set, then spends number 2 without a file.
    appendKind(h.device.journal, JOURNAL_KIND.CLOCK_SET, 0);
    appendKind(h.device.journal, JOURNAL_KIND.NUMBER_SPENT, 2);
    h.device.addRecording({ number: 3 });
    const r = await h.engine.sync({ dest: h.dest });
    expect(r.journal).toBe('ok');
    expect(r.copied).toEqual([1, 3]);
    expect(r.ok).toBe(true);
  });
});

function appendKind(journal: Buffer[], kind: number, number: number): void {
  const prev = journal[journal.length - 1];
  journal.push(
    encodeStruct('JOURNAL_RECORD', {
      magic: Buffer.from(CARD_LAYOUT.journalMagic, 'latin1'),
      version: CARD_LAYOUT.journalRecordVersion,
      size: 128,
      index: journal.length,
      number,
      startUnixMs: 0n,
      stopUnixMs: 0n,
      startUptimeMs: 0n,
      stopUptimeMs: 0n,
      sampleRate: 0,
      sampleCount: 0,
      stopReason: 0,
      flags: 0,
      kind,
      overruns: 0,
      sha256: Buffer.alloc(32),
      prevHash: prev ? createHash('sha256').update(prev).digest() : Buffer.alloc(32),
    }),
  );
}
