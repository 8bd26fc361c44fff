/** The device journal: parsing pages, and checking the hash chain against what we remember. */
import { createHash } from 'node:crypto';
import { decodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, STRUCTS, structSize } from '../../protocol/src/schema.js';
import type { JournalRecord } from '../../protocol/generated/types.js';
import type { EventInput, JournalFindings, JournalProblem } from './events.js';

export const JOURNAL_RECORD_SIZE = structSize(STRUCTS.JOURNAL_RECORD);
const JOURNAL_HEADER_SIZE = structSize(STRUCTS.JOURNAL);
const ZERO32 = Buffer.alloc(32);

export interface JournalEntry {
  index: number;
  raw: Buffer;
  record: JournalRecord;
  /** SHA-256 of the raw 128-byte record: the next record's prevHash. */
  hash: Buffer;
}

/** Splits a JOURNAL response payload into raw records. */
export function journalEntriesFromPayload(payload: Buffer): { total: number; fromIndex: number; entries: JournalEntry[] } {
  const total = payload.readUInt32LE(0);
  const fromIndex = payload.readUInt32LE(4);
  const count = payload.readUInt16LE(8);
  const entries: JournalEntry[] = [];
  for (let i = 0; i < count; i++) {
    const raw = Buffer.from(payload.subarray(JOURNAL_HEADER_SIZE + i * JOURNAL_RECORD_SIZE, JOURNAL_HEADER_SIZE + (i + 1) * JOURNAL_RECORD_SIZE));
    entries.push(entryFromRaw(raw, fromIndex + i));
  }
  return { total, fromIndex, entries };
}

export function entryFromRaw(raw: Buffer, position: number): JournalEntry {
  return { index: position, raw, record: decodeStruct('JOURNAL_RECORD', raw) as unknown as JournalRecord, hash: createHash('sha256').update(raw).digest() };
}

/** What the library remembers about a device's journal from the last good sync. */
export interface JournalMemory {
  index: number;
  /** SHA-256 of that record, hex. */
  recordSha256: string;
  number: number;
}

export interface JournalCheck extends JournalFindings {
  /** The journal is a new one (it starts after the remembered recording): see checkJournal. */
  restarted?: boolean;
}

/** Checks records 0..n-1 (all of them, in order) and compares them with the remembered record. */
export function checkJournal(entries: JournalEntry[], total: number, memory: JournalMemory | null): JournalCheck {
  const problems: JournalProblem[] = [];
  const gaps: JournalProblem[] = [];
  if (entries.length !== total) problems.push({ kind: 'index', message: `the device says its journal has ${total} records but sent ${entries.length}` });
  let prev: JournalEntry | null = null;
  entries.forEach((e, i) => {
    const r = e.record;
    if (r.magic.toString('latin1') !== CARD_LAYOUT.journalMagic || r.version !== CARD_LAYOUT.journalRecordVersion || r.size !== JOURNAL_RECORD_SIZE) {
      problems.push({ kind: 'bad-record', index: i, message: `journal record ${i} is not a valid record (wrong marker, version or size)` });
    }
    if (r.index !== i) problems.push({ kind: 'index', index: i, message: `journal record at position ${i} says it is record ${r.index}` });
    const want = prev ? prev.hash : ZERO32;
    if (!r.prevHash.equals(want)) {
      problems.push({ kind: 'broken-chain', index: i, message: i === 0 ? 'the first journal record does not start the chain' : `journal record ${i} does not link to record ${i - 1}: the chain is broken` });
    }
    if (prev) {
      if (r.number <= prev.record.number) {
        problems.push({ kind: 'number-order', index: i, message: `journal record ${i} has recording number ${r.number}, not after ${prev.record.number}` });
      } else if (r.number > prev.record.number + 1) {
        const missing = r.number - prev.record.number - 1;
        gaps.push({
          kind: 'gap',
          index: i,
          message: missing === 1 ? `recording ${prev.record.number + 1} is missing from the journal` : `recordings ${prev.record.number + 1} to ${r.number - 1} are missing from the journal`,
        });
      }
    }
    prev = e;
  });
  // Recording numbers are never reused, so a journal whose first record comes after the recording
  // remembered from the last sync is a new journal (the card was formatted or replaced), not a
  // rewritten one. Reported as records that disappeared, not as a broken chain: before this, such
  // a journal was a "shrunk" gap until it grew past the remembered index and then "rewritten"
  // (JOURNAL_BROKEN) at every later sync, refusing every delete (found by the power-cut campaign,
  // scripts/power-campaign.mjs, after a FORMAT).
  const restarted = !!memory && entries.length > 0 && entries[0]!.record.index === 0 && entries[0]!.record.number > memory.number;
  if (memory && restarted) {
    gaps.push({
      kind: 'shrunk',
      index: memory.index,
      message: `the journal starts again at recording ${entries[0]!.record.number}: the ${memory.index + 1} record(s) verified at the last sync (up to recording ${memory.number}) are no longer on the card (card formatted or replaced?)`,
    });
  } else if (memory) {
    if (total <= memory.index) {
      gaps.push({ kind: 'shrunk', index: memory.index, message: `the journal now has ${total} records, but record ${memory.index} was verified at the last sync: records have disappeared (card formatted or replaced?)` });
    } else {
      const e = entries[memory.index];
      if (e && e.hash.toString('hex') !== memory.recordSha256) {
        problems.push({ kind: 'broken-chain', index: memory.index, message: `journal record ${memory.index} differs from the one verified at the last sync: the journal has been rewritten` });
      }
    }
  }
  const broken = problems.length > 0;
  return {
    total,
    fromIndex: memory ? Math.min(memory.index, total) : 0,
    lastIndex: entries.length ? entries.length - 1 : null,
    chain: entries.length === 0 && !broken ? 'empty' : broken ? 'broken' : 'ok',
    gaps,
    problems,
    restarted,
  };
}

/** The journal.checked event of a check (its findings, without what only sync needs). */
export function journalCheckedEvent(c: JournalCheck): EventInput {
  return { type: 'journal.checked', total: c.total, fromIndex: c.fromIndex, lastIndex: c.lastIndex, chain: c.chain, gaps: c.gaps, problems: c.problems };
}
