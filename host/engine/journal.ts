/** The device journal: parsing pages, and checking the hash chain against what we remember. */
import { createHash } from 'node:crypto';
import { decodeStruct } from '../../protocol/src/codec.js';
import { CARD_LAYOUT, JOURNAL_KIND, RECORD_FLAGS, STRUCTS, structSize } from '../../protocol/src/schema.js';
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

/**
 * Kinds of journal record (JOURNAL_RECORD.kind; 0 on every card written before kinds existed).
 * Only RECORDING and FOUND_UNJOURNALED records are recordings with a file; NUMBER_SPENT also
 * carries a recording number (spent without a file, so it fills the number sequence). The other
 * kinds use `number` for something else (TAIL_LOST: the device's count; EPOCH_START: the epoch).
 */
export function isRecordingKind(kind: number): boolean {
  return kind === JOURNAL_KIND.RECORDING || kind === JOURNAL_KIND.FOUND_UNJOURNALED;
}

export function hasRecordingNumber(kind: number): boolean {
  return isRecordingKind(kind) || kind === JOURNAL_KIND.NUMBER_SPENT;
}

/** The records that are recordings (with a file on the card), for matching against LIST. */
export function recordingEntries(entries: JournalEntry[]): JournalEntry[] {
  return entries.filter((e) => isRecordingKind(e.record.kind));
}

/** A marker as the journal has it (a MARKER record, appended when the marker was taken). */
export interface JournalMarker {
  /** The recording it belongs to. */
  recording: number;
  /** The marker's number in that recording, from 1 (its cue id in the WAV). */
  marker: number;
  /** Samples from the recording's first sample. */
  sampleOffset: number;
  sampleRate: number;
  /** When it was taken (0n when the recorder's clock was not set). */
  unixMs: bigint;
  /** Its position in the journal. */
  index: number;
}

/** The MARKER records, in journal order; of one recording when `recording` is given. */
export function journalMarkers(entries: JournalEntry[], recording?: number): JournalMarker[] {
  return entries
    .filter((e) => e.record.kind === JOURNAL_KIND.MARKER && (recording === undefined || e.record.number === recording))
    .map((e) => ({ recording: e.record.number, marker: e.record.overruns, sampleOffset: e.record.sampleCount, sampleRate: e.record.sampleRate, unixMs: e.record.stopUnixMs, index: e.index }));
}

const KIND_NAMES = Object.fromEntries(Object.entries(JOURNAL_KIND).map(([name, value]) => [value, name])) as Record<number, string>;

/** The kind's schema name (RECORDING, TAIL_LOST, ...), or `kind N` for one this app does not know. */
export function journalKindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

function isoOrUnset(ms: bigint): string {
  return ms > 0n ? new Date(Number(ms)).toISOString() : 'not set';
}

/** What a journal record says, in plain words. */
export function describeJournalRecord(r: JournalRecord): string {
  switch (r.kind) {
    case JOURNAL_KIND.RECORDING:
      return `recording ${r.number}${r.flags & RECORD_FLAGS.RECOVERED ? ' (closed after the recorder lost power or its card)' : ''}`;
    case JOURNAL_KIND.NUMBER_SPENT:
      return `recording number ${r.number} was used up without a recording (the recorder stopped before it could create the file)`;
    case JOURNAL_KIND.FOUND_UNJOURNALED:
      return `recording ${r.number} was found finished on the card without its journal record (for example, the power went off while the recorder was closing it); the recorder has added the record now`;
    case JOURNAL_KIND.TAIL_LOST: {
      const missing = r.sampleCount;
      const what = missing > 0 ? `${missing} record${missing === 1 ? '' : 's'} missing` : 'its last records were replaced';
      return `the journal on this card was cut or replaced: ${what} (the recorder had counted ${r.number})`;
    }
    case JOURNAL_KIND.CLOCK_SET:
      return `the recorder's clock was set from ${isoOrUnset(r.startUnixMs)} to ${isoOrUnset(r.stopUnixMs)}`;
    case JOURNAL_KIND.CLOCK_LOST:
      return "the recorder's clock was lost (it had been set, and was not after the recorder started again)";
    case JOURNAL_KIND.KEY_CREATED:
      return 'the recorder made a new signing key';
    case JOURNAL_KIND.EPOCH_START:
      return `the recorder formatted this card: journal ${r.number} starts here (the previous one had ${r.sampleCount} records)`;
    case JOURNAL_KIND.MARKER: {
      const s = r.sampleRate > 0 ? Math.floor(r.sampleCount / r.sampleRate) : 0;
      const at = `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
      return `marker ${r.overruns} of recording ${r.number}, at ${at} (sample ${r.sampleCount})`;
    }
    case JOURNAL_KIND.WIPED:
      return 'the recorder was wiped: its card was erased and the keys of its earlier recordings destroyed';
    default:
      return `a journal record of a kind this app does not know (${r.kind})`;
  }
}

/** What the library remembers about a device's journal from the last good sync. */
export interface JournalMemory {
  index: number;
  /** SHA-256 of that record, hex. */
  recordSha256: string;
  /** The highest recording number up to that record (see memoryNumber). */
  number: number;
}

/** The recording number to remember with the record at lastIndex: the highest number carried by
 * a record up to it (a clock or key record carries none). */
export function memoryNumber(entries: JournalEntry[], lastIndex: number): number {
  let n = 0;
  for (let i = 0; i <= lastIndex && i < entries.length; i++) {
    const r = entries[i]!.record;
    if (hasRecordingNumber(r.kind) && r.number > n) n = r.number;
  }
  return n;
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
  // The last record carrying a recording number: numbers rise along those only.
  let prevNumbered: JournalEntry | null = null;
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
    if (hasRecordingNumber(r.kind)) {
      if (prevNumbered) {
        const before = prevNumbered.record.number;
        if (r.number <= before) {
          problems.push({ kind: 'number-order', index: i, message: `journal record ${i} has recording number ${r.number}, not after ${before}` });
        } else if (r.number > before + 1) {
          const missing = r.number - before - 1;
          gaps.push({
            kind: 'gap',
            index: i,
            message: missing === 1 ? `recording ${before + 1} is missing from the journal` : `recordings ${before + 1} to ${r.number - 1} are missing from the journal`,
          });
        }
      }
      prevNumbered = e;
    } else if (r.kind === JOURNAL_KIND.TAIL_LOST && (!memory || i > memory.index)) {
      // The recorder's own count says records went missing: said once, when it is new.
      gaps.push({ kind: 'gap', index: i, message: describeJournalRecord(r) });
    }
    prev = e;
  });
  // Recording numbers are never reused, so a journal whose first record comes after the recording
  // remembered from the last sync is a new journal (the card was formatted or replaced), not a
  // rewritten one. Reported as records that disappeared, not as a broken chain: before this, such
  // a journal was a "shrunk" gap until it grew past the remembered index and then "rewritten"
  // (JOURNAL_BROKEN) at every later sync, refusing every delete (found by the power-cut campaign,
  // scripts/power-campaign.mjs, after a FORMAT).
  // With record kinds the first record may not be a recording (EPOCH_START says outright that the
  // device formatted the card; TAIL_LOST that the journal was replaced): the first numbered record
  // decides otherwise, and a journal still holding the remembered record is never a new one.
  const firstNumbered = entries.find((e) => hasRecordingNumber(e.record.kind));
  const first = entries[0];
  const stillThere = !!memory && entries[memory.index]?.hash.toString('hex') === memory.recordSha256;
  const restarted =
    !!memory &&
    !stillThere &&
    !!first &&
    first.record.index === 0 &&
    (first.record.kind === JOURNAL_KIND.EPOCH_START || first.record.kind === JOURNAL_KIND.TAIL_LOST || (!!firstNumbered && firstNumbered.record.number > memory.number));
  if (memory && restarted) {
    gaps.push({
      kind: 'shrunk',
      index: memory.index,
      message: `the journal starts again${firstNumbered ? ` at recording ${firstNumbered.record.number}` : ''}: the ${memory.index + 1} record(s) verified at the last sync (up to recording ${memory.number}) are no longer on the card (card formatted or replaced?)`,
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
