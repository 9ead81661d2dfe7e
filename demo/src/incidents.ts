import type { AnomalyInput } from '@dayi/collector/alerts/config.ts';
import { addDays, dateOf, startOfDate } from '@dayi/collector/derive/pure/calendar.ts';
import { classifySignal, type Event, type Telemetry } from '@dayi/protocols';
import { type DemoInstrument, thresholdsFor } from './fleet.ts';

/**
 * What goes wrong in the demo's history, so that its alerts show each kind: the anomaly types on
 * instruments of the fleet (yesterday, local time), the registry settings that make them visible,
 * and the events agents would have sent. `offline`, `idle` and `reported` come from the demo's
 * own actions (a crashing agent, the instrument idle for months, a user's report).
 */

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** Anomaly settings per demo instrument (the rest use the defaults). */
export const DEMO_ANOMALY: Readonly<Record<string, AnomalyInput>> = {
  'ZJ-NMR-0002': { serviceHours: 'Mon-Fri 08:00-18:00' },
  'ZJ-TEM-0001': { powerBand: { running: [3600, 4400] } },
  'ZJ-SEQ-0001': { longRunHours: 12 },
  'ZJ-FCM-0001': { shortCycle: { maxChangesPerHour: 6 } },
  'ZJ-GC-0001': { staleSamples: 12 },
};

/** The instrument whose agent crashes at each start (offline by its will), and the one a user reports. */
export const DEMO_CRASHING = 'ZJ-AFM-0001';
export const DEMO_REPORTED = {
  id: 'ZJ-SEM-0001',
  text: '样品台移动时有异响 (the stage grinds when it moves)',
};
/** An instrument whose agent's clock runs 6 minutes ahead (one event, sent at start). */
export const DEMO_SKEWED = 'ZJ-ICP-0001';

interface Window {
  from: number;
  to: number;
}

function yesterday(now: number, tz: string, hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return startOfDate(addDays(dateOf(now, tz), -1), tz) + h * HOUR + m * MINUTE;
}

const inside = (ts: number, w: Window) => ts >= w.from && ts < w.to;

/** A history message as it would have been, had the incident happened; null: unchanged. */
export function withIncident(inst: DemoInstrument, msg: Telemetry, now: number, tz: string): Telemetry {
  const y = (a: string, b: string) => ({ from: yesterday(now, tz, a), to: yesterday(now, tz, b) });
  const t = thresholdsFor(inst.watts);
  const set = (watts: number, state?: Telemetry['state']) => ({
    ...msg,
    metrics: { ...msg.metrics, power_w: watts, current_a: Math.round((watts / 230) * 1000) / 1000 },
    state: state ?? classifySignal(watts, t),
  });
  const w = inst.watts;
  switch (inst.id) {
    case 'ZJ-NMR-0002': // used late in the evening without a booking
      return inside(msg.ts, y('21:00', '22:30')) ? set(w.running * 1.01) : msg;
    case 'ZJ-TEM-0001': // a 20-minute draw far above its band
      return inside(msg.ts, y('14:00', '14:20')) ? set(w.running * 1.3) : msg;
    case 'ZJ-FCM-0001': {
      // the fluidics cycling on and off
      const win = y('10:00', '11:00');
      if (!inside(msg.ts, win)) return msg;
      return set(Math.floor((msg.ts - win.from) / (5 * MINUTE)) % 2 === 0 ? w.running : w.idle);
    }
    case 'ZJ-GC-0001': // the meter repeating its last reading
      return inside(msg.ts, y('13:00', '14:30')) ? set(w.running) : msg;
    case 'ZJ-XRD-0001': // the X-ray generator's interlock tripped
      return inside(msg.ts, y('11:00', '11:15')) ? set(w.idle, 'fault') : msg;
    case 'ZJ-MS-0001': {
      // the rough pump wearing out: every run of the last two days draws 6 % more
      const since = startOfDate(addDays(dateOf(now, tz), -2), tz);
      return msg.ts >= since && msg.state === 'running'
        ? set(Math.round(msg.metrics.power_w! * 1.06 * 10) / 10)
        : msg;
    }
    default:
      return msg;
  }
}

/** Events the agents would have sent with that history. */
export function incidentEvents(now: number, tz: string): { id: string; event: Omit<Event, 'seq'> }[] {
  return [
    {
      id: 'ZJ-XRD-0001',
      event: {
        ts: yesterday(now, tz, '11:00'),
        type: 'vendor_fault',
        severity: 'critical',
        detail: { code: 'IL-03', text: 'X-ray generator interlock open' },
      },
    },
    {
      id: 'ZJ-MS-0002',
      event: {
        ts: yesterday(now, tz, '09:40'),
        type: 'data_gap',
        severity: 'warning',
        detail: {
          reason: 'outbox full',
          dropped: { telemetry: 96 },
          from: yesterday(now, tz, '01:00'),
          to: yesterday(now, tz, '09:00'),
        },
      },
    },
  ];
}
