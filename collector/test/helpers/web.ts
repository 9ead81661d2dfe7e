/**
 * The web dashboard for tests: a fresh build of collector/web (so a test never serves stale
 * assets), and a real collector on free loopback ports that serves it, seeded over MQTT with a
 * few hours of telemetry and with a user's report open as an alert.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src/app.ts';
import type { CollectorConfigInput } from '../../src/config.ts';
import { connect, DAY, HOUR, MINUTE, publishAll, telemetryEveryMinute } from './e2e-mqtt.ts';

export const WEB_BUILD = new URL('../../web/build.js', import.meta.url).pathname;

export const WEB_KEYS = {
  admin: 'web-admin-key-0123456789abcdef',
  auditor: 'web-auditor-key-0123456789abcdef',
} as const;

/** Builds the dashboard into a new temp folder; resolves to it. */
export function buildWebInto(): { dist: string; remove: () => void } {
  const dist = mkdtempSync(join(tmpdir(), 'dayi-web-'));
  const r = spawnSync(process.execPath, [WEB_BUILD, '--out-dir', dist], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`collector/web/build.js failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return { dist, remove: () => rmSync(dist, { recursive: true, force: true }) };
}

const AGENT = { username: 'web-agent', password: 'web-agent-password' };
export const NMR = 'ZJ-NMR-0001';
export const XRD = 'ZJ-XRD-0001';
export const SEM = 'ZJ-SEM-0001';
export const REPORT_TEXT = '样品管漏液，已停机 (sample tube leaking, stopped)';

export function webConfig(dir: string): CollectorConfigInput {
  const thresholds = { signal: 'power_w', standby: 5, idle: 80, running: 400 };
  return {
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { host: '127.0.0.1', port: 0 },
    store: { sqlite: join(dir, 'dayi.sqlite'), sync: 'normal' },
    timezone: 'Asia/Shanghai',
    offlineAfter: '10m',
    log: { level: 'warn' },
    apiKeys: [
      { name: '管理员', key: WEB_KEYS.admin, role: 'admin' },
      { name: 'auditor', key: WEB_KEYS.auditor, role: 'auditor' },
    ],
    agents: [{ ...AGENT, instruments: [NMR, XRD] }],
    instruments: [
      {
        id: NMR,
        name: '核磁共振波谱仪',
        org: '浙江大学',
        category: '波谱仪器',
        quotaHours: 1400,
        thresholds,
      },
      {
        id: XRD,
        name: 'X射线衍射仪',
        org: '浙江工业大学',
        category: '物相分析',
        quotaHours: 800,
        thresholds,
      },
      {
        id: SEM,
        name: '扫描电子显微镜',
        org: '浙江大学',
        category: '电子光学仪器',
        quotaHours: 1400,
        thresholds,
      },
    ],
  };
}

export interface DashboardCollector {
  baseUrl: string;
  /** The id of the open `reported` alert on NMR. */
  alertId: string;
  close(): Promise<void>;
}

export async function startDashboardCollector(webDist: string): Promise<DashboardCollector> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-web-store-'));
  const app = await build(webConfig(dir), { logger: false, webDist });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (!addr || typeof addr !== 'object') throw new Error('the HTTP server has no address');
    const baseUrl = `http://127.0.0.1:${addr.port}`;
    const now = Math.floor(Date.now() / MINUTE) * MINUTE;
    const client = await connect(app.dayi.mqttPort, AGENT);
    try {
      // NMR: yesterday 3 h running; today off → running 90 min → idle → still running now.
      const nmr = [
        ...telemetryEveryMinute(NMR, now - DAY - 4 * HOUR, now - DAY - HOUR, () => 'running'),
        ...telemetryEveryMinute(
          NMR,
          now - 5 * HOUR,
          now,
          (t) =>
            t < now - 4 * HOUR
              ? 'off'
              : t < now - 150 * MINUTE
                ? 'running'
                : t < now - HOUR
                  ? 'idle'
                  : 'running',
          1000,
        ).slice(0, -1),
      ];
      const xrd = telemetryEveryMinute(XRD, now - 3 * HOUR, now - 2 * HOUR, () => 'running');
      await publishAll(client, [...nmr, ...xrd]);
    } finally {
      await client.endAsync();
    }
    const r = await fetch(`${baseUrl}/v1/instruments/${NMR}/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WEB_KEYS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: REPORT_TEXT, severity: 'warning' }),
    });
    if (r.status !== 201) throw new Error(`the seed report was refused: ${r.status} ${await r.text()}`);
    const alert = (await r.json()) as { id: number | string };
    return {
      baseUrl,
      alertId: String(alert.id),
      close: async () => {
        await app.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
