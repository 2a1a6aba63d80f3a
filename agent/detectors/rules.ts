// Detector rules are checked when the configuration loads: a rule that does not parse is a config
// error at its line, before the agent starts (or instead of a reload), not an ERROR found later.
import { ConfigError, type Definition } from '../config/index.js';
import { messageOf } from '../shared/errors.js';

/** One error per detector whose apply_if `compile` refuses. */
export function detectorRuleErrors(
  definitions: Definition[],
  compile: (expression: string) => unknown,
): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const definition of definitions) {
    if (definition.kind !== 'detector') continue;
    try {
      compile(String(definition.body.apply_if));
    } catch (error) {
      errors.push(
        new ConfigError(
          { ...definition.source, key: `detector ${definition.name}: apply_if` },
          messageOf(error),
        ),
      );
    }
  }
  return errors;
}
