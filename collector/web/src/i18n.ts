/**
 * The interface in zh-CN and en (words of the project's glossary). The first visit follows the
 * browser's language; a choice made with the switch is kept in localStorage (it is no secret).
 */
export type Lang = 'zh-CN' | 'en';

const en = {
  title: 'dayi: instrument usage',
  brand: 'dayi',
  'nav.overview': 'Overview',
  'nav.instruments': 'Instruments',
  'nav.alerts': 'Alerts',
  'nav.idle': 'Idle',
  'nav.reports': 'Reports',
  'nav.feedback': 'Report a problem',
  'lang.switch': '中文',
  signOut: 'Sign out',
  'signin.title': 'Sign in',
  'signin.key': 'API key',
  'signin.help':
    'Paste an API key of this collector. It is kept in this browser tab only (session storage) and sent in the Authorization header, never in a URL.',
  'signin.submit': 'Sign in',
  'err.401': 'This API key is not accepted (401). Check it and sign in again.',
  'err.403': "This API key's role may not do this (403).",
  'err.network': 'The collector cannot be reached.',
  'err.other': 'The collector answered {status}: {message}',
  loading: 'Loading…',
  none: 'None.',
  'overview.now': 'Instruments now',
  'overview.total': 'registered',
  'overview.online': 'online',
  'overview.offline': 'offline',
  'overview.idle90': 'Idle for {days}+ days',
  'overview.neverReported': 'never reported',
  'overview.idleList': 'idle list',
  'overview.trend': 'Idle {days}+ days, per week',
  'overview.utilisation': 'Utilisation by unit, {from} to {to}',
  'overview.noTrend': 'No complete week yet.',
  'state.off': 'off',
  'state.standby': 'standby',
  'state.idle': 'idle',
  'state.running': 'running',
  'state.fault': 'fault',
  'state.unknown': 'unknown',
  'col.id': 'Instrument code',
  'col.name': 'Name',
  'col.org': 'Unit',
  'col.category': 'Category',
  'col.state': 'State',
  'col.lastSeen': 'Last seen',
  'col.lastPowered': 'Last powered',
  'col.idleDays': 'Idle days',
  'col.reason': 'Reason',
  'col.instruments': 'Instruments',
  'col.utilisation': 'Utilisation',
  'col.running': 'Running h',
  'col.quota': 'Quota h',
  'filter.search': 'Search code or name',
  'filter.allOrgs': 'All units',
  'filter.allStates': 'All states',
  'filter.allCategories': 'All categories',
  'filter.count': '{n} of {total}',
  'filter.first': 'the first {n} shown: search or filter to narrow',
  'detail.state': 'State',
  'detail.since': 'since {t}',
  'detail.quota': 'Quota hours',
  'detail.timeline': 'State, last 24 h',
  'detail.timelineNote': 'from the mean power of 5-minute buckets and the instrument’s thresholds',
  'detail.power': 'Power (W), last 24 h',
  'detail.usage': 'Daily usage, last 14 days',
  'detail.powered': 'powered',
  'detail.running': 'running (effective hours)',
  'detail.alerts': 'Alerts',
  'detail.noSeries': 'No samples in the last 24 h.',
  'alerts.status': 'Status',
  'alerts.kind': 'Kind',
  'alerts.all': 'All',
  'alerts.ack': 'Acknowledge',
  'alerts.resolve': 'Resolve',
  'alerts.opened': 'opened {t}',
  'alerts.count': '×{n}',
  'alerts.by': 'by {who}',
  'alerts.done': 'Alert {id}: {status}.',
  'status.open': 'open',
  'status.acknowledged': 'acknowledged',
  'status.resolved': 'resolved',
  'kind.offline': 'offline',
  'kind.anomaly': 'anomaly',
  'kind.idle': 'idle',
  'kind.reported': 'reported',
  'type.power_out_of_band': 'power out of band',
  'type.level_shift': 'power level shift',
  'type.short_cycling': 'short cycling',
  'type.long_run': 'long run',
  'type.out_of_hours': 'use out of hours',
  'type.vendor_fault': 'instrument fault',
  'type.sensor_stuck': 'meter frozen',
  'type.clock_skew': 'clock skew',
  'type.data_gap': 'data gap',
  'severity.info': 'info',
  'severity.warning': 'warning',
  'severity.critical': 'critical',
  'idle.days': 'Not powered for at least',
  'idle.daysUnit': 'days',
  'idle.never': 'Registered, never reported',
  'reason.not_powered': 'not powered',
  'reason.silent': 'silent',
  'reason.never_seen': 'never reported',
  'reports.title': 'Uptime report',
  'reports.help': 'Signed by the collector (Ed25519); check a file with `dayi report verify FILE`.',
  'reports.from': 'From',
  'reports.to': 'To',
  'reports.format': 'Format',
  'reports.org': 'Unit (optional)',
  'reports.download': 'Download',
  'reports.done': 'Downloaded {file} ({kb} KB).',
  'feedback.title': 'Report a runtime anomaly',
  'feedback.help':
    'What you saw on the instrument; a manager of its unit is told (an alert of kind reported).',
  'feedback.instrument': 'Instrument',
  'feedback.text': 'What happened',
  'feedback.severity': 'Severity',
  'feedback.submit': 'Send',
  'feedback.created': 'Thank you: alert {id} opened.',
  'feedback.added': 'Thank you: added to the open alert {id}.',
  'feedback.empty': 'Please describe what happened.',
} as const;

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  title: '大仪运行监测',
  brand: '大仪运行监测',
  'nav.overview': '总览',
  'nav.instruments': '仪器',
  'nav.alerts': '告警',
  'nav.idle': '闲置',
  'nav.reports': '报告',
  'nav.feedback': '反馈',
  'lang.switch': 'EN',
  signOut: '退出',
  'signin.title': '登录',
  'signin.key': 'API 密钥',
  'signin.help':
    '粘贴本汇聚服务的 API 密钥。密钥只保存在当前标签页（会话存储），通过 Authorization 请求头发送，不会出现在网址中。',
  'signin.submit': '登录',
  'err.401': 'API 密钥无效（401），请检查后重新登录。',
  'err.403': '此 API 密钥的角色无权执行该操作（403）。',
  'err.network': '无法连接汇聚服务。',
  'err.other': '汇聚服务返回 {status}：{message}',
  loading: '加载中…',
  none: '无。',
  'overview.now': '当前仪器状态',
  'overview.total': '已登记',
  'overview.online': '在线',
  'overview.offline': '离线',
  'overview.idle90': '闲置 {days} 天以上',
  'overview.neverReported': '未接入',
  'overview.idleList': '闲置清单',
  'overview.trend': '闲置 {days} 天以上（每周）',
  'overview.utilisation': '各管理单位使用率（{from} 至 {to}）',
  'overview.noTrend': '尚无完整的一周。',
  'state.off': '关机',
  'state.standby': '待机',
  'state.idle': '空闲',
  'state.running': '运行',
  'state.fault': '故障',
  'state.unknown': '未知',
  'col.id': '仪器编码',
  'col.name': '名称',
  'col.org': '管理单位',
  'col.category': '类别',
  'col.state': '状态',
  'col.lastSeen': '最近数据',
  'col.lastPowered': '最近开机',
  'col.idleDays': '闲置天数',
  'col.reason': '原因',
  'col.instruments': '仪器数',
  'col.utilisation': '使用率',
  'col.running': '有效工作机时',
  'col.quota': '定额机时',
  'filter.search': '搜索编码或名称',
  'filter.allOrgs': '全部单位',
  'filter.allStates': '全部状态',
  'filter.allCategories': '全部类别',
  'filter.count': '{n} / {total}',
  'filter.first': '仅显示前 {n} 台，请搜索或筛选',
  'detail.state': '状态',
  'detail.since': '自 {t}',
  'detail.quota': '定额机时',
  'detail.timeline': '近 24 小时状态',
  'detail.timelineNote': '按 5 分钟平均功率与仪器阈值判定',
  'detail.power': '近 24 小时功率（W）',
  'detail.usage': '近 14 天每日机时',
  'detail.powered': '开机时长',
  'detail.running': '有效工作机时',
  'detail.alerts': '告警',
  'detail.noSeries': '近 24 小时无数据。',
  'alerts.status': '状态',
  'alerts.kind': '类型',
  'alerts.all': '全部',
  'alerts.ack': '确认',
  'alerts.resolve': '处理',
  'alerts.opened': '发生于 {t}',
  'alerts.count': '×{n}',
  'alerts.by': '{who}',
  'alerts.done': '告警 {id}：{status}。',
  'status.open': '待处理',
  'status.acknowledged': '已确认',
  'status.resolved': '已处理',
  'kind.offline': '离线',
  'kind.anomaly': '运行异常',
  'kind.idle': '闲置',
  'kind.reported': '用户反馈',
  'type.power_out_of_band': '功率越界',
  'type.level_shift': '功率水平突变',
  'type.short_cycling': '频繁启停',
  'type.long_run': '长时间运行',
  'type.out_of_hours': '非工作时间使用',
  'type.vendor_fault': '仪器故障',
  'type.sensor_stuck': '读数冻结',
  'type.clock_skew': '时钟偏差',
  'type.data_gap': '数据缺失',
  'severity.info': '提示',
  'severity.warning': '警告',
  'severity.critical': '严重',
  'idle.days': '未开机至少',
  'idle.daysUnit': '天',
  'idle.never': '已登记但未接入',
  'reason.not_powered': '未开机',
  'reason.silent': '无数据',
  'reason.never_seen': '未接入',
  'reports.title': '运行报告（机时报告）',
  'reports.help': '由汇聚服务签名（Ed25519）；用 `dayi report verify 文件` 校验。',
  'reports.from': '开始日期',
  'reports.to': '结束日期',
  'reports.format': '格式',
  'reports.org': '管理单位（可选）',
  'reports.download': '下载',
  'reports.done': '已下载 {file}（{kb} KB）。',
  'feedback.title': '反馈运行异常',
  'feedback.help': '描述您在仪器上看到的情况；其管理单位的管理员会收到通知（用户反馈告警）。',
  'feedback.instrument': '仪器',
  'feedback.text': '情况说明',
  'feedback.severity': '严重程度',
  'feedback.submit': '提交',
  'feedback.created': '感谢反馈：已新建告警 {id}。',
  'feedback.added': '感谢反馈：已并入待处理告警 {id}。',
  'feedback.empty': '请描述发生了什么。',
};

const DICTS: Record<Lang, Record<Key, string>> = { en, 'zh-CN': zh };
const LANG_KEY = 'dayi.lang';

function initialLang(): Lang {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  return langs
    .find((l) => /^(zh|en)\b/i.test(l))
    ?.toLowerCase()
    .startsWith('zh')
    ? 'zh-CN'
    : 'en';
}

let lang: Lang = initialLang();

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = next;
}

/** `key`'s text in the current language, `{name}` replaced by `vars.name`. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  return DICTS[lang][key].replace(/\{(\w+)\}/g, (_all, name: string) => String(vars[name] ?? `{${name}}`));
}

/** A word of the API (a state, kind, type…) in the current language, or the word itself. */
export function word(
  prefix: 'state' | 'kind' | 'type' | 'status' | 'severity' | 'reason',
  value: string,
): string {
  const key = `${prefix}.${value}`;
  return key in en ? t(key as Key) : value;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' });
}

export function fmtNumber(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined) return '–';
  return n.toLocaleString(lang, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function fmtPercent(share: number | null | undefined): string {
  if (share === null || share === undefined) return '–';
  return `${(share * 100).toLocaleString(lang, { maximumFractionDigits: 1 })}%`;
}
