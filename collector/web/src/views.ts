/** The pages: each renders into `main` from the API, and says what went wrong where it happened. */
import { ApiError, download, get, getAll, post } from './api.ts';
import { barsH, columns, dailyBars, lineChart, type Point, type Segment, timeline } from './charts.ts';
import { type Child, h, replace } from './dom.ts';
import { currentLang, fmtNumber, fmtPercent, fmtTime, type Key, t, word } from './i18n.ts';

export interface Instrument {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  state: string;
  stateSince: string | null;
  online: boolean;
  lastSeen: string | null;
  lastPoweredAt: string | null;
}
interface InstrumentDetail extends Instrument {
  quotaHours: number | null;
  idleDays: number | null;
  thresholds: { signal?: string; standby: number; idle: number; running: number } | null;
}
interface Alert {
  id: number | string;
  instrumentId: string;
  org: string | null;
  kind: string;
  type: string;
  severity: string;
  status: string;
  openedAt: string;
  count: number;
  opened: { by: string | null; note: string | null } | null;
  acknowledged: { at: string; by: string | null; note: string | null } | null;
  resolved: { at: string; by: string | null; note: string | null } | null;
}
interface IdleList {
  items: {
    id: string;
    org: string | null;
    name: string | null;
    lastPoweredAt: string | null;
    idleDays: number;
    reason: string;
  }[];
  neverReported: { id: string; org: string | null; name: string | null; reason: string }[];
}

const STATES = ['running', 'idle', 'standby', 'off', 'fault', 'unknown'] as const;
const DAY = 86_400_000;
/** Rows drawn at once: a province's 16,000 instruments would make a phone crawl; search narrows. */
const MAX_ROWS = 300;

/** A calendar day `YYYY-MM-DD` in the browser's time zone, `days` from today. */
export function dateFromToday(days: number): string {
  const d = new Date(Date.now() + days * DAY);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function widthOf(el: Element): number {
  return Math.max(260, Math.min(960, Math.floor(el.clientWidth || 320)));
}

export function errorBox(err: unknown): HTMLElement {
  const message = err instanceof ApiError ? err.message : String((err as Error)?.message ?? err);
  return h('p', { class: 'error', role: 'alert' }, message);
}

function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

/** A card that fills itself when its data arrives, or shows the error of that one call. */
function lazySection(title: string, fill: (body: HTMLElement) => Promise<void>): HTMLElement {
  const body = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const card = section(title, body);
  queueMicrotask(() => {
    fill(body).catch((err) => replace(body, errorBox(err)));
  });
  return card;
}

function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge st-${state}` }, word('state', state));
}

function instrumentLink(id: string, name?: string | null): HTMLElement {
  return h('a', { href: `#/instruments/${encodeURIComponent(id)}` }, name ? `${name} · ${id}` : id);
}

// ---------------------------------------------------------------------------------------------
// Overview

export async function overview(main: HTMLElement): Promise<void> {
  const days = 90;
  const list = await getAll<Instrument>('/v1/instruments');
  const counts = new Map<string, number>();
  for (const i of list) counts.set(i.state, (counts.get(i.state) ?? 0) + 1);
  const online = list.filter((i) => i.online).length;
  const tile = (n: number | string, label: string, cls = '') =>
    h('div', { class: `tile ${cls}` }, h('strong', {}, String(n)), h('span', {}, label));
  const from = dateFromToday(-29);
  const to = dateFromToday(0);
  replace(
    main,
    section(
      t('overview.now'),
      h(
        'div',
        { class: 'tiles' },
        tile(list.length, t('overview.total')),
        tile(online, t('overview.online')),
        tile(list.length - online, t('overview.offline')),
        ...STATES.filter((st) => counts.has(st)).map((st) =>
          tile(counts.get(st)!, word('state', st), `st-${st}`),
        ),
      ),
    ),
    lazySection(t('overview.idle90', { days }), async (body) => {
      const idle = await get<IdleList>(`/v1/idle?days=${days}`);
      replace(
        body,
        h(
          'div',
          { class: 'tiles' },
          h(
            'a',
            { class: 'tile warn', href: '#/idle' },
            h('strong', {}, String(idle.items.length)),
            h('span', {}, `${t('overview.idleList')} →`),
          ),
          tile(idle.neverReported.length, t('overview.neverReported')),
        ),
      );
    }),
    lazySection(t('overview.trend', { days }), async (body) => {
      const trend = await get<{ weeks: { week: string; idle: number }[] }>(
        `/v1/kpi/idle-trend?from=${dateFromToday(-26 * 7)}&to=${to}&days=${days}`,
      );
      if (trend.weeks.length === 0) return replace(body, h('p', { class: 'muted' }, t('overview.noTrend')));
      replace(
        body,
        columns(
          trend.weeks.map((w) => ({ label: w.week.replace(/^\d{4}-/, ''), value: w.idle })),
          widthOf(body),
          t('overview.trend', { days }),
        ),
      );
    }),
    lazySection(t('overview.utilisation', { from, to }), async (body) => {
      const u = await get<{
        items: {
          group: string | null;
          instruments: number;
          runningHours: number;
          utilisation: number | null;
        }[];
      }>(`/v1/utilization?groupBy=org&from=${from}&to=${to}`);
      if (u.items.length === 0) return replace(body, h('p', { class: 'muted' }, t('none')));
      replace(
        body,
        barsH(
          u.items.map((it) => ({
            label: `${it.group ?? '–'} (${it.instruments})`,
            value: it.utilisation ?? 0,
            text: `${fmtPercent(it.utilisation)} · ${fmtNumber(it.runningHours, 0)} h`,
          })),
          widthOf(body),
          t('overview.utilisation', { from, to }),
          0.01,
        ),
      );
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Instruments

function select(name: string, all: string, values: string[], label: (v: string) => string, current: string) {
  return h(
    'select',
    { name, 'aria-label': all },
    h('option', { value: '' }, all),
    ...values.map((v) => h('option', { value: v, selected: v === current }, label(v))),
  );
}

export async function instruments(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const list = await getAll<Instrument>('/v1/instruments');
  const uniq = (f: (i: Instrument) => string | null) =>
    [...new Set(list.map(f).filter((v): v is string => !!v))].sort((a, b) =>
      a.localeCompare(b, currentLang()),
    );
  const search = h('input', {
    type: 'search',
    name: 'q',
    placeholder: t('filter.search'),
    'aria-label': t('filter.search'),
    value: params.get('q') ?? '',
  });
  const org = select(
    'org',
    t('filter.allOrgs'),
    uniq((i) => i.org),
    (v) => v,
    params.get('org') ?? '',
  );
  const cat = select(
    'category',
    t('filter.allCategories'),
    uniq((i) => i.category),
    (v) => v,
    params.get('category') ?? '',
  );
  const state = select(
    'state',
    t('filter.allStates'),
    [...STATES],
    (v) => word('state', v),
    params.get('state') ?? '',
  );
  const count = h('p', { class: 'muted' });
  const rows = h('div', { class: 'rows' });
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = list.filter(
      (i) =>
        (!q || i.id.toLowerCase().includes(q) || (i.name ?? '').toLowerCase().includes(q)) &&
        (!org.value || i.org === org.value) &&
        (!cat.value || i.category === cat.value) &&
        (!state.value || i.state === state.value),
    );
    count.textContent =
      t('filter.count', { n: shown.length, total: list.length }) +
      (shown.length > MAX_ROWS ? ` · ${t('filter.first', { n: MAX_ROWS })}` : '');
    replace(
      rows,
      shown
        .slice(0, MAX_ROWS)
        .map((i) =>
          h(
            'a',
            { class: 'row', href: `#/instruments/${encodeURIComponent(i.id)}` },
            h('span', { class: 'name' }, h('strong', {}, i.name ?? i.id), h('small', {}, i.id)),
            h('span', { class: 'org' }, i.org ?? '–', i.category ? h('small', {}, i.category) : null),
            h(
              'span',
              { class: 'state' },
              stateBadge(i.state),
              h('small', {}, i.online ? t('overview.online') : t('overview.offline')),
            ),
          ),
        ),
    );
    const next = new URLSearchParams();
    if (search.value) next.set('q', search.value);
    for (const sel of [org, cat, state]) if (sel.value) next.set(sel.name, sel.value);
    const hash = `#/instruments${next.size ? `?${next}` : ''}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
  };
  for (const el of [search, org, cat, state]) el.addEventListener('input', render);
  replace(
    main,
    section(t('nav.instruments'), h('div', { class: 'filters' }, search, org, cat, state), count, rows),
  );
  render();
}

// ---------------------------------------------------------------------------------------------
// Alerts

function alertCard(a: Alert, after: () => void): HTMLElement {
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const act = (what: 'ack' | 'resolve') => async (e: Event) => {
    const btn = e.currentTarget as HTMLButtonElement;
    btn.disabled = true;
    try {
      const done = await post<Alert>(`/v1/alerts/${encodeURIComponent(String(a.id))}/${what}`, {});
      status.textContent = t('alerts.done', { id: String(a.id), status: word('status', done.status) });
      after();
    } catch (err) {
      btn.disabled = false;
      replace(status, errorBox(err));
    }
  };
  const who = a.resolved ?? a.acknowledged;
  return h(
    'article',
    { class: `alert sev-${a.severity}`, 'data-alert': String(a.id) },
    h(
      'header',
      {},
      h('span', { class: `badge status-${a.status}` }, word('status', a.status)),
      h('strong', {}, a.kind === 'anomaly' ? word('type', a.type) : word('kind', a.kind)),
      a.count > 1 ? h('small', {}, t('alerts.count', { n: a.count })) : null,
      h('small', {}, word('severity', a.severity)),
    ),
    h('p', {}, instrumentLink(a.instrumentId), ' · ', t('alerts.opened', { t: fmtTime(a.openedAt) })),
    a.opened?.note
      ? h('blockquote', {}, a.opened.note, a.opened.by ? h('small', {}, ` — ${a.opened.by}`) : null)
      : null,
    who?.by ? h('p', { class: 'muted' }, t('alerts.by', { who: who.by }), ' · ', fmtTime(who.at)) : null,
    h(
      'div',
      { class: 'actions' },
      a.status === 'open'
        ? h('button', { type: 'button', class: 'ack', onclick: act('ack') }, t('alerts.ack'))
        : null,
      a.status !== 'resolved'
        ? h('button', { type: 'button', class: 'resolve', onclick: act('resolve') }, t('alerts.resolve'))
        : null,
    ),
    status,
  );
}

async function alertList(path: string, into: HTMLElement, refresh: () => void): Promise<void> {
  const page = await get<{ items: Alert[] }>(path);
  if (page.items.length === 0) return replace(into, h('p', { class: 'muted' }, t('none')));
  replace(
    into,
    page.items.map((a) => alertCard(a, () => setTimeout(refresh, 600))),
  );
}

export async function alerts(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const statusSel = select(
    'status',
    t('alerts.all'),
    ['open', 'acknowledged', 'resolved'],
    (v) => word('status', v),
    params.get('status') ?? 'open',
  );
  const kindSel = select(
    'kind',
    t('alerts.all'),
    ['anomaly', 'offline', 'idle', 'reported'],
    (v) => word('kind', v),
    params.get('kind') ?? '',
  );
  const list = h('div', { class: 'alerts' });
  const load = () => {
    const q = new URLSearchParams({ limit: '200' });
    if (statusSel.value) q.set('status', statusSel.value);
    if (kindSel.value) q.set('kind', kindSel.value);
    const hash = `#/alerts?${new URLSearchParams([...q].filter(([k]) => k !== 'limit'))}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    alertList(`/v1/alerts?${q}`, list, load).catch((err) => replace(list, errorBox(err)));
  };
  statusSel.addEventListener('change', load);
  kindSel.addEventListener('change', load);
  replace(
    main,
    section(
      t('nav.alerts'),
      h(
        'div',
        { class: 'filters' },
        h('label', {}, t('alerts.status'), ' ', statusSel),
        h('label', {}, t('alerts.kind'), ' ', kindSel),
      ),
      list,
    ),
  );
  load();
}

// ---------------------------------------------------------------------------------------------
// Instrument detail

function segmentsOf(
  points: Point[],
  stepMs: number,
  th: NonNullable<InstrumentDetail['thresholds']>,
): Segment[] {
  const out: Segment[] = [];
  for (const p of points) {
    const state =
      p.mean >= th.running
        ? 'running'
        : p.mean >= th.idle
          ? 'idle'
          : p.mean >= th.standby
            ? 'standby'
            : 'off';
    const last = out.at(-1);
    if (last && last.state === state && last.to === p.t) last.to = p.t + stepMs;
    else out.push({ from: p.t, to: p.t + stepMs, state });
  }
  return out;
}

export async function instrument(main: HTMLElement, id: string): Promise<void> {
  const path = `/v1/instruments/${encodeURIComponent(id)}`;
  const inst = await get<InstrumentDetail>(path);
  const stepMs = 5 * 60_000;
  const to = Math.ceil(Date.now() / stepMs) * stepMs;
  const from = to - DAY;
  const series = (metric: string) =>
    get<{ points: { t: string; mean: number; min: number; max: number }[] }>(
      `${path}/series?metric=${encodeURIComponent(metric)}&from=${from}&to=${to}&every=5m`,
    ).then((r) => r.points.map((p) => ({ ...p, t: Date.parse(p.t) })));
  const signal = inst.thresholds?.signal ?? 'power_w';
  const power = series('power_w');
  const alertsBox = h('div', { class: 'alerts' });
  const loadAlerts = () =>
    alertList(`/v1/alerts?instrument=${encodeURIComponent(id)}&limit=50`, alertsBox, loadAlerts).catch(
      (err) => replace(alertsBox, errorBox(err)),
    );
  replace(
    main,
    section(
      inst.name ?? inst.id,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, t('col.id')),
        h('dd', {}, inst.id),
        h('dt', {}, t('col.org')),
        h('dd', {}, inst.org ?? '–'),
        h('dt', {}, t('col.category')),
        h('dd', {}, inst.category ?? '–'),
        h('dt', {}, t('detail.state')),
        h(
          'dd',
          {},
          stateBadge(inst.state),
          ' ',
          inst.online ? t('overview.online') : t('overview.offline'),
          inst.stateSince ? ` · ${t('detail.since', { t: fmtTime(inst.stateSince) })}` : '',
        ),
        h('dt', {}, t('col.lastPowered')),
        h('dd', {}, fmtTime(inst.lastPoweredAt)),
        h('dt', {}, t('detail.quota')),
        h('dd', {}, inst.quotaHours === null ? '–' : `${fmtNumber(inst.quotaHours, 0)} h`),
      ),
    ),
    inst.thresholds
      ? lazySection(t('detail.timeline'), async (body) => {
          const th = inst.thresholds!;
          const pts = signal === 'power_w' ? await power : await series(signal);
          replace(
            body,
            timeline(segmentsOf(pts, stepMs, th), from, to, widthOf(body), t('detail.timeline')),
            h(
              'p',
              { class: 'legend' },
              STATES.map((st) => h('span', {}, h('i', { class: `st-${st}` }), word('state', st))),
            ),
            h('p', { class: 'muted' }, t('detail.timelineNote')),
          );
        })
      : null,
    lazySection(t('detail.power'), async (body) => {
      const pts = await power;
      if (pts.length === 0) return replace(body, h('p', { class: 'muted' }, t('detail.noSeries')));
      replace(body, lineChart(pts, from, to, stepMs, widthOf(body), t('detail.power')));
    }),
    lazySection(t('detail.usage'), async (body) => {
      const u = await get<{ days: { date: string; poweredHours: number; runningHours: number }[] }>(
        `${path}/usage?from=${dateFromToday(-13)}&to=${dateFromToday(0)}`,
      );
      replace(
        body,
        dailyBars(
          u.days.map((d) => ({ label: d.date.slice(5), powered: d.poweredHours, running: d.runningHours })),
          widthOf(body),
          t('detail.usage'),
        ),
        h(
          'p',
          { class: 'legend' },
          h('span', {}, h('i', { class: 'powered' }), t('detail.powered')),
          h('span', {}, h('i', { class: 'running' }), t('detail.running')),
        ),
      );
    }),
    section(t('detail.alerts'), alertsBox),
    feedbackForm([inst]),
  );
  loadAlerts();
}

// ---------------------------------------------------------------------------------------------
// Idle

export async function idle(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const days = Math.max(1, Number(params.get('days')) || 90);
  const input = h('input', {
    type: 'number',
    name: 'days',
    min: 1,
    max: 3650,
    value: days,
    'aria-label': t('idle.days'),
  });
  const body = h('div', {});
  const load = async () => {
    const n = Math.max(1, Number(input.value) || 90);
    history.replaceState(null, '', `#/idle?days=${n}`);
    const list = await get<IdleList>(`/v1/idle?days=${n}`);
    replace(
      body,
      h(
        'div',
        { class: 'rows' },
        list.items.length === 0 ? h('p', { class: 'muted' }, t('none')) : null,
        list.items.map((i) =>
          h(
            'a',
            { class: 'row', href: `#/instruments/${encodeURIComponent(i.id)}` },
            h('span', { class: 'name' }, h('strong', {}, i.name ?? i.id), h('small', {}, i.id)),
            h('span', { class: 'org' }, i.org ?? '–', h('small', {}, word('reason', i.reason))),
            h(
              'span',
              { class: 'state' },
              h('strong', {}, `${i.idleDays} ${t('idle.daysUnit')}`),
              h('small', {}, `${t('col.lastPowered')}: ${fmtTime(i.lastPoweredAt)}`),
            ),
          ),
        ),
      ),
      h('h3', {}, t('idle.never')),
      list.neverReported.length === 0
        ? h('p', { class: 'muted' }, t('none'))
        : h(
            'ul',
            {},
            list.neverReported.map((i) => h('li', {}, instrumentLink(i.id, i.name), ` · ${i.org ?? '–'}`)),
          ),
    );
  };
  input.addEventListener('change', () => load().catch((err) => replace(body, errorBox(err))));
  replace(
    main,
    section(
      t('nav.idle'),
      h('div', { class: 'filters' }, h('label', {}, t('idle.days'), ' ', input, ` ${t('idle.daysUnit')}`)),
      body,
    ),
  );
  await load();
}

// ---------------------------------------------------------------------------------------------
// Reports

export async function reports(main: HTMLElement): Promise<void> {
  const year = new Date().getFullYear();
  const from = h('input', { type: 'date', name: 'from', value: `${year}-01-01`, required: true });
  const to = h('input', { type: 'date', name: 'to', value: dateFromToday(-1), required: true });
  const format = h(
    'select',
    { name: 'format' },
    ...['csv', 'xlsx', 'pdf'].map((f) => h('option', { value: f }, f.toUpperCase())),
  );
  const org = h('input', { type: 'text', name: 'org', autocomplete: 'off' });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, t('reports.download'));
  const form = h(
    'form',
    { class: 'form' },
    h('label', {}, t('reports.from'), from),
    h('label', {}, t('reports.to'), to),
    h('label', {}, t('reports.format'), format),
    h('label', {}, t('reports.org'), org),
    button,
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    replace(status, h('p', { class: 'muted' }, t('loading')));
    try {
      const q = new URLSearchParams({
        from: from.value,
        to: to.value,
        format: format.value,
        lang: currentLang(),
      });
      if (org.value.trim()) q.set('org', org.value.trim());
      const file = await download(
        `/v1/reports/uptime?${q}`,
        `uptime-${from.value}-${to.value}.${format.value}`,
      );
      replace(
        status,
        h('p', { class: 'ok' }, t('reports.done', { file: file.name, kb: Math.ceil(file.bytes / 1024) })),
      );
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  replace(main, section(t('reports.title'), h('p', { class: 'muted' }, t('reports.help')), form));
}

// ---------------------------------------------------------------------------------------------
// 反馈: a user's report of a runtime anomaly

export function feedbackForm(choices: Pick<Instrument, 'id' | 'name'>[], chosen?: string): HTMLElement {
  const inst = h(
    'select',
    { name: 'instrument', required: true },
    ...choices.map((i) =>
      h('option', { value: i.id, selected: i.id === chosen }, i.name ? `${i.name} · ${i.id}` : i.id),
    ),
  );
  const text = h('textarea', { name: 'text', rows: 3, maxlength: 2000, required: true });
  const severity = h(
    'select',
    { name: 'severity' },
    ...['warning', 'info', 'critical'].map((v) => h('option', { value: v }, word('severity', v))),
  );
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, t('feedback.submit'));
  const form = h(
    'form',
    { class: 'form feedback' },
    choices.length > 1 ? h('label', {}, t('feedback.instrument'), inst) : null,
    h('label', {}, t('feedback.text'), text),
    h('label', {}, t('feedback.severity'), severity),
    button,
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!text.value.trim()) return replace(status, h('p', { class: 'error' }, t('feedback.empty')));
    button.disabled = true;
    try {
      const r = await post<Alert>(`/v1/instruments/${encodeURIComponent(inst.value)}/reports`, {
        text: text.value.trim(),
        severity: severity.value,
      });
      const key: Key = r.httpStatus === 201 ? 'feedback.created' : 'feedback.added';
      replace(status, h('p', { class: 'ok' }, t(key, { id: String(r.id) })));
      text.value = '';
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return section(t('feedback.title'), h('p', { class: 'muted' }, t('feedback.help')), form);
}

export async function feedback(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const list = await getAll<Instrument>('/v1/instruments');
  replace(main, feedbackForm(list, params.get('instrument') ?? undefined));
}
