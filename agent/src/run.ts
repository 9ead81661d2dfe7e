/**
 * Runs the agent until SIGINT or SIGTERM, then stops it cleanly. Shared by `dayi agent -c` and the
 * installed service's run-time process (./main.ts), which must not load zod or YAML: nor does this.
 */
import type { AgentConfig } from './config.ts';
import type { Profiles } from './inputs/profiles.ts';

export interface RunIo {
  err: (s: string) => void;
}

/** Resolves to the process exit code: 0 after a clean stop, 1 if the agent could not start. */
export async function runAgent(
  config: AgentConfig,
  io: RunIo,
  opts: { profiles?: Profiles } = {},
): Promise<number> {
  const { startAgent } = await import('./runtime.ts');
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(config, opts.profiles ? { profiles: opts.profiles } : {});
  } catch (err) {
    io.err(`dayi agent: ${(err as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await agent.stop();
  return 0;
}
