/**
 * Resource figures of another process from Linux's /proc, as `top` and `ps` read them: resident
 * memory (VmRSS, and its peak VmHWM) from /proc/PID/status, CPU time (utime + stime, in clock ticks)
 * from /proc/PID/stat. Both include every thread of the process (libuv's pool, V8's GC helpers).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`; 100 on every Linux seen). */
export function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

export interface ProcSample {
  /** Wall clock (ms, monotonic) when the sample was taken. */
  at: number;
  rssBytes: number;
  /** The part of rssBytes that is the process's own memory (heap, stacks) and file pages (the Node binary). */
  rssAnonBytes: number;
  rssFileBytes: number;
  /** CPU time used so far, user + system, in clock ticks. */
  cpuTicks: number;
}

/** One sample of `pid`, or null once the process is gone. */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return {
      at: performance.now(),
      rssBytes: statusKiB(status, 'VmRSS') * 1024,
      rssAnonBytes: statusKiB(status, 'RssAnon') * 1024,
      rssFileBytes: statusKiB(status, 'RssFile') * 1024,
      cpuTicks: cpuTicksOf(stat),
    };
  } catch {
    return null;
  }
}

/** Peak resident memory over the process's whole life (VmHWM), or null once it is gone. */
export function peakRss(pid: number): number | null {
  try {
    return statusKiB(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM') * 1024;
  } catch {
    return null;
  }
}

function statusKiB(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc status`);
  return Number(m[1]);
}

/** utime + stime: fields 14 and 15 of /proc/PID/stat, counted after the `(comm)` that may hold spaces. */
export function cpuTicksOf(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  return Number(rest[11]) + Number(rest[12]);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface ProcSummary {
  samples: number;
  rssMiB: { median: number; max: number; peakHwm: number | null; anonMedian: number; fileMedian: number };
  /** CPU time over wall time in the measured window: 0.01 is 1 % of one core. */
  cpuShare: number;
  /** The busiest sampling interval's share, to see bursts the average hides. */
  cpuShareMaxInterval: number;
  cpuSeconds: number;
}

const MIB = 2 ** 20;
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** Summary of the samples taken in the measured window (first and last bound the CPU figure). */
export function summarize(
  samples: readonly ProcSample[],
  ticks: number,
  peakBytes: number | null,
): ProcSummary {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.at <= first.at) throw new Error('not enough samples to measure');
  const cpuSeconds = (last.cpuTicks - first.cpuTicks) / ticks;
  let maxInterval = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const share = (b.cpuTicks - a.cpuTicks) / ticks / ((b.at - a.at) / 1000);
    if (share > maxInterval) maxInterval = share;
  }
  const rss = samples.map((s) => s.rssBytes / MIB);
  return {
    samples: samples.length,
    rssMiB: {
      median: round(median(rss), 1),
      max: round(Math.max(...rss), 1),
      peakHwm: peakBytes === null ? null : round(peakBytes / MIB, 1),
      anonMedian: round(median(samples.map((s) => s.rssAnonBytes / MIB)), 1),
      fileMedian: round(median(samples.map((s) => s.rssFileBytes / MIB)), 1),
    },
    cpuShare: round(cpuSeconds / ((last.at - first.at) / 1000), 5),
    cpuShareMaxInterval: round(maxInterval, 4),
    cpuSeconds: round(cpuSeconds, 2),
  };
}
