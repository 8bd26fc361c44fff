/**
 * `recorder markers` and `recorder notes` (issue 15): a recording's markers out of the library as
 * an Audacity label track and a WebVTT file (filled from its notes), and its notes listed or set.
 */
import * as path from 'node:path';
import { EngineError } from '../errors.js';
import { copyBase, realFs, type Fs, type ManifestMarker } from '../library.js';
import { audacityLabels } from '../markers.js';
import { formatMarkerNotes, markerCues, notesPath, readNotesFile, writeMarkerNotes, type MarkerNote } from '../notes.js';
import type { Emit } from '../session.js';
import { exportFolder, findLibraryRecording, freeBase, safeNamePart, writeNewFile, type LibraryRecording } from './library-recording.js';

/** A marker with its note ('' when none) and its cue's end. */
export interface MarkerWithNote extends ManifestMarker {
  endMs: number;
  note: string;
}

export interface MarkerListing {
  copyPath: string;
  notesPath: string;
  number: number;
  durationMs: number;
  encryptedNotDecrypted: boolean;
  markers: MarkerWithNote[];
}

interface Common {
  library?: string;
  recording: string | number;
  fs?: Fs;
  emit: Emit;
}

function listingOf(rec: LibraryRecording, notes: readonly MarkerNote[]): MarkerListing {
  const m = rec.manifest;
  const markers = m.markers ?? [];
  const cues = new Map(markerCues(markers, m.recording.durationMs, notes).map((c) => [c.number, c]));
  return {
    copyPath: rec.copyPath,
    notesPath: notesPath(rec.copyPath),
    number: m.recording.number,
    durationMs: m.recording.durationMs,
    encryptedNotDecrypted: !!m.encryption && !m.encryption.derived,
    markers: markers.map((x) => ({ ...x, endMs: cues.get(x.number)!.endMs, note: cues.get(x.number)!.text })),
  };
}

/** The markers of a recording with their notes; with `set`, first writes that marker's note. */
export async function markerNotes(o: Common & { set?: { marker: number; text: string } }): Promise<MarkerListing> {
  const fs = o.fs ?? realFs;
  const rec = await findLibraryRecording(fs, o.recording, o.library);
  const { notes } = await readNotesFile(rec.copyPath, fs);
  const markers = rec.manifest.markers ?? [];
  const n = rec.manifest.recording.number;
  if (o.set) {
    if (!markers.some((x) => x.number === o.set!.marker)) {
      throw new EngineError(
        'NOTES_INVALID',
        markers.length ? `Recording ${n} has no marker ${o.set.marker}: its markers are ${markers.map((x) => x.number).join(', ')}.` : `Recording ${n} has no markers${rec.manifest.encryption && !rec.manifest.encryption.derived ? ' that this computer can read (it is encrypted and not decrypted here)' : ''}.`,
        markers.length ? 'Give one of its markers with --marker.' : 'Markers are made while recording: a short press of the button, or `recorder mark`.',
      );
    }
    const texts = new Map(notes.map((x) => [x.number, x.text]));
    texts.set(o.set.marker, o.set.text);
    const cues = markerCues(markers, rec.manifest.recording.durationMs).map((c) => ({ ...c, text: texts.get(c.number) ?? '' }));
    await writeMarkerNotes(rec.copyPath, cues, fs);
    o.emit({ type: 'note', message: `Note of marker ${o.set.marker} of recording ${n} ${o.set.text.trim() ? 'written' : 'cleared'} in ${path.basename(notesPath(rec.copyPath))}.` });
    return listingOf(rec, (await readNotesFile(rec.copyPath, fs)).notes);
  }
  return listingOf(rec, notes);
}

export interface MarkerFilesResult {
  folder: string;
  audacity: string | null;
  webvtt: string | null;
  markers: number;
}

/**
 * Writes the markers of a recording into the export folder: an Audacity label track
 * (`<base>.labels.txt`) and/or a WebVTT file (`<base>.markers.vtt`, one cue per marker with its
 * note, and the cues a person added to the notes file). Never replaces a file.
 */
export async function exportMarkerFiles(o: Common & { to?: string; audacity: boolean; webvtt: boolean }): Promise<MarkerFilesResult> {
  const fs = o.fs ?? realFs;
  if (!o.audacity && !o.webvtt) throw new EngineError('EXPORT_REFUSED', 'Say which file to make: --audacity (a label track) or --webvtt (a WebVTT file), or both.', 'Run the command again with --audacity or --webvtt.');
  const rec = await findLibraryRecording(fs, o.recording, o.library);
  const m = rec.manifest;
  const markers = m.markers ?? [];
  if (m.encryption && !m.encryption.derived) throw new EngineError('NOT_DECRYPTED', `Recording ${m.recording.number} is encrypted and has not been decrypted on this computer: its markers are inside it.`, `Decrypt it first with \`recorder decrypt ${m.recording.number}\`.`);
  const { notes, kept } = await readNotesFile(rec.copyPath, fs);
  const folder = await exportFolder(fs, o.to ?? path.join(rec.library, 'exports'));
  const name = safeNamePart(path.basename(copyBase(rec.copyPath)));
  const base = await freeBase(fs, folder, name, ['.labels.txt', '.markers.vtt']);
  let audacity: string | null = null;
  let webvtt: string | null = null;
  if (o.audacity) {
    audacity = path.join(folder, `${base}.labels.txt`);
    await writeNewFile(fs, audacity, audacityLabels(markers, m.recording.sampleRate, notes));
  }
  if (o.webvtt) {
    webvtt = path.join(folder, `${base}.markers.vtt`);
    await writeNewFile(fs, webvtt, formatMarkerNotes(markerCues(markers, m.recording.durationMs, notes), path.basename(copyBase(rec.copyPath)), kept));
  }
  o.emit({ type: 'note', message: `${markers.length} marker(s) of recording ${m.recording.number} written to ${[audacity, webvtt].filter(Boolean).join(' and ')}.${markers.length === 0 ? ' (It has no markers: the files are empty of them.)' : ''}` });
  return { folder, audacity, webvtt, markers: markers.length };
}
