import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertChange } from '../src/alerts/types.ts';
import { build } from '../src/app.ts';
import type { CollectorConfigInput } from '../src/config.ts';
import { inTransaction } from '../src/derive/io/store.ts';
import { alertChange } from './helpers/alerts.ts';
import { metricSum } from './helpers/e2e-agent-metrics.ts';
import { apiConfig, auth, memoryLogger } from './helpers/e2e-api.ts';
import { type Receiver, startReceiver } from './helpers/receivers.ts';

const WEBHOOK_SECRET = 'whsec-0123456789abcdef';
const DING_SECRET = 'SEC-ding-signing-secret';
const FEISHU_SECRET = 'feishu-signing-secret';
const SMTP_PASSWORD = 'smtp-password-42';
const T0 = Date.parse('2026-11-29T10:00:00+08:00');
const MIN = 60_000;

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** RFC 2047 encoded words (=?UTF-8?B?…?= / =?UTF-8?Q?…?=) back to text. */
function decodeWords(s: string): string {
  return s
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head);
  return m ? decodeWords(m[1]!) : '';
}

/** The text/plain part of a (multipart) message, transfer-decoded. */
function plainPart(raw: string): string {
  const m =
    /Content-Type: text\/plain[^\n]*\r?\nContent-Transfer-Encoding: (\S+)\r?\n\r?\n([\s\S]*?)\r?\n(?:--|$)/i.exec(
      raw,
    );
  if (!m) throw new Error(`no text/plain part in:\n${raw}`);
  const [, enc, body] = m;
  if (enc!.toLowerCase() === 'base64')
    return Buffer.from(body!.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc!.toLowerCase() === 'quoted-printable') {
    const bytes = body!
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body!;
}

describe('notification channels against local receivers', () => {
  let hook: Receiver;
  let wecom: Receiver;
  let ding: Receiver;
  let feishu: Receiver;
  let smtp: SMTPServer;
  let smtpPort: number;
  const mails: Mail[] = [];
  let smtpReply: () => Error | null = () => null;
  let app: FastifyInstance;
  const clock = { now: T0 };
  const log = memoryLogger('debug');

  const feed = (change: AlertChange) => inTransaction(app.dayi.ctx.db, () => app.dayi.notifier.sink(change));
  const run = () => app.dayi.notifier.dispatcher.runDue();

  beforeAll(async () => {
    hook = await startReceiver();
    wecom = await startReceiver(() => ({ body: JSON.stringify({ errcode: 0, errmsg: 'ok' }) }));
    ding = await startReceiver(() => ({ body: JSON.stringify({ errcode: 0, errmsg: 'ok' }) }));
    feishu = await startReceiver(() => ({ body: JSON.stringify({ code: 0, msg: 'success', data: {} }) }));
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      onAuth(a, _s, cb) {
        if (a.username === 'dayi' && a.password === SMTP_PASSWORD) cb(null, { user: a.username });
        else cb(new Error('bad credentials'));
      },
      onData(stream, session, cb) {
        let raw = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => {
          raw += d;
        });
        stream.on('end', () => {
          const err = smtpReply();
          if (err) return cb(err);
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
          });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    smtpPort = (smtp.server.address() as AddressInfo).port;
    const config: CollectorConfigInput = apiConfig({
      notify: {
        instrumentUrl: 'https://platform.example/instruments/{id}',
        channels: [
          { name: 'ops', type: 'webhook', url: `${hook.url}/hooks/dayi`, secret: WEBHOOK_SECRET },
          { name: 'lab-wecom', type: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send?key=WECOM-KEY-123` },
          {
            name: 'lab-ding',
            type: 'dingtalk',
            url: `${ding.url}/robot/send?access_token=DING-TOKEN-1`,
            secret: DING_SECRET,
            atMobiles: ['13800000000'],
          },
          {
            name: 'lab-feishu',
            type: 'feishu',
            url: `${feishu.url}/open-apis/bot/v2/hook/FEISHU-HOOK-1`,
            secret: FEISHU_SECRET,
            locale: 'en',
          },
          {
            name: 'mail',
            type: 'email',
            smtp: { host: '127.0.0.1', port: smtpPort, user: 'dayi', password: SMTP_PASSWORD },
            from: 'dayi@example.org',
            to: ['lab-manager@example.org'],
          },
        ],
        routes: [
          {
            match: { kind: ['offline', 'anomaly', 'idle'], org: ['Zhejiang University'] },
            channels: ['ops', 'lab-wecom', 'lab-ding', 'lab-feishu', 'mail'],
          },
          { match: { severity: ['critical'] }, channels: ['ops'], repeatEvery: '1h' },
        ],
        retry: { attempts: 3, initialDelay: '1m', maxDelay: '10m' },
      },
    });
    app = await build(config, {
      logger: log.logger,
      now: () => clock.now,
      notifyAutoStart: false,
      notify: { random: () => 0.5 },
    });
  });
  afterAll(async () => {
    await app.close();
    await Promise.all([hook.close(), wecom.close(), ding.close(), feishu.close()]);
    await new Promise<void>((r) => smtp.close(() => r()));
  });
  beforeEach(() => {
    for (const r of [hook, wecom, ding, feishu]) r.received.length = 0;
    mails.length = 0;
    hook.answer = () => ({ status: 200 });
    smtpReply = () => null;
  });

  it('an opened alert reaches every channel in its documented format, signed', async () => {
    clock.now = T0;
    feed(alertChange('opened', T0 - MIN, { id: 'al-open', severity: 'warning' }));
    expect(await run()).toBe(5);

    // Webhook: X-Dayi-Signature t=<s>,v1=<hex HMAC-SHA256("<t>.<body>")>, an idempotency key.
    expect(hook.received).toHaveLength(1);
    const h = hook.received[0]!;
    expect(h.path).toBe('/hooks/dayi');
    const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(h.headers['x-dayi-signature']));
    expect(sig).not.toBeNull();
    expect(Number(sig![1])).toBe(Math.floor(T0 / 1000));
    expect(sig![2]).toBe(createHmac('sha256', WEBHOOK_SECRET).update(`${sig![1]}.${h.body}`).digest('hex'));
    expect(h.headers['idempotency-key']).toMatch(/^dayi-[0-9a-f]{40}$/);
    const body = JSON.parse(h.body);
    expect(body).toMatchObject({
      id: h.headers['idempotency-key'],
      event: 'alert.opened',
      alert: {
        id: 'al-open',
        kind: 'offline',
        severity: 'warning',
        status: 'open',
        openedAt: '2026-11-29T09:59:00.000+08:00',
      },
      instrument: {
        id: 'ZJ-NMR-0001',
        name: '600 MHz NMR',
        org: 'Zhejiang University',
        url: 'https://platform.example/instruments/ZJ-NMR-0001',
      },
      message: { locale: 'zh-CN', title: '【警告】新告警：600 MHz NMR（ZJ-NMR-0001） 离线' },
    });
    expect(body.message.text).toContain('管理单位：Zhejiang University');

    // WeCom: the key in the URL, a markdown message.
    expect(wecom.received).toHaveLength(1);
    const w = wecom.received[0]!;
    expect([w.path, w.query.get('key')]).toEqual(['/cgi-bin/webhook/send', 'WECOM-KEY-123']);
    const wb = JSON.parse(w.body);
    expect(wb.msgtype).toBe('markdown');
    expect(wb.markdown.content).toContain('**【警告】新告警：600 MHz NMR（ZJ-NMR-0001） 离线**');
    expect(wb.markdown.content).toContain('[查看仪器](https://platform.example/instruments/ZJ-NMR-0001)');

    // DingTalk: timestamp (ms) and sign = base64(HMAC-SHA256(secret, "<timestamp>\n<secret>")) in the query.
    const d = ding.received[0]!;
    expect(d.query.get('access_token')).toBe('DING-TOKEN-1');
    const ts = d.query.get('timestamp')!;
    expect(Number(ts)).toBe(T0);
    expect(d.query.get('sign')).toBe(
      createHmac('sha256', DING_SECRET).update(`${ts}\n${DING_SECRET}`).digest('base64'),
    );
    const db = JSON.parse(d.body);
    expect(db).toMatchObject({
      msgtype: 'markdown',
      markdown: { title: '【警告】新告警：600 MHz NMR（ZJ-NMR-0001） 离线' },
      at: { atMobiles: ['13800000000'], isAtAll: false },
    });
    expect(db.markdown.text).toContain('@13800000000');

    // Feishu: timestamp (s) and sign = base64(HMAC-SHA256 keyed "<timestamp>\n<secret>" over ""), in English here.
    const f = JSON.parse(feishu.received[0]!.body);
    expect(feishu.received[0]!.path).toBe('/open-apis/bot/v2/hook/FEISHU-HOOK-1');
    expect(Number(f.timestamp)).toBe(Math.floor(T0 / 1000));
    expect(f.sign).toBe(createHmac('sha256', `${f.timestamp}\n${FEISHU_SECRET}`).update('').digest('base64'));
    expect(f.msg_type).toBe('post');
    expect(f.content.post.en_us.title).toBe('[warning] Alert: 600 MHz NMR (ZJ-NMR-0001) offline');
    expect(f.content.post.en_us.content.at(-1)).toEqual([
      { tag: 'a', text: 'Open instrument', href: 'https://platform.example/instruments/ZJ-NMR-0001' },
    ]);

    // E-mail over SMTP with AUTH, subject and text in zh-CN, a stable Message-ID.
    expect(mails).toHaveLength(1);
    const m = mails[0]!;
    expect([m.from, m.to]).toEqual(['dayi@example.org', ['lab-manager@example.org']]);
    expect(header(m.raw, 'Subject')).toBe('【警告】新告警：600 MHz NMR（ZJ-NMR-0001） 离线');
    const mailKey = (
      await app.inject({ method: 'GET', url: '/v1/notifications?channel=mail', headers: auth('manager') })
    ).json().items[0].idempotencyKey;
    expect(header(m.raw, 'Message-ID')).toBe(`<${mailKey}@dayi.collector>`);
    expect(plainPart(m.raw)).toContain('仪器：600 MHz NMR（ZJ-NMR-0001）');

    const all = (
      await app.inject({ method: 'GET', url: '/v1/notifications?status=delivered', headers: auth('manager') })
    ).json();
    expect(all.items).toHaveLength(5);
    expect(all.items.every((i: { attempts: number }) => i.attempts === 1)).toBe(true);
  });

  it('after a 500 the webhook is retried with backoff, the same key and a fresh signature', async () => {
    clock.now = T0 + 10 * MIN;
    let calls = 0;
    hook.answer = () => (++calls === 1 ? { status: 500, body: 'busy' } : { status: 204 });
    feed(alertChange('resolved', clock.now, { id: 'al-open', severity: 'warning' }));
    await run();
    expect(hook.received).toHaveLength(1);
    const [pending] = (
      await app.inject({
        method: 'GET',
        url: '/v1/notifications?status=pending&channel=ops',
        headers: auth('manager'),
      })
    ).json().items;
    expect(pending).toMatchObject({
      attempts: 1,
      event: 'alert.resolved',
      lastError: expect.stringMatching(/^HTTP 500 .*busy/),
    });
    // Not due before the backoff (initialDelay 1 min, jitter fixed at 0): nothing is sent.
    clock.now += MIN - 1;
    expect(await run()).toBe(0);
    clock.now += 1;
    expect(await run()).toBe(1);
    expect(hook.received).toHaveLength(2);
    const [a, b] = hook.received;
    expect(b!.headers['idempotency-key']).toBe(a!.headers['idempotency-key']);
    expect(b!.body).toBe(a!.body);
    expect(b!.headers['x-dayi-signature']).not.toBe(a!.headers['x-dayi-signature']);
    expect(b!.headers['x-dayi-delivery-attempt']).toBe('2');
  });

  it('after the last try a dead letter is listed in the API and counted in /metrics; it can be queued again', async () => {
    clock.now = T0 + 60 * MIN;
    hook.answer = () => ({ status: 503 });
    feed(
      alertChange('opened', clock.now, {
        id: 'al-dead',
        kind: 'anomaly',
        type: 'vendor_fault',
        severity: 'critical',
      }),
    );
    await run();
    clock.now += MIN;
    await run();
    clock.now += 2 * MIN;
    await run();
    expect(hook.received).toHaveLength(3);
    const dead = (
      await app.inject({ method: 'GET', url: '/v1/notifications/dead-letters', headers: auth('manager') })
    ).json();
    expect(dead.items).toHaveLength(1);
    expect(dead.items[0]).toMatchObject({
      channel: 'ops',
      alertId: 'al-dead',
      status: 'dead',
      attempts: 3,
      lastError: expect.stringMatching(/^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/…/),
      title: '【严重】新告警：600 MHz NMR（ZJ-NMR-0001） 运行异常：设备故障',
    });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metricSum(metrics, 'dayi_notify_queue', { status: 'dead' })).toBe(1);
    expect(metricSum(metrics, 'dayi_notify_deliveries_total', { channel: 'ops', outcome: 'dead' })).toBe(1);
    expect(
      metricSum(metrics, 'dayi_notify_deliveries_total', { channel: 'ops', outcome: 'retry' }),
    ).toBeGreaterThanOrEqual(2);
    // Only admin may queue it again; then it is delivered.
    const id = dead.items[0].id;
    const url = `/v1/notifications/dead-letters/${id}/retry`;
    expect((await app.inject({ method: 'POST', url, headers: auth('manager') })).statusCode).toBe(403);
    hook.answer = () => ({ status: 200 });
    const again = await app.inject({ method: 'POST', url, headers: auth('admin') });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'pending', attempts: 0 });
    await run();
    expect(hook.received).toHaveLength(4);
    const after = (await app.inject({ method: 'GET', url, headers: auth('admin') })).statusCode;
    expect(after).toBe(404);
    const notDead = await app.inject({ method: 'POST', url, headers: auth('admin') });
    expect(notDead.json().error.code).toBe('delivery_not_found');
    expect(
      metricSum((await app.inject({ method: 'GET', url: '/metrics' })).body, 'dayi_notify_queue', {
        status: 'dead',
      }),
    ).toBe(0);
  });

  it('a robot refusal retrying cannot fix is a dead letter at once; a rate limit is retried', async () => {
    clock.now = T0 + 120 * MIN;
    ding.answer = () => ({ body: JSON.stringify({ errcode: 310000, errmsg: 'sign not match' }) });
    wecom.answer = () => ({ body: JSON.stringify({ errcode: 45009, errmsg: 'api freq out of limit' }) });
    feishu.answer = () => ({ status: 502, body: 'bad gateway' });
    feed(alertChange('opened', clock.now, { id: 'al-robots' }));
    await run();
    const rows = (
      await app.inject({ method: 'GET', url: '/v1/notifications?limit=20', headers: auth('manager') })
    )
      .json()
      .items.filter((i: { alertId: string }) => i.alertId === 'al-robots');
    const byChannel = Object.fromEntries(rows.map((r: { channel: string }) => [r.channel, r]));
    expect(byChannel['lab-ding']).toMatchObject({
      status: 'dead',
      attempts: 1,
      lastError: 'robot error 310000: sign not match',
    });
    expect(byChannel['lab-wecom']).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: 'robot error 45009: api freq out of limit',
    });
    // The hook token in Feishu's path is a credential: errors show scheme, host and port only.
    expect(byChannel['lab-feishu'].lastError).toMatch(
      /^HTTP 502 from http:\/\/127\.0\.0\.1:\d+\/…: bad gateway$/,
    );
    feishu.answer = () => ({ body: JSON.stringify({ code: 0, msg: 'success' }) });
    ding.answer = () => ({ body: JSON.stringify({ errcode: 0, errmsg: 'ok' }) });
    wecom.answer = () => ({ body: JSON.stringify({ errcode: 0, errmsg: 'ok' }) });
  });

  it('an SMTP 5xx is a dead letter, a 4xx is retried', async () => {
    clock.now = T0 + 180 * MIN;
    smtpReply = () => Object.assign(new Error('mailbox unavailable'), { responseCode: 550 });
    feed(alertChange('opened', clock.now, { id: 'al-mail-5xx' }));
    await run();
    smtpReply = () => Object.assign(new Error('try again later'), { responseCode: 451 });
    feed(alertChange('opened', clock.now, { id: 'al-mail-4xx' }));
    await run();
    const rows = (
      await app.inject({ method: 'GET', url: '/v1/notifications?channel=mail', headers: auth('manager') })
    ).json().items;
    const of = (alert: string) => rows.find((r: { alertId: string }) => r.alertId === alert);
    expect(of('al-mail-5xx')).toMatchObject({ status: 'dead', lastError: expect.stringContaining('550') });
    expect(of('al-mail-4xx')).toMatchObject({ status: 'pending', lastError: expect.stringContaining('451') });
    smtpReply = () => null;
    clock.now += MIN;
    await run();
    expect(mails.map((m) => header(m.raw, 'Subject'))).toEqual([
      '【警告】新告警：600 MHz NMR（ZJ-NMR-0001） 离线',
    ]);
  });

  it('routing: other orgs, repeats within repeatEvery, acknowledgements and stale changes queue nothing', async () => {
    clock.now = T0 + 240 * MIN;
    const count = () =>
      (app.dayi.ctx.db.prepare('SELECT COUNT(*) AS n FROM notify_deliveries').get() as { n: number }).n;
    const before = count();
    feed(alertChange('opened', clock.now, { id: 'al-other', org: 'Westlake', instrumentId: 'W-1' }));
    feed(alertChange('repeated', clock.now, { id: 'al-open', count: 5 }));
    feed(alertChange('acknowledged', clock.now, { id: 'al-open' }, { by: 'manager-key', note: 'on it' }));
    feed(alertChange('opened', clock.now - 2 * 86_400_000, { id: 'al-stale' }));
    expect(count()).toBe(before);
    // A critical alert repeating: a reminder on `ops` at most once an hour.
    feed(
      alertChange('repeated', clock.now, { id: 'al-crit', severity: 'critical', org: 'Westlake', count: 2 }),
    );
    feed(
      alertChange('repeated', clock.now + MIN, {
        id: 'al-crit',
        severity: 'critical',
        org: 'Westlake',
        count: 3,
      }),
    );
    expect(count()).toBe(before + 1);
    clock.now += 61 * MIN;
    feed(
      alertChange('repeated', clock.now, { id: 'al-crit', severity: 'critical', org: 'Westlake', count: 9 }),
    );
    expect(count()).toBe(before + 2);
    // The very same change fed twice (a replay) is queued once.
    feed(
      alertChange('resolved', clock.now, { id: 'al-crit', severity: 'critical', org: 'Westlake', count: 9 }),
    );
    feed(
      alertChange('resolved', clock.now, { id: 'al-crit', severity: 'critical', org: 'Westlake', count: 9 }),
    );
    expect(count()).toBe(before + 3);
    await run();
  });

  it('no secret reaches the log or the API', async () => {
    const text = log.text();
    const api = (
      await app.inject({ method: 'GET', url: '/v1/notifications?limit=1000', headers: auth('admin') })
    ).body;
    for (const secret of [
      WEBHOOK_SECRET,
      DING_SECRET,
      FEISHU_SECRET,
      SMTP_PASSWORD,
      'WECOM-KEY-123',
      'DING-TOKEN-1',
      'FEISHU-HOOK-1',
    ]) {
      expect(text, secret).not.toContain(secret);
      expect(api, secret).not.toContain(secret);
    }
    expect(text).toContain('notify: attempt failed; will retry');
  });
});
