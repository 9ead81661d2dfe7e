#!/usr/bin/env node
// Builds the web dashboard the collector serves at `/`: collector/web/dist/ with index.html and
// assets/app-<hash>.js, assets/app-<hash>.css, each also as .gz and .br beside it (the collector
// sends those as they are: no compression per request).
//
//   node collector/web/build.js [--out-dir DIR] [--if-available]
//
// Plain JavaScript for the same reason as agent/build.js: npm runs it as part of the `prepare`
// script after `npm ci`. With --if-available an install without rolldown (`--omit=dev`) is not
// failed: it says so, and the collector then answers `/` with a page saying how to build it.
// Nothing is fetched from a CDN: the page must work on an intranet.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const WEB_DIR = dirname(fileURLToPath(import.meta.url));

const hashOf = (data) => createHash('sha256').update(data).digest('hex').slice(0, 10);

/** A CSS file without comments and runs of white space (the page's only stylesheet is small). */
function minifyCss(css) {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([{}:;,>])\s*/g, '$1')
    .replace(/;}/g, '}')
    .trim();
}

function writeCompressed(file, data) {
  writeFileSync(file, data);
  writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
  writeFileSync(
    `${file}.br`,
    brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  );
}

/** Builds into `outDir` (emptied first). Resolves to the files written (without .gz/.br). */
export async function buildWeb({ outDir = join(WEB_DIR, 'dist') } = {}) {
  const { rolldown } = await import('rolldown');
  const bundle = await rolldown({
    input: join(WEB_DIR, 'src', 'main.ts'),
    platform: 'browser',
    logLevel: 'warn',
  });
  const { output } = await bundle.generate({ format: 'esm', minify: true });
  await bundle.close();
  const js = Buffer.from(output[0].code);
  const css = Buffer.from(minifyCss(readFileSync(join(WEB_DIR, 'src', 'style.css'), 'utf8')));
  const jsName = `assets/app-${hashOf(js)}.js`;
  const cssName = `assets/app-${hashOf(css)}.css`;
  const html = Buffer.from(
    readFileSync(join(WEB_DIR, 'index.html'), 'utf8')
      .replace('%APP_JS%', `/${jsName}`)
      .replace('%APP_CSS%', `/${cssName}`),
  );
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  writeCompressed(join(outDir, jsName), js);
  writeCompressed(join(outDir, cssName), css);
  writeCompressed(join(outDir, 'index.html'), html);
  return { outDir, files: ['index.html', jsName, cssName] };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { 'out-dir': { type: 'string' }, 'if-available': { type: 'boolean' } },
  });
  try {
    await import('rolldown');
  } catch (err) {
    if (!values['if-available'] || err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stdout.write(
      'collector/web/build.js: rolldown is not installed (npm ci --omit=dev?): no web dashboard; the collector answers / with how to build it\n',
    );
    process.exit(0);
  }
  const started = Date.now();
  const r = await buildWeb(values['out-dir'] ? { outDir: resolve(values['out-dir']) } : {});
  process.stdout.write(
    `collector/web/build.js: ${relative(process.cwd(), r.outDir)}/ (${r.files.join(', ')}) in ${Date.now() - started} ms\n`,
  );
}
