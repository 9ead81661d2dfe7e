/**
 * `dayi instruments import`, `dayi apikey …`, `dayi agent-credentials …`: the registry from a file
 * (over HTTP, against a collector URL), and API keys and agent credentials without editing YAML
 * (in the collector's store, opened the way `dayi report rotate-key` does it: beside a running
 * collector, which sees a new or revoked key at the next request, a new password at the next CONNECT).
 */
import { readFileSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { isInstrumentId } from '@dayi/protocols';
import type { CollectorConfig } from '../config.ts';
import { ROLES, type Role } from '../config.ts';
import {
  createAgentCredential,
  listAgentCredentials,
  revokeAgentCredential,
  rotateAgentCredential,
} from './agent-credentials.ts';
import { AccessError, createApiKey, listApiKeys, revokeApiKey } from './api-keys.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

type Out = Pick<NodeJS.WriteStream, 'write'>;
export interface AccessIo {
  stdout?: Out;
  stderr?: Out;
  env?: NodeJS.ProcessEnv;
}

class UsageError extends Error {}

interface Sub {
  help: string;
  run: (args: string[], io: Required<AccessIo>) => Promise<number>;
}

const IMPORT_HELP = `Usage: dayi instruments import FILE [--dry-run] [--url URL] [--key KEY]

Imports the instrument registry (批量导入) from FILE into a collector (POST /v1/instruments/import):
CSV (UTF-8 with or without BOM, GB18030, UTF-16; headers in English or Chinese: id/仪器编码, name/仪器名称,
org/管理单位, category/仪器类别, quotaHours/定额机时, …) or JSON (an array of instruments; FILE ending
in .json). Rows are upserted by id; the valid rows land even when others fail, and each refused row
is printed with its row number and field. Exit 0 when every row was accepted, 1 otherwise.

  --dry-run     check every row and print what would change; write nothing
  --url URL     the collector (default: DAYI_URL, else ${DEFAULT_URL})
  --key KEY     an API key of role platform or admin (default: DAYI_API_KEY; prefer the
                environment: a key on the command line shows in the process list)

Example:
  DAYI_API_KEY=... dayi instruments import 仪器台账.csv --dry-run --url http://collector:8080
`;

const INSTRUMENTS_HELP = `Usage:
  dayi instruments import FILE [--dry-run] [--url URL] [--key KEY]

The instrument registry. Each subcommand explains itself with --help.
`;

const APIKEY_HELP = `Usage:
  dayi apikey create --role R [--org O] [--name N] -c collector.yaml
  dayi apikey list -c collector.yaml
  dayi apikey revoke NAME -c collector.yaml

API keys kept in the collector's store instead of apiKeys in the YAML (those keep working). The
store holds only a SHA-256 digest of each key; a running collector accepts a new key and refuses a
revoked one at the next request. Each subcommand explains itself with --help.
`;

const APIKEY_CREATE_HELP = `Usage: dayi apikey create --role R [--org O] [--name N] -c collector.yaml

Makes an API key, prints it once (it cannot be read back) and keeps its SHA-256 in the store.

  --role R      ${ROLES.join(', ')}
  --org O       confine the key to this org's instruments (docs/api.md, org-scoped keys)
  --name N      its name in lists and logs (default: ROLE-xxxxxx)
  -c FILE       the collector's configuration (for store.sqlite)
`;

const APIKEY_LIST_HELP = `Usage: dayi apikey list -c collector.yaml

Lists the API keys of the store (name, role, org, created, revoked) and of the configuration;
never a key.
`;

const APIKEY_REVOKE_HELP = `Usage: dayi apikey revoke NAME -c collector.yaml

Revokes a key made with dayi apikey create: the next request with it is 401, also on a running
collector. Keys of the configuration are removed from the YAML instead.
`;

const AGENTS_HELP = `Usage:
  dayi agent-credentials create --instruments ID,… [--username U] [--org O] -c collector.yaml
  dayi agent-credentials list -c collector.yaml
  dayi agent-credentials rotate USERNAME -c collector.yaml
  dayi agent-credentials revoke USERNAME -c collector.yaml

MQTT credentials of edge agents kept in the collector's store instead of agents: in the YAML (those
keep working). The password is printed once; the store keeps its scrypt hash. The broker reads the
store at each CONNECT: a rotated or revoked password counts at the next connection, no restart.
Each subcommand explains itself with --help.
`;

const AGENTS_CREATE_HELP = `Usage: dayi agent-credentials create --instruments ID,… [--username U] [--org O] -c collector.yaml

Makes an agent's MQTT username and password for the instruments listed, prints the password once.
The agent connects with that username; its client id must be the username or start with
"USERNAME:" or "USERNAME/".

  --instruments ID,…   the instrument ids the agent may publish for
  --username U         default: agent-xxxxxx
  --org O              the org the credential belongs to (technicians of that org manage it over the API)
  -c FILE              the collector's configuration (for store.sqlite)
`;

const AGENTS_LIST_HELP = `Usage: dayi agent-credentials list -c collector.yaml

Lists the agent credentials of the store (username, instruments, org, created, rotated, revoked)
and the agents of the configuration; never a password.
`;

const AGENTS_ROTATE_HELP = `Usage: dayi agent-credentials rotate USERNAME -c collector.yaml

Gives the agent a new password and prints it once; the old one is refused from the next CONNECT on.
`;

const AGENTS_REVOKE_HELP = `Usage: dayi agent-credentials revoke USERNAME -c collector.yaml

Revokes the agent's credential: its next CONNECT is refused.
`;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function withStore<T>(
  file: string | undefined,
  fn: (db: DatabaseSync, config: CollectorConfig) => Promise<T> | T,
): Promise<T> {
  if (!file) throw new UsageError('-c collector.yaml is required');
  const { loadCollectorConfig } = await import('../config.ts');
  const { openDatabase } = await import('../store/sqlite.ts');
  const config = loadCollectorConfig(file);
  const db = openDatabase(config.store.sqlite, { sync: config.store.sync });
  try {
    return await fn(db, config);
  } finally {
    db.close();
  }
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`give one ${what}`);
  return positionals[0]!;
}

const SUBS: Record<string, Record<string, Sub>> = {
  instruments: {
    import: {
      help: IMPORT_HELP,
      async run(args, { stdout, stderr, env }) {
        const { values, positionals } = parse(args, {
          'dry-run': { type: 'boolean' },
          url: { type: 'string' },
          key: { type: 'string' },
        });
        const file = one(positionals, 'FILE');
        const url = (values.url ?? env.DAYI_URL ?? DEFAULT_URL).replace(/\/+$/, '');
        try {
          new URL(url);
        } catch {
          throw new UsageError(`--url: ${JSON.stringify(url)} is not a URL`);
        }
        const key = values.key ?? env.DAYI_API_KEY;
        if (!key) throw new UsageError('no API key: set DAYI_API_KEY (or give --key)');
        const bytes = readFileSync(file);
        const json = /\.json$/i.test(file);
        let res: Response;
        try {
          res = await fetch(`${url}/v1/instruments/import${values['dry-run'] ? '?dryRun=true' : ''}`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${key}`,
              'content-type': json ? 'application/json' : 'text/csv',
            },
            body: bytes,
          });
        } catch (err) {
          const cause = (err as { cause?: { message?: string } }).cause?.message;
          throw new Error(`cannot reach ${url}: ${cause ?? (err as Error).message}`);
        }
        const text = await res.text();
        let body: {
          error?: { code: string; message: string };
          rows?: number;
          created?: number;
          updated?: number;
          unchanged?: number;
          rejected?: number;
          errors?: { row: number; id: string | null; field: string; message: string }[];
        };
        try {
          body = JSON.parse(text);
        } catch {
          throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
        }
        if (!res.ok || body.error) {
          throw new Error(`HTTP ${res.status} ${body.error?.code}: ${body.error?.message}`);
        }
        for (const e of body.errors ?? []) {
          stderr.write(`${file}: row ${e.row}${e.id ? ` (${e.id})` : ''}: ${e.field}: ${e.message}\n`);
        }
        stdout.write(
          `${values['dry-run'] ? 'dry run, nothing written: ' : ''}${body.rows} rows: ${body.created} created, ${body.updated} updated, ${body.unchanged} unchanged, ${body.rejected} rejected\n`,
        );
        return body.rejected === 0 ? 0 : 1;
      },
    },
  },
  apikey: {
    create: {
      help: APIKEY_CREATE_HELP,
      async run(args, { stdout }) {
        const { values, positionals } = parse(args, {
          role: { type: 'string' },
          org: { type: 'string' },
          name: { type: 'string' },
          config: { type: 'string', short: 'c' },
        });
        if (positionals.length > 0)
          throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
        if (!values.role) throw new UsageError('--role is required');
        if (!(ROLES as readonly string[]).includes(values.role)) {
          throw new UsageError(`--role: ${JSON.stringify(values.role)} is not one of ${ROLES.join(', ')}`);
        }
        return withStore(values.config, (db, config) => {
          const { name, key } = createApiKey(
            db,
            {
              role: values.role as Role,
              ...(values.org === undefined ? {} : { org: values.org }),
              ...(values.name === undefined ? {} : { name: values.name }),
              now: Date.now(),
              createdBy: 'cli',
            },
            config.apiKeys.map((k) => k.name),
          );
          stdout.write(
            `${key}\n# API key ${name} (role ${values.role}${values.org ? `, org ${values.org}` : ''}): shown once, keep it now; only its digest is stored\n`,
          );
          return 0;
        });
      },
    },
    list: {
      help: APIKEY_LIST_HELP,
      async run(args, { stdout }) {
        const { values } = parse(args, { config: { type: 'string', short: 'c' } });
        return withStore(values.config, (db, config) => {
          const rows = [['NAME', 'ROLE', 'ORG', 'SOURCE', 'CREATED', 'REVOKED']];
          for (const k of config.apiKeys) rows.push([k.name, k.role, k.org ?? '-', 'config', '-', '-']);
          for (const k of listApiKeys(db))
            rows.push([k.name, k.role, k.org ?? '-', 'store', when(k.createdAt), when(k.revokedAt)]);
          stdout.write(table(rows));
          return 0;
        });
      },
    },
    revoke: {
      help: APIKEY_REVOKE_HELP,
      async run(args, { stdout }) {
        const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' } });
        const name = one(positionals, 'NAME');
        return withStore(values.config, (db, config) => {
          if (revokeApiKey(db, name, Date.now())) {
            stdout.write(`revoked API key ${name}\n`);
            return 0;
          }
          if (config.apiKeys.some((k) => k.name === name)) {
            throw new Error(
              `API key ${name} is in the configuration: remove it from apiKeys and restart the collector`,
            );
          }
          throw new Error(`no live API key named ${JSON.stringify(name)} in the store (dayi apikey list)`);
        });
      },
    },
  },
  'agent-credentials': {
    create: {
      help: AGENTS_CREATE_HELP,
      async run(args, { stdout }) {
        const { values, positionals } = parse(args, {
          instruments: { type: 'string' },
          username: { type: 'string' },
          org: { type: 'string' },
          config: { type: 'string', short: 'c' },
        });
        if (positionals.length > 0)
          throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
        if (!values.instruments) throw new UsageError('--instruments ID,… is required');
        const ids = values.instruments
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
        const bad = ids.find((id) => !isInstrumentId(id));
        if (bad !== undefined || ids.length === 0) {
          throw new UsageError(
            `--instruments: ${JSON.stringify(bad ?? values.instruments)} is not an instrument id`,
          );
        }
        return withStore(values.config, async (db, config) => {
          const { username, password } = await createAgentCredential(
            db,
            {
              instruments: ids,
              ...(values.username === undefined ? {} : { username: values.username }),
              ...(values.org === undefined ? {} : { org: values.org }),
              now: Date.now(),
              createdBy: 'cli',
            },
            config.agents.map((a) => a.username),
          );
          stdout.write(
            `username: ${username}\npassword: ${password}\n# shown once: put it in the agent's mqtt.password (or its environment); only a scrypt hash is stored\n`,
          );
          return 0;
        });
      },
    },
    list: {
      help: AGENTS_LIST_HELP,
      async run(args, { stdout }) {
        const { values } = parse(args, { config: { type: 'string', short: 'c' } });
        return withStore(values.config, (db, config) => {
          const rows = [['USERNAME', 'INSTRUMENTS', 'ORG', 'SOURCE', 'CREATED', 'ROTATED', 'REVOKED']];
          for (const a of config.agents)
            rows.push([a.username, a.instruments.join(','), '-', 'config', '-', '-', '-']);
          for (const a of listAgentCredentials(db)) {
            rows.push([
              a.username,
              a.instruments.join(','),
              a.org ?? '-',
              'store',
              when(a.createdAt),
              when(a.rotatedAt),
              when(a.revokedAt),
            ]);
          }
          stdout.write(table(rows));
          return 0;
        });
      },
    },
    rotate: {
      help: AGENTS_ROTATE_HELP,
      async run(args, { stdout }) {
        const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' } });
        const username = one(positionals, 'USERNAME');
        return withStore(values.config, async (db) => {
          const password = await rotateAgentCredential(db, username, Date.now());
          if (password === null)
            throw new Error(`no live agent credential ${JSON.stringify(username)} in the store`);
          stdout.write(
            `username: ${username}\npassword: ${password}\n# shown once; the old password is refused from the next CONNECT\n`,
          );
          return 0;
        });
      },
    },
    revoke: {
      help: AGENTS_REVOKE_HELP,
      async run(args, { stdout }) {
        const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' } });
        const username = one(positionals, 'USERNAME');
        return withStore(values.config, (db) => {
          if (!revokeAgentCredential(db, username, Date.now())) {
            throw new Error(`no live agent credential ${JSON.stringify(username)} in the store`);
          }
          stdout.write(`revoked agent credential ${username}\n`);
          return 0;
        });
      },
    },
  },
};

const GROUP_HELP: Record<string, string> = {
  instruments: INSTRUMENTS_HELP,
  apikey: APIKEY_HELP,
  'agent-credentials': AGENTS_HELP,
};

/** `dayi instruments|apikey|agent-credentials …`. */
export async function accessCommand(group: string, argv: string[], io: AccessIo = {}): Promise<number> {
  const full: Required<AccessIo> = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
  };
  const subs = SUBS[group]!;
  const groupHelp = GROUP_HELP[group]!;
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? full.stderr : full.stdout).write(groupHelp);
    return sub === undefined ? 2 : 0;
  }
  const cmd = subs[sub];
  if (!cmd) {
    full.stderr.write(`dayi ${group}: unknown subcommand ${JSON.stringify(sub)}\n\n${groupHelp}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    full.stdout.write(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest, full);
  } catch (err) {
    if (err instanceof UsageError) {
      full.stderr.write(`dayi ${group} ${sub}: ${err.message}\n\n${cmd.help}`);
      return 2;
    }
    const message = err instanceof AccessError ? err.message : (err as Error).message;
    full.stderr.write(`dayi ${group} ${sub}: ${message}\n`);
    return 1;
  }
}
