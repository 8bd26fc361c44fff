/**
 * The custody log of a library folder (issue 14): an append-only record of everything this app
 * did to the recordings in it (copied from which recorder, verified with which result, exported
 * to where; decrypted, once recordings are encrypted), each entry naming the file hashes it saw.
 *
 * Format: `custody.log`, one JSON object per line. Each entry carries `seq` (0, 1, 2, ...) and
 * `prev`, the SHA-256 of the previous line's exact bytes (without its newline; 64 zeros for the
 * first), so an entry edited, removed or inserted in the middle breaks the chain and `verify`
 * says where. Like any log on the owner's computer it cannot show that entries were cut off the
 * end, or that the whole file was rewritten consistently: it is the owner's record, not proof
 * against the owner (docs/threat-model.md). Nothing secret goes in it.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { fsError } from './errors.js';
import { FILE_MODE, safeJoin, type Fs, type Manifest } from './library.js';
import type { Emit } from './session.js';
import type { FileVerification } from './verify.js';

export const CUSTODY_LOG = 'custody.log';
export const CUSTODY_VERSION = 1;
const ZERO_HASH = '0'.repeat(64);

/**
 * What was done. `decrypted` is for encrypted recordings (issue 13); `wiped`: the recorder was
 * wiped at its hand-back (issue 16), the entry naming its wipe certificate and the recordings it
 * held (each with its verified copy here).
 */
export type CustodyEvent = 'copied' | 'signature-added' | 'verified' | 'exported' | 'decrypted' | 'wiped';

/** The recording an entry is about. */
export interface CustodyRecording {
  deviceId: string;
  number: number;
  /** The library file name of the recording. */
  file: string;
}

export interface CustodyInput {
  event: CustodyEvent;
  recordings: CustodyRecording[];
  /** SHA-256 (hex) of each file the action saw, by file name. */
  files: Record<string, string>;
  /** What else there is to say: the recorder copied from, the result, the destination. */
  details?: Record<string, unknown>;
}

export interface CustodyEntry extends CustodyInput {
  v: typeof CUSTODY_VERSION;
  seq: number;
  prev: string;
  atIso: string;
  app: { name: string; version: string };
  host: string;
}

export interface CustodyLine {
  /** The line's exact text (without the newline): what the next entry's `prev` hashes. */
  text: string;
  entry: CustodyEntry | null;
}

export interface CustodyCheck {
  folder: string;
  ok: boolean;
  entries: number;
  problems: string[];
}

export const custodyPath = (dir: string) => safeJoin(dir, CUSTODY_LOG);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The log's lines; [] when there is none. */
export async function readCustody(fs: Fs, dir: string): Promise<CustodyLine[]> {
  let text: string;
  try {
    text = String(await fs.readFile(custodyPath(dir)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(e, 'read the custody log', dir);
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        const e = JSON.parse(l) as CustodyEntry;
        return { text: l, entry: e && typeof e === 'object' ? e : null };
      } catch {
        return { text: l, entry: null };
      }
    });
}

/** Checks the chain: every line readable, numbered in order, and naming the line before it. */
export function checkCustodyLines(folder: string, lines: CustodyLine[]): CustodyCheck {
  const problems: string[] = [];
  lines.forEach((l, i) => {
    const e = l.entry;
    if (!e || e.v !== CUSTODY_VERSION) return void problems.push(`entry ${i + 1} of the custody log is not readable`);
    if (e.seq !== i) problems.push(`entry ${i + 1} of the custody log is numbered ${String(e.seq)}: entries were removed or added`);
    const want = i === 0 ? ZERO_HASH : sha256(lines[i - 1]!.text);
    if (e.prev !== want) problems.push(`entry ${i + 1} of the custody log does not follow the entry before it: ${i === 0 ? 'the log does not start at its first entry' : 'an entry was changed, removed or inserted'}`);
  });
  return { folder, ok: problems.length === 0, entries: lines.length, problems };
}

export async function checkCustody(fs: Fs, dir: string): Promise<CustodyCheck> {
  return checkCustodyLines(dir, await readCustody(fs, dir));
}

/**
 * Appends one entry, chained to the last line. One writer at a time is assumed (the app runs
 * one operation per library); a second writer racing it would make a fork that verify reports.
 */
export async function appendCustody(fs: Fs, dir: string, input: CustodyInput, o: { appVersion: string; now?: () => number }): Promise<CustodyEntry> {
  const lines = await readCustody(fs, dir);
  const last = lines.at(-1);
  const entry: CustodyEntry = {
    v: CUSTODY_VERSION,
    seq: lines.length,
    prev: last ? sha256(last.text) : ZERO_HASH,
    atIso: new Date((o.now ?? Date.now)()).toISOString(),
    app: { name: 'evidence-recorder', version: o.appVersion },
    host: hostname(),
    ...input,
  };
  const p = custodyPath(dir);
  let fh;
  try {
    fh = await fs.open(p, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
    await fh.write(JSON.stringify(entry) + '\n');
    await fh.sync();
  } catch (e) {
    throw fsError(e, 'write the custody log', p);
  } finally {
    await fh?.close().catch(() => undefined);
  }
  return entry;
}

/** appendCustody for an action that has already happened: a failure is a warning, not undone. */
export async function appendCustodyOrWarn(fs: Fs, dir: string, input: CustodyInput, o: { appVersion: string; now?: () => number; emit: Emit }): Promise<void> {
  try {
    await appendCustody(fs, dir, input, o);
  } catch (e) {
    o.emit({ type: 'warning', code: 'DEST_UNWRITABLE', message: `The custody log in ${dir} could not record that ${describeInput(input)}: ${(e as Error).message}`, action: 'Note it yourself (what, when, which file); the action itself went ahead.' });
  }
}

function describeInput(i: CustodyInput): string {
  const which = i.recordings.map((r) => `recording ${r.number}`).join(', ') || 'the library';
  return `${which} was ${i.event}`;
}

/** The entries about any of the given recordings (by device and number), for an export. */
export function custodySlice(lines: CustodyLine[], recordings: { deviceId: string; number: number }[]): CustodyLine[] {
  const want = new Set(recordings.map((r) => `${r.deviceId}:${r.number}`));
  return lines.filter((l) => l.entry?.recordings?.some((r) => want.has(`${r.deviceId}:${r.number}`)));
}

/** The entry sync writes for a copy it made (or completed with the recorder's signature). */
export function copyEntry(m: Manifest, event: 'copied' | 'signature-added'): CustodyInput {
  return {
    event,
    recordings: [{ deviceId: m.device.id, number: m.recording.number, file: m.file.name }],
    files: { [m.file.name]: m.file.sha256, ...(m.evidence?.statement ?? {}) },
    details: {
      from: { deviceId: m.device.id, label: m.device.label, keyId: m.evidence?.keyId ?? null, model: m.device.model, firmware: m.device.firmware, simulated: m.device.simulated },
      signature: m.evidence?.status ?? 'unsigned',
      audioSha256: m.recording.sha256,
    },
  };
}

/**
 * verify's entries: one per recording checked in a library folder (one holding a pinned key or a
 * custody log already; a loose file elsewhere gets no log beside it). Written after the check.
 */
export async function recordVerifications(fs: Fs, results: FileVerification[], o: { appVersion: string; now?: () => number; emit: Emit }): Promise<void> {
  for (const r of results) {
    if (r.number === null || !r.deviceId) continue;
    const dir = path.dirname(r.path);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    if (!names.includes(CUSTODY_LOG) && !names.some((n) => n.endsWith('.pin.json'))) continue;
    const file = path.basename(r.path);
    await appendCustodyOrWarn(
      fs,
      dir,
      {
        event: 'verified',
        recordings: [{ deviceId: r.deviceId, number: r.number, file }],
        files: r.fileSha256 ? { [file]: r.fileSha256 } : {},
        details: { result: r.ok ? 'verified' : 'not verified', signature: r.signature?.status ?? null, failures: r.failures.map((f) => f.code) },
      },
      o,
    );
  }
}
