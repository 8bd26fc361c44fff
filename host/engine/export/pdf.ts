/**
 * report.pdf: the same report as report.html (the same ReportModel, the same words), laid out on
 * A4 pages with pdf-lib and its standard fonts, so it opens in any PDF reader and prints as is.
 */
import { PDFDocument, rgb, StandardFonts, type PDFFont, type PDFPage } from 'pdf-lib';
import { clockText, LOUDNESS_CAPTION, NO_LOUDNESS, ticks } from './report.js';
import { FINGERPRINT_ADVICE, type ReportModel, type ReportRecording } from './report-model.js';

const A4 = { width: 595.28, height: 841.89 };
const MARGIN = 50;
const BODY = 12.5;
const INK = rgb(0.07, 0.07, 0.07);
const GREEN = rgb(0.1, 0.5, 0.22);
const RED = rgb(0.7, 0.15, 0.12);
const BLUE = rgb(0.12, 0.31, 0.47);

/** The standard fonts cover Windows-1252 only: anything else becomes '?'. */
export function winAnsi(s: string): string {
  return s.replace(/[^\x20-\x7e\xa0-\xff\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u2022\u20ac]/g, '?');
}

/** A4 pages of wrapped text, headings, bullets, boxes and tables (the report's, and the provisioning hand-out's). */
export class Layout {
  page!: PDFPage;
  y = 0;
  constructor(
    private readonly doc: PDFDocument,
    readonly fonts: { regular: PDFFont; bold: PDFFont; mono: PDFFont },
  ) {
    this.newPage();
  }
  get width() {
    return A4.width - 2 * MARGIN;
  }
  newPage(): void {
    this.page = this.doc.addPage([A4.width, A4.height]);
    this.y = A4.height - MARGIN;
  }
  room(h: number): void {
    if (this.y - h < MARGIN) this.newPage();
  }
  lines(text: string, font: PDFFont, size: number, width: number): string[] {
    const out: string[] = [];
    for (const para of winAnsi(text).split('\n')) {
      let line = '';
      for (const word of para.split(' ')) {
        const tryLine = line ? `${line} ${word}` : word;
        if (font.widthOfTextAtSize(tryLine, size) <= width) line = tryLine;
        else {
          if (line) out.push(line);
          // a word longer than the line (a checksum): cut it
          let w = word;
          while (font.widthOfTextAtSize(w, size) > width) {
            let k = w.length;
            while (k > 1 && font.widthOfTextAtSize(w.slice(0, k), size) > width) k--;
            out.push(w.slice(0, k));
            w = w.slice(k);
          }
          line = w;
        }
      }
      out.push(line);
    }
    return out;
  }
  text(text: string, o: { font?: PDFFont; size?: number; indent?: number; color?: ReturnType<typeof rgb>; gap?: number } = {}): void {
    const font = o.font ?? this.fonts.regular;
    const size = o.size ?? BODY;
    const indent = o.indent ?? 0;
    const lead = size * 1.35;
    for (const l of this.lines(text, font, size, this.width - indent)) {
      this.room(lead);
      this.y -= lead;
      this.page.drawText(l, { x: MARGIN + indent, y: this.y + size * 0.25, size, font, color: o.color ?? INK });
    }
    this.y -= o.gap ?? size * 0.5;
  }
  heading(text: string, size = 16): void {
    this.room(size * 3);
    this.y -= size * 0.6;
    this.text(text, { font: this.fonts.bold, size, gap: 2 });
    this.page.drawLine({ start: { x: MARGIN, y: this.y }, end: { x: MARGIN + this.width, y: this.y }, thickness: 1.2, color: INK });
    this.y -= size * 0.5;
  }
  bullets(items: string[], size = BODY): void {
    for (const i of items) {
      const before = this.y;
      this.text(i, { indent: 14, gap: 4, size });
      const page = this.page;
      // the bullet beside the first line (on the page the item started on, when it fits there)
      if (this.y < before) page.drawCircle({ x: MARGIN + 4, y: Math.min(before, A4.height - MARGIN) - size * 1.35 + size * 0.6, size: 2, color: INK });
    }
  }
  box(text: string, good: boolean): void {
    const size = BODY + 1;
    const ls = this.lines(text, this.fonts.bold, size, this.width - 20);
    const h = ls.length * size * 1.35 + 14;
    this.room(h + 6);
    this.page.drawRectangle({ x: MARGIN, y: this.y - h, width: this.width, height: h, borderColor: good ? GREEN : RED, borderWidth: 2.5 });
    this.y -= 7;
    for (const l of ls) {
      this.y -= size * 1.35;
      this.page.drawText(l, { x: MARGIN + 10, y: this.y + size * 0.25, size, font: this.fonts.bold, color: INK });
    }
    this.y -= 13;
  }
  table(rows: { label: string; value: string }[], o: { mono?: boolean; size?: number } = {}): void {
    const size = o.size ?? BODY;
    const labelWidth = this.width * 0.3;
    for (const r of rows) {
      const left = this.lines(r.label, this.fonts.bold, size, labelWidth - 8);
      const valueFont = o.mono ? this.fonts.mono : this.fonts.regular;
      const right = this.lines(r.value, valueFont, size, this.width - labelWidth);
      const lead = size * 1.35;
      this.room(Math.max(left.length, right.length) * lead + 4);
      const top = this.y;
      left.forEach((l, i) => this.page.drawText(l, { x: MARGIN, y: top - (i + 1) * lead + size * 0.25, size, font: this.fonts.bold, color: INK }));
      right.forEach((l, i) => this.page.drawText(l, { x: MARGIN + labelWidth, y: top - (i + 1) * lead + size * 0.25, size, font: valueFont, color: INK }));
      this.y = top - Math.max(left.length, right.length) * lead - 4;
      this.page.drawLine({ start: { x: MARGIN, y: this.y + 2 }, end: { x: MARGIN + this.width, y: this.y + 2 }, thickness: 0.4, color: rgb(0.75, 0.75, 0.75) });
    }
    this.y -= 6;
  }
  /** The loudness picture: bars, time axis, markers (as in report.ts loudnessSvg). */
  picture(r: ReportRecording): void {
    const h = 110;
    const axis = 16;
    this.room(h + axis + 30);
    const top = this.y - 16;
    const bottom = top - h;
    const w = this.width;
    const x = (t: number) => MARGIN + (r.durationSeconds > 0 ? (t / r.durationSeconds) * w : 0);
    this.page.drawRectangle({ x: MARGIN, y: bottom, width: w, height: h, color: rgb(0.96, 0.96, 0.96), borderColor: rgb(0.6, 0.6, 0.6), borderWidth: 0.8 });
    const n = Math.max(1, r.loudness.length);
    const bw = w / n;
    const mid = bottom + h / 2;
    r.loudness.forEach((l, i) => {
      const bh = Math.max(0.8, l * h);
      this.page.drawRectangle({ x: MARGIN + i * bw, y: mid - bh / 2, width: Math.max(0.3, bw - 0.2), height: bh, color: BLUE });
    });
    for (const t of ticks(r.durationSeconds)) {
      const tx = Math.min(MARGIN + w - 0.5, x(t));
      this.page.drawLine({ start: { x: tx, y: bottom }, end: { x: tx, y: bottom - 4 }, thickness: 1, color: INK });
      const label = clockText(t);
      const lw = this.fonts.regular.widthOfTextAtSize(label, 9);
      const lx = t === 0 ? tx : tx > MARGIN + w - 20 ? tx - lw : tx - lw / 2;
      this.page.drawText(label, { x: lx, y: bottom - 13, size: 9, font: this.fonts.regular, color: INK });
    }
    for (const m of r.markers.filter((m) => m.label !== 'start' && m.label !== 'stop')) {
      const mx = x(m.atSeconds);
      this.page.drawLine({ start: { x: mx, y: top + 3 }, end: { x: mx, y: bottom }, thickness: 1.8, color: RED, dashArray: [4, 3] });
      const label = winAnsi(`${m.label} (${clockText(m.atSeconds)})`);
      const lw = this.fonts.bold.widthOfTextAtSize(label, 9);
      this.page.drawText(label, { x: mx > MARGIN + w / 2 ? mx - lw - 2 : mx + 2, y: top + 5, size: 9, font: this.fonts.bold, color: RED });
    }
    this.y = bottom - axis - 8;
  }
}

/** A new A4 document with the app's metadata and the standard fonts, laid out from its first page. */
export async function newPdf(title: string, appVersion: string): Promise<{ doc: PDFDocument; L: Layout; fonts: Layout['fonts'] }> {
  const doc = await PDFDocument.create();
  doc.setTitle(winAnsi(title));
  doc.setCreator(`evidence recorder app ${appVersion}`);
  doc.setProducer('pdf-lib');
  // Fixed dates: the same input gives the same bytes apart from what it says.
  doc.setCreationDate(new Date(0));
  doc.setModificationDate(new Date(0));
  const fonts = { regular: await doc.embedFont(StandardFonts.Helvetica), bold: await doc.embedFont(StandardFonts.HelveticaBold), mono: await doc.embedFont(StandardFonts.Courier) };
  return { doc, L: new Layout(doc, fonts), fonts };
}

export async function reportPdf(m: ReportModel): Promise<Buffer> {
  const { doc, L, fonts } = await newPdf(m.title, m.appVersion);
  L.text(m.title, { font: fonts.bold, size: 20, gap: 6 });
  L.text(`This report was made on ${m.madeAt} by the evidence recorder app (version ${m.appVersion}), from the files in this bundle.`, { gap: 10 });
  for (const r of m.recordings) L.box(`${r.title}. ${r.summary}`, r.verdict === 'verified');
  if (m.fingerprints.length) {
    L.y -= 6;
    L.text(`The recorder's key fingerprint${m.fingerprints.length > 1 ? 's' : ''}:`, { font: fonts.bold });
    for (const f of m.fingerprints) L.text(`${f.keyId}    recorder "${f.label || 'without a name'}"${f.simulated ? ' (simulated)' : ''}`, { font: fonts.mono, size: 15, indent: 10 });
    L.text(FINGERPRINT_ADVICE);
  }
  L.heading('How to check it yourself');
  L.bullets(m.howToCheck);
  for (const r of m.recordings) {
    L.newPage();
    L.heading(r.title, 18);
    L.box(r.summary, r.verdict === 'verified');
    L.table(r.facts);
    L.text('How loud it was, from start to end', { font: fonts.bold, size: 13.5, gap: 0 });
    if (!r.audioEncrypted) {
      L.picture(r);
      L.text(LOUDNESS_CAPTION, { size: 10.5 });
    } else L.text(NO_LOUDNESS);
    for (const w of r.warnings) L.text(`Note: ${w}`, { color: rgb(0.45, 0.3, 0) });
    L.text('What was checked', { font: fonts.bold, size: 13.5, gap: 4 });
    L.bullets(r.checks);
  }
  L.newPage();
  L.heading("The owner's library");
  L.bullets(m.libraryChecks);
  L.heading('Custody history');
  L.text(`What the recorder app on the owner's computer did with ${m.recordings.length === 1 ? 'this recording' : 'these recordings'}, from its custody log (the entries are in custody.log in this bundle). This is the owner's own record.`);
  L.table(m.custody.length ? m.custody.map((c) => ({ label: c.when, value: c.what })) : [{ label: '-', value: 'No entries (the recording was copied before the app kept a custody log).' }], { size: 11 });
  L.heading('What the checks show');
  L.bullets(m.proves);
  L.heading('What the checks do not show');
  L.bullets(m.doesNotProve);
  L.newPage();
  L.heading('Technical appendix');
  L.text('For an expert: the SHA-256 checksums and the recorder\'s signed description, as the commands in VERIFY.txt print them.');
  for (const r of m.recordings) {
    L.text(r.title, { font: fonts.bold, size: 13.5 });
    L.table(r.technical, { mono: true, size: 9 });
  }
  return Buffer.from(await doc.save());
}
