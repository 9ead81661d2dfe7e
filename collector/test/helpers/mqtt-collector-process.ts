/**
 * The collector's MQTT half in its own process, so a test can kill -9 it. Reads the SQLite path
 * from argv[2], prints `{"port":N}` on stdout once listening.
 */
import { startCollector } from './mqtt-harness.ts';

const dbPath = process.argv[2];
if (!dbPath) throw new Error('usage: mqtt-collector-process.ts SQLITE_FILE');
const c = await startCollector(dbPath);
process.stdout.write(`${JSON.stringify({ port: c.port })}\n`);
process.on('SIGTERM', () => {
  c.stop().then(() => process.exit(0));
});
