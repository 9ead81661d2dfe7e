import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { parseTopic, refusalTopicFor, TOPIC_KINDS, TOPIC_ROOT } from '@dayi/protocols';
import { createStoredAgentVerifier } from '../access/agent-credentials.ts';
import type { CollectorConfig } from '../config.ts';

/** One agent's credentials as kept in memory: a keyed digest of the password, never the password. */
export interface Agent {
  username: string;
  instruments: ReadonlySet<string>;
  /** null: the agent has no password and connects only with a certificate (mqtt.tls.ca). */
  digest: Buffer | null;
  /** Its credential is in the store (not the configuration): a revocation ends its session too. */
  stored?: true;
}

export interface Authenticator {
  /** The agent when username and password match, else null. Takes the same time either way. */
  verify(username: string | undefined, password: Buffer | undefined): Promise<Agent | null>;
  /** The agent named by a verified client certificate's CN, else null. */
  byCertificate(commonName: string): Agent | null;
}

/**
 * Does `clientId` belong to `username`? It must be the username itself or start with the username
 * and `:` or `/` (usernames contain neither: config-security.ts). So no agent can take over,
 * resume or disconnect another agent's session, whatever client id it picks.
 */
export function clientIdBelongsTo(username: string, clientId: string): boolean {
  if (!clientId.startsWith(username)) return false;
  if (clientId.length === username.length) return true;
  const sep = clientId[username.length];
  return sep === ':' || sep === '/';
}

/**
 * Keeps each agent password as an HMAC-SHA256 under a random key made at start, and compares
 * digests in constant time. Not a slow hash (scrypt, as this module once used): the plaintext is in
 * the configuration and the environment this process reads anyway, so a slow hash in memory
 * protects little, and it costs every CONNECT. scrypt at N=2^14 took 67 ms here: bench/ingest
 * measured 22 CONNECTs a second (1,850 now), so 16,000 agents reconnecting after a collector
 * restart would have waited 12 minutes, and hashing their passwords delayed the start as long.
 */
export async function createAuthenticator(
  agents: CollectorConfig['agents'],
  db?: DatabaseSync,
): Promise<Authenticator> {
  // Credentials made with `dayi agent-credentials` or POST /v1/agents, read at each CONNECT.
  const stored = db ? createStoredAgentVerifier(db) : null;
  const key = randomBytes(32);
  const digestOf = (password: Buffer | string) => createHmac('sha256', key).update(password).digest();
  const byUsername = new Map<string, Agent>();
  for (const a of agents) {
    if (byUsername.has(a.username)) throw new Error(`agents: username ${a.username} appears twice`);
    byUsername.set(a.username, {
      username: a.username,
      instruments: new Set(a.instruments),
      digest: a.password === undefined ? null : digestOf(a.password),
    });
  }
  // Unknown usernames are checked against a digest nobody knows, so timing does not tell which exist.
  const nobody = digestOf(randomBytes(32));
  return {
    async verify(username, password) {
      const agent = username === undefined ? undefined : byUsername.get(username);
      const ok = timingSafeEqual(digestOf(password ?? Buffer.alloc(0)), agent?.digest ?? nobody);
      if (ok && agent?.digest && password !== undefined) return agent;
      if (agent || !stored || username === undefined || password === undefined) return null;
      const s = await stored(username, password);
      return s
        ? { username: s.username, instruments: new Set(s.instruments), digest: null, stored: true }
        : null;
    },
    byCertificate(commonName) {
      return byUsername.get(commonName) ?? null;
    },
  };
}

/**
 * May `agent` subscribe to `filter`? Only to topics of its own instruments: `dayi/v1/{id}/{kind}`,
 * `dayi/v1/{id}/+` or `dayi/v1/{id}/#` with a literal id it is registered for, and to its own
 * refusal topic `$dayi/v1/agents/{username}/refused`. Everything else is refused, in particular
 * `#`, `$SYS/#`, `$dayi/#` (where the broker parks dropped messages) and other agents' refusals.
 */
export function maySubscribe(agent: Agent, filter: string): boolean {
  // Its own refusal notices (protocols/src/mqtt/refusal.ts), and nobody else's.
  if (filter === refusalTopicFor(agent.username)) return true;
  const parts = filter.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return false;
  const id = parts[2]!;
  const kind = parts[3]!;
  if (!agent.instruments.has(id)) return false;
  return kind === '+' || kind === '#' || (TOPIC_KINDS as readonly string[]).includes(kind);
}

/** May `agent` publish on `topic`? The ingest decides the same thing and records why not. */
export function mayPublish(agent: Agent, topic: string): boolean {
  const parsed = parseTopic(topic);
  return parsed !== null && agent.instruments.has(parsed.instrumentId);
}
