// Check definitions are checked when the configuration loads, beyond the keys every check has
// (definition.ts, which the loader validates): the type is known, the type's own keys are valid,
// every expression compiles (critical_if, warning_if, every *_output) and the type accepts the
// check (a script's macros). A mistake is a config error at the line of its key, before the
// agent starts (or instead of a reload), not an UNKNOWN found later.
import {
  ConfigError,
  type Definition,
  definitionKeyError,
  expressionKeyErrors,
  type PackInfo,
} from '../config/index.js';
import { expressionProblem } from '../evaluator/index.js';
import { messageOf } from '../shared/errors.js';
import { schemaCheck } from '../shared/schema-check.js';
import type { CheckDependencies, CheckType } from './check-type.js';
import { CHECK_NAME, checkTypeOf, DEFAULT_REPLICAS } from './definition.js';
import { withVaultSecrets, withVaultStandIns } from './vault/secrets.js';

export interface CheckRuleOptions {
  types: ReadonlyMap<string, CheckType>;
  /** Compiles an expression or throws (the evaluator's ExpressionError, with its position). */
  compile: (expression: string) => unknown;
  /** What a type's create() gets at load: an evaluator that compiles only will do. */
  dependencies: CheckDependencies;
  packs: readonly PackInfo[];
}

/** The keys whose values are expressions, in a check of any type. */
function expressionKeys(body: Readonly<Record<string, unknown>>): string[] {
  return ['critical_if', 'warning_if', ...Object.keys(body).filter((key) => key.endsWith('_output'))];
}

/**
 * Every error of every `check:` definition, each naming file, line and key:
 * `x.yml:4: check cpu: critical_if: column 40: expected an operator ... found 'adn'`.
 */
export function checkRuleErrors(
  definitions: readonly Definition[],
  options: CheckRuleOptions,
): ConfigError[] {
  return definitions
    .filter((definition) => definition.kind === 'check')
    .flatMap((definition) => definitionErrors(definition, options));
}

function definitionErrors(definition: Definition, options: CheckRuleOptions): ConfigError[] {
  const { body } = definition;
  if (!CHECK_NAME.test(definition.name))
    return [
      definitionKeyError(
        definition,
        'name',
        'a check name is letters, digits, _ . - (it comes from the file name when there is no name: key): give it a name:',
      ),
    ];
  const choice = checkTypeOf(body, options.types);
  if ('problem' in choice) return [definitionKeyError(definition, choice.key, choice.problem)];
  const { type } = choice;

  const check = schemaCheck(type.schema);
  // A value from Vault (vault_<key>:) is read at each run: a stand-in takes its place here.
  if (!check(withVaultStandIns(body))) {
    const error = check.lastError();
    const key = error?.instancePath.split('/')[1];
    const described = (type.schema as { description?: string }).description;
    // A rule about the whole body (critical_if or warning_if) says it in the schema's words.
    if (!key && described) return [definitionKeyError(definition, 'type', `${type.type}: ${described}`)];
    return [definitionKeyError(definition, key ?? 'type', `${type.type}: ${check.problem()}`)];
  }

  const runOn = body.run_on as { replicas?: number; quorum?: number } | undefined;
  if (runOn?.quorum !== undefined && runOn.quorum > (runOn.replicas ?? DEFAULT_REPLICAS))
    return [
      definitionKeyError(
        definition,
        'run_on',
        `quorum ${runOn.quorum} is more than the ${runOn.replicas ?? DEFAULT_REPLICAS} replicas: the combined state could never be reached`,
      ),
    ];

  const errors = expressionKeyErrors(definition, expressionKeys(body), options.compile, expressionProblem);
  if (errors.length) return errors;

  // The type's own verdict (a script's unknown $macro$): create() throws what it refuses.
  const packParameters = options.packs.find((pack) => pack.name === definition.pack)?.parameters ?? {};
  try {
    const runner = withVaultSecrets(
      type,
      { name: definition.name, body, packParameters },
      options.dependencies,
    );
    void runner.close?.().catch(() => undefined);
  } catch (error) {
    const { file, line } = definition.source;
    return [new ConfigError({ file, line, key: `check ${definition.name}` }, messageOf(error))];
  }
  return [];
}
