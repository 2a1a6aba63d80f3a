// Errors about one key of a definition, at the line of that key: what the subsystems' load-time
// checks (detector rules, check expressions and types) report, in one shape:
// `x.yml:4: detector web: apply_if: column 40: expected an operator ... found 'adn'`.
import { ConfigError } from './errors.js';
import type { Definition } from './loader.js';

/** A ConfigError about `key` of `definition`, at the key's line (else the definition's). */
export function definitionKeyError(definition: Definition, key: string, problem: string): ConfigError {
  const { file, line, keyLines } = definition.source;
  return new ConfigError(
    { file, line: keyLines?.[key] ?? line, key: `${definition.kind} ${definition.name}: ${key}` },
    problem,
  );
}

/**
 * One error per key of `definition` whose expression `compile` refuses. `describe` says why in
 * words (the evaluator's position inside the expression and its problem: the file and the line of
 * the key already say which expression, so it is not quoted again). Keys absent from the body are
 * skipped.
 */
export function expressionKeyErrors(
  definition: Definition,
  keys: readonly string[],
  compile: (expression: string) => unknown,
  describe: (error: unknown) => string,
): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const key of keys) {
    const expression = definition.body[key];
    if (expression === undefined) continue;
    if (typeof expression !== 'string') {
      errors.push(definitionKeyError(definition, key, 'expected an expression (a string)'));
      continue;
    }
    try {
      compile(expression);
    } catch (error) {
      errors.push(definitionKeyError(definition, key, describe(error)));
    }
  }
  return errors;
}
