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
 * A parser for bodies of `schema`. `example` is shown in every error, so a caller sees the shape
 * expected (`expected {"addresses": ["HOST[:PORT]", ...]}`).
 */
export function bodyParser<T extends TSchema>(schema: T, example: string): BodyParser<T> {
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
