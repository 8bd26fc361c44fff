/**
 * Writes the artifacts derived from protocol/src/schema.ts:
 *   protocol/generated/rec_protocol.h   C header the firmware includes
 *   protocol/generated/rec_vectors.h    the test vectors as C data, for the firmware's tests
 *   protocol/generated/vectors.json     the test vectors, for the TypeScript tests
 *   protocol/generated/rec_codec.h      C structs with pack/unpack functions, enum value names
 *   protocol/generated/rec_codec.c      the table-driven codec behind them, compiled into the core
 *   protocol/generated/types.ts         TypeScript interfaces of every struct, enum value names
 *   protocol/generated/messages.md      field tables of every struct, for client writers
 *
 * Usage: `npm run gen` writes them; `node dist/protocol/gen/generate.js --check` exits 1 when a
 * committed file differs from a fresh generation.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCHeader, renderCVectors, renderMarkdown, renderTsTypes } from './render.js';
import { renderCCodecHeader, renderCCodecSource, renderTsNames } from './render-codec.js';
import { buildVectors } from './vectors.js';

export function generateAll(): Map<string, string> {
  const vectors = buildVectors();
  const files = new Map<string, string>();
  files.set('rec_protocol.h', renderCHeader());
  files.set('rec_codec.h', renderCCodecHeader());
  files.set('rec_codec.c', renderCCodecSource());
  files.set('rec_vectors.h', renderCVectors(vectors));
  files.set('vectors.json', JSON.stringify(vectors, null, 1) + '\n');
  files.set('types.ts', renderTsTypes() + renderTsNames());
  files.set('messages.md', renderMarkdown());
  return files;
}

/** The generated folder, found from this file whether run from source or from dist/. */
export function generatedDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return join(dir, 'protocol', 'generated');
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('cannot find the project root (package.json) above ' + fileURLToPath(import.meta.url));
}

function main(): void {
  const check = process.argv.includes('--check');
  const out = generatedDir();
  const files = generateAll();
  let stale = 0;
  if (!check) mkdirSync(out, { recursive: true });
  for (const [name, text] of files) {
    const path = join(out, name);
    if (check) {
      let old = '';
      try {
        old = readFileSync(path, 'utf8');
      } catch {
        /* missing counts as stale */
      }
      if (old !== text) {
        console.error(`stale: protocol/generated/${name} differs from a fresh generation; run npm run gen`);
        stale++;
      }
    } else {
      writeFileSync(path, text);
      console.log(`wrote protocol/generated/${name}`);
    }
  }
  if (stale) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
