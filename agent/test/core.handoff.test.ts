/**
 * The handoff from the process that checks agent.yaml to the one that runs the agent
 * (agent/src/handoff.ts): what the second gets is what the first checked, config and profiles,
 * whatever their size or characters, and a profile error is the same error in both.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig, parseAgentConfig } from '../src/config.ts';
import { HANDOFF_ENV, handoffEnv, takeHandoff } from '../src/handoff.ts';
import { tableProfiles } from '../src/inputs/profiles.ts';
import { diskProfiles, profileTable } from '../src/inputs/profiles-load.ts';

const INPUTS = new URL('../src/inputs/', import.meta.url).pathname;
const SAMPLES = ['simulated', 'serial', 'modbus'].map((t) => join(INPUTS, t, 'sample.yaml'));
const EXAMPLE = new URL('../../examples/agent.yaml', import.meta.url).pathname;
const PROFILES = new URL('../../firmware-configs/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'dayi-handoff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV = { DAYI_AGENT_PW: 'pw', DAYI_OPCUA_PW: 'pw' };
// The opcua sample is a list of inputs: made into an agent.yaml.
const OPCUA_SAMPLE = join(dir, 'opcua-agent.yaml');
writeFileSync(
  OPCUA_SAMPLE,
  `agent: { id: lab3-pc7 }
mqtt: { url: "mqtt://127.0.0.1:1883" }
profilesDir: ${JSON.stringify(PROFILES)}
instruments:
  - id: ZJ-OPCUA-0001
${readFileSync(join(INPUTS, 'opcua', 'sample.yaml'), 'utf8').replace(/^/gm, '    ')}`,
);

function handOver(config: ReturnType<typeof loadAgentConfig>) {
  const profiles = profileTable(config.instruments, diskProfiles(config.profilesDir));
  const env: NodeJS.ProcessEnv = { PATH: '/usr/bin', ...handoffEnv({ config, profiles }) };
  const got = takeHandoff(env);
  return { sent: { config, profiles }, got, env };
}

describe('the handoff to the run-time process', () => {
  it.each([...SAMPLES, OPCUA_SAMPLE, EXAMPLE])('carries %s exactly, with every profile it names', (file) => {
    const { sent, got, env } = handOver(loadAgentConfig(file, ENV));
    expect(got).toStrictEqual(sent);
    // Taken out of the environment, so nothing the agent starts inherits it (it holds the password).
    expect(Object.keys(env)).toEqual(['PATH']);
  });

  it('carries the profiles loaded, not their names: the run-time process reads no YAML', () => {
    const { got } = handOver(loadAgentConfig(OPCUA_SAMPLE, ENV));
    expect(Object.keys(got!.profiles)).toEqual(['opcua/opcua-machinery', 'opcua/opcua-lads']);
    const machinery = tableProfiles(got!.profiles).get('opcua', 'opcua-machinery');
    expect(machinery.name).toBe('opcua-machinery');
    expect(machinery.states.length).toBeGreaterThan(0);
  });

  it('passes a config of any size and any characters in variables under the kernel limit', () => {
    const instruments = Array.from({ length: 300 }, (_, i) => ({
      id: `ZJ-NMR-${i}`,
      inputs: [
        {
          type: 'modbus',
          name: `电表 ${i} ${'仪'.repeat(100)} 🔬`,
          transport: 'tcp',
          host: '127.0.0.1',
          profile: 'eastron-sdm630',
        },
      ],
    }));
    const config = parseAgentConfig(
      JSON.stringify({
        agent: { id: 'lab3-pc7' },
        mqtt: { url: 'mqtt://127.0.0.1:1883', password: 'pässwörd ✓' },
        outbox: { dir: join(dir, '仪器 outbox') },
        instruments,
      }),
      { env: {} },
    );
    const env = handoffEnv({ config, profiles: profileTable(config.instruments, diskProfiles(PROFILES)) });
    expect(Number(env[HANDOFF_ENV])).toBeGreaterThan(1);
    for (const value of Object.values(env)) {
      expect(Buffer.byteLength(value)).toBeLessThan(128 * 1024);
      expect(value).toMatch(/^[\x20-\x7e]*$/);
    }
    const got = takeHandoff({ ...env })!;
    expect(got.config).toStrictEqual(config);
    expect(got.config.mqtt.password).toBe('pässwörd ✓');
  });

  it('is absent when not handed, and refused with its name when unreadable', () => {
    expect(takeHandoff({ PATH: '/usr/bin' })).toBeUndefined();
    expect(() => takeHandoff({ [HANDOFF_ENV]: '1', [`${HANDOFF_ENV}_0`]: '{"v":1,"con' })).toThrow(
      HANDOFF_ENV,
    );
    expect(() => takeHandoff({ [HANDOFF_ENV]: '1', [`${HANDOFF_ENV}_0`]: '{"v":2}' })).toThrow(
      'not a version 1 handoff',
    );
    expect(() =>
      takeHandoff({ [HANDOFF_ENV]: '1', [`${HANDOFF_ENV}_0`]: '{"v":1,"config":null,"profiles":{}}' }),
    ).toThrow('not a version 1 handoff');
  });

  it('gives an input the same profile, or the same error, as reading it from disk', () => {
    writeFileSync(join(dir, 'bad.yaml'), 'name: bad\npoints: 7\n');
    const config = parseAgentConfig(
      `agent: { id: a }
mqtt: { url: "mqtt://127.0.0.1:1" }
instruments:
  - id: I-1
    inputs:
      - { type: modbus, transport: tcp, host: 127.0.0.1, profile: eastron-sdm120 }
      - { type: modbus, transport: tcp, host: 127.0.0.1, profile: no-such-meter }
`,
      { env: {} },
    );
    const disk = diskProfiles(PROFILES);
    const table = tableProfiles(profileTable(config.instruments, diskProfiles(PROFILES)));
    expect(table.get('modbus', 'eastron-sdm120')).toStrictEqual(disk.get('modbus', 'eastron-sdm120'));
    const missing = (() => {
      try {
        disk.get('modbus', 'no-such-meter');
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(missing).toContain('no-such-meter.yaml');
    expect(() => table.get('modbus', 'no-such-meter')).toThrow(missing!);
    expect(() => table.get('opcua', 'opcua-machinery')).toThrow('was not loaded with the config');
  });
});
