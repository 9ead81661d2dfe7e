import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@dayi/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { agentConfigSchema, DEFAULT_PROFILES_DIR, loadAgentConfig, parseAgentConfig } from '../src/config.ts';
import { INPUT_TYPES } from '../src/inputs/schemas.ts';

const dir = mkdtempSync(join(tmpdir(), 'dayi-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC_LIKE = `
agent: { id: lab3-pc7 }
mqtt:  { url: "mqtt://127.0.0.1:1883", username: lab3-pc7, password: "\${DAYI_AGENT_PW}" }
outbox: { dir: ./outbox, maxBytes: 256MiB }
instruments:
  - id: ZJ-NMR-0001
    publishEvery: 10s
    inputs:
      - { type: simulated, pattern: office-hours, noise: 0.05, seed: 7 }
    state: { signal: power_w, aggregate: avg, window: 10s,
             thresholds: { standby: 5, idle: 80, running: 400 }, hysteresis: 0.1, minDwell: 30s }
`;

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('agent config', () => {
  it("reads SPEC's agent.yaml with units, defaults and environment variables", () => {
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, SPEC_LIKE);
    const c = loadAgentConfig(file, { DAYI_AGENT_PW: 's3cret' });
    expect(c.agent.id).toBe('lab3-pc7');
    expect(c.mqtt.password).toBe('s3cret');
    expect(c.mqtt.rejectUnauthorized).toBe(true);
    expect(c.mqtt.reconnect).toEqual({ min: 1000, max: 30_000 });
    // Relative to the config file, not to the working directory of whoever starts the agent.
    expect(c.outbox.dir).toBe(join(dir, 'outbox'));
    expect(c.outbox.maxBytes).toBe(256 * 1024 ** 2);
    expect(c.profilesDir).toBe(DEFAULT_PROFILES_DIR);
    const inst = c.instruments[0]!;
    expect(inst.publishEvery).toBe(10_000);
    expect(inst.state).toEqual({
      signal: 'power_w',
      aggregate: 'avg',
      window: 10_000,
      thresholds: { standby: 5, idle: 80, running: 400 },
      hysteresis: 0.1,
      minDwell: 30_000,
    });
    expect(inst.inputs[0]).toMatchObject({
      type: 'simulated',
      pattern: 'office-hours',
      noise: 0.05,
      seed: 7,
    });
  });

  it('names the path of every error, e.g. instruments.0.inputs.0.type', () => {
    const issues = issuesOf(() =>
      parseAgentConfig(
        `
agent: { id: lab3-pc7 }
mqtt: { url: "http://x", keepalive: soon }
outbox: { maxBytes: lots }
instruments:
  - id: "bad id!"
    inputs:
      - { type: teleport }
    state: { signal: power_w, aggregate: median }
  - id: OK-1
    inputs: [ { type: simulated, pattern: steps } ]
    state: { signal: power_w, thresholds: { standby: 50, idle: 10, running: 400 } }
`,
        { env: {} },
      ),
    );
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'mqtt.url',
        'mqtt.keepalive',
        'outbox.maxBytes',
        'instruments.0.id',
        'instruments.0.inputs.0.type',
        'instruments.0.state.aggregate',
        'instruments.1.inputs.0.steps',
        'instruments.1.state.thresholds',
      ]),
    );
    const typeIssue = issues.find((i) => i.path === 'instruments.0.inputs.0.type')!;
    for (const t of INPUT_TYPES) expect(typeIssue.message).toContain(t);
  });

  it('refuses unknown keys (a typo is an error, not silently ignored)', () => {
    const issues = issuesOf(() =>
      parseAgentConfig(SPEC_LIKE.replace('publishEvery: 10s', 'publishEvry: 10s'), {
        env: { DAYI_AGENT_PW: 'x' },
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(['instruments.0.publishEvry']);
  });

  it('a missing environment variable is an error at its key, and the secret is never echoed', () => {
    const issues = issuesOf(() => parseAgentConfig(SPEC_LIKE, { env: {} }));
    expect(issues).toEqual([
      { line: 3, path: 'mqtt.password', message: 'environment variable DAYI_AGENT_PW is not set' },
    ]);
  });

  it('rejects duplicate instrument ids and a missing thresholds block, allows signal: vendor without', () => {
    const issues = issuesOf(() =>
      parseAgentConfig(`
agent: { id: a }
mqtt: { url: "mqtts://broker.example:8883", ca: ca.pem }
instruments:
  - { id: X1, inputs: [ { type: simulated } ], state: { signal: power_w } }
  - { id: X1, inputs: [ { type: simulated } ], state: { signal: vendor } }
`),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['instruments.0.state.thresholds', 'instruments.1.id']);
  });

  it('exports the schema for `dayi config check`', () => {
    expect(agentConfigSchema.safeParse({}).success).toBe(false);
  });
});

describe('agent config paths', () => {
  it('resolves relative paths against the config file, whatever the working directory', () => {
    const sub = join(dir, 'site');
    mkdirSync(sub, { recursive: true });
    const file = join(sub, 'agent.yaml');
    writeFileSync(
      file,
      `${SPEC_LIKE}
  - id: ZJ-SEM-0001
    inputs:
      - { type: opcua, endpoint: "opc.tcp://127.0.0.1:4840", nodes: [{ nodeId: "ns=2;s=Power", metric: power_w }] }
`,
    );
    const c = loadAgentConfig(file, { DAYI_AGENT_PW: 's3cret' });
    expect(c.outbox.dir).toBe(join(sub, 'outbox'));
    const opcua = c.instruments[1]!.inputs[0]!;
    expect(opcua.type).toBe('opcua');
    if (opcua.type === 'opcua') expect(opcua.certificateDir).toBe(join(sub, 'pki/opcua'));
  });
});
