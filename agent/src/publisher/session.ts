import { readFileSync } from 'node:fs';
import type { InputLink, Status } from '@dayi/protocols';
import {
  parseRefusalNotice,
  type RefusalClass,
  type RefusalNotice,
  refusalTopicFor,
} from '@dayi/protocols/mqtt/refusal.ts';
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
/**
 * After the collector refused a message it keeps (e.g. the instrument is not registered for this
 * agent yet), the session waits this long before sending it again, doubling up to the maximum;
 * a reconnect retries at once (the collector may have restarted with a corrected configuration).
 */
export const REFUSAL_RETRY_MIN_MS = 30_000;
export const REFUSAL_RETRY_MAX_MS = 10 * 60_000;
/** A refusal the agent drops is logged at most this often per reason class (they come in bursts). */
export const REFUSAL_LOG_EVERY_MS = 60_000;

/** The last refusal of one instrument's messages, as `dayi agent status` shows it. */
export interface LastRefusal {
  at: number;
  topic: string;
  seq: number | null;
  class: RefusalClass;
  reason: string;
  keep: boolean;
}

/** What `dayi agent status` shows of a session: its link and the collector's refusals. */
export interface SessionState {
  connected: boolean;
  /** Since when connected, or since when not (the session's start, or the last close). */
  since: number;
  lastError: string | null;
  refused: {
    /** Refusal notices received since the agent started. */
    total: number;
    /** Of those, for messages kept in the outbox to be sent again. */
    kept: number;
    /** Of those, for messages dropped (the collector keeps a copy with the reason). */
    dropped: number;
    byClass: Partial<Record<RefusalClass, number>>;
    last: LastRefusal | null;
  };
  /** Sending is paused after a refusal of a kept message, until `retryAt` or the next connect. */
  held: { since: number; retryAt: number } | null;
}

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
  /** Called when `state()` changed (connected, closed, refused, held, released). */
  onStateChange?: () => void;
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
  /** Where the collector's refusal notices arrive; null without a username (no agent identity). */
  private readonly refusalTopic: string | null;
  /** Notices waiting for the PUBACK they explain, by topic and seq. */
  private readonly notices = new Map<string, RefusalNotice>();
  private hold: { since: number; retryAt: number; timer: NodeJS.Timeout } | null = null;
  private retryMs = REFUSAL_RETRY_MIN_MS;
  private readonly lastRefusalLog = new Map<RefusalClass, { at: number; suppressed: number }>();
  private readonly link: { connected: boolean; since: number; lastError: string | null };
  private readonly refused: SessionState['refused'] = {
    total: 0,
    kept: 0,
    dropped: 0,
    byClass: {},
    last: null,
  };

  constructor(opts: SessionOptions) {
    this.opts = opts;
    this.log = opts.log.child({ instrumentId: opts.instrumentId });
    this.backoff = opts.mqtt.reconnect.min;
    this.refusalTopic = opts.mqtt.username !== undefined ? refusalTopicFor(opts.mqtt.username) : null;
    this.link = { connected: false, since: opts.now(), lastError: null };
  }

  /** The link and refusals, for `dayi agent status` (through the runtime's status file). */
  state(): SessionState {
    return {
      ...this.link,
      refused: { ...this.refused, byClass: { ...this.refused.byClass } },
      held: this.hold ? { since: this.hold.since, retryAt: this.hold.retryAt } : null,
    };
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
      this.setLink(true, null);
      this.publishStatus();
      // Refusal notices must be subscribed before the first message goes out, or the PUBACK of a
      // refused one would arrive unexplained and the message be deleted.
      this.listenForRefusals(client, () => {
        // A reconnect may follow a fix on the collector's side: held messages are tried at once.
        if (this.hold) this.release();
        else this.pump();
      });
    });
    client.on('message', (topic, payload) => {
      if (topic !== this.refusalTopic) return;
      const notice = parseRefusalNotice(payload);
      if (!notice) return;
      // Unmatched notices (not for a message of this session) must not pile up.
      if (this.notices.size >= 1024) this.notices.clear();
      this.notices.set(noticeKey(notice.topic, notice.seq), notice);
    });
    client.on('reconnect', () => {
      // The will is sent by the broker later; its ts says when this session (re)started.
      if (client.options.will) client.options.will.payload = Buffer.from(JSON.stringify(this.status(false)));
    });
    client.on('close', () => {
      if (this.stopping) return;
      if (this.link.connected) this.setLink(false, this.link.lastError);
      this.backoff = Math.min(m.reconnect.max, this.backoff * 2);
      client.options.reconnectPeriod = this.backoff;
      this.log.warn({ url: m.url, retryInMs: this.backoff }, 'mqtt connection closed; will retry');
    });
    client.on('error', (err) => {
      // Never the password: mqtt.js errors carry the reason (e.g. "Connection refused: Not authorized").
      this.log.error({ url: m.url, err: err.message }, 'mqtt error');
      this.setLink(this.link.connected, err.message);
    });
  }

  private setLink(connected: boolean, lastError: string | null): void {
    if (connected !== this.link.connected) this.link.since = this.opts.now();
    this.link.connected = connected;
    this.link.lastError = lastError;
    this.changed();
  }

  private changed(): void {
    try {
      this.opts.onStateChange?.();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'session state listener failed');
    }
  }

  private listenForRefusals(client: MqttClient, then: () => void): void {
    if (!this.refusalTopic) {
      then();
      return;
    }
    client.subscribe(this.refusalTopic, { qos: 0 }, (err) => {
      // An older collector refuses the subscription (SUBACK 0x80): it sends no notices either.
      if (err) this.log.debug({ err: err.message }, 'the broker sends no refusal notices');
      then();
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
    const topic = topicFor(this.opts.instrumentId, 'status');
    client.publish(topic, JSON.stringify(this.status(true)), { qos: 1, retain: true }, (err) => {
      if (err) this.log.warn({ err: err.message }, 'status publish failed');
      const notice = err ? undefined : this.takeNotice(topic, null);
      if (notice) this.noteRefusal('status', null, notice);
    });
  }

  /** Publishes `status` online:false (a graceful stop sends no will) and closes the session. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client || this.stopping) return;
    this.stopping = true;
    if (this.hold) clearTimeout(this.hold.timer);
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
    this.link.connected = false;
    this.link.since = this.opts.now();
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
    while (client?.connected && !this.stopping && !this.hold && box.inflight.size < window) {
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
      // Still in flight from before a hold: its PUBACK (or its resend by mqtt.js) is on its way.
      if (box.inflight.has(msg.id)) continue;
      box.inflight.add(msg.id);
      const topic = topicFor(this.opts.instrumentId, msg.kind);
      const sent = msg;
      client.publish(topic, JSON.stringify(msg.payload), { qos: 1, retain: msg.kind === 'state' }, (err) => {
        const notice = err ? undefined : this.takeNotice(topic, sent.payload.seq);
        if (!err && !notice) {
          box.ack(sent.id);
          this.retryMs = REFUSAL_RETRY_MIN_MS;
        }
        if (this.stopping) return;
        if (notice) this.refusedMessage(sent, notice);
        else if (err) {
          // Not acked: send it again from here on.
          box.inflight.delete(sent.id);
          this.cursor = Math.min(this.cursor, sent.id - 1);
          this.log.warn({ err: err.message, seq: sent.payload.seq, kind: sent.kind }, 'publish failed');
        }
        this.pump();
      });
    }
  }

  private takeNotice(topic: string, seq: number | null): RefusalNotice | undefined {
    const key = noticeKey(topic, seq);
    const notice = this.notices.get(key);
    if (notice) this.notices.delete(key);
    return notice;
  }

  /**
   * The collector acknowledged `msg` but refused it. Kept: it stays in the outbox and sending
   * pauses until a retry (the messages behind it would be refused for the same reason). Else the
   * PUBACK deletes it as usual: sending the same bytes again cannot change the answer.
   */
  private refusedMessage(msg: NonNullable<ReturnType<Outbox['next']>>, notice: RefusalNotice): void {
    const box = this.opts.outbox;
    if (notice.keep) {
      box.inflight.delete(msg.id);
      this.refused.kept++;
      if (!this.hold) {
        const now = this.opts.now();
        const delay = this.retryMs;
        this.retryMs = Math.min(REFUSAL_RETRY_MAX_MS, this.retryMs * 2);
        this.hold = { since: now, retryAt: now + delay, timer: setTimeout(() => this.release(), delay) };
        this.hold.timer.unref?.();
        this.log.warn(
          {
            kind: msg.kind,
            seq: msg.payload.seq,
            class: notice.class,
            reason: notice.reason,
            pending: box.stats().pending,
            retryInMs: delay,
          },
          `collector refused ${msg.kind} seq ${msg.payload.seq}: ${notice.reason}; kept in the outbox, sending again in ${Math.round(delay / 1000)} s`,
        );
      }
    } else {
      this.refused.dropped++;
    }
    this.noteRefusal(msg.kind, msg.payload.seq, notice);
  }

  private noteRefusal(kind: string, seq: number | null, notice: RefusalNotice): void {
    const r = this.refused;
    r.total++;
    r.byClass[notice.class] = (r.byClass[notice.class] ?? 0) + 1;
    r.last = {
      at: this.opts.now(),
      topic: notice.topic,
      seq,
      class: notice.class,
      reason: notice.reason,
      keep: notice.keep,
    };
    if (!notice.keep || kind === 'status') {
      // Dropped refusals come in bursts (one bad payload shape, every message): one line a minute.
      const now = this.opts.now();
      const last = this.lastRefusalLog.get(notice.class);
      if (!last || now - last.at >= REFUSAL_LOG_EVERY_MS) {
        this.log.warn(
          { kind, seq, class: notice.class, reason: notice.reason, alsoRefused: last?.suppressed ?? 0 },
          `collector refused ${kind}${seq === null ? '' : ` seq ${seq}`}: ${notice.reason}; ${kind === 'status' ? 'not kept' : 'dropped (the collector keeps a copy with the reason)'}`,
        );
        this.lastRefusalLog.set(notice.class, { at: now, suppressed: 0 });
      } else last.suppressed++;
    }
    this.changed();
  }

  /** Ends a hold: the oldest kept message is sent again, and the rest after it. */
  private release(): void {
    if (!this.hold) return;
    clearTimeout(this.hold.timer);
    this.hold = null;
    this.cursor = 0;
    this.changed();
    this.pump();
  }
}

function noticeKey(topic: string, seq: number | null): string {
  return `${topic}\u0000${seq ?? ''}`;
}
