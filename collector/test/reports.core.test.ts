import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CSV_BOM, csvField, neutraliseFormula, renderCsv } from '../src/reports/core/csv.ts';
import { reportLayout } from '../src/reports/core/layout.ts';
import { reportPeriod } from '../src/reports/core/period.ts';
import {
  keyFingerprint,
  parseSignatureDocument,
  signatureDocument,
  signBytes,
  verifyReport,
} from '../src/reports/core/signature.ts';
import {
  buildUptimeReport,
  type InstrumentFacts,
  type OptionalColumnGroup,
} from '../src/reports/core/uptime.ts';
import { parseCsv } from './helpers/report-files.ts';

const TZ = 'Asia/Shanghai';
const H = 3_600_000;
const D = 86_400_000;
const at = (iso: string) => Date.parse(iso);

describe('report period', () => {
  it('a whole calendar year is exactly one year of quota, a leap year too', () => {
    const now = at('2030-06-01T00:00:00Z');
    for (const year of ['2026', '2028']) {
      const p = reportPeriod(`${year}-01-01`, `${year}-12-31`, {
        timezone: TZ,
        offlineAfterMs: 300_000,
        now,
      });
      expect(p.yearShare).toBe(1);
      expect(p.pastDays).toHaveLength(year === '2028' ? 366 : 365);
      expect(p.endsAt).toBe(at(`${Number(year) + 1}-01-01T00:00:00+08:00`));
    }
  });

  it('a period not over yet counts its elapsed part: days before now, today up to now', () => {
    const now = at('2026-11-10T06:00:00+08:00');
    const p = reportPeriod('2026-11-01', '2026-11-30', { timezone: TZ, offlineAfterMs: 300_000, now });
    expect(p.days).toHaveLength(30);
    expect(p.pastDays.map((d) => d.date)).toEqual(p.days.slice(0, 10).map((d) => d.date));
    expect(p.spanMs).toBe(9 * D + 6 * H);
    expect(p.endsAt).toBe(now);
    expect(p.yearShare).toBeCloseTo((9 + 0.25) / 365, 12);
  });

  it('DST days are 23 and 25 hours long and still one day of quota each', () => {
    const now = at('2027-01-01T00:00:00Z');
    const spring = reportPeriod('2026-03-29', '2026-03-29', {
      timezone: 'Europe/Berlin',
      offlineAfterMs: 0,
      now,
    });
    expect(spring.spanMs).toBe(23 * H);
    expect(spring.yearShare).toBe(1 / 365);
  });
});

function facts(over: Partial<InstrumentFacts> & { id: string }): InstrumentFacts {
  return {
    name: null,
    org: 'Org A',
    category: null,
    quotaHours: 1400,
    poweredMs: 0,
    runningMs: 0,
    coveredMs: 0,
    spanMs: 0,
    firstSeen: 0,
    lastPoweredBeforeEnd: null,
    ...over,
  };
}

describe('uptime report rows and totals', () => {
  const now = at('2027-01-01T00:00:00Z');
  const period = reportPeriod('2026-01-01', '2026-12-31', { timezone: TZ, offlineAfterMs: 300_000, now });
  const span = period.spanMs;
  const meta = {
    reportId: 'r1',
    from: '2026-01-01',
    to: '2026-12-31',
    timezone: TZ,
    org: null,
    idleThresholdDays: 90,
    keyId: 'k1',
    lang: 'en' as const,
  };

  it('rounds each figure once from exact ms, and totals from the exact sums, not from rounded rows', () => {
    // 0.004 h each: every row shows 0.00, the total of three is 0.012 h → 0.01.
    const tiny = 0.004 * H;
    const report = buildUptimeReport({
      meta,
      period,
      facts: ['A-1', 'A-2', 'A-3'].map((id) =>
        facts({ id, poweredMs: tiny, runningMs: tiny, coveredMs: span / 3, spanMs: span }),
      ),
      groups: [],
    });
    expect(report.rows.map((r) => r.poweredHours)).toEqual([0, 0, 0]);
    expect(report.total.poweredHours).toBe(0.01);
    expect(report.rows[0]!.coveragePct).toBe(33.33);
    expect(report.total.coveragePct).toBe(33.33);
  });

  it('quota is prorated, utilisation compares running hours with it; no quota, no utilisation', () => {
    const report = buildUptimeReport({
      meta,
      period,
      facts: [
        facts({ id: 'A-1', runningMs: 700 * H, poweredMs: 900 * H, spanMs: span }),
        facts({ id: 'A-2', runningMs: 400 * H, quotaHours: 800, spanMs: span }),
        facts({ id: 'A-3', runningMs: 100 * H, quotaHours: null, spanMs: span }),
        facts({ id: 'A-4', quotaHours: 0, spanMs: span }),
      ],
      groups: [],
    });
    expect(report.rows.map((r) => [r.id, r.quotaHours, r.utilisationPct])).toEqual([
      ['A-1', 1400, 50],
      ['A-2', 800, 50],
      ['A-3', null, null],
      ['A-4', 0, null],
    ]);
    // The org's utilisation counts the instruments with quota only: (700 + 400) / 2200.
    expect(report.orgs[0]).toMatchObject({
      instruments: 4,
      quotaHours: 2200,
      utilisationPct: 50,
      runningHours: 1200,
    });
  });

  it('idle days at the end of the period; idle counted at the threshold; no data is not idle', () => {
    const end = period.endsAt;
    const report = buildUptimeReport({
      meta,
      period,
      facts: [
        facts({ id: 'A-1', lastPoweredBeforeEnd: end - 90 * D }),
        facts({ id: 'A-2', lastPoweredBeforeEnd: end - 90 * D + 1 }),
        facts({ id: 'A-3', firstSeen: end - 200 * D, lastPoweredBeforeEnd: null }),
        facts({ id: 'A-4', firstSeen: null }),
        facts({ id: 'A-5', firstSeen: end + 1 }),
      ],
      groups: [],
    });
    expect(report.rows.map((r) => [r.id, r.idleDays, r.idle, r.status])).toEqual([
      ['A-1', 90, true, 'reported'],
      ['A-2', 89, false, 'reported'],
      ['A-3', 200, true, 'reported'],
      ['A-4', null, false, 'never_reported'],
      ['A-5', null, false, 'not_yet_reported'],
    ]);
    expect(report.total).toMatchObject({ idle: 2, noData: 2 });
  });

  it('groups rows by org (instruments without org last), a total per org and for all', () => {
    const report = buildUptimeReport({
      meta,
      period,
      facts: [
        facts({ id: 'Z-1', org: null, poweredMs: H }),
        facts({ id: 'B-2', org: 'Org B', poweredMs: 2 * H }),
        facts({ id: 'A-1', org: 'Org A', poweredMs: 3 * H }),
        facts({ id: 'B-1', org: 'Org B', poweredMs: 4 * H }),
      ],
      groups: [],
    });
    expect(report.rows.map((r) => r.id)).toEqual(['A-1', 'B-1', 'B-2', 'Z-1']);
    expect(report.orgs.map((o) => [o.org, o.instruments, o.poweredHours])).toEqual([
      ['Org A', 1, 3],
      ['Org B', 2, 6],
      [null, 1, 1],
    ]);
    expect(report.total).toMatchObject({ org: null, instruments: 4, poweredHours: 10 });
  });

  it('optional column groups: their columns and totals appear; a missing value stays empty, never 0', () => {
    const bookings: OptionalColumnGroup = {
      id: 'bookings',
      columns: [
        { key: 'bookedHours', kind: 'hours', label: { 'zh-CN': '预约机时 (h)', en: 'Booked hours' } },
        { key: 'alertCount', kind: 'count', label: { 'zh-CN': '告警数', en: 'Alerts' } },
      ],
      values: new Map([
        ['A-1', { bookedHours: 1.5 * H + 17, alertCount: 2 }],
        ['A-2', { bookedHours: 0.5 * H, alertCount: null }],
      ]),
    };
    const report = buildUptimeReport({
      meta,
      period,
      facts: [facts({ id: 'A-1' }), facts({ id: 'A-2' }), facts({ id: 'A-3' })],
      groups: [bookings],
    });
    expect(report.rows.map((r) => r.extra)).toEqual([
      { bookedHours: 1.5, alertCount: 2 },
      { bookedHours: 0.5, alertCount: null },
      { bookedHours: null, alertCount: null },
    ]);
    expect(report.total.extra).toEqual({ bookedHours: 2, alertCount: 2 });
    const layout = reportLayout(report);
    expect(layout.instruments.columns.slice(-2).map((c) => c.header)).toEqual(['Booked hours', 'Alerts']);
    expect(layout.instruments.rows[2]!.slice(-2)).toEqual([null, null]);
    expect(() => buildUptimeReport({ meta, period, facts: [], groups: [bookings, bookings] })).toThrow(
      /given by two providers/,
    );
    // Without providers, no such columns at all.
    const plain = reportLayout(
      buildUptimeReport({ meta, period, facts: [facts({ id: 'A-1' })], groups: [] }),
    );
    expect(plain.instruments.columns).toHaveLength(10);
  });
});

describe('CSV', () => {
  it('neutralises every cell a spreadsheet would run as a formula', () => {
    for (const s of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x")']) {
      expect(neutraliseFormula(s)).toBe(`'${s}`);
    }
    for (const s of ['ZJ-NMR-0001', '核磁共振', '1-2', ' =x', '']) expect(neutraliseFormula(s)).toBe(s);
  });

  it('property: any text survives quoting and never starts a formula', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 5 }), (cells) => {
        const line = `${cells.map((c) => csvField(neutraliseFormula(c))).join(',')}\r\n`;
        const [record] = parseCsv(Buffer.from(CSV_BOM + line, 'utf8'));
        expect(record).toEqual(cells.map(neutraliseFormula));
        for (const field of record!) expect(field).not.toMatch(/^[=+\-@\t\r]/);
      }),
      { numRuns: 300 },
    );
  });

  it('is UTF-8 with BOM and CRLF; numbers keep two decimals and are not neutralised', () => {
    const period = reportPeriod('2026-01-01', '2026-01-31', {
      timezone: TZ,
      offlineAfterMs: 0,
      now: at('2027-01-01T00:00:00Z'),
    });
    const report = buildUptimeReport({
      meta: {
        reportId: 'r',
        from: '2026-01-01',
        to: '2026-01-31',
        timezone: TZ,
        org: null,
        idleThresholdDays: 90,
        keyId: 'k',
        lang: 'zh-CN',
      },
      period,
      facts: [
        facts({ id: 'ZJ-1', name: '-核磁', org: '浙江大学', poweredMs: 7.5 * H, spanMs: period.spanMs }),
      ],
      groups: [],
    });
    const bytes = renderCsv(reportLayout(report));
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.toString('utf8')).not.toMatch(/[^\r]\n/);
    expect(bytes.toString('utf8')).toContain("\r\nZJ-1,'-核磁,浙江大学,,7.50,0.00,118.90,0.00,0.00,");
  });
});

describe('signatures', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const keyId = keyFingerprint(publicKey);

  it('verifies the exact bytes, and fails for any one changed byte (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, pos, flip) => {
          const doc = signatureDocument(bytes, signBytes(bytes, privateKey), keyId, {
            reportId: 'r',
            fileName: 'f.csv',
          });
          expect(verifyReport(bytes, doc, publicKey)).toEqual({ ok: true });
          const altered = Uint8Array.from(bytes);
          altered[pos % bytes.length] = altered[pos % bytes.length]! ^ flip;
          const result = verifyReport(altered, doc, publicKey);
          expect(result.ok).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('names why it failed: another key, a changed file, a document that is not a signature', () => {
    const bytes = Buffer.from('report');
    const doc = signatureDocument(bytes, signBytes(bytes, privateKey), keyId, {
      reportId: 'r',
      fileName: 'f',
    });
    expect(verifyReport(bytes, doc, other.publicKey)).toMatchObject({ ok: false, reason: /names key/ });
    expect(verifyReport(Buffer.from('rEport'), doc, publicKey)).toMatchObject({
      ok: false,
      reason: /SHA-256/,
    });
    const forged = { ...doc, signature: signBytes(bytes, other.privateKey) };
    expect(verifyReport(bytes, forged, publicKey)).toMatchObject({ ok: false, reason: /does not match/ });
    expect(parseSignatureDocument(JSON.stringify(doc))).toEqual(doc);
    expect(() => parseSignatureDocument('nope')).toThrow(/not JSON/);
    expect(() => parseSignatureDocument('{"format":"x"}')).toThrow(/not a dayi report signature/);
    expect(() => parseSignatureDocument(JSON.stringify({ ...doc, keyId: undefined }))).toThrow(/keyId/);
  });
});
