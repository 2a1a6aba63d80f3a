// The render API's target grammar, as graphite-web 1.1's grammar.py accepts it, parsed into a
// small AST:
//   target     := expression
//   expression := (call | path) ('|' call)*          a|f(x) is f(a, x)
//   call       := name '(' [args [',' kwargs]] ')'   name: [A-Za-z_][A-Za-z0-9_]*
//   arg        := number | string | true/false | none | inf | expression
//   kwarg      := name '=' arg                       after every positional argument
//   number     := -?\d+(\.\d+)?([eE]-?\d+)?          only when followed by ',' or ')' or the end
//   string     := '...' or "..."                     kept raw: no unescaping (regexps pass as written)
//   path       := node ('.' node)*; a node is metric characters, `\x` escapes and {a,b} lists
// Whitespace is allowed between tokens, not inside a path. Differences from graphite: trailing
// text after the expression is an error (graphite ignores it); `null` is read as None (graphite
// would fetch a metric called "null"); template() is not supported.

/** Longest target accepted (a Grafana query with long brace lists stays far below). */
export const MAX_TARGET_CHARS = 65536;
/** Deepest nesting of calls accepted. */
export const MAX_CALL_DEPTH = 64;

interface Span {
  /** Offset of the node's first character in the target. */
  start: number;
  /** Offset just past its last character. */
  end: number;
}

export interface PathNode extends Span {
  type: 'path';
  /** The path expression with escapes resolved (`a\(b` is `a(b`). */
  path: string;
}

export interface CallNode extends Span {
  type: 'call';
  name: string;
  /** Positional arguments; for a piped call the expression before the pipe comes first. */
  args: ArgNode[];
  kwargs: KwargNode[];
  /** The call's text as written (graphite hands seriesByTag's to the store as its path expression). */
  raw: string;
}

export interface NumberNode extends Span {
  type: 'number';
  value: number;
  /** Written with a fraction or exponent (Python would hold a float), or `inf`. */
  isFloat: boolean;
}

export interface StringNode extends Span {
  type: 'string';
  /** The text between the quotes, as written. */
  value: string;
}

export interface BooleanNode extends Span {
  type: 'boolean';
  value: boolean;
}

export interface NoneNode extends Span {
  type: 'none';
}

export type ExpressionNode = PathNode | CallNode;
export type ArgNode = ExpressionNode | NumberNode | StringNode | BooleanNode | NoneNode;

export interface KwargNode {
  name: string;
  value: ArgNode;
  start: number;
}

/** A target that does not parse; `position` is the offset where parsing failed. */
export class TargetSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'TargetSyntaxError';
  }
}

/** Characters that end a path node unless escaped with a backslash. */
const PATH_SYMBOLS = new Set(['(', ')', '{', '}', ',', '.', "'", '"', '\\', '|']);
const ESCAPABLE = new Set([...PATH_SYMBOLS, '=']);
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE]-?\d+)?/y;
const KEYWORD = /[A-Za-z]+/y;

/** Parses a target into its expression; throws TargetSyntaxError with the failing position. */
export function parseTarget(target: string): ExpressionNode {
  if (target.length > MAX_TARGET_CHARS) {
    throw new TargetSyntaxError(
      `target of ${target.length} characters refused (at most ${MAX_TARGET_CHARS})`,
      0,
    );
  }
  const parser = new Parser(target);
  parser.skipSpace();
  const expression = parser.expression(0);
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail(`unexpected ${parser.describeHere()} after the expression`);
  return expression;
}

/** Every path expression a target fetches (seriesByTag calls count as their raw text), in order,
 * once each. */
export function pathExpressionsOf(node: ArgNode): string[] {
  const found = new Set<string>();
  const visit = (current: ArgNode): void => {
    if (current.type === 'path') found.add(current.path);
    else if (current.type === 'call') {
      if (current.name === 'seriesByTag') found.add(current.raw);
      else {
        current.args.forEach(visit);
        current.kwargs.forEach((kwarg) => visit(kwarg.value));
      }
    }
  };
  visit(node);
  return [...found];
}

class Parser {
  private position = 0;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.position >= this.text.length;
  }

  skipSpace(): void {
    while (this.position < this.text.length && /\s/.test(this.text[this.position] ?? '')) this.position++;
  }

  fail(message: string, position: number = this.position): never {
    throw new TargetSyntaxError(`target syntax error at position ${position}: ${message}`, position);
  }

  describeHere(): string {
    if (this.atEnd()) return 'end of target';
    return JSON.stringify(this.text.slice(this.position, this.position + 12));
  }

  /** (call | path) followed by any number of `| call`. */
  expression(depth: number): ExpressionNode {
    let node: ExpressionNode = this.nameFollowedByParen() ? this.call(depth, undefined) : this.path();
    for (;;) {
      const save = this.position;
      this.skipSpace();
      if (this.text[this.position] !== '|') {
        this.position = save;
        return node;
      }
      this.position++;
      this.skipSpace();
      if (!this.nameFollowedByParen())
        this.fail(`a function call is expected after '|', found ${this.describeHere()}`);
      node = this.call(depth, node);
    }
  }

  private nameFollowedByParen(): boolean {
    const name = this.peekName();
    if (!name) return false;
    let at = this.position + name.length;
    while (at < this.text.length && /\s/.test(this.text[at] ?? '')) at++;
    return this.text[at] === '(';
  }

  private peekName(): string {
    if (!NAME_START.test(this.text[this.position] ?? '')) return '';
    let end = this.position + 1;
    while (end < this.text.length && NAME_CHAR.test(this.text[end] ?? '')) end++;
    return this.text.slice(this.position, end);
  }

  private call(depth: number, piped: ExpressionNode | undefined): CallNode {
    if (depth >= MAX_CALL_DEPTH) this.fail(`calls nested deeper than ${MAX_CALL_DEPTH}`);
    const start = this.position;
    const name = this.peekName();
    this.position += name.length;
    this.skipSpace();
    this.expect('(');
    const args: ArgNode[] = piped ? [piped] : [];
    const kwargs: KwargNode[] = [];
    this.skipSpace();
    if (this.text[this.position] !== ')') {
      for (;;) {
        this.skipSpace();
        const kwargName = this.kwargAhead();
        if (kwargName) {
          const kwargStart = this.position;
          if (kwargs.some((kwarg) => kwarg.name === kwargName))
            this.fail(`keyword argument ${kwargName} given twice`);
          this.position += kwargName.length;
          this.skipSpace();
          this.expect('=');
          this.skipSpace();
          kwargs.push({ name: kwargName, value: this.arg(depth + 1), start: kwargStart });
        } else {
          if (kwargs.length > 0) this.fail('a positional argument cannot follow keyword arguments');
          args.push(this.arg(depth + 1));
        }
        this.skipSpace();
        if (this.text[this.position] === ',') {
          this.position++;
          continue;
        }
        break;
      }
    }
    this.skipSpace();
    this.expect(')');
    return {
      type: 'call',
      name,
      args,
      kwargs,
      raw: this.text.slice(start, this.position),
      start,
      end: this.position,
    };
  }

  /** The name of a `name = value` keyword argument starting here, or ''. */
  private kwargAhead(): string {
    const name = this.peekName();
    if (!name) return '';
    let at = this.position + name.length;
    while (at < this.text.length && /\s/.test(this.text[at] ?? '')) at++;
    return this.text[at] === '=' ? name : '';
  }

  private expect(char: string): void {
    if (this.text[this.position] !== char) this.fail(`expected '${char}', found ${this.describeHere()}`);
    this.position++;
  }

  /** True when only whitespace separates `at` from a ',' or ')' or the end (graphite's lookahead
   * deciding that a number or keyword is a literal rather than the start of a path). */
  private endsArgument(at: number): boolean {
    let index = at;
    while (index < this.text.length && /\s/.test(this.text[index] ?? '')) index++;
    return index >= this.text.length || this.text[index] === ',' || this.text[index] === ')';
  }

  private arg(depth: number): ArgNode {
    const start = this.position;
    const char = this.text[start] ?? '';
    if (char === "'" || char === '"') return this.string();

    NUMBER.lastIndex = start;
    const number = NUMBER.exec(this.text);
    if (number && this.endsArgument(start + number[0].length)) {
      this.position = start + number[0].length;
      return {
        type: 'number',
        value: Number(number[0]),
        isFloat: /[.eE]/.test(number[0]),
        start,
        end: this.position,
      };
    }

    KEYWORD.lastIndex = start;
    const keyword = KEYWORD.exec(this.text);
    if (keyword && this.endsArgument(start + keyword[0].length)) {
      const word = keyword[0].toLowerCase();
      const end = start + keyword[0].length;
      const literal = keywordLiteral(word, start, end);
      if (literal) {
        this.position = end;
        return literal;
      }
    }
    return this.expression(depth);
  }

  private string(): StringNode {
    const start = this.position;
    const quote = this.text[start] ?? '';
    let at = start + 1;
    for (;;) {
      const char = this.text[at];
      if (char === undefined || char === '\n' || char === '\r') {
        this.fail(`unterminated string starting at position ${start}`, start);
      }
      if (char === '\\') {
        const next = this.text[at + 1];
        if (next === undefined) this.fail(`unterminated string starting at position ${start}`, start);
        if (next === 'x') {
          const hex = /^[0-9a-fA-F]+/.exec(this.text.slice(at + 2, at + 2 + 64));
          if (!hex) this.fail('\\x must be followed by hexadecimal digits', at);
          at += 2 + hex[0].length;
        } else {
          at += 2;
        }
        continue;
      }
      if (char === quote) {
        // A doubled quote stands for itself inside the string.
        if (this.text[at + 1] === quote) {
          at += 2;
          continue;
        }
        break;
      }
      at++;
    }
    this.position = at + 1;
    return { type: 'string', value: this.text.slice(start + 1, at), start, end: this.position };
  }

  /** node ('.' node)*, each node made of metric characters, escapes and brace lists. */
  private path(): PathNode {
    const start = this.position;
    let path = '';
    for (;;) {
      const node = this.pathNode();
      if (!node) {
        this.fail(
          path
            ? `a path node is expected after '.', found ${this.describeHere()}`
            : `expected a metric path or a function call, found ${this.describeHere()}`,
        );
      }
      path += node;
      if (this.text[this.position] === '.') {
        path += '.';
        this.position++;
        continue;
      }
      return { type: 'path', path, start, end: this.position };
    }
  }

  private pathNode(): string {
    let node = '';
    for (;;) {
      const char = this.text[this.position];
      if (char === '{') {
        node += this.braceList();
        continue;
      }
      const part = this.partialNode();
      if (!part) return node;
      node += part;
    }
  }

  /** Metric characters and escapes, up to a symbol or whitespace. */
  private partialNode(): string {
    let part = '';
    for (;;) {
      const char = this.text[this.position];
      if (char === undefined || /\s/.test(char)) return part;
      if (char === '\\') {
        const next = this.text[this.position + 1];
        if (next === undefined || !ESCAPABLE.has(next)) return part;
        part += next;
        this.position += 2;
        continue;
      }
      if (PATH_SYMBOLS.has(char)) return part;
      part += char;
      this.position++;
    }
  }

  /** `{a,b,c}`: non-empty alternatives of metric characters, kept with their braces. */
  private braceList(): string {
    const start = this.position;
    this.position++;
    const alternatives: string[] = [];
    for (;;) {
      const alternative = this.partialNode();
      if (!alternative) this.fail(`a non-empty alternative is expected in the list opened at ${start}`);
      alternatives.push(alternative);
      const char = this.text[this.position];
      if (char === ',') {
        this.position++;
        continue;
      }
      if (char === '}') {
        this.position++;
        return `{${alternatives.join(',')}}`;
      }
      this.fail(`expected ',' or '}' in the list opened at ${start}, found ${this.describeHere()}`);
    }
  }
}

function keywordLiteral(word: string, start: number, end: number): ArgNode | undefined {
  switch (word) {
    case 'true':
      return { type: 'boolean', value: true, start, end };
    case 'false':
      return { type: 'boolean', value: false, start, end };
    case 'none':
    case 'null':
      return { type: 'none', start, end };
    case 'inf':
      return { type: 'number', value: Infinity, isFloat: true, start, end };
    default:
      return undefined;
  }
}
