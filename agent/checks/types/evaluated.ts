// The evaluated check: expressions on the node's data (docs/evaluator.md). critical_if, then
// warning_if, else OK; *_output expressions say it in words. A condition that cannot be evaluated
// (a syntax error slipped past, a collector value that is not there) is UNKNOWN with the reason.
import { Type } from '@sinclair/typebox';
import { isTruthy } from '../../evaluator/index.js';
import { messageOf } from '../../shared/errors.js';
import type {
  CheckDependencies,
  CheckEvaluator,
  CheckResult,
  CheckRunner,
  CheckSpec,
  CheckState,
  CheckType,
} from '../check-type.js';
import type { EvaluationScope } from '../../evaluator/index.js';

const Expression = (description: string) => Type.String({ minLength: 1, description });

const EvaluatedCheckSchema = Type.Object(
  {
    critical_if: Type.Optional(Expression('an expression: true makes the check CRITICAL')),
    warning_if: Type.Optional(Expression('an expression: true makes the check WARNING')),
    ok_output: Type.Optional(Expression('an expression giving the output, e.g. "\'OK: %s\' % {...}"')),
    warning_output: Type.Optional(Expression('an expression giving the output when WARNING')),
    critical_output: Type.Optional(Expression('an expression giving the output when CRITICAL')),
  },
  {
    additionalProperties: true,
    // Neither condition: a check that can only ever say OK is a mistake, not a check.
    anyOf: [{ required: ['critical_if'] }, { required: ['warning_if'] }],
    description: 'an evaluated check needs critical_if or warning_if (or both)',
  },
);

/** A condition's state, the key that holds its expression and the key of its output. */
const CONDITIONS: ReadonlyArray<{ state: CheckState; condition: 'critical_if' | 'warning_if' }> = [
  { state: 'critical', condition: 'critical_if' },
  { state: 'warning', condition: 'warning_if' },
];

const OUTPUT_KEYS: Readonly<Record<CheckState, string>> = {
  ok: 'ok_output',
  warning: 'warning_output',
  critical: 'critical_output',
  unknown: '',
};

/** What decided the state: the condition that held (none for OK). */
interface Verdict {
  state: CheckState;
  condition?: 'critical_if' | 'warning_if';
}

class EvaluatedCheck implements CheckRunner {
  constructor(
    private readonly body: Readonly<Record<string, unknown>>,
    private readonly scope: EvaluationScope,
    private readonly evaluator: CheckEvaluator,
  ) {}

  async run(): Promise<CheckResult> {
    let verdict: Verdict;
    try {
      verdict = await this.verdict();
    } catch (error) {
      return { state: 'unknown', output: messageOf(error), perfdata: [] };
    }
    return { state: verdict.state, output: await this.output(verdict), perfdata: [] };
  }

  private async verdict(): Promise<Verdict> {
    for (const { state, condition } of CONDITIONS) {
      const expression = this.expression(condition);
      if (expression !== undefined && isTruthy(await this.evaluator.evaluate(expression, this.scope)))
        return { state, condition };
    }
    return { state: 'ok' };
  }

  /**
   * The output expression's value, else the state and the condition that held. An output that
   * fails keeps the state the condition gave: a confirmed problem is not hidden behind UNKNOWN
   * because its message could not be written.
   */
  private async output(verdict: Verdict): Promise<string> {
    const key = OUTPUT_KEYS[verdict.state];
    const expression = this.expression(key);
    const fallback = defaultOutput(verdict, verdict.condition && this.expression(verdict.condition));
    if (expression === undefined) return fallback;
    try {
      return asText(await this.evaluator.evaluate(expression, this.scope));
    } catch (error) {
      return `${fallback} (${key} failed: ${messageOf(error)})`;
    }
  }

  private expression(key: string): string | undefined {
    const value = this.body[key];
    return typeof value === 'string' ? value : undefined;
  }
}

function defaultOutput(verdict: Verdict, expression: string | undefined): string {
  const state = verdict.state.toUpperCase();
  if (!verdict.condition) return `${state}: neither critical_if nor warning_if holds`;
  return `${state}: ${verdict.condition} holds: ${expression ?? ''}`;
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  return Array.isArray(value) ? JSON.stringify(value) : String(value);
}

export const EVALUATED_CHECK_TYPE: CheckType = {
  type: 'evaluated',
  description: 'expressions on the node data: critical_if, then warning_if, else OK',
  impliedBy: ['critical_if', 'warning_if'],
  schema: EvaluatedCheckSchema,
  create(spec: CheckSpec, dependencies: CheckDependencies): CheckRunner {
    return new EvaluatedCheck(
      spec.body,
      { configuration: { ...spec.body }, parameters: { ...spec.packParameters } },
      dependencies.evaluator,
    );
  },
};
