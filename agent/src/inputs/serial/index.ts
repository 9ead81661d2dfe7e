/**
 * The serial input: a line-oriented ASCII sensor (a CT clamp with a USB UART, an Arduino, a bench
 * meter's RS-232 print-out) parsed with a regular expression whose named groups are metrics.
 *
 * The sensor talks; we listen. Each line is framed and parsed by the pure code in
 * `@dayi/protocols/serial`; this shell only owns the port: open, reopen with backoff when the device
 * disappears (a USB adapter unplugged, a pty gone), and report errors with the path and baud rate.
 */

import { existsSync } from 'node:fs';
import { compileLineFormat } from '@dayi/protocols/serial/format.ts';
import { LineFramer, type LineOutcome, LineParser } from '@dayi/protocols/serial/index.ts';
import { SerialPort } from 'serialport';
import type { Input, InputDeps, InputLink, InputSink } from '../types.ts';
import type { SerialInputConfig } from './schema.ts';

export type { SerialInputConfig } from './schema.ts';

/** First wait before reopening a port that failed or vanished. */
export const REOPEN_INITIAL_MS = 500;
/** Longest wait between reopen attempts: a technician replugging a cable should not wait long. */
export const REOPEN_MAX_MS = 30_000;
/** Unusable lines are summarised through `sink.error` at most this often, not one error per line. */
export const UNUSABLE_REPORT_EVERY_MS = 60_000;
/**
 * How often an open port's device file is checked on Unix. A USB adapter unplugged, or a pty whose
 * other end died, normally fails the next read; when the driver only hangs up silently, the device
 * file being gone is the sign.
 */
export const DEVICE_CHECK_MS = 1000;
/** How much of a bad line an error quotes. */
const QUOTE_CHARS = 80;

export interface SerialInputOptions {
  now?: () => number;
  reopen?: { initialMs: number; maxMs: number };
}

export interface SerialInputStats {
  /** Lines framed (not counting over-long ones). */
  lines: number;
  readings: number;
  unmatched: number;
  notANumber: number;
  overlong: number;
  /** Successful opens after the first. */
  reopens: number;
}

export class SerialInput implements Input {
  readonly type = 'serial';
  readonly name: string;
  private readonly config: SerialInputConfig;
  private readonly deps: InputDeps;
  private readonly now: () => number;
  private readonly reopenInitialMs: number;
  private readonly reopenMaxMs: number;
  private readonly parser: LineParser;
  private sink: InputSink | undefined;
  private port: SerialPort | undefined;
  private running = false;
  private opens = 0;
  private reopenDelay: number;
  private reopenTimer: NodeJS.Timeout | undefined;
  private everyTimer: NodeJS.Timeout | undefined;
  private deviceTimer: NodeJS.Timeout | undefined;
  private readonly window = new Map<string, { sum: number; n: number }>();
  private linkState: InputLink = { connected: false };
  private readonly counts = { lines: 0, readings: 0, overlong: 0 };
  private unusableSinceReport = 0;
  private lastUnusableReportAt: number | undefined;

  constructor(config: SerialInputConfig, deps: InputDeps, opts: SerialInputOptions = {}) {
    this.config = config;
    this.deps = deps;
    this.now = opts.now ?? deps.now ?? Date.now;
    this.reopenInitialMs = opts.reopen?.initialMs ?? REOPEN_INITIAL_MS;
    this.reopenMaxMs = opts.reopen?.maxMs ?? REOPEN_MAX_MS;
    this.reopenDelay = this.reopenInitialMs;
    const compiled = compileLineFormat(config.format);
    // The schema already refused a bad format; this only guards direct construction.
    if (!compiled.ok)
      throw new Error(`serial ${config.path}: format.${compiled.path.join('.')}: ${compiled.reason}`);
    this.parser = new LineParser(compiled.format);
    this.name = config.name ?? `serial ${config.path} ${config.baudRate} baud`;
  }

  async start(sink: InputSink): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.sink = sink;
    if (this.config.every !== undefined) {
      this.everyTimer = setInterval(() => this.flushWindow(), this.config.every);
    }
    // Windows COM ports are not files; /dev paths are.
    if (this.config.path.startsWith('/')) {
      this.deviceTimer = setInterval(() => this.checkDevice(), DEVICE_CHECK_MS);
    }
    await this.open();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.reopenTimer);
    clearInterval(this.everyTimer);
    clearInterval(this.deviceTimer);
    this.reopenTimer = undefined;
    this.everyTimer = undefined;
    this.deviceTimer = undefined;
    this.window.clear();
    const port = this.port;
    this.port = undefined;
    this.linkState = { ...this.linkState, connected: false };
    if (port?.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    port?.removeAllListeners();
  }

  link(): InputLink {
    return { ...this.linkState };
  }

  stats(): SerialInputStats {
    const p = this.parser.stats();
    return {
      lines: this.counts.lines,
      readings: this.counts.readings,
      unmatched: p.unmatched,
      notANumber: p.notANumber,
      overlong: this.counts.overlong,
      reopens: Math.max(0, this.opens - 1),
    };
  }

  private context(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { input: 'serial', path: this.config.path, baudRate: this.config.baudRate, ...extra };
  }

  private fail(err: Error, what: string): void {
    const at = this.now();
    const message = `serial ${this.config.path} (${this.config.baudRate} baud): ${what}: ${err.message}`;
    this.linkState = { connected: this.port?.isOpen ?? false, lastError: message, lastErrorAt: at };
    this.sink?.error(new Error(message, { cause: err }), this.context());
  }

  private open(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const c = this.config;
      let port: SerialPort;
      try {
        port = new SerialPort({
          path: c.path,
          baudRate: c.baudRate,
          dataBits: c.dataBits,
          parity: c.parity,
          stopBits: c.stopBits,
          autoOpen: false,
        });
      } catch (err) {
        // Invalid settings: no amount of retrying fixes them, but keep trying in case it is transient.
        this.fail(err as Error, 'cannot create port');
        this.scheduleReopen();
        return resolve();
      }
      this.port = port;
      // A fresh framer per open: half a line from before an unplug is not the start of the next one.
      const framing = { framer: new LineFramer(), overlong: 0 };
      port.on('data', (chunk: Buffer) => this.onData(framing, chunk));
      port.on('error', (err: Error) => {
        if (port !== this.port) return;
        this.fail(err, 'port error');
        if (!port.isOpen) this.lost(port);
      });
      // Zero bytes read (a hang-up) ends the stream without closing the port; treat it as a loss.
      port.on('end', () => {
        if (port !== this.port || !port.isOpen) return;
        this.fail(new Error('end of stream (hang-up)'), 'device disconnected');
        port.close();
      });
      port.on('close', (err: Error | null) => {
        if (port !== this.port) return;
        if (err) this.fail(err, 'device disconnected');
        this.lost(port);
      });
      port.open((err) => {
        if (err) {
          if (port === this.port) {
            this.fail(err, 'cannot open');
            this.lost(port);
          }
          return resolve();
        }
        if (port !== this.port) {
          // Stopped while opening.
          port.close();
          return resolve();
        }
        this.opens++;
        this.reopenDelay = this.reopenInitialMs;
        this.linkState = { ...this.linkState, connected: true };
        this.deps.log.info(this.context({ reopen: this.opens > 1 }), 'serial port open');
        resolve();
      });
    });
  }

  private checkDevice(): void {
    const port = this.port;
    if (!port?.isOpen || existsSync(this.config.path)) return;
    this.lost(port);
    this.fail(new Error('the device file is gone'), 'device disconnected');
    port.removeAllListeners();
    // A late error from closing a vanished device says nothing new.
    port.on('error', () => {});
    port.close(() => {});
  }

  private lost(port: SerialPort): void {
    port.removeAllListeners('data');
    if (this.port === port) this.port = undefined;
    this.linkState = { ...this.linkState, connected: false };
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (!this.running || this.reopenTimer) return;
    const delay = this.reopenDelay;
    this.reopenDelay = Math.min(this.reopenDelay * 2, this.reopenMaxMs);
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.open();
    }, delay);
  }

  private onData(framing: { framer: LineFramer; overlong: number }, chunk: Buffer): void {
    const lines = framing.framer.push(chunk);
    const overlong = framing.framer.stats().overlong;
    if (overlong > framing.overlong) {
      const dropped = overlong - framing.overlong;
      framing.overlong = overlong;
      this.counts.overlong += dropped;
      this.unusable(
        `${dropped} line(s) longer than ${framing.framer.maxLineLength} bytes discarded`,
        undefined,
      );
    }
    for (const line of lines) {
      this.counts.lines++;
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const out: LineOutcome = this.parser.parse(line);
    if (!out.ok) {
      this.unusable(out.detail, line);
      return;
    }
    if (this.config.every === undefined) {
      this.emit(out.metrics);
      return;
    }
    for (const [name, value] of Object.entries(out.metrics)) {
      const w = this.window.get(name);
      if (w) {
        w.sum += value;
        w.n++;
      } else this.window.set(name, { sum: value, n: 1 });
    }
  }

  private flushWindow(): void {
    if (this.window.size === 0) return;
    const metrics: Record<string, number> = {};
    for (const [name, w] of this.window) metrics[name] = w.sum / w.n;
    this.window.clear();
    this.emit(metrics);
  }

  private emit(metrics: Record<string, number>): void {
    this.counts.readings++;
    this.sink?.reading({ ts: this.now(), metrics });
  }

  /**
   * A line that gives no reading is counted, never fatal. The first one is reported at once (a
   * wrong regex or baud rate shows up immediately), then a summary at most once a minute.
   */
  private unusable(detail: string, line: string | undefined): void {
    this.unusableSinceReport++;
    const at = this.now();
    if (this.lastUnusableReportAt !== undefined && at - this.lastUnusableReportAt < UNUSABLE_REPORT_EVERY_MS)
      return;
    const n = this.unusableSinceReport;
    this.unusableSinceReport = 0;
    this.lastUnusableReportAt = at;
    const s = this.stats();
    this.sink?.error(
      new Error(`serial ${this.config.path}: ${n} line(s) gave no reading; last: ${detail}`),
      this.context({
        ...(line === undefined ? {} : { line: line.slice(0, QUOTE_CHARS) }),
        unmatched: s.unmatched,
        notANumber: s.notANumber,
        overlong: s.overlong,
      }),
    );
  }
}

export function createSerialInput(
  config: SerialInputConfig,
  deps: InputDeps,
  opts?: SerialInputOptions,
): SerialInput {
  return new SerialInput(config, deps, opts);
}

/** The registry's factory (see ../index.ts). */
export function create(config: SerialInputConfig, deps: InputDeps): Input {
  return new SerialInput(config, deps);
}
