/**
 * The installed agent starts in two steps in one process (agent/src/main.ts):
 *   1. it reads agent.yaml and the profiles it names, with the YAML parser and zod, as
 *      `dayi agent -c` always does, and says what is wrong if anything is;
 *   2. it replaces itself (execve: same PID, same flags, same stdio, for systemd and journald) with
 *      a fresh Node that runs the agent from the checked config it is handed here.
 * The second process never loads the YAML parser, zod or the schemas, which would otherwise stay in
 * memory for the months the agent runs (docs/performance.md, "Agent": the goal is under 60 MB).
 *
 * The handoff travels in the environment, since only stdio survives execve: the JSON, escaped to
 * ASCII and cut into variables below the kernel's 128 KiB limit per string. The run-time process
 * removes them from its environment at once, so nothing it starts inherits them. They hold the
 * MQTT password, like the config file and environment they came from, and like them are readable
 * only by the agent's user and root (/proc/PID/environ).
 */
import type { AgentConfig } from './config.ts';
import type { ProfileTable } from './inputs/profiles.ts';

export const HANDOFF_ENV = 'DAYI_AGENT_HANDOFF';
const VERSION = 1;
/** Characters per variable: ASCII, so bytes; well under MAX_ARG_STRLEN (32 pages). */
const CHUNK = 100_000;

export interface Handoff {
  config: AgentConfig;
  profiles: ProfileTable;
}

/** The variables that carry `h`: `DAYI_AGENT_HANDOFF=<count>`, then `DAYI_AGENT_HANDOFF_0`…. */
export function handoffEnv(h: Handoff): Record<string, string> {
  const json = JSON.stringify({ v: VERSION, ...h }).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const env: Record<string, string> = {};
  let n = 0;
  for (let i = 0; i < json.length; i += CHUNK) env[`${HANDOFF_ENV}_${n++}`] = json.slice(i, i + CHUNK);
  env[HANDOFF_ENV] = String(n);
  return env;
}

/**
 * The handoff in `env`, if there is one, removed from it. Throws if it is there but unreadable
 * (only a different dayi version on the other side of the execve could do that).
 */
export function takeHandoff(env: NodeJS.ProcessEnv = process.env): Handoff | undefined {
  const count = env[HANDOFF_ENV];
  if (count === undefined) return undefined;
  delete env[HANDOFF_ENV];
  let json = '';
  const n = Number(count);
  for (let i = 0; i < n; i++) {
    json += env[`${HANDOFF_ENV}_${i}`] ?? '';
    delete env[`${HANDOFF_ENV}_${i}`];
  }
  let parsed: { v?: unknown } & Partial<Handoff>;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new Error(
      `${HANDOFF_ENV}: not the checked config this agent hands itself (${(err as Error).message})`,
    );
  }
  const isObject = (v: unknown) => typeof v === 'object' && v !== null;
  if (parsed?.v !== VERSION || !isObject(parsed.config) || !isObject(parsed.profiles))
    throw new Error(`${HANDOFF_ENV}: not a version ${VERSION} handoff`);
  return { config: parsed.config as AgentConfig, profiles: parsed.profiles as ProfileTable };
}
