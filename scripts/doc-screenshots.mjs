#!/usr/bin/env node
// Makes the screenshots of the solicitor's bundle in docs/images/ (docs/user-guide.md, "Giving a
// recording to your solicitor"): a bundle of the fake signing recorder (host/engine/testing, so
// marked SIMULATED) with a meeting-like loudness, its report and its verifier page after a check,
// in headless Debian Chromium. Run after `npm run build`: node scripts/doc-screenshots.mjs
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'docs', 'images');
const { setup } = await import(pathToFileURL(join(root, 'dist', 'host', 'engine', 'testing', 'harness.js')).href);

/** Twelve minutes at 8 kHz that look like a meeting: turns of speech, pauses, a quiet stretch. */
function meeting(seconds, rate) {
  const s = new Int16Array(seconds * rate);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  let level = 0;
  for (let i = 0; i < s.length; i++) {
    if (i % (rate / 4) === 0) {
      const t = i / rate;
      const quiet = t > 400 && t < 460;
      level = quiet ? 0.002 : rnd() < 0.2 ? 0.01 : 0.05 + 0.35 * rnd();
    }
    s[i] = Math.round(32767 * level * Math.sin(i * 0.37) * (0.6 + 0.4 * rnd()));
  }
  return s;
}

const h = setup();
h.device.label = 'Kitchen';
h.device.addRecording({ samples: meeting(12 * 60, 8000), sampleRate: 8000 });
const sync = await h.engine.sync({ dest: h.dest });
if (!sync.ok) throw new Error('the demo sync failed');
const work = mkdtempSync(join(tmpdir(), 'rec-shots-'));
const bundle = join(work, 'bundle');
await h.engine.exportBundle({ library: h.dest, numbers: [1], to: bundle });
const files = (d) => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? files(join(d, n)) : [join(d, n)]));

const browser = await puppeteer.launch({ executablePath: process.env.REC_CHROMIUM ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 30_000, protocolTimeout: 60_000 });
const timer = setTimeout(() => {
  console.error('screenshots took longer than 2 minutes');
  browser.process()?.kill('SIGKILL');
  process.exit(1);
}, 120_000);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 860, height: 1100, deviceScaleFactor: 1 });
  await page.goto(pathToFileURL(join(bundle, 'report.html')).href, { waitUntil: 'load' });
  // each section with the page's margin around it
  for (const [selector, name] of [['section.first', 'report-first-page.png'], ['section.recording', 'report-recording.png']]) {
    const box = await (await page.$(selector)).boundingBox();
    await page.screenshot({ path: join(out, name), clip: { x: box.x - 24, y: Math.max(0, box.y - 24), width: box.width + 48, height: box.height + 48 }, captureBeyondViewport: true });
  }
  await page.goto(pathToFileURL(join(bundle, 'check-in-browser.html')).href, { waitUntil: 'load' });
  await page.waitForFunction("document.getElementById('ready').textContent === 'ready'");
  await (await page.$('#files')).uploadFile(...files(bundle));
  await page.waitForFunction("!['waiting', 'checking'].includes(document.getElementById('verdict').getAttribute('data-verdict'))");
  await page.screenshot({ path: join(out, 'verifier-page.png'), fullPage: true });
  console.log(`written: ${['report-first-page.png', 'report-recording.png', 'verifier-page.png'].map((n) => join('docs', 'images', n)).join(', ')}`);
} finally {
  clearTimeout(timer);
  await browser.close();
  rmSync(work, { recursive: true, force: true });
  rmSync(h.dest, { recursive: true, force: true });
}
