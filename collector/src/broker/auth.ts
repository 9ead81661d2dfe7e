import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { parseTopic, TOPIC_KINDS, TOPIC_ROOT } from '@dayi/protocols';
import type { CollectorConfig } from '../config.ts';

/** One agent's credentials as kept in memory: a salted scrypt hash, never the password. */
export interface Agent {
  username: string;
  instruments: ReadonlySet<string>;
  salt: Buffer;
  hash: Buffer;
}

const KEY_BYTES = 32;
// N=2^14, r=8: about 16 MiB and tens of ms per check, run on libuv's thread pool.
const SCRYPT: ScryptOptions = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function derive(password: Buffer | string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export interface Authenticator {
  /** The agent when username and password match, else null. Takes the same time either way. */
  verify(username: string | undefined, password: Buffer | undefined): Promise<Agent | null>;
}

/** Hashes every agent password once, at load; the plaintext is not kept by this module. */
export async function createAuthenticator(agents: CollectorConfig['agents']): Promise<Authenticator> {
  const byUsername = new Map<string, Agent>();
  for (const a of agents) {
    if (byUsername.has(a.username)) throw new Error(`agents: username ${a.username} appears twice`);
    const salt = randomBytes(16);
    byUsername.set(a.username, {
      username: a.username,
      instruments: new Set(a.instruments),
      salt,
      hash: await derive(a.password, salt),
    });
  }
  // Unknown usernames are checked against a dummy hash so that timing does not reveal which exist.
  const dummySalt = randomBytes(16);
  const dummyHash = await derive(randomBytes(16), dummySalt);
  return {
    async verify(username, password) {
      const agent = username === undefined ? undefined : byUsername.get(username);
      const candidate = await derive(password ?? Buffer.alloc(0), agent?.salt ?? dummySalt);
      const ok = timingSafeEqual(candidate, agent?.hash ?? dummyHash);
      return ok && agent && password !== undefined ? agent : null;
    },
  };
}

/**
 * May `agent` subscribe to `filter`? Only to topics of its own instruments: `dayi/v1/{id}/{kind}`,
 * `dayi/v1/{id}/+` or `dayi/v1/{id}/#` with a literal id it is registered for. Everything else
 * is refused, in particular `#`, `$SYS/#` and `$dayi/#` (where the broker parks dropped messages).
 */
export function maySubscribe(agent: Agent, filter: string): boolean {
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
