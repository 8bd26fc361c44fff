/**
 * `recorder excerpt` (issue 15): a time range (or marker to marker) of a recording as a WAV of its
 * own, with a provenance note that lets anyone check it is a true slice of the original.
 *
 * The excerpt is a canonical 44-byte WAV header (RIFF, 16-byte `fmt ` copied from the original's
 * format, `data`) followed by the original's sample bytes copied as they are: nothing is decoded
 * or re-encoded. `sox ORIGINAL OUT trim Fs Ns` and ffmpeg's `atrim` with bit-exact output write
 * exactly this file, so the note gives those commands and the SHA-256 they must print, plus a
 * `dd` command for the sample bytes alone.
 *
 * The original is verified first (as `recorder verify` does), and hashed again in the same read
 * that copies the slice, so the hash in the note is the hash of the bytes the slice came from.
 * An encrypted recording is excerpted from its decrypted WAV, and the note says so.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import * as path from 'node:path';
import { CARD_LAYOUT } from '../../../protocol/src/schema.js';
import { appendCustodyOrWarn } from '../custody.js';
import { EngineError, fsError } from '../errors.js';
import { cardName } from '../evidence/recording.js';
import { copyBase, publishNoClobber, realFs, type Fs, type ManifestMarker } from '../library.js';
import type { Emit } from '../session.js';
import { parseWav } from '../wav.js';
import { readerFor } from '../verify.js';
import { exportFolder, findLibraryRecording, freeBase, safeNamePart, writeNewFile } from './library-recording.js';

/** One end of a range: a time (ms from the start) or a marker (by number). */
export type RangeEnd = { ms: number } | { marker: number };

export interface ExcerptRange {
  /** Default: the start of the recording. */
  from?: RangeEnd;
  /** Default: the next marker after a `from` marker, else the end of the recording. */
  to?: RangeEnd;
}

/** The slice in samples: `first` (0-based) and `count`, and how each end was given. */
export interface SampleSlice {
  first: number;
  count: number;
  fromText: string;
  toText: string;
}

export const WAV_HEADER_SIZE = 44;
const refuse = (message: string, action = 'Choose a range inside the recording (`recorder markers N` lists its markers).') => new EngineError('EXPORT_REFUSED', message, action);

/**
 * A time as the user writes it: seconds (`75`, `75.5`), `m:ss(.mmm)` or `h:mm:ss(.mmm)`. Returns
 * milliseconds, or null when it is not a time.
 */
export function parseTimeText(s: string): number | null {
  const t = s.trim();
  let m = /^(\d{1,9})(?:\.(\d{1,3}))?$/.exec(t);
  if (m) return Number(m[1]) * 1000 + Number((m[2] ?? '').padEnd(3, '0'));
  m = /^(?:(\d{1,5}):)?([0-5]?\d):([0-5]\d)(?:\.(\d{1,3}))?$/.exec(t);
  if (!m) return null;
  return (Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number((m[4] ?? '').padEnd(3, '0'));
}

/** `h:mm:ss.mmm`. */
export function timeText(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${Math.floor(t / 3_600_000)}:${p(Math.floor(t / 60_000) % 60)}:${p(Math.floor(t / 1000) % 60)}.${p(t % 1000, 3)}`;
}

const msOfSample = (sample: number, rate: number) => Number((BigInt(sample) * 1000n) / BigInt(rate));
const sampleOfMs = (ms: number, rate: number) => Number((BigInt(Math.floor(ms)) * BigInt(rate)) / 1000n);

/** Which samples a range covers; throws EXPORT_REFUSED, saying why, for a range that is not in the recording. */
export function sliceOf(range: ExcerptRange, o: { sampleCount: number; sampleRate: number; markers: readonly ManifestMarker[] }): SampleSlice {
  const { sampleCount, sampleRate } = o;
  const markers = [...o.markers].sort((a, b) => a.sampleOffset - b.sampleOffset || a.number - b.number);
  const length = timeText(msOfSample(sampleCount, sampleRate));
  const marker = (n: number) => {
    const m = markers.find((x) => x.number === n);
    if (!m) throw refuse(markers.length ? `The recording has no marker ${n}: its markers are ${markers.map((x) => x.number).join(', ')}.` : `The recording has no markers, so there is no marker ${n}.`, markers.length ? 'Use one of its markers, or give times with --from and --to.' : 'Give times with --from and --to instead.');
    return m;
  };
  const at = (e: RangeEnd, which: 'from' | 'to'): { sample: number; text: string } => {
    if ('marker' in e) {
      const m = marker(e.marker);
      if (m.sampleOffset > sampleCount) throw refuse(`Marker ${m.number} (sample ${m.sampleOffset}) is past the end of the recording (${sampleCount} samples).`);
      return { sample: m.sampleOffset, text: `marker ${m.number} (${timeText(m.timeMs)}, sample ${m.sampleOffset})` };
    }
    if (!Number.isFinite(e.ms) || e.ms < 0) throw refuse(`--${which} must be a time from the start of the recording.`);
    const sample = sampleOfMs(e.ms, sampleRate);
    if (sample > sampleCount) throw refuse(`--${which} ${timeText(e.ms)} is past the end of the recording, which lasts ${length}.`);
    return { sample, text: `${timeText(e.ms)} (sample ${sample})` };
  };
  const from = range.from ? at(range.from, 'from') : { sample: 0, text: 'the start (sample 0)' };
  let to: { sample: number; text: string };
  if (range.to) to = at(range.to, 'to');
  else if (range.from && 'marker' in range.from) {
    const start = marker(range.from.marker);
    const next = markers.find((x) => x.sampleOffset > start.sampleOffset);
    to = next ? at({ marker: next.number }, 'to') : { sample: sampleCount, text: `the end (sample ${sampleCount})` };
  } else to = { sample: sampleCount, text: `the end (sample ${sampleCount})` };
  if (from.sample >= sampleCount) throw refuse(`The excerpt would start at ${from.text}, at or past the end of the recording (${sampleCount} samples, ${length}).`);
  if (to.sample <= from.sample) throw refuse(`The excerpt would end (${to.text}) before it starts (${from.text}): nothing to export.`);
  return { first: from.sample, count: to.sample - from.sample, fromText: from.text, toText: to.text };
}

/** The canonical 44-byte header of a 16-bit PCM WAV (what sox and bit-exact ffmpeg write). */
export function excerptHeader(f: { channels: number; sampleRate: number; bitsPerSample: number }, dataLength: number): Buffer {
  const blockAlign = (f.channels * f.bitsPerSample) / 8;
  const h = Buffer.alloc(WAV_HEADER_SIZE);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataLength, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(f.channels, 22);
  h.writeUInt32LE(f.sampleRate, 24);
  h.writeUInt32LE(f.sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(f.bitsPerSample, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataLength, 40);
  return h;
}

/** Quotes a file name for a POSIX shell (and keeps a leading '-' from reading as an option). */
export function shellQuote(name: string): string {
  const n = name.startsWith('-') ? `./${name}` : name;
  return /^[A-Za-z0-9._/+-]+$/.test(n) ? n : `'${n.replace(/'/g, `'\\''`)}'`;
}

export interface ExcerptProvenance {
  provenanceVersion: 1;
  app: { name: string; version: string };
  madeAtIso: string;
  original: {
    /** The library file the samples were read from. */
    fileName: string;
    size: number;
    sha256: string;
    sampleRate: number;
    channels: number;
    bitsPerSample: number;
    sampleCount: number;
    /** Where the first sample is in the file (bytes). */
    dataOffset: number;
    /** SHA-256 of all its samples, as the recorder computed it while recording. */
    audioSha256: string;
    /** The recorder's name for it on its card. */
    cardName: string;
    /** An encrypted recording: the samples were read from its decrypted WAV, this is the encrypted copy. */
    decryptedFrom: { fileName: string; sha256: string; cardName: string } | null;
  };
  recorder: {
    deviceId: string;
    label: string;
    recordingNumber: number;
    signature: 'signed' | 'pending' | 'unsigned';
    keyId: string | null;
    /** The recorder's signed statement line for the WAV (`sha256sum --tag` format), when signed. */
    statementLine: string | null;
    /** The library's folder of the recorder's signed files, relative to the library. */
    evidenceFolder: string | null;
  };
  excerpt: {
    fileName: string;
    size: number;
    sha256: string;
    /** SHA-256 of its samples (everything after the 44-byte header). */
    audioSha256: string;
    firstSample: number;
    sampleCount: number;
    /** One past the last sample (first + count). */
    endSample: number;
    startMs: number;
    endMs: number;
    from: string;
    to: string;
    /** The samples' place in the original file (bytes). */
    byteOffset: number;
    byteLength: number;
  };
  /** Shell commands (run in a folder holding the original) and what each must print. */
  commands: { tool: string; run: string; prints: string }[];
}

export interface ExcerptOptions {
  /** The library folder (for a recording given by number). */
  library?: string;
  /** A recording number, or the path of a library copy. */
  recording: string | number;
  range: ExcerptRange;
  /** The export folder (default: `exports` in the library folder). */
  to?: string;
  fs?: Fs;
  appVersion: string;
  now?: () => number;
  emit: Emit;
}

export interface ExcerptResult {
  folder: string;
  wavPath: string;
  notePath: string;
  jsonPath: string;
  provenance: ExcerptProvenance;
}

/** The commands that reproduce the slice from the original, and what they print. */
export function reproduceCommands(original: string, excerpt: string, p: { first: number; count: number; byteOffset: number; byteLength: number; sha256: string; audioSha256: string; originalSha256: string }): ExcerptProvenance['commands'] {
  const o = shellQuote(original);
  const x = shellQuote(excerpt);
  return [
    { tool: 'sha256sum', run: `sha256sum ${o}`, prints: p.originalSha256 },
    { tool: 'sox', run: `sox ${o} excerpt-by-sox.wav trim ${p.first}s ${p.count}s && sha256sum excerpt-by-sox.wav`, prints: p.sha256 },
    {
      tool: 'ffmpeg',
      run: `ffmpeg -v error -i ${o} -af atrim=start_sample=${p.first}:end_sample=${p.first + p.count} -c:a pcm_s16le -map_metadata -1 -fflags +bitexact -flags:a +bitexact excerpt-by-ffmpeg.wav && sha256sum excerpt-by-ffmpeg.wav`,
      prints: p.sha256,
    },
    { tool: 'dd', run: `dd if=${o} bs=65536 iflag=skip_bytes,count_bytes skip=${p.byteOffset} count=${p.byteLength} status=none | sha256sum`, prints: p.audioSha256 },
    { tool: 'tail', run: `tail -c +${WAV_HEADER_SIZE + 1} ${x} | sha256sum`, prints: p.audioSha256 },
    { tool: 'sha256sum', run: `sha256sum ${x}`, prints: p.sha256 },
  ];
}

/** The provenance note in plain words. */
export function provenanceText(p: ExcerptProvenance): string {
  const o = p.original;
  const r = p.recorder;
  const x = p.excerpt;
  const lines = [
    `Excerpt of recording ${r.recordingNumber} of recorder "${r.label || r.deviceId}" (device ${r.deviceId})`,
    '',
    `Excerpt:   ${x.fileName}`,
    `  SHA-256:        ${x.sha256}`,
    `  samples:        ${x.sampleCount} samples from sample ${x.firstSample} (0-based) to sample ${x.endSample - 1} inclusive`,
    `  time:           ${timeText(x.startMs)} to ${timeText(x.endMs)} of the recording (${o.sampleRate} Hz, ${o.bitsPerSample}-bit, ${o.channels === 1 ? 'mono' : `${o.channels} channels`})`,
    `  from:           ${x.from}`,
    `  to:             ${x.to}`,
    `  audio SHA-256:  ${x.audioSha256} (its samples: the file after its ${WAV_HEADER_SIZE}-byte header)`,
    `  The samples are bytes ${x.byteOffset} to ${x.byteOffset + x.byteLength - 1} of the original, copied unchanged (not re-encoded).`,
    '',
    `Original:  ${o.fileName}${o.decryptedFrom ? ' (the decrypted WAV of an encrypted recording)' : ''}`,
    `  SHA-256:        ${o.sha256}`,
    `  size:           ${o.size} bytes; samples start at byte ${o.dataOffset}; ${o.sampleCount} samples`,
    `  audio SHA-256:  ${o.audioSha256} (computed by the recorder while recording)`,
    ...(o.decryptedFrom ? [`  decrypted from: ${o.decryptedFrom.fileName} (SHA-256 ${o.decryptedFrom.sha256}), the recorder's encrypted file ${o.decryptedFrom.cardName}; the WAV inside is ${o.cardName}`] : []),
    '',
    'The recorder:',
    r.signature === 'signed'
      ? `  signed the original with key ${r.keyId}. Its signed statement (${cardName(r.recordingNumber, CARD_LAYOUT.statementExt)}${r.evidenceFolder ? ` in ${r.evidenceFolder}/` : ''}) has the line:\n    ${r.statementLine ?? '(no line for the WAV)'}\n  Check that signature as docs/checking-signatures.md says (signify-openbsd -C, minisign or openssl).`
      : r.signature === 'pending'
        ? '  had not finished signing the original when it was copied (signature pending).'
        : '  did not sign the original (made without a signing key): only its hashes vouch for it.',
    '',
    'To check that the excerpt is a true slice of the original, run these in a folder that holds',
    `${o.fileName} and ${x.fileName}; each must print the hash under it:`,
    '',
    ...p.commands.flatMap((c) => [`  ${c.run}`, `    -> ${c.prints}`]),
    '',
    `Made by ${p.app.name} ${p.app.version} at ${p.madeAtIso}.`,
  ];
  return lines.join('\n') + '\n';
}

/** Makes the excerpt, its provenance note (.txt) and the same as JSON in the export folder. */
export async function makeExcerpt(o: ExcerptOptions): Promise<ExcerptResult> {
  const fs = o.fs ?? realFs;
  const now = o.now ?? Date.now;
  const rec = await findLibraryRecording(fs, o.recording, o.library);
  const m = rec.manifest;
  const n = m.recording.number;
  if (!rec.audioPath) throw new EngineError('NOT_DECRYPTED', `Recording ${n} is encrypted and has not been decrypted on this computer, so no excerpt can be made.`, `Decrypt it first with \`recorder decrypt ${n}\`.`);
  const slice = sliceOf(o.range, { sampleCount: m.recording.sampleCount, sampleRate: m.recording.sampleRate, markers: m.markers ?? [] });

  const folder = await exportFolder(fs, o.to ?? path.join(rec.library, 'exports'));
  const base = await freeBase(fs, folder, `${safeNamePart(path.basename(copyBase(rec.copyPath)))}_excerpt_${timeTag(msOfSample(slice.first, m.recording.sampleRate))}_to_${timeTag(msOfSample(slice.first + slice.count, m.recording.sampleRate))}`, ['.wav', '.wav.part', '.provenance.txt', '.provenance.json']);
  const fh = await fs.open(rec.audioPath, constants.O_RDONLY).catch((e: unknown) => {
    throw fsError(e, 'read', rec.audioPath!);
  });
  const wavPath = path.join(folder, `${base}.wav`);
  const part = `${wavPath}.part`;
  let provenance: ExcerptProvenance;
  try {
    const size = (await fh.stat()).size;
    const wav = await parseWav(readerFor(fh), size);
    const f = wav.layout.format;
    if (!wav.ok || !f) throw new EngineError('WAV_INVALID', `${path.basename(rec.audioPath)} is not a readable recording: ${wav.problems.join('; ')}.`, 'Run `recorder verify` on it.');
    if (f.audioFormat !== 1 || f.bitsPerSample !== 16 || f.blockAlign !== (f.channels * f.bitsPerSample) / 8) throw new EngineError('WAV_INVALID', `${path.basename(rec.audioPath)} is not 16-bit PCM.`, 'Report this to the project.');
    const byteOffset = wav.layout.dataOffset + slice.first * f.blockAlign;
    const byteLength = slice.count * f.blockAlign;
    if (wav.layout.dataOffset + (slice.first + slice.count) * f.blockAlign > wav.layout.dataOffset + wav.layout.dataLength) throw refuse(`The excerpt runs past the end of the audio in ${path.basename(rec.audioPath)}.`);

    // One pass over the original: the whole file hashed, the slice copied and hashed.
    const original = createHash('sha256');
    const audio = createHash('sha256');
    const whole = createHash('sha256');
    const header = excerptHeader(f, byteLength);
    whole.update(header);
    const out = await fs.open(part, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch((e: unknown) => {
      throw fsError(e, 'write the excerpt', folder);
    });
    try {
      await out.write(header, 0, header.length, 0);
      const buf = Buffer.alloc(1 << 20);
      for (let pos = 0; pos < size; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
        if (bytesRead === 0) throw new EngineError('HASH_MISMATCH', `${path.basename(rec.audioPath)} got shorter while it was read.`, 'Run `recorder verify` on it.');
        const chunk = buf.subarray(0, bytesRead);
        original.update(chunk);
        const lo = Math.max(pos, byteOffset);
        const hi = Math.min(pos + bytesRead, byteOffset + byteLength);
        if (lo < hi) {
          const piece = chunk.subarray(lo - pos, hi - pos);
          audio.update(piece);
          whole.update(piece);
          let w = 0;
          while (w < piece.length) w += (await out.write(piece, w, piece.length - w, header.length + (lo - byteOffset) + w)).bytesWritten;
        }
        pos += bytesRead;
      }
      await out.sync();
    } finally {
      await out.close();
    }
    const originalSha256 = original.digest('hex');
    const expected = m.encryption ? m.encryption.derived?.sha256 : m.file.sha256;
    if (originalSha256 !== expected) throw new EngineError('HASH_MISMATCH', `${path.basename(rec.audioPath)} changed while the excerpt was made: its SHA-256 is no longer the one of the verified copy.`, 'Nothing was exported. Run `recorder verify` on the library.');
    const sha256 = whole.digest('hex');
    const audioSha256 = audio.digest('hex');
    await publishNoClobber(fs, part, wavPath);
    const ev = m.evidence;
    const wavCard = cardName(n, CARD_LAYOUT.recordingExt);
    const excerptName = path.basename(wavPath);
    const originalName = path.basename(rec.audioPath);
    provenance = {
      provenanceVersion: 1,
      app: { name: 'evidence-recorder', version: o.appVersion },
      madeAtIso: new Date(now()).toISOString(),
      original: {
        fileName: originalName,
        size,
        sha256: originalSha256,
        sampleRate: f.sampleRate,
        channels: f.channels,
        bitsPerSample: f.bitsPerSample,
        sampleCount: m.recording.sampleCount,
        dataOffset: wav.layout.dataOffset,
        audioSha256: m.recording.sha256,
        cardName: wavCard,
        decryptedFrom: m.encryption ? { fileName: m.file.name, sha256: m.file.sha256, cardName: cardName(n, CARD_LAYOUT.encryptedExt) } : null,
      },
      recorder: {
        deviceId: m.device.id,
        label: m.device.label,
        recordingNumber: n,
        signature: ev?.status ?? 'unsigned',
        keyId: ev?.keyId ?? null,
        statementLine: ev?.statement?.[wavCard] ? `SHA256 (${wavCard}) = ${ev.statement[wavCard]}` : null,
        evidenceFolder: ev?.folder ?? null,
      },
      excerpt: {
        fileName: excerptName,
        size: header.length + byteLength,
        sha256,
        audioSha256,
        firstSample: slice.first,
        sampleCount: slice.count,
        endSample: slice.first + slice.count,
        startMs: msOfSample(slice.first, f.sampleRate),
        endMs: msOfSample(slice.first + slice.count, f.sampleRate),
        from: slice.fromText,
        to: slice.toText,
        byteOffset,
        byteLength,
      },
      commands: reproduceCommands(originalName, excerptName, { first: slice.first, count: slice.count, byteOffset, byteLength, sha256, audioSha256, originalSha256 }),
    };
  } catch (e) {
    await fs.unlink(part).catch(() => undefined);
    throw e;
  } finally {
    await fh.close();
  }
  const notePath = path.join(folder, `${base}.provenance.txt`);
  const jsonPath = path.join(folder, `${base}.provenance.json`);
  await writeNewFile(fs, notePath, provenanceText(provenance));
  await writeNewFile(fs, jsonPath, JSON.stringify(provenance, null, 2) + '\n');
  // The library's custody log says what left it: which samples of which file, and their hashes.
  await appendCustodyOrWarn(
    fs,
    rec.library,
    {
      event: 'exported',
      recordings: [{ deviceId: m.device.id, number: n, file: m.file.name }],
      files: { [provenance.original.fileName]: provenance.original.sha256, [provenance.excerpt.fileName]: provenance.excerpt.sha256 },
      details: { kind: 'excerpt', to: wavPath, firstSample: provenance.excerpt.firstSample, sampleCount: provenance.excerpt.sampleCount },
    },
    { appVersion: o.appVersion, now, emit: o.emit },
  );
  o.emit({ type: 'note', message: `Excerpt of recording ${n} (${timeText(provenance.excerpt.startMs)} to ${timeText(provenance.excerpt.endMs)}, ${provenance.excerpt.sampleCount} samples from sample ${provenance.excerpt.firstSample}) written to ${wavPath}; ${path.basename(notePath)} beside it says how to check it is a true slice.` });
  return { folder, wavPath, notePath, jsonPath, provenance };
}

/** A time for a file name: `0-01-02.500`. */
function timeTag(ms: number): string {
  return timeText(ms).replace(/:/g, '-');
}
