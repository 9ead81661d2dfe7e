/**
 * The agent's log: one JSON object per line on stdout, in pino's format and with pino's levels
 * (`{"level":30,"time":…,"pid":…,"hostname":…,"name":"dayi-agent",…bindings,…fields,"msg":…}`),
 * so journald, WinSW's log files and any tool reading pino lines see what they saw before.
 *
 * Why not pino itself: the agent logs a few lines an hour, and pino with its worker-thread
 * transports, sonic-boom and serializers costs 2-3 MiB of the agent's 60 MB budget
 * (docs/performance.md). pino's own Logger satisfies the `Logger` interface here, so tests and
 * embedders can still pass one (e.g. `pino({ level: 'silent' })`).
 */
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';

type LogFn = {
  (fields: object, msg?: string): void;
  (msg: string): void;
};

/** The part of pino's Logger the agent uses. */
export interface Logger {
  child(bindings: Record<string, unknown>): Logger;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
}

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof LEVELS | 'silent';

export interface LoggerOptions {
  level: LevelName;
  name: string;
  /** Where each line goes; default stdout (file descriptor 1, see writeStdout). */
  write?: (line: string) => void;
}

/** `,"key":value` for each defined field, in order: pino's own serialisation of bindings and fields. */
function fragment(fields: object): string {
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    // pino's one default serializer: an Error under `err` becomes { type, message, stack }.
    const json = JSON.stringify(
      k === 'err' && v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v,
    );
    if (json !== undefined) out += `,${JSON.stringify(k)}:${json}`;
  }
  return out;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes a line to file descriptor 1 synchronously, as pino does. Not `process.stdout`: creating
 * that stream loads Node's stream, worker and perf modules, 2 MiB for a few lines an hour. If fd 1
 * is non-blocking (something made `process.stdout`) and the reader is slow, wait and go on.
 */
export function writeStdout(line: string): void {
  let buf = Buffer.from(line);
  for (let tries = 0; buf.length > 0; ) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++tries > 1000) throw err;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const threshold = opts.level === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[opts.level];
  const write = opts.write ?? writeStdout;
  const base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())},"name":${JSON.stringify(opts.name)}`;
  const make = (chindings: string): Logger => {
    const at =
      (level: number): LogFn =>
      (fieldsOrMsg: object | string, msg?: string) => {
        if (level < threshold) return;
        const fields = typeof fieldsOrMsg === 'string' ? '' : fragment(fieldsOrMsg);
        const text = typeof fieldsOrMsg === 'string' ? fieldsOrMsg : msg;
        write(
          `{"level":${level},"time":${Date.now()}${chindings}${fields}${text === undefined ? '' : `,"msg":${JSON.stringify(text)}`}}\n`,
        );
      };
    return {
      child: (bindings) => make(chindings + fragment(bindings)),
      fatal: at(LEVELS.fatal),
      error: at(LEVELS.error),
      warn: at(LEVELS.warn),
      info: at(LEVELS.info),
      debug: at(LEVELS.debug),
      trace: at(LEVELS.trace),
    };
  };
  return make(base);
}
