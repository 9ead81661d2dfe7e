import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { parseTopic, RETAINED_KINDS } from '@dayi/protocols';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { CollectorContext } from '../context.ts';
import type { Ingest, IngestOutcome } from '../ingest/index.ts';
import { pem } from '../pem.ts';
import { type Agent, clientIdBelongsTo, createAuthenticator, maySubscribe } from './auth.ts';
import { createLogSummary } from './log-summary.ts';
import { sendRefusalNotice } from './refusals.ts';
import { type RetainedStore, reseedRetained } from './retained.ts';
import { createConnectThrottle } from './throttle.ts';

/** Refusals of one kind logged one by one per minute; the rest go into the minute's summary. */
const LOG_FIRST_PER_MINUTE = 10;

/**
 * Where refused, duplicate and invalid publishes are parked after their PUBACK: MQTT 3.1.1 has no
 * negative PUBACK, and disconnecting would make an agent replay the same message from its outbox
 * forever, so the broker acknowledges and drops them (as Mosquitto does for ACL-denied publishes).
 * No client may subscribe to `$dayi/…` (see `maySubscribe`), and `#` never matches `$` topics.
 */
export const DROPPED_TOPIC = '$dayi/dropped';

export interface Broker {
  /** The TCP port really listened on (config port 0 picks a free one). */
  port: number;
  tlsPort?: number;
  aedes: Aedes;
  /** Stops listening, disconnects clients and waits for their in-flight messages to settle. */
  close(): Promise<void>;
}

const NOBODY: ReadonlySet<string> = new Set();

/**
 * The embedded MQTT broker: Aedes with dayi's authentication and ACL, and the durable ingest run
 * inside `authorizePublish`, because Aedes 1.2 writes the QoS 1 PUBACK after that hook and before
 * `published` (lib/handlers/publish.js). So a PUBACK leaves only after the ledger COMMIT.
 */
export async function startBroker(ctx: CollectorContext, ingest: Ingest): Promise<Broker> {
  const { config, metrics, log } = ctx;
  const authenticator = await createAuthenticator(config.agents);
  const agents = new WeakMap<Client, Agent>();
  const emptyIdWithSession = new WeakSet<Client>();
  // An empty client id with clean session: Aedes makes one up, which the broker puts under the agent.
  const idAssigned = new WeakSet<Client>();
  const throttle = createConnectThrottle(config.mqtt.connectThrottle);
  // CONNECTs held for a backed-off username: dropped at shutdown (their sockets are closed anyway)
  const held = new Set<NodeJS.Timeout>();
  const connectLog = createLogSummary(log, {
    everyMs: 60_000,
    firstLines: LOG_FIRST_PER_MINUTE,
    message: 'MQTT CONNECTs refused in the last minute (the first ones were logged one by one)',
  });
  const tooLargeLog = createLogSummary(log, {
    everyMs: 60_000,
    firstLines: LOG_FIRST_PER_MINUTE,
    message: 'MQTT packets over mqtt.maxPacketBytes in the last minute (connections closed)',
  });
  // Publishes handed to ingest and not settled yet: shutdown waits for them.
  let inflight = 0;
  let drained: (() => void) | null = null;
  const corked = new Set<Writable>();
  const uncorkAll = () => {
    for (const conn of corked) conn.uncork();
    corked.clear();
  };

  const aedes = await Aedes.createBroker({
    preConnect(client, packet, callback) {
      // MQTT-3.1.3-8: an empty client id needs clean session 1 (and is not allowed at all in 3.1).
      if (packet.clientId === '' && (!packet.clean || packet.protocolVersion === 3)) {
        emptyIdWithSession.add(client);
      } else if (packet.clientId === '') idAssigned.add(client);
      callback(null, true);
    },

    authenticate(client, username, password, callback) {
      const address = addressOf(client);
      const refuse = (
        result: string,
        returnCode: 2 | 3 | 4 | 5,
        message: string,
        detail: Record<string, unknown> = {},
      ) => {
        metrics.connects.inc({ result });
        connectLog.note(result, address, username, () =>
          log.warn(
            {
              username: username?.slice(0, 128) ?? null,
              clientId: client.id.slice(0, 128),
              address,
              returnCode,
              ...detail,
            },
            `MQTT CONNECT refused: ${message}`,
          ),
        );
        callback(refusal(returnCode, message), null);
      };
      if (emptyIdWithSession.has(client)) {
        return refuse(
          'identifier_rejected',
          2,
          'identifier rejected: an empty client id needs clean session (MQTT-3.1.3-8)',
        );
      }
      const decision = throttle.check(address, username, ctx.now());
      if (decision.action === 'refuse') {
        return refuse(
          decision.why === 'banned' ? 'banned' : 'throttled',
          3,
          decision.why === 'banned'
            ? 'server unavailable: this agent was disconnected for refused publishes; try later'
            : 'server unavailable: too many failed CONNECTs; try later',
          { throttledBy: decision.why },
        );
      }
      if (decision.action === 'hold') {
        // Backed-off username: the CONNACK waits, so guesses come slowly and the real agent gets in.
        const release = throttle.hold(username!, ctx.now());
        const timer = setTimeout(() => {
          held.delete(timer);
          release();
          if (!client.closed) identify();
        }, decision.ms);
        held.add(timer);
        return;
      }
      identify();

      function identify(): void {
        const commonName = certificateName(client);
        if (commonName !== null) {
          // A verified agent certificate: its CN is the username; a CONNECT username must agree.
          const agent = authenticator.byCertificate(commonName);
          if (!agent || (username !== undefined && username !== commonName)) {
            throttle.failed(address, commonName, ctx.now());
            refuse(
              'not_authorized',
              5,
              agent
                ? 'not authorized: the username is not the certificate CN'
                : 'not authorized: the certificate CN is no agent',
              { commonName: commonName.slice(0, 128) },
            );
            return;
          }
          admit(agent);
          return;
        }
        authenticator.verify(username, password).then(
          (agent) => {
            if (client.closed) return;
            if (!agent) {
              throttle.failed(address, username, ctx.now());
              return username === undefined
                ? refuse('bad_credentials', 5, 'not authorized: anonymous clients are not allowed')
                : refuse('bad_credentials', 4, 'bad user name or password');
            }
            admit(agent);
          },
          (err: unknown) => {
            log.error({ err }, 'MQTT authentication failed');
            callback(refusal(3, 'server unavailable'), null);
          },
        );
      }

      function admit(agent: Agent): void {
        if (idAssigned.has(client)) client.id = `${agent.username}:${client.id}`;
        else if (!clientIdBelongsTo(agent.username, client.id)) {
          refuse(
            'identifier_rejected',
            2,
            `identifier rejected: a client id of agent ${agent.username} is "${agent.username}" or starts with "${agent.username}:" or "${agent.username}/"`,
          );
          return;
        }
        agents.set(client, agent);
        metrics.connects.inc({ result: 'accepted' });
        log.info({ username: agent.username, clientId: client.id }, 'MQTT agent connected');
        callback(null, true);
      }
    },

    authorizePublish(client, packet, callback) {
      const agent = client ? agents.get(client) : undefined;
      inflight++;
      ingest.enqueue(
        {
          topic: packet.topic,
          payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
          clientId: client?.id ?? null,
          username: agent?.username ?? null,
          // a stale will (client null) or an unauthenticated client may publish for no instrument
          allowedInstruments: agent?.instruments ?? NOBODY,
          receivedAt: ctx.now(),
        },
        (err, outcome) => {
          if (--inflight === 0) drained?.();
          // The callbacks of one commit run back to back: cork each socket once so that its
          // PUBACKs leave in one write, not one system call per message.
          if (client?.conn && !client.conn.writableCorked) {
            client.conn.cork();
            corked.add(client.conn);
            if (corked.size === 1) process.nextTick(uncorkAll);
          }
          if (err) return callback(err); // no PUBACK: Aedes closes the connection, the agent retries
          // The notice of a refusal goes out before the PUBACK (./refusals.ts).
          sendRefusalNotice(client, agent?.username, packet, outcome!, ctx.now());
          steer(packet, outcome!);
          callback(null);
          if (outcome!.abusive && client) disconnectAbusive(client, agent);
        },
      );
    },

    authorizeSubscribe(client, sub: Subscription, callback) {
      const agent = agents.get(client);
      if (agent && maySubscribe(agent, sub.topic)) return callback(null, sub);
      log.info(
        { username: agent?.username ?? null, topic: sub.topic.slice(0, 200) },
        'MQTT subscription refused (SUBACK 0x80)',
      );
      callback(null, null);
    },
  });

  /** An agent that keeps sending refused publishes: closed after this PUBACK, kept out for a while. */
  function disconnectAbusive(client: Client, agent: Agent | undefined): void {
    metrics.rejectDisconnects.inc();
    const banned = agent ? throttle.ban(agent.username, config.mqtt.rejects.banFor, ctx.now()) : 0;
    log.warn(
      {
        username: agent?.username ?? null,
        clientId: client.id.slice(0, 128),
        disconnectAfter: config.mqtt.rejects.disconnectAfter,
        refusedForMs: banned,
      },
      'MQTT client disconnected: it keeps sending refused publishes (mqtt.rejects)',
    );
    setImmediate(() => client.close());
  }

  aedes.on('client', () => metrics.clients.set(aedes.connectedClients));
  aedes.on('clientDisconnect', (client) => {
    metrics.clients.set(aedes.connectedClients);
    log.info({ clientId: client.id }, 'MQTT client disconnected');
  });
  aedes.on('clientError', (client, err) =>
    log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'),
  );
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'MQTT connection error'));
  // Aedes emits 'error' on persistence failures; unhandled it would end the process.
  (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) =>
    log.error({ err }, 'MQTT broker error'),
  );

  const restored = await reseedRetained(
    ctx.db,
    (aedes as unknown as { persistence: RetainedStore }).persistence,
  );
  if (restored > 0) log.info({ restored }, 'retained state and status restored from the ledger');

  const sockets = new Set<Socket>();
  const handle = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // Aedes reports it through clientError
    const client = aedes.handle(socket);
    limitPacketSize(client, config.mqtt.maxPacketBytes, (length) => {
      metrics.rejected.inc({ reason: 'too_large' });
      const address = socket.remoteAddress ?? 'unknown';
      tooLargeLog.note('too_large', address, agents.get(client)?.username, () =>
        log.warn(
          { clientId: client.id, address, length, maxPacketBytes: config.mqtt.maxPacketBytes },
          'MQTT packet larger than mqtt.maxPacketBytes: connection closed',
        ),
      );
    });
  };

  const servers: Server[] = [];
  try {
    // PUBACKs leave only after a commit, in bursts of small writes: Nagle's algorithm would hold
    // them back for the peer's delayed ACK and stretch every agent's round trip.
    const tcp = createServer({ noDelay: true }, handle);
    servers.push(tcp);
    const port = await listen(tcp, config.mqtt.port, config.mqtt.host, 'mqtt.port');
    let tlsPort: number | undefined;
    if (config.mqtt.tls) {
      const t = config.mqtt.tls;
      const tls = createTlsServer(
        {
          cert: pem(t.cert, 'mqtt.tls.cert'),
          key: pem(t.key, 'mqtt.tls.key'),
          noDelay: true,
          // Agent certificates: asked for when a CA is configured, required only if so configured;
          // an agent without one (or with one the CA did not sign) logs in with its password.
          ...(t.ca
            ? { ca: pem(t.ca, 'mqtt.tls.ca'), requestCert: true, rejectUnauthorized: t.requireClientCert }
            : {}),
        },
        handle,
      );
      servers.push(tls);
      tlsPort = await listen(tls, config.mqtt.tls.port, config.mqtt.host, 'mqtt.tls.port');
    }
    log.info({ host: config.mqtt.host, port, tlsPort }, 'MQTT broker listening');
    let closing: Promise<void> | null = null;
    return {
      port,
      ...(tlsPort === undefined ? {} : { tlsPort }),
      aedes,
      close() {
        closing ??= shutdown();
        return closing;
      },
    };
  } catch (err) {
    await shutdown();
    throw err;
  }

  async function shutdown(): Promise<void> {
    const stopped = servers.map(
      (s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())),
    );
    connectLog.close();
    tooLargeLog.close();
    for (const timer of held) clearTimeout(timer);
    held.clear();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    // wills of the clients just closed go through ingest too: let them land before the store closes
    if (inflight > 0) await new Promise<void>((resolve) => (drained = resolve));
    await Promise.all(stopped);
  }
}

/** Accepted messages go on as sent; everything else is acknowledged and parked (DROPPED_TOPIC). */
function steer(packet: PublishPacket, outcome: IngestOutcome): void {
  if (outcome.outcome !== 'accepted') {
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
    return;
  }
  if (packet.retain) {
    const kind = parseTopic(packet.topic)?.kind;
    // SPEC retains only state and status, and a replayed older one must not replace the latest
    if (!kind || !RETAINED_KINDS.has(kind) || outcome.latest === false) packet.retain = false;
  }
}

/** The source a CONNECT is throttled by: the IP address, or the /64 of an IPv6 address. */
function addressOf(client: Client): string {
  const raw = (client.conn as Partial<Socket> | undefined)?.remoteAddress ?? 'unknown';
  const address = raw.startsWith('::ffff:') ? raw.slice(7) : raw;
  if (!isIPv6(address)) return address;
  // one host is given a whole /64 as a rule: per address, an attacker would have 2^64 of them
  const full = expandIPv6(address);
  return `${full.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const missing = address.includes('::') ? 8 - h.length - t.length : 0;
  return [...h, ...Array<string>(Math.max(0, missing)).fill('0'), ...t];
}

/** The CN of the client certificate the TLS listener verified against mqtt.tls.ca, else null. */
function certificateName(client: Client): string | null {
  const conn = client.conn as Partial<TLSSocket> | undefined;
  if (!conn || typeof conn.getPeerCertificate !== 'function' || !conn.authorized) return null;
  const cn = conn.getPeerCertificate().subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && name.length > 0 ? name : null;
}

function refusal(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/**
 * A port the broker could not listen on. Keeps the system's `code` (EADDRINUSE, EACCES, …) so that
 * callers can act on it (the demo takes a free port instead), and names the config key to change.
 */
export class ListenError extends Error {
  readonly code: string | undefined;
  /** The configuration key of the port: `mqtt.port`, `mqtt.tls.port`. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  constructor(key: string, host: string, port: number, cause: NodeJS.ErrnoException) {
    super(`${key}: cannot listen on ${host}:${port}: ${cause.message}`, { cause });
    this.name = 'ListenError';
    this.code = cause.code;
    this.key = key;
    this.host = host;
    this.port = port;
  }
}

function listen(server: Server, port: number, host: string, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(key, host, port, err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

interface PacketParser {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Enforces mqtt.maxPacketBytes on the remaining length announced in each fixed header, before
 * the body is buffered: Aedes 1.2 has no such limit, and mqtt-packet would buffer up to 256 MiB.
 */
function limitPacketSize(client: Client, max: number, onTooLarge: (length: number) => void): void {
  const parser = (client as unknown as { _parser?: PacketParser })._parser;
  if (!parser || typeof parser._parseLength !== 'function') {
    throw new Error('aedes internals changed: cannot enforce mqtt.maxPacketBytes');
  }
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    if (!parseLength()) return false;
    if (parser.packet.length <= max) return true;
    onTooLarge(parser.packet.length);
    parser._emitError(
      new Error(`packet of ${parser.packet.length} bytes exceeds mqtt.maxPacketBytes ${max}`),
    );
    return false;
  };
}
