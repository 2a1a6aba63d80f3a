// The only two errors the evaluator lets out. Callers (detectors, checks, the API) map them to
// states: an ExpressionError is the operator's mistake (fix the definition), an UnknownValueError
// is data that is not there yet or any more (the check is UNKNOWN until it comes back). An
// EvaluatorBusyError is an UnknownValueError too (try again later), distinct so that the API can
// answer 503 instead of 422.
import { messageOf } from '../shared/errors.js';

/**
 * Where in its expression a compile error is, and the problem alone: for messages that say where
 * their own way (a config error gives the file, the line of the key, then `column 40: ...`).
 */
export interface ExpressionErrorPosition {
  /** 1-based, in the expression (a YAML block scalar may hold several lines). */
  line: number;
  column: number;
  /** `column 40`, or `line 2, column 5` in an expression of several lines. */
  where: string;
  /** The problem in words, without the position: "expected an operator ... found 'adn'". */
  problem: string;
}

/** Syntax, unknown function or name, bad call, bad reference, a limit exceeded. The message says where. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    /** Set when the error is about one place of the expression (a syntax error, an unknown name). */
    readonly position?: ExpressionErrorPosition,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** 1-based line and column of `index` in `text`. */
export function positionOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (
    let newline = text.indexOf('\n');
    newline >= 0 && newline < index;
    newline = text.indexOf('\n', newline + 1)
  ) {
    line++;
    lineStart = newline + 1;
  }
  return { line, column: index - lineStart + 1 };
}

/** An error at `index` of `source`: `position` set, the message from `message(where)`. */
export function errorAt(
  source: string,
  index: number,
  problem: string,
  message: (where: string) => string,
): ExpressionError {
  const { line, column } = positionOf(source, index);
  const where = source.includes('\n') ? `line ${line}, column ${column}` : `column ${column}`;
  return new ExpressionError(message(where), { line, column, where, problem });
}

/**
 * Why an expression did not compile, for a message that already says which expression (a config
 * error at the line of its key): the position inside it and the problem when the evaluator has
 * them (`column 40: expected an operator ... found 'adn'`), else the message.
 */
export function expressionProblem(error: unknown): string {
  return error instanceof ExpressionError && error.position
    ? `${error.position.where}: ${error.position.problem}`
    : messageOf(error);
}

/** A value the expression needs is not available, e.g. "unknown: collector.redis.ops is not available". */
export class UnknownValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownValueError';
  }
}

/**
 * The evaluator has no room for more work right now (the regular-expression pool's queue is full):
 * nothing is wrong with the expression, and it may succeed when retried in `retryAfterS` seconds.
 */
export class EvaluatorBusyError extends UnknownValueError {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = 'EvaluatorBusyError';
  }
}

/** The message for a missing value, in the one shape operators learn to read. */
export function notAvailable(what: string): UnknownValueError {
  return new UnknownValueError(`unknown: ${what} is not available`);
}

/**
 * `error` when it is already one of the two, else an ExpressionError naming `where` it came from
 * (a provider, a function, a template): a stray exception is a bug elsewhere, reported as such.
 */
export function asEvaluatorError(error: unknown, where: string): ExpressionError | UnknownValueError {
  if (error instanceof ExpressionError || error instanceof UnknownValueError) return error;
  return new ExpressionError(`${where}: ${messageOf(error)}`);
}

/** `text` cut to at most `max` characters, `...` marking the cut: long values in messages. */
export function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
