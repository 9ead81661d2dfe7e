/**
 * Column headers of a registry import: the instrument fields in English (as in `instruments[]` and
 * PUT /v1/instruments/{id}) and their Chinese names. GLOSSARY.md gives 仪器编码 (instrument code),
 * 管理单位 (org) and 定额机时 (quota hours); the province's own forms also say 仪器编号 and 所属单位.
 * The other words (仪器名称, 仪器类别, 闲置天数, the thresholds) are the forms' usual ones, kept here.
 */
export const IMPORT_FIELDS = [
  'id',
  'name',
  'org',
  'category',
  'quotaHours',
  'idleDays',
  'thresholds.signal',
  'thresholds.standby',
  'thresholds.idle',
  'thresholds.running',
  'anomaly',
] as const;
export type ImportField = (typeof IMPORT_FIELDS)[number];

/** Header words per field; matched ignoring case, spaces, `_`, `-` and full-width brackets' contents. */
export const HEADER_WORDS: Record<ImportField, readonly string[]> = {
  id: ['id', 'instrumentId', 'code', '仪器编码', '仪器编号', '编码', '编号', '仪器代码'],
  name: ['name', '仪器名称', '名称', '设备名称'],
  org: ['org', 'unit', '管理单位', '所属单位', '单位', '依托单位'],
  category: ['category', '仪器类别', '仪器分类', '类别', '分类'],
  quotaHours: ['quotaHours', 'quota', '定额机时', '年定额机时', '定额机时(小时)', '定额机时(h)'],
  idleDays: ['idleDays', '闲置天数', '闲置阈值天数'],
  'thresholds.signal': ['thresholds.signal', 'signal', '信号', '判定信号'],
  'thresholds.standby': ['thresholds.standby', 'standby', '待机阈值'],
  'thresholds.idle': ['thresholds.idle', '空闲阈值'],
  'thresholds.running': ['thresholds.running', 'running', '运行阈值'],
  anomaly: ['anomaly', '异常设置'],
};

const normal = (s: string) =>
  s
    .normalize('NFKC')
    .trim()
    .toLowerCase()
    .replace(/[\s_\-（）()]/g, '');

const BY_WORD = new Map<string, ImportField>();
for (const field of IMPORT_FIELDS) {
  for (const w of HEADER_WORDS[field]) BY_WORD.set(normal(w), field);
}

/** The field a header names, or null. */
export function fieldOfHeader(header: string): ImportField | null {
  return BY_WORD.get(normal(header)) ?? null;
}
