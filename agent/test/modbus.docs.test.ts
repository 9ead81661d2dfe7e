/** The modbus input's README and sample config are real: they parse, and their profiles resolve. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadAgentConfig } from '../src/config.ts';
import { checkModbusInput, resolveModbusInput } from '../src/inputs/modbus/index.ts';
import { modbusInputSchema } from '../src/inputs/modbus/schema.ts';
import { diskProfiles } from '../src/inputs/profiles-load.ts';
import { PROFILES_DIR } from './helpers/modbus-sink.ts';

const dir = new URL('../src/inputs/modbus/', import.meta.url).pathname;

describe('modbus input docs', () => {
  it('sample.yaml is a valid agent.yaml whose modbus inputs resolve their profiles', () => {
    const config = loadAgentConfig(`${dir}sample.yaml`, { DAYI_AGENT_PW: 'secret' });
    const inputs = config.instruments.flatMap((i) => i.inputs).filter((i) => i.type === 'modbus');
    expect(inputs).toHaveLength(4);
    for (const input of inputs) {
      const resolved = resolveModbusInput(modbusInputSchema.parse(input), diskProfiles(PROFILES_DIR));
      expect(resolved.points.length).toBeGreaterThan(0);
    }
    const sdm120 = resolveModbusInput(modbusInputSchema.parse(inputs[3]), diskProfiles(PROFILES_DIR));
    expect(sdm120.target).toMatchObject({ transport: 'rtu', baudRate: 2400, parity: 'none' });
    expect(sdm120.points.map((p) => p.metric)).toContain('energy_export_kwh');
  });

  it('README has the four sections and its configuration example parses', () => {
    const readme = readFileSync(`${dir}README.md`, 'utf8');
    for (const section of ['## Configuration', '## Metrics', '## Example output', '## Troubleshooting']) {
      expect(readme).toContain(section);
    }
    const block = /## Configuration\s+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const { inputs } = parseYaml(block!) as { inputs: unknown[] };
    expect(inputs).toHaveLength(2);
    for (const input of inputs) {
      const parsed = modbusInputSchema.parse(input);
      expect(resolveModbusInput(parsed, diskProfiles(PROFILES_DIR)).points.length).toBeGreaterThan(0);
    }
  });

  it('checkModbusInput names a missing profile for config check', () => {
    const ok = modbusInputSchema.parse({ type: 'modbus', host: 'm', profile: 'eastron-sdm630' });
    expect(checkModbusInput(ok, diskProfiles(PROFILES_DIR))).toEqual([]);
    const missing = modbusInputSchema.parse({ type: 'modbus', host: 'm', profile: 'eastron-sdm999' });
    expect(checkModbusInput(missing, diskProfiles(PROFILES_DIR))).toEqual([
      { path: 'profile', message: expect.stringContaining('modbus/eastron-sdm999.yaml') },
    ]);
  });
});
