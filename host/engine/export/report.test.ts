/**
 * The report (issue 14) as HTML and PDF: self-contained, plain words, no checksums on the first
 * page but the key fingerprint, the loudness picture of the whole recording with its markers, and
 * the same words in the PDF, on A4 pages.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { PDFDocument, PDFRawStream, type PDFPage } from 'pdf-lib';
import { beforeAll, describe, expect, test } from 'vitest';
import { keyIdOf } from '../evidence/open-formats.js';
import { setup } from '../testing/harness.js';
import { LOUDNESS_BARS } from './report-model.js';
import { clockText, ticks } from './report.js';

let bundle: string;
let keyId: string;

beforeAll(async () => {
  const h = setup();
  h.device.addRecording({ samples: 16000 * 130 });
  // cut by a power loss at 150 s; the last checkpoint made while recording at 120 s
  h.device.addRecording({ samples: 16000 * 150, recoveredVouched: 16000 * 120 });
  expect((await h.engine.sync({ dest: h.dest })).ok).toBe(true);
  keyId = keyIdOf(h.device.signer.publicKey).toString('hex');
  bundle = join(mkdtempSync(join(tmpdir(), 'report-')), 'b');
  await h.engine.exportBundle({ library: h.dest, numbers: [1, 2], to: bundle });
});

/** Text drawn on a pdf-lib page (its content streams inflated, the hex strings of Tj decoded). */
function pageText(page: PDFPage): string {
  const contents = page.node.Contents();
  const streams = contents && 'asArray' in contents ? contents.asArray() : [contents];
  let out = '';
  for (const ref of streams) {
    const s = page.doc.context.lookup(ref as never);
    if (!(s instanceof PDFRawStream)) continue;
    const ops = inflateSync(Buffer.from(s.contents)).toString('latin1');
    for (const m of ops.matchAll(/<([0-9A-Fa-f]*)> Tj/g)) out += Buffer.from(m[1]!, 'hex').toString('latin1') + ' ';
  }
  return out;
}

const HEX_RUN = /\b[0-9a-f]{16,}\b/g;

describe('report.html', () => {
  test('is self-contained: no script, no link, no address outside the page', () => {
    const html = readFileSync(join(bundle, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
    expect(html).toMatch(/@page \{ size: A4/);
  });

  test('the first page: each verdict in plain words and the key fingerprint, and no other checksum', () => {
    const html = readFileSync(join(bundle, 'report.html'), 'utf8');
    const first = /<section class="first">([\s\S]*?)<\/section>/.exec(html)![1]!;
    expect(first).toMatch(/Recording 1\.<\/strong> Verified: the file is exactly the recording that recorder &quot;Kitchen&quot; made and signed/);
    expect(first).toMatch(/Recording 2\.<\/strong> Verified/);
    expect(first.match(HEX_RUN)).toEqual([keyId]);
    // and the checksums are there, in the appendix
    expect(html.slice(html.indexOf('Technical appendix')).match(HEX_RUN)!.length).toBeGreaterThan(6);
  });

  test('the loudness picture covers the whole recording, with its time axis and the end of what was signed while recording', () => {
    const html = readFileSync(join(bundle, 'report.html'), 'utf8');
    const svgs = [...html.matchAll(/<svg class="loudness"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    expect(svgs).toHaveLength(2);
    for (const s of svgs) expect(/<g class="bars">(.*?)<\/g>/.exec(s)![1]!.match(/<rect /g)!.length).toBe(LOUDNESS_BARS);
    expect(svgs[0]).toContain('>2:00</text>');
    expect(svgs[0]).not.toContain('class="marker"');
    expect(svgs[1]).toMatch(/class="marker-text">signed while recording up to here \(2:00\)</);
    expect(html).toMatch(/the recorder signed the audio up to 2 minutes\. The last 30 seconds are present/);
  });

  test('says what the checks show and do not show, and the custody history', () => {
    const html = readFileSync(join(bundle, 'report.html'), 'utf8');
    expect(html).toMatch(/What the checks do not show/);
    expect(html).toMatch(/That nobody else had the recorder&#39;s key/);
    expect(html).toMatch(/Recording 1 copied from recorder &quot;Kitchen&quot; \(key fingerprint [0-9a-f]{16}\) and checked, by the recorder app 9\.9\.9-test/);
  });

  test('time axis: round steps, at most 8 intervals', () => {
    expect(ticks(130)).toEqual([0, 30, 60, 90, 120]);
    expect(ticks(3 * 3600 + 5).length).toBeLessThanOrEqual(9);
    expect(clockText(3725)).toBe('1:02:05');
    expect(clockText(65)).toBe('1:05');
  });
});

describe('report.pdf', () => {
  test('A4 pages with the same words; the first page holds no checksum but the fingerprint', async () => {
    const pdf = await PDFDocument.load(readFileSync(join(bundle, 'report.pdf')));
    const pages = pdf.getPages();
    expect(pages.length).toBeGreaterThanOrEqual(5);
    for (const p of pages) expect([Math.round(p.getWidth()), Math.round(p.getHeight())]).toEqual([595, 842]);
    const first = pageText(pages[0]!);
    expect(first).toMatch(/Recording 1\. Verified: the file is exactly the recording that recorder "Kitchen"/);
    expect(first.match(HEX_RUN)).toEqual([keyId]);
    const all = pages.map(pageText).join('\n');
    expect(all).toMatch(/How loud it was, from start to end/);
    expect(all).toMatch(/signed while recording up to here \(2:00\)/);
    expect(all).toMatch(/What the checks do not show/);
    expect(all).toMatch(/Technical appendix/);
  });
});
