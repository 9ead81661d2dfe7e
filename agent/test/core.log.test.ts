/**
 * The agent's own logger writes the lines pino writes: the same fields in the same order, the same
 * levels and filtering, so what reads the agent's log (journald, WinSW's files, bench/agent) sees no
 * difference. Each case is logged through both, into memory, and compared line by line.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, type LevelName, type Logger } from '../src/log.ts';

function both(level: LevelName): { ours: Logger; theirs: Logger; lines(): [string[], string[]] } {
  const a: string[] = [];
  const b: string[] = [];
  const ours = createLogger({ level, name: 'dayi-agent', write: (l) => a.push(l) });
  const sink = new Writable({
    write(chunk, _enc, cb) {
      b.push(String(chunk));
      cb();
    },
  });
  const theirs = pino({ level, name: 'dayi-agent' }, sink);
  // The time differs by the microseconds between the two calls: compare everything else.
  const untimed = (ls: string[]) => ls.map((l) => l.replace(/"time":\d+/, '"time":0'));
  return { ours, theirs, lines: () => [untimed(a), untimed(b)] };
}

describe('agent log lines', () => {
  it('are pino lines: bindings, fields, message, undefined fields left out', () => {
    const { ours, theirs, lines } = both('info');
    for (const log of [ours, theirs]) {
      const inst = log.child({ instrumentId: 'ZJ-NMR-0001' });
      inst.info({ url: 'mqtt://127.0.0.1:1883' }, 'mqtt connected');
      const input = inst.child({ input: 0 });
      // A field named like a binding appears twice, as pino writes it.
      input.warn(
        { input: 'modbus tcp 10.0.0.5:502 unit 1', unitId: 1, fc: 3, err: 'timeout', extra: undefined },
        'input error',
      );
      inst.error(
        { metrics: ['power_w', 'current_a'], nested: { a: [1, 2] } },
        'message with "quotes" and ’ ✓',
      );
      log.child({ lib: 'node-opcua' }).info('a plain message');
      log.info({ n: 1 });
    }
    const [a, b] = lines();
    expect(a).toHaveLength(5);
    expect(a).toEqual(b);
  });

  it('filters by level as pino does, silent included', () => {
    for (const level of ['debug', 'warn', 'silent'] as const) {
      const { ours, theirs, lines } = both(level);
      for (const log of [ours, theirs]) {
        log.trace('t');
        log.debug('d');
        log.info('i');
        log.warn('w');
        log.error('e');
        log.fatal('f');
      }
      const [a, b] = lines();
      expect(a).toEqual(b);
      expect(a).toHaveLength({ debug: 5, warn: 3, silent: 0 }[level]);
    }
  });

  it('serialises an Error under err as pino does', () => {
    const { ours, theirs, lines } = both('info');
    const err = new Error('boom');
    for (const log of [ours, theirs]) log.error({ err }, 'failed');
    const [a, b] = lines();
    expect(JSON.parse(a[0]!)).toEqual(JSON.parse(b[0]!));
  });
});
