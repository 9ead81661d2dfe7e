/**
 * One Modbus connection per TCP host:port or serial path, shared by every input that reads a unit
 * behind it, with ONE request queue: a request is sent only after the previous one was answered
 * or timed out (no pipelining; most gateways and every RS-485 bus need that).
 * A lost or refused connection is reopened on demand, with exponential backoff.
 */
import type { FunctionCode } from '@dayi/protocols/modbus/index.ts';
import modbusSerial from 'modbus-serial';
import type { Transport } from './schema.ts';

export interface ConnectionTarget {
  transport: Transport;
  host?: string;
  port?: number;
  path?: string;
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export interface ReadRequestOptions {
  unitId: number;
  fc: FunctionCode;
  address: number;
  count: number;
  timeoutMs: number;
}

/** Consecutive timeouts after which a TCP link is presumed half-open and reopened. */
export const TIMEOUTS_BEFORE_RECONNECT = 3;

/** Silence kept on an RTU line after a timeout, so a late answer cannot be mistaken for the next one. */
export const RTU_QUIET_AFTER_TIMEOUT_MS = 100;

/** Why a request failed: `timeout`, `exception` (the device answered with an exception code), `connection`. */
export type ModbusFailure = 'timeout' | 'exception' | 'connection';

export class ModbusRequestError extends Error {
  readonly failure: ModbusFailure;
  readonly modbusCode: number | undefined;
  constructor(message: string, failure: ModbusFailure, modbusCode?: number) {
    super(message);
    this.name = 'ModbusRequestError';
    this.failure = failure;
    this.modbusCode = modbusCode;
  }
}

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export function targetKey(t: ConnectionTarget): string {
  return t.transport === 'rtu' ? `rtu ${t.path}` : `${t.transport} ${t.host}:${t.port}`;
}

function serialSettings(t: ConnectionTarget): string {
  return `${t.baudRate} ${t.dataBits}${t.parity[0]!.toUpperCase()}${t.stopBits}`;
}

// modbus-serial is CommonJS: its class is module.exports, also exposed as `.default`.
const ModbusRTU = modbusSerial.default;
type Client = InstanceType<typeof ModbusRTU>;

export class ModbusConnection {
  readonly key: string;
  readonly target: ConnectionTarget;
  /** Requests put on the wire since the connection object was made (tests count merges with it). */
  requestsSent = 0;
  private client: Client | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private failures = 0;
  private nextAttemptAt = 0;
  private timeoutsInARow = 0;
  private lastConnectError: string | undefined;
  private closed = false;

  constructor(target: ConnectionTarget, backoff: Backoff, now: () => number = Date.now) {
    this.target = target;
    this.key = targetKey(target);
    this.backoff = backoff;
    this.now = now;
  }

  get connected(): boolean {
    return this.client?.isOpen === true;
  }

  /** Queues one read; resolves with registers (FC3/4) or bits as 0/1 (FC1/2), exactly `count` of them. */
  read(req: ReadRequestOptions): Promise<number[]> {
    const run = () => this.send(req);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.drop();
  }

  private describe(req: ReadRequestOptions): string {
    return `${this.key} unit ${req.unitId} fc${req.fc} address ${req.address} count ${req.count}`;
  }

  private async send(req: ReadRequestOptions): Promise<number[]> {
    if (this.closed) throw new ModbusRequestError(`${this.describe(req)}: connection closed`, 'connection');
    const client = await this.open(req);
    client.setTimeout(req.timeoutMs);
    this.discardStaleBytes(client);
    this.requestsSent++;
    try {
      const answer = await new Promise<{ data: Array<number | boolean> }>((resolve, reject) => {
        const done = (err: unknown, res: { data: Array<number | boolean> }) =>
          err ? reject(err) : resolve(res);
        switch (req.fc) {
          case 1:
            client.writeFC1(req.unitId, req.address, req.count, done);
            break;
          case 2:
            client.writeFC2(req.unitId, req.address, req.count, done);
            break;
          case 3:
            client.writeFC3(req.unitId, req.address, req.count, done);
            break;
          case 4:
            client.writeFC4(req.unitId, req.address, req.count, done);
            break;
        }
      });
      this.timeoutsInARow = 0;
      const data = answer.data.slice(0, req.count).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
      if (data.length < req.count) {
        throw new ModbusRequestError(
          `${this.describe(req)}: short answer (${data.length} values)`,
          'exception',
        );
      }
      return data;
    } catch (err) {
      throw await this.classify(err, req);
    }
  }

  /**
   * RTU frames carry no transaction id: bytes left from a late answer to an earlier request would be
   * taken as the answer to the next one if it has the same unit, function and length. With one request
   * outstanding at a time, anything buffered before a write is stale. (modbus-serial 8.0.25 keeps it
   * in the port's `_buffer`; the version is pinned.) A late answer arriving while the next request
   * waits cannot be told apart at all: keep `timeout` above the device's slowest answer.
   */
  private discardStaleBytes(client: Client): void {
    if (this.target.transport === 'tcp') return;
    const port = (client as unknown as { _port?: { _buffer?: Buffer } })._port;
    if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
  }

  private async classify(err: unknown, req: ReadRequestOptions): Promise<ModbusRequestError> {
    if (err instanceof ModbusRequestError) return err;
    const e = err as { name?: string; message?: string; modbusCode?: number; errno?: string };
    if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT') {
      this.timeoutsInARow++;
      // RTU has no connection to lose; on TCP, silence on every unit means a dead link.
      if (this.target.transport !== 'rtu' && this.timeoutsInARow >= TIMEOUTS_BEFORE_RECONNECT)
        await this.drop();
      return new ModbusRequestError(`${this.describe(req)}: no answer within ${req.timeoutMs} ms`, 'timeout');
    }
    if (typeof e.modbusCode === 'number') {
      this.timeoutsInARow = 0;
      const name = EXCEPTION_NAMES[e.modbusCode] ?? 'unknown exception';
      return new ModbusRequestError(
        `${this.describe(req)}: device answered exception ${e.modbusCode} (${name})`,
        'exception',
        e.modbusCode,
      );
    }
    await this.drop();
    return new ModbusRequestError(`${this.describe(req)}: ${e.message ?? String(err)}`, 'connection');
  }

  private async open(req: ReadRequestOptions): Promise<Client> {
    if (this.client?.isOpen) return this.client;
    await this.drop();
    const now = this.now();
    if (now < this.nextAttemptAt) {
      throw new ModbusRequestError(
        `${this.describe(req)}: not connected (${this.lastConnectError}); next attempt in ${this.nextAttemptAt - now} ms`,
        'connection',
      );
    }
    const client = new ModbusRTU();
    // A connect to a black-holed address can hang for minutes; give it the request's timeout, at least 1 s.
    const connectMs = Math.max(req.timeoutMs, 1000);
    try {
      await withTimeout(this.connect(client), connectMs, `connect timed out after ${connectMs} ms`);
    } catch (err) {
      this.failures++;
      this.lastConnectError = (err as Error).message;
      this.nextAttemptAt =
        this.now() + Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
      await destroy(client);
      throw new ModbusRequestError(
        `${this.describe(req)}: cannot connect: ${this.lastConnectError}`,
        'connection',
      );
    }
    this.failures = 0;
    this.nextAttemptAt = 0;
    this.timeoutsInARow = 0;
    client.on('error', () => {
      // Socket errors also close the port; the next request reopens it.
    });
    client.on('close', () => {
      if (this.client === client) this.client = undefined;
    });
    this.client = client;
    return client;
  }

  private connect(client: Client): Promise<void> {
    const t = this.target;
    switch (t.transport) {
      case 'tcp':
        return client.connectTCP(t.host!, { port: t.port! });
      case 'rtu-over-tcp':
        // modbus-serial's "telnet" port is raw RTU frames (with CRC) over a TCP socket, as transparent
        // RS-485 servers carry them; its "TcpRTUBuffered" port speaks MBAP and is not this.
        return client.connectTelnet(t.host!, { port: t.port! });
      case 'rtu':
        return client
          .connectRTUBuffered(t.path!, {
            baudRate: t.baudRate,
            parity: t.parity,
            dataBits: t.dataBits,
            stopBits: t.stopBits,
          })
          .catch((err: Error) => {
            throw new Error(`${err.message} (${serialSettings(t)})`);
          });
    }
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await destroy(client);
  }
}

function destroy(client: Client): Promise<void> {
  return new Promise((resolve) => {
    try {
      if (client.isOpen) client.close(() => resolve());
      else client.destroy(() => resolve());
    } catch {
      resolve();
    }
    // Some ports never call back when already half-closed.
    setTimeout(resolve, 500).unref();
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Connections shared by inputs, one per host:port or serial path, counted by reference: the last
 * input to release one closes it.
 */
export class ConnectionPool {
  private readonly entries = new Map<string, { conn: ModbusConnection; refs: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  acquire(target: ConnectionTarget, backoff: Backoff): ModbusConnection {
    const key = targetKey(target);
    const entry = this.entries.get(key);
    if (entry) {
      const t = entry.conn.target;
      if (
        target.transport === 'rtu' &&
        (t.baudRate !== target.baudRate ||
          t.parity !== target.parity ||
          t.dataBits !== target.dataBits ||
          t.stopBits !== target.stopBits)
      ) {
        throw new Error(
          `${key} is already open at ${serialSettings(t)}; this input asks for ${serialSettings(target)}: every unit on one bus must use the same settings`,
        );
      }
      entry.refs++;
      return entry.conn;
    }
    const conn = new ModbusConnection(target, backoff, this.now);
    this.entries.set(key, { conn, refs: 1 });
    return conn;
  }

  async release(conn: ModbusConnection): Promise<void> {
    const entry = this.entries.get(conn.key);
    if (!entry || entry.conn !== conn) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.entries.delete(conn.key);
    await conn.close();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The pool inputs use unless given another: the agent process shares one connection per gateway. */
export const defaultPool = new ConnectionPool();
