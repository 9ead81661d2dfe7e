#!/usr/bin/env node
// Builds the agent service's bundle: agent/dist/dayi-agent.mjs (+ lazily loaded chunks) and
// agent/dist/dayi-agent.json, the list of the sources it was built from with their CRC-32.
//
//   node agent/build.js [--out-dir DIR] [--if-available]
//
// Why a bundle: the installed agent runs on small instrument PCs where its goal is under 60 MB of
// resident memory. Running the TypeScript sources costs ~18 MiB for type stripping alone, and
// resolving and compiling hundreds of files costs more; one minified file does not
// (docs/performance.md, "Agent").
//
// Plain JavaScript on purpose: npm runs it as the `prepare` script after `npm ci`, with whatever
// `node` is first on PATH (the repository's Node 24 after a full install, maybe an older one after
// `npm ci --omit=dev`). With --if-available it does not fail an install that has no rolldown
// (`--omit=dev`): it says so, and the service then runs the sources (agent/src/main.ts).
//
// A bundle never runs stale code: at start, agent/src/main.ts (bundled) compares the CRC-32 of
// each source listed in dayi-agent.json (and of package-lock.json, for the bundled dependencies)
// with the files on disk, and if any differs it warns and runs the sources instead.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';

const AGENT_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_DIR = dirname(AGENT_DIR);
export const BUNDLE_FILE = 'dayi-agent.mjs';
export const MANIFEST_FILE = 'dayi-agent.json';

// Loaded at run time from node_modules, not bundled: serialport finds its native addon next to its
// own package files; node-opcua is large, loaded only when an OPC UA input starts.
const EXTERNAL = [/^node:/, /^node-opcua(\/|$)/, /^serialport$/, /^@serialport\//];

/**
 * V8 keeps a script's source in memory, as Latin-1 if every character is, else as UTF-16: one
 * non-ASCII character (a `’` in a message) doubles it. Escaping them keeps the bundle one byte per
 * character. `\uXXXX` means the same character in strings, templates, regular expressions and
 * identifiers; only String.raw would see the difference, and the agent does not use it on them.
 * Done on the written files: the minifier runs after the plugins' renderChunk.
 */
function asciiOnly(code) {
  return code.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Dependencies that load, when they are loaded, code the agent never runs. Each patch makes such a
 * load lazy (on first use), keeping the same API. The text is matched exactly (the versions are
 * pinned): a new version that changes it fails the build here, it does not silently load it all.
 */
const LAZY_LOADS = [
  {
    // Every transport and server modbus-serial has (serial ports, UDP, the C701 gateway, a Modbus
    // server) is required by its index.js; the agent uses one client per connection. The exports
    // become getters that require on first read (undefined if it fails, as its try/catch did).
    file: 'modbus-serial/index.js',
    patch: (code) => {
      let n = 0;
      const out = code
        .replace(
          /try \{\n {4}(module\.exports\.\w+ = require\("[^"]+"\);)\n\} catch \(err\) \{ \/\* optional native dep \*\/ \}/g,
          '$1',
        )
        .replace(/^module\.exports\.(\w+) = require\("([^"]+)"\);$/gm, (_all, name, path) => {
          n++;
          return `Object.defineProperty(module.exports, ${JSON.stringify(name)}, { enumerable: true, configurable: true, get() { try { return require(${JSON.stringify(path)}); } catch { return undefined; } } });`;
        });
      return n >= 8 ? out : null;
    },
  },
  {
    // MQTT 5 topic aliases (the agent speaks 3.1.1): their lru-cache reads the `performance`
    // global when loaded, which loads Node's perf_hooks and worker modules (~1 MiB).
    file: 'mqtt/build/lib/handlers/connack.js',
    patch: (code) => {
      const eager = 'const topic_alias_send_1 = __importDefault(require("../topic-alias-send"));';
      const lazy =
        'const topic_alias_send_1 = { get default() { return __importDefault(require("../topic-alias-send")).default; } };';
      return code.includes(eager) ? code.replace(eager, lazy) : null;
    },
  },
];

function lazyLoads() {
  return {
    name: 'dayi-lazy-loads',
    transform(code, id) {
      const path = id.replaceAll(sep, '/');
      const entry = LAZY_LOADS.find((p) => path.endsWith(`/node_modules/${p.file}`));
      if (!entry) return null;
      const out = entry.patch(code);
      if (out === null) throw new Error(`agent/build.js: ${entry.file} is not the pinned version's text`);
      return { code: out, map: null };
    },
  };
}

/**
 * The agent's run-time process must not load config-time libraries (agent/src/handoff.ts): the
 * build fails if one becomes reachable from the entry without passing through a config-time module,
 * and names the import chain, so a stray `import { z } from 'zod'` cannot silently cost the service
 * its memory budget again.
 */
const CONFIG_TIME_ENTRIES = ['agent/src/cli.ts', 'agent/src/inputs/profiles-load.ts'];
const CONFIG_TIME_LIBRARIES = ['zod', 'yaml'];

function runtimeGuard() {
  const rel = (id) => relative(REPO_DIR, id).replaceAll(sep, '/');
  return {
    name: 'dayi-runtime-guard',
    buildEnd(error) {
      if (error) return;
      const entry = join(AGENT_DIR, 'src', 'main.ts');
      const from = new Map([[entry, null]]);
      const queue = [entry];
      while (queue.length > 0) {
        const id = queue.shift();
        const lib = CONFIG_TIME_LIBRARIES.find((l) => id.includes(`${sep}node_modules${sep}${l}${sep}`));
        if (lib) {
          const chain = [];
          for (let at = id; at !== null; at = from.get(at)) chain.unshift(rel(at));
          this.error(
            `the agent's run-time process would load ${lib}: ${chain.join(' -> ')}. Import it only from config-time modules (agent/src/inputs/profiles.ts says why).`,
          );
        }
        const info = this.getModuleInfo(id);
        if (!info) continue;
        for (const next of [...info.importedIds, ...info.dynamicallyImportedIds]) {
          if (from.has(next) || CONFIG_TIME_ENTRIES.includes(rel(next))) continue;
          from.set(next, id);
          queue.push(next);
        }
      }
    },
  };
}

function crcOf(file) {
  return crc32(readFileSync(file));
}

/** Builds into `outDir` (emptied first). Resolves to the files written. */
export async function buildAgentBundle({ outDir = join(AGENT_DIR, 'dist') } = {}) {
  const { rolldown } = await import('rolldown');
  const bundle = await rolldown({
    input: join(AGENT_DIR, 'src', 'main.ts'),
    platform: 'node',
    external: EXTERNAL,
    plugins: [lazyLoads(), runtimeGuard()],
    transform: { define: { 'import.meta.dayiBundle': 'true' } },
    logLevel: 'warn',
  });
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const { output } = await bundle.write({
    dir: outDir,
    format: 'esm',
    minify: true,
    entryFileNames: BUNDLE_FILE,
    chunkFileNames: 'dayi-agent-[name]-[hash].mjs',
  });
  await bundle.close();
  for (const chunk of output) {
    if (chunk.type !== 'chunk') continue;
    const file = join(outDir, chunk.fileName);
    writeFileSync(file, asciiOnly(readFileSync(file, 'utf8')));
  }
  const sources = new Set();
  for (const chunk of output) {
    if (chunk.type !== 'chunk') continue;
    for (const id of chunk.moduleIds) {
      if (id.startsWith('\0') || id.includes(`${sep}node_modules${sep}`) || !id.startsWith(REPO_DIR))
        continue;
      sources.add(id);
    }
  }
  sources.add(join(REPO_DIR, 'package-lock.json'));
  const manifest = {
    note: 'written by agent/build.js: the sources of this bundle; it runs only while they are unchanged',
    sources: [...sources]
      .sort()
      .map((file) => ({ path: relative(REPO_DIR, file).replaceAll(sep, '/'), crc32: crcOf(file) })),
  };
  writeFileSync(join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
  return {
    bundle: join(outDir, BUNDLE_FILE),
    manifest: join(outDir, MANIFEST_FILE),
    files: output.map((o) => join(outDir, o.fileName)),
  };
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
      'agent/build.js: rolldown is not installed (npm ci --omit=dev?): no agent bundle; the agent service will run its sources\n',
    );
    process.exit(0);
  }
  const started = Date.now();
  const r = await buildAgentBundle(values['out-dir'] ? { outDir: resolve(values['out-dir']) } : {});
  process.stdout.write(
    `agent/build.js: ${relative(process.cwd(), r.bundle)} (${r.files.length} files) in ${Date.now() - started} ms\n`,
  );
}
