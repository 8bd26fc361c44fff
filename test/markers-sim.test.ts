/**
 * Markers end to end (issue 15): the real firmware in the simulator, the built `recorder` CLI over
 * a real pseudo-terminal. A recording is started with the button, marked from the app (MARK), with
 * a short press (a touch while recording marks, never stops), and from the app again, then stopped
 * with the long hold. The markers must be at the same sample offsets in the WAV's cue chunk, the
 * manifest and the journal; ffprobe and sox read the file; an excerpt from marker 1 to marker 2 is
 * an exact slice, and the sox, ffmpeg and dd commands of its provenance note, run as written,
 * print the hashes the note gives; the Audacity label track and the WebVTT file parse. The same for
 * an encrypted recording, decrypted by the app with the library's owner key.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CARD_LAYOUT } from '../protocol/src/schema.js';
import { entryFromRaw, journalMarkers, JOURNAL_RECORD_SIZE } from '../host/engine/journal.js';
import { parseWebVtt, webVttProblems } from '../host/engine/notes.js';
import { expectRamp } from './support/recording.js';
import { cardJournal, command, jsonLines, sha256, sleep } from './support/reliability.js';
import { CLI, requireSimulator, requireTool, runCli, sh, startSim, stopAll, tempDir, type Sim } from './support/sim.js';

beforeAll(() => {
  requireSimulator();
  for (const [tool, pkg] of [['ffmpeg', 'ffmpeg'], ['ffprobe', 'ffmpeg'], ['sox', 'sox'], ['soxi', 'sox'], ['mcopy', 'mtools'], ['sha256sum', 'coreutils']] as const) requireTool(tool, pkg);
  if (!existsSync(CLI)) throw new Error(`the app is not built at ${CLI}: run npm run build (npm test does)`);
});
afterEach(stopAll);

interface Marker {
  number: number;
  sampleOffset: number;
  timeMs: number;
  label: string;
}

/** The cue points and their labl labels of a WAV, read here without the app's parser. */
function cuePoints(file: Buffer): { id: number; sampleOffset: number; label: string }[] {
  const points: { id: number; sampleOffset: number }[] = [];
  const labels = new Map<number, string>();
  for (let off = 12; off + 8 <= file.length; ) {
    const id = file.toString('latin1', off, off + 4);
    const size = file.readUInt32LE(off + 4);
    const body = file.subarray(off + 8, off + 8 + size);
    if (id === 'cue ') {
      for (let i = 0; i < body.readUInt32LE(0); i++) {
        const p = body.subarray(4 + 24 * i, 28 + 24 * i);
        expect(p.toString('latin1', 8, 12)).toBe('data');
        expect(p.readUInt32LE(4)).toBe(p.readUInt32LE(20)); // dwPosition = dwSampleOffset
        points.push({ id: p.readUInt32LE(0), sampleOffset: p.readUInt32LE(20) });
      }
    } else if (id === 'LIST' && body.toString('latin1', 0, 4) === 'adtl') {
      for (let o = 4; o + 8 <= body.length; ) {
        const sub = body.toString('latin1', o, o + 4);
        const n = body.readUInt32LE(o + 4);
        if (sub === 'labl') labels.set(body.readUInt32LE(o + 8), body.toString('latin1', o + 12, o + 8 + n).replace(/\0+$/, ''));
        o += 8 + n + (n & 1);
      }
    }
    off += 8 + size + (size & 1);
  }
  return points.map((p) => ({ ...p, label: labels.get(p.id) ?? '' }));
}

/** Stops the recording with the long hold, then syncs until the recorder has signed it (the first sync may find it still signing). */
async function stopAndSync(sim: Sim, cli: (args: string[]) => ReturnType<typeof runCli>, lib: string): Promise<void> {
  const from = sim.stdout.length;
  await command(sim, 'stop');
  await sim.waitFor(/^mic off/, 20_000, from);
  for (let attempt = 1; ; attempt++) {
    const s = await cli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    if (!s.stdout.includes('"code":"SIGNATURE_PENDING"')) return;
    if (attempt === 20) throw new Error('the recorder did not sign its recording');
    await sleep(250);
  }
}

const run = (cmd: string, args: string[], cwd?: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 30_000 });

describe('markers against the simulator', () => {
  it('button and app markers land at the same samples in the WAV, manifest and journal; excerpt, labels and WebVTT check out', async () => {
    const dir = tempDir();
    const lib = join(dir, 'library');
    const speed = 10;
    const sim = await startSim({ dir, sizeMb: 64, speed });

    // The first sync provisions the new recorder's signing key (and pins it), so it signs what follows.
    const first = await runCli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    expect(first.code, first.stderr).toBe(0);

    // Marking before a recording is refused in words.
    const early = await runCli(['mark', '--port', sim.link]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/not recording, so there is nothing to mark/);

    // start (a press), MARK from the app, a short press (a marker, not a stop), MARK again, stop (the long hold)
    const from = sim.stdout.length;
    sim.send('press');
    await sim.waitFor(/^mic on/, 20_000, from);
    await sleep(400);
    const a = await runCli(['mark', '--port', sim.link, '--json']);
    expect(a.code, a.stderr).toBe(0);
    const markA = jsonLines(a.stdout).at(-1) as { ok: boolean; number: number; marker: number; sampleOffset: number; sampleRate: number };
    expect(markA).toMatchObject({ ok: true, marker: 1 });
    await sleep(200);
    await command(sim, 'press');
    await sleep(200);
    const c = await runCli(['mark', '--port', sim.link]);
    expect(c.code, c.stderr).toBe(0);
    const plain = /^Marker 3 dropped in recording (\d+) at (\d+):(\d\d):(\d\d)\.(\d{3}) \(sample (\d+)\)\.$/m.exec(c.stdout);
    expect(plain, c.stdout).not.toBeNull();
    const offsetC = Number(plain![6]);
    expect(Number(plain![1])).toBe(markA.number);
    await sleep(300);
    await stopAndSync(sim, runCli, lib);
    // the rest needs no recorder; the card image is read once the simulator has shut down
    expect(await sim.quit()).toBe(0);
    const jsonName = readdirSync(lib).find((n) => n.endsWith(`_${markA.number}.json`))!;
    const manifest = JSON.parse(readFileSync(join(lib, jsonName), 'utf8')) as { file: { name: string; sha256: string }; recording: { sampleRate: number; sampleCount: number; sha256: string }; markers: Marker[]; evidence: { keyId: string; statement: Record<string, string> } };
    const rate = manifest.recording.sampleRate;
    const markers = manifest.markers;
    // three markers, in order; the app's at the offsets MARK answered; the press between them
    expect(markers.map((m) => m.number)).toEqual([1, 2, 3]);
    expect(markers[0]!.sampleOffset).toBe(markA.sampleOffset);
    expect(markers[2]!.sampleOffset).toBe(offsetC);
    expect(markers[0]!.sampleOffset).toBeLessThan(markers[1]!.sampleOffset);
    expect(markers[1]!.sampleOffset).toBeLessThan(markers[2]!.sampleOffset);
    expect(markers[2]!.sampleOffset).toBeLessThan(manifest.recording.sampleCount);
    for (const m of markers) {
      expect(m.timeMs).toBe(Math.floor((m.sampleOffset * 1000) / rate));
      expect(m.label).toBe(`Marker ${m.number}`);
    }

    // the WAV's cue/adtl chunks say the same; ffprobe and sox read it with every sample
    const wavPath = join(lib, manifest.file.name);
    const wav = readFileSync(wavPath);
    expect(sha256(wav)).toBe(manifest.file.sha256);
    expect(cuePoints(wav)).toEqual(markers.map((m) => ({ id: m.number, sampleOffset: m.sampleOffset, label: m.label })));
    const probe = run('ffprobe', ['-v', 'error', '-show_entries', 'stream=sample_rate,duration_ts', '-of', 'json', wavPath]);
    expect(probe.status, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout).streams[0]).toMatchObject({ sample_rate: String(rate), duration_ts: manifest.recording.sampleCount });
    const soxi = run('soxi', ['-s', wavPath]);
    expect(soxi.status, soxi.stderr).toBe(0);
    expect(Number(soxi.stdout.trim())).toBe(manifest.recording.sampleCount);

    // the journal on the card has one MARKER record per marker, at the same offsets
    const journal = cardJournal(sim.image, dir);
    const entries = Array.from({ length: journal.length / JOURNAL_RECORD_SIZE }, (_, i) => entryFromRaw(journal.subarray(i * JOURNAL_RECORD_SIZE, (i + 1) * JOURNAL_RECORD_SIZE), i));
    expect(journalMarkers(entries, markA.number).map((j) => [j.marker, j.sampleOffset])).toEqual(markers.map((m) => [m.number, m.sampleOffset]));

    // an excerpt from marker 1 to marker 2
    const out = join(dir, 'for the advocate');
    const x = await runCli(['excerpt', wavPath, '--from-marker', '1', '--to-marker', '2', '--out', out, '--json']);
    expect(x.code, x.stderr).toBe(0);
    const result = jsonLines(x.stdout).at(-1) as { wav: string; note: string; json: string; provenance: { excerpt: { sha256: string; audioSha256: string; firstSample: number; sampleCount: number; byteOffset: number }; original: { sha256: string }; recorder: { keyId: string; statementLine: string }; commands: { tool: string; run: string; prints: string }[] } };
    const p = result.provenance;
    expect(p.excerpt).toMatchObject({ firstSample: markers[0]!.sampleOffset, sampleCount: markers[1]!.sampleOffset - markers[0]!.sampleOffset });
    const excerpt = readFileSync(result.wav);
    expect(sha256(excerpt)).toBe(p.excerpt.sha256);
    expect(excerpt.subarray(44).equals(wav.subarray(CARD_LAYOUT.wavDataOffset + 2 * p.excerpt.firstSample, CARD_LAYOUT.wavDataOffset + 2 * (p.excerpt.firstSample + p.excerpt.sampleCount)))).toBe(true);
    expectRamp(excerpt.subarray(44), excerpt.readUInt16LE(44));
    expect(p.original.sha256).toBe(manifest.file.sha256);
    expect(p.recorder.keyId).toBe(manifest.evidence.keyId);
    expect(p.recorder.statementLine).toBe(`SHA256 (REC${String(markA.number).padStart(5, '0')}.WAV) = ${manifest.file.sha256}`);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    for (const f of [result.wav, result.note, result.json]) expect(statSync(f).mode & 0o777).toBe(0o600);
    // the note's commands, run as written in a folder holding the original and the excerpt
    const check = join(dir, 'check');
    mkdirSync(check);
    copyFileSync(wavPath, join(check, basename(wavPath)));
    copyFileSync(result.wav, join(check, basename(result.wav)));
    expect(p.commands.map((k) => k.tool).sort()).toEqual(['dd', 'ffmpeg', 'sha256sum', 'sha256sum', 'sox', 'tail']);
    const note = readFileSync(result.note, 'utf8');
    for (const k of p.commands) {
      expect(note).toContain(k.run);
      const r = sh(check, k.run);
      expect(r.status, `${k.run}\n${r.out}`).toBe(0);
      expect(r.out, k.run).toMatch(new RegExp(`^${k.prints}\\b`, 'm'));
    }
    const reSox = readFileSync(join(check, 'excerpt-by-sox.wav'));
    const reFfmpeg = readFileSync(join(check, 'excerpt-by-ffmpeg.wav'));
    expect(reSox.equals(excerpt)).toBe(true);
    expect(reFfmpeg.equals(excerpt)).toBe(true);

    // a note on marker 2, then the Audacity label track and the WebVTT file
    const n = await runCli(['notes', wavPath, '--marker', '2', '--text', 'she said --> "we never got the letter"']);
    expect(n.code, n.stderr).toBe(0);
    const mf = await runCli(['markers', wavPath, '--audacity', '--webvtt', '--out', out, '--json']);
    expect(mf.code, mf.stderr).toBe(0);
    const files = jsonLines(mf.stdout).at(-1) as { audacity: string; webvtt: string };
    const labels = readFileSync(files.audacity, 'utf8').split('\n').filter(Boolean);
    expect(labels).toHaveLength(3);
    labels.forEach((line, i) => {
      const f = /^(\d+\.\d{6})\t(\d+\.\d{6})\t(.+)$/.exec(line);
      expect(f, line).not.toBeNull();
      expect(f![1]).toBe(f![2]);
      expect(Math.abs(Number(f![1]) - markers[i]!.sampleOffset / rate)).toBeLessThan(1e-6);
      expect(f![3]).toBe(i === 1 ? 'she said --> "we never got the letter"' : `Marker ${i + 1}`);
    });
    const vtt = readFileSync(files.webvtt, 'utf8');
    expect(webVttProblems(vtt)).toEqual([]);
    const cues = parseWebVtt(vtt).flatMap((b) => (b.kind === 'cue' ? [b] : []));
    expect(cues.map((q) => q.id)).toEqual(['marker-1', 'marker-2', 'marker-3']);
    expect(cues.map((q) => q.startMs)).toEqual(markers.map((m) => m.timeMs));
    expect(cues[1]!.text).toBe('she said --&gt; "we never got the letter"');
    expect(cues[2]!.endMs).toBe(Math.floor((manifest.recording.sampleCount * 1000) / rate));

    // the library still verifies (markers, notes file and all)
    const v = await runCli(['verify', lib, '--json']);
    expect(v.code, v.stdout.slice(-2000)).toBe(0);
  });
  it('an encrypted recording: markers in the manifest once the app has decrypted it; the excerpt is cut from the decrypted WAV and says so', async () => {
    const dir = tempDir('rec-markers-enc-');
    const root = join(dir, 'library');
    const lib = join(root, 'Kitchen');
    const cli = (args: string[]) => runCli(args, 120_000, { HOME: dir });
    const made = await cli(['keys', 'new', '--library', root]);
    expect(made.code, made.stdout + made.stderr).toBe(0);
    const sim = await startSim({ dir, sizeMb: 64, speed: 10 });
    const first = await cli(['sync', '--port', sim.link, '--dest', lib, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const set = await cli(['recipient', 'set', '--library', root, '--port', sim.link]);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    const from = sim.stdout.length;
    sim.send('press');
    await sim.waitFor(/^mic on/, 20_000, from);
    await sleep(300);
    await command(sim, 'press');
    await sleep(300);
    const m = await cli(['mark', '--port', sim.link, '--json']);
    expect(m.code, m.stderr).toBe(0);
    const mark = jsonLines(m.stdout).at(-1) as { marker: number; sampleOffset: number };
    expect(mark.marker).toBe(2);
    await sleep(200);
    await stopAndSync(sim, cli, lib);
    expect(await sim.quit()).toBe(0);
    const manifest = JSON.parse(readFileSync(join(lib, readdirSync(lib).find((n) => /_1\.json$/.test(n))!), 'utf8')) as { file: { name: string }; encryption: { derived: { name: string; sha256: string } | null }; markers: Marker[] };
    expect(manifest.file.name).toMatch(/_1\.age$/);
    expect(manifest.encryption.derived).not.toBeNull();
    expect(manifest.markers.map((x) => x.number)).toEqual([1, 2]);
    expect(manifest.markers[1]!.sampleOffset).toBe(mark.sampleOffset);
    expect(manifest.markers[0]!.sampleOffset).toBeLessThan(mark.sampleOffset);
    const wav = readFileSync(join(lib, manifest.encryption.derived!.name));
    expect(cuePoints(wav).map((q) => q.sampleOffset)).toEqual(manifest.markers.map((x) => x.sampleOffset));

    const x = await cli(['excerpt', join(lib, manifest.file.name), '--from-marker', '1', '--json']);
    expect(x.code, x.stderr).toBe(0);
    const r = jsonLines(x.stdout).at(-1) as { wav: string; note: string; provenance: { original: { fileName: string; sha256: string; decryptedFrom: { fileName: string } | null }; excerpt: { firstSample: number; sampleCount: number }; commands: { tool: string; run: string; prints: string }[] } };
    expect(r.provenance.original).toMatchObject({ fileName: manifest.encryption.derived!.name, sha256: manifest.encryption.derived!.sha256, decryptedFrom: { fileName: manifest.file.name } });
    expect(r.provenance.excerpt).toMatchObject({ firstSample: manifest.markers[0]!.sampleOffset, sampleCount: mark.sampleOffset - manifest.markers[0]!.sampleOffset });
    expect(readFileSync(r.note, 'utf8')).toContain('(the decrypted WAV of an encrypted recording)');
    const check = join(dir, 'check');
    mkdirSync(check);
    copyFileSync(join(lib, r.provenance.original.fileName), join(check, r.provenance.original.fileName));
    const sox = r.provenance.commands.find((k) => k.tool === 'sox')!;
    const out = sh(check, sox.run);
    expect(out.status, out.out).toBe(0);
    expect(out.out).toMatch(new RegExp(`^${sox.prints}\\b`, 'm'));
    expect(readFileSync(join(check, 'excerpt-by-sox.wav')).equals(readFileSync(r.wav))).toBe(true);
  });
});
