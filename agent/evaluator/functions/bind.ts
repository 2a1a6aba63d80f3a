// Turns registered functions into what expr-eval calls. The wrapper is the boundary: it checks the
// argument count against the signature, checks every argument and the result is a value, answers
// I/O functions through the current run's cache, and turns any stray exception into an
// ExpressionError naming the function.
import { asEvaluatorError, ExpressionError, shorten } from '../errors.js';
import type { OperatorFunction } from '../operators.js';
import { pythonRepr } from '../python-format.js';
import { IoPending, type EvaluationRun } from '../run.js';
import { asEvaluatedValue, type EvaluatedValue } from '../values.js';
import { Arguments, arityOf, type Arity } from './arguments.js';
import type { EvaluatorFunction } from './types.js';

function describeArity(arity: Arity): string {
  if (arity.max === Number.POSITIVE_INFINITY) return `at least ${arity.min}`;
  return arity.min === arity.max ? String(arity.min) : `${arity.min} to ${arity.max}`;
}

/** `check_tcp('db', 5432)`: how a call is named in messages, arguments shortened. */
function callLabel(name: string, args: readonly EvaluatedValue[]): string {
  return `${name}(${args.map((arg) => shorten(pythonRepr(arg), 40)).join(', ')})`;
}

export function bindFunctions(
  functions: readonly EvaluatorFunction[],
  currentRun: () => EvaluationRun,
): Record<string, OperatorFunction> {
  const table: Record<string, OperatorFunction> = {};
  for (const fn of functions) {
    const arity = arityOf(fn.signature);
    table[fn.name] = (...raw: unknown[]) => {
      if (raw.length < arity.min || raw.length > arity.max) {
        throw new ExpressionError(
          `${fn.signature} takes ${describeArity(arity)} argument${arity.max === 1 ? '' : 's'}, got ${raw.length}`,
        );
      }
      const values = raw.map((value, index) =>
        asEvaluatedValue(value, `${fn.signature}: argument ${index + 1}`),
      );
      const args = new Arguments(fn.signature, arity, values);
      const run = currentRun();
      try {
        const result =
          fn.kind === 'plain'
            ? fn.call(args, run.context)
            : run.io(
                JSON.stringify([fn.name, values]),
                () => callLabel(fn.name, values),
                () => fn.run(args, run.context),
              );
        return asEvaluatedValue(result, `${fn.name}()`);
      } catch (error) {
        throw error instanceof IoPending ? error : asEvaluatorError(error, `${fn.name}()`);
      }
    };
  }
  return table;
}
