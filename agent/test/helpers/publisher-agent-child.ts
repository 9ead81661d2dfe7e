/**
 * A real agent process for tests that must kill it (`kill -9`): loads the agent.yaml given as the
 * first argument, starts the agent and prints `started` when it runs.
 */
import pino from 'pino';
import { loadAgentConfig } from '../../src/config.ts';
import { startAgent } from '../../src/runtime.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: publisher-agent-child.ts agent.yaml\n');
  process.exit(2);
}
const agent = await startAgent(loadAgentConfig(file), { log: pino({ level: 'warn' }, pino.destination(2)) });
process.stdout.write('started\n');
process.once('SIGTERM', () => {
  void agent.stop().then(() => process.exit(0));
});
