import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../engine/events.js';
import { EngineError } from '../../engine/errors.js';
import { markedNotice, markRefusedNotice } from '../messages.js';
import { deletableNumbers, initialState, isBusy, markBusyNotice, reduce, type UiAction, type UiState } from '../state.js';
import { device, ev, recording } from './fixtures.js';

const DEST = '/home/sam/Recordings';

function run(actions: (UiAction | EngineEvent)[], from: UiState = initialState(DEST)): UiState {
  return actions.reduce<UiState>((s, a) => reduce(s, 'kind' in a ? a : { kind: 'event', event: a }), from);
}

const started = (task: 'status' | 'sync' | 'verify' | 'delete'): UiAction => ({ kind: 'task-started', task });
const finishedSync = (s: UiState): UiState => reduce(s, { kind: 'task-finished', task: 'sync' });
const finished = (task: 'status' | 'sync' | 'verify' | 'delete', error?: string): UiAction => ({ kind: 'task-finished', task, error });

/** A recorder with recordings 5 (already in library), 6 and 7 (to copy) and 8 (recording now). */
function listed(): EngineEvent[] {
  return [
    ev({ type: 'device.connected', port: '/dev/ttyACM0' }),
    ev({ type: 'device.info', port: '/dev/ttyACM0', device: device() }),
    ev({
      type: 'list.received',
      total: 4,
      recordings: [recording(5), recording(6), recording(7), recording(8, { state: 'recording', sha256: '00'.repeat(32) })],
      toCopy: [6, 7],
      alreadyInLibrary: [5],
      inProgress: [8],
    }),
  ];
}

describe('state reducer', () => {
  it('starts with nothing connected and nothing to show', () => {
    const s = initialState(DEST);
    expect(s).toMatchObject({ connection: 'not-connected', device: null, recordings: [], task: null, summary: null, notice: null });
    expect(s.overlay).toEqual({ kind: 'none' });
  });

  it('shows the device and its recordings after INFO and LIST', () => {
    const s = run([started('status'), ...listed(), finished('status')]);
    expect(s.connection).toBe('connected');
    expect(s.port).toBe('/dev/ttyACM0');
    expect(s.device?.label).toBe('Kitchen table recorder');
    expect(s.recordings.map((r) => [r.number, r.status])).toEqual([
      [5, 'in-library'],
      [6, 'on-device'],
      [7, 'on-device'],
      [8, 'recording'],
    ]);
    expect(s.recordings[0]?.startUnixMs).toBe(Date.UTC(2025, 2, 12, 14, 30));
    expect(s.task).toBeNull();
    // A status look is not a copy: no transfer.
    expect(s.transfer).toBeNull();
  });

  it('has no start time for a recording made before the clock was set', () => {
    const s = run([
      ev({ type: 'list.received', total: 1, recordings: [recording(1, { clockSet: false })], toCopy: [1], alreadyInLibrary: [], inProgress: [] }),
    ]);
    expect(s.recordings[0]?.startUnixMs).toBeNull();
  });

  it('folds a whole copy into rows, progress and a summary', () => {
    let s = run([started('sync'), ...listed()]);
    expect(isBusy(s)).toBe(true);
    expect(s.transfer).toMatchObject({ numbers: [6, 7], totalBytes: 13_000_000, doneBytes: 0, doneFiles: 0, current: null });

    s = run(
      [
        ev({ type: 'file.started', number: 6, fileName: 'REC00006.WAV', path: `${DEST}/x/REC00006.WAV`, size: 6_000_000, fromOffset: 0 }),
        ev({ type: 'file.progress', number: 6, bytes: 3_000_000, total: 6_000_000, rate: 1_500_000, etaSeconds: 2 }),
      ],
      s,
    );
    expect(s.recordings.find((r) => r.number === 6)).toMatchObject({ status: 'copying', copied: 3_000_000 });
    expect(s.transfer).toMatchObject({ current: { number: 6, bytes: 3_000_000, total: 6_000_000 }, rate: 1_500_000, fileEtaSeconds: 2 });

    s = run(
      [
        ev({ type: 'file.verified', number: 6, path: `${DEST}/x/REC00006.WAV`, manifestPath: `${DEST}/x/REC00006.json`, sha256: 'ab'.repeat(32), durationMs: 62_000, alreadyPresent: false }),
        ev({ type: 'file.started', number: 7, fileName: 'REC00007.WAV', path: `${DEST}/x/REC00007.WAV`, size: 7_000_000, fromOffset: 0 }),
        ev({ type: 'file.failed', number: 7, code: 'DISCONNECTED', message: 'The device went away', action: 'Plug it in', partKept: null }),
      ],
      s,
    );
    expect(s.transfer).toMatchObject({ doneBytes: 13_000_000, doneFiles: 2, current: null });
    const r6 = s.recordings.find((r) => r.number === 6);
    const r7 = s.recordings.find((r) => r.number === 7);
    expect(r6).toMatchObject({ status: 'verified', path: `${DEST}/x/REC00006.WAV` });
    expect(r7).toMatchObject({ status: 'failed', failure: { code: 'DISCONNECTED', reason: 'the recorder was unplugged while copying', action: 'Plug it in' } });

    s = run(
      [
        ev({
          type: 'sync.summary',
          ok: false,
          deviceId: '0123456789abcdef',
          label: 'Kitchen table recorder',
          destination: DEST,
          copied: [6],
          alreadyHad: [5],
          failed: [{ number: 7, code: 'DISCONNECTED', message: 'The device went away' }],
          deleted: [],
          inProgress: [8],
          journal: 'ok',
          bytes: 6_000_000,
          elapsedMs: 4000,
          message: '1 copied, 1 failed',
        }),
        finished('sync'),
      ],
      s,
    );
    expect(s.task).toBeNull();
    expect(s.transfer).toBeNull();
    expect(s.summary).toEqual({
      kind: 'sync',
      ok: false,
      destination: DEST,
      stopped: null,
      copied: [6],
      alreadyHad: [5],
      failed: [{ number: 7, reason: 'the recorder was unplugged while copying' }],
      deleted: [],
      inProgress: [8],
      journal: 'ok',
      bytes: 6_000_000,
      elapsedMs: 4000,
    });
    expect(deletableNumbers(s)).toEqual([5, 6]);
  });

  it('marks a copy that was already in the library as such', () => {
    const s = run([
      started('sync'),
      ...listed(),
      ev({ type: 'file.verified', number: 6, path: '/p/6.wav', manifestPath: '/p/6.json', sha256: 'ab'.repeat(32), durationMs: 1, alreadyPresent: true }),
      ev({ type: 'file.skipped', number: 8, reason: 'in-progress', message: 'still recording' }),
    ]);
    expect(s.recordings.find((r) => r.number === 6)?.status).toBe('in-library');
    expect(s.recordings.find((r) => r.number === 8)?.status).toBe('recording');
  });

  it('resumes progress from where a file left off', () => {
    const s = run([
      started('sync'),
      ...listed(),
      ev({ type: 'file.started', number: 7, fileName: 'REC00007.WAV', path: '/p', size: 7_000_000, fromOffset: 4_000_000 }),
    ]);
    expect(s.transfer?.current).toEqual({ number: 7, bytes: 4_000_000, total: 7_000_000 });
    const r = run([ev({ type: 'file.restarted', number: 7, message: 'starting again' })], s);
    expect(r.transfer?.current?.bytes).toBe(0);
  });

  it('says the recorder was unplugged, and clears that once it is back', () => {
    let s = run([started('sync'), ...listed(), ev({ type: 'link.disconnected', port: '/dev/ttyACM0', message: 'gone' })]);
    expect(s.connection).toBe('unplugged');
    expect(s.notice).toMatchObject({ tone: 'warning', title: 'The recorder was unplugged.', action: 'Plug it back in to continue — nothing has been lost.' });
    s = run([ev({ type: 'link.reconnected', port: '/dev/ttyACM0', message: 'back' })], s);
    expect(s.connection).toBe('connected');
    expect(s.notice?.title).toBe('The recorder is back.');
  });

  it('says a wipe is done, or that its certificate does not prove it (issue 13)', () => {
    const done = { type: 'wipe.done', deviceId: '123456789abcdef0', state: 'done', method: 'sd-erase', blocksErased: 8, epoch: 2, certificatePath: '/l/wipe.json', message: 'Recorder Kitchen was wiped.' } as const;
    const ok = run([ev({ ...done, proven: true, problems: [] })]);
    expect(ok.notice).toMatchObject({ tone: 'info', title: 'Recorder Kitchen was wiped.', action: 'Keep the certificate with the hand-back papers.' });
    const unproven = run([ev({ ...done, proven: false, problems: ['it is signed by another key than the one pinned for this recorder'] })]);
    expect(unproven.notice).toMatchObject({ tone: 'warning', action: 'it is signed by another key than the one pinned for this recorder' });
  });

  it('puts its own plain words on common problems, and the engine’s on the rest', () => {
    const noDevice = run([ev({ type: 'error', code: 'NO_DEVICE', message: 'discovery found nothing', action: 'x' })]);
    expect(noDevice.notice?.title).toBe('No recorder found.');
    expect(noDevice.notice?.action).toMatch(/Plug the recorder into this computer/);
    const inUse = run([ev({ type: 'error', code: 'PORT_IN_USE', message: 'EBUSY', action: 'x' })]);
    expect(inUse.notice?.title).toBe('Another program is using the recorder.');
    const full = run([ev({ type: 'error', code: 'DISK_FULL', message: 'ENOSPC', action: 'x' })]);
    expect(full.notice).toMatchObject({ tone: 'error', title: "This computer's disk is full, so the copy was stopped." });
    // A recorder refused by its pinned key: what happened and what to do, in plain words.
    const impostor = run([ev({ type: 'error', code: 'WRONG_KEY', message: 'key 00.. is not the pinned key', action: 'x' })]);
    expect(impostor.notice).toMatchObject({ tone: 'error', title: expect.stringMatching(/not the one it claims to be.*Nothing was copied/), action: expect.stringMatching(/ask for advice/) });
    expect(run([ev({ type: 'error', code: 'JOURNAL_REPLAYED', message: 'm', action: 'x' })]).notice?.title).toMatch(/gone back in time/);
    const other = run([ev({ type: 'error', code: 'UNSAFE_PATH', message: 'The folder contains a link.', action: 'Pick another folder.' })]);
    expect(other.notice).toMatchObject({ title: 'The folder contains a link.', action: 'Pick another folder.' });
    // A state change replaces nothing it should not: a later INFO clears the no-device notice.
    expect(run([ev({ type: 'device.info', port: 'p', device: device() })], noDevice).notice).toBeNull();
  });

  it('keeps clock warnings in the device panel, not in a notice', () => {
    const s = run([
      ev({ type: 'clock.offset', offsetMs: -3200, roundTripMs: 8, deviceUnixMs: '1', hostUnixMs: '2', deviceClockWasSet: true }),
      ev({ type: 'warning', code: 'CLOCK_DRIFT', message: 'clock drift', action: '' }),
      ev({ type: 'clock.set', previousUnixMs: '1', previousSet: true, newUnixMs: '2', offsetMs: -3200 }),
    ]);
    expect(s.notice).toBeNull();
    expect(s.clock).toEqual({ offsetMs: -3200, corrected: true, neverSet: false });
  });

  it('states journal problems loudly, in the engine’s message forms, and marks the recording', () => {
    const s = run([
      started('sync'),
      ...listed(),
      ev({
        type: 'journal.checked',
        total: 8,
        fromIndex: 0,
        lastIndex: 7,
        chain: 'broken',
        gaps: [{ kind: 'missing-record', index: 2, message: `recording 4 is in the journal but is neither on the recorder nor in ${DEST}` }],
        problems: [
          { kind: 'missing-record', message: 'recording 7 has no journal record' },
          { kind: 'broken-chain', index: 3, message: 'journal record 3 does not link to record 2' },
        ],
      }),
      // The engine restates the check as an error and a warning; they add nothing new.
      ev({ type: 'error', code: 'JOURNAL_BROKEN', message: "The recorder's journal check FAILED: ...", action: 'Keep it.' }),
      ev({ type: 'warning', code: 'JOURNAL_GAP', message: "The recorder's journal has gaps: ...", action: '' }),
    ]);
    expect(s.recordings.find((r) => r.number === 7)?.missingFromJournal).toBe(true);
    expect(s.recordings.find((r) => r.number === 6)?.missingFromJournal).toBe(false);
    // Recording 4 is not on the recorder: no row is invented for it.
    expect(s.recordings.some((r) => r.number === 4)).toBe(false);
    expect(s.journalProblems).toEqual([
      "Recording 4 is missing from the recorder's journal — it may have been deleted on another computer. Keep the recorder and contact your advocate.",
      'Recording 7 is on the recorder but missing from its journal, so the recorder cannot vouch for it. Keep the recorder and contact your advocate.',
      'Journal record 3 does not link to record 2. Keep the recorder and contact your advocate.',
    ]);
    expect(s.notice).toBeNull();
    // The next copy checks the journal afresh.
    expect(reduce(finishedSync(s), started('sync')).journalProblems).toEqual([]);
  });

  it('uses a number field on a journal problem when the engine gives one', () => {
    const s = run([
      ev({ type: 'journal.checked', total: 1, fromIndex: 0, lastIndex: 0, chain: 'ok', gaps: [{ kind: 'gap', message: 'a record is missing', number: 12 } as never], problems: [] }),
    ]);
    expect(s.journalProblems[0]).toMatch(/^Recording 12 is missing from the recorder's journal/);
  });

  it('lists a journal warning that comes without a check', () => {
    const s = run([ev({ type: 'warning', code: 'JOURNAL_MISSING', message: 'recording 3 was copied but the journal does not vouch for it', action: '' })]);
    expect(s.journalProblems).toEqual(['Recording 3 was copied but the journal does not vouch for it. Keep the recorder and contact your advocate.']);
  });

  it('says when a copy stopped early rather than blaming "recording 0"', () => {
    const s = run([
      started('sync'),
      ...listed(),
      ev({ type: 'error', code: 'TIMEOUT', message: 'The recorder stopped answering.', action: 'Unplug it.' }),
      ev({
        type: 'sync.summary',
        ok: false,
        deviceId: 'x',
        label: 'x',
        destination: DEST,
        copied: [],
        alreadyHad: [],
        failed: [{ number: 0, code: 'TIMEOUT', message: 'The recorder stopped answering.' }],
        deleted: [],
        inProgress: [],
        journal: 'not-checked',
        bytes: 0,
        elapsedMs: 1,
        message: 'x',
      }),
      finished('sync', 'That did not work: timeout.'),
    ]);
    expect(s.summary).toMatchObject({ kind: 'sync', stopped: 'the recorder stopped answering', failed: [] });
    // The engine's event wording is kept over the bare rejection message.
    expect(s.notice?.title).toBe('The recorder stopped answering.');
    expect(s.destination).toBe(DEST);
  });

  it('asks before deleting, only when everything is copied, and only about verified copies', () => {
    const recs = [recording(5), recording(6), recording(7, { state: 'recording' })];
    const base = run([ev({ type: 'list.received', total: 3, recordings: recs, toCopy: [6], alreadyInLibrary: [5], inProgress: [7] })]);

    // 6 is not copied yet: copy first.
    const notYet = reduce(base, { kind: 'ask-delete' });
    expect(notYet.overlay).toEqual({ kind: 'none' });
    expect(notYet.notice).toMatchObject({
      title: 'One recording on the recorder has no verified copy that the app knows of yet.',
      action: 'Press s first (it copies anything new and checks your library); then d deletes the copied ones.',
    });

    // Nothing at all in the library.
    const none = run([ev({ type: 'list.received', total: 1, recordings: [recording(7, { state: 'recording' })], toCopy: [], alreadyInLibrary: [], inProgress: [7] })]);
    expect(reduce(none, { kind: 'ask-delete' }).notice?.title).toBe('Nothing to delete: no recording on the recorder has a verified copy yet.');

    // A copy the recorder has not finished signing is not offered for deletion.
    const pending = run([ev({ type: 'file.verified', number: 6, path: '/p', manifestPath: '/m', sha256: 'ab'.repeat(32), durationMs: 1, alreadyPresent: false, signature: { status: 'pending', keyId: '00112233aabbccdd', vouchedSamples: null, sampleCount: 1 } })], base);
    expect(pending.recordings.find((r) => r.number === 6)!.signature!.status).toBe('pending');
    expect(reduce(pending, { kind: 'ask-delete' }).overlay).toEqual({ kind: 'confirm-delete', numbers: [5] });

    let s = run([ev({ type: 'file.verified', number: 6, path: '/p', manifestPath: '/m', sha256: 'ab'.repeat(32), durationMs: 1, alreadyPresent: false })], base);
    s = reduce(s, { kind: 'ask-delete' });
    expect(s.overlay).toEqual({ kind: 'confirm-delete', numbers: [5, 6] });
    expect(reduce(s, { kind: 'answer-delete', yes: false }).overlay).toEqual({ kind: 'none' });

    s = run(
      [
        started('delete'),
        ev({ type: 'file.deleted', number: 5, message: 'ok' }),
        ev({ type: 'file.failed', number: 6, code: 'DELETE_REFUSED', message: 'the recorder refused', action: '', partKept: null }),
        finished('delete'),
      ],
      s,
    );
    expect(s.summary).toEqual({ kind: 'delete', deleted: [5], failed: [{ number: 6, reason: 'the recorder refused' }] });
    expect(s.recordings.find((r) => r.number === 5)?.status).toBe('deleted');
    // A fresh list without 5 keeps it visible as deleted.
    s = run([ev({ type: 'list.received', total: 1, recordings: [recording(6)], toCopy: [], alreadyInLibrary: [6], inProgress: [] })], s);
    expect(s.recordings.map((r) => [r.number, r.status])).toEqual([
      [5, 'deleted'],
      [6, 'in-library'],
    ]);
  });

  it('refuses to start a delete while copying', () => {
    const s = reduce(run([started('sync'), ...listed()]), { kind: 'ask-delete' });
    expect(s.overlay.kind).toBe('none');
    expect(s.notice).toMatchObject({ code: 'BUSY', title: 'Still copying.' });
  });

  it('sums up a library check', () => {
    const s = run([
      started('verify'),
      ev({ type: 'file.verified', number: 1, path: '/l/1.wav', manifestPath: '/l/1.json', sha256: 'ab'.repeat(32), durationMs: 5000, alreadyPresent: true }),
      ev({ type: 'file.verified', number: 2, path: '/l/2.wav', manifestPath: '/l/2.json', sha256: 'cd'.repeat(32), durationMs: 5000, alreadyPresent: true }),
      ev({ type: 'file.failed', number: 3, code: 'HASH_MISMATCH', message: 'hash differs', action: '', partKept: null }),
      finished('verify'),
    ]);
    expect(s.summary).toEqual({
      kind: 'verify',
      destination: DEST,
      checked: [1, 2],
      failed: [{ number: 3, reason: "the copy did not match the recorder's fingerprint" }],
    });
    expect(s.recordings.map((r) => [r.number, r.status, r.durationMs])).toEqual([
      [1, 'verified', 5000],
      [2, 'verified', 5000],
      [3, 'failed', 0],
    ]);
  });

  it('says when an operation could not run, and resets rows left half-copied', () => {
    const s = run([
      started('sync'),
      ...listed(),
      ev({ type: 'file.started', number: 6, fileName: 'f', path: '/p', size: 6_000_000, fromOffset: 0 }),
      finished('sync', 'That did not work: port closed.'),
    ]);
    expect(s.notice).toMatchObject({ tone: 'error', title: 'That did not work: port closed.' });
    expect(s.recordings.find((r) => r.number === 6)?.status).toBe('on-device');
    expect(s.task).toBeNull();
  });

  it('ignores the end of an operation that is not the one running', () => {
    const s = run([started('sync')]);
    expect(reduce(s, finished('verify'))).toBe(s);
  });

  it('stores loudness levels, opens and closes help, and never mutates the old state', () => {
    const before = run(listed());
    const snapshot = JSON.stringify(before);
    const after = run([{ kind: 'levels', number: 6, levels: [0, 0.5, 1] }, { kind: 'help', open: true }], before);
    expect(after.recordings.find((r) => r.number === 6)?.levels).toEqual([0, 0.5, 1]);
    expect(after.overlay).toEqual({ kind: 'help' });
    expect(reduce(after, { kind: 'help', open: false }).overlay).toEqual({ kind: 'none' });
    expect(JSON.stringify(before)).toBe(snapshot);
  });

  it('follows the recorder starting to record while connected', () => {
    const s = run([...listed(), ev({ type: 'device.state', recState: 'recording', cardState: 'ok', number: 9, samples: 100 })]);
    expect(s.device).toMatchObject({ recState: 'recording', currentNumber: 9 });
  });
});

describe('what the screen says about a marker (key m)', () => {
  const refusedBy = (code: string, detail = 0) => new EngineError('DEVICE_ERROR', 'engine words', 'engine action', { code, value: 1, detail, text: '' });

  it('names the marker, its time in the recording and the recording', () => {
    expect(markedNotice({ number: 4, marker: 2, timeMs: 3_722_999 })).toMatchObject({ tone: 'info', title: 'Marker 2 dropped at 1:02:02 in recording 4.', code: 'MARKED' });
  });

  it("says in the app's words why the recorder refused", () => {
    expect(markRefusedNotice(refusedBy('BAD_STATE')).title).toBe('No marker was dropped: the recorder is not recording.');
    expect(markRefusedNotice(refusedBy('MARKERS_FULL', 99)).title).toBe('No marker was dropped: this recording already holds the most markers it can (99).');
    expect(markRefusedNotice(refusedBy('MARKERS_FULL', 99)).action).toMatch(/^It goes on recording\./);
    expect(markRefusedNotice(refusedBy('UNKNOWN_COMMAND')).title).toBe("No marker was dropped: this recorder's software is older than markers.");
    expect(markRefusedNotice(new EngineError('NO_DEVICE', 'No recorder found.')).title).toBe('No marker was dropped: no recorder is connected.');
    expect(markRefusedNotice(new EngineError('PORT_IN_USE', 'busy')).title).toBe('No marker was dropped: another program is using the recorder.');
  });

  it('does not claim no marker was dropped when the answer was lost', () => {
    for (const code of ['TIMEOUT', 'DISCONNECTED'] as const) {
      const n = markRefusedNotice(new EngineError(code, 'x'));
      expect(n.title).toBe('The recorder stopped answering, so the app cannot tell whether the marker was dropped.');
    }
  });

  it("falls back to the engine's words, and to the button, for anything else", () => {
    expect(markRefusedNotice(new EngineError('CARD_PROBLEM', 'The card failed', 'Keep the recorder.'))).toMatchObject({ title: 'No marker was dropped. The card failed.', action: 'Keep the recorder.' });
    expect(markRefusedNotice('link lost')).toMatchObject({ title: 'No marker was dropped. link lost.', action: "Or press the recorder's button briefly: that marks the moment too." });
  });

  it('says which work of the app holds the recorder', () => {
    expect(markBusyNotice('sync').title).toBe('No marker was dropped: the app is still copying from the recorder.');
    expect(markBusyNotice('delete').title).toBe('No marker was dropped: the app is still deleting from the recorder.');
    expect(markBusyNotice('status').title).toBe('No marker was dropped: the app is still reading the recorder.');
  });
});
