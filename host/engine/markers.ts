/**
 * Markers (issue 15) on the host: from the verified WAV's `cue `/`LIST adtl` chunks (parsed by
 * wav.ts) into the manifest, and out of the library as an Audacity label track and as a WebVTT
 * file with one cue per marker.
 */
import type { ManifestMarker } from './library.js';
import type { WavMarker } from './wav.js';
import { formatMarkerNotes, markerCues, type MarkerNote } from './notes.js';

/** floor(sampleOffset * 1000 / sampleRate), exactly (offsets can exceed 2^53 / 1000 in theory). */
export function markerTimeMs(sampleOffset: number, sampleRate: number): number {
  return Number((BigInt(sampleOffset) * 1000n) / BigInt(Math.max(1, sampleRate)));
}

/** The manifest's markers of a WAV: numbered 1..n in file order. */
export function manifestMarkers(markers: readonly WavMarker[], sampleRate: number): ManifestMarker[] {
  return markers.map((m, i) => ({ number: i + 1, sampleOffset: m.sampleOffset, timeMs: markerTimeMs(m.sampleOffset, sampleRate), label: m.label }));
}

/** What differs between the manifest's markers and a WAV's ([] = the same). */
export function compareMarkers(manifest: readonly ManifestMarker[], wav: readonly WavMarker[], sampleRate: number): string[] {
  const want = manifestMarkers(wav, sampleRate);
  if (want.length !== manifest.length) return [`the sidecar lists ${manifest.length} marker(s), the WAV holds ${want.length}`];
  const out: string[] = [];
  want.forEach((w, i) => {
    const m = manifest[i]!;
    if (m.number !== w.number || m.sampleOffset !== w.sampleOffset || m.timeMs !== w.timeMs || m.label !== w.label) out.push(`marker ${w.number} is at sample ${w.sampleOffset} in the WAV, but the sidecar says ${m.sampleOffset}`);
  });
  return out;
}

/** Seconds with 6 decimals, as Audacity writes its labels. */
const seconds = (sampleOffset: number, sampleRate: number) => {
  const micros = (BigInt(sampleOffset) * 1_000_000n) / BigInt(Math.max(1, sampleRate));
  return `${micros / 1_000_000n}.${String(micros % 1_000_000n).padStart(6, '0')}`;
};

/** A label's text on one line: Audacity reads one label per line, fields split by tabs. */
function labelText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\t\r\n\u0000-\u001f\u007f]+/g, ' ').trim();
}

/**
 * An Audacity label track (File > Import > Labels): one line per marker, `start<TAB>end<TAB>label`
 * in seconds; a marker is a point label (start = end). The label is the marker's note when it has
 * one, else its label in the WAV.
 */
export function audacityLabels(markers: readonly ManifestMarker[], sampleRate: number, notes: readonly MarkerNote[] = []): string {
  const text = new Map(notes.map((n) => [n.number, n.text]));
  return markers
    .map((m) => {
      const t = seconds(m.sampleOffset, sampleRate);
      return `${t}\t${t}\t${labelText(text.get(m.number) || m.label || `Marker ${m.number}`) || `Marker ${m.number}`}\n`;
    })
    .join('');
}

/** A WebVTT file with one cue per marker (to the next marker, or the end), its note as the text. */
export function markersWebVtt(markers: readonly ManifestMarker[], durationMs: number, notes: readonly MarkerNote[], title: string): string {
  return formatMarkerNotes(markerCues(markers, durationMs, notes), title);
}
