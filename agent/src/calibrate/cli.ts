/**
 * `dayi agent calibrate …`: options, help and the terminal. A config-time path (it loads YAML and
 * zod through ../config.ts), never reached by the agent service's run-time process.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError, parseDuration } from '@dayi/protocols';
import { type CalibrateConfig, exposedSecretsWarning, loadCalibrateConfig } from '../config.ts';
import type { LevelChoice } from './analyze.ts';
import {
  type CalibrateOptions,
  type CalibrateSource,
  calibrate,
  MAX_DURATION_MS,
  parseLevelChoice,
} from './index.ts';

export const CALIBRATE_HELP = `Usage: dayi agent calibrate -c agent.yaml [--instrument ID] [--duration 2h]   record live, then report
       dayi agent calibrate --from-csv FILE [-c agent.yaml --instrument ID]   report on a recording

Suggests the state: block (thresholds and hysteresis) for one instrument from its recorded power
(or the metric its state.signal names), and prints the powered and running hours that block gives
on the recording, computed with the agent's own classifier.

Where the recording comes from (one of):
  (default)              live: the instrument's inputs, read as the agent reads them; nothing is
                         published. Stop the agent's service first if an input allows one reader
                         only (a serial port).
  --from-csv FILE        ts,value rows (.csv, or .csv.gz): a meter's export, or a live recording
                         saved earlier. ts: ms or s since 1970, or ISO 8601; a header row is
                         optional (a column named like the signal is used, else the second).
  --from-outbox DIR      the telemetry waiting in the agent's outbox (outbox.dir of agent.yaml):
                         after an outage it holds hours of 10 s means.

Options:
  -c, --config FILE      agent.yaml. Only instruments: is needed (agent: and mqtt: may be left
                         out). A live recording needs it; with a file it gives the instrument's
                         state settings (aggregate, window, minDwell) the hours are computed with,
                         else the agent's defaults (avg over 10s, minDwell 30s).
  --instrument ID        the instrument to calibrate; needed when the config has several
  --duration TIME        how long to record live: a number and a unit, ms, s, m, h or d
                         (90m, 2h, 3d); default 2h, at most 24d. Record a whole cycle: switched
                         off, standing by, measuring. Ctrl-C (or SIGTERM) ends the recording early
                         and still prints the report.
  --running-from LEVEL   which levels count as running (work): a level number from the report's
                         table (2), or a value with its unit (300W: running from 300 W).
                         Default: the highest level. In a terminal you are asked.
  --powered-from LEVEL   the level where powered starts (default: the first level above a few
                         watts; draws of a few watts count as off)
  --signal METRIC        record another metric than the instrument's state.signal (power_w)
  --save FILE            where a live recording is saved as ts,value CSV for --from-csv
                         (default ./calibration-ID-YYYYMMDD-HHMMSS.csv); --no-save: not saved
  -h, --help             this help

Output: the report on stdout: the levels found, with their time and the running hours each choice
gives; a histogram of the time at each value; the state: block to paste under the instrument in
agent.yaml; the hours it gives on the recording; and plain advice where the data cannot decide.
Progress, questions and errors go to stderr.
Exit status: 0 thresholds suggested; 1 none (the report says why) or nothing to analyse;
2 a bad option.
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      instrument: { type: 'string' },
      duration: { type: 'string' },
      signal: { type: 'string' },
      'from-csv': { type: 'string' },
      'from-outbox': { type: 'string' },
      'running-from': { type: 'string' },
      'powered-from': { type: 'string' },
      save: { type: 'string' },
      'no-save': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** `dayi agent calibrate …` (argv without the word `calibrate`): resolves to the exit code. */
export async function calibrateCommand(argv: string[], io: Io): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  try {
    ({ values, positionals } = parse(argv));
  } catch (err) {
    io.err(`dayi agent calibrate: ${(err as Error).message}\n\n${CALIBRATE_HELP}`);
    return 2;
  }
  if (values.help) {
    io.out(CALIBRATE_HELP);
    return 0;
  }
  const usage = (message: string) => {
    io.err(`dayi agent calibrate: ${message}\n(dayi agent calibrate --help explains every option)\n`);
    return 2;
  };
  if (positionals.length > 0) return usage(`unexpected ${JSON.stringify(positionals.join(' '))}`);
  if (values['from-csv'] !== undefined && values['from-outbox'] !== undefined)
    return usage('give one of --from-csv and --from-outbox');
  const source: CalibrateSource =
    values['from-csv'] !== undefined
      ? { kind: 'csv', file: values['from-csv'] }
      : values['from-outbox'] !== undefined
        ? { kind: 'outbox', dir: values['from-outbox'] }
        : { kind: 'live' };
  if (source.kind === 'live' && !values.config)
    return usage('-c agent.yaml is required for a live recording (or analyse a file with --from-csv FILE)');
  if (source.kind !== 'live' && values.duration !== undefined)
    return usage('--duration is for a live recording; a file is analysed whole');

  let durationMs: number | undefined;
  if (values.duration !== undefined) {
    try {
      durationMs = parseDuration(values.duration);
    } catch (err) {
      return usage(`--duration: ${(err as Error).message}`);
    }
    if (!(durationMs > 0 && durationMs <= MAX_DURATION_MS))
      return usage(`--duration ${values.duration}: must be above 0 and at most 24d`);
  }

  let config: CalibrateConfig | undefined;
  if (values.config) {
    try {
      config = loadCalibrateConfig(values.config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      io.err(`${err.message}\n`);
      return 1;
    }
    const exposed = exposedSecretsWarning(values.config);
    if (exposed) io.err(`dayi agent calibrate: warning: ${exposed}\n`);
  }
  const unitHint = unitForChoice(values.signal ?? config?.instruments[0]?.state?.signal ?? 'power_w');
  const choices: Partial<Record<'runningFrom' | 'poweredFrom', LevelChoice>> = {};
  for (const [option, key] of [
    ['running-from', 'runningFrom'],
    ['powered-from', 'poweredFrom'],
  ] as const) {
    const text = values[option];
    if (text === undefined) continue;
    const c = parseLevelChoice(text.trim(), unitHint);
    if (typeof c === 'string') return usage(`--${option}: ${c}`);
    choices[key] = c;
  }

  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  const opts: CalibrateOptions = {
    out: writerOf(io.out),
    err: writerOf(io.err),
    source,
    ...(config ? { config } : {}),
    ...(values.config ? { configFile: values.config } : {}),
    ...(values.instrument ? { instrumentId: values.instrument } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(values.signal ? { signal: values.signal } : {}),
    ...choices,
    ...(values['no-save'] ? { save: false as const } : values.save ? { save: values.save } : {}),
    ...(interactive ? { ask: terminalQuestion } : {}),
  };
  return (await calibrate(opts)).exitCode;
}

/** A stream that hands what is written to one of the command's `io` functions. */
function writerOf(write: (s: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      write(chunk.toString());
      callback();
    },
  });
}

/** The unit a `--running-from 300W` value is checked against. */
function unitForChoice(signal: string): string {
  const suffix = signal.slice(signal.lastIndexOf('_') + 1);
  const units: Record<string, string> = { w: 'W', a: 'A', v: 'V', kw: 'kW' };
  return signal.includes('_') ? (units[suffix] ?? '') : '';
}

/** One question on the terminal (stderr), one line of answer from stdin; null at Ctrl-C or EOF. */
function terminalQuestion(question: string): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let answered = false;
    const finish = (a: string | null) => {
      if (answered) return;
      answered = true;
      rl.close();
      resolve(a);
    };
    rl.on('SIGINT', () => {
      process.stderr.write('\n');
      finish(null);
    });
    rl.on('close', () => finish(null));
    rl.question(question, (a) => finish(a));
  });
}
