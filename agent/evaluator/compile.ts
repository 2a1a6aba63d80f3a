// From an expression's text to something the evaluator can run: references replaced by generated
// variables (substitute.ts), tuples made lists (tuples.ts), parsed by expr-eval (parser.ts), and
// every remaining name checked, so a typo is reported when a definition loads, not at its first run.
import { messageOf } from '../shared/errors.js';
import { errorAt, ExpressionError, shorten } from './errors.js';
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
    const program = parseText(tuplesToLists(text), source, parser);
    const generated = new Set(slots.map((slot) => slot.variable));
    for (const name of program.variables()) {
      if (!generated.has(name)) throw unknownName(text, name);
    }
    return new CompiledExpression(source, referencesOf(slots), slots, program, owner);
  } catch (error) {
    if (error instanceof ExpressionError)
      throw new ExpressionError(error.message + inExpression(source), error.position);
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

function parseText(text: string, source: string, parser: ExpressionParser): ParsedProgram {
  try {
    return parser.parse(text);
  } catch (error) {
    if (error instanceof RangeError) throw new ExpressionError('the expression is nested too deeply');
    // expr-eval says "parse error [1:30]: Expected EOF", or "unexpected TOP: ==" with no position:
    // the diagnosis reads the text again and says what is wrong in words, at the offending token.
    const found = parser.diagnose(text, source);
    if (found) return syntaxError(source, found.index, found.problem);
    return syntaxError(source, ...fromExprEval(messageOf(error), text));
  }
}

function syntaxError(source: string, index: number, problem: string): never {
  throw errorAt(source, index, problem, (where) => `syntax error at ${where}: ${problem}`);
}

/**
 * When the diagnosis finds nothing (it should always find expr-eval's reason): expr-eval's own
 * message, in plainer words, at its position (the end of the text when it gives none).
 */
function fromExprEval(message: string, text: string): [number, string] {
  const located = /^parse error \[(\d+):(\d+)\]: (.*)$/.exec(message);
  let index = text.length;
  let said = message;
  if (located) {
    const [, line, column, rest] = located;
    let lineStart = 0;
    for (let count = 1; count < Number(line); count++) lineStart = text.indexOf('\n', lineStart) + 1;
    index = Math.min(lineStart + Number(column) - 1, text.length);
    said = rest!;
  }
  if (said === 'unexpected TEOF: EOF') return [index, 'the expression ends too early'];
  const expected = /^Expected (.*)$/.exec(said);
  if (expected)
    return [index, `expected ${expected[1] === 'EOF' ? 'the end of the expression' : `'${expected[1]}'`}`];
  const unexpected = /^unexpected T[A-Z]+: (.*)$/.exec(said);
  return [index, unexpected ? `unexpected '${unexpected[1]}'` : said];
}

/** "unknown function 'foo()' at column 3" or "unknown name 'foo' ...", whichever it is. */
function unknownName(text: string, name: string): ExpressionError {
  const usage = findName(text, name);
  const [what, advice] = usage?.called
    ? [`unknown function '${name}()'`, '; the functions are listed in docs/evaluator.md']
    : [
        `unknown name '${name}'`,
        ': read values with references like {collector.NAME.path}, and quote strings',
      ];
  if (!usage) return new ExpressionError(`${what}${advice}`);
  return errorAt(
    text,
    usage.index,
    `${what}${advice}`,
    () => `${what} at column ${columnOf(text, usage.index)}${advice}`,
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
