// The one place that touches expr-eval-fork, whose types are loose (`any`). It builds a Parser
// whose tables hold only what we give it, each a null-prototype object: expr-eval looks names up
// with `in`, which on a plain object would also find `toString`, `constructor`, `__proto__` and
// friends from Object.prototype. Member access (`a.b`), assignment and function definitions are
// switched off at parse time.
import { Parser, type Value } from 'expr-eval-fork';
import type { OperatorFunction } from './operators.js';
import { diagnoseSyntax, type SyntaxProblem, type TokenTables } from './syntax-diagnosis.js';
import type { EvaluatedPrimitive } from './values.js';

/** A parsed expression, ready to run against the values of its generated variables. */
export interface ParsedProgram {
  /** Runs the program. May throw anything a table function throws, or expr-eval's plain Errors. */
  evaluate(values: object): unknown;
  /** Names the program reads that are not functions (unknown names, generated variables). */
  variables(): string[];
}

export interface ParserTables {
  functions: Record<string, OperatorFunction>;
  unaryOperators: Record<string, OperatorFunction>;
  binaryOperators: Record<string, OperatorFunction>;
  constants: Record<string, EvaluatedPrimitive>;
}

/** The Parser fields expr-eval reads its tables from (not all are in its .d.ts). */
interface ParserInternals {
  functions: object;
  unaryOps: object;
  binaryOps: object;
  ternaryOps: object;
  consts: object;
}

function nullPrototype<T>(entries: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

export class ExpressionParser {
  private readonly parser: Parser;
  /** The names that decide how a text is cut into tokens, for diagnose(). */
  private readonly tokenTables: TokenTables;

  constructor(tables: ParserTables) {
    this.tokenTables = {
      unary: new Set(Object.keys(tables.unaryOperators)),
      binary: new Set(Object.keys(tables.binaryOperators)),
      constants: new Set(Object.keys(tables.constants)),
    };
    this.parser = new Parser({ allowMemberAccess: false, operators: { assignment: false, fndef: false } });
    const internals = this.parser as unknown as ParserInternals;
    internals.functions = nullPrototype(tables.functions);
    internals.unaryOps = nullPrototype(tables.unaryOperators);
    internals.binaryOps = nullPrototype(tables.binaryOperators);
    // expr-eval runs `c ? a : b` itself; the entry only makes `?` an operator.
    internals.ternaryOps = nullPrototype<OperatorFunction>({ '?': (test, yes, no) => (test ? yes : no) });
    internals.consts = nullPrototype(tables.constants);
  }

  /** Throws expr-eval's Error (message like "parse error [1:7]: Expected )") on a syntax error. */
  parse(text: string): ParsedProgram {
    const expression = this.parser.parse(text);
    return {
      evaluate: (values) => expression.evaluate(values as Value) as unknown,
      variables: () => expression.variables(),
    };
  }

  /**
   * Why parse() refused `text`, in words, and where; quoting `source`, the expression as written
   * (`text` is it rewritten, same length). Undefined when the diagnosis finds nothing wrong.
   */
  diagnose(text: string, source: string): SyntaxProblem | undefined {
    return diagnoseSyntax(text, source, this.tokenTables);
  }
}
