/**
 * The calibration report as terminal text: a histogram of the signal on a log axis drawn with
 * Unicode block bars, the clusters and what they were read as, and the `state:` YAML to paste.
 * Pure: a Calibration in, a string out.
 */
import type { Calibration, HistogramBin } from './analyze.ts';
import { fmt, unitOf } from './analyze.ts';

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
  count: number;
}

/** Groups the analysis bins into about HISTOGRAM_ROWS rows. */
function rowsOf(bins: HistogramBin[]): Row[] {
  const per = Math.max(1, Math.ceil(bins.length / HISTOGRAM_ROWS));
  const rows: Row[] = [];
  for (let i = 0; i < bins.length; i += per) {
    const group = bins.slice(i, i + per);
    rows.push({
      from: group[0]!.from,
      to: group[group.length - 1]!.to,
      count: group.reduce((s, b) => s + b.count, 0),
    });
  }
  return rows;
}

/**
 * The histogram. Bar lengths are on a log scale of the count, because the levels that matter (a
 * two-minute brew in a day of standby) hold a thousandth of the samples: the percentage is printed
 * beside each bar. Threshold lines are drawn between the rows they fall between.
 */
export function renderHistogram(c: Calibration): string {
  const unit = unitOf(c.signal);
  const rows = rowsOf(c.histogram);
  if (rows.length === 0) return '';
  const maxLog = Math.log10(Math.max(...rows.map((r) => r.count)) + 1);
  // The first row starts at 0 (it holds the zero readings); the others are value ranges.
  const label = (r: Row) =>
    r.from === 0 ? `0 – ${fmt(r.to, unit)}` : `${fmt(r.from, unit)} – ${fmt(r.to, unit)}`;
  const labelWidth = Math.max(...rows.map((r) => label(r).length));
  const marks: { at: number; text: string }[] = [];
  if (c.thresholds) {
    const t = c.thresholds;
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
    while (j < items.length && items[j]!.kind === 'row' && (items[j] as { row: Row }).row.count === 0) j++;
    if (j - i >= 3) {
      lines.push(`${'⋮'.padStart(Math.ceil(labelWidth / 2))}${' '.repeat(Math.floor(labelWidth / 2))} │`);
      i = j - 1;
      continue;
    }
    const r = it.row;
    const share = c.samples > 0 ? (r.count / c.samples) * 100 : 0;
    const cells = r.count > 0 ? Math.max(1 / 8, (Math.log10(r.count + 1) / maxLog) * BAR_WIDTH) : 0;
    const pct = r.count === 0 ? '' : share < 0.1 ? `n=${r.count}` : `${share.toFixed(1)} %`;
    lines.push(`${label(r).padStart(labelWidth)} │${bar(cells).padEnd(BAR_WIDTH + 1)} ${pct}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

/** The YAML to paste under the instrument in agent.yaml. */
export function stateSnippet(c: Calibration): string | undefined {
  if (!c.thresholds) return undefined;
  const t = c.thresholds;
  return `state:\n  signal: ${c.signal}\n  thresholds: { standby: ${t.standby}, idle: ${t.idle}, running: ${t.running} }\n`;
}

export interface ReportContext {
  instrumentId: string;
  /** How long was recorded, ms. */
  recordedMs: number;
}

function human(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The whole report. */
export function renderReport(c: Calibration, ctx: ReportContext): string {
  const out: string[] = [];
  out.push(
    `Calibration of ${ctx.instrumentId}: ${c.samples} samples of ${c.signal} over ${human(ctx.recordedMs)}`,
  );
  if (c.dropped > 0) out.push(`(${c.dropped} non-numeric values ignored)`);
  if (c.negative > 0)
    out.push(`(${c.negative} negative values counted as 0: check the CT clamp's direction)`);
  out.push('');
  const histogram = renderHistogram(c);
  if (histogram) {
    out.push(`${c.signal}, log scale (bar length ~ log of the count; share of samples at the right)`);
    out.push(histogram);
  }
  for (const line of c.explanation) out.push(line);
  out.push('');
  const snippet = stateSnippet(c);
  if (snippet) {
    out.push(
      `Suggested state for ${ctx.instrumentId} (paste under the instrument in agent.yaml, keep your other state keys):`,
    );
    out.push('');
    out.push(
      snippet
        .split('\n')
        .map((l) => (l ? `    ${l}` : l))
        .join('\n'),
    );
  } else {
    out.push('No thresholds suggested.');
    out.push('');
  }
  return out.join('\n');
}
