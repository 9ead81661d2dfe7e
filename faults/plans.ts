/** The figures each scenario runs with: `full` for `npm run faults`, `short` for CI (seconds each). */
import {
  diskFullScenario,
  influxScenario,
  killScenario,
  partitionScenario,
  reconnectScenario,
  rederiveScenario,
  type ScenarioResult,
} from './scenarios.ts';

type Plan = Record<'full' | 'short', () => Promise<ScenarioResult>>;

export const SCENARIOS: Record<string, Plan> = {
  kill9: {
    full: () => killScenario({ agents: 200, perSecond: 5, seconds: 20, downMs: 2000 }),
    short: () => killScenario({ agents: 20, perSecond: 10, seconds: 3, downMs: 300 }),
  },
  reconnect: {
    full: () => reconnectScenario({ agents: 2000, perSecond: 0.5, seconds: 10 }),
    short: () => reconnectScenario({ agents: 50, perSecond: 2, seconds: 2 }),
  },
  rederive: {
    full: () => rederiveScenario({ agents: 200, perSecond: 5, history: 200_000, baselineSeconds: 5 }),
    short: () => rederiveScenario({ agents: 20, perSecond: 5, history: 5_000, baselineSeconds: 1 }),
  },
  partition: {
    full: () =>
      partitionScenario({
        publishEveryMs: 100,
        lossySeconds: 20,
        cutSeconds: 120,
        delayMs: 50,
        lossPercent: 5,
      }),
    short: () =>
      partitionScenario({ publishEveryMs: 100, lossySeconds: 2, cutSeconds: 3, delayMs: 20, lossPercent: 5 }),
  },
  'disk-full': {
    full: () => diskFullScenario({ agents: 50, perSecond: 20, sizeMiB: 16, grownMiB: 256, fullSeconds: 20 }),
    short: () => diskFullScenario({ agents: 10, perSecond: 50, sizeMiB: 4, grownMiB: 64, fullSeconds: 2 }),
  },
  'influx-down': {
    full: () => influxScenario({ agents: 100, perSecond: 5, seconds: 20, downSeconds: 60 }),
    short: () => influxScenario({ agents: 10, perSecond: 10, seconds: 2, downSeconds: 3 }),
  },
};
