/**
 * `/v1/agents`: agent MQTT credentials kept in the store (access/agent-credentials.ts), for
 * technicians (agents:register) of an org: they make, list, rotate and revoke credentials for their
 * org's instruments only. The password is in the answer of create and rotate, and nowhere else.
 */
import { instrumentId } from '@dayi/protocols';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  createAgentCredential,
  getAgentCredential,
  listAgentCredentials,
  revokeAgentCredential,
  rotateAgentCredential,
  type StoredAgentCredential,
} from '../access/agent-credentials.ts';
import { AccessError } from '../access/api-keys.ts';
import { AGENT_USERNAME_PATTERN } from '../config-security.ts';
import type { CollectorContext } from '../context.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import { ApiError } from './errors.ts';
import { errorResponse, orgParam } from './schemas.ts';
import { callerOrg, instrumentOrg, principalOf } from './scope.ts';
import type { ZodTypeProvider } from './zod.ts';

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };
const isoTime = z.string().describe('ISO 8601 time with offset');

const usernameParams = z.object({
  username: z
    .string()
    .regex(AGENT_USERNAME_PATTERN, 'letters, digits and . _ @ - only (no : or /), at most 128 characters')
    .describe('the agent MQTT username'),
});

const credential = z.object({
  username: z.string(),
  instruments: z.array(z.string()),
  org: z.string().nullable(),
  createdAt: isoTime,
  createdBy: z.string().nullable().describe('the API key name (or cli) that made it'),
  rotatedAt: isoTime.nullable(),
  revokedAt: isoTime.nullable(),
});

const withPassword = credential
  .extend({
    password: z.string().describe('shown once: the store keeps only its scrypt hash'),
  })
  .describe("the agent's credential with its new password");

export async function agentRoutes(root: FastifyInstance, { ctx }: { ctx: CollectorContext }): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tz = ctx.config.timezone;
  const iso = (t: number | null) => (t === null ? null : isoWithOffset(t, tz));
  const json = (c: StoredAgentCredential) => ({
    username: c.username,
    instruments: c.instruments,
    org: c.org,
    createdAt: iso(c.createdAt)!,
    createdBy: c.createdBy,
    rotatedAt: iso(c.rotatedAt),
    revokedAt: iso(c.revokedAt),
  });
  const reserved = ctx.config.agents.map((a) => a.username);
  const notFound = (request: FastifyRequest) =>
    new ApiError(
      'agent_not_found',
      `path.username: no agent credential ${JSON.stringify((request.params as { username: string }).username)} in the store`,
    );
  const owned = {
    orgOf: (request: FastifyRequest) => {
      const c = getAgentCredential(ctx.db, (request.params as { username: string }).username);
      return c ? c.org : undefined;
    },
    notFound,
  };

  app.post(
    '/agents',
    {
      config: { permission: 'agents:register', orgScope: 'rows' },
      schema: {
        summary: 'Make MQTT credentials for an edge agent (the password is in this answer only)',
        description:
          "An org-scoped key (a technician of an org) only for its org's instruments; the credential belongs to its org. " +
          'The broker reads the store at each CONNECT: no restart. The agent connects with the username as client id ' +
          '(or one starting with `username:` or `username/`).',
        tags: ['agents'],
        security,
        body: z.strictObject({
          instruments: z
            .array(instrumentId)
            .min(1)
            .max(1000)
            .describe('the instruments the agent may publish for'),
          username: usernameParams.shape.username.optional().describe('default: agent-xxxxxx'),
        }),
        response: {
          201: withPassword,
          400: errorResponse,
          404: errorResponse,
          409: errorResponse,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const org = callerOrg(request);
      const orgs = new Set<string | null>();
      for (const [i, id] of request.body.instruments.entries()) {
        const theirs = instrumentOrg(ctx.db, id);
        if (org !== null && theirs !== org) {
          throw new ApiError(
            'instrument_not_found',
            `body.instruments.${i}: no instrument ${JSON.stringify(id)} in the registry`,
          );
        }
        orgs.add(theirs ?? null);
      }
      const only = orgs.size === 1 ? [...orgs][0]! : null;
      try {
        const { username, password } = await createAgentCredential(
          ctx.db,
          {
            instruments: request.body.instruments,
            ...(request.body.username === undefined ? {} : { username: request.body.username }),
            org: org ?? only,
            now: ctx.now(),
            createdBy: principalOf(request)?.name ?? null,
          },
          reserved,
        );
        return reply.status(201).send({ ...json(getAgentCredential(ctx.db, username)!), password });
      } catch (err) {
        if (err instanceof AccessError) {
          throw new ApiError(
            err.code === 'conflict' ? 'agent_conflict' : 'invalid_body',
            `body.${err.message}`,
          );
        }
        throw err;
      }
    },
  );

  app.get(
    '/agents',
    {
      config: { permission: 'agents:register', orgScope: 'filtered' },
      schema: {
        summary: 'Agent credentials of the store (never a password); those of the YAML are not listed',
        tags: ['agents'],
        security,
        querystring: z.strictObject({ org: orgParam }),
        response: { 200: z.object({ items: z.array(credential) }), 400: errorResponse, ...denied },
      },
    },
    async (request) => ({ items: listAgentCredentials(ctx.db, request.query.org ?? null).map(json) }),
  );

  app.post(
    '/agents/:username/rotate',
    {
      config: { permission: 'agents:register', orgScope: owned },
      schema: {
        summary: 'A new password for the agent; the old one is refused from its next CONNECT',
        tags: ['agents'],
        security,
        params: usernameParams,
        response: { 200: withPassword, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request) => {
      const password = await rotateAgentCredential(ctx.db, request.params.username, ctx.now());
      if (password === null) throw notFound(request);
      return { ...json(getAgentCredential(ctx.db, request.params.username)!), password };
    },
  );

  app.delete(
    '/agents/:username',
    {
      config: { permission: 'agents:register', orgScope: owned },
      schema: {
        summary: "Revoke the agent's credential: its next CONNECT is refused",
        tags: ['agents'],
        security,
        params: usernameParams,
        response: { 204: z.null(), 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request, reply) => {
      if (!revokeAgentCredential(ctx.db, request.params.username, ctx.now())) throw notFound(request);
      return reply.status(204).send(null);
    },
  );
}
