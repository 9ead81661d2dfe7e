/**
 * The agent's peers for bench/agent, all on loopback and started here, only those the chosen inputs
 * need: a Mosquitto broker, a pymodbus SDM630 on Modbus TCP, a pymodbus SDM120 on RTU through a
 * socat pty pair, a pymodbus "gateway" on Modbus TCP serving two CHINT DTSU666 meters at unit ids 1
 * and 2 (the agent reads unit 2, as behind an RS-485-to-TCP gateway), and the node-opcua fixture
 * server whose ActivePower changes every `every` (OPC UA reports changes only, so a value that moves
 * is what makes the input deliver one reading per second). They are the agent tests' own fixtures.
 */
import { join } from 'node:path';
import { loadModbusProfile } from '../agent/src/inputs/modbus/profiles.ts';
import {
  layoutFromProfile,
  type PtyPair,
  type SimulatedDevice,
  startModbusDevice,
  startPtyPair,
} from '../agent/test/helpers/modbus-device.ts';
import { type Mosquitto, startMosquitto } from '../agent/test/helpers/mosquitto.ts';
import { type FixtureServer, startFixtureServer } from '../agent/test/helpers/opcua-server.ts';

export const PROFILES_DIR = new URL('../firmware-configs/', import.meta.url).pathname;
export const AGENT_USER = { username: 'bench-agent', password: 'bench-agent-password-1' };
/** The unit id the bench's DTSU666 answers at behind its gateway (not 1, as a second meter on a bus). */
export const DTSU666_UNIT = 2;

export type PeerName = 'sdm630' | 'sdm120' | 'dtsu666' | 'opcua';

export interface Peers {
  broker: Mosquitto;
  sdm630?: SimulatedDevice;
  pty?: PtyPair;
  sdm120?: SimulatedDevice;
  dtsu666?: SimulatedDevice;
  opcua?: FixtureServer;
  /** Watts the SDM630 serves now; `toggleSdm630()` switches between running and idle levels. */
  toggleSdm630(): Promise<void>;
  /** Read requests each Modbus device has served so far (absent devices: 0). */
  modbusReads(): Promise<{ sdm630: number; sdm120: number; dtsu666: number }>;
  /** OPC UA value changes written so far. */
  opcuaWrites(): number;
  close(): Promise<void>;
}

const sdm630Profile = loadModbusProfile(PROFILES_DIR, 'eastron-sdm630');
const sdm120Profile = loadModbusProfile(PROFILES_DIR, 'eastron-sdm120');
const dtsu666Profile = loadModbusProfile(PROFILES_DIR, 'chint-dtsu666');

const sdm630Values = (power_w: number) => ({
  power_w,
  power_l1_w: power_w / 3,
  power_l2_w: power_w / 3,
  power_l3_w: power_w / 3,
  voltage_v: 230.4,
  current_a: power_w / 230.4,
  frequency_hz: 50.01,
  energy_kwh: 18342.7,
});

const dtsu666Values = (power_w: number) => ({
  power_w,
  power_l1_w: power_w / 3,
  power_l2_w: power_w / 3,
  power_l3_w: power_w / 3,
  voltage_l1_v: 229.9,
  voltage_l2_v: 230.3,
  voltage_l3_v: 230.1,
  current_l1_a: power_w / 3 / 230,
  current_l2_a: power_w / 3 / 230,
  current_l3_a: power_w / 3 / 230,
  power_factor: 0.98,
  frequency_hz: 49.99,
  energy_kwh: 5120.4,
});

export async function startPeers(
  dir: string,
  every: number,
  want: readonly PeerName[],
  log: (s: string) => void,
): Promise<Peers> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  try {
    const broker = await startMosquitto({ users: [AGENT_USER] });
    closers.push(() => broker.close());
    log(`mosquitto on ${broker.port}`);
    const peers: Peers = {
      broker,
      async toggleSdm630() {
        if (!peers.sdm630) return;
        running = !running;
        await peers.sdm630.set(layoutFromProfile(sdm630Profile, sdm630Values(running ? 2733.9 : 150.2)));
      },
      async modbusReads() {
        const count = async (d: SimulatedDevice | undefined) =>
          d
            ? Object.values(await d.stats())
                .flatMap((t) => Object.values(t))
                .reduce((a, b) => a + (b ?? 0), 0)
            : 0;
        return {
          sdm630: await count(peers.sdm630),
          sdm120: await count(peers.sdm120),
          dtsu666: await count(peers.dtsu666),
        };
      },
      opcuaWrites: () => writes,
      close,
    };
    let running = true;
    let writes = 0;
    if (want.includes('sdm630')) {
      peers.sdm630 = await startModbusDevice(layoutFromProfile(sdm630Profile, sdm630Values(2733.9)), {
        tcp: true,
      });
      closers.push(() => peers.sdm630!.stop());
      log(`SDM630 (Modbus TCP) on ${peers.sdm630.port}`);
    }
    if (want.includes('sdm120')) {
      peers.pty = await startPtyPair();
      closers.push(() => peers.pty!.stop());
      peers.sdm120 = await startModbusDevice(
        layoutFromProfile(sdm120Profile, { power_w: 412.5, voltage_v: 229.8, current_a: 1.795 }),
        { serial: peers.pty.device, baudRate: sdm120Profile.serial?.baudRate ?? 2400 },
      );
      closers.push(() => peers.sdm120!.stop());
      log(`SDM120 (Modbus RTU) on ${peers.pty.port}`);
    }
    if (want.includes('dtsu666')) {
      peers.dtsu666 = await startModbusDevice(
        {
          ...layoutFromProfile(dtsu666Profile, dtsu666Values(95.2), 1),
          ...layoutFromProfile(dtsu666Profile, dtsu666Values(1830.6), DTSU666_UNIT),
        },
        { tcp: true },
      );
      closers.push(() => peers.dtsu666!.stop());
      log(`DTSU666 gateway (Modbus TCP, units 1 and ${DTSU666_UNIT}) on ${peers.dtsu666.port}`);
    }
    if (want.includes('opcua')) {
      const opcua = await startFixtureServer({ pki: join(dir, 'opcua-server-pki') });
      peers.opcua = opcua;
      closers.push(() => opcua.kill('SIGTERM'));
      log(`OPC UA fixture server on ${opcua.endpoint}`);
      await opcua.set('itemState', 'Executing');
      let busy = false;
      let n = 0;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        // A slow wave plus a small wobble: a change at every sample, as a real power reading has.
        const watts = 800 + 60 * Math.sin(n++ / 30) + (n % 7);
        opcua
          .set('power', Math.round(watts * 10) / 10)
          .then(() => {
            writes++;
          })
          .catch((err: Error) => log(`OPC UA set failed: ${err.message}`))
          .finally(() => {
            busy = false;
          });
      }, every);
      closers.push(async () => clearInterval(timer));
    }
    return peers;
  } catch (err) {
    await close();
    throw err;
  }
}
