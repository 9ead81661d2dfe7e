/**
 * Every command of `dayi`: the top-level help is made from this list, `dayi help <command>` finds
 * its text through it, and test/cli.help.test.ts holds the README's command table and each
 * command's own `--help` to it. A new command: one line here (and its row in the README).
 */
export interface CommandInfo {
  /** The words after `dayi`: `agent status`. */
  path: string;
  usage: string;
  does: string;
}

export const COMMANDS: readonly CommandInfo[] = [
  {
    path: 'collector',
    usage: 'dayi collector -c collector.yaml',
    does: 'run the collector (MQTT broker, ingest, REST API)',
  },
  {
    path: 'collector rederive',
    usage: 'dayi collector rederive -c collector.yaml',
    does: 'rebuild the derived figures from the ledger',
  },
  { path: 'agent', usage: 'dayi agent -c agent.yaml', does: 'run the edge agent beside an instrument' },
  {
    path: 'agent install',
    usage: 'dayi agent install -c agent.yaml',
    does: 'register the agent as a systemd unit or Windows service',
  },
  { path: 'agent uninstall', usage: 'dayi agent uninstall -c agent.yaml', does: 'remove that service' },
  {
    path: 'agent calibrate',
    usage: 'dayi agent calibrate -c agent.yaml --instrument ID --duration 2h',
    does: 'record the signal and suggest state thresholds',
  },
  {
    path: 'agent status',
    usage: 'dayi agent status -c agent.yaml',
    does: "per instrument: connection, outbox backlog, the collector's refusals",
  },
  {
    path: 'config check',
    usage: 'dayi config check FILE',
    does: 'validate an agent or collector config or a firmware profile; prints every error',
  },
  {
    path: 'report uptime',
    usage: 'dayi report uptime --from D --to D --format csv|xlsx|pdf --out FILE',
    does: 'download a signed uptime report from a collector',
  },
  {
    path: 'report verify',
    usage: 'dayi report verify FILE',
    does: 'check a report against its signature (OK / FAILED)',
  },
  {
    path: 'report rotate-key',
    usage: 'dayi report rotate-key -c collector.yaml',
    does: 'start signing reports with a new key; old reports still verify',
  },
  {
    path: 'instruments import',
    usage: 'dayi instruments import FILE [--dry-run] [--url URL]',
    does: 'import the registry from CSV (UTF-8/GB18030) or JSON into a collector',
  },
  {
    path: 'apikey create',
    usage: 'dayi apikey create --role R [--org O] [--name N] -c collector.yaml',
    does: "make an API key in the collector's store; prints it once",
  },
  {
    path: 'apikey list',
    usage: 'dayi apikey list -c collector.yaml',
    does: 'list API keys (never the keys)',
  },
  { path: 'apikey revoke', usage: 'dayi apikey revoke NAME -c collector.yaml', does: 'revoke a key at once' },
  {
    path: 'agent-credentials create',
    usage: 'dayi agent-credentials create --instruments ID,… [--username U] -c collector.yaml',
    does: "make an agent's MQTT password; prints it once",
  },
  {
    path: 'agent-credentials list',
    usage: 'dayi agent-credentials list -c collector.yaml',
    does: 'list agent credentials (never the passwords)',
  },
  {
    path: 'agent-credentials rotate',
    usage: 'dayi agent-credentials rotate USERNAME -c collector.yaml',
    does: 'a new password; the old one fails at the next CONNECT',
  },
  {
    path: 'agent-credentials revoke',
    usage: 'dayi agent-credentials revoke USERNAME -c collector.yaml',
    does: 'refuse that agent from its next CONNECT',
  },
  { path: 'demo', usage: 'dayi demo', does: 'collector + simulated instruments on this machine' },
];

/** The command list of the top-level help, usage and purpose in two columns. */
export function commandList(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length)) + 2;
  return COMMANDS.map((c) =>
    c.usage.length + 2 <= 40
      ? `  ${c.usage.padEnd(Math.min(width, 40))}${c.does}`
      : `  ${c.usage}\n  ${''.padEnd(40)}${c.does}`,
  ).join('\n');
}
