/** @dayi/agent: the edge runtime. See agent/README.md. */
export {
  type ClassifierOptions,
  type ClassifierSample,
  type StateChange,
  StateClassifier,
} from './classifier.ts';
export { agentCommand } from './cli.ts';
export {
  type AgentConfig,
  agentConfigSchema,
  checkAgentConfig,
  DEFAULT_PROFILES_DIR,
  type InstrumentConfig,
  loadAgentConfig,
  parseAgentConfig,
  type StateConfig,
} from './config.ts';
export { createInput } from './inputs/index.ts';
export { type Profiles, type ProfileTable, tableProfiles } from './inputs/profiles.ts';
export { diskProfiles, profileTable } from './inputs/profiles-load.ts';
export { INPUT_SCHEMAS, INPUT_TYPES, type InputConfig, inputConfigSchema } from './inputs/schemas.ts';
export { Outbox, type OutboxMessage } from './outbox.ts';
export { clientIdFor, InstrumentSession, mqttIdentity } from './publisher/index.ts';
export {
  AGENT_VERSION,
  InstrumentRuntime,
  type RunningAgent,
  type StartOptions,
  startAgent,
} from './runtime.ts';
