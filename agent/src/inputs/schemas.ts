/**
 * The input types' config schemas, in one list: config-time code (loading agent.yaml,
 * `config check`). The run-time registry is ./index.ts.
 *
 * Each input folder has `schema.ts`, exporting `schema`: a zod object whose `type` is a literal
 * (`z.literal('modbus')`), the input's config; and `index.ts`, exporting `create(config, deps)`,
 * which must not import zod or YAML (see ./profiles.ts for why). To add an input type: import its
 * schema below and append it to `INPUT_SCHEMAS`, then add its module to `INPUT_MODULES` in
 * ./index.ts (the compiler says so if you forget). The config schema (`agent.yaml`
 * `instruments[].inputs[]`) is the discriminated union of these schemas on `type`.
 */
import { z } from 'zod';
import { schema as modbus } from './modbus/schema.ts';
import { schema as opcua } from './opcua/schema.ts';
import { schema as serial } from './serial/schema.ts';
import { schema as simulated } from './simulated/schema.ts';

export const INPUT_SCHEMAS = [
  simulated,
  serial,
  modbus,
  opcua,
  // A new input type: one line here, after `import { schema as name } from './name/schema.ts';`.
] as const;

/** `instruments[].inputs[]`: one of the registered input configs, chosen by `type`. */
export const inputConfigSchema = z.discriminatedUnion('type', INPUT_SCHEMAS);
export type InputConfig = z.infer<typeof inputConfigSchema>;

/** The registered input type names, for help texts and error messages. */
export const INPUT_TYPES: readonly string[] = INPUT_SCHEMAS.map((s) => s.shape.type.value);
