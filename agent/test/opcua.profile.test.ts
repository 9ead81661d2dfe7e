/**
 * The pure parts of the opcua input, no server: profile files, browse paths, state combination,
 * config validation, plan merging, the sample config and the README.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseConfig } from '@dayi/protocols';
import { formatBrowsePath, parseBrowsePath, segmentNamespace } from '@dayi/protocols/opcua/browse-path.ts';
import { loadOpcuaProfile, OPCUA_PROFILES, opcuaProfileSchema } from '@dayi/protocols/opcua/profile.ts';
import { combineStates, mapVendorState } from '@dayi/protocols/opcua/state.ts';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildPlan, reconnectDelay } from '../src/inputs/opcua/index.ts';
import { schema } from '../src/inputs/opcua/schema.ts';

const PROFILES = fileURLToPath(new URL('../../firmware-configs', import.meta.url));
const INPUT_DIR = new URL('../src/inputs/opcua/', import.meta.url);

function issuesOf(raw: unknown): string[] {
  const r = schema.safeParse(raw);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('opcua profiles', () => {
  it('every profile file validates and maps every state its specification defines', () => {
    const machinery = loadOpcuaProfile(PROFILES, 'opcua-machinery');
    const itemState = machinery.states[0]!;
    expect(itemState.browsePath).toBe(
      'machinery:MachineryBuildingBlocks/machinery:MachineryItemState/CurrentState',
    );
    // OPC 40001-1 Table 29: the four states of MachineryItemState_StateMachineType.
    expect(itemState.map).toEqual({
      NotAvailable: 'off',
      OutOfService: 'fault',
      NotExecuting: 'idle',
      Executing: 'running',
    });
    expect(machinery.nodes.map((n) => n.metric)).toEqual([
      'operation_mode',
      'power_on_hours',
      'operation_hours',
      'operation_cycles',
    ]);
    expect(machinery.nodes.every((n) => n.optional)).toBe(true);

    const lads = loadOpcuaProfile(PROFILES, 'opcua-lads');
    const [device, units] = lads.states;
    // OPC 30500-1 Table 17 (LADSDeviceStateMachineType) and Table 26 (FunctionalStateMachineType).
    expect(Object.keys(device!.map).sort()).toEqual(['Initialization', 'Operate', 'Shutdown', 'Sleep']);
    expect(device!.dominant).toBe(true);
    expect(units!.browsePath).toBe('lads:FunctionalUnitSet/*/lads:FunctionalUnitState/CurrentState');
    for (const s of ['Stopped', 'Running', 'Stopping', 'Aborting', 'Aborted', 'Clearing'])
      expect(units!.map[s], s).toBeDefined();
    expect(units!.map.Aborted).toBe('fault');
    expect(OPCUA_PROFILES).toEqual(['opcua-machinery', 'opcua-lads']);
  });

  it('the profile schema names what is wrong', () => {
    const base = {
      name: 'opcua-machinery',
      description: 'x',
      sources: ['OPC 40001-1'],
      rootSearch: 'machinery:Machines',
    };
    const issues = (raw: unknown) => {
      const r = opcuaProfileSchema.safeParse(raw);
      return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    };
    const bad = issues({
      ...base,
      states: [{ browsePath: 'A/CurrentState', map: { Executing: 'busy' } }],
      nodes: [{ browsePath: 'Units/*/Power', metric: 'Power' }],
    });
    expect(bad).toMatch(/states\.0\.map\.Executing/);
    expect(bad).toMatch(/nodes\.0\.metric: metric names are snake_case/);
    expect(
      issues({ ...base, states: [{ browsePath: 'A', nodeId: 'ns=2;i=5', map: { X: 'idle' } }] }),
    ).toMatch(/states\.0: give exactly one of nodeId or browsePath/);
    expect(
      issues({
        ...base,
        states: [{ browsePath: 'A', map: { X: 'idle' } }],
        nodes: [{ browsePath: 'U/*/P', metric: 'p_w' }],
      }),
    ).toMatch(/nodes\.0\.browsePath: a metric node cannot use \*/);
    expect(issues({ ...base, states: [] })).toMatch(/states/);
  });
});

describe('browse paths', () => {
  it('parses prefixes, wildcards and absolute paths, and resolves aliases against the server', () => {
    const p = parseBrowsePath('machinery:Machines/*/2:Power/Motor:1');
    expect(p.absolute).toBe(false);
    expect(p.segments).toEqual([
      { kind: 'name', prefix: 'machinery', name: 'Machines' },
      { kind: 'any' },
      { kind: 'name', prefix: '2', name: 'Power' },
      { kind: 'name', prefix: 'Motor', name: '1' },
    ]);
    expect(formatBrowsePath(parseBrowsePath('/Objects/Server'))).toBe('/Objects/Server');
    expect(() => parseBrowsePath('A//B')).toThrow(/segment 2 is empty/);
    expect(() => parseBrowsePath('')).toThrow(/empty/);

    const ns = ['http://opcfoundation.org/UA/', 'urn:vendor', 'http://opcfoundation.org/UA/Machinery/'];
    expect(segmentNamespace({ prefix: 'machinery', name: 'Machines' }, ns, {})).toEqual({
      namespaceIndex: 2,
      name: 'Machines',
    });
    expect(segmentNamespace({ prefix: 'v', name: 'X' }, ns, { v: 'urn:vendor' })).toEqual({
      namespaceIndex: 1,
      name: 'X',
    });
    // Not an alias: part of the name (browse names may contain ':').
    expect(segmentNamespace({ prefix: 'Motor', name: '1' }, ns, {})).toEqual({
      namespaceIndex: undefined,
      name: 'Motor:1',
    });
    const missing = segmentNamespace({ prefix: 'lads', name: 'DeviceState' }, ns, {});
    expect(missing).toBeInstanceOf(Error);
    expect((missing as Error).message).toContain('http://opcfoundation.org/UA/LADS/');
  });
});

describe('state mapping', () => {
  it('maps vendor texts ignoring case and combines several machines', () => {
    expect(mapVendorState(' executing ', { Executing: 'running' })).toBe('running');
    expect(mapVendorState('Läuft', { Executing: 'running' })).toBeUndefined();
    expect(combineStates([{ state: 'idle' }, { state: 'running' }, { state: undefined }])).toBe('running');
    expect(combineStates([{ state: 'running' }, { state: 'fault' }])).toBe('fault');
    expect(combineStates([{ state: 'off', dominant: true }, { state: 'running' }])).toBe('off');
    expect(combineStates([{ state: 'idle', dominant: true }, { state: 'running' }])).toBe('running');
    expect(combineStates([{ state: undefined }])).toBeUndefined();
  });
});

describe('opcua input config', () => {
  it('fills defaults and names every wrong key', () => {
    const ok = schema.parse({
      type: 'opcua',
      endpoint: 'opc.tcp://10.0.0.9:4840',
      profile: 'opcua-machinery',
    });
    expect(ok).toMatchObject({
      securityMode: 'None',
      samplingInterval: 1000,
      publishingInterval: 1000,
      reconnect: { minDelay: 1000, maxDelay: 30_000 },
      acceptUnknownServerCertificate: false,
      timestamp: 'agent',
      timeout: 10_000,
    });

    expect(
      issuesOf({ type: 'opcua', endpoint: 'http://x', nodes: [{ nodeId: 'i=2258', metric: 'x_s' }] }),
    ).toEqual(['endpoint: an endpoint looks like opc.tcp://10.0.0.9:4840']);
    const many = issuesOf({
      type: 'opcua',
      endpoint: 'opc.tcp://h:4840',
      securityMode: 'None',
      securityPolicy: 'Basic256Sha256',
      username: 'u',
      deadband: { type: 'percent', value: 150 },
      nodes: [
        { nodeId: 'Power', metric: 'power_w' },
        { browsePath: 'A', metric: 'power_w' },
      ],
    });
    expect(many).toEqual(
      expect.arrayContaining([
        'password: give both username and password, or neither',
        'securityPolicy: securityPolicy Basic256Sha256 needs securityMode Sign or SignAndEncrypt',
        'deadband.value: a percent deadband is 0..100',
        'nodes.0.nodeId: a node id looks like ns=2;s=Machine.Power, ns=3;i=1001 or i=2258',
        'nodes.1.metric: metric power_w is read twice',
      ]),
    );
    expect(issuesOf({ type: 'opcua', endpoint: 'opc.tcp://h:4840' })).toEqual([
      'nodes: nothing to read: give nodes, state or a profile',
    ]);
    expect(
      issuesOf({ type: 'opcua', endpoint: 'opc.tcp://h:4840', state: { map: { A: 'running' } } }),
    ).toEqual(['state: state needs a nodeId or browsePath (or a profile)']);
  });

  it('merges a profile with the config: own nodes win, a state map adds to the profile maps', () => {
    const profile = loadOpcuaProfile(PROFILES, 'opcua-machinery');
    const config = schema.parse({
      type: 'opcua',
      endpoint: 'opc.tcp://h:4840',
      profile: 'opcua-machinery',
      nodes: [
        { browsePath: 'Hours', metric: 'power_on_hours' },
        { browsePath: 'ActivePower', metric: 'power_w' },
      ],
      state: { map: { Läuft: 'running' } },
    });
    const plan = buildPlan(config, profile);
    expect(plan.metrics.map((m) => m.metric)).toEqual([
      'operation_mode',
      'operation_hours',
      'operation_cycles',
      'power_on_hours',
      'power_w',
    ]);
    expect(plan.states[0]!.map).toMatchObject({ Executing: 'running', Läuft: 'running' });
    expect(plan.rootSearch).toBe('machinery:Machines');
    expect(plan.aliases).toEqual({});

    const replaced = buildPlan(
      schema.parse({
        ...config,
        state: { nodeId: 'ns=2;s=Status', map: { Busy: 'running' } },
        root: 'ns=2;i=5',
      }),
      profile,
    );
    expect(replaced.states).toEqual([
      { address: { nodeId: 'ns=2;s=Status' }, map: { Busy: 'running' }, optional: false, dominant: false },
    ]);
    expect(replaced.rootSearch).toBeUndefined();
  });

  it('backs off from minDelay doubling to maxDelay, with jitter', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 10, 100].map((a) => reconnectDelay(a, 1000, 30_000, mid))).toEqual([
      1000, 2000, 4000, 8000, 30_000, 30_000,
    ]);
    expect(reconnectDelay(0, 1000, 30_000, () => 0)).toBe(800);
    expect(reconnectDelay(0, 1000, 30_000, () => 1)).toBe(1200);
  });

  it('the sample config is valid and the README has its four sections', () => {
    const sample = parseConfig(
      readFileSync(new URL('sample.yaml', INPUT_DIR), 'utf8'),
      z.strictObject({ inputs: z.array(schema).min(1) }),
      { env: { DAYI_OPCUA_PW: 'x' } },
    );
    expect(sample.inputs.map((i) => i.profile)).toEqual(['opcua-machinery', 'opcua-lads', undefined]);
    expect(() =>
      parseConfig(
        readFileSync(new URL('sample.yaml', INPUT_DIR), 'utf8'),
        z.strictObject({ inputs: z.array(schema) }),
        {
          env: {},
        },
      ),
    ).toThrow(ConfigError);
    const readme = readFileSync(new URL('README.md', INPUT_DIR), 'utf8');
    for (const h of ['## Configuration', '## Metrics', '## Example output', '## Troubleshooting'])
      expect(readme).toContain(h);
  });
});
