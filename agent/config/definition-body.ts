// A definition's body as its kind's type. The loader validated it at the edge (errors with file and
// line); a subsystem takes it here through a type guard instead of an `as` cast, so a definition
// built in code, or a schema that drifts from its type, fails loudly instead of running half-typed.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Definition } from './loader.js';

const ajv = new Ajv({ strict: false });
const validators = new WeakMap<TSchema, ValidateFunction>();

export class DefinitionBodyError extends Error {}

export function definitionBody<T extends TSchema>(definition: Definition, schema: T): Static<T> {
  let check = validators.get(schema) as ValidateFunction<Static<T>> | undefined;
  if (!check) {
    check = ajv.compile<Static<T>>(schema);
    validators.set(schema, check);
  }
  if (check(definition.body)) return definition.body;
  const error = check.errors?.[0];
  throw new DefinitionBodyError(
    `${definition.source.file}:${definition.source.line ?? 1}: ${definition.kind} ${definition.name}: ` +
      `${error?.instancePath || 'body'} ${error?.message ?? 'is invalid'}`,
  );
}
