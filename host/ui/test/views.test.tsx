import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import { DevicePanel } from '../components/DevicePanel.js';
import { RecordingsList, SPARK_WIDTH } from '../components/RecordingsList.js';
import { Progress, bar } from '../components/Progress.js';
import { SummaryView } from '../components/Summary.js';
import { NoticeView } from '../components/Notice.js';
import { JournalWarning } from '../components/JournalWarning.js';
import { ConfirmDelete } from '../components/ConfirmDelete.js';
import { Help } from '../components/Help.js';
import { Footer } from '../components/Footer.js';
import { Screen } from '../app.js';
import { initialState, reduce, type RecordingRow, type Summary, type TransferView, type UiState } from '../state.js';
import { noticeFor, unpluggedNotice, journalMissingSentence } from '../messages.js';
import { assertFits, device, ev, lines, recording, text, widest } from './fixtures.js';

afterEach(() => cleanup());

const CLOCK = { offsetMs: -3000, corrected: true, neverSet: false };
const LONG_PATH = '/home/sam/Documents/Family court/Recordings from the recorder/Kitchen table recorder 0123456789abcdef/2025-03-12';

function row(number: number, over: Partial<RecordingRow> = {}): RecordingRow {
  return {
    number,
    startUnixMs: Date.UTC(2025, 2, 12, 9 + number, 30),
    durationMs: 3_753_000,
    size: 1_000_000,
    status: 'on-device',
    stopReason: 'button',
    missingFromJournal: false,
    ...over,
  };
}

describe('width check helper', () => {
  it('fails on a line of 81 characters and passes at 80', () => {
    expect(() => assertFits('x'.repeat(81))).toThrow(/wider than 80/);
    expect(() => assertFits(`ok\n${'│'.repeat(80)}`)).not.toThrow();
    expect(widest('\u001b[31mabc\u001b[39m')).toBe(3);
  });
});

describe('DevicePanel', () => {
  it('shows a clear badge for a simulated recorder', () => {
    const { lastFrame } = render(<DevicePanel device={device({ simulated: true })} clock={CLOCK} connection="connected" port="/dev/pts/3" />);
    expect(text(lastFrame())).toContain('SIMULATED RECORDER (demo)');
    assertFits(lastFrame());
  });

  it('shows no badge for a real recorder', () => {
    const { lastFrame } = render(<DevicePanel device={device()} clock={CLOCK} connection="connected" port="/dev/ttyACM0" />);
    expect(text(lastFrame())).not.toContain('SIMULATED');
  });

  it('says who the recorder is, how full and charged, and the clock in plain words', () => {
    const { lastFrame } = render(<DevicePanel device={device()} clock={CLOCK} connection="connected" port="/dev/ttyACM0" />);
    const t = text(lastFrame());
    expect(t).toContain('Kitchen table recorder');
    expect(t).toContain('id 0123 4567 89ab cdef');
    expect(t).toContain('firmware 1.2.3');
    expect(t).toContain('Battery about 80%, about 6 h of recording (estimate)');
    expect(t).toContain('Card 12.3 GB free of 15.9 GB, about 9 h');
    expect(t).toContain('clock was 3 s slow, corrected');
    expect(t).toContain('not recording');
    assertFits(lastFrame());
  });

  it('says recording continues while copying, and a fast clock that was not corrected', () => {
    const { lastFrame } = render(
      <DevicePanel
        device={device({ recState: 'recording', currentNumber: 12, lowBattery: true, batteryMv: 3400, label: 'A very long label for the recorder!!' })}
        clock={{ offsetMs: 4 * 60_000, corrected: false, neverSet: false }}
        connection="connected"
        port={null}
      />,
    );
    const t = text(lastFrame());
    expect(t).toContain('Now recording now — recording continues while you copy');
    expect(t).toContain('clock was 4 min fast');
    expect(t).not.toContain('corrected');
    expect(t).toContain('low (about 10%), charge it soon');
    assertFits(lastFrame());
  });

  it('says what to do when no recorder is connected', () => {
    const { lastFrame } = render(<DevicePanel device={null} clock={CLOCK} connection="not-connected" port={null} />);
    expect(text(lastFrame())).toContain('No recorder connected yet. Plug it in with its USB cable, then press s.');
  });
});

describe('RecordingsList', () => {
  const rows: RecordingRow[] = [
    row(3, { status: 'verified', levels: [0, 0, 0, 0, 0.2, 1, 1, 0.4, 0, 0, 0, 0, 0, 0, 0, 0] }),
    row(4, { status: 'in-library' }),
    row(5, { status: 'copying', size: 1000, copied: 450 }),
    row(6, { status: 'failed', failure: { code: 'HASH_MISMATCH', reason: "the copy did not match the recorder's fingerprint", action: 'Press s to copy it again.' } }),
    row(7, { status: 'on-device', missingFromJournal: true }),
    row(8, { status: 'recording', startUnixMs: null, stopReason: 'none' }),
    row(9, { status: 'deleted', stopReason: 'low-battery' }),
  ];

  it('gives every recording one line with number, time, length, loudness and state', () => {
    const { lastFrame } = render(<RecordingsList recordings={rows} utc />);
    const ls = lines(lastFrame());
    const line = (n: number): string => ls.find((l) => l.startsWith(`#${n} `)) ?? '';
    expect(line(3)).toMatch(/^#3 +12 Mar 2025 12:30 +1:02:33 +▁▁▁▁▂██▄▁▁▁▁▁▁▁▁ +copied and verified$/);
    expect(line(4)).toMatch(/already in library$/);
    expect(line(5)).toMatch(/copying… 45%$/);
    expect(line(6)).toMatch(/FAILED — see below$/);
    expect(line(7)).toMatch(/on the recorder$/);
    expect(line(8)).toMatch(/^#8 +date not known .*recording now$/);
    expect(line(9)).toMatch(/copied, then deleted$/);
    // No loudness yet: a quiet placeholder of the same width, not a fake sparkline.
    expect(line(4)).toContain('·'.repeat(SPARK_WIDTH));
    assertFits(lastFrame());
  });

  it("says when the recorder's signature is pending, missing, or covers only part of a cut recording", () => {
    const sig = (status: 'signed' | 'pending' | 'unsigned', vouchedSamples: number | null = 100) => ({ status, keyId: status === 'unsigned' ? null : '00112233aabbccdd', vouchedSamples, sampleCount: 100 });
    const signedRows = [
      row(1, { status: 'verified', signature: sig('signed') }),
      row(2, { status: 'verified', signature: sig('pending', null) }),
      row(3, { status: 'verified', signature: sig('unsigned', null) }),
      row(4, { status: 'verified', signature: sig('signed', 80) }),
    ];
    const { lastFrame } = render(<RecordingsList recordings={signedRows} utc />);
    const t = text(lastFrame());
    expect(t).toContain('Signature pending: the recorder was still signing it.');
    expect(t).toContain('Not signed by the recorder (made without a signing key).');
    expect(t).toContain('signed while recording for the first 80%');
    expect(t.match(/Signature pending|Not signed|Cut off/g)).toHaveLength(3); // nothing said for the fully signed copy
    assertFits(lastFrame());
  });

  it('explains failures, journal gaps and unusual stops under the recording', () => {
    const { lastFrame } = render(<RecordingsList recordings={rows} utc />);
    const t = text(lastFrame());
    expect(t).toContain("The copy did not match the recorder's fingerprint. Press s to copy it again.");
    expect(t).toContain("! Not in the recorder's journal — see the warning below.");
    expect(t).toContain('stopped: battery ran low');
    assertFits(lastFrame());
  });

  it('shows the newest and any needing attention when there are many, and counts the rest', () => {
    const many = Array.from({ length: 30 }, (_, i) => row(i + 1, { status: 'verified' }));
    many[2] = row(3, { status: 'failed', failure: { code: 'TIMEOUT', reason: 'the recorder stopped answering', action: '' } });
    const { lastFrame } = render(<RecordingsList recordings={many} maxRows={5} utc />);
    const ls = lines(lastFrame());
    const shown = ls.filter((l) => l.startsWith('#')).map((l) => l.split(' ')[0]);
    expect(shown).toEqual(['#3', '#27', '#28', '#29', '#30']);
    expect(text(lastFrame())).toContain('25 earlier recordings not shown: 25 copied and verified');
    assertFits(lastFrame());
  });

  it('says when there is nothing to show', () => {
    const { lastFrame } = render(<RecordingsList recordings={[]} />);
    expect(lastFrame()).toContain('No recordings to show yet.');
  });
});

describe('Progress', () => {
  const t: TransferView = {
    numbers: [6, 7, 8, 9],
    totalBytes: 400_000_000,
    doneBytes: 100_000_000,
    doneFiles: 1,
    current: { number: 7, bytes: 50_000_000, total: 100_000_000 },
    rate: 1_250_000,
    fileEtaSeconds: 40,
  };

  it('shows this file and all files with rate and time left', () => {
    const { lastFrame } = render(<Progress transfer={t} />);
    const tx = text(lastFrame());
    expect(tx).toContain('Copying recording 7 (file 2 of 4)');
    expect(tx).toMatch(/This file [█░]+ 50% 50\.0 MB of 100 MB/);
    // 250 MB left at 1.25 MB/s is 200 s.
    expect(tx).toMatch(/All files [█░]+ 37% 1\.3 MB\/s, about 3 minutes left/);
    assertFits(lastFrame());
    // Each bar and its figures stay on one line (not wrapped) at 80 columns.
    const ls = lines(lastFrame());
    expect(ls.some((l) => /^This file +[█░]{10,} +50% +50\.0 MB of 100 MB$/.test(l))).toBe(true);
    expect(ls.some((l) => /^All files +[█░]{10,} +37% +1\.3 MB\/s, about 3 minutes left$/.test(l))).toBe(true);
  });

  it('does not guess the time left before the rate is known', () => {
    const { lastFrame } = render(<Progress transfer={{ ...t, rate: 0 }} recordingNow />);
    expect(text(lastFrame())).toContain('— MB/s, working it out');
    expect(text(lastFrame())).toContain('The recorder keeps recording while you copy; that is fine.');
  });

  it('draws bars of the asked width with the right fill', () => {
    expect(bar(0.5, 10)).toBe('█████░░░░░');
    expect(bar(2, 4)).toBe('████');
    expect(bar(Number.NaN, 3)).toBe('░░░');
  });
});

describe('SummaryView', () => {
  const sync: Summary = {
    kind: 'sync',
    ok: false,
    destination: LONG_PATH,
    stopped: null,
    copied: [6, 7, 9],
    alreadyHad: [1, 2, 3, 4, 5],
    failed: [{ number: 8, reason: 'the recorder was unplugged while copying' }],
    deleted: [],
    inProgress: [10],
    journal: 'gap',
    bytes: 123_400_000,
    elapsedMs: 90_000,
  };

  it('says what was copied, what was already there, what failed and where the files are', () => {
    const { lastFrame } = render(<SummaryView summary={sync} journalProblems={[journalMissingSentence(7)]} />);
    const t = text(lastFrame());
    expect(t).toContain('Copy finished, with problems');
    expect(t).toContain('✓ 3 recordings copied and verified (123 MB).');
    expect(t).toContain('• 5 already in your library (checked, not copied again).');
    expect(t).toContain('• Recording 10 is still being recorded; it will be copied next time.');
    expect(t).toContain('✗ 1 recording could not be copied: Recording 8: the recorder was unplugged while copying.');
    expect(t).toContain('Press s to try again. Anything not copied is still safe on the recorder.');
    expect(t).toContain('Your recordings are in:');
    // The long path wraps, but every part of it is there.
    expect(t.replace(/ /g, '')).toContain(LONG_PATH.replace(/ /g, ''));
    assertFits(lastFrame());
  });

  it('states journal problems loudly', () => {
    const { lastFrame } = render(<SummaryView summary={sync} journalProblems={[journalMissingSentence(7)]} />);
    const t = text(lastFrame());
    expect(t).toContain("IMPORTANT: the recorder's journal has a problem");
    expect(t).toContain(
      "Recording 7 is missing from the recorder's journal — it may have been deleted on another computer. Keep the recorder and contact your advocate.",
    );
    assertFits(lastFrame());
  });

  it('is calm when all went well', () => {
    const { lastFrame } = render(
      <SummaryView summary={{ ...sync, ok: true, failed: [], inProgress: [], copied: [], journal: 'ok' }} journalProblems={[]} />,
    );
    const t = text(lastFrame());
    expect(t).toContain('Copy finished');
    expect(t).not.toContain('problems');
    expect(t).toContain('Nothing new to copy: everything on the recorder is already in your library.');
    expect(t).not.toContain('IMPORTANT');
  });

  it('sums up a library check and a delete', () => {
    const v = render(<SummaryView summary={{ kind: 'verify', destination: '/lib', checked: [1, 2, 3], failed: [{ number: 4, reason: "the copy did not match the recorder's fingerprint" }] }} />);
    const vt = text(v.lastFrame());
    expect(vt).toContain('✓ 3 recordings in your library match their fingerprints.');
    expect(vt).toContain("✗ 1 recording did not pass the check: Recording 4: the copy did not match the recorder's fingerprint.");
    expect(vt).toContain('Do not delete anything from the recorder. Contact your advocate.');
    const d = render(<SummaryView summary={{ kind: 'delete', deleted: [1, 2], failed: [] }} />);
    expect(text(d.lastFrame())).toContain('✓ 2 recordings deleted from the recorder. The verified copies are in your library.');
    assertFits(v.lastFrame());
    assertFits(d.lastFrame());
  });
});

describe('messages', () => {
  it('words an unplugged recorder calmly, with what to do', () => {
    const { lastFrame } = render(<NoticeView notice={unpluggedNotice()} />);
    expect(text(lastFrame())).toBe('The recorder was unplugged. Plug it back in to continue — nothing has been lost.');
    assertFits(lastFrame());
  });

  it.each([
    ['NO_DEVICE', 'No recorder found. Plug the recorder into this computer with its USB cable, then press s.'],
    ['PORT_IN_USE', 'Another program is using the recorder. Close other recorder windows or programs, then press s to try again.'],
    ['DISK_FULL', "This computer's disk is full, so the copy was stopped. Free up space (or choose another folder), then press s. The recorder still has everything."],
  ] as const)('words %s plainly', (code, wording) => {
    const { lastFrame } = render(<NoticeView notice={noticeFor(code, 'engine words', 'engine action')} />);
    expect(text(lastFrame())).toBe(wording);
    assertFits(lastFrame());
  });

  it('shows nothing for no journal problems', () => {
    const { lastFrame } = render(<JournalWarning problems={[]} />);
    expect(lastFrame()).toBe('');
  });
});

describe('ConfirmDelete', () => {
  it('says how many, that each has a verified copy, and which key does what', () => {
    const { lastFrame } = render(<ConfirmDelete numbers={[7, 3, 5]} destination="/home/sam/Recordings" />);
    const t = text(lastFrame());
    expect(t).toContain('Delete 3 recordings from the recorder?');
    expect(t).toContain('Recordings: 3, 5, 7.');
    expect(t).toContain("Each one has a copy in your library that was checked against the recorder's own fingerprint (SHA-256).");
    expect(t).toContain('y yes, delete them n no, keep them');
    assertFits(lastFrame());
  });

  it('speaks of one recording in the singular', () => {
    const { lastFrame } = render(<ConfirmDelete numbers={[4]} destination="/l" />);
    const t = text(lastFrame());
    expect(t).toContain('Delete 1 recording from the recorder?');
    expect(t).toContain('It has a copy');
  });
});

describe('Help and Footer', () => {
  it('lists every key', () => {
    const { lastFrame } = render(<Help />);
    const t = text(lastFrame());
    for (const k of ['s Copy new recordings', 'v Check every copy', 'l Listen', 'm Mark this moment while the recorder records', 'd Delete recordings', 'h or ? Show or hide', 'q Quit. Ctrl-C also quits.']) expect(t).toContain(k);
    assertFits(lastFrame());
  });

  it('fits help over a connected recorder (the demo one, recording) in 80x24', () => {
    let s = reduce(initialState('/x'), { kind: 'event', event: ev({ type: 'device.info', port: '/dev/ttyACM0', device: device({ recState: 'recording', simulated: true }) }) });
    s = reduce(s, { kind: 'help', open: true });
    const { lastFrame } = render(<Screen state={s} width={80} utc />);
    assertFits(lastFrame());
    expect(lines(lastFrame()).length).toBeLessThanOrEqual(24);
  });

  it('shows the key hints that work now', () => {
    const normal = render(<Footer mode="normal" />);
    expect(text(normal.lastFrame())).toBe('s copy v check library l listen d delete h help q quit');
    expect(lines(normal.lastFrame())).toHaveLength(1);
    // While the recorder records: m too, still on one line of 80 columns.
    const recording = render(<Footer mode="normal-recording" width={80} />);
    expect(text(recording.lastFrame())).toBe('s copy v check l listen d delete m mark h help q quit');
    expect(lines(recording.lastFrame())).toHaveLength(1);
    assertFits(recording.lastFrame());
    const busy = render(<Footer mode="busy" />);
    expect(text(busy.lastFrame())).toBe('h help q stop and quit (safe)');
    const confirm = render(<Footer mode="confirm" />);
    expect(text(confirm.lastFrame())).toBe('y yes, delete n no, keep them');
    assertFits(normal.lastFrame());
  });
});

describe('whole screen', () => {
  function busyScreen(): UiState {
    const events = [
      ev({ type: 'device.info', port: '/dev/ttyACM0', device: device({ simulated: true, recState: 'recording', currentNumber: 99999, label: 'Recorder with a label of thirty!' }) }),
      ev({ type: 'clock.offset', offsetMs: -3000, roundTripMs: 4, deviceUnixMs: '1', hostUnixMs: '1', deviceClockWasSet: true }),
      ev({
        type: 'list.received',
        total: 3,
        recordings: [recording(99997, { durationMs: 36_000_000 }), recording(99998), recording(99999, { state: 'recording' })],
        toCopy: [99997, 99998],
        alreadyInLibrary: [],
        inProgress: [99999],
      }),
      ev({ type: 'file.started', number: 99997, fileName: 'f', path: '/p', size: 99_997_000_000, fromOffset: 0 }),
      ev({ type: 'file.progress', number: 99997, bytes: 12_345_678_901, total: 99_997_000_000, rate: 123_456_789, etaSeconds: 7000 }),
      ev({ type: 'error', code: 'UNSAFE_PATH', message: 'A file in the destination folder is a link, which is not safe to write through: ' + LONG_PATH, action: 'Choose another folder.' }),
    ];
    let s = reduce(initialState(LONG_PATH), { kind: 'task-started', task: 'sync' });
    for (const e of events) s = reduce(s, { kind: 'event', event: e });
    return s;
  }

  it('fits in 80 columns with the longest numbers, labels and messages', () => {
    const { lastFrame } = render(<Screen state={busyScreen()} width={80} utc />);
    assertFits(lastFrame());
    expect(text(lastFrame())).toContain('Copying recording 99997 (file 1 of 2)');
    // The row still reads as one line: number, date and state together.
    expect(lines(lastFrame()).some((l) => /^#99997 +7 Aug 2036 22:30 +10:00:00 +·{16} +copying… 12%$/.test(l))).toBe(true);
  });

  it('fits in 80 columns at the end, with a summary and journal problems', () => {
    let s = busyScreen();
    s = reduce(s, { kind: 'event', event: ev({ type: 'journal.checked', total: 3, fromIndex: 0, lastIndex: 2, chain: 'broken', gaps: [], problems: [{ kind: 'broken-chain', index: 1, message: 'The journal record 1 does not follow on from record 0' }] }) });
    s = reduce(s, { kind: 'event', event: ev({ type: 'sync.summary', ok: false, deviceId: 'x', label: 'x', destination: LONG_PATH, copied: [99997], alreadyHad: [], failed: [{ number: 99998, code: 'DISK_FULL', message: 'ENOSPC' }], deleted: [], inProgress: [99999], journal: 'broken', bytes: 99_997_000_000, elapsedMs: 1, message: 'done' }) });
    s = reduce(s, { kind: 'task-finished', task: 'sync' });
    const { lastFrame } = render(<Screen state={s} width={80} utc />);
    assertFits(lastFrame());
    const t = text(lastFrame());
    expect(t).toContain("Recording 99998: this computer's disk is full.");
    expect(t).toContain('The journal record 1 does not follow on from record 0. Keep the recorder and contact your advocate.');
    // The recorder is still recording here, so m (mark) is offered too, on the same one line.
    expect(t).toContain('s copy v check l listen d delete m mark h help q quit');
  });
});
