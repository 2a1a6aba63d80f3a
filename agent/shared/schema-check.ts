// Checking a value against a TypeBox schema with a type guard, for data that crosses an edge (an
// HTTP body, a definition's body): one compiled Ajv function per schema, reused, and its first
// error as words. Parsed data is narrowed by the guard, never cast with `as`.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { AJV_PROFILES, precompiledValidator } from './precompiled-validators.js';

/** fillDefaults: missing keys with a `default` are filled in (the value is changed in place). */
export interface SchemaCheckOptions {
  fillDefaults?: boolean;
}

export interface SchemaCheck<T extends TSchema> {
  (value: unknown): value is Static<T>;
  /** Why the last value checked failed, e.g. `expression: must be string`. */
  problem(): string;
  /** The last failure as Ajv reported it. */
  lastError(): ErrorObject | undefined;
}

// Made at the first compile: most schemas checked at an agent's start are generated at build time.
let checkers: { plain: Ajv; filling: Ajv } | undefined;
const compiled = {
  plain: new WeakMap<TSchema, ValidateFunction>(),
  filling: new WeakMap<TSchema, ValidateFunction>(),
};

/** One validator per schema and kind: generated at build time, else compiled once. */
function validatorFor(kind: 'plain' | 'filling', schema: TSchema): ValidateFunction {
  let validate = compiled[kind].get(schema);
  if (!validate) {
    validate =
      precompiledValidator(kind, schema) ??
      (checkers ??= { plain: new Ajv(AJV_PROFILES.plain), filling: new Ajv(AJV_PROFILES.filling) })[
        kind
      ].compile(schema);
    compiled[kind].set(schema, validate);
  }
  return validate;
}

export function schemaCheck<T extends TSchema>(schema: T, options: SchemaCheckOptions = {}): SchemaCheck<T> {
  const kind = options.fillDefaults ? 'filling' : 'plain';
  // Found at the first check, not here: routes make their body checks when the API is built, and
  // compiling them then was 10 of the 24 Ajv compiles at an agent's start, for routes seldom called.
  let validate: ValidateFunction | undefined;
  const compile = (): ValidateFunction => (validate ??= validatorFor(kind, schema));
  const check = ((value: unknown): value is Static<T> => compile()(value)) as SchemaCheck<T>;
  check.lastError = () => validate?.errors?.[0] ?? undefined;
  check.problem = () => {
    const error = validate?.errors?.[0];
    if (!error) return 'is invalid';
    if (error.keyword === 'additionalProperties')
      return `unknown field ${JSON.stringify((error.params as { additionalProperty: string }).additionalProperty)}`;
    const where = error.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : 'body';
    return `${where}: ${error.message ?? 'is invalid'}`;
  };
  return check;
}
