/**
 * Hand-made SVG charts: a few hundred bytes of code each instead of a charting library. Sized in
 * pixels to the width they get (text stays legible on a phone), coloured by CSS classes.
 */
import { s } from './dom.ts';

const FONT = 11;

function svg(width: number, height: number, label: string, ...children: SVGElement[]): SVGElement {
  return s(
    'svg',
    { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: 'chart' },
    ...children,
  );
}

function text(x: number, y: number, value: string, anchor = 'start', cls = 'axis'): SVGElement {
  return s('text', { x, y, 'text-anchor': anchor, class: cls, 'font-size': FONT }, value);
}

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

export interface Bar {
  label: string;
  value: number;
  text: string;
}

/** Horizontal bars, one per row, label above the bar (long unit names wrap nowhere on a phone). */
export function barsH(bars: Bar[], width: number, label: string, max = 1): SVGElement {
  const row = 34;
  const height = Math.max(row, bars.length * row);
  const top = Math.max(max, ...bars.map((b) => b.value));
  return svg(
    width,
    height,
    label,
    ...bars.flatMap((b, i) => {
      const y = i * row;
      // room for the value's text after the longest bar
      const w = Math.max(1, (b.value / top) * (width - 110));
      return [
        text(0, y + 12, b.label),
        s('rect', { x: 0, y: y + 16, width: w, height: 12, rx: 2, class: 'bar' }),
        text(w + 6, y + 27, b.text),
      ];
    }),
  );
}

/** Columns with their values, for a count per week. */
export function columns(items: { label: string; value: number }[], width: number, label: string): SVGElement {
  const height = 140;
  const bottom = height - 18;
  const top = niceMax(Math.max(...items.map((i) => i.value), 1));
  const step = width / Math.max(1, items.length);
  const every = Math.ceil((FONT * 5) / step);
  return svg(
    width,
    height,
    label,
    s('line', { x1: 0, x2: width, y1: bottom, y2: bottom, class: 'grid' }),
    ...items.flatMap((it, i) => {
      const h = (it.value / top) * (bottom - 16);
      const x = i * step + step * 0.15;
      return [
        s('rect', { x, y: bottom - h, width: step * 0.7, height: Math.max(h, 0.5), class: 'bar' }),
        text(x + step * 0.35, bottom - h - 3, String(it.value), 'middle', 'value'),
        i % every === 0
          ? text(clamp(x + step * 0.35, FONT * 1.6, width - FONT * 1.6), height - 4, it.label, 'middle')
          : null,
      ].filter((e): e is SVGElement => e !== null);
    }),
  );
}

const HOUR = 3_600_000;

/** Keeps a centred label inside the chart. */
function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function timeTicks(from: number, to: number, width: number, left: number, y: number): SVGElement[] {
  const span = to - from;
  const stepH = span / HOUR / Math.max(2, Math.floor((width - left) / 70));
  const step = [1, 2, 3, 4, 6, 12, 24].find((h) => h >= stepH)! * HOUR;
  const out: SVGElement[] = [];
  for (let t = Math.ceil(from / step) * step; t < to; t += step) {
    const x = left + ((t - from) / span) * (width - left);
    if (x < left + FONT * 1.5 || x > width - FONT * 1.5) continue;
    const d = new Date(t);
    out.push(text(x, y, `${String(d.getHours()).padStart(2, '0')}:00`, 'middle'));
  }
  return out;
}

export interface Point {
  t: number;
  mean: number;
  min: number;
  max: number;
}

/** A line of the means with the min–max band behind it; gaps where a bucket had no samples. */
export function lineChart(
  points: Point[],
  from: number,
  to: number,
  stepMs: number,
  width: number,
  label: string,
): SVGElement {
  const height = 170;
  const left = 44;
  const bottom = height - 18;
  const top = niceMax(Math.max(...points.map((p) => p.max), 1));
  const x = (t: number) => left + ((t - from) / (to - from)) * (width - left);
  const y = (v: number) => bottom - (v / top) * (bottom - 8);
  const runs: Point[][] = [];
  for (const p of points) {
    const last = runs.at(-1);
    if (last && p.t - last.at(-1)!.t <= stepMs * 1.5) last.push(p);
    else runs.push([p]);
  }
  const num = (v: number) => v.toFixed(1);
  const paths = runs.flatMap((run) => {
    const band =
      run.map((p, i) => `${i ? 'L' : 'M'}${num(x(p.t))},${num(y(p.max))}`).join('') +
      [...run]
        .reverse()
        .map((p) => `L${num(x(p.t))},${num(y(p.min))}`)
        .join('') +
      'Z';
    const line = run.map((p, i) => `${i ? 'L' : 'M'}${num(x(p.t))},${num(y(p.mean))}`).join('');
    return [s('path', { d: band, class: 'band' }), s('path', { d: line, class: 'line' })];
  });
  return svg(
    width,
    height,
    label,
    ...[0, 0.5, 1].flatMap((f) => [
      s('line', { x1: left, x2: width, y1: y(top * f), y2: y(top * f), class: 'grid' }),
      text(left - 4, y(top * f) + 4, String(Math.round(top * f)), 'end'),
    ]),
    ...paths,
    ...timeTicks(from, to, width, left, height - 4),
  );
}

export interface Segment {
  from: number;
  to: number;
  state: string;
}

/** One band of coloured segments, a state each, over [from, to). */
export function timeline(segments: Segment[], from: number, to: number, width: number, label: string) {
  const height = 44;
  const x = (t: number) => ((t - from) / (to - from)) * width;
  return svg(
    width,
    height,
    label,
    s('rect', { x: 0, y: 0, width, height: 24, class: 'st-unknown' }),
    ...segments.map((seg) =>
      s(
        'rect',
        {
          x: x(seg.from),
          y: 0,
          width: Math.max(0.5, x(seg.to) - x(seg.from)),
          height: 24,
          class: `st-${seg.state}`,
        },
        s('title', {}, seg.state),
      ),
    ),
    ...timeTicks(from, to, width, 0, height - 4),
  );
}

/** Per day: powered hours with running hours in front, out of 24. */
export function dailyBars(
  days: { label: string; powered: number; running: number }[],
  width: number,
  label: string,
): SVGElement {
  const height = 150;
  const left = 26;
  const bottom = height - 18;
  const step = (width - left) / Math.max(1, days.length);
  const y = (h: number) => bottom - (h / 24) * (bottom - 8);
  const every = Math.ceil((FONT * 3.2) / step);
  return svg(
    width,
    height,
    label,
    ...[0, 12, 24].flatMap((hh) => [
      s('line', { x1: left, x2: width, y1: y(hh), y2: y(hh), class: 'grid' }),
      text(left - 4, y(hh) + 4, String(hh), 'end'),
    ]),
    ...days.flatMap((d, i) => {
      const x = left + i * step + step * 0.15;
      const w = step * 0.7;
      return [
        s('rect', { x, y: y(d.powered), width: w, height: bottom - y(d.powered), class: 'powered' }),
        s('rect', { x, y: y(d.running), width: w, height: bottom - y(d.running), class: 'running' }),
        i % every === 0
          ? text(clamp(x + w / 2, left + FONT * 1.4, width - FONT * 1.4), height - 4, d.label, 'middle')
          : null,
      ].filter((e): e is SVGElement => e !== null);
    }),
  );
}
