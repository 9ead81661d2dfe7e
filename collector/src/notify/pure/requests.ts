/**
 * From a queued event to what goes on the wire, per channel type: URL, headers and body, signed.
 * Pure: the send time comes in as `now`, so tests (and retries) are reproducible.
 */
import { isoWithOffset } from '../../derive/pure/calendar.ts';
import type { ChannelConfig } from './config.ts';
import type { NotifyEvent } from './events.ts';
import { type Message, plainText, render } from './message.ts';
import { dingtalkSign, feishuSign, webhookSignature } from './signing.ts';

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  messageId: string;
}

export interface DeliveryMeta {
  /** The delivery's idempotency key: the same on every retry of it. */
  key: string;
  /** Attempt number, from 1. */
  attempt: number;
  /** Wall clock of this attempt, ms. */
  now: number;
  timezone: string;
  locale: 'zh-CN' | 'en';
  instrumentUrl?: string | undefined;
}

export const USER_AGENT = 'dayi-collector/0.1';

const JSON_TYPE = 'application/json; charset=utf-8';

/** The webhook body: the event as data (times ISO with offset) plus the rendered message. */
export function webhookBody(
  event: NotifyEvent,
  meta: DeliveryMeta,
  message: Message,
): Record<string, unknown> {
  const iso = (ts: number | null) => (ts === null ? null : isoWithOffset(ts, meta.timezone));
  const text = plainText(message, meta.locale);
  if (event.type === 'digest') {
    return {
      id: meta.key,
      event: 'digest.idle',
      org: event.org,
      slot: iso(event.slot),
      items: event.items.map((i) => ({ ...i, lastPoweredAt: iso(i.lastPoweredAt) })),
      neverReported: event.neverReported,
      message: { locale: meta.locale, title: message.title, text },
    };
  }
  const a = event.alert;
  return {
    id: meta.key,
    event: `alert.${event.transition}`,
    transition: event.transition,
    at: iso(event.at),
    by: event.by,
    note: event.note,
    alert: {
      id: a.id,
      instrumentId: a.instrumentId,
      org: a.org,
      kind: a.kind,
      type: a.type,
      severity: a.severity,
      status: a.status,
      openedAt: iso(a.openedAt),
      lastSeenAt: iso(a.lastSeenAt),
      count: a.count,
      closedAt: iso(a.closedAt),
      detail: a.detail,
    },
    instrument: { ...event.instrument, url: message.link?.url ?? null },
    message: { locale: meta.locale, title: message.title, text },
  };
}

function markdownLines(m: Message, quote: string): string[] {
  const out = m.fields.map(([k, v]) => `${quote}**${k}**：${v}`);
  for (const l of m.lines) out.push(`${quote}${l}`);
  if (m.link) out.push(`[${m.link.text}](${m.link.url})`);
  return out;
}

function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** The HTTP request of a webhook or group-robot channel. */
export function httpRequest(
  channel: Exclude<ChannelConfig, { type: 'email' }>,
  event: NotifyEvent,
  meta: DeliveryMeta,
): HttpRequest {
  const message = render(event, meta);
  const base = { 'content-type': JSON_TYPE, 'user-agent': USER_AGENT };
  switch (channel.type) {
    case 'webhook': {
      const body = JSON.stringify(webhookBody(event, meta, message));
      const headers: Record<string, string> = {
        ...channel.headers,
        ...base,
        'idempotency-key': meta.key,
        'x-dayi-delivery-attempt': String(meta.attempt),
      };
      if (channel.secret) {
        headers['x-dayi-signature'] = webhookSignature(channel.secret, body, Math.floor(meta.now / 1000));
      }
      return { url: channel.url, headers, body };
    }
    case 'wecom': {
      // WeCom robots: markdown content of at most 4096 bytes; @ only works in text messages, so
      // mentions are sent as the mobile list of a text message when configured.
      const content = truncateBytes(
        [`**${message.title}**`, ...markdownLines(message, '> ')].join('\n'),
        4000,
      );
      const body =
        channel.mentionedMobiles.length > 0
          ? {
              msgtype: 'text',
              text: {
                content: truncateBytes(plainText(message, meta.locale), 2000),
                mentioned_mobile_list: channel.mentionedMobiles,
              },
            }
          : { msgtype: 'markdown', markdown: { content } };
      return { url: channel.url, headers: base, body: JSON.stringify(body) };
    }
    case 'dingtalk': {
      const at = channel.atMobiles.map((m) => `@${m}`).join(' ');
      const text = [
        `#### ${message.title}`,
        '',
        ...markdownLines(message, '- '),
        ...(at ? ['', at] : []),
      ].join('\n');
      const body = {
        msgtype: 'markdown',
        markdown: { title: message.title, text: truncateBytes(text, 5000) },
        at: { atMobiles: channel.atMobiles, isAtAll: false },
      };
      const url = channel.secret
        ? withQuery(channel.url, {
            timestamp: String(meta.now),
            sign: dingtalkSign(channel.secret, meta.now),
          })
        : channel.url;
      return { url, headers: base, body: JSON.stringify(body) };
    }
    case 'feishu': {
      const lang = meta.locale === 'zh-CN' ? 'zh_cn' : 'en_us';
      const content: { tag: string; text: string; href?: string }[][] = message.fields.map(([k, v]) => [
        { tag: 'text', text: `${k}${meta.locale === 'zh-CN' ? '：' : ': '}${v}` },
      ]);
      for (const l of message.lines) content.push([{ tag: 'text', text: l }]);
      if (message.link) content.push([{ tag: 'a', text: message.link.text, href: message.link.url }]);
      const body: Record<string, unknown> = {
        msg_type: 'post',
        content: { post: { [lang]: { title: message.title, content } } },
      };
      if (channel.secret) {
        const ts = Math.floor(meta.now / 1000);
        body.timestamp = String(ts);
        body.sign = feishuSign(channel.secret, ts);
      }
      return { url: channel.url, headers: base, body: JSON.stringify(body) };
    }
  }
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The e-mail of an event: plain text and a small HTML table, with a stable Message-ID. */
export function emailMessage(event: NotifyEvent, meta: DeliveryMeta): EmailMessage {
  const m = render(event, meta);
  const rows = m.fields
    .map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('');
  const lines = m.lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('');
  const html = [
    `<h3>${escapeHtml(m.title)}</h3>`,
    rows ? `<table>${rows}</table>` : '',
    lines ? `<ul>${lines}</ul>` : '',
    m.link ? `<p><a href="${escapeHtml(m.link.url)}">${escapeHtml(m.link.text)}</a></p>` : '',
  ].join('');
  return {
    subject: m.title,
    text: plainText(m, meta.locale),
    html,
    headers: { 'X-Dayi-Idempotency-Key': meta.key },
    // The same Message-ID on a retry lets mail systems drop a duplicate.
    messageId: `<${meta.key}@dayi.collector>`,
  };
}

/** Cut a string to at most `max` UTF-8 bytes without splitting a character. */
export function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch, 'utf8');
    if (bytes + b > max - 3) break;
    out += ch;
    bytes += b;
  }
  return `${out}…`;
}
