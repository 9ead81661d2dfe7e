export * from './classify.ts';
export * from './config/ids.ts';
export * from './config/load.ts';
export * from './config/secrets.ts';
export * from './config/units.ts';
export * from './ids.ts';
export * from './mqtt/payloads.ts';
export * from './mqtt/topics.ts';
