import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import { LANGS, type Lang } from '../reports/core/uptime.ts';
import { makeUptimeReport, REPORT_FORMATS, ReportError } from '../reports/index.ts';
import { findIssued } from '../reports/issued.ts';
import { activeSigningKey, publicKeys } from '../reports/keys.ts';
import type { Keyring } from './auth.ts';
import { ApiError } from './errors.ts';
import { errorResponse, orgParam, usageQuery } from './schemas.ts';
import type { ZodTypeProvider } from './zod.ts';

/** `/v1/reports/…`: the auditors' signed uptime reports, their signatures and the public key. */

/** The period of /usage (dates, `to` not before `from`, at most 366 days), and the report's options. */
export const uptimeReportQuery = usageQuery.safeExtend({
  format: z.enum(REPORT_FORMATS).default('csv').describe('csv (UTF-8 with BOM), xlsx or pdf'),
  org: orgParam,
  lang: z.enum(LANGS).optional().describe('zh-CN or en; default: from Accept-Language, else zh-CN'),
  idleDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650)
    .optional()
    .describe("idle threshold in days for the idle count; default: the configuration's idleDays"),
});

const signatureDocumentSchema = z
  .object({
    format: z.literal('dayi-report-signature/1'),
    algorithm: z.literal('Ed25519'),
    keyId: z.string(),
    signature: z.string().describe('base64 Ed25519 signature over the exact bytes of the report'),
    sha256: z.string(),
    bytes: z.number().int(),
    reportId: z.string(),
    fileName: z.string(),
  })
  .describe('detached signature of a report (the FILE.sig document)');

const publicKeyResponse = z
  .object({
    active: z.string().describe('id of the key that signs new reports'),
    keys: z.array(
      z.object({
        id: z.string().describe('fingerprint: the first 16 hex digits of SHA-256 of the raw public key'),
        algorithm: z.literal('Ed25519'),
        publicKey: z.string().describe('SPKI PEM'),
        createdAt: z.string(),
        retiredAt: z.string().nullable().describe('retired keys still verify the reports they signed'),
      }),
    ),
  })
  .describe('the report signing keys');

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };
const binary = (types: string[]) => ({
  description: 'the report file; its Ed25519 signature is in the X-Dayi-Signature header',
  content: Object.fromEntries(types.map((t) => [t, { schema: { type: 'string', format: 'binary' } }])),
});

/** `lang`, else the first of Accept-Language that is Chinese or English, else zh-CN. */
export function reportLang(query: Lang | undefined, acceptLanguage: string | undefined): Lang {
  if (query) return query;
  for (const part of (acceptLanguage ?? '').split(',')) {
    const tag = part.split(';')[0]!.trim().toLowerCase();
    if (tag.startsWith('zh')) return 'zh-CN';
    if (tag.startsWith('en')) return 'en';
  }
  return 'zh-CN';
}

/** RFC 6266: an ASCII fallback name and the UTF-8 one. */
function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

export async function reportRoutes(
  root: FastifyInstance,
  { ctx, keyring }: { ctx: CollectorContext; keyring: Keyring },
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const iso = (ts: number) => isoWithOffset(ts, ctx.config.timezone);
  const caller = (request: FastifyRequest) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    return m ? (keyring.identify(m[1]!)?.name ?? null) : null;
  };

  app.get(
    '/reports/uptime',
    {
      config: { permission: 'reports:read', orgScope: 'filtered' },
      schema: {
        summary: 'The auditors’ uptime report for a period, signed (CSV, XLSX or PDF)',
        description:
          'Per instrument: powered and effective working hours (exactly those of /usage for the period), ' +
          'prorated quota hours, utilisation, coverage and idle days at the end of the period; totals per org. ' +
          'The response carries the Ed25519 signature of its exact bytes: X-Dayi-Signature (base64), ' +
          'X-Dayi-Signature-Key (key id), X-Dayi-Report-Sha256, and a Link to the detached .sig.',
        tags: ['reports'],
        security,
        querystring: uptimeReportQuery,
        response: {
          200: binary([
            'text/csv',
            'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
            'application/pdf',
          ]),
          400: errorResponse,
          404: errorResponse,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const lang = reportLang(q.lang, request.headers['accept-language']);
      let signed: Awaited<ReturnType<typeof makeUptimeReport>>;
      try {
        signed = await makeUptimeReport(ctx, {
          from: q.from,
          to: q.to,
          format: q.format,
          org: q.org ?? null,
          lang,
          ...(q.idleDays === undefined ? {} : { idleDays: q.idleDays }),
          issuedTo: caller(request),
        });
      } catch (err) {
        if (err instanceof ReportError) throw new ApiError(err.code, err.message);
        throw err;
      }
      const s = signed.signature;
      return reply
        .header('content-type', signed.contentType)
        .header('content-disposition', contentDisposition(signed.fileName))
        .header('x-dayi-signature', s.signature)
        .header('x-dayi-signature-key', s.keyId)
        .header('x-dayi-report-id', s.reportId)
        .header('x-dayi-report-sha256', s.sha256)
        .header('link', `</v1/reports/signatures/${s.sha256}>; rel="signature"`)
        .header('cache-control', 'no-store')
        .send(signed.bytes);
    },
  );

  app.get(
    '/reports/signatures/:sha256',
    {
      config: {
        permission: 'reports:read',
        // a report of one org is that org's; a fleet-wide one (org null) only unscoped keys see
        orgScope: {
          orgOf: (request: FastifyRequest) => {
            const issued = findIssued(ctx.db, (request.params as { sha256: string }).sha256);
            return issued ? ((issued.params.org as string | null | undefined) ?? null) : undefined;
          },
          notFound: (request: FastifyRequest) =>
            new ApiError(
              'signature_not_found',
              `path.sha256: this collector issued no report with SHA-256 ${(request.params as { sha256: string }).sha256.toLowerCase()}`,
            ),
        },
      },
      schema: {
        summary: 'The detached signature (.sig) of a report this collector issued, by its SHA-256',
        tags: ['reports'],
        security,
        params: z.object({
          sha256: z
            .string()
            .regex(
              /^[0-9a-fA-F]{64}$/,
              "not a SHA-256: give the report file's SHA-256 in 64 hex digits (sha256sum FILE)",
            )
            .describe('hex SHA-256 of the report file'),
        }),
        response: { 200: signatureDocumentSchema, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request, reply) => {
      const issued = findIssued(ctx.db, request.params.sha256);
      if (!issued) {
        throw new ApiError(
          'signature_not_found',
          `path.sha256: this collector issued no report with SHA-256 ${request.params.sha256.toLowerCase()}`,
        );
      }
      return reply
        .header('content-disposition', contentDisposition(`${issued.signature.fileName}.sig`))
        .send(issued.signature);
    },
  );

  app.get(
    '/reports/public-key',
    {
      config: { permission: 'read', orgScope: 'none' },
      schema: {
        summary: 'The public keys that verify reports (the active one and retired ones)',
        tags: ['reports'],
        security,
        response: { 200: publicKeyResponse, ...denied },
      },
    },
    async () => {
      const active = activeSigningKey(ctx).id;
      return {
        active,
        keys: publicKeys(ctx.db).map((k) => ({
          id: k.id,
          algorithm: k.algorithm,
          publicKey: k.publicKey,
          createdAt: iso(k.createdAt),
          retiredAt: k.retiredAt === null ? null : iso(k.retiredAt),
        })),
      };
    },
  );
}
