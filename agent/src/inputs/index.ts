/**
 * The input registry: every input type the agent knows, in one list.
 *
 * Each input folder's `index.ts` exports
 *   - `schema`: a zod object whose `type` is a literal (`z.literal('modbus')`), the input's config;
 *   - `create(config, deps): Input`: builds the input from its parsed config (see ./types.ts).
 * To add an input type: import its folder below and append it to `INPUT_MODULES`. The config schema
 * (`agent.yaml` `instruments[].inputs[]`) is the discriminated union of these schemas on `type`.
 */
import { z } from 'zod';
import * as modbus from './modbus/index.ts';
import * as opcua from './opcua/index.ts';
import * as serial from './serial/index.ts';
import * as simulated from './simulated/index.ts';
import type { Input, InputDeps } from './types.ts';

export const INPUT_MODULES = [
  simulated,
  serial,
  modbus,
  opcua,
  // A new input type: one line here, after `import * as name from './name/index.ts';` above.
] as const;

type SchemaOf<M> = M extends { schema: infer S } ? S : never;
type SchemasOf<T extends readonly unknown[]> = { -readonly [K in keyof T]: SchemaOf<T[K]> };
type Schemas = SchemasOf<typeof INPUT_MODULES>;

/** `instruments[].inputs[]`: one of the registered input configs, chosen by `type`. */
export const inputConfigSchema = z.discriminatedUnion(
  'type',
  INPUT_MODULES.map((m) => m.schema) as unknown as Schemas,
);
export type InputConfig = z.infer<typeof inputConfigSchema>;

/** The registered input type names, for help texts and error messages. */
export const INPUT_TYPES: readonly string[] = INPUT_MODULES.map((m) => m.schema.shape.type.value);

/** Builds an input from its parsed config. Throws only for a `type` no module registers. */
export function createInput(config: InputConfig, deps: InputDeps): Input {
  const mod = INPUT_MODULES.find((m) => m.schema.shape.type.value === config.type);
  if (!mod)
    throw new Error(`unknown input type ${JSON.stringify(config.type)}: use ${INPUT_TYPES.join(', ')}`);
  return (mod.create as (c: InputConfig, d: InputDeps) => Input)(config, deps);
}

export type { Input, InputDeps, InputLink, InputSink, Reading } from './types.ts';
