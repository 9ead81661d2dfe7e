/**
 * The agent service's entry: `node agent/dist/dayi-agent.mjs -c agent.yaml` runs what
 * `dayi agent -c agent.yaml` runs. agent/build.js bundles it (with everything it imports) into
 * agent/dist/; `dayi agent install` points the service at that bundle (docs/agent-service.md).
 *
 * Run as the bundle, it first checks that the sources it was built from are unchanged (the build's
 * dayi-agent.json lists them with their CRC-32). If one changed since, the bundle is stale: it says
 * so and runs the sources instead (in a child Node), so an edit is never silently ignored by a
 * service still running the old build. `npm run build:agent` (or a new `dayi agent install`) brings it up to date.
 *
 * On Linux and macOS it then starts in two steps in one process (./handoff.ts): this one checks the
 * config and its profiles, then replaces itself (execve: same PID, flags and stdio) with a fresh
 * Node that runs the agent from the checked config and never loads the YAML parser or zod. On
 * Windows (no execve), or if the replacement cannot start, the agent runs in the first process.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { staleBundleReason } from './bundle-check.ts';
import { type Handoff, handoffEnv, takeHandoff } from './handoff.ts';
import { tableProfiles } from './inputs/profiles.ts';
import { SOURCE_NODE_FLAGS } from './service/node-flags.ts';

const stderr = { err: (s: string) => process.stderr.write(s) };

declare global {
  interface ImportMeta {
    /** `true` in the bundle (agent/build.js defines it); undefined when run from the sources. */
    dayiBundle?: boolean;
  }
}

const argv = process.argv.slice(2);
const handoff = takeHandoff(process.env);
const stale = handoff || !import.meta.dayiBundle ? null : staleBundleReason(import.meta.url);
if (handoff) {
  const { runAgent } = await import('./run.ts');
  process.exitCode = await runAgent(handoff.config, stderr, { profiles: tableProfiles(handoff.profiles) });
} else if (stale) {
  // Not imported here: the service runs the bundle in V8's lite mode, which has no WebAssembly, and
  // Node's type stripping needs it. A child Node runs the sources; this one passes signals on.
  process.stderr.write(
    `dayi agent: ${stale}; running the sources instead (more memory). Rebuild with: npm run build:agent\n`,
  );
  const { spawn } = process.getBuiltinModule('node:child_process');
  const dayi = fileURLToPath(new URL('../../bin/dayi.js', import.meta.url));
  const child = spawn(process.execPath, [...SOURCE_NODE_FLAGS, dayi, 'agent', ...argv], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  process.exitCode = await new Promise<number>((resolve) =>
    child.on('exit', (code, signal) =>
      resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)),
    ),
  );
} else {
  const { agentCommand } = await import('./cli.ts');
  const canReplace = import.meta.dayiBundle && typeof process.execve === 'function';
  process.exitCode = await agentCommand(argv, undefined, canReplace ? { handOff: replaceProcess } : {});
}

/** Step 2: this script again, in a fresh Node with the same flags, handed the checked config. */
function replaceProcess(h: Handoff): void {
  const script = fileURLToPath(import.meta.url);
  process.execve?.(process.execPath, [process.execPath, ...process.execArgv, script, ...argv], {
    ...process.env,
    ...handoffEnv(h),
  });
}
