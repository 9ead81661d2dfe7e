/**
 * Is the bundle the agent runs from built from the sources on disk? agent/build.js writes
 * dayi-agent.json beside the bundle: every source file it bundled (repository-relative) with its
 * CRC-32, and package-lock.json's, which pins the bundled dependencies. CRC-32 of the content, not
 * the modification time, so a checkout that rewrites files unchanged does not count as a change.
 */
import { readFileSync } from 'node:fs';
import { crc32 } from './crc32.ts';

export const MANIFEST_FILE = 'dayi-agent.json';

interface Manifest {
  sources: { path: string; crc32: number }[];
}

/**
 * Why the bundle at `bundleUrl` (its import.meta.url) is stale, or null if it is current.
 * The manifest is beside the bundle; the repository is the bundle folder's grandparent
 * (agent/dist/ -> the repository).
 */
export function staleBundleReason(bundleUrl: string): string | null {
  const manifestUrl = new URL(MANIFEST_FILE, bundleUrl);
  const repo = new URL('../../', bundleUrl);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestUrl, 'utf8')) as Manifest;
  } catch (err) {
    return `cannot read ${manifestUrl.pathname} (${(err as Error).message})`;
  }
  for (const s of manifest.sources) {
    let crc: number;
    try {
      crc = crc32(readFileSync(new URL(s.path, repo)));
    } catch {
      return `the bundle was built from ${s.path}, which is gone`;
    }
    if (crc !== s.crc32) return `${s.path} changed after the bundle was built`;
  }
  return null;
}
