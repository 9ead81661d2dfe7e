import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '@dayi/protocols';
import { describe, expect, it } from 'vitest';
import { collectorConfigSchema } from '../src/config.ts';
import { notifyConfigSchema } from '../src/notify/pure/config.ts';
import { renderAlert } from '../src/notify/pure/message.ts';
import { backoffMs, robotOutcome } from '../src/notify/pure/retry.ts';
import { routeChange, routeDigest } from '../src/notify/pure/routing.ts';
import { latestSlot } from '../src/notify/pure/schedule.ts';
import { verifyWebhookSignature, webhookSignature } from '../src/notify/pure/signing.ts';
import { alertChange } from './helpers/alerts.ts';

const issuesOf = (input: unknown) => {
  const r = notifyConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('notify config', () => {
  it('names what is wrong with its path', () => {
    expect(
      issuesOf({
        channels: [
          { name: 'ops', type: 'webhook', url: 'https://ops.example/hook', secret: 'short' },
          { name: 'ops', type: 'wecom', url: 'ftp://x' },
          { name: 'x', type: 'pager', url: 'https://x' },
        ],
        routes: [
          { match: { kind: ['offline', 'nope'] }, channels: ['ops', 'missing'], transitions: ['repeated'] },
        ],
        retry: { initialDelay: '1h', maxDelay: '1m' },
        digest: { time: '9:00' },
      }),
    ).toEqual(
      expect.arrayContaining([
        'channels.0.secret: webhook secrets need at least 16 characters',
        'channels.1.url: must be an http(s) URL',
        expect.stringMatching(/^channels\.2\.type: /),
        expect.stringMatching(/^routes\.0\.match\.kind\.1: /),
        expect.stringMatching(/^routes\.0\.transitions\.0: /),
        'digest.time: must be HH:MM (24 h)',
      ]),
    );
    expect(
      issuesOf({
        channels: [
          { name: 'ops', type: 'webhook', url: 'https://ops.example/hook' },
          { name: 'ops', type: 'wecom', url: 'https://qyapi.example/send?key=k' },
        ],
        routes: [{ channels: ['ops', 'missing'] }],
        retry: { initialDelay: '1h', maxDelay: '1m' },
      }),
    ).toEqual([
      'channels.1.name: channel name "ops" is already used by channels.0',
      'routes.0.channels.1: no channel named "missing" in notify.channels',
      'retry.maxDelay: must not be below initialDelay',
    ]);
  });

  it('the issue example parses, secrets from the environment; a missing variable is an error at its key', () => {
    const yaml = `
notify:
  channels:
    - { name: ops, type: webhook, url: "https://ops.example/hook", secret: "\${HOOK_SECRET}" }
    - { name: lab-group, type: wecom, url: "\${WECOM_ROBOT_URL}" }
  routes:
    - { match: { kind: [offline, anomaly, idle], org: [Zhejiang University] }, channels: [ops, lab-group] }
`;
    const env = {
      HOOK_SECRET: 'hook-secret-0123456789',
      WECOM_ROBOT_URL: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc',
    };
    const config = parseConfig(yaml, collectorConfigSchema, { env });
    expect(config.notify.locale).toBe('zh-CN');
    expect(config.notify.channels[0]).toMatchObject({ secret: 'hook-secret-0123456789', timeout: 10_000 });
    expect(config.notify.routes[0]!.transitions).toEqual(['opened', 'reopened', 'resolved']);
    expect(() => parseConfig(yaml, collectorConfigSchema, { env: { HOOK_SECRET: env.HOOK_SECRET } })).toThrow(
      /notify\.channels\.1\.url: environment variable WECOM_ROBOT_URL is not set/,
    );
  });
});

describe('routing', () => {
  const routes = notifyConfigSchema.parse({
    channels: ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'webhook', url: 'https://x.example/' })),
    routes: [
      { match: { kind: ['offline', 'anomaly'], org: ['ZJU'] }, channels: ['a', 'b'] },
      {
        match: { severity: ['critical'] },
        channels: ['b', 'c'],
        transitions: ['opened', 'acknowledged'],
        repeatEvery: '4h',
      },
      { match: { type: ['vendor_fault'] }, channels: ['d'], repeatEvery: '1h' },
      { match: { kind: ['idle'] }, channels: ['d'] },
    ],
  }).routes;
  const channels = (c: ReturnType<typeof alertChange>) =>
    routeChange(c, routes).map((t) => [t.channel, t.repeatEvery]);

  it('every matching route adds its channels, each channel once', () => {
    expect(channels(alertChange('opened', 0, { org: 'ZJU', severity: 'critical' }))).toEqual([
      ['a', null],
      ['b', null],
      ['c', null],
    ]);
    expect(channels(alertChange('opened', 0, { org: 'Other', severity: 'warning' }))).toEqual([]);
    expect(channels(alertChange('opened', 0, { org: null, kind: 'idle', type: 'idle' }))).toEqual([
      ['d', null],
    ]);
  });

  it('transitions per route; repeats only where repeatEvery is set, the smallest one wins', () => {
    expect(channels(alertChange('acknowledged', 0, { org: 'ZJU', severity: 'critical' }))).toEqual([
      ['b', null],
      ['c', null],
    ]);
    expect(
      channels(
        alertChange('repeated', 0, {
          org: 'ZJU',
          severity: 'critical',
          kind: 'anomaly',
          type: 'vendor_fault',
        }),
      ),
    ).toEqual([
      ['b', 4 * 3_600_000],
      ['c', 4 * 3_600_000],
      ['d', 3_600_000],
    ]);
    expect(channels(alertChange('repeated', 0, { org: 'ZJU', severity: 'warning' }))).toEqual([]);
  });

  it('the digest goes to routes that accept kind idle and the org', () => {
    expect(routeDigest('ZJU', routes)).toEqual(['b', 'c', 'd']);
    expect(routeDigest(null, routes)).toEqual(['b', 'c', 'd']);
  });
});

describe('signing, retries, schedule, messages', () => {
  it('X-Dayi-Signature verifies, and fails for another body, secret or an old timestamp', () => {
    const body = '{"event":"alert.opened"}';
    const header = webhookSignature('s3cret-0123456789ab', body, 1_764_380_000);
    // Computed independently (Python's hmac module).
    expect(header).toBe('t=1764380000,v1=801b7640c3d9f7a7182d2b6c17070d1007e5abe4dc4b660d58124c1e3317a1b7');
    expect(verifyWebhookSignature(header, body, 's3cret-0123456789ab', 1_764_380_100)).toBe(true);
    expect(verifyWebhookSignature(header, `${body} `, 's3cret-0123456789ab', 1_764_380_100)).toBe(false);
    expect(verifyWebhookSignature(header, body, 'other-secret-0123456', 1_764_380_100)).toBe(false);
    expect(verifyWebhookSignature(header, body, 's3cret-0123456789ab', 1_764_380_000 + 301)).toBe(false);
    expect(verifyWebhookSignature(undefined, body, 's3cret-0123456789ab', 0)).toBe(false);
  });

  it('backoff doubles from initialDelay up to maxDelay, with ±10 % jitter', () => {
    const p = { attempts: 8, initialDelay: 30_000, maxDelay: 3_600_000 };
    expect([1, 2, 3, 4, 8, 9].map((a) => backoffMs(p, a, 0.5))).toEqual([
      30_000, 60_000, 120_000, 240_000, 3_600_000, 3_600_000,
    ]);
    expect(backoffMs(p, 1, 0)).toBe(27_000);
    expect(backoffMs(p, 1, 1)).toBe(33_000);
  });

  it('robot answers: ok, rate limits retried, other codes are final', () => {
    expect(robotOutcome('wecom', '{"errcode":0,"errmsg":"ok"}')).toEqual({ ok: true, detail: 'ok' });
    expect(robotOutcome('dingtalk', '{"errcode":130101,"errmsg":"send too fast"}')).toMatchObject({
      ok: false,
      retry: true,
    });
    expect(robotOutcome('dingtalk', '{"errcode":310000,"errmsg":"keywords not in content"}')).toMatchObject({
      ok: false,
      retry: false,
    });
    expect(robotOutcome('feishu', '{"StatusCode":0,"StatusMessage":"success"}')).toMatchObject({ ok: true });
    expect(robotOutcome('feishu', '{"code":19021,"msg":"sign match fail"}')).toMatchObject({
      ok: false,
      retry: false,
    });
    expect(robotOutcome('feishu', '<html>')).toMatchObject({ ok: false, retry: true });
  });

  it('the digest slot is the latest weekday/time at or before now, in the zone, DST included', () => {
    const mon9 = { day: 'Mon' as const, time: '09:00' };
    expect(latestSlot(Date.parse('2026-11-30T09:00:00+08:00'), mon9, 'Asia/Shanghai')).toBe(
      Date.parse('2026-11-30T09:00:00+08:00'),
    );
    expect(latestSlot(Date.parse('2026-11-30T08:59:00+08:00'), mon9, 'Asia/Shanghai')).toBe(
      Date.parse('2026-11-23T09:00:00+08:00'),
    );
    expect(latestSlot(Date.parse('2026-12-03T12:00:00+08:00'), mon9, 'Asia/Shanghai')).toBe(
      Date.parse('2026-11-30T09:00:00+08:00'),
    );
    // Berlin: the Monday after the switch to summer time is at +02:00.
    expect(latestSlot(Date.parse('2026-03-30T10:00:00+02:00'), mon9, 'Europe/Berlin')).toBe(
      Date.parse('2026-03-30T09:00:00+02:00'),
    );
    expect(latestSlot(Date.parse('2026-03-30T08:30:00+02:00'), mon9, 'Europe/Berlin')).toBe(
      Date.parse('2026-03-23T09:00:00+01:00'),
    );
  });

  it('messages in zh-CN and en: the instrument by name and id, who and the note', () => {
    const change = alertChange(
      'resolved',
      Date.parse('2026-11-29T10:30:00+08:00'),
      {
        kind: 'anomaly',
        type: 'long_run',
        severity: 'critical',
        openedAt: Date.parse('2026-11-28T08:00:00+08:00'),
        count: 3,
      },
      { by: 'manager-key', note: '已联系实验室' },
    );
    const event = {
      type: 'alert' as const,
      ...change,
      instrument: { id: 'ZJ-NMR-0001', name: '600 MHz NMR', org: 'Zhejiang University' },
    };
    const zh = renderAlert(event, { locale: 'zh-CN', timezone: 'Asia/Shanghai' });
    expect(zh.title).toBe('【严重】告警已处理：600 MHz NMR（ZJ-NMR-0001） 运行异常：连续运行超时');
    expect(zh.fields).toEqual([
      ['仪器', '600 MHz NMR（ZJ-NMR-0001）'],
      ['管理单位', 'Zhejiang University'],
      ['类型', '运行异常：连续运行超时'],
      ['级别', '严重'],
      ['状态', '已处理'],
      ['首次发生', '2026-11-28 08:00 (+08:00)'],
      ['时间', '2026-11-29 10:30 (+08:00)'],
      ['次数', '3'],
      ['操作人', 'manager-key'],
      ['备注', '已联系实验室'],
    ]);
    const en = renderAlert(event, {
      locale: 'en',
      timezone: 'Asia/Shanghai',
      instrumentUrl: 'https://p.example/i/{id}',
    });
    expect(en.title).toBe('[critical] Alert resolved: 600 MHz NMR (ZJ-NMR-0001) anomaly: running too long');
    expect(en.link).toEqual({ text: 'Open instrument', url: 'https://p.example/i/ZJ-NMR-0001' });
  });
});

describe('the house: pure modules import nothing stateful', () => {
  const SRC = new URL('../src/', import.meta.url).pathname;
  const PURE_DIRS = ['notify/pure', 'figures'];
  // What a pure module may import: other pure modules, zod, the protocols, node:crypto.
  const ALLOWED = [
    /^\.\/[a-z-]+\.ts$/,
    /^\.\.\/\.\.\/alerts\/types\.ts$/,
    /^\.\.\/(\.\.\/)?derive\/pure\/[a-z-]+\.ts$/,
    /^zod$/,
    /^@dayi\/protocols$/,
    /^node:crypto$/,
  ];
  for (const dir of PURE_DIRS) {
    for (const file of readdirSync(join(SRC, dir)).filter((f) => f.endsWith('.ts'))) {
      it(`${dir}/${file}`, () => {
        const text = readFileSync(join(SRC, dir, file), 'utf8');
        const imports = [...text.matchAll(/^import[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);
        expect(imports.filter((i) => !ALLOWED.some((a) => a.test(i)))).toEqual([]);
        expect(text).not.toMatch(/Date\.now\(\)|new Date\(\)\s*[;,)]|Math\.random/);
      });
    }
  }
});
