import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAll } from '../gen/generate.js';
import { STRUCTS, structSize } from '../src/schema.js';

const dir = join(import.meta.dirname, '..', 'generated');

describe('generated artifacts', () => {
  const fresh = generateAll();

  it.each([...fresh.keys()])('committed %s equals a fresh generation (run `npm run gen` after changing the schema)', (name) => {
    const committed = readFileSync(join(dir, name), 'utf8');
    expect(committed === fresh.get(name), `protocol/generated/${name} is stale: run npm run gen`).toBe(true);
  });

  it('marks every generated file DO NOT EDIT', () => {
    for (const [name, text] of fresh) expect(text.slice(0, 200), name).toContain('DO NOT EDIT');
  });

  it('C header carries a size check for every struct', () => {
    const h = fresh.get('rec_protocol.h')!;
    for (const [name, def] of Object.entries(STRUCTS)) {
      if (def.fields.length === 0) continue;
      expect(h).toContain(`#define RP_${name}_SIZE ${structSize(def)}u`);
      expect(h).toMatch(new RegExp(`_Static_assert\\(sizeof\\(rp_${name.toLowerCase()}_t\\) == RP_${name}_SIZE`));
    }
  });

  it('fixed on-card record sizes stay as documented', () => {
    // The journal record and evidence chunk are stored on cards; a size change breaks old cards
    // unless the version field is bumped.
    expect(structSize(STRUCTS.JOURNAL_RECORD)).toBe(128);
    expect(structSize(STRUCTS.EVIDENCE_CHUNK)).toBe(72);
  });
});
