/**
 * Golden cases of the pure detectors (collector/src/detect/): for each anomaly type a lab week in
 * which it happens once, at a known time, and the normal week in which nothing fires. The expected
 * episodes were worked out by hand from the scenario (see each case). Every case is also replayed
 * in a shuffled order: the same episodes come out.
 */
import { describe, expect, it } from 'vitest';
import { detectAll, episodes, type Finding } from '../src/detect/index.ts';
import type { AnomalyConfig } from '../src/detect/settings.ts';
import type { Interval } from '../src/detect/types.ts';
import {
  event,
  LEVEL,
  MINUTE,
  messagesOf,
  noisy,
  type Reading,
  readings,
  settingsOf,
  status,
  t,
} from './helpers/detect-week.ts';
import { shuffled } from './helpers/e2e-mqtt.ts';

const TUE = '2026-11-17';
const WED = '2026-11-18';
const THU = '2026-11-19';
const FRI = '2026-11-20';
const SAT = '2026-11-21';
const SUN = '2026-11-22';

type Ep = [type: string, start: number, end: number | null, sticky?: boolean];

interface Case {
  rs: Reading[];
  extra?: Parameters<typeof messagesOf>[1];
  anomaly?: AnomalyConfig;
  bookings?: Interval[];
}

function run(c: Case, order: 'as arrived' | 'shuffled' = 'as arrived'): Finding[] {
  const messages = messagesOf(c.rs, c.extra);
  const last = Math.max(...messages.map((m) => m.receivedAt));
  return detectAll({
    settings: settingsOf(c.anomaly),
    messages: order === 'shuffled' ? shuffled(messages, 7) : messages,
    bookings: c.bookings ?? [],
    now: last + MINUTE,
  });
}

function eps(c: Case, order: 'as arrived' | 'shuffled' = 'as arrived'): Ep[] {
  return episodes(run(c, order)).map((f) =>
    f.sticky ? [f.type, f.start, f.end, true] : [f.type, f.start, f.end],
  );
}

/** Changes the readings inside [from, to) with `f`. */
function during(from: number, to: number, f: (r: Reading, i: number) => Reading | null) {
  let i = 0;
  return (ts: number, r: Reading) => (ts >= from && ts < to ? f(r, i++) : r);
}

const running = (watts: number) => (r: Reading, i: number) => ({ ...r, watts: noisy(watts, 10_000 + i) });

function expectCase(c: Case, expected: Ep[]): void {
  expect(eps(c)).toEqual(expected);
  expect(eps(c, 'shuffled')).toEqual(expected);
}

describe('the normal week', () => {
  it('is quiet: three weeks of office use, no finding of any type', () => {
    const c = { rs: readings() };
    expect(eps(c)).toEqual([]);
    expect(eps(c, 'shuffled')).toEqual([]);
  });
});

describe('golden cases: each detector fires once, at the time it happened', () => {
  it('power_out_of_band: Wednesday 14:00–14:20 at 2200 W instead of ~1500 (learned band ±~200 W)', () => {
    expectCase({ rs: readings(during(t(WED, '14:00'), t(WED, '14:20'), running(2200))) }, [
      ['power_out_of_band', t(WED, '14:00'), t(WED, '14:20')],
    ]);
  });

  it('power_out_of_band with a configured band: running [400, 1400] makes the same week fire every run', () => {
    const f = episodes(run({ rs: readings(), anomaly: { powerBand: { running: [400, 1400] } } }));
    // 15 weekdays, two runs a day; 1500 ± 3 % is above 1400 in most minutes but not all, so runs
    // break into several episodes: at least one per run.
    const runs = f.filter((x) => x.type === 'power_out_of_band');
    expect(runs.length).toBeGreaterThanOrEqual(30);
    expect(runs[0]!.detail).toMatchObject({ state: 'running', band: [400, 1400], bandSource: 'configured' });
  });

  it('power_out_of_band: 4 minutes outside is not enough', () => {
    expectCase({ rs: readings(during(t(WED, '14:00'), t(WED, '14:04'), running(2200))) }, []);
  });

  it('level_shift: from Wednesday 09:00 the runs draw 1620 W (+8 %, inside the band): CUSUM onset 09:00, still on', () => {
    expectCase(
      {
        rs: readings(
          during(t(WED, '09:00'), t(SAT, '00:00'), (r, i) => (r.watts > 1000 ? running(1620)(r, i) : r)),
        ),
      },
      [['level_shift', t(WED, '09:00'), null]],
    );
  });

  it('level_shift: a 20-minute burst is power_out_of_band only, not a new level', () => {
    const f = eps({ rs: readings(during(t(WED, '14:00'), t(WED, '14:20'), running(2200))) });
    expect(f.map((e) => e[0])).toEqual(['power_out_of_band']);
  });

  it('short_cycling: Thursday 10:00–11:00 flips between idle and running every 4 min (16 changes > 12)', () => {
    const flip = (r: Reading) => {
      const block = Math.floor((r.ts - t(THU, '10:00')) / (4 * MINUTE));
      return { ...r, watts: noisy(block % 2 === 0 ? LEVEL.idle : LEVEL.running, r.ts / MINUTE) };
    };
    // Changes at 10:00, 10:04, …, 10:56, 11:00: the 13th (10:48) makes 13 within an hour of the
    // first (10:00); the last change before noon is at 11:00, so the sliding hour holds 12 or
    // fewer again when 10:12 leaves it, at 11:12.
    expectCase({ rs: readings(during(t(THU, '10:00'), t(THU, '11:00'), flip)) }, [
      ['short_cycling', t(THU, '10:00'), t(THU, '11:12')],
    ]);
  });

  it('short_cycling respects the instrument override (maxChangesPerHour 20: quiet)', () => {
    const flip = (r: Reading) => {
      const block = Math.floor((r.ts - t(THU, '10:00')) / (4 * MINUTE));
      return { ...r, watts: noisy(block % 2 === 0 ? LEVEL.idle : LEVEL.running, r.ts / MINUTE) };
    };
    expectCase(
      {
        rs: readings(during(t(THU, '10:00'), t(THU, '11:00'), flip)),
        anomaly: { shortCycle: { maxChangesPerHour: 20 } },
      },
      [],
    );
  });

  it('long_run: running from Thursday 09:00 to Saturday 12:00 (51 h > 48 h): fires at Saturday 09:00', () => {
    expectCase(
      {
        rs: readings(during(t(THU, '09:00'), t(SAT, '12:00'), running(LEVEL.running))),
        anomaly: { disabled: ['out_of_hours'] },
      },
      [['long_run', t(SAT, '09:00'), t(SAT, '12:00')]],
    );
  });

  it('long_run with longRunHours 24 fires at Friday 09:00 instead', () => {
    expectCase(
      {
        rs: readings(during(t(THU, '09:00'), t(SAT, '12:00'), running(LEVEL.running))),
        anomaly: { disabled: ['out_of_hours'], longRunHours: 24 },
      },
      [['long_run', t(FRI, '09:00'), t(SAT, '12:00')]],
    );
  });

  it('out_of_hours: Tuesday 20:00–22:00 running, outside Mon-Fri 08:00-18:00, no booking', () => {
    expectCase({ rs: readings(during(t(TUE, '20:00'), t(TUE, '22:00'), running(LEVEL.running))) }, [
      ['out_of_hours', t(TUE, '20:00'), t(TUE, '22:00')],
    ]);
  });

  it('out_of_hours: a booking 19:30–23:00 covers it (quiet); one 20:00–21:00 leaves 21:00–22:00', () => {
    const rs = readings(during(t(TUE, '20:00'), t(TUE, '22:00'), running(LEVEL.running)));
    expectCase({ rs, bookings: [{ start: t(TUE, '19:30'), end: t(TUE, '23:00') }] }, []);
    expectCase({ rs, bookings: [{ start: t(TUE, '20:00'), end: t(TUE, '21:00') }] }, [
      ['out_of_hours', t(TUE, '21:00'), t(TUE, '22:00')],
    ]);
  });

  it('out_of_hours: running until 18:05 (5 min over) is not enough', () => {
    expectCase({ rs: readings(during(t(TUE, '17:30'), t(TUE, '18:05'), running(LEVEL.running))) }, []);
  });

  it('vendor_fault: a fault state Wednesday 15:00–15:10 with the agent’s event, and an event alone on Thursday', () => {
    const rs = readings(during(t(WED, '15:00'), t(WED, '15:10'), (r) => ({ ...r, state: 'fault' })));
    expectCase(
      { rs, extra: [event(t(WED, '15:00'), 'vendor_fault'), event(t(THU, '12:00'), 'vendor_fault')] },
      [
        ['vendor_fault', t(WED, '15:00'), t(WED, '15:00'), true],
        ['vendor_fault', t(WED, '15:00'), t(WED, '15:10')],
        ['vendor_fault', t(THU, '12:00'), t(THU, '12:00'), true],
      ],
    );
  });

  it('sensor_stuck: the same reading Wednesday 10:00–11:00 (60 samples) while running', () => {
    expectCase({ rs: readings(during(t(WED, '10:00'), t(WED, '11:00'), (r) => ({ ...r, watts: 1503.2 }))) }, [
      ['sensor_stuck', t(WED, '10:00'), t(WED, '11:00')],
    ]);
  });

  it('sensor_stuck: 59 equal samples are not enough; staleSamples 30 makes 30 enough', () => {
    const rs = readings(during(t(WED, '10:00'), t(WED, '10:59'), (r) => ({ ...r, watts: 1503.2 })));
    expectCase({ rs }, []);
    expectCase({ rs, anomaly: { staleSamples: 30 } }, [['sensor_stuck', t(WED, '10:00'), t(WED, '10:59')]]);
  });

  it('sensor_stuck: impossible readings, negative power and current at zero voltage, are points', () => {
    const rs = readings((ts, r) => {
      if (ts === t(THU, '10:30')) return { ...r, watts: -5 };
      if (ts === t(THU, '11:00')) return { ...r, metrics: { voltage_v: 0, current_a: 3.1 } };
      return r;
    });
    const f = run({ rs });
    expect(episodes(f).map((e) => [e.type, e.start, e.end, e.detail.reason])).toEqual([
      ['sensor_stuck', t(THU, '10:30'), t(THU, '10:30'), 'negative_power'],
      ['sensor_stuck', t(THU, '11:00'), t(THU, '11:00'), 'current_without_voltage'],
    ]);
  });

  it('clock_skew: the agent’s clock 5 min ahead on Saturday 09:00–12:00, from the first message', () => {
    const rs = readings(
      during(t(SAT, '09:00'), t(SAT, '12:00'), (r) => ({
        ...r,
        ts: r.ts + 5 * MINUTE,
        receivedAt: r.ts + 200,
      })),
    );
    expectCase({ rs }, [['clock_skew', t(SAT, '09:00') + 200, t(SAT, '12:00') + 200]]);
  });

  it('clock_skew: 5 min behind from Sunday 00:00: flagged once 10 minutes of arrivals agree', () => {
    const rs = readings(
      during(t(SUN, '00:00'), t('2026-11-23', '00:00'), (r) => ({
        ...r,
        ts: r.ts - 5 * MINUTE,
        receivedAt: r.ts + 200,
      })),
    );
    expectCase({ rs }, [['clock_skew', t(SUN, '00:09') + 200, null]]);
  });

  it('an outbox replay is not skew: Wednesday 10:00–11:00 arrives at 11:00 in one burst (offline meanwhile)', () => {
    const rs = readings(
      during(t(WED, '10:00'), t(WED, '11:00'), (r, i) => ({ ...r, receivedAt: t(WED, '11:00') + i })),
    );
    // The link was silent from 09:59:00.2: offline 5 min later, until the first replayed message.
    expectCase({ rs }, [['offline', t(WED, '09:59') + 200 + 5 * MINUTE, t(WED, '11:00')]]);
  });

  it('data_gap: the agent’s data_gap event on Thursday 12:00 (outbox full, 2 h of telemetry dropped)', () => {
    const gap = event(t(THU, '12:00'), 'data_gap', {
      reason: 'outbox full',
      dropped: { telemetry: 120 },
      from: t(THU, '10:00'),
      to: t(THU, '11:59'),
    });
    const f = run({ rs: readings(), extra: [gap] });
    expect(episodes(f)).toEqual([
      {
        type: 'data_gap',
        start: t(THU, '12:00'),
        end: t(THU, '12:00'),
        sticky: true,
        severity: 'warning',
        detail: {
          source: 'agent_event',
          fromAt: t(THU, '10:00'),
          toAt: t(THU, '11:59'),
          reason: 'outbox full',
          dropped: { telemetry: 120 },
        },
      },
    ]);
  });

  it('offline: the agent’s will on Friday 10:00, back (status online:true) at 10:30', () => {
    const rs = readings((ts, r) => (ts >= t(FRI, '10:00') && ts < t(FRI, '10:30') ? null : r));
    const extra = [
      status(t(FRI, '08:00'), false, t(FRI, '10:00') + 200),
      status(t(FRI, '10:30'), true, t(FRI, '10:30') + 100),
    ];
    expectCase({ rs, extra }, [['offline', t(FRI, '10:00') + 200, t(FRI, '10:30') + 100]]);
  });

  it('offline: silence at the end of the data is offline from offlineAfter after the last arrival, still on', () => {
    const messages = messagesOf(readings());
    const last = Math.max(...messages.map((m) => m.receivedAt));
    const f = detectAll({ settings: settingsOf(), messages, now: last + 60 * MINUTE });
    expect(episodes(f).map((e) => [e.type, e.start, e.end])).toEqual([['offline', last + 5 * MINUTE, null]]);
  });

  it('offline: a collector restart does not count as the instrument’s silence', () => {
    const messages = messagesOf(readings());
    const last = Math.max(...messages.map((m) => m.receivedAt));
    // The collector was down, came back 20 min later; 3 min after that nothing arrived yet.
    const f = detectAll({
      settings: settingsOf(),
      messages,
      starts: [last + 20 * MINUTE],
      now: last + 23 * MINUTE,
    });
    expect(episodes(f)).toEqual([]);
  });

  it('offline: the will the collector’s own broker publishes as it shuts down is not the agent’s', () => {
    // The collector stops on Friday 10:00 (its broker drops every connection and publishes the
    // wills) and is back at 10:02; the agent reconnects at once.
    const rs = readings((ts, r) => (ts >= t(FRI, '10:00') && ts < t(FRI, '10:02') ? null : r));
    const messages = messagesOf(rs, [status(t(FRI, '08:00'), false, t(FRI, '10:00') + 50)]);
    const last = Math.max(...messages.map((m) => m.receivedAt));
    const f = detectAll({ settings: settingsOf(), messages, now: last + MINUTE });
    expect(episodes(f).map((e) => e.type)).toEqual(['offline']);
    const calm = detectAll({
      settings: settingsOf(),
      messages,
      starts: [t(FRI, '10:02')],
      shutdowns: [{ from: t(FRI, '10:00'), to: t(FRI, '10:02') }],
      now: last + MINUTE,
    });
    expect(episodes(calm)).toEqual([]);
  });

  it('a detector switched off for the instrument stays quiet', () => {
    expectCase(
      {
        rs: readings(during(t(WED, '14:00'), t(WED, '14:20'), running(2200))),
        anomaly: { disabled: ['power_out_of_band'] },
      },
      [],
    );
  });
});
