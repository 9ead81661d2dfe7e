/** The collector's public surface, for `@dayi/collector` (the CLI, the demo, benchmarks, tests). */
export { type BuildOptions, build, type DayiHandle, LOG_REDACT } from './app.ts';
export { collectorCommand } from './cli.ts';
export {
  type CollectorConfig,
  type CollectorConfigInput,
  collectorConfigSchema,
  type InstrumentInput,
  loadCollectorConfig,
  parseCollectorConfig,
  parseCollectorConfigText,
  ROLES,
  type Role,
} from './config.ts';
export type { CollectorContext } from './context.ts';
