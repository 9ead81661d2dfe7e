import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { CollectorConfig } from '../config.ts';
import { pem } from '../pem.ts';
import { ERROR_CODES, type ErrorCode, errorBody } from './errors.ts';

/**
 * The HTTP border (issue 9): HTTPS, errors the framework answers before any route (bad URL, headers
 * too large) in the API's own format, security headers, and URLs logged without credentials.
 */

/** Query parameters whose values look like credentials: never written to the log. */
const SECRET_PARAM =
  /(^|[_.-])(key|apikey|api_key|token|access_token|secret|password|passwd|pwd|auth|authorization|signature|sig|session|credentials?)$/i;

/** `url` with the values of credential-looking query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url.slice(q + 1).replace(/([^=&#]*)=([^&#]*)/g, (whole, name: string) => {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // undecodable: judge it as written
    }
    return SECRET_PARAM.test(decoded.trim()) ? `${name}=[redacted]` : whole;
  });
  return `${url.slice(0, q)}?${query}`;
}

/** Fastify's request serializer, with the URL redacted (pino serializers of the HTTP logger). */
export function serializeRequest(req: FastifyRequest) {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

function rawError(socket: Socket, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify(errorBody(code, message));
  socket.write(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Options for `Fastify()`: HTTPS when `http.tls` is set, and the framework's errors in our format. */
export function serverOptions(config: CollectorConfig): Partial<FastifyServerOptions> & {
  https?: { cert: Buffer; key: Buffer };
} {
  const tls = config.http.tls;
  return {
    ...(tls ? { https: { cert: pem(tls.cert, 'http.tls.cert'), key: pem(tls.key, 'http.tls.key') } } : {}),
    // Errors of the URL itself (bad percent-encoding), found before any route runs.
    frameworkErrors(error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply) {
      const code: ErrorCode = error.code === 'FST_ERR_BAD_URL' ? 'invalid_url' : 'invalid_params';
      // answered before routing, so the onSend hook of harden() does not run
      setSecurityHeaders(reply, tls !== undefined);
      return reply
        .status(ERROR_CODES[code].status)
        .send(errorBody(code, `url: ${error.message.replace(/^'(.{0,200}).*' is/, "'$1' is")}`));
    },
    // Errors Node's HTTP parser finds before Fastify sees a request (headers too large, garbage).
    clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) {
        if (err.code === 'HPE_HEADER_OVERFLOW') {
          rawError(socket, 431, 'request_too_large', 'the request line and headers exceed 16 KiB');
        } else if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
          rawError(socket, 400, 'invalid_url', 'not a valid HTTP request');
        }
      }
      socket.destroy(err);
    },
  };
}

/**
 * Security headers on every answer, and bodies only as JSON: a `text/plain` body is refused with
 * 415 (unsupported_media_type) like any other type, not parsed into a string that fails as 400.
 */
export function harden(app: FastifyInstance, config: CollectorConfig): void {
  app.removeContentTypeParser('text/plain');
  const hsts = config.http.tls !== undefined;
  app.addHook('onSend', async (_request, reply, payload) => {
    setSecurityHeaders(reply, hsts);
    return payload;
  });
}

/** No MIME sniffing, no framing (clickjacking), no referrer; HSTS when served over HTTPS. */
function setSecurityHeaders(reply: FastifyReply, hsts: boolean): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('X-Frame-Options', 'DENY');
  reply.header('Referrer-Policy', 'no-referrer');
  if (!reply.hasHeader('Content-Security-Policy')) {
    reply.header('Content-Security-Policy', "frame-ancestors 'none'");
  }
  if (hsts) reply.header('Strict-Transport-Security', 'max-age=31536000');
}
