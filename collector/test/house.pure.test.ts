/**
 * The house rule of issue 10: the pure layer (the detectors in src/detect/, and derive's pure
 * modules) never imports a stateful module, does no I/O and reads no clock. Fails naming the file
 * and the import when one does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;

/** The pure layer: every module of detect/, and the pure half of derive/ (its README names them). */
const PURE = [
  ...readdirSync(join(SRC, 'detect'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `detect/${f}`),
  ...readdirSync(join(SRC, 'derive', 'pure'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `derive/pure/${f}`),
];

/** Node modules that do I/O or keep state outside the call. */
const IO_MODULES =
  /^node:(sqlite|fs|fs\/promises|net|http|https|child_process|worker_threads|dgram|dns|tls|os|process)$/;
/** Reading the clock: Date.now(), new Date() with no argument, performance.now(). */
const CLOCK = /\bDate\.now\s*\(|\bnew Date\(\s*\)|\bperformance\.now\s*\(/;

/** Value imports (type-only imports are erased and cannot do anything at run time). */
function valueImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^'"]*?)\s*from\s+'([^']+)'/gm)) {
    if (m[2]) continue;
    out.push(m[4]!);
  }
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]!);
  return out;
}

describe('the pure layer (detect/, derive/ pure modules)', () => {
  it('lists what it checks', () => {
    expect(PURE).toContain('detect/fold.ts');
    expect(PURE.length).toBeGreaterThan(15);
  });

  it.each(PURE)('%s imports only pure modules, no I/O, and reads no clock', (file) => {
    const seen = new Set<string>();
    const problems: string[] = [];
    const visit = (rel: string, via: string) => {
      if (seen.has(rel)) return;
      seen.add(rel);
      if (!PURE.includes(rel)) {
        problems.push(`${via} imports ${rel}, which is not in the pure layer`);
        return;
      }
      const text = readFileSync(join(SRC, rel), 'utf8');
      if (CLOCK.test(text)) problems.push(`${rel} reads the clock (${CLOCK.exec(text)![0]})`);
      for (const spec of valueImports(text)) {
        if (IO_MODULES.test(spec)) problems.push(`${rel} imports ${spec}`);
        else if (spec.startsWith('.')) visit(relative(SRC, resolve(dirname(join(SRC, rel)), spec)), rel);
      }
    };
    visit(file, file);
    expect(problems).toEqual([]);
  });

  it('would catch a pure module importing the store (the check itself works)', () => {
    expect(valueImports("import { stmt } from '../derive/io/store.ts';")).toEqual(['../derive/io/store.ts']);
    expect(valueImports("import type { CollectorContext } from '../context.ts';")).toEqual([]);
    expect(CLOCK.test('const t = Date.now();')).toBe(true);
  });
});
