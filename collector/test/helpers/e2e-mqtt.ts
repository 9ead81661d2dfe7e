import { spawn } from 'node:child_process';
import type { State } from '@dayi/protocols';
import mqtt, { type MqttClient } from 'mqtt';
import { startOfDate } from '../../src/derive/pure/calendar.ts';

/** Independent MQTT clients (mqtt.js and mosquitto_pub), publishing SPEC payloads as an agent would. */

export const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export interface Message {
  topic: string;
  payload: string;
}

/** Local time `hh:mm` of `date` in `tz` as ms UTC (zones without DST, like Asia/Shanghai). */
export function at(date: string, hhmm: string, tz = 'Asia/Shanghai'): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return startOfDate(date, tz) + h * HOUR + m * MINUTE;
}

/** A calendar date `n` days before today in Asia/Shanghai (data is in the past, like a replay). */
export function daysAgo(n: number, now = Date.now()): string {
  return new Date(now + 8 * HOUR - n * DAY).toISOString().slice(0, 10);
}

/**
 * Telemetry every minute over [start, end), with the state `stateAt(t)` tells, then one `off`
 * sample at `end`: the evidence a real agent sends. `seq` continues from `seq0`.
 */
export function telemetryEveryMinute(
  id: string,
  start: number,
  end: number,
  stateAt: (t: number) => State,
  seq0 = 0,
): Message[] {
  const out: Message[] = [];
  let seq = seq0;
  const topic = `dayi/v1/${id}/telemetry`;
  for (let t = start; t < end; t += MINUTE) {
    const state = stateAt(t);
    const power_w = state === 'running' ? 512.3 : state === 'off' ? 0 : 120;
    out.push({ topic, payload: JSON.stringify({ ts: t, seq: seq++, metrics: { power_w }, state }) });
  }
  out.push({
    topic,
    payload: JSON.stringify({ ts: end, seq: seq++, metrics: { power_w: 0 }, state: 'off' }),
  });
  return out;
}

/** Deterministic shuffle (seeded), so a failure replays the same order. */
export function shuffled<T>(items: readonly T[], seed = 42): T[] {
  const a = [...items];
  let s = seed >>> 0;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export async function connect(
  port: number,
  creds: { username: string; password: string },
  // the collector accepts only client ids under the agent's username
  clientId = `${creds.username}:e2e-${Math.random().toString(16).slice(2)}`,
): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    ...creds,
    clientId,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
}

/** Publishes QoS 1 and resolves after every PUBACK (mqtt.js keeps many in flight). */
export async function publishAll(client: MqttClient, messages: readonly Message[]): Promise<void> {
  await Promise.all(messages.map((m) => client.publishAsync(m.topic, m.payload, { qos: 1 })));
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** mosquitto_pub in line mode (`-l`): every stdin line is one QoS 1 message on `topic`. */
export function mosquittoPub(
  port: number,
  creds: { username: string; password: string },
  topic: string,
  lines: readonly string[],
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      MOSQUITTO_PUB,
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-u',
        creds.username,
        '-P',
        creds.password,
        '-I',
        `${creds.username}:`,
        '-q',
        '1',
        '-t',
        topic,
        '-l',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`mosquitto_pub did not finish within 30 s; stderr: ${stderr}`));
    }, 30_000);
    p.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}
