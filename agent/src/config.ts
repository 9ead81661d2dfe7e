import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bytes,
  ConfigError,
  type ConfigIssue,
  duration,
  instrumentId,
  isLiteralSecret,
  loadConfigFile,
  onlyEnv,
  parseConfig,
  readableSecretsWarning,
} from '@dayi/protocols';
import { z } from 'zod';
import { inputConfigSchema } from './inputs/schemas.ts';

/** The repository's `firmware-configs/`: meter and OPC UA profiles shipped with dayi. */
export const DEFAULT_PROFILES_DIR = fileURLToPath(new URL('../../firmware-configs/', import.meta.url));

/** An agent's name: it goes into MQTT client ids and service names. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const AGGREGATES = ['avg', 'min', 'max'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const MIB = 1024 ** 2;

const thresholdsSchema = z
  .strictObject({
    // 0 would make a 0 W reading (unplugged) powered: off could never be reached.
    standby: z
      .number()
      .gt(
        0,
        "must be above 0: at 0 an unplugged instrument counts as powered and off is never reached (set it above the meter's noise floor; dayi agent calibrate suggests one)",
      ),
    idle: z.number().min(0),
    running: z.number().min(0),
  })
  .superRefine((t, ctx) => {
    if (!(t.standby <= t.idle && t.idle <= t.running))
      ctx.addIssue({ code: 'custom', message: 'thresholds must rise: standby <= idle <= running' });
  });

export const stateConfigSchema = z
  .strictObject({
    /** The metric classified (`power_w`, `current_a`, …), or `vendor`: the state the inputs report. */
    signal: z.string().min(1).default('power_w'),
    aggregate: z.enum(AGGREGATES).default('avg'),
    /** Sliding window the aggregate is taken over. */
    window: duration().default(10_000),
    thresholds: thresholdsSchema.optional(),
    /** To leave a state the signal must cross the threshold by this fraction of it. */
    hysteresis: z.number().min(0).max(0.9).default(0.1),
    /** A new state must hold this long before it is published. */
    minDwell: duration().default(30_000),
  })
  .superRefine((s, ctx) => {
    if (s.signal !== 'vendor' && !s.thresholds)
      ctx.addIssue({
        code: 'custom',
        path: ['thresholds'],
        message: `thresholds { standby, idle, running } are required for signal ${s.signal}`,
      });
  });

export const instrumentConfigSchema = z
  .strictObject({
    id: instrumentId,
    /** Telemetry period: metrics are averaged over it. */
    publishEvery: duration().default(10_000),
    inputs: z.array(inputConfigSchema).min(1, 'at least one input is needed'),
    /** Without it the agent sends metrics only, and the collector classifies with registry thresholds. */
    state: stateConfigSchema.optional(),
  })
  .superRefine((i, ctx) => {
    if (i.publishEvery < 100)
      ctx.addIssue({ code: 'custom', path: ['publishEvery'], message: 'at least 100ms' });
  });

const mqttUrl = z.string().refine((u) => {
  try {
    return ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:'].includes(new URL(u).protocol);
  } catch {
    return false;
  }
}, 'must be an mqtt:// or mqtts:// URL, e.g. mqtt://127.0.0.1:1883');

export const mqttConfigSchema = z.strictObject({
  url: mqttUrl,
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  /** mqtts: PEM files (paths, relative to the config file). */
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  rejectUnauthorized: z.boolean().default(true),
  keepalive: duration().default(30_000),
  /** Reconnect backoff: starts at `min`, doubles after each failed attempt, up to `max`. */
  reconnect: z.strictObject({ min: duration().default(1000), max: duration().default(30_000) }).prefault({}),
});

const agentSection = z.strictObject({
  id: z.string().regex(AGENT_ID_PATTERN, 'agent id: letters, digits, . _ - (at most 128)'),
});

const outboxSection = z
  .strictObject({
    dir: z.string().min(1).default('./outbox'),
    /** Bound on the outbox's disk use, shared evenly by the instruments. */
    maxBytes: bytes().default(256 * MIB),
    /** fsync each append: survives power loss, not only a crash. */
    fsync: z.boolean().default(true),
  })
  .prefault({});

const commonSections = {
  outbox: outboxSection,
  instruments: z.array(instrumentConfigSchema).min(1, 'at least one instrument is needed'),
  log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
  profilesDir: z.string().min(1).default(DEFAULT_PROFILES_DIR),
};

function checkInstruments(
  c: { instruments: { id: string }[]; outbox: { maxBytes: number } },
  ctx: z.RefinementCtx,
): void {
  const seen = new Map<string, number>();
  c.instruments.forEach((inst, i) => {
    const first = seen.get(inst.id);
    if (first !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['instruments', i, 'id'],
        message: `duplicate instrument id ${inst.id} (also instruments.${first}.id)`,
      });
    else seen.set(inst.id, i);
  });
  if (c.outbox.maxBytes < 4096 * c.instruments.length)
    ctx.addIssue({
      code: 'custom',
      path: ['outbox', 'maxBytes'],
      message: `too small: at least 4KiB per instrument (${4096 * c.instruments.length} bytes)`,
    });
}

export const agentConfigSchema = z
  .strictObject({ agent: agentSection, mqtt: mqttConfigSchema, ...commonSections })
  .superRefine(checkInstruments);

/**
 * What `dayi agent calibrate` needs: the instruments (with their inputs and state settings). It
 * publishes nothing, so `agent` and `mqtt` may be left out; when present they are checked as usual.
 */
export const calibrateConfigSchema = z
  .strictObject({ agent: agentSection.optional(), mqtt: mqttConfigSchema.optional(), ...commonSections })
  .superRefine(checkInstruments);

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type CalibrateConfig = z.infer<typeof calibrateConfigSchema>;
export type InstrumentConfig = AgentConfig['instruments'][number];
export type StateConfig = z.infer<typeof stateConfigSchema>;
export type MqttConfig = AgentConfig['mqtt'];

/**
 * Reads, interpolates (`${VAR}`) and validates an agent.yaml. Relative paths (outbox.dir, mqtt
 * ca/cert/key, profilesDir, OPC UA certificateDir) are resolved against the file's folder, so the agent behaves the same
 * when a service manager starts it from another working directory.
 * Throws ConfigError whose issues name their path (`instruments.0.inputs.0.type`).
 */
export function loadAgentConfig(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const config = loadConfigFile(file, agentConfigSchema, { env });
  return resolvePaths(config, dirname(resolve(file)));
}

/** A config for `dayi agent calibrate`: like loadAgentConfig, without requiring `agent` and `mqtt`. */
export function loadCalibrateConfig(file: string, env: NodeJS.ProcessEnv = process.env): CalibrateConfig {
  const config = loadConfigFile(file, calibrateConfigSchema, { env });
  return resolvePaths(config, dirname(resolve(file)));
}

/** Like loadCalibrateConfig, from YAML text. */
export function parseCalibrateConfig(
  text: string,
  opts: { env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): CalibrateConfig {
  const config = parseConfig(text, calibrateConfigSchema, { env: opts.env ?? process.env });
  return resolvePaths(config, opts.baseDir ?? process.cwd());
}

/** Like loadAgentConfig, from YAML text; relative paths resolve against `baseDir` (default cwd). */
export function parseAgentConfig(
  text: string,
  opts: { env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): AgentConfig {
  const config = parseConfig(text, agentConfigSchema, { env: opts.env ?? process.env });
  return resolvePaths(config, opts.baseDir ?? process.cwd());
}

function resolvePaths<C extends CalibrateConfig>(config: C, base: string): C {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const mqtt = config.mqtt ? { ...config.mqtt } : undefined;
  if (mqtt?.ca) mqtt.ca = abs(mqtt.ca);
  if (mqtt?.cert) mqtt.cert = abs(mqtt.cert);
  if (mqtt?.key) mqtt.key = abs(mqtt.key);
  // An OPC UA input keeps its client certificate in certificateDir: a service started in another
  // working directory (System32 for a Windows service) must find the same one.
  const instruments = config.instruments.map((inst) => ({
    ...inst,
    inputs: inst.inputs.map((input) =>
      input.type === 'opcua' ? { ...input, certificateDir: abs(input.certificateDir) } : input,
    ),
  }));
  return {
    ...config,
    ...(mqtt ? { mqtt } : {}),
    instruments,
    outbox: { ...config.outbox, dir: abs(config.outbox.dir) },
    profilesDir: abs(config.profilesDir),
  };
}

/** For `dayi config check`: every issue of an agent config file (empty when it is valid). */
export function checkAgentConfig(file: string, env: NodeJS.ProcessEnv = process.env): ConfigIssue[] {
  try {
    loadAgentConfig(file, env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

/** The secrets an agent config holds itself: the MQTT password, in `mqtt.password` or the URL. */
function agentSecrets(doc: Record<string, unknown>): string[] {
  const mqtt = doc.mqtt as { password?: unknown; url?: unknown } | undefined;
  let inUrl = false;
  try {
    inUrl = typeof mqtt?.url === 'string' && new URL(mqtt.url).password !== '' && !onlyEnv(mqtt.url);
  } catch {
    inUrl = false;
  }
  return isLiteralSecret(mqtt?.password) || inUrl ? ['mqtt password'] : [];
}

/** The warning for a config file that holds the MQTT password and other local users may read; else null. */
export function exposedSecretsWarning(file: string): string | null {
  return readableSecretsWarning(file, agentSecrets);
}
