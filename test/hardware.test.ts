/**
 * Hardware recipe checks: the OpenSCAD enclosure renders headless to a closed STL whose size is
 * what its parameters say, the bill of materials parses, and the pin table in
 * hardware/README.md agrees with hardware/pins.json (the pin map's source of truth).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/sim.js';

const SCAD = join(ROOT, 'hardware', 'enclosure', 'recorder.scad');
const BOM = join(ROOT, 'hardware', 'bom.csv');
const README = join(ROOT, 'hardware', 'README.md');
const PINS = join(ROOT, 'hardware', 'pins.json');
const RENDER_TIMEOUT_MS = 150_000;

const work = mkdtempSync(join(tmpdir(), 'rec-hw-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// ---------------------------------------------------------------- STL

export interface Mesh {
  triangles: number;
  min: [number, number, number];
  max: [number, number, number];
  /** Undirected edges used by other than exactly two triangles (0 for a closed 2-manifold). */
  openEdges: number;
}

/** Parses an ASCII or binary STL into its triangle count, bounding box and open-edge count. */
export function parseStl(buf: Buffer): Mesh {
  const tris: number[][] = [];
  const binaryLength = buf.length >= 84 ? 84 + 50 * buf.readUInt32LE(80) : -1;
  if (binaryLength === buf.length && !buf.subarray(0, 5).toString('latin1').startsWith('solid ')) {
    for (let i = 0, n = buf.readUInt32LE(80); i < n; i++) {
      const o = 84 + 50 * i + 12;
      const t: number[] = [];
      for (let k = 0; k < 9; k++) t.push(buf.readFloatLE(o + 4 * k));
      tris.push(t);
    }
  } else {
    const text = buf.toString('latin1');
    let cur: number[] = [];
    for (const m of text.matchAll(/vertex\s+(\S+)\s+(\S+)\s+(\S+)/g)) {
      cur.push(Number(m[1]), Number(m[2]), Number(m[3]));
      if (cur.length === 9) {
        tris.push(cur);
        cur = [];
      }
    }
    if (cur.length !== 0) throw new Error('ASCII STL ends in the middle of a facet');
  }
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  const edges = new Map<string, number>();
  const key = (t: number[], v: number) => `${t[3 * v]},${t[3 * v + 1]},${t[3 * v + 2]}`;
  for (const t of tris) {
    for (let v = 0; v < 3; v++) {
      for (let a = 0; a < 3; a++) {
        const x = t[3 * v + a]!;
        if (!Number.isFinite(x)) throw new Error('STL has a non-numeric coordinate');
        min[a] = Math.min(min[a]!, x);
        max[a] = Math.max(max[a]!, x);
      }
      const p = key(t, v);
      const q = key(t, (v + 1) % 3);
      const e = p < q ? `${p}|${q}` : `${q}|${p}`;
      edges.set(e, (edges.get(e) ?? 0) + 1);
    }
  }
  let openEdges = 0;
  for (const n of edges.values()) if (n !== 2) openEdges++;
  return { triangles: tris.length, min, max, openEdges };
}

// ---------------------------------------------------------------- OpenSCAD

function requireOpenscad(): void {
  const r = spawnSync('sh', ['-c', 'command -v openscad']);
  if (r.status !== 0) {
    throw new Error('openscad is missing: install the Debian package openscad (apt-get install openscad); .ci/run lists it');
  }
}

interface Render {
  mesh: Mesh;
  /** OUTER_SIZE echoed by the SCAD: outer length, width, height, clip depth, button proud. */
  echoed: number[];
}

function render(name: string, defines: Record<string, string | number>): Render {
  requireOpenscad();
  const out = join(work, `${name}.stl`);
  const args = ['-o', out];
  for (const [k, v] of Object.entries(defines)) args.push('-D', `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`);
  args.push(SCAD);
  const r = spawnSync('openscad', args, { encoding: 'utf8', timeout: RENDER_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.error) throw new Error(`openscad did not finish: ${r.error.message}`);
  const log = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`openscad failed (exit ${r.status}):\n${log}`);
  expect(log).not.toMatch(/WARNING|ERROR/);
  const m = log.match(/ECHO: "OUTER_SIZE=([^"]+)"/);
  if (!m) throw new Error(`openscad printed no OUTER_SIZE:\n${log}`);
  return { mesh: parseStl(readFileSync(out)), echoed: m[1]!.split(',').map(Number) };
}

/** The plain numeric parameters at the top of the SCAD file (`name = 1.5;`). */
function scadParams(): Map<string, number> {
  const src = readFileSync(SCAD, 'utf8');
  const p = new Map<string, number>();
  for (const m of src.matchAll(/^([a-z_]+)\s*=\s*(-?[0-9.]+)\s*;/gm)) p.set(m[1]!, Number(m[2]));
  return p;
}

/** Battery presets [length, width, thickness] as written in the SCAD. */
function batteryPreset(mAh: number): number[] {
  const src = readFileSync(SCAD, 'utf8');
  const m = src.match(new RegExp(`battery_mAh == ${mAh} \\? \\[([^\\]]+)\\]`));
  if (!m) throw new Error(`no battery preset for ${mAh} mAh in recorder.scad`);
  return m[1]!.split(',').map(Number);
}

/** Outer size computed here, independently of the SCAD's own arithmetic. */
function expectedSize(mAh: number, over: Record<string, number> = {}) {
  const d = scadParams();
  const g = (k: string) => {
    const v = over[k] ?? d.get(k);
    if (v === undefined) throw new Error(`parameter ${k} not found in recorder.scad`);
    return v;
  };
  const [cellL, cellW, cellT] = batteryPreset(mAh) as [number, number, number];
  const wall = g('wall');
  const tol = g('tol');
  const ledge = g('ledge_w');
  const innerL = Math.max(g('board_l'), cellL + g('battery_tab') + 2 * ledge) + 2 * tol;
  const innerW = Math.max(g('board_w') + g('mic_gap') + g('mic_w'), cellW + 2 * ledge) + 2 * tol;
  const innerH = cellT + g('battery_clear') + Math.max(g('board_t') + g('board_top'), g('mic_h')) + 1.0;
  const body = { l: innerL + 2 * wall, w: innerW + 2 * wall, h: innerH + 2 * wall };
  const clip = g('clip_gap') + g('clip_t');
  return { ...body, clip, proud: g('btn_proud'), zExtent: body.h + clip + g('btn_proud') };
}

function checkAssembled(r: Render, e: ReturnType<typeof expectedSize>): void {
  const { mesh } = r;
  const size = [0, 1, 2].map((a) => mesh.max[a]! - mesh.min[a]!);
  // The SCAD's own report agrees with the formula here ...
  expect(r.echoed[0]).toBeCloseTo(e.l, 3);
  expect(r.echoed[1]).toBeCloseTo(e.w, 3);
  expect(r.echoed[2]).toBeCloseTo(e.h, 3);
  expect(r.echoed[3]).toBeCloseTo(e.clip, 3);
  // ... and the rendered solid has that size: body, plus the clip behind and the button cap in front.
  expect(size[0]).toBeCloseTo(e.l, 2);
  expect(size[1]).toBeCloseTo(e.w, 2);
  expect(size[2]).toBeCloseTo(e.zExtent, 2);
  expect(mesh.min[2]).toBeCloseTo(-e.clip, 2);
  expect(mesh.max[2]).toBeCloseTo(e.h + e.proud, 2);
  // A real enclosure, not an empty or broken export: many facets, and closed.
  expect(mesh.triangles).toBeGreaterThan(1000);
  expect(mesh.openEdges).toBe(0);
}

describe('STL parser', () => {
  it('reads ASCII and binary STL the same way and finds open edges', () => {
    const tri = [
      [0, 0, 0, 1, 0, 0, 0, 1, 0],
      [0, 0, 0, 0, 1, 0, 0, 0, 1],
      [0, 0, 0, 0, 0, 1, 1, 0, 0],
      [1, 0, 0, 0, 0, 1, 0, 1, 0],
    ];
    const ascii =
      'solid t\n' +
      tri.map((t) => `facet normal 0 0 0\nouter loop\n${[0, 1, 2].map((v) => `vertex ${t[3 * v]} ${t[3 * v + 1]} ${t[3 * v + 2]}`).join('\n')}\nendloop\nendfacet\n`).join('') +
      'endsolid t\n';
    const bin = Buffer.alloc(84 + 50 * tri.length);
    bin.writeUInt32LE(tri.length, 80);
    tri.forEach((t, i) => t.forEach((x, k) => bin.writeFloatLE(x, 84 + 50 * i + 12 + 4 * k)));
    for (const m of [parseStl(Buffer.from(ascii, 'latin1')), parseStl(bin)]) {
      expect(m.triangles).toBe(4);
      expect(m.min).toEqual([0, 0, 0]);
      expect(m.max).toEqual([1, 1, 1]);
      expect(m.openEdges).toBe(0); // a closed tetrahedron
    }
    expect(parseStl(Buffer.from(ascii.replace(/facet[\s\S]*?endfacet\n/, ''), 'latin1')).openEdges).toBe(3);
  });
});

describe('enclosure (hardware/enclosure/recorder.scad)', () => {
  it('renders headless with the 400 mAh cell to a closed solid of the expected size', { timeout: RENDER_TIMEOUT_MS + 10_000 }, () => {
    checkAssembled(render('assembled-400', { battery_mAh: 400 }), expectedSize(400));
  });

  it('grows with the 1000 mAh cell and with thicker walls and more clearance', { timeout: RENDER_TIMEOUT_MS + 10_000 }, () => {
    const over = { wall: 2.4, tol: 0.3 };
    const e = expectedSize(1000, over);
    checkAssembled(render('assembled-1000', { battery_mAh: 1000, ...over }), e);
    const small = expectedSize(400);
    expect(e.l).toBeGreaterThan(small.l);
    expect(e.h).toBeGreaterThanOrEqual(small.h);
  });

  it('exports the print layout: base, lid upside down and button cap side by side', { timeout: RENDER_TIMEOUT_MS + 10_000 }, () => {
    const e = expectedSize(400);
    const { mesh } = render('print-400', { part: 'print' });
    expect(mesh.triangles).toBeGreaterThan(1000);
    expect(mesh.openEdges).toBe(0);
    // three parts in a row across Y, each no taller than the base plus its clip
    expect(mesh.max[1] - mesh.min[1]).toBeGreaterThan(2 * e.w);
    expect(mesh.max[2] - mesh.min[2]).toBeLessThanOrEqual(e.h + e.clip + 0.01);
  });
});

// ---------------------------------------------------------------- BOM

/** RFC 4180-style CSV: quoted fields may hold commas and doubled quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.some((f) => f !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  if (quoted) throw new Error('CSV ends inside a quoted field');
  row.push(field);
  if (row.some((f) => f !== '')) rows.push(row);
  return rows;
}

function bomRows(): Record<string, string>[] {
  const [header, ...rows] = parseCsv(readFileSync(BOM, 'utf8'));
  return rows.map((r) => {
    expect(r.length, `row "${r[0]}" has ${r.length} fields, header has ${header!.length}`).toBe(header!.length);
    return Object.fromEntries(header!.map((h, i) => [h, r[i]!]));
  });
}

/** The rows of the first markdown table after `heading` (cells trimmed, header and rule dropped). */
function markdownTable(md: string, startMarker: string, endMarker?: string): string[][] {
  const start = md.indexOf(startMarker);
  if (start < 0) throw new Error(`"${startMarker}" not found`);
  let body = md.slice(start + startMarker.length);
  if (endMarker) body = body.slice(0, body.indexOf(endMarker));
  const lines = body.split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = first; i >= 0 && i < lines.length && lines[i]!.startsWith('|'); i++) {
    rows.push(lines[i]!.slice(1, -1).split('|').map((c) => c.trim()));
  }
  return rows.slice(2);
}

describe('bill of materials (hardware/bom.csv)', () => {
  it('parses, and every row has a part, a quantity, a supplier and a price range', () => {
    const rows = bomRows();
    expect(rows.length).toBeGreaterThanOrEqual(10);
    for (const r of rows) {
      const what = `BOM row "${r.part}"`;
      expect(r.part, what).toMatch(/\S/);
      expect(r.role, what).toMatch(/\S/);
      expect(r.quantity, what).toMatch(/^[1-9][0-9]*$/);
      expect(r.supplier, what).toMatch(/\S/);
      expect(r.supplier_part, what).toMatch(/\S/);
      const lo = Number(r.price_usd_low);
      const hi = Number(r.price_usd_high);
      expect(Number.isFinite(lo) && lo > 0, `${what}: price_usd_low`).toBe(true);
      expect(Number.isFinite(hi) && hi >= lo, `${what}: price_usd_high`).toBe(true);
      expect(['ok', 'check'], what).toContain(r.confidence);
    }
  });

  it('lists the parts the recipe needs', () => {
    const parts = bomRows().map((r) => r.part!).join('\n');
    for (const p of [/Feather RP2040 Adalogger/, /MAX9814/, /ICS-43434/, /400 mAh/, /1000 mAh/, /microSD/, /button/i, /LED/, /clip/i, /Enclosure/, /wire/i]) {
      expect(parts).toMatch(p);
    }
  });

  it('matches the table in hardware/README.md row for row', () => {
    const table = markdownTable(readFileSync(README, 'utf8'), '## Bill of materials');
    const rows = bomRows();
    expect(table.map((r) => r[0])).toEqual(rows.map((r) => r.part));
    table.forEach((t, i) => {
      const r = rows[i]!;
      expect(t[2]).toBe(r.quantity);
      expect(t[4]).toBe(r.supplier_part);
      expect(t[5]).toBe(`${r.price_usd_low}–${r.price_usd_high}`);
      expect(t[6]).toBe(r.confidence);
    });
  });
});

// ---------------------------------------------------------------- pins

interface PinRow {
  signal: string;
  gpio: number;
  firmwareName: string;
  used: boolean;
}

function readmePins(): PinRow[] {
  const rows = markdownTable(readFileSync(README, 'utf8'), '<!-- pins:begin -->', '<!-- pins:end -->');
  return rows.map((r) => {
    const m = r[1]!.match(/^GP(\d+)$/);
    if (!m) throw new Error(`pin table: "${r[1]}" is not GPn`);
    return { signal: r[0]!, gpio: Number(m[1]), firmwareName: r[3]!, used: r[4] === 'yes' };
  });
}

/** "PIN_SD_SCK", "sd_sck", "sdSck" -> "SDSCK". */
const norm = (s: string) => s.replace(/^PIN_/i, '').replace(/[^a-z0-9]/gi, '').toUpperCase();

/**
 * GPIO assignments found in pins.json, whatever its exact shape: `{"led": 13}`,
 * `{"led": {"gpio": 13}}`, `{"pins": [{"name": "led", "gpio": 13}]}` or `"GP13"` strings.
 */
function pinsJsonAssignments(json: unknown): Map<string, number> {
  const found = new Map<string, number>();
  const isGpio = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 29;
  const gpString = (v: unknown) => (typeof v === 'string' ? v.match(/^GP(?:IO)?(\d+)$/i) : null);
  const ignore = /version|channel|ratio|divider|adc|mv|ohm|hz|level|count|size|id$/i;
  const walk = (v: unknown, name: string) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${name}_${i}`));
      return;
    }
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const own = typeof o.name === 'string' ? o.name : typeof o.signal === 'string' ? o.signal : name;
      for (const k of ['gpio', 'pin', 'gp']) {
        if (isGpio(o[k])) found.set(own, o[k] as number);
        const s = gpString(o[k]);
        if (s) found.set(own, Number(s[1]));
      }
      for (const [k, x] of Object.entries(o)) {
        if (['gpio', 'pin', 'gp', 'name', 'signal'].includes(k)) continue;
        if (isGpio(x) && !ignore.test(k)) found.set(k, x);
        else if (gpString(x)) found.set(k, Number(gpString(x)![1]));
        else walk(x, k);
      }
    }
  };
  walk(json, '');
  return found;
}

describe('pin map (hardware/README.md)', () => {
  it('has the board pins the recorder is built on', () => {
    const byName = new Map(readmePins().map((p) => [p.firmwareName, p.gpio]));
    expect(Object.fromEntries(byName)).toMatchObject({
      PIN_BUTTON: 7,
      PIN_LED: 13,
      PIN_MIC: 26,
      PIN_VBAT: 29,
      PIN_SD_SCK: 18,
      PIN_SD_MOSI: 19,
      PIN_SD_MISO: 20,
      PIN_SD_CS: 23,
      PIN_SD_DETECT: 16,
    });
    const gpios = readmePins().map((p) => p.gpio);
    expect(new Set(gpios).size).toBe(gpios.length);
  });

  it('agrees with hardware/pins.json, the source of truth', () => {
    expect(existsSync(PINS), 'hardware/pins.json (the pin map) is missing').toBe(true);
    const json = pinsJsonAssignments(JSON.parse(readFileSync(PINS, 'utf8')));
    expect(json.size, 'no GPIO assignments recognised in pins.json: update pinsJsonAssignments').toBeGreaterThan(0);
    const table = readmePins();
    const tableGpios = new Set(table.map((p) => p.gpio));
    // every pin pins.json assigns is in the README table ...
    for (const [name, gpio] of json) expect(tableGpios.has(gpio), `pins.json ${name} = GP${gpio} is missing from the README table`).toBe(true);
    // ... every pin the README says v1 uses is in pins.json ...
    const jsonGpios = new Set(json.values());
    for (const p of table.filter((x) => x.used)) expect(jsonGpios.has(p.gpio), `README ${p.signal} GP${p.gpio} is not in pins.json`).toBe(true);
    // ... and where pins.json names a signal the way the firmware does, the numbers agree.
    const jsonByName = new Map([...json].map(([k, v]) => [norm(k), v]));
    let named = 0;
    for (const p of table) {
      const g = jsonByName.get(norm(p.firmwareName));
      if (g === undefined) continue;
      named++;
      expect(g, `${p.signal}: README GP${p.gpio}, pins.json GP${g}`).toBe(p.gpio);
    }
    expect(named, 'no README firmware name matched a pins.json name').toBeGreaterThan(0);
  });
});
