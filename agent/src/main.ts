/**
 * The agent service's entry: `node agent/dist/dayi-agent.mjs -c agent.yaml` runs what
 * `dayi agent -c agent.yaml` runs. agent/build.js bundles it (with everything it imports) into
 * agent/dist/; `dayi agent install` points the service at that bundle (docs/agent-service.md).
 *
 * Run as the bundle, it first checks that the sources it was built from are unchanged (the build's
 * dayi-agent.json lists them with their CRC-32). If one changed since, the bundle is stale: it says
 * so and runs the sources instead (in a child Node), so an edit is never silently ignored by a
 * service still running the old build. `npm run build:agent` (or a new `dayi agent install`) brings it up to date.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { staleBundleReason } from './bundle-check.ts';
import { SOURCE_NODE_FLAGS } from './service/node-flags.ts';

declare global {
  interface ImportMeta {
    /** `true` in the bundle (agent/build.js defines it); undefined when run from the sources. */
    dayiBundle?: boolean;
  }
}

const argv = process.argv.slice(2);
const stale = import.meta.dayiBundle ? staleBundleReason(import.meta.url) : null;
if (stale) {
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
  process.exitCode = await agentCommand(argv);
}
