import { readFileSync } from 'node:fs';
import type { InputLink, Status } from '@dayi/protocols';
import { topicFor } from '@dayi/protocols/mqtt/topics.ts';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { MqttConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Outbox } from '../outbox.ts';
import { connectMqtt } from './stream.ts';

/** PUBLISHes awaiting their PUBACK at once, per session: enough to drain a backlog fast, bounded. */
export const INFLIGHT_WINDOW = 32;
/** A graceful stop waits this long for in-flight PUBACKs before closing anyway. */
export const STOP_GRACE_MS = 3000;

export interface SessionOptions {
  agentId: string;
  agentVersion: string;
  instrumentId: string;
  mqtt: MqttConfig;
  outbox: Outbox;
  log: Logger;
  now: () => number;
  /** Current link state of the instrument's inputs, carried in `status`. */
  links: () => InputLink[];
  inflightWindow?: number;
}

/**
 * MQTT client id: stable per agent and instrument, so the broker keeps one session each, and under
 * the agent's MQTT username (`<username>:<instrument id>`): the collector accepts only client ids
 * that are the username or start with `<username>:` or `<username>/`, so that no agent can take
 * over another's session.
 */
export function clientIdFor(username: string, instrumentId: string): string {
  return `${username}:${instrumentId}`;
}

/**
 * The name the broker knows this agent by: `mqtt.username` (or the user in `mqtt.url`), else the
 * CN of the client certificate (mutual TLS), else `agent.id`.
 */
export function mqttIdentity(m: MqttConfig, agentId: string): string {
  if (m.username !== undefined) return m.username;
  const user = new URL(m.url).username;
  if (user !== '') return decodeURIComponent(user);
  if (m.cert) {
    // node:crypto only for an agent with a certificate (the service process does not load it otherwise)
    const { X509Certificate } = process.getBuiltinModule('node:crypto');
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(readFileSync(m.cert)).subject)?.[1];
    if (cn) return cn;
  }
  return agentId;
}

/**
 * One MQTT session for one instrument: its own client, so its own will (retained `status`
 * online:false). It drains the instrument's outbox in order with a bounded in-flight window and
 * deletes an entry only on its PUBACK. mqtt.js resends in-flight QoS 1 messages after a reconnect,
 * and after a restart the outbox resends everything un-acked: duplicates, never gaps.
 */
export class InstrumentSession {
  private readonly opts: SessionOptions;
  private readonly log: Logger;
  private client: MqttClient | null = null;
  private cursor = 0;
  private stopping = false;
  private backoff: number;

  constructor(opts: SessionOptions) {
    this.opts = opts;
    this.log = opts.log.child({ instrumentId: opts.instrumentId });
    this.backoff = opts.mqtt.reconnect.min;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    if (this.client) return;
    const { mqtt: m, agentId, instrumentId } = this.opts;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: clientIdFor(mqttIdentity(m, agentId), instrumentId),
      clean: false,
      keepalive: Math.max(1, Math.round(m.keepalive / 1000)),
      reconnectPeriod: this.backoff,
      connectTimeout: 30_000,
      // mqtt-packet otherwise pre-builds a 2-byte Buffer for each of the 65,536 packet ids at the first
      // publish: 6.5 MiB of heap, a third of the agent's, to save an allocation per message.
      writeCache: false,
      will: {
        topic: topicFor(instrumentId, 'status'),
        payload: Buffer.from(JSON.stringify(this.status(false))),
        qos: 1,
        retain: true,
      },
      rejectUnauthorized: m.rejectUnauthorized,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password !== undefined ? { password: m.password } : {}),
      ...(m.ca ? { ca: readFileSync(m.ca) } : {}),
      ...(m.cert ? { cert: readFileSync(m.cert) } : {}),
      ...(m.key ? { key: readFileSync(m.key) } : {}),
    };
    const client = connectMqtt(m.url, options);
    this.client = client;
    client.on('connect', () => {
      this.backoff = m.reconnect.min;
      client.options.reconnectPeriod = this.backoff;
      this.log.info({ url: m.url }, 'mqtt connected');
      this.publishStatus();
      this.pump();
    });
    client.on('reconnect', () => {
      // The will is sent by the broker later; its ts says when this session (re)started.
      if (client.options.will) client.options.will.payload = Buffer.from(JSON.stringify(this.status(false)));
    });
    client.on('close', () => {
      if (this.stopping) return;
      this.backoff = Math.min(m.reconnect.max, this.backoff * 2);
      client.options.reconnectPeriod = this.backoff;
      this.log.warn({ url: m.url, retryInMs: this.backoff }, 'mqtt connection closed; will retry');
    });
    client.on('error', (err) => {
      // Never the password: mqtt.js errors carry the reason (e.g. "Connection refused: Not authorized").
      this.log.error({ url: m.url, err: err.message }, 'mqtt error');
    });
  }

  /** New entries are in the outbox: send what the window allows. */
  kick(): void {
    this.pump();
  }

  /** (Re)publishes the retained `status` online with the inputs' link state. No-op while offline. */
  publishStatus(): void {
    const client = this.client;
    if (!client?.connected || this.stopping) return;
    client.publish(
      topicFor(this.opts.instrumentId, 'status'),
      JSON.stringify(this.status(true)),
      { qos: 1, retain: true },
      (err) => {
        if (err) this.log.warn({ err: err.message }, 'status publish failed');
      },
    );
  }

  /** Publishes `status` online:false (a graceful stop sends no will) and closes the session. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client || this.stopping) return;
    this.stopping = true;
    if (client.connected) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, STOP_GRACE_MS);
        client.publish(
          topicFor(this.opts.instrumentId, 'status'),
          JSON.stringify(this.status(false)),
          { qos: 1, retain: true },
          () => {
            clearTimeout(t);
            resolve();
          },
        );
      });
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => client.end(true, () => resolve()), STOP_GRACE_MS);
      client.end(false, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.opts.outbox.inflight.clear();
  }

  private status(online: boolean): Status {
    // The status schema carries at most 64 inputs; more than that on one instrument is not plausible.
    const links = online ? this.opts.links().slice(0, 64) : [];
    return {
      ts: this.opts.now(),
      online,
      agent: { id: this.opts.agentId, version: this.opts.agentVersion },
      ...(links.length > 0 ? { inputs: links } : {}),
    };
  }

  private pump(): void {
    const client = this.client;
    const box = this.opts.outbox;
    const window = this.opts.inflightWindow ?? INFLIGHT_WINDOW;
    while (client?.connected && !this.stopping && box.inflight.size < window) {
      let msg: ReturnType<Outbox['next']>;
      try {
        msg = box.next(this.cursor);
      } catch (err) {
        // An unreadable outbox must not take the process down; the next kick or reconnect retries.
        this.log.error({ err: (err as Error).message, outbox: box.dir }, 'outbox read failed');
        return;
      }
      if (!msg) return;
      this.cursor = msg.id;
      box.inflight.add(msg.id);
      client.publish(
        topicFor(this.opts.instrumentId, msg.kind),
        JSON.stringify(msg.payload),
        { qos: 1, retain: msg.kind === 'state' },
        (err) => {
          if (!err) box.ack(msg.id);
          if (this.stopping) return;
          if (err) {
            // Not acked: send it again from here on.
            box.inflight.delete(msg.id);
            this.cursor = Math.min(this.cursor, msg.id - 1);
            this.log.warn({ err: err.message, seq: msg.payload.seq, kind: msg.kind }, 'publish failed');
          }
          this.pump();
        },
      );
    }
  }
}
