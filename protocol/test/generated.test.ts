import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAll } from '../gen/generate.js';
import { CARD_STATE, REC_STATE, STOP_REASON, STRUCTS, structSize } from '../src/schema.js';

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

  it('C header gives every struct its size, and the C codec a struct, a field table and pack/unpack', () => {
    const h = fresh.get('rec_protocol.h')!;
    const codecH = fresh.get('rec_codec.h')!;
    const codecC = fresh.get('rec_codec.c')!;
    for (const [name, def] of Object.entries(STRUCTS)) {
      expect(h).toContain(`#define RP_${name}_SIZE ${structSize(def)}u`);
      if (def.fields.length === 0) continue;
      const s = name.toLowerCase();
      expect(codecH).toContain(`} rp_${s}_t;`);
      expect(codecH).toContain(`static inline void rp_${s}_pack(const rp_${s}_t *v, uint8_t out[RP_${name}_SIZE])`);
      expect(codecH).toContain(`static inline void rp_${s}_unpack(const uint8_t in[RP_${name}_SIZE], rp_${s}_t *v)`);
      expect(codecC).toContain(`const rp_codec_struct_t RP_CODEC_${name} = { FIELDS_${name}, ${def.fields.length}u, ${structSize(def)}u };`);
      expect(codecC).toContain(`{ "${name}", &RP_CODEC_${name}, sizeof(rp_${s}_t) },`);
    }
  });

  it('enum value names are the same in C and TypeScript', async () => {
    const types = await import('../generated/types.js');
    const codecC = fresh.get('rec_codec.c')!;
    expect(types.recStateName(REC_STATE.RECORDING)).toBe('recording');
    expect(types.cardStateName(CARD_STATE.FULL)).toBe('full');
    expect(types.stopReasonName(STOP_REASON.CARD_FULL)).toBe('card full');
    expect(types.stopReasonName(200)).toBe('unknown');
    for (const list of [types.REC_STATE_NAMES, types.CARD_STATE_NAMES, types.STOP_REASON_NAMES]) {
      expect(codecC).toContain(`static const char *const names[] = { ${list.map((n) => `"${n}"`).join(', ')} };`);
    }
  });

  it('fixed on-card record sizes stay as documented', () => {
    // The journal record and evidence chunk are stored on cards; a size change breaks old cards
    // unless the version field is bumped.
    expect(structSize(STRUCTS.JOURNAL_RECORD)).toBe(128);
    expect(structSize(STRUCTS.EVIDENCE_CHUNK)).toBe(72);
    expect(structSize(STRUCTS.SETTINGS_BLOB)).toBe(64);
    expect(structSize(STRUCTS.STATE_MARKER)).toBe(64);
    expect(structSize(STRUCTS.RP2040_SETTINGS_COPY)).toBe(16);
    expect(structSize(STRUCTS.QEMU_SETTINGS_COPY)).toBe(16);
    expect(structSize(STRUCTS.WAV_FMT)).toBe(16);
    expect(structSize(STRUCTS.BEXT)).toBe(602);
  });
});
