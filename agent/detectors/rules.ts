// Detector rules are checked when the configuration loads: a rule that does not parse is a config
// error at the line of its `apply_if:` key, with the column inside the expression, before the agent
// starts (or instead of a reload), not an ERROR found later.
import { type ConfigError, type Definition, expressionKeyErrors } from '../config/index.js';
import { expressionProblem } from '../evaluator/index.js';

/** The key of a detector that holds its rule. */
const RULE_KEYS = ['apply_if'];

/**
 * One error per detector whose apply_if `compile` refuses:
 * `x.yml:4: detector web: apply_if: column 40: expected an operator ... found 'adn'`.
 */
export function detectorRuleErrors(
  definitions: Definition[],
  compile: (expression: string) => unknown,
): ConfigError[] {
  return definitions
    .filter((definition) => definition.kind === 'detector')
    .flatMap((definition) => expressionKeyErrors(definition, RULE_KEYS, compile, expressionProblem));
}
