/**
 * A small library for the listening tests (issue 15): real WAV files of a tone that rises and
 * falls (so the loudness overview has a shape) with manifests as sync writes them, markers
 * included, from two recorders.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { excerptHeader } from '../../host/engine/export/excerpt.js';

export interface FixtureRecording {
  folder: string;
  deviceId: string;
  label: string;
  number: number;
  startUnixMs: number;
  seconds: number;
  markersMs: number[];
}

const RATE = 8000;

/** A mono 16-bit WAV: a 440 Hz tone whose loudness rises and falls every 10 s. */
export function toneWav(seconds: number, rate = RATE): Buffer {
  const n = seconds * rate;
  const data = Buffer.alloc(n * 2);
  for (let k = 0; k < n; k++) {
    const envelope = 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / (10 * rate));
    data.writeInt16LE(Math.round(20000 * envelope * Math.sin((2 * Math.PI * 440 * k) / rate)), k * 2);
  }
  return Buffer.concat([excerptHeader({ channels: 1, sampleRate: rate, bitsPerSample: 16 }, data.length), data]);
}

/** Writes the recording's WAV and manifest; returns the WAV's path. */
export function writeFixtureRecording(root: string, r: FixtureRecording): string {
  const dir = join(root, r.folder);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const base = `${new Date(r.startUnixMs).toISOString().slice(0, 10)}_${r.folder}_${r.number}`;
  const wav = toneWav(r.seconds);
  writeFileSync(join(dir, `${base}.wav`), wav, { mode: 0o600 });
  const manifest = {
    manifestVersion: 2,
    app: { name: 'evidence-recorder', version: '0.1.0' },
    file: { name: `${base}.wav`, size: wav.length, sha256: '0'.repeat(64) },
    device: { id: r.deviceId, label: r.label, model: 'ER-1', firmware: '1.0.0', simulated: true },
    recording: { number: r.number, deviceFileName: `REC${String(r.number).padStart(5, '0')}.WAV`, sampleRate: RATE, sampleCount: r.seconds * RATE, durationMs: r.seconds * 1000, durationText: '', sha256: '0'.repeat(64), dataOffset: 44, stopReason: 'button', overruns: 0, clockSet: true, recovered: false },
    times: { deviceStartUnixMs: String(r.startUnixMs), deviceStopUnixMs: String(r.startUnixMs + r.seconds * 1000), deviceStartIso: new Date(r.startUnixMs).toISOString(), deviceStopIso: null, hostEstimatedStartIso: null, copiedAtIso: new Date(r.startUnixMs).toISOString() },
    clock: { offsetMs: 0, roundTripMs: 1, deviceClockWasSet: true, measuredAtIso: null, deviceClockSetTo: null },
    journal: null,
    verification: { ok: true, verifiedAtIso: new Date(r.startUnixMs).toISOString(), sha256MatchesDevice: true, wavStructureOk: true, evidenceChunkOk: true, journalMatches: true, sampleCountMatches: true, problems: [] },
    markers: r.markersMs.map((ms, i) => ({ number: i + 1, sampleOffset: (ms * RATE) / 1000, timeMs: ms, label: `Marker ${i + 1}` })),
  };
  writeFileSync(join(dir, `${base}.json`), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  return join(dir, `${base}.wav`);
}

/** Two recorders, three recordings; the newest (Kitchen #2, 12 Mar 2025 10:00 UTC) has markers at 0:20 and 1:05. */
export function writeFixtureLibrary(root: string): { newest: string } {
  const day = (d: number, h: number) => Date.UTC(2025, 2, d, h);
  writeFixtureRecording(root, { folder: 'Kitchen', deviceId: '0123456789abcdef', label: 'Kitchen', number: 1, startUnixMs: day(10, 9), seconds: 30, markersMs: [] });
  const newest = writeFixtureRecording(root, { folder: 'Kitchen', deviceId: '0123456789abcdef', label: 'Kitchen', number: 2, startUnixMs: day(12, 10), seconds: 90, markersMs: [20_000, 65_000] });
  writeFixtureRecording(root, { folder: 'Office', deviceId: 'fedcba9876543210', label: 'Office', number: 5, startUnixMs: day(11, 15), seconds: 40, markersMs: [5_000] });
  return { newest };
}
