/**
 * The HTTP side of InfluxDB: writes line protocol (v1 `/write`, or v2 `/api/v2/write` through
 * @influxdata/influxdb-client) and runs InfluxQL through `/query`. Failures are classified for the
 * shipper: `retry` (server down, 5xx, 429/503 with their Retry-After, auth and missing database
 * until an operator fixes them), `too_large` (413: send halves) and `rejected` (400/422: the
 * lines themselves are bad; the shipper halves down to the bad line and drops only that).
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { HttpError, InfluxDB, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import { gzipLevel, type InfluxConfig } from './config.ts';
import { LineBatch } from './lines.ts';

const gzip = promisify(gzipCb);

// The library logs failed writes to the console by itself; its errors reach us as rejections.
setLogger({ error() {}, warn() {} });

export type WriteFailureKind = 'retry' | 'too_large' | 'rejected';

export class InfluxWriteError extends Error {
  readonly kind: WriteFailureKind;
  /** HTTP status, or undefined when the server was not reached. */
  readonly status: number | undefined;
  /** What `Retry-After` asked for, ms. */
  readonly retryAfterMs: number | undefined;
  /** A short label for metrics: `http_503`, `network`, `timeout`. */
  readonly reason: string;
  constructor(
    kind: WriteFailureKind,
    reason: string,
    message: string,
    status?: number,
    retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'InfluxWriteError';
    this.kind = kind;
    this.reason = reason;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or bad. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * How long the shipper waits after its `failures`-th failure in a row: what `Retry-After` asked
 * for (up to `capMs`), else exponential from 1 s up to `capMs`, ±20 % so that many collectors do
 * not retry in step.
 */
export function retryDelay(err: unknown, failures: number, capMs: number, random = Math.random): number {
  const asked = err instanceof InfluxWriteError ? err.retryAfterMs : undefined;
  if (asked !== undefined) return Math.min(capMs, asked);
  const base = Math.min(capMs, 1000 * 2 ** Math.min(20, Math.max(0, failures - 1)));
  return Math.round(base * (0.8 + random() * 0.4));
}

function classify(status: number, body: string, retryAfter: string | null | undefined): InfluxWriteError {
  const text = body.slice(0, 500).trim();
  const message = `InfluxDB answered ${status}${text ? `: ${text}` : ''}`;
  const reason = `http_${status}`;
  if (status === 413) return new InfluxWriteError('too_large', reason, message, status);
  if (status === 400 || status === 422) return new InfluxWriteError('rejected', reason, message, status);
  return new InfluxWriteError('retry', reason, message, status, parseRetryAfter(retryAfter));
}

function networkError(err: unknown, what: string): InfluxWriteError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new InfluxWriteError('retry', 'timeout', `${what}: no answer in time`);
  }
  const detail = e.cause?.code ?? e.cause?.message ?? e.message;
  return new InfluxWriteError('retry', 'network', `${what}: ${detail}`);
}

/** A write request's body, encoded ahead of sending it (joined, compressed as configured). */
export interface EncodedBody {
  readonly data: Buffer | string;
  readonly gzip: boolean;
}

export interface InfluxClient {
  /**
   * Writes lines (ns timestamps); resolves when InfluxDB answered 2xx. Throws InfluxWriteError.
   * `body`: what encode() made of the same lines, so that a batch can be compressed while the
   * request before it is under way.
   */
  write(lines: LineBatch | readonly string[], body?: EncodedBody): Promise<void>;
  /** The request body of these lines (v1 only; undefined for v2, whose library encodes). */
  encode(lines: LineBatch): Promise<EncodedBody | undefined>;
  /** InfluxQL through `/query`; returns the series of each statement's result. */
  query(influxql: string, opts?: { method?: 'GET' | 'POST' }): Promise<QueryResult[]>;
  /** `CREATE DATABASE` (idempotent on 1.x); throws InfluxWriteError. */
  createDatabase(): Promise<void>;
  close(): Promise<void>;
}

export interface QuerySeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
export interface QueryResult {
  series: QuerySeries[];
}

function authHeaders(config: InfluxConfig): Record<string, string> {
  if (config.token) return { authorization: `Token ${config.token}` };
  if (config.username) {
    const basic = Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64');
    return { authorization: `Basic ${basic}` };
  }
  return {};
}

function baseUrl(config: InfluxConfig): string {
  return config.url.replace(/\/+$/, '');
}

export interface ClientOptions {
  /** Aborts requests under way (the shipper stopping). */
  signal?: AbortSignal;
}

export function createInfluxClient(config: InfluxConfig, opts: ClientOptions = {}): InfluxClient {
  const base = baseUrl(config);
  const signal = () =>
    opts.signal
      ? AbortSignal.any([opts.signal, AbortSignal.timeout(config.timeout)])
      : AbortSignal.timeout(config.timeout);
  const headers = authHeaders(config);
  const v2 = config.api === 'v2' ? createV2Writer(config) : null;
  const level = gzipLevel(config);
  const params = new URLSearchParams({ db: config.database, precision: 'ns' });
  if (config.retentionPolicy) params.set('rp', config.retentionPolicy);
  const writeUrl = `${base}/write?${params}`;

  async function encode(lines: LineBatch): Promise<EncodedBody> {
    if (level === null) return { data: lines.text, gzip: false };
    return { data: await gzip(lines.text, { level }), gzip: true };
  }

  async function writeV1(lines: LineBatch, encoded?: EncodedBody): Promise<void> {
    const body = encoded ?? (await encode(lines));
    let res: Response;
    try {
      res = await fetch(writeUrl, {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'text/plain; charset=utf-8',
          ...(body.gzip ? { 'content-encoding': 'gzip' } : {}),
        },
        body: body.data,
        signal: signal(),
      });
    } catch (err) {
      throw networkError(err, `InfluxDB ${base}/write`);
    }
    if (res.status >= 200 && res.status < 300) {
      await res.arrayBuffer().catch(() => {});
      return;
    }
    const answer = await res.text().catch(() => '');
    throw classify(res.status, answer, res.headers.get('retry-after'));
  }

  async function query(influxql: string, opts: { method?: 'GET' | 'POST' } = {}): Promise<QueryResult[]> {
    const params = new URLSearchParams({ db: config.database, q: influxql, epoch: 'ms' });
    if (config.retentionPolicy) params.set('rp', config.retentionPolicy);
    const post = opts.method === 'POST';
    let res: Response;
    try {
      res = await fetch(post ? `${base}/query` : `${base}/query?${params}`, {
        method: post ? 'POST' : 'GET',
        headers: { ...headers, accept: 'application/json' },
        ...(post ? { body: params } : {}),
        signal: signal(),
      });
    } catch (err) {
      throw networkError(err, `InfluxDB ${base}/query`);
    }
    const text = await res.text().catch(() => '');
    let json: { error?: string; results?: { error?: string; series?: QuerySeries[] }[] } = {};
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: reported with the status below
    }
    const error = json.error ?? json.results?.find((r) => r.error)?.error;
    if (!res.ok || error) {
      throw new InfluxWriteError(
        res.ok ? 'rejected' : 'retry',
        `http_${res.status}`,
        `InfluxDB query failed (${res.status}): ${(error ?? text).slice(0, 500)}`,
        res.status,
        parseRetryAfter(res.headers.get('retry-after')),
      );
    }
    return (json.results ?? []).map((r) => ({ series: r.series ?? [] }));
  }

  return {
    write(lines, body) {
      const batch = lines instanceof LineBatch ? lines : LineBatch.of(lines);
      return v2 ? v2.write(batch.lines()) : writeV1(batch, body);
    },
    encode: async (lines) => (v2 ? undefined : encode(lines)),
    query,
    async createDatabase() {
      await query(`CREATE DATABASE ${quoteIdent(config.database)}`, { method: 'POST' });
    },
    async close() {
      await v2?.close();
    },
  };
}

/** An InfluxQL identifier in double quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** An InfluxQL string literal in single quotes. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The v2 write path: @influxdata/influxdb-client's WriteApi with its own batching and retries off
 * (the shipper batches, retries and keeps the durable high-water mark), gzip as configured.
 */
function createV2Writer(config: InfluxConfig): {
  write(lines: readonly string[]): Promise<void>;
  close(): Promise<void>;
} {
  const client = new InfluxDB({ url: baseUrl(config), token: config.token ?? '', timeout: config.timeout });
  const api: WriteApi = client.getWriteApi(config.org ?? '', config.bucket ?? '', 'ns', {
    batchSize: 5001,
    flushInterval: 0,
    maxRetries: 0,
    gzipThreshold: gzipLevel(config) === null ? Number.MAX_SAFE_INTEGER : 0,
    writeFailed: (error: Error) => Promise.reject(error),
  });
  return {
    async write(lines) {
      api.writeRecords([...lines]);
      try {
        await api.flush();
      } catch (err) {
        if (err instanceof HttpError) {
          const retryAfter = err.headers?.['retry-after'];
          throw classify(
            err.statusCode,
            err.body ?? err.message,
            Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
          );
        }
        throw networkError(err, `InfluxDB ${baseUrl(config)}/api/v2/write`);
      }
    },
    async close() {
      await api.close().catch(() => {});
    },
  };
}
