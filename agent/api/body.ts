// Request bodies checked at the edge: a route declares a TypeBox schema for its JSON body and gets a
// typed value, or the caller gets a 400 naming the field. No `as` cast of what a client sent.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { HttpError } from './router.js';

export interface BodyParser<T extends TSchema> {
  /** The body as the schema's type (defaults filled), or HttpError 400 saying what is wrong. */
  parse(body: unknown): Static<T>;
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false, coerceTypes: false });

/**
 * A parser for bodies of `schema`. `example` is shown in every error, so a caller sees the shape
 * expected (`expected {"addresses": ["HOST[:PORT]", ...]}`).
 */
export function bodyParser<T extends TSchema>(schema: T, example: string): BodyParser<T> {
  const check: ValidateFunction<Static<T>> = ajv.compile<Static<T>>(schema);
  return {
    parse(body: unknown): Static<T> {
      // A route without a body of its own accepts none: defaults fill an empty object.
      const value: unknown = body === undefined ? {} : structuredClone(body);
      if (check(value)) return value;
      const error = check.errors?.[0];
      const where = error?.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : 'body';
      const detail =
        error?.keyword === 'additionalProperties'
          ? `unknown field ${JSON.stringify((error.params as { additionalProperty: string }).additionalProperty)}`
          : `${where}: ${error?.message ?? 'invalid'}`;
      throw new HttpError(400, `${detail}; expected ${example}`);
    },
  };
}
