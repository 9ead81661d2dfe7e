/**
 * `dayi agent calibrate`: the I/O shell. Gets a recording of the signal an instrument's `state`
 * classifies (power_w unless configured otherwise) from one of three sources, and prints the
 * analysis of ./analyze.ts as ./report.ts renders it:
 * - live: starts the instrument's inputs as the agent would (same registry, same config) and records
 *   for the duration, or until Ctrl-C / SIGTERM; the recording is saved as CSV for a second look;
 * - a CSV file (`ts,value`, as a meter exports it, or as saved by a live recording);
 * - the agent's own outbox (the telemetry it has not sent yet: hours of it after an outage).
 * Nothing is published. The report goes to `out` (stdout), everything else (progress, errors,
 * questions) to `err` (stderr), so `calibrate … > report.txt` keeps the report alone.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import pino, { type Logger } from 'pino';
import type { CalibrateConfig, InstrumentConfig } from '../config.ts';
import { createInput, type Input } from '../inputs/index.ts';
import { diskProfiles } from '../inputs/profiles-load.ts';
import { scanRecords } from '../outbox-framing.ts';
import {
  analyzeSeries,
  type Calibration,
  chooseLevels,
  fmt,
  hoursText,
  human,
  type LevelChoice,
  resolveChoice,
} from './analyze.ts';
import { DEFAULT_SETTINGS } from './hours.ts';
import { renderReport, stateSnippet } from './report.ts';
import { formatCsvSeries, parseCsvSeries, Recorder, type Sample, SeriesError } from './series.ts';

export { analyzeSeries, type Calibration, chooseLevels, type Level, type Verdict } from './analyze.ts';
export { renderHistogram, renderReport, stateSnippet } from './report.ts';

/** Progress lines while recording, so a two-hour run visibly lives. */
export const PROGRESS_EVERY_MS = 60_000;
/** Longest recording: one timer's range (2^31 ms is 24.8 days). */
export const MAX_DURATION_MS = 24 * 86_400_000;
/** Default recording length. */
export const DEFAULT_DURATION_MS = 2 * 3_600_000;
/** Distinct input errors printed during one recording; the rest are only counted. */
const MAX_ERROR_LINES = 20;

export type CalibrateSource =
  | { kind: 'live' }
  /** `ts,value` rows; `.gz` is read gzipped. */
  | { kind: 'csv'; file: string }
  /** An agent outbox folder: the instrument's own (`<dir>/<id>`) or the one holding its segments. */
  | { kind: 'outbox'; dir: string };

export interface CalibrateOptions {
  /** Needed for a live recording; otherwise it gives the instrument's state settings. */
  config?: CalibrateConfig;
  /** For messages only; the config is already loaded. */
  configFile?: string;
  /** Required with a config holding more than one instrument. */
  instrumentId?: string;
  source?: CalibrateSource;
  durationMs?: number;
  /** The metric to record; default the instrument's `state.signal`, else power_w. */
  signal?: string;
  runningFrom?: LevelChoice;
  poweredFrom?: LevelChoice;
  /** Live: where the recording is saved as CSV; false: not saved. Default calibration-<id>-<time>.csv. */
  save?: string | false;
  /** Where the report goes; default stdout. */
  out?: Writable;
  /** Progress, errors and questions; default stderr. */
  err?: Writable;
  now?: () => number;
  /**
   * Ends the recording early; the report covers what was recorded. Without it, SIGINT (Ctrl-C) and
   * SIGTERM do the same while recording, and further ones are ignored until the report is out.
   */
  abort?: AbortSignal;
  /** Input logs; default pino on stderr at the config's log level. */
  log?: Logger;
  progressEveryMs?: number;
  /**
   * Asks the technician a question and resolves to the answer (null: none, keep the default). Given
   * when a terminal is attached: the choice of running levels is then asked, not only suggested.
   */
  ask?: (question: string) => Promise<string | null>;
  /** Called with each recorded sample (tests, progress displays). */
  onSample?: (s: Sample) => void;
}

export interface CalibrateResult {
  /** 0: thresholds suggested; 1: none (the report says why) or nothing to analyse; 2: bad option. */
  exitCode: number;
  calibration?: Calibration;
  /** The recording analysed. */
  samples?: Sample[];
  /** Live: the CSV the recording was saved to. */
  savedTo?: string;
}

/** Runs a calibration and prints its report; resolves to the process exit code. */
export async function runCalibrate(opts: CalibrateOptions): Promise<number> {
  return (await calibrate(opts)).exitCode;
}

class CalibrateError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `runCalibrate` that also returns the analysis (for tests and other callers). */
export async function calibrate(opts: CalibrateOptions): Promise<CalibrateResult> {
  const out = opts.out ?? process.stdout;
  const err = opts.err ?? process.stderr;
  const say = (s: string) => err.write(s);
  let signals: SignalGuard | null = null;
  try {
    const source = opts.source ?? { kind: 'live' };
    const inst = pickInstrument(opts);
    // Without an instrument, a file is named after itself.
    const named = inst?.id ?? opts.instrumentId;
    const id = named ?? (source.kind === 'csv' ? basename(source.file) : 'the instrument');
    const signal = opts.signal ?? inst?.state?.signal ?? 'power_w';
    if (signal === 'vendor')
      throw new CalibrateError(
        `${id} takes its state from the instrument itself (state.signal: vendor); there is no signal to calibrate.`,
      );
    const settings = inst?.state
      ? {
          aggregate: inst.state.aggregate,
          window: inst.state.window,
          hysteresis: inst.state.hysteresis,
          minDwell: inst.state.minDwell,
        }
      : DEFAULT_SETTINGS;

    let samples: Sample[];
    let sourceText: string;
    let savedTo: string | undefined;
    if (source.kind === 'csv') {
      samples = readCsv(source.file, signal, say);
      sourceText = source.file;
    } else if (source.kind === 'outbox') {
      samples = readOutbox(source.dir, inst?.id ?? opts.instrumentId, signal);
      sourceText = `the outbox in ${source.dir}`;
    } else {
      if (!inst || !opts.config)
        throw new CalibrateError('a live recording needs -c agent.yaml and the instrument to record', 2);
      // One Ctrl-C (or SIGTERM) ends the recording; the next one, until the report is out, is the
      // same keypress arriving twice (a launcher passes it on too) and must not kill the report.
      if (!opts.abort) signals = signalGuard();
      const recorded = await record(opts, inst, signal, signals, say);
      samples = recorded.samples;
      sourceText = 'a live recording';
      if (samples.length > 0 && opts.save !== false) {
        const file = opts.save ?? defaultSaveName(inst.id, opts.now ?? Date.now);
        try {
          writeFileSync(file, formatCsvSeries(samples, signal));
          savedTo = file;
        } catch (e) {
          say(`dayi agent calibrate: could not save the recording to ${file}: ${(e as Error).message}\n`);
        }
      }
    }
    if (samples.length === 0)
      throw new CalibrateError(
        source.kind === 'live' ? 'nothing was recorded' : `no ${signal} readings in ${sourceText}`,
      );

    let c = analyzeSeries(samples, { signal, settings });
    const problems: string[] = [];
    const check = (choice: LevelChoice | undefined, option: string) => {
      if (!choice || c.verdict !== 'levels') return;
      const r = resolveChoice(c.levels, choice, c.unit);
      if (typeof r === 'string') problems.push(`${option}: ${r}`);
    };
    check(opts.runningFrom, '--running-from');
    check(opts.poweredFrom, '--powered-from');
    if (problems.length > 0) {
      // The report still comes: it lists the levels to choose from.
      for (const p of problems) say(`dayi agent calibrate: ${p}\n`);
    } else if (opts.runningFrom || opts.poweredFrom)
      c = chooseLevels(c, samples, opts.runningFrom, opts.poweredFrom);

    if (savedTo) say(`Recording saved to ${savedTo} (analyse it again with --from-csv ${savedTo}).\n`);
    out.write(
      renderReport(c, {
        instrumentId: id,
        ...(named || source.kind !== 'csv' ? { source: sourceText } : {}),
      }),
    );

    if (opts.ask && c.verdict === 'levels' && !opts.runningFrom && problems.length === 0) {
      const powered = c.levels.filter((l) => l.n >= c.suggestion!.poweredFrom);
      if (powered.length >= 2) c = await askRunning(c, samples, opts.ask, out, say, id);
    }
    if (problems.length > 0) return { exitCode: 2, calibration: c, samples, ...(savedTo ? { savedTo } : {}) };
    return { exitCode: c.suggestion ? 0 : 1, calibration: c, samples, ...(savedTo ? { savedTo } : {}) };
  } catch (e) {
    if (e instanceof CalibrateError) {
      say(`dayi agent calibrate: ${e.message}\n`);
      return { exitCode: e.exitCode };
    }
    if (e instanceof SeriesError) {
      say(`dayi agent calibrate: ${e.message}\n`);
      return { exitCode: 1 };
    }
    throw e;
  } finally {
    signals?.release();
  }
}

/** The instrument to calibrate: the one named, or the only one; undefined without a config. */
function pickInstrument(opts: CalibrateOptions): InstrumentConfig | undefined {
  const list = opts.config?.instruments;
  if (!list) return undefined;
  const where = opts.configFile ?? 'the config';
  if (opts.instrumentId === undefined) {
    if (list.length === 1) return list[0];
    throw new CalibrateError(
      `${where} has ${list.length} instruments: name one with --instrument ID (${list.map((i) => i.id).join(', ')})`,
      2,
    );
  }
  const inst = list.find((i) => i.id === opts.instrumentId);
  if (!inst)
    throw new CalibrateError(
      `no instrument ${JSON.stringify(opts.instrumentId)} in ${where}; it has: ${list.map((i) => i.id).join(', ')}`,
    );
  return inst;
}

function readCsv(file: string, signal: string, say: (s: string) => void): Sample[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new CalibrateError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new CalibrateError(`${file}: not a readable gzip file: ${(e as Error).message}`);
    }
  }
  let parsed: ReturnType<typeof parseCsvSeries>;
  try {
    parsed = parseCsvSeries(buf.toString('utf8'), signal);
  } catch (e) {
    if (e instanceof SeriesError) throw new CalibrateError(`${file}: ${e.message}`);
    throw e;
  }
  if (parsed.empty > 0) say(`(${file}: ${parsed.empty} rows without a value skipped)\n`);
  if (parsed.unordered > 0) say(`(${file}: ${parsed.unordered} rows out of time order, sorted)\n`);
  return parsed.samples;
}

/**
 * The telemetry an agent's outbox holds for an instrument: each message's `metrics[signal]` at its
 * `ts`. Telemetry is the mean over `publishEvery` (10 s by default), so the recording is that coarse.
 */
function readOutbox(dir: string, instrumentId: string | undefined, signal: string): Sample[] {
  const segmentsIn = (d: string) => {
    try {
      return readdirSync(d).filter((f) => /^\d{16}\.seg$/.test(f));
    } catch {
      return [];
    }
  };
  let folder = dir;
  if (segmentsIn(folder).length === 0 && instrumentId) folder = join(dir, instrumentId);
  const files = segmentsIn(folder).sort();
  if (files.length === 0) {
    let exists = true;
    try {
      statSync(dir);
    } catch {
      exists = false;
    }
    throw new CalibrateError(
      exists
        ? `no outbox segments (*.seg) in ${dir}${instrumentId && folder !== dir ? ` or ${folder}` : ''}: the agent has sent everything it recorded (the outbox keeps only what is not yet acknowledged)`
        : `no outbox folder ${dir}`,
    );
  }
  const samples: Sample[] = [];
  for (const f of files) {
    for (const { record } of scanRecords(readFileSync(join(folder, f))).records) {
      if (record.kind !== 'telemetry') continue;
      const p = record.payload as { ts?: unknown; metrics?: Record<string, unknown> };
      const v = p.metrics?.[signal];
      if (typeof p.ts === 'number' && typeof v === 'number') samples.push({ ts: p.ts, value: v });
    }
  }
  samples.sort((a, b) => a.ts - b.ts);
  return samples;
}

function defaultSaveName(id: string, now: () => number): string {
  const d = new Date(now());
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  return `calibration-${id.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.csv`;
}

async function record(
  opts: CalibrateOptions,
  inst: InstrumentConfig,
  signal: string,
  signals: SignalGuard | null,
  say: (s: string) => void,
): Promise<{ samples: Sample[] }> {
  const config = opts.config!;
  const durationMs = opts.durationMs ?? DEFAULT_DURATION_MS;
  if (!(durationMs > 0 && durationMs <= MAX_DURATION_MS))
    throw new CalibrateError('--duration must be above 0 and at most 24d', 2);
  const now = opts.now ?? Date.now;
  const index = config.instruments.indexOf(inst);
  const log = opts.log ?? pino({ level: config.log.level, name: 'dayi-calibrate' }, pino.destination(2));
  const recorder = new Recorder();
  const metricsSeen = new Set<string>();
  const errorsSeen = new Map<string, number>();
  const inputs: Input[] = [];
  const stopAll = async () => {
    await Promise.allSettled(inputs.map((i) => i.stop()));
  };

  const profiles = diskProfiles(config.profilesDir);
  for (const [k, cfg] of inst.inputs.entries()) {
    try {
      inputs.push(await createInput(cfg, { instrumentId: inst.id, log, profiles, now }));
    } catch (e) {
      await stopAll();
      throw new CalibrateError(`instruments.${index}.inputs.${k} (${cfg.type}): ${(e as Error).message}`);
    }
  }

  const started = now();
  say(
    `Recording ${signal} of ${inst.id} from ${inputs.map((i) => i.name).join(', ')} for ${human(durationMs)}; Ctrl-C ends it early and prints the report.\n`,
  );
  for (const input of inputs) {
    await input.start({
      reading(r) {
        for (const name of Object.keys(r.metrics)) metricsSeen.add(name);
        const v = r.metrics[signal];
        if (typeof v !== 'number' || !Number.isFinite(v)) return;
        recorder.add(r.ts, v);
        opts.onSample?.({ ts: r.ts, value: v });
      },
      error(e) {
        const key = `${input.name}: ${e.message}`;
        const n = errorsSeen.get(key) ?? 0;
        errorsSeen.set(key, n + 1);
        if (n === 0 && errorsSeen.size <= MAX_ERROR_LINES) say(`  ! ${key}\n`);
      },
    });
  }

  const ended = await waitFor(
    durationMs,
    opts.abort,
    signals,
    opts.progressEveryMs ?? PROGRESS_EVERY_MS,
    () => {
      const left = durationMs - (now() - started);
      say(`  ${recorder.seen} samples of ${signal}, ${human(Math.max(0, left))} left\n`);
    },
  );
  if (ended !== 'time')
    say(`Recording ended (${ended}) after ${human(now() - started)}; analysing ${recorder.seen} samples.\n`);
  await stopAll();
  if (recorder.length === 0) {
    const names = [...metricsSeen].sort();
    throw new CalibrateError(
      names.length > 0
        ? `no reading carried ${signal}; the inputs gave ${names.join(', ')}. Set the instrument's state.signal to one of them.`
        : `no reading arrived from ${inst.id}'s inputs in ${human(now() - started)}; see the errors above.`,
    );
  }
  if (recorder.resolutionMs > 0)
    say(
      `(${recorder.seen} samples recorded; kept as means over ${human(recorder.resolutionMs)} to bound memory)\n`,
    );
  return { samples: recorder.samples() };
}

async function askRunning(
  c: Calibration,
  samples: Sample[],
  ask: (q: string) => Promise<string | null>,
  out: Writable,
  say: (s: string) => void,
  id: string,
): Promise<Calibration> {
  const s = c.suggestion!;
  const first = s.poweredFrom;
  const last = c.levels.length;
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = await ask(
      `Which level starts running (work)? A level number ${first}-${last}, or a value such as ${fmt(c.levels[last - 1]!.low, c.unit).replace(' ', '')}; Enter keeps level ${s.runningFrom}: `,
    );
    if (answer === null || answer.trim() === '') return c;
    const choice = parseLevelChoice(answer.trim(), c.unit);
    if (typeof choice === 'string') {
      say(`${choice}\n`);
      continue;
    }
    const r = resolveChoice(c.levels, choice, c.unit);
    if (typeof r === 'string') {
      say(`${r}\n`);
      continue;
    }
    const next = chooseLevels(c, samples, choice, { level: s.poweredFrom });
    const n = next.suggestion!;
    const h = n.hours;
    out.write(
      `\nWith running from ${'at' in r && r.at !== undefined ? fmt(r.at, c.unit) : `level ${r.level.n}`}, the state for ${id} is:\n\n${stateSnippet(
        next,
      )!
        .split('\n')
        .map((l) => (l ? `    ${l}` : l))
        .join(
          '\n',
        )}\nOn this recording it gives: powered ${hoursText(h.poweredHours)}, running ${hoursText(h.runningHours)}, ${h.changes} state changes.\n`,
    );
    return next;
  }
  return c;
}

/**
 * `--running-from` / `--powered-from` and the interactive answer: a level number (`2`) or a value
 * with the signal's unit (`300W`, `1.2kW`, `0.5A`). Returns an error text for anything else.
 */
export function parseLevelChoice(text: string, unit: string): LevelChoice | string {
  if (/^\d+$/.test(text)) return { level: Number(text) };
  const m = /^(\d+(?:\.\d+)?)\s*(m|k|M)?([A-Za-z°]+)?$/.exec(text);
  if (m) {
    const [, num, prefix, u] = m;
    const scale = prefix === 'm' ? 1e-3 : prefix === 'k' ? 1e3 : prefix === 'M' ? 1e6 : 1;
    if (u === undefined && prefix === undefined)
      return `${JSON.stringify(text)}: a value needs its unit (${unit ? `e.g. ${text}${unit}` : 'or give a level number'}); a whole number is a level number`;
    if (unit && u !== undefined && u.toLowerCase() !== unit.toLowerCase())
      return `${JSON.stringify(text)}: the signal is in ${unit}, not ${u}`;
    return { value: Number(num) * scale };
  }
  return `${JSON.stringify(text)} is neither a level number (1, 2, …) nor a value such as 300${unit || ''}`;
}

interface SignalGuard {
  /** Resolves with the signal's name at the first SIGINT or SIGTERM. */
  first: Promise<string>;
  release(): void;
}

function signalGuard(): SignalGuard {
  let resolveFirst: (s: string) => void = () => {};
  const first = new Promise<string>((r) => {
    resolveFirst = r;
  });
  let count = 0;
  const on = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) resolveFirst(sig === 'SIGINT' ? 'Ctrl-C' : sig);
    // A third one is the technician insisting: stop without the report.
    else if (count >= 3) {
      process.stderr.write('dayi agent calibrate: aborted without a report\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  process.on('SIGHUP', on);
  return {
    first,
    release() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      process.off('SIGHUP', on);
    },
  };
}

/** Waits `ms`, or until aborted, or until the first SIGINT/SIGTERM; resolves with what ended it. */
function waitFor(
  ms: number,
  abort: AbortSignal | undefined,
  signals: SignalGuard | null,
  progressMs: number,
  progress: () => void,
): Promise<string> {
  return new Promise((resolve) => {
    const ticker = setInterval(progress, progressMs);
    let over = false;
    const done = (why: string) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      clearInterval(ticker);
      abort?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onAbort = () => done('aborted');
    const timer = setTimeout(() => done('time'), ms);
    if (abort) {
      if (abort.aborted) return done('aborted');
      abort.addEventListener('abort', onAbort, { once: true });
    }
    signals?.first.then(done);
  });
}
