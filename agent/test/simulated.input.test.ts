import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type State, stateSchema } from '@dayi/protocols';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig, parseAgentConfig } from '../src/config.ts';
import { diskProfiles } from '../src/inputs/profiles-load.ts';
import {
  create,
  localTime,
  type SimulatedInputConfig,
  simulatedSample,
} from '../src/inputs/simulated/index.ts';
import { schema } from '../src/inputs/simulated/schema.ts';
import type { Reading } from '../src/inputs/types.ts';

const deps = {
  instrumentId: 'SIM-1',
  log: pino({ level: 'silent' }),
  profiles: diskProfiles('/nonexistent'),
};
const cfg = (over: Record<string, unknown> = {}) => schema.parse({ type: 'simulated', ...over });

/** A clock the test moves by hand; setInterval callbacks run when it passes their time. */
function fakeClock(start: number) {
  let now = start;
  const timers = new Map<number, { fn: () => void; every: number; next: number }>();
  let nextHandle = 1;
  return {
    now: () => now,
    setInterval(fn: () => void, every: number) {
      const h = nextHandle++;
      timers.set(h, { fn, every, next: now + every });
      return h;
    },
    clearInterval(h: unknown) {
      timers.delete(h as number);
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.values()].filter((t) => t.next <= end).sort((a, b) => a.next - b.next)[0];
        if (!due) break;
        now = due.next;
        due.next += due.every;
        due.fn();
      }
      now = end;
    },
    get pending() {
      return timers.size;
    },
  };
}

// Monday 2026-11-02 00:00 in Asia/Shanghai.
const MONDAY = Date.UTC(2026, 10, 1, 16, 0, 0);
const H = 3_600_000;

describe('simulated input', () => {
  it('office-hours: standby at night, running mornings and afternoons, idle over lunch, standby on weekends', () => {
    const c = cfg({ pattern: 'office-hours', noise: 0 });
    const at = (hours: number) => simulatedSample(c, MONDAY + hours * H).state;
    expect(localTime(MONDAY, 'Asia/Shanghai')).toMatchObject({ minutes: 0, weekday: 1 });
    expect([at(3), at(10.5), at(12.5), at(15), at(18), at(22)]).toEqual([
      'standby',
      'running',
      'idle',
      'running',
      'idle',
      'standby',
    ]);
    expect(at(5 * 24 + 10.5)).toBe('standby'); // Saturday
    expect(simulatedSample(c, MONDAY + 10.5 * H).watts).toBe(900);
  });

  it('night-run: running overnight, idle by day', () => {
    const c = cfg({ pattern: 'night-run', noise: 0 });
    expect(simulatedSample(c, MONDAY + 2 * H).state).toBe('running');
    expect(simulatedSample(c, MONDAY + 14 * H).state).toBe('idle');
  });

  it('noise is seeded: same seed, same curve; another seed, another curve; bounded by `noise`', () => {
    const a = cfg({ pattern: 'constant', level: 'running', noise: 0.05, seed: 1 });
    const b = cfg({ pattern: 'constant', level: 'running', noise: 0.05, seed: 2 });
    const ts = Array.from({ length: 200 }, (_, i) => MONDAY + i * 1000);
    const wa = ts.map((t) => simulatedSample(a, t).watts);
    expect(ts.map((t) => simulatedSample(a, t).watts)).toEqual(wa);
    expect(ts.map((t) => simulatedSample(b, t).watts)).not.toEqual(wa);
    for (const w of wa) expect(Math.abs(w - 900)).toBeLessThanOrEqual(45.1);
    expect(new Set(wa).size).toBeGreaterThan(50);
  });

  it('reads at `every` on an injected clock, with power, current and voltage, and reports link state', async () => {
    const clock = fakeClock(MONDAY);
    const input = create(
      cfg({
        pattern: 'steps',
        every: '1s',
        noise: 0,
        steps: [
          { watts: 900, for: '3s' },
          { watts: 0, for: '2s', link: false },
          { watts: 20, for: '2s', state: 'fault' },
        ],
      }),
      deps,
      clock,
    );
    const readings: Reading[] = [];
    const errors: string[] = [];
    const links: boolean[] = [];
    await input.start({
      reading: (r) => {
        readings.push(r);
        links.push(input.link().connected);
      },
      error: (err, ctx) => {
        errors.push(`${err.message} ${String(ctx.input)}`);
        links.push(input.link().connected);
      },
    });
    clock.advance(6000);
    expect(readings.map((r) => [(r.ts - MONDAY) / 1000, r.metrics.power_w, r.state ?? null])).toEqual([
      [0, 900, null],
      [1, 900, null],
      [2, 900, null],
      [5, 20, 'fault'],
      [6, 20, 'fault'],
    ]);
    expect(readings[0]!.metrics).toEqual({ power_w: 900, current_a: 3.913, voltage_v: 230 });
    expect(errors).toEqual(['simulated device not answering simulated steps']);
    expect(links).toEqual([true, true, true, false, true, true]);
    expect(input.link().connected).toBe(true);
    await input.stop();
    await input.stop();
    expect(clock.pending).toBe(0);
    expect(input.link().connected).toBe(false);
  });

  it('reportState sends the schedule state as the vendor state', async () => {
    const clock = fakeClock(MONDAY + 10.5 * H);
    const input = create(cfg({ pattern: 'office-hours', reportState: true }), deps, clock);
    const states: State[] = [];
    await input.start({ reading: (r) => r.state && states.push(r.state), error: () => {} });
    await input.stop();
    expect(states).toEqual(['running']);
    expect(stateSchema.options).toContain(states[0]);
  });

  it('config errors name their path', () => {
    const bad = (yaml: string) => {
      try {
        parseAgentConfig(`agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1" }\ninstruments:\n${yaml}`);
      } catch (err) {
        return (err as { issues: { path: string }[] }).issues.map((i) => i.path);
      }
      return [];
    };
    expect(
      bad(
        '  - { id: A, inputs: [ { type: simulated, pattern: weekly, noise: 2, timezone: Mars/Olympus } ] }',
      ),
    ).toEqual(['instruments.0.inputs.0.pattern', 'instruments.0.inputs.0.noise']);
    expect(bad('  - { id: A, inputs: [ { type: simulated, timezone: Mars/Olympus } ] }')).toEqual([
      'instruments.0.inputs.0.timezone',
    ]);
    expect(
      bad('  - { id: A, inputs: [ { type: simulated, steps: [ { watts: 5, for: forever } ] } ] }'),
    ).toEqual(['instruments.0.inputs.0.steps.0.for']);
  });
});

describe('simulated input docs', () => {
  const dir = join(import.meta.dirname, '..', 'src', 'inputs', 'simulated');
  it('sample.yaml is a valid agent.yaml, and the README example reading is what it produces', () => {
    const config = loadAgentConfig(join(dir, 'sample.yaml'), { DAYI_AGENT_PW: 'secret' });
    const nmr = config.instruments[0]!.inputs[0] as SimulatedInputConfig;
    expect(nmr.type).toBe('simulated');
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const m = /"ts": ?(\d+), "metrics": ?\{ ?"power_w": ?([\d.]+), ?"current_a": ?([\d.]+)/.exec(readme)!;
    const sample = simulatedSample(nmr, Number(m[1]));
    expect(sample.watts).toBe(Number(m[2]));
    expect(Math.round((sample.watts / nmr.voltage) * 1000) / 1000).toBe(Number(m[3]));
    expect(sample.state).toBe('running');
    const steps = config.instruments[1]!.inputs[0] as SimulatedInputConfig;
    expect(steps.steps?.map((s) => s.for)).toEqual([300_000, 120_000, 60_000, 60_000]);
  });
});
