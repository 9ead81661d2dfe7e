/**
 * The calibration report as terminal text: the levels found with their time and the hours each
 * choice of running gives, a time-weighted histogram of the aggregate on a log axis, the `state:`
 * block to paste, the hours that block gives on the recording, and plain advice where the data
 * cannot decide. Pure: a Calibration in, a string out.
 */
import type { Calibration, HistogramBin, Suggestion } from './analyze.ts';
import { fmt, hoursText, human, range } from './analyze.ts';

/** Target number of histogram rows: tall enough to see the valleys, short enough for one screen. */
export const HISTOGRAM_ROWS = 24;
/** Width of the longest bar, in character cells. */
export const BAR_WIDTH = 40;

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar `cells` long, to the eighth of a cell. */
export function bar(cells: number): string {
  const eighths = Math.max(0, Math.round(cells * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
}

interface Row {
  from: number;
  to: number;
  hours: number;
}

/** Groups the analysis bins into about HISTOGRAM_ROWS rows. */
function rowsOf(bins: readonly HistogramBin[]): Row[] {
  const per = Math.max(1, Math.ceil(bins.length / HISTOGRAM_ROWS));
  const rows: Row[] = [];
  for (let i = 0; i < bins.length; i += per) {
    const group = bins.slice(i, i + per);
    rows.push({
      from: group[0]!.from,
      to: group[group.length - 1]!.to,
      hours: group.reduce((s, b) => s + b.hours, 0),
    });
  }
  return rows;
}

/**
 * The histogram of the time the aggregate spent at each value. Bar lengths are on a log scale of
 * the time, because the levels that matter (a two-minute brew in a day of standby) hold a
 * thousandth of it: the time is printed beside each bar. Threshold lines are drawn where they fall.
 */
export function renderHistogram(c: Calibration): string {
  const rows = rowsOf(c.histogram);
  if (rows.length === 0) return '';
  const unit = c.unit;
  const seconds = (h: number) => h * 3600;
  const maxLog = Math.log10(Math.max(...rows.map((r) => seconds(r.hours))) + 1);
  // The first row starts at 0 (it holds the zero readings); the others are value ranges.
  const label = (r: Row) =>
    r.from === 0 ? `0 – ${fmt(r.to, unit)}` : `${fmt(r.from, unit)} – ${fmt(r.to, unit)}`;
  const labelWidth = Math.max(...rows.map((r) => label(r).length));
  const marks: { at: number; text: string }[] = [];
  const t = c.suggestion?.thresholds;
  if (t) {
    const names = (['standby', 'idle', 'running'] as const).filter((n) => t[n] > 0);
    // Thresholds that coincide share one line: `idle = running ≥ 40 W`.
    for (const n of names) {
      const same = names.filter((m) => t[m] === t[n]);
      if (same[0] !== n) continue;
      marks.push({ at: t[n], text: `${same.join(' = ')} ≥ ${fmt(t[n], unit)}` });
    }
  }
  const markLine = (text: string) => `${' '.repeat(labelWidth)} ┼──── ${text} ────`;
  const items: ({ kind: 'row'; row: Row } | { kind: 'mark'; text: string })[] = [];
  let m = 0;
  for (const r of rows) {
    while (m < marks.length && marks[m]!.at <= r.from) items.push({ kind: 'mark', text: marks[m++]!.text });
    items.push({ kind: 'row', row: r });
  }
  for (; m < marks.length; m++) items.push({ kind: 'mark', text: marks[m]!.text });

  const lines: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (it.kind === 'mark') {
      lines.push(markLine(it.text));
      continue;
    }
    // Three or more empty rows in a row say no more than one: fold them into an ellipsis.
    let j = i;
    while (j < items.length && items[j]!.kind === 'row' && (items[j] as { row: Row }).row.hours === 0) j++;
    if (j - i >= 3) {
      lines.push(`${'⋮'.padStart(Math.ceil(labelWidth / 2))}${' '.repeat(Math.floor(labelWidth / 2))} │`);
      i = j - 1;
      continue;
    }
    const r = it.row;
    const s = seconds(r.hours);
    const cells = s > 0 ? Math.max(1 / 8, (Math.log10(s + 1) / maxLog) * BAR_WIDTH) : 0;
    const time = r.hours === 0 ? '' : r.hours >= 0.1 ? `${r.hours.toFixed(1)} h` : human(s * 1000);
    lines.push(`${label(r).padStart(labelWidth)} │${bar(cells).padEnd(BAR_WIDTH + 1)} ${time}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

/** A duration as the config writes it: `10s`, `1m`, `500ms`. */
export function durationText(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The YAML to paste under the instrument in agent.yaml: everything the hours were computed with. */
export function stateSnippet(c: Calibration, s: Suggestion | undefined = c.suggestion): string | undefined {
  if (!s) return undefined;
  const t = s.thresholds;
  return [
    'state:',
    `  signal: ${c.signal}`,
    `  aggregate: ${c.settings.aggregate}`,
    `  window: ${durationText(c.settings.window)}`,
    `  thresholds: { standby: ${t.standby}, idle: ${t.idle}, running: ${t.running} }`,
    `  hysteresis: ${s.hysteresis}`,
    `  minDwell: ${durationText(c.settings.minDwell)}`,
    '',
  ].join('\n');
}

export interface ReportContext {
  instrumentId: string;
  /** Where the data came from, for the first line (`a live recording`, `meter.csv`). */
  source?: string;
}

/** The levels table: what each level is, its time, and the running hours if running starts there. */
export function renderLevels(c: Calibration): string {
  if (c.levels.length === 0) return '';
  const s = c.suggestion;
  const u = c.unit;
  const option = new Map(c.options.map((o) => [o.level, o]));
  const rows = c.levels.map((l) => {
    const o = option.get(l.n);
    return [
      String(l.n),
      range(l, u),
      hoursText(l.hours),
      `${(l.share * 100).toFixed(l.share < 0.01 ? 2 : 1)} %`,
      s ? s.roles[l.n - 1]! : '',
      o ? hoursText(o.runningHours) : '',
      s && l.n === s.runningFrom ? (s.chosen ? '← chosen' : '← suggested') : '',
    ];
  });
  const head = ['level', 'range', 'time', 'share', 'read as', 'running if from here', ''];
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k]!.length)));
  const line = (cells: string[]) =>
    `  ${cells.map((cell, k) => (k === 0 ? cell.padStart(widths[k]!) : cell.padEnd(widths[k]!))).join('  ')}`.trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

/** The whole report. */
export function renderReport(c: Calibration, ctx: ReportContext): string {
  const out: string[] = [];
  const u = c.unit;
  const step = c.stepMs > 0 ? `, one every ${c.stepMs < 1000 ? `${c.stepMs} ms` : human(c.stepMs)}` : '';
  out.push(
    `Calibration of ${ctx.instrumentId}${ctx.source ? ` from ${ctx.source}` : ''}: ${c.samples} samples of ${c.signal} over ${human(c.spanMs)}${step}${c.quantum > 0 ? `; the meter reads in steps of ${fmt(c.quantum, u)}` : ''}`,
  );
  if (c.coveredMs < c.spanMs - 5 * 60_000)
    out.push(`(${human(c.spanMs - c.coveredMs)} without readings (gaps over 5 min) are left out)`);
  if (c.dropped > 0) out.push(`(${c.dropped} non-numeric values ignored)`);
  if (c.negative > 0)
    out.push(`(${c.negative} negative values counted as 0: check the CT clamp's direction)`);
  out.push('');
  if (c.levels.length > 0) {
    out.push(
      `Levels of ${c.signal} (its ${c.settings.aggregate} over ${human(c.settings.window)}, as the agent classifies; a level held at least the minimum dwell, ${human(c.settings.minDwell)}):`,
    );
    out.push(renderLevels(c));
  }
  const histogram = renderHistogram(c);
  if (histogram) {
    out.push(`Time at each value of ${c.signal}, log scale (bar length ~ log of the time):`);
    out.push(histogram);
  }
  for (const line of c.explanation) out.push(line);
  if (c.explanation.length > 0) out.push('');
  const s = c.suggestion;
  const snippet = stateSnippet(c);
  if (s && snippet) {
    out.push(
      `Suggested state for ${ctx.instrumentId} (paste under the instrument in agent.yaml, replacing its state:):`,
    );
    out.push('');
    out.push(
      snippet
        .split('\n')
        .map((l) => (l ? `    ${l}` : l))
        .join('\n'),
    );
    const h = s.hours;
    out.push(
      `On this recording that block gives: powered ${hoursText(h.poweredHours)}, running ${hoursText(h.runningHours)} (standby ${hoursText(h.byState.standby)}, idle ${hoursText(h.byState.idle)}, off ${hoursText(h.byState.off)}), ${h.changes} state change${h.changes === 1 ? '' : 's'}.`,
    );
    out.push('');
  } else {
    out.push('No thresholds suggested.');
    out.push('');
  }
  if (s?.unsteady) {
    const x = s.unsteady;
    const l = c.levels[s.runningFrom - 1]!;
    out.push(
      `Cannot decide where work starts: level ${l.n} (${range(l, u)}) is not one steady draw but a mix of short phases (a heater switching, a pump, a motor), and the running hours depend on where within it work is taken to start: ${hoursText(x.runningHours)} from ${fmt(x.at, u)}, ${hoursText(x.insideRunningHours)} from ${fmt(x.insideAt, u)}. Power alone cannot tell which is right. Record a session while noting when the instrument really works (start and end of each measurement), then choose the threshold whose running hours match with --running-from VALUE (e.g. --running-from ${fmt(x.insideAt, u).replace(' ', '')}), or take the state from the instrument itself (OPC UA, a status output).`,
    );
    out.push('');
  }
  for (const a of c.advice) {
    out.push(a);
    out.push('');
  }
  return out.join('\n');
}
