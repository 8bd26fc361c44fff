/**
 * A forger with every hash tool but not the recorder's key: rewrites a library copy the way a
 * sceptical expert would to test the evidence (issue 12). It edits one audio byte, then makes
 * every checksum agree again: the WAV's `evid` chunk, the journal record and the chain after it
 * in the library's journal, the manifest, and the statement (also the one inside the signify
 * file). Only the recorder's signatures cannot be redone, so verify must fail on them.
 * Used by the engine's unit tests and the end-to-end tests on the real simulator.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { jsonable } from '../convert.js';
import { parseSignifySignature } from '../evidence/open-formats.js';
import { journalPath } from '../evidence/pins.js';
import { entryFromRaw } from '../journal.js';
import { serialiseManifest, type Manifest } from '../library.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
const JOURNAL_SHA256_OFFSET = 64;
const JOURNAL_PREV_HASH_OFFSET = 96;
const JOURNAL_RECORD_BYTES = 128;
/** The evid chunk's SHA-256: after its 8-byte chunk header, at offset 40 of its payload. */
const EVID_SHA256_OFFSET = 8 + 40;

/** The library WAV of recording `n` (file names end in `_<n>.wav`). */
export function libraryWavOf(dir: string, n: number): string {
  const name = readdirSync(dir).find((x) => x.endsWith(`_${n}.wav`));
  if (!name) throw new Error(`no copy of recording ${n} in ${dir}`);
  return join(dir, name);
}

export function forgeAudio(dir: string, n: number): void {
  const wav = libraryWavOf(dir, n);
  const file = readFileSync(wav);
  file[CARD_LAYOUT.wavDataOffset + 10] = file[CARD_LAYOUT.wavDataOffset + 10]! ^ 0x55; // the edit
  const manifestPath = wav.replace(/\.wav$/, '.json');
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const dataEnd = CARD_LAYOUT.wavDataOffset + m.recording.sampleCount * 2;
  const audioSha = sha(file.subarray(CARD_LAYOUT.wavDataOffset, dataEnd));
  audioSha.copy(file, dataEnd + EVID_SHA256_OFFSET);
  const folder = wav.replace(/\.wav$/, '.evidence');
  const name = `REC${String(n).padStart(5, '0')}`;
  const evidenceWav = join(folder, `${name}.WAV`);
  writeFileSync(wav, file);
  // A copied library has a separate file where sync made a hard link: edit it too.
  if (existsSync(evidenceWav) && statSync(evidenceWav).ino !== statSync(wav).ino) writeFileSync(evidenceWav, file);
  // the journal record, re-chained, in the manifest and in the library's journal
  const jpath = journalPath(dir, m.evidence!.keyId!, m.evidence!.journalEpoch ?? 1);
  const journal = readFileSync(jpath);
  const idx = m.journal!.index;
  audioSha.copy(journal, idx * JOURNAL_RECORD_BYTES + JOURNAL_SHA256_OFFSET);
  for (let i = idx + 1; i * JOURNAL_RECORD_BYTES < journal.length; i++) {
    sha(journal.subarray((i - 1) * JOURNAL_RECORD_BYTES, i * JOURNAL_RECORD_BYTES)).copy(journal, i * JOURNAL_RECORD_BYTES + JOURNAL_PREV_HASH_OFFSET);
  }
  writeFileSync(jpath, journal);
  const e = entryFromRaw(Buffer.from(journal.subarray(idx * JOURNAL_RECORD_BYTES, (idx + 1) * JOURNAL_RECORD_BYTES)), idx);
  m.journal = { ...m.journal!, hex: e.raw.toString('hex'), recordSha256: e.hash.toString('hex'), decoded: jsonable(e.record) as Record<string, unknown> };
  m.recording.sha256 = audioSha.toString('hex');
  m.file.sha256 = sha(file).toString('hex');
  // the statement, and the statement inside the signify file (its signature cannot be redone)
  const statement = Buffer.from(readFileSync(join(folder, `${name}.SHA`), 'latin1').replace(/(SHA256 \(REC\d+\.WAV\) = )[0-9a-f]{64}/, `$1${m.file.sha256}`), 'latin1');
  writeFileSync(join(folder, `${name}.SHA`), statement);
  const sig = readFileSync(join(folder, `${name}.SIG`));
  const head = sig.subarray(0, sig.length - parseSignifySignature(sig).message.length);
  writeFileSync(join(folder, `${name}.SIG`), Buffer.concat([head, statement]));
  m.evidence!.statement![`${name}.WAV`] = m.file.sha256;
  delete m.integrity;
  writeFileSync(manifestPath, serialiseManifest(m));
}
