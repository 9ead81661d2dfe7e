// `npm audit --omit=dev --audit-level=high` for CI: fails on a high or critical advisory in a runtime
// dependency. A registry that offers no audit endpoint (a read-only mirror answers 405) cannot be
// asked: that is printed loudly and does not fail the run, since nothing was found either way.
import { spawnSync } from 'node:child_process';

const run = spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`npm audit: unreadable answer (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  process.exit(1);
}
if (report.statusCode || report.error?.code === 'ENOAUDIT' || (report.message && !report.metadata)) {
  console.log(
    `npm audit: NOT CHECKED, the registry answered: ${report.message ?? report.error?.summary ?? 'no audit endpoint'}`,
  );
  process.exit(0);
}
const v = report.metadata?.vulnerabilities ?? {};
const bad = (v.high ?? 0) + (v.critical ?? 0);
console.log(`npm audit (runtime dependencies): ${JSON.stringify(v)}`);
if (bad > 0) {
  for (const [name, entry] of Object.entries(report.vulnerabilities ?? {})) {
    if (entry.severity === 'high' || entry.severity === 'critical')
      console.error(`  ${entry.severity}: ${name} ${entry.range ?? ''}`);
  }
  process.exit(1);
}
