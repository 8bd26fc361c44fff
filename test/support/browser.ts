/**
 * Headless Chromium for the tests of the bundle's pages (issue 14): Debian's `chromium`, driven by
 * puppeteer-core (no browser download, no network). Every launch is bounded by a timeout and the
 * browser is closed in `finally`, also when the test fails.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.REC_CHROMIUM ?? '/usr/bin/chromium';

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium is missing at ${CHROMIUM}: install the Debian package chromium`);
}

/** Runs `work` with a fresh headless browser, closed afterwards; the whole run is bounded. */
export async function withBrowser<T>(work: (b: Browser) => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
    timeout: 30_000,
    protocolTimeout: timeoutMs,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(browser),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the browser test took longer than ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
    await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
  }
}

/** Every file under a folder (absolute paths). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

export interface PageVerdict {
  verdict: string;
  text: string;
  results: string[];
}

/** Opens the bundle's check-in-browser.html from file://, gives it every file of the bundle, and reads its verdict. */
export async function checkInBrowser(browser: Browser, bundle: string, files = filesUnder(bundle)): Promise<PageVerdict> {
  const page = await browser.newPage();
  try {
    await page.goto(pathToFileURL(join(bundle, 'check-in-browser.html')).href, { waitUntil: 'load', timeout: 20_000 });
    // (strings, not functions: the project's TypeScript has no DOM types)
    await page.waitForFunction("document.getElementById('ready').textContent === 'ready'", { timeout: 10_000 });
    const input = await page.$('#files');
    await input!.uploadFile(...files);
    await page.waitForFunction("!['waiting', 'checking'].includes(document.getElementById('verdict').getAttribute('data-verdict'))", { timeout: 30_000 });
    return (await page.evaluate(
      "({ verdict: document.getElementById('verdict').getAttribute('data-verdict'), text: document.getElementById('verdict').textContent, results: [...document.querySelectorAll('#results li')].map((li) => li.textContent) })",
    )) as PageVerdict;
  } finally {
    await page.close();
  }
}
