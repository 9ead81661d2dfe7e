/**
 * One life of an OPC UA connection: client, session, node resolution, one subscription. It never
 * repairs itself: when anything about it dies, `lost` settles and the supervisor (./index.ts)
 * throws the whole thing away and builds a new one. node-opcua's own reconnection is disabled
 * (maxRetry 0) because after a server restart it can keep a dead session or subscription whose
 * node ids no longer exist, which is the classic "OPC UA input stops after a restart" failure.
 */

import { format, stripVTControlCharacters } from 'node:util';
import { type BrowsePath, parseBrowsePath } from '@dayi/protocols/opcua/browse-path.ts';
import {
  BrowsePathError,
  browseChildren,
  dataValueNumber,
  dataValueText,
  OBJECTS_FOLDER,
  type ResolveContext,
  resolveBrowsePath,
} from '@dayi/protocols/opcua/client.ts';
import {
  AttributeIds,
  type ClientMonitoredItem,
  type ClientSession,
  type ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  type DataValue,
  DeadbandType,
  MessageSecurityMode,
  NodeClass,
  type NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  resolveNodeId,
  SecurityPolicy,
  type StatusCode,
  setErrorLogger,
  setWarningLogger,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
} from 'node-opcua';
import type { Logger } from '../../log.ts';
import {
  describeAddress,
  type MetricItem,
  type NodeAddress,
  type ReadPlan,
  reconnectDelay,
  type StateItem,
} from './plan.ts';
import type { OpcuaInputConfig } from './schema.ts';

/** A data change as plain values, so the supervisor never loads node-opcua itself. */
export interface Sample {
  /** Event time, per the input's `timestamp` mode. */
  ts: number;
  /** The status code's text when it is not Good (the value is then meaningless). */
  bad: string | undefined;
  number: number | undefined;
  text: string | undefined;
  dataType: string;
}

/**
 * The reading's time. `agent` (default) is arrival: a subscription delivers within a publishing
 * interval, instrument PCs' clocks are often wrong, and the first value after a (re)connect
 * carries as source timestamp the time of its last change (hours ago for a state), which is not
 * when it was observed. `source`/`server` use the server's timestamps, falling back to arrival.
 */
export type TimestampMode = 'agent' | 'source' | 'server';

export function toSample(dv: DataValue, mode: TimestampMode = 'agent'): Sample {
  const now = Date.now();
  const ts =
    mode === 'source'
      ? (dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? now)
      : mode === 'server'
        ? (dv.serverTimestamp?.getTime() ?? now)
        : now;
  return {
    ts,
    bad: dv.statusCode.isNotGood() ? dv.statusCode.toString() : undefined,
    number: dataValueNumber(dv),
    text: dataValueText(dv),
    dataType: DataType[dv.value.dataType] ?? String(dv.value.dataType),
  };
}

let libraryLogsRouted = false;

/**
 * node-opcua prints its warnings and errors on the console; send them to the agent's log instead
 * (at debug and warn: failures that matter are reported by the input itself, with context).
 * node-opcua's loggers are process-wide, so the first opcua input's logger is used.
 */
export function routeLibraryLogs(log: Logger): void {
  if (libraryLogsRouted) return;
  libraryLogsRouted = true;
  const lib = log.child({ lib: 'node-opcua' });
  const plain = (args: unknown[]) => stripVTControlCharacters(format(...args)).trim();
  setWarningLogger((...args: unknown[]) => lib.debug(plain(args)));
  setErrorLogger((...args: unknown[]) => lib.warn(plain(args)));
}

/** The agent's client PKI: the certificate is generated there on first use and kept. */
export async function createCertificateManager(
  rootFolder: string,
  acceptUnknownServerCertificate: boolean,
): Promise<OPCUACertificateManager> {
  const cm = new OPCUACertificateManager({
    rootFolder,
    automaticallyAcceptUnknownCertificate: acceptUnknownServerCertificate,
    name: 'dayi-agent',
  });
  await cm.initialize();
  return cm;
}

export interface ConnectionHandlers {
  metric(item: MetricItem, sample: Sample): void;
  /** `key` tells apart the nodes of one state source (a `*` path matches several units). */
  state(item: StateItem, key: string, sample: Sample): void;
  /** A problem with one node; the connection goes on. */
  nodeError(err: Error, context: Record<string, unknown>): void;
  /** An optional profile node that this server does not have. */
  missingOptional(address: NodeAddress, reason: string): void;
  /** A node that failed before is now monitored. */
  nodeRecovered(address: NodeAddress): void;
}

export interface Connection {
  /** Settles (never rejects) with the reason when the session, subscription or socket dies. */
  readonly lost: Promise<Error>;
  readonly monitored: number;
  close(): Promise<void>;
}

/** An error while (re)building the connection, with what was being done. */
export class ConnectError extends Error {
  readonly context: Record<string, unknown>;
  constructor(message: string, context: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ConnectError';
    this.context = context;
  }
}

const FILTER_REJECTED =
  /BadFilterNotAllowed|BadMonitoredItemFilterUnsupported|BadDeadbandFilterInvalid|BadMonitoredItemFilterInvalid/;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** node-opcua's messages span several lines; `status` and logs want one. */
function errMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

/** `nsu=<uri>;s=…` becomes `ns=<index>;s=…` on this server; other forms pass through. */
function nodeIdOn(text: string, namespaceArray: readonly string[]): NodeId {
  const m = /^nsu=([^;]+);(.+)$/.exec(text);
  if (!m) return resolveNodeId(text);
  const index = namespaceArray.indexOf(m[1]!);
  if (index < 0) throw new Error(`namespace ${m[1]} of node ${text} is not on this server`);
  return resolveNodeId(`ns=${index};${m[2]}`);
}

export interface OpenOptions {
  config: OpcuaInputConfig;
  plan: ReadPlan;
  certificateManager: OPCUACertificateManager;
  handlers: ConnectionHandlers;
  /** Aborting closes the connection, also while it is being built. */
  signal?: AbortSignal;
}

export async function openConnection(opts: OpenOptions): Promise<Connection> {
  const { config, plan, handlers } = opts;
  const securityMode = MessageSecurityMode[config.securityMode];
  const policyName = config.securityPolicy ?? (config.securityMode === 'None' ? 'None' : 'Basic256Sha256');
  const client = OPCUAClient.create({
    applicationName: 'dayi-agent',
    applicationUri: 'urn:dayi:agent',
    clientName: 'dayi-agent',
    endpointMustExist: false,
    securityMode,
    securityPolicy: SecurityPolicy[policyName],
    // One attempt per life; the supervisor does the backoff and rebuilds everything.
    connectionStrategy: { maxRetry: 0, initialDelay: 500, maxDelay: 1000 },
    clientCertificateManager: opts.certificateManager,
    requestedSessionTimeout: 60_000,
    defaultTransactionTimeout: config.timeout,
    transportTimeout: config.timeout,
    keepSessionAlive: false,
  });

  let settle: (reason: Error) => void = () => {};
  const lost = new Promise<Error>((resolve) => {
    settle = resolve;
  });
  let isLost = false;
  const markLost = (reason: Error) => {
    if (isLost) return;
    isLost = true;
    settle(reason);
  };
  let session: ClientSession | undefined;
  let subscription: ClientSubscription | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    markLost(new Error('closed'));
    if (watchdog) clearInterval(watchdog);
    if (retryTimer) clearTimeout(retryTimer);
    const alive = !transportDown;
    // A dead server would make each of these wait for the full timeout: keep them short.
    if (subscription && alive) await withTimeout(subscription.terminate(), 2000, 'terminate').catch(() => {});
    if (session && alive) await withTimeout(session.close(true), 2000, 'close session').catch(() => {});
    await withTimeout(client.disconnect(), 3000, 'disconnect').catch(() => {});
    client.removeAllListeners();
  }

  let transportDown = false;
  const down = (reason: Error) => {
    transportDown = true;
    markLost(reason);
  };
  client.on('connection_lost', () => down(new Error('connection lost')));
  client.on('close', (err) => down(err ?? new Error('connection closed by the server')));
  client.on('start_reconnection', () => down(new Error('connection broken')));
  client.on('abort', () => down(new Error('connection aborted by the server')));

  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  const aborted = () => {
    if (opts.signal?.aborted || closed) throw new ConnectError('stopped');
  };
  try {
    try {
      await withTimeout(client.connect(config.endpoint), config.timeout, `connect to ${config.endpoint}`);
    } catch (err) {
      throw new ConnectError(`cannot connect: ${errMessage(err)}`, {}, err);
    }
    const identity: UserIdentityInfo =
      config.username !== undefined
        ? { type: UserTokenType.UserName, userName: config.username, password: config.password ?? '' }
        : { type: UserTokenType.Anonymous };
    try {
      session = await withTimeout(client.createSession(identity), config.timeout, 'create session');
    } catch (err) {
      const user = config.username ?? 'anonymous';
      throw new ConnectError(`session refused (user ${user}): ${errMessage(err)}`, { user }, err);
    }
    aborted();
    session.on('session_closed', (status: StatusCode) =>
      markLost(new Error(`session closed: ${status.toString()}`)),
    );
    session.on('keepalive_failure', () => markLost(new Error('session keepalive failed')));

    const namespaceArray = await withTimeout(
      session.readNamespaceArray(),
      config.timeout,
      'read NamespaceArray',
    );
    aborted();
    const ctx: ResolveContext = { namespaceArray, aliases: plan.aliases, cache: new Map() };
    const base = await resolveRoot(session, config, plan, ctx);

    const resolve = async (address: NodeAddress): Promise<NodeId[]> => {
      if (address.nodeId !== undefined) return [nodeIdOn(address.nodeId, namespaceArray)];
      const path: BrowsePath = parseBrowsePath(address.browsePath);
      return resolveBrowsePath(session!, path, base, ctx);
    };

    // Keepalives every ~5 s whatever the publishing interval, so a silent death is seen in ~20 s.
    const keepAliveCount = Math.max(1, Math.ceil(5000 / config.publishingInterval));
    subscription = await withTimeout(
      session.createSubscription2({
        requestedPublishingInterval: config.publishingInterval,
        requestedMaxKeepAliveCount: keepAliveCount,
        requestedLifetimeCount: keepAliveCount * 6,
        maxNotificationsPerPublish: 1000,
        publishingEnabled: true,
        priority: 1,
      }),
      config.timeout,
      'create subscription',
    );
    let lastSign = Date.now();
    subscription.on('keepalive', () => {
      lastSign = Date.now();
    });
    subscription.on('received_notifications', () => {
      lastSign = Date.now();
    });
    subscription.on('terminated', () => markLost(new Error('subscription terminated')));
    subscription.on('internal_error', (err: Error) =>
      markLost(new Error(`subscription failed: ${err.message}`)),
    );
    subscription.on('status_changed', (status: StatusCode) => {
      if (status.isNotGood()) markLost(new Error(`subscription status ${status.toString()}`));
    });
    const sub = subscription;
    const silence = 3 * sub.publishingInterval * sub.maxKeepAliveCount + 5000;
    watchdog = setInterval(() => {
      if (Date.now() - lastSign > silence)
        markLost(new Error(`no publish response or keepalive for ${Math.round(silence / 1000)} s`));
    }, 1000);
    watchdog.unref();

    let monitored = 0;
    const monitor = async (
      nodeId: NodeId,
      context: Record<string, unknown>,
      numeric: boolean,
      onChange: (dv: DataValue) => void,
    ): Promise<void> => {
      const useDeadband = numeric && config.deadband !== undefined;
      const params = (withFilter: boolean) => ({
        samplingInterval: config.samplingInterval,
        discardOldest: true,
        queueSize: 10,
        filter:
          withFilter && config.deadband
            ? new DataChangeFilter({
                trigger: DataChangeTrigger.StatusValue,
                deadbandType:
                  config.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
                deadbandValue: config.deadband.value,
              })
            : null,
      });
      let item: ClientMonitoredItem = await sub.monitor(
        { nodeId, attributeId: AttributeIds.Value },
        params(useDeadband),
        TimestampsToReturn.Both,
      );
      if (useDeadband && FILTER_REJECTED.test(item.statusCode.toString())) {
        handlers.nodeError(
          new Error(`deadband refused by the server (${item.statusCode.toString()}); reading without it`),
          context,
        );
        item = await sub.monitor(
          { nodeId, attributeId: AttributeIds.Value },
          params(false),
          TimestampsToReturn.Both,
        );
      }
      if (item.statusCode.isNotGood()) throw new Error(`cannot monitor: ${item.statusCode.toString()}`);
      item.on('changed', onChange);
      monitored++;
    };

    // Items that could not be resolved or monitored are tried again on this session with backoff:
    // a server that has just restarted may accept sessions before its address space is complete.
    type Entry = { kind: 'metric'; item: MetricItem } | { kind: 'state'; item: StateItem };
    const done = new Set<string>();
    const lastProblem = new Map<Entry, string>();
    const tryEntry = async (entry: Entry): Promise<boolean> => {
      const { item } = entry;
      const context =
        entry.kind === 'metric'
          ? { ...describeAddress(item.address), metric: entry.item.metric }
          : { ...describeAddress(item.address), state: true };
      try {
        for (const nodeId of await resolve(item.address)) {
          const key = nodeId.toString();
          if (done.has(`${entry.kind} ${key}`)) continue;
          if (entry.kind === 'metric') {
            const m = entry.item;
            await monitor(nodeId, { ...context, resolved: key }, m.map === undefined, (dv) =>
              handlers.metric(m, toSample(dv, config.timestamp)),
            );
          } else {
            const st = entry.item;
            await monitor(nodeId, { ...context, resolved: key }, false, (dv) =>
              handlers.state(st, key, toSample(dv, config.timestamp)),
            );
          }
          done.add(`${entry.kind} ${key}`);
        }
        if (lastProblem.has(entry)) handlers.nodeRecovered(item.address);
        lastProblem.delete(entry);
        return true;
      } catch (err) {
        if (item.optional && err instanceof BrowsePathError) {
          handlers.missingOptional(item.address, err.message);
          return true; // absent by design on this server: not tried again
        }
        const message = (err as Error).message;
        if (lastProblem.get(entry) !== message) handlers.nodeError(err as Error, context);
        lastProblem.set(entry, message);
        return false;
      }
    };
    let pending: Entry[] = [];
    for (const item of plan.metrics)
      if (!(await tryEntry({ kind: 'metric', item }))) pending.push({ kind: 'metric', item });
    for (const item of plan.states)
      if (!(await tryEntry({ kind: 'state', item }))) pending.push({ kind: 'state', item });
    let retries = 0;
    const scheduleRetry = () => {
      if (pending.length === 0 || closed || isLost) return;
      retryTimer = setTimeout(
        async () => {
          ctx.cache?.clear();
          const still: Entry[] = [];
          for (const entry of pending) {
            if (closed || isLost) return;
            if (!(await tryEntry(entry))) still.push(entry);
          }
          pending = still;
          scheduleRetry();
        },
        reconnectDelay(retries++, config.reconnect.minDelay, config.reconnect.maxDelay),
      );
      retryTimer.unref();
    };
    scheduleRetry();
    return {
      lost,
      get monitored() {
        return monitored;
      },
      close,
    };
  } catch (err) {
    await close();
    if (err instanceof ConnectError) throw err;
    throw new ConnectError(
      errMessage(err),
      err instanceof BrowsePathError ? { browsePath: err.browsePath } : {},
      err,
    );
  }
}

/** The node relative browse paths start from: `root`, the profile's single instance, or Objects. */
async function resolveRoot(
  session: ClientSession,
  config: OpcuaInputConfig,
  plan: ReadPlan,
  ctx: ResolveContext,
): Promise<NodeId> {
  const objects = resolveNodeId(OBJECTS_FOLDER);
  if (config.root !== undefined) {
    if (/^(ns=\d+;|nsu=[^;]+;)?[isgb]=/.test(config.root)) return nodeIdOn(config.root, ctx.namespaceArray);
    const found = await resolveBrowsePath(session, parseBrowsePath(config.root), objects, ctx);
    if (found.length !== 1)
      throw new BrowsePathError(`root ${config.root} matches ${found.length} nodes; give one`, config.root);
    return found[0]!;
  }
  if (plan.rootSearch === undefined) return objects;
  const folders = await resolveBrowsePath(session, parseBrowsePath(plan.rootSearch), objects, ctx);
  const instances = [];
  for (const f of folders)
    for (const ref of await browseChildren(session, f, ctx.cache))
      if (ref.nodeClass === NodeClass.Object) instances.push(ref);
  if (instances.length === 1) return instances[0]!.nodeId;
  const names = instances.map((r) => r.browseName.name).join(', ');
  throw new BrowsePathError(
    instances.length === 0
      ? `no instance under ${plan.rootSearch}: set root to the machine or device node`
      : `${instances.length} instances under ${plan.rootSearch} (${names}): set root to one of them, e.g. root: "${plan.rootSearch}/${instances[0]!.browseName.name}"`,
    plan.rootSearch,
  );
}
