/**
 * Every meter profile validates, and each one decodes the right watts, amps and volts from a
 * simulated device (pymodbus) serving exactly its register layout.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '@dayi/protocols';
import { profileSchema } from '@dayi/protocols/modbus/index.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { ConnectionPool, create } from '../src/inputs/modbus/index.ts';
import { loadModbusProfile } from '../src/inputs/modbus/profiles.ts';
import { modbusInputSchema } from '../src/inputs/modbus/schema.ts';
import {
  type LayoutEntry,
  type SimulatedDevice,
  startModbusDevice,
  type UnitsLayout,
} from './helpers/modbus-device.ts';
import { ModbusSink, modbusDeps, PROFILES_DIR } from './helpers/modbus-sink.ts';

const SHIPPED = [
  'acrel-adl400',
  'chint-ddsu666',
  'chint-dtsu666',
  'eastron-sdm120',
  'eastron-sdm630',
  'generic-rs485-ct',
];

/**
 * What each manufacturer's manual says its meter holds, written here independently of the profiles:
 * [table, address, register type, raw register value, metric, value the agent must publish].
 * The simulated device serves exactly these registers, so a wrong address, type, word order or
 * scale in a profile fails its test.
 */
type Row = [
  table: 'hr' | 'ir',
  address: number,
  type: LayoutEntry['type'],
  raw: number,
  metric: string,
  value: number,
];
const MANUALS: Record<string, Row[]> = {
  // Eastron: FC4 input registers, float32 ABCD in engineering units; wire address = 3xxxx - 30001.
  'eastron-sdm630': [
    ['ir', 0x00, 'float32', 231.2, 'voltage_l1_v', 231.2],
    ['ir', 0x02, 'float32', 229.8, 'voltage_l2_v', 229.8],
    ['ir', 0x04, 'float32', 230.5, 'voltage_l3_v', 230.5],
    ['ir', 0x06, 'float32', 4.25, 'current_l1_a', 4.25],
    ['ir', 0x08, 'float32', 3.9, 'current_l2_a', 3.9],
    ['ir', 0x0a, 'float32', 4.1, 'current_l3_a', 4.1],
    ['ir', 0x0c, 'float32', 951.3, 'power_l1_w', 951.3],
    ['ir', 0x0e, 'float32', 870.2, 'power_l2_w', 870.2],
    ['ir', 0x10, 'float32', 912.4, 'power_l3_w', 912.4],
    ['ir', 30043 - 30001, 'float32', 230.5, 'voltage_v', 230.5],
    ['ir', 30049 - 30001, 'float32', 12.25, 'current_a', 12.25],
    ['ir', 30053 - 30001, 'float32', 2733.9, 'power_w', 2733.9],
    ['ir', 30063 - 30001, 'float32', 0.97, 'power_factor', 0.97],
    ['ir', 30071 - 30001, 'float32', 50.02, 'frequency_hz', 50.02],
    ['ir', 30073 - 30001, 'float32', 18342.7, 'energy_kwh', 18342.7],
  ],
  'eastron-sdm120': [
    ['ir', 30001 - 30001, 'float32', 229.4, 'voltage_v', 229.4],
    ['ir', 30007 - 30001, 'float32', 2.31, 'current_a', 2.31],
    ['ir', 30013 - 30001, 'float32', 512.3, 'power_w', 512.3],
    ['ir', 30031 - 30001, 'float32', 0.96, 'power_factor', 0.96],
    ['ir', 30071 - 30001, 'float32', 49.98, 'frequency_hz', 49.98],
    ['ir', 30073 - 30001, 'float32', 421.6, 'energy_kwh', 421.6],
  ],
  // CHINT DTSU666: FC3 holding, float32 ABCD in raw units (0.1 V, 0.001 A, 0.1 W, 0.001, 0.01 Hz).
  'chint-dtsu666': [
    ['hr', 0x2006, 'float32', 2301.5, 'voltage_l1_v', 230.15],
    ['hr', 0x2008, 'float32', 2299, 'voltage_l2_v', 229.9],
    ['hr', 0x200a, 'float32', 2310.5, 'voltage_l3_v', 231.05],
    ['hr', 0x200c, 'float32', 5123, 'current_l1_a', 5.123],
    ['hr', 0x200e, 'float32', 4987, 'current_l2_a', 4.987],
    ['hr', 0x2010, 'float32', 5001, 'current_l3_a', 5.001],
    ['hr', 0x2012, 'float32', 34567, 'power_w', 3456.7],
    ['hr', 0x2014, 'float32', 11802, 'power_l1_w', 1180.2],
    ['hr', 0x2016, 'float32', 11301, 'power_l2_w', 1130.1],
    ['hr', 0x2018, 'float32', 11464, 'power_l3_w', 1146.4],
    ['hr', 0x202a, 'float32', 982, 'power_factor', 0.982],
    ['hr', 0x2044, 'float32', 5001, 'frequency_hz', 50.01],
    ['hr', 0x401e, 'float32', 5123.45, 'energy_kwh', 5123.45],
  ],
  // CHINT DDSU666: FC3 holding, float32 ABCD in V, A, kW, Hz, kWh.
  'chint-ddsu666': [
    ['hr', 0x2000, 'float32', 230.2, 'voltage_v', 230.2],
    ['hr', 0x2002, 'float32', 1.26, 'current_a', 1.26],
    ['hr', 0x2004, 'float32', 0.1963, 'power_w', 196.3],
    ['hr', 0x200a, 'float32', 0.91, 'power_factor', 0.91],
    ['hr', 0x200e, 'float32', 50, 'frequency_hz', 50],
    ['hr', 0x4000, 'float32', 478.492, 'energy_kwh', 478.492],
  ],
  // Acrel ADL400: FC3, 16-bit words for U (0.1 V), I (0.01 A), F (0.01 Hz); 32-bit P (W), E (0.01 kWh).
  'acrel-adl400': [
    ['hr', 0x0000, 'uint32', 123456, 'energy_kwh', 1234.56],
    ['hr', 0x0061, 'uint16', 2301, 'voltage_l1_v', 230.1],
    ['hr', 0x0062, 'uint16', 2295, 'voltage_l2_v', 229.5],
    ['hr', 0x0063, 'uint16', 2317, 'voltage_l3_v', 231.7],
    ['hr', 0x0064, 'uint16', 1600, 'current_l1_a', 16],
    ['hr', 0x0065, 'uint16', 1025, 'current_l2_a', 10.25],
    ['hr', 0x0066, 'uint16', 550, 'current_l3_a', 5.5],
    ['hr', 0x0077, 'uint16', 4999, 'frequency_hz', 49.99],
    ['hr', 0x0164, 'int32', 3680, 'power_l1_w', 3680],
    ['hr', 0x0166, 'int32', 2350, 'power_l2_w', 2350],
    ['hr', 0x0168, 'int32', -120, 'power_l3_w', -120],
    ['hr', 0x016a, 'int32', 5910, 'power_w', 5910],
  ],
  // 4-20 mA in microamps at holding register 0, 100 A full scale: 6000 uA = 12.5 A.
  'generic-rs485-ct': [['hr', 0, 'uint16', 6000, 'current_a', 12.5]],
};

function manualLayout(rows: Row[]): UnitsLayout {
  const tables: Partial<Record<'hr' | 'ir', LayoutEntry[]>> = {};
  for (const [table, address, type, raw] of rows) {
    const entries = tables[table] ?? [];
    entries.push({ address, type, value: raw });
    tables[table] = entries;
  }
  return { '1': tables };
}

/** Float32 keeps ~7 significant digits. */
function expectReads(name: string, metrics: Record<string, number>, rows: Row[]) {
  expect(Object.keys(metrics).sort(), `${name}: metrics published`).toEqual(rows.map((r) => r[4]).sort());
  for (const [, , , , metric, want] of rows) {
    const got = metrics[metric]!;
    expect(Math.abs(got - want), `${name} ${metric}: read ${got}, manual says ${want}`).toBeLessThanOrEqual(
      Math.max(Math.abs(want) * 1e-6, 1e-6),
    );
  }
}

describe('meter profiles in firmware-configs/modbus', () => {
  it('ship the six documented profiles, each valid and named after its file', () => {
    const files = readdirSync(join(PROFILES_DIR, 'modbus')).filter((f) => f.endsWith('.yaml'));
    expect(files.map((f) => f.replace(/\.yaml$/, '')).sort()).toEqual(SHIPPED);
    for (const name of SHIPPED) {
      const profile = loadModbusProfile(PROFILES_DIR, name);
      expect(profile.name).toBe(name);
      expect(profile.sources.length).toBeGreaterThan(0);
      expect(profile.points.some((p) => p.metric === 'power_w' || p.metric === 'current_a')).toBe(true);
      for (const p of profile.points)
        expect(p.metric).toMatch(/^[a-z][a-z0-9_]*_(w|a|v|kwh|hz)$|^power_factor$/);
    }
  });

  it('rejects a bad profile naming the path of each problem', () => {
    const bad = `
name: Bad Name
manufacturer: x
model: y
sources: [{ title: t }]
points:
  - { metric: power_w, fc: 5, address: 1, type: float32 }
  - { metric: power_w, fc: 3, address: 65535, type: float32 }
  - { metric: Current, fc: 3, address: 2, type: int8 }
`;
    let error: unknown;
    try {
      parseConfig(bad, profileSchema);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['name', 'points.0.fc', 'points.1.address', 'points.2.metric', 'points.2.type']),
    );
  });

  describe('each decodes its simulated device', () => {
    const devices: SimulatedDevice[] = [];
    const pool = new ConnectionPool();
    afterAll(async () => {
      await Promise.all(devices.map((d) => d.stop()));
    });

    for (const name of SHIPPED) {
      it(name, async () => {
        const profile = loadModbusProfile(PROFILES_DIR, name);
        const rows = MANUALS[name]!;
        const device = await startModbusDevice(manualLayout(rows), { tcp: true });
        devices.push(device);
        const config = modbusInputSchema.parse({
          type: 'modbus',
          host: '127.0.0.1',
          port: device.port,
          profile: name,
          every: '200ms',
        });
        const input = create(config, modbusDeps(), { pool });
        const sink = new ModbusSink();
        await input.start(sink);
        try {
          await sink.waitFor(`a reading from ${name}`, (s) => s.readings.length > 0);
          expect(sink.errors).toEqual([]);
          expect(profile.points).toHaveLength(rows.length);
          expectReads(name, sink.readings[0]!.metrics, rows);
          expect(sink.readings[0]!.state).toBeUndefined();
          expect(input.link().connected).toBe(true);
        } finally {
          await input.stop();
        }
      });
    }
  });
});
