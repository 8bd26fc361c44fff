/**
 * Power-cut campaign in CI: scripts/power-campaign.mjs with at least 200 cuts of the simulator
 * (SIGKILL) while recording (with button markers), at stop, while the app syncs, while it deletes
 * verified recordings, while formatting, while wiping, while writing settings, while the recorder
 * takes a marker, and while a rebooted recorder recovers. The script checks every cut (see its
 * header and docs/reliability.md); this test runs it bounded in time and checks its report. The
 * long campaign is the same script with a larger --cuts. A second run records encrypted
 * (--encrypted, 80 cuts, the app syncing and deleting with the owner key as well): every .AGE
 * must decrypt with the stock age, every copy the app deletes must be verified and decrypted in
 * the library, and every recording with audio, recovered ones included, must be signed by the
 * recorder and verify in the library its final syncs make. A third run cuts while recording with
 * 1 s card stalls (--stall-ms).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, requireSimulator, requireTool, stopAll, tempDir } from './support/sim.js';

const SCRIPT = join(ROOT, 'scripts', 'power-campaign.mjs');
let child: ChildProcess | null = null;

beforeAll(() => {
  requireSimulator();
  requireTool('mcopy', 'mtools');
  requireTool('fsck.fat', 'dosfstools');
  requireTool('ffprobe', 'ffmpeg');
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
});

afterEach(async () => {
  // SIGTERM lets the script kill its simulators and app runs; SIGKILL if it does not go.
  if (child && child.exitCode === null && child.signalCode === null) {
    const c = child;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
  child = null;
  await stopAll();
});

interface Report {
  cuts: number;
  byPhase: Record<string, { cuts: number; failed: number }>;
  failures: { cut: number | null; phase: string; message: string }[];
  worstLossSeconds: number | null;
  recovered: number;
  fsckRuns: number;
  filesChecked: number;
  appSyncIncomplete: number;
  appIncomplete: unknown[];
  journalGaps: { unexplained: unknown[] };
  markersChecked: number;
  markersInLibrary: number;
  markerCuts: { taken: number; notTaken: number };
  markerCutsNotRecording: number;
  deletesVerifiedThenCut: number;
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const t = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

describe('power-cut campaign', () => {
  it('survives 200 power cuts across recording, stop, sync, delete, format, wipe, settings, markers and recovery', async () => {
    const out = tempDir('rec-power-report-');
    const r = await run(['--cuts', '200', '--seed', String(process.env.REC_POWER_SEED ?? 7), '--per-sequence', '25', '--speed', '10', '--mix', 'recording=5,stop=3,sync=1,delete=1,format=2,wipe=1,settings=2,marker=1', '--out', out, '--quiet'], 330_000);
    const reportPath = join(out, 'power-campaign.json');
    expect(existsSync(reportPath), r.out.slice(-3000)).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
    console.log(`power-campaign: ${JSON.stringify({ cuts: report.cuts, byPhase: report.byPhase, worstLossSeconds: report.worstLossSeconds, recovered: report.recovered, fsckRuns: report.fsckRuns, filesChecked: report.filesChecked, markersChecked: report.markersChecked, markersInLibrary: report.markersInLibrary, markerCuts: report.markerCuts })}`);
    expect(report.failures, JSON.stringify(report.failures, null, 1)).toEqual([]);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(report.cuts).toBeGreaterThanOrEqual(200);
    for (const phase of ['recording', 'stop', 'sync', 'delete', 'format', 'wipe', 'settings', 'marker', 'recovery']) {
      expect(report.byPhase[phase]!.cuts, phase).toBeGreaterThan(0);
    }
    expect(report.recovered).toBeGreaterThan(20);
    expect(report.worstLossSeconds).not.toBeNull();
    expect(report.worstLossSeconds!).toBeLessThanOrEqual(1 + 256 / 8000);
    // The app always finished its interrupted sync once the recorder came back.
    expect(report.appIncomplete).toEqual([]);
    expect(report.journalGaps.unexplained).toEqual([]);
    expectMarkersJudged(report);
    expect(readFileSync(join(out, 'power-campaign.md'), 'utf8')).toMatch(/power cuts, 0 failure/);
  }, 360_000);

  it('loses at most a second after 1 s card stalls: 12 cuts while recording, a stall every 40 card writes (issue 17)', async () => {
    // The backlog a stall leaves is written at card speed; on time alone the sizes were patched
    // too late for it (this seed lost 1.664 s at its 9th cut before the recorder also patched per
    // 750 ms of written audio).
    const out = tempDir('rec-power-stall-report-');
    const r = await run(['--cuts', '12', '--seed', '7', '--speed', '10', '--mix', 'recording=1', '--recovery-cuts', '0', '--stall-every', '40', '--stall-ms', '1000', '--out', out, '--quiet'], 200_000);
    const reportPath = join(out, 'power-campaign.json');
    expect(existsSync(reportPath), r.out.slice(-3000)).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
    console.log(`power-campaign --stall-ms 1000: ${JSON.stringify({ cuts: report.cuts, worstLossSeconds: report.worstLossSeconds, recovered: report.recovered })}`);
    expect(report.failures, JSON.stringify(report.failures, null, 1)).toEqual([]);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(report.cuts).toBeGreaterThanOrEqual(12);
    expect(report.recovered).toBeGreaterThan(6);
    expect(report.worstLossSeconds).not.toBeNull();
    expect(report.worstLossSeconds!).toBeLessThanOrEqual(1 + 256 / 16000);
  }, 240_000);

  it('survives 80 power cuts while recording encrypted, taking markers, syncing, deleting and wiping (every .AGE decrypted by the stock age, no hold file left, recovered recordings signed, deleted only once verified and decrypted, no file key or recipient left by a wipe)', async () => {
    requireTool('age', 'age');
    requireTool('age-keygen', 'age');
    const out = tempDir('rec-power-age-report-');
    const r = await run(['--encrypted', '--cuts', '80', '--seed', String(process.env.REC_POWER_SEED ?? 7), '--per-sequence', '20', '--speed', '10', '--mix', 'recording=4,stop=2,sync=1,delete=1,marker=1,settings=1,wipe=1', '--out', out, '--quiet'], 260_000);
    const reportPath = join(out, 'power-campaign.json');
    expect(existsSync(reportPath), r.out.slice(-3000)).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report & { ageDecryptions: number; signedEncrypted: { recovered: number; stopped: number }; wipesDone: number; wipesNotBegun: number; wipeNvmScans: number };
    console.log(`power-campaign --encrypted: ${JSON.stringify({ cuts: report.cuts, byPhase: report.byPhase, worstLossSeconds: report.worstLossSeconds, recovered: report.recovered, ageDecryptions: report.ageDecryptions, signedEncrypted: report.signedEncrypted, markersChecked: report.markersChecked, markersInLibrary: report.markersInLibrary, markerCuts: report.markerCuts, deletesVerifiedThenCut: report.deletesVerifiedThenCut })}`);
    expect(report.failures, JSON.stringify(report.failures, null, 1)).toEqual([]);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(report.cuts).toBeGreaterThanOrEqual(80);
    for (const phase of ['recording', 'stop', 'sync', 'delete', 'marker', 'wipe', 'settings', 'recovery']) expect(report.byPhase[phase]!.cuts, phase).toBeGreaterThan(0);
    // The app's interrupted syncs (decrypting with the owner key) finished once the recorder was
    // back, and at least one delete run was cut after it had deleted a verified copy.
    expect(report.appIncomplete).toEqual([]);
    expect(report.deletesVerifiedThenCut).toBeGreaterThan(0);
    expectMarkersJudged(report);
    // Every wipe cut was judged: wiped (its flash scanned for the card's file keys, the recipient
    // gone) or not begun (the card and the recipient as before); at least one wiped.
    expect(report.wipesDone + report.wipesNotBegun).toBe(report.byPhase.wipe!.cuts);
    expect(report.wipesDone).toBeGreaterThan(0);
    expect(report.wipeNvmScans).toBe(report.wipesDone);
    expect(report.recovered).toBeGreaterThan(10);
    expect(report.ageDecryptions).toBeGreaterThan(report.recovered);
    expect(report.worstLossSeconds).not.toBeNull();
    expect(report.worstLossSeconds!).toBeLessThanOrEqual(1 + 256 / 8000);
    // The final syncs found recordings the recorder sealed after a power cut (each one with audio
    // must be signed, or the run has failures above).
    expect(report.signedEncrypted.recovered).toBeGreaterThan(0);
  }, 300_000);
});

/** Markers were made, judged on the card and named by the libraries; marker cuts all judged. */
function expectMarkersJudged(report: Report): void {
  expect(report.markersChecked).toBeGreaterThan(0);
  expect(report.markersInLibrary).toBeGreaterThan(0);
  expect(report.markerCuts.taken + report.markerCuts.notTaken + report.markerCutsNotRecording).toBe(report.byPhase.marker!.cuts);
}
