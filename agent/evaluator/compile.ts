// From an expression's text to something the evaluator can run: references replaced by generated
// variables (substitute.ts), tuples made lists (tuples.ts), parsed by expr-eval (parser.ts), and
// every remaining name checked, so a typo is reported when a definition loads, not at its first run.
import { messageOf } from '../shared/errors.js';
import { ExpressionError, shorten } from './errors.js';
import { MAX_EXPRESSION_CHARS } from './limits.js';
import type { ExpressionParser, ParsedProgram } from './parser.js';
import type { Reference } from './reference-syntax.js';
import { columnOf, isNameChar, skipLiteral } from './source-scan.js';
import { substituteReferences, type ReferenceSlot } from './substitute.js';
import { tuplesToLists } from './tuples.js';

/** A parsed expression. Build with Evaluator.compile; evaluate with the same Evaluator. */
export class CompiledExpression {
  constructor(
    /** The expression as written. */
    readonly source: string,
    /** The references it reads, once each, in order of first use. */
    readonly references: readonly Reference[],
    /** @internal Generated variables and the references they stand for. */
    readonly slots: readonly ReferenceSlot[],
    /** @internal The parsed program, bound to its owner's function table. */
    readonly program: ParsedProgram,
    /** @internal The Evaluator whose parser built it. */
    readonly owner: object,
  ) {}
}

/** ` (in: <expression>)`, shortened: appended to errors so a log line says which expression. */
export function inExpression(source: string): string {
  return ` (in: ${shorten(source, 200)})`;
}

/** Checks an expression's text is one we accept at all (type, size, not empty). */
export function checkExpressionText(source: unknown): string {
  if (typeof source !== 'string') {
    throw new ExpressionError(`an expression must be a string, got ${typeof source}`);
  }
  if (source.length > MAX_EXPRESSION_CHARS) {
    throw new ExpressionError(
      `expression of ${source.length} characters is over the limit of ${MAX_EXPRESSION_CHARS}${inExpression(source)}`,
    );
  }
  if (source.trim() === '') throw new ExpressionError('the expression is empty');
  return source;
}

export function compileExpression(
  input: string,
  parser: ExpressionParser,
  owner: object,
): CompiledExpression {
  const source = checkExpressionText(input);
  try {
    const { text, slots } = substituteReferences(source);
    const program = parseText(tuplesToLists(text), parser);
    const generated = new Set(slots.map((slot) => slot.variable));
    for (const name of program.variables()) {
      if (!generated.has(name)) throw unknownName(text, name);
    }
    return new CompiledExpression(source, referencesOf(slots), slots, program, owner);
  } catch (error) {
    if (error instanceof ExpressionError) throw new ExpressionError(error.message + inExpression(source));
    throw error;
  }
}

/** Each reference once (defaults aside), in order of first use. */
export function referencesOf(slots: readonly ReferenceSlot[]): Reference[] {
  const seen = new Set<string>();
  const references: Reference[] = [];
  for (const { reference } of slots) {
    if (seen.has(reference.name)) continue;
    seen.add(reference.name);
    references.push({ source: reference.source, path: reference.path });
  }
  return references;
}

function parseText(text: string, parser: ExpressionParser): ParsedProgram {
  try {
    return parser.parse(text);
  } catch (error) {
    if (error instanceof RangeError) throw new ExpressionError('the expression is nested too deeply');
    // expr-eval's messages carry line:column ("parse error [1:12]: Expected )"), which still
    // match the source since the rewriting passes keep every column in place.
    throw new ExpressionError(`syntax error: ${readableSyntaxError(error)}`);
  }
}

/** expr-eval names tokens by their internal type ("unexpected TEOF: EOF"); say it plainly. */
function readableSyntaxError(error: unknown): string {
  const message = messageOf(error);
  if (message === 'unexpected TEOF: EOF') return 'the expression ends too early';
  const unexpected = /^unexpected T[A-Z]+: (.*)$/.exec(message);
  return unexpected ? `unexpected '${unexpected[1]}'` : message;
}

/** "unknown function 'foo()' at column 3" or "unknown name 'foo' ...", whichever it is. */
function unknownName(text: string, name: string): ExpressionError {
  const usage = findName(text, name);
  const where = usage ? ` at column ${columnOf(text, usage.index)}` : '';
  if (usage?.called) {
    return new ExpressionError(
      `unknown function '${name}()'${where}; the functions are listed in docs/evaluator.md`,
    );
  }
  return new ExpressionError(
    `unknown name '${name}'${where}: read values with references like {collector.NAME.path}, and quote strings`,
  );
}

/** Where `name` first appears as a whole name outside strings and comments, and whether it is called. */
function findName(text: string, name: string): { index: number; called: boolean } | undefined {
  let index = 0;
  while (index < text.length) {
    const literalEnd = skipLiteral(text, index);
    if (literalEnd !== undefined) {
      index = literalEnd;
      continue;
    }
    if (
      text.startsWith(name, index) &&
      !isNameChar(text[index - 1]) &&
      !isNameChar(text[index + name.length])
    ) {
      const after = text.slice(index + name.length).trimStart();
      return { index, called: after.startsWith('(') };
    }
    index++;
  }
  return undefined;
}
