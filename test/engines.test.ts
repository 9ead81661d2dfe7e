import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` runs on the machine's own Node (often older than the Node 24 it installs for dayi), so
 * every package it installs must accept every Node the `engines` range of package.json admits, or
 * npm prints EBADENGINE warnings on a fresh machine. Checked at the first release of each part of
 * the range; packages whose newest versions need Node 22 are pinned by `overrides`
 * (docs/operations.md, "Node.js versions").
 */

const ROOT = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { engines?: { node?: string } };
const lock = JSON.parse(readFileSync(`${ROOT}/package-lock.json`, 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

describe('the Node.js versions dayi supports', () => {
  const range = pkg.engines?.node;

  it('are stated in package.json and the README', () => {
    expect(range).toBe('^20.19.0 || ^22.13.0 || >=24');
    const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
    expect(readme).toContain('Node.js 20.19 or later 20.x, 22.13 or later 22.x, or 24 and later');
    expect(readme).toContain(`\`${range}\``);
  });

  // The first release of each part of the range: where a dependency's engines range is likeliest to refuse.
  const floors = (range ?? '').split('||').map((part) => semver.minVersion(part.trim())!.version);

  it.each(floors)('every package npm ci installs accepts Node %s', (version) => {
    const refused = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(
        ([, p]) =>
          !semver.satisfies(version, (p.engines as { node: string }).node, { includePrerelease: true }),
      )
      .map(
        ([path, p]) =>
          `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${(p.engines as { node: string }).node}`,
      );
    expect(refused).toEqual([]);
  });

  it('the root project accepts the Node that runs the tests', () => {
    expect(semver.satisfies(process.versions.node, range!)).toBe(true);
  });
});
