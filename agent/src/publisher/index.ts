export type { SessionOptions } from './session.ts';
export {
  clientIdFor,
  INFLIGHT_WINDOW,
  InstrumentSession,
  mqttIdentity,
  STOP_GRACE_MS,
} from './session.ts';
