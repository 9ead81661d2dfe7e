/**
 * Every section of a configuration file refuses keys it does not know: a typo (`threshold:`,
 * `retentionDay:`) must be an error, not a setting that silently does nothing. zod objects strip
 * unknown keys unless made strict, so this walks a schema and lists every object that is not
 * (`z.object` instead of `z.strictObject`), and the tests of each config schema (collector, agent,
 * firmware profiles) assert that the list is empty: a new section added with `z.object` fails them.
 */

interface Def {
  type: string;
  shape?: Record<string, unknown>;
  catchall?: { _zod?: { def?: Def } };
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
  element?: unknown;
  options?: unknown[];
  left?: unknown;
  right?: unknown;
  items?: unknown[];
  rest?: unknown;
  keyType?: unknown;
  valueType?: unknown;
  getter?: () => unknown;
}

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | null)?._zod?.def;
}

/**
 * Paths (`store`, `instruments[].thresholds`) of the objects in `schema` that accept unknown keys
 * silently. `[]` marks list items, `{}` record values, `|n` the n-th option of a union.
 */
export function looseObjects(schema: unknown, path = '', seen = new Set<unknown>()): string[] {
  const def = defOf(schema);
  if (!def || seen.has(schema)) return [];
  seen.add(schema);
  const at = (suffix: string) => (path === '' ? suffix.replace(/^\./, '') : `${path}${suffix}`);
  const out: string[] = [];
  const walk = (s: unknown, p: string) => out.push(...looseObjects(s, p, seen));
  switch (def.type) {
    case 'object': {
      if (defOf(def.catchall)?.type !== 'never') out.push(path || '(root)');
      for (const [k, v] of Object.entries(def.shape ?? {})) walk(v, at(`.${k}`));
      break;
    }
    case 'optional':
    case 'nullable':
    case 'nonoptional':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'success':
      walk(def.innerType, path);
      break;
    case 'pipe':
      walk(def.in, path);
      walk(def.out, path);
      break;
    case 'array':
    case 'set':
      walk(def.element, `${path}[]`);
      break;
    case 'record':
    case 'map':
      walk(def.valueType, `${path}{}`);
      break;
    case 'union':
      (def.options ?? []).forEach((o, i) => {
        walk(o, `${path}|${i}`);
      });
      break;
    case 'intersection':
      walk(def.left, path);
      walk(def.right, path);
      break;
    case 'tuple':
      for (const item of def.items ?? []) walk(item, `${path}[]`);
      if (def.rest) walk(def.rest, `${path}[]`);
      break;
    case 'lazy':
      if (def.getter) walk(def.getter(), path);
      break;
  }
  return out;
}
