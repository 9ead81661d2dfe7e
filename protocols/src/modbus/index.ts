export * from './planner.ts';
export * from './profile.ts';
export * from './registers.ts';
