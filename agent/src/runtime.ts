import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InputLink } from '@dayi/protocols';
import type { State } from '@dayi/protocols/mqtt/names.ts';
import { type StateChange, StateClassifier } from './classifier.ts';
import type { AgentConfig, InstrumentConfig } from './config.ts';
import { createInput, type Input, type InputConfig, type Reading } from './inputs/index.ts';
import type { Profiles } from './inputs/profiles.ts';
import { createLogger, type Logger } from './log.ts';
import { Outbox } from './outbox.ts';
import { InstrumentSession } from './publisher/index.ts';
import { brokerOf, writeStatusFile } from './status-file.ts';

export interface StartOptions {
  log?: Logger;
  /** Wall clock for timestamps; tests and demos inject their own. */
  now?: () => number;
  /** Reported in `status.agent.version`; default the agent package's version. */
  version?: string;
  /**
   * The profiles the inputs name, loaded beforehand (./main.ts hands them over with the config);
   * by default they are read from `config.profilesDir` as the inputs start.
   */
  profiles?: Profiles;
}

export interface RunningAgent {
  /** Stops inputs, publishes `status` online:false, closes sessions and outboxes. Idempotent. */
  stop(): Promise<void>;
  readonly instruments: readonly InstrumentRuntime[];
}

export const AGENT_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/**
 * Starts the agent: per instrument, its inputs feed the classifier and a telemetry accumulator;
 * state changes and telemetry go to the instrument's disk outbox; its own MQTT session drains it.
 * A failing input is logged with context and shown in `status`; the others go on.
 */
export async function startAgent(config: AgentConfig, opts: StartOptions = {}): Promise<RunningAgent> {
  const log = opts.log ?? createLogger({ level: config.log.level, name: 'dayi-agent' });
  const now = opts.now ?? Date.now;
  const version = opts.version ?? AGENT_VERSION;
  const share = Math.floor(config.outbox.maxBytes / config.instruments.length);
  // Loaded only without a table: reading profiles loads the YAML parser and zod (./inputs/profiles.ts).
  const profiles =
    opts.profiles ?? (await import('./inputs/profiles-load.ts')).diskProfiles(config.profilesDir);
  const instruments: InstrumentRuntime[] = [];
  try {
    for (const inst of config.instruments)
      instruments.push(new InstrumentRuntime(config, inst, { log, now, version, maxBytes: share, profiles }));
  } catch (err) {
    // An outbox that cannot be opened (permissions, a file in the way) is an installation error:
    // say which instrument and where, and leave nothing half-started.
    for (const i of instruments) i.outbox.close();
    const inst = config.instruments[instruments.length]!;
    throw new Error(
      `instrument ${inst.id}: cannot open its outbox in ${join(config.outbox.dir, inst.id)}: ${(err as Error).message}`,
    );
  }
  for (const i of instruments) await i.start();
  let stopped: Promise<void> | null = null;
  return {
    instruments,
    stop() {
      stopped ??= Promise.all(instruments.map((i) => i.stop())).then(() => {});
      return stopped;
    },
  };
}

interface RuntimeDeps {
  log: Logger;
  now: () => number;
  version: string;
  maxBytes: number;
  profiles: Profiles;
}

interface InputSlot {
  name: string;
  type: string;
  input: Input | null;
  /** Set when the input could not be created or started. */
  failure: Omit<InputLink, 'name' | 'type'> | null;
}

/** One instrument's pipeline: inputs -> classifier -> outbox -> session. */
export class InstrumentRuntime {
  readonly id: string;
  readonly outbox: Outbox;
  readonly session: InstrumentSession;
  readonly classifier: StateClassifier | null;
  private readonly inst: InstrumentConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly profiles: Profiles;
  private readonly slots: InputSlot[] = [];
  private readonly acc = new Map<string, { sum: number; n: number }>();
  /** Readings with a vendor `state` this telemetry period: the evidence a vendor state needs. */
  private stateReadings = 0;
  private timer: NodeJS.Timeout | null = null;
  private starting: Promise<void> = Promise.resolve();
  private readonly vendorFaults = new Set<string>();
  private warnedSignal = false;
  private lastLinks = '';
  private stopped = false;
  private readonly agentId: string;
  private readonly broker: string;
  private statusWrittenAt = 0;
  private statusTimer: NodeJS.Timeout | null = null;
  private statusWriteFailed = false;

  constructor(config: AgentConfig, inst: InstrumentConfig, deps: RuntimeDeps) {
    this.inst = inst;
    this.id = inst.id;
    this.log = deps.log.child({ instrumentId: inst.id });
    this.now = deps.now;
    this.profiles = deps.profiles;
    this.classifier = inst.state
      ? new StateClassifier({
          signal: inst.state.signal,
          aggregate: inst.state.aggregate,
          window: inst.state.window,
          hysteresis: inst.state.hysteresis,
          minDwell: inst.state.minDwell,
          ...(inst.state.thresholds ? { thresholds: inst.state.thresholds } : {}),
        })
      : null;
    this.outbox = Outbox.open(join(config.outbox.dir, inst.id), {
      maxBytes: deps.maxBytes,
      fsync: config.outbox.fsync,
      onWarning: (message, context) => this.log.warn(context, message),
    });
    this.agentId = config.agent.id;
    this.broker = brokerOf(config.mqtt.url);
    this.session = new InstrumentSession({
      agentId: config.agent.id,
      agentVersion: deps.version,
      instrumentId: inst.id,
      mqtt: config.mqtt,
      outbox: this.outbox,
      log: deps.log,
      now: deps.now,
      links: () => this.links(),
      onStateChange: () => this.statusChanged(),
    });
  }

  /**
   * Rewrites `<outbox>/status.json` for `dayi agent status`: at once, or, when the last write was
   * less than a second ago (refusals come in bursts of up to a window of messages), a second later.
   */
  private statusChanged(): void {
    if (this.statusTimer) return;
    const wait = this.statusWrittenAt + 1000 - Date.now();
    if (wait <= 0) this.writeStatus(false);
    else {
      this.statusTimer = setTimeout(() => {
        this.statusTimer = null;
        this.writeStatus(false);
      }, wait);
      this.statusTimer.unref?.();
    }
  }

  private writeStatus(stopped: boolean): void {
    if (this.stopped && !stopped) return;
    this.statusWrittenAt = Date.now();
    try {
      writeStatusFile(this.outbox.dir, {
        version: 1,
        pid: process.pid,
        agentId: this.agentId,
        instrumentId: this.id,
        updatedAt: this.now(),
        every: this.inst.publishEvery,
        broker: this.broker,
        stopped,
        session: this.session.state(),
        outbox: this.outbox.stats(),
      });
      this.statusWriteFailed = false;
    } catch (err) {
      if (!this.statusWriteFailed)
        this.log.warn({ err: (err as Error).message, outbox: this.outbox.dir }, 'status file not written');
      this.statusWriteFailed = true;
    }
  }

  /** The inputs' link state as carried in `status`. */
  links(): InputLink[] {
    return this.slots.map((s) => {
      const l = s.failure ?? s.input?.link() ?? { connected: false };
      return {
        name: s.name,
        type: s.type,
        connected: l.connected,
        ...(l.lastError !== undefined ? { lastError: l.lastError.slice(0, 1024) } : {}),
        ...(l.lastErrorAt !== undefined ? { lastErrorAt: l.lastErrorAt } : {}),
      };
    });
  }

  async start(): Promise<void> {
    const names = new Set<string>();
    for (const [index, cfg] of this.inst.inputs.entries()) {
      const slot = await this.createSlot(cfg as InputConfig, index, names);
      this.slots.push(slot);
    }
    this.session.start();
    // Not awaited one by one: a device that takes long to answer must not hold up the others.
    this.starting = Promise.all(this.slots.map((s) => this.startSlot(s))).then(() => {});
    this.timer = setInterval(() => this.publishTelemetry(), this.inst.publishEvery);
    this.checkLinks();
    this.writeStatus(false);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    await this.starting;
    // The partial period's metrics go to the outbox: sent now if connected, else at the next start.
    this.publishTelemetry();
    this.stopped = true;
    await Promise.all(
      this.slots.map(async (s) => {
        try {
          await s.input?.stop();
        } catch (err) {
          this.log.warn({ input: s.name, err: (err as Error).message }, 'input stop failed');
        }
      }),
    );
    await this.session.stop();
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.writeStatus(true);
    this.outbox.close();
  }

  private async createSlot(cfg: InputConfig, index: number, names: Set<string>): Promise<InputSlot> {
    try {
      const input = await createInput(cfg, {
        instrumentId: this.id,
        log: this.log.child({ input: index }),
        profiles: this.profiles,
        now: this.now,
      });
      return { name: uniqueName(input.name, names), type: input.type, input, failure: null };
    } catch (err) {
      const name = uniqueName(`${cfg.type} #${index}`, names);
      this.log.error(
        { input: name, path: `inputs.${index}`, err: (err as Error).message },
        'input not created',
      );
      return {
        name,
        type: cfg.type,
        input: null,
        failure: { connected: false, lastError: (err as Error).message, lastErrorAt: this.now() },
      };
    }
  }

  private async startSlot(slot: InputSlot): Promise<void> {
    if (!slot.input) return;
    try {
      await slot.input.start({
        reading: (r) => this.onReading(slot, r),
        error: (err, context) => {
          this.log.warn({ ...context, input: slot.name, err: err.message }, 'input error');
          this.checkLinks();
        },
      });
    } catch (err) {
      slot.failure = { connected: false, lastError: (err as Error).message, lastErrorAt: this.now() };
      this.log.error({ input: slot.name, err: (err as Error).message }, 'input failed to start');
    }
  }

  private onReading(slot: InputSlot, r: Reading): void {
    if (this.stopped) return;
    if (r.state !== undefined) this.stateReadings++;
    for (const [name, value] of Object.entries(r.metrics)) {
      if (!Number.isFinite(value)) continue;
      const a = this.acc.get(name);
      if (a) {
        a.sum += value;
        a.n++;
      } else this.acc.set(name, { sum: value, n: 1 });
    }
    if (this.classifier) {
      const change = this.classifier.push({
        ts: r.ts,
        metrics: r.metrics,
        source: slot.name,
        ...(r.state ? { state: r.state } : {}),
      });
      if (change) this.publishState(change);
    } else if (r.state !== undefined) {
      // No state classification configured: a vendor fault is still worth an event.
      const was = this.vendorFaults.has(slot.name);
      if (r.state === 'fault' && !was) {
        this.vendorFaults.add(slot.name);
        this.append('event', {
          ts: r.ts,
          type: 'vendor_fault',
          severity: 'warning',
          detail: { input: slot.name },
        });
        this.session.kick();
      } else if (r.state !== 'fault') this.vendorFaults.delete(slot.name);
    }
    if (slot.failure) slot.failure = null;
    this.checkLinks();
  }

  /** Appends to the outbox; a disk error (full, read-only) is logged with context, never thrown at an input. */
  private append(
    kind: 'telemetry' | 'state' | 'event',
    body: Record<string, unknown> & { ts: number },
  ): void {
    try {
      this.outbox.append(kind, body);
    } catch (err) {
      this.log.error({ kind, outbox: this.outbox.dir, err: (err as Error).message }, 'outbox append failed');
    }
  }

  private publishState(change: StateChange): void {
    this.append('state', {
      ts: change.ts,
      state: change.state,
      since: change.since,
      source: change.source,
    });
    if (change.state === 'fault')
      this.append('event', {
        ts: change.ts,
        type: 'vendor_fault',
        severity: 'warning',
        detail: { input: change.source, previous: change.previous },
      });
    this.log.info({ state: change.state, since: change.since, source: change.source }, 'state change');
    this.session.kick();
  }

  private publishTelemetry(): void {
    if (this.stopped) return;
    const ts = this.now();
    this.statusChanged();
    const change = this.classifier?.advance(ts);
    if (change) this.publishState(change);
    this.checkLinks();
    const state = this.telemetryState();
    this.stateReadings = 0;
    // No readings this period (or only a vendor state that is no longer heard): no evidence to send.
    if (this.acc.size === 0 && !state) return;
    const signal = this.classifier?.options.signal;
    if (signal && signal !== 'vendor' && this.acc.size > 0 && !this.acc.has(signal) && !this.warnedSignal) {
      // The likeliest misconfiguration: classifying on a metric no input provides. Only readings
      // tell: a period without any (a slow input, the partial period at stop) says nothing.
      this.warnedSignal = true;
      this.log.warn(
        { signal, metrics: [...this.acc.keys()] },
        `no input provides ${signal}: the state cannot be classified (check state.signal)`,
      );
    }
    const metrics: Record<string, number> = {};
    for (const [name, a] of this.acc) metrics[name] = Math.round((a.sum / a.n) * 1000) / 1000;
    this.acc.clear();
    this.append('telemetry', { ts, metrics, ...(state ? { state } : {}) });
    this.session.kick();
  }

  /**
   * The state this period's telemetry may carry. A state the instrument reports itself
   * (`signal: vendor`, or a vendor `fault`) is evidence only while its input is heard: the
   * classifier keeps the last one, but with no reading carrying a state this period (its link is
   * down) the telemetry goes without `state`, and the collector classifies the metrics that still
   * arrive (a power meter) with the registry's thresholds, or derives `unknown`.
   */
  private telemetryState(): State | null {
    const state = this.classifier?.state ?? null;
    if (state === null) return null;
    const vendor = this.classifier!.options.signal === 'vendor' || state === 'fault';
    return vendor && this.stateReadings === 0 ? null : state;
  }

  private checkLinks(): void {
    // A repeated error (same message, new time) is not a change worth a retained republish.
    const links = JSON.stringify(this.links().map((l) => [l.name, l.connected, l.lastError]));
    if (links === this.lastLinks) return;
    this.lastLinks = links;
    this.session.publishStatus();
  }
}

function uniqueName(name: string, taken: Set<string>): string {
  let n = name;
  for (let i = 2; taken.has(n); i++) n = `${name} #${i}`;
  taken.add(n);
  return n;
}
