/**
 * The web dashboard at `/` (issue 11): the files collector/web/build.js wrote to collector/web/dist,
 * sent as they are stored, Brotli or gzip beside each (built once, not compressed per request).
 * Nothing comes from elsewhere: the page's Content-Security-Policy allows its own origin only, so it
 * works on an intranet and an injected script from another origin would not run.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * Own origin only: scripts and styles from files (no inline code, no eval), data from the API of
 * the same origin, images from the page's own SVG and `data:` (the empty favicon), no frames.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dayi: dashboard not built</title></head>
<body><h1>The web dashboard is not built</h1>
<p>This collector has no dashboard assets in <code>collector/web/dist/</code>. They are built by
<code>npm ci</code> (the <code>prepare</code> script) when the dev dependencies are installed, or by
<code>npm run build:web</code>. An install with <code>--omit=dev</code> has no bundler: build them
where the dev dependencies are and copy <code>collector/web/dist/</code>.</p>
<p>The API works without them: <a href="/docs">/docs</a>, <a href="/healthz">/healthz</a>.</p>
<p>页面资源未构建：请运行 <code>npm run build:web</code>。</p>
</body></html>
`;

function headers(reply: FastifyReply, path: string): void {
  reply.header('Content-Security-Policy', DASHBOARD_CSP);
  // Hashed names never change content; the page itself is revalidated so a new build is seen.
  reply.header(
    'Cache-Control',
    /\/assets\/[^/]+-[0-9a-f]{10}\.(js|css)(\.br|\.gz)?$/.test(path)
      ? 'public, max-age=31536000, immutable'
      : 'no-cache',
  );
}

export async function webRoutes(app: FastifyInstance, opts: { dist?: string } = {}): Promise<void> {
  const dist = opts.dist ?? WEB_DIST;
  if (!existsSync(`${dist}/index.html`)) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .status(503)
        .header('Content-Security-Policy', DASHBOARD_CSP)
        .header('Cache-Control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(NOT_BUILT),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: dist,
    prefix: '/',
    // routes for the files there at start only: every other path stays the API's 404
    wildcard: false,
    globIgnore: ['**/*.gz', '**/*.br'],
    preCompressed: true,
    decorateReply: false,
    cacheControl: false,
    etag: true,
    lastModified: false,
    setHeaders: (reply: FastifyReply, path: string) => headers(reply, path),
    schemaHide: true,
  });
}
