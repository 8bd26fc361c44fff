/**
 * The app driven by the real engine (the one `recorder` starts) against the fake device: what a
 * person sees after pressing v, counted from the engine's own events.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import { setup as engineSetup } from '../../engine/testing/harness.js';
import { App, defaultEngine } from '../app.js';
import { SETTLE, text } from './fixtures.js';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

/** Copies `count` recordings from a fake device into a fresh library; returns the library. */
async function library(count: number) {
  const h = engineSetup();
  for (let i = 0; i < count; i++) h.device.addRecording();
  const r = await h.engine.sync({ dest: h.dest });
  expect(r.copied).toHaveLength(count);
  const wavs = h.of('file.verified').map((e) => e.path);
  return { ...h, wavs };
}

async function pressV(dest: string, port: { path: string; opener: never }) {
  const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const engine = defaultEngine({ port: port.path, engineOptions: { open: port.opener, timeoutMs: 60, appVersion: 't' } });
  const ui = render(<App engine={engine} destination={dest} startWith="none" loadLevels={async () => []} utc />);
  await new Promise((r) => setTimeout(r, 20));
  ui.stdin.write('v');
  await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(/Library folder:/), SETTLE);
  const warnings = consoleError.mock.calls.map((c) => c.join(' ')).filter((m) => /same key/.test(m));
  return { frame: text(ui.lastFrame()), warnings };
}

describe('App with the real engine', () => {
  it('counts each copy once when checking the library (v)', async () => {
    const h = await library(3);
    const { frame, warnings } = await pressV(h.dest, h.device as never);
    expect(frame).toContain('✓ 3 recordings in your library match their fingerprints.');
    expect(frame).not.toContain('6 recordings');
    expect(warnings).toEqual([]);
  });

  it('reports one tampered copy once, and nothing as matching', async () => {
    const h = await library(1);
    const wav = h.wavs[0]!;
    const bytes = readFileSync(wav);
    bytes[bytes.length - 200]! ^= 0xff; // one byte of the audio, as an edit would
    writeFileSync(wav, bytes);
    const { frame, warnings } = await pressV(h.dest, h.device as never);
    expect(frame).not.toContain('match their fingerprints');
    expect(frame.match(/did not pass the check/g)).toHaveLength(1);
    expect(frame.match(/Recording 1\b/g) ?? []).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('drops a marker on m only while the recorder records, saying so either way', async () => {
    const h = engineSetup();
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const engine = defaultEngine({ port: h.device.path, engineOptions: { open: h.device.opener as never, timeoutMs: 60, appVersion: 't' } });
    const ui = render(<App engine={engine} startWith="none" loadLevels={async () => []} utc />);
    await new Promise((r) => setTimeout(r, 20));
    ui.stdin.write('m');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toContain('No marker was dropped: the recorder is not recording.'), SETTLE);
    expect(h.device.markers).toEqual([]);

    const started = await h.engine.record('start');
    ui.stdin.write('m');
    await vi.waitFor(() => expect(text(ui.lastFrame())).toMatch(new RegExp(`Marker 1 dropped at 0:0\\d in recording ${started.number}\\.`)), SETTLE);
    expect(h.device.markers).toHaveLength(1);
    // The mark's connection read the recorder afresh: the footer now offers m.
    expect(text(ui.lastFrame())).toContain('m mark');
  });
});
