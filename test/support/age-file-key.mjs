// Finds an age file's file key in a memory dump (the simulator's NVM file): shared by
// test/privacy-sim.test.ts and scripts/power-campaign.mjs, which node runs as plain .mjs.
import { createHmac, hkdfSync } from 'node:crypto';

/** An age v1 file split: the header up to and including "---", its 32-byte MAC, where the payload starts. */
export function ageParts(file) {
  const end = file.indexOf('\n---');
  if (end <= 0) throw new Error('not an age file: no "---" line');
  const lineEnd = file.indexOf('\n', end + 1);
  if (lineEnd < 0) throw new Error('not an age file: the "---" line does not end');
  const mac = Buffer.from(file.subarray(end + 5, lineEnd).toString('latin1'), 'base64');
  if (mac.length !== 32) throw new Error(`not an age file: a header MAC of ${mac.length} bytes`);
  return { header: file.subarray(0, end + 4), mac, payload: lineEnd + 1 };
}

/**
 * Every (offset, file) where the 16 bytes of `mem` at offset are the file key of one of `ages`
 * (age files): the header MAC, keyed by HKDF(file key, "header"), checks. Each distinct window is
 * tried once (an erased flash repeats one window thousands of times), so a 64 KiB dump against
 * many files stays quick.
 */
export function fileKeyHits(mem, ages) {
  const parts = ages.map((a) => ageParts(a));
  const tried = new Map(); // window (hex) -> indices of the files it opens
  const hits = [];
  for (let o = 0; o + 16 <= mem.length; o++) {
    const win = mem.subarray(o, o + 16);
    const id = win.toString('hex');
    let opens = tried.get(id);
    if (!opens) {
      const hmacKey = Buffer.from(hkdfSync('sha256', win, Buffer.alloc(0), 'header', 32));
      opens = [];
      parts.forEach((p, i) => {
        if (createHmac('sha256', hmacKey).update(p.header).digest().equals(p.mac)) opens.push(i);
      });
      tried.set(id, opens);
    }
    for (const file of opens) hits.push({ offset: o, file });
  }
  return hits;
}

/** Every offset of `mem` whose 16 bytes are the file key of the age file `age`. */
export function fileKeyOffsets(mem, age) {
  return fileKeyHits(mem, [age]).map((h) => h.offset);
}
