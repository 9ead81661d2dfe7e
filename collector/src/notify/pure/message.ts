/**
 * The words of a notification, in zh-CN (default, GLOSSARY words) or en. Pure: the same event,
 * locale and time zone always give the same text.
 */
import type { AlertKind, AlertSeverity, AlertTransition } from '../../alerts/types.ts';
import { isoWithOffset } from '../../derive/pure/calendar.ts';
import type { Locale } from './config.ts';
import type { AlertEvent, DigestEvent, NotifyEvent } from './events.ts';

export interface RenderOptions {
  locale: Locale;
  timezone: string;
  /** `notify.instrumentUrl`, `{id}` replaced by the instrument id. */
  instrumentUrl?: string | undefined;
}

/** A message ready for any channel: a title, labelled lines, and the instrument's link. */
export interface Message {
  title: string;
  /** [label, value] pairs, in order. */
  fields: [string, string][];
  /** Plain lines (the digest's list), after the fields. */
  lines: string[];
  link: { text: string; url: string } | null;
}

const WORDS = {
  'zh-CN': {
    kind: { offline: '离线', anomaly: '运行异常', idle: '闲置', reported: '用户报告异常' } as Record<
      AlertKind,
      string
    >,
    severity: { info: '提示', warning: '警告', critical: '严重' } as Record<AlertSeverity, string>,
    transition: {
      opened: '新告警',
      repeated: '告警持续',
      acknowledged: '告警已确认',
      resolved: '告警已处理',
      reopened: '告警再次出现',
    } as Record<AlertTransition, string>,
    type: {
      power_out_of_band: '功率超出正常范围',
      level_shift: '运行基线偏移',
      short_cycling: '频繁启停',
      long_run: '连续运行超时',
      out_of_hours: '非服务时段运行',
      vendor_fault: '设备故障',
      sensor_stuck: '传感器数据异常',
      clock_skew: '采集终端时钟偏差',
      data_gap: '数据缺失',
    } as Record<string, string>,
    status: { open: '未处理', acknowledged: '已确认', resolved: '已处理' } as Record<string, string>,
    label: {
      instrument: '仪器',
      org: '管理单位',
      kind: '类型',
      severity: '级别',
      status: '状态',
      openedAt: '首次发生',
      at: '时间',
      count: '次数',
      by: '操作人',
      note: '备注',
      detail: '详情',
      link: '查看仪器',
    },
    digestTitle: (org: string, n: number, days: number) =>
      `【闲置周报】${org}：${n} 台大型仪器闲置（${days} 天以上未开机）`,
    digestLine: (name: string, days: number, last: string) =>
      `${name}：已闲置 ${days} 天（最后开机 ${last}）`,
    digestNever: (n: number) => `另有 ${n} 台已登记但从未接入（无数据）`,
    neverPowered: '从未开机',
    noOrg: '未登记管理单位',
    system: '系统',
    sep: '：',
  },
  en: {
    kind: { offline: 'offline', anomaly: 'anomaly', idle: 'idle', reported: 'reported by a user' } as Record<
      AlertKind,
      string
    >,
    severity: { info: 'info', warning: 'warning', critical: 'critical' } as Record<AlertSeverity, string>,
    transition: {
      opened: 'Alert',
      repeated: 'Alert continues',
      acknowledged: 'Alert acknowledged',
      resolved: 'Alert resolved',
      reopened: 'Alert again',
    } as Record<AlertTransition, string>,
    type: {
      power_out_of_band: 'power out of its band',
      level_shift: 'running baseline shifted',
      short_cycling: 'short cycling',
      long_run: 'running too long',
      out_of_hours: 'running out of service hours',
      vendor_fault: 'vendor fault',
      sensor_stuck: 'sensor stuck or impossible values',
      clock_skew: 'agent clock skew',
      data_gap: 'data gap',
    } as Record<string, string>,
    status: { open: 'open', acknowledged: 'acknowledged', resolved: 'resolved' } as Record<string, string>,
    label: {
      instrument: 'Instrument',
      org: 'Unit',
      kind: 'Kind',
      severity: 'Severity',
      status: 'Status',
      openedAt: 'First seen',
      at: 'Time',
      count: 'Count',
      by: 'By',
      note: 'Note',
      detail: 'Detail',
      link: 'Open instrument',
    },
    digestTitle: (org: string, n: number, days: number) =>
      `[Idle weekly] ${org}: ${n} instrument${n === 1 ? ' is' : 's are'} idle (not powered for ${days}+ days)`,
    digestLine: (name: string, days: number, last: string) =>
      `${name}: idle ${days} days (last powered ${last})`,
    digestNever: (n: number) => `and ${n} registered that never reported`,
    neverPowered: 'never',
    noOrg: 'no unit',
    system: 'system',
    sep: ': ',
  },
} as const;

/** "600 MHz NMR（ZJ-NMR-0001）" or the id alone when the registry has no name. */
export function instrumentLabel(name: string | null, id: string, locale: Locale): string {
  if (!name) return id;
  return locale === 'zh-CN' ? `${name}（${id}）` : `${name} (${id})`;
}

/** Local time to the minute: 2026-11-29 08:00 (+08:00). */
export function localTime(ts: number, timezone: string): string {
  const iso = isoWithOffset(ts, timezone);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} (${iso.slice(23)})`;
}

function typeWords(kind: AlertKind, type: string, locale: Locale): string {
  const w = WORDS[locale];
  if (kind !== 'anomaly') return w.kind[kind];
  return `${w.kind.anomaly}${locale === 'zh-CN' ? '：' : ': '}${w.type[type] ?? type}`;
}

function detailText(detail: Record<string, unknown>): string | null {
  const parts = Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .slice(0, 6)
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.length > 0 ? parts.join(', ') : null;
}

function linkOf(opts: RenderOptions, id: string, text: string): Message['link'] {
  return opts.instrumentUrl
    ? { text, url: opts.instrumentUrl.replace('{id}', encodeURIComponent(id)) }
    : null;
}

export function renderAlert(e: AlertEvent, opts: RenderOptions): Message {
  const w = WORDS[opts.locale];
  const { alert } = e;
  const label = instrumentLabel(e.instrument.name, alert.instrumentId, opts.locale);
  const sev = w.severity[alert.severity];
  const what = typeWords(alert.kind, alert.type, opts.locale);
  const title =
    opts.locale === 'zh-CN'
      ? `【${sev}】${w.transition[e.transition]}：${label} ${what}`
      : `[${sev}] ${w.transition[e.transition]}: ${label} ${what}`;
  const fields: [string, string][] = [
    [w.label.instrument, label],
    [w.label.org, e.instrument.org ?? alert.org ?? w.noOrg],
    [w.label.kind, what],
    [w.label.severity, sev],
    [w.label.status, w.status[alert.status] ?? alert.status],
    [w.label.openedAt, localTime(alert.openedAt, opts.timezone)],
    [w.label.at, localTime(e.at, opts.timezone)],
  ];
  if (alert.count > 1) fields.push([w.label.count, String(alert.count)]);
  if (e.by !== null) fields.push([w.label.by, e.by]);
  if (e.note) fields.push([w.label.note, e.note]);
  const detail = detailText(alert.detail);
  if (detail) fields.push([w.label.detail, detail]);
  return { title, fields, lines: [], link: linkOf(opts, alert.instrumentId, w.label.link) };
}

export function renderDigest(e: DigestEvent, opts: RenderOptions): Message {
  const w = WORDS[opts.locale];
  const org = e.org ?? w.noOrg;
  const lines = e.items.map((i) =>
    w.digestLine(
      instrumentLabel(i.name, i.id, opts.locale),
      i.idleDays,
      i.lastPoweredAt === null ? w.neverPowered : localTime(i.lastPoweredAt, opts.timezone).slice(0, 10),
    ),
  );
  if (e.neverReported > 0) lines.push(w.digestNever(e.neverReported));
  return { title: w.digestTitle(org, e.items.length, e.idleDays), fields: [], lines, link: null };
}

export function render(e: NotifyEvent, opts: RenderOptions): Message {
  return e.type === 'alert' ? renderAlert(e, opts) : renderDigest(e, opts);
}

/** The message as plain text: title, fields, lines, link. */
export function plainText(m: Message, locale: Locale): string {
  const sep = WORDS[locale].sep;
  const out = [m.title, '', ...m.fields.map(([k, v]) => `${k}${sep}${v}`), ...m.lines];
  if (m.link) out.push(`${m.link.text}${sep}${m.link.url}`);
  return out.join('\n');
}
