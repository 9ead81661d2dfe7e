export * from './format.ts';
export * from './framing.ts';
