/**
 * OPC UA profiles: data files in `firmware-configs/opcua/<name>.yaml` that say which nodes of a
 * companion-specification model give metrics and the instrument's own state. Validated here.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../config/load.ts';
import { stateSchema } from '../mqtt/payloads.ts';
import { hasWildcard, parseBrowsePath } from './browse-path.ts';

export const OPCUA_PROFILES = ['opcua-machinery', 'opcua-lads'] as const;
export type OpcuaProfileName = (typeof OPCUA_PROFILES)[number];

/** SPEC metric names: snake_case, ideally with a unit suffix (`power_w`, `power_on_hours`). */
export const metricName = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'metric names are snake_case with a unit suffix, e.g. power_w');

const NODE_ID = /^(ns=\d+;|nsu=[^;]+;)?[isgb]=.+$/;
export const nodeIdText = z
  .string()
  .regex(NODE_ID, 'a node id looks like ns=2;s=Machine.Power, ns=3;i=1001 or i=2258');

export const browsePathText = z.string().superRefine((v, ctx) => {
  try {
    parseBrowsePath(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/** Namespace aliases usable as browse-path prefixes: `{ vendor: "urn:acme:nmr" }`. */
export const namespaceAliases = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'an alias is a word, e.g. vendor'),
  z.string().min(1),
);

function exactlyOneAddress(
  v: { nodeId?: string | undefined; browsePath?: string | undefined },
  ctx: z.RefinementCtx,
) {
  if ((v.nodeId === undefined) === (v.browsePath === undefined))
    ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of nodeId or browsePath' });
}

/** A node read as one metric. Text values (an enumeration, a mode) are turned into numbers by `map`. */
export const opcuaNodeSchema = z
  .strictObject({
    nodeId: nodeIdText.optional(),
    browsePath: browsePathText.optional(),
    metric: metricName,
    /** value × scale + offset, e.g. scale 2.7777777777777776e-7 turns a Duration in ms into hours. */
    scale: z.number().finite().default(1),
    offset: z.number().finite().default(0),
    map: z.record(z.string(), z.number().finite()).optional(),
    /** A missing optional node is logged, not reported as an error (profiles: "where present"). */
    optional: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    exactlyOneAddress(v, ctx);
    if (v.browsePath !== undefined && hasWildcardText(v.browsePath))
      ctx.addIssue({
        code: 'custom',
        path: ['browsePath'],
        message: 'a metric node cannot use * (several nodes would write one metric)',
      });
  });
export type OpcuaNodeConfig = z.infer<typeof opcuaNodeSchema>;

/** A node whose text (a state machine's CurrentState) gives the instrument state through `map`. */
export const opcuaStateSourceSchema = z
  .strictObject({
    nodeId: nodeIdText.optional(),
    browsePath: browsePathText.optional(),
    map: z.record(z.string(), stateSchema).refine((m) => Object.keys(m).length > 0, 'map is empty'),
    optional: z.boolean().default(false),
    /** A device-level state machine: its off or standby overrides the other sources. */
    dominant: z.boolean().default(false),
  })
  .superRefine(exactlyOneAddress);
export type OpcuaStateSourceConfig = z.infer<typeof opcuaStateSourceSchema>;

function hasWildcardText(text: string): boolean {
  try {
    return hasWildcard(parseBrowsePath(text));
  } catch {
    return false;
  }
}

export const opcuaProfileSchema = z.strictObject({
  name: z.enum(OPCUA_PROFILES),
  description: z.string().min(1),
  /** The specification each browse name comes from, e.g. "OPC 40001-1 v1.04 §12.2 Table 29". */
  sources: z.array(z.string().min(1)).min(1),
  namespaces: namespaceAliases.default({}),
  /**
   * Where instances live (relative to Objects), e.g. `machinery:Machines`: when the input sets no
   * `root`, the only child of this folder is the root; with several, the input asks for `root`.
   */
  rootSearch: browsePathText,
  nodes: z.array(opcuaNodeSchema).default([]),
  /**
   * State machines of the instrument; their states are combined: a dominant source's off or
   * standby wins, else fault > running > idle > standby > off.
   */
  states: z.array(opcuaStateSourceSchema).min(1),
});
export type OpcuaProfile = z.infer<typeof opcuaProfileSchema>;

/** The profile file's path: `<profilesDir>/opcua/<name>.yaml`. */
export function opcuaProfilePath(profilesDir: string, name: string): string {
  return join(profilesDir, 'opcua', `${name}.yaml`);
}

/** Loads and validates a profile; throws ConfigError naming the file and each bad path. */
export function loadOpcuaProfile(profilesDir: string, name: string): OpcuaProfile {
  const profile = loadConfigFile(opcuaProfilePath(profilesDir, name), opcuaProfileSchema, { env: {} });
  if (profile.name !== name) throw new Error(`profile file ${name}.yaml declares name ${profile.name}`);
  return profile;
}
