import { execFile } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { build } from '../src/app.ts';
import { progressLine, reportCommand } from '../src/reports/cli.ts';
import { makeUptimeReport } from '../src/reports/index.ts';
import type { ReportColumnProvider } from '../src/reports/providers.ts';
import { apiConfig, auth, buildApi, KEYS, memoryLogger, submit } from './helpers/e2e-api.ts';
import { ROOT, tempDir } from './helpers/e2e-collector.ts';
import { csvSection, parseCsv, pdfText, readXlsx } from './helpers/report-files.ts';

/** A stream-like sink that keeps what is written. */
function sink(extra: { isTTY?: boolean; columns?: number } = {}) {
  const chunks: string[] = [];
  return {
    stream: {
      ...extra,
      write: (s: string) => {
        chunks.push(s);
        return true;
      },
    },
    text: () => chunks.join(''),
  };
}

const URL_UPTIME = '/v1/reports/uptime?from=2026-11-01&to=2026-11-30';
const NOW = Date.parse('2026-12-05T12:00:00+08:00');

const INSTRUMENTS = [
  { id: 'ZJ-NMR-0001', name: '600 MHz 核磁共振波谱仪', org: '浙江大学', category: 'NMR', quotaHours: 1400 },
  { id: 'ZJ-MS-0002', name: '液质联用仪', org: '浙江大学', category: 'MS', quotaHours: 800 },
  { id: 'NB-SEM-0001', name: '扫描电镜', org: '宁波大学', category: 'SEM', quotaHours: 1400 },
];

async function running(app: FastifyInstance, id: string, from: number, minutes: number) {
  for (let i = 0; i <= minutes; i++) {
    await submit(app, id, 'telemetry', {
      ts: from + i * 60_000,
      seq: i,
      metrics: { power_w: 500 },
      state: i === minutes ? 'off' : 'running',
    });
  }
}

describe('GET /v1/reports/*', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi({ instruments: INSTRUMENTS }, () => NOW);
    await running(app, 'ZJ-NMR-0001', Date.parse('2026-11-03T09:00:00+08:00'), 90);
    await running(app, 'NB-SEM-0001', Date.parse('2026-11-20T14:00:00+08:00'), 45);
  });
  afterAll(async () => {
    await app.close();
  });

  const get = (url: string, role?: keyof typeof KEYS, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers: { ...(role ? auth(role) : {}), ...headers } });

  it('reports are for auditors and admins; the public key for any key; no key is 401', async () => {
    expect((await get(URL_UPTIME)).statusCode).toBe(401);
    for (const role of ['platform', 'manager', 'technician'] as const) {
      const res = await get(URL_UPTIME, role);
      expect(res.statusCode, role).toBe(403);
      expect(res.json().error.code).toBe('forbidden');
    }
    for (const role of ['auditor', 'admin'] as const)
      expect((await get(URL_UPTIME, role)).statusCode, role).toBe(200);
    expect((await get('/v1/reports/public-key')).statusCode).toBe(401);
    expect((await get('/v1/reports/public-key', 'technician')).statusCode).toBe(200);
  });

  it('the signature in the headers verifies the exact body with the published key; the .sig is served by digest', async () => {
    const res = await get(`${URL_UPTIME}&format=pdf`, 'auditor');
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toContain('dayi-uptime_2026-11-01_2026-11-30.pdf');
    const keys = (await get('/v1/reports/public-key', 'auditor')).json() as {
      active: string;
      keys: { id: string; publicKey: string; retiredAt: string | null }[];
    };
    expect(res.headers['x-dayi-signature-key']).toBe(keys.active);
    const key = createPublicKey(keys.keys.find((k) => k.id === keys.active)!.publicKey);
    const signature = Buffer.from(String(res.headers['x-dayi-signature']), 'base64');
    expect(verify(null, res.rawPayload, key, signature)).toBe(true);
    const altered = Buffer.from(res.rawPayload);
    altered[100] = altered[100]! ^ 1;
    expect(verify(null, altered, key, signature)).toBe(false);

    const link = /^<([^>]+)>; rel="signature"$/.exec(String(res.headers.link))![1]!;
    const sig = await get(link, 'auditor');
    expect(sig.statusCode).toBe(200);
    expect(sig.json()).toMatchObject({
      format: 'dayi-report-signature/1',
      algorithm: 'Ed25519',
      keyId: keys.active,
      signature: res.headers['x-dayi-signature'],
      sha256: res.headers['x-dayi-report-sha256'],
      bytes: res.rawPayload.length,
      reportId: res.headers['x-dayi-report-id'],
    });
    expect(String(res.headers['x-dayi-report-sha256'])).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses bad parameters with the error table codes', async () => {
    const cases: [string, number, string, RegExp][] = [
      [
        '/v1/reports/uptime?from=2026-11-02&to=2026-11-01',
        400,
        'invalid_query',
        /query\.to: 2026-11-01 is before from 2026-11-02: use a date on or after from/,
      ],
      [`${URL_UPTIME}&format=docx`, 400, 'invalid_query', /query\.format/],
      [`${URL_UPTIME}&lang=fr`, 400, 'invalid_query', /query\.lang/],
      ['/v1/reports/uptime?from=2025-01-01&to=2026-11-30', 400, 'invalid_query', /at most 366 days/],
      [`${URL_UPTIME}&org=${encodeURIComponent('清华大学')}`, 404, 'org_not_found', /清华大学/],
      ['/v1/reports/signatures/abc', 400, 'invalid_params', /path\.sha256/],
      [`/v1/reports/signatures/${'0'.repeat(64)}`, 404, 'signature_not_found', /issued no report/],
    ];
    for (const [url, status, code, message] of cases) {
      const res = await get(url, 'auditor');
      expect([res.statusCode, res.json().error.code], url).toEqual([status, code]);
      expect(res.json().error.message).toMatch(message);
    }
  });

  it('org and language: one org only; English from Accept-Language, zh-CN by default', async () => {
    const zju = await get(`${URL_UPTIME}&org=${encodeURIComponent('浙江大学')}`, 'auditor');
    const records = parseCsv(zju.rawPayload);
    expect(records[0]).toEqual(['大型科研仪器运行报告（机时报告）']);
    const rows = csvSection(records, '仪器').slice(1);
    expect(rows.map((r) => r[0])).toEqual(['ZJ-MS-0002', 'ZJ-NMR-0001']);
    expect(rows.find((r) => r[0] === 'ZJ-NMR-0001')!.slice(4, 6)).toEqual(['1.50', '1.50']);
    expect(String(zju.headers['content-disposition'])).toContain(
      `filename*=UTF-8''${encodeURIComponent('dayi-uptime_2026-11-01_2026-11-30_浙江大学.csv')}`,
    );
    const en = await get(URL_UPTIME, 'auditor', { 'accept-language': 'en-GB,en;q=0.9' });
    expect(parseCsv(en.rawPayload)[0]).toEqual(['Uptime report of large research instruments']);
    const forced = await get(`${URL_UPTIME}&lang=zh-CN`, 'auditor', { 'accept-language': 'en' });
    expect(parseCsv(forced.rawPayload)[0]).toEqual(['大型科研仪器运行报告（机时报告）']);
  });

  it('the route is in the OpenAPI document', async () => {
    const doc = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
    for (const p of ['/v1/reports/uptime', '/v1/reports/public-key', '/v1/reports/signatures/{sha256}']) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
  });

  it('optional columns come from providers that are available, in every format, with totals', async () => {
    const alerts: ReportColumnProvider = {
      id: 'alerts',
      columns: [{ key: 'alertCount', kind: 'count', label: { 'zh-CN': '告警数', en: 'Alerts' } }],
      available: () => true,
      load: () => new Map([['ZJ-NMR-0001', { alertCount: 3 }]]),
    };
    const absent: ReportColumnProvider = {
      id: 'bookings',
      columns: [{ key: 'bookedHours', kind: 'hours', label: { 'zh-CN': '预约机时', en: 'Booked hours' } }],
      available: () => false,
      load: () => {
        throw new Error('not built');
      },
    };
    const ctx = app.dayi.ctx;
    const req = { from: '2026-11-01', to: '2026-11-30', lang: 'en' as const };
    const csv = await makeUptimeReport(ctx, { ...req, format: 'csv' }, { providers: [alerts, absent] });
    const [header, ...rows] = csvSection(parseCsv(csv.bytes), 'Instruments');
    expect(header!.at(-1)).toBe('Alerts');
    expect(header).not.toContain('Booked hours');
    expect(rows.map((r) => [r[0], r.at(-1)])).toEqual([
      ['NB-SEM-0001', ''],
      ['ZJ-MS-0002', ''],
      ['ZJ-NMR-0001', '3'],
    ]);
    const totals = csvSection(parseCsv(csv.bytes), 'Totals by org');
    expect(totals.find((r) => r[0] === 'Total')!.at(-1)).toBe('3');
    const xlsx = await makeUptimeReport(ctx, { ...req, format: 'xlsx' }, { providers: [alerts] });
    expect((await readXlsx(xlsx.bytes)).get('Instruments')![0]!.at(-1)).toBe('Alerts');
    const pdf = await makeUptimeReport(ctx, { ...req, format: 'pdf' }, { providers: [alerts] });
    const file = join(tmp.dir, 'providers.pdf');
    writeFileSync(file, pdf.bytes);
    expect(pdfText(file)).toMatch(/Alerts/);
  });

  const tmp = tempDir();
  afterAll(() => tmp.remove());
});

describe('the signing key in the store', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  it('is made on first use, kept across restarts, owner-only on disk, never logged; rotation keeps old reports verifiable', async () => {
    const store = join(tmp.dir, 'dayi.sqlite');
    const config = apiConfig({ store: { sqlite: store, sync: 'normal' }, instruments: INSTRUMENTS });
    const log = memoryLogger('trace');
    let app = await build(config, { logger: log.logger, now: () => NOW });
    const first = await app.inject({ method: 'GET', url: URL_UPTIME, headers: auth('auditor') });
    expect(first.statusCode).toBe(200);
    const keyId = String(first.headers['x-dayi-signature-key']);
    const { private_key } = app.dayi.ctx.db.prepare('SELECT private_key FROM report_keys').get() as {
      private_key: Uint8Array;
    };
    const secret = Buffer.from(private_key);
    for (const file of [store, `${store}-wal`]) expect(statSync(file).mode & 0o777, file).toBe(0o600);
    const pk = await app.inject({ method: 'GET', url: '/v1/reports/public-key', headers: auth('auditor') });
    await app.close();
    // The private key appears in no log line and no answer, in any encoding.
    for (const enc of ['base64', 'hex', 'base64url'] as const) {
      expect(log.text()).not.toContain(secret.toString(enc));
      expect(log.text()).not.toContain(secret.subarray(16).toString(enc));
      expect(pk.body).not.toContain(secret.subarray(16).toString(enc));
    }
    expect(log.text()).toContain(keyId);

    app = await build(config, { logger: false, now: () => NOW });
    const again = await app.inject({ method: 'GET', url: URL_UPTIME, headers: auth('auditor') });
    expect(again.headers['x-dayi-signature-key']).toBe(keyId);

    // Rotation from the CLI, beside the running collector.
    const oldReport = join(tmp.dir, 'old.csv');
    writeFileSync(oldReport, again.rawPayload);
    const yaml = join(tmp.dir, 'collector.yaml');
    writeFileSync(yaml, stringify(config));
    const out = sink();
    const code = await reportCommand(['rotate-key', '-c', yaml], {
      stdout: out.stream,
      stderr: sink().stream,
    });
    expect(code).toBe(0);
    expect(out.text()).toMatch(
      new RegExp(`retired key ${keyId}; reports are now signed with key [0-9a-f]{16}`),
    );
    const next = await app.inject({ method: 'GET', url: URL_UPTIME, headers: auth('auditor') });
    expect(next.headers['x-dayi-signature-key']).not.toBe(keyId);
    const keys = (
      await app.inject({ method: 'GET', url: '/v1/reports/public-key', headers: auth('auditor') })
    ).json() as { active: string; keys: { id: string; retiredAt: string | null }[] };
    expect(keys.active).toBe(next.headers['x-dayi-signature-key']);
    expect(keys.keys.find((k) => k.id === keyId)!.retiredAt).toMatch(/\+08:00$/);
    // The report signed with the retired key still verifies against the collector.
    const addr = await app.listen({ host: '127.0.0.1', port: 0 });
    const sig = await app.inject({
      method: 'GET',
      url: `/v1/reports/signatures/${again.headers['x-dayi-report-sha256']}`,
      headers: auth('auditor'),
    });
    writeFileSync(`${oldReport}.sig`, sig.body);
    const verified = sink();
    const ok = await reportCommand(['verify', oldReport, '--url', addr], {
      stdout: verified.stream,
      stderr: sink().stream,
      env: { DAYI_API_KEY: KEYS.auditor },
    });
    expect([ok, verified.text()]).toEqual([0, expect.stringMatching(new RegExp(`^OK .*key ${keyId}`))]);
    await app.close();
  });
});

describe('dayi report (CLI)', () => {
  const run = promisify(execFile);
  const dayi = async (args: string[]) => {
    try {
      const r = await run(process.execPath, [join(ROOT, 'bin/dayi.js'), ...args], { cwd: ROOT });
      return { code: 0, ...r };
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string };
    }
  };

  it('explains itself: report --help and each subcommand --help print their own text and exit 0', {
    timeout: 180_000,
  }, async () => {
    const top = await dayi(['report', '--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/dayi report uptime .*\n.*dayi report verify/);
    expect((await dayi(['--help'])).stdout).toContain('dayi report uptime');
    const inProcess = async (args: string[]) => {
      const out = sink();
      const err = sink();
      const code = await reportCommand(args, { stdout: out.stream, stderr: err.stream, env: {} });
      return { code, stdout: out.text(), stderr: err.text() };
    };
    for (const [sub, text] of [
      ['uptime', /Usage: dayi report uptime/],
      ['verify', /Usage: dayi report verify/],
      ['rotate-key', /Usage: dayi report rotate-key/],
    ] as const) {
      const r = await inProcess([sub, '--help']);
      expect([r.code, r.stdout], sub).toEqual([0, expect.stringMatching(text)]);
    }
    const bad = await inProcess(['uptime', '--from', '2026-11-01', '--to', 'soon', '--out', 'x.csv']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--to: "soon" is not a date YYYY-MM-DD');
    expect((await inProcess(['frobnicate'])).code).toBe(2);
  });

  it('draws a progress bar on a terminal only, and says what the collector refused', async () => {
    expect(progressLine(512 * 1024, 2 * 1024 * 1024, 20)).toBe('[#####...............]  25%  0.5 of 2.0 MB');
    expect(progressLine(20_480, 40_960, 10)).toBe('[#####.....]  50%  20.0 of 40.0 kB');
    const app = await buildApi({ instruments: INSTRUMENTS }, () => NOW);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const tmp = tempDir();
    try {
      const tty = sink({ isTTY: true, columns: 100 });
      const args = [
        'uptime',
        '--from',
        '2026-11-01',
        '--to',
        '2026-11-30',
        '--out',
        join(tmp.dir, 'r.csv'),
        '--url',
        url,
      ];
      const code = await reportCommand(args, {
        stdout: sink().stream,
        stderr: tty.stream,
        env: { DAYI_API_KEY: KEYS.auditor },
      });
      expect(code).toBe(0);
      expect(tty.text()).toContain('\r\u001b[2K[');
      expect(tty.text()).toMatch(/#\] 100%/);
      const refused = sink();
      expect(
        await reportCommand(args, {
          stdout: sink().stream,
          stderr: refused.stream,
          env: { DAYI_API_KEY: KEYS.manager },
        }),
      ).toBe(1);
      expect(refused.text()).toContain(
        'HTTP 403 forbidden: header.authorization: role manager may not reports:read',
      );
      const nokey = sink();
      expect(await reportCommand(args, { stdout: sink().stream, stderr: nokey.stream, env: {} })).toBe(1);
      expect(nokey.text()).toContain('set DAYI_API_KEY');
    } finally {
      await app.close();
      tmp.remove();
    }
  });
});
