/**
 * One READ of a recording's audio file for the copy: plain, or READ_CHECKED (read-size.ts chooses),
 * resolving to the runs of the file that passed a CRC-32 and the ranges to read again (issue 17).
 * A READ_CHECKED answer whose frame CRC failed is kept when its fields answer this request and at
 * least one block's check holds: its good blocks are written, its damaged ones read again. What
 * the copy writes has always passed a CRC-32 (the frame's or its block's); the whole copy is then
 * checked against the recorder's SHA-256 as before.
 */
import { splitReadChecked, type CheckedParts, type CheckedRequest } from '../../protocol/src/read-checked.js';
import { FILE_PART } from '../../protocol/src/schema.js';
import type { ProtocolClient } from './client.js';
import { EngineError } from './errors.js';
import type { ReadPlan, ReadSizer } from './read-size.js';

function wrongData(): EngineError {
  return new EngineError('NOT_A_RECORDER', 'The recorder answered a read with the wrong data.', 'Unplug the recorder, plug it back in, and run sync again.');
}

/** Reads `plan.length` bytes of recording `number`'s audio at `offset`, telling `sizer` what the link did. */
export async function readAudioRange(client: ProtocolClient, sizer: ReadSizer, number: number, offset: number, plan: ReadPlan, signal?: AbortSignal): Promise<CheckedParts> {
  const { length, blockSize } = plan;
  if (blockSize === 0) {
    const r = await client.request('READ', { number, offset, length, part: FILE_PART.AUDIO, reserved: Buffer.alloc(3) }, { signal, onNoisyTry: () => sizer.lostToNoise(length) });
    sizer.answered(length);
    if (r.number !== number || r.offset !== offset || r.data.length > length) throw wrongData();
    return { good: r.data.length > 0 ? [{ offset, data: r.data }] : [], bad: [], dataLength: r.data.length };
  }
  const req: CheckedRequest = { number, offset, length, blockSize };
  const { frame } = await client.requestRaw(
    'READ_CHECKED',
    { number, offset, length, part: FILE_PART.AUDIO, reserved: 0, blockSize },
    {
      signal,
      onNoisyTry: () => sizer.lostToNoise(length, blockSize),
      // A damaged answer is worth keeping only for a block that passed its check.
      salvage: (f) => (splitReadChecked(f, req, false)?.good.length ?? 0) > 0,
    },
  );
  const parts = splitReadChecked(frame, req, frame.damaged !== true);
  if (!parts) throw wrongData();
  sizer.answered(length, blockSize, parts.bad.reduce((n, b) => n + Math.ceil(b.length / blockSize), 0));
  return parts;
}
