/**
 * Org scoping (issue 11): an API key may carry an `org`; its holder sees and changes only that
 * org's instruments. Every `/v1` route declares how (`config.orgScope`), and the guard below
 * refuses to register a route that does not, so no route can be added unscoped by mistake.
 *
 * - `'instrument'`: the path `{id}` is an instrument that must be the caller's org's, else 404
 *   `instrument_not_found` (the same answer as for an unknown id: existence does not leak).
 * - `'filtered'`: a list or an aggregate; its querystring must have `org`. A scoped caller's `org`
 *   is pinned to its own; asking for another org is 403.
 * - `'rows'`: a batch write whose handler checks each row against the caller's org (bookings,
 *   import, agent credentials).
 * - `'none'`: no org dimension (the report signing keys).
 * - `{ instrumentOf, notFound }` / `{ orgOf, notFound }`: a resource that belongs to an instrument
 *   or an org (an alert, a booking, a delivery, a signature); not visible → `notFound`. Returning
 *   `undefined` means "no such resource": the handler answers its own 404.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { stmt } from '../derive/io/store.ts';
import { notInRegistry } from '../query/errors.ts';
import type { ApiPrincipal, Keyring } from './auth.ts';
import { ApiError } from './errors.ts';

export type OrgScope =
  | 'instrument'
  | 'filtered'
  | 'rows'
  | 'none'
  | {
      instrumentOf: (request: FastifyRequest) => string | null | undefined;
      notFound: (request: FastifyRequest) => ApiError;
    }
  | {
      orgOf: (request: FastifyRequest) => string | null | undefined;
      notFound: (request: FastifyRequest) => ApiError;
    };

const principals = new WeakMap<FastifyRequest, ApiPrincipal>();

/** The principal the guard authorised for this request (null outside `/v1`). */
export function principalOf(request: FastifyRequest): ApiPrincipal | null {
  return principals.get(request) ?? null;
}

/** The org the caller is confined to, or null for a key that sees every org. */
export function callerOrg(request: FastifyRequest): string | null {
  return principals.get(request)?.org ?? null;
}

/** The registry org of an instrument: `undefined` when the collector does not know the id. */
export function instrumentOrg(db: DatabaseSync, id: string): string | null | undefined {
  const row = stmt(
    db,
    `SELECT i.org AS org FROM (SELECT ?1 AS id) k LEFT JOIN instruments i ON i.id = k.id
       WHERE i.id IS NOT NULL OR EXISTS (SELECT 1 FROM instrument_status WHERE instrument_id = ?1)`,
  ).get(id) as { org: string | null } | undefined;
  return row === undefined ? undefined : row.org;
}

/** Whether an org-scoped caller may see the instrument (an unknown id is visible to nobody scoped). */
export function instrumentVisible(db: DatabaseSync, org: string | null, id: string): boolean {
  if (org === null) return true;
  return instrumentOrg(db, id) === org;
}

/** Throws the 404 of an unknown id when the instrument is not the caller's org's. */
export function assertInstrumentVisible(
  db: DatabaseSync,
  request: FastifyRequest,
  id: string,
  where = 'path.id',
) {
  if (!instrumentVisible(db, callerOrg(request), id)) {
    throw new ApiError('instrument_not_found', `${where}: ${notInRegistry(id)}`);
  }
}

/** Items of a list the caller may see. */
export function visibleItems<T extends { org: string | null }>(
  request: FastifyRequest,
  items: readonly T[],
): T[] {
  const org = callerOrg(request);
  return org === null ? [...items] : items.filter((i) => i.org === org);
}

/** The org a scoped write must carry: the caller's; another one is 403. */
export function assertWritableOrg(
  request: FastifyRequest,
  org: string | null | undefined,
  where: string,
): void {
  const mine = callerOrg(request);
  if (mine !== null && org !== mine) {
    throw new ApiError(
      'forbidden',
      `${where}: this API key is scoped to org ${JSON.stringify(mine)} and may not write ${org === null || org === undefined ? 'an instrument without org' : `org ${JSON.stringify(org)}`}`,
    );
  }
}

function hasOrgParam(schema: unknown): boolean {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  return !!shape && 'org' in shape;
}

/**
 * Authentication, permission and org scope for the routes of one plugin: checks each route at
 * registration (fail closed: the collector does not start with an unscoped route), the key before
 * anything is parsed, the org once the parameters are validated.
 */
export function guard(app: FastifyInstance, keyring: Keyring, db: DatabaseSync): void {
  app.addHook('onRoute', (route) => {
    const config = (route.config ?? {}) as { permission?: unknown; orgScope?: OrgScope };
    const name = `${String(route.method)} ${route.url}`;
    if (!config.permission) throw new Error(`route ${name} names no permission (config.permission)`);
    if (!config.orgScope) throw new Error(`route ${name} declares no org scope (config.orgScope)`);
    if (config.orgScope === 'filtered' && !hasOrgParam(route.schema?.querystring)) {
      throw new Error(`route ${name} is orgScope 'filtered' but its querystring has no org parameter`);
    }
  });
  app.addHook('onRequest', async (request) => {
    const permission = request.routeOptions.config.permission;
    // Fail closed: a route that forgot to name its permission answers nobody.
    if (!permission) throw new Error(`route ${request.routeOptions.url} names no permission`);
    principals.set(request, keyring.authorize(request.headers.authorization, permission));
  });
  app.addHook('preHandler', async (request) => {
    const scope = request.routeOptions.config.orgScope;
    if (!scope) throw new Error(`route ${request.routeOptions.url} declares no org scope`);
    const org = callerOrg(request);
    if (org === null || scope === 'none' || scope === 'rows') return;
    if (scope === 'instrument') {
      const id = (request.params as { id: string }).id;
      const actual = instrumentOrg(db, id);
      // PUT may create an unknown id; everything else answers the handler's 404 for it anyway.
      if (actual === undefined && request.method === 'PUT') return;
      if (actual !== org) throw new ApiError('instrument_not_found', `path.id: ${notInRegistry(id)}`);
      return;
    }
    if (scope === 'filtered') {
      const query = request.query as { org?: string };
      if (query.org !== undefined && query.org !== org) {
        throw new ApiError(
          'forbidden',
          `query.org: this API key is scoped to org ${JSON.stringify(org)}: leave org out, or ask for that org`,
        );
      }
      query.org = org;
      return;
    }
    if ('instrumentOf' in scope) {
      const id = scope.instrumentOf(request);
      if (id === undefined) return;
      if (id === null || instrumentOrg(db, id) !== org) throw scope.notFound(request);
      return;
    }
    const owner = scope.orgOf(request);
    if (owner === undefined) return;
    if (owner !== org) throw scope.notFound(request);
  });
}
