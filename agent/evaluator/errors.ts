// The only two errors the evaluator lets out. Callers (detectors, checks, the API) map them to
// states: an ExpressionError is the operator's mistake (fix the definition), an UnknownValueError
// is data that is not there yet or any more (the check is UNKNOWN until it comes back).

/** Syntax, unknown function or name, bad call, bad reference, a limit exceeded. The message says where. */
export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** A value the expression needs is not available, e.g. "unknown: collector.redis.ops is not available". */
export class UnknownValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownValueError';
  }
}

/** The message for a missing value, in the one shape operators learn to read. */
export function notAvailable(what: string, detail?: string): UnknownValueError {
  return new UnknownValueError(`unknown: ${what} is not available${detail ? ` (${detail})` : ''}`);
}

export function isEvaluatorError(error: unknown): error is ExpressionError | UnknownValueError {
  return error instanceof ExpressionError || error instanceof UnknownValueError;
}
