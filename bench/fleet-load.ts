/**
 * One load process of bench/fleet (forked by it, driven over IPC): a share of the fleet's agent
 * sessions as raw TCP sockets writing MQTT 3.1.1 packets, no MQTT client library in the loop, so
 * that the generator stays light and the broker's cost is what is measured. Each session is one
 * agent: its own username/password, client id = username, one instrument, QoS 1 telemetry.
 *
 * Parent → child: { type: 'connect', port, host, localAddress, from, to, window }
 *                 { type: 'run', rate, durationMs, intervalMs, drainMs }   (rate: this process's share)
 *                 { type: 'close' }
 * Child → parent: { type: 'connected', ms, ok, failed }
 *                 { type: 'interval', index, offered, acked, hist }        (hist: [bucket, count][])
 *                 { type: 'done', offered, acked, unacked, drainMs }
 */
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { fleetCredentials } from './fleet-credentials.ts';
import { bucketOf } from './fleet-hist.ts';

interface ConnectCmd {
  type: 'connect';
  port: number;
  host: string;
  localAddress: string;
  from: number;
  to: number;
  window: number;
}
interface RunCmd {
  type: 'run';
  rate: number;
  durationMs: number;
  intervalMs: number;
  drainMs: number;
}

/** PUBACK slots per session: more unacknowledged than this and the oldest send time is lost. */
const SLOTS = 16;

const send = (msg: unknown) => process.send?.(msg);

let sockets: Socket[] = [];
let ready: boolean[] = [];
// Per session: next packet id, next seq, and the send time of each unacknowledged packet id slot.
let nextPid: Uint16Array;
let nextSeq: Float64Array;
let sentAt: Float64Array;
let topics: Buffer[] = [];

let hist = new Map<number, number>();
let acked = 0;
let offeredTotal = 0;
let ackedTotal = 0;

function onPacket(s: number, type: number, body: Buffer, at: number): void {
  if (type === 2) {
    // CONNACK: body[1] is the return code
    if (!ready[s] && body[1] === 0) {
      ready[s] = true;
      onConnack(true);
    } else if (!ready[s]) onConnack(false);
  } else if (type === 4) {
    const pid = body.readUInt16BE(0);
    const slot = s * SLOTS + (pid % SLOTS);
    const t = sentAt[slot]!;
    if (t > 0) {
      sentAt[slot] = 0;
      const b = bucketOf(at - t);
      hist.set(b, (hist.get(b) ?? 0) + 1);
    }
    acked++;
    ackedTotal++;
  }
}

/** Splits the byte stream into MQTT packets (fixed header + remaining length); keeps a partial one. */
function reader(s: number): (chunk: Buffer) => void {
  let rest: Buffer | null = null;
  return (chunk) => {
    const at = performance.now();
    let buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    rest = null;
    let off = 0;
    while (off + 2 <= buf.length) {
      let len = 0;
      let mul = 1;
      let i = off + 1;
      let complete = false;
      while (i < buf.length && i < off + 5) {
        const b = buf[i++]!;
        len += (b & 127) * mul;
        mul *= 128;
        if ((b & 128) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || i + len > buf.length) break;
      onPacket(s, buf[off]! >> 4, buf.subarray(i, i + len), at);
      off = i + len;
    }
    if (off < buf.length) rest = Buffer.from(buf.subarray(off));
    buf = Buffer.alloc(0);
  };
}

let connectDone: (() => void) | null = null;
let pending = 0;
let ok = 0;
let failed = 0;
let retries = 0;
const errors = new Map<string, number>();
/** Attempts per session before it counts as failed (an agent would go on retrying). */
const ATTEMPTS = 10;

function onConnack(accepted: boolean): void {
  pending--;
  if (accepted) ok++;
  else failed++;
  connectDone?.();
}

function noteError(code: string): void {
  errors.set(code, (errors.get(code) ?? 0) + 1);
}

/** One session's CONNECT; a connection closed before its CONNACK is tried again after a pause. */
function open(cmd: ConnectCmd, s: number, attempt: number): void {
  const { username: u, password } = fleetCredentials(cmd.from + s);
  const sock = connect({ port: cmd.port, host: cmd.host, localAddress: cmd.localAddress, noDelay: true });
  sockets[s] = sock;
  let settled = false;
  sock.on('data', reader(s));
  sock.once('data', () => {
    // the CONNACK (reader → onPacket → onConnack): a later close is no failed CONNECT
    settled = true;
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    if (!settled) noteError(err.code ?? err.message);
  });
  sock.on('close', () => {
    ready[s] = false;
    if (settled) return;
    settled = true;
    if (attempt + 1 < ATTEMPTS) {
      retries++;
      setTimeout(() => open(cmd, s, attempt + 1), 200 + Math.random() * 800);
    } else onConnack(false);
  });
  sock.on('connect', () => {
    sock.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: u,
        keepalive: 120,
        username: u,
        password: Buffer.from(password),
      }),
    );
  });
}

async function connectAll(cmd: ConnectCmd): Promise<void> {
  const n = cmd.to - cmd.from;
  sockets = new Array(n);
  ready = new Array(n).fill(false);
  nextPid = new Uint16Array(n).fill(1);
  nextSeq = new Float64Array(n);
  sentAt = new Float64Array(n * SLOTS);
  topics = new Array(n);
  for (let s = 0; s < n; s++)
    topics[s] = Buffer.from(`dayi/v1/${fleetCredentials(cmd.from + s).instrument}/telemetry`);
  const start = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (pending < cmd.window && next < n) {
        pending++;
        open(cmd, next++, 0);
      }
      if (next >= n && pending === 0) resolve();
    };
    connectDone = pump;
    pump();
  });
  connectDone = null;
  send({
    type: 'connected',
    ms: performance.now() - start,
    ok,
    failed,
    retries,
    errors: Object.fromEntries(errors),
  });
}

function publish(s: number, now: number): boolean {
  const sock = sockets[s];
  if (!sock || !ready[s]) return false;
  const seq = nextSeq[s]!;
  nextSeq[s] = seq + 1;
  const pid = nextPid[s]!;
  nextPid[s] = pid === 65535 ? 1 : pid + 1;
  const payload = `{"ts":${Date.now()},"seq":${seq},"metrics":{"power_w":${400 + (seq % 50)}},"state":"running"}`;
  const topic = topics[s]!;
  const payloadBytes = Buffer.byteLength(payload);
  const remaining = 2 + topic.length + 2 + payloadBytes;
  const header = remaining < 128 ? 2 : 3;
  const buf = Buffer.allocUnsafe(header + remaining);
  let o = 0;
  buf[o++] = 0x32; // PUBLISH, QoS 1
  if (remaining < 128) buf[o++] = remaining;
  else {
    buf[o++] = (remaining & 127) | 128;
    buf[o++] = remaining >> 7;
  }
  buf.writeUInt16BE(topic.length, o);
  o += 2;
  topic.copy(buf, o);
  o += topic.length;
  buf.writeUInt16BE(pid, o);
  o += 2;
  buf.write(payload, o);
  sentAt[s * SLOTS + (pid % SLOTS)] = now;
  sock.write(buf);
  return true;
}

async function run(cmd: RunCmd): Promise<void> {
  const n = sockets.length;
  const start = performance.now();
  let offered = 0;
  let intervalOffered = 0;
  let index = 0;
  let cursor = 0;
  hist = new Map();
  acked = 0;
  const flushInterval = () => {
    send({ type: 'interval', index: index++, offered: intervalOffered, acked, hist: [...hist] });
    intervalOffered = 0;
    acked = 0;
    hist = new Map();
  };
  // Messages due by the elapsed time, sent round-robin over the sessions: each session sends one
  // every n / rate seconds, spread evenly, as agents on their own clocks do.
  await new Promise<void>((resolve) => {
    let nextInterval = start + cmd.intervalMs;
    const timer = setInterval(() => {
      const now = performance.now();
      const elapsed = Math.min(now - start, cmd.durationMs);
      const due = Math.floor((cmd.rate * elapsed) / 1000) - offered;
      for (let k = 0; k < due; k++) {
        // a session whose socket is gone is skipped (counted in `offered`: its message is lost)
        publish(cursor, now);
        cursor = cursor + 1 === n ? 0 : cursor + 1;
        offered++;
        offeredTotal++;
        intervalOffered++;
      }
      if (now >= nextInterval) {
        flushInterval();
        nextInterval += cmd.intervalMs;
      }
      if (now - start >= cmd.durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  // Drain: wait for the PUBACKs still owed, up to drainMs.
  const drainStart = performance.now();
  while (ackedTotal < offeredTotal && performance.now() - drainStart < cmd.drainMs) {
    await new Promise((r) => setTimeout(r, 50));
  }
  flushInterval();
  send({
    type: 'done',
    offered: offeredTotal,
    acked: ackedTotal,
    unacked: offeredTotal - ackedTotal,
    drainMs: performance.now() - drainStart,
    disconnected: ready.filter((r) => !r).length,
  });
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'connect') void connectAll(msg as ConnectCmd);
  else if (msg.type === 'run') void run(msg as RunCmd);
  else if (msg.type === 'close') {
    // RST rather than FIN: no TIME_WAIT left behind on 16,000 loopback ports
    for (const s of sockets) s?.resetAndDestroy();
    process.exit(0);
  }
});

send({ type: 'ready' });
