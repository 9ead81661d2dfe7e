import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportCommand } from '../src/reports/cli.ts';
import {
  AGENT,
  e2eConfig,
  getJson,
  PLATFORM_KEY,
  ROOT,
  type RunningCollector,
  startInProcess,
  tempDir,
  waitFor,
} from './helpers/e2e-collector.ts';
import {
  at,
  connect,
  DAY,
  daysAgo,
  HOUR,
  type Message,
  publishAll,
  shuffled,
  telemetryEveryMinute,
} from './helpers/e2e-mqtt.ts';
import { csvSection, parseCsv, pdfText, readXlsx } from './helpers/report-files.ts';

/**
 * A fleet publishes over MQTT (mqtt.js, as an agent would); an auditor downloads the uptime report
 * in each format with `dayi report uptime`, and every hour figure in it equals what
 * /v1/instruments/{id}/usage answers for the same period. `dayi report verify` says OK for the
 * files as downloaded and FAILED after any one byte changes.
 */

const AUDITOR_KEY = 'auditor-key-0123456789abcdef';
const NMR = 'ZJU-NMR-0001';
const EVIL = 'ZJU-MS-0002'; // a hostile name, as a spreadsheet would run it
const SEM = 'NIMTE-SEM-0003';
const SILENT = 'ZJU-XRD-0004'; // registered, never reported
const OLD = 'NIMTE-TEM-0005'; // last powered 120 days ago

const NAMES: Record<string, { name: string; org: string; category: string; quotaHours?: number }> = {
  [NMR]: { name: '600 MHz 核磁共振波谱仪', org: '浙江大学', category: '波谱', quotaHours: 1400 },
  [EVIL]: {
    name: '=HYPERLINK("http://evil.example","点我")',
    org: '浙江大学',
    category: '-2+3',
    quotaHours: 800,
  },
  [SEM]: { name: '扫描电子显微镜', org: '中国科学院宁波材料所', category: '电镜', quotaHours: 1400 },
  [SILENT]: { name: 'X 射线衍射仪', org: '浙江大学', category: 'XRD', quotaHours: 1400 },
  [OLD]: { name: '透射电子显微镜', org: '中国科学院宁波材料所', category: '电镜', quotaHours: 1400 },
};
const IDS = Object.keys(NAMES);

interface Usage {
  poweredHours: number;
  runningHours: number;
  coverage: number;
}

const run = promisify(execFile);
async function dayi(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const r = await run(process.execPath, [join(ROOT, 'bin/dayi.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function capture() {
  let text = '';
  return {
    stream: {
      write: (s: string) => {
        text += s;
        return true;
      },
    },
    text: () => text,
  };
}

describe('signed uptime reports from MQTT evidence, checked against /usage', () => {
  const tmp = tempDir();
  let collector: RunningCollector;
  const from = daysAgo(30);
  const to = daysAgo(1);
  const usage = new Map<string, Usage>();

  beforeAll(async () => {
    collector = await startInProcess(
      e2eConfig(tmp.dir, IDS, {
        apiKeys: [
          { name: 'platform', key: PLATFORM_KEY, role: 'platform' },
          { name: 'auditor', key: AUDITOR_KEY, role: 'auditor' },
          { name: 'manager', key: 'manager-key-0123456789abcdef', role: 'manager' },
        ],
        instruments: IDS.map((id) => ({ id, ...NAMES[id] })),
      }),
    );
    const day20 = daysAgo(20);
    const night = daysAgo(10);
    const messages: Message[] = [
      // A working day with a lunch break, and a run across midnight.
      ...telemetryEveryMinute(NMR, at(day20, '08:00'), at(day20, '18:00'), (t) =>
        t >= at(day20, '12:00') && t < at(day20, '13:30') ? 'idle' : 'running',
      ),
      ...telemetryEveryMinute(
        NMR,
        at(night, '21:30'),
        at(daysAgo(9), '03:30'),
        (t) => (t < at(night, '22:00') ? 'standby' : 'running'),
        10_000,
      ),
      // Odd minutes: hours that do not round evenly.
      ...telemetryEveryMinute(EVIL, at(daysAgo(15), '09:07'), at(daysAgo(15), '13:50'), (t) =>
        Math.floor(t / 60_000) % 7 === 0 ? 'idle' : 'running',
      ),
      ...telemetryEveryMinute(SEM, at(daysAgo(5), '10:00'), at(daysAgo(5), '11:11'), () => 'running'),
      ...telemetryEveryMinute(SEM, at(daysAgo(2), '23:50'), at(daysAgo(1), '00:20'), () => 'fault', 20_000),
      ...telemetryEveryMinute(
        OLD,
        Date.now() - 120 * DAY - 2 * HOUR,
        Date.now() - 120 * DAY,
        () => 'running',
      ),
    ];
    const client = await connect(collector.mqttPort, AGENT);
    try {
      await publishAll(client, shuffled(messages, 11));
    } finally {
      await client.endAsync();
    }
    // Acknowledged means committed; the days derive when read.
    await waitFor(
      'usage of the NMR',
      () => getJson<Usage>(collector.baseUrl, `/v1/instruments/${NMR}/usage?from=${from}&to=${to}`),
      (u) => u.poweredHours === 16,
    );
    for (const id of IDS) {
      usage.set(
        id,
        await getJson<Usage>(collector.baseUrl, `/v1/instruments/${id}/usage?from=${from}&to=${to}`),
      );
    }
  });
  afterAll(async () => {
    await collector?.close();
    tmp.remove();
  });

  async function download(format: 'csv' | 'xlsx' | 'pdf', extra: string[] = []) {
    const out = join(tmp.dir, `uptime.${format}`);
    const stdout = capture();
    const stderr = capture();
    const code = await reportCommand(
      [
        'uptime',
        '--from',
        from,
        '--to',
        to,
        '--format',
        format,
        '--out',
        out,
        '--url',
        collector.baseUrl,
        ...extra,
      ],
      { stdout: stdout.stream, stderr: stderr.stream, env: { DAYI_API_KEY: AUDITOR_KEY } },
    );
    expect(code, stderr.text()).toBe(0);
    expect(stdout.text()).toMatch(/signature OK/);
    // Not a terminal: no progress bar.
    expect(stderr.text()).toBe('');
    return out;
  }

  it('the figures under test are real: hours on the active instruments, none on the silent one', () => {
    expect(usage.get(NMR)).toMatchObject({ poweredHours: 16, runningHours: 14 });
    expect(usage.get(EVIL)!.runningHours).toBeGreaterThan(3);
    expect(usage.get(SEM)!.poweredHours).toBeGreaterThan(1);
    expect(usage.get(SILENT)).toMatchObject({ poweredHours: 0, runningHours: 0, coverage: 0 });
  });

  it('CSV: UTF-8 with BOM, Chinese intact, hostile cells neutralised, hours exactly those of /usage', async () => {
    const file = await download('csv');
    const bytes = readFileSync(file);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const records = parseCsv(bytes);
    const [header, ...rows] = csvSection(records, '仪器');
    expect(header!.slice(0, 10)).toEqual([
      '仪器编码',
      '仪器名称',
      '管理单位',
      '类别',
      '开机时长 (h)',
      '有效工作机时 (h)',
      '折算定额机时 (h)',
      '使用率 (%)',
      '数据覆盖率 (%)',
      '期末闲置天数',
    ]);
    expect(rows.map((r) => r[0]).sort()).toEqual([...IDS].sort());
    for (const r of rows) {
      const u = usage.get(r[0]!)!;
      expect([Number(r[4]), Number(r[5]), Number(r[8])], r[0]).toEqual([
        u.poweredHours,
        u.runningHours,
        Math.round(u.coverage * 10_000) / 100,
      ]);
    }
    const evil = rows.find((r) => r[0] === EVIL)!;
    expect(evil[1]).toBe(`'${NAMES[EVIL]!.name}`);
    expect(evil[3]).toBe("'-2+3");
    expect(rows.find((r) => r[0] === NMR)![1]).toBe('600 MHz 核磁共振波谱仪');
    expect(rows.find((r) => r[0] === SILENT)![9]).toBe('未接入');
    expect(Number(rows.find((r) => r[0] === OLD)![9])).toBeGreaterThanOrEqual(90);
    // Totals by org from exact ms; the idle count sees the instrument idle for 120 days.
    const [, ...orgs] = csvSection(records, '按管理单位汇总');
    const total = orgs.find((r) => r[0] === '合计')!;
    expect(Number(total[1])).toBe(IDS.length);
    expect(Number(total[7])).toBe(1); // idle 90+ days
    expect(Number(total[8])).toBe(1); // never reported
    expect(Number(total[2])).toBeCloseTo(
      [...usage.values()].reduce((s, u) => s + u.poweredHours, 0),
      1,
    );
    expect(records.find((r) => r[0] === '闲置仪器数（90 天以上未开机）')?.[1]).toBe('1');
  });

  it('XLSX: numeric cells equal to /usage, names as text (never formulas)', async () => {
    const file = await download('xlsx', ['--lang', 'en']);
    const sheets = await readXlsx(readFileSync(file));
    expect([...sheets.keys()]).toEqual(['Report', 'Instruments', 'Totals by org']);
    const [header, ...rows] = sheets.get('Instruments')!;
    expect(header!.slice(0, 6)).toEqual([
      'Instrument code',
      'Name',
      'Org',
      'Category',
      'Powered hours',
      'Effective working hours',
    ]);
    expect(rows.map((r) => r[0]).sort()).toEqual([...IDS].sort());
    for (const r of rows) {
      const u = usage.get(r[0] as string)!;
      expect([r[4], r[5], r[8]], String(r[0])).toEqual([
        u.poweredHours,
        u.runningHours,
        Math.round(u.coverage * 10_000) / 100,
      ]);
    }
    const evil = rows.find((r) => r[0] === EVIL)!;
    expect(evil[1]).toBe(NAMES[EVIL]!.name);
    expect(rows.find((r) => r[0] === SEM)![2]).toBe('中国科学院宁波材料所');
    expect(rows.find((r) => r[0] === SILENT)![9]).toBe('never reported');
  });

  it('PDF: Chinese names extract with pdftotext, hours equal to /usage', async () => {
    const file = await download('pdf');
    const text = pdfText(file);
    expect(text).toContain('大型科研仪器运行报告（机时报告）');
    expect(text).toContain('有效工作机时');
    for (const id of IDS) {
      const line = text.split('\n').find((l) => l.trimStart().startsWith(`${id} `));
      expect(line, id).toBeDefined();
      expect(line).toContain(NAMES[id]!.org);
      if (id !== EVIL) expect(line).toContain(NAMES[id]!.name);
      const numbers = line!.match(/(?<=\s)\d+\.\d\d(?=\s|$)/g)!.map(Number);
      const u = usage.get(id)!;
      // powered, running, quota, utilisation, coverage
      expect([numbers[0], numbers[1], numbers[4]], id).toEqual([
        u.poweredHours,
        u.runningHours,
        Math.round(u.coverage * 10_000) / 100,
      ]);
    }
    expect(readFileSync(file).length).toBeLessThan(200_000);
  });

  /** `dayi report …` in this process: the same code as the command, without a Node start per call. */
  async function report(args: string[], env: NodeJS.ProcessEnv = { DAYI_API_KEY: AUDITOR_KEY }) {
    const stdout = capture();
    const stderr = capture();
    const code = await reportCommand(args, { stdout: stdout.stream, stderr: stderr.stream, env });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  it('verify: OK for each file as downloaded, FAILED after one changed byte, errors for a missing signature or key', async () => {
    for (const format of ['csv', 'xlsx', 'pdf'] as const) {
      const file = join(tmp.dir, `uptime.${format}`);
      const ok = await report(['verify', file, '--url', collector.baseUrl]);
      expect([ok.code, ok.stdout], ok.stderr).toEqual([0, expect.stringMatching(/^OK /)]);
      const bytes = readFileSync(file);
      for (const at of [0, bytes.length >> 1, bytes.length - 1]) {
        const altered = join(tmp.dir, `altered.${format}`);
        const copy = Buffer.from(bytes);
        copy[at] = copy[at]! ^ 0x01;
        writeFileSync(altered, copy);
        copyFileSync(`${file}.sig`, `${altered}.sig`);
        const bad = await report(['verify', altered, '--url', collector.baseUrl]);
        expect([bad.code, bad.stdout], `${format} byte ${at}`).toEqual([
          1,
          expect.stringMatching(/^FAILED .*SHA-256/),
        ]);
      }
    }
    const file = join(tmp.dir, 'uptime.csv');

    // Without a .sig beside it, the collector is asked for the signature of exactly these bytes.
    const lone = join(tmp.dir, 'lone.csv');
    copyFileSync(file, lone);
    expect((await report(['verify', lone, '--url', collector.baseUrl])).code).toBe(0);
    const loneAltered = Buffer.from(readFileSync(file));
    loneAltered[10] = loneAltered[10]! ^ 0x20;
    writeFileSync(lone, loneAltered);
    const unknown = await report(['verify', lone, '--url', collector.baseUrl]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/FAILED .*issued no report with these bytes/);

    // No signature and no collector to ask; a signature but no key.
    rmSync(lone);
    copyFileSync(file, lone);
    const noSig = await report(['verify', lone], {});
    expect(noSig.code).toBe(2);
    expect(noSig.stderr).toMatch(/no signature: .*lone\.csv\.sig does not exist/);
    const noKey = await report(['verify', file], {});
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/no public key to check against/);

    // The public key saved as PEM verifies offline.
    const keys = await getJson<{ active: string; keys: { id: string; publicKey: string }[] }>(
      collector.baseUrl,
      '/v1/reports/public-key',
      200,
      AUDITOR_KEY,
    );
    const pem = join(tmp.dir, 'collector.pem');
    writeFileSync(pem, keys.keys.find((k) => k.id === keys.active)!.publicKey);
    expect((await report(['verify', file, '--key', pem], {})).code).toBe(0);
  });

  it('the dayi command itself: verify prints OK and exits 0, FAILED and exits 1', {
    timeout: 180_000,
  }, async () => {
    const env = { DAYI_API_KEY: AUDITOR_KEY };
    const file = join(tmp.dir, 'uptime.pdf');
    const ok = await dayi(['report', 'verify', file, '--url', collector.baseUrl], env);
    expect([ok.code, ok.stdout], ok.stderr).toEqual([0, expect.stringMatching(/^OK /)]);
    const altered = join(tmp.dir, 'altered.pdf');
    const copy = Buffer.from(readFileSync(file));
    copy[copy.length >> 1] = copy[copy.length >> 1]! ^ 0x01;
    writeFileSync(altered, copy);
    copyFileSync(`${file}.sig`, `${altered}.sig`);
    const failed = await dayi(['report', 'verify', altered, '--url', collector.baseUrl], env);
    expect([failed.code, failed.stdout]).toEqual([1, expect.stringMatching(/^FAILED .*SHA-256/)]);
  });
});
