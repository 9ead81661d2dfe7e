/**
 * `notify:` in the collector config: channels, routes from (org, kind, severity, type) to channels,
 * retries and the weekly idle digest. Secrets come from the environment (`${VAR}`) and are redacted
 * from logs (app.ts LOG_REDACT); they never reach the API.
 */
import { duration } from '@dayi/protocols';
import { z } from 'zod';
import { ALERT_KINDS, ALERT_SEVERITIES, ALERT_TRANSITIONS } from '../../alerts/types.ts';

export const LOCALES = ['zh-CN', 'en'] as const;
export type Locale = (typeof LOCALES)[number];

const channelName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a channel name is 1-64 letters, digits, _ . -');
const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });
const common = {
  name: channelName,
  /** Language of this channel's messages; default `notify.locale`. */
  locale: z.enum(LOCALES).optional(),
  /** How long one attempt may take. */
  timeout: duration().default(10_000),
};

export const webhookChannelSchema = z.strictObject({
  ...common,
  type: z.literal('webhook'),
  url: httpUrl,
  /** HMAC-SHA256 key of `X-Dayi-Signature`; without it the header is not sent. */
  secret: z.string().min(16, 'webhook secrets need at least 16 characters').optional(),
  /** Extra request headers (e.g. an Authorization the receiver wants). */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}),
});

export const emailChannelSchema = z.strictObject({
  ...common,
  type: z.literal('email'),
  smtp: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
    secure: z.boolean().default(false),
    /** Refuse to send unless STARTTLS succeeds. */
    requireTLS: z.boolean().default(false),
    /** `false` accepts any server certificate (testing only). */
    rejectUnauthorized: z.boolean().default(true),
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
  }),
  from: z.string().min(3),
  to: z.array(z.string().min(3)).min(1),
});

export const wecomChannelSchema = z.strictObject({
  ...common,
  type: z.literal('wecom'),
  /** The robot's webhook, `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…` (the key is the secret). */
  url: httpUrl,
  /** Mobile numbers to @ in the group (`@all` for everyone). */
  mentionedMobiles: z.array(z.string().min(1)).default([]),
});

export const dingtalkChannelSchema = z.strictObject({
  ...common,
  type: z.literal('dingtalk'),
  /** The robot's webhook, `https://oapi.dingtalk.com/robot/send?access_token=…`. */
  url: httpUrl,
  /** The robot's signing secret (`SEC…`, 加签); without it no `timestamp`/`sign` is sent. */
  secret: z.string().min(1).optional(),
  atMobiles: z.array(z.string().min(1)).default([]),
});

export const feishuChannelSchema = z.strictObject({
  ...common,
  type: z.literal('feishu'),
  /** The robot's webhook, `https://open.feishu.cn/open-apis/bot/v2/hook/…`. */
  url: httpUrl,
  /** The robot's signature secret (签名校验); without it no `timestamp`/`sign` is sent. */
  secret: z.string().min(1).optional(),
});

export const channelSchema = z.discriminatedUnion('type', [
  webhookChannelSchema,
  emailChannelSchema,
  wecomChannelSchema,
  dingtalkChannelSchema,
  feishuChannelSchema,
]);
export type ChannelConfig = z.infer<typeof channelSchema>;
export type ChannelType = ChannelConfig['type'];

export const DEFAULT_TRANSITIONS = ['opened', 'reopened', 'resolved'] as const;
/** Transitions a route may list; `repeated` is not one of them (see `repeatEvery`). */
export const NOTIFYING_TRANSITIONS = ALERT_TRANSITIONS.filter(
  (t): t is Exclude<(typeof ALERT_TRANSITIONS)[number], 'repeated'> => t !== 'repeated',
);

export const routeSchema = z.strictObject({
  /** Every key given must match; a key left out matches anything. */
  match: z
    .strictObject({
      kind: z.array(z.enum(ALERT_KINDS)).min(1).optional(),
      org: z.array(z.string().min(1)).min(1).optional(),
      severity: z.array(z.enum(ALERT_SEVERITIES)).min(1).optional(),
      /** Anomaly types (`power_out_of_band`, …) or kinds, as `Alert.type`. */
      type: z.array(z.string().min(1)).min(1).optional(),
    })
    .default({}),
  channels: z.array(channelName).min(1),
  /** Which changes of an alert notify (`repeated` is governed by `repeatEvery`). */
  transitions: z
    .array(z.enum(NOTIFYING_TRANSITIONS))
    .min(1)
    .default([...DEFAULT_TRANSITIONS]),
  /**
   * Repeats of an open alert notify again (a reminder) at most once per this duration per alert
   * and channel, counted from its last notification there. Without it repeats never notify.
   */
  repeatEvery: duration().optional(),
});
export type RouteConfig = z.infer<typeof routeSchema>;

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

const DEFAULT_RETRY = { attempts: 8, initialDelay: 30_000, maxDelay: 3_600_000 };
const DEFAULT_DIGEST = { enabled: true, day: 'Mon' as const, time: '09:00' };

export const notifyConfigSchema = z
  .strictObject({
    /** Language of the messages: zh-CN (default) or en; a channel may override it. */
    locale: z.enum(LOCALES).default('zh-CN'),
    /** Link to an instrument in messages, `{id}` replaced, e.g. https://platform.example/instruments/{id}. */
    instrumentUrl: z
      .string()
      .regex(/^https?:\/\/\S*\{id\}\S*$/, 'must be an http(s) URL containing {id}')
      .optional(),
    channels: z.array(channelSchema).default([]),
    routes: z.array(routeSchema).default([]),
    retry: z
      .strictObject({
        /** Tries in all, the first included; after the last one the delivery is a dead letter. */
        attempts: z.number().int().min(1).max(50).default(DEFAULT_RETRY.attempts),
        /** Wait before the second try; doubled after each failure up to maxDelay (±10 % jitter). */
        initialDelay: duration().default(DEFAULT_RETRY.initialDelay),
        maxDelay: duration().default(DEFAULT_RETRY.maxDelay),
      })
      .default(DEFAULT_RETRY),
    /** Changes older than this (by their time) when they reach the notifier are not sent. */
    maxAge: duration().default(24 * 3_600_000),
    /** The weekly idle digest per org, sent through the routes that match kind idle. */
    digest: z
      .strictObject({
        enabled: z.boolean().default(true),
        day: z.enum(WEEKDAYS).default('Mon'),
        time: z
          .string()
          .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)')
          .default('09:00'),
      })
      .default(DEFAULT_DIGEST),
    /** Deliveries in flight at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** How often the queue is looked at when nothing woke it. */
    pollEvery: duration().default(1000),
  })
  .superRefine((n, ctx) => {
    const names = new Map<string, number>();
    n.channels.forEach((c, i) => {
      if (names.has(c.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['channels', i, 'name'],
          message: `channel name ${JSON.stringify(c.name)} is already used by channels.${names.get(c.name)}`,
        });
      } else names.set(c.name, i);
    });
    n.routes.forEach((r, i) => {
      r.channels.forEach((c, j) => {
        if (!names.has(c)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'channels', j],
            message: `no channel named ${JSON.stringify(c)} in notify.channels`,
          });
        }
      });
    });
    if (n.retry.maxDelay < n.retry.initialDelay) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'maxDelay'],
        message: 'must not be below initialDelay',
      });
    }
  });
export type NotifyConfig = z.infer<typeof notifyConfigSchema>;
export type NotifyConfigInput = z.input<typeof notifyConfigSchema>;
