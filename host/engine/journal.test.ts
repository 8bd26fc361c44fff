/**
 * The journal after a FORMAT (numbers continue, the chain starts again): found by the power-cut
 * campaign (scripts/power-campaign.mjs). Before the fix, the first sync after a format reported a
 * "shrunk" gap, and once the new journal was longer than the remembered one every sync reported
 * it "rewritten" (JOURNAL_BROKEN) and refused every delete, forever.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { decodeStruct } from '../../protocol/src/codec.js';
import { checkJournal } from './journal.js';
import { setup } from './testing/harness.js';

describe('journal after a format', () => {
  test('a journal that starts after the remembered recording is a new journal: a gap once, then clean', async () => {
    const h = setup();
    h.device.keyState = 'legacy'; // firmware before journal epochs: a signed recorder starts an epoch (evidence.test.ts)
    h.device.addRecording();
    h.device.addRecording();
    expect((await h.engine.sync({ dest: h.dest })).journal).toBe('ok');
    // Formatted (numbers continue), then more recordings than before.
    h.device.recordings.clear();
    h.device.journal = [];
    for (let i = 0; i < 3; i++) h.device.addRecording();
    const first = await h.engine.sync({ dest: h.dest, deleteAfterVerify: true });
    expect(first.journal).toBe('gap');
    expect(first.copied).toEqual([3, 4, 5]);
    const checked = h.of('journal.checked').at(-1)!;
    expect(checked.problems).toEqual([]);
    expect(checked.gaps.map((g) => g.message).join()).toMatch(/starts again at recording 3/);
    expect(h.of('error').some((e) => e.code === 'JOURNAL_BROKEN')).toBe(false);
    // The new chain verified, so its copies could be deleted.
    expect(first.deleted).toEqual([3, 4, 5]);
    h.device.addRecording();
    const second = await h.engine.sync({ dest: h.dest });
    expect(second.journal).toBe('ok');
    expect(second.ok).toBe(true);
  });

  test('a journal rewritten with the same numbers is still broken', () => {
    const h = setup();
    h.device.addRecording();
    h.device.addRecording();
    const entries = h.device.journal.map((raw, i) => ({ raw, index: i }));
    const decoded = entries.map(({ raw, index }) => ({ index, raw, record: { ...decodeRecord(raw) }, hash: sha(raw) }));
    const check = checkJournal(decoded as never, 2, { index: 1, recordSha256: '00'.repeat(32), number: 2 });
    expect(check.chain).toBe('broken');
    expect(check.restarted).toBe(false);
  });
});

function decodeRecord(raw: Buffer) {
  return decodeStruct('JOURNAL_RECORD', raw);
}
function sha(raw: Buffer) {
  return createHash('sha256').update(raw).digest();
}
