/**
 * The web dashboard as the collector serves it (issue 11): its own files only, compressed as built,
 * under a Content-Security-Policy that allows nothing from elsewhere; the first load's compressed
 * size is measured here (goal: < 300 KB); and without built assets `/` says how to build them.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../src/api/web.ts';
import { build } from '../src/app.ts';
import { buildWebInto, webConfig } from './helpers/web.ts';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** GET with the given Accept-Encoding, the body as sent on the wire (not decompressed). */
function rawGet(base: string, path: string, acceptEncoding?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {},
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** What the page loads: the stylesheets and scripts index.html names. */
function assetsOf(html: string): string[] {
  return [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)]
    .map((m) => m[1]!)
    .filter((u) => !u.startsWith('data:'));
}

describe('the web dashboard, served', () => {
  let app: FastifyInstance;
  let base: string;
  let dir: string;
  let web: ReturnType<typeof buildWebInto>;

  beforeAll(async () => {
    web = buildWebInto();
    dir = mkdtempSync(join(tmpdir(), 'dayi-web-serve-'));
    app = await build(webConfig(dir), { logger: false, webDist: web.dist });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
    web?.remove();
  });

  it('answers / with the page, under a CSP that allows its own origin only', async () => {
    const r = await rawGet(base, '/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe|https?:|\*/);
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['cache-control']).toBe('no-cache');
    const html = r.body.toString('utf8');
    const assets = assetsOf(html);
    expect(assets).toHaveLength(2);
    for (const a of assets) expect(a).toMatch(/^\/assets\/app-[0-9a-f]{10}\.(js|css)$/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('first load: the page and its assets come Brotli-compressed, well under 300 KB', async () => {
    const index = await rawGet(base, '/', 'gzip, deflate, br, zstd');
    expect(index.headers['content-encoding']).toBe('br');
    const { brotliDecompressSync } = await import('node:zlib');
    const assets = assetsOf(brotliDecompressSync(index.body).toString('utf8'));
    let wire = index.body.length;
    let plain = brotliDecompressSync(index.body).length;
    for (const a of assets) {
      const r = await rawGet(base, a, 'gzip, deflate, br, zstd');
      expect(r.status, a).toBe(200);
      expect(r.headers['content-encoding'], a).toBe('br');
      expect(r.headers.vary, a).toMatch(/accept-encoding/i);
      expect(r.headers['cache-control'], a).toBe('public, max-age=31536000, immutable');
      expect(r.headers['content-security-policy'], a).toBe(DASHBOARD_CSP);
      wire += r.body.length;
      plain += brotliDecompressSync(r.body).length;
    }
    process.stdout.write(
      `web dashboard first load: ${assets.length + 1} files, ${(wire / 1024).toFixed(1)} KiB compressed (br), ${(plain / 1024).toFixed(1)} KiB uncompressed\n`,
    );
    expect(wire).toBeLessThan(300 * 1024);
  });

  it('sends gzip to a client without Brotli, and the plain file to one without either', async () => {
    const { gunzipSync } = await import('node:zlib');
    const html = (await rawGet(base, '/')).body.toString('utf8');
    const js = assetsOf(html).find((a) => a.endsWith('.js'))!;
    const plain = await rawGet(base, js);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['content-type']).toMatch(/javascript/);
    const gz = await rawGet(base, js, 'gzip');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
  });

  it('leaves every other path to the API: 404 in its error format, not the page', async () => {
    for (const path of ['/nope', '/assets/nope.js', '/index.html.br', '/v2/instruments']) {
      const r = await rawGet(base, path);
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.body.toString('utf8')).error.code, path).toBe('not_found');
    }
    const docs = await rawGet(base, '/healthz');
    expect(docs.status).toBe(200);
  });
});

describe('a collector without built dashboard assets', () => {
  it('answers / with a page saying how to build them (503), the API unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-web-missing-'));
    const app = await build(webConfig(dir), { logger: false, webDist: join(dir, 'no-such-dist') });
    try {
      const r = await app.inject({ method: 'GET', url: '/' });
      expect(r.statusCode).toBe(503);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.body).toContain('The web dashboard is not built');
      expect(r.body).toContain('npm run build:web');
      expect(r.headers['content-security-policy']).toBe(DASHBOARD_CSP);
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
