/** Views of encryption (issue 13): recordings and a recorder that do not encrypt are marked plainly. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import { DevicePanel } from '../components/DevicePanel.js';
import { RecordingsList } from '../components/RecordingsList.js';
import { initialState, reduce } from '../state.js';
import { assertFits, device, ev, lines, recording, text } from './fixtures.js';

afterEach(() => cleanup());

const CLOCK = { offsetMs: 0, corrected: false, neverSet: false };

describe('encryption in the views', () => {
  it('the device panel says whether new recordings are encrypted', () => {
    const off = render(<DevicePanel device={device({ encrypting: false })} clock={CLOCK} connection="connected" port="/dev/ttyACM0" />);
    expect(text(off.lastFrame())).toMatch(/Privacy\s+not encrypted: anyone with the recorder or its card can listen/);
    assertFits(off.lastFrame());
    const on = render(<DevicePanel device={device({ encrypting: true })} clock={CLOCK} connection="connected" port="/dev/ttyACM0" />);
    expect(text(on.lastFrame())).toMatch(/Privacy\s+new recordings are encrypted to the owner key/);
    expect(text(on.lastFrame())).not.toMatch(/not encrypted/);
  });

  it('a recording made without encryption is marked, an encrypted one is not; beside the status when it fits', () => {
    let s = reduce(initialState(), { kind: 'event', event: ev({ type: 'list.received', total: 2, recordings: [recording(1, { encrypted: false }), recording(2, { encrypted: true })], toCopy: [1, 2], alreadyInLibrary: [], inProgress: [] }) });
    const narrow = render(<RecordingsList recordings={s.recordings} utc />);
    const rows = lines(narrow.lastFrame());
    const one = rows.findIndex((l) => l.startsWith('#1 '));
    const two = rows.findIndex((l) => l.startsWith('#2 '));
    expect(rows.slice(one, two).join('\n')).toMatch(/Not encrypted \(recorded without an owner key\)\./);
    expect(rows.slice(two).join('\n')).not.toMatch(/not encrypted/i);
    assertFits(narrow.lastFrame());
    const wide = render(<RecordingsList recordings={s.recordings} width={120} utc />);
    expect(text(wide.lastFrame())).toMatch(/#1 .*on the recorder · not encrypted/);
    assertFits(wide.lastFrame(), 120);
    // the copy's own word wins once it is verified
    s = reduce(s, { kind: 'event', event: ev({ type: 'file.verified', number: 2, path: '/l/x.age', manifestPath: '/l/x.json', sha256: 'a'.repeat(64), durationMs: 1000, alreadyPresent: false, encryption: 'encrypted-only' }) });
    expect(s.recordings.find((r) => r.number === 2)!.encrypted).toBe(true);
    s = reduce(s, { kind: 'event', event: ev({ type: 'file.verified', number: 1, path: '/l/y.wav', manifestPath: '/l/y.json', sha256: 'b'.repeat(64), durationMs: 1000, alreadyPresent: false, encryption: 'none' }) });
    expect(s.recordings.find((r) => r.number === 1)!.encrypted).toBe(false);
  });
});
