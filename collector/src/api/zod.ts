import { type PathIssue, safeParseExplained } from '@dayi/protocols';
import type { FastifySchemaCompiler, FastifyTypeProvider } from 'fastify';
import { z } from 'zod';

/**
 * Route schemas are zod schemas: one definition validates requests (with messages that name the
 * field) and, converted by `z.toJSONSchema`, documents the route in `/openapi.json`.
 */

/** Types `request.query`/`params`/`body` as the zod output and handler answers as the zod input. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown;
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown;
}

const PART_NAME: Record<string, string> = {
  querystring: 'query',
  params: 'path',
  body: 'body',
  headers: 'header',
};

const NOUN: Record<string, string> = {
  query: 'parameter',
  path: 'parameter',
  body: 'field',
  header: 'header',
};

/**
 * `query.from: "2026-02-30" is not a date: use YYYY-MM-DD, e.g. 2026-11-01; …`: where, what was
 * wrong and what to do, for each issue (the same plain words as configuration errors).
 */
export function describeIssues(part: string, issues: readonly PathIssue[]): string {
  return issues.map((i) => `${[part, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
}

export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const part = PART_NAME[httpPart ?? 'body'] ?? 'body';
  return (data: unknown) => {
    const r = safeParseExplained(schema, data ?? (part === 'body' ? undefined : {}), { noun: NOUN[part] });
    if (r.success) return { value: r.data };
    return { error: new Error(describeIssues(part, r.issues)) };
  };
};

/** Answers are built by our own typed code; serializing them needs no schema. */
export const jsonSerializerCompiler = () => (data: unknown) => JSON.stringify(data);

function isZod(value: unknown): value is z.ZodType {
  return value instanceof z.ZodType;
}

function toJson(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return json;
}

/** `@fastify/swagger` transform: zod route schemas to JSON Schema (requests as input, answers as output). */
export function zodToOpenApi({ schema, url }: { schema: unknown; url: string }): {
  schema: Record<string, unknown>;
  url: string;
} {
  if (!schema || typeof schema !== 'object')
    return { schema: (schema ?? {}) as Record<string, unknown>, url };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    if (key === 'response' && value && typeof value === 'object') {
      const response: Record<string, unknown> = {};
      for (const [status, r] of Object.entries(value as Record<string, unknown>)) {
        response[status] = isZod(r) ? toJson(r, 'output') : r;
      }
      out.response = response;
    } else {
      out[key] = isZod(value) ? toJson(value, 'input') : value;
    }
  }
  return { schema: out, url };
}
