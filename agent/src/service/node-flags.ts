/**
 * How the installed agent service runs Node: its flags, its environment and its entry. The systemd
 * unit, the WinSW service and `npm run bench -- agent` all take them from here, so the bench
 * measures what users run. Figures: docs/performance.md, "Agent".
 *
 * `--lite-mode`: V8 without its optimizing compilers, with lazy feedback and bytecode flushing. The
 * agent does little work, often (a few hundred requests and messages a minute): the optimizing
 * tiers only map more of the Node binary's code into memory and keep compiled code around. Bundled
 * agent with 3 Modbus inputs: 70 MiB without it, 56.5 MiB with it, same CPU share (~0.5 %).
 * (`--max-semi-space-size=1`, `--optimize-for-size`, `--v8-pool-size=1`: no further gain with it;
 * `--single-threaded`: higher start-up peak; `--jitless`: more memory than lite mode, and it
 * disables WebAssembly.)
 */
import { existsSync } from 'node:fs';
import type { posix } from 'node:path';

export const AGENT_NODE_FLAGS: readonly string[] = ['--lite-mode'];

/**
 * Flags for the sources (`bin/dayi.js agent`, when there is no bundle): lite mode has no
 * WebAssembly, which Node's TypeScript type stripping needs. `--max-semi-space-size=1` keeps the
 * young generation small (peak 214 -> 160 MiB in bench/agent when the service ran the sources).
 */
export const SOURCE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * Environment of the service: glibc's allocator tuned for a process that frees most of what it
 * allocates at start-up (config and profile parsing, compiling) and then allocates little.
 * `MALLOC_TRIM_THRESHOLD_=0`: memory freed at the top of the heap goes back to the system at once.
 * `MALLOC_MMAP_THRESHOLD_=32768`: larger blocks get their own mapping, returned when freed; by
 * default glibc raises that threshold after the first such free, and later start-up blocks land in
 * the heap, where one live block above them keeps them resident. In bench/agent runs the C heap was
 * 2.9 to 5.2 MiB from run to run with the first alone, 2.4 MiB with both (docs/performance.md).
 * Other C libraries and Windows ignore them.
 */
export const AGENT_SERVICE_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
  MALLOC_TRIM_THRESHOLD_: '0',
  MALLOC_MMAP_THRESHOLD_: '32768',
};

/** The bundle `npm ci` builds (agent/build.js), relative to the repository. */
export const AGENT_BUNDLE = ['agent', 'dist', 'dayi-agent.mjs'] as const;

/**
 * What the service runs: the bundle if `npm ci` (or `npm run build:agent`) built it, else the
 * sources through `bin/dayi.js agent` (an install without dev dependencies has no bundler). The
 * bundle checks at each start that it is current, and runs the sources if it is not
 * (agent/src/main.ts), so a service never runs code older than the checkout. The flags go with the
 * entry: the sources cannot run in lite mode.
 */
export function serviceEntry(
  repoDir: string,
  p: Pick<typeof posix, 'join'>,
  exists: (file: string) => boolean = existsSync,
): { flags: readonly string[]; entry: string[]; bundle: string; bundled: boolean } {
  const bundle = p.join(repoDir, ...AGENT_BUNDLE);
  return exists(bundle)
    ? { flags: AGENT_NODE_FLAGS, entry: [bundle], bundle, bundled: true }
    : {
        flags: SOURCE_NODE_FLAGS,
        entry: [p.join(repoDir, 'bin', 'dayi.js'), 'agent'],
        bundle,
        bundled: false,
      };
}
