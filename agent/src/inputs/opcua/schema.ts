import { duration, stateSchema } from '@dayi/protocols';
import {
  browsePathText,
  namespaceAliases,
  nodeIdText,
  OPCUA_PROFILES,
  opcuaNodeSchema,
} from '@dayi/protocols/opcua/profile.ts';
import { z } from 'zod';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SECURITY_POLICIES = ['None', 'Basic256Sha256'] as const;

/**
 * `state:` of an opcua input: a node (nodeId or browsePath) whose text maps to a state, or, with a
 * `profile`, only a `map` that adds to or overrides the profile's mapping (e.g. a vendor's
 * localized texts).
 */
export const opcuaStateConfigSchema = z
  .strictObject({
    nodeId: nodeIdText.optional(),
    browsePath: browsePathText.optional(),
    map: z.record(z.string(), stateSchema).refine((m) => Object.keys(m).length > 0, 'map is empty'),
  })
  .superRefine((v, ctx) => {
    if (v.nodeId !== undefined && v.browsePath !== undefined)
      ctx.addIssue({ code: 'custom', message: 'give one of nodeId or browsePath, not both' });
  });

export const schema = z
  .strictObject({
    type: z.literal('opcua'),
    /** Shown in logs and in `status`; default `opcua <endpoint>`. */
    name: z.string().min(1).max(128).optional(),
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\/[^\s/]+(\/\S*)?$/, 'an endpoint looks like opc.tcp://10.0.0.9:4840'),
    securityMode: z.enum(SECURITY_MODES).default('None'),
    /** Default: None when securityMode is None, else Basic256Sha256. */
    securityPolicy: z.enum(SECURITY_POLICIES).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** PKI folder of the agent's client certificate (generated on first use and kept here). */
    certificateDir: z.string().min(1).default('./pki/opcua'),
    /**
     * Trust a server certificate the PKI does not know yet. Off by default: the first connect
     * fails and the server certificate lands in `<certificateDir>/rejected`, from where an
     * administrator moves it to `<certificateDir>/trusted/certs`.
     */
    acceptUnknownServerCertificate: z.boolean().default(false),
    /**
     * While connected, the current value of every node (and the current state) is sent as one
     * reading this often, changed or not: a subscription reports only changes, and an instrument
     * whose values hold still must still give the collector fresh evidence.
     */
    every: duration().default(1000),
    samplingInterval: duration().default(1000),
    publishingInterval: duration().default(1000),
    /** Applies to numeric metric nodes; `percent` needs the node's EURange on the server. */
    deadband: z.strictObject({ type: z.enum(['absolute', 'percent']), value: z.number().min(0) }).optional(),
    /**
     * The machine or device node relative browse paths start from: a node id or a browse path
     * from the Objects folder. With a profile and no root, the profile's folder (Machines,
     * DeviceSet) must hold exactly one instance.
     */
    root: z.string().min(1).optional(),
    /** More namespace aliases for browse-path prefixes, e.g. `{ vendor: "urn:acme:nmr" }`. */
    namespaces: namespaceAliases.default({}),
    nodes: z.array(opcuaNodeSchema).default([]),
    state: opcuaStateConfigSchema.optional(),
    profile: z.enum(OPCUA_PROFILES).optional(),
    reconnect: z
      .strictObject({ minDelay: duration().default(1000), maxDelay: duration().default(30_000) })
      .prefault({}),
    /**
     * The readings' time: `agent` (arrival, default), `source` or `server` (the server's
     * timestamps; needs synchronised clocks, and the first value after a connect then carries the
     * time of its last change).
     */
    timestamp: z.enum(['agent', 'source', 'server']).default('agent'),
    /** Timeout of connecting and of each request. */
    timeout: duration().default(10_000),
  })
  .superRefine((c, ctx) => {
    if ((c.username === undefined) !== (c.password === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [c.username === undefined ? 'username' : 'password'],
        message: 'give both username and password, or neither',
      });
    if (c.securityMode === 'None' && c.securityPolicy !== undefined && c.securityPolicy !== 'None')
      ctx.addIssue({
        code: 'custom',
        path: ['securityPolicy'],
        message: `securityPolicy ${c.securityPolicy} needs securityMode Sign or SignAndEncrypt`,
      });
    if (c.securityMode !== 'None' && c.securityPolicy === 'None')
      ctx.addIssue({
        code: 'custom',
        path: ['securityPolicy'],
        message: `securityMode ${c.securityMode} needs a securityPolicy such as Basic256Sha256`,
      });
    if (c.profile === undefined && c.nodes.length === 0 && c.state === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['nodes'],
        message: 'nothing to read: give nodes, state or a profile',
      });
    if (
      c.profile === undefined &&
      c.state &&
      c.state.nodeId === undefined &&
      c.state.browsePath === undefined
    )
      ctx.addIssue({
        code: 'custom',
        path: ['state'],
        message: 'state needs a nodeId or browsePath (or a profile)',
      });
    if (c.deadband?.type === 'percent' && c.deadband.value > 100)
      ctx.addIssue({ code: 'custom', path: ['deadband', 'value'], message: 'a percent deadband is 0..100' });
    if (c.every < 50) ctx.addIssue({ code: 'custom', path: ['every'], message: 'at least 50ms' });
    if (c.samplingInterval <= 0)
      ctx.addIssue({ code: 'custom', path: ['samplingInterval'], message: 'must be above 0' });
    if (c.publishingInterval <= 0)
      ctx.addIssue({ code: 'custom', path: ['publishingInterval'], message: 'must be above 0' });
    if (c.reconnect.maxDelay < c.reconnect.minDelay)
      ctx.addIssue({ code: 'custom', path: ['reconnect', 'maxDelay'], message: 'must be at least minDelay' });
    const metrics = new Set<string>();
    c.nodes.forEach((n, i) => {
      if (metrics.has(n.metric))
        ctx.addIssue({
          code: 'custom',
          path: ['nodes', i, 'metric'],
          message: `metric ${n.metric} is read twice`,
        });
      metrics.add(n.metric);
    });
  });

export type OpcuaInputConfig = z.infer<typeof schema>;
