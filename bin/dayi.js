#!/usr/bin/env node
// The `dayi` command. dayi's sources are TypeScript run by Node 24's type stripping; when this file
// is started by an older Node (the system Node 20 on many machines), re-run it with the Node 24
// that `npm ci` installed into node_modules, so `npx dayi …` and `node bin/dayi.js …` both work.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const node24 = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node24)) {
    console.error(
      `dayi needs Node.js 24 or later (this is ${process.version}); run \`npm ci\` in ${root} first.`,
    );
    process.exit(1);
  }
  const r = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
