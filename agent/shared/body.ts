// Request bodies checked at the edge: a route declares a TypeBox schema for its JSON body and gets a
// typed value, or the caller gets a 400 naming the field. No `as` cast of what a client sent.
import type { Static, TSchema } from '@sinclair/typebox';
import { schemaCheck } from './schema-check.js';
import { HttpError } from './http.js';

export interface BodyParser<T extends TSchema> {
  /** The body as the schema's type (defaults filled), or HttpError 400 saying what is wrong. */
  parse(body: unknown): Static<T>;
}

/**
 * Every request body schema declared so far (routes declare theirs at module load): the build
 * generates their validators (main.ts START_SCHEMAS). Compiled at a route's first request instead,
 * the CLI's local-token proof and `gossip join` cost a joining agent ~1/5 of its CPU in a
 * 50-agent formation (docs/benchmarks.md).
 */
export const REQUEST_BODY_SCHEMAS: TSchema[] = [];

/**
 * A parser for bodies of `schema`. `example` is shown in every error, so a caller sees the shape
 * expected (`expected {"addresses": ["HOST[:PORT]", ...]}`).
 */
export function bodyParser<T extends TSchema>(schema: T, example: string): BodyParser<T> {
  REQUEST_BODY_SCHEMAS.push(schema);
  const check = schemaCheck(schema, { fillDefaults: true });
  return {
    parse(body: unknown): Static<T> {
      // A route without a body of its own accepts none: defaults fill an empty object.
      const value: unknown = body === undefined ? {} : structuredClone(body);
      if (check(value)) return value;
      throw new HttpError(400, `${check.problem()}; expected ${example}`);
    },
  };
}
