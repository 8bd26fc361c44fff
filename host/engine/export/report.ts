/**
 * report.html: the report as one self-contained page (inline style and picture, no script, no
 * network) that reads on screen and prints to A4. Large text; the first page holds the verdicts
 * and the key fingerprint, no checksums (those are in the technical appendix at the end).
 */
import { FINGERPRINT_ADVICE, type Marker, type ReportModel, type ReportRecording } from './report-model.js';

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** "0:00", "12:30", "1:02:05". */
export function clockText(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Time-axis ticks: a round step giving at most 8 intervals. */
export function ticks(duration: number): number[] {
  const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];
  const step = steps.find((s) => duration / s <= 8) ?? 43200;
  const out: number[] = [];
  for (let t = 0; t <= duration + 1e-9; t += step) out.push(t);
  return out;
}

export const LOUDNESS_CAPTION = 'Each bar is a short stretch of the recording: tall bars are loud (people speaking), short bars are quiet. The times below are minutes and seconds from the start.';
/** Said instead of the picture when the bundle has no audio to draw it from (encrypted, not decrypted). */
export const NO_LOUDNESS = 'There is no picture of how loud it was: the audio is inside the encrypted file, which was not decrypted for this bundle.';

/** Geometry of the loudness picture, shared with the PDF. */
export const PICTURE = { width: 1000, barsHeight: 170, axis: 32, markerText: 32 } as const;

/** The loudness picture of a whole recording as inline SVG, with its time axis and markers. */
export function loudnessSvg(r: Pick<ReportRecording, 'loudness' | 'durationSeconds' | 'markers' | 'title'>): string {
  const { width, barsHeight, axis, markerText } = PICTURE;
  const top = markerText;
  const height = top + barsHeight + axis;
  const n = Math.max(1, r.loudness.length);
  const bw = width / n;
  const x = (t: number) => (r.durationSeconds > 0 ? (t / r.durationSeconds) * width : 0);
  const mid = top + barsHeight / 2;
  const bars = r.loudness
    .map((l, i) => {
      const h = Math.max(1, l * barsHeight);
      return `<rect x="${(i * bw).toFixed(2)}" y="${(mid - h / 2).toFixed(2)}" width="${Math.max(0.5, bw - 0.4).toFixed(2)}" height="${h.toFixed(2)}"/>`;
    })
    .join('');
  const tickMarks = ticks(r.durationSeconds)
    .map((t) => {
      const tx = Math.min(width - 1, x(t));
      const anchor = t === 0 ? 'start' : tx > width - 30 ? 'end' : 'middle';
      return `<line x1="${tx.toFixed(1)}" y1="${top + barsHeight}" x2="${tx.toFixed(1)}" y2="${top + barsHeight + 7}" class="tick"/><text x="${tx.toFixed(1)}" y="${height - 2}" text-anchor="${anchor}" class="axis">${clockText(t)}</text>`;
    })
    .join('');
  const markers = r.markers
    .filter((m: Marker) => m.label !== 'start' && m.label !== 'stop')
    .map((m) => {
      const mx = x(m.atSeconds);
      return `<line x1="${mx.toFixed(1)}" y1="${top - 4}" x2="${mx.toFixed(1)}" y2="${top + barsHeight}" class="marker"/><text x="${(mx + (mx > width / 2 ? -6 : 6)).toFixed(1)}" y="${top - 8}" text-anchor="${mx > width / 2 ? 'end' : 'start'}" class="marker-text">${esc(m.label)} (${clockText(m.atSeconds)})</text>`;
    })
    .join('');
  return `<svg class="loudness" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(`How loud ${r.title} was, from start to end`)}" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="${top}" width="${width}" height="${barsHeight}" class="frame"/><g class="bars">${bars}</g>${tickMarks}${markers}</svg>`;
}

const STYLE = `
@page { size: A4; margin: 16mm 16mm 18mm 16mm; }
* { box-sizing: border-box; }
html { font-family: "DejaVu Sans", "Segoe UI", Arial, Helvetica, sans-serif; color: #111; background: #fff; }
body { margin: 0 auto; max-width: 48rem; padding: 1.5rem; font-size: 18px; line-height: 1.5; }
@media print { body { max-width: none; padding: 0; font-size: 13.5pt; } }
h1 { font-size: 1.7em; line-height: 1.2; margin: 0 0 0.4em; }
h2 { font-size: 1.35em; margin: 1.2em 0 0.4em; border-bottom: 2px solid #333; padding-bottom: 0.1em; }
h3 { font-size: 1.1em; margin: 1em 0 0.3em; }
.made { color: #333; margin: 0 0 1em; }
.verdict { border: 3px solid #1a7f37; border-radius: 6px; padding: 0.6em 0.9em; margin: 0.6em 0; break-inside: avoid; }
.verdict.bad { border-color: #b3261e; }
.verdict strong { font-size: 1.15em; }
.fingerprint { border: 2px dashed #333; padding: 0.6em 0.9em; margin: 1em 0; break-inside: avoid; }
.fingerprint code { font-size: 1.35em; font-weight: bold; letter-spacing: 0.08em; }
code { font-family: "DejaVu Sans Mono", Consolas, monospace; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0; }
th, td { text-align: left; vertical-align: top; padding: 0.3em 0.5em 0.3em 0; border-bottom: 1px solid #ccc; }
th { width: 30%; font-weight: bold; }
ul { padding-left: 1.2em; margin: 0.4em 0; }
li { margin: 0.25em 0; }
.warning { border-left: 6px solid #b58400; background: #fff8e1; padding: 0.4em 0.7em; margin: 0.5em 0; break-inside: avoid; }
.page { break-before: page; }
svg.loudness { width: 100%; height: auto; margin: 0.5em 0 0.2em; break-inside: avoid; }
svg .frame { fill: #f4f4f4; stroke: #999; stroke-width: 1; }
svg .bars rect { fill: #1f4e79; }
svg .tick { stroke: #333; stroke-width: 1.5; }
svg .axis { font-size: 24px; fill: #111; }
svg .marker { stroke: #b3261e; stroke-width: 3; stroke-dasharray: 6 4; }
svg .marker-text { font-size: 24px; fill: #b3261e; font-weight: bold; }
.caption { font-size: 0.9em; color: #333; margin: 0 0 0.8em; }
.appendix td, .appendix th { font-size: 0.8em; }
.appendix td code { word-break: break-all; }
`;

function recordingSection(r: ReportRecording): string {
  const facts = r.facts.map((f) => `<tr><th>${esc(f.label)}</th><td>${esc(f.value)}</td></tr>`).join('');
  return `<section class="page recording" id="${esc(r.folder)}">
<h2>${esc(r.title)}</h2>
<div class="verdict${r.verdict === 'verified' ? '' : ' bad'}"><strong>${esc(r.summary)}</strong></div>
<table>${facts}</table>
<h3>How loud it was, from start to end</h3>
${!r.audioEncrypted ? `${loudnessSvg(r)}
<p class="caption">${LOUDNESS_CAPTION}</p>` : `<p>${esc(NO_LOUDNESS)}</p>`}
${r.warnings.map((w) => `<p class="warning">${esc(w)}</p>`).join('\n')}
<h3>What was checked</h3>
<ul>${r.checks.map((c) => `<li>${esc(c)}</li>`).join('')}</ul>
</section>`;
}

export function reportHtml(m: ReportModel): string {
  const fp = m.fingerprints.length
    ? `<div class="fingerprint"><p>The recorder's key fingerprint${m.fingerprints.length > 1 ? 's' : ''}:</p>${m.fingerprints
        .map((f) => `<p><code>${esc(f.keyId)}</code> &nbsp; recorder "${esc(f.label || 'without a name')}"${f.simulated ? ' (simulated)' : ''}</p>`)
        .join('')}<p>${esc(FINGERPRINT_ADVICE)}</p></div>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(m.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<section class="first">
<h1>${esc(m.title)}</h1>
<p class="made">This report was made on ${esc(m.madeAt)} by the evidence recorder app (version ${esc(m.appVersion)}), from the files in this bundle.</p>
${m.recordings.map((r) => `<div class="verdict${r.verdict === 'verified' ? '' : ' bad'}"><strong>${esc(r.title)}.</strong> ${esc(r.summary)}</div>`).join('\n')}
${fp}
<h2>How to check it yourself</h2>
<ul>${m.howToCheck.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
</section>
${m.recordings.map(recordingSection).join('\n')}
<section class="page">
<h2>The owner's library</h2>
<ul>${m.libraryChecks.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
<h2>Custody history</h2>
<p>What the recorder app on the owner's computer did with ${m.recordings.length === 1 ? 'this recording' : 'these recordings'}, from its custody log (the entries are in custody.log in this bundle). This is the owner's own record.</p>
<table>${m.custody.map((c) => `<tr><th>${esc(c.when)}</th><td>${esc(c.what)}</td></tr>`).join('') || '<tr><td>No entries (the recording was copied before the app kept a custody log).</td></tr>'}</table>
<h2>What the checks show</h2>
<ul>${m.proves.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
<h2>What the checks do not show</h2>
<ul>${m.doesNotProve.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
</section>
<section class="page appendix">
<h2>Technical appendix</h2>
<p>For an expert: the SHA-256 checksums and the recorder's signed description, as the commands in VERIFY.txt print them.</p>
${m.recordings.map((r) => `<h3>${esc(r.title)}</h3><table>${r.technical.map((t) => `<tr><th>${esc(t.label)}</th><td><code>${esc(t.value)}</code></td></tr>`).join('')}</table>`).join('\n')}
</section>
</body>
</html>
`;
}
