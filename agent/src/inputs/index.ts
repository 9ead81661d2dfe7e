/**
 * The input registry at run time: how to create each input type from its parsed config. Each
 * type's code is loaded when an instrument first uses it. The config schemas are in ./schemas.ts
 * (config-time code: this module and the inputs' `index.ts` stay free of zod and YAML).
 */
import type { InputConfig } from './schemas.ts';
import type { Input, InputDeps } from './types.ts';

type InputType = InputConfig['type'];
type InputModule<T extends InputType> = {
  create(config: Extract<InputConfig, { type: T }>, deps: InputDeps): Input;
};

/** One entry per type in ./schemas.ts; the compiler refuses a type without one. */
const INPUT_MODULES: { [T in InputType]: () => Promise<InputModule<T>> } = {
  simulated: () => import('./simulated/index.ts'),
  serial: () => import('./serial/index.ts'),
  modbus: () => import('./modbus/index.ts'),
  opcua: () => import('./opcua/index.ts'),
};

/** Builds an input from its parsed config. Throws only for a `type` no module registers. */
export async function createInput(config: InputConfig, deps: InputDeps): Promise<Input> {
  const load = Object.hasOwn(INPUT_MODULES, config.type)
    ? (INPUT_MODULES[config.type] as () => Promise<InputModule<InputType>>)
    : undefined;
  if (!load)
    throw new Error(
      `unknown input type ${JSON.stringify(config.type)}: use ${Object.keys(INPUT_MODULES).join(', ')}`,
    );
  const mod = await load();
  return mod.create(config as never, deps);
}

export type { InputConfig } from './schemas.ts';
export type { Input, InputDeps, InputLink, InputSink, Reading } from './types.ts';
