/**
 * Names on the wire that run-time code needs without the payload schemas: the agent's service
 * process never loads zod (docs/performance.md, "Agent"), so what it shares with the schemas lives
 * here, and ./payloads.ts re-exports it.
 */

/** Run states an agent may send. `unknown` is never sent: the collector derives it. */
export const STATES = ['off', 'standby', 'idle', 'running', 'fault'] as const;
export type State = (typeof STATES)[number];

/** snake_case with a unit suffix by convention (power_w, current_a); unknown names are kept. */
export const METRIC_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
