/**
 * `npm run bench [-- NAME [options]]`: runs one benchmark (or all) and prints JSON on stdout.
 * NAME: ingest (collector vs bare Aedes and Mosquitto), agent, agent-outbox (the agent with a full outbox), influx (shipper vs raw /write),
 * report (the yearly uptime report), api (utilisation and usage over a seeded fleet), calibration
 * (accuracy of calibrate on the evaluation set), detect (ingest with the detectors on vs off), fleet (16,000 agent sessions at a target rate, collector vs bare Aedes). Options are passed on to the benchmark.
 */
const BENCHES: Record<string, string> = {
  ingest: './ingest.ts',
  agent: './agent.ts',
  'agent-outbox': './agent-outbox.ts',
  influx: './influx.ts',
  rejects: './rejects.ts',
  'ingest-core': './ingest-core.ts',
  report: './report.ts',
  api: './api.ts',
  calibration: './calibration.ts',
  detect: './detect.ts',
  fleet: './fleet.ts',
};

const [name = 'ingest', ...rest] = process.argv.slice(2);
const file = BENCHES[name];
if (!file) {
  process.stderr.write(`unknown benchmark ${JSON.stringify(name)}: use ${Object.keys(BENCHES).join(', ')}\n`);
  process.exit(2);
}
process.argv = [process.argv[0]!, new URL(file, import.meta.url).pathname, ...rest];
await import(file);
