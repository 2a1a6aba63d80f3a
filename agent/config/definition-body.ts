// A definition's body as its kind's type. The loader validated it at the edge (errors with file and
// line); a subsystem takes it here through a type guard instead of an `as` cast, so a definition
// built in code, or a schema that drifts from its type, fails loudly instead of running half-typed.
import type { Static, TSchema } from '@sinclair/typebox';
import { schemaCheck } from '../shared/schema-check.js';
import type { Definition } from './loader.js';

export class DefinitionBodyError extends Error {}

export function definitionBody<T extends TSchema>(definition: Definition, schema: T): Static<T> {
  const check = schemaCheck(schema);
  if (check(definition.body)) return definition.body;
  throw new DefinitionBodyError(
    `${definition.source.file}:${definition.source.line ?? 1}: ${definition.kind} ${definition.name}: ${check.problem()}`,
  );
}
