/**
 * bench/detect: what the anomaly detectors and alerts cost ingest. The collector's durable ingest
 * (the real app, SQLite file, checkpoint thread), fed in process as fast as it acknowledges, with
 * the detection pass on and off (its listener removed), alternating in the same run. Prints JSON:
 * medians of messages/s and of process CPU per message, and the on/off ratios.
 * Usage: npm run bench -- detect [--messages N] [--rounds N] [--instruments N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '../collector/src/app.ts';

interface Round {
  messagesPerSecond: number;
  cpuUsPerMessage: number;
}

async function round(on: boolean, messages: number, instruments: number): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-detect-'));
  const app = await build(
    {
      store: { sqlite: join(dir, 'dayi.sqlite') },
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    },
    { logger: false },
  );
  if (!on) app.dayi.alerts.close();
  const base = Date.UTC(2026, 0, 1);
  const seqs = new Array<number>(instruments).fill(0);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let done = 0;
    let inflight = 0;
    const pump = () => {
      while (inflight < 128 && sent < messages) {
        const k = sent % instruments;
        const seq = seqs[k]!++;
        inflight++;
        sent++;
        const payload = {
          ts: base + seq * 1000,
          seq,
          metrics: { power_w: 400 + (seq % 50), current_a: 1.8 },
          state: 'running',
        };
        app.dayi.ingest.enqueue(
          {
            topic: `dayi/v1/BENCH-${String(k).padStart(4, '0')}/telemetry`,
            payload: Buffer.from(JSON.stringify(payload)),
            clientId: 'bench',
            username: null,
            allowedInstruments: 'all',
            receivedAt: Date.now(),
          },
          (err) => {
            if (err) return reject(err);
            inflight--;
            if (++done === messages) resolve();
            else setImmediate(pump);
          },
        );
      }
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await app.close();
  rmSync(dir, { recursive: true, force: true });
  return { messagesPerSecond: messages / seconds, cpuUsPerMessage: (cpu.user + cpu.system) / messages };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runDetectBench(o: { messages: number; rounds: number; instruments: number }) {
  await round(true, Math.min(o.messages, 20_000), o.instruments); // warm-up
  const off: Round[] = [];
  const on: Round[] = [];
  for (let r = 0; r < o.rounds; r++) {
    off.push(await round(false, o.messages, o.instruments));
    on.push(await round(true, o.messages, o.instruments));
  }
  const summary = (rs: Round[]) => ({
    messagesPerSecond: Math.round(median(rs.map((r) => r.messagesPerSecond))),
    cpuUsPerMessage: Number(median(rs.map((r) => r.cpuUsPerMessage)).toFixed(2)),
    rounds: rs.map((r) => Math.round(r.messagesPerSecond)),
  });
  const a = summary(off);
  const b = summary(on);
  return {
    bench: 'detect',
    node: process.version,
    options: o,
    note: 'in-process durable ingest (real app, SQLite file), detection pass off (listener removed) vs on, alternating; process CPU includes every thread',
    results: { detectionOff: a, detectionOn: b },
    ratio: {
      throughputOnVsOff: Number((b.messagesPerSecond / a.messagesPerSecond).toFixed(3)),
      cpuPerMessageOnVsOff: Number((b.cpuUsPerMessage / a.cpuUsPerMessage).toFixed(3)),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '100000' },
      rounds: { type: 'string', default: '5' },
      instruments: { type: 'string', default: '8' },
    },
  });
  const result = await runDetectBench({
    messages: Number(values.messages),
    rounds: Number(values.rounds),
    instruments: Number(values.instruments),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
