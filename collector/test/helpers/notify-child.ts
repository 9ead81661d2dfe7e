/**
 * A collector process for the notification durability test: `build()` with the config file given,
 * the notifier running in the background, and AlertChange values read as JSON lines on stdin and
 * fed to the sink inside a transaction, as the alert store does. Prints `ready`, then
 * `queued <n>` after each change has committed. SIGTERM closes it cleanly.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AlertChange } from '../../src/alerts/types.ts';
import { build } from '../../src/app.ts';
import type { CollectorConfigInput } from '../../src/config.ts';
import { inTransaction } from '../../src/derive/io/store.ts';

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as CollectorConfigInput;
const app = await build(config, { logger: false });
let queued = 0;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const change = JSON.parse(line) as AlertChange;
  inTransaction(app.dayi.ctx.db, () => app.dayi.notifier.sink(change));
  queued++;
  process.stdout.write(`queued ${queued}\n`);
});
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
process.stdout.write('ready\n');
