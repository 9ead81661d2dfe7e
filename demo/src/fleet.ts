import type { Pattern, PowerLevels } from '@dayi/agent/inputs/simulated/pattern.ts';

/** One simulated instrument of the demo: registry facts plus how it behaves. */
export interface DemoInstrument {
  id: string;
  name: string;
  org: string;
  category: string;
  quotaHours: number;
  watts: PowerLevels;
  /** `idle-months`: used 130–120 days ago, powered off since; `never`: registered, never reports. */
  behaviour: Pattern | 'idle-months' | 'never';
  level?: 'off' | 'standby' | 'idle' | 'running';
}

const ZJU = 'Zhejiang University';
const WESTLAKE = 'Westlake University';
const ZJUT = 'Zhejiang University of Technology';
const HZNU = 'Hangzhou Normal University';
const NBU = 'Ningbo University';

const w = (standby: number, idle: number, running: number, off = 0): PowerLevels => ({
  off,
  standby,
  idle,
  running,
});

/** About twenty instruments of a province's sharing platform, with believable power levels (W). */
export const DEMO_FLEET: readonly DemoInstrument[] = [
  {
    id: 'ZJ-NMR-0001',
    name: '600 MHz NMR spectrometer',
    org: ZJU,
    category: 'NMR',
    quotaHours: 1400,
    watts: w(120, 600, 1500),
    behaviour: 'night-run',
  },
  {
    id: 'ZJ-NMR-0002',
    name: '400 MHz NMR spectrometer',
    org: WESTLAKE,
    category: 'NMR',
    quotaHours: 1400,
    watts: w(100, 450, 1100),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-MS-0001',
    name: 'LC-MS/MS triple quadrupole',
    org: ZJU,
    category: 'Mass spectrometry',
    quotaHours: 1400,
    watts: w(60, 350, 1800),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-MS-0002',
    name: 'MALDI-TOF mass spectrometer',
    org: NBU,
    category: 'Mass spectrometry',
    quotaHours: 1400,
    watts: w(40, 250, 900),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-MS-0003',
    name: 'ICP-MS',
    org: ZJUT,
    category: 'Mass spectrometry',
    quotaHours: 1400,
    watts: w(80, 500, 2200),
    behaviour: 'night-run',
  },
  {
    id: 'ZJ-SEM-0001',
    name: 'Field-emission SEM',
    org: ZJU,
    category: 'Electron microscopy',
    quotaHours: 1400,
    watts: w(150, 700, 2500),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-SEM-0002',
    name: 'Tabletop SEM',
    org: HZNU,
    category: 'Electron microscopy',
    quotaHours: 1400,
    watts: w(20, 120, 400),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-TEM-0001',
    name: '200 kV TEM',
    org: ZJU,
    category: 'Electron microscopy',
    quotaHours: 1400,
    watts: w(300, 1200, 4000),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-TEM-0002',
    name: '300 kV cryo-TEM',
    org: WESTLAKE,
    category: 'Electron microscopy',
    quotaHours: 800,
    watts: w(400, 1500, 5000),
    behaviour: 'night-run',
  },
  {
    id: 'ZJ-XRD-0001',
    name: 'Powder X-ray diffractometer',
    org: ZJUT,
    category: 'X-ray',
    quotaHours: 1400,
    watts: w(50, 400, 3000),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-XRD-0002',
    name: 'Single-crystal X-ray diffractometer',
    org: ZJU,
    category: 'X-ray',
    quotaHours: 1400,
    watts: w(60, 450, 2800),
    behaviour: 'night-run',
  },
  {
    id: 'ZJ-CONF-0001',
    name: 'Laser scanning confocal microscope',
    org: WESTLAKE,
    category: 'Optical microscopy',
    quotaHours: 1400,
    watts: w(30, 200, 650),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-FCM-0001',
    name: 'Flow cytometer',
    org: ZJU,
    category: 'Life science',
    quotaHours: 1400,
    watts: w(25, 150, 500),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-GC-0001',
    name: 'GC-MS',
    org: NBU,
    category: 'Mass spectrometry',
    quotaHours: 1400,
    watts: w(40, 300, 1400),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-XPS-0001',
    name: 'X-ray photoelectron spectrometer',
    org: ZJU,
    category: 'Surface analysis',
    quotaHours: 800,
    watts: w(200, 900, 3500),
    behaviour: 'constant',
    level: 'idle',
  },
  {
    id: 'ZJ-AFM-0001',
    name: 'Atomic force microscope',
    org: HZNU,
    category: 'Surface analysis',
    quotaHours: 1400,
    watts: w(15, 90, 300),
    behaviour: 'office-hours',
  },
  {
    id: 'ZJ-ICP-0001',
    name: 'ICP-OES',
    org: ZJUT,
    category: 'Spectroscopy',
    quotaHours: 1400,
    watts: w(50, 400, 1600),
    behaviour: 'constant',
    level: 'standby',
  },
  {
    id: 'ZJ-SEQ-0001',
    name: 'High-throughput DNA sequencer',
    org: WESTLAKE,
    category: 'Life science',
    quotaHours: 1400,
    watts: w(100, 500, 1800),
    behaviour: 'constant',
    level: 'running',
  },
  {
    id: 'ZJ-RAMAN-0001',
    name: 'Confocal Raman spectrometer',
    org: NBU,
    category: 'Spectroscopy',
    quotaHours: 1400,
    watts: w(20, 150, 450),
    behaviour: 'idle-months',
  },
  {
    id: 'ZJ-DSC-0001',
    name: 'Differential scanning calorimeter',
    org: HZNU,
    category: 'Thermal analysis',
    quotaHours: 1400,
    watts: w(10, 60, 800),
    behaviour: 'never',
  },
];

/** Thresholds halfway between the levels, as a technician would set them after `agent calibrate`. */
export function thresholdsFor(watts: PowerLevels) {
  return {
    standby: round((watts.off + watts.standby) / 2),
    idle: round((watts.standby + watts.idle) / 2),
    running: round((watts.idle + watts.running) / 2),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
