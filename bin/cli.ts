import { readFileSync } from 'node:fs';
import { commandList } from './commands.ts';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const HELP = `dayi ${VERSION}: how shared large research instruments (大仪) are really used

Usage:
${commandList()}
  dayi help COMMAND                    the help of one command, as COMMAND --help gives it
  dayi --version

Each command explains itself with --help (e.g. dayi collector --help, dayi agent status --help).
Docs: README.md, docs/configuration.md, docs/api.md, docs/mqtt.md, docs/architecture.md
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'collector':
      return (await import('@dayi/collector/cli.ts')).collectorCommand(rest);
    case 'demo':
      return (await import('@dayi/demo')).runDemo(rest);
    case 'agent':
      return (await import('@dayi/agent/cli.ts')).agentCommand(rest);
    case 'instruments':
    case 'apikey':
    case 'agent-credentials':
      return (await import('@dayi/collector/access/cli.ts')).accessCommand(command, rest);
    case 'report':
      return (await import('@dayi/collector/reports/cli.ts')).reportCommand(rest);
    case 'config': {
      const { configCheck, CONFIG_HELP } = await import('./config-check.ts');
      if (rest[0] === 'check') return configCheck(rest.slice(1));
      if (rest[0] === '--help' || rest[0] === '-h') {
        process.stdout.write(CONFIG_HELP);
        return 0;
      }
      process.stderr.write(
        `${rest[0] === undefined ? 'dayi config: give a command' : `dayi config: unknown command ${JSON.stringify(rest[0])}`}\n\n${CONFIG_HELP}`,
      );
      return 2;
    }
    case 'help':
      // `dayi help agent status` is `dayi agent status --help`.
      if (rest.length > 0) return main([...rest, '--help']);
      process.stdout.write(HELP);
      return 0;
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`dayi: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
      return 2;
  }
}
