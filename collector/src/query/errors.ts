/** Why a query could not be answered; the API maps `not_found` to 404 and `bad_request` to 400. */
export type QueryErrorCode = 'not_found' | 'bad_request';

export class QueryError extends Error {
  readonly code: QueryErrorCode;
  /**
   * The request parameter that was wrong (`from`, `to`, `limit`, `days`, `cursor`; `id` of the
   * path), when one was; `body` for a registry entry, whose message names its fields itself.
   */
  readonly param: string | undefined;

  constructor(code: QueryErrorCode, message: string, param?: string) {
    super(message);
    this.name = 'QueryError';
    this.code = code;
    this.param = param;
  }
}

export function isQueryError(err: unknown): err is QueryError {
  return err instanceof QueryError;
}

/** The message of a 404 for an instrument id, the same from every route. */
export function notInRegistry(id: string): string {
  return `no instrument ${JSON.stringify(id)} in the registry: check the id, or register it with PUT /v1/instruments/${id}`;
}
