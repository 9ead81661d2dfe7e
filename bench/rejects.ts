/**
 * bench/rejects: one agent sends refused publishes as fast as it can (different 60 KiB payloads on
 * its own telemetry topic, QoS 0; it reconnects whenever it is disconnected) for `--seconds`
 * (default 60) while `--good` agents (default 2) publish valid telemetry at `--rate` messages a
 * second each (default 20, QoS 1). The collector runs as a user runs it (`dayi collector -c`, default
 * limits) in its own process. Prints one JSON object: how much the store grew (database, WAL and
 * shared-memory files, and the `rejected` table), what the attacker got through, and whether the
 * good agents' messages were all acknowledged and stored.
 * Usage: npm run bench -- rejects [--seconds 60] [--good 2] [--rate 20]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort, sleep } from './net.ts';

const ROOT = new URL('..', import.meta.url).pathname;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    good: { type: 'string', default: '2' },
    rate: { type: 'string', default: '20' },
  },
});
const SECONDS = Number(values.seconds);
const GOOD = Number(values.good);
const RATE = Number(values.rate);

function connect(port: number, username: string, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync({
    host: '127.0.0.1',
    port,
    protocolVersion: 4,
    clientId,
    username,
    password: `${username}-password`,
    reconnectPeriod: 0,
  });
}

function storeBytes(db: string): { db: number; wal: number; shm: number; total: number } {
  const size = (f: string) => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };
  const s = { db: size(db), wal: size(`${db}-wal`), shm: size(`${db}-shm`) };
  return { ...s, total: s.db + s.wal + s.shm };
}

const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-rejects-'));
const dbPath = join(dir, 'store', 'dayi.sqlite');
const port = await freePort();
const goodIds = Array.from({ length: GOOD }, (_, i) => `GOOD-${i}`);
const file = join(dir, 'collector.yaml');
writeFileSync(
  file,
  [
    'http: { host: 127.0.0.1, port: 0 }',
    `mqtt: { host: 127.0.0.1, port: ${port} }`,
    `store: { sqlite: ${dbPath} }`,
    'log: { level: warn }',
    'agents:',
    '  - { username: attacker, password: attacker-password, instruments: [EVIL-1] }',
    ...goodIds.map(
      (id) =>
        `  - { username: ${id.toLowerCase()}, password: ${id.toLowerCase()}-password, instruments: [${id}] }`,
    ),
  ].join('\n'),
  { mode: 0o600 },
);
let logLines = 0;
const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/dayi.js'), 'collector', '-c', file], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const countLines = (d: Buffer) => {
  logLines += d.toString().split('\n').filter(Boolean).length;
};
child.stdout?.on('data', countLines);
child.stderr?.on('data', countLines);

try {
  // wait for the broker
  let goodClients: MqttClient[] = [];
  for (let i = 0; ; i++) {
    try {
      goodClients = await Promise.all(
        goodIds.map((id) => connect(port, id.toLowerCase(), `${id.toLowerCase()}:${id}`)),
      );
      break;
    } catch {
      if (i > 200) throw new Error('the collector did not start');
      await sleep(100);
    }
  }
  await sleep(500);
  const before = storeBytes(dbPath);
  const logBefore = logLines;
  const cpuBefore = process.cpuUsage();
  const end = Date.now() + SECONDS * 1000;

  // good agents: RATE telemetry messages a second each, QoS 1, counting PUBACKs
  let goodSent = 0;
  let goodAcked = 0;
  const goodLoops = goodClients.map(async (c, k) => {
    const topic = `dayi/v1/${goodIds[k]}/telemetry`;
    let seq = 0;
    const pending: Promise<unknown>[] = [];
    while (Date.now() < end) {
      const ts = Date.now();
      seq++;
      goodSent++;
      pending.push(
        c.publishAsync(topic, JSON.stringify({ ts, seq, metrics: { power_w: 500 } }), { qos: 1 }).then(() => {
          goodAcked++;
        }),
      );
      await sleep(1000 / RATE);
    }
    await Promise.race([Promise.allSettled(pending), sleep(10_000)]);
  });

  // the attacker: different 60 KiB payloads, QoS 0, as fast as its socket takes them
  let attackSent = 0;
  let attackConnects = 0;
  let attackRefused = 0;
  let disconnects = 0;
  const junk = Buffer.alloc(60 * 1024, 'x');
  const attack = (async () => {
    while (Date.now() < end) {
      let c: MqttClient;
      try {
        c = await connect(port, 'attacker', `attacker:${attackConnects}`);
        attackConnects++;
      } catch {
        attackRefused++;
        await sleep(200);
        continue;
      }
      let open = true;
      let closed: () => void = () => {};
      const gone = new Promise<void>((resolve) => {
        closed = resolve;
      });
      c.on('close', () => {
        open = false;
        closed();
      });
      // 16 publishes in the socket at a time: as fast as the collector reads them
      const writer = async () => {
        while (open && Date.now() < end) {
          const payload = Buffer.concat([Buffer.from(`${attackSent}:`), junk]);
          attackSent++;
          // a publish still queued when the collector closes the connection never calls back
          await Promise.race([
            new Promise<void>((resolve) =>
              c.publish('dayi/v1/EVIL-1/telemetry', payload, { qos: 0 }, () => resolve()),
            ),
            gone,
          ]);
        }
      };
      await Promise.all(Array.from({ length: 16 }, writer));
      if (!open) disconnects++;
      c.end(true);
    }
  })();

  await Promise.all([attack, ...goodLoops]);
  const cpu = process.cpuUsage(cpuBefore);
  await sleep(1000); // let the last commits land
  const after = storeBytes(dbPath);
  const db = new DatabaseSync(dbPath, { readOnly: true });
  const rejected = db
    .prepare(
      'SELECT COUNT(*) AS rows, COALESCE(SUM(count), 0) AS refusedKept, COALESCE(SUM(row_bytes), 0) AS bytes FROM rejected',
    )
    .get();
  const stored = db.prepare("SELECT COUNT(*) AS n FROM messages WHERE instrument_id LIKE 'GOOD-%'").get() as {
    n: number;
  };
  db.close();
  await Promise.all(goodClients.map((c) => c.endAsync()));
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'rejects',
        seconds: SECONDS,
        note: 'store growth = database + WAL + shm files from the start to the end of the attack (good agents included); the WAL is reused after checkpoints, so it grows to its high-water mark',
        storeBytesBefore: before,
        storeBytesAfter: after,
        storeGrowthMiB: Number(((after.total - before.total) / 2 ** 20).toFixed(2)),
        rejectedTable: rejected,
        attacker: {
          publishesSent: attackSent,
          megabytesSent: Math.round((attackSent * (junk.length + 8)) / 1e6),
          connects: attackConnects,
          connectsRefused: attackRefused,
          disconnectedByCollector: disconnects,
        },
        goodAgents: { sent: goodSent, acked: goodAcked, stored: stored.n },
        collectorLogLines: logLines - logBefore,
        generatorCpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)),
      },
      null,
      2,
    )}\n`,
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
