import type { State } from '@dayi/protocols/mqtt/names.ts';
import type { Logger } from '../log.ts';
import type { Profiles } from './profiles.ts';

/** One sample from an input: metrics named per SPEC (power_w, current_a, …) at event time `ts`. */
export interface Reading {
  ts: number;
  metrics: Record<string, number>;
  /**
   * A state the instrument itself reports (OPC UA MachineryItemState, a Modbus status register).
   * `fault` always wins over the power classifier; other states are used when the instrument's
   * `state.signal` is `vendor`.
   */
  state?: State;
}

/** Link state of an input, carried in the retained `status` message. */
export interface InputLink {
  connected: boolean;
  lastError?: string;
  lastErrorAt?: number;
}

export interface InputSink {
  reading(reading: Reading): void;
  /** A device error with context (host, unit, register, node…); the input keeps going. */
  error(err: Error, context: Record<string, unknown>): void;
}

export interface Input {
  /** Unique within an instrument, readable in logs: `modbus tcp 10.0.0.5:502 unit 1`. */
  readonly name: string;
  readonly type: string;
  /** Starts polling or subscribing. Device errors go to `sink.error`, never reject here. */
  start(sink: InputSink): Promise<void>;
  /** Stops and releases connections; idempotent. */
  stop(): Promise<void>;
  link(): InputLink;
}

export interface InputDeps {
  instrumentId: string;
  log: Logger;
  /** Meter and OPC UA profiles (from firmware-configs/ by default), see ./profiles.ts. */
  profiles: Profiles;
  /** Wall clock for reading timestamps, injectable for tests and demos; Date.now when absent. */
  now?: () => number;
}
