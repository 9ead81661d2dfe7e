/**
 * `npm run faults [-- --scenario NAME[,NAME…]] [--short]`: runs the fault scenarios (faults/scenarios.ts)
 * and prints one JSON object on stdout; progress goes to stderr. Exits 1 if a scenario lost an
 * acknowledged message, stored a duplicate or failed. `--short` runs the small versions CI runs.
 * Scenarios: kill9, reconnect, rederive, partition, disk-full, influx-down. The partition and
 * disk-full scenarios need root (network namespaces, tmpfs mounts).
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { SCENARIOS } from './plans.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    short: { type: 'boolean', default: false },
  },
});
const names = values.scenario ? values.scenario.split(',') : Object.keys(SCENARIOS);
const unknown = names.filter((n) => !(n in SCENARIOS));
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario ${unknown.join(', ')}: use ${Object.keys(SCENARIOS).join(', ')}\n`);
  process.exit(2);
}
const size = values.short ? 'short' : 'full';
const results: unknown[] = [];
let failed = false;
const started = new Date().toISOString();
for (const name of names) {
  process.stderr.write(`[faults] ${name} (${size})\n`);
  try {
    const r = await SCENARIOS[name]![size]();
    results.push(r);
    if (!r.ok) failed = true;
    process.stderr.write(
      `[faults] ${name}: sent ${r.sent} acknowledged ${r.acknowledged} stored ${r.stored} lost ${r.lost} duplicates ${r.duplicates}${r.ok ? '' : ' FAILED'}\n`,
    );
  } catch (err) {
    failed = true;
    results.push({ scenario: name, ok: false, error: (err as Error).message });
    process.stderr.write(`[faults] ${name} failed: ${(err as Error).stack}\n`);
  }
}
process.stdout.write(
  `${JSON.stringify(
    {
      faults: size,
      started,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        loadavg: loadavg().map((x) => Number(x.toFixed(2))),
      },
      results,
    },
    null,
    2,
  )}\n`,
);
process.exit(failed ? 1 : 0);
