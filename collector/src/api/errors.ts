import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isQueryError } from '../query/errors.ts';

/**
 * The one table of API error codes. Every error answer is `{"error":{"code","message"}}` with one
 * of these codes and its HTTP status; `message` names the bad field or parameter.
 * `docs/api.md` documents the same table (a test checks that they agree).
 */
export const ERROR_CODES = {
  unauthorized: { status: 401, description: 'No API key, or an API key that is not configured.' },
  forbidden: { status: 403, description: 'The API key is valid but its role may not do this.' },
  not_found: { status: 404, description: 'No such route.' },
  instrument_not_found: { status: 404, description: 'No instrument with this id in the registry.' },
  invalid_params: {
    status: 400,
    description: 'A path parameter is malformed (e.g. an invalid instrument id).',
  },
  invalid_query: { status: 400, description: 'A query parameter is missing or malformed.' },
  invalid_body: { status: 400, description: 'The JSON body is missing, not JSON, or fails validation.' },
  id_mismatch: {
    status: 400,
    description: 'The body names an instrument id other than the one in the path.',
  },
  unsupported_media_type: { status: 415, description: 'The body is not `application/json`.' },
  payload_too_large: { status: 413, description: 'The body is larger than the server accepts.' },
  store_unavailable: {
    status: 503,
    description: 'The store cannot be read or written (closed, locked, full, I/O error).',
  },
  internal: { status: 500, description: 'An unexpected error; the collector logs it with the request id.' },
  series_unavailable: {
    status: 503,
    description: 'The series store cannot answer now (InfluxDB unreachable or failing); try again later.',
  },
  invalid_url: {
    status: 400,
    description: 'The URL or request is malformed (e.g. bad percent-encoding).',
  },
  request_too_large: {
    status: 431,
    description: 'The request line and headers are larger than the server accepts (16 KiB).',
  },
  org_not_found: { status: 404, description: 'No instrument of the registry belongs to this org.' },
  signature_not_found: {
    status: 404,
    description: 'This collector issued no report with this SHA-256 (altered, or not issued here).',
  },
  booking_not_found: { status: 404, description: 'No booking with this id.' },
  delivery_not_found: {
    status: 404,
    description: 'No notification delivery with this id (or not in the state asked for).',
  },
  alert_not_found: { status: 404, description: 'No alert with this id.' },
  alert_conflict: {
    status: 409,
    description: 'The alert is not in a state that allows this (e.g. acknowledging a resolved alert).',
  },
  agent_not_found: { status: 404, description: 'No live agent credential with this username in the store.' },
  agent_conflict: {
    status: 409,
    description: 'An agent with this username exists (in the store or the configuration).',
  },
  rate_limited: {
    status: 429,
    description:
      'Too many requests from this API key (or address) in the window; retry after Retry-After seconds.',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** An error a handler throws on purpose; the error handler answers it with its code's status. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

const VALIDATION_CODE: Record<string, ErrorCode> = {
  params: 'invalid_params',
  querystring: 'invalid_query',
  body: 'invalid_body',
  headers: 'invalid_query',
};

/**
 * Maps anything thrown in a route to the error table; unexpected errors are logged, not shown.
 *
 * Every message speaks with one voice (docs/api.md, "Errors"): where (`path.id`, `query.from`,
 * `body.thresholds.signal`, `header.authorization`, `route`, `store`, `server`), what was wrong,
 * and what to do: `query.to: 2026-10-01 is before from 2026-11-01: use a date on or after from`.
 */
export function classifyError(
  err: FastifyError | ApiError | Error,
  request?: Pick<FastifyRequest, 'headers' | 'id' | 'url'>,
): { code: ErrorCode; message: string } {
  if (err instanceof ApiError) return { code: err.code, message: err.message };
  // Queries check their inputs too; the route schemas normally catch the same mistakes first.
  if (isQueryError(err)) {
    if (err.param === 'body') return { code: 'invalid_body', message: err.message };
    const where = err.param === 'id' ? 'path.id' : err.param ? `query.${err.param}` : 'query';
    if (err.code === 'not_found')
      return { code: 'instrument_not_found', message: `${where}: ${err.message}` };
    return {
      code: err.param === 'id' ? 'invalid_params' : 'invalid_query',
      message: `${where}: ${err.message}`,
    };
  }
  const fe = err as FastifyError;
  if (fe.validationContext) {
    return { code: VALIDATION_CODE[fe.validationContext] ?? 'invalid_query', message: err.message };
  }
  // A path outside the served folder (`/docs/static/..`): nothing is there to find. @fastify/static
  // names this error FST_STATIC_FORBIDDEN_PATH from 11 on; 10.x (the last for Node 20) gives no code.
  if (fe.code === 'FST_STATIC_FORBIDDEN_PATH' || (fe.statusCode === 403 && request?.url.startsWith('/docs/')))
    return { code: 'not_found', message: 'path: no such file under /docs: see /docs for the API' };
  switch (fe.code) {
    case 'FST_ERR_BAD_URL':
      return {
        code: 'invalid_url',
        message: `url: ${err.message.slice(0, 300)}: percent-encode the URL correctly`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = request?.headers['content-type'];
      return {
        code: 'unsupported_media_type',
        message: `header.content-type: ${type ? JSON.stringify(type) : 'missing'} is not JSON: send the body as application/json`,
      };
    }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', message: 'body: too large for this server: send less at a time' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'invalid_body', message: `body: not JSON (${err.message}): send a JSON object` };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'invalid_body', message: 'body: missing: send a JSON object' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        code: 'invalid_body',
        message: "header.content-length: does not match the body: send the body's exact length",
      };
  }
  if (isStoreFailure(err))
    return {
      code: 'store_unavailable',
      message: "store: cannot be read or written: retry later; the collector's log says why",
    };
  if (fe.statusCode === 400 && err instanceof SyntaxError) {
    return { code: 'invalid_body', message: `body: not JSON (${err.message}): send a JSON object` };
  }
  if (fe.statusCode === 400)
    return { code: 'invalid_body', message: `body: ${err.message}: check the request against /docs` };
  if (fe.statusCode === 404)
    return { code: 'not_found', message: `route: ${err.message}: see /docs for the routes` };
  if (fe.statusCode === 403)
    return { code: 'forbidden', message: `request: ${err.message}: this is not allowed` };
  if (fe.statusCode === 415)
    return { code: 'unsupported_media_type', message: `header.content-type: ${err.message}: send JSON` };
  if (fe.statusCode === 413)
    return { code: 'payload_too_large', message: `body: ${err.message}: send less at a time` };
  return {
    code: 'internal',
    message: `server: internal error: retry; if it persists, report request ${request?.id ?? 'id unknown'} (the collector logs it)`,
  };
}

// Primary SQLite result codes that mean the store, not the query, is at fault: BUSY, LOCKED,
// READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB.
const STORE_FAILURES = new Set([5, 6, 8, 10, 11, 13, 14, 26]);

function isStoreFailure(err: Error): boolean {
  const e = err as Error & { code?: string; errcode?: number };
  if (e.code === 'ERR_INVALID_STATE' && /database is not open/.test(e.message)) return true;
  return (
    e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number' && STORE_FAILURES.has(e.errcode & 0xff)
  );
}

export function errorHandler(
  err: FastifyError | ApiError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const { code, message } = classifyError(err, request);
  const status = ERROR_CODES[code].status;
  if (status >= 500) request.log.error({ err }, 'request failed');
  if (code === 'unauthorized') reply.header('WWW-Authenticate', 'Bearer realm="dayi"');
  return reply.status(status).send(errorBody(code, message));
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .send(
      errorBody(
        'not_found',
        `route: no route ${request.method} ${request.url.split('?')[0]}: see /docs for the routes (all under /v1)`,
      ),
    );
}
