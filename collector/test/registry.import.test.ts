/**
 * Registry import (issue 11): the CSV parser (property and fuzz), the encodings spreadsheets save
 * (UTF-8 with and without BOM, GB18030, UTF-16), Chinese headers, and POST /v1/instruments/import:
 * a bad row names its row and field while the others land, dryRun writes nothing, re-importing
 * changes nothing.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvError, formatCsv, parseCsv } from '../src/registry/pure/csv.ts';
import { decodeText } from '../src/registry/pure/decode.ts';
import { ImportFileError, rowsFromCsv } from '../src/registry/pure/rows.ts';
import { auth, buildApi } from './helpers/e2e-api.ts';

const GB18030_FILE = new URL('./fixtures/registry-gb18030.csv', import.meta.url);

describe('CSV parser', () => {
  const cell = fc.string({
    unit: fc.constantFrom('a', 'Z', '9', ' ', ',', ';', '\t', '"', '\n', '\r', '\r\n', '仪', '器', '😀', '='),
  });
  const table = fc.array(fc.array(cell, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 });

  it('reads back what it writes, whatever the cells hold', () => {
    fc.assert(
      fc.property(table, fc.constantFrom(',', '\t', ';'), (rows, sep) => {
        const parsed = parseCsv(formatCsv(rows, sep), sep);
        expect(parsed.map((r) => r.fields)).toEqual(rows);
      }),
      { numRuns: 500 },
    );
  });

  it('numbers each record by the line it starts on, counting line breaks inside quotes', () => {
    const recs = parseCsv('id,name\r\nA,"two\nlines"\n\nB,x\n');
    expect(recs.map((r) => [r.line, r.fields])).toEqual([
      [1, ['id', 'name']],
      [2, ['A', 'two\nlines']],
      [5, ['B', 'x']],
    ]);
  });

  it('on any text either parses or throws a CsvError naming a line', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', ' ', '仪') }), (text) => {
        try {
          const recs = parseCsv(text);
          for (const r of recs) expect(r.line).toBeGreaterThanOrEqual(1);
        } catch (err) {
          expect(err).toBeInstanceOf(CsvError);
          expect((err as CsvError).line).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('rowsFromCsv never throws anything but ImportFileError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          rowsFromCsv(`id,name\n${text}`);
        } catch (err) {
          expect(err).toBeInstanceOf(ImportFileError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a stray quote and an unterminated one, naming the line', () => {
    expect(() => parseCsv('id\nA"B\n')).toThrow(/line 2/);
    expect(() => parseCsv('id\n"A\n')).toThrow(/line 2/);
  });
});

describe('encodings', () => {
  const csv = '仪器编码,仪器名称\nZJ-1,核磁共振波谱仪\n';
  it('reads UTF-8 with and without BOM, and UTF-16 with BOM', () => {
    expect(decodeText(Buffer.from(csv, 'utf8'))).toEqual({ text: csv, encoding: 'utf-8' });
    expect(decodeText(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(csv, 'utf8')]))).toEqual({
      text: csv,
      encoding: 'utf-8',
    });
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv, 'utf16le')])).text).toBe(
      csv,
    );
  });
  it('reads a GB18030 file (as Excel on a Chinese Windows saves CSV)', () => {
    const { text, encoding } = decodeText(readFileSync(GB18030_FILE));
    expect(encoding).toBe('gb18030');
    expect(text.split('\r\n')[0]).toBe(
      '仪器编码,仪器名称,管理单位,仪器类别,定额机时,待机阈值,空闲阈值,运行阈值',
    );
    expect(text).toContain('600兆核磁共振波谱仪');
  });
});

describe('POST /v1/instruments/import', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi();
  });
  afterAll(async () => {
    await app.close();
  });
  const post = (
    payload: string | Buffer | object,
    opts: { query?: string; type?: string; role?: 'platform' | 'manager' } = {},
  ) =>
    app.inject({
      method: 'POST',
      url: `/v1/instruments/import${opts.query ?? ''}`,
      headers: {
        ...auth(opts.role ?? 'platform'),
        'content-type':
          opts.type ??
          (typeof payload === 'object' && !Buffer.isBuffer(payload) ? 'application/json' : 'text/csv'),
      },
      payload: typeof payload === 'object' && !Buffer.isBuffer(payload) ? JSON.stringify(payload) : payload,
    });
  const get = (id: string) =>
    app.inject({ method: 'GET', url: `/v1/instruments/${id}`, headers: auth('auditor') });

  it('a GB18030 file with one bad row imports the rest and names the row and field', async () => {
    const dry = await post(readFileSync(GB18030_FILE), { query: '?dryRun=true' });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({
      dryRun: true,
      rows: 3,
      created: 2,
      updated: 0,
      unchanged: 0,
      rejected: 1,
    });
    expect((await get('ZJ-NMR-0101')).statusCode).toBe(404);

    const res = await post(readFileSync(GB18030_FILE));
    expect(res.json()).toEqual({
      dryRun: false,
      rows: 3,
      created: 2,
      updated: 0,
      unchanged: 0,
      rejected: 1,
      errors: [{ row: 4, id: 'ZJ-SEM-0103', field: 'quotaHours', message: '"很多" is not a number' }],
    });
    const nmr = (await get('ZJ-NMR-0101')).json();
    expect(nmr).toMatchObject({
      name: '600兆核磁共振波谱仪',
      org: '浙江大学',
      category: '核磁共振',
      quotaHours: 1400,
      thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 400 },
    });
    expect((await get('ZJ-XRD-0102')).json()).toMatchObject({
      org: '浙江工业大学, 化学工程学院',
      quotaHours: 800,
      thresholds: null,
    });
    expect((await get('ZJ-SEM-0103')).statusCode).toBe(404);

    const again = await post(readFileSync(GB18030_FILE));
    expect(again.json()).toMatchObject({ created: 0, updated: 0, unchanged: 2, rejected: 1 });
  });

  it('English headers with a BOM; columns left out keep what the registry holds; an empty cell clears', async () => {
    const csv = '\ufeffid,name,quotaHours\r\nZJ-NMR-0101,NMR renamed,\r\n';
    const res = await post(Buffer.from(csv, 'utf8'));
    expect(res.json()).toMatchObject({ updated: 1, rejected: 0 });
    expect((await get('ZJ-NMR-0101')).json()).toMatchObject({
      name: 'NMR renamed',
      org: '浙江大学',
      quotaHours: 1400,
      thresholds: { standby: 5 },
    });
  });

  it('names each field a row gets wrong, and refuses duplicates and unknown columns', async () => {
    const csv =
      'id,name,idleDays,thresholds.standby,thresholds.idle,thresholds.running\n' +
      'ZJ-A-1,ok,30,,,\n' +
      'bad id!,x,,,,\n' +
      'ZJ-A-2,,0,,,\n' +
      'ZJ-A-3,t,,90,80,400\n' +
      'ZJ-A-1,dup,,,,\n';
    const res = await post(csv);
    const body = res.json();
    expect(body).toMatchObject({ created: 1, rejected: 4 });
    expect(body.errors.map((e: { row: number; field: string }) => [e.row, e.field])).toEqual([
      [3, 'id'],
      [4, 'idleDays'],
      [5, 'thresholds'],
      [6, 'id'],
    ]);
    expect(body.errors[3].message).toMatch(/row 2/);
    const unknown = await post('id,nmae\nZJ-A-9,x\n');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toMatchObject({ code: 'invalid_body' });
    expect(unknown.json().error.message).toMatch(/column 2 "nmae"/);
  });

  it('takes a JSON array as PUT takes one instrument', async () => {
    const res = await post([
      { id: 'ZJ-J-1', name: 'from JSON', org: 'Westlake University', quotaHours: 800 },
      { id: 'ZJ-J-2', quotaHours: -1 },
      { id: 'ZJ-J-3', colour: 'red' },
    ]);
    expect(res.json()).toMatchObject({ created: 1, rejected: 2 });
    expect(res.json().errors.map((e: { row: number; field: string }) => [e.row, e.field])).toEqual([
      [2, 'quotaHours'],
      [3, 'colour'],
    ]);
    expect((await get('ZJ-J-1')).json()).toMatchObject({ org: 'Westlake University', quotaHours: 800 });
  });

  it('needs registry:write', async () => {
    const res = await post('id\nZJ-X-1\n', { role: 'manager' });
    expect(res.statusCode).toBe(403);
  });
});
