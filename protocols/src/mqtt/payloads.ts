import { z } from 'zod';
import { METRIC_NAME_PATTERN, STATES, type State } from './names.ts';
import { REFUSAL_CLASSES } from './refusal.ts';
import type { TopicKind } from './topics.ts';

/** Largest payload accepted on any dayi topic. Larger ones are rejected, not truncated. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Most metrics one telemetry message may carry. */
export const MAX_METRICS = 64;

export { METRIC_NAME_PATTERN, STATES, type State };
export const stateSchema = z.enum(STATES);
/** A state as the collector reports it, including derived `unknown`. */
export type DerivedState = State | 'unknown';

export function isPowered(state: DerivedState): boolean {
  return state !== 'off' && state !== 'unknown';
}

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
/** Event time: ms since the epoch, UTC. Bounded to years 2000..2200 to catch seconds-vs-ms mistakes. */
export const tsSchema = z
  .number()
  .int('must be an integer number of milliseconds')
  .min(946_684_800_000, 'must be ms since epoch (is it in seconds?)')
  .max(7_258_118_400_000, 'is too far in the future');
export const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/**
 * Optional on every payload with a `seq`: the id of the agent's outbox, made when the outbox is
 * created. seq starts again at 0 only with a new outbox, so a new epoch tells the collector that
 * the agent lost its outbox (and what was in it) rather than that it replays old messages.
 */
export const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const epochSchema = z.string().regex(EPOCH_PATTERN, 'must be 1 to 64 of A-Z a-z 0-9 _ -');

export const metricsSchema = z.record(z.string(), finite).superRefine((m, ctx) => {
  const names = Object.keys(m);
  if (names.length > MAX_METRICS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_METRICS} metrics` });
  for (const name of names) {
    if (!METRIC_NAME_PATTERN.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'metric names are snake_case, e.g. power_w' });
    }
  }
});

export const telemetrySchema = z.object({
  ts: tsSchema,
  seq: seqSchema,
  metrics: metricsSchema,
  state: stateSchema.optional(),
  epoch: epochSchema.optional(),
});

export const statePayloadSchema = z
  .object({
    ts: tsSchema,
    seq: seqSchema,
    state: stateSchema,
    since: tsSchema,
    /** What decided the state: a metric name (power_w) or an input (opcua). */
    source: z.string().max(128).optional(),
    epoch: epochSchema.optional(),
  })
  // A state cannot have begun after the moment it is reported for.
  .refine((s) => s.since <= s.ts, { path: ['since'], message: 'must not be after ts' });

/** Link state of one agent input, carried in `status` (issue: per-input link state). */
export const inputLinkSchema = z.object({
  name: z.string().max(128),
  type: z.string().max(32),
  connected: z.boolean(),
  lastError: z.string().max(1024).optional(),
  lastErrorAt: tsSchema.optional(),
});

export const statusSchema = z.object({
  ts: tsSchema,
  online: z.boolean(),
  agent: z.object({ id: z.string().min(1).max(128), version: z.string().max(64) }).optional(),
  inputs: z.array(inputLinkSchema).max(64).optional(),
});

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const eventSchema = z.object({
  ts: tsSchema,
  seq: seqSchema,
  type: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'event types are snake_case, e.g. vendor_fault'),
  severity: z.enum(SEVERITIES),
  detail: z.record(z.string(), z.unknown()).optional(),
  epoch: epochSchema.optional(),
});

/**
 * A refusal notice on `$dayi/v1/agents/{username}/refused` (./refusal.ts): not one of the four
 * instrument topics, so not in TopicPayloads; the agent reads it with `parseRefusalNotice`.
 */
export const refusalNoticeSchema = z.object({
  ts: tsSchema,
  topic: z.string().max(65_535),
  seq: seqSchema.nullable(),
  messageId: z.number().int().min(1).max(65_535).nullable(),
  class: z.enum(REFUSAL_CLASSES),
  reason: z.string(),
  keep: z.boolean(),
});

export type Telemetry = z.infer<typeof telemetrySchema>;
export type StatePayload = z.infer<typeof statePayloadSchema>;
export type Status = z.infer<typeof statusSchema>;
export type InputLink = z.infer<typeof inputLinkSchema>;
export type Event = z.infer<typeof eventSchema>;

/** The one typed map topic kind -> payload, used by agent and collector alike. */
export interface TopicPayloads {
  telemetry: Telemetry;
  state: StatePayload;
  status: Status;
  event: Event;
}

export const payloadSchemas: { [K in TopicKind]: z.ZodType<TopicPayloads[K]> } = {
  telemetry: telemetrySchema,
  state: statePayloadSchema,
  status: statusSchema,
  event: eventSchema,
};

export type DecodeResult<K extends TopicKind> =
  | { ok: true; payload: TopicPayloads[K] /** The payload's text, as received. */; text: string }
  | { ok: false; reason: string };

// One decoder for every payload: decode() without `stream` keeps no state between calls.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates one payload. Never throws: the reason names what was wrong
 * (`not JSON`, `metrics.power_w: must be a finite number`, …) so it can be kept with the message.
 */
export function decodePayload<K extends TopicKind>(kind: K, raw: Uint8Array | string): DecodeResult<K> {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  if (size > MAX_PAYLOAD_BYTES)
    return { ok: false, reason: `payload too large: ${size} bytes > ${MAX_PAYLOAD_BYTES}` };
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : utf8.decode(raw);
  } catch {
    return { ok: false, reason: 'not UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (kind === 'telemetry') {
    const fast = plainTelemetry(json);
    if (fast) return { ok: true, payload: fast as TopicPayloads[K], text };
  }
  const parsed = payloadSchemas[kind].safeParse(json);
  if (!parsed.success) return { ok: false, reason: formatIssues(parsed.error.issues) };
  return { ok: true, payload: parsed.data, text };
}

const STATE_SET: ReadonlySet<unknown> = new Set(STATES);
const TS_MIN = 946_684_800_000;
const TS_MAX = 7_258_118_400_000;

/**
 * The common valid telemetry, checked without zod: telemetry is nearly all the traffic and the
 * generic record parse costs more than the rest of ingest's JavaScript. Returns exactly what
 * `telemetrySchema` returns (unknown keys dropped), or null, and then zod decides and explains.
 * A property test holds the two equal.
 */
export function plainTelemetry(json: unknown): Telemetry | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const { ts, seq, metrics, state, epoch } = json as Record<string, unknown>;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < TS_MIN || ts > TS_MAX) return null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return null;
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return null;
  if (Object.getPrototypeOf(metrics) !== Object.prototype) return null;
  const out: Record<string, number> = {};
  let n = 0;
  for (const name in metrics) {
    if (!Object.hasOwn(metrics, name)) return null;
    const value = (metrics as Record<string, unknown>)[name];
    if (++n > MAX_METRICS || typeof value !== 'number' || !Number.isFinite(value)) return null;
    if (!METRIC_NAME_PATTERN.test(name)) return null;
    out[name] = value;
  }
  const out2: Telemetry = { ts, seq, metrics: out };
  if ('state' in (json as object)) {
    if (!STATE_SET.has(state)) return null;
    out2.state = state as State;
  }
  if ('epoch' in (json as object)) {
    if (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch)) return null;
    out2.epoch = epoch;
  }
  return out2;
}

/** `path.to.key: message; …` — the path names what was wrong. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

export function encodePayload<K extends TopicKind>(_kind: K, payload: TopicPayloads[K]): string {
  return JSON.stringify(payload);
}
