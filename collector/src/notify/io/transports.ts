/** Sending one delivery over the network: HTTP for webhooks and robots, SMTP for e-mail. */
import nodemailer, { type Transporter } from 'nodemailer';
import type { ChannelConfig } from '../pure/config.ts';
import type { EmailMessage, HttpRequest } from '../pure/requests.ts';
import { type Outcome, retryAfterMs, retryableStatus, robotOutcome } from '../pure/retry.ts';

/**
 * A URL as it may appear in errors, logs and the API: scheme, host and port only. Robot URLs carry
 * their credential (WeCom `key`, DingTalk `access_token`, Feishu's hook token in the path).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(url)';
  }
}

function describeError(err: unknown, url: string): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  const parts = [e.name === 'TimeoutError' ? 'timed out' : e.message];
  if (e.cause?.code) parts.push(e.cause.code);
  else if (e.cause?.message) parts.push(e.cause.message);
  return parts.join(': ').split(url).join(redactUrl(url)).slice(0, 300);
}

export async function sendHttp(
  channel: Exclude<ChannelConfig, { type: 'email' }>,
  req: HttpRequest,
  now: () => number,
): Promise<Outcome> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(req.url, {
      method: 'POST',
      headers: req.headers,
      body: req.body,
      redirect: 'error',
      signal: AbortSignal.timeout(channel.timeout),
    });
    text = await res.text();
  } catch (err) {
    return { ok: false, retry: true, error: `${redactUrl(req.url)}: ${describeError(err, req.url)}` };
  }
  if (!res.ok) {
    const retryAfter = retryAfterMs(res.headers.get('retry-after'), now());
    return {
      ok: false,
      retry: retryableStatus(res.status),
      error: `HTTP ${res.status} from ${redactUrl(req.url)}${text ? `: ${text.slice(0, 200)}` : ''}`,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    };
  }
  if (channel.type === 'webhook') return { ok: true, detail: `HTTP ${res.status}` };
  return robotOutcome(channel.type, text);
}

type EmailChannel = Extract<ChannelConfig, { type: 'email' }>;

/** One SMTP transport per channel, kept for the collector's life (pooled connections). */
export class Mailers {
  private readonly transports = new Map<string, Transporter>();

  private transportFor(channel: EmailChannel): Transporter {
    let t = this.transports.get(channel.name);
    if (!t) {
      const { smtp } = channel;
      t = nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        requireTLS: smtp.requireTLS,
        tls: { rejectUnauthorized: smtp.rejectUnauthorized },
        ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
        connectionTimeout: channel.timeout,
        greetingTimeout: channel.timeout,
        socketTimeout: channel.timeout,
        pool: true,
        maxConnections: 2,
      });
      this.transports.set(channel.name, t);
    }
    return t;
  }

  async send(channel: EmailChannel, mail: EmailMessage): Promise<Outcome> {
    try {
      const info = await this.transportFor(channel).sendMail({
        from: channel.from,
        to: channel.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: mail.headers,
        messageId: mail.messageId,
      });
      return { ok: true, detail: String(info.response ?? 'sent') };
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      // SMTP 5xx is a permanent refusal (bad recipient, rejected); 4xx and connection trouble pass.
      const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500;
      const where = `${channel.smtp.host}:${channel.smtp.port}`;
      return {
        ok: false,
        retry: !permanent,
        error: `SMTP ${where}: ${e.responseCode ?? e.code ?? ''} ${e.message}`.slice(0, 300),
      };
    }
  }

  close(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
  }
}
