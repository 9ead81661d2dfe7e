/**
 * Real simulated Modbus devices for tests: `fixtures/modbus/device.py` on Debian's pymodbus,
 * serving a register layout over TCP, RTU framing over TCP, or RTU on one end of a socat pty pair.
 * The layout is built from a meter profile and chosen physical values, so each profile is tested
 * against a device serving exactly its register map; values are encoded by Python's struct module,
 * independently of the decoder under test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ModbusPoint, ModbusProfile } from '@dayi/protocols/modbus/index.ts';

export const PYTHON = '/usr/bin/python3';
const DEVICE_SCRIPT = fileURLToPath(new URL('../fixtures/modbus/device.py', import.meta.url));

export type Table = 'co' | 'di' | 'hr' | 'ir';
export interface LayoutEntry {
  address: number;
  type: 'bit' | 'raw' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';
  order?: string;
  value: number | number[];
}
/** unit id → table → entries */
export type UnitsLayout = Record<string, Partial<Record<Table, LayoutEntry[]>>>;

const TABLE_OF_FC: Record<number, Table> = { 1: 'co', 2: 'di', 3: 'hr', 4: 'ir' };

/** The raw register value a device must hold for a point to read `value` (inverse of raw × scale + offset). */
export function rawFor(point: ModbusPoint, value: number): number {
  const raw = (value - point.offset) / point.scale;
  return point.type === 'float32' || point.type === 'float64' ? raw : Math.round(raw);
}

/** Layout entries serving `values` (metric → physical value) at the points' addresses. */
export function entriesFor(
  points: readonly ModbusPoint[],
  values: Record<string, number>,
): Partial<Record<Table, LayoutEntry[]>> {
  const tables: Partial<Record<Table, LayoutEntry[]>> = {};
  for (const p of points) {
    const value = values[p.metric];
    if (value === undefined) continue;
    const table = TABLE_OF_FC[p.fc]!;
    const entry: LayoutEntry =
      p.fc <= 2
        ? { address: p.address, type: 'bit', value: value ? 1 : 0 }
        : { address: p.address, type: p.type, order: p.order, value: rawFor(p, value) };
    const entries = tables[table] ?? [];
    entries.push(entry);
    tables[table] = entries;
  }
  return tables;
}

/** A whole profile's layout for one unit: every point holds a value (the given one, else 0). */
export function layoutFromProfile(
  profile: ModbusProfile,
  values: Record<string, number>,
  unitId = profile.unitId,
): UnitsLayout {
  const all: Record<string, number> = {};
  for (const p of profile.points) all[p.metric] = values[p.metric] ?? 0;
  return { [String(unitId)]: entriesFor(profile.points, all) };
}

export interface SimulatedDevice {
  /** TCP port (tcp and rtu-over-tcp). */
  readonly port: number;
  /** Serial path the device serves (rtu). */
  readonly path: string | undefined;
  /** Changes values while running. */
  set(units: UnitsLayout): Promise<void>;
  /** Read requests served, per unit id and table. */
  stats(): Promise<Record<string, Partial<Record<Table, number>>>>;
  resetStats(): Promise<void>;
  stop(): Promise<void>;
}

export type DeviceTransport =
  | { tcp: true; framer?: 'socket' | 'rtu'; port?: number }
  | { serial: string; baudRate?: number };

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startModbusDevice(
  units: UnitsLayout,
  transport: DeviceTransport,
): Promise<SimulatedDevice> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-modbus-'));
  const layoutFile = join(dir, 'layout.json');
  writeFileSync(layoutFile, JSON.stringify({ units }));
  const args = [DEVICE_SCRIPT, '--layout', layoutFile];
  if ('tcp' in transport)
    args.push('--tcp', '--framer', transport.framer ?? 'socket', '--port', String(transport.port ?? 0));
  else args.push('--serial', transport.serial, '--baud', String(transport.baudRate ?? 9600));
  const proc: ChildProcess = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const events: Array<Record<string, unknown>> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      stderr += `${line}\n`;
    }
  });
  const next = async (event: string): Promise<Record<string, unknown>> =>
    waitFor(`device event ${event} (stderr: ${stderr})`, () => {
      if (proc.exitCode !== null) throw new Error(`device.py exited with ${proc.exitCode}: ${stderr}`);
      const i = events.findIndex((e) => e.event === event || e.event === 'error');
      if (i < 0) return undefined;
      const [e] = events.splice(i, 1);
      if (e!.event === 'error') throw new Error(`device.py: ${String(e!.message)}`);
      return e;
    });
  const command = async (cmd: Record<string, unknown>, answer: string) => {
    proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return next(answer);
  };
  const ready = await next('ready');
  return {
    port: typeof ready.port === 'number' ? ready.port : 0,
    path: typeof ready.path === 'string' ? ready.path : undefined,
    async set(u) {
      await command({ cmd: 'set', units: u }, 'set');
    },
    async stats() {
      const e = await command({ cmd: 'stats' }, 'stats');
      return e.reads as Record<string, Partial<Record<Table, number>>>;
    },
    async resetStats() {
      await command({ cmd: 'reset' }, 'reset');
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.stdin!.end();
        const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(kill);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PtyPair {
  /** The device's end. */
  readonly device: string;
  /** The agent's end. */
  readonly port: string;
  stop(): Promise<void>;
}

/** A socat pty pair: an RS-485 line in a box, with the meter on one end and the agent on the other. */
export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-modbus-pty-'));
  const device = join(dir, 'device');
  const port = join(dir, 'agent');
  const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await waitFor(`socat pty pair (socat said: ${stderr})`, () => {
    if (proc.exitCode !== null) throw new Error(`socat exited with ${proc.exitCode}: ${stderr}`);
    return existsSync(device) && existsSync(port) && stderr.includes('starting data transfer loop')
      ? true
      : undefined;
  });
  return {
    device,
    port,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
