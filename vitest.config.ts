import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{protocols,agent,collector,demo,bench}/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on free ports; two cores in CI.
    maxWorkers: 2,
    // json: .ci/run prints the totals from it as one plain closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
  },
});
