import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import { apiConfig, submit } from './helpers/e2e-api.ts';
import { type Receiver, startReceiver } from './helpers/receivers.ts';

const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);

describe('weekly idle digest per org, on an injected clock', () => {
  let hook: Receiver;
  let wecom: Receiver;
  let app: FastifyInstance;
  const clock = { now: at('2026-11-30T08:00:00+08:00') };

  beforeAll(async () => {
    hook = await startReceiver();
    wecom = await startReceiver(() => ({ body: JSON.stringify({ errcode: 0, errmsg: 'ok' }) }));
    app = await build(
      apiConfig({
        instruments: [
          { id: 'ZJU-NMR-1', name: '600 MHz NMR', org: 'Zhejiang University' },
          { id: 'ZJU-MS-2', name: 'Orbitrap', org: 'Zhejiang University' },
          { id: 'ZJU-NEW-3', name: 'Never there', org: 'Zhejiang University' },
          { id: 'WL-SEM-1', name: 'SEM', org: 'Westlake' },
          { id: 'WL-TEM-2', name: 'TEM', org: 'Westlake' },
        ],
        notify: {
          channels: [
            { name: 'zju-ops', type: 'webhook', url: `${hook.url}/hook` },
            { name: 'province', type: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send?key=K` },
          ],
          routes: [
            { match: { kind: ['idle'], org: ['Zhejiang University'] }, channels: ['zju-ops'] },
            { match: { kind: ['idle', 'offline'] }, channels: ['province'] },
            { match: { kind: ['anomaly'] }, channels: ['zju-ops'] },
          ],
          digest: { day: 'Mon', time: '09:00' },
        },
      }),
      { logger: false, now: () => clock.now, notifyAutoStart: false },
    );
    // Powered 120 and 100 days ago (idle at 90), 3 days ago (active).
    const powered = async (id: string, ts: number) => {
      await submit(app, id, 'telemetry', { ts, seq: 1, metrics: {}, state: 'running' });
      await submit(app, id, 'telemetry', { ts: ts + 60_000, seq: 2, metrics: {}, state: 'off' });
    };
    await powered('ZJU-NMR-1', clock.now - 120 * DAY);
    await powered('ZJU-MS-2', clock.now - 100 * DAY);
    await powered('WL-SEM-1', clock.now - 130 * DAY);
    await powered('WL-TEM-2', clock.now - 3 * DAY);
  });
  afterAll(async () => {
    await app.close();
    await hook.close();
    await wecom.close();
  });

  const queue = () => app.dayi.notifier.queueDigest();

  it('is not sent before its time, nor a week late', () => {
    // Monday 08:00: the last slot (the Monday before, 09:00) is more than 24 h ago.
    expect(queue()).toBeNull();
    clock.now = at('2026-11-30T08:59:59+08:00');
    expect(queue()).toBeNull();
  });

  it('at Monday 09:00 (collector time zone) each org with idle instruments gets its list through the idle routes', async () => {
    clock.now = at('2026-11-30T09:00:00+08:00');
    expect(queue()).toEqual({ slot: clock.now, orgs: 2, deliveries: 3 });
    // Once per slot, also later that day (a restart reads notify_digest_runs).
    clock.now = at('2026-11-30T15:00:00+08:00');
    expect(queue()).toBeNull();
    await app.dayi.notifier.dispatcher.runDue();
    expect(hook.received).toHaveLength(1);
    const body = JSON.parse(hook.received[0]!.body);
    expect(body).toMatchObject({
      event: 'digest.idle',
      org: 'Zhejiang University',
      slot: '2026-11-30T09:00:00.000+08:00',
      neverReported: 1,
      message: { title: '【闲置周报】Zhejiang University：2 台大型仪器闲置（90 天以上未开机）' },
    });
    expect(body.items.map((i: { id: string; idleDays: number }) => [i.id, i.idleDays])).toEqual([
      ['ZJU-NMR-1', 120],
      ['ZJU-MS-2', 100],
    ]);
    expect(body.message.text).toContain('600 MHz NMR（ZJU-NMR-1）：已闲置 120 天');
    // The province channel gets both orgs; Westlake's list has only the SEM.
    const contents = wecom.received.map((r) => JSON.parse(r.body).markdown.content as string).sort();
    expect(contents).toHaveLength(2);
    expect(contents[0]).toContain('Westlake：1 台');
    expect(contents[0]).toContain('SEM（WL-SEM-1）');
    expect(contents[0]).not.toContain('TEM');
    expect(contents[1]).toContain('Zhejiang University：2 台');
  });

  it('the next week at the same time again; a Monday missed by more than 24 h is skipped', () => {
    clock.now = at('2026-12-07T08:59:00+08:00');
    expect(queue()).toBeNull();
    clock.now = at('2026-12-07T09:30:00+08:00');
    expect(queue()).toMatchObject({ slot: at('2026-12-07T09:00:00+08:00'), orgs: 2 });
    clock.now = at('2026-12-15T10:00:00+08:00');
    expect(queue()).toBeNull();
  });
});
