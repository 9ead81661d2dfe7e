/**
 * The opcua input: subscribes to an OPC UA server's nodes, holds the latest value of each, and
 * while connected sends them (with the state machine's CurrentState as the instrument's own state)
 * as one reading every `every`; a state change is sent at once.
 *
 * Sample-and-hold, because a subscription reports only changes: an instrument whose state and
 * values hold still for hours (an NMR acquisition) would otherwise send nothing, and the collector
 * would count that time as `unknown`. While disconnected nothing is held and nothing is sent.
 *
 * Recovery is the point of this module. A supervisor loop owns one Connection at a time; when the
 * connection dies for any reason (socket closed, session closed or invalid, subscription
 * terminated or silent), the whole connection is discarded and rebuilt from scratch with
 * backoff: new client, new session, browse paths resolved again (node ids may differ after a
 * server restart), new subscription. The input itself is never restarted.
 */
import { resolve as resolvePath } from 'node:path';
import type { State } from '@dayi/protocols/mqtt/names.ts';
import {
  combineStates,
  mapVendorNumber,
  mapVendorState,
  type SourceState,
} from '@dayi/protocols/opcua/state.ts';
import type { OPCUACertificateManager } from 'node-opcua';
import type { Input, InputDeps, InputLink, InputSink } from '../types.ts';
import type { Connection, Sample } from './connection.ts';
import {
  buildPlan,
  describeAddress,
  type MetricItem,
  type ReadPlan,
  reconnectDelay,
  type StateItem,
} from './plan.ts';
import type { OpcuaInputConfig } from './schema.ts';

/**
 * node-opcua costs ~0.8 s and ~90 MB RSS to load: it is loaded when an opcua input starts, never
 * by agents (or `config check`) that have no opcua input.
 */
const loadConnection = () => import('./connection.ts');

export { buildPlan, reconnectDelay } from './plan.ts';
export type { OpcuaInputConfig };

/** The server's certificate is not (yet) in the agent's trusted/ folder. */
const UNTRUSTED_SERVER = /BadCertificateUntrusted/;
const AUTH_FAILURE =
  /BadUserAccessDenied|BadIdentityToken|BadCertificate|BadSecurityChecksFailed|Certificate verification failed/i;

export function create(config: OpcuaInputConfig, deps: InputDeps): Input {
  return new OpcuaInput(config, deps);
}

class OpcuaInput implements Input {
  readonly name: string;
  readonly type = 'opcua';
  readonly #config: OpcuaInputConfig;
  readonly #deps: InputDeps;
  #plan: ReadPlan | undefined;
  #planError: Error | undefined;
  #link: InputLink = { connected: false };
  #sink: InputSink | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** Aborts a connection attempt in progress, so stop() does not wait for a connect timeout. */
  #abort: AbortController | undefined;
  #conn: Connection | undefined;
  #certificateManager: OPCUACertificateManager | undefined;
  /** Current state of each state node (key: source index + node id). */
  #sourceStates = new Map<string, SourceState>();
  #lastState: State | undefined;
  /** Latest good value of each metric on the current connection (deadband-filtered changes only). */
  #held = new Map<string, number>();
  #holdTimer: NodeJS.Timeout | undefined;
  /** Time of the last reading sent, so readings never go back in time (see #emitHeld). */
  #lastTs = Number.NEGATIVE_INFINITY;
  /** Per node, the last problem reported, so a bad node is reported once, not on every change. */
  #nodeProblems = new Map<string, string>();

  constructor(config: OpcuaInputConfig, deps: InputDeps) {
    this.#config = config;
    this.#deps = deps;
    this.name = config.name ?? `opcua ${config.endpoint}`;
    try {
      const profile = config.profile ? deps.profiles.get('opcua', config.profile) : undefined;
      this.#plan = buildPlan(config, profile);
    } catch (err) {
      // Reported from start(): create() only builds, and a bad profile is a device-side problem.
      this.#planError = err as Error;
    }
  }

  link(): InputLink {
    return { ...this.#link };
  }

  async start(sink: InputSink): Promise<void> {
    if (this.#loop) return;
    this.#sink = sink;
    this.#stopped = false;
    this.#loop = this.#run().catch((err: unknown) => {
      this.#report(err as Error, { stage: 'supervisor' });
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopHolding();
    this.#wake?.();
    this.#abort?.abort();
    await this.#conn?.close();
    await this.#loop;
    this.#loop = undefined;
    this.#link = { ...this.#link, connected: false };
  }

  #report(err: Error, context: Record<string, unknown>): void {
    this.#link = { connected: this.#link.connected, lastError: err.message, lastErrorAt: Date.now() };
    this.#sink?.error(err, { endpoint: this.#config.endpoint, ...context });
  }

  async #run(): Promise<void> {
    if (this.#planError || !this.#plan) {
      this.#report(this.#planError ?? new Error('no read plan'), { profile: this.#config.profile });
      return;
    }
    const plan = this.#plan;
    const { openConnection, ConnectError, createCertificateManager, routeLibraryLogs } =
      await loadConnection();
    routeLibraryLogs(this.#deps.log);
    const { minDelay, maxDelay } = this.#config.reconnect;
    let attempt = 0;
    let lastFailure: string | undefined;
    while (!this.#stopped) {
      try {
        this.#certificateManager ??= await createCertificateManager(
          resolvePath(this.#config.certificateDir),
          this.#config.acceptUnknownServerCertificate,
        );
        this.#nodeProblems.clear();
        if (this.#stopped) break;
        const abort = new AbortController();
        this.#abort = abort;
        const conn = await openConnection({
          config: this.#config,
          plan,
          certificateManager: this.#certificateManager,
          handlers: {
            metric: (item, dv) => this.#onMetric(item, dv),
            state: (item, key, dv) => this.#onState(item, key, dv),
            nodeError: (err, context) => this.#report(err, context),
            missingOptional: (address, reason) =>
              this.#deps.log.info(
                { input: this.name, ...describeAddress(address), reason },
                'optional OPC UA node absent',
              ),
            nodeRecovered: (address) =>
              this.#deps.log.info(
                { input: this.name, ...describeAddress(address) },
                'OPC UA node now monitored',
              ),
          },
          signal: abort.signal,
        });
        this.#conn = conn;
        if (this.#stopped) {
          await conn.close();
          break;
        }
        this.#link = { ...this.#link, connected: true };
        this.#holdTimer = setInterval(() => this.#emitHeld(), this.#config.every);
        this.#deps.log.info(
          { input: this.name, monitored: conn.monitored },
          'OPC UA session and subscription ready',
        );
        attempt = 0;
        lastFailure = undefined;
        const reason = await conn.lost;
        // No fresh data from here on, so no more evidence.
        this.#stopHolding();
        if (this.#stopped) break;
        this.#link = { ...this.#link, connected: false };
        this.#report(new Error(`OPC UA connection lost: ${reason.message}; reconnecting`), {});
        await conn.close();
      } catch (err) {
        if (this.#stopped) break;
        const e = err as Error;
        const context = err instanceof ConnectError ? err.context : {};
        this.#link = { ...this.#link, connected: false };
        // A server that stays down is reported once per outage; link() keeps the last error fresh.
        if (e.message !== lastFailure) this.#report(e, context);
        else this.#link = { connected: false, lastError: e.message, lastErrorAt: Date.now() };
        lastFailure = e.message;
        // Rejected credentials or certificates will not fix themselves, and repeated wrong
        // passwords can lock the account on the instrument: wait the longest delay.
        if (AUTH_FAILURE.test(e.message)) attempt = Math.max(attempt, 30);
        if (UNTRUSTED_SERVER.test(e.message) && this.#certificateManager) {
          // An administrator trusts the server by moving its certificate into trusted/certs/.
          // node-opcua learns of that through file watchers, which can miss a move (seen in CI):
          // the next attempt reads the folders afresh instead.
          const stale = this.#certificateManager;
          this.#certificateManager = undefined;
          await stale.dispose().catch(() => {});
        }
      } finally {
        this.#stopHolding();
        this.#conn = undefined;
        this.#sourceStates.clear();
        this.#lastState = undefined;
        this.#held.clear();
      }
      if (this.#stopped) break;
      await this.#sleep(reconnectDelay(attempt++, minDelay, maxDelay));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }

  #stopHolding(): void {
    clearInterval(this.#holdTimer);
    this.#holdTimer = undefined;
  }

  /**
   * One reading with the held value of every metric and the current state. Timed by the agent's
   * clock (the values are known to hold now), but never before the last reading sent, which with
   * `timestamp: source|server` may carry the server's time.
   */
  #emitHeld(): void {
    if (this.#held.size === 0 && this.#lastState === undefined) return;
    const ts = Math.max(this.#now(), this.#lastTs);
    this.#lastTs = ts;
    this.#sink?.reading({
      ts,
      metrics: Object.fromEntries(this.#held),
      ...(this.#lastState !== undefined ? { state: this.#lastState } : {}),
    });
  }

  /** Reports a node's problem once until it changes (or the connection is rebuilt). */
  #nodeProblem(key: string, message: string, context: Record<string, unknown>): void {
    if (this.#nodeProblems.get(key) === message) return;
    this.#nodeProblems.set(key, message);
    this.#report(new Error(message), context);
  }

  #onMetric(item: MetricItem, sample: Sample): void {
    const context = { ...describeAddress(item.address), metric: item.metric };
    if (sample.bad !== undefined) {
      // A bad value is no evidence: the metric leaves the held snapshot until a good one comes.
      this.#held.delete(item.metric);
      this.#nodeProblem(item.metric, `bad status ${sample.bad}`, context);
      return;
    }
    let value: number | undefined;
    if (item.map) {
      value = sample.text === undefined ? undefined : mapVendorNumber(sample.text, item.map);
      if (value === undefined) {
        this.#held.delete(item.metric);
        this.#nodeProblem(
          item.metric,
          `value ${JSON.stringify(sample.text)} is not in the node's map`,
          context,
        );
        return;
      }
    } else {
      value = sample.number;
      if (value === undefined) {
        this.#held.delete(item.metric);
        this.#nodeProblem(item.metric, `value of type ${sample.dataType} is not a number`, context);
        return;
      }
    }
    this.#nodeProblems.delete(item.metric);
    // 12 significant digits: plenty for any meter, and 7 200 000 ms / 3 600 000 stays 2, not 1.9999999999999998.
    const scaled =
      item.scale === 1 && item.offset === 0
        ? value
        : Number((value * item.scale + item.offset).toPrecision(12));
    // Held, not sent: the next #emitHeld sends it, so each metric is sampled evenly in time.
    this.#held.set(item.metric, scaled);
  }

  #onState(item: StateItem, key: string, sample: Sample): void {
    const context = { ...describeAddress(item.address), resolved: key, state: true };
    let state: State | undefined;
    if (sample.bad === undefined) {
      state = sample.text === undefined ? undefined : mapVendorState(sample.text, item.map);
      if (state === undefined)
        this.#nodeProblem(
          `state ${key}`,
          `state ${JSON.stringify(sample.text)} is not in state.map`,
          context,
        );
      else this.#nodeProblems.delete(`state ${key}`);
    }
    // A bad status (Bad_StateNotActive of a LADS unit while the device sleeps) leaves it unknown.
    this.#sourceStates.set(key, { state, dominant: item.dominant });
    const combined = combineStates(this.#sourceStates.values());
    if (combined === this.#lastState) return;
    // Every source bad or unmapped: no state is known, so none is held and sent.
    this.#lastState = combined;
    if (combined === undefined) return;
    // A state change is sent at once, not at the next #emitHeld; by default on the same clock.
    const ts = this.#config.timestamp === 'agent' ? this.#now() : sample.ts;
    this.#lastTs = Math.max(this.#lastTs, ts);
    this.#sink?.reading({ ts, metrics: {}, state: combined });
  }
}
