/** POST /v1/instruments/import: the registry from a CSV file or a JSON array (批量导入). */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import { importInstruments, MAX_IMPORT_ROWS } from '../registry/io/import.ts';
import { IMPORT_FIELDS } from '../registry/pure/columns.ts';
import { decodeText } from '../registry/pure/decode.ts';
import { ImportFileError, type ImportRow, rowsFromCsv, rowsFromJson } from '../registry/pure/rows.ts';
import { ApiError } from './errors.ts';
import { errorResponse } from './schemas.ts';
import { callerOrg } from './scope.ts';
import type { ZodTypeProvider } from './zod.ts';

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };
const CSV_TYPES = [
  'text/csv',
  'application/csv',
  'text/plain',
  'application/vnd.ms-excel',
  'application/octet-stream',
];

export const importResult = z
  .object({
    dryRun: z.boolean().describe('true: checked only, nothing written'),
    rows: z.number().int().describe('data rows read'),
    created: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int().describe('rows equal to what the registry holds (nothing written)'),
    rejected: z.number().int().describe('rows refused; nothing of them was written'),
    errors: z.array(
      z.object({
        row: z
          .number()
          .int()
          .describe(
            'CSV: the row as a spreadsheet numbers it (header = 1); JSON: position in the array from 1',
          ),
        id: z.string().nullable(),
        field: z.string().describe('the field at fault, `(row)` for the row as a whole'),
        message: z.string(),
      }),
    ),
  })
  .describe('what landed (or would, with dryRun), and each refused row with its row number and field');

export async function importRoutes(
  root: FastifyInstance,
  { ctx, registryChanged }: { ctx: CollectorContext; registryChanged: (id: string) => void },
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  // CSV arrives as bytes: its encoding (UTF-8, GB18030, UTF-16) is found from the bytes, not the header.
  app.addContentTypeParser(CSV_TYPES, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    '/instruments/import',
    {
      config: { permission: 'registry:write', orgScope: 'rows' },
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        summary: 'Import instruments from a CSV file or a JSON array, upserted by id (批量导入)',
        description:
          'CSV (Content-Type text/csv): UTF-8 with or without BOM, GB18030, or UTF-16 with BOM; comma, tab or ' +
          `semicolon separated; headers in English (${IMPORT_FIELDS.join(', ')}) or Chinese (仪器编码/仪器编号, 仪器名称, ` +
          '管理单位/所属单位, 仪器类别, 定额机时, 闲置天数, 待机阈值, 空闲阈值, 运行阈值, 信号). JSON: an array of instruments ' +
          'as in PUT /v1/instruments/{id}. Each row is checked on its own: valid rows land, invalid ones are listed ' +
          'with their row number and field. A column (key) left out keeps the stored value; an empty cell clears the ' +
          "field. `dryRun=true` checks and reports without writing. An org-scoped key imports only its org's instruments.",
        tags: ['instruments'],
        security,
        querystring: z.strictObject({
          dryRun: z
            .enum(['true', 'false', '1', '0'])
            .default('false')
            .transform((v) => v === 'true' || v === '1')
            .describe('true: validate and report, write nothing'),
        }),
        body: z.unknown().describe('text/csv bytes, or a JSON array of instruments'),
        response: {
          200: importResult,
          400: errorResponse,
          413: errorResponse,
          415: errorResponse,
          ...denied,
        },
      },
    },
    async (request) => {
      let rows: ImportRow[];
      try {
        if (Buffer.isBuffer(request.body)) rows = rowsFromCsv(decodeText(request.body).text);
        else rows = rowsFromJson(request.body);
      } catch (err) {
        if (err instanceof ImportFileError) throw new ApiError('invalid_body', err.message);
        throw err;
      }
      if (rows.length > MAX_IMPORT_ROWS) {
        throw new ApiError(
          'invalid_body',
          `body: ${rows.length} rows, at most ${MAX_IMPORT_ROWS}: split the file`,
        );
      }
      return importInstruments(ctx, rows, {
        dryRun: request.query.dryRun,
        org: callerOrg(request),
        changed: registryChanged,
      });
    },
  );
}
