/**
 * What every command pays for before it does anything (issue 17: a `recorder sync` with nothing
 * to copy should take under 0.5 s). The CLI's static imports, followed through the project's own
 * modules, reach no package: pdf-lib, age-encryption, serialport and Ink cost tenths of a second
 * each to load, so each is imported where it is used (`await import(...)`), which this test does
 * not follow. pdf-lib came back once through a module the CLI imports for one small function.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Static import and export-from specifiers of a TypeScript module, without `import type` and
 * `export type` (erased). `import { type X }` stays: under verbatimModuleSyntax it still loads
 * the module.
 */
function staticImports(source: string): string[] {
  const out: string[] = [];
  const statement = /^\s*(?:import|export)\s+(?!type\s)(?:[\w*{}\s,$]*?\bfrom\s*)?['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(statement)) out.push(m[1]!);
  return out;
}

/** The packages reached from `entry` through static imports, each with the chain of modules to it. */
function packagesReached(entry: string): Map<string, string[]> {
  const from = new Map<string, string | null>([[entry, null]]);
  const packages = new Map<string, string[]>();
  const chain = (f: string) => {
    const c: string[] = [];
    for (let x: string | null | undefined = f; x; x = from.get(x)) c.push(relative(ROOT, x));
    return c;
  };
  for (const file of from.keys()) {
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        const ts = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        const target = [ts, `${ts}x`].find((f) => {
          try {
            readFileSync(f);
            return true;
          } catch {
            return false;
          }
        });
        if (!target) throw new Error(`${relative(ROOT, file)} imports ${spec}, which is not there`);
        if (!from.has(target)) from.set(target, file); // Map iteration visits it later
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec) && !packages.has(spec)) {
        packages.set(spec, chain(file));
      }
    }
  }
  return packages;
}

describe('start-up of the CLI', () => {
  test('the reader of imports sees what it should', () => {
    const src = [
      "import { a, type B } from 'kept-a';",
      "import type { C } from 'erased-c';",
      "export type { D } from 'erased-d';",
      "export { e } from './kept-e.js';",
      "import {\n  f,\n  g,\n} from 'kept-f';",
      "import 'kept-side-effect';",
      "const x = await import('dynamic');",
      "import * as h from 'node:fs';",
    ].join('\n');
    expect(staticImports(src)).toEqual(['kept-a', './kept-e.js', 'kept-f', 'kept-side-effect', 'node:fs']);
  });

  test("host/cli/main.ts reaches only Node's own modules and the project's", () => {
    const reached = packagesReached(join(ROOT, 'host', 'cli', 'main.ts'));
    expect(Object.fromEntries(reached)).toEqual({});
  });
});
