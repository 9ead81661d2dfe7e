/**
 * The modbus input against real simulated devices (pymodbus): TCP, RTU through a socat pty pair,
 * RTU over TCP, several unit ids behind one gateway on one connection, merged requests, a dead
 * device beside a live one, reconnection after a restart, and vendor faults.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionPool, create, type ModbusInput } from '../src/inputs/modbus/index.ts';
import { loadModbusProfile } from '../src/inputs/modbus/profiles.ts';
import { modbusInputSchema } from '../src/inputs/modbus/schema.ts';
import type { Input } from '../src/inputs/types.ts';
import {
  entriesFor,
  layoutFromProfile,
  type SimulatedDevice,
  startModbusDevice,
  startPtyPair,
} from './helpers/modbus-device.ts';
import { ModbusSink, modbusDeps, PROFILES_DIR } from './helpers/modbus-sink.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Inputs first, then devices and ptys: reverse order of creation.
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function device(...args: Parameters<typeof startModbusDevice>): Promise<SimulatedDevice> {
  const d = await startModbusDevice(...args);
  cleanups.push(() => d.stop());
  return d;
}

async function startInput(
  raw: Record<string, unknown>,
  pool: ConnectionPool,
): Promise<{ input: Input; sink: ModbusSink }> {
  const input = create(
    modbusInputSchema.parse({ type: 'modbus', every: '100ms', timeout: '300ms', ...raw }),
    modbusDeps(),
    {
      pool,
    },
  );
  const sink = new ModbusSink();
  await input.start(sink);
  cleanups.push(() => input.stop());
  return { input, sink };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const sdm630 = loadModbusProfile(PROFILES_DIR, 'eastron-sdm630');
const sdm120 = loadModbusProfile(PROFILES_DIR, 'eastron-sdm120');
const dtsu666 = loadModbusProfile(PROFILES_DIR, 'chint-dtsu666');

describe('modbus input', () => {
  it('reads an SDM630 over TCP in two merged requests per poll, and follows its power', async () => {
    const dev = await device(layoutFromProfile(sdm630, { power_w: 512.5, voltage_v: 230 }), { tcp: true });
    const pool = new ConnectionPool();
    const { input, sink } = await startInput(
      { host: '127.0.0.1', port: dev.port, profile: 'eastron-sdm630' },
      pool,
    );
    await sink.waitForMetric('power_w', (w) => w === 512.5);
    expect((input as ModbusInput).reads).toEqual([
      { unitId: 1, fc: 4, address: 0x00, count: 0x12 },
      { unitId: 1, fc: 4, address: 0x2a, count: 0x20 },
    ]);

    await dev.set(layoutFromProfile(sdm630, { power_w: 4100.25, voltage_v: 231 }));
    const r = await sink.waitForMetric('power_w', (w) => w === 4100.25);
    expect(r.metrics.voltage_v).toBe(231);

    await input.stop();
    const polls = sink.readings.length;
    // 15 points, 2 requests per poll: the device saw exactly that many reads.
    expect((await dev.stats())['1']).toEqual({ ir: 2 * polls });
  });

  it('reads an SDM120 over RTU through a socat pty pair, at the profile baud rate', async () => {
    const pty = await startPtyPair();
    cleanups.push(() => pty.stop());
    await device(layoutFromProfile(sdm120, { power_w: 1875.5, current_a: 8.2, voltage_v: 228.7 }), {
      serial: pty.device,
      baudRate: 2400,
    });
    const { input, sink } = await startInput(
      { transport: 'rtu', path: pty.port, profile: 'eastron-sdm120', timeout: '1s' },
      new ConnectionPool(),
    );
    const r = await sink.waitForMetric('power_w', (w) => w === 1875.5);
    expect(r.metrics.current_a).toBeCloseTo(8.2, 5);
    expect(r.metrics.voltage_v).toBeCloseTo(228.7, 4);
    expect(input.name).toBe(`modbus rtu ${pty.port} unit 1`);
    expect(input.link().connected).toBe(true);
  });

  it('polls two units on one RS-485 bus over one port, and refuses a third input with other line settings', async () => {
    const pty = await startPtyPair();
    cleanups.push(() => pty.stop());
    await device(
      {
        ...layoutFromProfile(sdm120, { power_w: 11.5 }, 1),
        ...layoutFromProfile(sdm120, { power_w: 22.5 }, 2),
      },
      { serial: pty.device, baudRate: 2400 },
    );
    const pool = new ConnectionPool();
    const one = await startInput(
      { transport: 'rtu', path: pty.port, unitId: 1, profile: 'eastron-sdm120', timeout: '1s' },
      pool,
    );
    const two = await startInput(
      { transport: 'rtu', path: pty.port, unitId: 2, profile: 'eastron-sdm120', timeout: '1s' },
      pool,
    );
    const odd = await startInput(
      { transport: 'rtu', path: pty.port, unitId: 3, profile: 'eastron-sdm120', baudRate: 9600 },
      pool,
    );
    expect(pool.size).toBe(1);
    await one.sink.waitForMetric('power_w', (w) => w === 11.5);
    await two.sink.waitForMetric('power_w', (w) => w === 22.5);
    expect(odd.sink.errors[0]!.message).toMatch(/already open at 2400 8N1; this input asks for 9600 8N1/);
    expect(odd.input.link().connected).toBe(false);
  });

  it('reads RTU frames through a transparent TCP gateway (rtu-over-tcp)', async () => {
    const dev = await device(layoutFromProfile(sdm120, { power_w: 99.5 }), { tcp: true, framer: 'rtu' });
    const { sink } = await startInput(
      { transport: 'rtu-over-tcp', host: '127.0.0.1', port: dev.port, profile: 'eastron-sdm120' },
      new ConnectionPool(),
    );
    await sink.waitForMetric('power_w', (w) => w === 99.5);
  });

  it('shares one connection between two DTSU666 behind one TCP gateway, each with its own values', async () => {
    const dev = await device(
      {
        ...layoutFromProfile(dtsu666, { power_w: 1500.5 }, 1),
        ...layoutFromProfile(dtsu666, { power_w: 2750.5 }, 2),
      },
      { tcp: true },
    );
    const pool = new ConnectionPool();
    const a = await startInput(
      { host: '127.0.0.1', port: dev.port, unitId: 1, profile: 'chint-dtsu666' },
      pool,
    );
    const b = await startInput(
      { host: '127.0.0.1', port: dev.port, unitId: 2, profile: 'chint-dtsu666' },
      pool,
    );
    expect(pool.size).toBe(1);
    await a.sink.waitForMetric('power_w', (w) => Math.abs(w - 1500.5) < 1e-3);
    await b.sink.waitForMetric('power_w', (w) => Math.abs(w - 2750.5) < 1e-3);
    expect(a.sink.readings.every((r) => Math.abs(r.metrics.power_w! - 1500.5) < 1e-3)).toBe(true);
    expect(b.sink.readings.every((r) => Math.abs(r.metrics.power_w! - 2750.5) < 1e-3)).toBe(true);
    const stats = await dev.stats();
    expect(stats['1']?.hr).toBeGreaterThan(0);
    expect(stats['2']?.hr).toBeGreaterThan(0);
    expect(a.sink.errors).toEqual([]);
    expect(b.sink.errors).toEqual([]);
  });

  it('reports a dead device with its context while another device on the same agent keeps being read', async () => {
    const dev = await device(layoutFromProfile(sdm630, { power_w: 321.5 }), { tcp: true });
    const pool = new ConnectionPool();
    const closedPort = await freePort();
    const dead = await startInput({ host: '127.0.0.1', port: closedPort, profile: 'eastron-sdm630' }, pool);
    const live = await startInput({ host: '127.0.0.1', port: dev.port, profile: 'eastron-sdm630' }, pool);

    await dead.sink.waitFor('an error from the dead device', (s) => s.errors.length > 0);
    expect(dead.sink.errors[0]!.context).toMatchObject({
      host: '127.0.0.1',
      port: closedPort,
      unitId: 1,
      fc: 4,
      address: 0,
      transport: 'tcp',
    });
    expect(dead.sink.errors[0]!.message).toMatch(/cannot connect|not connected/);
    expect(dead.input.link()).toMatchObject({
      connected: false,
      lastError: expect.stringContaining(`${closedPort}`),
    });

    const before = live.sink.readings.length;
    await live.sink.waitFor(
      'five more readings from the live device',
      (s) => s.readings.length >= before + 5,
    );
    expect(live.sink.errors).toEqual([]);
    expect(live.sink.last!.metrics.power_w).toBe(321.5);
    expect(dead.sink.readings).toEqual([]);
  });

  it('reports a silent unit behind a gateway with its unit id, and the other unit on the same connection goes on', async () => {
    const dev = await device(layoutFromProfile(dtsu666, { power_w: 800.5 }, 1), { tcp: true });
    const pool = new ConnectionPool();
    const ghost = await startInput(
      {
        host: '127.0.0.1',
        port: dev.port,
        unitId: 9,
        profile: 'chint-dtsu666',
        timeout: '200ms',
        retries: 0,
      },
      pool,
    );
    const real = await startInput(
      { host: '127.0.0.1', port: dev.port, unitId: 1, profile: 'chint-dtsu666' },
      pool,
    );
    await ghost.sink.waitFor('a timeout from unit 9', (s) => s.errors.length > 0);
    expect(ghost.sink.errors[0]!.context).toMatchObject({
      unitId: 9,
      fc: 3,
      address: 0x2006,
      port: dev.port,
    });
    expect(ghost.sink.errors[0]!.message).toMatch(/unit 9 .*no answer within 200 ms/);
    const before = real.sink.readings.length;
    await real.sink.waitFor('more readings from unit 1', (s) => s.readings.length >= before + 5);
    expect(real.sink.last!.metrics.power_w).toBeCloseTo(800.5, 3);
    expect(real.sink.errors).toEqual([]);
    expect(ghost.input.link().connected).toBe(false);
  });

  it('reconnects with backoff after the device restarts', async () => {
    const layout = layoutFromProfile(sdm630, { power_w: 42.5 });
    const first = await device(layout, { tcp: true });
    const port = first.port;
    const { input, sink } = await startInput(
      { host: '127.0.0.1', port, profile: 'eastron-sdm630', backoff: { initial: '100ms', max: '400ms' } },
      new ConnectionPool(),
    );
    await sink.waitForMetric('power_w', (w) => w === 42.5);
    await first.stop();
    await sink.waitFor('an error after the device went away', (s) => s.errors.length > 0);
    expect(input.link().connected).toBe(false);

    await device(layoutFromProfile(sdm630, { power_w: 43.5 }), { tcp: true, port });
    await sink.waitForMetric('power_w', (w) => w === 43.5);
    await sink.waitFor('the link to be up again', () => input.link().connected);
  });

  it('turns a vendor fault into state fault, from a status word mask and from a 4-20 mA loop below 3.6 mA', async () => {
    const ct = loadModbusProfile(PROFILES_DIR, 'generic-rs485-ct');
    const status = {
      metric: 'status_code',
      fc: 3 as const,
      address: 0x10,
      type: 'uint16' as const,
      order: 'ABCD' as const,
      scale: 1,
      offset: 0,
    };
    const dev = await device(
      { '1': entriesFor([...ct.points, status], { current_a: 12.5, status_code: 0 }) },
      { tcp: true },
    );
    const { sink } = await startInput(
      {
        host: '127.0.0.1',
        port: dev.port,
        profile: 'generic-rs485-ct',
        points: [{ metric: 'status_code', fc: 3, address: 0x10, fault: { mask: 0x0004 } }],
      },
      new ConnectionPool(),
    );
    const ok = await sink.waitForMetric('current_a', (a) => a === 12.5);
    expect(ok.state).toBeUndefined();

    await dev.set({ '1': entriesFor([status], { status_code: 0x0006 }) });
    const fault = await sink
      .waitFor('a fault from the status word', (s) => s.last?.state === 'fault')
      .then(() => sink.last!);
    expect(fault.metrics.status_code).toBe(6);

    await dev.set({ '1': entriesFor([status], { status_code: 0x0001 }) });
    await sink.waitFor(
      'the fault to clear',
      (s) => s.last?.metrics.status_code === 1 && s.last.state === undefined,
    );

    // 3000 uA: below NAMUR NE 43's 3.6 mA, a broken loop.
    await dev.set({ '1': { hr: [{ address: 0, type: 'uint16', value: 3000 }] } });
    await sink.waitFor(
      'a fault from the broken loop',
      (s) => s.last?.state === 'fault' && s.last.metrics.current_a === -6.25,
    );
  });

  it('reads coils and discrete inputs as 0/1 and explicit points with every word order', async () => {
    const dev = await device(
      {
        '3': {
          co: [{ address: 5, type: 'bit', value: 1 }],
          di: [
            { address: 2, type: 'bit', value: 0 },
            { address: 3, type: 'bit', value: 1 },
          ],
          hr: [
            { address: 100, type: 'float32', order: 'CDAB', value: 1234.5 },
            { address: 102, type: 'int32', order: 'DCBA', value: -7 },
            { address: 104, type: 'uint32', order: 'BADC', value: 70000 },
            { address: 106, type: 'float64', order: 'ABCD', value: 0.125 },
            { address: 110, type: 'int16', value: -300 },
          ],
        },
      },
      { tcp: true },
    );
    const { sink, input } = await startInput(
      {
        host: '127.0.0.1',
        port: dev.port,
        unitId: 3,
        points: [
          { metric: 'door_open', fc: 1, address: 5 },
          { metric: 'pump_on', fc: 2, address: 2 },
          { metric: 'valve_on', fc: 2, address: 3 },
          { metric: 'power_w', fc: 3, address: 100, type: 'float32', order: 'CDAB' },
          { metric: 'offset_w', fc: 3, address: 102, type: 'int32', order: 'DCBA' },
          { metric: 'energy_wh', fc: 3, address: 104, type: 'uint32', order: 'BADC' },
          { metric: 'energy_kwh', fc: 3, address: 104, type: 'uint32', order: 'BADC', scale: 0.001 },
          { metric: 'ratio', fc: 3, address: 106, type: 'float64' },
          { metric: 'temperature_c', fc: 3, address: 110, type: 'int16', scale: 0.1, offset: 1 },
        ],
      },
      new ConnectionPool(),
    );
    await sink.waitFor('a reading', (s) => s.readings.length > 0);
    expect(sink.readings[0]!.metrics).toEqual({
      door_open: 1,
      pump_on: 0,
      valve_on: 1,
      power_w: 1234.5,
      offset_w: -7,
      energy_wh: 70000,
      energy_kwh: 70,
      ratio: 0.125,
      temperature_c: -29,
    });
    expect((input as ModbusInput).reads).toEqual([
      { unitId: 3, fc: 1, address: 5, count: 1 },
      { unitId: 3, fc: 2, address: 2, count: 2 },
      { unitId: 3, fc: 3, address: 100, count: 11 },
    ]);
  });

  it('reports an unknown profile through the sink, naming the file, without throwing', async () => {
    const { input, sink } = await startInput(
      { host: '127.0.0.1', port: 1502, profile: 'no-such-meter' },
      new ConnectionPool(),
    );
    expect(sink.errors[0]!.message).toMatch(/no-such-meter\.yaml/);
    expect(input.link()).toMatchObject({
      connected: false,
      lastError: expect.stringMatching(/no-such-meter/),
    });
  });
});

describe('modbus input config', () => {
  const issues = (raw: Record<string, unknown>) => {
    const r = modbusInputSchema.safeParse({ type: 'modbus', ...raw });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('names the path of each mistake', () => {
    expect(issues({ transport: 'rtu', profile: 'eastron-sdm120' })).toEqual([
      'path: transport rtu needs the serial path, e.g. /dev/ttyUSB0',
    ]);
    expect(issues({ host: 'meter.lan' })).toEqual(['points: give a profile or at least one point']);
    expect(issues({ host: 'meter.lan', points: [{ metric: 'power_w', fc: 6, address: 0 }] })).toEqual([
      'points.0.fc: fc must be 1, 2, 3 or 4',
    ]);
    expect(issues({ host: 'meter.lan', profile: 'x', every: 'often' })[0]).toMatch(
      /^every: invalid duration/,
    );
    expect(issues({ host: 'meter.lan', profile: 'x', limits: { maxRegisters: 200 } })[0]).toMatch(
      /^limits.maxRegisters/,
    );
    expect(issues({ host: 'meter.lan', profile: 'x', colour: 'red' })[0]).toMatch(/colour/);
  });

  it('accepts the SPEC examples with their defaults', () => {
    const tcp = modbusInputSchema.parse({
      type: 'modbus',
      transport: 'tcp',
      host: '192.168.1.50',
      port: 502,
      unitId: 1,
      profile: 'eastron-sdm630',
      every: '1s',
    });
    expect(tcp).toMatchObject({
      every: 1000,
      timeout: 1000,
      retries: 1,
      backoff: { initial: 1000, max: 30000 },
    });
    const rtu = modbusInputSchema.parse({
      type: 'modbus',
      transport: 'rtu',
      path: '/dev/ttyUSB0',
      baudRate: 9600,
      unitId: 2,
      profile: 'chint-ddsu666',
    });
    expect(rtu).toMatchObject({ transport: 'rtu', path: '/dev/ttyUSB0', unitId: 2 });
  });
});
