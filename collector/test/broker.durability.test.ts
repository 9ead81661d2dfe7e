import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT_A,
  AGENT_B,
  connectAgent,
  connectFlagsOffset,
  countRows,
  inbox,
  mosquitto,
  rawConnect,
  startCollector,
  statePayload,
  T0,
  tempDir,
} from './helpers/mqtt-harness.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

describe('broker: MQTT 3.1.1 CONNECT conformance (raw socket)', () => {
  it('refuses an empty client id with clean session 0 with CONNACK return code 2', async () => {
    const c = await startCollector(`${tmp.dir}/conformance.sqlite`);
    try {
      const login = { username: AGENT_A.username, password: Buffer.from(AGENT_A.password) };
      const base = { protocolId: 'MQTT' as const, protocolVersion: 4 as const, keepalive: 30, ...login };
      // mqtt-packet will not generate clean=0 with an empty id, so the flag is cleared in the bytes
      const refused = await rawConnect(c.port, { ...base, clientId: '', clean: true }, (bytes) => {
        const at = connectFlagsOffset(bytes);
        expect(bytes[at]! & 0x02).toBe(0x02);
        bytes[at] = bytes[at]! & ~0x02;
        return bytes;
      });
      expect(refused.bytes.subarray(0, 4)).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x02]));
      // the same CONNECT with clean session 1 is fine
      const accepted = await rawConnect(c.port, { ...base, clientId: '', clean: true });
      expect(accepted.bytes.subarray(0, 4)).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      // and a wrong password is return code 4
      const wrong = await rawConnect(c.port, {
        ...base,
        clientId: 'x',
        clean: true,
        password: Buffer.from('nope'),
      });
      expect(wrong.bytes.subarray(0, 4)).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x04]));
      const text = await c.ctx.metrics.registry.metrics();
      expect(text).toContain('dayi_mqtt_connects_total{result="identifier_rejected"} 1');
    } finally {
      await c.stop();
    }
  });
});

describe('broker: storage failure', () => {
  it('sends no PUBACK when the ledger write fails, serves other agents, and takes the retry', async () => {
    const dbPath = `${tmp.dir}/failure.sqlite`;
    const c = await startCollector(dbPath);
    try {
      c.ctx.db.exec(`CREATE TRIGGER disk_full BEFORE INSERT ON messages WHEN NEW.instrument_id = 'NMR-2'
        BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END`);
      const a = await connectAgent(c, AGENT_A, { clientId: 'agent-a:1', reconnectPeriod: 100 });
      const pubacks: number[] = [];
      a.on('packetreceive', (p) => {
        if (p.cmd === 'puback' && p.messageId !== undefined) pubacks.push(p.messageId);
      });
      let closes = 0;
      a.on('close', () => closes++);
      let acked = false;
      const published = a.publishAsync('dayi/v1/NMR-2/state', statePayload(1, T0), { qos: 1 }).then(() => {
        acked = true;
      });
      // the broker hangs up instead of acknowledging, again on every retry
      const deadline = Date.now() + 10_000;
      while (closes < 2) {
        if (Date.now() > deadline)
          throw new Error('the broker did not close the connection of the failed publish');
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(acked).toBe(false);
      expect(pubacks).toEqual([]);
      expect(countRows(dbPath, 'SELECT COUNT(*) FROM messages')).toBe(0);
      // another agent is served meanwhile
      const b = await connectAgent(c, AGENT_B);
      await b.publishAsync('dayi/v1/XRD-1/state', statePayload(1, T0), { qos: 1 });
      expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'XRD-1'")).toBe(1);
      await b.endAsync();
      // the store recovers: the agent's retry is stored once and acknowledged
      c.ctx.db.exec('DROP TRIGGER disk_full');
      await published;
      expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'NMR-2'")).toBe(1);
      await a.endAsync(true);
    } finally {
      await c.stop();
    }
  });
});

describe('broker: retained state and status survive a restart', () => {
  it('re-seeds the latest state and status from the ledger', async () => {
    const dbPath = `${tmp.dir}/restart.sqlite`;
    const first = await startCollector(dbPath);
    const a = await connectAgent(first, AGENT_A);
    await a.publishAsync('dayi/v1/NMR-1/state', statePayload(5, T0 + 5000, 'running'), {
      qos: 1,
      retain: true,
    });
    // a replayed older state is stored but does not replace the retained one
    await a.publishAsync('dayi/v1/NMR-1/state', statePayload(4, T0 + 4000, 'idle'), { qos: 1, retain: true });
    await a.publishAsync(
      'dayi/v1/NMR-1/status',
      JSON.stringify({ ts: T0, online: true, agent: { id: 'pc7', version: '1.2.3' } }),
      { qos: 1, retain: true },
    );
    await a.endAsync();
    await first.stop();

    const second = await startCollector(dbPath);
    try {
      const b = await connectAgent(second, AGENT_A);
      const got = inbox(b);
      await b.subscribeAsync(['dayi/v1/NMR-1/state', 'dayi/v1/NMR-1/status'], { qos: 1 });
      const retained = [await got.next('retained message 1'), await got.next('retained message 2')];
      retained.sort((x, y) => x.topic.localeCompare(y.topic));
      expect(retained.map((m) => [m.topic, m.retain])).toEqual([
        ['dayi/v1/NMR-1/state', true],
        ['dayi/v1/NMR-1/status', true],
      ]);
      expect(JSON.parse(retained[0]!.payload)).toMatchObject({ seq: 5, state: 'running' });
      expect(JSON.parse(retained[1]!.payload)).toMatchObject({ online: true, agent: { version: '1.2.3' } });
      await b.endAsync();
      // an independent client sees them too
      const sub = await mosquitto('mosquitto_sub', [
        ...['-h', '127.0.0.1', '-p', String(second.port), '-u', AGENT_A.username, '-P', AGENT_A.password],
        ...['-t', 'dayi/v1/NMR-1/state', '-C', '1', '-W', '5', '-v', '-V', 'mqttv311'],
      ]);
      expect(sub.code).toBe(0);
      expect(sub.stdout).toMatch(/^dayi\/v1\/NMR-1\/state \{.*"seq":5/);
    } finally {
      await second.stop();
    }
  });
});

describe('broker: kill -9 right after the PUBACKs', () => {
  let child: ChildProcess | null = null;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('keeps every acknowledged message', async () => {
    const dbPath = `${tmp.dir}/kill.sqlite`;
    const script = new URL('./helpers/mqtt-collector-process.ts', import.meta.url).pathname;
    child = spawn(process.execPath, [script, dbPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const { port } = JSON.parse(line) as { port: number };
    const a = await mqtt.connectAsync({
      host: '127.0.0.1',
      port,
      clientId: `${AGENT_A.username}:kill`,
      username: AGENT_A.username,
      password: AGENT_A.password,
      reconnectPeriod: 0,
    });
    a.on('error', () => {});
    const acked: number[] = [];
    const sends = Array.from({ length: 300 }, (_, i) =>
      a
        .publishAsync(
          'dayi/v1/NMR-1/telemetry',
          JSON.stringify({ ts: T0 + i * 1000, seq: i, metrics: { power_w: 450 }, state: 'running' }),
          { qos: 1 },
        )
        .then(
          () => {
            acked.push(i);
            // kill as soon as 150 are acknowledged, while the rest are in flight
            if (acked.length === 150) child!.kill('SIGKILL');
          },
          () => {},
        ),
    );
    await once(child, 'exit');
    await Promise.race([Promise.all(sends), new Promise((r) => setTimeout(r, 500))]);
    a.end(true);
    expect(acked.length).toBeGreaterThanOrEqual(150);
    const missing = acked.filter(
      (seq) =>
        countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE kind = 'telemetry' AND seq = ?", seq) !== 1,
    );
    expect(missing).toEqual([]);
  });
});
