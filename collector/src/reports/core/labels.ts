/**
 * The report's words in zh-CN and en, taken from ../shared/GLOSSARY.md where it has them
 * (开机时长, 有效工作机时, 定额机时, 使用率, 数据覆盖率, 闲置, 未接入, 管理单位, 仪器编码, 运行报告).
 */
import type { DataStatus, Lang, Text } from './uptime.ts';

export const LABELS = {
  title: { 'zh-CN': '大型科研仪器运行报告（机时报告）', en: 'Uptime report of large research instruments' },
  period: { 'zh-CN': '统计期间', en: 'Period' },
  timezone: { 'zh-CN': '时区', en: 'Time zone' },
  generatedAt: { 'zh-CN': '生成时间', en: 'Generated at' },
  figuresUntil: { 'zh-CN': '数据截至', en: 'Figures up to' },
  scope: { 'zh-CN': '范围（管理单位）', en: 'Scope (org)' },
  allOrgs: { 'zh-CN': '全部管理单位', en: 'all orgs' },
  idleRule: { 'zh-CN': '闲置标准', en: 'Idle rule' },
  idleRuleValue: {
    'zh-CN': '期末已连续 {n} 天以上未开机',
    en: 'not powered for {n} days or more at the end of the period',
  },
  reportId: { 'zh-CN': '报告编号', en: 'Report id' },
  signingKey: { 'zh-CN': '签名密钥（Ed25519）', en: 'Signing key (Ed25519)' },
  hoursNote: { 'zh-CN': '说明', en: 'Note' },
  hoursNoteValue: {
    'zh-CN':
      '机时与 /v1/instruments/{id}/usage 同期结果一致（按毫秒累计，保留两位小数）；定额机时按统计期间已过部分折算；使用率 = 有效工作机时 / 折算定额机时',
    en: 'Hours equal /v1/instruments/{id}/usage for the same period (summed in ms, rounded to 0.01); quota hours are prorated to the elapsed part of the period; utilisation = effective working hours / prorated quota hours',
  },
  verifyNote: { 'zh-CN': '验证', en: 'Verify' },
  verifyNoteValue: {
    'zh-CN': '本文件由汇聚服务以 Ed25519 签名：dayi report verify 文件 --url 汇聚服务地址',
    en: 'This file is signed by the collector with Ed25519: dayi report verify FILE --url COLLECTOR_URL',
  },
  instruments: { 'zh-CN': '仪器', en: 'Instruments' },
  instrumentCount: { 'zh-CN': '仪器数', en: 'Instruments' },
  byOrg: { 'zh-CN': '按管理单位汇总', en: 'Totals by org' },
  summary: { 'zh-CN': '报告信息', en: 'Report' },
  total: { 'zh-CN': '合计', en: 'Total' },
  noOrg: { 'zh-CN': '（未填写管理单位）', en: '(no org)' },
  idleCount: { 'zh-CN': '闲置仪器数（{n} 天以上未开机）', en: 'Idle (not powered for {n}+ days)' },
  noDataCount: { 'zh-CN': '未接入 / 无数据', en: 'Never reported / no data' },
  page: { 'zh-CN': '第 {p} / {n} 页', en: 'Page {p} of {n}' },
  // Instrument columns
  id: { 'zh-CN': '仪器编码', en: 'Instrument code' },
  name: { 'zh-CN': '仪器名称', en: 'Name' },
  org: { 'zh-CN': '管理单位', en: 'Org' },
  category: { 'zh-CN': '类别', en: 'Category' },
  poweredHours: { 'zh-CN': '开机时长 (h)', en: 'Powered hours' },
  runningHours: { 'zh-CN': '有效工作机时 (h)', en: 'Effective working hours' },
  quotaHours: { 'zh-CN': '折算定额机时 (h)', en: 'Quota hours (prorated)' },
  utilisation: { 'zh-CN': '使用率 (%)', en: 'Utilisation (%)' },
  coverage: { 'zh-CN': '数据覆盖率 (%)', en: 'Coverage (%)' },
  idleDays: { 'zh-CN': '期末闲置天数', en: 'Idle days at period end' },
} as const satisfies Record<string, Text>;

export type LabelKey = keyof typeof LABELS;

export function label(key: LabelKey, lang: Lang, vars: Record<string, string | number> = {}): string {
  return LABELS[key][lang].replace(/\{(\w+)\}/g, (m, name: string) =>
    name in vars ? String(vars[name]) : m,
  );
}

const STATUS: Record<Exclude<DataStatus, 'reported'>, Text> = {
  never_reported: { 'zh-CN': '未接入', en: 'never reported' },
  not_yet_reported: { 'zh-CN': '无数据', en: 'no data yet' },
};

/** What stands in the idle-days cell of an instrument that had sent nothing by the period's end. */
export function statusText(status: DataStatus, lang: Lang): string {
  return status === 'reported' ? '' : STATUS[status][lang];
}

export function orgText(org: string | null, lang: Lang): string {
  return org ?? label('noOrg', lang);
}
