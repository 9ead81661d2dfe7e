/**
 * The modbus input: reads a meter (or any Modbus device) over TCP, RTU on RS-485, or RTU through a
 * transparent TCP gateway, from a profile in `firmware-configs/modbus/` and/or explicit points.
 *
 * Pure work (merging points into few reads, decoding, scaling, fault tests) lives in
 * `@dayi/protocols/modbus`; this shell polls, shares one connection and one request queue per
 * gateway or bus between inputs, and reports each failing read with its context while the other
 * reads and the other devices go on.
 */
import {
  type PlanOptions,
  type PointAddress,
  planReads,
  type ReadRequest,
  rawValueAt,
} from '@dayi/protocols/modbus/planner.ts';
import { isFault, mergePoints } from '@dayi/protocols/modbus/points.ts';
import type { ModbusPoint } from '@dayi/protocols/modbus/profile.ts';
import { scaleValue } from '@dayi/protocols/modbus/registers.ts';
import type { Profiles } from '../profiles.ts';
import type { Input, InputDeps, InputLink, InputSink } from '../types.ts';
import {
  type ConnectionPool,
  type ConnectionTarget,
  defaultPool,
  type ModbusConnection,
} from './connection.ts';
import type { ModbusInputConfig } from './schema.ts';

export { ConnectionPool, ModbusConnection, ModbusRequestError } from './connection.ts';
export type { ModbusInputConfig } from './schema.ts';

/** The same failing read is reported again at most this often; a change of error is reported at once. */
export const REPEAT_ERROR_EVERY_MS = 60_000;

export interface ModbusInputOptions {
  /** Connections shared with other inputs; the process-wide pool by default. */
  pool?: ConnectionPool;
}

type PlannedPoint = ModbusPoint & PointAddress;

/** What an input resolves from its config and profile: where to read, what, with which limits. */
export interface ResolvedModbusInput {
  target: ConnectionTarget;
  unitId: number;
  points: ModbusPoint[];
  limits: PlanOptions;
}

/** Applies the profile (if any) under the config: the config's settings and points win. */
export function resolveModbusInput(config: ModbusInputConfig, profiles: Profiles): ResolvedModbusInput {
  const profile = config.profile ? profiles.get('modbus', config.profile) : undefined;
  const serial = profile?.serial ?? {};
  return {
    target: {
      transport: config.transport,
      ...(config.host !== undefined ? { host: config.host, port: config.port } : {}),
      ...(config.path !== undefined ? { path: config.path } : {}),
      baudRate: config.baudRate ?? serial.baudRate ?? 9600,
      parity: config.parity ?? serial.parity ?? 'none',
      dataBits: config.dataBits ?? serial.dataBits ?? 8,
      stopBits: config.stopBits ?? serial.stopBits ?? 1,
    },
    unitId: config.unitId ?? profile?.unitId ?? 1,
    points: mergePoints(profile?.points ?? [], config.points ?? []),
    limits: { ...profile?.limits, ...config.limits },
  };
}

/**
 * Checks what the schema cannot: that the profile exists, validates, and merges with the points
 * into reads within the limits. Paths are relative to the input (`profile`, `limits`), for
 * `config check` to prefix with `instruments.N.inputs.M.`.
 */
export function checkModbusInput(
  config: ModbusInputConfig,
  profiles: Profiles,
): { path: string; message: string }[] {
  try {
    const r = resolveModbusInput(config, profiles);
    planReads(
      r.points.map((p) => ({ ...p, unitId: r.unitId })),
      r.limits,
    );
    return [];
  } catch (err) {
    const path = config.profile && !(err instanceof RangeError) ? 'profile' : 'limits';
    return [{ path, message: (err as Error).message }];
  }
}

function defaultName(config: ModbusInputConfig, unitId: number): string {
  const where = config.transport === 'rtu' ? config.path : `${config.host}:${config.port}`;
  return `modbus ${config.transport} ${where} unit ${unitId}`;
}

export function create(config: ModbusInputConfig, deps: InputDeps, opts: ModbusInputOptions = {}): Input {
  return new ModbusInput(config, deps, opts);
}

export class ModbusInput implements Input {
  readonly type = 'modbus';
  readonly name: string;
  private readonly config: ModbusInputConfig;
  private readonly deps: InputDeps;
  private readonly pool: ConnectionPool;
  private readonly now: () => number;
  private resolved: ResolvedModbusInput | undefined;
  private resolveError: Error | undefined;
  private plan: ReadRequest<PlannedPoint>[] = [];
  private conn: ModbusConnection | undefined;
  private sink: InputSink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private running = false;
  private linkState: InputLink = { connected: false };
  /** Polls in a row where every read failed: a silent device is polled less often, sparing the shared bus. */
  private silentPolls = 0;
  private readonly reported = new Map<string, { message: string; at: number }>();

  constructor(config: ModbusInputConfig, deps: InputDeps, opts: ModbusInputOptions = {}) {
    this.config = config;
    this.deps = deps;
    this.pool = opts.pool ?? defaultPool;
    this.now = deps.now ?? Date.now;
    try {
      this.resolved = resolveModbusInput(config, deps.profiles);
      const unitId = this.resolved.unitId;
      const points = this.resolved.points.map((p) => ({ ...p, unitId }));
      this.plan = planReads(points, this.resolved.limits);
    } catch (err) {
      // Reported by start() through the sink: an input never throws at the runtime.
      this.resolveError = err as Error;
    }
    this.name = config.name ?? defaultName(config, this.resolved?.unitId ?? config.unitId ?? 1);
  }

  /** The reads one poll makes, after merging (for tests and `config check` output). */
  get reads(): ReadonlyArray<Pick<ReadRequest<PlannedPoint>, 'unitId' | 'fc' | 'address' | 'count'>> {
    return this.plan.map(({ unitId, fc, address, count }) => ({ unitId, fc, address, count }));
  }

  async start(sink: InputSink): Promise<void> {
    if (this.running) return;
    this.sink = sink;
    this.running = true;
    const r = this.resolved;
    if (!r) {
      const message = `modbus input ${this.name}: ${this.resolveError?.message ?? 'invalid configuration'}`;
      this.linkState = { connected: false, lastError: message, lastErrorAt: this.now() };
      sink.error(new Error(message), { input: this.name, profile: this.config.profile });
      return;
    }
    try {
      this.conn = this.pool.acquire(r.target, {
        initialMs: this.config.backoff.initial,
        maxMs: this.config.backoff.max,
      });
    } catch (err) {
      this.linkState = { connected: false, lastError: (err as Error).message, lastErrorAt: this.now() };
      sink.error(err as Error, this.context());
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) await this.pool.release(conn);
    this.linkState = { ...this.linkState, connected: false };
  }

  link(): InputLink {
    return { ...this.linkState };
  }

  private context(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const t = this.resolved?.target;
    return {
      input: this.name,
      instrumentId: this.deps.instrumentId,
      transport: this.config.transport,
      ...(t?.host !== undefined ? { host: t.host, port: t.port } : {}),
      ...(t?.path !== undefined ? { path: t.path } : {}),
      unitId: this.resolved?.unitId,
      ...extra,
    };
  }

  private schedule(delay: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
      });
    }, delay);
  }

  private async poll(): Promise<void> {
    const started = this.now();
    const metrics: Record<string, number> = {};
    let fault = false;
    let failed = 0;
    let firstError: Error | undefined;
    for (const req of this.plan) {
      if (!this.running || !this.conn) return;
      let data: number[] | undefined;
      let error: Error | undefined;
      for (let attempt = 0; attempt <= this.config.retries; attempt++) {
        try {
          data = await this.conn.read({
            unitId: req.unitId,
            fc: req.fc,
            address: req.address,
            count: req.count,
            timeoutMs: this.config.timeout,
          });
          break;
        } catch (err) {
          error = err as Error;
          // A refused connection is not retried in the same poll: its backoff decides.
          if ((err as { failure?: string }).failure === 'connection') break;
        }
      }
      const key = `${req.unitId}/${req.fc}/${req.address}/${req.count}`;
      if (!data) {
        failed++;
        firstError ??= error;
        this.report(key, error!, req);
        continue;
      }
      this.reported.delete(key);
      for (const { point, offset } of req.points) {
        const raw = rawValueAt(data, offset, point);
        const value = scaleValue(raw, point.scale, point.offset);
        if (Number.isFinite(value)) metrics[point.metric] = value;
        if (point.fault && isFault(raw, point.fault)) fault = true;
      }
    }
    if (!this.running) return;
    const now = this.now();
    if (failed === 0) {
      this.linkState = { ...this.linkState, connected: true };
      this.silentPolls = 0;
    } else {
      this.linkState = {
        connected: false,
        lastError: firstError?.message ?? 'read failed',
        lastErrorAt: now,
      };
      if (failed === this.plan.length) this.silentPolls++;
    }
    if (Object.keys(metrics).length > 0) {
      this.sink?.reading({ ts: started, metrics, ...(fault ? { state: 'fault' as const } : {}) });
    }
    const backoff =
      this.silentPolls > 0
        ? Math.min(this.config.backoff.max, this.config.backoff.initial * 2 ** (this.silentPolls - 1))
        : 0;
    this.schedule(Math.max(0, Math.max(this.config.every, backoff) - (now - started)));
  }

  private report(key: string, err: Error, req: ReadRequest<PlannedPoint>): void {
    const now = this.now();
    const last = this.reported.get(key);
    if (last && last.message === err.message && now - last.at < REPEAT_ERROR_EVERY_MS) return;
    this.reported.set(key, { message: err.message, at: now });
    this.sink?.error(
      err,
      this.context({
        fc: req.fc,
        address: req.address,
        count: req.count,
        metrics: req.points.map((p) => p.point.metric),
      }),
    );
  }
}
