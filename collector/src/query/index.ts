/** The collector's read side and registry writes, as the REST API and the CLI call them. */
export { type RecomputeOptions, recomputeDirty } from '../derive/io/recompute.ts';
export { type RederiveResult, rederive } from '../derive/io/rederive.ts';
export { type DeriveSettingsCheck, ensureDeriveSettings } from '../derive/io/settings.ts';
export { isQueryError, QueryError, type QueryErrorCode } from './errors.ts';
export { getIdle, type IdleAnswer } from './idle.ts';
export {
  DEFAULT_PAGE_LIMIT,
  getInstrument,
  type InstrumentDetail,
  type InstrumentItem,
  type InstrumentPage,
  listInstruments,
  MAX_PAGE_LIMIT,
} from './instruments.ts';
export { instrumentExists, seedRegistry, type UpsertResult, upsertInstrument } from './registry.ts';
export { getUsage, MAX_USAGE_DAYS, type UsageAnswer, type UsageFigures } from './usage.ts';
