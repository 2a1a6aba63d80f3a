// Detector rules are checked when the configuration loads: a rule that does not parse is a config
// error at the line of its `apply_if:` key, with the column inside the expression, before the agent
// starts (or instead of a reload), not an ERROR found later.
import { ConfigError, type Definition } from '../config/index.js';
import { ExpressionError } from '../evaluator/index.js';
import { messageOf } from '../shared/errors.js';

/** The key of a detector that holds its rule. */
const RULE_KEY = 'apply_if';

/**
 * One error per detector whose apply_if `compile` refuses:
 * `x.yml:4: detector web: apply_if: column 40: expected an operator ... found 'adn'`.
 */
export function detectorRuleErrors(
  definitions: Definition[],
  compile: (expression: string) => unknown,
): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const definition of definitions) {
    if (definition.kind !== 'detector') continue;
    try {
      compile(String(definition.body[RULE_KEY]));
    } catch (error) {
      const { file, line, keyLines } = definition.source;
      // The position inside the expression comes apart from the problem when the evaluator has it;
      // the file and the line of the key say which expression, so it is not quoted again.
      const problem =
        error instanceof ExpressionError && error.position
          ? `${error.position.where}: ${error.position.problem}`
          : messageOf(error);
      errors.push(
        new ConfigError(
          { file, line: keyLines?.[RULE_KEY] ?? line, key: `detector ${definition.name}: ${RULE_KEY}` },
          problem,
        ),
      );
    }
  }
  return errors;
}
