/**
 * `dayi agent calibrate -c agent.yaml --instrument ID --duration 2h`: the I/O shell. Starts the
 * instrument's inputs as the agent would (same registry, same config), records the signal its
 * `state` classifies (power_w unless configured otherwise) for the duration, then prints the
 * analysis of ./analyze.ts as ./report.ts renders it. Nothing is published: the agent itself may
 * keep running beside it, if the inputs allow two readers (Modbus TCP does; a serial port does not).
 */
import type { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { AgentConfig } from '../config.ts';
import { createInput, type Input } from '../inputs/index.ts';
import { diskProfiles } from '../inputs/profiles-load.ts';
import { analyzeSignal, type Calibration } from './analyze.ts';
import { renderReport } from './report.ts';

export { analyzeSignal, type Calibration, type Cluster, type ClusterLabel, type Verdict } from './analyze.ts';
export { renderHistogram, renderReport, stateSnippet } from './report.ts';

/** Progress lines while recording, so a two-hour run visibly lives. */
export const PROGRESS_EVERY_MS = 60_000;
/** Longest recording: one timer's range (2^31 ms is 24.8 days). */
export const MAX_DURATION_MS = 24 * 86_400_000;
/**
 * Most values kept for the analysis (8 MB). Beyond it a uniform random subset is kept (reservoir
 * sampling), which has the same distribution: a 24-day recording at 10 Hz fits.
 */
export const MAX_KEPT_SAMPLES = 1_000_000;
/** Distinct input errors printed during one recording; the rest are only counted. */
const MAX_ERROR_LINES = 20;

export interface CalibrateOptions {
  config: AgentConfig;
  /** For messages only; the config is already loaded. */
  configFile?: string;
  instrumentId: string;
  durationMs: number;
  /** The metric to record; default the instrument's `state.signal`, else power_w. */
  signal?: string;
  /** Where the report goes; default stdout. */
  out?: Writable;
  now?: () => number;
  /**
   * Ends the recording early; the report covers what was recorded. Without it, SIGINT (Ctrl-C) and
   * SIGTERM do the same while recording.
   */
  abort?: AbortSignal;
  /** Input logs; default pino on stderr at the config's log level. */
  log?: Logger;
  progressEveryMs?: number;
}

export interface CalibrateResult {
  /** 0: a report was printed; 1: nothing to analyse (bad instrument, signal, or no samples). */
  exitCode: number;
  calibration?: Calibration;
}

/** Runs a calibration and prints its report; resolves to the process exit code. */
export async function runCalibrate(opts: CalibrateOptions): Promise<number> {
  return (await calibrate(opts)).exitCode;
}

/** `runCalibrate` that also returns the analysis (for tests and other callers). */
export async function calibrate(opts: CalibrateOptions): Promise<CalibrateResult> {
  const out = opts.out ?? process.stdout;
  const write = (s: string) => out.write(s);
  const now = opts.now ?? Date.now;
  const index = opts.config.instruments.findIndex((i) => i.id === opts.instrumentId);
  const inst = opts.config.instruments[index];
  if (!inst) {
    const ids = opts.config.instruments.map((i) => i.id).join(', ');
    write(
      `dayi agent calibrate: no instrument ${JSON.stringify(opts.instrumentId)} in ${opts.configFile ?? 'the config'}; it has: ${ids}\n`,
    );
    return { exitCode: 1 };
  }
  const signal = opts.signal ?? inst.state?.signal ?? 'power_w';
  if (signal === 'vendor') {
    write(
      `dayi agent calibrate: ${inst.id} takes its state from the instrument itself (state.signal: vendor); there is no signal to calibrate.\n`,
    );
    return { exitCode: 1 };
  }
  if (!(opts.durationMs > 0 && opts.durationMs <= MAX_DURATION_MS)) {
    write('dayi agent calibrate: --duration must be above 0 and at most 24d\n');
    return { exitCode: 1 };
  }

  const log = opts.log ?? pino({ level: opts.config.log.level, name: 'dayi-calibrate' }, pino.destination(2));
  const values: number[] = [];
  let seen = 0;
  const metricsSeen = new Set<string>();
  const errorsSeen = new Map<string, number>();
  const inputs: Input[] = [];
  const stopAll = async () => {
    await Promise.allSettled(inputs.map((i) => i.stop()));
  };

  const profiles = diskProfiles(opts.config.profilesDir);
  for (const [k, cfg] of inst.inputs.entries()) {
    try {
      inputs.push(await createInput(cfg, { instrumentId: inst.id, log, profiles, now }));
    } catch (err) {
      write(
        `dayi agent calibrate: instruments.${index}.inputs.${k} (${cfg.type}): ${(err as Error).message}\n`,
      );
      await stopAll();
      return { exitCode: 1 };
    }
  }

  const started = now();
  write(
    `Recording ${signal} of ${inst.id} from ${inputs.map((i) => i.name).join(', ')} for ${minutes(opts.durationMs)}; Ctrl-C ends early and prints the report.\n`,
  );
  for (const input of inputs) {
    await input.start({
      reading(r) {
        for (const name of Object.keys(r.metrics)) metricsSeen.add(name);
        const v = r.metrics[signal];
        if (typeof v !== 'number') return;
        seen++;
        if (values.length < MAX_KEPT_SAMPLES) values.push(v);
        else {
          const k = Math.floor(Math.random() * seen);
          if (k < MAX_KEPT_SAMPLES) values[k] = v;
        }
      },
      error(err) {
        const key = `${input.name}: ${err.message}`;
        const n = errorsSeen.get(key) ?? 0;
        errorsSeen.set(key, n + 1);
        if (n === 0 && errorsSeen.size <= MAX_ERROR_LINES) write(`  ! ${key}\n`);
      },
    });
  }

  await waitFor(opts.durationMs, opts.abort, opts.progressEveryMs ?? PROGRESS_EVERY_MS, () => {
    const left = opts.durationMs - (now() - started);
    write(`  ${seen} samples of ${signal}, ${minutes(Math.max(0, left))} left\n`);
  });
  await stopAll();
  const recordedMs = now() - started;

  const calibration = analyzeSignal(values, { signal });
  if (values.length === 0) {
    const names = [...metricsSeen].sort();
    write(
      names.length > 0
        ? `\nNo reading carried ${signal}; the inputs gave ${names.join(', ')}. Set the instrument's state.signal to one of them.\n`
        : `\nNo reading arrived from ${inst.id}'s inputs in ${minutes(recordedMs)}; see the errors above.\n`,
    );
    return { exitCode: 1, calibration };
  }
  if (seen > values.length) {
    write(`\n(${seen} samples recorded; the analysis uses a uniform random ${values.length} of them)\n`);
  }
  write(`\n${renderReport(calibration, { instrumentId: inst.id, recordedMs })}`);
  return { exitCode: calibration.verdict === 'too_few_samples' ? 1 : 0, calibration };
}

function minutes(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  const m = Math.round(ms / 60_000);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Waits `ms`, or until aborted (or, without an AbortSignal, until SIGINT/SIGTERM). */
function waitFor(
  ms: number,
  abort: AbortSignal | undefined,
  progressMs: number,
  progress: () => void,
): Promise<void> {
  return new Promise((resolve) => {
    const ticker = setInterval(progress, progressMs);
    const done = () => {
      clearTimeout(timer);
      clearInterval(ticker);
      abort?.removeEventListener('abort', done);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (abort) {
      if (abort.aborted) return done();
      abort.addEventListener('abort', done, { once: true });
    } else {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    }
  });
}
