/**
 * The house (issue 11): the collector and the agent each stand alone and meet only through
 * protocols/. Neither package names the other in its package.json, and no file either ships
 * (sources, build scripts, the web dashboard) imports the other, by package name or by a relative
 * path into its folder. What composes the two lives outside both: the demo in demo/, end-to-end
 * tests in test/. (A package's own test/ folder may still start the other as a peer, as the
 * agent's publisher tests start a real collector; nothing of it ships.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', 'test'].includes(e.name) || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (/\.(ts|js|mjs|cjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every module specifier a file names: static and dynamic imports, re-exports, require(). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The imports of `pkg`'s files that reach into `other`: `file: specifier` each. */
function crossings(pkg: string, other: string): string[] {
  const bad: string[] = [];
  for (const file of filesUnder(join(ROOT, pkg))) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const byName = spec === `@dayi/${other}` || spec.startsWith(`@dayi/${other}/`);
      const target = spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : '';
      const byPath = target === other || target.startsWith(`${other}${sep}`);
      if (byName || byPath) bad.push(`${relative(ROOT, file)}: ${spec}`);
    }
  }
  return bad;
}

function dependenciesOf(pkg: string): string[] {
  const json = JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string> | undefined
  >;
  return ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].flatMap((k) =>
    Object.keys(json[k] ?? {}),
  );
}

describe('the collector and the agent stand alone', () => {
  it('finds the files it checks (and a crossing when there is one)', () => {
    expect(filesUnder(join(ROOT, 'collector')).length).toBeGreaterThan(80);
    expect(filesUnder(join(ROOT, 'agent')).length).toBeGreaterThan(30);
    expect(crossings('demo', 'agent').length).toBeGreaterThan(0);
  });

  it.each([
    ['collector', 'agent'],
    ['agent', 'collector'],
  ])('%s imports nothing of %s', (pkg, other) => {
    expect(crossings(pkg, other)).toEqual([]);
  });

  it.each([
    ['collector', 'agent'],
    ['agent', 'collector'],
  ])('%s/package.json does not depend on @dayi/%s', (pkg, other) => {
    expect(dependenciesOf(pkg)).not.toContain(`@dayi/${other}`);
  });

  it('protocols depends on nothing of ours', () => {
    expect(dependenciesOf('protocols').filter((d) => d.startsWith('@dayi/'))).toEqual([]);
    expect([...crossings('protocols', 'agent'), ...crossings('protocols', 'collector')]).toEqual([]);
  });

  it('the demo composes the two', () => {
    expect(dependenciesOf('demo')).toEqual(expect.arrayContaining(['@dayi/agent', '@dayi/collector']));
  });
});
